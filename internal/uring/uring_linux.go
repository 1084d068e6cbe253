//go:build linux && (amd64 || arm64)

package uring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// System call numbers, the same on amd64 and arm64.
const (
	sysSetup = 425
	sysEnter = 426
)

// Setup flags and features (include/uapi/linux/io_uring.h).
const (
	setupSubmitAll    = 1 << 7 // submit every SQE even when one fails to prepare
	setupCoopTaskrun  = 1 << 8 // no interrupt to run deferred work: there is none
	featSingleMmap    = 1 << 0
	enterGetEvents    = 1 << 0
	opSend            = 26
	opRecv            = 27
	opEpollCtl        = 29
	offSQRing         = 0
	offSQEs           = 0x10000000
	sendFlags         = syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL
	sqeSize, cqeSize  = 64, 16
	maxEntries        = 4096
	errAgain          = -int32(syscall.EAGAIN)
	errInterrupted    = -int32(syscall.EINTR)
	enterBusyAttempts = 3
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is a submission queue entry, as the kernel lays it out.
type sqe struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, opFlags  uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFDIn    int32
	addr3, pad    uint64
}

// cqe is a completion queue entry.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is an io_uring instance that makes non-blocking sends (see the
// package documentation). Its zero value is not usable: make one with
// [New].
type Ring struct {
	fd      int
	rings   []byte // the mapped submission and completion rings
	sqeMem  []byte // the mapped submission entries
	sqTail  *uint32
	sqMask  uint32
	sqes    []sqe
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []cqe
	size    int // submission entries
	queued  int // entries queued since the last Submit
	enterFn func(fd, toSubmit, minComplete, flags uintptr) (uintptr, syscall.Errno)
}

