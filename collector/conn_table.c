// SPDX-License-Identifier: MIT
#include "collector/conn_table.h"

#include <stdlib.h>
#include <string.h>

/* The lines conn_table.h counts: a field added to a hot line costs every
 * segment of every connection a line more once they outgrow the cache. */
_Static_assert(offsetof(struct conn, last_ns) == 56 && offsetof(struct conn, dir) == 128,
	       "struct conn's first lines moved");
_Static_assert(offsetof(struct conn, dir[1].ooo) + sizeof(void *) <= 192,
	       "the second direction's in-order state left line 2");
_Static_assert(offsetof(struct conn, http) == 256 && HTTP_STREAM_HOT_BYTES <= 64,
	       "struct conn's HTTP lines moved");

struct conn_table {
	size_t max, count, nbuckets;   /* nbuckets: power of two */
	struct conn **buckets;
	struct conn *all;
};

/*
 * Every packet hashes its key and compares it, right after conn_lookup()
 * built it on the stack field by field. Reading it back as the 8-byte words
 * of its layout made loads that span several of those stores (family and
 * the ports; netns and an address): the CPU cannot forward such a store to
 * the load and waits for it to retire, several times per packet (7 % of
 * l7top's time in the hash alone). So both read the fields as they were
 * written: the ports and netns one by one, each address as two halves of
 * its 16-byte copy. pad and pad2 are always zero: not read.
 */
struct key_words {
	uint64_t w[5];
};

static struct key_words key_words(const struct conn_key *k)
{
	struct key_words kw;

	kw.w[0] = (uint64_t)k->netns << 32 | (uint64_t)k->srv_port << 16 | k->cli_port;
	memcpy(&kw.w[1], k->srv, 8);
	memcpy(&kw.w[2], k->srv + 8, 8);
	memcpy(&kw.w[3], k->cli, 8);
	memcpy(&kw.w[4], k->cli + 8, 8);
	return kw;
}

/*
 * Each word scrambled on its own and multiplied by its own odd constant, the
 * products summed, the sum through MurmurHash3's finaliser. The lanes are
 * independent, so the CPU runs them side by side: a chain of one multiply
 * per word (the hash before) was ~40 cycles of latency that the bucket load
 * behind it waited for, every packet.
 */
static uint64_t lane(uint64_t w, uint64_t k)
{
	return (w ^ (w >> 29)) * k;
}

static uint32_t key_hash(const struct conn_key *k)
{
	struct key_words kw = key_words(k);
	uint64_t h = lane(kw.w[0] ^ k->family, 0x9e3779b97f4a7c15ull) +
		     lane(kw.w[1], 0xff51afd7ed558ccdull) + lane(kw.w[2], 0xc4ceb9fe1a85ec53ull) +
		     lane(kw.w[3], 0xd6e8feb86659fd93ull) + lane(kw.w[4], 0xa0761d6478bd642full);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

size_t conn_table_count(const struct conn_table *t)
{
	return t->count;
}

uint32_t conn_table_prefetch_bucket(const struct conn_table *t, const struct conn_key *k)
{
	uint32_t h = key_hash(k);

	__builtin_prefetch(&t->buckets[h & (t->nbuckets - 1)]);
	return h;
}

/* The lines a plain HTTP/1.x segment touches (conn_table.h); an entry
 * starts on a line (conn_alloc). */
static void prefetch_conn(const struct conn *e)
{
	const char *c = (const char *)e;

	__builtin_prefetch(c);
	__builtin_prefetch(c + offsetof(struct conn, dir));
	__builtin_prefetch(c + offsetof(struct conn, http));
}

void conn_table_prefetch_entry(const struct conn_table *t, uint32_t hash)
{
	const struct conn *c = t->buckets[hash & (t->nbuckets - 1)];

	if (c)
		prefetch_conn(c);
}

static bool key_equal(const struct conn_key *a, const struct conn_key *b)
{
	struct key_words x = key_words(a), y = key_words(b);

	return a->family == b->family && x.w[0] == y.w[0] && x.w[1] == y.w[1] &&
	       x.w[2] == y.w[2] && x.w[3] == y.w[3] && x.w[4] == y.w[4];
}

const struct conn *conn_table_prefetch_next(const struct conn_table *t, uint32_t hash,
					    const struct conn_key *k)
{
	const struct conn *c = t->buckets[hash & (t->nbuckets - 1)];

	if (!c || key_equal(&c->key, k))
		return c;
	if (c->hnext)
		prefetch_conn(c->hnext);
	return NULL;
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
		if (key_equal(&c->key, k))
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

/*
 * A zeroed conn starting on a cache line: calloc's 16-byte alignment let
 * the hot fields straddle one line more than they fill.
 */
static struct conn *conn_alloc(void)
{
	size_t size = (sizeof(struct conn) + 63) & ~(size_t)63;
	struct conn *c = aligned_alloc(64, size);

	if (c)
		memset(c, 0, size);
	return c;
}

struct conn *conn_table_insert(struct conn_table *t, const struct conn_key *k)
{
	if (t->count >= t->max)
		return NULL;
	if (t->count >= t->nbuckets && t->nbuckets < (1u << 20))
		grow(t);
	struct conn *c = conn_alloc();
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
