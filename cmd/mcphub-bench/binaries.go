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

// modulePath is the module whose binaries the tool measures.
const modulePath = "github.com/mcphub/mcphub"

// binaries are the two programs a run starts.
type binaries struct {
	hub, example string
	// how says where each came from, for the report.
	how string
}

// findBinaries resolves the binaries: the -mcphub and -example flags when
// set; otherwise ./bin/<name> of the module when it is newer than every
// source file that goes into it; otherwise a fresh go build into dir.
func findBinaries(ctx context.Context, hubFlag, exampleFlag, dir string, logf func(string, ...any)) (binaries, error) {
	b := binaries{hub: hubFlag, example: exampleFlag}
	var how []string
	if b.hub != "" && b.example != "" {
		how = append(how, "from flags")
	} else {
		root, err := moduleRoot()
		if err != nil {
			return b, fmt.Errorf("%w (or give both -mcphub and -example)", err)
		}
		newest, err := newestSource(root)
		if err != nil {
			return b, err
		}
		for _, bin := range []struct {
			path *string
			name string
		}{{&b.hub, "mcphub"}, {&b.example, "example-server"}} {
			if *bin.path != "" {
				how = append(how, bin.name+" from flag")
				continue
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
	}
	for _, p := range []*string{&b.hub, &b.example} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return b, err
		}
		if st, err := os.Stat(abs); err != nil {
			return b, err
		} else if st.IsDir() || st.Mode()&0o111 == 0 {
			return b, fmt.Errorf("%s is not an executable file", abs)
		}
		*p = abs
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
// embedded openapi.yaml. Tests, node_modules and this tool are skipped.
// A heuristic (a changed Go toolchain or -ldflags is not seen): pass the
// binaries explicitly to overrule it.
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
				rel == "bin", rel == "test", rel == filepath.Join("cmd", "mcphub-bench"):
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
