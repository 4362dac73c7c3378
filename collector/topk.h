/* SPDX-License-Identifier: MIT */
/*
 * topk: which keys own one of k slots, by Space-Saving (Metwally, Agrawal,
 * El Abbadi 2005). The caller keeps its data in its own array indexed by
 * slot; topk only decides which key a slot belongs to.
 *
 * Every slot has a rank: the hits of its key since the key took the slot,
 * plus err, the rank of the key it replaced. A key not in the table takes
 * the slot of least rank (the caller empties it first). Hence, for N hits
 * in all (since start or since the last halving):
 *
 *   - the least rank is at most N / k, so err <= N / k for every slot;
 *   - a key with more than N / k hits always holds a slot, and its slot
 *     misses at most err of them (those before it got the slot).
 *
 * Ranks only order the slots. The caller's own counts, taken from the
 * moment a key got its slot, are exact. topk_halve() halves every rank and
 * err (the heap stays ordered: halving keeps order), so keys that went
 * quiet long ago give way to the traffic of now.
 *
 * Keys are known to topk by a 32-bit hash; eq() tells two keys with one hash
 * apart (NULL: the hash is the key). Memory: about 60 bytes per slot, fixed
 * at topk_new(). No globals, no I/O.
 */
#ifndef L7TOP_TOPK_H
#define L7TOP_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct topk;

/* Is slot's key the one the caller is looking for? */
typedef bool (*topk_eq_fn)(void *ctx, size_t slot);

struct topk *topk_new(size_t k);
void topk_free(struct topk *t);
size_t topk_cap(const struct topk *t);
size_t topk_used(const struct topk *t);
/* The slot holding the key of hash h, or -1. */
long topk_find(const struct topk *t, uint32_t h, topk_eq_fn eq, void *ctx);
/* For a caller that looks up a batch of keys, a pass ahead of topk_find():
 * fetch the table line where h's probe starts; then the slot found there
 * with hash h (its key unchecked: -1 when none), and fetch what
 * topk_hit() will read of it. Neither changes anything. */
void topk_prefetch(const struct topk *t, uint32_t h);
long topk_peek(const struct topk *t, uint32_t h);
/*
 * Gives the key of hash h (known absent) a slot, with rank 1 + err, and
 * returns it. While slots are free err is 0 and *evicted false; else the
 * slot of least rank is taken, err is that rank, and *evicted is true: the
 * caller must have moved the slot's old data away (topk_victim() says which
 * slot that will be).
 */
size_t topk_admit(struct topk *t, uint32_t h, bool *evicted);
/* The slot topk_admit() would take next, or -1 while slots are free. */
long topk_victim(const struct topk *t);
void topk_hit(struct topk *t, size_t slot, uint64_t n);
uint64_t topk_rank(const struct topk *t, size_t slot);
uint64_t topk_err(const struct topk *t, size_t slot);
void topk_halve(struct topk *t);

#endif
