package loopback

import (
	"net"
	"testing"
)

// The port is free (a server can bind it) and outside the kernel's
// ephemeral range, where outgoing connections cannot take it.
func TestPortIsFreeAndBelowTheEphemeralRange(t *testing.T) {
	start := ephemeralStart()
	for range 20 {
		p := Port(t)
		if start > 11_000 && (p >= start || p < 10_000) {
			t.Fatalf("port %d: want one in [%d, %d)", p, max(start-12_000, 10_000), start)
		}
		l, err := net.Listen("tcp", Addr(t))
		if err != nil {
			t.Fatalf("binding a port from Addr: %v", err)
		}
		l.Close()
	}
}
