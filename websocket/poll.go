package websocket

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/internal/workerpool"
)

// ReadLoopAsync reads messages as [Conn.ReadLoop] does, calling fn with
// each one, and calls end once with the error that ended reading (what
// ReadLoop would return). It returns at once.
//
// On Linux, for a connection over plain TCP, nothing waits for an idle
// connection: its socket is watched with epoll, a goroutine (from a pool
// shared by all connections) reads when data arrives and moves on when what
// arrived has been read, and the read buffer goes back to a shared pool in
// between. An idle connection then
// costs no goroutine and no read buffer, which matters for servers that
// hold many connections that are mostly quiet. Elsewhere (TLS, other
// systems) ReadLoopAsync runs ReadLoop in a goroutine. A wrapper around
// the TCP connection (one that counts bytes, say) is polled too if it is a
// [syscall.Conn]: the poller takes only the descriptor from it
// ([syscall.RawConn.Control]) and always reads through the wrapper's Read.
//
// A connection that keeps receiving is served differently: once data has
// come back soon after its socket was armed a few times in a row, its
// reader stays with it and waits for the next message on its goroutine,
// as ReadLoop does, with no epoll round per message, until the connection
// has been quiet for about half a second; then it gives the read buffer
// back and returns the socket to the poller. While a reader stays, the
// connection's read deadline is ReadLoopAsync's: do not set one.
//
// fn runs on a reader goroutine and must not block for long: the next
// message of the connection waits for it. Close the connection through
// the Conn ([Conn.Close], [Conn.CloseNow]), not through [Conn.NetConn]:
// only then does the poller let go of it and end is called.
func (c *Conn) ReadLoopAsync(fn func(typ MessageType, data []byte) error, end func(err error)) {
	c.ReadLoopAsyncHandler(funcHandler{fn, end})
}

// AsyncHandler receives what [Conn.ReadLoopAsyncHandler] reads:
// HandleMessage is ReadLoopAsync's fn, ReadEnded its end.
type AsyncHandler interface {
	HandleMessage(typ MessageType, data []byte) error
	ReadEnded(err error)
}

// ReadLoopAsyncHandler does what [Conn.ReadLoopAsync] does, with the two
// functions as the methods of h. A server that keeps a value per
// connection anyway can be that value's handler, and allocates no
// closures per connection (40 bytes each idle session kept). When h is
// an [InlineHandler], the poller may serve its messages itself.
func (c *Conn) ReadLoopAsyncHandler(h AsyncHandler) {
	if c.startPolling(h) {
		return
	}
	go func() { h.ReadEnded(c.ReadLoop(h.HandleMessage)) }()
}

// InlineHandler is an [AsyncHandler] whose messages the poller may serve
// itself, many connections per wake-up, with no goroutine hand-off and
// few system calls: on Linux, where io_uring is available, the poller
// reads every connection that has data with one system call, calls
// HandleInline for each whole message that arrived, and writes what the
// handlers wrote with one more (its sockets are edge-triggered: one read
// to its end needs no epoll_ctl to be watched again). A server
// that answers each message at once with a small reply (an echo, a
// request that is answered from memory) then spends a fraction of a
// system call per message where a goroutine per connection spends about
// three (the read, the reply's write, and the read that finds nothing
// more before it parks).
//
// HandleInline runs on the poller's goroutine, which serves every other
// connection too: it must not block or wait for anything, must not read
// from the connection or call [Conn.Close] (return an error to end
// reading, or call [Conn.CloseNow]), and must write to its connection
// only through b, a batch of the connection ([Conn.TryBatch]) that the
// poller writes when the handler returns — a few messages at most: this
// batch writes, and waits, beyond 128 KiB. Writes to other connections
// must not wait either ([Conn.TryBatch] and [Batch.FlushNow], as a
// broadcast writes): the poller holds the batches of the other
// connections of its round until it sends them. data is valid only until
// HandleInline returns. An error HandleInline returns ends reading as one
// from HandleMessage does.
//
// Only data messages, uncompressed and no longer than 64 KiB, in one
// frame or in fragments with no control frame between them, are served
// inline (a binary one that has not all arrived waits in a buffer for
// the next round; text is checked for UTF-8 as it arrives, by a reader);
// the others, control frames, and
// connections over TLS or wrapped network connections, go to
// HandleMessage on a reader goroutine, as for any AsyncHandler, as does
// every message where io_uring is missing. The order of a connection's
// messages is kept across the two.
type InlineHandler interface {
	AsyncHandler
	HandleInline(typ MessageType, data []byte, b *Batch) error
}

// funcHandler is the AsyncHandler of ReadLoopAsync's two functions.
type funcHandler struct {
	fn  func(MessageType, []byte) error
	end func(error)
}

func (f funcHandler) HandleMessage(typ MessageType, data []byte) error { return f.fn(typ, data) }
func (f funcHandler) ReadEnded(err error)                              { f.end(err) }

