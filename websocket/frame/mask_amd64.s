//go:build amd64 && !purego

#include "textflag.h"

// func maskWide(p *byte, n int, key uint64)
//
// XORs the n bytes at p (n a positive multiple of 32) with key broadcast
// to every 8-byte lane: 128 bytes (four registers) per iteration, then 32
// at a time. Unaligned loads and stores: p may point anywhere.
TEXT ·maskWide(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ key+16(FP), X0
	VPBROADCASTQ X0, Y0
	CMPQ CX, $128
	JB   tail

loop128:
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VPXOR   64(DI), Y0, Y3
	VPXOR   96(DI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     loop128

tail:
	TESTQ CX, CX
	JZ    done

loop32:
	VPXOR   (DI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $32, CX
	JNZ     loop32

done:
	VZEROUPPER
	RET

// func maskCopyWide(dst, src *byte, n int, key uint64)
//
// Writes the n bytes at src XORed with key to dst (n a positive multiple
// of 32), as maskWide does in place.
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
