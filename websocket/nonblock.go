package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
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
// [syscall.RawConn]: one write on the non-blocking descriptor (rawWrite:
// send(2) on Linux, write(2) elsewhere). It
// allocates nothing per write. It is for one goroutine at a time.
type RawWriter struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // w.write, bound once
	fnAll func(fd uintptr) bool // w.writeAll, for WriteRaw's pooled writers
	p     []byte
	n     int
	err   error
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

// write makes one rawWrite of w.p, retried only when interrupted. A full
// socket buffer is no error: the caller keeps what is left.
func (w *RawWriter) write(fd uintptr) bool {
	w.n, _, w.err = rawCall(rawWrite, fd, w.p)
	return true
}

// rawCall makes one raw read or write (op) of p on the non-blocking
// descriptor fd, retried when interrupted. again reports that the socket
// had nothing to read or no room (EAGAIN), which is no error.
func rawCall(op func(uintptr, []byte) (int, error), fd uintptr, p []byte) (n int, again bool, err error) {
	for {
		n, err := op(fd, p)
		switch {
		case err == nil:
			return n, false, nil
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, true, nil
		}
		return 0, false, err
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
	w.fn, w.fnAll = w.write, w.writeAll
	return w
}}

// FDWriter writes to a socket's descriptor directly: one write call on the
// non-blocking descriptor, as [WriteRawNonblocking] makes, but not through
// the net package, whose descriptor lock and poller state a write through
// a [syscall.RawConn] takes and checks. For a broadcast, which writes to
// each receiver once, those are cache lines that only that write touches:
// measured with `tether serve` at 1,000 clients and 20 messages/s in
// alternated pairs, writing through an FDWriter took a median 5 % less
// CPU per delivered message (0.86–1.11× per pair).
//
// The net package does not know of these writes, so it cannot keep a
// Close from closing the descriptor under one — and the descriptor's
// number, reused by the next socket opened, would then be written to. The
// socket must therefore be closed with [FDWriter.Close], which waits for
// the write under way; a wrapper that owns the socket (and is the only way
// to close it) can do that in its Close. The zero FDWriter has no
// descriptor: its writes report errors.ErrUnsupported.
type FDWriter struct {
	fd    uintptr
	state atomic.Uint32 // fdHeld once Init took a descriptor; fdClosing once Close began; and the writes under way (fdWrite each)
}

const (
	fdHeld    = 1 << 31
	fdClosing = 1 << 30
	fdWrite   = 1
)

// Init takes rc's descriptor for w's writes. It reports false, and w
// stays without one, where sockets are no descriptors (see [ReadRaw]) or
// rc does not give it. It must be called before any other method.
func (w *FDWriter) Init(rc syscall.RawConn) bool {
	if !rawWrites || rc == nil {
		return false
	}
	ok := false
	if err := rc.Control(func(fd uintptr) { w.fd, ok = fd, true }); err != nil || !ok {
		return false
	}
	w.state.Store(fdHeld)
	return true
}

// WriteNonblocking writes what the socket takes of p now (see
// [NonblockingWriter]). Once Close began it writes nothing and reports
// net.ErrClosed.
func (w *FDWriter) WriteNonblocking(p []byte) (int, error) {
	fd, err := w.begin()
	if err != nil {
		return 0, err
	}
	n, _, err := rawCall(rawWrite, fd, p)
	w.end()
	if err != nil {
		return 0, os.NewSyscallError("write", err)
	}
	return n, nil
}

// begin counts a write under way and returns the descriptor to make it
// on, which stays open until end: it reports net.ErrClosed once Close
// began, errors.ErrUnsupported when w has no descriptor.
func (w *FDWriter) begin() (uintptr, error) {
	// The count goes up only while Close has not begun (a compare and
	// swap, not an add, so that a write refused after it never shows in
	// the count Close waits on).
	for {
		s := w.state.Load()
		switch {
		case s&fdClosing != 0:
			return 0, net.ErrClosed
		case s&fdHeld == 0:
			return 0, errors.ErrUnsupported
		}
		if w.state.CompareAndSwap(s, s+fdWrite) {
			return w.fd, nil
		}
	}
}

// end ends a write that begin counted.
func (w *FDWriter) end() { w.state.Add(^uint32(fdWrite - 1)) } // minus fdWrite

// Close stops w's writes, waits for the one under way (a write that does
// not wait for the network: microseconds; or one that a [WriteGroup]
// holds, until the group flushes), and then calls closeSocket,
// which closes the descriptor. Every Close calls closeSocket, so that a
// socket closed twice reports what it reports then.
func (w *FDWriter) Close(closeSocket func() error) error {
	w.state.Or(fdClosing)
	for w.state.Load()&^(fdHeld|fdClosing) != 0 {
		runtime.Gosched()
	}
	return closeSocket()
}

// noNonblock marks a connection that cannot write without waiting.
var noNonblock NonblockingWriter = new(RawWriter)

// rawSocket is a net package socket (TCP or Unix) that a Conn reads and
// writes through its [syscall.RawConn]: raw system calls on the
// non-blocking descriptor (see nonblock_linux.go), waiting in Go's poller
// when the socket has nothing to read. A connection keeps only the raw
// connection (16 bytes); the state of each call comes from a pool.
type rawSocket struct{ rc syscall.RawConn }

func (s *rawSocket) WriteNonblocking(p []byte) (int, error) {
	return WriteRawNonblocking(s.rc, p)
}

