// SPDX-License-Identifier: MIT
/* http_stream: pairing, byte accounting and timestamps, whatever the split. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/http_stream.h"

#define MAXT 16

struct got {
	size_t n;
	struct http_txn t[MAXT];
	char target[MAXT][64];
	struct http_counters cnt;
};

static void on_txn(void *ctx, const struct http_txn *t)
{
	struct got *g = ctx;
	assert_true(g->n < MAXT);
	g->t[g->n] = *t;
	snprintf(g->target[g->n], sizeof(g->target[0]), "%.*s", (int)t->target_len, t->target);
	g->t[g->n].target = g->target[g->n];
	g->n++;
}

static const char *const REQ_MSG[] = {
	"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /b?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	"HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
};
/* The 100 Continue belongs to the fourth exchange. */
static const char *const RESP_MSG[] = {
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
	"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
};

static char REQS[512], RESPS[512];
static size_t REQ_LEN[4], RESP_LEN[4];

static int build_streams(void **state)
{
	(void)state;
	REQS[0] = RESPS[0] = '\0';
	for (int i = 0; i < 4; i++) {
		REQ_LEN[i] = strlen(REQ_MSG[i]);
		RESP_LEN[i] = strlen(RESP_MSG[i]);
		strcat(REQS, REQ_MSG[i]);
		strcat(RESPS, RESP_MSG[i]);
	}
	return 0;
}

/* Offsets where each message starts, to predict timestamps of a split. */
static size_t msg_start(const size_t *lens, int i)
{
	size_t off = 0;
	for (int k = 0; k < i; k++)
		off += lens[k];
	return off;
}

static void run_split(size_t rq, size_t rs, struct got *g)
{
	struct http_stream s;
	struct http_sink sink = { .txn = on_txn, .ctx = g, .cnt = &g->cnt };
	size_t nreq = strlen(REQS), nresp = strlen(RESPS);

	memset(g, 0, sizeof(*g));
	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)REQS, rq, 10, &sink);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)REQS + rq, nreq - rq, 20, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)RESPS, rs, 30, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)RESPS + rs, nresp - rs, 40, &sink);
	http_stream_free(&s, &sink);
}

static void check_split(size_t rq, size_t rs, const struct got *g)
{
	static const char *methods[] = { "GET", "POST", "HEAD", "POST" };
	static const char *targets[] = { "/a", "/b?x=1", "/c", "/d" };
	static const uint16_t status[] = { 200, 201, 200, 204 };

	assert_int_equal(g->n, 4);
	assert_int_equal(g->cnt.parse_errors, 0);
	assert_int_equal(g->cnt.unpaired, 0);
	for (int i = 0; i < 4; i++) {
		const struct http_txn *t = &g->t[i];
		assert_string_equal(t->method, methods[i]);
		assert_string_equal(t->target, targets[i]);
		assert_int_equal(t->status, status[i]);
		assert_int_equal(t->bytes_in, REQ_LEN[i]);
		assert_int_equal(t->bytes_out, RESP_LEN[i]);
		/* first byte in the first chunk -> its timestamp, else the second's */
		assert_int_equal(t->start_ns, msg_start(REQ_LEN, i) < rq ? 10 : 20);
		size_t last = msg_start(RESP_LEN, i) + RESP_LEN[i] - 1;
		assert_int_equal(t->end_ns, last < rs ? 30 : 40);
	}
}

static void test_pipelined_every_split(void **state)
{
	(void)state;
	static struct got g;
	for (size_t rq = 0; rq <= strlen(REQS); rq++)
		for (size_t rs = 0; rs <= strlen(RESPS); rs++) {
			run_split(rq, rs, &g);
			check_split(rq, rs, &g);
		}
}

