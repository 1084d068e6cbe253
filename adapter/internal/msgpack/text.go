package msgpack

import (
	"unicode/utf8"
)

// Text helpers: UTF-8 decoding as Node's Buffer#toString and TextDecoder do
// it (WHATWG "UTF-8 decode" with replacement), and JSON string quoting as
// JSON.stringify does it.

// replacement is U+FFFD in UTF-8.
const replacement = "\uFFFD"

// invalidPrefix returns the length of the maximal subpart of an ill-formed
// UTF-8 sequence at the start of b (len(b) > 0, and b does not start with a
// well-formed sequence): the bytes that the WHATWG decoder replaces with one
// U+FFFD. It is 1 unless b starts with a lead byte followed by some, but not
// all, of the continuation bytes that lead byte allows.
func invalidPrefix(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF)
	need := 0
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
		if c == 0xE0 {
			lo = 0xA0
		} else if c == 0xED {
			hi = 0x9F
		}
	case c >= 0xF0 && c <= 0xF4:
		need = 3
		if c == 0xF0 {
			lo = 0x90
		} else if c == 0xF4 {
			hi = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(b) {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	// n == need+1 would be a well-formed sequence, which the caller has
	// ruled out.
	return n
}

// appendUTF8 appends s to dst, replacing each maximal subpart of an
// ill-formed sequence with U+FFFD, as Node decodes a Buffer into a string.
func appendUTF8(dst, s []byte) []byte {
	if utf8.Valid(s) {
		return append(dst, s...)
	}
	for len(s) > 0 {
		if s[0] < utf8.RuneSelf {
			dst = append(dst, s[0])
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRune(s)
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, s[:size]...)
			s = s[size:]
			continue
		}
		dst = append(dst, replacement...)
		s = s[invalidPrefix(s):]
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// mustEscape marks the bytes that JSON.stringify escapes: '"', '\\' and
// the control characters.
var mustEscape = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\'
	}
	return t
}()

// appendQuoted appends s as a JSON string the way JSON.stringify quotes the
// JavaScript string that Node decodes s into: ill-formed UTF-8 becomes
// U+FFFD, '"' and '\' are escaped, control characters become \b, \t, \n,
// \f, \r or \u00xx (lowercase hex), and nothing else is escaped.
func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	valid := utf8.Valid(s)
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if !mustEscape[c] {
			if c < utf8.RuneSelf || valid {
				i++
				continue
			}
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size > 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, replacement...)
			i += invalidPrefix(s[i:])
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
