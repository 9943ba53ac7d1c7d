// list: walk a singly linked list whose nodes are scattered through memory
// (pointer chasing: a load feeds the next address).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct node {
	struct node *next;
	int64_t val;
};

#define NODES 4096

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 60000;
	struct node *nodes = malloc(NODES * sizeof *nodes);
	int *perm = malloc(NODES * sizeof *perm);
	for (int i = 0; i < NODES; i++)
		perm[i] = i;
	uint32_t x = 7;
	for (int i = NODES - 1; i > 0; i--) {
		x = x * 1103515245u + 12345u;
		int j = (x >> 8) % (i + 1);
		int t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int i = 0; i < NODES; i++) {
		nodes[perm[i]].next = i + 1 < NODES ? &nodes[perm[i + 1]] : NULL;
		nodes[perm[i]].val = i * 3 + 1;
	}
	struct node *head = &nodes[perm[0]];
	int64_t sum = 0;
	for (int r = 0; r < rounds; r++) {
		for (struct node *n = head; n; n = n->next)
			sum += n->val ^ r;
	}
	printf("list %lld\n", (long long)sum);
	return 0;
}
