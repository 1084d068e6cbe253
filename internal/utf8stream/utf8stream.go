package utf8stream

import "unicode/utf8"

// Validator checks a stream of bytes for valid UTF-8. The zero value is
// ready to use, at the start of a stream.
//
// Invariant: pending holds the bytes of at most one incomplete encoding (1–3
// bytes), and they are always a valid prefix of some encoding.
type Validator struct {
	pending [utf8.UTFMax]byte
	n       int
}

// Reset makes v ready for a new stream.
func (v *Validator) Reset() { v.n = 0 }

// Write feeds p to v and reports whether the stream is still valid: whether
// everything seen so far is valid UTF-8 or a valid prefix of it. Once Write
// has reported false, the stream stays invalid until [Validator.Reset].
func (v *Validator) Write(p []byte) bool {
	if v.n < 0 {
		return false
	}
	if v.n > 0 {
		need := seqLen(v.pending[0])
		for v.n < need && len(p) > 0 {
			v.pending[v.n] = p[0]
			v.n++
			p = p[1:]
			if !validPrefix(v.pending[:v.n]) {
				v.n = -1
				return false
			}
		}
		if v.n < need {
			return true
		}
		v.n = 0
	}
	// Fast path for ASCII, a word at a time.
	for len(p) >= 8 {
		if (uint64(p[0])|uint64(p[1])|uint64(p[2])|uint64(p[3])|
			uint64(p[4])|uint64(p[5])|uint64(p[6])|uint64(p[7]))&0x80 != 0 {
			break
		}
		p = p[8:]
	}
	// Split off a trailing incomplete encoding, if any.
	tail := 0
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		c := p[i]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 { // a leading byte
			if len(p)-i < seqLen(c) {
				tail = len(p) - i
			}
			break
		}
	}
	if !utf8.Valid(p[:len(p)-tail]) {
		v.n = -1
		return false
	}
	if tail > 0 {
		t := p[len(p)-tail:]
		if !validPrefix(t) {
			v.n = -1
			return false
		}
		v.n = copy(v.pending[:], t)
	}
	return true
}

// Done reports whether the stream ended at an encoding boundary with all of
// it valid. Call it at the end of a message.
func (v *Validator) Done() bool { return v.n == 0 }

// seqLen returns the length of the encoding a leading byte announces, or 1
// for bytes that cannot lead a multi-byte encoding (those fail validation).
func seqLen(c byte) int {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 1
}

// validPrefix reports whether b, shorter than the encoding its first byte
// announces, can still be completed to a valid encoding.
func validPrefix(b []byte) bool {
	c := b[0]
	if seqLen(c) == 1 {
		return false
	}
	if len(b) >= 2 {
		lo, hi := byte(0x80), byte(0xBF)
		switch c {
		case 0xE0:
			lo = 0xA0
		case 0xED:
			hi = 0x9F
		case 0xF0:
			lo = 0x90
		case 0xF4:
			hi = 0x8F
		}
		if b[1] < lo || b[1] > hi {
			return false
		}
	}
	for i := 2; i < len(b); i++ {
		if b[i] < 0x80 || b[i] > 0xBF {
			return false
		}
	}
	return true
}
