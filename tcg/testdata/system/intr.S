/*
 * Interrupts: vectored mtvec (an interrupt goes to base + 4*cause,
 * exceptions to base), priority of simultaneous M interrupts, the global
 * enable MIE in M (not taken while clear, taken as soon as it is set) and
 * its irrelevance in lower modes, mie writes taking a pending interrupt at
 * once, a software interrupt (mip.SSIP written by M) delegated to S with
 * mideleg and taken there only with SIE set in S and always in U, and
 * SSIP left pending while M runs.
 *
 * The device drives MEIP, MTIP and MSIP (IRQ_SET / IRQ_CLR).
 */
#include "common.h"

#define MIP_SSIP 0x2
#define MIP_MSIP 0x8
#define MIP_MTIP 0x80
#define MIP_MEIP 0x800

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, mvec
	ori t0, t0, 1			/* vectored */
	csrw mtvec, t0
	LOGCSR(mtvec)
	lla t0, strap
	csrw stvec, t0

	/* MIE clear: a pending enabled interrupt is not taken. */
	li t0, MIP_MEIP | MIP_MTIP | MIP_MSIP
	csrw mie, t0
	IRQ_SET(MIP_MEIP)
	nop
	nop
	LOGCSRM(mip, 0xaaa)		/* MEIP pending */
	csrsi mstatus, MSTATUS_MIE
after_mie:				/* taken here, before anything else runs */
	LOGI(0x1001)

	/* Priority: MEI, then MSI, then MTI. */
	csrci mstatus, MSTATUS_MIE
	IRQ_SET(MIP_MEIP | MIP_MTIP | MIP_MSIP)
	csrsi mstatus, MSTATUS_MIE
after_mie2:
	LOGI(0x1002)

	/* Enabling a pending interrupt in mie takes it at once. */
	csrw mie, zero
	IRQ_SET(MIP_MTIP)
	li t0, MIP_MTIP
	csrs mie, t0
after_mie3:
	LOGI(0x1003)

	/* An exception goes to the vector base. */
m_ecall:
	ecall

	/* SSIP, delegated: never taken in M. */
	csrci mstatus, MSTATUS_MIE
	li t0, MIP_SSIP
	csrw mideleg, t0
	li t0, MIP_SSIP | MIP_MEIP
	csrw mie, t0
	li t0, MIP_SSIP
	csrs mip, t0
	csrsi mstatus, MSTATUS_MIE
	nop
	LOGCSRM(mip, 0xaaa)		/* SSIP still pending */

	/* S mode with SIE clear and MIE clear (MPIE clear). */
	li t0, MSTATUS_MPP | MSTATUS_MPIE
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret
s_code:
	nop
	LOGCSR(sip)			/* SSIP pending, not taken: SIE clear */
	LOGCSR(sie)
	csrsi sstatus, MSTATUS_SIE
after_sie:
	LOGI(0x2001)

	/* An M interrupt is taken from S even with MIE clear. */
	IRQ_SET(MIP_MEIP)
s_wait:
	j s_spin
s_spin:
	LOGI(0x2002)

	/* In U, a delegated interrupt is taken whatever SIE. */
	csrci sstatus, MSTATUS_SIE
	csrsi sip, MIP_SSIP
	nop
	LOGCSR(sip)			/* pending, SIE clear: not taken in S */
	li t0, MSTATUS_SPIE | MSTATUS_SPP
	csrc sstatus, t0
	lla t0, u_code
	csrw sepc, t0
	sret
u_code:
	nop
	nop
	EXIT

	/* The M vector table. */
	.balign 256
mvec:
	j mexc				/* 0: exceptions */
	j mbad				/* 1: SSI */
	j mbad
	j mmsi				/* 3: MSI */
	j mbad
	j mbad				/* 5: STI */
	j mbad
	j mmti				/* 7: MTI */
	j mbad
	j mbad				/* 9: SEI */
	j mbad
	j mmei				/* 11: MEI */
mmsi:
	LOGI(0x103)
	LOGCSR(mcause)
	LOGCSR(mepc)
	IRQ_CLR(MIP_MSIP)
	mret
mmti:
	LOGI(0x107)
	LOGCSR(mcause)
	LOGCSR(mepc)
	IRQ_CLR(MIP_MTIP)
	mret
mmei:
	LOGI(0x10b)
	LOGCSR(mcause)
	LOGCSR(mepc)
	LOGCSRM(mstatus, MSTATUS_STACKS)
	IRQ_CLR(MIP_MEIP)
	mret
mexc:
	LOGI(0x100)
	LOGCSR(mcause)
	LOGCSR(mepc)
	li t0, EXIT_A7
	bne a7, t0, 1f
	DONE
1:	csrr t0, mepc
	addi t0, t0, 4
	csrw mepc, t0
	mret
mbad:
	LOGI(0xbad)
	LOGCSR(mcause)
	LOGCSR(mepc)
	DONE

strap:
	LOGI(0x201)
	LOGCSR(scause)
	LOGCSR(sepc)
	LOGCSRM(sstatus, MSTATUS_STACKS)
	csrci sip, MIP_SSIP
	sret
