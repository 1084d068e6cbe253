package msgpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Decoder reads MessagePack values one after the other from a buffer, so
// that a caller can parse an adapter's envelope field by field:
//
//	var d msgpack.Decoder
//	d.Reset(msg)
//	n, err := d.ReadArrayHeader()
//	uid, err := d.ReadStrBytes()
//	pairs, err := d.ReadMapHeader()
//	for range pairs {
//		key, err := d.ReadStrBytes()
//		switch string(key) {
//		case "type":
//			typ, err = d.ReadInt()
//		case "data":
//			data, atts, err = d.ReadJSON(data[:0], atts[:0])
//		default:
//			err = d.Skip()
//		}
//	}
//
// A read that fails leaves the Decoder where it was, so the caller may try
// another type ([Decoder.Peek] tells the type first). Values that alias the
// buffer ([Decoder.ReadStrBytes], [Decoder.ReadBin], [Decoder.ReadRaw], the
// attachments of [Decoder.ReadJSON]) are valid as long as the buffer is.
//
// Every length and count is checked against the bytes left before it is
// used: a header that claims more than the buffer holds fails with
// ErrTruncated at once, without allocating. The zero Decoder holds no data;
// Reset gives it some. A Decoder is not safe for concurrent use.
type Decoder struct {
	// Flavor selects the library whose decoding is mirrored by ReadJSON and
	// ReadAny (extension types, map keys).
	Flavor Flavor
	// MaxDepth limits the nesting that ReadJSON and ReadAny accept; 0 means
	// DefaultMaxDepth.
	MaxDepth int

	buf []byte
	off int
}

// Reset makes the Decoder read b from its start.
func (d *Decoder) Reset(b []byte) {
	d.buf, d.off = b, 0
}

// Len returns the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.buf) - d.off }

// Rest returns the bytes not read yet.
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

// Offset returns the number of bytes read.
func (d *Decoder) Offset() int { return d.off }

func (d *Decoder) maxDepth() int {
	if d.MaxDepth > 0 {
		return d.MaxDepth
	}
	return DefaultMaxDepth
}

// head reads the header of the next value.
func (d *Decoder) head() (head, error) {
	h, err := parseHead(d.buf[d.off:])
	if err != nil {
		return h, d.errorf(err)
	}
	return h, nil
}

func (d *Decoder) errorf(err error) error {
	if d.off < len(d.buf) {
		return fmt.Errorf("failed to decode msgpack: %w at offset %d (0x%02x)", err, d.off, d.buf[d.off])
	}
	return fmt.Errorf("failed to decode msgpack: %w at offset %d", err, d.off)
}

func (d *Decoder) typeError(want string, h head) error {
	return d.errorf(fmt.Errorf("%w: expected %s, found %s", ErrType, want, h.typ))
}

// Peek returns the type of the next value without reading it. It fails
// with ErrTruncated at the end of the data and with ErrInvalid on a byte
// that starts no value.
func (d *Decoder) Peek() (Type, error) {
	h, err := d.head()
	return h.typ, err
}

// ReadNil reads a nil.
func (d *Decoder) ReadNil() error {
	h, err := d.head()
	if err != nil {
		return err
	}
	if h.typ != NilType {
		return d.typeError("nil", h)
	}
	d.off++
	return nil
}

// ReadBool reads a bool.
func (d *Decoder) ReadBool() (bool, error) {
	h, err := d.head()
	if err != nil {
		return false, err
	}
	if h.typ != BoolType {
		return false, d.typeError("bool", h)
	}
	v := d.buf[d.off] == 0xc3
	d.off++
	return v, nil
}

// ReadInt reads an integer that fits an int64: an int or uint format, or,
// since JavaScript has one number type, a float whose value is such an
// integer. Other numbers fail with ErrRange, other types with ErrType.
func (d *Decoder) ReadInt() (int64, error) {
	h, err := d.head()
	if err != nil {
		return 0, err
	}
	b := d.buf[d.off:]
	switch h.typ {
	case IntType:
		i, u, neg := intOf(b, h)
		if !neg {
			if u > math.MaxInt64 {
				return 0, d.errorf(fmt.Errorf("%w: %d does not fit an int64", ErrRange, u))
			}
			i = int64(u)
		}
		d.off += h.size()
		return i, nil
	case FloatType:
		f := numberOf(b, h)
		if f != math.Trunc(f) || f < math.MinInt64 || f >= 1<<63 {
			return 0, d.errorf(fmt.Errorf("%w: %v is not an int64", ErrRange, f))
		}
		d.off += h.size()
		return int64(f), nil
	}
	return 0, d.typeError("int", h)
}

