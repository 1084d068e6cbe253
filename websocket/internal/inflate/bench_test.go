package inflate

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	kflate "github.com/klauspost/compress/flate"
)

// BenchmarkDecode decodes one permessage-deflate message (level 1, ending
// with a sync flush) per op, with a Decoder and with klauspost/compress's
// decompressor (Reset per message, as a pool of them would be used).
func BenchmarkDecode(b *testing.B) {
	for _, size := range []int{512, 4 << 10, 64 << 10} {
		p := sample(size, 7)
		in := deflate(b, p, nil, 1, false)
		out := make([]byte, size+1)
		src := bytes.NewReader(in)
		b.Run(fmt.Sprintf("size=%d/impl=tether", size), func(b *testing.B) {
			var d Decoder
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(in)
				d.Reset(src, nil)
				if n, _ := io.ReadFull(&d, out); n != size {
					b.Fatal(n)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/impl=klauspost", size), func(b *testing.B) {
			fr := kflate.NewReader(src)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(in)
				fr.(kflate.Resetter).Reset(src, nil)
				if n, _ := io.ReadFull(fr, out); n != size {
					b.Fatal(n)
				}
			}
		})
	}
}
