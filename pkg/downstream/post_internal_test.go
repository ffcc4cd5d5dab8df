package downstream

import "testing"

// TestSameOrSubdomain: credentials follow a redirect to the same host or a
// subdomain of it, never to an IPv6 address or zone that merely ends in it.
func TestSameOrSubdomain(t *testing.T) {
	for _, tc := range []struct {
		host, from string
		want       bool
	}{
		{"example.com", "example.com", true},
		{"API.Example.com", "example.com", true},
		{"evilexample.com", "example.com", false},
		{"example.com", "api.example.com", false},
		{"fe80::1%.example.com", "example.com", false},
		{"::1", "::1", true},
	} {
		if got := sameOrSubdomain(tc.host, tc.from); got != tc.want {
			t.Errorf("sameOrSubdomain(%q, %q) = %v, want %v", tc.host, tc.from, got, tc.want)
		}
	}
}
