package socketio

import (
	"unsafe"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/internal/prefetch"
)

// prefetchStages is how many stages Socket.prefetch has: the socket, its
// connection, then the engine session's own (engineio.Socket.PrefetchSend).
const prefetchStages = 2 + engineio.PrefetchStages

// sendPrefetcher is an engine connection that can ask for the memory a
// Send will use ahead of it (engineio.Socket).
type sendPrefetcher interface{ PrefetchSend(stage int) }

// prefetch asks the CPU, without waiting, for the memory of stage stage
// of a delivery to s (see deliverPackets): stage 0 the socket's own
// lines, 1 its connection's, and from 2 on the engine session's, each
// stage following pointers the one before brought in. receivers.deliver
// calls them in order, one per receiver written to, ahead of the receiver.
func (s *Socket) prefetch(stage int) {
	switch stage {
	case 0:
		prefetch.Lines(unsafe.Pointer(s), unsafe.Sizeof(*s))
	case 1:
		prefetch.Lines(unsafe.Pointer(s.conn), unsafe.Sizeof(connection{}))
	default:
		if e, ok := s.conn.engine.(sendPrefetcher); ok {
			e.PrefetchSend(stage - 2)
		}
	}
}
