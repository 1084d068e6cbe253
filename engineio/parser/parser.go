package parser

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Version is an Engine.IO protocol revision: 3 or 4.
type Version int

// The protocol revisions this package speaks.
const (
	V3 Version = 3
	V4 Version = 4
)

// Type is the type of a packet.
type Type byte

// The packet types, numbered as on the wire.
const (
	Open    Type = 0 // server -> client: handshake data (JSON)
	Close   Type = 1 // either way: the transport can be closed
	Ping    Type = 2 // heartbeat (v4: server -> client; v3: client -> server) and upgrade probe
	Pong    Type = 3 // answer to Ping
	Message Type = 4 // application data, text or binary
	Upgrade Type = 5 // client -> server: switch to the probed transport
	Noop    Type = 6 // server -> client: ends a pending long-poll during an upgrade
)

var typeNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

// String returns the type's name as the reference implementation spells it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven packet types.
func (t Type) Valid() bool { return t <= Noop }

// Packet is one Engine.IO packet.
type Packet struct {
	Type Type
	// Data is the payload: text for every type, or bytes when Binary is
	// set (only message packets carry binary data in practice).
	Data   []byte
	Binary bool
}

// Handshake is the data of the open packet, the JSON object a server
// sends first: the session id, the transports the client may upgrade to,
// the heartbeat's timings in milliseconds and (v4) the largest payload the
// server reads, in bytes.
type Handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload,omitempty"`
}

// RecordSeparator joins the packets of a v4 polling payload.
const RecordSeparator = '\x1e'

// Errors the decoders return. They are wrapped with the details of the
// offending input; test with [errors.Is].
var (
	// ErrInvalidPacket reports a packet that cannot be decoded.
	ErrInvalidPacket = errors.New("engineio: invalid packet")
	// ErrInvalidPayload reports a polling payload that cannot be decoded.
	ErrInvalidPayload = errors.New("engineio: invalid payload")
)

// maxLengthDigits bounds the length prefixes of v3 payloads (2^53 has 16
// decimal digits); longer ones are rejected before any arithmetic.
const maxLengthDigits = 16

// DecodePacket decodes one packet as carried by a WebSocket frame: binary
// tells whether the frame was a binary one.
//
// A text packet is a type digit followed by its data ("4hello"), or "b"
// followed by base64 for binary data sent as text ("bAQID" in v4,
// "b4AQID" in v3). A binary frame is a message's raw bytes in v4, and a type
// byte followed by the data in v3.
//
// The returned Data aliases msg, except for base64 data, which is decoded
// into a new slice.
func DecodePacket(v Version, msg []byte, binary bool) (Packet, error) {
	if binary {
		if v == V3 {
			if len(msg) == 0 || !Type(msg[0]).Valid() {
				return Packet{}, fmt.Errorf("%w: binary frame without a valid type byte", ErrInvalidPacket)
			}
			return Packet{Type: Type(msg[0]), Data: msg[1:], Binary: true}, nil
		}
		return Packet{Type: Message, Data: msg, Binary: true}, nil
	}
	if len(msg) == 0 {
		return Packet{}, fmt.Errorf("%w: empty packet", ErrInvalidPacket)
	}
	if msg[0] == 'b' {
		return decodeBase64(v, msg[1:])
	}
	t := Type(msg[0] - '0')
	if msg[0] < '0' || !t.Valid() {
		return Packet{}, fmt.Errorf("%w: unknown type %q", ErrInvalidPacket, msg[0])
	}
	return Packet{Type: t, Data: msg[1:]}, nil
}

// decodeBase64 decodes the part of a "b" packet after the "b".
func decodeBase64(v Version, s []byte) (Packet, error) {
	t := Message
	if v == V3 {
		if len(s) == 0 || s[0] < '0' || !Type(s[0]-'0').Valid() {
			return Packet{}, fmt.Errorf("%w: base64 packet without a valid type", ErrInvalidPacket)
		}
		t = Type(s[0] - '0')
		s = s[1:]
	}
	data, err := decodeBase64Data(s)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: %v", ErrInvalidPacket, err)
	}
	return Packet{Type: t, Data: data, Binary: true}, nil
}

