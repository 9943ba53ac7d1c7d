/*
 * Sv39 address translation in S and U mode (privileged spec 4.3): 4 KiB
 * pages, megapages and gigapages, identity and offset mappings, A and D
 * bits, page faults with their causes and stval, SUM, MXR, U pages and
 * execute permission, reserved encodings, misaligned superpages,
 * non-canonical addresses, accesses and instructions that straddle pages,
 * SFENCE.VMA, satp WARL, MPRV, and LR/SC/AMOs through translation.
 *
 * Page faults are delegated to S, whose handler logs scause, sepc and
 * stval and resumes after the instruction (after a fetch fault: at ra).
 * M's handler logs mcause, mepc and mtval.
 */
#include "common.h"

#define RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define RWAD  (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

/* Virtual addresses of the test pages (pt_l0b) */
#define VA_L0B   0x80600000
#define VA_A     (VA_L0B + 0x0000)	/* page_a, RW, A and D clear */
#define VA_B     (VA_L0B + 0x1000)	/* page_b, RW, A and D clear */
#define VA_INV   (VA_L0B + 0x2000)	/* invalid */
#define VA_RO    (VA_L0B + 0x3000)	/* page_c, read-only */
#define VA_U     (VA_L0B + 0x4000)	/* page_c, user RW */
#define VA_UX    (VA_L0B + 0x5000)	/* page_c, user RX */
#define VA_XO    (VA_L0B + 0x6000)	/* page_c, execute-only */
#define VA_NX    (VA_L0B + 0x7000)	/* page_c, RW, not executable */
#define VA_SF    (VA_L0B + 0x8000)	/* page_d, then page_e (SFENCE.VMA) */
#define VA_WO    (VA_L0B + 0x9000)	/* page_c, W without R: reserved */
#define VA_RSV   (VA_L0B + 0xa000)	/* page_c, PBMT bits set: reserved */
#define VA_OFF   (VA_L0B + 0xb000)	/* page_c, RW */
#define VA_LR    (VA_L0B + 0xc000)	/* page_g, RW, D clear */
#define VA_UCODE (VA_L0B + 0xd000)	/* u_page, user RX */
#define VA_STR   (VA_L0B + 0xe000)	/* str_page, RX; the next page invalid */
#define VA_NL    (VA_L0B + 0x10000)	/* a pointer PTE at level 0 */
#define VA_SMC   (VA_L0B + 0x11000)	/* smc_page, RW: writes code */
#define VA_X1    (VA_L0B + 0x12000)	/* xpage1, RX, then ... */
#define VA_X2    (VA_L0B + 0x13000)	/* xpage2, RX: physically before xpage1 */
#define VA_PTAF  0x140000000		/* root[5]: a table in no RAM */

#define L0B(i, reg, flags) MKPTE(t0, reg, flags); sd t0, (i)*8(s4)

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

	/* Page tables. */
	lla s1, pt_root
	lla s2, pt_l1
	lla s3, pt_l0
	lla s4, pt_l0b
	li t0, RWAD			/* root[0]: gigapage 0 -> 0 (the device) */
	sd t0, 0(s1)
	MKPTE(t0, s2, PTE_V)		/* root[2] -> pt_l1 */
	sd t0, 16(s1)
	li t1, 0x80000000		/* root[3]: gigapage 0xc0000000 -> RAM */
	MKPTE(t0, t1, RWAD)
	sd t0, 24(s1)
	li t1, 0x80200000		/* root[4]: misaligned gigapage */
	MKPTE(t0, t1, PTE_V | PTE_R | PTE_A)
	sd t0, 32(s1)
	MKPTE(t0, s3, PTE_V)		/* l1[0] -> pt_l0 */
	sd t0, 0(s2)
	li t1, 0x80000000		/* l1[1]: megapage 0x80200000 -> RAM */
	MKPTE(t0, t1, RWAD)
	sd t0, 8(s2)
	li t1, 0x80001000		/* l1[2]: misaligned megapage */
	MKPTE(t0, t1, PTE_V | PTE_R | PTE_A)
	sd t0, 16(s2)
	MKPTE(t0, s4, PTE_V)		/* l1[3] -> pt_l0b */
	sd t0, 24(s2)
	li t1, 0x80000000		/* pt_l0: RAM, identity, 4 KiB pages */
	li t2, 512
	mv t3, s3
	li t4, 4096