// ReadUint reads an integer that fits a uint64, as [Decoder.ReadInt] does.
func (d *Decoder) ReadUint() (uint64, error) {
	h, err := d.head()
	if err != nil {
		return 0, err
	}
	b := d.buf[d.off:]
	switch h.typ {
	case IntType:
		i, u, neg := intOf(b, h)
		if neg {
			return 0, d.errorf(fmt.Errorf("%w: %d is negative", ErrRange, i))
		}
		d.off += h.size()
		return u, nil
	case FloatType:
		f := numberOf(b, h)
		if f != math.Trunc(f) || f < 0 || f >= 1<<64 {
			return 0, d.errorf(fmt.Errorf("%w: %v is not a uint64", ErrRange, f))
		}
		d.off += h.size()
		return uint64(f), nil
	}
	return 0, d.typeError("uint", h)
}

// ReadFloat reads any number as the JavaScript number Node makes of it:
// 64-bit integers beyond 2^53 are rounded to the nearest double.
func (d *Decoder) ReadFloat() (float64, error) {
	h, err := d.head()
	if err != nil {
		return 0, err
	}
	if h.typ != IntType && h.typ != FloatType {
		return 0, d.typeError("number", h)
	}
	f := numberOf(d.buf[d.off:], h)
	d.off += h.size()
	return f, nil
}

// ReadStrBytes reads a str and returns its bytes, which alias the buffer
// and are not checked to be UTF-8.
func (d *Decoder) ReadStrBytes() ([]byte, error) {
	h, err := d.head()
	if err != nil {
		return nil, err
	}
	if h.typ != StrType {
		return nil, d.typeError("str", h)
	}
	b := d.buf[d.off+h.hlen : d.off+h.size() : d.off+h.size()]
	d.off += h.size()
	return b, nil
}

// ReadStr reads a str as a Go string, with ill-formed UTF-8 replaced by
// U+FFFD as Node decodes it.
func (d *Decoder) ReadStr() (string, error) {
	b, err := d.ReadStrBytes()
	if err != nil {
		return "", err
	}
	return string(appendUTF8(nil, b)), nil
}

// ReadText reads a str, nil as "", or any other value as the text
// JavaScript would make of it (a number's digits, true, false; arrays and
// maps as their JSON), as Node turns an id or a room name into a string.
func (d *Decoder) ReadText() (string, error) {
	switch t, err := d.Peek(); {
	case err != nil:
		return "", err
	case t == StrType:
		return d.ReadStr()
	case t == NilType:
		return "", d.ReadNil()
	}
	raw, _, err := d.ReadJSON(nil, nil)
	if err != nil {
		return "", err
	}
	return string(raw), nil
}

// ReadBin reads a bin and returns its bytes, which alias the buffer. With
// the Notepack flavor it also reads the old ArrayBuffer extension (ext 8–32
// of type 0), which notepack.io still decodes as binary.
func (d *Decoder) ReadBin() ([]byte, error) {
	h, err := d.head()
	if err != nil {
		return nil, err
	}
	if !(h.typ == BinType || d.Flavor == Notepack && h.typ == ExtType && h.ext == 0 && d.buf[d.off] <= 0xc9) {
		return nil, d.typeError("bin", h)
	}
	b := d.buf[d.off+h.hlen : d.off+h.size() : d.off+h.size()]
	d.off += h.size()
	return b, nil
}

// ReadArrayHeader reads the header of an array and returns its number of
// elements, which the caller reads next.
func (d *Decoder) ReadArrayHeader() (int, error) {
	h, err := d.head()
	if err != nil {
		return 0, err
	}
	if h.typ != ArrayType {
		return 0, d.typeError("array", h)
	}
	d.off += h.hlen
	return h.n, nil
}

// ReadMapHeader reads the header of a map and returns its number of pairs,
// whose keys and values the caller reads next.
func (d *Decoder) ReadMapHeader() (int, error) {
	h, err := d.head()
	if err != nil {
		return 0, err
	}
	if h.typ != MapType {
		return 0, d.typeError("map", h)
	}
	d.off += h.hlen
	return h.n, nil
}

