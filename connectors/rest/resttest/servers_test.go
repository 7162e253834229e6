package resttest

import (
	"os/exec"
	"testing"
)

// A server whose port was taken before it bound it is started again on
// another port; the test goes on with the second one.
func TestServeRetriesATakenPort(t *testing.T) {
	var ports []int
	port := serve(t, "server", func(port int) (*exec.Cmd, func() bool) {
		ports = append(ports, port)
		if len(ports) == 1 {
			return exec.Command("sh", "-c", "echo 'listen EADDRINUSE: address already in use' >&2; exit 1"),
				func() bool { return false }
		}
		return exec.Command("sleep", "60"), func() bool { return true }
	})
	if len(ports) != 2 || port != ports[1] {
		t.Fatalf("launched on %v, serving on %d: want a second launch, and its port", ports, port)
	}
}
