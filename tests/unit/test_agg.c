// SPDX-License-Identifier: MIT
/* agg and topk: Space-Saving rows under a URL scan. A real endpoint that
 * arrives in the middle of 300k one-off paths gets its row and keeps it
 * with its exact count; OTHER + rows + held back = every request, always;
 * random Host headers fold to "*" while the real host keeps its name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/agg.h"
#include "collector/topk.h"
#include "peer_text.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void add(struct agg *a, const char *host, const char *route, const char *client)
{
	struct agg_sample s = {
		.host = host, .method = "GET", .route = route,
		.req = { .ts_ms = 1, .lat_us = 100, .bytes_in = 10, .bytes_out = 20, .status = 200,
			 .client = peer_from(client) },
	};
	agg_add(a, &s);
}

static const struct ep_stats *find(const struct snapshot *s, const char *route)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->eps[i].route, route))
			return &s->eps[i];
	return NULL;
}

static uint64_t rows_total(const struct snapshot *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->eps[i].requests;
	return n;
}

/* topk against a plain model: same keys in the table, least rank evicted,
 * and lookups still work after many removals from the probe runs. */
static void test_topk_matches_model(void **state)
{
	(void)state;
	enum { K = 50, KEYS = 400, OPS = 200000 };
	struct topk *t = topk_new(K);
	uint32_t key_of[K];
	long slot_of[KEYS];

	for (int i = 0; i < KEYS; i++)
		slot_of[i] = -1;
	for (int op = 0; op < OPS; op++) {
		/* skewed: low keys are hot; hashes collide in the low bits a lot */
		uint32_t key = (uint32_t)(next_rand() % (next_rand() % KEYS + 1));
		uint32_t h = key * 1024u;
		long slot = topk_find(t, h, NULL, NULL);
		assert_int_equal(slot, slot_of[key]);
		if (slot >= 0) {
			topk_hit(t, (size_t)slot, 1);
			continue;
		}
		long victim = topk_victim(t);
		if (victim >= 0) {
			uint64_t least = topk_rank(t, (size_t)victim);
			for (size_t i = 0; i < K; i++)
				assert_true(topk_rank(t, i) >= least);
			slot_of[key_of[victim]] = -1;
		}
		bool evicted;
		size_t got = topk_admit(t, h, &evicted);
		assert_int_equal(evicted, victim >= 0);
		if (victim >= 0) {
			assert_int_equal((long)got, victim);
			assert_int_equal(topk_rank(t, got), topk_err(t, got) + 1);
		}
		key_of[got] = key;
		slot_of[key] = (long)got;
	}
	assert_int_equal(topk_used(t), K);
	/* the hottest key (0 is drawn most) holds a slot */
	assert_true(slot_of[0] >= 0);
	topk_free(t);
}

/* Two keys with one hash are told apart by eq(). */
struct two_keys {
	const char *want;
	const char *names[2];
};

static bool name_is(void *ctx, size_t slot)
{
	const struct two_keys *k = ctx;
	return !strcmp(k->names[slot], k->want);
}

static void test_topk_same_hash(void **state)
{
	(void)state;
	struct topk *t = topk_new(2);
	struct two_keys k = { .names = { "a", "b" } };
	bool ev;

	k.want = "a";
	assert_int_equal(topk_find(t, 7, name_is, &k), -1);
	assert_int_equal(topk_admit(t, 7, &ev), 0);
	k.want = "b";
	assert_int_equal(topk_find(t, 7, name_is, &k), -1);
	assert_int_equal(topk_admit(t, 7, &ev), 1);
	assert_int_equal(topk_find(t, 7, name_is, &k), 1);
	k.want = "a";
	assert_int_equal(topk_find(t, 7, name_is, &k), 0);
	topk_free(t);
}

/*
 * The scan of issue 18: 300k random paths from one client; from the
 * 10,000th on, one request in 290 is GET /good/wb (1,000 in all). Snapshots
 * every 1,000 requests. The table is full of scan paths when /good/wb comes,
 * so it takes a row from one of them; it must never lose it, and the sum of
 * its rows must be exactly 1,000 (its first request was held back until the
 * second confirmed it, not lost).
 */
