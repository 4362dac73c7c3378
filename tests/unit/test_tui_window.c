// SPDX-License-Identifier: MIT
/* tui window: an endpoint keeps only the slots it was active in. The 1 and
 * 5 min windows over such sparse slots are checked against a reference the
 * test keeps itself (every pushed interval, by slot), for counters, gRPC
 * errors, bytes, max and p50/p90/p99; merging two sparse endpoints (the OTHER
 * row, folded rows) against the reference of both; slots out of every window
 * are given back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/hist.h"
#include "tui/window.h"

#define NSEQ 200                       /* slots pushed, > 3 x WIN_SLOTS */

/* What the test pushed into one slot, per endpoint. */
struct ref_slot {
	uint64_t req, s2, s5, grpc, in, out, max;
	uint64_t lat[3];                   /* every request one of these */
};

/* Endpoint a is active in slots where seq % 3 == 0, b where seq % 7 < 2:
 * idle gaps of every length, overlapping and not. */
static bool active(int ep, uint32_t seq)
{
	return ep == 0 ? seq % 3 == 0 : seq % 7 < 2;
}

static void fill(struct ref_slot *r, int ep, uint32_t seq)
{
	memset(r, 0, sizeof(*r));
	if (!active(ep, seq))
		return;
	r->s2 = 3 + seq % 5 + (uint64_t)ep;
	r->s5 = seq % 4 == 1;
	r->req = r->s2 + r->s5;
	r->grpc = seq % 6 == 0;
	r->in = 100 + seq;
	r->out = 1000 + 3 * seq;
	r->lat[0] = 150 + 11 * (seq % 9);
	r->lat[1] = 2000 + 97 * (seq % 13) + 500 * (uint64_t)ep;
	r->lat[2] = 40000 + 1000 * (seq % 17);
	r->max = r->lat[2];
}

static void push(struct win_ep *e, const struct win_clock *c, const struct ref_slot *r)
{
	struct ep_stats s;
	memset(&s, 0, sizeof(s));
	hist_init(&s.lat);
	s.status[1] = r->s2;
	s.status[4] = r->s5;
	s.requests = r->req;
	s.grpc_errors = r->grpc;
	s.bytes_in = r->in;
	s.bytes_out = r->out;
	s.lat_max_us = r->max;
	/* s2 at lat[0], one at lat[2] when s5, the rest at lat[1]: spread so
	 * the percentiles land in different buckets */
	assert_int_equal(hist_add_n(&s.lat, r->lat[0], r->s2 - 1), 0);
	assert_int_equal(hist_add_n(&s.lat, r->lat[1], 1), 0);
	if (r->s5)
		assert_int_equal(hist_add_n(&s.lat, r->lat[2], 1), 0);
	s.lat_sum_us = 0;
	assert_int_equal(win_ep_add(e, c, &s), 0);
	hist_free(&s.lat);
}

/* The reference window: slots (now - n, now] of the endpoints in mask. */
static void expect(const struct ref_slot (*ref)[NSEQ + 1], unsigned mask, uint32_t now, uint32_t n,
		   const struct win_stats *got)
{
	struct win_stats w;
	struct hist h;
	uint64_t dense[WIN_CBUCKETS] = { 0 };

	memset(&w, 0, sizeof(w));
	hist_init(&h);
	for (uint32_t seq = now > n ? now - n + 1 : 1; seq <= now; seq++)
		for (int ep = 0; ep < 2; ep++) {
			const struct ref_slot *r = &ref[ep][seq];
			if (!(mask & (1u << ep)) || !r->req)
				continue;
			w.requests += r->req;
			w.status[1] += r->s2;
			w.status[4] += r->s5;
			w.grpc_errors += r->grpc;
			w.bytes_in += r->in;
			w.bytes_out += r->out;
			if (r->max > w.lat_max_us)
				w.lat_max_us = r->max;
			hist_add_n(&h, r->lat[0], r->s2 - 1);
			hist_add_n(&h, r->lat[1], 1);
			if (r->s5)
				hist_add_n(&h, r->lat[2], 1);
		}
	win_dense_add(dense, &h);
	hist_free(&h);
	assert_int_equal(got->requests, w.requests);
	assert_int_equal(got->status[1], w.status[1]);
	assert_int_equal(got->status[4], w.status[4]);
	assert_int_equal(got->grpc_errors, w.grpc_errors);
	assert_int_equal(got->bytes_in, w.bytes_in);
	assert_int_equal(got->bytes_out, w.bytes_out);
	assert_int_equal(got->lat_max_us, w.lat_max_us);
	assert_int_equal(got->p50, win_dense_percentile(dense, w.requests, 0.50, w.lat_max_us));
	assert_int_equal(got->p90, win_dense_percentile(dense, w.requests, 0.90, w.lat_max_us));
	assert_int_equal(got->p99, win_dense_percentile(dense, w.requests, 0.99, w.lat_max_us));
	assert_int_equal(got->dur_ms, (uint64_t)(now < n ? now : n) * WIN_SLOT_MS);
}

