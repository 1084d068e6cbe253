package msgpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendJSON appends the MessagePack encoding of the JSON value data, whose
// binary placeholders {"_placeholder":true,"num":N} refer to attachments,
// as notepack.io (the classic and sharded adapters) encodes the value that
// socket.io-parser reconstructs from them. See [Encoder.JSON].
func AppendJSON(dst, data []byte, attachments [][]byte) ([]byte, error) {
	e := Encoder{Buf: dst}
	err := e.JSON(data, attachments)
	return e.Buf, err
}

// AppendJSONValue appends the MessagePack encoding of the JSON value data,
// which has no binary parts, as notepack.io encodes what JSON.parse makes
// of it. See [Encoder.JSONValue].
func AppendJSONValue(dst, data []byte) ([]byte, error) {
	e := Encoder{Buf: dst}
	err := e.JSONValue(data)
	return e.Buf, err
}

// JSON appends the MessagePack encoding of the JSON value data (Socket.IO
// packet data as Tether holds it), as the flavor's library encodes the value
// that Node makes of data and its binary attachments:
//
//   - when attachments is not empty, each object whose "_placeholder" is
//     true becomes a bin holding attachments[num], where num must be an
//     integer from 0 to len(attachments)-1 (ErrAttachments otherwise, as
//     socket.io-parser's reconstruction fails); with no attachments the
//     packet has no binary parts and such objects are ordinary maps;
//   - objects become maps with their keys in the order of the JSON text
//     (duplicates included: JSON.parse and Node's decoders both keep the
//     last value);
//   - strings become str, escapes decoded; a lone surrogate escape
//     (\ud800) and ill-formed UTF-8 become U+FFFD, as Node's Buffer and
//     TextEncoder write them;
//   - numbers become the JavaScript number the text denotes (the nearest
//     double), encoded as [Encoder.Number];
//   - true, false and null become bool and nil.
//
// data must be one JSON value (surrounding whitespace allowed), nested at
// most MaxDepth arrays and objects deep; otherwise JSON fails with ErrJSON
// or ErrDepth and leaves Buf as it was. The attachments are copied into Buf.
func (e *Encoder) JSON(data []byte, attachments [][]byte) error {
	start := len(e.Buf)
	j := jsonEncoder{in: data, out: e.Buf, atts: attachments, flavor: e.Flavor, maxDepth: e.maxDepth()}
	err := j.top()
	if err != nil {
		e.Buf = j.out[:start]
		return err
	}
	if j.compact {
		j.out = compact(j.out, start)
	}
	e.Buf = j.out
	return nil
}

// JSONValue appends the MessagePack encoding of the JSON value data, which
// has no binary parts: [Encoder.JSON] with no attachments.
func (e *Encoder) JSONValue(data []byte) error { return e.JSON(data, nil) }

// jsonEncoder transcodes one JSON value in a single pass. It cannot know
// the number of elements of an array or object, nor the length of a string
// with escapes, before it has read them, so it writes their headers in the
// 32-bit formats (array 32, map 32, str 32) and sets compact; [compact] then
// rewrites them in the smallest formats in one more pass, which keeps the
// work linear in the size of the input at any depth.
type jsonEncoder struct {
	in       []byte
	pos      int
	out      []byte
	atts     [][]byte
	flavor   Flavor
	maxDepth int
	compact  bool
	attErr   error // the first placeholder that refers to no attachment
}

func (j *jsonEncoder) fail(what string) error {
	if j.pos >= len(j.in) {
		return fmt.Errorf("%w: unexpected end of input, expected %s", ErrJSON, what)
	}
	return fmt.Errorf("%w: unexpected %q at offset %d, expected %s", ErrJSON, j.in[j.pos], j.pos, what)
}

func (j *jsonEncoder) skipSpace() {
	for j.pos < len(j.in) {
		switch j.in[j.pos] {
		case ' ', '\t', '\n', '\r':
			j.pos++
		default:
			return
		}
	}
}

func (j *jsonEncoder) top() error {
	j.skipSpace()
	if err := j.value(0); err != nil {
		return err
	}
	j.skipSpace()
	if j.pos != len(j.in) {
		return j.fail("end of input")
	}
	return j.attErr
}

// value transcodes the value at j.pos, which is inside depth arrays and
// objects.
func (j *jsonEncoder) value(depth int) error {
	if j.pos >= len(j.in) {
		return j.fail("a value")
	}
	switch c := j.in[j.pos]; c {
	case '{':
		return j.object(depth + 1)
	case '[':
		return j.array(depth + 1)
	case '"':
		_, err := j.string()
		return err
	case 't':
		return j.literal("true", 0xc3)
	case 'f':
		return j.literal("false", 0xc2)
	case 'n':
		return j.literal("null", 0xc0)
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return j.number()
		}
		return j.fail("a value")
	}
}

func (j *jsonEncoder) literal(word string, b byte) error {
	if len(j.in)-j.pos < len(word) || string(j.in[j.pos:j.pos+len(word)]) != word {
		return j.fail(word)
	}
	j.pos += len(word)
	j.out = append(j.out, b)
	return nil
}

