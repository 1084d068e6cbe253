package frame

import (
	"bytes"
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

func TestMaskMatchesReference(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for n := 0; n < 300; n++ {
		for pos := 0; pos < 4; pos++ {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(i*7 + n)
			}
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