static void check_windows(const struct win_ep *e, const struct win_clock *c,
			  const struct ref_slot (*ref)[NSEQ + 1], unsigned mask)
{
	struct win_stats st;
	uint64_t dense[WIN_CBUCKETS];

	win_ep_stats(e, c, WIN_1MIN, &st, dense);
	expect(ref, mask, c->seq, 60000 / WIN_SLOT_MS, &st);
	win_ep_stats(e, c, WIN_5MIN, &st, dense);
	expect(ref, mask, c->seq, 300000 / WIN_SLOT_MS, &st);
}

/* Active slots of ep among the newest keep: what it may hold. */
static unsigned live_slots(int ep, uint32_t now, uint32_t keep)
{
	unsigned n = 0;
	for (uint32_t seq = now >= keep ? now - keep + 1 : 1; seq <= now; seq++)
		n += active(ep, seq);
	return n;
}

static void test_sparse_slots_exact(void **st)
{
	(void)st;
	static struct ref_slot ref[2][NSEQ + 1];
	struct win_clock c;
	struct win_ep e[2], m;

	win_clock_init(&c, WIN_SLOT_MS);       /* one interval per slot */
	win_ep_init(&e[0]);
	win_ep_init(&e[1]);
	for (uint32_t seq = 1; seq <= NSEQ; seq++) {
		win_clock_tick(&c, WIN_SLOT_MS);
		assert_int_equal(c.seq, seq);
		/* 5 s slots: the 5 min window's 60 (fewer at the start), and the
		 * odd partner of an even oldest one */
		assert_int_equal(c.keep, seq < 60 ? seq : 60 + ((seq - 59) % 2 == 0));
		for (int ep = 0; ep < 2; ep++) {
			fill(&ref[ep][seq], ep, seq);
			if (!active(ep, seq))
				continue;
			push(&e[ep], &c, &ref[ep][seq]);
			/* sized by use: no slot for an idle one, none kept past the
			 * span (dropped on the next add) */
			assert_int_equal(e[ep].nslot, live_slots(ep, seq, c.keep));
			assert_true(e[ep].slot_cap <= WIN_SLOTS);
		}
		check_windows(&e[0], &c, ref, 1);
		check_windows(&e[1], &c, ref, 2);
		if (seq % 10 == 0 || seq < 8) {
			/* both into one row, as the OTHER row or a folded row gets them */
			win_ep_init(&m);
			assert_int_equal(win_ep_merge(&m, &e[0], &c), 0);
			assert_int_equal(win_ep_merge(&m, &e[1], &c), 0);
			check_windows(&m, &c, ref, 3);
			win_ep_free(&m);
		}
	}
	win_ep_free(&e[0]);
	win_ep_free(&e[1]);
}

/* An endpoint seen once keeps one slot, and after WIN_SLOTS idle slots its
 * next request finds none of the old ones. */
