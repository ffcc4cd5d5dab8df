package hub_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMaxConcurrentStarts: stdio servers start at most max_concurrent_starts
// at a time. Each one takes 300 ms from spawn to being ready, and notes its
// spawn time; with a limit of 2, any three spawns span at least one start.
func TestMaxConcurrentStarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "spawns")
	script := filepath.Join(dir, "slow.sh")
	body := fmt.Sprintf("#!/bin/sh\ndate +%%s%%N >> %q\nsleep 0.3\nexec %q \"$@\"\n", log, exampleBin)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := hubConfig()
	cfg.MaxConcurrentStarts = 2
	var names []string
	for i := range 6 {
		name := "s" + strconv.Itoa(i)
		cfg.Servers = append(cfg.Servers, stdioServer(name, script))
		names = append(names, name)
	}
	h := startHub(t, cfg)
	waitHealthy(t, h, names...)
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var spawns []int64
	for _, line := range strings.Fields(string(raw)) {
		ns, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			t.Fatalf("spawn log line %q: %v", line, err)
		}
		spawns = append(spawns, ns)
	}
	if len(spawns) != 6 {
		t.Fatalf("%d spawns, want 6", len(spawns))
	}
	slices.Sort(spawns)
	for i := 0; i+2 < len(spawns); i++ {
		if gap := time.Duration(spawns[i+2] - spawns[i]); gap < 250*time.Millisecond {
			t.Errorf("spawns %d and %d are %v apart: more than 2 servers were starting at once", i, i+2, gap)
		}
	}
}
