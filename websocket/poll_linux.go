//go:build linux && (amd64 || arm64)

package websocket

import (
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// poller waits for data on idle connections with one epoll instance and
// one goroutine.
//
// The goroutine does not wait in epoll_wait: the epoll descriptor is
// itself pollable (it is readable while events are ready), so it is
// registered with Go's network poller like a socket, and the goroutine
// collects events with a zero timeout (epollWaitNow) and parks in the runtime
// while there are none. A goroutine blocked in a system call holds its
// thread, and the P it ran on until the scheduler's monitor (sysmon)
// takes it back, which it checks for every 20 µs while such calls come
// and go: each wake-up of a poller that blocked in epoll_wait kept sysmon
// at that pace and cost a hand-off of the P to another thread, about 5 %
// of a server's CPU at 5,000 clients and 5 messages per second. When the
// descriptor cannot be registered, or Go's poller refuses to wait for
// it, the goroutine blocks in epoll_wait.
type poller struct {
	epfd  int
	file  *os.File        // epfd, registered with Go's poller; keeps it open
	rc    syscall.RawConn // file's, nil when epfd could not be registered
	mu    sync.Mutex
	conns []*Conn // by file descriptor: 8 bytes a socket where a map took ~29
	gen   uint32
	loop  inlineLoop // serves InlineHandlers' connections; the wait goroutine's own
}

// setLocked records c as the connection of descriptor fd (c nil: none).
// The caller holds p.mu. Like a map, the table does not shrink: it is as
// long as the highest descriptor polled so far.
func (p *poller) setLocked(fd int32, c *Conn) {
	if n := int(fd) + 1; n > len(p.conns) {
		p.conns = append(p.conns, make([]*Conn, n-len(p.conns))...)
	}
	p.conns[fd] = c
}

// getLocked returns the connection of descriptor fd, nil when none. The
// caller holds p.mu.
func (p *poller) getLocked(fd int32) *Conn {
	if fd < 0 || int(fd) >= len(p.conns) {
		return nil
	}
	return p.conns[fd]
}

var (
	pollerOnce sync.Once
	pollerInst *poller
)

// thePoller returns the process's poller, started on first use, or nil
// when epoll is not available.
func thePoller() *poller {
	pollerOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return // ReadLoopAsync falls back to a goroutine per connection
		}
		p := &poller{epfd: fd}
		if syscall.SetNonblock(fd, true) == nil {
			// A non-blocking descriptor makes a pollable os.File.
			p.file = os.NewFile(uintptr(fd), "websocket-poller")
			if rc, err := p.file.SyscallConn(); err == nil {
				p.rc = rc
			}
		}
		pollerInst = p
		go p.wait()
	})
	return pollerInst
}

// pollEvents are the events a connection read by readers waits for:
// one-shot, so that no event comes while a reader has it; arm asks for
// the next.
const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// inlineEvents are those of a connection the inline poller serves:
// edge-triggered, so that a socket it read to the end (a short read)
// needs no epoll_ctl to report the next data; arm (an EPOLL_CTL_MOD, which
// reports data already there at once) is needed only after a read that
// may have left some, or after a reader had the connection (the poller
// turns its events off while a reader has it: see inlineLoop.send).
const inlineEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET

// epollET is EPOLLET as the unsigned mask of an EpollEvent.
const epollET = 1 << 31

// events returns the events ps's socket is registered for.
func (ps *pollState) events() uint32 {
	if ps.inline {
		return inlineEvents
	}
	return pollEvents
}