// decodeBase64Data decodes standard base64, padded or not.
func decodeBase64Data(s []byte) ([]byte, error) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(out, s)
	if err != nil {
		return nil, fmt.Errorf("bad base64: %w", err)
	}
	return out[:n], nil
}

// AppendPacket appends p encoded for a WebSocket frame to dst and reports
// whether the frame must be a binary one. It is the inverse of
// [DecodePacket].
func AppendPacket(v Version, dst []byte, p Packet) ([]byte, bool) {
	if p.Binary {
		if v == V3 {
			dst = append(dst, byte(p.Type))
		}
		return append(dst, p.Data...), true
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...), false
}

// AppendText appends p encoded as text to dst: binary data as base64
// after "b" (v4) or "b<type>" (v3). It is the form packets take in text
// payloads, and over WebSocket for clients that asked for base64 (b64=1).
func AppendText(v Version, dst []byte, p Packet) []byte {
	if !p.Binary {
		dst = append(dst, '0'+byte(p.Type))
		return append(dst, p.Data...)
	}
	dst = append(dst, 'b')
	if v == V3 {
		dst = append(dst, '0'+byte(p.Type))
	}
	return base64.StdEncoding.AppendEncode(dst, p.Data)
}

// DecodePayload decodes the body of a polling request or response.
//
// In v4 the packets are joined with [RecordSeparator] and binary data is
// base64 ("4hello\x1ebAQID"). In v3 each packet is prefixed with its length
// in UTF-16 code units and a colon ("6:4hello"); binary tells that the body
// was sent as application/octet-stream, the v3 binary payload format, where
// each packet is prefixed with a 0 (text) or 1 (binary) byte, its length as
// decimal digit bytes, and a 255 byte.
//
// DecodePayload returns the packets decoded before any error, so that a
// caller can act on them as the reference implementation does.
func DecodePayload(v Version, body []byte, binary bool) ([]Packet, error) {
	// A text payload is a JavaScript string on the wire: always valid
	// UTF-8. Rejecting anything else here keeps text packets valid UTF-8
	// whichever payload format carried them (a v3 binary payload's text
	// packets are checked the same way).
	if !binary && !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: text payload is not UTF-8", ErrInvalidPayload)
	}
	if v == V3 {
		if binary {
			return decodeBinaryPayloadV3(body)
		}
		return decodePayloadV3(body)
	}
	if binary {
		return nil, fmt.Errorf("%w: v4 payloads are text", ErrInvalidPayload)
	}
	n := 1
	for _, c := range body {
		if c == RecordSeparator {
			n++
		}
	}
	pkts := make([]Packet, 0, n)
	for {
		i := indexByte(body, RecordSeparator)
		part := body
		if i >= 0 {
			part = body[:i]
		}
		p, err := DecodePacket(V4, part, false)
		if err != nil {
			return pkts, fmt.Errorf("%w: packet %d: %v", ErrInvalidPayload, len(pkts), err)
		}
		pkts = append(pkts, p)
		if i < 0 {
			return pkts, nil
		}
		body = body[i+1:]
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// decodePayloadV3 decodes "<len>:<packet>..." where len counts UTF-16 code
// units, as JavaScript's String.length does.
func decodePayloadV3(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrInvalidPayload)
	}
	var pkts []Packet
	for len(body) > 0 {
		colon := indexByte(body, ':')
		if colon <= 0 || colon > maxLengthDigits {
			return pkts, fmt.Errorf("%w: missing or bad length prefix", ErrInvalidPayload)
		}
		n, ok := parseDigits(body[:colon])
		if !ok {
			return pkts, fmt.Errorf("%w: bad length prefix %q", ErrInvalidPayload, body[:colon])
		}
		body = body[colon+1:]
		size, ok := utf16Prefix(body, n)
		if !ok {
			return pkts, fmt.Errorf("%w: packet shorter than its length prefix %d", ErrInvalidPayload, n)
		}
		if size > 0 {
			p, err := DecodePacket(V3, body[:size], false)
			if err != nil {
				return pkts, fmt.Errorf("%w: packet %d: %v", ErrInvalidPayload, len(pkts), err)
			}
			pkts = append(pkts, p)
		}
		body = body[size:]
	}
	return pkts, nil
}

