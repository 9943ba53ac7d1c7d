/*
 * WFI: the hart waits inside Run until an interrupt is pending and enabled
 * in mie; the test raises the line from another goroutine (cpu.SetIRQ)
 * after the program logged a marker. With MIE clear in M, WFI completes
 * and the interrupt is not taken until MIE is set; with MIE set it is
 * taken with mepc after the WFI; in S, a delegated external interrupt
 * wakes WFI and is taken in S.
 */
#include "common.h"

#define MIP_SEIP 0x200
#define MIP_MEIP 0x800

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, mtrap
	csrw mtvec, t0
	lla t0, strap
	csrw stvec, t0

	li t0, MIP_MEIP
	csrw mie, t0
	LOGI(1)				/* the test raises MEIP */
wfi1:
	wfi				/* MIE clear: completes, not taken */
	LOGI(2)
	LOGCSRM(mip, 0xaaa)
	csrsi mstatus, MSTATUS_MIE
after_mie:
	LOGI(3)
	LOGI(4)				/* the test raises MEIP again */
wfi2:
	wfi				/* MIE set: taken */
after_wfi2:
	LOGI(5)

	/* S mode, SEI delegated, SIE set. */
	csrci mstatus, MSTATUS_MIE
	li t0, MIP_SEIP
	csrw mideleg, t0
	csrw mie, t0
	li t0, MSTATUS_MPP | MSTATUS_MPIE
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret
s_code:
	csrsi sstatus, MSTATUS_SIE
	LOGI(6)				/* the test raises SEIP */
wfi3:
	wfi
after_wfi3:
	LOGI(7)
s_exit:
	EXIT

mtrap:
	LOGCSR(mcause)
	LOGCSR(mepc)
	csrr t0, mcause
	bgez t0, 1f
	IRQ_CLR(MIP_MEIP)		/* an interrupt: lower the line */
	mret
1:	li t0, EXIT_A7
	bne a7, t0, 2f
	DONE
2:	csrr t0, mepc
	addi t0, t0, 4
	csrw mepc, t0
	mret

strap:
	LOGCSR(scause)
	LOGCSR(sepc)
	IRQ_CLR(MIP_SEIP)
	sret
