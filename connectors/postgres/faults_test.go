package postgres

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
)

// lossy opens connections whose answer to the next COMMIT is lost when
// armed: the server commits, and the connection drops before the client
// reads that it did (a network cut at the worst moment).
type lossy struct{ armed atomic.Bool }

func (l *lossy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &lossyConn{Conn: c, l: l}, nil
}

type lossyConn struct {
	net.Conn
	l *lossy
}

// commitDone is the server's CommandComplete for a COMMIT.
var commitDone = []byte("COMMIT\x00")

func (c *lossyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && bytes.Contains(p[:n], commitDone) && c.l.armed.CompareAndSwap(true, false) {
		c.Conn.Close()
		return 0, errors.New("connection reset: the answer to COMMIT was lost")
	}
	return n, err
}
