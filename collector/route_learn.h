/* SPDX-License-Identifier: MIT */
/*
 * route_learn: learned folding of route segments that carry names, slugs or
 * SKUs (/blog/my-first-post, /u/alice, /products/SKU-1234), which the
 * id rules of route_fold cannot recognise.
 *
 * For every segment after the first, its parent is the route up to it
 * ("/u/" for "/u/alice", "/u/{*}/posts/" for "/u/alice/posts/7"). When more
 * than max_values distinct segments (default 16) were seen under one
 * parent, the parent is folded: from then on that segment is written "{*}"
 * and the parent is listed (route_learn_prefix()) so the caller can store
 * it and show it. The first segment never folds: a scanner's top-level
 * names belong in OTHER (collector/agg.h), real top-level routes keep theirs.
 * Placeholders ("{id}", "{*}", a user pattern's "{name}") are one value.
 *
 * Bounded memory: parents are counted in a fixed table of slots (two-way:
 * a new parent takes the slot of the two whose count is lower; counting may
 * restart, folding is then only later), each with at most max_values hashes;
 * at most max_folds parents are folded, further ones are counted in
 * route_learn_refused(). About 72 bytes per slot + ROUTE_MAX per fold.
 * Pure: no I/O, no globals.
 */
#ifndef L7TOP_ROUTE_LEARN_H
#define L7TOP_ROUTE_LEARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_LEARN_VALUES 16     /* default: distinct values before a fold */
#define ROUTE_LEARN_FOLD   "{*}"

struct route_learn;

/* 0 = defaults: 16 values, 4096 slots, 256 folds. NULL on ENOMEM. */
struct route_learn *route_learn_new(unsigned max_values, size_t slots, size_t max_folds);
void route_learn_free(struct route_learn *l);
/*
 * Rewrites route (NUL-terminated, cap bytes) in place: segments under a
 * folded parent become "{*}"; other segments are counted, and a parent
 * that passes max_values folds now (this route already folded). Returns
 * true when a fold was learned by this call.
 */
bool route_learn_apply(struct route_learn *l, char *route, size_t cap);
/* A fold known from before (the DB): 0, -ENOSPC past max_folds, -EINVAL. */
int route_learn_add(struct route_learn *l, const char *prefix);
size_t route_learn_count(const struct route_learn *l);
/* The i-th folded parent, in the order learned ("/u/"). */
const char *route_learn_prefix(const struct route_learn *l, size_t i);
uint64_t route_learn_refused(const struct route_learn *l);
/* Folds route as the folds in prefixes[] say (for rows stored before they
 * were learned): the segment after each matching prefix becomes "{*}",
 * repeatedly, so nested folds apply too. Pure; out gets cap bytes. */
size_t route_learn_rewrite(const char *const *prefixes, size_t n, const char *route,
			   char *out, size_t cap);

#endif
