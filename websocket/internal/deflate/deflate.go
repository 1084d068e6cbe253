package deflate

import "math/bits"

// MaxInput is the longest input [Encoder.Compress] accepts; positions in
// its match table are 16-bit.
const MaxInput = 1 << 15

const (
	hashBits = 11
	minMatch = 4
	maxMatch = 258
	eob      = 256
)

// Encoder compresses messages one at a time. The zero value is ready to
// use; it is not safe for concurrent use.
type Encoder struct {
	// table maps the hash of 4 bytes to 1 + the position where they were
	// last seen in the current input, 0 for none.
	table [1 << hashBits]uint16
}

// The fixed codes, bit-reversed (DEFLATE sends Huffman codes most
// significant bit first into a least-significant-first bit stream), and
// their lengths; the lookup tables from a match's length and distance to
// its symbol.
var (
	litCode  [288]uint16
	litLen   [288]uint8
	distCode [30]uint8
	lenSym   [maxMatch + 1]uint8 // length → length symbol − 257
	distSym  [512]uint8          // distance − 1 → distance symbol, for distances up to 512
)

var (
	lenBase   = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra  = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase  = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

func init() {
	for v := range 288 {
		var code, n int
		switch {
		case v < 144:
			code, n = 0x30+v, 8
		case v < 256:
			code, n = 0x190+v-144, 9
		case v < 280:
			code, n = v-256, 7
		default:
			code, n = 0xc0+v-280, 8
		}
		litCode[v] = bits.Reverse16(uint16(code)) >> (16 - n)
		litLen[v] = uint8(n)
	}
	for d := range 30 {
		distCode[d] = bits.Reverse8(uint8(d)) >> 3
	}
	// Length 258 has a symbol of its own (285), though 284's range
	// would reach it.
	for s := range 28 {
		for l := int(lenBase[s]); l < int(lenBase[s])+1<<lenExtra[s] && l < maxMatch; l++ {
			lenSym[l] = uint8(s)
		}
	}
	lenSym[maxMatch] = 28
	for s := range 18 { // distance symbols 0–17 cover 1–512
		for d := int(distBase[s]); d < int(distBase[s])+1<<distExtra[s]; d++ {
			distSym[d-1] = uint8(s)
		}
	}
}

// distSymbol returns the symbol of distance d (1–32768).
func distSymbol(d int) int {
	if d <= len(distSym) {
		return int(distSym[d-1])
	}
	// Beyond 4, each pair of symbols covers a power of two: the symbol is
	// twice the top bit's position of d−1, plus the bit below it.
	x := uint(d - 1)
	top := bits.Len(x) - 1
	return 2*top + int(x>>(top-1)&1)
}

// bitWriter appends bits to a byte slice, least significant first.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint // bits in acc
}

// put appends the n low bits of v (n ≤ 32).
func (w *bitWriter) put(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	if w.n >= 32 {
		w.out = append(w.out, byte(w.acc), byte(w.acc>>8), byte(w.acc>>16), byte(w.acc>>24))
		w.acc >>= 32
		w.n -= 32
	}
}

// flush appends the bits left, padded with zeros to a whole byte.
func (w *bitWriter) flush() {
	for range (w.n + 7) / 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
	}
	w.acc, w.n = 0, 0
}

func load32(p []byte, i int) uint32 {
	b := p[i : i+4]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// Compress appends p, compressed as a permessage-deflate message payload
// (see the package invariants), to dst and returns the extended slice.
// Back-references reach at most maxDist bytes back (at least 1; the
// sender's window, 1 << window bits). p must not be longer than
// [MaxInput].
func (e *Encoder) Compress(dst, p []byte, maxDist int) []byte {
	if len(p) > MaxInput {
		panic("deflate: input longer than MaxInput")
	}
	clear(e.table[:])
	w := bitWriter{out: dst}
	w.put(0b010, 3) // not the final block; fixed codes
	i, n := 0, len(p)
	for i+minMatch <= n {
		v := load32(p, i)
		h := (v * 0x1e35a7bd) >> (32 - hashBits)
		cand := int(e.table[h]) - 1
		e.table[h] = uint16(i + 1)
		if cand >= 0 && i-cand <= maxDist && load32(p, cand) == v {
			l := minMatch
			for i+l < n && l < maxMatch && p[cand+l] == p[i+l] {
				l++
			}
			s := lenSym[l]
			w.put(uint64(litCode[257+int(s)]), uint(litLen[257+int(s)]))
			w.put(uint64(l-int(lenBase[s])), uint(lenExtra[s]))
			d := i - cand
			ds := distSymbol(d)
			w.put(uint64(distCode[ds]), 5)
			w.put(uint64(d-int(distBase[ds])), uint(distExtra[ds]))
			i += l
			continue
		}
		w.put(uint64(litCode[p[i]]), uint(litLen[p[i]]))
		i++
	}
	for ; i < n; i++ {
		w.put(uint64(litCode[p[i]]), uint(litLen[p[i]]))
	}
	w.put(uint64(litCode[eob]), uint(litLen[eob]))
	w.put(0, 3) // an empty stored block begins: not final, type 00
	w.flush()
	return w.out
}
