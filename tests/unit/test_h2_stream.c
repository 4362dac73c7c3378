// SPDX-License-Identifier: MIT
/*
 * h2_stream: frames, HPACK (through libnghttp2's deflater on this side),
 * stream pairing and accounting, whatever the split. Header blocks are
 * built with nghttp2_hd_deflate_* so the reader is checked against the
 * library's own encoder, dynamic table included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>

#include "collector/h2_stream.h"

#define MAXT 256

struct got {
	size_t n;
	struct http_txn t[MAXT];
	char target[MAXT][64];
	char method[MAXT][16];
	char host[MAXT][32];
	struct http_counters cnt;
};

static void on_txn(void *ctx, const struct http_txn *t)
{
	struct got *g = ctx;
	assert_true(g->n < MAXT);
	g->t[g->n] = *t;
	snprintf(g->target[g->n], sizeof(g->target[0]), "%.*s", (int)t->target_len, t->target);
	snprintf(g->method[g->n], sizeof(g->method[0]), "%s", t->method);
	snprintf(g->host[g->n], sizeof(g->host[0]), "%.*s", (int)t->host_len, t->host);
	g->t[g->n].target = g->target[g->n];
	g->t[g->n].method = g->method[g->n];
	g->t[g->n].host = g->host[g->n];
	g->n++;
}

#include "h2_build.h"

struct pair {
	nghttp2_hd_deflater *cd, *sd;       /* client and server encoders */
	struct wire cli, srv;
	size_t in[2], out[2];               /* expected bytes of build_two's streams 1 and 3 */
};

static void pair_init(struct pair *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(nghttp2_hd_deflate_new(&p->cd, 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&p->sd, 4096), 0);
}

static void pair_free(struct pair *p)
{
	nghttp2_hd_deflate_del(p->cd);
	nghttp2_hd_deflate_del(p->sd);
	free(p->cli.b);
	free(p->srv.b);
}

#define REQ(m, path) (const char *const[]){ ":method", m, ":scheme", "https", ":path", path, \
					    ":authority", "Shop.example:8443", "user-agent", "t", NULL }
#define RESP(code) (const char *const[]){ ":status", code, "server", "nginx", NULL }

/* Two streams: 1 = GET /a answered 404 last, 3 = POST /b (10-byte body)
 * answered 201 with a 5-byte body first. */
static void build_two(struct pair *p)
{
	pair_init(p);
	preface(&p->cli, &p->srv);
	p->in[0] = headers(&p->cli, p->cd, 1, true, REQ("GET", "/a?q=1"));
	p->in[1] = headers(&p->cli, p->cd, 3, false, REQ("POST", "/b"));
	p->in[1] += data(&p->cli, 3, true, 10);
	p->out[1] = headers(&p->srv, p->sd, 3, false, RESP("201"));
	p->out[1] += data(&p->srv, 3, true, 5);
	p->out[0] = headers(&p->srv, p->sd, 1, true, RESP("404"));
}

/* Feeds the client side split at rq, the server side at rs, server bytes
 * after all client bytes; timestamps 10/20 (client) and 30/40 (server). */
static void run_split(struct h2_stream *s, const struct pair *p, size_t rq, size_t rs,
		      struct got *g)
{
	struct http_sink sink = { .txn = on_txn, .ctx = g, .cnt = &g->cnt };
	h2_stream_feed(s, HTTP_DIR_REQ, p->cli.b, rq, 10, &sink);
	h2_stream_feed(s, HTTP_DIR_REQ, p->cli.b + rq, p->cli.n - rq, 20, &sink);
	h2_stream_feed(s, HTTP_DIR_RESP, p->srv.b, rs, 30, &sink);
	h2_stream_feed(s, HTTP_DIR_RESP, p->srv.b + rs, p->srv.n - rs, 40, &sink);
	h2_stream_free(s, &sink);
}

/*
 * Streams one after another on a connection reuse the last one's memory:
 * none of its fields carry over (a request without :path or :authority
 * after one with a long path and a host), and a shorter path after it
 * reads as itself.
 */
