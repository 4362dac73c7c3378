// SPDX-License-Identifier: MIT
/* collector: hand-built IPv4/IPv6 packets through reassembly, pairing and
 * aggregation to a snapshot; junk on one connection never touches another;
 * the endpoint cap folds the excess into OTHER. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/agg.h"
#include "collector/collector.h"
#include "collector/pkt_decode.h"
#include "peer_text.h"

struct flow {
	int family;
	uint16_t cport, sport;
	uint32_t cseq, sseq;
};

static size_t build(uint8_t *pkt, const struct flow *f, int to_server, uint8_t flags,
		    const void *data, size_t len)
{
	size_t ip = f->family == 4 ? 20 : 40;
	uint8_t *t = pkt + ip;
	memset(pkt, 0, ip + 20);
	if (f->family == 4) {
		pkt[0] = 0x45;
		pkt[2] = (uint8_t)((ip + 20 + len) >> 8);
		pkt[3] = (uint8_t)(ip + 20 + len);
		pkt[9] = 6;
		pkt[12] = 127, pkt[15] = to_server ? 2 : 1;
		pkt[16] = 127, pkt[19] = to_server ? 1 : 2;
	} else {
		pkt[0] = 0x60;
		pkt[4] = (uint8_t)((20 + len) >> 8);
		pkt[5] = (uint8_t)(20 + len);
		pkt[6] = 6;
		pkt[8 + 15] = to_server ? 2 : 1;
		pkt[24 + 15] = to_server ? 1 : 2;
	}
	uint16_t sp = to_server ? f->cport : f->sport, dp = to_server ? f->sport : f->cport;
	uint32_t seq = to_server ? f->cseq : f->sseq;
	t[0] = (uint8_t)(sp >> 8), t[1] = (uint8_t)sp;
	t[2] = (uint8_t)(dp >> 8), t[3] = (uint8_t)dp;
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
	t[12] = 5 << 4;
	t[13] = flags;
	if (len)
		memcpy(t + 20, data, len);
	return ip + 20 + len;
}

static void send_seg(struct collector *c, struct flow *f, int to_server, uint8_t flags,
		     const char *data, uint64_t ts)
{
	uint8_t pkt[2048];
	size_t len = data ? strlen(data) : 0;
	size_t n = build(pkt, f, to_server, flags, data, len);
	collector_packet(c, ts, pkt, (uint32_t)n, (uint32_t)n);
	uint32_t adv = (uint32_t)len + ((flags & (TCPF_SYN | TCPF_FIN)) ? 1 : 0);
	if (to_server)
		f->cseq += adv;
	else
		f->sseq += adv;
}

static void handshake(struct collector *c, struct flow *f, uint64_t ts)
{
	send_seg(c, f, 1, TCPF_SYN, NULL, ts);
	send_seg(c, f, 0, TCPF_SYN | TCPF_ACK, NULL, ts);
}

static const struct ep_stats *find(const struct snapshot *s, const char *m, const char *r)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->eps[i].method, m) && !strcmp(s->eps[i].route, r))
			return &s->eps[i];
	return NULL;
}

static const uint16_t PORTS[] = { 8080 };
#define MS 1000000ull

/* n payload bytes of body; cut: only the headers captured, as the socket
 * filter hands over a segment it cut. */
static void send_body(struct collector *c, struct flow *f, int to_server, size_t n, bool cut,
		      uint64_t ts)
{
	uint8_t pkt[2048], data[1400];
	memset(data, 'b', sizeof(data));
	assert_true(n <= sizeof(data));
	size_t len = build(pkt, f, to_server, TCPF_ACK, data, n);
	collector_packet(c, ts, pkt, (uint32_t)(cut ? len - n : len), (uint32_t)len);
	if (to_server)
		f->cseq += (uint32_t)n;
	else
		f->sseq += (uint32_t)n;
}

struct skips_told {
	unsigned n;
	uint32_t until;
};

static void note_skip(void *ctx, int family, const uint8_t *saddr, const uint8_t *daddr,
		      uint16_t sport, uint16_t dport, uint32_t until)
{
	struct skips_told *t = ctx;
	(void)family, (void)saddr, (void)daddr, (void)sport, (void)dport;
	t->n++;
	t->until = until;
}

/*
 * A response body the kernel cuts by itself (its next segment came with no
 * payload) is not told again; one whose next segment came whole is told
 * once, where the body ends; so is one the kernel stops cutting halfway
 * (it drops its guess at what looks like a response inside the body).
 * Every body is counted to the byte either way.
 */