static void test_scan_keeps_real_endpoint(void **state)
{
	(void)state;
	enum { K = 2000, SCAN = 300000, GOOD = 1000, START = 10000, EVERY = 290 };
	struct agg *a = agg_new(K);
	uint64_t fed = 0, shown = 0, good = 0, good_sent = 0, other = 0;
	size_t scan_rows_after_full = 0;
	char route[64];
	int snaps = 0;

	for (int i = 0; i < SCAN; i++) {
		snprintf(route, sizeof(route), "/scan/%016llx", (unsigned long long)next_rand());
		add(a, "localhost", route, "10.0.0.2");
		fed++;
		if (i >= START && (i - START) % EVERY == 0 && good_sent < GOOD) {
			add(a, "localhost", "/good/wb", "10.0.0.3");
			fed++;
			good_sent++;
		}
		if (fed % 1000 && i != SCAN - 1)
			continue;
		if (i == SCAN - 1)
			agg_settle(a);
		struct snapshot *s = agg_snapshot(a, (uint64_t)snaps * 1000, 1000);
		assert_non_null(s);
		const struct ep_stats *g = find(s, "/good/wb");
		const struct ep_stats *o = find(s, AGG_OTHER_ROUTE);
		good += g ? g->requests : 0;
		other += o ? o->requests : 0;
		if (snaps > 2)   /* past the first rows, taken while the table was free */
			scan_rows_after_full += s->n - (g != NULL) - (o != NULL);
		shown += rows_total(s);
		/* nothing lost: what is not shown yet is held back, and little is */
		assert_int_equal(shown + agg_held(a), fed);
		assert_true(agg_held(a) <= K);
		if (g) {
			/* counts in a row are the endpoint's own: bytes and the
			 * client say so */
			assert_int_equal(g->bytes_in, 10 * g->requests);
			assert_string_equal(peer_str(&g->clients[0].addr), "10.0.0.3");
			assert_int_equal(g->clients[0].n, g->requests);
		}
		snapshot_free(s);
		snaps++;
	}
	assert_int_equal(good_sent, GOOD);
	assert_int_equal(good, GOOD);
	assert_int_equal(shown, fed);
	assert_int_equal(other + good + K, fed);    /* K: the first scan paths' rows */
	assert_int_equal(agg_overflow(a), other);
	assert_int_equal(scan_rows_after_full, 0);
	print_message("scan: %llu requests, GET /good/wb %llu/%d, OTHER %llu, %d snapshots\n",
		      (unsigned long long)fed, (unsigned long long)good, GOOD,
		      (unsigned long long)other, snaps);
	agg_free(a);
}

/* Random Host headers make one-off rows that fold into OTHER; the real
 * host's endpoint keeps its row, its name and its exact count, even when its
 * first request comes with the table full. */
static void test_random_hosts_fold(void **state)
{
	(void)state;
	struct agg *a = agg_new(100);
	char host[32];
	uint64_t real = 0, shop = 0, other = 0, named = 0, total = 0;

	for (int i = 0; i < 20000; i++) {
		snprintf(host, sizeof(host), "h%08llx.example", (unsigned long long)next_rand());
		add(a, host, "/", "10.0.0.2");
		if (i >= 500 && i % 5 == 0) {
			add(a, "shop.example", "/", "10.0.0.3");
			real++;
		}
		if (i % 1000 == 999 || i == 19999) {
			if (i == 19999)
				agg_settle(a);
			struct snapshot *s = agg_snapshot(a, 0, 1000);
			for (size_t k = 0; k < s->n; k++) {
				total += s->eps[k].requests;
				if (!strcmp(s->eps[k].host, "shop.example"))
					shop += s->eps[k].requests;
				else if (!strcmp(s->eps[k].route, AGG_OTHER_ROUTE))
					other += s->eps[k].requests;
				else
					named++;
			}
			snapshot_free(s);
		}
	}
	assert_int_equal(shop, real);
	assert_int_equal(named, 0);         /* even the first ones were evicted before a snapshot */
	assert_int_equal(other, 20000);
	assert_int_equal(total, 20000 + real);
	agg_free(a);
}

/* Below the cap nothing changes: every endpoint shown at once, no OTHER. */
static void test_below_cap_shows_all(void **state)
{
	(void)state;
	struct agg *a = agg_new(10);
	add(a, "", "/a", "");
	add(a, "", "/b", "");
	add(a, "", "/b", "");
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	assert_int_equal(s->n, 2);
	assert_int_equal(find(s, "/a")->requests, 1);
	assert_int_equal(find(s, "/b")->requests, 2);
	assert_null(find(s, AGG_OTHER_ROUTE));
	snapshot_free(s);
	agg_free(a);
}

