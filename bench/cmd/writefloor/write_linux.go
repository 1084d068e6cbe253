package main

import (
	"syscall"
	"unsafe"
)

// rawWrite makes one write(2) of p to the non-blocking descriptor fd as a
// raw system call: it does not wait, so the scheduler need not know.
func rawWrite(fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