static void test_idle_endpoint_gives_back(void **st)
{
	(void)st;
	struct win_clock c;
	struct win_ep e;
	struct ref_slot r;
	struct win_stats s;

	win_clock_init(&c, 1000);              /* 5 intervals per slot */
	win_ep_init(&e);
	assert_null(e.slot);
	win_clock_tick(&c, 1000);
	fill(&r, 0, 3);
	push(&e, &c, &r);
	push(&e, &c, &r);                       /* same interval again: same slot */
	assert_int_equal(e.nslot, 1);
	for (int i = 0; i < 4; i++)
		win_clock_tick(&c, 1000);
	push(&e, &c, &r);                       /* later interval, same slot */
	assert_int_equal(e.nslot, 1);
	win_ep_stats(&e, &c, WIN_1MIN, &s, NULL);
	assert_int_equal(s.requests, 3 * r.req);
	for (int i = 0; i < WIN_SLOTS * 5; i++)
		win_clock_tick(&c, 1000);
	win_ep_stats(&e, &c, WIN_5MIN, &s, NULL);
	assert_int_equal(s.requests, 0);        /* out of the window, still held */
	push(&e, &c, &r);
	assert_int_equal(e.nslot, 1);           /* the old slot went */
	win_ep_stats(&e, &c, WIN_5MIN, &s, NULL);
	assert_int_equal(s.requests, r.req);
	win_ep_free(&e);
}

/* Coarsened at any point (the current slot first or second of its pair),
 * an endpoint's windows are from then on those of one that had the longer
 * slots from the start: same slots, counters, percentiles and durations. */
static void test_coarsen_equals_long_slots(void **st)
{
	(void)st;
	static const uint32_t at[] = { 33, 37, 300 };   /* slot 7 (odd), 8 (even); late */

	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		struct win_clock a, b;
		struct win_ep ea, eb;
		struct ref_slot r;

		win_clock_init(&a, 1000);      /* 5 intervals per slot */
		win_clock_init(&b, 500);       /* 10 per slot, ticked with 1 s intervals */
		assert_int_equal(b.ips, 2 * a.ips);
		win_ep_init(&ea);
		win_ep_init(&eb);
		for (uint32_t i = 1; i <= 420; i++) {
			win_clock_tick(&a, 1000);
			win_clock_tick(&b, 1000);
			fill(&r, 1, i);
			if (r.req) {
				push(&ea, &a, &r);
				push(&eb, &b, &r);
			}
			if (i == at[k]) {
				unsigned before = ea.nslot;
				win_clock_coarsen(&a);
				assert_int_equal(win_ep_coarsen(&ea), 0);
				assert_true(ea.nslot <= before && ea.nslot >= before / 2);
			}
			if (i < at[k])
				continue;
			assert_int_equal(a.seq, b.seq);
			assert_int_equal(a.in_cur, b.in_cur);
			assert_int_equal(a.ips, b.ips);
			assert_int_equal(ea.nslot, eb.nslot);
			for (enum win_kind w = WIN_1MIN; w <= WIN_5MIN; w++) {
				struct win_stats sa, sb;
				uint64_t da[WIN_CBUCKETS], db[WIN_CBUCKETS];
				win_ep_stats(&ea, &a, w, &sa, da);
				win_ep_stats(&eb, &b, w, &sb, db);
				assert_memory_equal(&sa, &sb, sizeof(sa));
				assert_memory_equal(da, db, sizeof(da));
			}
		}
		win_ep_free(&ea);
		win_ep_free(&eb);
	}
}

/*
 * Slots doubled to 80 s (as a view of 10,000 endpoints gets them within 5
 * min): an endpoint busy for 30 min holds the slots the 5 min window sums
 * and a partner, at most 6, not the WIN_SLOTS it held before (64 x 80 s), and its windows
 * still add up to every interval they cover. An idle one gives its slots
 * and their array back at the next expiry.
 */
