package websocket

import (
	"errors"
	"testing"
)

// TestCloseWhenPeerGone closes a connection whose peer closed its end
// without a close frame: Close reads the end of the stream itself and
// reports it (an abnormal closure), rather than waiting out its timeout
// for a close frame that cannot come and reporting that it timed out.
func TestCloseWhenPeerGone(t *testing.T) {
	nc, peer := tcpPair(t)
	c := newConn(connConfig{nc: nc})
	peer.Close()
	err := c.Close(StatusNormalClosure, "bye")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("Close: %v, want the abnormal closure (1006) the read ended on", err)
	}
}
