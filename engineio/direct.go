package engineio

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// Direct writes: a packet sent to a WebSocket session whose queue is empty
// and whose writer is idle is written by the goroutine that sends it (a
// broadcast, typically), with one write that does not wait for the
// network (websocket.Conn.TryBatch). What the socket does not take stays
// with the connection, and the session's writer, woken for it, writes it
// before anything else. A busy or slow session, a connection that cannot
// write without waiting (TLS, HTTP/2) or a big packet takes the queue as
// before. This saves, per delivered packet, the wake-up of a writer
// goroutine and the rounds of its loop: at realistic rates (one packet per
// session per broadcast) that is about half of a delivery's CPU.
//
// Direct writes of one packet each give up the batching of the queue
// (many packets in one write when a writer lags behind), so under load
// they stop: the goroutines that write directly may spend at most
// directShare of a directWindow in those writes; beyond, single packets
// are queued for the writers again, whose batches cost less per packet
// once several packets wait. A Send of several packets (the broadcasts
// that socketio's combiner or a cluster adapter deliver together) is
// batched already: it is written directly within the budget or beyond it
// (and counted in it), as one write costs about what a writer's batch of
// the same packets costs, without the writer's wake-up.

// directMax is the most bytes written directly by one Send, and
// directPackets its most packets (a broadcast with attachments, or
// several broadcasts that a cluster adapter delivers together).
const (
	directMax     = 16 << 10
	directPackets = 16
)

// directWindow is the period over which the time spent in direct writes
// is counted, and directShare the share of it they may take. A broadcast
// is written by one goroutine, so a share near 1 would let a saturating
// broadcaster of single packets do, on one core, what the writers do on
// all of them. The window is longer than a broadcast to tens of thousands
// of sessions (~12 µs each): with a 100 ms window and a quarter of it, a
// broadcast to 5,000 sessions (~60 ms) overran its budget on its own, even
// at 5 broadcasts per second, and most of its deliveries were queued,
// costing about 11 % more CPU per delivery (BENCHMARKS.md).
const (
	directWindow = time.Second
	directShare  = 0.5
)

// directBudget limits the time spent in direct writes (see above).
type directBudget struct {
	window atomic.Int64 // start of the current window, in ns since clockBase
	used   atomic.Int64 // ns spent in direct writes in it
}

var direct directBudget

// budgetNS is the time direct writes may take per directWindow.
var budgetNS = int64(float64(directWindow) * directShare)

// clockBase is the origin of directBudget's monotonic clock.
var clockBase = time.Now()

func monoNow() int64 { return int64(time.Since(clockBase)) }

// allow reports whether a direct write may start at now.
func (d *directBudget) allow(now int64) bool {
	w := d.window.Load()
	if now-w >= int64(directWindow) {
		if d.window.CompareAndSwap(w, now) {
			d.used.Store(0)
		}
		return true
	}
	return d.used.Load() < budgetNS
}

// spent counts a direct write that took from start to now.
func (d *directBudget) spent(start, now int64) { d.used.Add(now - start) }

// activeWriters counts the writer goroutines that run (websocket.go's
// write), of all sessions.
var activeWriters atomic.Int64

// busyWriters is the number of running writers from which direct writes
// stop: under load, once the budget has sent packets to the queue, many
// writers run, and direct writes stay off for as long as they do (the
// budget alone let a saturating broadcaster go back to direct writes at
// each window, one core doing the writes of both). At realistic rates
// writers run only for what a direct write left, or a ping: a few at once.
const busyWriters = 16

// directLocked reports whether packets of size bytes, sent now, may be
// written directly: the session's WebSocket is local and can write
// without waiting, its writer is idle and nothing waits in its queue, and
// the server's writers are not busy. The caller holds the socket's lock.
func (t *wsTransport) directLocked(size int64) bool {
	return t.ready && !t.running && len(t.s.queue) == 0 && size <= directMax &&
		t.remote == nil && t.conn != nil && activeWriters.Load() < busyWriters &&
		t.conn.WritesNonblocking()
}

