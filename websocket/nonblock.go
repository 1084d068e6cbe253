package websocket

import (
	"fmt"
	"net"
	"sync"
	"syscall"
)

// NonblockingWriter is a net.Conn that can write without waiting for
// the network: WriteNonblocking writes what the socket takes now and
// returns at once, with n < len(p) and a nil error when the socket's
// buffer is full. A connection whose net.Conn is one, a *net.TCPConn or a
// *net.UnixConn can be written with [Conn.TryBatch]. A wrapper that counts bytes implements it
// to keep its count (see [RawWriter]).
type NonblockingWriter interface {
	WriteNonblocking(p []byte) (n int, err error)
}

// RawWriter writes to a socket without waiting, through its
// [syscall.RawConn]: one write(2) on the non-blocking descriptor. It
// allocates nothing per write. It is for one goroutine at a time.
type RawWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // w.write, bound once
	p   []byte
	n   int
	err error
}

// NewRawWriter returns a RawWriter for sc's socket.
func NewRawWriter(sc syscall.Conn) (*RawWriter, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("websocket: failed to get the raw connection: %w", err)
	}
	w := &RawWriter{rc: rc}
	w.fn = w.write
	return w, nil
}

// WriteNonblocking writes what the socket takes of p now (see
// [NonblockingWriter]).
func (w *RawWriter) WriteNonblocking(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.fn)
	n, werr := w.n, w.err
	w.p, w.err = nil, nil
	if err == nil {
		err = werr
	}
	return n, err
}

// write makes one write(2) of w.p, retried only when interrupted. A full
// socket buffer is no error: the caller keeps what is left.
func (w *RawWriter) write(fd uintptr) bool {
	for {
		n, err := rawWrite(fd, w.p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			w.err = err
			return true
		}
		w.n = n
		return true
	}
}

// WriteRawNonblocking writes what rc's socket takes of p now, as
// [RawWriter.WriteNonblocking] does, with a RawWriter from a pool: for a
// wrapper of many idle connections that keeps rc (the 8 bytes of a
// net.TCPConn's) rather than a RawWriter of its own (96 bytes).
func WriteRawNonblocking(rc syscall.RawConn, p []byte) (int, error) {
	w := rawWriters.Get().(*RawWriter)
	w.rc = rc
	n, err := w.WriteNonblocking(p)
	w.rc = nil
	rawWriters.Put(w)
	return n, err
}

var rawWriters = sync.Pool{New: func() any {
	w := new(RawWriter)
	w.fn = w.write
	return w
}}

// noNonblock marks a connection that cannot write without waiting.
var noNonblock NonblockingWriter = new(RawWriter)

// nonblocking returns the connection's way of writing without waiting,
// or nil when it has none (TLS, HTTP/2 streams, wrappers). The caller
// holds msgMu.
func (c *Conn) nonblocking() NonblockingWriter {
	if !rawWrites {
		return nil
	}
	if c.nbw == nil {
		c.nbw = noNonblock
		switch nc := c.nc.(type) {
		case NonblockingWriter:
			c.nbw = nc
		case *net.TCPConn, *net.UnixConn:
			// Only the net package's own sockets: another syscall.Conn
			// may refuse raw writes, or count what goes through it.
			if w, err := NewRawWriter(nc.(syscall.Conn)); err == nil {
				c.nbw = w
			}
		}
	}
	if c.nbw == noNonblock {
		return nil
	}
	return c.nbw
}

