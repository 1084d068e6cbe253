package socketio

import (
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// EncodedPacket is a packet encoded once for Engine.IO: its text message
// followed by its binary attachments. The same EncodedPacket is sent to every
// receiver of a broadcast and must not be modified.
type EncodedPacket struct {
	Packets []engineio.Packet
}

// Encode encodes p for Engine.IO.
func Encode(p *parser.Packet) *EncodedPacket {
	return encode(p, false)
}

// encode encodes p for Engine.IO, its packets to be sent uncompressed when
// noCompress is set.
func encode(p *parser.Packet, noCompress bool) *EncodedPacket {
	ep := &EncodedPacket{Packets: make([]engineio.Packet, 1, 1+len(p.Attachments))}
	ep.Packets[0] = engineio.Packet{Data: p.AppendText(make([]byte, 0, p.TextLen())), NoCompress: noCompress}
	for _, a := range p.Attachments {
		ep.Packets = append(ep.Packets, engineio.Packet{Data: a, Binary: true, NoCompress: noCompress})
	}
	return ep
}

// noCompress reports whether the flags ask for uncompressed packets.
func (f *BroadcastFlags) noCompress() bool {
	return f.Compress != nil && !*f.Compress
}