1:	MKPTE(t0, t1, RWXAD)
	sd t0, 0(t3)
	addi t3, t3, 8
	add t1, t1, t4
	addi t2, t2, -1
	bnez t2, 1b
	lla t1, page_a
	L0B(0, t1, PTE_V | PTE_R | PTE_W)
	lla t1, page_b
	L0B(1, t1, PTE_V | PTE_R | PTE_W)
	lla t1, page_c
	L0B(3, t1, PTE_V | PTE_R | PTE_A)
	L0B(4, t1, RWAD | PTE_U)
	L0B(5, t1, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A)
	L0B(6, t1, PTE_V | PTE_X | PTE_A)
	L0B(7, t1, RWAD)
	L0B(9, t1, PTE_V | PTE_W | PTE_A | PTE_D)
	MKPTE(t0, t1, RWAD)
	li t2, 1
	slli t2, t2, 61
	or t0, t0, t2
	sd t0, 10*8(s4)
	L0B(11, t1, RWAD)
	L0B(16, t1, PTE_V)
	lla t1, page_d
	L0B(8, t1, RWAD)
	lla t1, page_g
	L0B(12, t1, PTE_V | PTE_R | PTE_W | PTE_A)
	lla t1, u_page
	L0B(13, t1, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A)
	lla t1, str_page
	L0B(14, t1, PTE_V | PTE_R | PTE_X | PTE_A)
	lla t1, smc_page
	L0B(0x11, t1, RWAD)
	lla t1, xpage1
	L0B(0x12, t1, PTE_V | PTE_R | PTE_X | PTE_A)
	lla t1, xpage2
	L0B(0x13, t1, PTE_V | PTE_R | PTE_X | PTE_A)
	li t1, DEV			/* root[5] -> the device page */
	MKPTE(t0, t1, PTE_V)
	sd t0, 40(s1)

	srli t0, s1, 12
	li t1, SATP_SV39
	or t0, t0, t1
	csrw satp, t0
	sfence.vma

	/* M mode is not translated, but MPRV translates its data accesses
	 * as MPP's. */
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPP_S | MSTATUS_MPRV
	csrs mstatus, t0
	li a1, VA_OFF
	ld a0, 0(a1)
	LOG(a0)
	li t0, MSTATUS_MPRV
	csrc mstatus, t0

	lla t0, s_code
	csrw mepc, t0
	mret

s_code:
	lla t0, page_c			/* identity, 4 KiB pages */
	ld a0, 0(t0)
	LOG(a0)
	li a1, VA_OFF			/* 4 KiB page, VA != PA */
	ld a0, 0(a1)
	LOG(a0)
	li t0, 0x5555
	sd t0, 8(a1)
	lla t1, page_c
	ld a0, 8(t1)
	LOG(a0)
	lla t0, page_c			/* megapage */
	li t1, 0x200000
	add a1, t0, t1
	ld a0, 0(a1)
	LOG(a0)
	lla t0, page_c			/* gigapage */
	li t1, 0x40000000
	add a1, t0, t1
	ld a0, 0(a1)
	LOG(a0)

	/* A and D. */
	li a1, VA_A
	ld a0, 0(a1)
	LOG(a0)
	ld t0, 0(s4)
	andi t0, t0, PTE_A | PTE_D
	LOG(t0)				/* A set, D clear */
	sd a0, 8(a1)
	ld t0, 0(s4)
	andi t0, t0, PTE_A | PTE_D
	LOG(t0)				/* A and D set */
	li a1, VA_B
	sd zero, 16(a1)
	ld t0, 8(s4)
	andi t0, t0, PTE_A | PTE_D
	LOG(t0)				/* a store first: A and D */

	/* Page faults. */
	li a0, 0x77
	li a1, VA_INV