static void test_response_skips_told_once(void **state)
{
	(void)state;
	struct skips_told told = { 0 };
	struct collector_config cfg = { .skip = note_skip, .skip_ctx = &told, .skip_min = 1000 };
	struct collector *c = collector_new(&cfg);
	const char *req = "GET /dl HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
	/* per case: which of the 5 body segments of 1000 bytes come cut */
	static const bool cut[3][5] = {
		{ true, true, true, true, true },      /* the kernel had it */
		{ false, true, true, true, true },     /* it missed it */
		{ true, true, false, false, true },    /* it dropped it halfway */
	};
	static const unsigned want_told[3] = { 0, 1, 1 };

	collector_set_ports(c, PORTS, 1);
	for (int k = 0; k < 3; k++) {
		struct flow f = { 4, (uint16_t)(41000 + k), 8080, 1000, 5000 };
		handshake(c, &f, 1 * MS);
		send_seg(c, &f, 1, TCPF_ACK | TCPF_PSH, req, 10 * MS);
		send_seg(c, &f, 0, TCPF_ACK | TCPF_PSH, head, 11 * MS);
		uint32_t body = f.sseq;
		told.n = 0;
		for (int i = 0; i < 5; i++)
			send_body(c, &f, 0, 1000, cut[k][i], 12 * MS);
		assert_int_equal(told.n, want_told[k]);
		if (want_told[k])
			assert_int_equal(told.until, body + 5000);
	}
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	const struct ep_stats *e = find(s, "GET", "/dl");
	assert_non_null(e);
	assert_int_equal(e->requests, 3);
	assert_int_equal(e->status[1], 3);
	assert_int_equal(e->bytes_out, 3 * (strlen(head) + 5000));
	snapshot_free(s);
	collector_free(c);
}

static void test_exchange_v4_and_v6(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const char *req = "GET /users/17?token=x HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop";

	collector_set_ports(c, PORTS, 1);
	for (int fam = 4; fam <= 6; fam += 2) {
		struct flow f = { fam, (uint16_t)(40000 + fam), 8080, 1000, 0xfffffff0u };
		handshake(c, &f, 1 * MS);
		send_seg(c, &f, 1, TCPF_ACK | TCPF_PSH, req, 10 * MS);
		send_seg(c, &f, 0, TCPF_ACK | TCPF_PSH, resp, 13 * MS);
		send_seg(c, &f, 1, TCPF_ACK | TCPF_FIN, NULL, 14 * MS);
		send_seg(c, &f, 0, TCPF_ACK | TCPF_FIN, NULL, 14 * MS);
	}
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	const struct ep_stats *e = find(s, "GET", "/users/{id}");
	assert_non_null(e);
	assert_int_equal(s->n, 1);
	assert_int_equal(e->requests, 2);
	assert_int_equal(e->status[3], 2);
	assert_int_equal(e->bytes_in, 2 * strlen(req));
	assert_int_equal(e->bytes_out, 2 * strlen(resp));
	assert_int_equal(e->lat_max_us, 3000);
	assert_int_equal(hist_percentile(&e->lat, 0.5), 3000);
	assert_int_equal(s->c.conns_new, 2);
	assert_int_equal(s->c.parse_errors, 0);
	assert_ptr_equal(snapshot_fold_hosts(s), s);   /* one host: nothing to fold, no copy */
	snapshot_free(s);
	collector_expire(c, 10000 * MS);
	s = collector_snapshot(c, 1000, 1000);
	assert_int_equal(s->n, 0);
	assert_int_equal(s->c.conns_open, 0);
	snapshot_free(s);
	collector_free(c);
}

/*
 * collector_expire() gives a hole up once it has waited past the limit
 * (1 s), not before; it skips the walk only when nothing waits anywhere.
 */
static void test_expire_gives_up_stale_hole(void **state)
{
	(void)state;
	struct collector_config cfg = { .idle_timeout_s = 60 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 42000, 8080, 1000, 5000 };
	struct flow g = { 4, 42001, 8080, 1000, 5000 };
	struct snapshot *s;

	collector_set_ports(c, PORTS, 1);
	handshake(c, &g, 1 * MS);                /* a connection without holes */
	handshake(c, &f, 1 * MS);
	send_seg(c, &f, 1, TCPF_ACK | TCPF_PSH, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n", 2 * MS);
	f.sseq += 10;                            /* ten bytes never seen: the rest waits */
	send_seg(c, &f, 0, TCPF_ACK | TCPF_PSH, "tail", 3 * MS);
	collector_expire(c, 500 * MS);
	s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->c.reasm_gaps, 0);
	snapshot_free(s);
	collector_expire(c, 2000 * MS);
	s = collector_snapshot(c, 1000, 1000);
	assert_true(s->c.reasm_gaps > 0);
	assert_int_equal(s->c.conns_open, 2);
	snapshot_free(s);
	collector_expire(c, 3000 * MS);          /* nothing waits now: counted once */
	s = collector_snapshot(c, 2000, 1000);
	assert_int_equal(s->c.reasm_gaps, 0);
	snapshot_free(s);
	collector_free(c);
}

/*
 * conns_open is kept as connections close and go (not counted by walking
 * them): three open, one reset, one closed by FINs both ways, one left
 * open; then all expired.
 */
