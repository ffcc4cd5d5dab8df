package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mcphub/mcphub/pkg/app"
	"github.com/mcphub/mcphub/pkg/config"
)

var quiet = slog.New(slog.DiscardHandler)

// startApp starts an app without servers on loopback ports with opts.
func startApp(t *testing.T, opts app.Options) *app.App {
	t.Helper()
	opts.Logger, opts.Listen = quiet, "127.0.0.1:0"
	cfg := config.Default()
	cfg.Servers = nil
	a, err := app.New(cfg, opts)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	return a
}

func stopApp(t *testing.T, a *app.App) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := a.Stop(ctx); err != nil {
		t.Errorf("app.Stop: %v", err)
	}
	return time.Since(t0)
}

func get(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading: %v", url, err)
	}
	return resp.StatusCode, body
}

// TestPprof checks that Options.Pprof serves Go's profiles on a listener of
// its own, not on the API's, and that Stop ends it, a profile being taken
// included, and leaves no goroutine behind.
func TestPprof(t *testing.T) {
	defer goleak.VerifyNone(t)
	a := startApp(t, app.Options{Pprof: "127.0.0.1:0"})
	c := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	pp := "http://" + a.PprofAddr() + "/debug/pprof/"
	if a.PprofAddr() == "" || a.PprofAddr() == a.Addr() {
		t.Fatalf("pprof address %q, API %q", a.PprofAddr(), a.Addr())
	}
	if code, body := get(t, c, pp); code != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("pprof index: %d\n%s", code, body)
	}
	// A one-second CPU profile, in pprof's gzipped protobuf.
	if code, body := get(t, c, pp+"profile?seconds=1"); code != http.StatusOK || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Errorf("CPU profile: %d, %d bytes starting %q", code, len(body), body[:min(len(body), 16)])
	}
	if code, _ := get(t, c, "http://"+a.Addr()+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("the API's listener answered /debug/pprof/ with %d, want 404", code)
	}
	// A page rebound to 127.0.0.1 sends its own name: refused.
	for host, want := range map[string]int{"evil.example": 403, "evil.example:80": 403, "localhost:1": 200, "[::1]": 200} {
		req, _ := http.NewRequest(http.MethodGet, pp+"cmdline", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}

	// A long profile is cut by Stop, not waited for.
	taking := make(chan error, 1)
	go func() {
		resp, err := c.Get(pp + "profile?seconds=60")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = errors.New(resp.Status)
			}
		}
		taking <- err
	}()
	time.Sleep(200 * time.Millisecond) // the profile has begun
	if took := stopApp(t, a); took > 5*time.Second {
		t.Errorf("Stop took %v with a 60 s profile being taken", took)
	}
	select {
	case err := <-taking:
		if err == nil {
			t.Error("the 60 s profile ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the 60 s profile's request did not end after Stop")
	}
	if _, err := c.Get(pp); err == nil {
		t.Error("pprof still answers after Stop")
	}
	c.CloseIdleConnections()
}

// TestPprofAddrInUse checks that Start fails, saying why, when the pprof
// address is taken, and releases the API's listener.
func TestPprofAddrInUse(t *testing.T) {
	first := startApp(t, app.Options{Pprof: "127.0.0.1:0"})
	defer stopApp(t, first)
	cfg := config.Default()
	cfg.Servers = nil
	second, err := app.New(cfg, app.Options{Logger: quiet, Listen: "127.0.0.1:0", Pprof: first.PprofAddr()})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := second.Start(); err == nil || !strings.Contains(err.Error(), "pprof: listen on "+first.PprofAddr()) {
		t.Errorf("Start with the pprof address in use: %v", err)
	}
	stopApp(t, second)
}

// TestPprofOff checks that without Options.Pprof nothing serves profiles.
func TestPprofOff(t *testing.T) {
	a := startApp(t, app.Options{})
	defer stopApp(t, a)
	if a.PprofAddr() != "" {
		t.Errorf("PprofAddr %q without Options.Pprof", a.PprofAddr())
	}
	c := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	if code, _ := get(t, c, "http://"+a.Addr()+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ answered %d, want 404", code)
	}
}

// TestPprofLoopbackOnly checks that New refuses to serve profiles where
// other hosts could reach them, whatever else is allowed.
func TestPprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{":6060", "0.0.0.0:6060", "[::]:6060", "192.0.2.1:6060", "not an address"} {
		_, err := app.New(config.Default(), app.Options{Logger: quiet, Pprof: addr, InsecureNoAuth: true})
		if !errors.Is(err, app.ErrInsecure) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Pprof %q: %v, want ErrInsecure naming loopback", addr, err)
		}
	}
}