static void test_byte_at_a_time(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;

	http_stream_init(&s);
	for (size_t i = 0; i < strlen(REQS); i++)
		http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)REQS + i, 1, 100 + i, &sink);
	for (size_t i = 0; i < strlen(RESPS); i++)
		http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)RESPS + i, 1, 1000 + i, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.t[1].start_ns, 100 + REQ_LEN[0]);
	assert_int_equal(g.t[1].end_ns, 1000 + RESP_LEN[0] + RESP_LEN[1] - 1);
	assert_int_equal(g.t[3].bytes_out, RESP_LEN[3]);
	assert_int_equal(g.t[3].bytes_in, REQ_LEN[3]);
}

/* NGINX answers `return 200` before reading a POST body. */
static void test_response_before_request_body(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *hdr = "POST /up HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)hdr, strlen(hdr), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp), 2, &sink);
	assert_int_equal(g.n, 0);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)"body", 4, 3, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].bytes_in, strlen(hdr) + 4);
	assert_int_equal(g.t[0].end_ns, 2);
	http_stream_free(&s, &sink);
}

static void test_close_delimited_and_http10(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *req = "GET /old HTTP/1.0\r\n\r\n";
	const char *resp = "HTTP/1.0 200 OK\r\n\r\nbody until close";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp), 2, &sink);
	assert_int_equal(g.n, 0);
	http_stream_eof(&s, HTTP_DIR_RESP, 3, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].bytes_out, strlen(resp));
	assert_int_equal(g.t[0].status, 200);
	http_stream_free(&s, &sink);
	assert_int_equal(g.cnt.unpaired, 0);
}

static void test_junk_is_one_parse_error(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const uint8_t junk[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0xff, 0xfe };

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, junk, sizeof(junk), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_REQ, junk, sizeof(junk), 2, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)"HTTP/1.1 400 Bad\r\n\r\n", 20, 3, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.cnt.parse_errors, 1);
}

static void test_unanswered_and_orphan_counted(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, 1, &sink);
	assert_int_equal(g.cnt.unpaired, 1);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, 2, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.cnt.unpaired, 2);
	assert_int_equal(g.n, 0);
}

static void test_long_target_kept_to_cap(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	static char req[70000];
	size_t n = 0;

	n += (size_t)sprintf(req, "GET /");
	memset(req + n, 'a', 65536);
	n += 65536;
	n += (size_t)sprintf(req + n, " HTTP/1.1\r\n\r\n");
	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, n, 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)"HTTP/1.1 414 Too Long\r\nContent-Length: 0\r\n\r\n", 44, 2, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].target_len, HTTP_TARGET_MAX);
	assert_int_equal(g.t[0].bytes_in, n);
	assert_int_equal(g.t[0].status, 414);
}

/* Body bytes that were not captured are skipped with exact accounting. */
static void test_gap_inside_body_is_skipped(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *hdr = "POST /up HTTP/1.1\r\nContent-Length: 10000\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n";
	static char body[100];

	memset(body, 'x', sizeof(body));
	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)hdr, strlen(hdr), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)body, 100, 1, &sink);
	http_stream_gap(&s, HTTP_DIR_REQ, 9800, 2, &sink);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)body, 100, 3, &sink);
	/* chunked response: a gap inside one chunk's data is skipped too */
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp), 4, &sink);
	http_stream_gap(&s, HTTP_DIR_RESP, 0x2000, 5, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)"\r\n0\r\n\r\n", 7, 6, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].bytes_in, strlen(hdr) + 10000);
	assert_int_equal(g.t[0].bytes_out, strlen(resp) + 0x2000 + 7);
	assert_int_equal(g.t[0].end_ns, 6);
	assert_int_equal(g.cnt.gaps, 0);
	http_stream_free(&s, &sink);
}

/* Lost framing: counted, then the next request line starts afresh. */
static void test_gap_in_headers_resyncs(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)"GET /a HTTP/1.1\r\nHo", 19, 1, &sink);
	http_stream_gap(&s, HTTP_DIR_REQ, 50, 2, &sink);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)"rest: x\r\n\r\n", 11, 3, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)ok, strlen(ok), 4, &sink);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)"GET /b HTTP/1.1\r\n\r\n", 19, 5, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)ok, strlen(ok), 6, &sink);
	assert_int_equal(g.cnt.gaps, 1);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].target, "/b");
	assert_int_equal(g.t[0].start_ns, 5);
	http_stream_free(&s, &sink);
}

