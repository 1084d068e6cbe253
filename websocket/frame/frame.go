package frame

import (
	"encoding/binary"
	"errors"
	"math"
	"unicode/utf8"
)

// OpCode is a frame's opcode (RFC 6455, section 5.2).
type OpCode byte

// The opcodes RFC 6455 defines.
const (
	OpContinuation OpCode = 0x0
	OpText         OpCode = 0x1
	OpBinary       OpCode = 0x2
	OpClose        OpCode = 0x8
	OpPing         OpCode = 0x9
	OpPong         OpCode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode).
func (op OpCode) IsControl() bool { return op&0x8 != 0 }

// IsReserved reports whether op is one of the opcodes RFC 6455 reserves for
// future use (0x3–0x7 and 0xB–0xF).
func (op OpCode) IsReserved() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String returns the opcode's name.
func (op OpCode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}

// MaxHeaderSize is the largest a frame header can be: 2 bytes, an 8-byte
// extended length and a 4-byte masking key.
const MaxHeaderSize = 14

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Rsv1   bool // set on the first frame of a compressed message (RFC 7692)
	Rsv2   bool
	Rsv3   bool
	OpCode OpCode
	Masked bool
	Mask   [4]byte
	Length int64
}

// Errors returned by [ParseHeader].
var (
	// ErrShortHeader means more bytes are needed to decode the header.
	ErrShortHeader = errors.New("frame header is incomplete")
	// ErrNonMinimalLength means the payload length was not encoded in the
	// fewest bytes possible.
	ErrNonMinimalLength = errors.New("frame payload length is not minimally encoded")
	// ErrLengthTopBit means the 64-bit payload length had its most
	// significant bit set, which RFC 6455, section 5.2, forbids.
	ErrLengthTopBit = errors.New("frame payload length has its most significant bit set")
)