// Skip reads the next value, nested values included, and discards it. It
// checks the structure (headers and lengths), not the contents (UTF-8,
// extension payloads). It needs no memory and no recursion at any depth.
func (d *Decoder) Skip() error {
	start := d.off
	for pending := 1; pending > 0; pending-- {
		h, err := d.head()
		if err != nil {
			d.off = start
			return err
		}
		switch h.typ {
		case ArrayType:
			d.off += h.hlen
			pending += h.n
		case MapType:
			d.off += h.hlen
			pending += 2 * h.n
		default:
			d.off += h.size()
		}
	}
	return nil
}

// ReadRaw reads the next value as [Decoder.Skip] does and returns its
// bytes, which alias the buffer.
func (d *Decoder) ReadRaw() ([]byte, error) {
	start := d.off
	if err := d.Skip(); err != nil {
		return nil, err
	}
	return d.buf[start:d.off:d.off], nil
}

// extKind classifies an extension value as the flavor's library decodes it.
type extKind uint8

const (
	extUndefined   extKind = iota // notepack: fixext 1 of type 0 (undefined)
	extArrayBuffer                // notepack: ext 8–32 of type 0
	extDate                       // timestamp (type -1), and notepack's old fixext 8 date (type 0)
	extPair                       // notepack: any other, decoded as [type, Buffer]
	extObject                     // @msgpack/msgpack: any other, decoded as ExtData {type, data}
)

// ext classifies the extension value at the start of b, whose head is h,
// and for a date returns its time value t (milliseconds, as a JavaScript
// Date holds it; NaN-free but possibly out of the valid range).
func (d *Decoder) ext(b []byte, h head) (kind extKind, t float64, err error) {
	p := b[h.hlen:h.size()]
	if d.Flavor == MsgpackJS {
		if h.ext != -1 {
			return extObject, 0, nil
		}
		switch h.n {
		case 4, 8, 12:
			return extDate, timestampMillis(p), nil
		}
		return 0, 0, fmt.Errorf("%w: timestamp of %d bytes", ErrInvalid, h.n)
	}
	switch c := b[0]; {
	case c == 0xd4 && h.ext == 0:
		return extUndefined, 0, nil
	case c == 0xd6 && h.ext == -1, c == 0xd7 && h.ext == -1:
		return extDate, timestampMillis(p), nil
	case c == 0xd7 && h.ext == 0:
		// notepack.io 2's date: milliseconds as a signed 64-bit integer.
		hi := int32(binary.BigEndian.Uint32(p))
		lo := binary.BigEndian.Uint32(p[4:])
		return extDate, float64(hi)*(1<<32) + float64(lo), nil
	case c <= 0xc9 && h.ext == 0:
		return extArrayBuffer, 0, nil
	case c == 0xc7 && h.ext == -1:
		// notepack.io reads 12 bytes whatever the length says: another
		// length would desynchronize it, so it is refused here.
		if h.n != 12 {
			return 0, 0, fmt.Errorf("%w: timestamp of %d bytes", ErrInvalid, h.n)
		}
		return extDate, timestampMillis(p), nil
	}
	return extPair, 0, nil
}

// timestampMillis returns the time value that both libraries compute for a
// timestamp payload of 4, 8 or 12 bytes, in the same floating-point steps
// (the explicit conversions keep Go from fusing them).
func timestampMillis(p []byte) float64 {
	switch len(p) {
	case 4:
		return float64(binary.BigEndian.Uint32(p)) * 1e3
	case 8:
		hi := binary.BigEndian.Uint32(p)
		lo := binary.BigEndian.Uint32(p[4:])
		sec := float64(hi&3)*(1<<32) + float64(lo)
		return float64(sec*1e3) + float64(hi>>2)/1e6
	default:
		nsec := binary.BigEndian.Uint32(p)
		hi := int32(binary.BigEndian.Uint32(p[4:]))
		lo := binary.BigEndian.Uint32(p[8:])
		sec := float64(float64(hi)*(1<<32)) + float64(lo)
		return float64(sec*1e3) + float64(nsec)/1e6
	}
}