static void test_reused_stream_starts_clean(void **state)
{
	(void)state;
	static const char *const bare[] = { ":method", "GET", ":scheme", "https", NULL };
	char longp[120];
	struct pair p;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct h2_stream *s = h2_stream_new("h2", true, false, NULL);

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	pair_init(&p);
	preface(&p.cli, &p.srv);
	h2_stream_feed(s, HTTP_DIR_REQ, p.cli.b, p.cli.n, 1, &sink);
	h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b, p.srv.n, 1, &sink);
	for (uint32_t sid = 1; sid <= 5; sid += 2) {
		p.cli.n = p.srv.n = 0;
		if (sid == 1)
			headers(&p.cli, p.cd, sid, true, REQ("POST", longp));
		else if (sid == 3)
			headers(&p.cli, p.cd, sid, true, bare);
		else
			headers(&p.cli, p.cd, sid, true, REQ("GET", "/x"));
		headers(&p.srv, p.sd, sid, true, RESP(sid == 3 ? "404" : "200"));
		h2_stream_feed(s, HTTP_DIR_REQ, p.cli.b, p.cli.n, 10 * sid, &sink);
		h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b, p.srv.n, 10 * sid + 5, &sink);
		assert_int_equal(g.n, (sid + 1) / 2);
	}
	h2_stream_free(s, &sink);
	assert_string_equal(g.method[0], "POST");
	assert_int_equal(g.t[0].target_len, strlen(longp));
	assert_string_equal(g.host[0], "Shop.example:8443");
	assert_string_equal(g.method[1], "GET");
	assert_string_equal(g.target[1], H2_ROUTE_UNREADABLE);
	assert_true(g.t[1].path_unknown);
	assert_int_equal(g.t[1].host_len, 0);
	assert_int_equal(g.t[1].status, 404);
	assert_string_equal(g.target[2], "/x");
	assert_false(g.t[2].path_unknown);
	assert_int_equal(g.t[2].status, 200);
	assert_int_equal(g.t[2].start_ns, 50);
	pair_free(&p);
}

static void test_two_streams_out_of_order(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	build_two(&p);
	run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n, p.srv.n, &g);

	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[0].method, "POST");      /* finished first */
	assert_string_equal(g.t[0].target, "/b");
	assert_int_equal(g.t[0].status, 201);
	assert_int_equal(g.t[0].bytes_in, p.in[1]);
	assert_int_equal(g.t[0].bytes_out, p.out[1]);
	assert_int_equal(g.t[1].bytes_in, p.in[0]);
	assert_int_equal(g.t[1].bytes_out, p.out[0]);
	assert_int_equal(g.t[1].start_ns, 10);
	assert_int_equal(g.t[1].end_ns, 30);
	assert_string_equal(g.t[1].method, "GET");
	assert_string_equal(g.t[1].target, "/a?q=1");
	assert_string_equal(g.t[1].host, "Shop.example:8443");
	assert_int_equal(g.t[1].status, 404);
	assert_string_equal(g.t[1].proto, "h2");
	assert_int_equal(g.t[1].grpc_status, -1);
	assert_false(g.t[1].grpc);
	assert_int_equal(g.cnt.txns, 2);
	assert_int_equal(g.cnt.parse_errors + g.cnt.unpaired + g.cnt.h2_reset + g.cnt.h2_unreadable, 0);
	pair_free(&p);
}

/* Bytes are frame headers + payloads of the stream's frames, nothing of
 * the connection's own frames (preface, SETTINGS). */
static void test_bytes_are_the_streams_frames(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	pair_init(&p);
	preface(&p.cli, &p.srv);
	size_t c0 = p.cli.n, s0 = p.srv.n;
	headers(&p.cli, p.cd, 1, false, REQ("PUT", "/u"));
	data(&p.cli, 1, false, 100);
	data(&p.cli, 1, true, 0);
	headers(&p.srv, p.sd, 1, false, RESP("200"));
	data(&p.srv, 1, true, 7);
	run_split(h2_stream_new("h2c", true, false, NULL), &p, p.cli.n, p.srv.n, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].bytes_in, p.cli.n - c0);
	assert_int_equal(g.t[0].bytes_out, p.srv.n - s0);
	assert_string_equal(g.t[0].proto, "h2c");
	pair_free(&p);
}

