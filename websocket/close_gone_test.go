package websocket

import (
	"errors"
	"io"
	"testing"
	"time"
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

// TestCloseReadsOnceReaderLeaves closes a connection while another
// goroutine holds the read lock, which then lets go without reading on (a
// reader of ReadLoopAsync giving the socket back to the poller): Close
// must take over the reading and see the peer go, rather than wait its
// whole timeout for a reader that does not come and report that it timed
// out.
func TestCloseReadsOnceReaderLeaves(t *testing.T) {
	nc, peer := tcpPair(t)
	c := newConn(connConfig{nc: nc})
	c.readMu.Lock() // a reader at work
	res := make(chan error, 1)
	go func() { res <- c.Close(StatusNormalClosure, "bye") }()
	// The close frame (2 bytes of header, the code, "bye") reached the
	// peer, which reads it whole, so that its close is a FIN, not a reset:
	// Close has begun.
	if _, err := io.ReadFull(peer, make([]byte, 2+2+3)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // Close finds the lock taken (ordering only)
	c.readMu.Unlock()                 // the reader leaves
	peer.Close()
	err := <-res
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("Close: %v, want the abnormal closure (1006) it read itself", err)
	}
}
