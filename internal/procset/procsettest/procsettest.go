// Package procsettest holds what the tests of the process tools
// (cmd/mcphub-bench, cmd/mcphub-soak) share: the repository's binaries
// they run, found or built once per test binary; the check that a run
// left nothing behind; a writer that interrupts a run at a point of its
// progress.
package procsettest

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/procset"
	"github.com/mcphub/mcphub/internal/repobin"
)

// The binaries found so far: building them in every test would take most
// of the time budget. The state of one test binary, cleared by Main.
var (
	binMu    sync.Mutex
	binDir   string // where stale ones are built; Main removes it
	binPaths = map[string]string{}
	binErr   error // a failed build fails every later test at once
)

// Main runs the tests, removes the binaries Binaries built, and exits: a
// TestMain for the packages that use Binaries.
func Main(m *testing.M) {
	code := m.Run()
	binMu.Lock()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	binMu.Unlock()
	os.Exit(code)
}

// Binaries are the paths of the named commands of the repository (names
// under cmd/), as repobin.Resolve finds them: ./bin's when fresh, else
// built, once per test binary, into a directory Main removes.
func Binaries(t testing.TB, names ...string) []string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	var missing []repobin.Binary
	for _, name := range names {
		if _, ok := binPaths[name]; !ok && binErr == nil {
			missing = append(missing, repobin.Binary{Name: name, Path: new(string)})
		}
	}
	if len(missing) > 0 {
		if binErr = resolve(t, missing); binErr == nil {
			for _, b := range missing {
				binPaths[b.Name] = *b.Path
			}
		}
	}
	if binErr != nil {
		t.Fatal(binErr)
	}
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = binPaths[name]
	}
	return paths
}

func resolve(t testing.TB, bins []repobin.Binary) error {
	if binDir == "" {
		dir, err := os.MkdirTemp("", "procsettest-bin-")
		if err != nil {
			return err
		}
		binDir = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := repobin.Resolve(ctx, binDir, t.Logf, bins...)
	return err
}

// NothingLeft fails t if a process of s's run, or any child of the test
// process (a zombie included), is still there.
func NothingLeft(t testing.TB, s *procset.Set) {
	t.Helper()
	if pids := s.Marked(); len(pids) > 0 {
		t.Errorf("processes of run %s still running: %v", s.RunID(), pids)
	}
	for pid, state := range procset.Children(os.Getpid()) {
		t.Errorf("child process %d (%s) still exists, state %c", pid, procset.Comm(pid), state)
	}
}

// Watch is a writer (a run's stderr) that calls OnMatch once, the first
// time what was written holds Match: a test cancels a run at the point
// its progress names.
type Watch struct {
	Match   string
	OnMatch func()

	mu    sync.Mutex
	buf   bytes.Buffer
	fired bool
}

func (w *Watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.fired && strings.Contains(w.buf.String(), w.Match) {
		w.fired = true
		w.OnMatch()
	}
	return len(p), nil
}

// String is everything written.
func (w *Watch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
