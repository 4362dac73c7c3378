// SPDX-License-Identifier: MIT
/*
 * The TLS record layer against ground truth no one here wrote: real
 * conversations between curl (or openssl s_client) and NGINX, captured by
 * tcpdump, with the client's own key log (tests/gen/make_tls_fixtures.sh).
 * Each capture is reassembled with tcp_reasm, decrypted by tls_session from
 * the key log alone, and must give back exactly the bytes curl says it sent
 * and received (its --trace, in <name>.c2s / <name>.s2c); the plaintext also
 * goes through http_stream, which must see every request and its status.
 *
 * Then the same captures, damaged: split at every offset, a corrupted byte,
 * keys arriving late (and overflowing the waiting buffer), lost bytes inside
 * a record and across records, an unsupported suite or version.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "collector/http_stream.h"
#include "collector/pkt_decode.h"
#include "collector/tcp_reasm.h"
#include "collector/tls_secrets.h"
#include "collector/tls_aead.h"
#include "collector/tls_session.h"
#include "probes/capture.h"

#define MAX_CONV   8
#define MAX_CHUNKS 4096

/* ---------------------------------------------------------- loading */

struct chunk {
	int dir;                    /* 0 client->server, 1 server->client */
	uint32_t off, len;          /* into the direction's stream */
	uint64_t ts;
	bool gap;                   /* len bytes lost instead of data */
	bool cut;                   /* len bytes cut on purpose by the capture */
};

struct conv {                       /* one TCP connection of a capture */
	uint16_t cport;
	uint8_t *bytes[2];
	size_t len[2];
	struct chunk ch[MAX_CHUNKS];
	size_t nch;
	struct reasm r[2];
};

struct fixture {
	uint16_t sport;
	struct conv *conv[MAX_CONV];
	int nconv;
	char *keys;
	size_t keys_len;
	uint8_t *exp[2];            /* curl's view; NULL for s_client runs */
	size_t exp_len[2];
};

struct reasm_ctx {
	struct conv *c;
	int dir;
};

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* tests/unit/test_tls_session.c -> tests/fixtures/tls/<name>.<ext> */
static void fixture_path(const char *name, const char *ext, char *out, size_t n)
{
	const char *env = getenv("L7TOP_TLS_FIXTURES");
	if (env) {
		snprintf(out, n, "%s/%s.%s", env, name, ext);
		return;
	}
	const char *f = __FILE__;
	const char *cut = strstr(f, "unit/test_tls_session.c");
	snprintf(out, n, "%.*sfixtures/tls/%s.%s", cut ? (int)(cut - f) : 0, f, name, ext);
}

static void on_data(void *ctx, const uint8_t *buf, uint32_t len, uint64_t ts)
{
	struct reasm_ctx *rc = ctx;
	struct conv *c = rc->c;
	assert_true(c->nch < MAX_CHUNKS);
	c->bytes[rc->dir] = realloc(c->bytes[rc->dir], c->len[rc->dir] + len);
	memcpy(c->bytes[rc->dir] + c->len[rc->dir], buf, len);
	c->ch[c->nch++] = (struct chunk){ .dir = rc->dir, .off = (uint32_t)c->len[rc->dir], .len = len, .ts = ts };
	c->len[rc->dir] += len;
}

static void on_gap(void *ctx, uint32_t len, uint64_t ts)
{
	(void)ctx; (void)len; (void)ts;
	fail_msg("loopback capture has a gap");
}

static void on_fin(void *ctx, uint64_t ts)
{
	(void)ctx; (void)ts;
}

static void on_pkt(void *ctx, const struct capture_pkt *p)
{
	struct fixture *fx = ctx;
	struct tcp_seg s;
	static const struct reasm_limits lim = { .max_ooo_bytes = 1 << 20, .max_ooo_segs = 1024 };
	struct reasm_stats st = { 0 };

	if (pkt_decode(p->l3, p->caplen, p->wirelen, &s))
		return;
	bool syn = s.flags & TCPF_SYN, ack = s.flags & TCPF_ACK;
	if (syn && !ack) {
		assert_true(fx->nconv < MAX_CONV);
		struct conv *c = calloc(1, sizeof(*c));
		c->cport = s.sport;
		fx->sport = s.dport;
		reasm_init(&c->r[0]);
		reasm_init(&c->r[1]);
		fx->conv[fx->nconv++] = c;
	}
	int dir = s.dport == fx->sport ? 0 : 1;
	uint16_t cport = dir ? s.dport : s.sport;
	struct conv *c = NULL;
	for (int i = 0; i < fx->nconv; i++)
		if (fx->conv[i]->cport == cport)
			c = fx->conv[i];
	if (!c)
		return;
	if (syn)
		reasm_sync(&c->r[dir], s.seq + 1);
	struct reasm_ctx rc = { c, dir };
	struct reasm_out out = { on_data, on_gap, on_fin, &rc, NULL };
	reasm_feed(&c->r[dir], &lim, &st, s.seq, s.flags, s.payload, s.caplen, s.len, p->ts_ns, &out);
}

static struct fixture *fixture_load(const char *name)
{
	char path[1024], err[256];
	struct capture *cap;
	struct fixture *fx = calloc(1, sizeof(*fx));

	fixture_path(name, "pcap", path, sizeof(path));
	assert_int_equal(capture_open_offline(&cap, path, err, sizeof(err)), 0);
	int rc;
	while ((rc = capture_dispatch(cap, 0, on_pkt, fx)) > 0)
		;
	assert_int_equal(rc, -ENODATA);
	capture_close(cap);
	fixture_path(name, "keys", path, sizeof(path));
	fx->keys = read_all(path, &fx->keys_len);
	assert_non_null(fx->keys);
	const char *ext[2] = { "c2s", "s2c" };
	for (int d = 0; d < 2; d++) {
		fixture_path(name, ext[d], path, sizeof(path));
		fx->exp[d] = (uint8_t *)read_all(path, &fx->exp_len[d]);
	}
	assert_true(fx->nconv > 0);
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	for (int i = 0; i < fx->nconv; i++) {
		reasm_free(&fx->conv[i]->r[0], NULL);
		reasm_free(&fx->conv[i]->r[1], NULL);
		free(fx->conv[i]->bytes[0]);
		free(fx->conv[i]->bytes[1]);
		free(fx->conv[i]);
	}
	free(fx->keys);
	free(fx->exp[0]);
	free(fx->exp[1]);
	free(fx);
}

static struct tls_secrets *keylog_table(const struct fixture *fx)
{
	struct tls_secrets *t = tls_secrets_new(64, 60ull * 1000000000ull);
	size_t bad = 99;
	assert_non_null(t);
	assert_true(tls_keylog_parse(t, fx->keys, fx->keys_len, 0, &bad) > 0);
	assert_int_equal(bad, 0);
	return t;
}

/* ---------------------------------------------------------- decrypting */

struct result {
	uint8_t *plain[2];
	size_t len[2];
	uint64_t lost[2];
	struct tls_session_counters cnt;
	struct http_counters hc;
	uint16_t status[32];
	int ntxn;
	struct http_stream http;
	struct http_sink hsink;
	struct tls_session_info info[MAX_CONV];
	char reason[MAX_CONV][TLS_REASON_MAX];
	int cut_failed;
	int body_skew;
	uint64_t body_stretch;    /* added to a body's length once one has begun */
	uint64_t end_ns[32];
};

static void on_txn(void *ctx, const struct http_txn *t)
{
	struct result *r = ctx;
	if (r->ntxn < 32) {
		r->status[r->ntxn] = t->status;
		r->end_ns[r->ntxn] = t->end_ns;
	}
	r->ntxn++;
}