static void test_long_slots_keep_the_window(void **st)
{
	(void)st;
	struct win_clock c;
	struct win_ep e, idle;
	struct ref_slot r;
	struct win_stats s;

	win_clock_init(&c, 1000);
	for (int i = 0; i < 4; i++)
		win_clock_coarsen(&c);         /* 5 s -> 80 s, before any tick */
	assert_int_equal(c.ips, 80);
	win_ep_init(&e);
	win_ep_init(&idle);
	fill(&r, 1, 1);                        /* r.req requests per interval */
	for (uint32_t i = 1; i <= 1800; i++) {
		win_clock_tick(&c, 1000);
		push(&e, &c, &r);
		if (i <= 100)
			push(&idle, &c, &r);
		assert_true(c.keep <= 6 && (i < 400 || c.keep >= 4));
		assert_true(e.nslot <= c.keep);
		win_ep_stats(&e, &c, WIN_5MIN, &s, NULL);
		assert_true(s.dur_ms >= (i < 300 ? i : 300) * 1000ull);
		assert_int_equal(s.requests, s.dur_ms / 1000 * r.req);
		win_ep_stats(&e, &c, WIN_1MIN, &s, NULL);
		assert_int_equal(s.requests, s.dur_ms / 1000 * r.req);
	}
	assert_true(idle.nslot > 0);           /* nothing expires it without an add */
	win_ep_expire(&idle, &c);
	assert_int_equal(idle.nslot, 0);
	assert_null(idle.slot);
	win_ep_free(&e);
	win_ep_free(&idle);
}

/*
 * Slots doubled after the 5 min window is full, at every phase of the
 * clock, expiring every interval as the view does (win_ep_expire before
 * coarsening): each window still sums every interval it covers, the one
 * the joined oldest slot brings in too.
 */
static void test_coarsen_late_keeps_the_window(void **st)
{
	(void)st;
	for (uint32_t at = 600; at < 640; at++) {
		struct win_clock c;
		struct win_ep e;
		struct ref_slot r;
		struct win_stats s;

		win_clock_init(&c, 1000);      /* 5 intervals per slot */
		win_clock_coarsen(&c);
		win_clock_coarsen(&c);         /* 20 s slots */
		win_ep_init(&e);
		fill(&r, 1, 1);
		for (uint32_t i = 1; i <= at + 400; i++) {
			win_clock_tick(&c, 1000);
			push(&e, &c, &r);
			win_ep_expire(&e, &c);
			if (i == at) {
				win_clock_coarsen(&c);
				assert_int_equal(win_ep_coarsen(&e), 0);
			}
			for (enum win_kind w = WIN_1MIN; w <= WIN_5MIN; w++) {
				win_ep_stats(&e, &c, w, &s, NULL);
				assert_int_equal(s.requests, s.dur_ms / 1000 * r.req);
			}
		}
		win_ep_free(&e);
	}
}

/* Slots at the longest the owner coarsens to keep no partner for a
 * coarsening that never comes: at most 5 of 80 s, not 6, and the windows
 * still add up to every interval they cover. */
static void test_last_coarsening_keeps_no_partner(void **st)
{
	(void)st;
	struct win_clock c;
	struct win_ep e;
	struct ref_slot r;
	struct win_stats s;
	uint32_t most = 0;

	win_clock_init(&c, 1000);
	win_clock_limit(&c, 1000, 80000);
	for (int i = 0; i < 4; i++) {
		assert_true(win_clock_can_coarsen(&c));
		win_clock_coarsen(&c);         /* 5 s -> 80 s */
	}
	assert_false(win_clock_can_coarsen(&c));
	win_ep_init(&e);
	fill(&r, 1, 1);
	for (uint32_t i = 1; i <= 1800; i++) {
		win_clock_tick(&c, 1000);
		push(&e, &c, &r);
		win_ep_expire(&e, &c);
		most = c.keep > most ? c.keep : most;
		assert_true(e.nslot <= c.keep);
		for (enum win_kind w = WIN_1MIN; w <= WIN_5MIN; w++) {
			win_ep_stats(&e, &c, w, &s, NULL);
			assert_int_equal(s.requests, s.dur_ms / 1000 * r.req);
		}
	}
	assert_int_equal(most, 5);
	win_ep_free(&e);
	/* no bound: coarsening goes on */
	win_clock_init(&c, 1000);
	win_clock_limit(&c, 1000, 0);
	for (int i = 0; i < 8; i++) {
		assert_true(win_clock_can_coarsen(&c));
		win_clock_coarsen(&c);
	}
}

