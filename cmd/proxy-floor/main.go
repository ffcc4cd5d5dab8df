// Command proxy-floor is the net/http reference for a gateway's cost: a
// pass-through proxy with the standard library only. It hands every
// request to one upstream URL with a tuned http.Transport and copies the
// answer back, decoding nothing. mcphub-bench calls the example server
// through it (scenarios floor-http and floor-post) beside the same call
// through the hub, so that the hub's CPU per call and added latency are
// read against what net/http's server and client cost by themselves on the
// same machine in the same run. Its server half is a floor for the hub,
// which gin serves on net/http's server; its client half is not: the hub's
// own (inline.go) is cheaper.
//
// Given a command instead of -upstream, it starts that command as a stdio
// MCP server and writes each POSTed message to it as a line, answering with
// the line of the same id (stdio.go; scenario floor-stdio):
//
//	proxy-floor -listen 127.0.0.1:8091 -upstream http://127.0.0.1:8081/mcp
//	proxy-floor -listen 127.0.0.1:8092 -- ./bin/example-server --log-level WARN
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mcphub/mcphub/internal/serveuntil"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8091", "address to serve on")
	upstream := flag.String("upstream", "", "URL every request is sent to (e.g. http://127.0.0.1:8081/mcp); or, instead, a stdio server's command after the flags")
	flag.Parse()
	var err error
	switch {
	case *upstream != "" && flag.NArg() > 0:
		err = errors.New("give -upstream or a stdio server's command, not both")
	case flag.NArg() > 0:
		err = runStdio(*listen, flag.Args())
	default:
		err = run(*listen, *upstream)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy-floor:", err)
		os.Exit(1)
	}
}

func run(listen, upstream string) error {
	if upstream == "" {
		return errors.New("-upstream or a stdio server's command is required")
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256, // not Go's default 2: one connection per concurrent call
		IdleConnTimeout:     90 * time.Second,
	}}
	return serveuntil.Signal(server(listen, pass(client, upstream)))
}

// server is the proxy's HTTP server for h on listen.
func server(listen string, h http.Handler) *http.Server {
	return &http.Server{Addr: listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
}

// pass forwards each request as it came, headers and body streamed, and
// copies the answer back: an event stream event by event, anything else in
// one write where it fits net/http's buffer.
func pass(client *http.Client, upstream string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := http.NewRequestWithContext(r.Context(), r.Method, upstream, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.ContentLength = r.ContentLength
		for k, v := range r.Header {
			out.Header[k] = v
		}
		resp, err := client.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		var dst io.Writer = w
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
			dst = flushing{w}
		}
		if _, err := io.Copy(dst, resp.Body); err != nil && r.Context().Err() == nil {
			slog.Warn("copying the answer", "err", err)
		}
	})
}

// flushing sends each chunk on at once, so that an event stream (an MCP
// server may answer any POST with one) reaches the client as it comes.
type flushing struct{ w http.ResponseWriter }

func (f flushing) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