// nonblockingOf returns nc's way of writing without waiting: nc itself
// when it has one, a rawSocket for the net package's own sockets, and
// noNonblock for any other connection (TLS, HTTP/2 streams, wrappers,
// where another syscall.Conn may refuse raw writes, or count what goes
// through it) and where sockets are no descriptors (rawWrites).
func nonblockingOf(nc net.Conn) NonblockingWriter {
	if !rawWrites {
		return noNonblock
	}
	switch nc := nc.(type) {
	case NonblockingWriter:
		return nc
	case *net.TCPConn, *net.UnixConn:
		if rc, err := nc.(syscall.Conn).SyscallConn(); err == nil {
			return &rawSocket{rc}
		}
	}
	return noNonblock
}

// nonblocking returns the connection's way of writing without waiting,
// or nil when it has none.
func (c *Conn) nonblocking() NonblockingWriter {
	if c.nbw == noNonblock {
		return nil
	}
	return c.nbw
}

// readSocket reads from the network connection: a raw read on a net
// package socket (see [ReadRaw]), else the connection's Read.
func (c *Conn) readSocket(p []byte) (int, error) {
	if s, ok := c.nbw.(*rawSocket); ok {
		return ReadRaw(s.rc, p)
	}
	return c.nc.Read(p)
}

// writeSocket writes all of p to the network connection: raw writes on a
// net package socket (see [WriteRaw]), else the connection's Write.
func (c *Conn) writeSocket(p []byte) (int, error) {
	if s, ok := c.nbw.(*rawSocket); ok {
		return WriteRaw(s.rc, p)
	}
	return c.nc.Write(p)
}

// ReadRaw reads from rc's socket into p what a net.Conn's Read would: it
// waits in Go's network poller until data, the end of the stream
// (io.EOF) or an error comes, and honours the connection's read deadline
// and Close. The read itself is one read on the non-blocking descriptor
// (recvfrom(2) on Linux, read(2) elsewhere), made (on Linux) as a raw
// system call, which Go's scheduler does not track (see nonblock_linux.go). It is for a wrapper of a socket
// that keeps its raw connection (one that counts bytes); a Conn does it
// itself for the net package's sockets. Where sockets are no descriptors
// (Windows, wasm) it reports errors.ErrUnsupported and reads nothing.
func ReadRaw(rc syscall.RawConn, p []byte) (int, error) {
	if !rawWrites {
		return 0, errors.ErrUnsupported
	}
	if len(p) == 0 {
		return 0, nil
	}
	r := rawReaders.Get().(*rawReader)
	r.p = p
	err := rc.Read(r.fn)
	n, rerr := r.n, r.err
	r.p, r.n, r.err = nil, 0, nil
	rawReaders.Put(r)
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawReader is the state of one ReadRaw.
type rawReader struct {
	fn  func(fd uintptr) bool // r.read, bound once
	p   []byte
	n   int
	err error
}

// read makes one rawRead into r.p, retried when interrupted; it reports
// false, to wait for data, when there is none yet.
func (r *rawReader) read(fd uintptr) bool {
	n, again, err := rawCall(rawRead, fd, r.p)
	if again {
		return false
	}
	r.n = n
	if err != nil {
		r.err = os.NewSyscallError("read", err)
	}
	return true
}

// WriteRaw writes all of p to rc's socket as a net.Conn's Write does: it
// waits in Go's network poller while the socket's buffer is full, and
// honours the connection's write deadline and Close. Each write is one
// write on the non-blocking descriptor (send(2) on Linux), made (on Linux)
// as a raw system call (see [ReadRaw]). Where sockets are no descriptors it reports
// errors.ErrUnsupported and writes nothing.
func WriteRaw(rc syscall.RawConn, p []byte) (int, error) {
	if !rawWrites {
		return 0, errors.ErrUnsupported
	}
	w := rawWriters.Get().(*RawWriter)
	w.p, w.n, w.err = p, 0, nil
	err := rc.Write(w.fnAll)
	n, werr := w.n, w.err
	w.p, w.n, w.err = nil, 0, nil
	rawWriters.Put(w)
	if err == nil {
		err = werr
	}
	return n, err
}

// writeAll writes w.p from w.n on, retried when interrupted or partly
// taken; it reports false, to wait until the socket takes more, when its
// buffer is full.
func (w *RawWriter) writeAll(fd uintptr) bool {
	for w.n < len(w.p) {
		n, again, err := rawCall(rawWrite, fd, w.p[w.n:])
		if again {
			return false
		}
		if err != nil {
			w.err = os.NewSyscallError("write", err)
			return true
		}
		w.n += n
	}
	return true
}

var rawReaders = sync.Pool{New: func() any {
	r := new(rawReader)
	r.fn = r.read
	return r
}}

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
	b := &c.batch
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
	if c.pendingEmpty() {
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

// sentNonblocking ends a non-blocking write of p that sent res bytes (an
// errno when negative) as writeNow does: a failure fails the connection,
// and the rest of a partial write is kept pending (left). The caller
// holds wmu.
func (c *Conn) sentNonblocking(p []byte, res int32) (left bool, err error) {
	switch {
	case res < 0:
		return false, c.writeFailed(os.NewSyscallError("write", syscall.Errno(-res)))
	case int(res) == len(p):
		return false, nil
	}
	return true, c.keepPending(p[res:])
}

// pendingEmpty reports whether nothing a non-blocking write left waits
// to be written (what decides that a write may go to the socket at once).
func (c *Conn) pendingEmpty() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.pending == nil
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
	_, err := c.writeSocket(*bp)
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
