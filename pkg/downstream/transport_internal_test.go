package downstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

// The requests inline.go leaves to net/http's Transport (https, proxies):
// one it never wrote whole is undelivered there too (sendTraced).

// TestTransportWriteFailsNotDelivered is TestInlineWriteFailsNotDelivered
// on net/http's Transport, through a proxy (the raw server), which resets
// the connection while the body is written in the first case and after
// the whole request in the second.
func TestTransportWriteFailsNotDelivered(t *testing.T) {
	reset := func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0) // Close sends RST
	}
	viaProxy := func(proxy string) *inlineTransport {
		u, err := url.Parse(proxy)
		if err != nil {
			t.Fatal(err)
		}
		tr := newInlineTransport(&http.Transport{Proxy: http.ProxyURL(u), MaxIdleConnsPerHost: 4})
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	headOnly := rawServer(t, func(_ int, c net.Conn) { readHead(c); reset(c) })
	_, err := post(t, context.Background(), viaProxy(headOnly), "http://mcp.invalid/mcp", strings.Repeat("x", 16<<20))
	// The write meets ECONNRESET or, now and then, EPIPE; only the first
	// needs the trace to count as undelivered (errRequestNotSent).
	if !(errors.Is(err, errRequestNotSent) || errors.Is(err, syscall.EPIPE)) || !NotDelivered(err) {
		t.Errorf("reset while the body was written: %v; NotDelivered = %v, want true", err, NotDelivered(err))
	}

	whole := rawServer(t, func(_ int, c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			io.Copy(io.Discard, req.Body)
		}
		reset(c)
	})
	_, err = post(t, context.Background(), viaProxy(whole), "http://mcp.invalid/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)
	if err == nil || NotDelivered(err) {
		t.Errorf("reset after the whole request: %v; NotDelivered = %v, want false", err, NotDelivered(err))
	}
}

// TestTransportHTTP2NotDelivered checks the same over https with HTTP/2:
// a stream the server resets before it has read the body is undelivered,
// one reset after the whole body may have been acted on.
func TestTransportHTTP2NotDelivered(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		case "/read":
			io.Copy(io.Discard, r.Body)
			panic(http.ErrAbortHandler) // resets the stream
		default:
			panic(http.ErrAbortHandler) // before the body
		}
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tr := newInlineTransport(ts.Client().Transport.(*http.Transport).Clone())
	t.Cleanup(tr.CloseIdleConnections)

	resp, err := post(t, context.Background(), tr, ts.URL+"/ok", "{}")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("HTTP/%d.%d, want HTTP/2", resp.ProtoMajor, resp.ProtoMinor)
	}

	_, err = post(t, context.Background(), tr, ts.URL+"/unread", strings.Repeat("x", 16<<20))
	if !errors.Is(err, errRequestNotSent) || !NotDelivered(err) {
		t.Errorf("stream reset before the body was read: %v; NotDelivered = %v, want true", err, NotDelivered(err))
	}
	_, err = post(t, context.Background(), tr, ts.URL+"/read", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)
	if err == nil || NotDelivered(err) {
		t.Errorf("stream reset after the whole body: %v; NotDelivered = %v, want false", err, NotDelivered(err))
	}
}
