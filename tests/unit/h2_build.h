/* SPDX-License-Identifier: MIT */
/*
 * Building HTTP/2 byte streams for the unit tests: frames by hand, header
 * blocks with libnghttp2's deflater (so the reader is checked against the
 * library's own encoder, dynamic table included). Static functions: each
 * test file that includes this gets its own copy. Include after <cmocka.h>.
 */
#ifndef L7TOP_TEST_H2_BUILD_H
#define L7TOP_TEST_H2_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "collector/h2_stream.h"

struct wire {
	uint8_t *b;
	size_t n, cap;
};

static inline void wire_put(struct wire *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		w->cap = (w->n + n) * 2 + 1024;
		w->b = realloc(w->b, w->cap);
		assert_non_null(w->b);
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static inline void frame(struct wire *w, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p,
		  size_t n)
{
	uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
			 (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid };
	wire_put(w, h, 9);
	if (n)
		wire_put(w, p, n);
}

/* pairs: name, value, ..., NULL */
static inline size_t hpack(nghttp2_hd_deflater *d, const char *const *pairs, uint8_t *out, size_t cap)
{
	nghttp2_nv nv[32];
	size_t k = 0;
	for (; pairs[2 * k]; k++) {
		nv[k] = (nghttp2_nv){ (uint8_t *)pairs[2 * k], (uint8_t *)pairs[2 * k + 1],
				      strlen(pairs[2 * k]), strlen(pairs[2 * k + 1]), NGHTTP2_NV_FLAG_NONE };
	}
	ssize_t n = nghttp2_hd_deflate_hd(d, out, cap, nv, k);
	assert_true(n > 0);
	return (size_t)n;
}

static uint8_t BLK[1 << 16];

/* Both return the frame's size on the wire. */
static inline size_t headers(struct wire *w, nghttp2_hd_deflater *d, uint32_t sid, bool end_stream,
		      const char *const *pairs)
{
	size_t n = hpack(d, pairs, BLK, sizeof(BLK));
	frame(w, NGHTTP2_HEADERS, (uint8_t)(NGHTTP2_FLAG_END_HEADERS | (end_stream ? 1 : 0)), sid,
	      BLK, n);
	return 9 + n;
}

static inline size_t data(struct wire *w, uint32_t sid, bool end_stream, size_t n)
{
	static uint8_t zero[20000];
	assert_true(n <= sizeof(zero));
	frame(w, NGHTTP2_DATA, end_stream ? 1 : 0, sid, zero, n);
	return 9 + n;
}

static inline void preface(struct wire *cli, struct wire *srv)
{
	static const uint8_t settings[] = { 0, 3, 0, 0, 0, 100 };   /* max concurrent 100 */
	wire_put(cli, H2_PREFACE, H2_PREFACE_LEN);
	frame(cli, NGHTTP2_SETTINGS, 0, 0, settings, sizeof(settings));
	frame(srv, NGHTTP2_SETTINGS, 0, 0, settings, sizeof(settings));
	frame(srv, NGHTTP2_SETTINGS, 1, 0, NULL, 0);
	frame(cli, NGHTTP2_SETTINGS, 1, 0, NULL, 0);
}

#endif
