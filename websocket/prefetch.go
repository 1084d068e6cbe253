package websocket

import (
	"unsafe"

	"github.com/tether-rt/tether/internal/prefetch"
)

// PrefetchWrite asks the CPU for the memory that a write without waiting
// ([Conn.TryBatch], [Batch.FlushNow]) to c will use, without waiting for
// it: a hint for a broadcast, which writes to many connections once each
// and would otherwise stall on each connection's cache lines in turn.
// Stage 0 asks for the Conn's own first two lines (its fields for such a
// write, see Conn); stage 1, made later (once those lines came), for the
// socket writer nbw points to. It reads nothing that Go code sees: c may
// be a connection that closed meanwhile.
func (c *Conn) PrefetchWrite(stage int) {
	p := unsafe.Pointer(c)
	switch stage {
	case 0:
		prefetch.Line(p)
		prefetch.Line(unsafe.Add(p, 64))
	case 1:
		// The data word of the nbw interface.
		prefetch.Line(prefetch.Pointer(unsafe.Add(unsafe.Pointer(&c.nbw), unsafe.Sizeof(uintptr(0)))))
	}
}
