// Package repobin finds the repository's commands for the tools that run
// them as processes (cmd/mcphub-bench, cmd/mcphub-soak): the path a flag
// gives, else ./bin/<name> when it is newer than the sources, else a fresh
// go build.
package repobin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ModulePath is the module whose commands are found.
const ModulePath = "github.com/mcphub/mcphub"

// Binary is one command: Name is its directory under cmd/, Path the binary
// (a flag's value, or "" to find it; an absolute path on return).
type Binary struct {
	Name string
	Path *string
}

// Resolve fills each binary's Path: a flag's value when set; otherwise
// ./bin/<name> of the module when it is newer than every source file that
// goes into it; otherwise a fresh go build into dir (./bin is left alone).
// It says where each came from, for a report.
func Resolve(ctx context.Context, dir string, logf func(string, ...any), bins ...Binary) (how string, err error) {
	var hows []string
	var root string
	var newest time.Time
	for _, bin := range bins {
		if *bin.Path != "" {
			hows = append(hows, bin.Name+" from flag")
			continue
		}
		if root == "" {
			if root, err = ModuleRoot(); err != nil {
				return "", fmt.Errorf("%w (or give the binaries' flags)", err)
			}
			if newest, err = newestSource(root); err != nil {
				return "", err
			}
		}
		prebuilt := filepath.Join(root, "bin", bin.Name)
		if st, err := os.Stat(prebuilt); err == nil && !st.ModTime().Before(newest) {
			*bin.Path = prebuilt
			hows = append(hows, bin.Name+" from ./bin")
			continue
		}
		out := filepath.Join(dir, bin.Name)
		logf("building %s (./bin/%s is missing or older than the sources)", bin.Name, bin.Name)
		start := time.Now()
		// The Makefile's flags, so what is measured is what ships.
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "nomsgpack", "-ldflags", "-s -w", "-o", out, "./cmd/"+bin.Name)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/%s: %w\n%s", bin.Name, err, msg)
		}
		*bin.Path = out
		hows = append(hows, fmt.Sprintf("%s built (%.1fs)", bin.Name, time.Since(start).Seconds()))
	}
	for _, bin := range bins {
		abs, err := filepath.Abs(*bin.Path)
		if err != nil {
			return "", err
		}
		if st, err := os.Stat(abs); err != nil {
			return "", err
		} else if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not an executable file", abs)
		}
		*bin.Path = abs
	}
	return strings.Join(hows, ", "), nil
}

// ModuleRoot walks up from the working directory to the go.mod of
// ModulePath.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(mod, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the " + ModulePath + " module: cannot build the binaries")
		}
		dir = parent
	}
}

// processTools are the commands that run the others, and the packages only
// they use: their sources go into no binary they start.
var processTools = []string{"cmd/mcphub-bench", "cmd/mcphub-soak", "internal/procset", "internal/repobin"}

// newestSource is the latest modification time of the files a build of the
// module's commands reads: non-test Go files, go.mod, go.sum and the
// embedded openapi.yaml. Tests, node_modules and the process tools are
// skipped. A heuristic (a changed toolchain or -ldflags is not seen): pass
// the binaries explicitly to overrule it.
func newestSource(root string) (time.Time, error) {
	var newest time.Time
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" ||
				rel == "bin" || rel == "test" || isProcessTool(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) ||
			rel == "go.mod" || rel == "go.sum" || rel == "openapi.yaml" {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.ModTime().After(newest) {
				newest = info.ModTime()
			}
		}
		return nil
	})
	return newest, err
}

func isProcessTool(rel string) bool {
	for _, t := range processTools {
		if rel == filepath.FromSlash(t) {
			return true
		}
	}
	return false
}
