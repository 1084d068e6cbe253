package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/tether-rt/tether/internal/fuzzseed"
)

// refHeaderSize decodes the size the header at the start of b announces,
// independently of [ParseHeader].
func refHeaderSize(b []byte) int {
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// FuzzParseHeader checks ParseHeader against a bit-level reading of the
// header, and that PutHeader and AppendHeader give back the same bytes.
func FuzzParseHeader(f *testing.F) {
	for _, h := range []Header{
		{Fin: true, OpCode: OpText, Length: 5},
		{Fin: true, OpCode: OpBinary, Length: 125, Masked: true, Mask: [4]byte{1, 2, 3, 4}},
		{OpCode: OpText, Length: 126, Rsv1: true},
		{Fin: true, OpCode: OpContinuation, Length: math.MaxUint16, Masked: true, Mask: [4]byte{0xff, 0, 0xff, 0}},
		{Fin: true, OpCode: OpBinary, Length: math.MaxUint16 + 1},
		{Fin: true, OpCode: OpClose, Length: math.MaxInt64, Rsv2: true, Rsv3: true, Masked: true},
	} {
		fuzzseed.Add(f, AppendHeader(nil, h))
	}
	fuzzseed.Add(f, []byte{0x81})
	fuzzseed.Add(f, []byte{0x82, 126, 0, 125})
	fuzzseed.Add(f, []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	fuzzseed.Add(f, []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		// The length is checked as soon as its bytes are there, before
		// the masking key is.
		lengthEnd := 2
		if len(b) >= 2 {
			lengthEnd = refHeaderSize(b)
			if b[1]&0x80 != 0 {
				lengthEnd -= 4
			}
		}
		if len(b) < lengthEnd || len(b) < 2 {
			if err != ErrShortHeader || n != 0 {
				t.Fatalf("ParseHeader(%x) = %d, %v; want ErrShortHeader", b, n, err)
			}
			checkBuildParse(t, b)
			return
		}
		size := refHeaderSize(b)
		var length uint64
		switch l := b[1] & 0x7f; l {
		case 126:
			length = uint64(binary.BigEndian.Uint16(b[2:]))
		case 127:
			length = binary.BigEndian.Uint64(b[2:])
		default:
			length = uint64(l)
		}
		if b[1]&0x7f == 127 && length>>63 != 0 {
			if err != ErrLengthTopBit || n != 0 {
				t.Fatalf("ParseHeader(%x) = %d, %v; want ErrLengthTopBit", b, n, err)
			}
			checkBuildParse(t, b)
			return
		}
		minimal := true
		switch b[1] & 0x7f {
		case 126:
			minimal = length > 125
		case 127:
			minimal = length > math.MaxUint16
		}
		if !minimal {
			if err != ErrNonMinimalLength || n != 0 {
				t.Fatalf("ParseHeader(%x) = %d, %v; want ErrNonMinimalLength", b, n, err)
			}
			checkBuildParse(t, b)
			return
		}
		if len(b) < size {
			if err != ErrShortHeader || n != 0 {
				t.Fatalf("ParseHeader(%x) = %d, %v; want ErrShortHeader", b, n, err)
			}
			checkBuildParse(t, b)
			return
		}
		if err != nil {
			t.Fatalf("ParseHeader(%x): %v", b, err)
		}
		want := Header{
			Fin:    b[0]&0x80 != 0,
			Rsv1:   b[0]&0x40 != 0,
			Rsv2:   b[0]&0x20 != 0,
			Rsv3:   b[0]&0x10 != 0,
			OpCode: OpCode(b[0] & 0xf),
			Masked: b[1]&0x80 != 0,
			Length: int64(length),
		}
		if want.Masked {
			copy(want.Mask[:], b[size-4:size])
		}
		if h != want || n != size {
			t.Fatalf("ParseHeader(%x) = %+v, %d; want %+v, %d", b, h, n, want, size)
		}
		if HeaderSize(h) != n || n > MaxHeaderSize {
			t.Fatalf("HeaderSize(%+v) = %d, ParseHeader took %d", h, HeaderSize(h), n)
		}
		var buf [MaxHeaderSize]byte
		if m := PutHeader(buf[:], h); m != n || !bytes.Equal(buf[:m], b[:n]) {
			t.Fatalf("PutHeader(%+v) = %x, want %x", h, buf[:m], b[:n])
		}
		prefix := []byte("prefix")
		if got := AppendHeader(prefix[:len(prefix):len(prefix)], h); !bytes.Equal(got, append(prefix, b[:n]...)) {
			t.Fatalf("AppendHeader(%+v) = %x, want prefix and %x", h, got, b[:n])
		}
		// Any cut of the header is short; the header alone is enough.
		for k := range n {
			if _, m, err := ParseHeader(b[:k]); err != ErrShortHeader || m != 0 {
				t.Fatalf("ParseHeader(%x) of %d bytes = %d, %v; want ErrShortHeader", b[:k], n, m, err)
			}
		}
		if h2, m, err := ParseHeader(b[:n]); err != nil || m != n || h2 != h {
			t.Fatalf("ParseHeader of the header alone = %+v, %d, %v", h2, m, err)
		}
		checkBuildParse(t, b)
	})
}

// checkBuildParse builds a header from the fuzzer's bytes, encodes it and
// checks that ParseHeader decodes it back.
func checkBuildParse(t *testing.T, b []byte) {
	var raw [14]byte
	copy(raw[:], b)
	h := Header{
		Fin:    raw[0]&0x80 != 0,
		Rsv1:   raw[0]&0x40 != 0,
		Rsv2:   raw[0]&0x20 != 0,
		Rsv3:   raw[0]&0x10 != 0,
		OpCode: OpCode(raw[0] & 0xf),
		Masked: raw[1]&0x80 != 0,
		Length: int64(binary.BigEndian.Uint64(raw[2:]) & math.MaxInt64),
	}
	// Small lengths are the interesting ones; let the fuzzer reach them.
	switch raw[1] & 0x60 {
	case 0x00:
		h.Length &= 0x7f
	case 0x20:
		h.Length &= 0x1ffff
	}
	if h.Masked {
		copy(h.Mask[:], raw[10:])
	}
	enc := AppendHeader(nil, h)
	if len(enc) != HeaderSize(h) || len(enc) > MaxHeaderSize {
		t.Fatalf("AppendHeader(%+v) wrote %d bytes, HeaderSize says %d", h, len(enc), HeaderSize(h))
	}
	got, n, err := ParseHeader(enc)
	if err != nil || n != len(enc) || got != h {
		t.Fatalf("ParseHeader(AppendHeader(%+v)) = %+v, %d, %v", h, got, n, err)
	}
}

// FuzzMask checks Mask and MaskCopy against the byte-at-a-time reference
// from any key position, at any alignment, split anywhere, and that masking
// twice gives the input back.
func FuzzMask(f *testing.F) {
	fuzzseed.Add(f, uint32(0x3d21fa37), 0, []byte("hello"), uint16(0), uint8(0))
	fuzzseed.Add(f, uint32(0xffffffff), 3, bytes.Repeat([]byte{0xaa}, 200), uint16(65), uint8(3))
	fuzzseed.Add(f, uint32(0x01020304), -1, bytes.Repeat([]byte("0123456789"), 30), uint16(7), uint8(5))
	fuzzseed.Add(f, uint32(0), 2, []byte{}, uint16(1), uint8(1))
	f.Fuzz(func(t *testing.T, k uint32, pos int, data []byte, split uint16, align uint8) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		off := int(align % 8)
		got := make([]byte, off+len(data))[off:]
		copy(got, data)
		want := bytes.Clone(data)
		wp := maskSlow(key, pos, want)
		gp := Mask(key, pos, got)
		if gp != wp || !bytes.Equal(got, want) {
			t.Fatalf("Mask(pos %d, %d bytes at offset %d) differs from the reference (pos %d, want %d)", pos, len(data), off, gp, wp)
		}
		if gp < 0 || gp > 3 {
			t.Fatalf("Mask returned key position %d", gp)
		}
		// Masking in two pieces, resuming at the returned position.
		two := bytes.Clone(data)
		s := 0
		if len(two) > 0 {
			s = int(split) % (len(two) + 1)
		}
		p := Mask(key, pos, two[:s])
		if p = Mask(key, p, two[s:]); p != wp || !bytes.Equal(two, want) {
			t.Fatalf("Mask split at %d of %d differs from one call", s, len(data))
		}
		// MaskCopy gives the same bytes and position, into any alignment,
		// and leaves its source alone.
		dst := make([]byte, int(split%8)+len(data))[split%8:]
		if cp := MaskCopy(key, pos, dst, data); cp != wp || !bytes.Equal(dst, want) {
			t.Fatalf("MaskCopy(pos %d, %d bytes) differs from the reference (pos %d, want %d)", pos, len(data), cp, wp)
		}
		// Masking is its own inverse.
		Mask(key, pos, got)
		if !bytes.Equal(got, data) {
			t.Fatalf("masking twice (pos %d, %d bytes) did not restore the input", pos, len(data))
		}
	})
}

