package websocket

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestHeartbeatBreaksBlockedWrite checks that a write blocked on a peer
// that reads nothing and sends nothing is broken by the heartbeat, with an
// error that says so.
func TestHeartbeatBreaksBlockedWrite(t *testing.T) {
	a, b := net.Pipe() // writes block until the other end reads
	defer b.Close()
	c := newConn(connConfig{nc: a, pingInterval: 20 * time.Millisecond})
	err := c.WriteMessage(MessageBinary, make([]byte, 100))
	if !errors.Is(err, ErrHeartbeatTimeout) {
		t.Fatalf("blocked write ended with %v, want ErrHeartbeatTimeout", err)
	}
}