static void test_conns_open(void **state)
{
	(void)state;
	struct collector_config cfg = { .idle_timeout_s = 5 };
	struct collector *c = collector_new(&cfg);
	const char *req = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	collector_set_ports(c, PORTS, 1);
	for (uint16_t i = 0; i < 3; i++) {
		struct flow f = { 4, (uint16_t)(41000 + i), 8080, 1000, 5000 };
		handshake(c, &f, 1 * MS);
		send_seg(c, &f, 1, TCPF_ACK | TCPF_PSH, req, 2 * MS);
		send_seg(c, &f, 0, TCPF_ACK | TCPF_PSH, resp, 3 * MS);
		if (i == 0) {
			send_seg(c, &f, 1, TCPF_RST, NULL, 4 * MS);
			send_seg(c, &f, 1, TCPF_RST, NULL, 5 * MS);   /* a second end counts once */
		} else if (i == 1) {
			send_seg(c, &f, 1, TCPF_ACK | TCPF_FIN, NULL, 4 * MS);
			send_seg(c, &f, 0, TCPF_ACK | TCPF_FIN, NULL, 4 * MS);
		}
	}
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->c.conns_new, 3);
	assert_int_equal(s->c.conns_open, 1);
	snapshot_free(s);
	collector_expire(c, 10000 * MS);
	assert_int_equal(collector_conns(c), 0);
	s = collector_snapshot(c, 1000, 1000);
	assert_int_equal(s->c.conns_open, 0);
	snapshot_free(s);
	collector_free(c);
}

/*
 * collector_prefetch() is a hint: 40 connections' requests and responses,
 * each batch of them hinted first (more than COLLECTOR_PREFETCH_MAX at a
 * time, a truncated packet and an unwatched port among them), then fed, give the same snapshot as the same packets fed
 * alone; collector_conns() counts what is open.
 */
static void feed_batched(struct collector *c, bool hint)
{
	enum { CONNS = 40 };
	static uint8_t pkt[CONNS + 2][256];
	struct collector_pkt cp[CONNS + 2];
	struct flow f[CONNS];
	const char *req = "GET /p/1 HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	for (int i = 0; i < CONNS; i++) {
		f[i] = (struct flow){ 4, (uint16_t)(30000 + i), 8080, 100u * i, 7000u * i };
		handshake(c, &f[i], 1 * MS);
	}
	for (int dir = 1; dir >= 0; dir--) {
		for (int i = 0; i < CONNS; i++) {
			size_t n = build(pkt[i], &f[i], dir, TCPF_ACK | TCPF_PSH, dir ? req : resp,
					 strlen(dir ? req : resp));
			cp[i] = (struct collector_pkt){ .l3 = pkt[i], .caplen = (uint32_t)n,
							.wirelen = (uint32_t)n };
		}
		cp[CONNS] = (struct collector_pkt){ .l3 = pkt[0], .caplen = 10, .wirelen = 60 };
		struct flow other = { 4, 5555, 9999, 1, 1 };
		size_t n = build(pkt[CONNS + 1], &other, 1, TCPF_ACK, NULL, 0);
		cp[CONNS + 1] = (struct collector_pkt){ .l3 = pkt[CONNS + 1], .caplen = (uint32_t)n,
							.wirelen = (uint32_t)n };
		if (hint) {
			collector_prefetch(c, cp, CONNS + 2);
			collector_prefetch(c, cp + CONNS - 3, 5);
		}
		for (int i = 0; i < CONNS; i++) {
			collector_packet(c, (dir ? 10 : 12) * MS, cp[i].l3, cp[i].caplen, cp[i].wirelen);
			if (dir)
				f[i].cseq += (uint32_t)strlen(req);
			else
				f[i].sseq += (uint32_t)strlen(resp);
		}
	}
	assert_int_equal(collector_conns(c), CONNS);
}

static void test_prefetch_changes_nothing(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct snapshot *s[2];

	for (int hint = 0; hint <= 1; hint++) {
		struct collector *c = collector_new(&cfg);
		collector_set_ports(c, PORTS, 1);
		assert_int_equal(collector_conns(c), 0);
		feed_batched(c, hint);
		s[hint] = collector_snapshot(c, 0, 1000);
		collector_free(c);
	}
	assert_int_equal(s[0]->n, 1);
	assert_int_equal(s[1]->n, 1);
	assert_int_equal(s[1]->eps[0].requests, 40);
	assert_int_equal(s[0]->eps[0].requests, s[1]->eps[0].requests);
	assert_int_equal(s[0]->eps[0].bytes_in, s[1]->eps[0].bytes_in);
	assert_int_equal(s[0]->eps[0].bytes_out, s[1]->eps[0].bytes_out);
	assert_int_equal(s[0]->eps[0].lat_max_us, 2000);
	assert_int_equal(s[1]->eps[0].lat_max_us, 2000);
	assert_int_equal(s[0]->c.conns_new, s[1]->c.conns_new);
	assert_int_equal(s[0]->c.parse_errors + s[1]->c.parse_errors, 0);
	snapshot_free(s[0]);
	snapshot_free(s[1]);
}

static void test_junk_isolated_and_unwatched_ports_ignored(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	struct flow bad = { 4, 50000, 8080, 1, 1 }, good = { 4, 50001, 8080, 1, 1 };
	struct flow other = { 4, 50002, 9999, 1, 1 };

	collector_set_ports(c, PORTS, 1);
	handshake(c, &bad, MS);
	handshake(c, &good, MS);
	handshake(c, &other, MS);
	send_seg(c, &bad, 1, TCPF_ACK, "\x01\x02 garbage \xff\xfe", 2 * MS);
	send_seg(c, &good, 1, TCPF_ACK, "GET /ok HTTP/1.1\r\n\r\n", 2 * MS);
	send_seg(c, &other, 1, TCPF_ACK, "GET /no HTTP/1.1\r\n\r\n", 2 * MS);
	send_seg(c, &bad, 0, TCPF_ACK, "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n", 3 * MS);
	send_seg(c, &good, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->n, 1);
	assert_non_null(find(s, "GET", "/ok"));
	assert_int_equal(s->c.parse_errors, 1);
	snapshot_free(s);
	collector_free(c);
}