// New makes a ring for up to entries sends per [Ring.Submit] (rounded up
// to a power of two by the kernel, at most 4096).
func New(entries int) (*Ring, error) {
	if entries < 1 || entries > maxEntries {
		return nil, fmt.Errorf("uring: %d entries: want 1 to %d", entries, maxEntries)
	}
	var p params
	p.flags = setupSubmitAll | setupCoopTaskrun
	fd, err := setup(entries, &p)
	if errors.Is(err, syscall.EINVAL) {
		// Kernels before 5.19 know neither flag; they are optimizations.
		p = params{}
		fd, err = setup(entries, &p)
	}
	if err != nil {
		return nil, fmt.Errorf("uring: failed to set up io_uring: %w", err)
	}
	r := &Ring{fd: fd, size: int(p.sqEntries), enterFn: rawEnter}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func setup(entries int, p *params) (int, error) {
	fd, _, e := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if e != 0 {
		return -1, e
	}
	syscall.CloseOnExec(int(fd))
	return int(fd), nil
}

// mapRings maps the rings and the submission entries.
func (r *Ring) mapRings(p *params) error {
	if p.features&featSingleMmap == 0 {
		// Kernels before 5.4 map the completion ring apart; io_uring's
		// send came in 5.6 anyway.
		return fmt.Errorf("uring: the kernel's io_uring is too old: %w", errors.ErrUnsupported)
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*cqeSize)
	var err error
	r.rings, err = syscall.Mmap(r.fd, offSQRing, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("uring: failed to map the rings: %w", err)
	}
	r.sqeMem, err = syscall.Mmap(r.fd, offSQEs, int(p.sqEntries*sqeSize), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("uring: failed to map the submission entries: %w", err)
	}
	base := unsafe.Pointer(&r.rings[0])
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	// The indirection array maps ring slot i to entry i, once for all.
	array := unsafe.Slice((*uint32)(unsafe.Add(base, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	return nil
}

// Close releases the ring. Nothing may be queued.
func (r *Ring) Close() error {
	if r.sqeMem != nil {
		_ = syscall.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.rings != nil {
		_ = syscall.Munmap(r.rings)
		r.rings = nil
	}
	if r.fd < 0 {
		return nil
	}
	err := syscall.Close(r.fd)
	r.fd = -1
	if err != nil {
		return fmt.Errorf("uring: failed to close: %w", err)
	}
	return nil
}

// Size returns how many sends one Submit can make.
func (r *Ring) Size() int { return r.size }

// Queued returns how many entries are queued for the next Submit.
func (r *Ring) Queued() int { return r.queued }

// Send queues a send of p (not empty) to the socket fd for the next
// [Ring.Submit], and reports false, queuing nothing, when Size entries are
// queued already. p must stay referenced until Submit returns.
func (r *Ring) Send(fd int, p []byte) bool {
	if len(p) == 0 {
		return false
	}
	return r.queue(sqe{opcode: opSend, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(&p[0]))),
		len: uint32(len(p)), opFlags: sendFlags})
}

// Recv queues a receive into p (not empty) from the socket fd for the
// next [Ring.Submit], made with MSG_DONTWAIT: its result is the bytes
// read, 0 at the end of the stream, or -EAGAIN when nothing had arrived.
// It reports false, queuing nothing, when Size entries are queued
// already. p must stay referenced, and untouched, until Submit returns.
func (r *Ring) Recv(fd int, p []byte) bool {
	if len(p) == 0 {
		return false
	}
	return r.queue(sqe{opcode: opRecv, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(&p[0]))),
		len: uint32(len(p)), opFlags: syscall.MSG_DONTWAIT, userData: rawResult})
}

// EpollCtl queues epoll_ctl(epfd, op, fd, ev) for the next [Ring.Submit]
// (kernels from 5.6): its result is 0 or a negative errno (-EINVAL where
// the kernel does not know the operation). It reports false, queuing
// nothing, when Size entries are queued already. ev must stay referenced
// until Submit returns.
func (r *Ring) EpollCtl(epfd, op, fd int, ev *syscall.EpollEvent) bool {
	return r.queue(sqe{opcode: opEpollCtl, fd: int32(epfd), off: uint64(fd), addr: uint64(uintptr(unsafe.Pointer(ev))),
		len: uint32(op), userData: rawResult})
}

// rawResult marks, in an entry's user data, a result that reap leaves as
// the kernel gave it: -EAGAIN of a receive means that nothing had
// arrived, where for a send it means that nothing was sent (0).
const rawResult = 1 << 32

// queue adds e as the next entry, its index in the submission in the low
// bits of its user data.
func (r *Ring) queue(e sqe) bool {
	if r.queued == r.size {
		return false
	}
	e.userData |= uint64(r.queued)
	tail := *r.sqTail // only this side writes it
	r.sqes[(tail+uint32(r.queued))&r.sqMask] = e
	r.queued++
	return true
}

// Submit makes the queued operations and sets res[i], for the i-th of
// them, to its result: for a send the bytes it sent (0 when the socket
// took nothing: its buffer was full) or a negative errno (-EPIPE,
// -ECONNRESET, -EBADF, …); for [Ring.Recv] and [Ring.EpollCtl] what they
// say. res must
// have room for Queued results. It reports an error only when the ring
// itself failed; each send's result is in res then too (-EIO where the
// kernel gave none).
func (r *Ring) Submit(res []int32) error {
	n := r.queued
	if n == 0 {
		return nil
	}
	res = res[:n]
	for i := range res {
		res[i] = errUnset
	}
	r.queued = 0
	atomic.StoreUint32(r.sqTail, *r.sqTail+uint32(n)) // publishes the entries
	k, err := r.submit(n)
	if k < n {
		r.drop(n - k)
	}
	if werr := r.reap(res, k); err == nil {
		err = werr
	}
	for i, v := range res {
		if v == errUnset {
			res[i] = -int32(syscall.EIO)
		}
	}
	return err
}

// submit hands the kernel the last n published entries and returns how
// many it took. An interrupted call, a kernel short of memory for a moment
// (EAGAIN, EBUSY) or one that took nothing is tried again a few times.
func (r *Ring) submit(n int) (int, error) {
	submitted, tries := 0, 0
	for submitted < n {
		k, e := r.enterFn(uintptr(r.fd), uintptr(n-submitted), 0, 0)
		if e == 0 && k > 0 {
			submitted, tries = submitted+int(k), 0
			continue
		}
		tries++
		if (e == 0 || e == syscall.EINTR || e == syscall.EAGAIN || e == syscall.EBUSY) && tries < enterBusyAttempts {
			continue
		}
		if e == 0 {
			e = syscall.EAGAIN // the kernel kept taking nothing
		}
		return submitted, fmt.Errorf("uring: failed to submit: %w", os.NewSyscallError("io_uring_enter", e))
	}
	return submitted, nil
}

// errUnset marks a result the kernel has not given yet.
const errUnset = int32(-1 << 31)

// drop takes back the last k published entries that the kernel did not
// consume, after a failed io_uring_enter.
func (r *Ring) drop(k int) {
	atomic.StoreUint32(r.sqTail, *r.sqTail-uint32(k))
}

// reap collects the results of n submitted sends. A send made with
// MSG_DONTWAIT completes while it is submitted, so they are all there; if
// one is not, reap waits for it in the kernel, through a system call the
// scheduler is told of.
func (r *Ring) reap(res []int32, n int) error {
	for got := 0; ; {
		head := atomic.LoadUint32(r.cqHead)
		tail := atomic.LoadUint32(r.cqTail)
		for ; head != tail; head++ {
			c := &r.cqes[head&r.cqMask]
			if i := int(uint32(c.userData)); i < len(res) {
				v := c.res
				if c.userData&rawResult == 0 && (v == errAgain || v == errInterrupted) {
					v = 0 // nothing sent: the caller keeps it all
				}
				res[i] = v
			}
			got++
		}
		atomic.StoreUint32(r.cqHead, head)
		if got >= n {
			return nil
		}
		_, _, e := syscall.Syscall6(sysEnter, uintptr(r.fd), 0, uintptr(n-got), enterGetEvents, 0, 0)
		if e != 0 && e != syscall.EINTR {
			return fmt.Errorf("uring: failed to wait for completions: %w", os.NewSyscallError("io_uring_enter", e))
		}
	}
}

// rawEnter submits toSubmit entries as a raw system call: it does not
// wait (nothing asks for completions, and every send is non-blocking), so
// the scheduler need not know of it. It runs the sends, though: a
// submission of 128 takes a few hundred microseconds, which the calling
// goroutine cannot be preempted in (the Go runtime's own non-preemptible
// stretches are of that order).
func rawEnter(fd, toSubmit, minComplete, flags uintptr) (uintptr, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(sysEnter, fd, toSubmit, minComplete, flags, 0, 0)
	return n, e
}
