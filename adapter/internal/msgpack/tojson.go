package msgpack

import (
	"fmt"
	"strconv"
)

// ToJSON transcodes the first MessagePack value of msg into JSON appended
// to dst, with a binary placeholder for each bin, as Node's socket.io writes
// a packet whose data notepack.io decoded from msg (see
// [Decoder.ReadJSON]). It returns the extended dst, the attachments the
// placeholders refer to (aliasing msg), and the bytes of msg after the
// value. On error it returns dst unchanged.
func ToJSON(dst, msg []byte) (json []byte, attachments [][]byte, rest []byte, err error) {
	var d Decoder
	d.Reset(msg)
	json, attachments, err = d.ReadJSON(dst, nil)
	return json, attachments, d.Rest(), err
}

// ReadJSON reads the next value and appends it to dst as the JSON text that
// Node's socket.io sends for the JavaScript value that the flavor's library
// decodes (JSON.stringify after socket.io-parser's deconstructPacket):
//
//   - each bin becomes a placeholder {"_placeholder":true,"num":N} and is
//     appended to atts, N counting from len(atts) in document order; the
//     attachments alias the buffer;
//   - numbers are written as JavaScript writes them (shortest round-trip
//     digits, 1e+21, 1.5e-7, -0 as 0); 64-bit integers beyond 2^53 are
//     first rounded to a double, as Node's decoders do; NaN and the
//     infinities, which float formats can hold, become null;
//   - str is quoted as JSON.stringify does, with ill-formed UTF-8 replaced
//     by U+FFFD;
//   - maps become objects with their pairs in the order of the data (see
//     the package documentation for how that differs from Node); keys that
//     are not str become the property names JavaScript makes of them with
//     Notepack (1 → "1", null → "null", [1,2] → "1,2"), and fail with
//     ErrInvalid with MsgpackJS unless they are numbers;
//   - a timestamp becomes the ISO string JSON.stringify writes for a Date
//     (null for an invalid date);
//   - other extensions become [type, bin] with Notepack and
//     {"type":type,"data":bin} with MsgpackJS; notepack's old ArrayBuffer
//     (ext 8–32 of type 0) is a bin and its undefined (fixext 1 of type 0)
//     is null in an array and leaves its key out in a map.
//
// Arrays and maps nested deeper than MaxDepth fail with ErrDepth. On error
// ReadJSON returns dst and atts with their original lengths and leaves the
// Decoder where it was.
func (d *Decoder) ReadJSON(dst []byte, atts [][]byte) ([]byte, [][]byte, error) {
	start, natts, off := len(dst), len(atts), d.off
	dst, atts, err := d.json(dst, atts, 0)
	if err != nil {
		d.off = off
		return dst[:start], atts[:natts], err
	}
	return dst, atts, nil
}

// placeholder appends a socket.io-parser binary placeholder for b.
func placeholder(dst []byte, atts [][]byte, b []byte) ([]byte, [][]byte) {
	dst = append(dst, `{"_placeholder":true,"num":`...)
	dst = strconv.AppendInt(dst, int64(len(atts)), 10)
	return append(dst, '}'), append(atts, b)
}

func (d *Decoder) depthError() error {
	return d.errorf(fmt.Errorf("%w: more than %d levels", ErrDepth, d.maxDepth()))
}

// json appends the next value, which is inside depth arrays and maps.
func (d *Decoder) json(dst []byte, atts [][]byte, depth int) ([]byte, [][]byte, error) {
	h, err := d.head()
	if err != nil {
		return dst, atts, err
	}
	b := d.buf[d.off:]
	switch h.typ {
	case NilType:
		dst = append(dst, "null"...)
	case BoolType:
		if b[0] == 0xc3 {
			dst = append(dst, "true"...)
		} else {
			dst = append(dst, "false"...)
		}
	case IntType:
		i, u, neg := intOf(b, h)
		switch {
		case neg && i >= -maxSafeInteger:
			dst = strconv.AppendInt(dst, i, 10)
		case !neg && u <= maxSafeInteger:
			dst = strconv.AppendUint(dst, u, 10)
		default:
			dst = appendJSONNumber(dst, numberOf(b, h))
		}
	case FloatType:
		dst = appendJSONNumber(dst, numberOf(b, h))
	case StrType:
		dst = appendQuoted(dst, b[h.hlen:h.size()])
	case BinType:
		dst, atts = placeholder(dst, atts, b[h.hlen:h.size():h.size()])
	case ArrayType:
		if depth >= d.maxDepth() {
			return dst, atts, d.depthError()
		}
		d.off += h.hlen
		dst = append(dst, '[')
		for i := range h.n {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, atts, err = d.json(dst, atts, depth+1); err != nil {
				return dst, atts, err
			}
		}
		return append(dst, ']'), atts, nil
	case MapType:
		if depth >= d.maxDepth() {
			return dst, atts, d.depthError()
		}
		d.off += h.hlen
		return d.jsonMap(dst, atts, h.n, depth+1)
	case ExtType:
		kind, t, err := d.ext(b, h)
		if err != nil {
			return dst, atts, d.errorf(err)
		}
		data := b[h.hlen:h.size():h.size()]
		switch kind {
		case extUndefined:
			dst = append(dst, "null"...)
		case extArrayBuffer:
			dst, atts = placeholder(dst, atts, data)
		case extDate:
			if ms, ok := timeClip(t); ok {
				dst = append(dst, '"')
				dst = appendISODate(dst, ms)
				dst = append(dst, '"')
			} else {
				dst = append(dst, "null"...)
			}
		case extPair:
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, int64(h.ext), 10)
			dst = append(dst, ',')
			dst, atts = placeholder(dst, atts, data)
			dst = append(dst, ']')
		case extObject:
			dst = append(dst, `{"type":`...)
			dst = strconv.AppendInt(dst, int64(h.ext), 10)
			dst = append(dst, `,"data":`...)
			dst, atts = placeholder(dst, atts, data)
			dst = append(dst, '}')
		}
	}
	d.off += h.size()
	return dst, atts, nil
}

