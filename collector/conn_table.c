// SPDX-License-Identifier: MIT
#include "collector/conn_table.h"

#include <stdlib.h>
#include <string.h>

struct conn_table {
	size_t max, count, nbuckets;   /* nbuckets: power of two */
	struct conn **buckets;
	struct conn *all;
};

/* Every packet hashes its key: eight bytes at a time, then a final mix
 * (the multipliers of MurmurHash3's finaliser), not FNV byte by byte. */
static uint32_t key_hash(const struct conn_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 0x9e3779b97f4a7c15ull, w;
	size_t i = 0;

	_Static_assert(sizeof(*k) >= 8, "the last word overlaps the one before");
	for (; i + 8 <= sizeof(*k); i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	if (i < sizeof(*k)) {
		/* the tail as one word ending at the key's end, not byte by byte */
		memcpy(&w, p + sizeof(*k) - 8, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

uint32_t conn_key_hash(const struct conn_key *k)
{
	return key_hash(k);
}

struct conn_table *conn_table_new(size_t max)
{
	struct conn_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = max;
	t->nbuckets = 64;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	return t;
}

void conn_table_free(struct conn_table *t)
{
	if (!t)
		return;
	while (t->all)
		conn_table_remove(t, t->all);
	free(t->buckets);
	free(t);
}

struct conn *conn_table_find(struct conn_table *t, const struct conn_key *k)
{
	struct conn *c = t->buckets[key_hash(k) & (t->nbuckets - 1)];
	for (; c; c = c->hnext)
		if (!memcmp(&c->key, k, sizeof(*k)))
			return c;
	return NULL;
}

/*
 * Buckets grow with the connections (one per connection at most), not to
 * the bound up front: 65,536 of them were 512 KB of RSS from the start.
 * (At 10,000 connections the two loads of a lookup, bucket and key, miss
 * the cache either way: a quarter of l7top's time, with 16,384 buckets as
 * with 65,536; the table is not what is missing, the cache is shared with
 * NGINX and wrk.) On ENOMEM the table stays as it is, with longer chains.
 */
static void grow(struct conn_table *t)
{
	size_t n = t->nbuckets * 2;
	struct conn **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (struct conn *c = t->all; c; c = c->next) {
		struct conn **slot = &b[key_hash(&c->key) & (n - 1)];
		c->hnext = *slot;
		*slot = c;
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

struct conn *conn_table_insert(struct conn_table *t, const struct conn_key *k)
{
	if (t->count >= t->max)
		return NULL;
	if (t->count >= t->nbuckets && t->nbuckets < (1u << 20))
		grow(t);
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = *k;
	struct conn **b = &t->buckets[key_hash(k) & (t->nbuckets - 1)];
	c->hnext = *b;
	*b = c;
	c->next = t->all;
	if (t->all)
		t->all->prev = c;
	t->all = c;
	t->count++;
	return c;
}

void conn_table_remove(struct conn_table *t, struct conn *c)
{
	struct conn **pp = &t->buckets[key_hash(&c->key) & (t->nbuckets - 1)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->count--;
	free(c);
}

struct conn *conn_table_first(struct conn_table *t)
{
	return t->all;
}
