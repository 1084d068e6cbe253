package engineio

import (
	"testing"
	"unsafe"
)

// TestSocketSize keeps a session's Socket in the 208-byte size class:
// the state of polling, upgrading, closing and of a delayed connection is
// in structs made on use (sockCold, connDelay), and the heartbeat's times
// are monotonic nanoseconds, the protocol a byte. Every idle session of a
// server holds one.
func TestSocketSize(t *testing.T) {
	if size := unsafe.Sizeof(Socket{}); size > 208 {
		t.Fatalf("Socket is %d bytes, want at most 208", size)
	}
}