/* The slots' records sit in one buffer per endpoint, slot after slot:
 * each slot's length adds up to the buffer's, within what it has. */
static void assert_rec_whole(const struct win_ep *e)
{
	size_t n = 0;
	for (unsigned i = 0; i < e->nslot; i++)
		n += e->slot[i].len;
	assert_int_equal(n, e->rec_len);
	assert_true(e->rec_len <= e->rec_cap);
	assert_true(e->rec_len ? e->rec != NULL : 1);
}

/* The 5 min window's whole coarse histogram: the reference's, every bucket. */
static void expect_dense(const struct win_ep *e, const struct win_clock *c,
			 const struct ref_slot (*ref)[NSEQ + 1], unsigned mask)
{
	uint64_t got[WIN_CBUCKETS], want[WIN_CBUCKETS] = { 0 };
	struct win_stats st;
	struct hist h;
	uint32_t n = 300000 / WIN_SLOT_MS;

	hist_init(&h);
	for (uint32_t seq = c->seq > n ? c->seq - n + 1 : 1; seq <= c->seq; seq++)
		for (int ep = 0; ep < 2; ep++) {
			const struct ref_slot *r = &ref[ep][seq];
			if (!(mask & (1u << ep)) || !r->req)
				continue;
			hist_add_n(&h, r->lat[0], r->s2 - 1);
			hist_add_n(&h, r->lat[1], 1);
			if (r->s5)
				hist_add_n(&h, r->lat[2], 1);
		}
	win_dense_add(want, &h);
	hist_free(&h);
	win_ep_stats(e, c, WIN_5MIN, &st, got);
	assert_memory_equal(got, want, sizeof(got));
}

/* Adds, merges into a row already holding slots (new slots between its
 * own), expiry and the buffer's trim keep every slot's record its own:
 * counters (test_sparse_slots_exact) and every bucket. */
static void test_slot_records_one_buffer(void **st)
{
	(void)st;
	static struct ref_slot ref[2][NSEQ + 1];
	struct win_clock c;
	struct win_ep e[2], m;

	win_clock_init(&c, WIN_SLOT_MS);
	win_ep_init(&e[0]);
	win_ep_init(&e[1]);
	for (uint32_t seq = 1; seq <= NSEQ; seq++) {
		win_clock_tick(&c, WIN_SLOT_MS);
		for (int ep = 0; ep < 2; ep++) {
			fill(&ref[ep][seq], ep, seq);
			if (active(ep, seq))
				push(&e[ep], &c, &ref[ep][seq]);
			win_ep_expire(&e[ep], &c);
			assert_rec_whole(&e[ep]);
			expect_dense(&e[ep], &c, ref, 1u << ep);
		}
		if (seq % 25 == 0) {
			win_ep_init(&m);
			assert_int_equal(win_ep_merge(&m, &e[1], &c), 0);
			assert_rec_whole(&m);
			assert_int_equal(win_ep_merge(&m, &e[0], &c), 0);
			assert_rec_whole(&m);
			expect_dense(&m, &c, ref, 3);
			win_ep_free(&m);
		}
	}
	win_ep_free(&e[0]);
	win_ep_free(&e[1]);
	assert_null(e[0].rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse_slots_exact),
		cmocka_unit_test(test_idle_endpoint_gives_back),
		cmocka_unit_test(test_coarsen_equals_long_slots),
		cmocka_unit_test(test_long_slots_keep_the_window),
		cmocka_unit_test(test_coarsen_late_keeps_the_window),
		cmocka_unit_test(test_slot_records_one_buffer),
		cmocka_unit_test(test_last_coarsening_keeps_no_partner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
