package downstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/reqid"
)

// idRecorder wraps a server's handler and keeps the X-Request-ID of each
// tools/call POSTed to it.
type idRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *idRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			body, _ := io.ReadAll(req.Body)
			if bytes.Contains(body, []byte(`"tools/call"`)) {
				r.mu.Lock()
				r.ids = append(r.ids, strings.Join(req.Header.Values(reqid.Header), ","))
				r.mu.Unlock()
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, req)
	})
}

func (r *idRecorder) last(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) == 0 {
		t.Fatal("no tools/call reached the server")
	}
	return r.ids[len(r.ids)-1]
}

// TestRequestIDHeader: a call made for a hub request carries its id in an
// X-Request-ID header, over legacy SSE (mcp-go's transport) as over
// Streamable HTTP (the hub's own poster), unless the configuration sets
// that header itself.
func TestRequestIDHeader(t *testing.T) {
	sseServer := func(t *testing.T, rec *idRecorder) string {
		return newSSEExample(t, rec.wrap).URL + "/sse"
	}
	httpServer := func(t *testing.T, rec *idRecorder) string {
		ts := httptest.NewServer(rec.wrap(exampleserver.NewStreamableHTTPServer(exampleserver.New())))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	for _, tc := range []struct {
		name  string
		tr    config.Transport
		serve func(*testing.T, *idRecorder) string
	}{
		{"sse", config.TransportSSE, sseServer},
		{"streamable-http", config.TransportStreamableHTTP, httpServer},
	} {
		for _, configured := range []bool{false, true} {
			name := tc.name
			if configured {
				name += "/configured"
			}
			t.Run(name, func(t *testing.T) {
				rec := &idRecorder{}
				srv := serverConfig("web", tc.tr)
				srv.Endpoint = tc.serve(t, rec)
				want := "call-7"
				if configured {
					srv.Headers = map[string]string{"X-Request-Id": "from-config"}
					want = "from-config"
				}
				c, _ := startConn(t, srv)
				waitReady(t, c)
				ctx, cancel := context.WithTimeout(reqid.With(context.Background(), "call-7"), 10*time.Second)
				defer cancel()
				if _, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"hi"}`), nil); err != nil {
					t.Fatal(err)
				}
				if got := rec.last(t); got != want {
					t.Errorf("%s = %q, want %q", reqid.Header, got, want)
				}
			})
		}
	}
}