f_load:
	ld a0, 0x18(a1)
	LOG(a0)				/* rd unchanged */
f_store:
	sd a0, 0x20(a1)
	li t0, VA_INV + 0x40
f_fetch:
	jalr ra, 0(t0)
	li a1, VA_RO
	ld a0, 0(a1)
	LOG(a0)
f_ro:
	sd a0, 0x28(a1)
	li a1, VA_WO
f_wo:
	ld a0, 0(a1)
	li a1, VA_RSV
f_rsv:
	ld a0, 0(a1)
	li t0, VA_NX
f_nx:
	jalr ra, 0(t0)
	li a1, VA_NL
f_nl:
	ld a0, 0(a1)

	/* SUM. */
	li a1, VA_U
f_sum0:
	ld a0, 0(a1)
	li t0, MSTATUS_SUM
	csrs sstatus, t0
	ld a0, 0(a1)
	LOG(a0)
	sd a0, 0x30(a1)
	li t0, VA_UX
f_ux:
	jalr ra, 0(t0)			/* never executable from S */
	li t0, MSTATUS_SUM
	csrc sstatus, t0
	li a1, VA_U
f_sum0_again:
	ld a0, 0(a1)

	/* One function reached through the same indirect call with SUM on,
	   then off: the jump cache must not send the second call to the
	   block translated under SUM, which would read the U page. */
	li s2, 2
1:	li t0, MSTATUS_SUM
	csrs sstatus, t0
	li t0, 1
	bne s2, t0, 2f
	li t0, MSTATUS_SUM
	csrc sstatus, t0
2:	la t1, load_u
	li a1, VA_U
	li a0, 0x77
	jalr ra, 0(t1)
	addi s2, s2, -1
	bnez s2, 1b
	j 3f
load_u:
f_load_u:
	ld a0, 0(a1)
	LOG(a0)
	ret
3:

	/* MXR. */
	li a1, VA_XO
f_mxr0:
	ld a0, 0(a1)
	li t0, MSTATUS_MXR
	csrs sstatus, t0
	ld a0, 0(a1)
	LOG(a0)
	li t0, MSTATUS_MXR
	csrc sstatus, t0

	/* Misaligned superpages, non-canonical addresses. */
	li a1, 0x80400000
f_mega:
	ld a0, 0(a1)
	li a1, 0x100000000
f_giga:
	ld a0, 0(a1)
	li a1, 0x4000000000
f_noncanon:
	ld a0, 0(a1)
f_noncanon_st:
	sd a0, 0(a1)
	li t0, 0x8080000000
f_noncanon_x:
	jalr ra, 0(t0)

	/* Accesses and an instruction across a page boundary. */
	li a0, -1
	li a1, VA_B + 0xffc
f_cross_ld:
	ld a0, 0(a1)
f_cross_st:
	sd a0, 0(a1)
	lla t0, page_b
	li t1, 0xffc
	add t0, t0, t1
	lwu a0, 0(t0)
	LOG(a0)				/* the store wrote nothing */
	li t0, VA_STR + 0xffe
f_straddle:
	jalr ra, 0(t0)

	/* An instruction straddling two pages that are not adjacent in
	 * physical memory runs. */
	li a0, 0
	li t0, VA_X1 + 0xffe
	jalr ra, 0(t0)
	LOG(a0)

	/* Code written through another mapping, FENCE.I. */
	call smc_fn
	LOG(a0)
	li a1, VA_SMC
	li t0, 0x00200513		/* addi a0, zero, 2 */
	sw t0, 0(a1)
	fence.i
	call smc_fn
	LOG(a0)

	/* A page-table entry outside RAM: access fault (to M). */
	li a1, VA_PTAF
