//go:build linux && (amd64 || arm64)

package websocket

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tether-rt/tether/internal/uring"
	"github.com/tether-rt/tether/websocket/frame"
)

// The inline poller serves the connections of [InlineHandler]s on the
// poller's goroutine, a chunk of up to inlineChunk ready connections at a
// time, in three steps:
//
//  1. recv: each connection's read lock is taken, a busy read buffer
//     given to it, and all of them read with one io_uring submission
//     (MSG_DONTWAIT: what has arrived, never a wait);
//  2. handle: for each, every whole data message in its buffer that the
//     path takes (scanMessage) is read (from the buffer only: readInline
//     makes a read that would need the network an error, and a protocol
//     failure leaves its close frame for later) and given to HandleInline
//     with the connection's batch (TryBatch: its message lock is held);
//     the start of a binary message stays for the next round
//     (keepPartial);
//  3. send: the batches' frames are sent, and the epoll_ctl calls the
//     edge-triggered sockets need made (see send), with one more
//     submission.
//
// A connection that cannot go on inline — its lock or batch is taken,
// something is left pending or half read, a frame is not for this path,
// the read ended — goes to a pooled reader (serveReady) at the end of
// the round, with its buffer as it is: the reader takes over from there,
// and since the round's writes are done by then, its messages keep
// their order.
//
// Invariants, besides pollState's: the poller holds ps.mu of every
// connection whose socket a submission names, for as long as the
// submission runs, so that closeNet (which unregisters under ps.mu before
// it closes) cannot close a socket whose number the kernel is about to
// use; a connection's sends hold its message and write locks, as a
// WriteGroup's do, until their results are in; busy is cleared under
// ps.mu, before any arming of the socket is queued, as arm does.
type inlineLoop struct {
	once  sync.Once   // makes ring, when the first InlineHandler registers
	ring  *uring.Ring // nil where io_uring is missing: InlineHandlers' connections go to readers
	epfd  int
	res   []int32
	conns []inlineConn
	evs   [inlineChunk]syscall.EpollEvent // the arming events, referenced until the submission returns
}

// inlineChunk is how many connections a round serves at most: the ring
// takes a send and an arming for each.
const inlineChunk = 128

// inlineOff turns the inline path off, for tests of the fallback.
var inlineOff atomic.Bool

// inlineServed counts the messages served inline.
var inlineServed atomic.Uint64

// InlineServed returns how many messages the poller served itself, for
// [InlineHandler]s, in this process.
func InlineServed() uint64 { return inlineServed.Load() }

// What a round does with a connection when it is over.
const (
	inlineArm    = iota // back to the poller (armed again if its read filled the buffer)
	inlineReader        // a pooled reader takes over
	inlineEnd           // reading ended: err
)

type inlineConn struct {
	c      *Conn
	ps     *pollState
	next   uint8
	locked bool    // readMu is held
	psHeld bool    // ps.mu is held (send)
	flush  bool    // something is pending: the reader writes it first
	more   bool    // the read filled the buffer: more may be waiting
	room   int32   // room in the read buffer for the read
	out    *[]byte // frames to send (message and write locks held)
	sent   int32   // the send's result
	armed  int32   // the arming's result
	err    error
}

// start makes the loop's ring, on the first call, and reports whether
// the loop can serve connections (io_uring is there). Connections that
// will be served inline register for inlineEvents only when it can.
func (l *inlineLoop) start(epfd int) bool {
	l.once.Do(func() {
		r, err := uring.New(2 * inlineChunk)
		if err != nil {
			return // refused: InlineHandlers' connections go to readers
		}
		l.ring, l.epfd = r, epfd
		l.res = make([]int32, r.Size())
	})
	return l.ring != nil
}

// ready reports whether the loop takes a connection now: it has a ring
// (the connection registered after start made it) and the inline path
// is on.
func (l *inlineLoop) ready() bool { return l.ring != nil && !inlineOff.Load() }

// add takes a connection whose busy flag the caller set, and serves the
// chunk when it is full.
func (l *inlineLoop) add(c *Conn, ps *pollState) {
	l.conns = append(l.conns, inlineConn{c: c, ps: ps})
	if len(l.conns) == inlineChunk {
		l.serve()
	}
}

