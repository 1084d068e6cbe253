package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	kflate "github.com/klauspost/compress/flate"

	"github.com/tether-rt/tether/internal/fuzzseed"

	"github.com/tether-rt/tether/internal/alloctest"
)

// outcome is how a stream ends.
type outcome int

const (
	endFinal      outcome = iota // a final block
	endUnexpected                // input ended before a final block
	endCorrupt                   // invalid data
)

func (o outcome) String() string {
	return [...]string{"final block", "unexpected EOF", "corrupt"}[o]
}

// reference decodes in with compress/flate, the model this package follows.
func reference(in, dict []byte) ([]byte, outcome) {
	r := flate.NewReaderDict(bytes.NewReader(in), dict)
	out, err := io.ReadAll(r)
	return out, classify(err)
}

func classify(err error) outcome {
	var ce flate.CorruptInputError
	var ours *CorruptError
	switch {
	case err == nil || err == io.EOF:
		return endFinal
	case err == io.ErrUnexpectedEOF:
		return endUnexpected
	case errors.As(err, &ce), errors.As(err, &ours):
		return endCorrupt
	}
	panic("unexpected error: " + err.Error())
}

// chunkReader returns its input at most n bytes per Read, and sometimes
// nothing.
type chunkReader struct {
	b []byte
	n int
	i int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.i++
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if r.i%3 == 0 {
		return 0, nil
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// decode decodes in with d, reading the input chunk bytes at a time and the
// output into buffers of psize bytes.
func decode(d *Decoder, in, dict []byte, chunk, psize int) ([]byte, outcome) {
	d.Reset(&chunkReader{b: in, n: chunk}, dict)
	var out []byte
	p := make([]byte, psize)
	for {
		n, err := d.Read(p)
		out = append(out, p[:n]...)
		if err != nil {
			return out, classify(err)
		}
		if n == 0 {
			panic("Read returned 0, nil")
		}
	}
}

// check compares d's decoding of in with compress/flate's.
func check(t *testing.T, d *Decoder, in, dict []byte, chunk, psize int) {
	t.Helper()
	want, wantEnd := reference(in, dict)
	got, gotEnd := decode(d, in, dict, chunk, psize)
	if gotEnd != wantEnd || !bytes.Equal(got, want) {
		t.Fatalf("input %x (dict %d bytes, chunk %d, reads of %d): got %d bytes, %v; compress/flate %d bytes, %v",
			in[:min(len(in), 64)], len(dict), chunk, psize, len(got), gotEnd, len(want), wantEnd)
	}
}

// deflate compresses p with klauspost/compress at level, ending with a sync
// flush (as permessage-deflate does) or a final block.
func deflate(t testing.TB, p, dict []byte, level int, final bool) []byte {
	var b bytes.Buffer
	w, err := kflate.NewWriterDict(&b, level, dict)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	if final {
		w.Close()
	} else {
		w.Flush()
	}
	return b.Bytes()
}

func sample(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	words := strings.Fields(`{"id": 1234, "name": "leaderboard", "score": 98765, "tags": ["live", "game"], "ok": true} lorem ipsum dolor sit amet`)
	var b []byte
	for len(b) < n {
		if r.IntN(8) == 0 {
			b = append(b, byte(r.Uint32()))
			continue
		}
		b = append(b, words[r.IntN(len(words))]...)
		b = append(b, ' ')
	}
	return b[:n]
}

// TestAgainstCompressFlate decodes streams of every kind (stored, fixed,
// dynamic, with dictionaries, long and overlapping copies, window wrap),
// whole, truncated at every length and with corrupted bytes, and expects
// exactly what compress/flate decodes.
func TestAgainstCompressFlate(t *testing.T) {
	var d Decoder
	dict := sample(40<<10, 9)
	for _, size := range []int{0, 1, 100, 512, 4 << 10, 40 << 10, 100 << 10} {
		for _, level := range []int{0, 1, 6, 9, kflate.HuffmanOnly} {
			p := sample(size, uint64(size+level))
			for _, withDict := range []bool{false, true} {
				var dct []byte
				if withDict {
					dct = dict
				}
				for _, final := range []bool{false, true} {
					in := deflate(t, p, dct, level, final)
					got, end := decode(&d, in, dct, 1<<20, 64<<10)
					if !bytes.Equal(got, p) || (final && end != endFinal) || (!final && end != endUnexpected) {
						t.Fatalf("size %d level %d dict %v final %v: got %d bytes, %v", size, level, withDict, final, len(got), end)
					}
					check(t, &d, in, dct, 7, 1000)
					// Truncated at every length, or at some for long input;
					// and with a bit flipped.
					trials := 40
					if size > 4<<10 {
						trials = 4
					}
					r := rand.New(rand.NewPCG(uint64(size), uint64(level)))
					for i := range min(len(in), trials) {
						cut := i
						if len(in) > trials {
							cut = r.IntN(len(in))
						}
						check(t, &d, in[:cut], dct, 1<<20, 333)
					}
					for range trials {
						bad := bytes.Clone(in)
						if len(bad) == 0 {
							break
						}
						bad[r.IntN(len(bad))] ^= byte(1 << r.IntN(8))
						check(t, &d, bad, dct, 1+r.IntN(100), 1+r.IntN(5000))
					}
				}
			}
		}
	}
}

// TestCodes covers the cases of the code tables by hand.
func TestCodes(t *testing.T) {
	var d Decoder
	for _, in := range [][]byte{
		{0x03, 0x00},                   // final empty fixed block
		{0x01, 0x00, 0x00, 0xff, 0xff}, // final empty stored block
		{0x01, 0x01, 0x00, 0xff, 0xff}, // stored length check fails
		{0x07},                         // reserved block type
		{0x00, 0x00, 0x00, 0xff, 0xff}, // empty stored block, then nothing: unexpected EOF
		{0x63, 0x00, 0x00},             // fixed block: a literal, then end
		{0x7b, 0xc0, 0x00},             // fixed block: symbol 286 or 287
		{0x63, 0x60, 0x04, 0x02, 0x00}, // fixed: a copy
		{0x63, 0x00, 0x02, 0x00},       // fixed: distance beyond the history
		{0x05, 0xc0, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x90, 0xff, 0x6b, 0x00},                   // one-code tables
		{0xed, 0xc0, 0x01, 0x01, 0x00, 0x00, 0x00, 0x40, 0x20, 0xff, 0x57, 0x1b, 0x42, 0x2c, 0x4f}, // HDIST too big
		{0xfd, 0xff, 0xff},       // too many codes
		{0x04, 0x00, 0xfe, 0xff}, // dynamic: all code lengths zero
	} {
		check(t, &d, in, nil, 1, 1)
		check(t, &d, in, nil, 100, 100)
	}
}

// TestNoCarryOver decodes a stream whose dynamic block declares an empty
// literal/length code after a stream that used a full one: the second must
// fail the same way on a fresh Decoder and on a used one.
func TestNoCarryOver(t *testing.T) {
	var used Decoder
	p := sample(4<<10, 1)
	for _, level := range []int{1, 9} {
		in := deflate(t, p, nil, level, false)
		decode(&used, in, nil, 1<<20, 1<<20)
		for i := range 64 {
			// Dynamic block headers with the code length code's bits
			// varied: many of them declare empty or one-code tables.
			hdr := []byte{0x04 | byte(i)<<3, byte(i * 37), byte(i * 11), 0, 0, 0xff}
			var fresh Decoder
			want, wantEnd := decode(&fresh, hdr, nil, 1<<20, 1<<20)
			got, gotEnd := decode(&used, hdr, nil, 1<<20, 1<<20)
			if gotEnd != wantEnd || !bytes.Equal(got, want) {
				t.Fatalf("header %x: used decoder %d bytes, %v; fresh one %d bytes, %v", hdr, len(got), gotEnd, len(want), wantEnd)
			}
			check(t, &used, hdr, nil, 3, 7)
		}
	}
}

// fixedBlock encodes tokens as one final block with the fixed codes: a
// token is a literal byte (0–255) or, as [2]int{length, distance}, a
// back-reference. It lets a test choose distances a compressor would not.
func fixedBlock(tokens ...any) []byte {
	var out []byte
	var acc uint64
	var n uint
	put := func(v uint64, bits uint) {
		acc |= v << n
		n += bits
		for n >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	huff := func(code uint64, bits uint) { // most significant bit first
		for i := int(bits) - 1; i >= 0; i-- {
			put(code>>uint(i)&1, 1)
		}
	}
	sym := func(s int) {
		switch {
		case s < 144:
			huff(uint64(0x30+s), 8)
		case s < 256:
			huff(uint64(0x190+s-144), 9)
		case s < 280:
			huff(uint64(s-256), 7)
		default:
			huff(uint64(0xc0+s-280), 8)
		}
	}
	put(0b011, 3) // final, fixed codes
	for _, tok := range tokens {
		switch tok := tok.(type) {
		case int:
			sym(tok)
		case [2]int:
			length, dist := tok[0], tok[1]
			base, s := 3, 257
			for ; s < 285; s++ {
				extra := 0
				if s >= 265 {
					extra = (s - 261) / 4
				}
				if length < base+1<<extra {
					sym(s)
					put(uint64(length-base), uint(extra))
					break
				}
				base += 1 << extra
			}
			if s == 285 {
				sym(285)
			}
			base = 1
			for d := range 30 {
				extra := 0
				if d >= 4 {
					extra = (d - 2) / 2
				}
				if dist < base+1<<extra {
					huff(uint64(d), 5)
					put(uint64(dist-base), uint(extra))
					break
				}
				base += 1 << extra
			}
		}
	}
	sym(256)
	put(0, 7) // pad
	return out
}

// TestCopyNearWindowEnd makes back-references right after the window
// wrapped: a copy must not touch the history beyond what it writes, which
// the oldest distances still reach.
func TestCopyNearWindowEnd(t *testing.T) {
	var d Decoder
	dict := sample(windowSize, 11)
	var lits, pad []any
	for i := range 300 {
		lits = append(lits, 'a'+i%26)
	}
	for range 16 {
		pad = append(pad, 'z') // keeps 8 input bytes buffered: the fast loop
	}
	for _, first := range [][2]int{{16, 100}, {9, 8}, {258, 300}, {3, 9}, {13, 8}} {
		for back := windowSize - 300; back <= windowSize; back++ {
			tokens := append(slices.Clone(lits), first, [2]int{8, back}, [2]int{258, windowSize}, 'x', [2]int{10, back - 3})
			in := fixedBlock(append(tokens, pad...)...)
			check(t, &d, in, dict, 1<<20, 1<<20)
			check(t, &d, in, dict, 3, 5)
		}
	}
	// And in a stream that wraps by itself.
	long := make([]any, 0, 300)
	for range 140 {
		long = append(long, [2]int{258, 1})
	}
	long = append(long, 'a', [2]int{16, 9}, [2]int{8, windowSize - 2}, [2]int{8, windowSize})
	check(t, &d, fixedBlock(append([]any{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'}, long...)...), nil, 1<<20, 1<<20)
}

// TestZeroAllocs checks that decoding allocates nothing.
func TestZeroAllocs(t *testing.T) {
	var d Decoder
	in := deflate(t, sample(4<<10, 2), nil, 1, false)
	src := bytes.NewReader(in)
	p := make([]byte, 8<<10)
	allocs := alloctest.PerRun(100, func() {
		src.Reset(in)
		d.Reset(src, nil)
		for {
			if _, err := d.Read(p); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per stream", allocs)
	}
}

// FuzzDecode compares the Decoder with compress/flate on arbitrary input,
// with and without a dictionary, read in arbitrary chunks.
func FuzzDecode(f *testing.F) {
	long := sample(3000, 3)
	seeds := [][]byte{
		deflate(f, long, nil, 1, false),
		deflate(f, long, nil, 9, true),
		deflate(f, long, nil, 0, false),
		deflate(f, long, nil, kflate.HuffmanOnly, false),
		deflate(f, long[1000:], long[:1000], 5, false),
		{0x05, 0xc0, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x90, 0xff, 0x6b, 0x00},
		{0x63, 0x60, 0x04, 0x02, 0x00},
		{0x01, 0x01, 0x00, 0xfe, 0xff, 0x41},
	}
	for i, s := range seeds {
		fuzzseed.Add(f, s, uint16(i*100), byte(i), uint16(i*1000))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, in []byte, dictLen uint16, chunk byte, psize uint16) {
		dict := sample(int(dictLen)%(40<<10), uint64(dictLen))
		check(t, &d, in, dict, 1+int(chunk), 1+int(psize))
	})
}
