package config

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testLoader resolves placeholders from env only; commands fail unless run is set.
func testLoader(env map[string]string) *Loader {
	return &Loader{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		RunCommand: func(context.Context, string, string) (string, error) {
			return "", errors.New("commands are disabled in this test")
		},
	}
}

// load writes each content to a file named by its key order and loads them.
func load(t *testing.T, env map[string]string, files ...[2]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, f := range files {
		paths = append(paths, writeFile(t, dir, f[0], f[1]))
	}
	return testLoader(env).Load(t.Context(), paths)
}

func mustLoad(t *testing.T, env map[string]string, files ...[2]string) *Config {
	t.Helper()
	cfg, err := load(t, env, files...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// problemsOf returns the problems in err, failing if err is not a *ValidationError.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T: %v", err, err)
	}
	return ve.Problems
}

// strip clears Origin so servers can be compared with literals.
func strip(servers []Server) []Server {
	out := make([]Server, len(servers))
	for i, s := range servers {
		s.Origin = Origin{}
		out[i] = s
	}
	return out
}

func defBackoff() Backoff { return Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax} }

func TestLoadFormats(t *testing.T) {
	httpServer := func(name, endpoint string, tr Transport) Server {
		return Server{Name: name, Transport: tr, Endpoint: endpoint, Enabled: true,
			Timeout: DefaultServerTimeout, ProtocolVersion: DefaultProtocolVersion, Backoff: defBackoff()}
	}
	tests := []struct {
		name string
		file [2]string
		want []Server
	}{
		{
			name: "seed yaml",
			file: [2]string{"a.yaml", `
servers:
  - name: local
    endpoint: http://localhost:8000/mcp
  - name: legacy
    endpoint: http://localhost:8001/sse
  - name: forced
    endpoint: http://localhost:8002/sse
    transport: streamable-http
`},
			want: []Server{
				httpServer("local", "http://localhost:8000/mcp", TransportStreamableHTTP),
				httpServer("legacy", "http://localhost:8001/sse", TransportSSE),
				httpServer("forced", "http://localhost:8002/sse", TransportStreamableHTTP),
			},
		},
		{
			name: "seed json",
			file: [2]string{"a.json", `{"servers": [{"name": "local", "endpoint": "http://localhost:8000/mcp", "timeout": 12}]}`},
			want: []Server{func() Server {
				s := httpServer("local", "http://localhost:8000/mcp", TransportStreamableHTTP)
				s.Timeout = 12 * time.Second
				return s
			}()},
		},
		{
			name: "claude desktop json",
			file: [2]string{"claude.json", `{"mcpServers": {
  "remote": {"url": "https://example.com/sse", "type": "sse"},
  "plain": {"url": "https://example.com/mcp"},
  "typed": {"url": "https://example.com/x", "type": "streamableHttp"}
}}`},
			want: []Server{
				httpServer("remote", "https://example.com/sse", TransportSSE),
				httpServer("plain", "https://example.com/mcp", TransportStreamableHTTP),
				httpServer("typed", "https://example.com/x", TransportStreamableHTTP),
			},
		},
		{
			name: "vs code servers map",
			file: [2]string{"mcp.json", `{"servers": {"api": {"type": "http", "url": "https://example.com/mcp"}}}`},
			want: []Server{httpServer("api", "https://example.com/mcp", TransportStreamableHTTP)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, nil, tt.file)
			if got := strip(cfg.Servers); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("servers:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadStdioAndFields(t *testing.T) {
	cfg := mustLoad(t, nil, [2]string{"a.yaml", `
listen: 0.0.0.0:9100
refresh_interval: 90
tool_name_separator: "-"
backoff: {initial: 2s, max: 30}
servers:
  - name: files
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", 8080, true]
    env: {LOG_LEVEL: debug, PORT: 8080}
    cwd: work
    timeout: "45s"
    protocol_version: "2025-06-18"
    request_id_meta: true
    enabled: false
    backoff: {max: 10s}
mcpServers:
  tool:
    command: ./tool
    disabled: false
    timeout: 1.5
`})
	if cfg.Listen != "0.0.0.0:9100" || cfg.RefreshInterval != 90*time.Second || cfg.ToolNameSeparator != "-" ||
		cfg.Backoff != (Backoff{2 * time.Second, 30 * time.Second}) {
		t.Errorf("hub settings: %+v", cfg)
	}
	files, _ := cfg.Server("files")
	want := Server{
		Name: "files", Transport: TransportStdio, Command: "npx",
		Args: []string{"-y", "@modelcontextprotocol/server-filesystem", "8080", "true"},
		Env:  map[string]string{"LOG_LEVEL": "debug", "PORT": "8080"},
		// A disabled server's values are kept as written, cwd included.
		Cwd: "work", Enabled: false, Timeout: 45 * time.Second, ProtocolVersion: "2025-06-18",
		RequestIDMeta: true, Backoff: Backoff{Initial: 2 * time.Second, Max: 10 * time.Second},
	}
	if !files.Equal(want) {
		t.Errorf("files:\n got %+v\nwant %+v", files, want)
	}
	tool, _ := cfg.Server("tool")
	if tool.Transport != TransportStdio || !tool.Enabled || tool.Timeout != 1500*time.Millisecond || tool.RequestIDMeta ||
		tool.Origin.Path != "mcpServers.tool" || tool.Origin.Line != 18 {
		t.Errorf("tool: %+v", tool)
	}
}

func TestLoadRelativeCwd(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "sub/a.yaml", "servers: [{name: a, command: x, cwd: work}, {name: b, command: x, cwd: /abs}]")
	cfg, err := testLoader(nil).Load(t.Context(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Servers[0].Cwd; got != filepath.Join(dir, "sub", "work") {
		t.Errorf("relative cwd = %q", got)
	}
	if got := cfg.Servers[1].Cwd; got != "/abs" {
		t.Errorf("absolute cwd = %q", got)
	}
}

func TestLoadMixedInOneFile(t *testing.T) {
	cfg := mustLoad(t, nil, [2]string{"a.yaml", `
mcpServers:
  first: {url: "http://h/mcp"}
servers:
  - {name: second, endpoint: "http://h/mcp"}
`})
	var names []string
	for _, s := range cfg.Servers {
		names = append(names, s.Name)
	}
	if !reflect.DeepEqual(names, []string{"first", "second"}) {
		t.Errorf("names in document order = %v", names)
	}
}

func TestLoadMerge(t *testing.T) {
	cfg := mustLoad(t, nil,
		[2]string{"1.yaml", `
listen: 127.0.0.1:1
refresh_interval: 1m
backoff: {initial: 3s, max: 9s}
servers:
  - {name: a, endpoint: "http://a1/mcp", headers: {X-One: "1"}}
  - {name: b, endpoint: "http://b1/mcp"}
  - {name: c, endpoint: "http://c1/mcp"}
`},
		[2]string{"2.json", `{"listen": "127.0.0.1:2", "backoff": {"max": 20},
 "mcpServers": {"b": {"command": "b2"}, "d": {"url": "http://d2/mcp"}}}`},
		[2]string{"3.yml", `
servers:
  - {name: a, endpoint: "http://a3/mcp"}
  - {name: e, endpoint: "http://e3/mcp"}
`},
	)
	if cfg.Listen != "127.0.0.1:2" || cfg.RefreshInterval != time.Minute ||
		cfg.Backoff != (Backoff{3 * time.Second, 20 * time.Second}) {
		t.Errorf("hub settings later-wins per key: %+v", cfg)
	}
	var got []string
	for _, s := range cfg.Servers {
		got = append(got, s.Name+"="+s.Endpoint+s.Command)
	}
	want := []string{"a=http://a3/mcp", "b=b2", "c=http://c1/mcp", "d=http://d2/mcp", "e=http://e3/mcp"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("servers = %v, want %v", got, want)
	}
	a, _ := cfg.Server("a")
	if a.Headers != nil {
		t.Errorf("a later server replaces an earlier one entirely, got headers %v", a.Headers)
	}
	if !strings.HasSuffix(a.Origin.File, "3.yml") || a.Backoff != cfg.Backoff {
		t.Errorf("a origin %+v backoff %v", a.Origin, a.Backoff)
	}
	if len(cfg.Files) != 3 || !filepath.IsAbs(cfg.Files[0]) || !strings.HasSuffix(cfg.Files[2], "3.yml") {
		t.Errorf("Files = %v", cfg.Files)
	}
}

func TestLoadPreservesCase(t *testing.T) {
	for _, f := range [][2]string{
		{"a.yaml", `
mcpServers:
  GitHub:
    command: gh-mcp
    env: {GITHUB_TOKEN: t, MixedCase: m}
  Remote:
    url: https://example.com/mcp
    headers: {Authorization: "Bearer x", X-Api-Key: k}
`},
		{"a.json", `{"mcpServers": {
 "GitHub": {"command": "gh-mcp", "env": {"GITHUB_TOKEN": "t", "MixedCase": "m"}},
 "Remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer x", "X-Api-Key": "k"}}}}`},
	} {
		t.Run(f[0], func(t *testing.T) {
			cfg := mustLoad(t, nil, f)
			gh, ok := cfg.Server("GitHub")
			if !ok || !reflect.DeepEqual(gh.Env, map[string]string{"GITHUB_TOKEN": "t", "MixedCase": "m"}) {
				t.Errorf("GitHub = %+v (found %v)", gh, ok)
			}
			r, ok := cfg.Server("Remote")
			if !ok || !reflect.DeepEqual(r.Headers, map[string]string{"Authorization": "Bearer x", "X-Api-Key": "k"}) {
				t.Errorf("Remote = %+v (found %v)", r, ok)
			}
		})
	}
}

func TestLoadYAMLAnchorsAndMerge(t *testing.T) {
	cfg := mustLoad(t, nil, [2]string{"a.yaml", `
x-base: &base {command: node, env: {A: "1"}}
servers:
  - <<: *base
    name: one
    args: [one.js]
  - <<: *base
    name: two
    command: deno
`})
	// Top-level x- keys are ignored, like docker compose, to hold anchors.
	one, _ := cfg.Server("one")
	two, _ := cfg.Server("two")
	if one.Command != "node" || one.Env["A"] != "1" || !reflect.DeepEqual(one.Args, []string{"one.js"}) ||
		two.Command != "deno" || two.Env["A"] != "1" || len(cfg.Servers) != 2 {
		t.Errorf("servers = %+v", cfg.Servers)
	}
}

func TestLoadYAMLMergeKeys(t *testing.T) {
	cfg := mustLoad(t, nil, [2]string{"a.yaml", `
servers:
  - &base {name: one, command: node, env: {A: "1"}}
  - <<: *base
    name: two
    command: deno
`})
	two, _ := cfg.Server("two")
	if two.Command != "deno" || two.Env["A"] != "1" {
		t.Errorf("two = %+v", two)
	}
}

func TestLoadDefaultsApplied(t *testing.T) {
	cfg := mustLoad(t, nil, [2]string{"a.yaml", "servers: [{name: a, endpoint: 'http://h/mcp'}]"})
	want := hubDefaults()
	if cfg.Listen != want.Listen || cfg.RefreshInterval != want.RefreshInterval ||
		cfg.ToolNameSeparator != want.ToolNameSeparator || cfg.Backoff != want.Backoff {
		t.Errorf("hub defaults: %+v", cfg)
	}
	s := cfg.Servers[0]
	if !s.Enabled || s.Timeout != DefaultServerTimeout || s.ProtocolVersion != DefaultProtocolVersion || s.Backoff != want.Backoff {
		t.Errorf("server defaults: %+v", s)
	}
	// An empty file is an empty config: valid, no servers.
	empty := mustLoad(t, nil, [2]string{"e.yaml", ""})
	if len(empty.Servers) != 0 || empty.Listen != DefaultListen {
		t.Errorf("empty: %+v", empty)
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default() is invalid: %v", err)
	}
	s, ok := d.Server("local")
	if !ok || s.Endpoint != DefaultLocalEndpoint || s.Transport != TransportStreamableHTTP || len(d.Servers) != 1 || d.Files != nil {
		t.Errorf("Default() = %+v", d)
	}
	if _, ok := d.Server("nope"); ok {
		t.Error("Server(nope) found")
	}
}

func TestLoadParseErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		line                int
		msg                 string
	}{
		{"yaml", "a.yaml", "listen: a:1\nservers: a: b\n", 2, "invalid YAML"},
		{"yaml tabs", "a.yaml", "servers:\n\t- name: a\n", 2, "invalid YAML"},
		{"yaml duplicate", "a.yaml", "listen: a:1\nlisten: b:2\n", 2, `duplicate key "listen"`},
		{"yaml two docs", "a.yaml", "listen: a:1\n---\nlisten: b:2\n", 2, "one YAML document"},
		{"yaml alias cycle", "a.yaml", "a: &x [*x]\n", 1, "refers to itself"},
		{"json", "a.json", "{\n  \"servers\": [\n    {\"name\": \"a\",}\n  ]\n}", 3, "invalid JSON"},
		{"json truncated", "a.json", "{\n \"servers\": [\n", 3, "unexpected end"},
		{"json trailing", "a.json", "{}\n{}", 2, "after the top-level value"},
		{"json duplicate", "a.json", "{\"listen\": \"a:1\",\n \"listen\": \"b:2\"}", 2, "duplicate key"},
		{"json empty", "a.json", "", 1, "unexpected end"},
		{"not a mapping", "a.yaml", "- a\n- b\n", 1, "must be a mapping"},
		{"extension", "a.toml", "x = 1", 0, "unsupported file extension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, nil, [2]string{tt.file, tt.content})
			ps := problemsOf(t, err)
			if len(ps) != 1 {
				t.Fatalf("want 1 problem, got %v", ps)
			}
			p := ps[0]
			if !strings.HasSuffix(p.File, tt.file) || p.Line != tt.line || !strings.Contains(p.Message, tt.msg) {
				t.Errorf("got %s; want line %d and %q", p, tt.line, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	if _, err := testLoader(nil).Load(t.Context(), nil); err == nil {
		t.Error("Load(nil) succeeded")
	}
	_, err := testLoader(nil).Load(t.Context(), []string{filepath.Join(t.TempDir(), "missing.yaml")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		t.Error("a missing file is an I/O error, not a ValidationError")
	}
}

func TestLoadDisabledServerKeepsPlaceholders(t *testing.T) {
	ran := false
	l := testLoader(nil)
	l.RunCommand = func(context.Context, string, string) (string, error) { ran = true; return "x", nil }
	cfg, err := l.Load(t.Context(), []string{writeFile(t, t.TempDir(), "a.json", `{"mcpServers": {
 "off": {"disabled": true, "command": "${cmd: op read x}", "env": {"TOKEN": "${MISSING}"}, "timeout": "${T}"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	off := cfg.Servers[0]
	if ran || off.Enabled || off.Command != "${cmd: op read x}" || off.Env["TOKEN"] != "${MISSING}" || off.Timeout != DefaultServerTimeout {
		t.Errorf("off = %+v, command ran: %v", off, ran)
	}
}

func TestServerEqual(t *testing.T) {
	base := Default().Servers[0]
	base.Args = []string{"a"}
	base.Env = map[string]string{"K": "v"}
	moved := base
	moved.Origin = Origin{File: "/x.yaml", Path: "servers[3]", Line: 9}
	if !base.Equal(moved) {
		t.Error("Origin must not matter")
	}
	emptyVsNil := base
	emptyVsNil.Headers = map[string]string{}
	if !base.Equal(emptyVsNil) {
		t.Error("nil and empty headers differ")
	}
	changes := []func(*Server){
		func(s *Server) { s.Name = "x" },
		func(s *Server) { s.Transport = TransportSSE },
		func(s *Server) { s.Endpoint = "http://other/mcp" },
		func(s *Server) { s.Command = "x" },
		func(s *Server) { s.Args = []string{"b"} },
		func(s *Server) { s.Env = map[string]string{"K": "w"} },
		func(s *Server) { s.Cwd = "/" },
		func(s *Server) { s.Headers = map[string]string{"A": "b"} },
		func(s *Server) { s.Enabled = false },
		func(s *Server) { s.Timeout++ },
		func(s *Server) { s.ProtocolVersion = "x" },
		func(s *Server) { s.Backoff.Max++ },
	}
	for i, change := range changes {
		c := base
		c.Args = append([]string(nil), base.Args...)
		change(&c)
		if base.Equal(c) {
			t.Errorf("change %d not detected", i)
		}
	}
}