/* The client leaves mid-body: counted as the server logs it, with the bytes
 * that crossed and the status it sent; no status line: unpaired. */
static void test_cut_response_counted_at_close(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *req = "GET /big HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp), 7, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].target, "/big");
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.t[0].bytes_out, strlen(resp));
	assert_int_equal(g.t[0].end_ns, 7);
	assert_int_equal(g.cnt.unpaired, 1);
}

/*
 * Targets and Hosts of every size on one keep-alive connection, read whole
 * (http_fast) and a byte at a time (llhttp): each transaction names its
 * own exactly, whichever storage held it (a request entry's own text or
 * its heap buffer, reused), and a target over HTTP_TARGET_MAX is cut.
 */
struct named {
	size_t n;
	size_t tlen[8], hlen[8];
	char target[8][HTTP_TARGET_MAX + 1], host[8][HTTP_HOST_MAX + 1];
};

static void on_named(void *ctx, const struct http_txn *t)
{
	struct named *g = ctx;
	assert_true(g->n < 8);
	assert_true(t->target_len <= HTTP_TARGET_MAX && t->host_len <= HTTP_HOST_MAX);
	g->tlen[g->n] = t->target_len;
	g->hlen[g->n] = t->host_len;
	memcpy(g->target[g->n], t->target, t->target_len);
	memcpy(g->host[g->n], t->host, t->host_len);
	g->n++;
}

static void test_targets_of_every_size(void **state)
{
	(void)state;
	static const size_t tl[] = { 10, 300, 20, 3000, 60, 2047, 1 };
	static const size_t hl[] = { 9, 100, 0, 128, 40, 5, 64 };
	enum { N = sizeof(tl) / sizeof(tl[0]) };
	static char req[N][4000];
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	for (int step = 0; step < 2; step++) {
		static struct named g;
		struct http_counters cnt = { 0 };
		struct http_sink sink = { .txn = on_named, .ctx = &g, .cnt = &cnt };
		struct http_stream s;

		memset(&g, 0, sizeof(g));
		http_stream_init(&s);
		for (size_t i = 0; i < N; i++) {
			size_t n = (size_t)sprintf(req[i], "GET /");
			memset(req[i] + n, (int)('a' + i), tl[i] - 1);
			n += tl[i] - 1;
			n += (size_t)sprintf(req[i] + n, " HTTP/1.1\r\n");
			if (hl[i]) {
				n += (size_t)sprintf(req[i] + n, "Host: ");
				memset(req[i] + n, (int)('A' + i), hl[i]);
				n += hl[i];
				n += (size_t)sprintf(req[i] + n, "\r\n");
			}
			n += (size_t)sprintf(req[i] + n, "\r\n");
			for (size_t off = 0; off < n; off += step ? 1 : n)
				http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req[i] + off,
						 step ? 1 : n, 10 * i + 1, &sink);
			http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp),
					 10 * i + 2, &sink);
		}
		http_stream_free(&s, &sink);
		assert_int_equal(g.n, N);
		for (size_t i = 0; i < N; i++) {
			size_t want = tl[i] < HTTP_TARGET_MAX ? tl[i] : HTTP_TARGET_MAX;
			assert_int_equal(g.tlen[i], want);
			assert_int_equal(g.hlen[i], hl[i]);
			assert_int_equal(g.target[i][0], '/');
			for (size_t k = 1; k < want; k++)
				assert_int_equal(g.target[i][k], 'a' + (int)i);
			for (size_t k = 0; k < hl[i]; k++)
				assert_int_equal(g.host[i][k], 'A' + (int)i);
		}
	}
}

/* A response cut by the close ends at its last bytes, not its first. */
static void test_cut_response_ends_at_last_bytes(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *req = "GET /big HTTP/1.1\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp), 7, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)"more", 4, 9, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].end_ns, 9);
	assert_int_equal(g.t[0].bytes_out, strlen(resp) + 4);
}

