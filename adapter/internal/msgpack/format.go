package msgpack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Flavor names the JavaScript MessagePack library whose choices an
// [Encoder] or a [Decoder] mirrors. Both write the smallest integer and
// length formats; they differ in how they encode integers beyond 2^53 and in
// how they decode extension types and map keys (see the package
// documentation).
type Flavor uint8

const (
	// Notepack mirrors notepack.io 3, the parser of @socket.io/redis-adapter
	// (classic and sharded adapters) and of @socket.io/redis-emitter. It is
	// the zero Flavor.
	Notepack Flavor = iota
	// MsgpackJS mirrors @msgpack/msgpack 2.8, the parser of
	// @socket.io/redis-streams-adapter and @socket.io/cluster-engine.
	MsgpackJS
)

// String returns the flavor's name.
func (f Flavor) String() string {
	switch f {
	case Notepack:
		return "notepack"
	case MsgpackJS:
		return "msgpack-js"
	}
	return fmt.Sprintf("Flavor(%d)", uint8(f))
}

// DefaultMaxDepth is the nesting limit of an [Encoder] or a [Decoder] whose
// MaxDepth is 0: how many arrays and maps deep a value may go.
const DefaultMaxDepth = 1000

// Errors returned by the encoding and decoding functions, wrapped with
// context (an offset, the types involved).
var (
	// ErrTruncated reports data that ends inside a value, including a
	// length or count that claims more bytes than the data has left.
	ErrTruncated = errors.New("unexpected end of data")
	// ErrInvalid reports bytes that are no MessagePack value (0xc1), or a
	// value that the flavor's JavaScript library refuses to decode (a
	// timestamp of a length it cannot read, a map key it does not allow).
	ErrInvalid = errors.New("invalid data")
	// ErrType reports a value of another type than the one asked for.
	ErrType = errors.New("unexpected type")
	// ErrRange reports a number that does not fit the type asked for.
	ErrRange = errors.New("number out of range")
	// ErrDepth reports arrays and maps nested deeper than the limit.
	ErrDepth = errors.New("nesting too deep")
	// ErrJSON reports input that is not valid JSON.
	ErrJSON = errors.New("invalid JSON")
	// ErrAttachments reports a binary placeholder that refers to no
	// attachment, as socket.io-parser's "illegal attachments".
	ErrAttachments = errors.New("illegal attachments")
	// ErrUnsupported reports a Go value that [Encoder.Any] cannot encode.
	ErrUnsupported = errors.New("unsupported type")
)

// Type is the type of a MessagePack value.
type Type uint8

// The types of MessagePack values.
const (
	InvalidType Type = iota
	NilType
	BoolType
	IntType   // positive and negative fixint, int 8–64, uint 8–64
	FloatType // float 32 and float 64
	StrType
	BinType
	ArrayType
	MapType
	ExtType // fixext 1–16, ext 8–32 (timestamps included)
)

var typeNames = [...]string{"invalid", "nil", "bool", "int", "float", "str", "bin", "array", "map", "ext"}

// String returns the type's name as the MessagePack specification spells it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// head describes the value at the start of a buffer: its type, the length
// of its header (format byte, length or count, ext type byte), and n: the
// payload length in bytes for str, bin, ext and the fixed-size types, the
// number of elements of an array or of pairs of a map.
type head struct {
	typ  Type
	hlen int
	n    int
	ext  int8
}

// size returns the length of a value that is not an array or a map.
func (h head) size() int { return h.hlen + h.n }

