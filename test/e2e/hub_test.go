package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/app"
	"github.com/mcphub/mcphub/pkg/config"
)

// hubUnderTest is an in-process hub (pkg/app) on a real socket, driven over
// HTTP like any client would.
type hubUnderTest struct {
	t       testing.TB
	app     *app.App
	base    string // http://127.0.0.1:port
	client  *http.Client
	logs    *syncBuffer
	cfgFile string
}

// startHub writes cfgYAML to a temp mcp_servers.yaml, loads it with
// config.Load and runs the hub on 127.0.0.1:0 until the test ends.
func startHub(t testing.TB, cfgYAML string) *hubUnderTest {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mcp_servers.yaml")
	if err := os.WriteFile(path, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{path}
	cfg, err := config.Load(files)
	if err != nil {
		t.Fatalf("config.Load:\n%v\n--- config ---\n%s", err, cfgYAML)
	}
	logs := &syncBuffer{}
	dumpOnFailure(t, "hub log", logs)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(cfg, app.Options{
		Logger: log,
		Load:   func(ctx context.Context) (*config.Config, error) { return config.LoadContext(ctx, files) },
		Listen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	h := &hubUnderTest{
		t: t, app: a, base: "http://" + a.Addr(), logs: logs, cfgFile: path,
		client: &http.Client{Transport: &http.Transport{}, Timeout: 60 * time.Second},
	}
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("app.Stop: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("app.Stop took %v", d)
		}
	})
	return h
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (h *hubUnderTest) do(method, path string, body any, out any) int {
	h.t.Helper()
	code, err := h.tryDo(method, path, body, out)
	if err != nil {
		h.t.Fatal(err)
	}
	return code
}

// tryDo is do for any goroutine: it returns failures instead of ending the test.
func (h *hubUnderTest) tryDo(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		return 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: reading body: %w", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return 0, fmt.Errorf("%s %s: status %d, Content-Type %q, want JSON; body %s", method, path, resp.StatusCode, ct, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, fmt.Errorf("%s %s: status %d, undecodable body %s: %w", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// serverInfo is one entry of GET /mcp_hub/servers as it appears on the wire.
type serverInfo struct {
	Name              string `json:"name"`
	Transport         string `json:"transport"`
	Endpoint          string `json:"endpoint"`
	Command           string `json:"command"`
	Enabled           bool   `json:"enabled"`
	Healthy           bool   `json:"healthy"`
	Status            string `json:"status"`
	LastError         string `json:"last_error"`
	Tools             int    `json:"tools"`
	Resources         int    `json:"resources"`
	ResourceTemplates int    `json:"resource_templates"`
	Prompts           int    `json:"prompts"`
	Failures          int    `json:"failures"`
	ServerInfo        *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"server_info"`
	ProtocolVersion string `json:"protocol_version"`
}

func (s serverInfo) String() string {
	return fmt.Sprintf("%s{status=%s healthy=%v tools=%d resources=%d templates=%d prompts=%d failures=%d last_error=%q}",
		s.Name, s.Status, s.Healthy, s.Tools, s.Resources, s.ResourceTemplates, s.Prompts, s.Failures, s.LastError)
}

func (h *hubUnderTest) servers() map[string]serverInfo {
	h.t.Helper()
	var list []serverInfo
	if code := h.do("GET", "/mcp_hub/servers", nil, &list); code != http.StatusOK {
		h.t.Fatalf("GET /mcp_hub/servers: status %d", code)
	}
	out := make(map[string]serverInfo, len(list))
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

// waitServer polls /mcp_hub/servers until cond holds for the named server.
func (h *hubUnderTest) waitServer(name string, timeout time.Duration, what string, cond func(serverInfo) bool) serverInfo {
	h.t.Helper()
	var last serverInfo
	waitFor(h.t, timeout, name+" "+what, func() (bool, string) {
		s, ok := h.servers()[name]
		last = s
		return ok && cond(s), s.String()
	})
	return last
}

func (h *hubUnderTest) waitReady(name string, timeout time.Duration) serverInfo {
	h.t.Helper()
	return h.waitServer(name, timeout, "ready with tools", func(s serverInfo) bool {
		return s.Healthy && s.Status == "ready" && s.Tools > 0
	})
}

// openAITool is one entry of GET /mcp_hub/tools.
type openAITool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

func (h *hubUnderTest) tools(server string) []openAITool {
	h.t.Helper()
	var body struct {
		Tools []openAITool `json:"tools"`
	}
	path := "/mcp_hub/tools"
	if server != "" {
		path += "?server=" + server
	}
	if code := h.do("GET", path, nil, &body); code != http.StatusOK {
		h.t.Fatalf("GET %s: status %d", path, code)
	}
	return body.Tools
}

// callResponse is POST /mcp_hub/call's answer (success or error body).
type callResponse struct {
	Success bool            `json:"success"`
	ID      string          `json:"id"`
	Tool    string          `json:"tool"`
	Result  json.RawMessage `json:"result"`
	Content string          `json:"content"`
	Error   string          `json:"error"`
}

// call posts an OpenAI tool call; args is sent as given (an object, or a
// string holding JSON, as OpenAI sends it).
func (h *hubUnderTest) call(name string, args any) (int, callResponse) {
	h.t.Helper()
	code, out, err := h.tryCall(name, args)
	if err != nil {
		h.t.Fatal(err)
	}
	return code, out
}

func (h *hubUnderTest) tryCall(name string, args any) (int, callResponse, error) {
	body := map[string]any{
		"id":       "call_e2e",
		"type":     "function",
		"function": map[string]any{"name": name, "arguments": args},
	}
	var out callResponse
	code, err := h.tryDo("POST", "/mcp_hub/call", body, &out)
	return code, out, err
}

// mustCall calls and fails the test unless the tool succeeded.
func (h *hubUnderTest) mustCall(name string, args any) callResponse {
	h.t.Helper()
	code, out := h.call(name, args)
	if code != http.StatusOK || !out.Success {
		h.t.Fatalf("call %s(%v): status %d, %+v", name, args, code, out)
	}
	return out
}

// refreshResponse is POST /mcp_hub/refresh's answer.
type refreshResponse struct {
	Refreshed bool     `json:"refreshed"`
	Changed   []string `json:"changed"`
	Config    *struct {
		Reloaded  bool     `json:"reloaded"`
		Error     string   `json:"error"`
		Added     []string `json:"added"`
		Removed   []string `json:"removed"`
		Restarted []string `json:"restarted"`
	} `json:"config"`
	Servers []struct {
		Name    string `json:"name"`
		Healthy bool   `json:"healthy"`
		Changed bool   `json:"changed"`
		Error   string `json:"error"`
	} `json:"servers"`
}