/* A connection open before l7top started joins at the next request line. */
static void test_midstream_join(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 50010, 8080, 777, 999 };

	collector_set_ports(c, PORTS, 1);
	send_seg(c, &f, 0, TCPF_ACK, "tail of an old response body", MS);
	send_seg(c, &f, 1, TCPF_ACK, "GET /late HTTP/1.1\r\n\r\n", 2 * MS);
	send_seg(c, &f, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_non_null(find(s, "GET", "/late"));
	assert_int_equal(s->c.parse_errors, 0);
	snapshot_free(s);
	collector_free(c);
}

/* A client gone before its ClientHello sends a TLS alert in the clear
 * (wrk stopped mid-connect): no HTTP in it, so no parse error. */
static void test_tls_alert_first_not_http(void **state)
{
	(void)state;
	static const uint8_t alert[] = { 0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00 };
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	struct flow gone = { 4, 50020, 8080, 5, 9 }, good = { 4, 50021, 8080, 7, 11 };
	uint8_t pkt[256];

	collector_set_ports(c, PORTS, 1);
	handshake(c, &gone, MS);
	handshake(c, &good, MS);
	size_t n = build(pkt, &gone, 1, TCPF_ACK, (const char *)alert, sizeof(alert));
	collector_packet(c, 2 * MS, pkt, (uint32_t)n, (uint32_t)n);
	gone.cseq += sizeof(alert);
	send_seg(c, &gone, 1, TCPF_FIN | TCPF_ACK, NULL, 2 * MS);
	send_seg(c, &good, 1, TCPF_ACK, "GET /ok HTTP/1.1\r\n\r\n", 2 * MS);
	send_seg(c, &good, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->n, 1);
	assert_non_null(find(s, "GET", "/ok"));
	assert_int_equal(s->c.parse_errors, 0);
	assert_int_equal(s->c.unpaired, 0);
	snapshot_free(s);
	collector_free(c);
}

static void test_endpoint_cap_folds_into_other(void **state)
{
	(void)state;
	struct collector_config cfg = { .max_endpoints = 3 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 50020, 8080, 5, 5 };
	char req[64];

	collector_set_ports(c, PORTS, 1);
	handshake(c, &f, MS);
	for (int i = 0; i < 10; i++) {
		snprintf(req, sizeof(req), "GET /page%c HTTP/1.1\r\n\r\n", 'a' + i);
		send_seg(c, &f, 1, TCPF_ACK, req, 2 * MS);
		send_seg(c, &f, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3 * MS);
	}
	/* /pagea../pagec took free rows; each later page took the row of least
	 * rank and pushed its counts into OTHER. The last three took rows from
	 * others and have one request each: held back, not shown. */
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	const struct ep_stats *o = find(s, AGG_OTHER_METHOD, AGG_OTHER_ROUTE);
	assert_int_equal(s->n, 1);
	assert_non_null(o);
	assert_int_equal(o->requests, 7);
	assert_int_equal(s->c.ep_overflow, 7);
	snapshot_free(s);
	/* Stopping settles them into OTHER: every request is in a snapshot. */
	collector_flush(c);
	s = collector_snapshot(c, 1000, 1000);
	o = find(s, AGG_OTHER_METHOD, AGG_OTHER_ROUTE);
	assert_int_equal(s->n, 1);
	assert_non_null(o);
	assert_int_equal(o->requests, 3);
	assert_int_equal(s->c.ep_overflow, 3);
	snapshot_free(s);
	collector_free(c);
}

/* With a large endpoint bound the route cache is big, its slots are
 * fetched when each request comes, and past a few hundred rows requests
 * are counted in batches: every endpoint still has its exact count and
 * latency, its route named as with the small defaults. */
static void test_many_endpoints_exact(void **state)
{
	(void)state;
	/* a fan-out-10 path tree: at most 10 values under a parent, which
	 * no learned fold merges */
	static const char *const w[10] = { "alpha", "bravo", "charlie", "delta", "echo",
					   "foxtrot", "golf", "hotel", "india", "juliet" };
	enum { EPS = 1000, EACH = 2 };
	struct collector_config cfg = { .max_endpoints = 10000 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 50040, 8080, 5, 5 };
	char req[128], route[64];

	assert_non_null(c);
	collector_set_ports(c, PORTS, 1);
	handshake(c, &f, MS);
	for (int r = 0; r < EACH; r++)
		for (int i = 0; i < EPS; i++) {
			uint64_t t = (uint64_t)(2 + 10 * (r * EPS + i)) * MS;
			snprintf(req, sizeof(req), "GET /ep/%s/%s/%s?page=%d HTTP/1.1\r\nHost: a\r\n\r\n",
				 w[i / 100], w[i / 10 % 10], w[i % 10], r);
			send_seg(c, &f, 1, TCPF_ACK, req, t);
			send_seg(c, &f, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
				 t + (uint64_t)(i % 7 + 1) * MS);
		}
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_non_null(s);
	assert_int_equal(s->n, EPS);
	for (int i = 0; i < EPS; i++) {
		snprintf(route, sizeof(route), "/ep/%s/%s/%s", w[i / 100], w[i / 10 % 10], w[i % 10]);
		const struct ep_stats *e = find(s, "GET", route);
		assert_non_null(e);
		assert_int_equal(e->requests, EACH);
		assert_int_equal(e->status[1], EACH);
		assert_int_equal(e->lat_max_us, (uint64_t)(i % 7 + 1) * 1000);
	}
	assert_int_equal(s->c.unpaired, 0);
	snapshot_free(s);
	collector_free(c);
}

