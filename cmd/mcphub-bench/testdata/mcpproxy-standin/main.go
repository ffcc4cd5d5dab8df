// Command mcpproxy-standin stands in for TBXark/mcp-proxy in the bench's
// own tests (its code is not in this repository): it reads the part of
// mcp-proxy's JSON configuration the bench writes and serves each server
// the way mcp-proxy does, an mcp-go server whose tools are handled by the
// server's mcp-go client, stateless, at /<name>/ once connected.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/internal/serveuntil"
)

type config struct {
	MCPProxy struct {
		Addr string `json:"addr"`
		Type string `json:"type"`
	} `json:"mcpProxy"`
	MCPServers map[string]struct {
		TransportType string `json:"transportType"`
		URL           string `json:"url"`
		Options       struct {
			PanicIfInvalid bool `json:"panicIfInvalid"`
		} `json:"options"`
	} `json:"mcpServers"`
}

func main() {
	path := flag.String("config", "config.json", "configuration file")
	flag.Parse()
	b, err := os.ReadFile(*path)
	if err != nil {
		log.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil {
		log.Fatal(err)
	}
	if cfg.MCPProxy.Type != "streamable-http" {
		log.Fatalf("mcpProxy.type %q: only streamable-http is stood in for", cfg.MCPProxy.Type)
	}
	ctx := context.Background() // a signal before it serves ends it at once
	mux := http.NewServeMux()
	for name, s := range cfg.MCPServers {
		if s.TransportType != "streamable-http" || !s.Options.PanicIfInvalid {
			log.Fatalf("server %s: want transportType streamable-http and panicIfInvalid", name)
		}
		c, err := client.NewStreamableHttpClient(s.URL)
		if err != nil {
			log.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			log.Fatal(err)
		}
		if _, err := c.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
			log.Fatalf("server %s: %v", name, err)
		}
		tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			log.Fatalf("server %s: %v", name, err)
		}
		srv := server.NewMCPServer(name, "standin")
		for _, t := range tools.Tools {
			srv.AddTool(t, c.CallTool)
		}
		mux.Handle("/"+name+"/", server.NewStreamableHTTPServer(srv, server.WithStateLess(true)))
	}
	if err := serveuntil.Signal(&http.Server{Addr: cfg.MCPProxy.Addr, Handler: mux}); err != nil {
		log.Fatal(err)
	}
}
