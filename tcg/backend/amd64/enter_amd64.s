#include "textflag.h"

// func enter(thunk, code uintptr, s *env.State) uint32
//
// Generated code runs with the env.State pointer in R14 and the retired
// instruction count in R15, and clobbers every other general-purpose
// register except RSP and RBP, and X0-X15. It uses no stack beyond the
// return address of the CALL. R14 (g in Go's internal ABI) is saved here
// and restored, and X15 zeroed, before returning to Go.
TEXT ·enter(SB), NOSPLIT, $8-28
	MOVQ	R14, 0(SP)
	MOVQ	thunk+0(FP), AX
	MOVQ	code+8(FP), DX
	MOVQ	s+16(FP), R14
	CALL	AX
	MOVQ	0(SP), R14
	XORPS	X15, X15
	MOVL	AX, ret+24(FP)
	RET
