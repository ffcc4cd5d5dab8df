package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
)

var exampleToolNames = []string{
	exampleserver.ToolAdd, exampleserver.ToolCreateNote, exampleserver.ToolDeleteNote, exampleserver.ToolEcho,
	exampleserver.ToolFail, exampleserver.ToolRegisterTool, exampleserver.ToolSlowCount, exampleserver.ToolUnregisterTool,
}

// exported is the sorted list of prefix+tool for every example tool.
func exported(prefix string) []string {
	var out []string
	for _, n := range exampleToolNames {
		out = append(out, prefix+n)
	}
	slices.Sort(out)
	return out
}

func TestToolsJSON(t *testing.T) {
	t.Parallel()
	off := stdioServer("off", exampleCmd(t, "off"))
	off.Enabled = false
	h := startHub(t, hubConfig(
		stdioServer("st", exampleCmd(t, "tools")),
		httpServer("web", newHTTPExample(t).URL),
		off,
	))

	both := append(exported("st__"), exported("web__")...)
	slices.Sort(both)
	cases := []struct {
		server  string
		want    []string
		wantErr error
	}{
		{server: "", want: both},
		{server: "st", want: exported("st__")},
		{server: "web", want: exported("web__")},
		{server: "off", want: nil}, // configured, disabled: an empty list, not an error
		{server: "nope", wantErr: hub.ErrNotFound},
		{server: "st__echo", wantErr: hub.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run("server="+tc.server, func(t *testing.T) {
			body, err := h.ToolsJSON(tc.server)
			if tc.wantErr != nil {
				wantErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := toolsList(t, body); !slices.Equal(got, tc.want) {
				t.Errorf("names\n got %v\nwant %v", got, tc.want)
			}
		})
	}
	// Every listed name can be called.
	body, _ := h.ToolsJSON("")
	for _, name := range toolsList(t, body) {
		if _, err := h.LookupTool(name); err != nil {
			t.Errorf("listed %s but: %v", name, err)
		}
	}
}

func TestToolsJSONNameCollisions(t *testing.T) {
	t.Parallel()
	// "ex.one" and "ex_one" sanitise to the same prefix, so every tool of one
	// collides with the same tool of the other; a 70-byte server name forces
	// shortening.
	long := strings.Repeat("long-server-name-", 4) + "xx"
	h := startHub(t, hubConfig(
		stdioServer("ex.one", exampleCmd(t, "dot")),
		httpServer("ex_one", newHTTPExample(t).URL),
		stdioServer(long, exampleCmd(t, "long")),
	))
	if len(h.Snapshot().Collisions()) != len(exampleToolNames) {
		t.Errorf("collisions %+v: want one per example tool", h.Snapshot().Collisions())
	}

	body, err := h.ToolsJSON("")
	if err != nil {
		t.Fatal(err)
	}
	all := toolsList(t, body) // checks every name against OpenAI's pattern
	if len(all) != 3*len(exampleToolNames) || len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Fatalf("want %d distinct names, got %v", 3*len(exampleToolNames), all)
	}
	for _, server := range []string{"ex.one", "ex_one", long} {
		b, err := h.ToolsJSON(server)
		if err != nil {
			t.Fatal(err)
		}
		names := toolsList(t, b)
		if len(names) != len(exampleToolNames) {
			t.Fatalf("%s: %v", server, names)
		}
		for _, name := range names {
			if slices.Contains([]string{"ex_one__echo", "ex_one__add"}, name) {
				t.Errorf("%s got the contested name %s", server, name)
			}
			res := call(t, h, name, `{"message":"m"}`)
			if res.Server != server || res.Name != name {
				t.Errorf("%s routed to %s as %s", name, res.Server, res.Name)
			}
		}
	}
	// The seed form names the server exactly, so it is never ambiguous.
	for _, server := range []string{"ex.one", "ex_one", long} {
		if res := call(t, h, server+".echo", `{"message":"seed"}`); res.Server != server || res.Content != "seed" {
			t.Errorf("%s.echo: %+v", server, res)
		}
	}
}

func TestListChangedUpdatesTools(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"stdio", "streamable-http"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := stdioServer("ex", exampleCmd(t, "lc"))
			if tr == "streamable-http" {
				srv = httpServer("ex", newHTTPExample(t).URL)
			}
			h := startHub(t, hubConfig(srv))
			// No Refresh: the server's list_changed notification is enough.
			call(t, h, "ex__register_tool", `{"name":"made.at.runtime"}`)
			waitFor(t, "the new tool in the catalog", 5*time.Second, func() bool {
				_, err := h.LookupTool("ex__made_at_runtime")
				return err == nil
			})
			body, _ := h.ToolsJSON("ex")
			if !slices.Contains(toolsList(t, body), "ex__made_at_runtime") {
				t.Errorf("ToolsJSON(ex) without the new tool: %s", body)
			}
			if res := call(t, h, "ex.made.at.runtime", ""); res.Content != "made.at.runtime" {
				t.Errorf("runtime tool: %+v", res)
			}

			call(t, h, "ex__unregister_tool", `{"name":"made.at.runtime"}`)
			waitFor(t, "the tool gone", 5*time.Second, func() bool {
				_, err := h.LookupTool("ex__made_at_runtime")
				return err != nil
			})
			body, _ = h.ToolsJSON("")
			if got := toolsList(t, body); !slices.Equal(got, exported("ex__")) {
				t.Errorf("after unregister: %v", got)
			}
		})
	}
}

// A server's tools filter hides tools from every list and from calls; a
// reload that only changes the filter keeps the connection.
func TestServerToolFilter(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	srv := httpServer("example", ex.URL)
	srv.Tools = config.ToolFilter{Allow: []string{"echo", "*_note"}, Deny: []string{"delete_*"}}
	h := startHub(t, hubConfig(srv))
	names := toolsList(t, must(h.ToolsJSON("")))
	if want := []string{"example__create_note", "example__echo"}; !slices.Equal(names, want) {
		t.Fatalf("tools = %v, want %v", names, want)
	}
	if _, err := h.Call(context.Background(), hub.CallRequest{Name: "example__add", Arguments: json.RawMessage(`{"a":1,"b":2}`)}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("a filtered tool was callable: %v", err)
	}
	cfg := *h.Config()
	cfg.Servers = append([]config.Server(nil), cfg.Servers...)
	cfg.Servers[0].Tools = config.ToolFilter{}
	if _, err := h.Reload(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	if n := len(toolsList(t, must(h.ToolsJSON("")))); n != exampleTools {
		t.Errorf("%d tools after the filter was removed, want %d", n, exampleTools)
	}
	if n := ex.initializes.Load(); n != 1 {
		t.Errorf("the server was initialized %d times: a filter change reconnected it", n)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