/* Every split of either side gives the same transactions; timestamps come
 * from the chunk holding the HEADERS' first byte and END_STREAM's last. */
static void test_every_split_same_result(void **state)
{
	(void)state;
	struct pair p;
	struct got ref = { 0 }, g;
	build_two(&p);
	run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n, p.srv.n, &ref);
	assert_int_equal(ref.n, 2);

	size_t stream3_headers = 0;     /* offset of stream 3's HEADERS in cli */
	for (size_t off = H2_PREFACE_LEN; off < p.cli.n;) {
		uint32_t len = (uint32_t)p.cli.b[off] << 16 | p.cli.b[off + 1] << 8 | p.cli.b[off + 2];
		if (p.cli.b[off + 3] == NGHTTP2_HEADERS && p.cli.b[off + 8] == 3)
			stream3_headers = off;
		off += 9 + len;
	}
	for (size_t rq = 0; rq <= p.cli.n; rq++) {
		memset(&g, 0, sizeof(g));
		run_split(h2_stream_new("h2", true, false, NULL), &p, rq, p.srv.n, &g);
		assert_int_equal(g.n, 2);
		for (int i = 0; i < 2; i++) {
			assert_string_equal(g.t[i].target, ref.t[i].target);
			assert_int_equal(g.t[i].status, ref.t[i].status);
			assert_int_equal(g.t[i].bytes_in, ref.t[i].bytes_in);
			assert_int_equal(g.t[i].bytes_out, ref.t[i].bytes_out);
		}
		assert_int_equal(g.t[0].start_ns, rq > stream3_headers ? 10 : 20);
	}
	for (size_t rs = 0; rs <= p.srv.n; rs++) {
		memset(&g, 0, sizeof(g));
		run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n, rs, &g);
		assert_int_equal(g.n, 2);
		assert_int_equal(g.cnt.parse_errors, 0);
		for (int i = 0; i < 2; i++) {
			assert_string_equal(g.t[i].target, ref.t[i].target);
			assert_int_equal(g.t[i].bytes_out, ref.t[i].bytes_out);
		}
		/* the 404's END_STREAM is the server's last byte */
		assert_int_equal(g.t[1].end_ns, rs == p.srv.n ? 30 : 40);
	}
	pair_free(&p);
}

/*
 * A header block over 16 KB, cut into HEADERS (padded, with priority) and
 * two CONTINUATIONs, then a second request whose fields come from the
 * dynamic table the first one filled: the inflater state carries across.
 */
static void test_hpack_across_continuation(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	static char cookie[20001];
	memset(cookie, '^', sizeof(cookie) - 1);   /* long Huffman codes: sent raw */
	pair_init(&p);
	preface(&p.cli, &p.srv);
	const char *const big[] = { ":method", "GET", ":scheme", "https", ":path", "/big",
				    ":authority", "h", "x-long", cookie, NULL };
	size_t n = hpack(p.cd, big, BLK, sizeof(BLK));
	assert_true(n > 16384);
	uint8_t first[1 + 5 + 8000 + 3];
	size_t pos = 0;
	first[pos++] = 3;                                  /* pad length */
	memset(first + pos, 0, 5);                         /* priority: stream 0, weight 1 */
	pos += 5;
	memcpy(first + pos, BLK, 8000);
	pos += 8000;
	memset(first + pos, 0, 3);
	pos += 3;
	frame(&p.cli, NGHTTP2_HEADERS, NGHTTP2_FLAG_PADDED | NGHTTP2_FLAG_PRIORITY | 1, 1, first, pos);
	frame(&p.cli, NGHTTP2_CONTINUATION, 0, 1, BLK + 8000, 8000);
	frame(&p.cli, NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, 1, BLK + 16000, n - 16000);
	/* second request: ":authority h" and "/big" now come from the table */
	headers(&p.cli, p.cd, 3, true, (const char *const[]){ ":method", "GET", ":scheme", "https",
		":path", "/big", ":authority", "h", NULL });
	headers(&p.srv, p.sd, 1, true, RESP("200"));
	headers(&p.srv, p.sd, 3, true, RESP("200"));
	run_split(h2_stream_new("h2", true, false, NULL), &p, 16390, 20, &g);
	assert_int_equal(g.n, 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(g.t[i].target, "/big");
		assert_string_equal(g.t[i].host, "h");
		assert_int_equal(g.t[i].status, 200);
	}
	assert_int_equal(g.t[0].bytes_in, 9 + pos + 9 + 8000 + 9 + (n - 16000));
	assert_int_equal(g.cnt.h2_unreadable, 0);
	pair_free(&p);
}