// ReadAny reads the next value into a Go value, as the flavor's library
// decodes it into a JavaScript value:
//
//	nil                     nil (and notepack's undefined; a map key whose value is undefined is left out)
//	bool                    bool
//	int, uint               int64, or uint64 above math.MaxInt64
//	float 32, float 64      float64
//	str                     string (ill-formed UTF-8 replaced by U+FFFD)
//	bin                     []byte (a copy)
//	array                   []any
//	map                     map[string]any (keys as JavaScript turns them into property names; the last duplicate wins)
//	timestamp               time.Time in UTC, to the millisecond (nil for an invalid date)
//	other ext (Notepack)    []any{int64(type), []byte(data)}, or []byte for the old ArrayBuffer (type 0)
//	other ext (MsgpackJS)   map[string]any{"type": int64(type), "data": []byte(data)}
//
// The key "__proto__" is left out (Notepack: assigning it sets the
// prototype) or refused with ErrInvalid (MsgpackJS). Values nested deeper
// than MaxDepth fail with ErrDepth.
func (d *Decoder) ReadAny() (any, error) {
	start := d.off
	v, err := d.any(0)
	if err != nil {
		d.off = start
		return nil, err
	}
	return v, nil
}

// Unmarshal decodes msg, which must hold exactly one value, with ReadAny's
// rules for the Notepack flavor (as notepack.io's decode, which also refuses
// trailing bytes).
func Unmarshal(msg []byte) (any, error) {
	var d Decoder
	d.Reset(msg)
	v, err := d.ReadAny()
	if err != nil {
		return nil, err
	}
	if d.Len() > 0 {
		return nil, d.errorf(fmt.Errorf("%w: %d trailing bytes", ErrInvalid, d.Len()))
	}
	return v, nil
}

func (d *Decoder) any(depth int) (any, error) {
	h, err := d.head()
	if err != nil {
		return nil, err
	}
	b := d.buf[d.off:]
	switch h.typ {
	case NilType:
		d.off++
		return nil, nil
	case BoolType:
		d.off++
		return b[0] == 0xc3, nil
	case IntType:
		d.off += h.size()
		i, u, neg := intOf(b, h)
		switch {
		case neg:
			return i, nil
		case u <= math.MaxInt64:
			return int64(u), nil
		}
		return u, nil
	case FloatType:
		d.off += h.size()
		return numberOf(b, h), nil
	case StrType:
		d.off += h.size()
		return string(appendUTF8(nil, b[h.hlen:h.size()])), nil
	case BinType:
		d.off += h.size()
		return append([]byte{}, b[h.hlen:h.size()]...), nil
	case ArrayType:
		if depth >= d.maxDepth() {
			return nil, d.errorf(fmt.Errorf("%w: more than %d levels", ErrDepth, d.maxDepth()))
		}
		d.off += h.hlen
		a := make([]any, h.n) // h.n <= bytes left
		for i := range a {
			if a[i], err = d.any(depth + 1); err != nil {
				return nil, err
			}
		}
		return a, nil
	case MapType:
		if depth >= d.maxDepth() {
			return nil, d.errorf(fmt.Errorf("%w: more than %d levels", ErrDepth, d.maxDepth()))
		}
		d.off += h.hlen
		m := make(map[string]any, min(h.n, 64))
		var kb []byte
		for range h.n {
			kb, err = d.mapKey(kb[:0], depth+1)
			if err != nil {
				return nil, err
			}
			if d.Flavor == Notepack && d.undefinedNext() {
				d.off += 3
				continue
			}
			v, err := d.any(depth + 1)
			if err != nil {
				return nil, err
			}
			if string(kb) == "__proto__" {
				continue // notepack: sets the prototype, no own property
			}
			m[string(kb)] = v
		}
		return m, nil
	}
	// ExtType
	kind, t, err := d.ext(b, h)
	if err != nil {
		return nil, d.errorf(err)
	}
	d.off += h.size()
	data := b[h.hlen:h.size()]
	switch kind {
	case extUndefined:
		return nil, nil
	case extArrayBuffer:
		return append([]byte{}, data...), nil
	case extDate:
		ms, ok := timeClip(t)
		if !ok {
			return nil, nil
		}
		return time.UnixMilli(ms).UTC(), nil
	case extPair:
		return []any{int64(h.ext), append([]byte{}, data...)}, nil
	}
	return map[string]any{"type": int64(h.ext), "data": append([]byte{}, data...)}, nil
}

// undefinedNext reports whether the next value is notepack's undefined.
func (d *Decoder) undefinedNext() bool {
	b := d.buf[d.off:]
	return len(b) >= 3 && b[0] == 0xd4 && b[1] == 0
}
