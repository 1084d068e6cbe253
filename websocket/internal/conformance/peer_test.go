package conformance

import "testing"

// TestMask checks the word-at-a-time masking against the definition.
func TestMask(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		mask(key, b)
		for i := range b {
			if b[i] != byte(i*7)^key[i%4] {
				t.Fatalf("length %d, byte %d: %#x", n, i, b[i])
			}
		}
	}
}
