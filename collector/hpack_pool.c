// SPDX-License-Identifier: MIT
#include "collector/hpack_pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Each block starts with this header; the caller's bytes follow, 16-byte
 * aligned as malloc's. size: what the caller asked for (realloc copies it). */
struct blk_hdr {
	uint32_t cls;               /* index into CLASS_CAP, or CLS_NONE */
	uint32_t pad;
	size_t size;
};
_Static_assert(sizeof(struct blk_hdr) == 16, "the header keeps malloc's alignment");

#define NCLASS   4
#define CLS_NONE UINT32_MAX
/* Block sizes 64, 128, 256 and 512 bytes, header included. */
static const size_t CLASS_CAP[NCLASS] = { 48, 112, 240, HPACK_POOL_MAX };

struct hpack_pool {
	nghttp2_mem mem;
	void *head[NCLASS];         /* free blocks (their caller's bytes), linked
				     * through their first word */
	size_t nfree[NCLASS];
};

static uint32_t class_of(size_t n)
{
	for (uint32_t c = 0; c < NCLASS; c++)
		if (n <= CLASS_CAP[c])
			return c;
	return CLS_NONE;
}

static void *pool_malloc(size_t size, void *ud)
{
	struct hpack_pool *p = ud;
	uint32_t c = class_of(size);
	struct blk_hdr *h;

	if (c != CLS_NONE && p->head[c]) {
		void *b = p->head[c];
		memcpy(&p->head[c], b, sizeof(void *));
		p->nfree[c]--;
		h = (struct blk_hdr *)b - 1;
	} else {
		size_t cap = c != CLS_NONE ? CLASS_CAP[c] : size;
		if (cap > SIZE_MAX - sizeof(*h) || !(h = malloc(sizeof(*h) + cap)))
			return NULL;
		h->cls = c;
	}
	h->size = size;
	return h + 1;
}

static void pool_free(void *ptr, void *ud)
{
	struct hpack_pool *p = ud;
	struct blk_hdr *h;

	if (!ptr)
		return;
	h = (struct blk_hdr *)ptr - 1;
	if (h->cls != CLS_NONE && p->nfree[h->cls] < HPACK_POOL_KEEP) {
		memcpy(ptr, &p->head[h->cls], sizeof(void *));
		p->head[h->cls] = ptr;
		p->nfree[h->cls]++;
		return;
	}
	free(h);
}

static void *pool_calloc(size_t nmemb, size_t size, void *ud)
{
	void *q;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	q = pool_malloc(nmemb * size, ud);
	if (q)
		memset(q, 0, nmemb * size);
	return q;
}

static void *pool_realloc(void *ptr, size_t size, void *ud)
{
	struct blk_hdr *h;
	void *q;

	if (!ptr)
		return pool_malloc(size, ud);
	if (!size) {
		pool_free(ptr, ud);
		return NULL;
	}
	h = (struct blk_hdr *)ptr - 1;
	if (h->cls != CLS_NONE && size <= CLASS_CAP[h->cls]) {
		h->size = size;
		return ptr;
	}
	if (!(q = pool_malloc(size, ud)))
		return NULL;
	memcpy(q, ptr, h->size < size ? h->size : size);
	pool_free(ptr, ud);
	return q;
}

struct hpack_pool *hpack_pool_new(void)
{
	struct hpack_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->mem = (nghttp2_mem){ .mem_user_data = p, .malloc = pool_malloc, .free = pool_free,
				.calloc = pool_calloc, .realloc = pool_realloc };
	return p;
}

void hpack_pool_free(struct hpack_pool *p)
{
	if (!p)
		return;
	for (int c = 0; c < NCLASS; c++) {
		while (p->head[c]) {
			void *b = p->head[c];
			memcpy(&p->head[c], b, sizeof(void *));
			free((struct blk_hdr *)b - 1);
		}
	}
	free(p);
}

nghttp2_mem *hpack_pool_mem(struct hpack_pool *p)
{
	return p ? &p->mem : NULL;
}

size_t hpack_pool_cached(const struct hpack_pool *p)
{
	size_t n = 0;

	for (int c = 0; c < NCLASS; c++)
		n += p->nfree[c];
	return n;
}
