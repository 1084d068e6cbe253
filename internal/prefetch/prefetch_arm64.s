//go:build !purego

#include "textflag.h"

// func line(p unsafe.Pointer)
TEXT ·line(SB), NOSPLIT|NOFRAME, $0-8
	MOVD	p+0(FP), R0
	PRFM	(R0), PLDL1KEEP
	RET

// func load(pp unsafe.Pointer) unsafe.Pointer
TEXT ·load(SB), NOSPLIT|NOFRAME, $0-16
	MOVD	pp+0(FP), R0
	MOVD	(R0), R0
	MOVD	R0, ret+8(FP)
	RET