// jsonMap appends an object of n pairs, whose keys and values follow.
func (d *Decoder) jsonMap(dst []byte, atts [][]byte, n, depth int) ([]byte, [][]byte, error) {
	dst = append(dst, '{')
	first := true
	var err error
	for range n {
		mark, natts := len(dst), len(atts)
		if !first {
			dst = append(dst, ',')
		}
		keyStart := len(dst)
		if dst, err = d.jsonKey(dst, depth); err != nil {
			return dst, atts, err
		}
		proto := string(dst[keyStart:]) == `"__proto__"`
		dst = append(dst, ':')
		if d.Flavor == Notepack && d.undefinedNext() {
			// JSON.stringify leaves out a property whose value is undefined.
			d.off += 3
			dst = dst[:mark]
			continue
		}
		if dst, atts, err = d.json(dst, atts, depth); err != nil {
			return dst, atts, err
		}
		if proto {
			// notepack.io assigns value["__proto__"], which sets the
			// prototype (or does nothing) instead of adding a property.
			dst, atts = dst[:mark], atts[:natts]
			continue
		}
		first = false
	}
	return append(dst, '}'), atts, nil
}

// jsonKey appends the next value, a map key, as a quoted property name.
func (d *Decoder) jsonKey(dst []byte, depth int) ([]byte, error) {
	h, err := d.head()
	if err != nil {
		return dst, err
	}
	if h.typ == StrType {
		b := d.buf[d.off:]
		p := b[h.hlen:h.size()]
		if d.Flavor == MsgpackJS && string(p) == "__proto__" {
			return dst, d.errorf(fmt.Errorf("%w: the key __proto__ is not allowed", ErrInvalid))
		}
		d.off += h.size()
		return appendQuoted(dst, p), nil
	}
	// Rare: build the property name apart, then quote it.
	name, err := d.mapKey(nil, depth)
	if err != nil {
		return dst, err
	}
	return appendQuoted(dst, name), nil
}

// mapKey reads the next value, a map key, and appends the property name
// that JavaScript makes of it (ToPropertyKey of the decoded value); with
// MsgpackJS only str and numbers are allowed, as @msgpack/msgpack checks.
func (d *Decoder) mapKey(dst []byte, depth int) ([]byte, error) {
	if d.Flavor == MsgpackJS {
		h, err := d.head()
		if err != nil {
			return dst, err
		}
		b := d.buf[d.off:]
		switch h.typ {
		case StrType:
			p := b[h.hlen:h.size()]
			if string(p) == "__proto__" {
				return dst, d.errorf(fmt.Errorf("%w: the key __proto__ is not allowed", ErrInvalid))
			}
			d.off += h.size()
			return appendUTF8(dst, p), nil
		case IntType, FloatType:
			d.off += h.size()
			return appendNumberString(dst, numberOf(b, h)), nil
		}
		return dst, d.errorf(fmt.Errorf("%w: a map key must be a string or a number, found %s", ErrInvalid, h.typ))
	}
	return d.keyText(dst, depth, false)
}

// keyText reads the next value and appends String(value) as JavaScript
// computes it for a notepack.io-decoded value: Array.prototype.join(",") for
// arrays (null and undefined elements are empty), "[object Object]" for
// maps, Buffer#toString() (UTF-8) for bin, Date#toString() in UTC for dates.
func (d *Decoder) keyText(dst []byte, depth int, inArray bool) ([]byte, error) {
	h, err := d.head()
	if err != nil {
		return dst, err
	}
	b := d.buf[d.off:]
	switch h.typ {
	case NilType:
		if !inArray {
			dst = append(dst, "null"...)
		}
	case BoolType:
		if b[0] == 0xc3 {
			dst = append(dst, "true"...)
		} else {
			dst = append(dst, "false"...)
		}
	case IntType, FloatType:
		dst = appendNumberString(dst, numberOf(b, h))
	case StrType, BinType:
		dst = appendUTF8(dst, b[h.hlen:h.size()])
	case ArrayType:
		if depth >= d.maxDepth() {
			return dst, d.depthError()
		}
		d.off += h.hlen
		for i := range h.n {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = d.keyText(dst, depth+1, true); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case MapType:
		// Decode it as notepack.io would (so that it fails as it would),
		// and drop it.
		if _, _, err := d.json(nil, nil, depth); err != nil {
			return dst, err
		}
		return append(dst, "[object Object]"...), nil
	case ExtType:
		kind, t, err := d.ext(b, h)
		if err != nil {
			return dst, d.errorf(err)
		}
		data := b[h.hlen:h.size()]
		switch kind {
		case extUndefined:
			if !inArray {
				dst = append(dst, "undefined"...)
			}
		case extArrayBuffer:
			dst = append(dst, "[object ArrayBuffer]"...)
		case extDate:
			if ms, ok := timeClip(t); ok {
				dst = appendDateString(dst, ms)
			} else {
				dst = append(dst, "Invalid Date"...)
			}
		default: // extPair: [type, Buffer]
			dst = strconv.AppendInt(dst, int64(h.ext), 10)
			dst = append(dst, ',')
			dst = appendUTF8(dst, data)
		}
	}
	d.off += h.size()
	return dst, nil
}
