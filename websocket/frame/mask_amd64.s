//go:build amd64 && !purego

#include "textflag.h"

// func maskCopyWide(dst, src *byte, n int, key uint64)
//
// Writes the n bytes at src (n a positive multiple of 32) XORed with key,
// broadcast to every 8-byte lane, to dst: 128 bytes (four registers) per
// iteration, then 32 at a time. Each chunk is loaded before it is stored,
// so dst may be src (masking in place). Unaligned loads and stores.
TEXT ·maskCopyWide(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ key+24(FP), X0
	VPBROADCASTQ X0, Y0
	CMPQ CX, $128
	JB   tail

loop128:
	VPXOR   (SI), Y0, Y1
	VPXOR   32(SI), Y0, Y2
	VPXOR   64(SI), Y0, Y3
	VPXOR   96(SI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     loop128

tail:
	TESTQ CX, CX
	JZ    done

loop32:
	VPXOR   (SI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, CX
	JNZ     loop32

done:
	VZEROUPPER
	RET
