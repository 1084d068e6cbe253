//go:build amd64 && !purego

package frame

import "golang.org/x/sys/cpu"

// maskWideMin is the shortest input Mask and MaskCopy hand to
// maskCopyWide, which they give the longest prefix that is a multiple of
// 32 bytes.
const maskWideMin = 64

// hasMaskWide reports whether maskCopyWide may be called: it uses AVX2.
var hasMaskWide = cpu.X86.HasAVX2

// maskCopyWide writes the n bytes at src (n a positive multiple of 32)
// XORed with key (the 4-byte masking key twice) to dst, 32 bytes per
// instruction; dst may be src. Implemented in mask_amd64.s.
//
//go:noescape
func maskCopyWide(dst, src *byte, n int, key uint64)