/* The mix of issue 18: slugs, names and SKUs, plus a route with an id. */
static void feed_mix(struct collector *c)
{
	struct flow f = { 4, 50030, 8080, 5, 5 };
	char req[96];

	collector_set_ports(c, PORTS, 1);
	handshake(c, &f, MS);
	for (int i = 0; i < 30; i++) {
		const char *const prefix[] = { "/blog/my-post-", "/u/user", "/products/SKU-" };
		for (int k = 0; k < 3; k++) {
			snprintf(req, sizeof(req), "GET %s%d HTTP/1.1\r\n\r\n", prefix[k], 1000 + i);
			send_seg(c, &f, 1, TCPF_ACK, req, 2 * MS);
			send_seg(c, &f, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
				 3 * MS);
		}
	}
	send_seg(c, &f, 1, TCPF_ACK, "GET /api/items/42 HTTP/1.1\r\n\r\n", 2 * MS);
	send_seg(c, &f, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3 * MS);
}

/* Learned folding: the first run learns the three templates (reported in
 * a snapshot, for the DB); a second run that starts with them gives one row
 * per template, and user patterns come before any folding. */
static void test_learned_folds_and_patterns(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	feed_mix(c);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->nfolds, 3);
	assert_string_equal(s->folds[0], "/blog/");
	assert_string_equal(s->folds[1], "/u/");
	assert_string_equal(s->folds[2], "/products/");
	assert_int_equal(find(s, "GET", "/blog/{*}")->requests, 30 - 16);
	assert_int_equal(find(s, "GET", "/blog/my-post-1000")->requests, 1);
	snapshot_free(s);
	collector_free(c);

	c = collector_new(&cfg);
	assert_int_equal(collector_fold_add(c, "/blog/"), 0);
	assert_int_equal(collector_fold_add(c, "/u/"), 0);
	assert_int_equal(collector_fold_add(c, "/products/"), 0);
	feed_mix(c);
	s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->nfolds, 0);                /* known already: not told again */
	assert_int_equal(s->n, 4);
	assert_int_equal(find(s, "GET", "/blog/{*}")->requests, 30);
	assert_int_equal(find(s, "GET", "/u/{*}")->requests, 30);
	assert_int_equal(find(s, "GET", "/products/{*}")->requests, 30);
	assert_int_equal(find(s, "GET", "/api/items/{id}")->requests, 1);
	assert_string_equal(collector_fold(c, 1), "/u/");
	snapshot_free(s);
	collector_free(c);

	struct route_patterns *p = route_patterns_new();
	const char *why;
	assert_int_equal(route_patterns_add(p, "/u/{user}", &why), 0);
	assert_int_equal(route_patterns_add(p, "/products/SKU-{n}", &why), 0);
	assert_int_equal(route_patterns_add(p, "/api/*", &why), 0);
	cfg.routes = p;
	c = collector_new(&cfg);
	feed_mix(c);
	s = collector_snapshot(c, 0, 1000);
	assert_int_equal(find(s, "GET", "/u/{user}")->requests, 30);
	assert_int_equal(find(s, "GET", "/products/SKU-{n}")->requests, 30);
	assert_int_equal(find(s, "GET", "/api/*")->requests, 1);
	assert_int_equal(find(s, "GET", "/blog/{*}")->requests, 30 - 16);
	assert_int_equal(s->nfolds, 1);                /* only /blog/ was left to learn */
	snapshot_free(s);
	collector_free(c);
	route_patterns_free(p);
}

/* A target cached before its parent folded takes the fold when it comes
 * back: /blog/my-post-1000, first of 20 distinct posts, returns after the
 * 17th folded /blog/ (the route cache keeps the learner's fold count). */
static void test_cached_route_follows_learning(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 50031, 8080, 5, 5 };
	char req[96];

	collector_set_ports(c, PORTS, 1);
	handshake(c, &f, MS);
	for (int i = 0; i <= 20; i++) {
		snprintf(req, sizeof(req), "GET /blog/my-post-%d HTTP/1.1\r\n\r\n", 1000 + i % 20);
		send_seg(c, &f, 1, TCPF_ACK, req, 2 * MS);
		send_seg(c, &f, 0, TCPF_ACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3 * MS);
	}
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(find(s, "GET", "/blog/my-post-1000")->requests, 1);
	assert_int_equal(find(s, "GET", "/blog/{*}")->requests, 20 - 16 + 1);
	snapshot_free(s);
	collector_free(c);
}