// refValidCloseCode is RFC 6455 section 7.4 with IANA's registry, written
// out code by code.
func refValidCloseCode(c uint16) bool {
	switch c {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014:
		return true
	}
	return c >= 3000 && c < 5000
}

// FuzzParseClose checks that ParseClose accepts exactly the payloads with a
// valid code and a UTF-8 reason, and that AppendClose rebuilds them.
func FuzzParseClose(f *testing.F) {
	fuzzseed.Add(f, []byte{})
	fuzzseed.Add(f, []byte{0x03})
	fuzzseed.Add(f, AppendClose(nil, 1000, "bye"))
	fuzzseed.Add(f, AppendClose(nil, 1005, ""))
	fuzzseed.Add(f, AppendClose(nil, 1015, ""))
	fuzzseed.Add(f, AppendClose(nil, 4999, "κόσμε"))
	fuzzseed.Add(f, AppendClose(nil, 3000, "\xce\xba\xe1"))
	fuzzseed.Add(f, AppendClose(nil, 2999, ""))
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ParseClose(p)
		switch {
		case len(p) == 0:
			if code != 1005 || reason != nil || err != nil {
				t.Fatalf("ParseClose(empty) = %d, %q, %v; want 1005", code, reason, err)
			}
			return
		case len(p) == 1:
			if !errors.Is(err, ErrCloseTooShort) {
				t.Fatalf("ParseClose(%x) = %v; want ErrCloseTooShort", p, err)
			}
			return
		}
		wantCode := binary.BigEndian.Uint16(p)
		if ValidCloseCode(wantCode) != refValidCloseCode(wantCode) {
			t.Fatalf("ValidCloseCode(%d) = %v", wantCode, ValidCloseCode(wantCode))
		}
		switch {
		case !refValidCloseCode(wantCode):
			if !errors.Is(err, ErrCloseCodeInvalid) {
				t.Fatalf("ParseClose(%x) = %d, %v; want ErrCloseCodeInvalid", p, code, err)
			}
		case !utf8.Valid(p[2:]):
			if !errors.Is(err, ErrCloseReasonNotUTF) {
				t.Fatalf("ParseClose(%x) = %v; want ErrCloseReasonNotUTF", p, err)
			}
		default:
			if err != nil || code != wantCode || !bytes.Equal(reason, p[2:]) {
				t.Fatalf("ParseClose(%x) = %d, %q, %v", p, code, reason, err)
			}
			if got := AppendClose(nil, code, string(reason)); !bytes.Equal(got, p) {
				t.Fatalf("AppendClose(%d, %q) = %x, want %x", code, reason, got, p)
			}
		}
	})
}
