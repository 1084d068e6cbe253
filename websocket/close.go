package websocket

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/tether-rt/tether/websocket/frame"
)

// StatusCode is a close status code (RFC 6455, section 7.4).
type StatusCode int

// The status codes RFC 6455 and IANA's registry define.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusRcvd            StatusCode = 1005 // never sent: the peer's close frame had no code
	StatusAbnormalClosure         StatusCode = 1006 // never sent: the connection dropped without a close frame
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
)

// CloseError is the close frame a connection received or failed with.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error returns the code and reason.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket: closed with status %d", e.Code)
	}
	return fmt.Sprintf("websocket: closed with status %d: %s", e.Code, e.Reason)
}

// CloseStatus returns the status code of the [CloseError] in err's chain,
// or -1 when there is none.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// closeTimeout bounds how long a close handshake waits for the peer.
const closeTimeout = 5 * time.Second

// lingerTimeout bounds how long a failing endpoint waits for the peer to
// answer its close frame before it drops the TCP connection.
const lingerTimeout = time.Second

// Close performs the close handshake: it sends a close frame with code and
// reason, waits (up to 5 s) for the peer's close frame, and closes the TCP
// connection. The reason is cut to fit a control frame.
//
// If no goroutine is reading (a connection read with [Conn.ReadLoopAsync]
// counts as not reading while it is idle), Close reads and discards data
// until the peer's close frame arrives. Close returns nil when the handshake
// completed.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code == StatusNoStatusRcvd || code == StatusAbnormalClosure || !frame.ValidCloseCode(uint16(code)) {
		return fmt.Errorf("websocket: invalid close status code %d", code)
	}
	if err := c.writeClose(code, reason); err != nil {
		c.closeNet()
		return err
	}
	deadline := time.Now().Add(closeTimeout)
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	var look *time.Ticker
	for {
		if ended, readErr := c.readToClose(deadline); ended {
			// Reading ended: on the peer's close frame, or on an error
			// after which none can come (the peer reset or closed the
			// connection, the deadline passed). Waiting out the timeout
			// would only hold the caller (a server's shutdown, say) for
			// nothing.
			var err error
			select {
			case <-c.rcvdChan():
			default:
				err = fmt.Errorf("websocket: the connection ended before the peer's close frame: %w", readErr)
			}
			c.finishClose()
			return err
		}
		// Another goroutine reads. It may be a reader of ReadLoopAsync
		// about to give the connection back to the poller, which then
		// reads only when data comes: look again soon whether anyone
		// still reads, rather than wait for a reader that may not come.
		if look == nil {
			look = time.NewTicker(closeLookInterval)
			defer look.Stop()
		}
		var err error
		select {
		case <-c.rcvdChan():
		case <-c.closedChan():
		case <-t.C:
			err = errors.New("websocket: timed out waiting for the peer's close frame")
		case <-look.C:
			continue
		}
		c.finishClose()
		return err
	}
}

// closeLookInterval is how often a Close that found another goroutine
// reading looks again whether it still does.
const closeLookInterval = 10 * time.Millisecond

// readToClose reads and discards data until the peer's close frame, an
// error or the deadline, when no other goroutine reads, and returns the
// error reading ended with; ended is false when another goroutine reads.
func (c *Conn) readToClose(deadline time.Time) (ended bool, err error) {
	if !c.readMu.TryLock() {
		return false, nil
	}
	defer c.readMu.Unlock()
	c.r.quietBy = 0 // this deadline is not waitData's
	c.nc.SetReadDeadline(deadline)
	for c.r.err == nil {
		if _, err = c.startMessage(); err != nil {
			break
		}
	}
	if c.r.err != nil {
		err = c.r.err
	}
	return true, err
}

// CloseNow closes the TCP connection at once, without a close handshake.
func (c *Conn) CloseNow() error {
	if err := c.closeNet(); err != nil && !errors.Is(err, net.ErrClosed) && err != ErrClosed {
		return wrapErr("close connection", err)
	}
	return nil
}

// writeClose sends a close frame once. Later calls return ErrClosed.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	if c.closeSent.Swap(true) {
		return ErrClosed
	}
	if len(reason) > frame.MaxControlPayload-2 {
		reason = truncateUTF8(reason, frame.MaxControlPayload-2)
	}
	var b [frame.MaxControlPayload]byte
	p := b[:0]
	if code != StatusNoStatusRcvd {
		p = frame.AppendClose(p, uint16(code), reason)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(closeTimeout))
	err := c.writeFrameLocked(frame.OpClose, true, false, p)
	c.closePending()
	return err
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// finishClose ends the TCP connection after both close frames were
// exchanged. The server closes at once (RFC 6455, section 7.1.1); the client
// gives the server a moment to close first, so the server is the one left
// in TIME_WAIT.
func (c *Conn) finishClose() {
	if c.client {
		select {
		case <-c.closedChan():
		case <-time.After(lingerTimeout):
		}
	}
	c.closeNet()
}

// onCloseFrame handles the peer's close frame: it answers it (echoing the
// status code) unless the close was ours, records it, and ends the
// connection. It runs on the reading goroutine.
func (c *Conn) onCloseFrame(code uint16, reason []byte) error {
	ce := &CloseError{Code: StatusCode(code), Reason: string(reason)}
	c.closeErr.Store(ce)
	c.fire(&c.rcvdCh, &c.closeRcvd)
	if !c.closeSent.Load() {
		reply := ce.Code
		c.writeClose(reply, "")
	}
	c.lingerThenClose()
	return ce
}

// fail fails the connection (RFC 6455, section 7.1.7): it sends a close
// frame with code and reason, then closes the TCP connection after giving
// the peer a short time to answer. The returned error is what reads report
// from then on.
func (c *Conn) fail(code StatusCode, reason string) error {
	c.writeClose(code, reason)
	c.lingerThenClose()
	return &CloseError{Code: code, Reason: reason}
}

// lingerThenClose waits briefly for the peer to close the TCP connection
// after our close frame went out, reading and discarding what still
// arrives, so that closing does not reset the connection and destroy the
// close frame in flight. It then closes.
//
// Over HTTP/2 a server closes at once: the stream's END_STREAM follows the
// close frame on the stream, so nothing can destroy it; a client ends its
// side of the stream, then waits for the server's end as over TCP.
func (c *Conn) lingerThenClose() {
	switch s := c.nc.(type) {
	case *serverStream:
		c.closeNet()
		return
	case *clientStream:
		s.CloseWrite()
	default:
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && !c.client {
			cw.CloseWrite()
		}
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	var b [512]byte
	for {
		if _, err := c.readSocket(b[:]); err != nil {
			break
		}
	}
	c.closeNet()
}
