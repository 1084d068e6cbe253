//go:build amd64 && !purego

package frame

import "golang.org/x/sys/cpu"

// maskWideMin is the shortest input Mask hands to maskWide, which it gives
// the longest prefix that is a multiple of 32 bytes.
const maskWideMin = 64

// hasMaskWide reports whether maskWide may be called: it uses AVX2.
var hasMaskWide = cpu.X86.HasAVX2

// maskWide XORs the n bytes at p (n a positive multiple of 32)
// with key, the 4-byte masking key repeated twice, 32 bytes per
// instruction. Implemented in mask_amd64.s.
//
//go:noescape
func maskWide(p *byte, n int, key uint64)

// maskCopyWide writes the n bytes at src (n a positive multiple of 32)
// XORed with key to dst. Implemented in mask_amd64.s.
//
//go:noescape
func maskCopyWide(dst, src *byte, n int, key uint64)
