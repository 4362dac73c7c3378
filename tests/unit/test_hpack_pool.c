// SPDX-License-Identifier: MIT
/*
 * hpack_pool: blocks come back by size class, the lists stay bounded,
 * realloc and calloc keep their contracts, and a real libnghttp2 inflater
 * decodes through it what its deflater encoded (ASan's leak check sees any
 * block lost on the way).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/hpack_pool.h"

static void test_blocks_come_back_by_class(void **state)
{
	(void)state;
	struct hpack_pool *p = hpack_pool_new();
	nghttp2_mem *m = hpack_pool_mem(p);

	assert_non_null(m);
	void *a = m->malloc(40, m->mem_user_data);
	assert_non_null(a);
	memset(a, 0xab, 40);
	m->free(a, m->mem_user_data);
	assert_int_equal(hpack_pool_cached(p), 1);
	void *b = m->malloc(30, m->mem_user_data);      /* the same class */
	assert_ptr_equal(a, b);
	assert_int_equal(hpack_pool_cached(p), 0);
	void *c = m->malloc(200, m->mem_user_data);     /* another class: a new block */
	assert_ptr_not_equal(b, c);
	assert_true(((uintptr_t)b & 15) == 0 && ((uintptr_t)c & 15) == 0);
	void *big = m->malloc(HPACK_POOL_MAX + 1, m->mem_user_data);
	assert_non_null(big);
	m->free(big, m->mem_user_data);                 /* past the classes: freed */
	assert_int_equal(hpack_pool_cached(p), 0);
	m->free(b, m->mem_user_data);
	m->free(c, m->mem_user_data);
	m->free(NULL, m->mem_user_data);
	assert_int_equal(hpack_pool_cached(p), 2);
	hpack_pool_free(p);
	hpack_pool_free(NULL);
	assert_null(hpack_pool_mem(NULL));
}

static void test_lists_stay_bounded(void **state)
{
	(void)state;
	enum { N = HPACK_POOL_KEEP + 10 };
	struct hpack_pool *p = hpack_pool_new();
	nghttp2_mem *m = hpack_pool_mem(p);
	static void *blk[N];

	for (int i = 0; i < N; i++)
		assert_non_null(blk[i] = m->malloc(16, m->mem_user_data));
	for (int i = 0; i < N; i++)
		m->free(blk[i], m->mem_user_data);
	assert_int_equal(hpack_pool_cached(p), HPACK_POOL_KEEP);
	hpack_pool_free(p);
}

static void test_realloc_and_calloc(void **state)
{
	(void)state;
	struct hpack_pool *p = hpack_pool_new();
	nghttp2_mem *m = hpack_pool_mem(p);
	void *ud = m->mem_user_data;

	char *s = m->realloc(NULL, 10, ud);
	assert_non_null(s);
	memcpy(s, "0123456789", 10);
	char *t = m->realloc(s, 40, ud);                /* fits its block: in place */
	assert_ptr_equal(s, t);
	t = m->realloc(t, 300, ud);                     /* a larger class */
	assert_non_null(t);
	assert_memory_equal(t, "0123456789", 10);
	t = m->realloc(t, 5000, ud);                    /* past the classes */
	assert_non_null(t);
	assert_memory_equal(t, "0123456789", 10);
	t = m->realloc(t, 8, ud);                       /* down again: the first 8 stay */
	assert_non_null(t);
	assert_memory_equal(t, "01234567", 8);
	assert_null(m->realloc(t, 0, ud));              /* size 0 frees */

	unsigned char *z = m->calloc(7, 9, ud);
	assert_non_null(z);
	for (int i = 0; i < 63; i++)
		assert_int_equal(z[i], 0);
	memset(z, 1, 63);
	m->free(z, ud);
	z = m->calloc(9, 7, ud);                        /* a reused block is zeroed too */
	for (int i = 0; i < 63; i++)
		assert_int_equal(z[i], 0);
	m->free(z, ud);
	assert_null(m->calloc(SIZE_MAX / 2, 4, ud));
	assert_null(m->malloc(SIZE_MAX - 8, ud));
	hpack_pool_free(p);
}

/* NGINX-like response headers, literals never indexed, as a real
 * deflater writes them, read back through the pool, many times over. */
static void test_inflater_through_the_pool(void **state)
{
	(void)state;
	static const char *const names[] = { ":status", "server", "date", "content-type",
					     "content-length", "x-long" };
	char longv[700];
	const char *values[] = { "200", "nginx/1.22.1", "Mon, 07 Dec 2026 15:40:00 GMT",
				 "text/plain", "3", longv };
	nghttp2_nv nv[6];
	uint8_t blk[2048];
	struct hpack_pool *p = hpack_pool_new();
	nghttp2_hd_deflater *def = NULL;
	nghttp2_hd_inflater *inf = NULL;

	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	for (int i = 0; i < 6; i++)
		nv[i] = (nghttp2_nv){ (uint8_t *)names[i], (uint8_t *)values[i], strlen(names[i]),
				      strlen(values[i]), NGHTTP2_NV_FLAG_NO_INDEX };
	assert_int_equal(nghttp2_hd_deflate_new(&def, 4096), 0);
	assert_int_equal(nghttp2_hd_inflate_new2(&inf, hpack_pool_mem(p)), 0);
	for (int round = 0; round < 50; round++) {
		ssize_t n = nghttp2_hd_deflate_hd(def, blk, sizeof(blk), nv, 6);
		const uint8_t *in = blk;
		int got = 0;

		assert_true(n > 0);
		for (int calls = 0; calls < 20; calls++) {
			nghttp2_nv out;
			int flags = 0;
			ssize_t rv = nghttp2_hd_inflate_hd2(inf, &out, &flags, in, (size_t)n, 1);
			assert_true(rv >= 0);
			in += rv;
			n -= rv;
			if (flags & NGHTTP2_HD_INFLATE_EMIT) {
				assert_true(got < 6);
				assert_int_equal(out.namelen, strlen(names[got]));
				assert_memory_equal(out.name, names[got], out.namelen);
				assert_int_equal(out.valuelen, strlen(values[got]));
				assert_memory_equal(out.value, values[got], out.valuelen);
				got++;
			}
			if (flags & NGHTTP2_HD_INFLATE_FINAL) {
				nghttp2_hd_inflate_end_headers(inf);
				got += 100;
				break;
			}
		}
		assert_int_equal(got, 106);            /* every field, then the end */
	}
	assert_true(hpack_pool_cached(p) > 0);          /* the literals' buffers came back */
	nghttp2_hd_inflate_del(inf);
	nghttp2_hd_deflate_del(def);
	hpack_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_come_back_by_class),
		cmocka_unit_test(test_lists_stay_bounded),
		cmocka_unit_test(test_realloc_and_calloc),
		cmocka_unit_test(test_inflater_through_the_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