/* 100 concurrent streams, answered in reverse order, bodies interleaved. */
static void test_interleaved_hundred(void **state)
{
	(void)state;
	struct pair p;
	static struct got g;
	memset(&g, 0, sizeof(g));
	pair_init(&p);
	preface(&p.cli, &p.srv);
	char path[100][24];
	for (int i = 0; i < 100; i++) {
		snprintf(path[i], sizeof(path[i]), "/item/%d", i);
		headers(&p.cli, p.cd, (uint32_t)(2 * i + 1), true, REQ("GET", path[i]));
	}
	size_t out[100];
	for (int i = 99; i >= 0; i--)
		out[i] = headers(&p.srv, p.sd, (uint32_t)(2 * i + 1), false, RESP(i % 2 ? "200" : "500"));
	for (int round = 0; round < 2; round++)
		for (int i = 99; i >= 0; i--)
			out[i] += data(&p.srv, (uint32_t)(2 * i + 1), round == 1, (size_t)i);
	run_split(h2_stream_new("h2", true, false, NULL), &p, 777, 1234, &g);
	assert_int_equal(g.n, 100);
	for (int k = 0; k < 100; k++) {
		int i = 99 - k;
		assert_string_equal(g.t[k].target, path[i]);
		assert_int_equal(g.t[k].status, i % 2 ? 200 : 500);
		assert_int_equal(g.t[k].bytes_out, out[i]);
	}
	assert_int_equal(g.cnt.unpaired + g.cnt.h2_reset, 0);
	pair_free(&p);
}

/* Where frame number k (0 = first after the preface/SETTINGS exchange)
 * of a wire starts. */
static size_t frame_off(const struct wire *w, size_t from, int k)
{
	size_t off = from;
	while (k-- > 0)
		off += 9 + ((size_t)w->b[off] << 16 | (size_t)w->b[off + 1] << 8 | w->b[off + 2]);
	return off;
}

/*
 * Attached mid-connection: the dynamic tables are unknown. Stream 1 was
 * before l7top (only its response is seen); stream 3's request refers to
 * table entries stream 1 made. Both are counted; :status read from the
 * static table; the paths are the honest row, never a guess.
 */