/*
 * A response whose body goes on past its head's chunk is read by http_fast
 * and its body counted without llhttp: the length left is known at once,
 * a gap inside it is skipped, the response after it in the same chunk is
 * read; a gap past its end loses the framing (counted) until a status line.
 */
static void test_fast_body_counted_in_pieces(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *req = "GET /dl HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\n";
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\nabc";
	const char *next = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
	static char tail[2048];
	size_t hl = strlen(head) - 3, nl = strlen(next);

	memset(tail, 'x', 997);
	memcpy(tail + 997, next, nl);
	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)head, strlen(head), 2, &sink);
	assert_int_equal(http_stream_body_left(&s, HTTP_DIR_RESP), 9997);
	assert_true(http_stream_body_sized(&s, HTTP_DIR_RESP));
	assert_int_equal(http_stream_sized_left(&s, HTTP_DIR_RESP), 9997);
	http_stream_gap(&s, HTTP_DIR_RESP, 9000, 3, &sink);
	assert_int_equal(http_stream_body_left(&s, HTTP_DIR_RESP), 997);
	assert_int_equal(g.n, 0);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)tail, 997 + nl, 9, &sink);
	assert_int_equal(http_stream_body_left(&s, HTTP_DIR_RESP), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[0].target, "/dl");
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.t[0].bytes_out, hl + 10000);
	assert_int_equal(g.t[0].end_ns, 9);
	assert_string_equal(g.t[1].target, "/n");
	assert_int_equal(g.t[1].status, 404);
	assert_int_equal(g.t[1].bytes_out, nl);

	/* a gap longer than the body left: the framing is lost */
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 10, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)head, strlen(head), 11, &sink);
	http_stream_gap(&s, HTTP_DIR_RESP, 20000, 12, &sink);
	assert_int_equal(g.cnt.gaps, 1);
	assert_int_equal(http_stream_body_left(&s, HTTP_DIR_RESP), 0);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)next, nl, 13, &sink);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.t[2].target, "/n");
	assert_int_equal(g.t[2].status, 404);
	assert_int_equal(g.cnt.parse_errors, 0);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 3);

	/* cut short after a gap: emitted at the close with the bytes that
	 * crossed, ending at the gap's time */
	memset(&g, 0, sizeof(g));
	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, 20, 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)head, strlen(head), 2, &sink);
	http_stream_gap(&s, HTTP_DIR_RESP, 100, 3, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].status, 200);
	assert_int_equal(g.t[0].bytes_out, hl + 3 + 100);
	assert_int_equal(g.t[0].end_ns, 3);
}

/* Review findings: a chunk-size line is not chunk data; an Upgrade offer
 * the server ignores does not end HTTP; CONNECT's latency is its answer. */
static void test_chunk_size_line_not_skippable(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *req = "GET /c HTTP/1.1\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp), 2, &sink);
	assert_int_equal(http_stream_body_left(&s, HTTP_DIR_RESP), 0);
	http_stream_gap(&s, HTTP_DIR_RESP, 100, 3, &sink);
	assert_int_equal(g.cnt.parse_errors, 0);
	assert_int_equal(g.cnt.gaps, 1);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 4, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)"HTTP/1.1 204 No\r\n\r\n", 20, 5, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].status, 204);
	http_stream_free(&s, &sink);
}

static void test_ignored_upgrade_offer(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *req = "GET /one HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
			  "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\nGET /two HTTP/1.1\r\n\r\n";
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)ok, strlen(ok), 2, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)ok, strlen(ok), 3, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[1].target, "/two");
}

