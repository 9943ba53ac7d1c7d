// sort: quicksort (with insertion sort for small ranges) of pseudo-random
// integers, repeated on fresh data: compares, swaps, branches.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 20000

static void isort(int32_t *a, int n) {
	for (int i = 1; i < n; i++) {
		int32_t v = a[i];
		int j = i - 1;
		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
}

static void qsort32(int32_t *a, int n) {
	while (n > 16) {
		int32_t p = a[n / 2];
		int i = 0, j = n - 1;
		while (i <= j) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i <= j) {
				int32_t t = a[i];
				a[i] = a[j];
				a[j] = t;
				i++;
				j--;
			}
		}
		if (j + 1 < n - i) {
			qsort32(a, j + 1);
			a += i;
			n -= i;
		} else {
			qsort32(a + i, n - i);
			n = j + 1;
		}
	}
	isort(a, n);
}

static int32_t a[N];

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 600;
	uint32_t x = 99;
	uint64_t sum = 0;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < N; i++) {
			x = x * 1103515245u + 12345u;
			a[i] = (int32_t)(x ^ (x >> 15));
		}
		qsort32(a, N);
		for (int i = 1; i < N; i++)
			if (a[i - 1] > a[i]) {
				printf("sort: not sorted at %d\n", i);
				return 1;
			}
		sum += (uint32_t)a[r % N];
	}
	printf("sort %016llx\n", (unsigned long long)sum);
	return 0;
}
