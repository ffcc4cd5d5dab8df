package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
)

// pprofServer serves Go's runtime profiles (net/http/pprof) on a listener
// of its own, never on the API's: they have no authentication, and a CPU
// profile holds its request for as long as it samples.
type pprofServer struct {
	srv *http.Server
	ln  net.Listener
}

// pprofMux is net/http/pprof's handlers on a mux of their own: importing
// the package also registers them on http.DefaultServeMux, which the hub
// never serves.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// checkPprofAddr refuses an address other hosts could reach.
func checkPprofAddr(addr string) error {
	if !loopback.Host(addr) {
		return fmt.Errorf("%w: refusing to serve profiles on %s: they have no authentication; give a loopback address such as 127.0.0.1:6060",
			ErrInsecure, addr)
	}
	return nil
}

// listenPprof binds addr; serve starts serving.
func listenPprof(addr string) (*pprofServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: listen on %s: %w", addr, err)
	}
	return &pprofServer{srv: &http.Server{Handler: loopbackHostOnly(pprofMux()), ReadHeaderTimeout: 10 * time.Second}, ln: ln}, nil
}

// loopbackHostOnly refuses a request whose Host is not a loopback name: a
// web page whose own domain an attacker rebinds to 127.0.0.1 would send its
// own name, and could otherwise read the profiles (stacks, the command
// line) from the user's browser and hold the hub's CPU with long ones.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopback.Host(r.Host) {
			http.Error(w, "profiles are served to loopback host names only", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serve serves until close; it returns the server's error, if any.
func (p *pprofServer) serve() error {
	if err := p.srv.Serve(p.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// close ends the server and any profile being taken.
func (p *pprofServer) close() error { return p.srv.Close() }