static void test_mid_connection(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	pair_init(&p);
	preface(&p.cli, &p.srv);
	size_t c0 = p.cli.n, s0 = p.srv.n;
	headers(&p.cli, p.cd, 1, true, REQ("GET", "/users/42"));
	headers(&p.srv, p.sd, 1, false, RESP("200"));
	size_t s1 = p.srv.n;
	data(&p.srv, 1, true, 3);
	size_t c1 = p.cli.n;
	headers(&p.cli, p.cd, 3, true, REQ("GET", "/users/42"));
	headers(&p.srv, p.sd, 3, true, RESP("200"));
	assert_true(h2_frames_plausible(p.srv.b + s1, p.srv.n - s1));
	assert_true(h2_frames_plausible(p.cli.b + c1, p.cli.n - c1));
	assert_false(h2_frames_plausible((const uint8_t *)"GET / HTTP/1.1\r\n", 16));
	(void)c0;
	(void)s0;

	struct h2_stream *s = h2_stream_new("h2", false, true, NULL);
	h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b + s1, frame_off(&p.srv, s1, 1) - s1, 5, &sink);
	h2_stream_feed(s, HTTP_DIR_REQ, p.cli.b + c1, p.cli.n - c1, 10, &sink);
	h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b + frame_off(&p.srv, s1, 1),
		       p.srv.n - frame_off(&p.srv, s1, 1), 20, &sink);
	h2_stream_free(s, &sink);
	/* stream 1: only its last DATA frame was seen, nothing to count it by.
	 * Stream 3: libnghttp2 never indexes :path, so the path reads
	 * exactly; :authority refers to the unknown table. */
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].target, "/users/42");
	assert_false(g.t[0].path_unknown);
	assert_string_equal(g.t[0].method, "GET");
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.cnt.h2_unreadable, 1);
	pair_free(&p);

	/* now with the response headers of stream 1 seen too */
	memset(&g, 0, sizeof(g));
	pair_init(&p);
	preface(&p.cli, &p.srv);
	headers(&p.cli, p.cd, 1, true, REQ("GET", "/users/42"));
	headers(&p.srv, p.sd, 1, false, RESP("200"));
	c1 = p.cli.n;
	s1 = p.srv.n;
	headers(&p.srv, p.sd, 1, true, (const char *const[]){ "x-trailer", "1", NULL });
	headers(&p.cli, p.cd, 3, true, REQ("GET", "/users/42"));
	headers(&p.srv, p.sd, 3, true, RESP("200"));
	/* entries made after the attach read exactly: stream 5 adds
	 * ":authority new.example", stream 7 refers to it */
	const char *const fresh[] = { ":method", "GET", ":scheme", "https", ":path", "/n",
				      ":authority", "new.example", NULL };
	headers(&p.cli, p.cd, 5, true, fresh);
	headers(&p.cli, p.cd, 7, true, fresh);
	headers(&p.srv, p.sd, 5, true, (const char *const[]){ ":status", "201", NULL });
	headers(&p.srv, p.sd, 7, true, (const char *const[]){ ":status", "201", NULL });
	s = h2_stream_new("h2", false, true, NULL);
	h2_stream_feed(s, HTTP_DIR_REQ, p.cli.b + c1, p.cli.n - c1, 10, &sink);
	h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b + s1, p.srv.n - s1, 20, &sink);
	h2_stream_free(s, &sink);
	/* stream 1: its trailers are its last frame: counted, under the
	 * honest row, no status; stream 3 as above: the method and path read
	 * around the unknown :authority; streams 5 and 7 fully readable */
	assert_int_equal(g.n, 4);
	assert_string_equal(g.t[0].target, H2_ROUTE_UNREADABLE);
	assert_true(g.t[0].path_unknown);
	assert_string_equal(g.t[0].method, "?");
	assert_int_equal(g.t[0].status, 0);
	assert_string_equal(g.t[1].target, "/users/42");
	assert_string_equal(g.t[1].method, "GET");
	assert_string_equal(g.t[1].host, "");
	assert_int_equal(g.t[1].status, 200);
	for (int i = 2; i < 4; i++) {
		assert_string_equal(g.t[i].target, "/n");
		assert_string_equal(g.t[i].host, "new.example");
		assert_int_equal(g.t[i].status, 201);
	}
	assert_int_equal(g.cnt.h2_unreadable, 2);
	assert_int_equal(g.cnt.parse_errors, 0);
	pair_free(&p);
}

/* A response whose request was before l7top: counted, route unknown. */
static void test_mid_connection_response_only(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	pair_init(&p);
	size_t s0 = p.srv.n;
	headers(&p.srv, p.sd, 5, false, RESP("304"));
	data(&p.srv, 5, true, 0);
	struct h2_stream *s = h2_stream_new("h2", false, true, NULL);
	h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b + s0, p.srv.n - s0, 20, &sink);
	h2_stream_free(s, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].status, 304);
	assert_true(g.t[0].path_unknown);
	assert_int_equal(g.cnt.h2_unreadable, 1);
	pair_free(&p);
}

