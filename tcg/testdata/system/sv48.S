/*
 * Sv48 (privileged spec 4.4): a four-level walk to a 4 KiB page at a
 * virtual address Sv39 cannot express, a gigapage at level 2, and faults
 * for an unmapped page and a VA that is not sign-extended from bit 47.
 * Sv39's sign-extension rule does not apply.
 */
#include "common.h"

#define RWAD  (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define VA_HI 0x200000000000		/* root[0x40] -> l2b[0] -> l1b[0] -> l0b[0] */

	.text
	.globl _start
_start:
	li s11, DEV
	lla t0, mtrap
	csrw mtvec, t0
	lla t0, strap
	csrw stvec, t0
	li t0, (1 << 12) | (1 << 13) | (1 << 15)
	csrw medeleg, t0

	lla s1, pt_root
	lla s2, pt_l2
	lla s3, pt_l2b
	lla s4, pt_l1b
	lla s5, pt_l0b
	MKPTE(t0, s2, PTE_V)		/* root[0] -> pt_l2 */
	sd t0, 0(s1)
	li t1, RWAD			/* l2[0]: gigapage 0 -> 0 (the device) */
	sd t1, 0(s2)
	li t1, 0x80000000		/* l2[2]: gigapage RAM, identity */
	MKPTE(t0, t1, RWAD | PTE_X)
	sd t0, 16(s2)
	MKPTE(t0, s3, PTE_V)		/* root[0x40] -> pt_l2b */
	sd t0, 0x40*8(s1)
	MKPTE(t0, s4, PTE_V)		/* l2b[0] -> pt_l1b */
	sd t0, 0(s3)
	MKPTE(t0, s5, PTE_V)		/* l1b[0] -> pt_l0b */
	sd t0, 0(s4)
	lla t1, page_c			/* l0b[0] -> page_c */
	MKPTE(t0, t1, RWAD)
	sd t0, 0(s5)

	srli t0, s1, 12
	li t1, SATP_SV48
	or t0, t0, t1
	csrw satp, t0
	LOGCSR(satp)

	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S
	csrs mstatus, t0
	lla t0, s_code
	csrw mepc, t0
	mret

s_code:
	li a1, VA_HI
	ld a0, 0(a1)
	LOG(a0)
	li t0, 0x4444
	sd t0, 8(a1)
	lla t1, page_c
	ld a0, 8(t1)
	LOG(a0)
	ld t0, 0(s5)
	andi t0, t0, PTE_A | PTE_D
	LOG(t0)
	li a1, VA_HI + 0x1000
f_unmapped:
	ld a0, 0(a1)
	li a1, 0x800000000000		/* bit 47 set, not sign-extended */
f_noncanon:
	ld a0, 0(a1)
	li a1, 0xffff800000000000	/* canonical, root[0x100] invalid */
f_high:
	sd a0, 0(a1)
s_exit:
	EXIT

mtrap:
	LOGCSR(mcause)
	LOGCSR(mepc)
	DONE

strap:
	LOGCSR(scause)
	LOGCSR(sepc)
	LOGCSR(stval)
	csrr t0, sepc
	addi t0, t0, 4
	csrw sepc, t0
	sret

	.data
	.balign 4096
pt_root:	.skip 4096
pt_l2:		.skip 4096
pt_l2b:		.skip 4096
pt_l1b:		.skip 4096
pt_l0b:		.skip 4096
page_c:		.dword 0xcccc
	.balign 4096
