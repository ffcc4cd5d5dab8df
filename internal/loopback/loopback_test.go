package loopback

import (
	"net"
	"testing"
)

func TestHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:9000": true, "127.0.0.1": true, "127.1.2.3:80": true, "[::1]:9000": true, "[::1]": true, "::1": true,
		"localhost": true, "localhost:9000": true, "LocalHost:1": true, "[::ffff:127.0.0.1]:80": true,
		":9000": false, "0.0.0.0:9000": false, "[::]:9000": false, "192.0.2.1:80": false, "evil.example": false,
		"evil.example:80": false, "localhost.evil.example": false, "": false, "not an address": false,
	} {
		if got := Host(host); got != want {
			t.Errorf("Host(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		a    net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, true},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80}, false},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, false},
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}, true},
	} {
		if got := Addr(tc.a); got != tc.want {
			t.Errorf("Addr(%v) = %v, want %v", tc.a, got, tc.want)
		}
	}
}

// TestFreeAddr checks that the address is a loopback one with a port that
// can be listened on.
func TestFreeAddr(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(addr); !Host(addr) || port == "0" || port == "" {
		t.Fatalf("FreeAddr() = %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ln.Close()
}