static void test_rst_stream_and_goaway(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	static const uint8_t cancel[4] = { 0, 0, 0, 8 };
	static const uint8_t away_last1[8] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	pair_init(&p);
	preface(&p.cli, &p.srv);
	headers(&p.cli, p.cd, 1, false, REQ("POST", "/upload"));
	data(&p.cli, 1, false, 100);
	frame(&p.cli, NGHTTP2_RST_STREAM, 0, 1, cancel, 4);          /* client gave up */
	headers(&p.cli, p.cd, 3, true, REQ("GET", "/dl"));
	headers(&p.cli, p.cd, 5, true, REQ("GET", "/late"));
	headers(&p.srv, p.sd, 3, false, RESP("200"));
	data(&p.srv, 3, false, 50);
	frame(&p.srv, NGHTTP2_GOAWAY, 0, 0, away_last1, 8);           /* 5 refused */
	frame(&p.srv, NGHTTP2_RST_STREAM, 0, 3, cancel, 4);           /* 3 cut mid-body */
	run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n, p.srv.n, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].target, "/dl");
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.cnt.h2_reset, 3);
	assert_int_equal(g.cnt.unpaired, 2);
	pair_free(&p);
}

/* gRPC: the status comes from the trailers, next to :status. */
static void test_grpc_trailers(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	pair_init(&p);
	preface(&p.cli, &p.srv);
	headers(&p.cli, p.cd, 1, false, (const char *const[]){ ":method", "POST", ":scheme", "http",
		":path", "/pkg.Svc/Get", ":authority", "g", "content-type", "application/grpc+proto",
		"te", "trailers", NULL });
	data(&p.cli, 1, true, 12);
	headers(&p.srv, p.sd, 1, false, (const char *const[]){ ":status", "200", "content-type",
		"application/grpc", NULL });
	data(&p.srv, 1, false, 8);
	headers(&p.srv, p.sd, 1, true, (const char *const[]){ "grpc-status", "14", "grpc-message",
		"unavailable", NULL });
	/* trailers-only answer: one HEADERS with :status and grpc-status */
	headers(&p.cli, p.cd, 3, true, (const char *const[]){ ":method", "POST", ":scheme", "http",
		":path", "/pkg.Svc/Get", ":authority", "g", "content-type", "application/grpc", NULL });
	headers(&p.srv, p.sd, 3, true, (const char *const[]){ ":status", "200", "content-type",
		"application/grpc", "grpc-status", "0", NULL });
	run_split(h2_stream_new("h2c", true, false, NULL), &p, 100, 30, &g);
	assert_int_equal(g.n, 2);
	assert_true(g.t[0].grpc);
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.t[0].grpc_status, 14);
	assert_true(g.t[1].grpc);
	assert_int_equal(g.t[1].grpc_status, 0);
	assert_string_equal(g.t[1].target, "/pkg.Svc/Get");
	pair_free(&p);
}

/* SETTINGS_HEADER_TABLE_SIZE from the client lets the server's encoder use
 * a larger table; the reader's inflater must accept it. */