static void on_plain(void *ctx, int dir, const uint8_t *buf, size_t len, uint64_t ts)
{
	struct result *r = ctx;
	r->plain[dir] = realloc(r->plain[dir], r->len[dir] + len);
	memcpy(r->plain[dir] + r->len[dir], buf, len);
	r->len[dir] += len;
	http_stream_feed(&r->http, (enum http_dir)dir, buf, len, ts, &r->hsink);
}

static void on_lost(void *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct result *r = ctx;
	r->lost[dir] += len;
	http_stream_gap(&r->http, (enum http_dir)dir, len, ts, &r->hsink);
}

/* The sink's shared algorithms (NULL: each session fetches its own). */
static const struct tls_crypto *shared_crypto;

static void on_cut_failed(void *ctx, int dir)
{
	struct result *r = ctx;
	assert_int_equal(dir, 1);
	r->cut_failed++;
}

/* As the collector answers: the Content-Length body left (body_skew: a
 * wrong answer). */
static uint64_t on_body_left(void *ctx, int dir)
{
	struct result *r = ctx;
	uint64_t left = http_stream_sized_left(&r->http, (enum http_dir)dir);
	return left + (uint64_t)r->body_skew + (left ? r->body_stretch : 0);
}

static void result_init(struct result *r, struct tls_secrets *sec, struct tls_session_sink *sink)
{
	memset(r, 0, sizeof(*r));
	r->hsink = (struct http_sink){ .txn = on_txn, .ctx = r, .cnt = &r->hc };
	*sink = (struct tls_session_sink){ .plain = on_plain, .lost = on_lost,
					   .cut_failed = on_cut_failed, .body_left = on_body_left, .ctx = r,
					   .cnt = &r->cnt, .secrets = sec, .crypto = shared_crypto };
}

static void result_free(struct result *r)
{
	free(r->plain[0]);
	free(r->plain[1]);
}

/* Feeds chunks (of streams b) into s. A cut chunk is told with what the
 * HTTP layer still expects of the body, as the collector does. */
static void feed_chunks(struct tls_session *s, uint8_t *const b[2], const struct chunk *ch, size_t n,
			const struct tls_session_sink *sink)
{
	for (size_t i = 0; i < n; i++) {
		if (ch[i].cut)
			tls_session_cut(s, ch[i].dir, ch[i].len, ch[i].ts, sink);
		else if (ch[i].gap)
			tls_session_gap(s, ch[i].dir, ch[i].len, ch[i].ts, sink);
		else
			tls_session_feed(s, ch[i].dir, b[ch[i].dir] + ch[i].off, ch[i].len, ch[i].ts, sink);
	}
}

/* One connection through tls_session and http_stream, in capture order. */
static void run_conv(const struct conv *c, struct result *r, const struct tls_session_sink *sink, int idx)
{
	struct tls_session *s = tls_session_new(0);
	assert_non_null(s);
	http_stream_init(&r->http);
	feed_chunks(s, c->bytes, c->ch, c->nch, sink);
	tls_session_get_info(s, &r->info[idx]);
	snprintf(r->reason[idx], sizeof(r->reason[idx]), "%s", r->info[idx].reason);
	r->info[idx].reason = r->reason[idx];     /* info.reason dies with the session */
	tls_session_free(s, sink);
	http_stream_free(&r->http, &r->hsink);
}

/* body_stretch: see struct result (0: the collector's true answer). */
static void run_fixture_stretched(const struct fixture *fx, struct result *r, uint64_t body_stretch)
{
	struct tls_session_sink sink;
	struct tls_secrets *sec = keylog_table(fx);
	result_init(r, sec, &sink);
	r->body_stretch = body_stretch;
	for (int i = 0; i < fx->nconv; i++)
		run_conv(fx->conv[i], r, &sink, i);
	/* every secret was used up, and so wiped from the table */
	assert_int_equal(tls_secrets_count(sec), 0);
	tls_secrets_free(sec);
}

static void run_fixture(const struct fixture *fx, struct result *r)
{
	run_fixture_stretched(fx, r, 0);
}

static void assert_mem(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen)
		assert_memory_equal(a, b, alen);
}

/* The server's last 300 bytes (the 404 that ends every fixture) arrived
 * decrypted byte for byte: whatever happened before them, the record
 * sequence came out right. */
static void assert_tail_is_404(const struct result *r, const struct fixture *fx)
{
	assert_true(r->len[1] >= 300);
	assert_memory_equal(r->plain[1] + r->len[1] - 300, fx->exp[1] + fx->exp_len[1] - 300, 300);
}

struct expect {
	const char *name;
	uint16_t version, suite;
	bool ems, hrr;
};

static void check_fixture(const struct expect *e)
{
	struct fixture *fx = fixture_load(e->name);
	struct result r;
	run_fixture(fx, &r);

	assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
	assert_mem(r.plain[1], r.len[1], fx->exp[1], fx->exp_len[1]);
	assert_int_equal(r.ntxn, 3);
	assert_int_equal(r.status[0], 200);
	assert_int_equal(r.status[1], 200);
	assert_int_equal(r.status[2], 404);
	assert_int_equal(r.hc.parse_errors + r.hc.unpaired + r.hc.gaps, 0);
	assert_int_equal(r.cnt.undecryptable + r.cnt.tag_failures + r.cnt.records_lost, 0);
	assert_int_equal(r.cnt.waiting_overflow + r.cnt.resyncs, 0);
	for (int i = 0; i < fx->nconv; i++) {
		assert_int_equal(r.info[i].version, e->version);
		assert_int_equal(r.info[i].suite, e->suite);
		assert_int_equal(r.info[i].hrr, e->hrr);
		if (e->version == 0x0303)
			assert_int_equal(r.info[i].ems, e->ems);
		assert_string_equal(r.info[i].reason, "");
	}
	printf("  %-16s %d conn, %3llu records decrypted, %llu plaintext bytes, %llu close_notify\n",
	       e->name, fx->nconv, (unsigned long long)r.cnt.records,
	       (unsigned long long)r.cnt.plain_bytes, (unsigned long long)r.cnt.close_notify);
	result_free(&r);
	fixture_free(fx);
}

static void test_tls13_aes256(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls13_aes256", 0x0304, 0x1302, false, false });
}

static void test_tls13_chacha(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls13_chacha", 0x0304, 0x1303, false, false });
}

static void test_tls13_aes128(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls13_aes128", 0x0304, 0x1301, false, false });
}

static void test_tls13_hrr(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls13_hrr", 0x0304, 0x1302, false, true });
}

static void test_tls13_resume(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls13_resume", 0x0304, 0x1302, false, false });
}

static void test_tls12_aes256(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls12_aes256", 0x0303, 0xc030, true, false });
}

static void test_tls12_aes128(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls12_aes128", 0x0303, 0xc02f, true, false });
}

static void test_tls12_chacha(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls12_chacha", 0x0303, 0xcca8, true, false });
}

static void test_tls12_resume(void **st)
{
	(void)st;
	check_fixture(&(struct expect){ "tls12_resume", 0x0303, 0xc02f, true, false });
}

/*
 * The same conversations through one tls_crypto shared by every session, as
 * the collector runs them: HKDF-Expand-Label with SHA-256 and SHA-384, the
 * TLS 1.2 PRF with both, each cipher.
 */
static void test_shared_crypto(void **st)
{
	static const struct expect all[] = {
		{ "tls13_aes256", 0x0304, 0x1302, false, false },
		{ "tls13_chacha", 0x0304, 0x1303, false, false },
		{ "tls13_aes128", 0x0304, 0x1301, false, false },
		{ "tls13_hrr", 0x0304, 0x1302, false, true },
		{ "tls12_aes256", 0x0303, 0xc030, true, false },
		{ "tls12_chacha", 0x0303, 0xcca8, true, false },
	};
	struct tls_crypto *cr = tls_crypto_new();

	(void)st;
	assert_non_null(cr);
	shared_crypto = cr;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		check_fixture(&all[i]);
	shared_crypto = NULL;
	tls_crypto_free(cr);
}