// parseDigits parses a non-empty run of ASCII digits.
func parseDigits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > maxLengthDigits {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// utf16Prefix returns the number of bytes of b that hold exactly n UTF-16
// code units. A character outside the Basic Multilingual Plane counts two;
// a byte that is not valid UTF-8 counts one (it stands for U+FFFD).
func utf16Prefix(b []byte, n int) (int, bool) {
	i := 0
	for n > 0 {
		if i >= len(b) {
			return 0, false
		}
		r, size := utf8.DecodeRune(b[i:])
		units := 1
		if r >= 0x10000 {
			units = 2
		}
		if units > n {
			return 0, false // the prefix ends inside a surrogate pair
		}
		n -= units
		i += size
	}
	return i, true
}

// UTF16Len returns the length of b in UTF-16 code units, the unit of v3
// payload length prefixes.
func UTF16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		n++
		if r >= 0x10000 {
			n++
		}
		i += size
	}
	return n
}

// decodeBinaryPayloadV3 decodes the v3 binary payload format.
func decodeBinaryPayloadV3(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrInvalidPayload)
	}
	var pkts []Packet
	for len(body) > 0 {
		kind := body[0]
		if kind > 1 {
			return pkts, fmt.Errorf("%w: bad packet kind %d", ErrInvalidPayload, kind)
		}
		n, i := 0, 1
		for ; i < len(body) && body[i] != 0xff; i++ {
			if body[i] > 9 || i > maxLengthDigits {
				return pkts, fmt.Errorf("%w: bad length prefix", ErrInvalidPayload)
			}
			n = n*10 + int(body[i])
		}
		if i == 1 || i >= len(body) {
			return pkts, fmt.Errorf("%w: missing length prefix", ErrInvalidPayload)
		}
		body = body[i+1:]
		if n > len(body) {
			return pkts, fmt.Errorf("%w: packet shorter than its length prefix %d", ErrInvalidPayload, n)
		}
		msg := body[:n]
		body = body[n:]
		var p Packet
		var err error
		if kind == 0 {
			if !utf8.Valid(msg) {
				err = fmt.Errorf("%w: text packet is not UTF-8", ErrInvalidPacket)
			} else {
				p, err = DecodePacket(V3, msg, false)
			}
		} else {
			p, err = DecodePacket(V3, msg, true)
		}
		if err != nil {
			return pkts, fmt.Errorf("%w: packet %d: %v", ErrInvalidPayload, len(pkts), err)
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// AppendPayload appends pkts encoded as the body of a polling response to
// dst and reports whether the body is binary (to be sent as
// application/octet-stream).
//
// Only v3 produces binary bodies: when base64 is false (the client did
// not ask for b64=1) and a packet carries binary data, the v3 binary
// payload format is used. Otherwise binary data is base64 text. An empty
// v3 payload is "0:", as the reference implementation writes it.
func AppendPayload(v Version, dst []byte, pkts []Packet, base64 bool) ([]byte, bool) {
	sink := payloadSink{dst: dst}
	binary := sink.encode(v, pkts, base64)
	return sink.dst, binary
}

// PayloadLen returns the length of the body [AppendPayload] and
// [WritePayload] produce for pkts, and whether it is binary, without
// encoding it.
func PayloadLen(v Version, pkts []Packet, base64 bool) (int, bool) {
	sink := payloadSink{count: true}
	binary := sink.encode(v, pkts, base64)
	return sink.n, binary
}

// WritePayload writes pkts to w as the body of a polling response, as
// [AppendPayload] encodes them, and reports whether the body is binary.
// It writes the packets' data as it is (or through a base64 encoder),
// never copying a packet whole, so that a payload sent to many clients is
// held once in memory however slowly each of them reads.
func WritePayload(w io.Writer, v Version, pkts []Packet, base64 bool) (bool, error) {
	sink := payloadSink{w: w}
	binary := sink.encode(v, pkts, base64)
	return binary, sink.err
}

// payloadSink takes the pieces of a payload in order: it appends them to
// dst, counts them (count), or writes them to w (stopping at the first
// error).
type payloadSink struct {
	dst     []byte
	count   bool
	n       int
	w       io.Writer
	err     error
	scratch [24]byte // framing bytes on their way to w
}

// raw takes framing bytes (at most len(scratch)).
func (s *payloadSink) raw(b ...byte) {
	n := copy(s.scratch[:], b)
	s.rawBytes(s.scratch[:n])
}

// rawBytes takes bytes as they are.
func (s *payloadSink) rawBytes(p []byte) {
	switch {
	case s.count:
		s.n += len(p)
	case s.w == nil:
		s.dst = append(s.dst, p...)
	case s.err == nil && len(p) > 0:
		_, s.err = s.w.Write(p)
	}
}

// number takes n in decimal, as ASCII digits or (digitBytes) as bytes 0 to 9.
func (s *payloadSink) number(n int, digitBytes bool) {
	d := strconv.AppendInt(s.scratch[:0], int64(n), 10)
	if digitBytes {
		for i := range d {
			d[i] -= '0'
		}
	}
	s.rawBytes(d)
}

// base64 takes bytes to be sent base64-encoded.
func (s *payloadSink) base64(p []byte) {
	switch {
	case s.count:
		s.n += base64.StdEncoding.EncodedLen(len(p))
	case s.w == nil:
		s.dst = base64.StdEncoding.AppendEncode(s.dst, p)
	case s.err == nil:
		enc := base64.NewEncoder(base64.StdEncoding, s.w)
		if _, s.err = enc.Write(p); s.err == nil {
			s.err = enc.Close()
		}
	}
}

// text takes p encoded as text, as [AppendText] does.
func (s *payloadSink) text(v Version, p Packet) {
	if !p.Binary {
		s.raw('0' + byte(p.Type))
		s.rawBytes(p.Data)
		return
	}
	s.raw('b')
	if v == V3 {
		s.raw('0' + byte(p.Type))
	}
	s.base64(p.Data)
}

// textUTF16Len is the length of p encoded as text, in UTF-16 code units.
func textUTF16Len(v Version, p Packet) int {
	if !p.Binary {
		return 1 + UTF16Len(p.Data)
	}
	n := 1 + base64.StdEncoding.EncodedLen(len(p.Data))
	if v == V3 {
		n++
	}
	return n
}

// encode passes the payload of pkts to s and reports whether it is binary.
func (s *payloadSink) encode(v Version, pkts []Packet, base64 bool) bool {
	if v != V3 {
		for i, p := range pkts {
			if i > 0 {
				s.raw(RecordSeparator)
			}
			s.text(V4, p)
		}
		return false
	}
	if !base64 && hasBinary(pkts) {
		// The v3 binary payload format: a 0 (text) or 1 (binary) byte,
		// the packet's length as digit bytes, 255, the packet.
		for _, p := range pkts {
			kind, typ := byte(0), '0'+byte(p.Type)
			if p.Binary {
				kind, typ = 1, byte(p.Type)
			}
			s.raw(kind)
			s.number(1+len(p.Data), true)
			s.raw(0xff, typ)
			s.rawBytes(p.Data)
		}
		return true
	}
	if len(pkts) == 0 {
		s.raw('0', ':')
		return false
	}
	for _, p := range pkts {
		s.number(textUTF16Len(V3, p), false)
		s.raw(':')
		s.text(V3, p)
	}
	return false
}

func hasBinary(pkts []Packet) bool {
	for _, p := range pkts {
		if p.Binary {
			return true
		}
	}
	return false
}
