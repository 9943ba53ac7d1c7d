/*
 * The supervisor timer (Sstc): without menvcfg.STCE, stimecmp is illegal
 * in S and M owns mip.STIP; with it, M cannot write STIP, STIP follows
 * time >= stimecmp (the machine's SetTimer hook drives the line), a
 * deadline in the past makes it pending at once, and a future deadline
 * wakes WFI and interrupts a busy loop.
 */
#include "common.h"

#define CSR_STIMECMP 0x14d
#define CSR_MENVCFG  0x30a
#define MIP_STIP     0x20

	.text
	.globl _start
_start:
	li s11, DEV
	lla s2, flag			/* the handler sets it */
	lla t0, mtrap
	csrw mtvec, t0
	lla t0, strap
	csrw stvec, t0

	/* Without Sstc, M writes STIP. */
	li t0, MIP_STIP
	csrs mip, t0
	LOGCSRM(mip, MIP_STIP)
	csrc mip, t0
	LOGCSRM(mip, MIP_STIP)
	csrw mideleg, t0
	csrw mie, t0

	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret

s_code:
s_stimecmp:
	csrr a0, CSR_STIMECMP		/* STCE clear: illegal */
	li a7, 1
	ecall				/* M sets STCE */
	li a7, 0

	/* A deadline in the past: pending at once (SIE clear: not taken). */
	csrw CSR_STIMECMP, zero
	LOGCSRM(sip, MIP_STIP)
	li t0, -1
	csrw CSR_STIMECMP, t0
	LOGCSRM(sip, MIP_STIP)
	LOGCSR(CSR_STIMECMP)

	/* A deadline 2 ms ahead wakes WFI. */
	csrsi sstatus, MSTATUS_SIE
	rdtime t0
	addi t0, t0, 2000
	csrw CSR_STIMECMP, t0
wfi1:
	wfi
after_wfi:
	LOG(s4)				/* sepc the handler saw */
	LOGI(0x51)

	/* ... and interrupts a busy loop. */
	sd zero, 0(s2)
	rdtime t0
	addi t0, t0, 2000
	csrw CSR_STIMECMP, t0
spin:
	ld t1, 0(s2)
	beqz t1, spin
	lla t0, spin
	sub t0, s4, t0
	sltiu t0, t0, 8			/* sepc in the loop */
	LOG(t0)
s_exit:
	EXIT

strap:
	LOGCSR(scause)
	csrr s4, sepc
	rdtime t0
	csrr t1, CSR_STIMECMP
	sltu t0, t0, t1
	xori t0, t0, 1			/* time >= stimecmp */
	LOG(t0)
	li t0, -1
	csrw CSR_STIMECMP, t0		/* lowers STIP */
	LOGCSRM(sip, MIP_STIP)
	li t0, 1
	sd t0, 0(s2)
	sret

mtrap:
	LOGCSR(mcause)
	LOGCSR(mepc)
	LOGCSR(mtval)
	li t0, EXIT_A7
	bne a7, t0, 1f
	DONE
1:	li t0, 1
	bne a7, t0, 2f
	slli t0, t0, 63
	csrs CSR_MENVCFG, t0		/* STCE */
	li t0, MIP_STIP
	csrs mip, t0			/* ignored with Sstc */
	LOGCSRM(mip, MIP_STIP)
2:	csrr t0, mepc
	addi t0, t0, 4
	csrw mepc, t0
	mret

	.data
	.balign 8
flag:	.dword 0
