package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestTokenPrinting(t *testing.T) {
	tok := Token{Name: "ci", Token: ciSecret}
	auth := Auth{Tokens: []Token{tok, {Name: "empty"}}, Rules: []AuthRule{{Prefix: "/mcp", Tokens: []string{"ci"}}}}
	cfg := Default()
	cfg.Auth = auth
	tests := map[string]string{
		"%v":       fmt.Sprintf("%v", tok),
		"%+v":      fmt.Sprintf("%+v", tok),
		"%#v":      fmt.Sprintf("%#v", tok),
		"%s":       fmt.Sprintf("%s", tok),
		"%q":       fmt.Sprintf("%q", tok),
		"%x":       fmt.Sprintf("%x", tok),
		"%10v":     fmt.Sprintf("%10v", tok),
		"pointer":  fmt.Sprintf("%+v", &tok),
		"String":   tok.String(),
		"GoString": tok.GoString(),
		"Sprint":   fmt.Sprint(tok, auth),
		"auth %v":  fmt.Sprintf("%v", auth),
		"auth %+v": fmt.Sprintf("%+v", auth),
		"auth %#v": fmt.Sprintf("%#v", auth),
		"list":     fmt.Sprintf("%v", auth.Tokens),
		"config":   fmt.Sprintf("%+v", cfg),
		"error":    fmt.Errorf("with %v", tok).Error(),
	}
	for name, out := range tests {
		if strings.Contains(out, ciSecret) || strings.Contains(out, fmt.Sprintf("%x", ciSecret)) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if name != "%x" && !strings.Contains(out, RedactedValue) {
			t.Errorf("%s: %s", name, out)
		}
	}
	exact := map[string]string{
		"%v":       "{ci <redacted>}",
		"%+v":      "{Name:ci Token:<redacted>}",
		"%#v":      `config.Token{Name:"ci", Token:"<redacted>"}`,
		"%q":       `{"ci" "<redacted>"}`,
		"String":   "{ci <redacted>}",
		"auth %+v": "{Tokens:[{Name:ci Token:<redacted>} {Name:empty Token:}] Rules:[{Prefix:/mcp Tokens:[ci]}]}",
	}
	for name, want := range exact {
		if tests[name] != want {
			t.Errorf("%s = %s, want %s", name, tests[name], want)
		}
	}
	for name, marshal := range map[string]func(any) ([]byte, error){"json": json.Marshal, "yaml": yaml.Marshal} {
		out, err := marshal(auth)
		// JSON writes "<" as \u003c.
		if err != nil || strings.Contains(string(out), ciSecret) || !strings.Contains(string(out), "redacted") {
			t.Errorf("%s: %s, %v", name, out, err)
		}
	}
	var back Token
	if out, err := json.Marshal(tok); err != nil || json.Unmarshal(out, &back) != nil || back != (Token{Name: "ci", Token: RedactedValue}) {
		t.Errorf("json = %s, %v", out, err)
	}
	if out, err := yaml.Marshal(tok); err != nil || string(out) != "name: ci\ntoken: <redacted>\n" {
		t.Errorf("yaml = %q, %v", out, err)
	}
	if tok.Token != ciSecret {
		t.Error("printing changed the token")
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Auth = Auth{Tokens: []Token{{Name: "ci", Token: ciSecret}, {Name: "none"}},
		Rules: []AuthRule{{Prefix: "/mcp", Tokens: []string{"ci"}}}}
	c.Servers = append(c.Servers,
		Server{Name: "s", Transport: TransportStdio, Command: "x", Env: map[string]string{"API_KEY": "env-secret", "EMPTY": ""}},
		Server{Name: "h", Transport: TransportStreamableHTTP, Endpoint: "https://user:url-secret@h.example.com/mcp",
			Headers: map[string]string{"Authorization": "Bearer header-secret"}},
	)
	r := c.Redacted()
	out := fmt.Sprintf("%#v", r)
	for _, s := range []string{ciSecret, "env-secret", "header-secret", "url-secret"} {
		if strings.Contains(out, s) {
			t.Errorf("%q in the redacted config: %s", s, out)
		}
	}
	s, _ := r.Server("s")
	h, _ := r.Server("h")
	if r.Auth.Tokens[0] != (Token{Name: "ci", Token: RedactedValue}) || r.Auth.Tokens[1].Token != "" ||
		!reflect.DeepEqual(s.Env, map[string]string{"API_KEY": RedactedValue, "EMPTY": ""}) ||
		h.Headers["Authorization"] != RedactedValue || h.Endpoint != "https://user:xxxxx@h.example.com/mcp" {
		t.Errorf("redacted: auth %#v env %v headers %v endpoint %s", r.Auth, s.Env, h.Headers, h.Endpoint)
	}
	if local, _ := r.Server("local"); local.Env != nil || local.Headers != nil || local.Endpoint != DefaultLocalEndpoint {
		t.Errorf("local: %+v", local)
	}
	// The original is untouched, and changing the copy does not reach it.
	r.Auth.Rules[0].Tokens[0] = "x"
	r.Servers[0].Name = "x"
	if c.Auth.Tokens[0].Token != ciSecret || c.Servers[1].Env["API_KEY"] != "env-secret" ||
		c.Servers[2].Headers["Authorization"] != "Bearer header-secret" || c.Auth.Rules[0].Tokens[0] != "ci" ||
		c.Servers[0].Name != "local" || !strings.Contains(c.Servers[2].Endpoint, "url-secret") {
		t.Errorf("original changed: %+v", c)
	}
	if r.Listen != c.Listen || r.Limits != c.Limits {
		t.Error("settings not copied")
	}
}

func TestSecurityEqual(t *testing.T) {
	base := Auth{Tokens: []Token{{Name: "a", Token: "t"}}, Rules: []AuthRule{{Prefix: "/x", Tokens: []string{"a"}}}}
	if !base.Equal(Auth{Tokens: base.Tokens, Rules: []AuthRule{{Prefix: "/x", Tokens: []string{"a"}}}}) ||
		!(Auth{}).Equal(Auth{Tokens: []Token{}, Rules: []AuthRule{}}) ||
		!(AuthRule{}.Tokens == nil && Auth{Rules: []AuthRule{{Prefix: "/"}}}.Equal(Auth{Rules: []AuthRule{{Prefix: "/", Tokens: []string{}}}})) {
		t.Error("equal auths differ")
	}
	for i, change := range []func(*Auth){
		func(a *Auth) { a.Tokens = []Token{{Name: "a", Token: "u"}} },
		func(a *Auth) { a.Tokens = []Token{{Name: "b", Token: "t"}} },
		func(a *Auth) { a.Rules = nil },
		func(a *Auth) { a.Rules = []AuthRule{{Prefix: "/y", Tokens: []string{"a"}}} },
		func(a *Auth) { a.Rules = []AuthRule{{Prefix: "/x", Tokens: []string{"a", "b"}}} },
	} {
		c := Auth{Tokens: append([]Token(nil), base.Tokens...), Rules: append([]AuthRule(nil), base.Rules...)}
		change(&c)
		if base.Equal(c) {
			t.Errorf("change %d not detected", i)
		}
	}
	if !(CORS{}).Equal(CORS{Origins: []string{}}) || (CORS{Origins: []string{"*"}}).Equal(CORS{}) {
		t.Error("CORS.Equal")
	}
}

func TestRedactEndpointAndScrub(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8000/mcp":                   "http://127.0.0.1:8000/mcp",
		"https://u:pw@h.example/mcp":                  "https://u:xxxxx@h.example/mcp",
		"https://h.example/mcp?key=abc&mode=x":        "https://h.example/mcp?key=%3Credacted%3E&mode=%3Credacted%3E",
		"https://u:pw@h.example/sse?token=0123456789": "https://u:xxxxx@h.example/sse?token=%3Credacted%3E",
	} {
		if got := RedactEndpoint(in); got != want {
			t.Errorf("RedactEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
	c := Default()
	c.Servers = []Server{{Name: "a", Endpoint: "https://u:pass-word-1@h.example/mcp?key=query-key-1", Transport: TransportStreamableHTTP,
		Headers: map[string]string{"Authorization": "Bearer header-value-1"}, Env: map[string]string{"K": "ab"}}}
	text := `Post "https://u:***@h.example/mcp?key=query-key-1": refused; sent Bearer header-value-1 with pass-word-1; ab stays`
	got := c.Scrub(text)
	for _, secret := range []string{"query-key-1", "header-value-1", "pass-word-1"} {
		if strings.Contains(got, secret) {
			t.Errorf("Scrub left %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "ab stays") {
		t.Errorf("Scrub mangled short words: %q", got)
	}
}