static void test_settings_header_table_size(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	static const uint8_t table8k[6] = { 0, 1, 0, 0, 0x20, 0 };
	pair_init(&p);
	wire_put(&p.cli, H2_PREFACE, H2_PREFACE_LEN);
	frame(&p.cli, NGHTTP2_SETTINGS, 0, 0, table8k, 6);
	frame(&p.srv, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	frame(&p.srv, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);   /* the size binds from here */
	nghttp2_hd_deflate_del(p.sd);
	assert_int_equal(nghttp2_hd_deflate_new(&p.sd, 8192), 0);
	assert_int_equal(nghttp2_hd_deflate_change_table_size(p.sd, 8192), 0);
	headers(&p.cli, p.cd, 1, true, REQ("GET", "/t"));
	headers(&p.srv, p.sd, 1, true, RESP("200"));
	run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n, p.srv.n, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.cnt.h2_unreadable, 0);
	pair_free(&p);

	/* A smaller table: the server answers one stream before its ACK
	 * (old size, no size update), then shrinks its table after it. */
	static const uint8_t table1k[6] = { 0, 1, 0, 0, 0x04, 0 };
	memset(&g, 0, sizeof(g));
	pair_init(&p);
	wire_put(&p.cli, H2_PREFACE, H2_PREFACE_LEN);
	frame(&p.cli, NGHTTP2_SETTINGS, 0, 0, table1k, 6);
	frame(&p.srv, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	headers(&p.cli, p.cd, 1, true, REQ("GET", "/before"));
	headers(&p.cli, p.cd, 3, true, REQ("GET", "/after"));
	headers(&p.srv, p.sd, 1, true, RESP("200"));
	frame(&p.srv, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
	assert_int_equal(nghttp2_hd_deflate_change_table_size(p.sd, 1024), 0);
	headers(&p.srv, p.sd, 3, true, RESP("204"));
	run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n, p.srv.n, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.t[1].status, 204);
	assert_int_equal(g.cnt.h2_unreadable, 0);
	pair_free(&p);
}

static void test_push_promise(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	pair_init(&p);
	preface(&p.cli, &p.srv);
	headers(&p.cli, p.cd, 1, true, REQ("GET", "/index.html"));
	uint8_t pp[4 + 256] = { 0, 0, 0, 2 };
	size_t n = hpack(p.sd, REQ("GET", "/style.css"), pp + 4, sizeof(pp) - 4);
	frame(&p.srv, NGHTTP2_PUSH_PROMISE, NGHTTP2_FLAG_END_HEADERS, 1, pp, 4 + n);
	headers(&p.srv, p.sd, 1, true, RESP("200"));
	headers(&p.srv, p.sd, 2, false, RESP("200"));
	data(&p.srv, 2, true, 30);
	run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n, 7, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[0].target, "/index.html");
	assert_string_equal(g.t[1].target, "/style.css");
	assert_int_equal(g.t[1].start_ns, 40);      /* the PUSH_PROMISE's chunk */
	pair_free(&p);
}

/* Not the preface: counted as a parse error, nothing emitted. */
static void test_bad_preface(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct h2_stream *s = h2_stream_new("h2c", true, false, NULL);
	const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_true(h2_preface_start((const uint8_t *)"PRI * HT", 8));
	assert_false(h2_preface_start((const uint8_t *)req, strlen(req)));
	h2_stream_feed(s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1, &sink);
	assert_true(h2_stream_dead(s));
	h2_stream_free(s, &sink);
	assert_int_equal(g.cnt.parse_errors, 1);
	assert_int_equal(g.n, 0);
}

/* More open streams than the bound: counted, memory stays bounded, and
 * the inflater state stays right for the streams that are tracked. */
static void test_stream_bound(void **state)
{
	(void)state;
	struct pair p;
	static struct got g;
	memset(&g, 0, sizeof(g));
	pair_init(&p);
	preface(&p.cli, &p.srv);
	for (uint32_t i = 0; i < H2_STREAMS_MAX + 10; i++)
		headers(&p.cli, p.cd, 2 * i + 1, true, REQ("GET", "/x"));
	for (uint32_t i = 0; i < 200; i++)
		headers(&p.srv, p.sd, 2 * i + 1, true, RESP("200"));
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct h2_stream *s = h2_stream_new("h2", true, false, NULL);
	h2_stream_feed(s, HTTP_DIR_REQ, p.cli.b, p.cli.n, 1, &sink);
	assert_int_equal(h2_stream_open(s), H2_STREAMS_MAX);
	assert_int_equal(g.cnt.h2_bounds, 10);
	h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b, p.srv.n, 2, &sink);
	assert_int_equal(g.n, 200);
	h2_stream_free(s, &sink);
	assert_int_equal(g.cnt.h2_reset, H2_STREAMS_MAX - 200);
	pair_free(&p);
}

