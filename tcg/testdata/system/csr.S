/*
 * Machine CSRs and their WARL rules, counters, and the trap-virtualization
 * bits TVM and TSR (privileged spec 2.1, 3.1).
 */
#include "common.h"

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, mtrap
	csrw mtvec, t0

	LOGCSR(misa)
	LOGCSR(mhartid)
	csrr a0, minstret		/* consecutive reads: one instruction apart */
	csrr a1, minstret
	sub a0, a1, a0
	LOG(a0)
	csrr a0, instret
	csrr a1, instret
	sub a0, a1, a0
	LOG(a0)
	csrr a0, mcycle
	addi zero, zero, 0
	addi zero, zero, 0
	csrr a1, mcycle
	sub a0, a1, a0
	LOG(a0)				/* mcycle counts retired instructions: 3 */
	csrr a0, mstatus		/* MPP is WARL: 2 is not a mode */
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, 2 << 11
	csrs mstatus, t0
	LOGCSRM(mstatus, MSTATUS_MPP)
	lla t0, mtrap
	ori t1, t0, 3			/* reserved mtvec mode */
	csrw mtvec, t1
	LOGCSR(mtvec)
	csrw mtvec, t0
	li t0, 0x80000003
	csrw mepc, t0
	LOGCSR(mepc)			/* bit 0 reads zero */
	csrw sepc, t0
	LOGCSR(sepc)
	li t0, 3
	csrw mscratch, t0
	LOGCSR(mscratch)
m_hartid:
	csrw mhartid, zero		/* read-only: illegal */
m_cycle:
	csrw cycle, zero		/* read-only: illegal */

	/* TVM, TW and TSR: satp, SFENCE.VMA, WFI and SRET from S are
	 * illegal. */
	li t0, (1 << 20) | (1 << 21) | (1 << 22)
	csrs mstatus, t0
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret
s_code:
s_satp:
	csrr a0, satp
s_sfence:
	sfence.vma
s_sret:
	sret
s_wfi:
	wfi
	csrr a0, sscratch		/* S CSRs are fine */
s_exit:
	EXIT

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
