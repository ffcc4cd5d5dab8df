package serveuntil

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
)

func TestSignalStopsCleanly(t *testing.T) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Signal(&http.Server{Addr: addr, Handler: http.NotFoundHandler()}) }()
	// Serving means the signal handler is installed (it comes first).
	waitServing(t, addr, done)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still serving 10 s after SIGTERM")
	}
}

func TestSignalReportsListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Signal(&http.Server{Addr: ln.Addr().String()}); err == nil {
		t.Error("an address in use: no error")
	}
}

// TestSignalOrDone: closing done stops the server as a signal does.
func TestSignalOrDone(t *testing.T) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- SignalOr(&http.Server{Addr: addr, Handler: http.NotFoundHandler()}, stop) }()
	waitServing(t, addr, errc)
	close(stop)
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("after done: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still serving 10 s after done was closed")
	}
}

// waitServing waits until addr accepts connections; returned carries what
// the server's function returned, which it must not before serving.
func waitServing(t *testing.T, addr string, returned <-chan error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-returned:
			t.Fatalf("returned before serving: %v", err)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
