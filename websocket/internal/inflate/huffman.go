package inflate

import (
	"encoding/binary"
	"math/bits"
)

// An entry of a lookup table, one uint32:
//
//	bits  0–3   code length: bits the symbol takes (0: no code has these bits)
//	bits  4–7   extra bits that follow a length or distance symbol; for a
//	            link, the index bits of its subtable
//	bits  8–15  kind flags
//	bits 16–31  value: literal byte, length or distance base, or the
//	            offset of a subtable
//
// A root table of 1<<rootBits entries is indexed by the next rootBits bits
// of input (the bit buffer's low bits); codes longer than rootBits go
// through a link entry to a subtable indexed by the bits after the root's.
const (
	entryLiteral = 1 << 8  // a literal byte
	entryLength  = 1 << 9  // a length, base and extra bits
	entryEnd     = 1 << 10 // the end of the block
	entryLink    = 1 << 11 // a root entry pointing to a subtable
	entryBad     = 1 << 12 // a symbol that decodes but is not allowed (286, 287; distances 30, 31)

	lenMask = 0xf
)

func entryLen(e uint32) uint   { return uint(e & lenMask) }
func entryExtra(e uint32) uint { return uint(e>>4) & 0xf }
func entryValue(e uint32) uint { return uint(e >> 16) }

const (
	maxCodeLen = 15
	numLitLen  = 288 // literal/length symbols a fixed block may use; dynamic blocks use up to 286
	numDist    = 32  // distance symbols a fixed block may use; dynamic blocks use up to 30

	maxLitCodes  = 286
	maxDistCodes = 30

	litRootBits  = 9
	distRootBits = 6
	clenRootBits = 7

	// Table sizes: zlib's ENOUGH_LENS and ENOUGH_DISTS, the largest tables
	// a complete code of up to 286 (30) symbols and 15 bits needs with 9
	// (6) root bits. The fixed codes are smaller.
	litTableSize  = 852
	distTableSize = 592
)

// litTemplate and distTemplate are the entries of every symbol, without
// the code length.
var litTemplate, distTemplate [numLitLen]uint32

func init() {
	for s := range 256 {
		litTemplate[s] = entryLiteral | uint32(s)<<16
	}
	litTemplate[256] = entryEnd
	base := uint32(3)
	for s := 257; s < 285; s++ {
		extra := uint32(0)
		if s >= 265 {
			extra = uint32(s-261) / 4
		}
		litTemplate[s] = entryLength | extra<<4 | base<<16
		base += 1 << extra
	}
	litTemplate[285] = entryLength | 258<<16
	litTemplate[286] = entryBad
	litTemplate[287] = entryBad

	base = 1
	for s := range 30 {
		extra := uint32(0)
		if s >= 4 {
			extra = uint32(s-2) / 2
		}
		distTemplate[s] = extra<<4 | base<<16
		base += 1 << extra
	}
	distTemplate[30] = entryBad
	distTemplate[31] = entryBad
}

// build fills table with the canonical Huffman code of lengths (one per
// symbol, 0 for an unused symbol), giving symbol s the entry
// template[s] with its code length. It reports false for an
// over-subscribed code and for an incomplete one other than a single code
// of one bit (zlib writes those) or no code at all; in those two, the
// entries no code reaches are 0.
func build(table []uint32, rootBits uint, lengths []uint8, template []uint32) (minLen uint, ok bool) {
	// Most lengths of a small message's codes are 0 (unused symbols):
	// skip them eight at a time.
	var count [maxCodeLen + 1]uint16
	forNonZero(lengths, func(_ int, l uint8) { count[l]++ })
	maxLen := uint(maxCodeLen)
	for maxLen > 0 && count[maxLen] == 0 {
		maxLen--
	}
	root := uint(1) << rootBits
	if maxLen == 0 {
		clear(table[:root])
		return 0, true
	}
	minLen = 1
	for count[minLen] == 0 {
		minLen++
	}
	left := 1
	for l := 1; l <= maxCodeLen; l++ {
		left = left<<1 - int(count[l])
		if left < 0 {
			return 0, false
		}
	}
	if left > 0 {
		if maxLen != 1 || count[1] != 1 {
			return 0, false
		}
		clear(table[:root])
	}

	// Symbols sorted by code length, then by value: canonical code order.
	var offs [maxCodeLen + 2]uint16
	for l := 1; l <= maxCodeLen; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	var sorted [numLitLen]uint16
	forNonZero(lengths, func(s int, l uint8) {
		sorted[offs[l]] = uint16(s)
		offs[l]++
	})
	n := int(offs[maxCodeLen+1])

	// Codes no longer than the root: each fills every root entry whose low
	// bits are its (bit-reversed) code.
	codeVal := 0 // the next code, most significant bit first
	i := 0
	l := minLen
	for ; l <= rootBits && l <= maxLen; l++ {
		step := 1 << l
		for k := 0; k < int(count[l]); k++ {
			s := sorted[i]
			i++
			e := template[s] | uint32(l)
			for j := reverse(codeVal, l); j < int(root); j += step {
				table[j] = e
			}
			codeVal++
		}
		codeVal <<= 1
	}
	if i == n {
		return minLen, true
	}
	// The remaining codes, longer than the root, go to subtables: one per
	// root prefix, as deep as the longest code under it needs (zlib's
	// sizing), placed after the root table.
	// count[l] counts the codes of length l still to place.
	next := int(root)
	prefix := -1
	subBase, subBits := 0, uint(0)
	for ; l <= maxLen; l++ {
		for count[l] > 0 {
			p := codeVal >> (l - rootBits)
			if p != prefix {
				prefix = p
				// Size the subtable: grow while codes of the next lengths
				// cannot fill it.
				curr := l - rootBits
				space := 1 << curr
				for curr+rootBits < maxLen {
					space -= int(count[curr+rootBits])
					if space <= 0 {
						break
					}
					curr++
					space <<= 1
				}
				subBase, subBits = next, curr
				next += 1 << curr
				if next > len(table) {
					return 0, false
				}
				table[reverse(p, rootBits)] = entryLink | uint32(curr)<<4 | uint32(subBase)<<16 | uint32(rootBits)
			}
			s := sorted[i]
			i++
			count[l]--
			e := template[s] | uint32(l)
			step := 1 << (l - rootBits)
			end := subBase + 1<<subBits
			for j := subBase + reverse(codeVal, l)>>rootBits; j < end; j += step {
				table[j] = e
			}
			codeVal++
		}
		codeVal <<= 1
	}
	return minLen, true
}

// forNonZero calls f with the index and value of every non-zero byte of b,
// in order, skipping zeros eight at a time.
func forNonZero(b []uint8, f func(i int, v uint8)) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) == 0 {
			continue
		}
		for j, v := range b[i : i+8] {
			if v != 0 {
				f(i+j, v)
			}
		}
	}
	for j, v := range b[i:] {
		if v != 0 {
			f(i+j, v)
		}
	}
}

// reverse returns the n low bits of v in reverse order.
func reverse(v int, n uint) int {
	return int(bits.Reverse16(uint16(v)) >> (16 - n))
}