// pollState is the state of a connection read with ReadLoopAsync through
// the poller.
//
// Invariants: at most one goroutine reads at a time, the one that set busy;
// the socket is armed in epoll only while busy is clear, and whoever
// clears busy arms it; end is called once; the socket is unregistered
// before it is closed, and never armed after (its number may be reused by
// then). armedAt and quick belong to the goroutine that set busy.
type pollState struct {
	fd   int32
	gen  uint32 // tells this registration from a later one of the same fd
	h    AsyncHandler
	busy atomic.Bool
	done atomic.Bool

	armedAt int64 // when the socket was last armed (monoNow), 0 before

	mu      sync.Mutex // held while the socket is armed, unregistered, or read or written by the poller
	removed bool       // unregistered: the socket may be closed
	inline  bool       // h is an InlineHandler and the socket a net package one
	quick   int32      // wake-ups in a row that came within stayWindow of arming
}

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow returns the time since monoStart on the monotonic clock, in
// nanoseconds: 8 bytes where a time.Time takes 24, in state every polled
// connection holds.
func monoNow() int64 { return int64(time.Since(monoStart)) }

// The adaptive read path. Waiting for a connection's next data in the
// poller costs a round of system calls and goroutine hand-offs per burst
// (the poller's wake-up, a pooled reader, epoll_ctl to arm the socket
// again); waiting on a goroutine of its own costs the goroutine and a
// read buffer for as long as it waits. A connection whose data keeps
// coming back soon after it was armed, stayAfter times in a row, is busy:
// its reader stays with it and waits for the next message on its
// goroutine (in the runtime's network poller, as ReadLoop does), until
// the connection has been quiet for stayWindow/2 to stayWindow; the
// reader then gives the read buffer back and arms the socket again.
const (
	// stayWindow is how soon data must come back for a wake-up to count
	// as quick, and about how long a busy connection's reader waits for
	// more.
	stayWindow = 500 * time.Millisecond
	// stayAfter is how many quick wake-ups in a row make a connection
	// busy. A connection that sends one message and then goes quiet (the
	// common idle client) never holds a goroutine beyond that message.
	stayAfter = 2
)

// adaptive holds the settings of the adaptive read path; tests change
// them (shorter windows switch more often).
var adaptive struct {
	window atomic.Int64 // stayWindow in nanoseconds
	after  atomic.Int32 // stayAfter
}

func init() {
	adaptive.window.Store(int64(stayWindow))
	adaptive.after.Store(stayAfter)
}

// busyReadBufferSize is the size of the read buffer of a busy connection
// while its reader stays with it: a frame header and a payload of up to a
// few KiB then come in one read instead of two. It goes back to its pool
// when the connection goes quiet.
const busyReadBufferSize = 8 << 10

// busyReadBuffers pools read buffers of busyReadBufferSize bytes.
var busyReadBuffers = sync.Pool{New: func() any { b := make([]byte, busyReadBufferSize); return &b }}

// frameReadBufferSize is the size of the read buffer the inline poller
// gives a connection while a message too long for a busy buffer arrives:
// a payload of up to 64 KiB (inlineMessageMax) and room for the headers
// of its fragments. A connection holds it only once a message's start
// has arrived, as a reader holds what has arrived and readAhead more.
const frameReadBufferSize = 66 << 10

// frameReadBuffers pools read buffers of frameReadBufferSize bytes.
var frameReadBuffers = sync.Pool{New: func() any { b := make([]byte, frameReadBufferSize); return &b }}

// woke counts a wake-up of the poller for ps, and reports whether the
// connection is busy: whether its reader should stay with it.
func (ps *pollState) woke() bool {
	if ps.armedAt == 0 || monoNow()-ps.armedAt >= adaptive.window.Load() {
		ps.quick = 0
		return adaptive.after.Load() == 0
	}
	ps.quick++
	return ps.quick >= adaptive.after.Load()
}

// serveReady reads what arrived: whole messages, until nothing is left
// in the read buffer, then arms the socket again. For a busy connection
// (see stayWindow) it goes on reading on this goroutine until the
// connection goes quiet.
func (c *Conn) serveReady(ps *pollState) {
	stay := ps.woke()
	for {
		if err := c.readOne(ps.h.HandleMessage, true); err != nil {
			if ps.done.CompareAndSwap(false, true) {
				c.stopPolling(ps)
				ps.h.ReadEnded(err)
			}
			return
		}
		if stay {
			if c.waitData() {
				continue
			}
			stay = false
			ps.quick = 0
		}
		if !c.idleAfterRead() {
			continue
		}
		ps.armedAt = monoNow()
		ps.busy.Store(false)
		if !c.arm(ps) && ps.busy.CompareAndSwap(false, true) {
			// The connection was closed under us: read on, to the
			// error that ends the loop.
			continue
		}
		return
	}
}