// parseHead reads the header of the value at the start of b. It fails with
// ErrTruncated when b is too short for the header, or for the payload or
// the element count it declares (an element takes at least one byte), so a
// hostile length never leads to work or memory beyond len(b).
func parseHead(b []byte) (head, error) {
	if len(b) == 0 {
		return head{}, ErrTruncated
	}
	var h head
	c := b[0]
	switch {
	case c <= 0x7f, c >= 0xe0:
		return head{typ: IntType, hlen: 1}, nil
	case c <= 0x8f:
		h = head{typ: MapType, hlen: 1, n: int(c & 0x0f)}
	case c <= 0x9f:
		h = head{typ: ArrayType, hlen: 1, n: int(c & 0x0f)}
	case c <= 0xbf:
		h = head{typ: StrType, hlen: 1, n: int(c & 0x1f)}
	default:
		var lenBytes int // bytes of the length field that follows c
		switch c {
		case 0xc0:
			return head{typ: NilType, hlen: 1}, nil
		case 0xc1:
			return head{}, ErrInvalid
		case 0xc2, 0xc3:
			return head{typ: BoolType, hlen: 1}, nil
		case 0xc4, 0xc5, 0xc6:
			h.typ, lenBytes = BinType, 1<<(c-0xc4)
		case 0xc7, 0xc8, 0xc9:
			h.typ, lenBytes = ExtType, 1<<(c-0xc7)
		case 0xca:
			h = head{typ: FloatType, hlen: 1, n: 4}
		case 0xcb:
			h = head{typ: FloatType, hlen: 1, n: 8}
		case 0xcc, 0xcd, 0xce, 0xcf:
			h = head{typ: IntType, hlen: 1, n: 1 << (c - 0xcc)}
		case 0xd0, 0xd1, 0xd2, 0xd3:
			h = head{typ: IntType, hlen: 1, n: 1 << (c - 0xd0)}
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
			if len(b) < 2 {
				return head{}, ErrTruncated
			}
			h = head{typ: ExtType, hlen: 2, n: 1 << (c - 0xd4), ext: int8(b[1])}
		case 0xd9, 0xda, 0xdb:
			h.typ, lenBytes = StrType, 1<<(c-0xd9)
		case 0xdc, 0xdd:
			h.typ, lenBytes = ArrayType, 2<<(c-0xdc)
		case 0xde, 0xdf:
			h.typ, lenBytes = MapType, 2<<(c-0xde)
		}
		if lenBytes > 0 {
			h.hlen = 1 + lenBytes
			if h.typ == ExtType {
				h.hlen++
			}
			if len(b) < h.hlen {
				return head{}, ErrTruncated
			}
			var n uint64
			switch lenBytes {
			case 1:
				n = uint64(b[1])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b[1:]))
			case 4:
				n = uint64(binary.BigEndian.Uint32(b[1:]))
			}
			if h.typ == ExtType {
				h.ext = int8(b[h.hlen-1])
			}
			// Check before converting: n may not fit an int on 32-bit
			// platforms.
			limit := uint64(len(b) - h.hlen)
			if h.typ == MapType {
				limit /= 2
			}
			if n > limit {
				return head{}, ErrTruncated
			}
			h.n = int(n)
			return h, nil
		}
	}
	rest := len(b) - h.hlen
	if h.typ == MapType {
		rest /= 2
	}
	if len(b) < h.hlen || h.n > rest {
		return head{}, ErrTruncated
	}
	return h, nil
}

// intOf returns the integer at the start of b, whose head is h (IntType):
// u is its value when neg is false, i when neg is true.
func intOf(b []byte, h head) (i int64, u uint64, neg bool) {
	c := b[0]
	switch {
	case c <= 0x7f:
		return 0, uint64(c), false
	case c >= 0xe0:
		return int64(int8(c)), 0, true
	}
	p := b[1:]
	switch c {
	case 0xcc:
		u = uint64(p[0])
	case 0xcd:
		u = uint64(binary.BigEndian.Uint16(p))
	case 0xce:
		u = uint64(binary.BigEndian.Uint32(p))
	case 0xcf:
		u = binary.BigEndian.Uint64(p)
	case 0xd0:
		i = int64(int8(p[0]))
	case 0xd1:
		i = int64(int16(binary.BigEndian.Uint16(p)))
	case 0xd2:
		i = int64(int32(binary.BigEndian.Uint32(p)))
	case 0xd3:
		i = int64(binary.BigEndian.Uint64(p))
	}
	if c >= 0xd0 {
		if i >= 0 {
			return 0, uint64(i), false
		}
		return i, 0, true
	}
	return 0, u, false
}

// numberOf returns the number at the start of b (IntType or FloatType) as
// the JavaScript number that Node's decoders make of it: 64-bit integers
// beyond 2^53 are rounded to the nearest double, float 32 is widened.
func numberOf(b []byte, h head) float64 {
	if h.typ == FloatType {
		if b[0] == 0xca {
			return float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:])))
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:]))
	}
	i, u, neg := intOf(b, h)
	if neg {
		return float64(i)
	}
	return float64(u)
}
