//go:build unix

package siotest

import "syscall"

// receiveBuffer returns a net.Dialer Control that sets the socket's
// receive buffer to n bytes before it connects.
func receiveBuffer(n int) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		}); err != nil {
			return err
		}
		return serr
	}
}
