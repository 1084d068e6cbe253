package engineio

import (
	"unsafe"

	"github.com/tether-rt/tether/internal/prefetch"
	"github.com/tether-rt/tether/websocket"
)

// PrefetchStages is how many stages [Socket.PrefetchSend] has.
const PrefetchStages = 4

// PrefetchSend asks the CPU for the memory that a Send to s will use,
// without waiting for it: a hint for a broadcast, which sends to many
// sessions once each and would otherwise stall on each session's cache
// lines in turn. Each stage follows a pointer that the one before brought
// in, so stages 0 to PrefetchStages-1 are meant to be called in order, a
// while apart (a broadcast calls a receiver's stage k while it writes to
// the receiver PrefetchStages-k places before it). It reads nothing that
// Go code sees (the pointers are read for the hint only), so it is safe on
// a session that changes or closes meanwhile.
func (s *Socket) PrefetchSend(stage int) {
	switch stage {
	case 0: // the session
		prefetch.Lines(unsafe.Pointer(s), unsafe.Sizeof(*s))
	case 1: // its WebSocket transport
		prefetch.Line(prefetch.Pointer(unsafe.Pointer(&s.ws)))
	case 2, 3: // the WebSocket connection, then its socket writer
		t := prefetch.Pointer(unsafe.Pointer(&s.ws))
		if t == nil {
			return
		}
		c := prefetch.Pointer(unsafe.Add(t, unsafe.Offsetof(wsTransport{}.conn)))
		if c == nil {
			return
		}
		(*websocket.Conn)(c).PrefetchWrite(stage - 2)
	}
}
