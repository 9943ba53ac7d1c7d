// smc: generate code at run time (as a JIT does), run it, rewrite it and
// run it again; and a function whose data shares its page.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

// li a0, imm (addi a0, zero, imm); ret
static void emit(uint32_t *p, int imm) {
	p[0] = 0x00000513u | ((uint32_t)(imm & 0xfff) << 20);
	p[1] = 0x00008067u;
}

int main(void) {
	uint32_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	long sum = 0;
	for (int i = 0; i < 2000; i++) {
		emit(code + (i % 7) * 2, i % 1000);
		__builtin___clear_cache((char *)code, (char *)(code + 16));
		int (*f)(void) = (int (*)(void))(code + (i % 7) * 2);
		sum += f();
		// Data next to the code on the same page.
		code[512 + i % 64] += i;
	}
	long d = 0;
	for (int i = 0; i < 64; i++)
		d += code[512 + i];
	printf("smc %ld %ld\n", sum, d);
	return 0;
}