f_ptaf:
	ld a0, 0(a1)

	/* SFENCE.VMA makes a changed PTE visible. */
	li a1, VA_SF
	ld a0, 0(a1)
	LOG(a0)
	lla t1, page_e
	MKPTE(t0, t1, RWAD)
	sd t0, 8*8(s4)
	sfence.vma
	ld a0, 0(a1)
	LOG(a0)
	lla t1, page_d
	MKPTE(t0, t1, RWAD)
	sd t0, 8*8(s4)
	sfence.vma a1, zero
	ld a0, 0(a1)
	LOG(a0)

	/* satp: an unsupported mode (Sv57) leaves it unchanged. */
	csrr s0, satp
	LOG(s0)
	li t0, 10
	slli t0, t0, 60
	csrw satp, t0
	csrr t0, satp
	LOG(t0)
	li a1, VA_OFF			/* translation still on */
	ld a0, 0(a1)
	LOG(a0)

	/* LR/SC and AMOs through the MMU. */
	li a1, VA_LR
	lr.d t0, (a1)
	addi t0, t0, 1
	sc.d t1, t0, (a1)
	LOG(t1)				/* success */
	ld t0, 0(a1)
	LOG(t0)
	ld t0, 12*8(s4)
	andi t0, t0, PTE_A | PTE_D
	LOG(t0)				/* SC set D */
	sc.d t1, t0, (a1)
	LOG(t1)				/* no reservation: failure */
	li t2, 5
	amoadd.d t0, t2, (a1)
	LOG(t0)
	ld t0, 0(a1)
	LOG(t0)
	li a1, VA_OFF + 16		/* LR/SC on an offset mapping */
	lr.w t0, (a1)
	addi t0, t0, 3
	sc.w t1, t0, (a1)
	LOG(t1)
	lla t0, page_c
	lw t0, 16(t0)
	LOG(t0)
	li a1, VA_INV
f_amo:
	amoswap.d t0, t2, (a1)		/* AMOs fault as stores */
f_lr:
	lr.d t0, (a1)			/* LR as a load */

	/* U mode: a supervisor page faults, a user page does not. */
	li a1, VA_RO
	li a2, VA_U
	li t0, MSTATUS_SPP
	csrc sstatus, t0
	li t0, VA_UCODE
	csrw sepc, t0
	sret

mtrap:
	LOGCSR(mcause)
	LOGCSR(mepc)
	LOGCSR(mtval)
	li t0, EXIT_A7
	bne a7, t0, 1f
	LOG(a0)
	DONE
1:	csrr t0, mepc
	addi t0, t0, 4
	csrw mepc, t0
	mret

strap:
	LOGCSR(scause)
	LOGCSR(sepc)
	LOGCSR(stval)
	csrr t0, scause
	li t1, 12
	bne t0, t1, 1f
	csrw sepc, ra			/* a fetch fault: back to the caller */
	sret
1:	csrr t0, sepc
	addi t0, t0, 4
	csrw sepc, t0
	sret

	/* Code run in U at VA_UCODE (position independent). */
	.balign 4096
u_page:
u_ro:
	ld a0, 0(a1)			/* a supervisor page: fault */
	ld a0, 0(a2)			/* a user page */
u_exit:
	EXIT

	/* A 4-byte instruction at the end of an executable page whose next
	 * page is invalid. */
	.balign 4096
str_page:
	.skip 0xffe
	.2byte 0x0013, 0x0000		/* nop */
	.2byte 0			/* back to 4-byte alignment */

	/* addi a0, zero, 0x5a across xpage1 | xpage2, then ret. */
	.balign 4096
xpage2:
	.2byte 0x05a0
	.2byte 0x8067, 0x0000		/* ret */
	.2byte 0
	.balign 4096
smc_page:
smc_fn:
	addi a0, zero, 1
	ret
	.balign 4096
xpage1:
	.skip 0xffe
	.2byte 0x0513

	.data
	.balign 4096
pt_root:	.skip 4096
pt_l1:		.skip 4096
pt_l0:		.skip 4096
pt_l0b:		.skip 4096
page_a:		.dword 0xaaaa
	.balign 4096
page_b:		.dword 0xbbbb
	.balign 4096
page_c:		.dword 0xcccc
	.dword 0
	.dword 0x100
	.balign 4096
page_d:		.dword 0xdddd
	.balign 4096
page_e:		.dword 0xeeee
	.balign 4096
page_g:		.dword 0x1000
	.balign 4096