// startPolling registers c with the poller; it reports false when c
// cannot be polled.
func (c *Conn) startPolling(h AsyncHandler) bool {
	sc, ok := c.nc.(syscall.Conn) // not TLS, not a connection with a prefix
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	p := thePoller()
	if p == nil {
		return false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return false
	}
	ps := &pollState{fd: int32(fd), h: h}
	if _, ok := h.(InlineHandler); ok {
		// The net package's socket (no wrapper's Read to go through), and
		// io_uring to serve it with.
		_, raw := c.nbw.(*rawSocket)
		ps.inline = raw && p.loop.start(p.epfd)
	}
	ps.busy.Store(true) // until armed below
	p.mu.Lock()
	p.gen++
	ps.gen = p.gen
	p.setLocked(ps.fd, c)
	p.mu.Unlock()
	c.poll.Store(ps)
	ev := syscall.EpollEvent{Events: ps.events(), Fd: ps.fd, Pad: int32(ps.gen)}
	// closeNet sets netClosing, then looks at poll; here poll is set, then
	// netClosing looked at: a close that runs meanwhile either sees the
	// registration and removes it, or is seen here.
	if c.netClosing.Load() || syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev) != nil {
		p.remove(ps)
		c.poll.Store(nil)
		return false // ReadLoop in a goroutine finds the connection closed
	}
	// Bytes that came with the handshake are read first; else the
	// connection waits for data with no goroutine.
	if !c.idleAfterRead() {
		startReader(c, ps)
		return true
	}
	ps.busy.Store(false)
	// The registration above is armed already, but an event that came
	// before busy was cleared was dropped: arm again to be sure.
	if !c.arm(ps) && ps.busy.CompareAndSwap(false, true) {
		startReader(c, ps)
	}
	return true
}

// arm asks for one more event when data arrives. It reports false when
// the connection is no longer registered (it was closed). It holds ps.mu,
// which remove holds too: the socket is not closed meanwhile, so its
// number cannot belong to a newer connection, whose registration this
// would otherwise change.
func (c *Conn) arm(ps *pollState) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.removed {
		return false
	}
	ev := syscall.EpollEvent{Events: ps.events(), Fd: ps.fd, Pad: int32(ps.gen)}
	return syscall.EpollCtl(thePoller().epfd, syscall.EPOLL_CTL_MOD, int(ps.fd), &ev) == nil
}

// stopPolling unregisters c, before its socket is closed: the number of a
// closed socket is soon reused.
func (c *Conn) stopPolling(ps *pollState) {
	thePoller().remove(ps)
}

func (p *poller) remove(ps *pollState) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.removed {
		return
	}
	ps.removed = true
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(ps.fd), nil)
	p.mu.Lock()
	if c := p.getLocked(ps.fd); c != nil && c.poll.Load() == ps {
		p.setLocked(ps.fd, nil)
	}
	p.mu.Unlock()
}

// wait dispatches readiness events: a goroutine reads each connection
// that has data, or, for InlineHandlers, wait serves them itself (see
// inlineLoop).
func (p *poller) wait() {
	var events [256]syscall.EpollEvent
	var n int
	var werr error
	// collect takes the events ready now; false (none) parks the
	// goroutine in Go's poller until the epoll descriptor is readable.
	// RawConn.Read resets the descriptor's readiness before it calls
	// collect, so an event that comes after collect found none wakes it.
	collect := func(fd uintptr) bool {
		for {
			n, werr = epollWaitNow(fd, events[:])
			if werr != syscall.EINTR {
				return n > 0 || werr != nil
			}
		}
	}
	for {
		if p.rc != nil {
			if err := p.rc.Read(collect); err != nil {
				// Go's poller cannot wait for it after all: block in
				// epoll_wait from now on.
				p.rc = nil
				continue
			}
		} else {
			n, werr = syscall.EpollWait(p.epfd, events[:], -1)
			if werr == syscall.EINTR {
				continue
			}
		}
		if werr != nil {
			panic("websocket: epoll_wait failed: " + werr.Error())
		}
		for i := range n {
			ev := &events[i]
			p.mu.Lock()
			c := p.getLocked(ev.Fd)
			p.mu.Unlock()
			if c == nil {
				continue
			}
			ps := c.poll.Load()
			if ps == nil || ps.gen != uint32(ev.Pad) {
				continue // an event of a connection closed since
			}
			if !ps.busy.CompareAndSwap(false, true) {
				continue
			}
			if ps.inline && p.loop.ready() {
				p.loop.add(c, ps)
			} else {
				startReader(c, ps)
			}
		}
		p.loop.serve()
	}
}

// epollWaitNow collects the events of epoll descriptor epfd that are
// ready, without waiting: epoll_pwait (epoll_wait is not on arm64) with a
// zero timeout and no signal mask, as a raw system call, which does not
// wait either (see rawWrite).
func epollWaitNow(epfd uintptr, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
