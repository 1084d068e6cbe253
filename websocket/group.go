package websocket

import (
	"sync"
	"sync/atomic"

	"github.com/tether-rt/tether/internal/uring"
)

// A WriteGroup makes the non-blocking writes that [Batch.FlushGroup]
// leaves to it, for many connections, with as few system calls as it can:
// one io_uring_enter(2) for up to [GroupSize] of them on Linux (see
// internal/uring), where [Batch.FlushNow] makes one write(2) each. It is
// for a broadcast, which writes one frame to each of its receivers: the
// kernel's work per delivery stays, its entry and exit are shared.
//
// Until the group writes, each connection it holds waits: its message
// lock and write lock stay taken (so its frames keep their order and no
// control frame gets in between), and its socket cannot close (its
// [FDWriter] counts the write under way). The goroutine that fills a
// group must therefore call [WriteGroup.Flush] soon — once the group is
// [WriteGroup.Full] and when the broadcast is done — and must not wait
// for anything meanwhile.
//
// Only connections whose network connection is a [GroupWriter] with a
// descriptor join a group (the server package's sockets); for the others,
// and where io_uring is missing, FlushGroup writes at once, as FlushNow.
// The zero WriteGroup is ready to use, by one goroutine at a time; it
// holds no system resource between flushes (the rings are shared).
type WriteGroup struct {
	ring   *groupRing // while the group holds writes
	writes []groupWrite
}

// GroupSize is how many writes a [WriteGroup] holds before it is full: a
// group's submission then takes a few hundred microseconds, which the
// connections in it wait.
const GroupSize = 128

// GroupWriter is a [NonblockingWriter] whose writes a [WriteGroup] can
// make with other connections': GroupFD returns the [FDWriter] of its
// descriptor (nil, or one without a descriptor, when it has none), and
// Wrote is told how many bytes each write of the group wrote to it (a
// count the writer keeps, say).
type GroupWriter interface {
	NonblockingWriter
	GroupFD() *FDWriter
	Wrote(n int)
}

// WriteDone is told how a write that [Batch.FlushGroup] left to a
// [WriteGroup] went: left and err are what [Batch.FlushNow] would have
// returned.
type WriteDone interface {
	WriteDone(left bool, err error)
}

// groupWrite is a write that a WriteGroup holds: the connection's message
// and write locks are held, and a write counted in fdw.
type groupWrite struct {
	c    *Conn
	gw   GroupWriter
	fdw  *FDWriter
	fd   uintptr
	buf  *[]byte // the batch's frames, from the buffer pool
	done WriteDone
}

// groupRing is an io_uring ring and room for its results.
type groupRing struct {
	r   *uring.Ring
	res []int32
}

// rings holds the rings of the groups that hold no writes: a ring is a
// descriptor and two mappings, made once and shared by every group.
var rings struct {
	sync.Mutex
	free   []*groupRing
	refuse error // why a ring could not be made: io_uring is missing or refused
}

// ringsRefused is set with rings.refuse: where io_uring is refused, every
// broadcast write asks for a ring, and must not take rings' lock to hear no.
var ringsRefused atomic.Bool

// groupedWrites counts the writes groups made through a ring.
var groupedWrites atomic.Uint64

// GroupedWrites returns how many writes [WriteGroup]s made together with
// others (through io_uring) in this process.
func GroupedWrites() uint64 { return groupedWrites.Load() }

// GroupSupport reports nil when a [WriteGroup] makes its writes together
// here, or the reason it writes each at once: io_uring is missing or
// refused (container runtimes' default seccomp profiles refuse it, as
// does the sysctl kernel.io_uring_disabled).
func GroupSupport() error {
	r := getRing()
	if r == nil {
		rings.Lock()
		defer rings.Unlock()
		return rings.refuse
	}
	putRing(r)
	return nil
}

// maxFreeRings is how many rings wait in rings.free; one more is closed.
const maxFreeRings = 8

