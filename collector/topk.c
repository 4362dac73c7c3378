// SPDX-License-Identifier: MIT
#include "collector/topk.h"

#include <stdlib.h>

struct topk {
	size_t k, used;
	uint64_t *rank, *err;
	uint32_t *hash;     /* per slot */
	uint32_t *pos;      /* per slot: its index in heap[] */
	uint32_t *heap;     /* slots, least rank first (binary min-heap) */
	uint64_t *tab;      /* open addressing by hash: hash << 32 | slot + 1, 0 = empty.
			     * The hash beside the slot: a probe compares it
			     * without a load from hash[], a cache miss per
			     * lookup once thousands of endpoints are in use */
	size_t mask;        /* table size - 1; size a power of two >= 2k */
};

struct topk *topk_new(size_t k)
{
	struct topk *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->k = k ? k : 1;
	size_t n = 16;
	while (n < 2 * t->k)
		n <<= 1;
	t->mask = n - 1;
	t->rank = calloc(t->k, sizeof(*t->rank));
	t->err = calloc(t->k, sizeof(*t->err));
	t->hash = calloc(t->k, sizeof(*t->hash));
	t->pos = calloc(t->k, sizeof(*t->pos));
	t->heap = calloc(t->k, sizeof(*t->heap));
	t->tab = calloc(n, sizeof(*t->tab));
	if (!t->rank || !t->err || !t->hash || !t->pos || !t->heap || !t->tab) {
		topk_free(t);
		return NULL;
	}
	return t;
}

void topk_free(struct topk *t)
{
	if (!t)
		return;
	free(t->rank);
	free(t->err);
	free(t->hash);
	free(t->pos);
	free(t->heap);
	free(t->tab);
	free(t);
}

size_t topk_cap(const struct topk *t)
{
	return t->k;
}

size_t topk_used(const struct topk *t)
{
	return t->used;
}

static size_t tab_slot(uint64_t e)
{
	return (uint32_t)e - 1;
}

static uint32_t tab_hash(uint64_t e)
{
	return (uint32_t)(e >> 32);
}

long topk_find(const struct topk *t, uint32_t h, topk_eq_fn eq, void *ctx)
{
	uint64_t e;

	for (size_t i = h & t->mask; (e = t->tab[i]); i = (i + 1) & t->mask)
		if (tab_hash(e) == h && (!eq || eq(ctx, tab_slot(e))))
			return (long)tab_slot(e);
	return -1;
}

void topk_prefetch(const struct topk *t, uint32_t h)
{
	__builtin_prefetch(&t->tab[h & t->mask]);
}

long topk_peek(const struct topk *t, uint32_t h)
{
	long slot = topk_find(t, h, NULL, NULL);

	if (slot >= 0) {
		__builtin_prefetch(&t->rank[slot], 1);
		__builtin_prefetch(&t->pos[slot]);
	}
	return slot;
}

/* Removes slot from the hash table; later entries of its probe run move
 * back so lookups never stop at a hole (no tombstones to pile up). */
static void tab_remove(struct topk *t, size_t slot)
{
	size_t i = t->hash[slot] & t->mask;
	while (tab_slot(t->tab[i]) != slot)
		i = (i + 1) & t->mask;
	for (size_t j = (i + 1) & t->mask; t->tab[j]; j = (j + 1) & t->mask) {
		size_t home = tab_hash(t->tab[j]) & t->mask;
		/* j's entry may fill the hole at i unless its home lies in (i, j] */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->tab[i] = t->tab[j];
			i = j;
		}
	}
	t->tab[i] = 0;
}

static void tab_insert(struct topk *t, size_t slot)
{
	size_t i = t->hash[slot] & t->mask;
	while (t->tab[i])
		i = (i + 1) & t->mask;
	t->tab[i] = (uint64_t)t->hash[slot] << 32 | (uint32_t)(slot + 1);
}

static void heap_swap(struct topk *t, size_t a, size_t b)
{
	uint32_t x = t->heap[a];
	t->heap[a] = t->heap[b];
	t->heap[b] = x;
	t->pos[t->heap[a]] = (uint32_t)a;
	t->pos[t->heap[b]] = (uint32_t)b;
}

/* A slot's rank only grows: it can only move down the heap. */
static void heap_down(struct topk *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->used && t->rank[t->heap[l]] < t->rank[t->heap[m]])
			m = l;
		if (r < t->used && t->rank[t->heap[r]] < t->rank[t->heap[m]])
			m = r;
		if (m == i)
			return;
		heap_swap(t, i, m);
		i = m;
	}
}

static void heap_up(struct topk *t, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (t->rank[t->heap[p]] <= t->rank[t->heap[i]])
			return;
		heap_swap(t, i, p);
		i = p;
	}
}

long topk_victim(const struct topk *t)
{
	return t->used < t->k ? -1 : (long)t->heap[0];
}

size_t topk_admit(struct topk *t, uint32_t h, bool *evicted)
{
	size_t slot;

	if (t->used < t->k) {
		slot = t->used;
		t->heap[t->used] = (uint32_t)slot;
		t->pos[slot] = (uint32_t)t->used++;
		t->hash[slot] = h;
		t->err[slot] = 0;
		t->rank[slot] = 1;
		tab_insert(t, slot);
		heap_up(t, t->pos[slot]);
		*evicted = false;
		return slot;
	}
	slot = t->heap[0];
	tab_remove(t, slot);
	t->hash[slot] = h;
	t->err[slot] = t->rank[slot];
	t->rank[slot]++;
	tab_insert(t, slot);
	heap_down(t, 0);
	*evicted = true;
	return slot;
}

void topk_hit(struct topk *t, size_t slot, uint64_t n)
{
	t->rank[slot] += n;
	heap_down(t, t->pos[slot]);
}

uint64_t topk_rank(const struct topk *t, size_t slot)
{
	return t->rank[slot];
}

uint64_t topk_err(const struct topk *t, size_t slot)
{
	return t->err[slot];
}

void topk_halve(struct topk *t)
{
	for (size_t i = 0; i < t->used; i++) {
		t->rank[i] /= 2;
		t->err[i] /= 2;
	}
}
