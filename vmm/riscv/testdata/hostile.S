/* A hostile driver: garbage in every virtio-mmio register of slot 0, then
   a queue whose descriptor points outside RAM; the device must end in
   NEEDS_RESET and the machine keep running. Accesses to addresses with no
   device fault (load access fault 5, store access fault 7) into the
   guest's own handler. */
#include "image.h"
#define VIRTIO 0x10001000
IMAGE_HEADER
entry:
	la t0, strap
	csrw stvec, t0
	la s0, state

	/* Unclaimed MMIO: a load and a store fault; the handler skips them. */
	li s1, 0x30000000
	ld t2, 0(s1)
	ld t3, 0(s0) /* recorded scause */
	EXPECT(t3, 5, 1)
	ld t3, 8(s0) /* stval */
	EXPECT(t3, 0x30000000, 2)
	sd t2, 8(s1)
	ld t3, 0(s0)
	EXPECT(t3, 7, 3)
	ld t3, 8(s0)
	EXPECT(t3, 0x30000008, 4)

	/* 20000 pseudo-random writes of every width to the register block. */
	li s1, VIRTIO
	li s2, 20000
	li s3, 0x2545f491 /* LCG state */
1:	li t0, 6364136223846793005
	mul s3, s3, t0
	addi s3, s3, 1442695040888963407 & 0x7ff
	srli t1, s3, 33
	andi t1, t1, 0x1fc /* offset, aligned */
	add t1, t1, s1
	srli t2, s3, 17
	andi t3, s3, 3
	beqz t3, 2f
	sw t2, 0(t1)
	j 3f
2:	lw t2, 0(t1)
3:	addi s2, s2, -1
	bnez s2, 1b

	/* Reset, then a proper negotiation and a poisoned queue. */
	sw zero, 0x70(s1)
	li t0, 1
	sw t0, 0x70(s1) /* ACKNOWLEDGE */
	li t0, 3
	sw t0, 0x70(s1) /* DRIVER */
	li t0, 1
	sw t0, 0x24(s1) /* DriverFeaturesSel = 1 */
	sw t0, 0x20(s1) /* VERSION_1 */
	li t0, 11
	sw t0, 0x70(s1) /* FEATURES_OK */
	sw zero, 0x30(s1) /* QueueSel 0 */
	li t0, 4
	sw t0, 0x38(s1) /* QueueNum */
	la t0, desc
	sw t0, 0x80(s1)
	srli t0, t0, 32
	sw t0, 0x84(s1)
	la t0, avail
	sw t0, 0x90(s1)
	srli t0, t0, 32
	sw t0, 0x94(s1)
	la t0, used
	sw t0, 0xa0(s1)
	srli t0, t0, 32
	sw t0, 0xa4(s1)
	li t0, 1
	sw t0, 0x44(s1) /* QueueReady */
	li t0, 15
	sw t0, 0x70(s1) /* DRIVER_OK */
	/* descriptor 0: 4 KiB device-writable at an address with no RAM */
	la t0, desc
	li t1, 0xdead00000000
	sd t1, 0(t0)
	li t1, 4096
	sw t1, 8(t0)
	li t1, 2
	sh t1, 12(t0)
	la t0, avail
	sh zero, 4(t0) /* ring[0] = 0 */
	fence
	li t1, 1
	sh t1, 2(t0) /* idx = 1 */
	fence
	sw zero, 0x50(s1) /* QueueNotify */
	/* Wait for NEEDS_RESET (0x40) in Status. */
	li s2, 10000000
4:	lw t0, 0x70(s1)
	andi t0, t0, 0x40
	bnez t0, 5f
	addi s2, s2, -1
	bnez s2, 4b
	EXPECT(zero, 1, 5)
5:	PASS

	.balign 4
strap:
	csrr t0, scause
	sd t0, 0(s0)
	csrr t0, stval
	sd t0, 8(s0)
	csrr t0, sepc
	addi t0, t0, 4 /* the faulting ld/sd are not compressed */
	csrw sepc, t0
	sret

	.data
	.balign 16
desc:	.fill 64, 1, 0
	.balign 16
avail:	.fill 16, 1, 0
	.balign 16
used:	.fill 64, 1, 0
state:	.dword 0, 0
