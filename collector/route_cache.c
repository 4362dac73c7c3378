// SPDX-License-Identifier: MIT
#include "collector/route_cache.h"

#include "collector/route_fold.h"
#include "collector/word_hash.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


struct route_slot {               /* 256 bytes */
	uint32_t hash;
	uint16_t len;                 /* 0: empty (an empty target is never cached) */
	uint32_t folds;               /* the learner's fold count (at most its max_folds) */
	char target[ROUTE_CACHE_TARGET];
	char route[ROUTE_CACHE_ROUTE];
};

_Static_assert(sizeof(struct route_slot) == 256, "a route slot is four cache lines");

struct route_cache {
	size_t mask;                  /* slots - 1 */
	struct route_slot *slot;      /* on cache lines: a slot is four, not five */
	uint32_t looked, missed;      /* in the current window of lookups */
	bool missing;                 /* the last window missed often */
};

/* A target is hashed on every request (word_hash.h). */
static uint32_t target_hash(const char *s, size_t n)
{
	return word_hash32(word_hash(0, s, n));
}

struct route_cache *route_cache_new(size_t endpoints)
{
	struct route_cache *rc = calloc(1, sizeof(*rc));
	size_t n = ROUTE_CACHE_MIN_SLOTS;

	if (!rc)
		return NULL;
	while (n < endpoints && n < ROUTE_CACHE_MAX_SLOTS)
		n <<= 1;
	rc->slot = aligned_alloc(64, n * sizeof(*rc->slot));
	if (!rc->slot) {
		free(rc);
		return NULL;
	}
	memset(rc->slot, 0, n * sizeof(*rc->slot));
	rc->mask = n - 1;
	return rc;
}

void route_cache_free(struct route_cache *rc)
{
	if (rc)
		free(rc->slot);
	free(rc);
}

size_t route_cache_slots(const struct route_cache *rc)
{
	return rc ? rc->mask + 1 : 0;
}

static struct route_slot *slot_of(const struct route_cache *rc, uint32_t h)
{
	return &rc->slot[(h ^ h >> 16) & rc->mask];
}

void route_cache_prefetch(const struct route_cache *rc, const char *target, size_t len)
{
	if (!rc)
		return;
	len = route_path_len(target, len);
	if (!len || len > ROUTE_CACHE_TARGET)
		return;
	const char *s = (const char *)slot_of(rc, target_hash(target, len));
	for (size_t off = 0; off < sizeof(struct route_slot); off += 64)
		__builtin_prefetch(s + off);
}

static const char *lookup(struct route_cache *rc, const char *target, size_t len, size_t folds,
			  struct route_slot **slot)
{
	len = route_path_len(target, len);
	if (!len || len > ROUTE_CACHE_TARGET)
		return NULL;
	uint32_t h = target_hash(target, len);
	struct route_slot *s = slot_of(rc, h);
	if (s->hash == h && s->len == len && s->folds == (uint32_t)folds &&
	    !memcmp(s->target, target, len))
		return s->route;
	s->hash = h;
	s->len = 0;                   /* empty until filled */
	*slot = s;
	return NULL;
}

bool route_cache_missing(const struct route_cache *rc)
{
	return rc && rc->missing;
}

/* Counts a lookup in the window, and rolls the window. */
static void note_lookup(struct route_cache *rc, bool miss)
{
	rc->missed += miss;
	if (++rc->looked < ROUTE_CACHE_WINDOW)
		return;
	rc->missing = rc->missed > ROUTE_CACHE_WINDOW / 8;
	rc->looked = rc->missed = 0;
}

const char *route_cache_get(struct route_cache *rc, const char *target, size_t len, size_t folds,
			    struct route_slot **slot)
{
	*slot = NULL;
	if (!rc)
		return NULL;
	const char *route = lookup(rc, target, len, folds, slot);
	note_lookup(rc, !route);
	return route;
}

void route_cache_fill(struct route_slot *s, const char *target, size_t len, size_t folds,
		      const char *route)
{
	size_t rlen = strnlen(route, ROUTE_CACHE_ROUTE);

	if (!s || rlen == ROUTE_CACHE_ROUTE)
		return;                   /* a route that long is folded every time */
	len = route_path_len(target, len);   /* as route_cache_get() keyed it */
	s->len = (uint16_t)len;
	s->folds = (uint32_t)folds;
	memcpy(s->target, target, len);
	memcpy(s->route, route, rlen + 1);
}
