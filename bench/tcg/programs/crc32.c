// crc32: table-driven CRC-32 (IEEE) over a 64 KiB buffer, repeated.
// Integer mix: byte loads, table lookups, shifts and xors.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t table[256];
static uint8_t buf[65536];

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 400;
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof buf; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = x >> 16;
	}
	uint32_t sum = 0;
	for (int r = 0; r < rounds; r++) {
		uint32_t crc = 0xffffffffu ^ (uint32_t)r;
		for (size_t i = 0; i < sizeof buf; i++)
			crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
		sum += crc ^ 0xffffffffu;
	}
	printf("crc32 %08x\n", sum);
	return 0;
}
