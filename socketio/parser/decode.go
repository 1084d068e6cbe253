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
	return decode(text, maxAttachments, nil)
}

// DecodeArgs is [Decode] that also appends the elements of an EVENT or ACK
// packet's array to args, as [SplitArray] would (for a binary packet, the
// elements hold its placeholders), and returns the extended slice: one pass
// over the JSON where Decode and SplitArray make two, for what a receiver
// does with every event. For another packet, or after an error, args comes
// back unchanged. The elements alias text.
func DecodeArgs(text []byte, maxAttachments int, args []json.RawMessage) (p Packet, attachments int, _ []json.RawMessage, err error) {
	n := len(args)
	p, attachments, err = decode(text, maxAttachments, &args)
	if err != nil {
		return p, 0, args[:n], err
	}
	return p, attachments, args, nil
}

// decode is Decode, and DecodeArgs with a non-nil args.
func decode(text []byte, maxAttachments int, args *[]json.RawMessage) (p Packet, attachments int, err error) {
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
	if err := validatePayload(&p, binary, attachments, args); err != nil {
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

// validatePayload checks p's payload; with args non-nil, it appends the
// elements of an EVENT or ACK payload to *args in the same pass (and
// leaves *args unchanged when it fails).
func validatePayload(p *Packet, binary bool, attachments int, args *[]json.RawMessage) error {
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
	n := 0 // the elements in *args before this payload's
	if args != nil && (p.Type == Event || p.Type == Ack) {
		n = len(*args)
		if !validSplitArray(data, args) {
			return fmt.Errorf("%w: not JSON", ErrPayload)
		}
		if err := checkPayload(p, data, binary, attachments, (*args)[n:]); err != nil {
			*args = (*args)[:n]
			return err
		}
		return nil
	}
	if !validJSON(data) {
		return fmt.Errorf("%w: not JSON", ErrPayload)
	}
	return checkPayload(p, data, binary, attachments, nil)
}

// checkPayload checks the valid JSON payload data of p for its type; elems
// are its elements when the caller split them already.
func checkPayload(p *Packet, data []byte, binary bool, attachments int, elems []json.RawMessage) error {
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
			var end int
			if len(elems) > 0 {
				end = j + len(elems[0]) // the first element starts at j
			} else {
				end = skipValue(data, j)
			}
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
	return d.add(data, binary, nil)
}

// AddArgs is [Decoder.Add] that also appends the elements of a complete
// EVENT or ACK packet's array to args, as [DecodeArgs] does, and returns
// the extended slice; args comes back unchanged when no EVENT or ACK packet
// is complete, or after an error.
func (d *Decoder) AddArgs(data []byte, binary bool, args []json.RawMessage) (Packet, []json.RawMessage, bool, error) {
	p, ok, err := d.add(data, binary, &args)
	return p, args, ok, err
}

// add is Add, and AddArgs with a non-nil args.
func (d *Decoder) add(data []byte, binary bool, args *[]json.RawMessage) (Packet, bool, error) {
	if !binary {
		if d.busy {
			d.Reset()
			return Packet{}, false, ErrUnexpectedText
		}
		max := d.MaxAttachments
		if max <= 0 {
			max = DefaultMaxAttachments
		}
		var p Packet
		var n int
		var err error
		if args != nil {
			k := len(*args)
			p, n, *args, err = DecodeArgs(data, max, *args)
			if n > 0 {
				*args = (*args)[:k] // split once complete
			}
		} else {
			p, n, err = Decode(data, max)
		}
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
	if args != nil {
		if a, err := SplitArray(*args, p.Data); err == nil {
			*args = a
		}
	}
	return p, true, nil
}

// Pending reports whether the Decoder waits for attachments.
func (d *Decoder) Pending() bool { return d.busy }

// Reset drops a packet whose attachments have not all arrived.
func (d *Decoder) Reset() {
	d.pending, d.want, d.busy = Packet{}, 0, false
}
