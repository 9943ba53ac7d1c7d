/*
 * A hart whose M mode belongs to the VMM (MachineMode false): it starts
 * in S mode with everything delegable delegated; an ECALL from S is
 * reported to the embedder (an SBI call), which returns a value in a0 and
 * can raise SSIP (an IPI); everything else traps to S.
 */
#include "common.h"

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, strap
	csrw stvec, t0
	csrr a0, sstatus
	LOG(a0)
	li a7, 0x10
	li a0, 41
sbi_add:
	ecall				/* the test returns a0 + 1 */
	LOG(a0)
s_mstatus:
	csrr a0, mstatus		/* illegal, delegated to S */
s_ebreak:
	ebreak
	li t0, 2
	csrs sie, t0
	csrsi sstatus, MSTATUS_SIE
	li a7, 0x20
sbi_ipi:
	ecall				/* the test raises SSIP */
after_ipi:
	LOGI(0x33)
	rdtime a0
	snez a0, a0
	LOG(a0)				/* time counts (mcounteren set by the VMM) */

	/* U mode. */
	csrci sstatus, MSTATUS_SIE
	li t0, MSTATUS_SPP
	csrc sstatus, t0
	lla t0, u_code
	csrw sepc, t0
	sret
u_code:
u_ecall:
	ecall				/* delegated to S */
u_exit:
	EXIT

strap:
	LOGCSR(scause)
	LOGCSR(sepc)
	LOGCSR(stval)
	csrr t0, scause
	bgez t0, 1f
	csrci sip, 2			/* the IPI */
	sret
1:	li t0, EXIT_A7
	bne a7, t0, 2f
	DONE
2:	csrr t0, sepc
	addi t0, t0, 4
	csrw sepc, t0
	sret