// HeaderSize returns the number of bytes h takes on the wire.
func HeaderSize(h Header) int {
	n := 2
	switch {
	case h.Length > math.MaxUint16:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// ParseHeader decodes the frame header at the start of b and returns it with
// the number of bytes it took. It returns [ErrShortHeader] if b does not yet
// hold the whole header, [ErrNonMinimalLength] or [ErrLengthTopBit] for a
// payload length RFC 6455 forbids (as soon as its bytes are there).
func ParseHeader(b []byte) (Header, int, error) {
	var h Header
	if len(b) < 2 {
		return h, 0, ErrShortHeader
	}
	b0, b1 := b[0], b[1]
	h.Fin = b0&0x80 != 0
	h.Rsv1 = b0&0x40 != 0
	h.Rsv2 = b0&0x20 != 0
	h.Rsv3 = b0&0x10 != 0
	h.OpCode = OpCode(b0 & 0x0f)
	h.Masked = b1&0x80 != 0
	n := 2
	switch l := b1 & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, ErrShortHeader
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		n = 4
		if h.Length < 126 {
			return h, 0, ErrNonMinimalLength
		}
	case 127:
		if len(b) < 10 {
			return h, 0, ErrShortHeader
		}
		u := binary.BigEndian.Uint64(b[2:])
		n = 10
		if u > math.MaxInt64 {
			return h, 0, ErrLengthTopBit
		}
		if u <= math.MaxUint16 {
			return h, 0, ErrNonMinimalLength
		}
		h.Length = int64(u)
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, ErrShortHeader
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// PutHeader encodes h into b, which must have room for [HeaderSize](h)
// bytes (at most [MaxHeaderSize]), and returns the number of bytes written.
func PutHeader(b []byte, h Header) int {
	b0 := byte(h.OpCode)
	if h.Fin {
		b0 |= 0x80
	}
	if h.Rsv1 {
		b0 |= 0x40
	}
	if h.Rsv2 {
		b0 |= 0x20
	}
	if h.Rsv3 {
		b0 |= 0x10
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	n := 2
	switch {
	case h.Length > math.MaxUint16:
		_ = b[9]
		b[1] = b1 | 127
		binary.BigEndian.PutUint64(b[2:], uint64(h.Length))
		n = 10
	case h.Length > 125:
		_ = b[3]
		b[1] = b1 | 126
		binary.BigEndian.PutUint16(b[2:], uint16(h.Length))
		n = 4
	default:
		b[1] = b1 | byte(h.Length)
	}
	b[0] = b0
	if h.Masked {
		copy(b[n:n+4], h.Mask[:])
		n += 4
	}
	return n
}

// AppendHeader appends the encoding of h to dst.
func AppendHeader(dst []byte, h Header) []byte {
	var b [MaxHeaderSize]byte
	n := PutHeader(b[:], h)
	return append(dst, b[:n]...)
}

// Mask XORs b in place with the masking key, starting at key position pos
// (0–3), and returns the key position for the byte after b. Masking is its
// own inverse, so Mask also unmasks.
//
// It works a machine word at a time, or 32 bytes at a time with AVX2 on
// amd64.
func Mask(key [4]byte, pos int, b []byte) int {
	pos &= 3
	// Byte at a time until the key is aligned to its start.
	for pos != 0 && len(b) > 0 {
		b[0] ^= key[pos]
		b = b[1:]
		pos = (pos + 1) & 3
	}
	if len(b) >= 8 {
		k32 := uint64(binary.LittleEndian.Uint32(key[:]))
		k := k32 | k32<<32
		if hasMaskWide && len(b) >= maskWideMin {
			n := len(b) &^ 31
			maskCopyWide(&b[0], &b[0], n, k)
			b = b[n:]
		}
		for len(b) >= 64 {
			v := binary.LittleEndian.Uint64(b)
			binary.LittleEndian.PutUint64(b, v^k)
			v = binary.LittleEndian.Uint64(b[8:])
			binary.LittleEndian.PutUint64(b[8:], v^k)
			v = binary.LittleEndian.Uint64(b[16:])
			binary.LittleEndian.PutUint64(b[16:], v^k)
			v = binary.LittleEndian.Uint64(b[24:])
			binary.LittleEndian.PutUint64(b[24:], v^k)
			v = binary.LittleEndian.Uint64(b[32:])
			binary.LittleEndian.PutUint64(b[32:], v^k)
			v = binary.LittleEndian.Uint64(b[40:])
			binary.LittleEndian.PutUint64(b[40:], v^k)
			v = binary.LittleEndian.Uint64(b[48:])
			binary.LittleEndian.PutUint64(b[48:], v^k)
			v = binary.LittleEndian.Uint64(b[56:])
			binary.LittleEndian.PutUint64(b[56:], v^k)
			b = b[64:]
		}
		for len(b) >= 8 {
			v := binary.LittleEndian.Uint64(b)
			binary.LittleEndian.PutUint64(b, v^k)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[pos]
		pos = (pos + 1) & 3
	}
	return pos
}

// MaskCopy writes src XORed with the masking key, starting at key position
// pos (0–3), to dst, which must be at least as long, and returns the key
// position for the byte after src. It is [Mask] applied to a copy, in one
// pass over the bytes; src and dst must not overlap unless they are the
// same.
func MaskCopy(key [4]byte, pos int, dst, src []byte) int {
	dst = dst[:len(src)]
	pos &= 3
	i := 0
	if hasMaskWide {
		// Byte at a time until the key is aligned, then the bulk masked
		// as it is copied, 32 bytes per instruction.
		for ; pos != 0 && i < len(src); i++ {
			dst[i] = src[i] ^ key[pos]
			pos = (pos + 1) & 3
		}
		if n := (len(src) - i) &^ 31; n >= maskWideMin {
			k32 := uint64(binary.LittleEndian.Uint32(key[:]))
			maskCopyWide(&dst[i], &src[i], n, k32|k32<<32)
			i += n
		}
	}
	// The rest (all of it without the wide code): a copy, then Mask's
	// word loop, which is faster than one loop doing both.
	copy(dst[i:], src[i:])
	return Mask(key, pos, dst[i:])
}

// ValidCloseCode reports whether code may appear in a close frame sent by a
// peer (RFC 6455, section 7.4): 1000–1003, 1007–1011 (and 1012–1014, which
// IANA registered later), or 3000–4999. Codes 1004–1006 and 1015 are
// reserved for local use and must never be sent.
func ValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// Errors returned by [ParseClose].
var (
	ErrCloseTooShort     = errors.New("close frame payload of 1 byte")
	ErrCloseCodeInvalid  = errors.New("close frame has an invalid status code")
	ErrCloseReasonNotUTF = errors.New("close frame reason is not valid UTF-8")
)

// ParseClose decodes a close frame's payload. An empty payload yields code
// 1005 (no status received) and no error.
func ParseClose(p []byte) (code uint16, reason []byte, err error) {
	switch {
	case len(p) == 0:
		return 1005, nil, nil
	case len(p) == 1:
		return 0, nil, ErrCloseTooShort
	}
	code = binary.BigEndian.Uint16(p)
	if !ValidCloseCode(code) {
		return code, nil, ErrCloseCodeInvalid
	}
	reason = p[2:]
	if !utf8.Valid(reason) {
		return code, nil, ErrCloseReasonNotUTF
	}
	return code, reason, nil
}

// AppendClose appends a close frame payload with code and reason to dst.
// The caller keeps reason short enough (123 bytes) for a control frame.
func AppendClose(dst []byte, code uint16, reason string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}