// serve serves the connections added since the last round.
func (l *inlineLoop) serve() {
	if len(l.conns) == 0 {
		return
	}
	l.recv()
	for i := range l.conns {
		l.handle(&l.conns[i])
	}
	l.send()
	for i := range l.conns {
		ic := &l.conns[i]
		switch ic.next {
		case inlineReader:
			readers.Go(readJob{c: ic.c, ps: ic.ps, flush: ic.flush})
		case inlineEnd:
			go ic.c.endInline(ic.ps, ic.err)
		}
		*ic = inlineConn{}
	}
	l.conns = l.conns[:0]
}

// recv reads every connection that can be read inline with one
// submission; the others are left to readers.
func (l *inlineLoop) recv() {
	r := l.ring
	for i := range l.conns {
		ic := &l.conns[i]
		ic.next = inlineReader
		c := ic.c
		if !c.readMu.TryLock() {
			continue // a Close reads: the reader waits for it
		}
		rd := &c.r
		// A buffer kept from the last round holds the start of a message
		// (keepPartial): this read goes on after it.
		partial := rd.buf != nil && rd.rr == 0 && rd.rw > 0 && rd.rw < len(rd.buf)
		ic.flush = !c.pendingEmpty()
		if rd.buf != nil && !partial || rd.err != nil || !rd.msgDone || rd.fragment || ic.flush {
			c.readMu.Unlock()
			continue
		}
		ic.ps.mu.Lock()
		if ic.ps.removed {
			ic.ps.mu.Unlock()
			c.readMu.Unlock()
			continue // closed: the reader ends the loop
		}
		ic.locked = true
		if !partial {
			rd.bufp = busyReadBuffers.Get().(*[]byte)
			rd.buf = *rd.bufp
			rd.rr, rd.rw = 0, 0
		}
		ic.room = int32(len(rd.buf) - rd.rw)
		r.Recv(int(ic.ps.fd), rd.buf[rd.rw:])
	}
	_ = r.Submit(l.res) // a failed submission leaves every result an error
	k := 0
	for i := range l.conns {
		ic := &l.conns[i]
		if !ic.locked {
			continue
		}
		ic.ps.mu.Unlock()
		rd := &ic.c.r
		switch res := l.res[k]; {
		case res > 0:
			rd.rw += int(res)
			ic.c.markAlive()
			ic.next = inlineArm
			ic.more = res == ic.room
		case res == -int32(syscall.EAGAIN):
			ic.next = inlineArm // nothing after all: arm again
		default:
			// The end of the stream or an error: a reader reads it
			// again, and ends the loop as ReadLoop would.
			rd.dropBuffer()
			ic.c.readMu.Unlock()
			ic.locked = false
		}
		k++
	}
}

// handle serves the whole messages buffered for ic, and decides what
// becomes of it after the round.
func (l *inlineLoop) handle(ic *inlineConn) {
	if ic.next != inlineArm {
		return
	}
	c, rd := ic.c, &ic.c.r
	h := ic.ps.h.(InlineHandler)
	var b *Batch
	for c.scanMessage() == messageWhole {
		if b == nil {
			if b = c.TryBatch(); b == nil {
				break // another write holds the connection: a reader waits for it
			}
			b.limit = inlineBatchLimit
		}
		c.readInline = true
		typ, err := c.startMessage()
		bp := getBuffer()
		var p []byte
		if err == nil {
			p, err = c.readRest((*bp)[:0])
		}
		c.readInline = false
		if err != nil {
			putBuffer(bp)
			ic.next, ic.err = inlineEnd, err
			break
		}
		c.readMu.Unlock() // as readOne: the handler may close, say
		ic.locked = false
		err = h.HandleInline(typ, p, b)
		*bp = p[:0]
		putBuffer(bp)
		inlineServed.Add(1)
		if err != nil {
			ic.next, ic.err = inlineEnd, err
			break
		}
		if !c.readMu.TryLock() {
			ic.next = inlineReader // a Close reads meanwhile
			break
		}
		ic.locked = true
	}
	if ic.next == inlineArm && rd.rr != rd.rw && (!ic.locked || !c.keepPartial()) {
		ic.next = inlineReader // not a message for this path: a reader goes on
	}
	if ic.locked {
		if ic.next == inlineArm {
			rd.dropBuffer()
		}
		c.readMu.Unlock()
		ic.locked = false
	}
	if b != nil {
		l.take(ic, b)
	}
}

