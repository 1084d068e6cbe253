package frame

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// maskSlow is the byte-at-a-time reference for [Mask].
func maskSlow(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[pos&3]
		pos++
	}
	return pos & 3
}

// maskSizes are the lengths the mask tests try: every length up to 300
// (all the paths of the word loop and of the 128- and 32-byte loops of the
// wide one, and their tails) and a few large ones.
func maskSizes() []int {
	var sizes []int
	for n := range 300 {
		sizes = append(sizes, n)
	}
	return append(sizes, 1000, 4095, 4096, 4097, 65536+37)
}

// maskInput returns n bytes that differ from their neighbours.
func maskInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + n)
	}
	return b
}

func TestMaskMatchesReference(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, n := range maskSizes() {
		for pos := range 4 {
			src := maskInput(n)
			want := append([]byte(nil), src...)
			got := append([]byte(nil), src...)
			wp := maskSlow(key, pos, want)
			gp := Mask(key, pos, got)
			if wp != gp || !bytes.Equal(want, got) {
				t.Fatalf("n=%d pos=%d: Mask differs from reference (pos %d vs %d)", n, pos, gp, wp)
			}
		}
	}
}

func TestMaskCopyMatchesReference(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, n := range maskSizes() {
		for pos := range 4 {
			src := maskInput(n)
			orig := bytes.Clone(src)
			want := bytes.Clone(src)
			wp := maskSlow(key, pos, want)
			// dst is longer than src: the bytes after len(src) stay.
			dst := bytes.Repeat([]byte{0xee}, n+5)
			gp := MaskCopy(key, pos, dst, src)
			if wp != gp || !bytes.Equal(dst[:n], want) {
				t.Fatalf("n=%d pos=%d: MaskCopy differs from reference (pos %d vs %d)", n, pos, gp, wp)
			}
			if !bytes.Equal(dst[n:], []byte{0xee, 0xee, 0xee, 0xee, 0xee}) {
				t.Fatalf("n=%d pos=%d: MaskCopy wrote past len(src)", n, pos)
			}
			if !bytes.Equal(src, orig) {
				t.Fatalf("n=%d pos=%d: MaskCopy changed src", n, pos)
			}
		}
	}
}

func BenchmarkMaskCopy(b *testing.B) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, n := range []int{16, 125, 512, 4096, 65536} {
		src, dst := make([]byte, n), make([]byte, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				MaskCopy(key, 1, dst, src)
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, n := range []int{16, 125, 512, 4096, 65536} {
		buf := make([]byte, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				Mask(key, 1, buf)
			}
		})
	}
}

// TestParseHeaderLengthErrors checks that a length not in its shortest
// form and a 64-bit length with the top bit set fail, each with its own
// error, and that the largest allowed length is accepted.
func TestParseHeaderLengthErrors(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want error
	}{
		{[]byte{0x82, 126, 0, 125}, ErrNonMinimalLength},
		{[]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, ErrNonMinimalLength},
		{[]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, ErrLengthTopBit},
		{[]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 5}, ErrLengthTopBit}, // also short in the other 63 bits
		{[]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrLengthTopBit},
		{[]byte{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil},
	} {
		h, n, err := ParseHeader(tc.b)
		if err != tc.want {
			t.Errorf("ParseHeader(%x) = %v, want %v", tc.b, err, tc.want)
		}
		if err == nil && (n != 10 || h.Length != 1<<63-1) {
			t.Errorf("ParseHeader(%x) = %+v, %d", tc.b, h, n)
		}
	}
	if !strings.Contains(ErrLengthTopBit.Error(), "most significant bit") {
		t.Errorf("ErrLengthTopBit says %q: it should name the most significant bit", ErrLengthTopBit)
	}
}