func (j *jsonEncoder) checkDepth(depth int) error {
	if depth > j.maxDepth {
		return fmt.Errorf("%w: more than %d levels at offset %d", ErrDepth, j.maxDepth, j.pos)
	}
	return nil
}

func (j *jsonEncoder) array(depth int) error {
	if err := j.checkDepth(depth); err != nil {
		return err
	}
	j.pos++ // '['
	hdr := len(j.out)
	j.out = append(j.out, 0xdd, 0, 0, 0, 0)
	j.compact = true
	n := uint32(0)
	j.skipSpace()
	if j.pos < len(j.in) && j.in[j.pos] == ']' {
		j.pos++
		return nil
	}
	for {
		if err := j.value(depth); err != nil {
			return err
		}
		n++
		j.skipSpace()
		if j.pos >= len(j.in) {
			return j.fail("',' or ']'")
		}
		switch j.in[j.pos] {
		case ',':
			j.pos++
			j.skipSpace()
			continue
		case ']':
			j.pos++
			binary.BigEndian.PutUint32(j.out[hdr+1:], n)
			return nil
		}
		return j.fail("',' or ']'")
	}
}

func (j *jsonEncoder) object(depth int) error {
	if err := j.checkDepth(depth); err != nil {
		return err
	}
	j.pos++ // '{'
	hdr := len(j.out)
	j.out = append(j.out, 0xdf, 0, 0, 0, 0)
	j.compact = true
	n := uint32(0)
	isPlaceholder, num := false, -1
	j.skipSpace()
	if j.pos < len(j.in) && j.in[j.pos] == '}' {
		j.pos++
		return nil
	}
	for {
		if j.pos >= len(j.in) || j.in[j.pos] != '"' {
			return j.fail("a string key")
		}
		k, err := j.string()
		if err != nil {
			return err
		}
		key := j.out[k:]
		j.skipSpace()
		if j.pos >= len(j.in) || j.in[j.pos] != ':' {
			return j.fail("':'")
		}
		j.pos++
		j.skipSpace()
		v := len(j.out)
		if err := j.value(depth); err != nil {
			return err
		}
		n++
		// socket.io-parser reads data._placeholder and data.num: the
		// last of duplicate keys wins, as in JSON.parse.
		if len(j.atts) > 0 {
			switch string(key) {
			case "_placeholder":
				isPlaceholder = j.out[v] == 0xc3
			case "num":
				num = indexOf(j.out[v:])
			}
		}
		j.skipSpace()
		if j.pos >= len(j.in) {
			return j.fail("',' or '}'")
		}
		switch j.in[j.pos] {
		case ',':
			j.pos++
			j.skipSpace()
			continue
		case '}':
			j.pos++
			if isPlaceholder {
				if num < 0 || num >= len(j.atts) {
					// Reported once the whole text has parsed: JSON.parse
					// fails before socket.io-parser looks at placeholders.
					if j.attErr == nil {
						j.attErr = fmt.Errorf("%w: placeholder before offset %d refers to attachment %d of %d",
							ErrAttachments, j.pos, num, len(j.atts))
					}
				} else {
					j.out = appendBin(j.out[:hdr], j.atts[num])
					return nil
				}
			}
			binary.BigEndian.PutUint32(j.out[hdr+1:], n)
			return nil
		}
		return j.fail("',' or '}'")
	}
}

// indexOf returns the value of the number that this package wrote at the
// start of b, if it is an integer that can index an attachment, or -1:
// socket.io-parser accepts a num that is a number from 0 up (a fraction
// would find no attachment, and is refused here).
func indexOf(b []byte) int {
	h, err := parseHead(b)
	if err != nil {
		return -1
	}
	switch h.typ {
	case IntType:
		_, u, neg := intOf(b, h)
		if neg || u > math.MaxInt32 {
			return -1
		}
		return int(u)
	case FloatType:
		f := numberOf(b, h)
		if f >= 0 && f <= math.MaxInt32 && f == math.Trunc(f) {
			return int(f)
		}
	}
	return -1
}

// stringStop marks the bytes that end the fast scan of a JSON string: the
// quote, the backslash, control characters (an error) and, until the first
// is seen, non-ASCII bytes (the string then needs a UTF-8 check).
var stringStop, stringStopUTF8 = func() (ascii, utf [256]bool) {
	for c := range 256 {
		utf[c] = c == '"' || c == '\\' || c < 0x20
		ascii[c] = utf[c] || c >= utf8.RuneSelf
	}
	return ascii, utf
}()

