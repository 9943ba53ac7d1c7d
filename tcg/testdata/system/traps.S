/*
 * Synchronous traps into M mode from M, S and U: ECALL (causes 11, 9, 8),
 * illegal instructions (mtval holds the instruction), EBREAK (mtval holds
 * its address), privileged instructions and CSRs from too low a mode, and
 * the MPP/MPIE/MIE stack that trap entry and MRET maintain.
 *
 * The M-mode handler logs mcause, mepc, mtval and the mstatus stacks of
 * every trap, then skips the instruction.
 */
#include "common.h"

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, mtrap
	csrw mtvec, t0

	/* M mode, MIE clear. */
m_ecall:
	ecall
m_illegal:
	.word 0x0000007b		/* custom-3 opcode: illegal */
m_csr:
	csrr a0, 0x7c0			/* no such CSR */
m_ebreak:
	ebreak

	/* The MPIE/MIE stack: trap entry moves MIE into MPIE and clears
	 * MIE; MRET moves it back, sets MPIE and leaves MPP at U. No
	 * interrupt is enabled in mie, so MIE=1 takes none. */
	csrsi mstatus, MSTATUS_MIE
m_ecall_mie:
	ecall
	LOGCSRM(mstatus, MSTATUS_STACKS)	/* after MRET: MIE=1, MPIE=1, MPP=U */
	csrci mstatus, MSTATUS_MIE

	/* Down to S mode (MPIE clear: S runs with MIE clear). */
	li t0, MSTATUS_MPP | MSTATUS_MPIE
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret

s_code:
s_ecall:
	ecall
	LOGCSR(sstatus)			/* an S CSR: fine (the value is checked in Go) */
s_mstatus:
	csrr a0, mstatus		/* an M CSR from S: illegal */
s_mscratch:
	csrw mscratch, a0
s_mhartid:
	csrr a0, mhartid
s_mret:
	mret				/* MRET from S: illegal */
s_ebreak:
	ebreak
s_fault:
	ld a0, 8(zero)			/* no RAM, no device: load access fault */
s_sfault:
	sd a0, 16(zero)			/* store access fault */

	/* Down to U mode through SRET (SPP clear). */
	li t0, MSTATUS_SPP
	csrc sstatus, t0
	lla t0, u_code
	csrw sepc, t0
	sret

u_code:
u_ecall:
	ecall
u_sstatus:
	csrr a0, sstatus		/* an S CSR from U: illegal */
u_sret:
	sret
u_wfi:
	wfi
u_sfence:
	sfence.vma
u_ebreak:
	ebreak
	li t0, 0x1000
u_jalr:
	jalr ra, 0(t0)			/* nothing at 0x1000: instruction access fault */
u_jump:
u_exit:
	EXIT

mtrap:
	LOGCSR(mcause)
	LOGCSR(mepc)
	LOGCSR(mtval)
	LOGCSRM(mstatus, MSTATUS_STACKS)
	li t0, EXIT_A7
	bne a7, t0, 1f
	DONE
1:	csrr t0, mcause
	li t1, 1			/* instruction access fault: resume at ra */
	bne t0, t1, 2f
	csrw mepc, ra
	mret
2:	csrr t0, mepc
	addi t0, t0, 4
	csrw mepc, t0
	mret
