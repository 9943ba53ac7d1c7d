/*
 * mstatus.FS (privileged spec 3.1.6.6): with FS off, FP instructions and
 * the FP CSRs are illegal; with FS on they work and mstatus reports the
 * state (SD summarizes it). The same code runs under both settings, so
 * translations must not be shared between them. S mode controls FS
 * through sstatus.
 */
#include "common.h"

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, mtrap
	csrw mtvec, t0

	LOGCSRM(mstatus, MSTATUS_FS)	/* off at reset */
	call fp_op			/* illegal */
f_fcsr:
	csrr a0, fcsr			/* illegal */
	li t0, 1 << 13			/* FS = Initial */
	csrs mstatus, t0
	csrr t0, mstatus
	srli t1, t0, 13
	andi t1, t1, 3
	snez t1, t1
	LOG(t1)				/* FS not off */
	srli t1, t0, 63
	LOG(t1)				/* SD */
	li t0, 0x3ff8000000000000	/* 1.5 */
	fmv.d.x f1, t0
	li t0, 0x4002000000000000	/* 2.25 */
	fmv.d.x f2, t0
	call fp_op
	fmv.x.d a0, f0
	LOG(a0)				/* 3.75 */
	csrr a0, fcsr
	LOG(a0)
	li t0, MSTATUS_FS		/* off again */
	csrc mstatus, t0
	call fp_op			/* illegal again */
	csrr a0, mstatus
	srli a0, a0, 63
	LOG(a0)				/* SD clear */

	/* S mode turns FP on through sstatus. */
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret
s_code:
	call fp_op			/* illegal */
	li t0, 3 << 13
	csrs sstatus, t0
	call fp_op
	fmv.x.d a0, f0
	LOG(a0)
s_exit:
	EXIT

fp_op:
fp_insn:
	fadd.d f0, f1, f2
	ret

mtrap:
	LOGCSR(mcause)
	LOGCSR(mepc)
	LOGCSR(mtval)
	li t0, EXIT_A7
	bne a7, t0, 1f
	DONE
1:	csrr t0, mepc
	addi t0, t0, 4
	csrw mepc, t0
	mret