// string transcodes the JSON string at j.pos and returns where its bytes
// start in j.out.
func (j *jsonEncoder) string() (int, error) {
	j.pos++ // '"'
	start := j.pos
	escaped, ascii := false, true
	i := start
	in := j.in
	stop := &stringStop
	for {
		for i < len(in) && !stop[in[i]] {
			i++
		}
		if i >= len(in) {
			j.pos = i
			return 0, j.fail("'\"'")
		}
		c := in[i]
		if c == '"' {
			break
		}
		switch {
		case c == '\\':
			escaped = true
			i += 2
			continue
		case c < 0x20:
			j.pos = i
			return 0, j.fail("a string character")
		default:
			ascii = false
			stop = &stringStopUTF8
		}
		i++
	}
	raw := in[start:i]
	j.pos = i + 1
	if !escaped && (ascii || utf8.Valid(raw)) {
		j.out = appendStrHeader(j.out, len(raw))
		p := len(j.out)
		j.out = append(j.out, raw...)
		return p, nil
	}
	hdr := len(j.out)
	j.out = append(j.out, 0xdb, 0, 0, 0, 0)
	j.compact = true
	for k := 0; k < len(raw); {
		// Copy up to the next escape.
		e := k
		for e < len(raw) && raw[e] != '\\' {
			e++
		}
		j.out = appendUTF8(j.out, raw[k:e])
		if e == len(raw) {
			break
		}
		k = e + 1
		if k >= len(raw) {
			j.pos = start + k
			return 0, j.fail("an escape")
		}
		switch c := raw[k]; c {
		case '"', '\\', '/':
			j.out = append(j.out, c)
			k++
		case 'b':
			j.out = append(j.out, '\b')
			k++
		case 'f':
			j.out = append(j.out, '\f')
			k++
		case 'n':
			j.out = append(j.out, '\n')
			k++
		case 'r':
			j.out = append(j.out, '\r')
			k++
		case 't':
			j.out = append(j.out, '\t')
			k++
		case 'u':
			r, ok := hex4(raw[k+1:])
			if !ok {
				j.pos = start + k
				return 0, j.fail("four hex digits")
			}
			k += 5
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by a low one is one code
				// point; any other surrogate is a lone one, which Node
				// writes as U+FFFD, and so does AppendRune.
				if r < 0xdc00 && k+6 <= len(raw) && raw[k] == '\\' && raw[k+1] == 'u' {
					if r2, ok := hex4(raw[k+2:]); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
						r = utf16.DecodeRune(r, r2)
						k += 6
					}
				}
			}
			j.out = utf8.AppendRune(j.out, r)
		default:
			j.pos = start + k
			return 0, j.fail("an escape")
		}
	}
	n := len(j.out) - hdr - 5
	checkLen(n)
	binary.BigEndian.PutUint32(j.out[hdr+1:], uint32(n))
	return hdr + 5, nil
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number transcodes a JSON number as the JavaScript number it denotes.
func (j *jsonEncoder) number() error {
	in := j.in
	start := j.pos
	i := start
	if in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		j.pos = i
		return j.fail("a digit")
	}
	intEnd := i
	if i < len(in) && in[i] == '.' {
		i++
		if i >= len(in) || in[i] < '0' || in[i] > '9' {
			j.pos = i
			return j.fail("a digit")
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if i >= len(in) || in[i] < '0' || in[i] > '9' {
			j.pos = i
			return j.fail("a digit")
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	j.pos = i
	tok := in[start:i]
	// An integer of at most 15 digits is below 2^53: exact without
	// parsing a float.
	if digits := tok[:intEnd-start]; intEnd == i && len(digits) <= 16 {
		neg := digits[0] == '-'
		if neg {
			digits = digits[1:]
		}
		if len(digits) <= 15 {
			var v int64
			for _, c := range digits {
				v = v*10 + int64(c-'0')
			}
			if neg {
				v = -v
			}
			j.out = appendInt(j.out, v)
			return nil
		}
	}
	// ParseFloat rounds to the nearest double as JSON.parse does; out of
	// range it returns ±Inf (JavaScript's Infinity) with an error that is
	// not one here. The grammar has been checked above.
	f, _ := strconv.ParseFloat(string(tok), 64)
	j.out = appendNumber(j.out, f, j.flavor)
	return nil
}

// compact rewrites the values that start at b[start] (one value, written
// by jsonEncoder) so that every array 32, map 32 and str 32 header is in the
// smallest format, moving what follows down, and returns the shortened b.
// It reads each header once and moves each byte at most once.
func compact(b []byte, start int) []byte {
	r, w, run := start, start, start
	for pending := 1; pending > 0; pending-- {
		h, _ := parseHead(b[r:])
		switch c := b[r]; {
		case c == 0xdd || c == 0xdf || c == 0xdb:
			w += copy(b[w:], b[run:r])
			n := h.n
			var hb [5]byte
			var small []byte
			switch c {
			case 0xdd:
				small = appendArrayHeader(hb[:0], n)
				pending += n
			case 0xdf:
				small = appendMapHeader(hb[:0], n)
				pending += 2 * n
			default:
				small = appendStrHeader(hb[:0], n)
			}
			w += copy(b[w:], small)
			r += 5
			run = r
			if c == 0xdb {
				r += n
			}
		case h.typ == ArrayType:
			r += h.hlen
			pending += h.n
		case h.typ == MapType:
			r += h.hlen
			pending += 2 * h.n
		default:
			r += h.size()
		}
	}
	w += copy(b[w:], b[run:r])
	return b[:w]
}