/* openssl s_client sent three requests with a KeyUpdate (asking the server
 * to update as well) between the first and the second. */
static void test_tls13_keyupdate(void **st)
{
	(void)st;
	static const char REQ[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct fixture *fx = fixture_load("tls13_keyupdate");
	struct result r;
	run_fixture(fx, &r);

	assert_int_equal(r.len[0], 3 * strlen(REQ));
	for (int i = 0; i < 3; i++)
		assert_memory_equal(r.plain[0] + i * strlen(REQ), REQ, strlen(REQ));
	assert_int_equal(r.ntxn, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.status[i], 200);
	assert_non_null(memmem(r.plain[1], r.len[1], "hello over tls\n", 15));
	assert_int_equal(r.info[0].key_updates[0], 1);   /* the client's, then the server's answer */
	assert_int_equal(r.info[0].key_updates[1], 1);
	assert_int_equal(r.cnt.undecryptable + r.cnt.tag_failures + r.cnt.records_lost, 0);
	printf("  %-16s %d conn, %3llu records decrypted, %llu plaintext bytes\n", "tls13_keyupdate",
	       fx->nconv, (unsigned long long)r.cnt.records, (unsigned long long)r.cnt.plain_bytes);
	result_free(&r);
	fixture_free(fx);
}

/* ---------------------------------------------------------- damage */

/* The two streams of conversation c as single chunks, split at k. */
static size_t split_at(const struct conv *c, size_t k, struct chunk *ch)
{
	size_t n = 0;
	for (int d = 0; d < 2; d++) {
		size_t cut = k < c->len[d] ? k : c->len[d];
		ch[n++] = (struct chunk){ .dir = d, .off = 0, .len = (uint32_t)cut, .ts = 1 };
	}
	for (int d = 0; d < 2; d++) {
		size_t cut = k < c->len[d] ? k : c->len[d];
		ch[n++] = (struct chunk){ .dir = d, .off = (uint32_t)cut, .len = (uint32_t)(c->len[d] - cut),
					  .ts = 2 };
	}
	return n;
}

/* Client stream at k, server stream at k, then the rests: the plaintext is
 * the same whatever the split and whichever side runs ahead (records that
 * cannot be read yet wait for the other side's hello). */
static void split_every_offset(const char *name)
{
	struct fixture *fx = fixture_load(name);
	const struct conv *c = fx->conv[0];
	size_t max = c->len[0] > c->len[1] ? c->len[0] : c->len[1];

	for (size_t k = 0; k <= max; k++) {
		struct chunk ch[4];
		struct result r;
		struct tls_session_sink sink;
		struct tls_secrets *sec = keylog_table(fx);
		result_init(&r, sec, &sink);
		struct tls_session *s = tls_session_new(0);
		http_stream_init(&r.http);
		feed_chunks(s, c->bytes, ch, split_at(c, k, ch), &sink);
		tls_session_free(s, &sink);
		http_stream_free(&r.http, &r.hsink);
		assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
		assert_mem(r.plain[1], r.len[1], fx->exp[1], fx->exp_len[1]);
		assert_int_equal(r.ntxn, 3);
		assert_int_equal(r.cnt.undecryptable + r.cnt.tag_failures, 0);
		result_free(&r);
		tls_secrets_free(sec);
	}
	fixture_free(fx);
}

static void test_split_tls13(void **st)
{
	(void)st;
	split_every_offset("tls13_aes256");
}

static void test_split_tls12(void **st)
{
	(void)st;
	split_every_offset("tls12_chacha");
}

/* One byte at a time, in capture order. */
static void test_byte_by_byte(void **st)
{
	(void)st;
	const char *names[] = { "tls13_chacha", "tls12_aes128", "tls13_hrr" };
	for (size_t f = 0; f < 3; f++) {
		struct fixture *fx = fixture_load(names[f]);
		const struct conv *c = fx->conv[0];
		struct result r;
		struct tls_session_sink sink;
		struct tls_secrets *sec = keylog_table(fx);
		result_init(&r, sec, &sink);
		struct tls_session *s = tls_session_new(0);
		http_stream_init(&r.http);
		for (size_t i = 0; i < c->nch; i++)
			for (uint32_t j = 0; j < c->ch[i].len; j++)
				tls_session_feed(s, c->ch[i].dir, c->bytes[c->ch[i].dir] + c->ch[i].off + j, 1,
						 c->ch[i].ts, &sink);
		tls_session_free(s, &sink);
		http_stream_free(&r.http, &r.hsink);
		assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
		assert_mem(r.plain[1], r.len[1], fx->exp[1], fx->exp_len[1]);
		result_free(&r);
		tls_secrets_free(sec);
		fixture_free(fx);
	}
}

/* Record boundaries of a stream: offsets of each header. */
static size_t records_of(const uint8_t *b, size_t len, size_t *off, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i + 5 <= len && n < max; i += 5 + (size_t)(b[i + 3] << 8 | b[i + 4]))
		off[n++] = i;
	return n;
}

/* The record of stream dir holding the byte at stream offset `at`. */
static size_t record_holding(const struct conv *c, int dir, size_t at, size_t *len)
{
	size_t off[256];
	size_t n = records_of(c->bytes[dir], c->len[dir], off, 256);
	for (size_t i = 0; i < n; i++) {
		size_t l = 5 + (size_t)(c->bytes[dir][off[i] + 3] << 8 | c->bytes[dir][off[i] + 4]);
		if (at >= off[i] && at < off[i] + l) {
			*len = l;
			return off[i];
		}
	}
	fail_msg("no record at %zu", at);
	return 0;
}

/* A flipped ciphertext byte in the big response: one tag failure, that
 * record's plaintext reported lost, everything else decrypted. */