// getRing returns a ring for a group, nil where io_uring is missing.
func getRing() *groupRing {
	rings.Lock()
	defer rings.Unlock()
	if n := len(rings.free); n > 0 {
		r := rings.free[n-1]
		rings.free[n-1] = nil
		rings.free = rings.free[:n-1]
		return r
	}
	if rings.refuse != nil {
		return nil
	}
	r, err := uring.New(GroupSize)
	if err != nil {
		rings.refuse = err
		ringsRefused.Store(true)
		return nil
	}
	return &groupRing{r: r, res: make([]int32, r.Size())}
}

// putRing gives back a ring that holds no sends.
func putRing(r *groupRing) {
	rings.Lock()
	defer rings.Unlock()
	if len(rings.free) < maxFreeRings {
		rings.free = append(rings.free, r)
		return
	}
	_ = r.r.Close()
}

// Len returns how many writes the group holds.
func (g *WriteGroup) Len() int { return len(g.writes) }

// Full reports whether the group holds GroupSize writes: it must be
// flushed before it takes another.
func (g *WriteGroup) Full() bool { return len(g.writes) >= GroupSize }

// takeRing makes sure the group has a ring for its writes, and reports
// false where io_uring is refused.
func (g *WriteGroup) takeRing() bool {
	if g.ring == nil && !ringsRefused.Load() {
		g.ring = getRing()
	}
	return g.ring != nil
}

// Flush makes the writes the group holds, lets go of their connections,
// and tells each its WriteDone, in the order they were added.
func (g *WriteGroup) Flush() {
	r := g.ring
	if len(g.writes) == 0 {
		if r != nil { // taken by a write that then could not join
			g.ring = nil
			putRing(r)
		}
		return
	}
	for i := range g.writes {
		w := &g.writes[i]
		r.r.Send(int(w.fd), *w.buf)
	}
	// A failed submission leaves each write's result an error: the
	// connections fail as a failed write(2) would fail them.
	_ = r.r.Submit(r.res)
	groupedWrites.Add(uint64(len(g.writes)))
	for i := range g.writes {
		w := &g.writes[i]
		w.finish(r.res[i])
		*w = groupWrite{}
	}
	g.writes = g.writes[:0]
	g.ring = nil
	putRing(r)
}

// finish ends the write of w, which sent res bytes (an errno when
// negative), as writeNow ends its write, then lets go of the connection
// and tells done.
func (w *groupWrite) finish(res int32) {
	c := w.c
	w.fdw.end()
	if res > 0 {
		w.gw.Wrote(int(res))
	}
	left, err := c.sentNonblocking(*w.buf, res)
	c.wmu.Unlock()
	putBuffer(w.buf)
	c.msgMu.Unlock()
	w.done.WriteDone(left, err)
}

// FlushGroup ends a batch as [Batch.FlushNow] does, but leaves the write
// to g when it can (see [WriteGroup]): done is then told its results when
// g flushes, and until then the connection waits. Otherwise (g is nil or
// full, the connection cannot join a group, something is pending or
// another write holds the connection) FlushGroup writes at once, as
// FlushNow, and tells done before it returns.
func (b *Batch) FlushGroup(g *WriteGroup, done WriteDone) {
	if b.on && g != nil && b.err == nil && b.buf != nil && len(*b.buf) > 0 && b.c.joinGroup(g, b.buf, done) {
		*b = Batch{}
		return
	}
	left, err := b.FlushNow()
	done.WriteDone(left, err)
}

// joinGroup adds the write of p (the buffer of a batch, whose message lock
// the caller holds) to g, holding the write lock and a write of the
// descriptor until g writes it. It reports false, taking nothing, when
// the connection must write now.
func (c *Conn) joinGroup(g *WriteGroup, p *[]byte, done WriteDone) bool {
	gw, ok := c.nbw.(GroupWriter)
	if !ok || g.Full() {
		return false
	}
	fdw := gw.GroupFD()
	if fdw == nil || !g.takeRing() || c.closeSent.Load() || !c.wmu.TryLock() {
		return false
	}
	if !c.pendingEmpty() || c.closeSent.Load() {
		c.wmu.Unlock()
		return false
	}
	fd, err := fdw.begin()
	if err != nil {
		c.wmu.Unlock()
		return false
	}
	g.writes = append(g.writes, groupWrite{c: c, gw: gw, fdw: fdw, fd: fd, buf: p, done: done})
	return true
}
