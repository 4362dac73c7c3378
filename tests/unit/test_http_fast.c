// SPDX-License-Identifier: MIT
/* http_fast: what it reads, what it leaves to llhttp, and that a stream
 * reads the same through either. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/http_fast.h"
#include "collector/http_stream.h"

/* A response read whole from s, as http_stream takes one whose body is all
 * in the chunk: its length, 0 when not read here or when its body goes on
 * past s (http_stream then counts the rest: test_http_stream.c). */
static size_t resp(struct http_fast_memo *memo, const char *s, struct http_fast_msg *m)
{
	size_t n = strlen(s), h = http_fast_response_head(memo, (const uint8_t *)s, n, m);

	return h && m->clen <= n - h ? h + (size_t)m->clen : 0;
}

static size_t req(struct http_fast_memo *memo, const char *s, struct http_fast_msg *m)
{
	return http_fast_request(memo, (const uint8_t *)s, strlen(s), m);
}

static void test_response_read(void **state)
{
	const char *r = "HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nContent-Type: text/plain\r\n"
			"Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\nHTTP/1.1";
	struct http_fast_msg m;
	(void)state;
	assert_int_equal(resp(NULL, r, &m), strlen(r) - strlen("HTTP/1.1"));
	assert_int_equal(m.status, 404);
	assert_int_equal(m.clen, 3);
	assert_int_equal(m.hdr_len, strlen(r) - strlen("ok\nHTTP/1.1"));
}

/* Each of these needs llhttp's judgement (or has no body to measure). */
static void test_response_refused(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: 2 \r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nhi",
		"HTTP/1.1 200 OK\r\nX: a\x01\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\n folded\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
	};
	struct http_fast_msg m;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (resp(NULL, bad[i], &m)) {
			print_error("accepted: %s\n", bad[i]);
			fail();
		}
	}
}

/* A remembered block answers at once; a different one is read afresh. */
static void test_response_memo(void **state)
{
	struct http_fast_memo memo = { 0 };
	struct http_fast_msg m;
	(void)state;
	assert_int_equal(resp(&memo, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", &m), 40);
	assert_int_equal(memo.m.hdr_len, 38);
	assert_int_equal(resp(&memo, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nyo", &m), 40);
	/* the same block, body not all here yet */
	assert_int_equal(resp(&memo, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ny", &m), 0);
	assert_int_equal(resp(&memo, "HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nx", &m), 41);
	assert_int_equal(m.status, 500);
	assert_int_equal(m.clen, 1);
}

static void test_request_read(void **state)
{
	const char *r = "GET /a/b?x=1&y=%20 HTTP/1.1\r\nhost: example.com:8080\r\nAccept: */*\r\n\r\nGET";
	struct http_fast_memo memo = { 0 };
	struct http_fast_msg m;
	(void)state;
	for (int round = 0; round < 2; round++) {      /* read, then remembered */
		assert_int_equal(req(&memo, r, &m), strlen(r) - 3);
		assert_int_equal(m.method, HTTP_GET);
		assert_int_equal(m.target_len, strlen("/a/b?x=1&y=%20"));
		assert_memory_equal(r + m.target_off, "/a/b?x=1&y=%20", m.target_len);
		assert_int_equal(m.host_len, strlen("example.com:8080"));
		assert_memory_equal(r + m.host_off, "example.com:8080", m.host_len);
	}
}

static void test_request_refused(void **state)
{
	static const char *const bad[] = {
		"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a HTTP/1.0\r\nHost: a\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\n",
		"get /a HTTP/1.1\r\n\r\n",
	};
	struct http_fast_msg m;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (req(NULL, bad[i], &m)) {
			print_error("accepted: %s\n", bad[i]);
			fail();
		}
	}
}

struct got {
	size_t n;
	uint16_t status[8];
	uint64_t in[8], out[8];
	char target[8][32];
	char host[8][32];
	struct http_counters cnt;
};

static void on_txn(void *ctx, const struct http_txn *t)
{
	struct got *g = ctx;
	assert_true(g->n < 8);
	g->status[g->n] = t->status;
	g->in[g->n] = t->bytes_in;
	g->out[g->n] = t->bytes_out;
	snprintf(g->target[g->n], 32, "%.*s", (int)t->target_len, t->target);
	snprintf(g->host[g->n], 32, "%.*s", (int)t->host_len, t->host);
	g->n++;
}

/* Whole chunks (http_fast) and one byte at a time (llhttp only): the same
 * transactions; after "Connection: close" llhttp ignores what follows
 * (its loose mode), and so does the stream, though http_fast would read it. */
static void feed(const char *rq, const char *rs, size_t step, struct http_fast_memos *memo,
		 struct got *g)
{
	struct http_stream s;
	struct http_sink sink = { .txn = on_txn, .ctx = g, .cnt = &g->cnt, .fast = memo };
	size_t nq = strlen(rq), ns = strlen(rs);

	memset(g, 0, sizeof(*g));
	http_stream_init(&s);
	for (size_t i = 0; i < nq; i += step)
		http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)rq + i,
				 nq - i < step ? nq - i : step, 10, &sink);
	for (size_t i = 0; i < ns; i += step)
		http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)rs + i,
				 ns - i < step ? ns - i : step, 20, &sink);
	http_stream_free(&s, &sink);
}

static void test_stream_same(void **state)
{
	const char *rq = "GET /a HTTP/1.1\r\nHost: h1\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h2\r\n\r\n"
			 "GET /c HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
	const char *rs = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
			 "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
			 "HTTP/1.1 503 No\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
			 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny";
	struct http_fast_memos memo = { 0 };
	struct got a, b;
	(void)state;
	feed(rq, rs, 1 << 20, &memo, &a);
	feed(rq, rs, 1, NULL, &b);
	assert_int_equal(a.n, 3);
	assert_int_equal(a.cnt.parse_errors, 0);
	assert_int_equal(a.cnt.unpaired, 1);      /* /d: its answer came after the close */
	assert_int_equal(b.n, a.n);
	assert_int_equal(b.cnt.parse_errors, a.cnt.parse_errors);
	assert_int_equal(b.cnt.unpaired, a.cnt.unpaired);
	for (size_t i = 0; i < a.n; i++) {
		assert_int_equal(a.status[i], b.status[i]);
		assert_int_equal(a.in[i], b.in[i]);
		assert_int_equal(a.out[i], b.out[i]);
		assert_string_equal(a.target[i], b.target[i]);
		assert_string_equal(a.host[i], b.host[i]);
	}
	assert_string_equal(a.target[1], "/b");
	assert_string_equal(a.host[1], "h2");
	assert_int_equal(a.out[1], strlen("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"));
	assert_int_equal(a.status[2], 503);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response_read),
		cmocka_unit_test(test_response_refused),
		cmocka_unit_test(test_response_memo),
		cmocka_unit_test(test_request_read),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_stream_same),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