// What scanMessage finds at the start of the read buffer.
const (
	messageOther   = iota // nothing, or a message for a reader
	messageWhole          // a message the inline path takes, all there
	messagePartial        // the start of one, which keepPartial keeps
)

// inlineMessageMax is the longest message the inline path takes.
const inlineMessageMax = 64 << 10

// scanMessage looks at the frames at the start of the read buffer for a
// message that the inline path reads from the buffer alone: a data
// message, uncompressed, of up to inlineMessageMax bytes, in one frame or
// several (a client that writes in fragments: gorilla/websocket's sends
// 4 KiB frames) with no control frame between them, all of it within
// frameReadBufferSize bytes. Only a binary message's start is partial:
// a text message that has not all arrived goes to a reader. The caller
// holds readMu.
func (c *Conn) scanMessage() int {
	r := &c.r
	if r.err != nil || !r.msgDone || r.fragment || r.rr == r.rw {
		return messageOther
	}
	var payload int64
	partial := messagePartial
	if frame.OpCode(r.buf[r.rr]&0x0f) == frame.OpText {
		// Text is checked for UTF-8 as it arrives: a reader fails an
		// invalid message at its first bad byte (Autobahn 6.4), where
		// this path would wait for the rest.
		partial = messageOther
	}
	for pos := r.rr; ; {
		h, n, err := frame.ParseHeader(r.buf[pos:r.rw])
		switch {
		case errors.Is(err, frame.ErrShortHeader):
			if pos+frame.MaxHeaderSize-r.rr > frameReadBufferSize {
				return messageOther
			}
			return partial
		case err != nil, h.Rsv1, h.Rsv2, h.Rsv3, h.Masked == c.client, h.OpCode.IsControl(), h.OpCode.IsReserved(),
			(pos == r.rr) != (h.OpCode != frame.OpContinuation):
			// A frame the reader takes, or fails at once (Autobahn's
			// fail-fast cases: a bad header is not held for its payload).
			return messageOther
		}
		payload += h.Length
		if payload > c.readLimit.Load() {
			return messageOther // the reader fails it (1009) at its header
		}
		end := int64(pos) + int64(n) + h.Length
		switch {
		case h.Length > inlineMessageMax || payload > inlineMessageMax || end-int64(r.rr) > frameReadBufferSize:
			return messageOther
		case end > int64(r.rw):
			return partial
		case h.Fin:
			return messageWhole
		}
		pos = int(end)
	}
}

// keepPartial keeps what the read buffer holds beyond whole messages for
// the next round, when it is the start of a message that the inline path
// takes (scanMessage): it moves it to the front of the buffer, or, when
// it fills the buffer, to a frameReadBufferSize one — only then, so that
// a peer that sends the start of a message and stops costs a busy buffer
// (8 KiB), not 66 KiB. It reports false, changing nothing, for anything
// else. The caller holds readMu.
func (c *Conn) keepPartial() bool {
	if c.scanMessage() != messagePartial {
		return false
	}
	r := &c.r
	if r.rw-r.rr == len(r.buf) && len(r.buf) < frameReadBufferSize {
		bp := frameReadBuffers.Get().(*[]byte)
		r.rw = copy(*bp, r.buf[r.rr:r.rw])
		r.rr = 0
		putReadBuffer(r.bufp)
		r.bufp, r.buf = bp, *bp
		return true
	}
	r.rw = copy(r.buf, r.buf[r.rr:r.rw])
	r.rr = 0
	return true
}

// inlineBatchLimit is how many bytes of frames the batch of HandleInline
// takes without writing (and waiting): twice a frameReadBufferSize, so
// that the replies to what one round read fit.
const inlineBatchLimit = 2 * frameReadBufferSize

