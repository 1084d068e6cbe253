package socketio

import (
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// outPacket is a packet as this server's sockets send it: its encoded form
// and that form converted, once, to Engine.IO packets (the text message,
// then one binary packet per attachment). One outPacket is made per
// broadcast (or per packet to a single socket) and shared by every
// receiver, so handing it to a socket allocates nothing; it is the place
// for other forms of a broadcast that are worth computing once for all its
// receivers. It is immutable once made.
type outPacket struct {
	enc  parser.EncodedPacket
	pkts []engineio.Packet
	one  [1]engineio.Packet // pkts' storage when there are no attachments
}

// newOutPacket encodes p, its Engine.IO packets to be sent uncompressed
// when noCompress is set. p's attachments are shared, not copied.
func newOutPacket(p *parser.Packet, noCompress bool) *outPacket {
	o := &outPacket{enc: p.Encode()}
	o.pkts = appendEnginePackets(o.one[:0], &o.enc, noCompress)
	return o
}

// appendEnginePackets appends ep as Engine.IO packets to dst: its text
// message, then its attachments as binary packets.
func appendEnginePackets(dst []engineio.Packet, ep *parser.EncodedPacket, noCompress bool) []engineio.Packet {
	dst = append(dst, engineio.Packet{Data: ep.Text, NoCompress: noCompress})
	for _, a := range ep.Attachments {
		dst = append(dst, engineio.Packet{Data: a, Binary: true, NoCompress: noCompress})
	}
	return dst
}

// noCompress reports whether the flags ask for uncompressed packets.
func (f *BroadcastFlags) noCompress() bool {
	return f.Compress != nil && !*f.Compress
}
