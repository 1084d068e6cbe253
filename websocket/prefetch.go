package websocket

import (
	"unsafe"

	"github.com/tether-rt/tether/internal/prefetch"
)

// PrefetchWrite asks the CPU for the memory that a write without waiting
// ([Conn.TryBatch], [Batch.FlushNow]) to c will use, without waiting for
// it: a hint for a broadcast, which writes to many connections once each
// and would otherwise stall on each connection's cache lines in turn.
// Stage 0 asks for the Conn's fields for such a write (its first two
// lines, up to readLimit: see Conn); stage 1, made later (once those lines
// came), for the socket writer nbw points to. It reads nothing that Go
// code sees: c may be a connection that closed meanwhile.
func (c *Conn) PrefetchWrite(stage int) {
	switch stage {
	case 0:
		prefetch.Lines(unsafe.Pointer(c), unsafe.Offsetof(c.readLimit))
	case 1:
		// The data word of the nbw interface.
		prefetch.Line(prefetch.Pointer(unsafe.Add(unsafe.Pointer(&c.nbw), unsafe.Sizeof(uintptr(0)))))
	}
}
