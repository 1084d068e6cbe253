//go:build linux && !386 && !msan && !asan

package websocket

import (
	"syscall"
	"unsafe"
)

// rawWrites reports whether this platform writes to a socket's descriptor
// itself (send(2) here), so that a connection can write without waiting.
const rawWrites = true

// rawWrite makes one write of p to the non-blocking socket fd: send(2)
// with MSG_DONTWAIT and MSG_NOSIGNAL, or write(2) where fd is no socket.
//
// It is a raw system call: it does not tell Go's scheduler that the
// goroutine enters the kernel. The call returns as soon as the socket's
// buffer takes what fits (on loopback after the kernel delivered it to the
// reading socket: 6–12 µs for a small message). Told, the scheduler's
// monitor thread (sysmon) keeps waking every 20 µs to check whether such
// calls block and hands their P to another thread when one runs past a
// tick; a broadcast's thousands of writes in a row kept it from ever
// backing off. Measured with bench/cmd/writefloor's pattern (one small
// write per connection, 1,000 connections at 20/s and 5,000 at 5/s), the
// raw call costs 10–17 % less CPU per write, the difference being sysmon's
// sleeps and the thread switches of hand-offs.
//
// send(2) rather than write(2): write goes through the file layer
// (vfs_write, fdget_pos, sock_write_iter, fsnotify), which on a
// broadcast's cold sockets is cache misses more per call; perf put 7 % of
// a write's samples there against about 5 % for sendto's socket lookup.
// MSG_NOSIGNAL makes a write to a reset connection fail with EPIPE
// without raising SIGPIPE. (Built with -msan or -asan, which must see what
// the kernel writes, the calls are syscall's: nonblock_unix.go.)
func rawWrite(fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	if e == syscall.ENOTSOCK {
		n, _, e = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawRead makes one read into p from the non-blocking socket fd, a raw
// system call as rawWrite is: recvfrom(2) with MSG_DONTWAIT, or read(2)
// where fd is no socket. Like read(2), it returns 0 at the end of the
// stream; p is not empty.
func rawRead(fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_DONTWAIT, 0, 0)
	if e == syscall.ENOTSOCK {
		n, _, e = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
