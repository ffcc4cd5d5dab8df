//go:build mcphub_memory

package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/mcpserver"
)

// With -tags mcphub_memory, TestIdleMemoryPerHTTPServer also measures the
// hub with its MCP endpoints (one per server: /mcp/server/{name}). It is
// behind a tag so that the hub's tests do not build pkg/mcpserver.
func init() {
	memLayers = append(memLayers, memLayer{"hub+mcpserver", func(t *testing.T, endpoint string, n int) func() {
		h, stopHub := startMemHub(t, endpoint, n)
		m := mcpserver.New(h, mcpserver.Options{Logger: quietLogger()})
		m.Start()
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := m.Stop(ctx); err != nil {
				t.Error(err)
			}
			stopHub()
		}
	}})
}