// waitData waits on this goroutine for the next bytes of a busy
// connection read by the poller, up to its quiet deadline (see
// stayWindow), and reports false when none came. It reports true when
// data came, when something is buffered already and when reading failed
// (the next read reports the error). While another goroutine reads (a
// Close waiting for the peer's close frame) it waits for it first: the
// next read would wait anyway, and without the quiet deadline, for ever
// when the other goroutine only looked (took readMu and let it go).
//
// The quiet deadline is the read deadline of the network connection,
// moved on at most every stayWindow/2; it ends a wait between messages,
// never a message: a read inside a message that it ends goes on without
// it (see netRead).
func (c *Conn) waitData() bool {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	r := &c.r
	if r.rr != r.rw || r.err != nil {
		return true
	}
	if len(r.buf) < busyReadBufferSize {
		r.dropBuffer()
		r.bufp = busyReadBuffers.Get().(*[]byte)
		r.buf = *r.bufp
	}
	r.rr, r.rw = 0, 0
	if w, now := adaptive.window.Load(), monoNow(); r.quietBy == 0 || r.quietBy-now < w/2 {
		r.quietBy = now + w
		c.nc.SetReadDeadline(monoStart.Add(time.Duration(r.quietBy)))
	}
	n, err := c.readSocket(r.buf)
	r.rw = n
	if n > 0 {
		c.markAlive()
		return true
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && r.quietBy != 0 {
		c.clearQuiet()
		quiets.Add(1)
		return false
	}
	if err != nil {
		c.readError(err)
	}
	return true
}

// errInlineRead would end a read that the inline poller made, which must
// not wait for the network, if it ever went to the network.
var errInlineRead = errors.New("websocket: internal error: the poller's inline read needs more than it read")

// quiets counts the times a busy connection went quiet, for tests.
var quiets atomic.Uint64

// clearQuiet removes the quiet deadline of waitData. The caller holds
// readMu.
func (c *Conn) clearQuiet() {
	c.r.quietBy = 0
	c.nc.SetReadDeadline(time.Time{})
}

// netRead reads from the network connection. A read that only the quiet
// deadline of waitData ended reads again without the deadline: that
// deadline ends waits between messages, not messages. The caller holds
// readMu.
func (c *Conn) netRead(p []byte) (int, error) {
	if c.readInline {
		return 0, errInlineRead // the inline poller serves only whole buffered messages
	}
	n, err := c.readSocket(p)
	if n == 0 && err != nil && c.r.quietBy != 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		c.clearQuiet()
		n, err = c.readSocket(p)
	}
	return n, err
}

// idleAfterRead reports whether nothing is buffered after a message, and
// then gives the read buffer back to the pool. While another goroutine
// holds readMu (a Close reading to the peer's close frame) it waits for
// it, as waitData does: reporting "not idle" instead sent the caller into
// a read with no quiet deadline, which held a reader and its goroutine on
// a quiet connection until its next message when the other goroutine had
// only looked.
func (c *Conn) idleAfterRead() bool {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.r.rr != c.r.rw {
		return false
	}
	c.r.dropBuffer()
	return true
}

// pollClosed makes sure a polled connection that was closed while idle
// sees its read loop end.
func (c *Conn) pollClosed() {
	ps := c.poll.Load()
	if ps != nil && ps.busy.CompareAndSwap(false, true) {
		startReader(c, ps)
	}
}

// readJob is a connection with data for a pooled reader; with flush, a
// write that the inline poller left half done is finished first.
type readJob struct {
	c     *Conn
	ps    *pollState
	flush bool
}

// readers read connections that have data: reusing them saves starting a
// goroutine, and growing its stack to the depth of a read and of the
// caller's handler, for each burst of data; a quiet server keeps none.
// Set in init: serveReady refers to it.
var readers *workerpool.Pool[readJob]

func init() {
	readers = workerpool.New(10*time.Second, func(j readJob) {
		if j.flush {
			j.c.flushThenServe(j.ps)
			return
		}
		j.c.serveReady(j.ps)
	})
}

// flushThenServe writes what the inline poller's writes left pending,
// waiting for the peer to take it (while it does not, nothing more is
// read from it), and then gives the connection back to the poller when
// nothing is buffered, or reads on as serveReady. A write that fails
// fails the connection: the read finds out.
func (c *Conn) flushThenServe(ps *pollState) {
	c.FlushPending()
	if !c.idleAfterRead() {
		c.serveReady(ps)
		return
	}
	ps.armedAt = monoNow()
	ps.busy.Store(false)
	if !c.arm(ps) && ps.busy.CompareAndSwap(false, true) {
		c.serveReady(ps) // closed meanwhile: read to the error that ends the loop
	}
}

// startReader has c read by a pooled reader.
func startReader(c *Conn, ps *pollState) { readers.Go(readJob{c: c, ps: ps}) }
