//go:build !purego

#include "textflag.h"

// func line(p unsafe.Pointer)
TEXT ·line(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ	p+0(FP), AX
	PREFETCHT0	(AX)
	RET

// func load(pp unsafe.Pointer) unsafe.Pointer
TEXT ·load(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ	pp+0(FP), AX
	MOVQ	(AX), AX
	MOVQ	AX, ret+8(FP)
	RET
