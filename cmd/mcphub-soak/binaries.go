package main

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

// modulePath is the module whose binaries the tool runs.
const modulePath = "github.com/mcphub/mcphub"

// binaries are the three programs a run starts.
type binaries struct {
	hub, example, fault string
	how                 string // where each came from, for the report
}

// findBinaries resolves the binaries: a flag when set; otherwise
// ./bin/<name> of the module when it is newer than every source file that
// goes into it; otherwise a fresh go build into dir (./bin is left alone).
func findBinaries(ctx context.Context, hubFlag, exampleFlag, faultFlag, dir string, logf func(string, ...any)) (binaries, error) {
	b := binaries{hub: hubFlag, example: exampleFlag, fault: faultFlag}
	bins := []struct {
		path *string
		name string
	}{{&b.hub, "mcphub"}, {&b.example, "example-server"}, {&b.fault, "fault-server"}}
	var how []string
	var root string
	var newest time.Time
	for _, bin := range bins {
		if *bin.path != "" {
			how = append(how, bin.name+" from flag")
			continue
		}
		if root == "" {
			var err error
			if root, err = moduleRoot(); err != nil {
				return b, fmt.Errorf("%w (or give -mcphub, -example and -fault-server)", err)
			}
			if newest, err = newestSource(root); err != nil {
				return b, err
			}
		}
		prebuilt := filepath.Join(root, "bin", bin.name)
		if st, err := os.Stat(prebuilt); err == nil && !st.ModTime().Before(newest) {
			*bin.path = prebuilt
			how = append(how, bin.name+" from ./bin")
			continue
		}
		out := filepath.Join(dir, bin.name)
		logf("building %s (./bin/%s is missing or older than the sources)", bin.name, bin.name)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/"+bin.name)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build ./cmd/%s: %w\n%s", bin.name, err, msg)
		}
		*bin.path = out
		how = append(how, fmt.Sprintf("%s built (%.1fs)", bin.name, time.Since(start).Seconds()))
	}
	for _, bin := range bins {
		abs, err := filepath.Abs(*bin.path)
		if err != nil {
			return b, err
		}
		if st, err := os.Stat(abs); err != nil {
			return b, err
		} else if st.IsDir() || st.Mode()&0o111 == 0 {
			return b, fmt.Errorf("%s is not an executable file", abs)
		}
		*bin.path = abs
	}
	b.how = strings.Join(how, ", ")
	return b, nil
}

// moduleRoot walks up from the working directory to the go.mod of
// modulePath.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(mod, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the " + modulePath + " module: cannot build the binaries")
		}
		dir = parent
	}
}

// newestSource is the latest modification time of the files a build of the
// module's commands reads: non-test Go files, go.mod, go.sum and the
// embedded openapi.yaml. Tests, node_modules and the load tools are
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
			switch {
			case rel == ".":
			case strings.HasPrefix(d.Name(), "."), d.Name() == "node_modules", d.Name() == "testdata",
				rel == "bin", rel == "test", rel == filepath.Join("cmd", "mcphub-bench"), rel == filepath.Join("cmd", "mcphub-soak"):
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
