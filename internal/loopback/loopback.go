// Package loopback hands tests an address on 127.0.0.1 for a server that
// binds it itself: a child process (json-server, PocketBase, tandem run)
// or a config file's listen key.
//
// A port taken with ":0" and closed again comes from the kernel's
// ephemeral range, the range it also takes every outgoing connection's
// local port from. Between the close and the server's bind, any client on
// the machine (go test runs packages side by side, each with hundreds of
// connections a second) can take it, and the server fails with "address
// already in use". So the port comes from below that range instead, where
// only a server that names its port binds.
package loopback

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// Port is a port on 127.0.0.1 that nothing listens on now, outside the
// kernel's ephemeral range where there is room below it.
func Port(t testing.TB) int {
	t.Helper()
	p, err := Free()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Addr is "127.0.0.1:PORT" for Port.
func Addr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Port(t))
}

// Free is Port for code without a test: the chaos environment and
// tandem-bench.
func Free() (int, error) {
	// The 12,000 ports under the ephemeral range, none under 10,000.
	hi := ephemeralStart()
	if lo := max(hi-12_000, 10_000); hi-lo >= 1_000 {
		for range 100 {
			p := lo + rand.IntN(hi-lo)
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				l.Close()
				return p, nil
			}
		}
	}
	// No room below the range, or every try was taken: any free port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range
// (Linux's default 32768 when it cannot be read).
func ephemeralStart() int {
	var lo int
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		_, err = fmt.Sscan(string(b), &lo)
	}
	if err != nil || lo <= 0 {
		return 32768
	}
	return lo
}
