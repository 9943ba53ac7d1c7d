/* Prints a line through SBI's debug console, then powers off through
   SBI system reset. */
#include "image.h"
IMAGE_HEADER
entry:
	/* a0 = hart ID, a1 = device tree: check the boot protocol. */
	bnez a0, fail
	lwu t0, 0(a1)
	li t1, 0xedfe0dd0 /* FDT magic, big-endian, read little-endian */
	bne t0, t1, fail
	li a7, SBI_DBCN
	li a6, 0
	la a1, msg
	la a0, msg_end
	sub a0, a0, a1
	li a2, 0
	ecall
	bnez a0, fail
	li a7, SBI_SRST
	li a6, 0
	li a0, 0
	li a1, 0
	ecall
fail:
	li a7, SBI_SRST
	li a6, 0
	li a0, 0
	li a1, 1 /* system failure */
	ecall
1:	j 1b
msg:	.ascii "hello from S mode\n"
msg_end:
