/*
 * Exception delegation (medeleg) and the S-mode trap stack: an exception
 * delegated to S is taken in S from S and U and never from M (it then
 * goes to M); SPP/SPIE/SIE across trap entry and SRET; the WARL masks of
 * medeleg and mideleg; an M-only CSR stays illegal from S; S writes to
 * sstatus reach mstatus only in S fields.
 *
 * Both handlers log a tag ('M' or 'S'), the cause, epc, tval and the
 * status stacks, then skip the instruction.
 */
#include "common.h"

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, mtrap
	csrw mtvec, t0
	lla t0, strap
	csrw stvec, t0

	/* WARL: every delegable exception, the S interrupts only. */
	li t0, -1
	csrw medeleg, t0
	LOGCSR(medeleg)
	csrw mideleg, t0
	LOGCSR(mideleg)
	csrw mideleg, zero

	/* Illegal instructions, ECALL from U and breakpoints go to S. */
	li t0, (1 << 2) | (1 << 3) | (1 << 8)
	csrw medeleg, t0

	/* In M, a delegated exception still traps to M. */
m_illegal:
	.word 0x0000007b
m_ebreak:
	ebreak

	/* S mode, SIE set. */
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret
s_code:
	csrsi sstatus, MSTATUS_SIE
s_illegal:
	.word 0x0000007b		/* delegated: taken in S, SPP=S, SPIE=1 */
	LOGCSRM(sstatus, MSTATUS_STACKS)	/* after SRET: SIE=1, SPIE=1, SPP=U */
s_mstatus:
	csrr a0, mstatus		/* illegal, delegated: S again */
s_ecall:
	ecall				/* ECALL from S is not delegated: M */
	/* sstatus writes change only the S fields of mstatus. */
	li t0, -1
	csrw sstatus, t0
	LOGCSR(sstatus)
	csrw sstatus, zero
	LOGCSR(sstatus)

	/* U mode, SPIE clear: SIE stays clear after SRET. */
	li t0, MSTATUS_SPIE
	csrc sstatus, t0
	li t0, MSTATUS_SPP
	csrc sstatus, t0
	lla t0, u_code
	csrw sepc, t0
	sret
u_code:
u_ecall:
	ecall				/* delegated: S, SPP=U */
u_ebreak:
	ebreak
u_illegal:
	csrr a0, sie			/* an S CSR from U: illegal, delegated */
u_fault:
	ld a0, 8(zero)			/* access faults are not delegated: M */
u_exit:
	EXIT				/* to S; S ends the program */

mtrap:
	LOGI(0x4d)			/* 'M' */
	LOGCSR(mcause)
	LOGCSR(mepc)
	LOGCSR(mtval)
	LOGCSRM(mstatus, MSTATUS_STACKS)
	li t0, EXIT_A7
	bne a7, t0, 1f
	DONE
1:	csrr t0, mepc
	addi t0, t0, 4
	csrw mepc, t0
	mret

strap:
	LOGI(0x53)			/* 'S' */
	LOGCSR(scause)
	LOGCSR(sepc)
	LOGCSR(stval)
	LOGCSRM(sstatus, MSTATUS_STACKS)
	li t0, EXIT_A7
	bne a7, t0, 1f
	DONE
1:	csrr t0, sepc
	addi t0, t0, 4
	csrw sepc, t0
	sret
