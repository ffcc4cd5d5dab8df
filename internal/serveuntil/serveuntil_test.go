package serveuntil

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestSignalStopsCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- Signal(&http.Server{Addr: addr, Handler: http.NotFoundHandler()}) }()
	// Serving means the signal handler is installed (it comes first).
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-done: // it could not serve: no handler catches the SIGTERM below
			t.Fatalf("Signal returned before serving: %v", err)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
