/* A riscv64 Image header (Documentation/riscv/boot-image-header.rst), so
   the test programs load like a kernel: text offset 0 means the loader's
   default, 2 MiB into RAM. */
#define IMAGE_HEADER \
	.section .text.head, "ax"; \
	.globl _start; \
_start: \
	j entry; \
	.balign 8; \
	.dword 0;          /* text_offset */ \
	.dword _end - _start; /* image_size */ \
	.dword 0;          /* flags */ \
	.word 2, 0;        /* version, res1 */ \
	.dword 0;          /* res2 */ \
	.ascii "RISCV\0\0\0"; \
	.ascii "RSC\x05"; \
	.word 0;           /* res3 */ \
	.text

/* SBI calls: a7 = extension, a6 = function. */
#define SBI_DBCN 0x4442434e
#define SBI_SRST 0x53525354
#define SBI_HSM  0x48534d
#define SBI_BASE 0x10

/* The test device: pass powers off, fail(code) powers off with that code. */
#define TEST_DEV 0x100000
#define PASS \
	li t0, TEST_DEV; li t1, 0x5555; sw t1, 0(t0); 9: j 9b
/* Fails with code n unless reg == expected (clobbers t0, t1). */
#define EXPECT(reg, expected, n) \
	li t0, expected; beq reg, t0, 8f; li t0, TEST_DEV; li t1, (n << 16) | 0x3333; sw t1, 0(t0); 9: j 9b; 8:
