// SPDX-License-Identifier: MIT
/* Keys mode end to end without a kernel: real captures of curl talking to
 * NGINX over TLS 1.2 and 1.3 (tests/fixtures/tls, made by
 * tests/gen/make_tls_fixtures.sh) go through the collector with only the
 * client's key log, and come out as the HTTP exchanges curl made. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "collector/collector.h"
#include "probes/capture.h"

static void feed(void *ctx, const struct capture_pkt *p)
{
	collector_packet(ctx, p->ts_ns, p->l3, p->caplen, p->wirelen);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	static char buf[1 << 16];
	assert_non_null(f);
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return buf;
}

/* Returns the snapshot of one fixture replayed through a keys-mode collector. */
static struct snapshot *replay(const char *name, int with_keys)
{
	char path[256], err[256];
	struct collector_config cfg = { .tls_decrypt = true, .learn_ports = true };
	struct collector *c = collector_new(&cfg);
	struct capture *cap;
	size_t len, bad = 0;

	assert_non_null(c);
	if (with_keys) {
		snprintf(path, sizeof(path), "tests/fixtures/tls/%s.keys", name);
		const char *keys = slurp(path, &len);
		assert_true(collector_tls_keylog(c, keys, len, 1, &bad) >= 0);
		assert_int_equal(bad, 0);
	}
	snprintf(path, sizeof(path), "tests/fixtures/tls/%s.pcap", name);
	assert_int_equal(capture_open_offline(&cap, path, err, sizeof(err)), 0);
	while (capture_dispatch(cap, 1000, feed, c) > 0)
		;
	capture_close(cap);
	collector_flush(c);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	collector_free(c);
	return s;
}

static uint64_t count(const struct snapshot *s, int cls)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += cls ? s->eps[i].status[cls - 1] : s->eps[i].requests;
	return n;
}

static void check_fixture(const char *name)
{
	struct snapshot *s = replay(name, 1);
	/* make_tls_fixtures.sh: two 200s and a 404 per connection */
	assert_true(count(s, 0) >= 3);
	assert_int_equal(count(s, 0) % 3, 0);
	assert_int_equal(count(s, 4), count(s, 0) / 3);
	assert_int_equal(s->c.parse_errors, 0);
	assert_int_equal(s->c.tls_undecryptable, 0);
	assert_int_equal(s->c.tls_lost, 0);
	snapshot_free(s);
}

static void test_tls13_aes256(void **st) { (void)st; check_fixture("tls13_aes256"); }
static void test_tls13_chacha(void **st) { (void)st; check_fixture("tls13_chacha"); }
static void test_tls13_hrr(void **st) { (void)st; check_fixture("tls13_hrr"); }
static void test_tls12_aes256(void **st) { (void)st; check_fixture("tls12_aes256"); }
static void test_tls12_chacha(void **st) { (void)st; check_fixture("tls12_chacha"); }
static void test_tls12_resume(void **st) { (void)st; check_fixture("tls12_resume"); }

/* Without keys nothing is read, and that is counted, not silent. */
static void test_no_keys_counted(void **st)
{
	(void)st;
	struct snapshot *s = replay("tls13_aes256", 0);
	assert_int_equal(count(s, 0), 0);
	assert_int_equal(s->c.parse_errors, 0);
	assert_true(s->c.tls_undecryptable >= 1);
	snapshot_free(s);
}

/* Packets of a fixture with their SYNs left out: what l7top sees of a
 * connection it attached to after the handshake. */
struct midstream {
	struct collector *c;
	uint16_t port;            /* server port, from the SYN */
	uint64_t payload;         /* TCP payload bytes fed */
};

static void feed_midstream(void *ctx, const struct capture_pkt *p)
{
	struct midstream *m = ctx;
	const uint8_t *ip = p->l3;
	assert_int_equal(ip[0] >> 4, 4);       /* the fixtures are IPv4 loopback */
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	const uint8_t *tcp = ip + ihl;
	if (tcp[13] & 0x02) {                  /* SYN */
		if (!(tcp[13] & 0x10))
			m->port = (uint16_t)(tcp[2] << 8 | tcp[3]);
		return;
	}
	collector_set_ports(m->c, &m->port, 1);
	m->payload += ((size_t)ip[2] << 8 | ip[3]) - ihl - (size_t)(tcp[12] >> 4) * 4;
	collector_packet(m->c, p->ts_ns, p->l3, p->caplen, p->wirelen);
}

/* Keys mode, joined after the handshake: the connection and all its bytes
 * are counted undecryptable, nothing is parsed as HTTP. */
static void test_joined_midstream_counted(void **st)
{
	char err[256];
	struct collector_config cfg = { .tls_decrypt = true };
	struct midstream m = { .c = collector_new(&cfg) };
	struct capture *cap;
	(void)st;

	assert_non_null(m.c);
	assert_int_equal(capture_open_offline(&cap, "tests/fixtures/tls/tls13_aes256.pcap", err,
					      sizeof(err)), 0);
	while (capture_dispatch(cap, 1000, feed_midstream, &m) > 0)
		;
	capture_close(cap);
	collector_flush(m.c);
	struct snapshot *s = collector_snapshot(m.c, 0, 1000);
	assert_int_equal(count(s, 0), 0);
	assert_int_equal(s->c.parse_errors, 0);
	assert_int_equal(s->c.tls_undecryptable, 1);
	assert_true(m.payload > 0);
	assert_int_equal(s->c.tls_undecryptable_bytes, m.payload);
	snapshot_free(s);
	collector_free(m.c);
}

/* The secrets reach l7top in a ring of their own, beside the packets. */
struct late_keys {
	struct collector *c;
	const char *keys;
	size_t keys_len;
	size_t pkt, first_wish;   /* packets fed; the one after which keys were wished (0: none) */
	size_t wishes_after;      /* wishes once every secret was in */
};

static void feed_late_keys(void *ctx, const struct capture_pkt *p)
{
	struct late_keys *lk = ctx;
	size_t bad = 0;

	collector_packet(lk->c, p->ts_ns, p->l3, p->caplen, p->wirelen);
	lk->pkt++;
	if (!collector_tls_keys_wanted(lk->c))
		return;
	if (lk->first_wish) {
		lk->wishes_after++;
		return;
	}
	lk->first_wish = lk->pkt;
	assert_true(collector_tls_keylog(lk->c, lk->keys, lk->keys_len, 1, &bad) >= 0);
	collector_tls_kick(lk->c);
	assert_false(collector_tls_keys_wanted(lk->c));   /* the kick answered it */
}

/* A record that must wait for its keys says so at once, so that the caller
 * reads the secrets' ring then, not after the whole batch of packets: the
 * keys given at that wish read every exchange, as keys given up front do. */
static void test_keys_wanted_at_first_wait(void **st)
{
	char err[256];
	struct collector_config cfg = { .tls_decrypt = true, .learn_ports = true };
	struct late_keys lk = { .c = collector_new(&cfg) };
	struct capture *cap;
	(void)st;

	assert_non_null(lk.c);
	lk.keys = slurp("tests/fixtures/tls/tls13_aes256.keys", &lk.keys_len);
	assert_false(collector_tls_keys_wanted(lk.c));
	assert_int_equal(capture_open_offline(&cap, "tests/fixtures/tls/tls13_aes256.pcap", err,
					      sizeof(err)), 0);
	while (capture_dispatch(cap, 1000, feed_late_keys, &lk) > 0)
		;
	capture_close(cap);
	collector_flush(lk.c);
	struct snapshot *s = collector_snapshot(lk.c, 0, 1000);
	/* not on the SYNs or the ClientHello: at the first record needing keys */
	assert_true(lk.first_wish > 3);
	assert_true(lk.first_wish < lk.pkt);
	assert_int_equal(lk.wishes_after, 0);
	assert_true(count(s, 0) >= 3);
	assert_int_equal(count(s, 0) % 3, 0);
	assert_int_equal(count(s, 4), count(s, 0) / 3);
	assert_int_equal(s->c.tls_undecryptable, 0);
	assert_int_equal(s->c.tls_lost, 0);
	snapshot_free(s);
	collector_free(lk.c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls13_aes256),
		cmocka_unit_test(test_tls13_chacha),
		cmocka_unit_test(test_tls13_hrr),
		cmocka_unit_test(test_tls12_aes256),
		cmocka_unit_test(test_tls12_chacha),
		cmocka_unit_test(test_tls12_resume),
		cmocka_unit_test(test_no_keys_counted),
		cmocka_unit_test(test_joined_midstream_counted),
		cmocka_unit_test(test_keys_wanted_at_first_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
