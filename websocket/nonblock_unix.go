//go:build unix && (!linux || 386 || msan || asan)

package websocket

import "syscall"

// rawWrites reports whether this platform writes to a socket's descriptor
// with write(2), so that a connection can write without waiting.
const rawWrites = true

// rawWrite makes one write(2) of p to the non-blocking descriptor fd
// (see nonblock_linux.go for why Linux makes it a raw system call).
func rawWrite(fd uintptr, p []byte) (int, error) {
	return syscall.Write(int(fd), p)
}

// rawRead makes one read(2) into p from the non-blocking descriptor fd.
func rawRead(fd uintptr, p []byte) (int, error) {
	return syscall.Read(int(fd), p)
}
