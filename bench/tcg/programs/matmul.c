// matmul: 32x32 integer matrix multiply, repeated; the result feeds the
// next round so nothing is hoisted out of the loop.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 32
static int32_t a[N][N], b[N][N], c[N][N];

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20000;
	uint32_t x = 1;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			x = x * 1664525u + 1013904223u;
			a[i][j] = (int32_t)(x >> 20) - 2048;
			x = x * 1664525u + 1013904223u;
			b[i][j] = (int32_t)(x >> 20) - 2048;
		}
	uint64_t sum = 0;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++) {
				int32_t s = 0;
				for (int k = 0; k < N; k++)
					s += a[i][k] * b[k][j];
				c[i][j] = s;
			}
		sum += (uint32_t)c[r % N][(r * 7) % N];
		a[r % N][(r * 3) % N] ^= c[(r + 1) % N][r % N] & 0xff;
	}
	printf("matmul %016llx\n", (unsigned long long)sum);
	return 0;
}
