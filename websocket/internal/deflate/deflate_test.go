package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	kflate "github.com/klauspost/compress/flate"
	"github.com/tether-rt/tether/internal/fuzzseed"
)

// syncTail ends a compressed message for a plain DEFLATE reader: the four
// bytes permessage-deflate drops, then a final empty stored block.
var syncTail = []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// inflate decodes a message with compress/flate.
func inflate(t testing.TB, c []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(c), bytes.NewReader(syncTail))))
	if err != nil {
		t.Fatalf("compress/flate cannot read the output: %v", err)
	}
	return out
}

// walk decodes a message bit by bit, independently of compress/flate,
// checking the layout the package promises (one non-final fixed block,
// then an empty stored block's header and padding, nothing else), and
// returns the bytes and the longest distance used.
func walk(t testing.TB, c []byte) (out []byte, longest int) {
	t.Helper()
	pos := 0 // in bits
	bit := func() int {
		if pos >= 8*len(c) {
			t.Fatalf("output ends inside the block")
		}
		b := int(c[pos/8]>>(pos%8)) & 1
		pos++
		return b
	}
	get := func(n int) int { // extra bits, least significant first
		v := 0
		for i := range n {
			v |= bit() << i
		}
		return v
	}
	code := func(n int) int { // Huffman code bits, most significant first
		v := 0
		for range n {
			v = v<<1 | bit()
		}
		return v
	}
	if get(3) != 0b010 {
		t.Fatalf("block header is not a non-final fixed block")
	}
	for {
		// Fixed literal/length codes: 7 bits 0–23 → 256–279; 8 bits
		// 48–191 → 0–143, 192–199 → 280–287; 9 bits 400–511 → 144–255.
		sym := -1
		v := code(7)
		if v <= 23 {
			sym = 256 + v
		} else {
			v = v<<1 | bit()
			switch {
			case v >= 48 && v <= 191:
				sym = v - 48
			case v >= 192 && v <= 199:
				sym = 280 + v - 192
			default:
				sym = 144 + (v<<1 | bit()) - 400
			}
		}
		switch {
		case sym < 256:
			out = append(out, byte(sym))
			continue
		case sym == eob:
		case sym > 285:
			t.Fatalf("invalid length symbol %d", sym)
		default:
			s := sym - 257
			l := int(lenBase[s]) + get(int(lenExtra[s]))
			ds := code(5)
			if ds >= 30 {
				t.Fatalf("invalid distance symbol %d", ds)
			}
			d := int(distBase[ds]) + get(int(distExtra[ds]))
			if d > len(out) {
				t.Fatalf("distance %d reaches before the message (%d bytes so far)", d, len(out))
			}
			longest = max(longest, d)
			for range l {
				out = append(out, out[len(out)-d])
			}
			continue
		}
		break
	}
	if get(3) != 0 {
		t.Fatalf("no empty stored block after the fixed block")
	}
	for pos%8 != 0 {
		if bit() != 0 {
			t.Fatalf("padding bits are not zero")
		}
	}
	if pos/8 != len(c) {
		t.Fatalf("%d bytes after the stored block's header", len(c)-pos/8)
	}
	return out, longest
}

// jsonLike returns size bytes of the benchmarks' kind of message.
func jsonLike(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%03d","event":"chat","x":%d.25,"room":"lobby-%d"},`, i, i%97, i%1000, i%7)
	}
	return b.Bytes()[:size]
}

func inputs() map[string][]byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 3000)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	few := make([]byte, 5000)
	for i := range few {
		few[i] = "ab"[rnd.IntN(2)]
	}
	in := map[string][]byte{
		"empty":    {},
		"one":      {'x'},
		"three":    []byte("abc"),
		"run":      bytes.Repeat([]byte{'z'}, 1000),
		"run-max":  bytes.Repeat([]byte{'z'}, MaxInput),
		"random":   random,
		"two-ways": few,
		"all": func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(),
	}
	for _, n := range []int{128, 512, 1024, 4096, MaxInput} {
		in["json-"+strconv.Itoa(n)] = jsonLike(n)
	}
	return in
}