static void corrupt_one(const char *name, uint64_t exact_lost)
{
	struct fixture *fx = fixture_load(name);
	struct conv *c = fx->conv[0];
	size_t rlen, roff = record_holding(c, 1, c->len[1] - 3000, &rlen);
	c->bytes[1][roff + 40] ^= 0x55;

	struct result r;
	struct tls_session_sink sink;
	struct tls_secrets *sec = keylog_table(fx);
	result_init(&r, sec, &sink);
	run_conv(c, &r, &sink, 0);
	assert_int_equal(r.cnt.tag_failures, 1);
	assert_int_equal(r.cnt.undecryptable, 0);
	assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
	assert_int_equal(r.len[1] + r.lost[1], fx->exp_len[1]);
	if (exact_lost)
		assert_int_equal(r.lost[1], exact_lost);
	assert_tail_is_404(&r, fx);       /* the 404 after it is intact */
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

static void test_corrupt_byte(void **st)
{
	(void)st;
	corrupt_one("tls13_aes256", 0);
	corrupt_one("tls12_aes256", 0);
	corrupt_one("tls12_chacha", 0);
}

/* Every byte of the handshake flipped in turn: never a crash, and a bad
 * handshake is a counted, named give-up or a tag failure, never silence. */
static void test_corrupt_handshake(void **st)
{
	(void)st;
	const char *names[] = { "tls13_aes128", "tls12_aes128" };
	for (size_t f = 0; f < 2; f++) {
		struct fixture *fx = fixture_load(names[f]);
		struct conv *c = fx->conv[0];
		for (int d = 0; d < 2; d++) {
			size_t end = c->len[d] < 2500 ? c->len[d] : 2500;
			for (size_t i = 0; i < end; i++) {
				c->bytes[d][i] ^= 0x80;
				struct result r;
				struct tls_session_sink sink;
				struct tls_secrets *sec = keylog_table(fx);
				result_init(&r, sec, &sink);
				run_conv(c, &r, &sink, 0);
				bool same = r.len[1] == fx->exp_len[1] && r.len[0] == fx->exp_len[0];
				assert_true(same || r.cnt.undecryptable || r.cnt.tag_failures ||
					    r.cnt.desyncs || r.cnt.records_lost);
				result_free(&r);
				tls_secrets_free(sec);
				c->bytes[d][i] ^= 0x80;
			}
		}
		fixture_free(fx);
	}
}

/* Records before keys wait; a kick once the key log is in decrypts them. */
static void test_keys_late(void **st)
{
	(void)st;
	const char *names[] = { "tls13_aes256", "tls12_aes256" };
	for (size_t f = 0; f < 2; f++) {
		struct fixture *fx = fixture_load(names[f]);
		const struct conv *c = fx->conv[0];
		struct tls_secrets *sec = tls_secrets_new(64, 1000);
		struct result r;
		struct tls_session_sink sink;
		result_init(&r, sec, &sink);
		struct tls_session *s = tls_session_new(0);
		http_stream_init(&r.http);
		feed_chunks(s, c->bytes, c->ch, c->nch, &sink);
		assert_true(tls_session_waiting(s));
		assert_int_equal(r.len[0] + r.len[1], 0);
		assert_true(tls_keylog_parse(sec, fx->keys, fx->keys_len, 0, NULL) > 0);
		tls_session_kick(s, &sink);
		assert_false(tls_session_waiting(s));
		tls_session_free(s, &sink);
		http_stream_free(&r.http, &r.hsink);
		assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
		assert_mem(r.plain[1], r.len[1], fx->exp[1], fx->exp_len[1]);
		assert_int_equal(r.ntxn, 3);
		assert_int_equal(r.cnt.undecryptable + r.cnt.waiting_overflow, 0);
		result_free(&r);
		tls_secrets_free(sec);
		fixture_free(fx);
	}
}

/* Splits a key log into the lines starting with label and the rest. */
static void keylog_split(const struct fixture *fx, const char *label, char *with, char *without,
			 size_t n)
{
	size_t a = 0, b = 0;

	for (const char *p = fx->keys, *end = fx->keys + fx->keys_len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		bool match = !strncmp(p, label, strlen(label));
		char *dst = match ? with : without;
		size_t *at = match ? &a : &b;

		assert_true(*at + len < n);
		memcpy(dst + *at, p, len);
		*at += len;
		p += len;
	}
	with[a] = without[b] = '\0';
}

/*
 * OpenSSL derives the client's traffic key only when it reads the client's
 * Finished, so live, the first request can wait for its key while the
 * server's response (its key known since the ServerHello) is already
 * there. The response must not overtake the request: HTTP pairs them in
 * order, and seeing it first made both unpaired.
 */
static void test_client_key_late(void **st)
{
	(void)st;
	static char with[8192], without[8192];
	struct fixture *fx = fixture_load("tls13_aes256");
	const struct conv *c = fx->conv[0];
	struct tls_secrets *sec = tls_secrets_new(64, 1000);
	struct result r;
	struct tls_session_sink sink;

	keylog_split(fx, "CLIENT_TRAFFIC_SECRET_0 ", with, without, sizeof(with));
	assert_true(strlen(with) > 0);
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	http_stream_init(&r.http);
	assert_true(tls_keylog_parse(sec, without, strlen(without), 0, NULL) > 0);
	feed_chunks(s, c->bytes, c->ch, c->nch, &sink);
	assert_true(tls_session_waiting(s));
	assert_int_equal(r.ntxn, 0);
	assert_int_equal(r.hc.unpaired, 0);
	assert_true(tls_keylog_parse(sec, with, strlen(with), 0, NULL) > 0);
	tls_session_kick(s, &sink);
	assert_false(tls_session_waiting(s));
	tls_session_free(s, &sink);
	http_stream_free(&r.http, &r.hsink);
	assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
	assert_mem(r.plain[1], r.len[1], fx->exp[1], fx->exp_len[1]);
	assert_int_equal(r.ntxn, 3);
	assert_int_equal(r.hc.unpaired, 0);
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

/* Keys never come: counted undecryptable when freed, the reason kept and
 * naming what the handshake lacked (here every secret, the hellos read). */
static void test_keys_never(void **st)
{
	(void)st;
	struct fixture *fx = fixture_load("tls13_chacha");
	struct tls_secrets *sec = tls_secrets_new(4, 1000);
	struct result r;
	struct tls_session_sink sink;
	struct tls_session_info info;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	feed_chunks(s, fx->conv[0]->bytes, fx->conv[0]->ch, fx->conv[0]->nch, &sink);
	tls_session_get_info(s, &info);
	assert_int_equal(info.version, 0x0304);
	assert_false(info.keyed[0] || info.keyed[1]);
	assert_string_equal(r.cnt.last_give_up, "");
	tls_session_free(s, &sink);
	assert_int_equal(r.cnt.undecryptable, 1);
	/* said at l7top's exit */
	assert_string_equal(r.cnt.last_give_up, "no keys: TLS 1.3, 0 of 4 secrets caught");
	assert_int_equal(r.len[0] + r.len[1], 0);
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

/* Only the server's side was captured: its records wait for a ClientHello
 * that never comes, and the reason says so rather than blame the keys. */
static void test_no_hello_reason(void **st)
{
	(void)st;
	struct fixture *fx = fixture_load("tls13_chacha");
	const struct conv *c = fx->conv[0];
	struct tls_secrets *sec = tls_secrets_new(4, 1000);
	struct result r;
	struct tls_session_sink sink;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	for (size_t i = 0; i < c->nch; i++)
		if (c->ch[i].dir == 1 && !c->ch[i].cut && !c->ch[i].gap)
			tls_session_feed(s, 1, c->bytes[1] + c->ch[i].off, c->ch[i].len, c->ch[i].ts, &sink);
	assert_true(tls_session_waiting(s));
	tls_session_free(s, &sink);
	assert_int_equal(r.cnt.undecryptable, 1);
	assert_string_equal(r.cnt.last_give_up, "no keys: its ClientHello never read");
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

/* Keys late with a small waiting buffer: what overflows is counted; after
 * the kick, later records are found again by trial decryption. */
static void test_wait_overflow(void **st)
{
	(void)st;
	struct fixture *fx = fixture_load("tls13_aes256");
	const struct conv *c = fx->conv[0];
	/* everything up to the chunk holding the big body's end, keys, the rest */
	size_t split = 0, big_end = c->len[1] - 1000;
	for (size_t i = 0; i < c->nch; i++)
		if (c->ch[i].dir == 1 && c->ch[i].off + c->ch[i].len >= big_end) {
			split = i + 1;
			break;
		}
	assert_true(split > 0 && split < c->nch);
	struct tls_secrets *sec = tls_secrets_new(64, 1000);
	struct result r;
	struct tls_session_sink sink;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(6000);
	http_stream_init(&r.http);
	feed_chunks(s, c->bytes, c->ch, split, &sink);
	assert_true(r.cnt.waiting_overflow > 0);
	tls_keylog_parse(sec, fx->keys, fx->keys_len, 0, NULL);
	tls_session_kick(s, &sink);
	feed_chunks(s, c->bytes, c->ch + split, c->nch - split, &sink);
	tls_session_free(s, &sink);
	http_stream_free(&r.http, &r.hsink);
	assert_int_equal(r.cnt.resyncs, 1);
	assert_int_equal(r.cnt.undecryptable, 0);
	/* requests all there; the last response (404) complete at the end */
	assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
	assert_true(r.len[1] < fx->exp_len[1]);
	size_t tail = 250;
	assert_memory_equal(r.plain[1] + r.len[1] - tail, fx->exp[1] + fx->exp_len[1] - tail, tail);
	printf("  overflow: %llu records dropped waiting, %llu resync\n",
	       (unsigned long long)r.cnt.waiting_overflow, (unsigned long long)r.cnt.resyncs);
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

/*
 * Removes [from, from+len) of the server stream of c and puts a gap chunk in
 * its place; returns the new chunk list in out.
 */
static size_t with_gap(const struct conv *c, size_t from, size_t len, struct chunk *out)
{
	size_t n = 0;
	bool placed = false;
	for (size_t i = 0; i < c->nch; i++) {
		struct chunk ch = c->ch[i];
		if (ch.dir != 1 || ch.off + ch.len <= from || ch.off >= from + len) {
			out[n++] = ch;
			continue;
		}
		if (ch.off < from) {
			out[n] = ch;
			out[n++].len = (uint32_t)(from - ch.off);
		}
		if (!placed) {
			out[n++] = (struct chunk){ .dir = 1, .len = (uint32_t)len, .ts = ch.ts, .gap = true };
			placed = true;
		}
		if (ch.off + ch.len > from + len) {
			out[n] = ch;
			out[n].off = (uint32_t)(from + len);
			out[n++].len = (uint32_t)(ch.off + ch.len - from - len);
		}
	}
	return n;
}

static void gap_case(const char *name, bool inside)
{
	struct fixture *fx = fixture_load(name);
	struct conv *c = fx->conv[0];
	size_t rlen, roff, from, len = 1000;
	/*
	 * NGINX writes the big response as a 16 KB record (headers and the
	 * body's start) and a smaller one (the body's end). Inside: 1000 bytes
	 * from the middle of the second, all body; HTTP skips them exactly.
	 * Across: from the end of the first into the second; the record with
	 * the headers is lost, so HTTP loses that transaction and resyncs.
	 */
	if (inside) {
		roff = record_holding(c, 1, c->len[1] - 3000, &rlen);
		from = roff + rlen / 2 - 500;
	} else {
		roff = record_holding(c, 1, c->len[1] - 12000, &rlen);
		from = roff + rlen - 200;
	}
	static struct chunk ch[MAX_CHUNKS + 2];
	size_t n = with_gap(c, from, len, ch);

	struct tls_secrets *sec = keylog_table(fx);
	struct result r;
	struct tls_session_sink sink;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	http_stream_init(&r.http);
	feed_chunks(s, c->bytes, ch, n, &sink);
	tls_session_free(s, &sink);
	http_stream_free(&r.http, &r.hsink);

	assert_int_equal(r.cnt.undecryptable + r.cnt.tag_failures, 0);
	assert_int_equal(r.cnt.desyncs, inside ? 0 : 1);
	assert_int_equal(r.cnt.resyncs, inside ? 0 : 1);
	assert_int_equal(r.cnt.records_lost, inside ? 1 : 2);
	assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
	/* the plaintext lost is reported exactly (no padding in these captures) */
	assert_int_equal(r.len[1] + r.lost[1], fx->exp_len[1]);
	assert_int_equal(r.ntxn, inside ? 3 : 2);
	assert_int_equal(r.status[0], 200);
	assert_int_equal(r.status[r.ntxn - 1], 404);
	assert_tail_is_404(&r, fx);
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

static void test_gap(void **st)
{
	(void)st;
	gap_case("tls13_aes256", true);
	gap_case("tls13_aes256", false);
	gap_case("tls12_aes128", true);
	gap_case("tls12_aes128", false);
	gap_case("tls13_chacha", false);
}

/*
 * Body records cut on purpose (keys mode, tls_conns in the socket filter):
 * the last record of the big response, a whole record after the head one,
 * is replaced by a cut chunk (in `pieces` parts, as consecutive cut
 * packets come). The run's length and the body left give the record count
 * by arithmetic, the 404's record verifies at the sequence number after
 * it, and the body is reported exactly, at the time of the last cut piece.
 * body_skew != 0 tells a wrong body length: the run does not add up, it is
 * counted, cutting is called off, and trial decryption still finds the
 * 404. at_eof: the stream ends after the cut (nothing to verify with):
 * the arithmetic alone settles it.
 */
/* Returns the response side's plaintext bytes delivered (not counted lost). */
static uint64_t cut_case(const char *name, int pieces, int body_skew, bool at_eof, size_t prefix)
{
	struct fixture *fx = fixture_load(name);
	struct conv *c = fx->conv[0];
	size_t rlen, roff = record_holding(c, 1, c->len[1] - 3000, &rlen);
	static struct chunk ch[MAX_CHUNKS + 8];
	size_t n, k;

	if (prefix) {
		/* From inside the head record (its first `prefix` bytes kept) to
		 * the end of the body's last record. */
		size_t hlen, hoff = record_holding(c, 1, roff - 1, &hlen);
		assert_int_equal(hoff + hlen, roff);
		assert_true(prefix < hlen);
		rlen += roff - hoff - prefix;
		roff = hoff + prefix;
	}
	n = with_gap(c, roff, rlen, ch);

	for (k = 0; k < n && !ch[k].gap; k++)
		;
	assert_true(k < n);
	/* Split the cut into pieces, each one "packet" later. */
	memmove(ch + k + pieces, ch + k + 1, (n - k - 1) * sizeof(*ch));
	uint32_t left = ch[k].len;
	uint64_t ts = ch[k].ts;
	for (int p = 0; p < pieces; p++) {
		uint32_t len = p == pieces - 1 ? left : ch[k].len / (uint32_t)pieces;
		ch[k + p] = (struct chunk){ .dir = 1, .len = len, .ts = ts + (uint64_t)p * 1000, .cut = true };
		left -= len;
	}
	n += (size_t)pieces - 1;
	if (at_eof)
		n = k + (size_t)pieces;
	uint64_t last_ts = ts + (uint64_t)(pieces - 1) * 1000;

	struct tls_secrets *sec = keylog_table(fx);
	struct result r;
	struct tls_session_sink sink;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	http_stream_init(&r.http);
	r.body_skew = body_skew;      /* a body told one byte longer than it is */
	feed_chunks(s, c->bytes, ch, n, &sink);
	if (at_eof)
		tls_session_eof(s, 1, &sink);
	tls_session_free(s, &sink);
	http_stream_free(&r.http, &r.hsink);

	assert_int_equal(r.cnt.undecryptable + r.cnt.tag_failures, 0);
	/* every plaintext byte is there or reported lost, exactly (at_eof: the
	 * 404's request and response are never fed) */
	if (!at_eof) {
		assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
		assert_int_equal(r.len[1] + r.lost[1], fx->exp_len[1]);
	}
	assert_int_equal(r.hc.gaps + r.hc.parse_errors, 0);
	if (body_skew) {
		assert_int_equal(r.cnt.cut_unframed, 1);
		assert_int_equal(r.cut_failed, 1);
		assert_int_equal(r.cnt.records_cut, 0);
		assert_int_equal(r.cnt.resyncs, 1);
	} else {
		assert_int_equal(r.cnt.cut_unframed + r.cnt.desyncs + r.cnt.resyncs + r.cnt.records_lost, 0);
		assert_int_equal(r.cut_failed, 0);
		assert_int_equal(r.cnt.records_cut, 1);
		/* the response ends with its last cut packet */
		assert_int_equal(r.end_ns[1], last_ts);
	}
	assert_int_equal(r.ntxn, at_eof ? 2 : 3);
	assert_int_equal(r.status[0], 200);
	assert_int_equal(r.status[1], 200);
	if (!at_eof) {
		assert_int_equal(r.status[2], 404);
		assert_tail_is_404(&r, fx);
	}
	uint64_t delivered = r.len[1];
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
	return delivered;
}

/*
 * body_skip: a record of TLS_AEAD_BULK or more wholly inside a Content-Length
 * body is counted, not opened. The fixtures' 21,150-byte body ends inside
 * its second record, so the collector's answer is stretched to make that
 * record look inside the body: it is skipped (its bytes reach HTTP as a
 * counted loss, the body still ends where it does), the sequence stays
 * right (the 404 after it decrypts), and a TLS 1.3 ChaCha20 record, whose
 * inner type cannot be read alone, is opened instead.
 */
static void skip_case(const char *name, bool skippable)
{
	struct fixture *fx = fixture_load(name);
	struct result r;

	run_fixture_stretched(fx, &r, 1u << 20);
	assert_int_equal(r.cnt.records_skipped, skippable ? 1 : 0);
	assert_int_equal(r.lost[1], r.cnt.skipped_bytes);
	assert_true(!skippable || r.cnt.skipped_bytes >= TLS_AEAD_BULK);
	assert_int_equal(r.len[1] + r.lost[1], fx->exp_len[1]);
	assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
	assert_int_equal(r.cnt.undecryptable + r.cnt.tag_failures + r.cnt.records_lost, 0);
	assert_int_equal(r.hc.parse_errors, 0);
	assert_int_equal(r.ntxn, 3);
	assert_int_equal(r.status[0], 200);
	assert_int_equal(r.status[1], 200);
	assert_int_equal(r.status[2], 404);
	assert_tail_is_404(&r, fx);       /* what follows the skipped record */
	result_free(&r);
	fixture_free(fx);
}

static void test_body_skip(void **st)
{
	(void)st;
	skip_case("tls13_aes256", true);
	skip_case("tls13_aes128", true);
	skip_case("tls12_aes128", true);
	skip_case("tls12_chacha", true);
	skip_case("tls13_chacha", false);
}

/*
 * A body record counted unread is passed over, not copied together (skim).
 * Split anywhere in it (its header, its last data byte and its tag each
 * fall on a chunk's edge), it counts as when it came whole; a gap inside it
 * loses that record alone, and so does a last byte (TLS 1.3's inner type)
 * that does not read application data: the 404 after it still decrypts.
 */
static void skim_run(const struct fixture *fx, const struct chunk *ch, size_t n, struct result *r)
{
	struct tls_session_sink sink;
	struct tls_secrets *sec = keylog_table(fx);
	result_init(r, sec, &sink);
	r->body_stretch = 1u << 20;           /* as skip_case: the record looks inside the body */
	struct tls_session *s = tls_session_new(0);
	http_stream_init(&r->http);
	feed_chunks(s, fx->conv[0]->bytes, ch, n, &sink);
	tls_session_free(s, &sink);
	http_stream_free(&r->http, &r->hsink);
	tls_secrets_free(sec);
	assert_int_equal(r->cnt.undecryptable, 0);
	assert_int_equal(r->hc.parse_errors, 0);
	assert_int_equal(r->len[1] + r->lost[1], fx->exp_len[1]);
	assert_mem(r->plain[0], r->len[0], fx->exp[0], fx->exp_len[0]);
	assert_int_equal(r->ntxn, 3);
	assert_int_equal(r->status[2], 404);
	assert_tail_is_404(r, fx);
}

static void skim_case(const char *name, bool v13)
{
	struct fixture *fx = fixture_load(name);
	struct conv *c = fx->conv[0];
	size_t rlen, roff = record_holding(c, 1, c->len[1] - 3000, &rlen);
	static struct chunk ch[MAX_CHUNKS + 2];
	struct result r;

	assert_true(rlen >= TLS_AEAD_BULK + 64);
	for (size_t k = roff; k <= roff + rlen; k++) {
		if (k > roff + 32 && k < roff + rlen - 40 && (k - roff) % 97)
			continue;                  /* every edge, and a sample between */
		struct chunk sp[4];
		skim_run(fx, sp, split_at(c, k, sp), &r);
		assert_int_equal(r.cnt.tag_failures, 0);
		assert_int_equal(r.cnt.records_skipped, 1);
		assert_int_equal(r.lost[1], r.cnt.skipped_bytes);
		result_free(&r);
	}
	skim_run(fx, ch, with_gap(c, roff + rlen / 2, 100, ch), &r);
	assert_int_equal(r.cnt.tag_failures, 0);
	assert_int_equal(r.cnt.records_skipped, 0);
	assert_int_equal(r.cnt.records_lost, 1);
	assert_int_equal(r.cnt.desyncs, 0);
	result_free(&r);
	if (v13) {
		c->bytes[1][roff + rlen - TLS_AEAD_TAG - 1] ^= 0x55;
		skim_run(fx, c->ch, c->nch, &r);
		assert_int_equal(r.cnt.tag_failures, 1);
		assert_int_equal(r.cnt.records_skipped, 0);
		result_free(&r);
	}
	fixture_free(fx);
}

static void test_body_skim(void **st)
{
	(void)st;
	skim_case("tls13_aes256", true);
	skim_case("tls12_aes128", false);
	skim_case("tls12_chacha", false);
}

static void test_cut(void **st)
{
	(void)st;
	const char *names[] = { "tls13_aes256", "tls13_chacha", "tls12_aes128", "tls12_chacha" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cut_case(names[i], 1, 0, false, 0);
		cut_case(names[i], 3, 0, false, 0);
		cut_case(names[i], 2, 0, true, 0);
		cut_case(names[i], 1, 1, false, 0);
		/* the head record's first 1 KB kept (its headers are shorter) */
		cut_case(names[i], 1, 0, false, 1024);
		cut_case(names[i], 3, 0, true, 1024);
		cut_case(names[i], 2, 1, false, 1024);
	}
}

/*
 * Of a head record's kept start, AES-GCM deciphers only the pieces up to
 * where the body takes over (the fixtures' headers fit the first 512
 * bytes): keeping 1 KB or 2 KB of it delivers the same plaintext, the rest
 * counted with the cut bytes. ChaCha20 deciphers all it kept.
 */
static void test_cut_head_read_by_piece(void **st)
{
	(void)st;
	const char *aes[] = { "tls13_aes256", "tls12_aes128" };
	const char *chacha[] = { "tls13_chacha", "tls12_chacha" };

	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(cut_case(aes[i], 1, 0, false, 1024), cut_case(aes[i], 1, 0, false, 2048));
		assert_int_equal(cut_case(chacha[i], 1, 0, false, 2048) -
					 cut_case(chacha[i], 1, 0, false, 1024),
				 1024);
	}
}

/*
 * A run followed only by the start of the next response's head record (its
 * rest cut too, as the filter keeps the first 4 KB of a long head record):
 * the body record after the big response's head is cut, and of the 404's
 * record only the start passes. The first run is settled by its
 * arithmetic, the 404's start deciphered at the sequence number after it
 * (it must read "HTTP/1."), and the 404's tail settled at the end.
 */
static void cut_then_head(const char *name)
{
	struct fixture *fx = fixture_load(name);
	struct conv *c = fx->conv[0];
	size_t rlen, roff = record_holding(c, 1, c->len[1] - 3000, &rlen), hlen;
	size_t hoff = record_holding(c, 1, roff + rlen, &hlen);
	static struct conv tmp;
	static struct chunk ch[MAX_CHUNKS + 8];

	tmp = *c;
	tmp.nch = with_gap(c, roff, rlen, tmp.ch);
	size_t n = with_gap(&tmp, hoff + hlen - 40, 40, ch);
	for (size_t i = 0; i < n; i++)
		ch[i].cut = ch[i].gap;

	struct tls_secrets *sec = keylog_table(fx);
	struct result r;
	struct tls_session_sink sink;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	http_stream_init(&r.http);
	feed_chunks(s, c->bytes, ch, n, &sink);
	tls_session_free(s, &sink);
	http_stream_free(&r.http, &r.hsink);
	assert_int_equal(r.cnt.undecryptable + r.cnt.tag_failures + r.cnt.cut_unframed, 0);
	assert_int_equal(r.cnt.desyncs + r.cnt.resyncs + r.cnt.records_lost, 0);
	assert_int_equal(r.cut_failed, 0);
	assert_int_equal(r.cnt.records_cut, 1);
	assert_int_equal(r.hc.gaps + r.hc.parse_errors, 0);
	assert_int_equal(r.len[1] + r.lost[1], fx->exp_len[1]);
	assert_int_equal(r.ntxn, 3);
	assert_int_equal(r.status[2], 404);
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

static void test_cut_then_head(void **st)
{
	(void)st;
	cut_then_head("tls13_aes256");
	cut_then_head("tls13_chacha");
	cut_then_head("tls12_aes128");
	cut_then_head("tls12_chacha");
}

/* A cut inside a record header (framing the kernel never makes) is not a
 * clean run: counted, called off, handled as lost bytes. */
static void test_cut_unaligned(void **st)
{
	(void)st;
	struct fixture *fx = fixture_load("tls13_aes256");
	struct conv *c = fx->conv[0];
	size_t rlen, roff = record_holding(c, 1, c->len[1] - 3000, &rlen);
	static struct chunk ch[MAX_CHUNKS + 2];
	size_t n = with_gap(c, roff + 2, rlen - 2, ch);

	for (size_t i = 0; i < n; i++)
		ch[i].cut = ch[i].gap;
	struct tls_secrets *sec = keylog_table(fx);
	struct result r;
	struct tls_session_sink sink;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	http_stream_init(&r.http);
	feed_chunks(s, c->bytes, ch, n, &sink);
	tls_session_free(s, &sink);
	http_stream_free(&r.http, &r.hsink);
	assert_int_equal(r.cnt.cut_unframed, 1);
	assert_int_equal(r.cut_failed, 1);
	assert_int_equal(r.cnt.records_cut, 0);
	assert_int_equal(r.cnt.records_lost, 1);
	assert_int_equal(r.len[1] + r.lost[1], fx->exp_len[1]);
	assert_int_equal(r.ntxn, 3);
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

/* Offset of the chosen suite (and version) in the ServerHello record. */
static size_t sh_suite_off(const struct conv *c)
{
	const uint8_t *b = c->bytes[1];
	assert_int_equal(b[0], 22);
	assert_int_equal(b[5], 2);
	return 5 + 4 + 2 + 32 + 1 + b[5 + 4 + 2 + 32];
}

static void unsupported(const char *name, size_t off_from_suite, uint16_t val, const char *reason)
{
	struct fixture *fx = fixture_load(name);
	struct conv *c = fx->conv[0];
	size_t off = off_from_suite == 1 ? 9 : sh_suite_off(c);
	c->bytes[1][off] = (uint8_t)(val >> 8);
	c->bytes[1][off + 1] = (uint8_t)val;
	struct result r;
	struct tls_session_sink sink;
	struct tls_secrets *sec = keylog_table(fx);
	result_init(&r, sec, &sink);
	run_conv(c, &r, &sink, 0);
	assert_int_equal(r.cnt.undecryptable, 1);
	assert_string_equal(r.info[0].reason, reason);
	assert_int_equal(r.len[0] + r.len[1], 0);
	result_free(&r);
	tls_secrets_free(sec);
	fixture_free(fx);
}

static void test_unsupported(void **st)
{
	(void)st;
	unsupported("tls13_aes128", 0, 0x1304, "suite 0x1304 unsupported");     /* AES-128-CCM */
	unsupported("tls12_aes128", 0, 0xc013, "suite 0xc013 unsupported");     /* CBC */
	unsupported("tls12_aes128", 1, 0x0302, "version 0x0302 unsupported");   /* TLS 1.1 */
}

/* Not TLS at all (an HTTP request on the TLS port): named, counted. */
static void test_not_tls(void **st)
{
	(void)st;
	static const char REQ[] = "GET / HTTP/1.1\r\n\r\n";
	struct tls_secrets *sec = tls_secrets_new(4, 1000);
	struct result r;
	struct tls_session_sink sink;
	struct tls_session_info info;
	result_init(&r, sec, &sink);
	struct tls_session *s = tls_session_new(0);
	tls_session_feed(s, 0, (const uint8_t *)REQ, strlen(REQ), 1, &sink);
	assert_true(tls_session_dead(s));
	tls_session_get_info(s, &info);
	assert_string_equal(info.reason, "not a TLS record");
	tls_session_free(s, &sink);
	assert_int_equal(r.cnt.undecryptable, 1);
	tls_secrets_free(sec);
}

/*
 * TLS 1.3 secrets filed as the EVP_KDF_derive probe will file them: by the
 * transcript hash of ClientHello..ServerHello (RFC 8446 4.4.1, with
 * message_hash(ClientHello1) after a HelloRetryRequest), computed here
 * independently from the captured hellos. The session must find them
 * without any client_random entry.
 */
static const uint8_t *hs_msg(const uint8_t *b, size_t len, uint8_t type, int nth, size_t *mlen)
{
	/* each hello fits one plaintext record in these captures */
	for (size_t i = 0; i + 9 <= len; i += 5 + (size_t)(b[i + 3] << 8 | b[i + 4]))
		if (b[i] == 22 && b[i + 5] == type && nth-- == 0) {
			*mlen = 4 + ((size_t)b[i + 6] << 16 | (size_t)b[i + 7] << 8 | b[i + 8]);
			return b + i + 5;
		}
	return NULL;
}

static void transcript_keyed(const char *name, bool hrr)
{
	struct fixture *fx = fixture_load(name);
	const struct conv *c = fx->conv[0];
	size_t chl, shl, ch2l = 0, hrrl = 0;
	const uint8_t *ch = hs_msg(c->bytes[0], c->len[0], 1, 0, &chl);
	const uint8_t *sh = hs_msg(c->bytes[1], c->len[1], 2, hrr, &shl);
	const uint8_t *ch2 = hrr ? hs_msg(c->bytes[0], c->len[0], 1, 1, &ch2l) : NULL;
	const uint8_t *hrrm = hrr ? hs_msg(c->bytes[1], c->len[1], 2, 0, &hrrl) : NULL;
	assert_true(ch && sh && (!hrr || (ch2 && hrrm)));
	uint8_t th[48], mh[4 + 48] = { 254, 0, 0, 48 };
	unsigned thl;
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	assert_true(EVP_DigestInit_ex(mc, EVP_sha384(), NULL));      /* both captures: AES-256-GCM */
	if (hrr) {
		assert_true(EVP_Digest(ch, chl, mh + 4, &thl, EVP_sha384(), NULL));
		assert_true(EVP_DigestUpdate(mc, mh, sizeof(mh)) && EVP_DigestUpdate(mc, hrrm, hrrl) &&
			    EVP_DigestUpdate(mc, ch2, ch2l));
	} else {
		assert_true(EVP_DigestUpdate(mc, ch, chl));
	}
	assert_true(EVP_DigestUpdate(mc, sh, shl) && EVP_DigestFinal_ex(mc, th, &thl));
	EVP_MD_CTX_free(mc);

	/* re-file the key log's secrets under the transcript hash */
	struct tls_secrets *kl = keylog_table(fx);
	struct tls_secret_set set = { 0 };
	assert_int_equal(tls_secrets_take(kl, TLS_ID_CLIENT_RANDOM, ch + 6, 32, TLS_SECRETS_13, &set),
			 TLS_SECRETS_13);
	struct tls_secrets *sec = tls_secrets_new(8, 1000);
	for (enum tls_secret_kind k = TLS_SECRET_CLIENT_HS; k <= TLS_SECRET_SERVER_AP; k++)
		assert_int_equal(tls_secrets_add(sec, TLS_ID_TRANSCRIPT, th, thl, k,
						 set.val[k], set.len[k], 0), 0);
	tls_secret_set_wipe(&set);

	struct result r;
	struct tls_session_sink sink;
	result_init(&r, sec, &sink);
	run_conv(c, &r, &sink, 0);
	assert_mem(r.plain[0], r.len[0], fx->exp[0], fx->exp_len[0]);
	assert_mem(r.plain[1], r.len[1], fx->exp[1], fx->exp_len[1]);
	assert_int_equal(tls_secrets_count(sec), 0);
	result_free(&r);
	tls_secrets_free(sec);
	tls_secrets_free(kl);
	fixture_free(fx);
}

static void test_transcript_keyed(void **st)
{
	(void)st;
	transcript_keyed("tls13_aes256", false);
	transcript_keyed("tls13_hrr", true);
}

/* ---------------------------------------------------------- secrets table */

static void test_secrets_table(void **st)
{
	(void)st;
	uint8_t id[32], id2[32], sec[48];
	struct tls_secrets_stats ss;
	struct tls_secret_set set = { 0 };
	memset(id, 1, sizeof(id));
	memset(id2, 2, sizeof(id2));
	memset(sec, 0xab, sizeof(sec));

	struct tls_secrets *t = tls_secrets_new(2, 100);
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRET_CLIENT_HS, sec, 32, 0), 0);
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRET_SERVER_HS, sec, 32, 0), 0);
	assert_int_equal(tls_secrets_add(t, TLS_ID_TRANSCRIPT, id, 32, TLS_SECRET_MASTER, sec, 48, 0), 0);
	/* full: a third connection is refused and counted */
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id2, 32, TLS_SECRET_MASTER, sec, 48, 50),
			 -ENOSPC);
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id, 0, TLS_SECRET_MASTER, sec, 48, 0), -EINVAL);
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRET_MASTER, sec, 49, 0), -EINVAL);
	/* partial: copied out, the entry stays for the rest */
	assert_int_equal(tls_secrets_take(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRETS_13, &set),
			 TLS_SECRET_BIT(TLS_SECRET_CLIENT_HS) | TLS_SECRET_BIT(TLS_SECRET_SERVER_HS));
	assert_int_equal(tls_secrets_count(t), 2);
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRET_CLIENT_AP, sec, 32, 1), 0);
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRET_SERVER_AP, sec, 32, 1), 0);
	/* complete: handed over and removed */
	assert_int_equal(tls_secrets_take(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRETS_13, &set), TLS_SECRETS_13);
	assert_int_equal(tls_secrets_count(t), 1);
	assert_memory_equal(set.val[TLS_SECRET_SERVER_AP], sec, 32);
	tls_secret_set_wipe(&set);
	assert_int_equal(set.have, 0);
	/* expiry: the transcript entry, 200 ns later */
	tls_secrets_expire(t, 200);
	assert_int_equal(tls_secrets_count(t), 0);
	tls_secrets_get_stats(t, &ss);
	assert_int_equal(ss.full, 1);
	assert_int_equal(ss.expired, 1);
	assert_int_equal(ss.used, 1);
	/* a full table makes room by expiring old entries first */
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id, 32, TLS_SECRET_MASTER, sec, 48, 1000), 0);
	assert_int_equal(tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, id2, 32, TLS_SECRET_MASTER, sec, 48, 1000), 0);
	assert_int_equal(tls_secrets_add(t, TLS_ID_TRANSCRIPT, id2, 32, TLS_SECRET_MASTER, sec, 48, 1050), -ENOSPC);
	assert_int_equal(tls_secrets_add(t, TLS_ID_TRANSCRIPT, id2, 32, TLS_SECRET_MASTER, sec, 48, 1200), 0);
	tls_secrets_free(t);
}