// WritesNonblocking reports whether the connection can write without
// waiting for the network, that is whether [Conn.TryBatch] can succeed.
func (c *Conn) WritesNonblocking() bool {
	switch c.nc.(type) {
	case NonblockingWriter, *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// TryBatch starts a batch that [Batch.FlushNow] writes without waiting for
// the network: the way for a goroutine that must not block (a broadcast)
// to write a few small messages to a connection that is idle. It returns
// nil, and starts nothing, when another write is under way or the
// connection cannot write without waiting (see [NonblockingWriter]); the
// caller then hands its messages to a writer that may wait. Messages in
// such a batch should stay small: a batch over 64 KiB writes (and waits)
// before FlushNow.
func (c *Conn) TryBatch() *Batch {
	if !c.msgMu.TryLock() {
		return nil
	}
	if c.nonblocking() == nil {
		c.msgMu.Unlock()
		return nil
	}
	b := &c.w.batch
	*b = Batch{c: c, on: true}
	return b
}

// FlushNow ends a batch that [Conn.TryBatch] started: it writes the
// frames gathered with one non-blocking write, and keeps what the socket
// did not take. left reports that some was kept: it goes out, before
// anything else, with the connection's next write, or with
// [Conn.FlushPending], which the caller must then call (from a goroutine
// that may wait). The frames are final either way (compressed with the
// connection's context): the messages count as sent, in order.
func (b *Batch) FlushNow() (left bool, err error) {
	if !b.on {
		return false, errBatchEnded
	}
	c := b.c
	err = b.err
	if err == nil && b.buf != nil && len(*b.buf) > 0 {
		left, err = c.writeNow(*b.buf)
	}
	if b.buf != nil {
		putBuffer(b.buf)
	}
	*b = Batch{}
	c.msgMu.Unlock()
	return left, err
}

// writeNow writes p without waiting and keeps the rest in c.pending; p
// goes behind what is pending already. The caller holds msgMu, so that no
// other data frame goes out meanwhile. When another write holds wmu (a
// control frame: a pong, a heartbeat ping or the close frame, any of which
// may wait for a peer that does not read), writeNow does not wait for it:
// p is kept whole for the next write, or for FlushPending.
func (c *Conn) writeNow(p []byte) (left bool, err error) {
	if c.closeSent.Load() {
		return false, ErrClosed
	}
	if !c.wmu.TryLock() {
		return true, c.keepPending(p)
	}
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return false, ErrClosed
	}
	c.pmu.Lock()
	idle := c.pending == nil
	c.pmu.Unlock()
	if idle {
		n, err := c.nbw.WriteNonblocking(p)
		if err != nil {
			return false, c.writeFailed(err)
		}
		if n == len(p) {
			return false, nil
		}
		p = p[n:]
	}
	return true, c.keepPending(p)
}

// closedPending marks c.pending once the close frame went out: nothing
// may follow it.
var closedPending = new([]byte)

// keepPending adds p to what is pending. It returns ErrClosed, keeping
// nothing, once the close frame went out.
func (c *Conn) keepPending(p []byte) error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	switch c.pending {
	case closedPending:
		return ErrClosed
	case nil:
		c.pending = getBuffer()
	}
	*c.pending = append(*c.pending, p...)
	return nil
}

// FlushPending writes what a [Batch.FlushNow] left, waiting for the
// network as any write does. It does nothing when nothing is left.
func (c *Conn) FlushPending() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushPendingLocked()
}

// flushPendingLocked writes what is pending. The caller holds wmu: every
// write of the connection calls it first, so that frames keep their order.
// What a writeNow adds meanwhile (wmu busy) goes out with the next write.
func (c *Conn) flushPendingLocked() error {
	c.pmu.Lock()
	bp := c.pending
	if bp != closedPending {
		c.pending = nil
	}
	c.pmu.Unlock()
	if bp == nil || bp == closedPending {
		return nil
	}
	_, err := c.nc.Write(*bp)
	putBuffer(bp)
	if err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// closePending marks the close frame as sent: what writeNow keeps after it
// is refused. The caller holds wmu and wrote the close frame.
func (c *Conn) closePending() {
	c.pmu.Lock()
	if c.pending != nil && c.pending != closedPending {
		putBuffer(c.pending)
	}
	c.pending = closedPending
	c.pmu.Unlock()
}