/* Ciphertext on a watched port is left to the TLS path, not a parse error. */
static void test_tls_on_the_wire_is_set_aside(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 50030, 8080, 9, 9 };
	uint16_t tls[4];

	collector_set_ports(c, PORTS, 1);
	handshake(c, &f, MS);
	send_seg(c, &f, 1, TCPF_ACK, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 2 * MS);
	send_seg(c, &f, 0, TCPF_ACK, "\x16\x03\x03\x00\x7a\x02", 3 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->c.parse_errors, 0);
	assert_int_equal(s->n, 0);
	assert_int_equal(collector_tls_ports(c, tls, 4), 1);
	assert_int_equal(tls[0], 8080);
	snapshot_free(s);
	collector_free(c);
}

/* Plaintext from inside the process: no TCP, calls in order, capped. */
static void test_process_stream(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const char *req = "POST /api/items HTTP/1.1\r\nContent-Length: 20000\r\n\r\n";
	const char *resp = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
	static uint8_t call[20100];

	memcpy(call, req, strlen(req));
	uint32_t len = (uint32_t)strlen(req) + 20000;
	collector_stream_data(c, 42, 0xabc, 0, call, 4096, len, 5 * MS);
	collector_stream_data(c, 42, 0xabc, 1, (const uint8_t *)resp, (uint32_t)strlen(resp),
			      (uint32_t)strlen(resp), 9 * MS);
	collector_stream_close(c, 42, 0xabc, 10 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	const struct ep_stats *e = find(s, "POST", "/api/items");
	assert_non_null(e);
	assert_int_equal(e->requests, 1);
	assert_int_equal(e->bytes_in, len);
	assert_int_equal(e->status[1], 1);
	assert_int_equal(e->lat_max_us, 4000);
	assert_int_equal(s->c.conns_open, 0);
	assert_int_equal(s->c.unpaired + s->c.reasm_gaps, 0);
	snapshot_free(s);
	collector_free(c);
}

/* Hosts are a dimension; slow and failed requests reach the request log
 * without their query string; slowest requests and top clients are kept. */
static void test_hosts_request_log_and_detail(void **state)
{
	(void)state;
	struct collector_config cfg = { .slow_ms = 50, .max_reqs = 2 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 50040, 8080, 5, 5 };
	static const char *hosts[] = { "A.example:8080", "b.example", "a.example" };

	collector_set_ports(c, PORTS, 1);
	handshake(c, &f, MS);
	for (int i = 0; i < 3; i++) {
		char req[128];
		snprintf(req, sizeof(req), "GET /u/%d?secret=1 HTTP/1.1\r\nHost: %s\r\n\r\n", i, hosts[i]);
		send_seg(c, &f, 1, TCPF_ACK, req, (uint64_t)(10 + 100 * i) * MS);
		send_seg(c, &f, 0, TCPF_ACK, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
			 (uint64_t)(10 + 100 * i + 60 + i) * MS);
	}
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->eps[0].host, "a.example");
	assert_int_equal(s->eps[0].requests + s->eps[1].requests, 3);
	assert_int_equal(s->nreqs, 2);
	assert_int_equal(s->c.reqs_skipped, 1);
	assert_string_equal(s->reqs[0].path, "/u/0");
	assert_string_equal(s->reqs[0].route, "/u/{id}");
	assert_int_equal(s->reqs[0].s.status, 503);
	assert_string_equal(peer_str(&s->reqs[0].s.client), "127.0.0.2:50040");

	const struct ep_stats *a = !strcmp(s->eps[0].host, "a.example") ? &s->eps[0] : &s->eps[1];
	assert_int_equal(a->requests, 2);
	assert_int_equal(a->slowest[0].lat_us, 62000);
	assert_int_equal(a->slowest[1].lat_us, 60000);
	assert_int_equal(a->nslowest, 2);
	assert_string_equal(peer_str(&a->clients[0].addr), "127.0.0.2");
	assert_int_equal(a->clients[0].n, 2);

	struct snapshot *m = snapshot_fold_hosts(s);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->eps[0].requests, 3);
	assert_int_equal(m->eps[0].lat.count, 3);
	assert_int_equal(m->eps[0].slowest[0].lat_us, 62000);
	assert_int_equal(m->eps[0].clients[0].n, 3);
	snapshot_free(m);
	snapshot_free(s);
	collector_free(c);
}

/* The capture ring dropped one response segment on a keep-alive
 * connection: once the hole is given up, the later exchanges pair with the
 * right requests again, and the loss is counted, not spread. */
