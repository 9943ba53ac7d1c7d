/* SBI calls with bad arguments get SBI errors; the hart goes on. */
#include "image.h"
IMAGE_HEADER
entry:
	/* An extension that does not exist: SBI_ERR_NOT_SUPPORTED. */
	li a7, 0x12345678
	li a6, 0
	ecall
	EXPECT(a0, -2, 1)
	/* probe_extension of it: 0; of HSM: 1. */
	li a7, SBI_BASE
	li a6, 3
	li a0, 0x12345678
	ecall
	EXPECT(a0, 0, 2)
	EXPECT(a1, 0, 3)
	li a7, SBI_BASE
	li a6, 3
	li a0, SBI_HSM
	ecall
	EXPECT(a1, 1, 4)
	/* hart_start of a hart that does not exist: INVALID_PARAM. */
	li a7, SBI_HSM
	li a6, 0
	li a0, 99
	li a1, 0x80200000
	ecall
	EXPECT(a0, -3, 5)
	/* hart_start at an address outside RAM: INVALID_ADDRESS. */
	li a7, SBI_HSM
	li a6, 0
	li a0, 1
	li a1, 0x1000
	ecall
	EXPECT(a0, -5, 6)
	/* hart_start of the running hart: ALREADY_AVAILABLE. */
	li a7, SBI_HSM
	li a6, 0
	li a0, 0
	li a1, 0x80200000
	ecall
	EXPECT(a0, -6, 7)
	/* A debug-console write from outside RAM: INVALID_PARAM. */
	li a7, SBI_DBCN
	li a6, 0
	li a0, 16
	li a1, 0x1000
	li a2, 0
	ecall
	EXPECT(a0, -3, 8)
	/* A huge length is cut short, not an error. */
	li a7, SBI_DBCN
	li a6, 0
	li a0, -1
	la a1, msg
	li a2, 0
	ecall
	EXPECT(a0, 0, 9)
	/* System reset with an unknown type: INVALID_PARAM. */
	li a7, SBI_SRST
	li a6, 0
	li a0, 7
	li a1, 0
	ecall
	EXPECT(a0, -3, 10)
	/* An IPI to a hart that does not exist: INVALID_PARAM. */
	li a7, 0x735049
	li a6, 0
	li a0, 4
	li a1, 0
	ecall
	EXPECT(a0, -3, 11)
	/* A remote fence with a mask base past the harts: INVALID_PARAM. */
	li a7, 0x52464e43
	li a6, 1
	li a0, 1
	li a1, 100
	ecall
	EXPECT(a0, -3, 12)
	/* A function that does not exist in a known extension. */
	li a7, SBI_HSM
	li a6, 99
	ecall
	EXPECT(a0, -2, 13)
	PASS
msg:	.ascii "x"
