// SPDX-License-Identifier: MIT
#include "collector/calls_handoff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct handoff_entry {
	struct conn_key k;           /* netns zeroed */
	uint32_t next;               /* bucket chain */
	bool held;
};

/* Entries are reused in insertion order (a ring), so the oldest goes
 * first; buckets are twice as many as entries, chains stay short. */
struct calls_handoff {
	size_t max;
	uint32_t cursor;
	uint32_t *bucket;
	struct handoff_entry e[];
};

struct calls_handoff *calls_handoff_new(size_t max)
{
	struct calls_handoff *h;

	if (!max || (max & (max - 1)) || max > (1u << 20))
		return NULL;
	h = calloc(1, sizeof(*h) + max * sizeof(h->e[0]));
	if (!h)
		return NULL;
	h->max = max;
	h->bucket = malloc(2 * max * sizeof(h->bucket[0]));
	if (!h->bucket) {
		free(h);
		return NULL;
	}
	memset(h->bucket, 0xff, 2 * max * sizeof(h->bucket[0]));
	return h;
}

void calls_handoff_free(struct calls_handoff *h)
{
	if (!h)
		return;
	free(h->bucket);
	free(h);
}

static uint32_t *chain_of(struct calls_handoff *h, const struct conn_key *k)
{
	return &h->bucket[conn_key_hash(k) & (2 * h->max - 1)];
}

/* Unlinks entry i from its chain (it is held, so it is on one). */
static void unlink_entry(struct calls_handoff *h, uint32_t i)
{
	for (uint32_t *p = chain_of(h, &h->e[i].k); *p != NONE; p = &h->e[*p].next)
		if (*p == i) {
			*p = h->e[i].next;
			break;
		}
	h->e[i].held = false;
}

bool calls_handoff_put(struct calls_handoff *h, const struct conn_key *k)
{
	uint32_t i = h->cursor, *head;
	bool evicted = h->e[i].held;

	if (evicted)
		unlink_entry(h, i);
	h->e[i].k = *k;
	h->e[i].k.netns = 0;
	head = chain_of(h, &h->e[i].k);
	h->e[i].next = *head;
	h->e[i].held = true;
	*head = i;
	h->cursor = (uint32_t)((i + 1) & (h->max - 1));
	return evicted;
}

bool calls_handoff_take(struct calls_handoff *h, const struct conn_key *k)
{
	struct conn_key x = *k;

	x.netns = 0;
	for (uint32_t *p = chain_of(h, &x); *p != NONE; p = &h->e[*p].next)
		if (!memcmp(&h->e[*p].k, &x, sizeof(x))) {
			uint32_t i = *p;

			*p = h->e[i].next;
			h->e[i].held = false;
			return true;
		}
	return false;
}
