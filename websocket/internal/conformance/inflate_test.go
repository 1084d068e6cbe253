package conformance

import (
	"bytes"
	"compress/flate"
	"math/rand/v2"
	"strings"
	"testing"

	kflate "github.com/klauspost/compress/flate"
)

// deflateSync compresses p with w as one permessage-deflate message (sync
// flush, tail removed).
func deflateSync(t *testing.T, w flateWriter, out *bytes.Buffer, p []byte) []byte {
	t.Helper()
	out.Reset()
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	return bytes.Clone(b[:len(b)-4])
}

func withTail(b []byte) []byte {
	return append(append(bytes.Clone(b), deflateTail...), finalBlock...)
}

// TestInflateWindow checks the window-checking decoder against Go's and
// klauspost's compressors: stored, fixed and dynamic blocks, dictionaries,
// and refusal of distances beyond the window.
func TestInflateWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	msgs := [][]byte{nil, []byte("a"), []byte(strings.Repeat("abcabcabd", 500)), testData()[0].data[:20000], testData()[4].data[:5000]}
	for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		var out bytes.Buffer
		w, _ := flate.NewWriter(&out, level)
		var hist []byte
		for i, m := range msgs {
			c := deflateSync(t, w, &out, m)
			got, err := inflateWindow(withTail(c), hist, 1<<15)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("level %d message %d: got %d bytes, err %v", level, i, len(got), err)
			}
			hist = append(hist, m...)
		}
	}
	for _, bits := range []int{8, 9, 12} {
		var out bytes.Buffer
		w, err := kflate.NewWriterWindow(&out, 1<<bits)
		if err != nil {
			t.Fatal(err)
		}
		var hist []byte
		for i := range 5 {
			m := make([]byte, 3000+r.IntN(5000))
			for j := range m {
				m[j] = "abcdefgh"[r.IntN(8)]
			}
			c := deflateSync(t, w, &out, m)
			got, err := inflateWindow(withTail(c), hist, 1<<bits)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("window %d message %d: got %d bytes, err %v", bits, i, len(got), err)
			}
			hist = append(hist, m...)
		}
	}
	// A repeat 1000 bytes back is out of reach of a 512-byte window.
	block := make([]byte, 1000)
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestCompression)
	c := deflateSync(t, w, &out, append(bytes.Clone(block), block...))
	if _, err := inflateWindow(withTail(c), nil, 512); err == nil || !strings.Contains(err.Error(), "beyond the negotiated window") {
		t.Fatalf("distance 1000 with a 512-byte window: err = %v", err)
	}
	if _, err := inflateWindow(withTail(c), nil, 1024); err != nil {
		t.Fatalf("distance 1000 with a 1024-byte window: %v", err)
	}
	// A reference into a dictionary that is not there.
	w.Reset(&out)
	c1 := deflateSync(t, w, &out, block)
	c2 := deflateSync(t, w, &out, block)
	if _, err := inflateWindow(withTail(c1), nil, 1<<15); err != nil {
		t.Fatal(err)
	}
	if _, err := inflateWindow(withTail(c2), nil, 1<<15); err == nil {
		t.Fatal("a message referring to an earlier one decoded without its dictionary")
	}
	if got, err := inflateWindow(withTail(c2), block, 1<<15); err != nil || !bytes.Equal(got, block) {
		t.Fatalf("with the dictionary: %d bytes, %v", len(got), err)
	}
	// Truncated input.
	if _, err := inflateWindow(c[:len(c)/2], nil, 1<<15); err == nil {
		t.Fatal("truncated stream decoded")
	}
}