static void test_keylog_parse(void **st)
{
	(void)st;
	static const char LOG[] =
		"# SSL/TLS secrets log file\n"
		"CLIENT_RANDOM 0101010101010101010101010101010101010101010101010101010101010101 "
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
		"EXPORTER_SECRET 0101010101010101010101010101010101010101010101010101010101010101 00\n"
		"CLIENT_TRAFFIC_SECRET_0 0202020202020202020202020202020202020202020202020202020202020202 "
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
		"CLIENT_RANDOM 0101 aa\n"                        /* short random */
		"CLIENT_RANDOM 01010101010101010101010101010101010101010101010101010101010101zz aa\n"
		"SERVER_TRAFFIC_SECRET_0 0202020202020202020202020202020202020202020202020202020202020202 b\n"
		"\n"
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET 0202020202020202020202020202020202020202020202020202020202020202 "
		"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"; /* no final newline */
	struct tls_secrets *t = tls_secrets_new(8, 1000);
	size_t bad;
	assert_int_equal(tls_keylog_parse(t, LOG, strlen(LOG), 0, &bad), 3);
	assert_int_equal(bad, 3);
	uint8_t cr[32];
	struct tls_secret_set set = { 0 };
	memset(cr, 1, 32);
	assert_int_equal(tls_secrets_take(t, TLS_ID_CLIENT_RANDOM, cr, 32, TLS_SECRETS_12, &set), TLS_SECRETS_12);
	assert_int_equal(set.len[TLS_SECRET_MASTER], 48);
	assert_int_equal(set.val[TLS_SECRET_MASTER][47], 0xaa);
	memset(cr, 2, 32);
	memset(&set, 0, sizeof(set));
	assert_int_equal(tls_secrets_take(t, TLS_ID_CLIENT_RANDOM, cr, 32, TLS_SECRETS_13, &set),
			 TLS_SECRET_BIT(TLS_SECRET_CLIENT_AP) | TLS_SECRET_BIT(TLS_SECRET_CLIENT_HS));
	assert_int_equal(set.val[TLS_SECRET_CLIENT_HS][31], 0xcc);
	tls_secrets_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets_table),
		cmocka_unit_test(test_keylog_parse),
		cmocka_unit_test(test_tls13_aes256),
		cmocka_unit_test(test_tls13_chacha),
		cmocka_unit_test(test_tls13_aes128),
		cmocka_unit_test(test_tls13_hrr),
		cmocka_unit_test(test_tls13_resume),
		cmocka_unit_test(test_tls13_keyupdate),
		cmocka_unit_test(test_tls12_aes256),
		cmocka_unit_test(test_tls12_aes128),
		cmocka_unit_test(test_tls12_chacha),
		cmocka_unit_test(test_tls12_resume),
		cmocka_unit_test(test_shared_crypto),
		cmocka_unit_test(test_transcript_keyed),
		cmocka_unit_test(test_split_tls13),
		cmocka_unit_test(test_split_tls12),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_corrupt_byte),
		cmocka_unit_test(test_corrupt_handshake),
		cmocka_unit_test(test_keys_late),
		cmocka_unit_test(test_keys_never),
		cmocka_unit_test(test_no_hello_reason),
		cmocka_unit_test(test_client_key_late),
		cmocka_unit_test(test_wait_overflow),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_body_skip),
		cmocka_unit_test(test_body_skim),
		cmocka_unit_test(test_cut_head_read_by_piece),
		cmocka_unit_test(test_cut_then_head),
		cmocka_unit_test(test_cut_unaligned),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_not_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
