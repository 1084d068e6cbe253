package siotest

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/tether-rt/tether/websocket"
)

// DialRaw opens a Socket.IO connection to base's default namespace over
// WebSocket by hand: it reads the open packet, sends CONNECT and reads the
// answer, and returns the connection for the test to read at its own pace
// (nothing reads or answers pings meanwhile). rcvbuf, when not 0, is the
// client socket's receive buffer, set before connecting so that the TCP
// window stays small: a client that does not read fills up fast.
func DialRaw(t testing.TB, base string, rcvbuf int) *websocket.Conn {
	t.Helper()
	opts := &websocket.DialOptions{}
	if rcvbuf > 0 {
		d := &net.Dialer{Control: receiveBuffer(rcvbuf)}
		opts.NetDialContext = d.DialContext
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		t.Fatalf("siotest: failed to dial %s: %v", u, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if _, msg, err := c.ReadMessage(nil); err != nil || !strings.HasPrefix(string(msg), "0{") {
		t.Fatalf("siotest: open packet %q, %v", msg, err)
	}
	if err := c.WriteMessage(websocket.MessageText, []byte("40")); err != nil {
		t.Fatalf("siotest: failed to send CONNECT: %v", err)
	}
	if _, msg, err := c.ReadMessage(nil); err != nil || !strings.HasPrefix(string(msg), "40{") {
		t.Fatalf("siotest: CONNECT answered %q, %v", msg, err)
	}
	return c
}
