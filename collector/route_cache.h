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
 * 1,024 slots whatever the endpoint bound: 16,384 for 10,000 endpoints hit
 * on 54 % of a round-robin replay's requests (10.3 k -> 9.2 k instructions
 * each) but saved no CPU live, where such a request is cache misses
 * whichever way it goes, and held 4 MB more (4,096: 1 MB more).
 */
#ifndef L7TOP_ROUTE_CACHE_H
#define L7TOP_ROUTE_CACHE_H

#include <stddef.h>

#define ROUTE_CACHE_SLOTS  1024  /* 256 KB */
#define ROUTE_CACHE_TARGET 116   /* longer paths are folded every time */
#define ROUTE_CACHE_ROUTE  128   /* so are ones whose route is this long or longer */

struct route_cache;
struct route_slot;

/* NULL on ENOMEM: then nothing is cached, every call below is a no-op miss. */
struct route_cache *route_cache_new(void);
void route_cache_free(struct route_cache *rc);
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
