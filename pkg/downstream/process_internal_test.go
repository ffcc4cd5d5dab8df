package downstream

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
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

// TestDrainStderrGathersLines: a child logging a line at a time is read in
// a few large reads, not one per line, and every byte reaches the tail.
func TestDrainStderrGathersLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	cr := &countingReader{r: r}
	done := make(chan struct{})
	go func() {
		defer close(done)
		drainStderr(&got, cr, 10*time.Millisecond)
	}()
	const lines = 200
	var want bytes.Buffer
	for i := range lines {
		line := fmt.Sprintf("level=INFO msg=mcp.tool n=%d\n", i)
		want.WriteString(line)
		if _, err := w.WriteString(line); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			time.Sleep(time.Millisecond) // as a busy server logs: lines now and then
		}
	}
	w.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("drainStderr did not return after the pipe closed")
	}
	if got.String() != want.String() {
		t.Fatalf("got %d bytes, want the %d written", got.Len(), want.Len())
	}
	// Without the pause about one read per line; with it one per 10 ms.
	if cr.reads > lines/10 {
		t.Errorf("%d reads for %d lines: lines are not gathered", cr.reads, lines)
	}
}