static void test_lost_response_resyncs_by_time(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	struct flow f = { 4, 50050, 8080, 100, 200 };
	char req[64], resp[96];

	collector_set_ports(c, PORTS, 1);
	handshake(c, &f, MS);
	for (int i = 0; i < 10; i++) {
		snprintf(req, sizeof(req), "GET /r%c HTTP/1.1\r\n\r\n", 'a' + i);
		send_seg(c, &f, 1, TCPF_ACK, req, (uint64_t)(10 + 10 * i) * MS);
		snprintf(resp, sizeof(resp), "HTTP/1.1 %d OK\r\nContent-Length: 0\r\n\r\n", 200 + i);
		if (i == 3) {
			f.sseq += (uint32_t)strlen(resp);     /* sent, never captured */
			continue;
		}
		send_seg(c, &f, 0, TCPF_ACK, resp, (uint64_t)(11 + 10 * i) * MS);
	}
	collector_skip_holes(c);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	for (int i = 0; i < 10; i++) {
		char route[8];
		snprintf(route, sizeof(route), "/r%c", 'a' + i);
		const struct ep_stats *e = find(s, "GET", route);
		if (i == 3) {
			assert_null(e);
			continue;
		}
		assert_non_null(e);
		assert_int_equal(e->requests, 1);
		assert_int_equal(e->codes[0].code, 200 + i);   /* paired with its own answer */
		assert_int_equal(e->lat_max_us, 1000);
	}
	assert_int_equal(s->c.reasm_gaps, 2);               /* the TCP hole, the lost framing */
	assert_int_equal(s->c.unpaired, 1);                 /* /rd: its answer was lost */
	snapshot_free(s);
	collector_free(c);
}

static const struct up_stats *find_up(const struct snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->nups; i++)
		if (!strcmp(s->ups[i].upstream, name))
			return &s->ups[i];
	return NULL;
}

/*
 * The target as a client: an inbound GET /p on 8080 proxied over an
 * outgoing connection to :9001 (learnt from its SYN), reused by a second
 * one; a connect refused by :9002; a call to :9003 answered only after the
 * target gave up (FIN): unanswered. Counts, connect time, reuse, and the
 * links made at flush.
 */
static void test_upstream_calls(void **state)
{
	(void)state;
	struct collector_config cfg = { .learn_upstreams = true };
	struct collector *c = collector_new(&cfg);
	struct flow in = { 4, 40000, 8080, 100, 500 };
	struct flow up = { 4, 41000, 9001, 1000, 5000 };
	struct flow refused = { 4, 41001, 9002, 2000, 0 };
	struct flow hang = { 4, 41002, 9003, 3000, 7000 };
	const char *req = "GET /p HTTP/1.1\r\nHost: fe\r\n\r\n";
	const char *ureq = "GET /p HTTP/1.1\r\nHost: pool\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	collector_set_ports(c, PORTS, 1);
	handshake(c, &in, 1 * MS);
	send_seg(c, &in, 1, TCPF_ACK | TCPF_PSH, req, 10 * MS);
	send_seg(c, &up, 1, TCPF_SYN, NULL, 11 * MS);
	send_seg(c, &up, 0, TCPF_SYN | TCPF_ACK, NULL, 12 * MS);
	send_seg(c, &up, 1, TCPF_ACK | TCPF_PSH, ureq, 13 * MS);
	send_seg(c, &up, 0, TCPF_ACK | TCPF_PSH, resp, 20 * MS);
	send_seg(c, &in, 0, TCPF_ACK | TCPF_PSH, resp, 21 * MS);
	/* second request, same upstream connection */
	send_seg(c, &in, 1, TCPF_ACK | TCPF_PSH, req, 30 * MS);
	send_seg(c, &up, 1, TCPF_ACK | TCPF_PSH, ureq, 31 * MS);
	send_seg(c, &up, 0, TCPF_ACK | TCPF_PSH, resp, 35 * MS);
	send_seg(c, &in, 0, TCPF_ACK | TCPF_PSH, resp, 36 * MS);
	/* backend down */
	send_seg(c, &refused, 1, TCPF_SYN, NULL, 40 * MS);
	send_seg(c, &refused, 0, TCPF_RST | TCPF_ACK, NULL, 40 * MS);
	/* proxy_read_timeout: the target closes, the answer comes late */
	send_seg(c, &in, 1, TCPF_ACK | TCPF_PSH, req, 50 * MS);
	send_seg(c, &hang, 1, TCPF_SYN, NULL, 51 * MS);
	send_seg(c, &hang, 0, TCPF_SYN | TCPF_ACK, NULL, 51 * MS);
	send_seg(c, &hang, 1, TCPF_ACK | TCPF_PSH, ureq, 52 * MS);
	send_seg(c, &hang, 1, TCPF_ACK | TCPF_FIN, NULL, 1052 * MS);
	send_seg(c, &in, 0, TCPF_ACK | TCPF_PSH,
		 "HTTP/1.1 504 Gateway Time-out\r\nContent-Length: 0\r\n\r\n", 1053 * MS);
	send_seg(c, &hang, 0, TCPF_ACK | TCPF_PSH, resp, 3052 * MS);
	/* a segment between two unwatched ports nobody connected: ignored */
	struct flow stray = { 4, 42000, 9999, 1, 1 };
	send_seg(c, &stray, 1, TCPF_ACK | TCPF_PSH, ureq, 60 * MS);

	collector_flush(c);
	struct snapshot *s = collector_snapshot(c, 0, 4000);
	const struct up_stats *u1 = find_up(s, "127.0.0.1:9001");
	const struct up_stats *u2 = find_up(s, "127.0.0.1:9002");
	const struct up_stats *u3 = find_up(s, "127.0.0.1:9003");
	assert_non_null(u1);
	assert_non_null(u2);
	assert_non_null(u3);
	assert_null(find_up(s, "127.0.0.1:9999"));
	assert_int_equal(u1->requests, 2);
	assert_int_equal(u1->status[1], 2);
	assert_int_equal(u1->connects, 1);
	assert_int_equal(hist_percentile(&u1->connect, 0.5), 1000);
	assert_int_equal(u1->reused, 1);
	assert_int_equal(u1->lat_max_us, 7000);
	assert_int_equal(u1->bytes_sent, 2 * strlen(ureq));
	assert_string_equal(u1->host, "pool");
	assert_int_equal(u2->connect_failed, 1);
	assert_int_equal(u2->requests, 0);
	assert_int_equal(u3->no_answer, 1);
	assert_int_equal(u3->requests, 0);
	/* inbound: the endpoint table is unchanged by all this */
	const struct ep_stats *e = find(s, "GET", "/p");
	assert_non_null(e);
	assert_int_equal(e->requests, 3);
	assert_int_equal(s->upc.calls_linked, 3);
	assert_int_equal(s->upc.calls_unlinked, 0);
	assert_int_equal(s->upc.inbound_linked, 3);
	assert_int_equal(s->nup_routes, 2);
	for (size_t i = 0; i < s->nup_routes; i++) {
		const struct up_route_stats *r = &s->up_routes[i];
		assert_string_equal(r->route, "/p");
		if (!strcmp(r->upstream, "127.0.0.1:9001")) {
			assert_int_equal(r->calls, 2);
			assert_int_equal(r->inbound, 2);
			/* sent 3 ms and 1 ms after the requests began, answered 1 ms before their ends */
			assert_int_equal(r->before.min, 1000);
			assert_int_equal(r->before.max, 3000);
			assert_int_equal(r->after.max, 1000);
		} else {
			assert_string_equal(r->upstream, "127.0.0.1:9003");
			assert_int_equal(r->no_answer, 1);
		}
	}
	snapshot_free(s);
	collector_free(c);
}

