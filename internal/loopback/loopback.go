// Package loopback says whether a host stays on this machine: for the
// hub's own listen address, the pprof listener's Host check and the
// DNS-rebinding guard of the MCP endpoints, which must agree. FreeAddr
// gives the load and soak tools addresses for the processes they start.
package loopback

import (
	"net"
	"net/netip"
	"strings"
)

// Host reports whether host, a name or an address with or without a port
// ("127.0.0.1:9000", "[::1]", "localhost"), is "localhost" in any letter
// case or a loopback IP, as mcp-go's DNS-rebinding guard judges a Host
// header. An empty host (":9000", every interface) is not.
func Host(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.Trim(host, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Addr is Host(a.String()), without the string for a TCP address, the
// usual one (formatting it and parsing it back was 1.6% of the hub's CPU at
// /mcp with 16 concurrent clients).
func Addr(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return Host(a.String())
}

// FreeAddr is a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