// take ends ic's batch b: its frames go to the round's submission when
// the connection can write at once (its write lock free, nothing
// pending), else they are written now without waiting, as a broadcast's
// are, and what the socket does not take is left for the reader.
func (l *inlineLoop) take(ic *inlineConn, b *Batch) {
	c := ic.c
	if b.err == nil && b.buf != nil && len(*b.buf) > 0 && c.wmu.TryLock() {
		if !c.closeSent.Load() && c.pendingEmpty() {
			ic.out = b.buf // the message and write locks stay held until it is sent
			*b = Batch{}
			return
		}
		c.wmu.Unlock()
	}
	if left, _ := b.FlushNow(); left { // an error failed the connection: its read finds out
		ic.flush = true
		if ic.next == inlineArm {
			ic.next = inlineReader
		}
	}
}

// send makes the round's sends, and the epoll_ctl calls its connections
// need, with one submission, and ends the sends. A connection read to
// the end needs none: its registration is edge-triggered (inlineEvents),
// and data that came since the read is reported by the next epoll_wait,
// after busy was cleared here. One whose read filled its buffer is armed
// again (EPOLL_CTL_MOD reports data already there); one that goes to a
// reader has its events turned off until the reader arms it.
func (l *inlineLoop) send() {
	r := l.ring
	for i := range l.conns {
		ic := &l.conns[i]
		ic.sent, ic.armed = -1, -1
		if ic.next == inlineEnd && ic.out == nil {
			continue
		}
		ps := ic.ps
		ps.mu.Lock()
		ic.psHeld = true
		if ps.removed {
			if ic.next == inlineArm {
				ic.next = inlineReader // closed: the reader ends the loop
			}
			continue
		}
		if ic.out != nil {
			ic.sent = int32(r.Queued())
			r.Send(int(ps.fd), *ic.out)
		}
		var events uint32
		switch ic.next {
		case inlineArm:
			ps.armedAt = monoNow()
			ps.quick = 0
			ps.busy.Store(false)
			if !ic.more {
				continue
			}
			events = inlineEvents
		case inlineReader:
			events = 0 // off while a reader has it: arm turns them on
		default:
			continue
		}
		ev := &l.evs[i]
		*ev = syscall.EpollEvent{Events: events, Fd: ps.fd, Pad: int32(ps.gen)}
		ic.armed = int32(r.Queued())
		r.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, int(ps.fd), ev)
	}
	_ = r.Submit(l.res) // a failed submission leaves every result an error
	for i := range l.conns {
		ic := &l.conns[i]
		if ic.psHeld {
			ic.ps.mu.Unlock()
			ic.psHeld = false
		}
		if ic.out != nil {
			res := -int32(syscall.EBADF) // not sent: the socket is closing
			if ic.sent >= 0 {
				res = l.res[ic.sent]
			}
			ic.c.endInlineSend(ic.out, res)
			ic.out = nil
		}
		if ic.next == inlineArm && ic.armed >= 0 && l.res[ic.armed] != 0 {
			// The ring could not arm it (a kernel before 5.6): arm it
			// directly. (Turning a reader's events off is only a saving.)
			if !ic.c.arm(ic.ps) && ic.ps.busy.CompareAndSwap(false, true) {
				ic.next = inlineReader
			}
		}
	}
}

// endInlineSend ends a send of the inline poller, which sent res bytes of
// *p (an errno when negative), and lets go of the connection's write and
// message locks. What the socket did not take is written by a goroutine
// that may wait.
func (c *Conn) endInlineSend(p *[]byte, res int32) {
	left, _ := c.sentNonblocking(*p, res)
	c.wmu.Unlock()
	putBuffer(p)
	c.msgMu.Unlock()
	if left {
		go c.FlushPending()
	}
}

// endInline ends the read loop of a connection the inline poller served,
// on a goroutine that may wait: the close frame of a protocol failure,
// then ReadEnded.
func (c *Conn) endInline(ps *pollState, err error) {
	c.readMu.Lock()
	c.failDeferred()
	c.readMu.Unlock()
	if ps.done.CompareAndSwap(false, true) {
		c.stopPolling(ps)
		ps.h.ReadEnded(err)
	}
}
