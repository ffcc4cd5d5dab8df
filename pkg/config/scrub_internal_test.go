package config

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// scrubConfig is a config of n HTTP servers, each with a key in its query
// string, a password, a header and a placeholder value in its path.
func scrubConfig(n int) *Config {
	c := Default()
	c.Servers = nil
	for i := range n {
		c.Servers = append(c.Servers, Server{
			Name: fmt.Sprintf("s%03d", i), Transport: TransportStreamableHTTP,
			Endpoint: fmt.Sprintf("https://u:pass-%03d@h.example/path-secret-%03d/mcp?key=query-key-%03d", i, i, i),
			Headers:  map[string]string{"Authorization": fmt.Sprintf("Bearer header-%03d", i), "X-Short": "ab"},
			secrets:  []string{fmt.Sprintf("path-secret-%03d", i)},
		})
	}
	return c
}

// TestScrubCached: Scrub works its replacer out once per config, gives the
// same answer every time, and a copy given other servers scrubs its own
// secrets, not the ones of the config it was copied from.
func TestScrubCached(t *testing.T) {
	c := scrubConfig(3)
	text := "Post https://u:pass-001@h.example/path-secret-001/mcp?key=query-key-001: sent Bearer header-002, path-secret-000 ab"
	want := `Post https://u:xxxxx@h.example/<redacted>/mcp?key=%3Credacted%3E: sent <redacted>, <redacted> ab`
	first := c.Scrub(text)
	if first != want {
		t.Errorf("Scrub\n got %q\nwant %q", first, want)
	}
	s := c.scrub.p.Load()
	if s == nil || s.r == nil {
		t.Fatal("Scrub kept no replacer")
	}
	if got := c.Scrub(text); got != first || c.scrub.p.Load() != s {
		t.Errorf("second Scrub %q rebuilt or changed its answer", got)
	}
	if got := c.Scrub(""); got != "" {
		t.Errorf("Scrub(\"\") = %q", got)
	}

	other := *c // shares the cache: must notice it was built for other servers
	other.Servers = scrubConfig(5).Servers[3:]
	if got := other.Scrub("query-key-003 and query-key-001"); got != "<redacted> and query-key-001" {
		t.Errorf("copy with other servers: Scrub = %q", got)
	}
	if got := c.Scrub(text); got != first {
		t.Errorf("after a copy's Scrub: %q", got)
	}

	var none Config // not made by this package: no cache, still correct
	none.Servers = c.Servers
	if got := none.Scrub(text); got != first {
		t.Errorf("Config without cache: %q", got)
	}
	if got := (&Config{}).Scrub(text); got != text {
		t.Errorf("no servers: %q", got)
	}
}

// TestScrubLongestFirst: a secret that starts with another is hidden
// whole, whatever order the configuration lists them in.
func TestScrubLongestFirst(t *testing.T) {
	for _, order := range [][2]string{{"abcd", "abcd-efgh-tail"}, {"abcd-efgh-tail", "abcd"}} {
		c := Default()
		c.Servers = []Server{{Name: "a", Transport: TransportStdio, Command: "x",
			Env: map[string]string{"A": order[0], "B": order[1]}}}
		if got := c.Scrub("k=abcd-efgh-tail k2=abcd"); got != "k=<redacted> k2=<redacted>" {
			t.Errorf("env %v: Scrub = %q", order, got)
		}
	}
}

// TestScrubConcurrent: Scrub is safe to call from many goroutines while
// the config is copied (go test -race).
func TestScrubConcurrent(t *testing.T) {
	c := scrubConfig(10)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				key := fmt.Sprintf("query-key-%03d", (i+j)%10)
				if got := c.Scrub("err: " + key); strings.Contains(got, key) {
					t.Errorf("Scrub left %q", key)
					return
				}
				_ = c.Redacted()
			}
		})
	}
	wg.Wait()
}

// BenchmarkScrub is what a log record's or status event's scrubbing costs
// with 100 HTTP servers configured.
func BenchmarkScrub(b *testing.B) {
	c := scrubConfig(100)
	text := `Post "https://u:***@h.example/mcp?key=query-key-042": dial tcp 127.0.0.1:9: connect: connection refused`
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Scrub(text)
	}
}