func TestCompressRoundTrip(t *testing.T) {
	var e Encoder
	for name, p := range inputs() {
		for _, maxDist := range []int{1, 3, 256, 1000, 1 << 15} {
			c := e.Compress(nil, p, maxDist)
			if got := inflate(t, c); !bytes.Equal(got, p) {
				t.Fatalf("%s, maxDist %d: compress/flate reads back %d bytes that differ", name, maxDist, len(got))
			}
			got, longest := walk(t, c)
			if !bytes.Equal(got, p) {
				t.Fatalf("%s, maxDist %d: the bit-by-bit walk reads back different bytes", name, maxDist)
			}
			if longest > maxDist {
				t.Fatalf("%s: distance %d beyond maxDist %d", name, longest, maxDist)
			}
		}
	}
}

func TestCompressAppends(t *testing.T) {
	var e Encoder
	prefix := []byte("prefix")
	c := e.Compress(prefix, jsonLike(512), 1<<15)
	if !bytes.Equal(c[:len(prefix)], prefix) {
		t.Fatal("Compress changed what dst held")
	}
	if got := inflate(t, c[len(prefix):]); !bytes.Equal(got, jsonLike(512)) {
		t.Fatal("appended output does not decode")
	}
}

// TestCompressFindsRepeats checks that the output is compressed at all:
// the benchmarks' kind of 512-byte message shrinks to under half, and
// within a fifth of what klauspost/compress makes at level 1.
func TestCompressFindsRepeats(t *testing.T) {
	var e Encoder
	p := jsonLike(512)
	c := e.Compress(nil, p, 1<<15)
	var kb bytes.Buffer
	kw, _ := kflate.NewWriter(&kb, 1)
	kw.Write(p)
	kw.Flush()
	k := kb.Len() - 4
	if len(c) > len(p)/2 || len(c) > k*6/5 {
		t.Fatalf("512 bytes compressed to %d (klauspost level 1: %d)", len(c), k)
	}
}

func TestCompressRejectsLongInput(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for an input longer than MaxInput")
		}
	}()
	var e Encoder
	e.Compress(nil, make([]byte, MaxInput+1), 1<<15)
}

// FuzzCompress checks that any input comes back whole through
// compress/flate and through the independent walk, with no distance past
// the limit.
func FuzzCompress(f *testing.F) {
	fuzzseed.Add(f, []byte("hello hello hello"), uint16(32768))
	fuzzseed.Add(f, jsonLike(300), uint16(100))
	fuzzseed.Add(f, bytes.Repeat([]byte("ab"), 200), uint16(1))
	fuzzseed.Add(f, []byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, p []byte, limit uint16) {
		if len(p) > MaxInput {
			p = p[:MaxInput]
		}
		maxDist := max(1, int(limit)%(1<<15+1))
		var e Encoder
		c := e.Compress(nil, p, maxDist)
		if got := inflate(t, c); !bytes.Equal(got, p) {
			t.Fatalf("compress/flate reads back different bytes (%d in, %d out)", len(p), len(got))
		}
		got, longest := walk(t, c)
		if !bytes.Equal(got, p) || longest > maxDist {
			t.Fatalf("walk: equal %v, longest distance %d, limit %d", bytes.Equal(got, p), longest, maxDist)
		}
	})
}

func BenchmarkCompress(b *testing.B) {
	for _, n := range []int{512, 1024, 4096} {
		p := jsonLike(n)
		var e Encoder
		out := make([]byte, 0, 2*n)
		b.Run("tether/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				out = e.Compress(out[:0], p, 1<<15)
			}
		})
		var kb bytes.Buffer
		kw, _ := kflate.NewWriter(&kb, 1)
		b.Run("klauspost-level1/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				kb.Reset()
				kw.Reset(&kb)
				kw.Write(p)
				kw.Flush()
			}
		})
	}
}
