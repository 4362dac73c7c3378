/* SPDX-License-Identifier: MIT */
/*
 * hpack_pool: the memory libnghttp2's HPACK inflaters take, from free lists
 * by size class. NGINX sends its response headers as literals, never
 * indexed, so every field of every response is a buffer of its own
 * (nghttp2_rcbuf) malloc'd and freed within the block: glibc's malloc and
 * free were 11 % of l7top's instructions on h2c keep-alive. Blocks of up to
 * HPACK_POOL_MAX bytes go back on their class's list, each list at most
 * HPACK_POOL_KEEP long (the rest to free(): nothing is dropped); larger
 * ones are plain malloc.
 *
 * One pool for all the inflaters of one thread (not thread-safe; no
 * globals). It must outlive every inflater made with its nghttp2_mem.
 */
#ifndef L7TOP_HPACK_POOL_H
#define L7TOP_HPACK_POOL_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

#define HPACK_POOL_MAX  496     /* largest request a class serves */
#define HPACK_POOL_KEEP 256     /* free blocks kept per class */

struct hpack_pool;

struct hpack_pool *hpack_pool_new(void);
/* Frees the pool and the blocks on its lists (blocks still out are the
 * inflaters' to give back first). NULL is a no-op. */
void hpack_pool_free(struct hpack_pool *p);
/* The allocator to hand nghttp2_hd_inflate_new2(). */
nghttp2_mem *hpack_pool_mem(struct hpack_pool *p);
/* Blocks on the free lists, all classes together. */
size_t hpack_pool_cached(const struct hpack_pool *p);

#endif