/* Ranks halve every AGG_HALVING_MS: a row that went quiet long ago yields
 * to a newcomer with less traffic than it had, and a row taken after the
 * halving is still held back until confirmed. */
static void test_halving_lets_new_traffic_in(void **state)
{
	(void)state;
	struct agg *a = agg_new(2);
	for (int i = 0; i < 100; i++) {
		add(a, "", "/old1", "");
		add(a, "", "/old2", "");
	}
	uint64_t t = 0;
	for (int i = 0; i < 10; i++) {       /* 10 quiet halvings: ranks 100 -> 0 */
		snapshot_free(agg_snapshot(a, t, AGG_HALVING_MS));
		t += AGG_HALVING_MS;
	}
	for (int i = 0; i < 5; i++) {
		add(a, "", "/new", "");
		snapshot_free(agg_snapshot(a, t, 1000));
		t += 1000;
	}
	add(a, "", "/new", "");
	struct snapshot *s = agg_snapshot(a, t, 1000);
	assert_non_null(find(s, "/new"));
	assert_int_equal(find(s, "/new")->requests, 1);
	snapshot_free(s);
	agg_free(a);
}

/* An aborted request counts in requests and bytes_in, in no status class,
 * and leaves latency alone. */
static void test_aborted_counts(void **state)
{
	(void)state;
	struct agg *a = agg_new(10);
	struct agg_sample ok = { .host = "", .method = "GET", .route = "/a",
				 .req = { .lat_us = 5000, .bytes_in = 30, .status = 200 } };
	struct agg_sample cut = { .host = "", .method = "GET", .route = "/a",
				  .aborted = true, .req = { .bytes_in = 12 } };
	agg_add(a, &ok);
	agg_add(a, &cut);
	agg_add(a, &cut);
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	const struct ep_stats *e = find(s, "/a");
	assert_int_equal(e->requests, 3);
	assert_int_equal(e->aborted, 2);
	assert_int_equal(e->status[1], 1);
	assert_int_equal(e->bytes_in, 54);
	assert_int_equal(e->lat_sum_us, 5000);
	assert_int_equal(hist_percentile(&e->lat, 0.01), hist_percentile(&e->lat, 0.99));
	snapshot_free(s);
	agg_free(a);
}

/* A client that comes late with most of the requests gets a slot, and the
 * count shown for it is its own, exactly. */
static void test_clients_exact(void **state)
{
	(void)state;
	struct ep_stats e = { 0 };
	char addr[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 250, i % 250);
		ep_clients_add(&e, PEER(addr), 1);
	}
	assert_int_equal(e.nclients, EP_CLIENTS);
	for (int i = 0; i < 50; i++) {
		ep_clients_add(&e, PEER("10.9.9.9"), 1);
		snprintf(addr, sizeof(addr), "10.2.0.%d", i);
		ep_clients_add(&e, PEER(addr), 1);
	}
	int found = -1;
	for (int i = 0; i < e.nclients; i++)
		if (!strcmp(peer_str(&e.clients[i].addr), "10.9.9.9"))
			found = i;
	assert_true(found >= 0);
	assert_int_equal(e.clients[found].n, 50);
	for (int i = 0; i < e.nclients; i++)
		assert_true(e.clients[i].n <= e.clients[i].rank);
	ep_stats_free(&e);
}

/* The lists are sized by what they hold: one client, one code, one
 * request take one entry each; the slowest list keeps the EP_SLOWEST
 * slowest in order; codes past EP_CODES - 1 distinct ones go to code 0. */
