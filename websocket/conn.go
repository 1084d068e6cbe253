package websocket

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/internal/utf8stream"
	"github.com/tether-rt/tether/websocket/frame"
	"github.com/tether-rt/tether/websocket/internal/inflate"
)

// MessageType is the type of a data message.
type MessageType int

// The two types of data message.
const (
	MessageText   MessageType = MessageType(frame.OpText)
	MessageBinary MessageType = MessageType(frame.OpBinary)
)

// String returns "text" or "binary".
func (t MessageType) String() string { return frame.OpCode(t).String() }

// DefaultReadLimit is the largest message a connection reads unless told
// otherwise with [Conn.SetReadLimit] or the ReadLimit option.
const DefaultReadLimit = 16 << 20

// readBufferSize is the size of the buffer each connection reads frame
// headers and small payloads into; larger payloads are read straight into
// the caller's buffer. A connection read with [Conn.ReadLoopAsync] gives it
// back to a pool whenever it is idle.
const readBufferSize = 2048

// readBuffers pools read buffers of readBufferSize bytes.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// Errors the package returns.
var (
	// ErrClosed is returned by operations on a connection whose close
	// handshake has started or that is closed.
	ErrClosed = errors.New("websocket: connection closed")
	// ErrConcurrentRead is returned when two goroutines read at once.
	ErrConcurrentRead = errors.New("websocket: concurrent read")
)

// Conn is a WebSocket connection, made by [Accept] or [Dial].
//
// Invariants:
//   - Only the goroutine holding readMu touches the read state (rbuf, the
//     current frame and message, the decompressor).
//   - msgMu is held for the whole of each outgoing data message; wmu for
//     each frame written. Control frames take only wmu, so they can go out
//     between the fragments of a message being streamed.
//   - Once closeSent is set, no data frame is written again: data frames
//     check it under wmu, where the close frame is written.
//   - A [Batch] holds msgMu from [Conn.Batch] to [Batch.Flush]; its frames
//     are whole frames, so control frames may still go out between its
//     writes to the network.
//   - What a write without waiting left (Batch.FlushNow: pending) goes out
//     before any other byte: every write to the network, under wmu,
//     writes it first (flushPendingLocked). A write without waiting never
//     waits for wmu: when a control frame holds it, the frames are kept
//     in pending whole (they go after that control frame).
type Conn struct {
	// The fields that a write without waiting (a broadcast's: TryBatch,
	// Batch.FlushNow) uses come first, in the first two of the struct's
	// eight cache lines (a Conn is 512 bytes, so it starts on a line). A
	// broadcast writes to each receiver once, so these lines are rarely
	// in the CPU's caches then: perf put 1.5–2 % of the CPU of a delivery
	// on each line fetched (tether serve, 1,000 clients at 20 msgs/s).
	nc    net.Conn
	msgMu sync.Mutex
	wmu   sync.Mutex
	// pending is what a write without waiting left (Batch.FlushNow),
	// written before anything else; guarded by pmu, which is never held
	// across a write (taken under wmu by the writers, and without it by a
	// write without waiting that finds wmu busy). closedPending once the
	// close frame went out.
	pmu     sync.Mutex
	pending *[]byte
	// nbw writes without waiting (nonblock.go), and a rawSocket reads
	// too: noNonblock when the connection cannot. Set by newConn, never
	// changed.
	nbw NonblockingWriter

	compress    compressParams // negotiated; zero when off
	client      bool
	netClosed   bool        // guarded by mu
	compressOn  atomic.Bool // per-message opt-out switch
	closeSent   atomic.Bool
	compressMin int32       // messages shorter than this are sent plain
	netClosing  atomic.Bool // closeNet has begun
	batch       Batch       // the batch under way (Conn.Batch, TryBatch)

	readLimit atomic.Int64
	proto     string

	readMu sync.Mutex
	r      reader

	w writer

	closeOnce sync.Once
	closeRcvd bool // guarded by mu; in the Once's padding
	// readInline is set while the inline poller reads (under readMu):
	// nothing may wait then (see failRead); failLater says a failRead
	// then left the close frame to failDeferred. In the Once's padding too.
	readInline, failLater bool
	closeErr              atomic.Pointer[CloseError] // what the peer sent
	poll                  atomic.Pointer[pollState]  // set while read by the poller

	// mu guards the channels below, made only when someone waits on them
	// (an idle connection holds none), and the pings.
	mu        sync.Mutex
	closedCh  chan struct{} // closed when the TCP connection is closed (netClosed)
	rcvdCh    chan struct{} // closed when the peer's close frame arrives (closeRcvd)
	pings     *pings        // made by the first Ping
	heartbeat *heartbeat
}

// waitChan returns the channel *ch, made on first use, closed already if
// fired is set. The caller holds c.mu.
func waitChan(ch *chan struct{}, fired bool) chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
		if fired {
			close(*ch)
		}
	}
	return *ch
}

// closedChan returns a channel closed once the TCP connection is closed.
func (c *Conn) closedChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return waitChan(&c.closedCh, c.netClosed)
}

// rcvdChan returns a channel closed once the peer's close frame arrived.
func (c *Conn) rcvdChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return waitChan(&c.rcvdCh, c.closeRcvd)
}

// fire sets *fired and closes *ch if it was made, once.
func (c *Conn) fire(ch *chan struct{}, fired *bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *fired {
		return
	}
	*fired = true
	if *ch != nil {
		close(*ch)
	}
}