/* A CONTINUATION flood past the block bound: counted, the stream is
 * unreadable, later streams are still counted with what can be read. */
static void test_header_block_bound(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	static uint8_t junk[16384];
	memset(junk, 0x40, sizeof(junk));          /* literal, new name: never ends */
	pair_init(&p);
	preface(&p.cli, &p.srv);
	size_t n = hpack(p.cd, REQ("GET", "/flood"), BLK, sizeof(BLK));
	frame(&p.cli, NGHTTP2_HEADERS, 0, 1, BLK, n);
	for (int i = 0; i < (int)(H2_HBLOCK_MAX / sizeof(junk)) + 2; i++)
		frame(&p.cli, NGHTTP2_CONTINUATION, 0, 1, junk, sizeof(junk));
	frame(&p.cli, NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS | 0, 1, junk, 1);
	frame(&p.cli, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, NULL, 0);
	headers(&p.srv, p.sd, 1, true, RESP("431"));
	run_split(h2_stream_new("h2", true, false, NULL), &p, p.cli.n / 2, p.srv.n, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].status, 431);
	assert_int_equal(g.cnt.h2_unreadable, 1);
	pair_free(&p);
}

/* Bytes lost inside a DATA payload are only counted; elsewhere the
 * connection's framing is gone (counted) and its open streams unpaired. */
static void test_gaps(void **state)
{
	(void)state;
	struct pair p;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	pair_init(&p);
	preface(&p.cli, &p.srv);
	headers(&p.cli, p.cd, 1, true, REQ("GET", "/file"));
	size_t s0 = p.srv.n;
	size_t out = headers(&p.srv, p.sd, 1, false, RESP("200"));
	out += data(&p.srv, 1, true, 10000);
	struct h2_stream *s = h2_stream_new("h2", true, false, NULL);
	h2_stream_feed(s, HTTP_DIR_REQ, p.cli.b, p.cli.n, 1, &sink);
	h2_stream_feed(s, HTTP_DIR_RESP, p.srv.b, s0 + out - 10000 + 100, 2, &sink);
	assert_int_equal(h2_stream_body_left(s, HTTP_DIR_RESP), 9900);
	h2_stream_gap(s, HTTP_DIR_RESP, 9900, 3, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].bytes_out, out);
	assert_int_equal(g.t[0].end_ns, 3);
	size_t c0 = p.cli.n;
	headers(&p.cli, p.cd, 3, true, REQ("GET", "/more"));
	h2_stream_feed(s, HTTP_DIR_REQ, p.cli.b + c0, p.cli.n - c0, 4, &sink);
	assert_int_equal(h2_stream_open(s), 1);
	h2_stream_gap(s, HTTP_DIR_RESP, 5, 5, &sink);
	assert_true(h2_stream_dead(s));
	h2_stream_free(s, &sink);
	assert_int_equal(g.cnt.gaps, 1);
	pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reused_stream_starts_clean),
		cmocka_unit_test(test_two_streams_out_of_order),
		cmocka_unit_test(test_bytes_are_the_streams_frames),
		cmocka_unit_test(test_every_split_same_result),
		cmocka_unit_test(test_hpack_across_continuation),
		cmocka_unit_test(test_interleaved_hundred),
		cmocka_unit_test(test_mid_connection),
		cmocka_unit_test(test_mid_connection_response_only),
		cmocka_unit_test(test_rst_stream_and_goaway),
		cmocka_unit_test(test_grpc_trailers),
		cmocka_unit_test(test_settings_header_table_size),
		cmocka_unit_test(test_push_promise),
		cmocka_unit_test(test_bad_preface),
		cmocka_unit_test(test_stream_bound),
		cmocka_unit_test(test_header_block_bound),
		cmocka_unit_test(test_gaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