/*
 * NGINX gives up on a backend (proxy_read_timeout): it closes the upstream
 * connection and answers 504. The call ends unanswered at that FIN, at once,
 * so the link is made when the inbound request settles, not when the
 * connection is forgotten; the answer the backend sends later is ignored.
 */
static void test_upstream_timeout_links_in_time(void **state)
{
	(void)state;
	struct collector_config cfg = { .learn_upstreams = true };
	struct collector *c = collector_new(&cfg);
	struct flow in = { 4, 40010, 8080, 100, 500 };
	struct flow hang = { 4, 41010, 9003, 3000, 7000 };
	const char *req = "GET /hang HTTP/1.1\r\nHost: fe\r\n\r\n";

	collector_set_ports(c, PORTS, 1);
	handshake(c, &in, 1 * MS);
	send_seg(c, &in, 1, TCPF_ACK | TCPF_PSH, req, 2 * MS);
	send_seg(c, &hang, 1, TCPF_SYN, NULL, 3 * MS);
	send_seg(c, &hang, 0, TCPF_SYN | TCPF_ACK, NULL, 3 * MS);
	send_seg(c, &hang, 1, TCPF_ACK | TCPF_PSH, req, 4 * MS);
	send_seg(c, &hang, 1, TCPF_ACK | TCPF_FIN, NULL, 1004 * MS);
	send_seg(c, &in, 0, TCPF_ACK | TCPF_PSH,
		 "HTTP/1.1 504 Gateway Time-out\r\nContent-Length: 0\r\n\r\n", 1004 * MS + 20000);
	/* the backend answers two seconds later, headers only; the target resets */
	send_seg(c, &hang, 0, TCPF_ACK | TCPF_PSH, "HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n",
		 3004 * MS);
	collector_expire(c, 4100 * MS);          /* the inbound request has settled */
	struct snapshot *s = collector_snapshot(c, 0, 4100);
	assert_int_equal(s->upc.calls_linked, 1);
	assert_int_equal(s->upc.calls_unlinked, 0);
	assert_int_equal(s->nups, 1);
	assert_int_equal(s->ups[0].no_answer, 1);
	assert_int_equal(s->ups[0].requests, 0);
	assert_int_equal(s->nup_routes, 1);
	assert_int_equal(s->up_routes[0].lat_max_us, 1000000);   /* request sent -> FIN */
	snapshot_free(s);
	collector_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upstream_calls),
		cmocka_unit_test(test_upstream_timeout_links_in_time),
		cmocka_unit_test(test_exchange_v4_and_v6),
		cmocka_unit_test(test_conns_open),
		cmocka_unit_test(test_expire_gives_up_stale_hole),
		cmocka_unit_test(test_prefetch_changes_nothing),
		cmocka_unit_test(test_junk_isolated_and_unwatched_ports_ignored),
		cmocka_unit_test(test_midstream_join),
		cmocka_unit_test(test_tls_alert_first_not_http),
		cmocka_unit_test(test_endpoint_cap_folds_into_other),
		cmocka_unit_test(test_many_endpoints_exact),
		cmocka_unit_test(test_learned_folds_and_patterns),
		cmocka_unit_test(test_cached_route_follows_learning),
		cmocka_unit_test(test_tls_on_the_wire_is_set_aside),
		cmocka_unit_test(test_process_stream),
		cmocka_unit_test(test_hosts_request_log_and_detail),
		cmocka_unit_test(test_lost_response_resyncs_by_time),
		cmocka_unit_test(test_response_skips_told_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