// reader is the read half's state. See read.go.
type reader struct {
	buf    []byte // readBufferSize bytes, or nil while idle (see fill)
	bufp   *[]byte
	rr, rw int // unread bytes are buf[rr:rw]

	fh           frame.Header // current data frame
	fremain      int64        // payload bytes of fh still to read
	msgSize      int64        // payload bytes of the current message read so far
	decompressed int64        // decompressed bytes of the current message so far
	utf8         utf8stream.Validator
	err          error // sticky: once set, every read returns it
	quietBy      int64 // the read deadline waitData set (monoNow), 0 when none (see netRead)

	inflate *inflate.Decoder // set while reading a compressed message
	z       *inflateState    // made with the first compressed message

	msgReader messageReader
	got       atomic.Bool  // data arrived since the heartbeat last looked
	msgDone   bool         // the current message has been read to its end
	fragment  bool         // a fragmented message is in progress on the wire
	msgType   frame.OpCode // the current message's: frame.OpText or frame.OpBinary
	maskPos   uint8        // where in the mask key the payload's next byte is (0–3)
}

// connConfig is what Accept and Dial hand to newConn.
type connConfig struct {
	nc           net.Conn
	client       bool
	subprotocol  string
	buffered     []byte // bytes read past the handshake
	readLimit    int64
	compress     compressParams
	compressMin  int
	pingInterval time.Duration
	pingTimeout  time.Duration
}

func newConn(cfg connConfig) *Conn {
	c := &Conn{
		nc:          cfg.nc,
		client:      cfg.client,
		proto:       cfg.subprotocol,
		compress:    cfg.compress,
		compressMin: int32(min(cfg.compressMin, math.MaxInt32)),
	}
	c.r.takeBuffer()
	c.r.rw = copy(c.r.buf, cfg.buffered)
	if len(cfg.buffered) > c.r.rw {
		// More arrived with the handshake than the read buffer holds: serve
		// the rest before reading the network again.
		c.nc = &prefixConn{Conn: cfg.nc, rest: slices.Clone(cfg.buffered[c.r.rw:])}
	}
	c.nbw = nonblockingOf(c.nc)
	c.r.msgReader.c = c
	c.r.msgDone = true
	switch {
	case cfg.readLimit == 0:
		c.readLimit.Store(DefaultReadLimit)
	case cfg.readLimit < 0:
		c.readLimit.Store(1<<63 - 1)
	default:
		c.readLimit.Store(cfg.readLimit)
	}
	c.compressOn.Store(cfg.compress.enabled)
	if cfg.pingInterval > 0 {
		c.startHeartbeat(cfg.pingInterval, cfg.pingTimeout)
	}
	return c
}

// prefixConn is a net.Conn whose first reads return rest.
type prefixConn struct {
	net.Conn
	rest []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.rest) > 0 {
		n := copy(b, p.rest)
		p.rest = p.rest[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// Subprotocol returns the subprotocol the handshake settled on, or "".
func (c *Conn) Subprotocol() string { return c.proto }

// CompressionNegotiated reports whether permessage-deflate is in use.
func (c *Conn) CompressionNegotiated() bool { return c.compress.enabled }

// EnableWriteCompression turns compression on or off for the messages
// written after it returns. It has no effect when compression was not
// negotiated. Use it for payloads known not to compress, such as images.
func (c *Conn) EnableWriteCompression(on bool) {
	c.compressOn.Store(on && c.compress.enabled)
}

// SetReadLimit sets the largest message, in bytes after decompression, that
// the connection reads. A bigger message fails the connection with
// [StatusMessageTooBig] as soon as its size is known. n <= 0 removes the
// limit.
func (c *Conn) SetReadLimit(n int64) {
	if n <= 0 {
		n = 1<<63 - 1
	}
	c.readLimit.Store(n)
}

// SetReadDeadline sets the deadline for reads on the underlying connection.
// A read that times out leaves the connection unusable. A connection read
// with [Conn.ReadLoopAsync] sets its own read deadline while it is busy.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for writes on the underlying connection.
// A write that times out leaves the connection unusable.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn returns the underlying connection. Reading or writing it directly
// corrupts the WebSocket stream; it is there for deadlines, addresses and
// TLS state. For a WebSocket over HTTP/2 it is a net.Conn over the stream
// (whose deadlines are the stream's, and whose expiry resets it); the TLS
// state is then the request's or the response's. Close the connection with [Conn.Close] or [Conn.CloseNow], not
// through NetConn: a connection that [Conn.ReadLoopAsync] reads and that is
// closed underneath it stays registered with the poller, its end function
// never runs, and its file descriptor, soon reused by another connection,
// is no longer its own.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Done returns a channel that is closed when the underlying connection has
// been closed.
func (c *Conn) Done() <-chan struct{} { return c.closedChan() }

// closeNet closes the TCP connection once.
func (c *Conn) closeNet() error {
	err := ErrClosed
	c.closeOnce.Do(func() {
		c.netClosing.Store(true) // before looking at poll: see startPolling
		ps := c.poll.Load()
		if ps != nil {
			c.stopPolling(ps)
		}
		err = c.nc.Close()
		c.fire(&c.closedCh, &c.netClosed)
		if c.heartbeat != nil {
			c.heartbeat.stop()
		}
		if ps != nil {
			c.pollClosed()
		}
	})
	return err
}

// wrapErr adds context to an error from the network.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("websocket: failed to %s: %w", op, err)
}

// CloseWrite half-closes the connection when the underlying one can.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
