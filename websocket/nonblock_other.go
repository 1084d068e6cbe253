//go:build !unix

package websocket

import "errors"

// rawWrites is false where a socket is no descriptor for write(2)
// (Windows, wasm): every write there goes through the connection's
// Write, and [Conn.TryBatch] reports that it cannot write now.
const rawWrites = false

// rawWrite is never called where rawWrites is false.
func rawWrite(fd uintptr, p []byte) (int, error) {
	return 0, errors.ErrUnsupported
}

// rawRead is never called where rawWrites is false.
func rawRead(fd uintptr, p []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