// sendDirect writes ops (the packets of one Send, in one write) to the
// WebSocket from the calling goroutine, or leaves the write to g (see
// [Group]) when g is set, or queues them when the connection is busy
// after all. The caller holds the socket's lock, checked directLocked and
// the budget; sendDirect unlocks it. Until the write is done (directDone)
// the transport counts as running, so that other sends queue behind ops
// and no writer starts.
func (t *wsTransport) sendDirect(ops []outgoing, start int64, g *Group) {
	s := t.s
	t.running = true
	// The session may close while the lock is released, and the server
	// count it holds be released once OnClose returned: the direct write
	// holds a count of its own (the session is open here, so the count is
	// not zero) until directDone, so that the writer it may wake there
	// adds to a count that is not zero either, and Server.Close waits for
	// that writer.
	s.srv.wg.Add(1)
	s.mu.Unlock()

	b := t.conn.TryBatch()
	if b == nil {
		direct.spent(start, monoNow())
		t.directDone(ops, false, false, nil)
		return
	}
	werr := addWSPackets(b, s.ver(), t.b64, &t.uncompressed, ops)
	if werr != nil || g == nil {
		left, ferr := b.FlushNow()
		if werr == nil {
			werr = ferr
		}
		direct.spent(start, monoNow())
		t.directDone(nil, true, left, werr)
		return
	}
	// The group's write is counted in the budget when the group flushes.
	b.FlushGroup(&g.ws, t)
	direct.spent(start, monoNow())
}

// WriteDone ends a direct write that a Group made (websocket.WriteDone).
func (t *wsTransport) WriteDone(left bool, err error) { t.directDone(nil, true, left, err) }

// directDone ends a direct write: sent reports that ops went to the
// connection (left: not all of their bytes were written yet; err: the
// write failed), else ops go back to the head of the queue.
func (t *wsTransport) directDone(ops []outgoing, sent, left bool, werr error) {
	s := t.s
	defer s.srv.wg.Done()
	s.mu.Lock()
	t.running = false
	state := sockState(s.state.Load())
	if !sent && state != stateClosed {
		// Packets queued meanwhile go after it.
		s.queue = slices.Insert(s.queue, 0, ops...)
		for _, op := range ops {
			s.queueBytes += int64(len(op.Data))
		}
	}
	t.flush = left
	var fin *finalized
	if werr != nil && !errors.Is(werr, websocket.ErrClosed) {
		fin = s.closeLocked(ReasonTransportError, fmt.Errorf("engineio: failed to write: %w", werr), closeError)
	} else if left || len(s.queue) > 0 || state != stateOpen {
		// The writer writes what is left and queued, or ends the session.
		t.wakeLocked()
	}
	s.mu.Unlock()
	s.afterClose(fin)
}

// Group gathers the direct writes of a broadcast to many sessions and
// makes them together, with one system call for many (a
// websocket.WriteGroup: io_uring on Linux). A packet sent with
// [Socket.SendGroup] to a session whose WebSocket is idle is framed at
// once and written when the group flushes; meanwhile that session's
// other packets queue behind it, its writer does not start, and its
// connection's writes and close wait. The broadcaster must therefore call
// [Group.Flush] when [Group.Full] reports true and when it is done, and
// must not wait for a session between. The zero Group is ready to use,
// by one goroutine at a time.
type Group struct {
	ws websocket.WriteGroup
}

// Full reports whether the group must be flushed before more sends.
func (g *Group) Full() bool { return g.ws.Full() }

// Flush makes the writes the group holds and ends them (a session whose
// write failed closes, as after a direct write).
func (g *Group) Flush() {
	if g.ws.Len() == 0 {
		return
	}
	start := monoNow()
	g.ws.Flush()
	direct.spent(start, monoNow())
}

// sendPacket returns the queue entry of a message packet.
func sendPacket(p Packet) outgoing {
	return outgoing{parser.Packet{Type: parser.Message, Data: p.Data, Binary: p.Binary}, p.NoCompress}
}
