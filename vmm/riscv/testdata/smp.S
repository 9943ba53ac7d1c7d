/* Hart 0 starts hart 1 with SBI HSM; hart 1 reports in, waits in WFI for
   an IPI, takes it as a supervisor software interrupt, reports again and
   stops itself; hart 0 sees each step. */
#include "image.h"
IMAGE_HEADER
entry:
	la s0, flags
	li a7, SBI_HSM
	li a6, 2 /* hart_get_status(1): stopped */
	li a0, 1
	ecall
	EXPECT(a0, 0, 1)
	EXPECT(a1, 1, 2)
	li a7, SBI_HSM
	li a6, 0 /* hart_start(1, second, 0x1234) */
	li a0, 1
	la a1, second
	li a2, 0x1234
	ecall
	EXPECT(a0, 0, 3)
1:	lw t2, 0(s0) /* hart 1 up */
	beqz t2, 1b
	EXPECT(t2, 0x1234, 4)
	fence
	li a7, 0x735049 /* send_ipi(mask 0b10, base 0) */
	li a6, 0
	li a0, 2
	li a1, 0
	ecall
	EXPECT(a0, 0, 5)
2:	lw t2, 4(s0) /* hart 1 took the IPI */
	beqz t2, 2b
3:	li a7, SBI_HSM /* wait until hart 1 has stopped itself */
	li a6, 2
	li a0, 1
	ecall
	li t0, 1
	bne a1, t0, 3b
	PASS

second:
	/* a0 = hart ID, a1 = opaque */
	EXPECT(a0, 1, 20)
	la s0, flags
	la t0, strap
	csrw stvec, t0
	li t0, 2 /* SSIE */
	csrw sie, t0
	csrsi sstatus, 2 /* SIE */
	sw a1, 0(s0)
4:	wfi
	lw t2, 4(s0)
	beqz t2, 4b
	li a7, SBI_HSM /* hart_stop */
	li a6, 1
	ecall
5:	j 5b

	.balign 4
strap:
	csrr t0, scause
	li t1, (1 << 63) | 1
	EXPECT(t0, (1 << 63) | 1, 21)
	csrci sip, 2
	li t0, 1
	sw t0, 4(s0)
	sret

	.data
	.balign 8
flags:	.word 0, 0
