package parser

import (
	"encoding/json"
	"errors"
	"fmt"
)

// DefaultMaxAttachments is the attachment limit of a zero [Decoder], as in
// Node's socket.io-parser.
const DefaultMaxAttachments = 10

// Errors returned by [Decode] and [Decoder.Add], wrapped with context.
var (
	ErrEmpty            = errors.New("empty packet")
	ErrUnknownType      = errors.New("unknown packet type")
	ErrAttachments      = errors.New("illegal attachments")
	ErrTooManyAttach    = errors.New("too many attachments")
	ErrNamespace        = errors.New("invalid namespace")
	ErrID               = errors.New("invalid id")
	ErrPayload          = errors.New("invalid payload")
	ErrUnexpectedText   = errors.New("got plaintext data when reconstructing a packet")
	ErrUnexpectedBinary = errors.New("got binary data when not reconstructing a packet")
)

// Decode parses one text message. For the binary types it returns the packet
// with Type Event or Ack, no Attachments yet, and the announced attachment
// count as the second result; [Decoder] collects them. It checks the
// placeholders only against maxAttachments (any count up to that is allowed,
// a negative maxAttachments means [DefaultMaxAttachments]).
//
// The returned packet's Data aliases text.
func Decode(text []byte, maxAttachments int) (p Packet, attachments int, err error) {
	if maxAttachments < 0 {
		maxAttachments = DefaultMaxAttachments
	}
	if len(text) == 0 {
		return p, 0, ErrEmpty
	}
	c := text[0]
	if c < '0' || c > '6' {
		return p, 0, fmt.Errorf("%w %q", ErrUnknownType, c)
	}
	p.Type = Type(c - '0')
	i := 1
	binary := p.Type == BinaryEvent || p.Type == BinaryAck
	if binary {
		start := i
		n := 0
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			if n > maxAttachments {
				return p, 0, ErrTooManyAttach
			}
			n = n*10 + int(text[i]-'0')
			i++
		}
		if i == start || i == len(text) || text[i] != '-' {
			return p, 0, ErrAttachments
		}
		if n > maxAttachments {
			return p, 0, fmt.Errorf("%w (%d > %d)", ErrTooManyAttach, n, maxAttachments)
		}
		attachments = n
		i++ // '-'
		if p.Type == BinaryEvent {
			p.Type = Event
		} else {
			p.Type = Ack
		}
	}

	// Namespace: "/..." up to a comma or the end.
	p.Namespace = "/"
	if i < len(text) && text[i] == '/' {
		start := i
		for i < len(text) && text[i] != ',' {
			i++
		}
		if ns := text[start:i]; len(ns) > 1 {
			p.Namespace = string(ns)
		}
		if i < len(text) {
			i++ // ','
		}
	}

	// Id: digits.
	if i < len(text) && text[i] >= '0' && text[i] <= '9' {
		var id uint64
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			d := uint64(text[i] - '0')
			if id > (1<<64-1-d)/10 {
				return p, 0, ErrID
			}
			id = id*10 + d
			i++
		}
		p.ID, p.HasID = id, true
	}

	if i < len(text) {
		p.Data = json.RawMessage(text[i:])
	}
	if err := validatePayload(&p, binary, attachments); err != nil {
		return p, 0, err
	}
	return p, attachments, nil
}

// reservedEvents are the event names a client may not send.
var reservedEvents = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// IsReservedEvent reports whether name is one of the event names that have a
// special meaning and cannot be sent or received as events.
func IsReservedEvent(name string) bool {
	for _, r := range reservedEvents {
		if name == r {
			return true
		}
	}
	return false
}

func validatePayload(p *Packet, binary bool, attachments int) error {
	data := p.Data
	if data == nil {
		switch p.Type {
		case Connect, Disconnect:
			return nil
		}
		return fmt.Errorf("%w: %s without payload", ErrPayload, p.Type)
	}
	if p.Type == Disconnect {
		return fmt.Errorf("%w: DISCONNECT with payload", ErrPayload)
	}
	if !validJSON(data) {
		return fmt.Errorf("%w: not JSON", ErrPayload)
	}
	i := skipSpace(data, 0)
	switch p.Type {
	case Connect:
		if data[i] != '{' {
			return fmt.Errorf("%w: CONNECT payload is not an object", ErrPayload)
		}
	case ConnectError:
		if data[i] != '{' && data[i] != '"' {
			return fmt.Errorf("%w: CONNECT_ERROR payload is neither an object nor a string", ErrPayload)
		}
	case Ack:
		if data[i] != '[' {
			return fmt.Errorf("%w: ACK payload is not an array", ErrPayload)
		}
	case Event:
		if data[i] != '[' {
			return fmt.Errorf("%w: EVENT payload is not an array", ErrPayload)
		}
		j := skipSpace(data, i+1)
		switch c := data[j]; {
		case c == '"':
			end := skipValue(data, j)
			if isReservedName(data[j:end]) {
				return fmt.Errorf("%w: reserved event name %s", ErrPayload, data[j:end])
			}
		case c == '-' || (c >= '0' && c <= '9'):
		default:
			return fmt.Errorf("%w: EVENT name is not a string", ErrPayload)
		}
	}
	if binary {
		// Placeholders must point at announced attachments; Node fails the
		// same way when it reconstructs the packet.
		if err := checkPlaceholders(data, attachments); err != nil {
			return err
		}
	}
	return nil
}

// isReservedName reports whether the JSON string token tok is a reserved
// event name; escapes are decoded first, as JSON.parse would.
func isReservedName(tok []byte) bool {
	raw := tok[1 : len(tok)-1]
	for _, c := range raw {
		if c == '\\' {
			var s string
			if json.Unmarshal(tok, &s) != nil {
				return true
			}
			return IsReservedEvent(s)
		}
	}
	for _, r := range reservedEvents {
		if string(raw) == r {
			return true
		}
	}
	return false
}

// Decoder reassembles packets from the Engine.IO messages of one connection,
// taken in order. The zero value is ready to use. A Decoder is not safe for
// concurrent use.
type Decoder struct {
	// MaxAttachments limits the attachments of one packet; 0 means
	// DefaultMaxAttachments.
	MaxAttachments int

	pending Packet
	want    int
	busy    bool
}

// Add takes the next Engine.IO message of the connection. It returns a
// complete packet and true, or false when a binary packet still waits for
// attachments. After an error the Decoder is reset; the connection should be
// closed.
//
// The packet refers to the memory of data (and of the earlier binary
// messages); the caller must not modify it while it uses the packet.
func (d *Decoder) Add(data []byte, binary bool) (Packet, bool, error) {
	if !binary {
		if d.busy {
			d.Reset()
			return Packet{}, false, ErrUnexpectedText
		}
		max := d.MaxAttachments
		if max <= 0 {
			max = DefaultMaxAttachments
		}
		p, n, err := Decode(data, max)
		if err != nil {
			return Packet{}, false, fmt.Errorf("failed to decode packet: %w", err)
		}
		if n == 0 {
			return p, true, nil
		}
		d.pending, d.want, d.busy = p, n, true
		d.pending.Attachments = make([][]byte, 0, n)
		return Packet{}, false, nil
	}
	if !d.busy {
		return Packet{}, false, ErrUnexpectedBinary
	}
	d.pending.Attachments = append(d.pending.Attachments, data)
	if len(d.pending.Attachments) < d.want {
		return Packet{}, false, nil
	}
	p := d.pending
	d.Reset()
	return p, true, nil
}

// Pending reports whether the Decoder waits for attachments.
func (d *Decoder) Pending() bool { return d.busy }

// Reset drops a packet whose attachments have not all arrived.
func (d *Decoder) Reset() {
	d.pending, d.want, d.busy = Packet{}, 0, false
}