static void test_lists_sized_by_use(void **state)
{
	(void)state;
	struct ep_stats e = { 0 };
	struct req_sample r = { .ts_ms = 1, .lat_us = 50 };

	ep_clients_add(&e, PEER("10.0.0.1"), 1);
	ep_codes_add(&e, 200, 1);
	ep_slowest_offer(&e, &r);
	assert_int_equal(e.nclients, 1);
	assert_int_equal(e.ncodes, 1);
	assert_int_equal(e.nslowest, 1);
	assert_null(e.grpc);
	const uint64_t lats[] = { 10, 90, 70, 20, 100, 5 };
	for (size_t i = 0; i < sizeof(lats) / sizeof(lats[0]); i++) {
		r.lat_us = lats[i];
		ep_slowest_offer(&e, &r);
	}
	assert_int_equal(e.nslowest, EP_SLOWEST);
	assert_int_equal(e.slowest[0].lat_us, 100);
	assert_int_equal(e.slowest[1].lat_us, 90);
	assert_int_equal(e.slowest[2].lat_us, 70);
	for (uint16_t c = 201; c < 220; c++)
		ep_codes_add(&e, c, 1);
	ep_codes_add(&e, 42, 3);                 /* outside 100..599 */
	assert_int_equal(e.ncodes, EP_CODES);
	uint64_t sum = 0, other = 0;
	for (size_t i = 0; i < e.ncodes; i++) {
		sum += e.codes[i].n;
		if (!e.codes[i].code)
			other = e.codes[i].n;
	}
	assert_int_equal(sum, 1 + 19 + 3);
	assert_int_equal(other, 19 - (EP_CODES - 2) + 3);
	ep_grpc_add(&e, 14, 2);
	assert_int_equal(ep_grpc(&e, 14), 2);
	assert_int_equal(ep_grpc(&e, 0), 0);
	ep_stats_free(&e);
	assert_null(e.slowest);
	assert_int_equal(e.nslowest, 0);
}

/* Peers stay binary until an output names them: the text is what the
 * old "addr:port" strings were, top clients count one address over every
 * port, and an unknown peer counts nowhere. */
static void test_peer_text(void **state)
{
	(void)state;
	char b[CLIENT_MAX];
	struct peer_addr v6 = { .family = 6, .port = 443,
				.addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	struct peer_addr full = { .family = 6, .port = 65535 };
	memset(full.addr, 0xab, sizeof(full.addr));

	assert_string_equal(peer_text(PEER("203.0.113.7:51000"), b, sizeof(b)), "203.0.113.7:51000");
	assert_string_equal(peer_text(PEER("203.0.113.7"), b, sizeof(b)), "203.0.113.7");
	assert_string_equal(peer_text(&v6, b, sizeof(b)), "[2001:db8::1]:443");
	assert_string_equal(peer_text(&(struct peer_addr){ 0 }, b, sizeof(b)), "");
	/* the longest text there is fits CLIENT_MAX */
	assert_string_equal(peer_text(&full, b, sizeof(b)),
			    "[abab:abab:abab:abab:abab:abab:abab:abab]:65535");

	struct ep_stats e = { 0 };
	ep_clients_add(&e, PEER("10.0.0.1:1000"), 1);
	ep_clients_add(&e, PEER("10.0.0.1:2000"), 2);
	ep_clients_add(&e, PEER("[::ffff:10.0.0.1]:1000"), 4);   /* v6: another address */
	assert_int_equal(e.nclients, 2);
	assert_string_equal(peer_str(&e.clients[0].addr), "10.0.0.1");
	assert_int_equal(e.clients[0].n, 3);
	assert_string_equal(peer_str(&e.clients[1].addr), "::ffff:10.0.0.1");
	assert_int_equal(e.clients[1].n, 4);
	ep_stats_free(&e);

	struct agg *a = agg_new(4);
	struct agg_sample anon = { .host = "", .method = "GET", .route = "/a",
				   .req = { .lat_us = 10, .status = 200 } };
	agg_add(a, &anon);
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	assert_int_equal(s->eps[0].requests, 1);
	assert_int_equal(s->eps[0].nclients, 0);
	snapshot_free(s);
	agg_free(a);
}

/* Past a few hundred rows, requests wait in agg and are counted a batch at
 * a time: every one reaches the snapshot in its own row with its own
 * status, latency, bytes and client, though the caller's strings are
 * overwritten after each call; agg_endpoints() and the snapshot count the
 * ones still waiting. */
static void test_batched_rows_exact(void **state)
{
	(void)state;
	enum { EPS = 700, ROUNDS = 5 };
	struct agg *a = agg_new(1000);
	char host[32], method[16], route[64], client[32];

	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < EPS; i++) {
			if (r > i % ROUNDS)
				continue;          /* endpoint i gets i % ROUNDS + 1 requests */
			snprintf(host, sizeof(host), "h%d.example", i % 3);
			snprintf(method, sizeof(method), "%s", i % 2 ? "POST" : "GET");
			snprintf(route, sizeof(route), "/ep/%d", i);
			snprintf(client, sizeof(client), "10.0.%d.%d", i / 250, i % 250);
			struct agg_sample smp = {
				.host = host, .method = method, .route = route,
				.req = { .ts_ms = 1, .lat_us = 100 + 10 * (uint64_t)i + (uint64_t)r,
					 .bytes_in = (uint64_t)i, .bytes_out = 1, .status = 200 + i % 300,
					 .client = peer_from(client) },
			};
			agg_add(a, &smp);
			memset(host, 'x', sizeof(host) - 1);
			memset(route, 'y', sizeof(route) - 1);
			method[0] = 'Z';
			if (r == 0)
				assert_int_equal(agg_endpoints(a), (size_t)i + 1);
		}
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	assert_non_null(s);
	assert_int_equal(s->n, EPS);
	for (int i = 0; i < EPS; i++) {
		uint64_t n = (uint64_t)(i % ROUNDS) + 1;
		snprintf(route, sizeof(route), "/ep/%d", i);
		const struct ep_stats *e = find(s, route);
		assert_non_null(e);
		snprintf(host, sizeof(host), "h%d.example", i % 3);
		assert_string_equal(e->host, host);
		assert_string_equal(e->method, i % 2 ? "POST" : "GET");
		assert_int_equal(e->requests, n);
		assert_int_equal(e->bytes_in, n * (uint64_t)i);
		assert_int_equal(e->status[(200 + i % 300) / 100 - 1], n);
		assert_int_equal(e->lat.count, n);
		assert_int_equal(e->lat_max_us, 100 + 10 * (uint64_t)i + n - 1);
		snprintf(client, sizeof(client), "10.0.%d.%d", i / 250, i % 250);
		assert_int_equal(e->nclients, 1);
		assert_string_equal(peer_str(&e->clients[0].addr), client);
		assert_int_equal(e->clients[0].n, n);
	}
	snapshot_free(s);
	agg_free(a);
}