static void test_connect_latency_is_its_answer(void **state)
{
	(void)state;
	struct got g = { 0 };
	struct http_sink sink = { .txn = on_txn, .ctx = &g, .cnt = &g.cnt };
	struct http_stream s;
	const char *req = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
	const char *resp = "HTTP/1.1 200 Connection established\r\n\r\n";

	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 1000, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)resp, strlen(resp), 3000, &sink);
	http_stream_feed(&s, HTTP_DIR_RESP, (const uint8_t *)"\x16\x03tunnel", 8, 9000000000ull, &sink);
	http_stream_free(&s, &sink);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.t[0].end_ns - g.t[0].start_ns, 2000);
	assert_int_equal(g.cnt.parse_errors, 0);
}

/* One client's bytes, then (maybe) its FIN or RST, then the connection goes. */
static void run_client(const char *req, int leave, struct got *g)
{
	struct http_stream s;
	struct http_sink sink = { .txn = on_txn, .ctx = g, .cnt = &g->cnt };

	memset(g, 0, sizeof(*g));
	http_stream_init(&s);
	http_stream_feed(&s, HTTP_DIR_REQ, (const uint8_t *)req, strlen(req), 10, &sink);
	if (leave == 1)
		http_stream_eof(&s, HTTP_DIR_REQ, 20, &sink);
	if (leave == 2)
		http_stream_client_reset(&s);
	http_stream_free(&s, &sink);
}

/*
 * Clients that leave before the answer are requests of their endpoint,
 * aborted: with the headers cut short (NGINX logs 400), whole but
 * unanswered (499), by FIN or RST. Inside the request line there is no
 * endpoint: counted in partial. Without the client leaving (l7top stops,
 * the server closes), an unanswered request stays unpaired.
 */
static void test_aborted_requests(void **state)
{
	(void)state;
	struct got g;
	static const char half[] = "GET /u/alice?x=1 HTTP/1.1\r\nHost: shop.example\r\nAcc";
	static const char whole[] = "POST /cart HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";

	run_client(half, 1, &g);
	assert_int_equal(g.n, 1);
	assert_true(g.t[0].aborted);
	assert_int_equal(g.t[0].status, 0);
	assert_string_equal(g.t[0].method, "GET");
	assert_string_equal(g.target[0], "/u/alice?x=1");
	assert_int_equal(g.t[0].bytes_in, strlen(half));
	assert_int_equal(g.t[0].end_ns, g.t[0].start_ns);
	assert_int_equal(g.cnt.unpaired + g.cnt.partial, 0);

	run_client(whole, 2, &g);
	assert_int_equal(g.n, 1);
	assert_true(g.t[0].aborted);
	assert_string_equal(g.t[0].method, "POST");
	assert_int_equal(g.t[0].bytes_in, strlen(whole));

	run_client("GET /half-a-line", 1, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.cnt.partial, 1);

	run_client("GET /a HTTP/1.1\r\n\r\n", 0, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.cnt.unpaired, 1);
	assert_int_equal(g.cnt.partial, 0);

	run_client("", 1, &g);                 /* connected, sent nothing: nothing */
	assert_int_equal(g.n + g.cnt.partial + g.cnt.unpaired, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_every_split),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_response_before_request_body),
		cmocka_unit_test(test_close_delimited_and_http10),
		cmocka_unit_test(test_junk_is_one_parse_error),
		cmocka_unit_test(test_unanswered_and_orphan_counted),
		cmocka_unit_test(test_long_target_kept_to_cap),
		cmocka_unit_test(test_gap_inside_body_is_skipped),
		cmocka_unit_test(test_gap_in_headers_resyncs),
		cmocka_unit_test(test_cut_response_counted_at_close),
		cmocka_unit_test(test_cut_response_ends_at_last_bytes),
		cmocka_unit_test(test_targets_of_every_size),
		cmocka_unit_test(test_fast_body_counted_in_pieces),
		cmocka_unit_test(test_chunk_size_line_not_skippable),
		cmocka_unit_test(test_ignored_upgrade_offer),
		cmocka_unit_test(test_connect_latency_is_its_answer),
		cmocka_unit_test(test_aborted_requests),
	};
	return cmocka_run_group_tests(tests, build_streams, NULL);
}
