package parser

import (
	"encoding/json"
	"strconv"
)

// Protocol is the Socket.IO protocol version this package implements.
const Protocol = 5

// Type is a Socket.IO packet type.
type Type byte

// The packet types of protocol v5.
const (
	Connect      Type = 0
	Disconnect   Type = 1
	Event        Type = 2
	Ack          Type = 3
	ConnectError Type = 4
	BinaryEvent  Type = 5
	BinaryAck    Type = 6
)

var typeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the name Node uses for the type, such as "BINARY_EVENT".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Packet is one Socket.IO packet.
//
// A decoded packet never has the type BinaryEvent or BinaryAck: as in Node,
// they become Event and Ack with their Attachments. When encoding, an Event
// or Ack with attachments goes on the wire as BINARY_EVENT or BINARY_ACK.
type Packet struct {
	Type Type
	// Namespace starts with "/"; an empty Namespace encodes as "/".
	Namespace string
	// ID is the acknowledgement id; it is meaningful only when HasID is set.
	ID    uint64
	HasID bool
	// Data is the JSON payload, nil when the packet has none. In packets with
	// attachments it holds placeholders {"_placeholder":true,"num":N}.
	Data json.RawMessage
	// Attachments are the binary attachments, in placeholder order.
	Attachments [][]byte
}

// wireType returns the type written on the wire.
func (p *Packet) wireType() Type {
	if len(p.Attachments) > 0 {
		switch p.Type {
		case Event:
			return BinaryEvent
		case Ack:
			return BinaryAck
		}
	}
	return p.Type
}

// AppendText appends the packet's text message (the Engine.IO message that
// carries the header and JSON; the attachments follow as binary messages) to
// dst and returns the extended slice. It does not validate the packet.
func (p *Packet) AppendText(dst []byte) []byte {
	t := p.wireType()
	dst = append(dst, '0'+byte(t))
	if t == BinaryEvent || t == BinaryAck {
		dst = strconv.AppendInt(dst, int64(len(p.Attachments)), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// TextLen returns the length of the text message AppendText writes.
func (p *Packet) TextLen() int {
	n := 1
	t := p.wireType()
	if t == BinaryEvent || t == BinaryAck {
		n += digits(uint64(len(p.Attachments))) + 1
	}
	if p.Namespace != "" && p.Namespace != "/" {
		n += len(p.Namespace) + 1
	}
	if p.HasID {
		n += digits(p.ID)
	}
	return n + len(p.Data)
}

func digits(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