/* A snapshot's row array goes back to its maker when the snapshot is freed
 * (by whichever holder frees it last) and the next snapshot reuses it,
 * zeroed; one made while the spare is out gets its own; the arrays outlive
 * the maker's reference as long as a snapshot holds them (ASan: no leak,
 * no use after free). */
static void test_snapshot_rows_reused(void **state)
{
	(void)state;
	struct snapshot_rows *r = snapshot_rows_new();
	assert_non_null(r);
	struct snapshot *s1 = snapshot_new_rows(r, 100);
	assert_non_null(s1);
	struct ep_stats *first = s1->eps;
	s1->eps[7].requests = 5;
	assert_int_equal(hist_add(&s1->eps[7].lat, 300), 0);
	snapshot_hold(s1);
	snapshot_free(s1);                        /* still held */
	struct snapshot *s2 = snapshot_new_rows(r, 50);
	assert_ptr_not_equal(s2->eps, first);     /* the spare is still s1's */
	snapshot_free(s1);
	struct snapshot *s3 = snapshot_new_rows(r, 80);
	assert_ptr_equal(s3->eps, first);         /* s1's, back and zeroed */
	assert_int_equal(s3->n, 80);
	assert_int_equal(s3->eps[7].requests, 0);
	assert_int_equal(s3->eps[7].lat.count, 0);
	assert_string_equal(s3->eps[79].route, "");
	struct snapshot *s4 = snapshot_new_rows(r, 200);   /* more than any spare holds */
	assert_int_equal(s4->n, 200);
	snapshot_rows_put(r);                     /* the maker goes first */
	snapshot_free(s2);
	snapshot_free(s4);
	snapshot_free(s3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topk_matches_model),
		cmocka_unit_test(test_lists_sized_by_use),
		cmocka_unit_test(test_topk_same_hash),
		cmocka_unit_test(test_scan_keeps_real_endpoint),
		cmocka_unit_test(test_random_hosts_fold),
		cmocka_unit_test(test_below_cap_shows_all),
		cmocka_unit_test(test_halving_lets_new_traffic_in),
		cmocka_unit_test(test_clients_exact),
		cmocka_unit_test(test_aborted_counts),
		cmocka_unit_test(test_peer_text),
		cmocka_unit_test(test_batched_rows_exact),
		cmocka_unit_test(test_snapshot_rows_reused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
