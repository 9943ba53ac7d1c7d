// samepage: a loop that stores to data on the same 4 KiB page as its own
// code ("same"), and the same loop storing to a page without code
// ("other"). A translator that write-protects code page by page takes its
// slow path for every store of the first case (QEMU slows down about 80x
// here). The code and its data live in one writable and executable
// section; the data starts 256 bytes after the loop, in another cache
// line, as a variable next to a function would.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// loop(n, p): for n times: p[0]++, p[1] ^= p[0]; returns p[1].
__asm__(
	".section .rwxtext,\"awx\",@progbits\n"
	".balign 4096\n"
	".globl loop\n"
	"loop:\n"
	"1:	lw t0, 0(a1)\n"
	"	lw t1, 4(a1)\n"
	"	addiw t0, t0, 1\n"
	"	sw t0, 0(a1)\n"
	"	xor t1, t1, t0\n"
	"	sw t1, 4(a1)\n"
	"	addi a0, a0, -1\n"
	"	bnez a0, 1b\n"
	"	lw a0, 4(a1)\n"
	"	ret\n"
	".balign 256\n"
	".globl samepage_data\n"
	"samepage_data: .space 64\n"
	".previous\n");

extern int32_t loop(long n, int32_t *p);
extern int32_t samepage_data[];
static int32_t other_data[16] __attribute__((aligned(4096)));

int main(int argc, char **argv) {
	long n = argc > 2 ? atol(argv[2]) : 100000000;
	int same = argc > 1 && strcmp(argv[1], "same") == 0;
	int32_t *p = same ? samepage_data : other_data;
	if (same && ((uintptr_t)p >> 12) != ((uintptr_t)loop >> 12)) {
		printf("samepage: data %p and code %p are on different pages\n", (void *)p, (void *)loop);
		return 1;
	}
	printf("%s %d\n", same ? "same" : "other", loop(n, p));
	return 0;
}
