/* SPDX-License-Identifier: MIT */
/*
 * route_cache: request targets and the routes the collector gave them,
 * direct-mapped by the target's hash. Clients and hot endpoints repeat
 * their targets, and folding and learning a target again gives the route
 * it gave before (the learner counts distinct values: one it counted, or
 * a parent it folded, changes nothing) as long as the learner learnt no
 * fold since, so an entry keeps the learner's fold count it was made at.
 *
 * One entry was kept until session 18: 16 keep-alive connections over 10
 * routes rarely sent the same target twice in a row, and folding and
 * learning took ~11 % of each request's instructions.
 *
 * An entry is keyed by the target's path: its route never depends on the
 * query string or the fragment (route_fold drops them), and keyed by the
 * whole target a search box or a cache-buster missed every time.
 *
 * A slot per endpoint row, rounded up to a power of two, 1,024 to 16,384
 * (256 KB to 4 MB). Sessions 18 to 21 kept 1,024 whatever the bound:
 * 16,384 for 10,000 endpoints hit on 54 % of a round-robin replay's
 * requests (10.3 k -> 9.2 k instructions each) but saved no CPU live,
 * where a slot of a 4 MB table is a cache miss of its own. It pays once
 * the slot is fetched when the request comes (route_cache_prefetch), an
 * answer's round trip before the route is asked for, while lookups miss
 * (route_cache_missing): 10,000 endpoints live, 1.88 -> 1.50 us of l7top
 * CPU a request (6 alternated triples; the bigger table alone, 1.785).
 */
#ifndef L7TOP_ROUTE_CACHE_H
#define L7TOP_ROUTE_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#define ROUTE_CACHE_MIN_SLOTS      1024
#define ROUTE_CACHE_MAX_SLOTS      16384
#define ROUTE_CACHE_WINDOW         1024  /* lookups route_cache_missing() judges by */
#define ROUTE_CACHE_TARGET 116   /* longer paths are folded every time */
#define ROUTE_CACHE_ROUTE  128   /* so are ones whose route is this long or longer */

struct route_cache;
struct route_slot;

/* Slots for as many endpoints (see above). NULL on ENOMEM: then nothing is
 * cached, every call below is a no-op miss. */
struct route_cache *route_cache_new(size_t endpoints);
void route_cache_free(struct route_cache *rc);
size_t route_cache_slots(const struct route_cache *rc);
/* Fetches the slot route_cache_get() will read for target[0..len): a hint,
 * nothing changes. */
void route_cache_prefetch(const struct route_cache *rc, const char *target, size_t len);
/* Did more than an eighth of the last ROUTE_CACHE_WINDOW lookups miss? Then
 * the slots are worth fetching ahead; a server with a few hot targets
 * (always hits, in the cache already) is spared the hashing. */
bool route_cache_missing(const struct route_cache *rc);
/*
 * The route cached for target[0..len)'s path at the learner's fold count folds,
 * or NULL (never cached, replaced, made at another count, or not cachable)
 * with *slot set to where route_cache_fill() caches it (NULL: nowhere).
 */
const char *route_cache_get(struct route_cache *rc, const char *target, size_t len, size_t folds,
			    struct route_slot **slot);
/* Caches route (NUL-terminated) for the target route_cache_get() was
 * asked about; slot NULL, or a route of ROUTE_CACHE_ROUTE bytes or more,
 * does nothing. */
void route_cache_fill(struct route_slot *slot, const char *target, size_t len, size_t folds,
		      const char *route);

#endif
