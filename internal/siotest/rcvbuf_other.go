//go:build !unix

package siotest

import (
	"errors"
	"syscall"
)

// receiveBuffer returns a net.Dialer Control that fails: setting the
// receive buffer before connecting needs a Unix socket here.
func receiveBuffer(int) func(network, address string, rc syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error { return errors.ErrUnsupported }
}
