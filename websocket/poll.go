package websocket

import (
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
// fn runs on a reader goroutine and must not block for long: the next
// message of the connection waits for it. Close the connection through
// the Conn ([Conn.Close], [Conn.CloseNow]), not through [Conn.NetConn]:
// only then does the poller let go of it and end is called.
func (c *Conn) ReadLoopAsync(fn func(typ MessageType, data []byte) error, end func(err error)) {
	if c.startPolling(fn, end) {
		return
	}
	go func() { end(c.ReadLoop(fn)) }()
}

// pollState is the state of a connection read with ReadLoopAsync through
// the poller.
//
// Invariants: at most one goroutine reads at a time, the one that set busy;
// the socket is armed in epoll only while busy is clear, and whoever
// clears busy arms it; end is called once; the socket is unregistered
// before it is closed, and never armed after (its number may be reused by
// then).
type pollState struct {
	fd   int32
	gen  uint32 // tells this registration from a later one of the same fd
	fn   func(MessageType, []byte) error
	end  func(error)
	busy atomic.Bool
	done atomic.Bool

	mu      sync.Mutex // held while the socket is armed or unregistered
	removed bool       // unregistered: the socket may be closed
}

// serveReady reads what arrived: whole messages, until nothing is left
// in the read buffer, then arms the socket again.
func (c *Conn) serveReady(ps *pollState) {
	for {
		if err := c.readOne(ps.fn, true); err != nil {
			if ps.done.CompareAndSwap(false, true) {
				c.stopPolling(ps)
				ps.end(err)
			}
			return
		}
		if !c.idleAfterRead() {
			continue
		}
		ps.busy.Store(false)
		if !c.arm(ps) && ps.busy.CompareAndSwap(false, true) {
			// The connection was closed under us: read on, to the
			// error that ends the loop.
			continue
		}
		return
	}
}

// idleAfterRead reports whether nothing is buffered after a message, and
// then gives the read buffer back to the pool.
func (c *Conn) idleAfterRead() bool {
	if !c.readMu.TryLock() {
		return false // someone else reads: the next readOne says so
	}
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

// readJob is a connection with data for a pooled reader.
type readJob struct {
	c  *Conn
	ps *pollState
}

// readers read connections that have data: reusing them saves starting a
// goroutine, and growing its stack to the depth of a read and of the
// caller's handler, for each burst of data; a quiet server keeps none.
// Set in init: serveReady refers to it.
var readers *workerpool.Pool[readJob]

func init() {
	readers = workerpool.New(10*time.Second, func(j readJob) { j.c.serveReady(j.ps) })
}

// startReader has c read by a pooled reader.
func startReader(c *Conn, ps *pollState) { readers.Go(readJob{c, ps}) }
