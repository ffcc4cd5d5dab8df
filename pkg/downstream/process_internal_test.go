package downstream

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
)

// TestChildEnvKeepsTheHubTokenOut: a stdio server inherits the hub's
// environment but not the hub's API token, unless its own env sets it.
func TestChildEnvKeepsTheHubTokenOut(t *testing.T) {
	t.Setenv(config.EnvAPIToken, "hub-secret-token-0123456789")
	t.Setenv("MCPHUB_TEST_INHERITED", "yes")
	env := childEnv(map[string]string{"B": "2", "A": "1"})
	for _, kv := range env {
		if kv == config.EnvAPIToken+"=hub-secret-token-0123456789" {
			t.Fatalf("the hub's token reached the child: %q", kv)
		}
	}
	if !slices.Contains(env, "MCPHUB_TEST_INHERITED=yes") {
		t.Error("the rest of the environment is not inherited")
	}
	if i, j := slices.Index(env, "A=1"), slices.Index(env, "B=2"); i < 0 || j != i+1 {
		t.Errorf("configured variables missing or out of order: %d %d", i, j)
	}
	own := childEnv(map[string]string{config.EnvAPIToken: "the-server-s-own"})
	if !slices.Contains(own, config.EnvAPIToken+"=the-server-s-own") {
		t.Error("a server's own env entry for the variable is dropped")
	}
}

// countingReader counts the reads that reached r.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// drainPipe runs drainStderr with pause over a real pipe, feeds it with
// write, and returns what reached the tail and how many reads it took.
func drainPipe(t *testing.T, pause time.Duration, write func(w *os.File)) (got string, reads int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var tail bytes.Buffer
	cr := &countingReader{r: r}
	done := make(chan struct{})
	go func() {
		defer close(done)
		drainStderr(&tail, cr, pause)
	}()
	write(w)
	w.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("drainStderr did not return after the pipe closed")
	}
	return tail.String(), cr.reads
}

// TestDrainStderrGathersLines: a child logging a line at a time is read in
// a few reads, not one per line, and every byte reaches the tail.
func TestDrainStderrGathersLines(t *testing.T) {
	const lines = 200
	var want strings.Builder
	got, reads := drainPipe(t, 50*time.Millisecond, func(w *os.File) {
		for i := range lines {
			line := fmt.Sprintf("level=INFO msg=mcp.tool n=%d\n", i)
			want.WriteString(line)
			if _, err := w.WriteString(line); err != nil {
				t.Error(err)
				return
			}
			if i%10 == 9 {
				time.Sleep(time.Millisecond) // as a busy server logs: lines now and then, ≥ 20 ms in all
			}
		}
	})
	if got != want.String() {
		t.Fatalf("got %d bytes, want the %d written", len(got), want.Len())
	}
	// Without the pause about one read per line (83-120 measured); with it
	// about one per 50 ms.
	if reads > lines/10 {
		t.Errorf("%d reads for %d lines: lines are not gathered", reads, lines)
	}
}

// chunkReader returns its chunks one per Read, then io.EOF.
type chunkReader struct{ chunks []int }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := min(c.chunks[0], len(p))
	c.chunks = c.chunks[1:]
	return n, nil
}

// TestDrainStderrBurst: during a burst (a large read) small reads do not
// pause, so a child writing much is not held up once per pipeful.
func TestDrainStderrBurst(t *testing.T) {
	const pause = 100 * time.Millisecond
	var chunks []int
	for range 16 { // 1 MB as a pipe gives it when the reader catches the writer mid-write
		chunks = append(chunks, 64<<10, 100)
	}
	start := time.Now()
	drainStderr(io.Discard, &chunkReader{chunks: chunks}, pause)
	if took := time.Since(start); took > 5*pause {
		t.Errorf("a 1 MB burst took %v to drain: the reader paused during it (16 pauses would be %v)", took, 16*pause)
	}
}

// TestDrainStderrSteadyLogging: a pause's worth of steady logging (10 KB)
// is no burst: the reader goes on pausing after each read.
func TestDrainStderrSteadyLogging(t *testing.T) {
	const pause = 50 * time.Millisecond
	start := time.Now()
	drainStderr(io.Discard, &chunkReader{chunks: []int{10 << 10, 100, 100, 100, 100, 100}}, pause)
	if took := time.Since(start); took < 5*pause {
		t.Errorf("six reads of steady logging drained in %v: the reader stopped pausing (six pauses are %v)", took, 6*pause)
	}
}
