// SPDX-License-Identifier: MIT
/*
 * uplink, the rule that ties an upstream call to the inbound request it was
 * made for, on recorded sequences: one call per request, a retry
 * (proxy_next_upstream: two calls), requests interleaved on one worker,
 * same-target twins (decided by order, and counted so), calls nobody made
 * (unlinked), a late-reported unanswered call, and the bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/uplink.h"

#define MS 1000000ull

struct rec {
	char route[64][ROUTE_MAX];
	char ups[64][CLIENT_MAX];
	size_t ncalls[64];
	uint64_t first_start[64];
	bool by_order[64];
	size_t nlinked;
	size_t nunlinked;
	uint64_t unlinked_start[16];
};

static void on_linked(void *ctx, const struct uplink_in *in, const struct uplink_call *const *calls,
		      size_t n, bool by_order)
{
	struct rec *r = ctx;
	size_t i = r->nlinked++;

	snprintf(r->route[i], sizeof(r->route[i]), "%s", in->route);
	snprintf(r->ups[i], sizeof(r->ups[i]), "%s", calls[n - 1]->upstream);
	r->ncalls[i] = n;
	r->first_start[i] = calls[0]->start_ns;
	r->by_order[i] = by_order;
	for (size_t k = 1; k < n; k++)
		assert_true(calls[k]->start_ns >= calls[k - 1]->end_ns);
}

static void on_unlinked(void *ctx, const struct uplink_call *c)
{
	struct rec *r = ctx;

	if (r->nunlinked < 16)
		r->unlinked_start[r->nunlinked] = c->start_ns;
	r->nunlinked++;
}

static struct uplink_call call(const char *m, const char *target, uint64_t s, uint64_t e,
			       uint16_t status, const char *up)
{
	struct uplink_call c = { .start_ns = s, .end_ns = e, .status = status,
				 .key = uplink_key(m, target, strlen(target)) };
	snprintf(c.upstream, sizeof(c.upstream), "%s", up);
	return c;
}

static struct uplink_in inbound(const char *m, const char *target, uint64_t s, uint64_t e)
{
	struct uplink_in in = { .start_ns = s, .end_ns = e, .key = uplink_key(m, target, strlen(target)) };
	snprintf(in.method, sizeof(in.method), "%s", m);
	snprintf(in.route, sizeof(in.route), "%s", target);
	return in;
}

#define SINK(r) { .linked = on_linked, .unlinked = on_unlinked, .ctx = &(r) }

/* Calls reach uplink when they end, inbound requests when theirs do. */
static void test_one_call_each_and_local_route(void **state)
{
	static struct rec r;
	struct uplink_sink out = SINK(r);
	struct uplink *l = uplink_new(0, 0, 0, 0);
	struct uplink_call c1 = call("GET", "/a", 2 * MS, 5 * MS, 200, "b1");
	struct uplink_in a = inbound("GET", "/a", 1 * MS, 6 * MS);
	struct uplink_in local = inbound("GET", "/local", 7 * MS, 8 * MS);
	struct uplink_stats st;

	(void)state;
	memset(&r, 0, sizeof(r));
	uplink_add_call(l, &c1, &out);
	uplink_add_inbound(l, &a, &out);
	uplink_add_inbound(l, &local, &out);
	uplink_run(l, 8 * MS, false, &out);          /* not settled yet */
	assert_int_equal(r.nlinked, 0);
	uplink_run(l, 6 * MS + 1500 * MS, false, &out);
	assert_int_equal(r.nlinked, 1);
	assert_string_equal(r.route[0], "/a");
	assert_false(r.by_order[0]);
	uplink_run(l, 20000 * MS, false, &out);
	uplink_get_stats(l, &st);
	assert_int_equal(st.linked, 1);
	assert_int_equal(st.unlinked, 0);
	assert_int_equal(st.inbound_linked, 1);      /* /local took nothing: not an error */
	uplink_free(l);
}

/* proxy_next_upstream: b2 answers 502 (or times out), b1 is tried next;
 * both calls belong to the one request, the split goes to b1. */
static void test_retry_two_calls(void **state)
{
	static struct rec r;
	struct uplink_sink out = SINK(r);
	struct uplink *l = uplink_new(0, 0, 0, 0);
	struct uplink_call c1 = call("GET", "/r", 2 * MS, 4 * MS, 502, "b2");
	struct uplink_call c2 = call("GET", "/r", 5 * MS, 9 * MS, 200, "b1");
	struct uplink_in in = inbound("GET", "/r", 1 * MS, 10 * MS);

	(void)state;
	memset(&r, 0, sizeof(r));
	uplink_add_call(l, &c1, &out);
	uplink_add_call(l, &c2, &out);
	uplink_add_inbound(l, &in, &out);
	uplink_run(l, 0, true, &out);
	assert_int_equal(r.nlinked, 1);
	assert_int_equal(r.ncalls[0], 2);
	assert_string_equal(r.ups[0], "b1");
	assert_int_equal(r.nunlinked, 0);
	uplink_free(l);
}

/* One worker, three requests interleaved: /x and /y overlap, a second /x
 * starts while the first is still waiting. Every call finds its own. */
static void test_interleaved_on_one_worker(void **state)
{
	static struct rec r;
	struct uplink_sink out = SINK(r);
	struct uplink *l = uplink_new(0, 0, 0, 0);
	/* time:      x1 [1 .. 20]  y [2 .. 8]  x2 [10 .. 30] (ms)
	 * calls:     x1c [3 .. 18] yc [4 .. 7]  x2c [12 .. 28] */
	struct uplink_call yc = call("GET", "/y", 4 * MS, 7 * MS, 200, "b1");
	struct uplink_call x1c = call("GET", "/x", 3 * MS, 18 * MS, 200, "b2");
	struct uplink_call x2c = call("GET", "/x", 12 * MS, 28 * MS, 200, "b1");
	struct uplink_in y = inbound("GET", "/y", 2 * MS, 8 * MS);
	struct uplink_in x1 = inbound("GET", "/x", 1 * MS, 20 * MS);
	struct uplink_in x2 = inbound("GET", "/x", 10 * MS, 30 * MS);

	(void)state;
	memset(&r, 0, sizeof(r));
	uplink_add_call(l, &yc, &out);
	uplink_add_inbound(l, &y, &out);
	uplink_add_call(l, &x1c, &out);
	uplink_add_inbound(l, &x1, &out);
	uplink_add_call(l, &x2c, &out);
	uplink_add_inbound(l, &x2, &out);
	uplink_run(l, 0, true, &out);
	assert_int_equal(r.nlinked, 3);
	assert_string_equal(r.route[0], "/y");
	assert_string_equal(r.ups[0], "b1");
	/* x1 holds only x1c: x2c starts before x1's end but ends after it. */
	assert_int_equal(r.first_start[1], 3 * MS);
	assert_int_equal(r.ncalls[1], 1);
	assert_string_equal(r.ups[1], "b2");
	assert_int_equal(r.first_start[2], 12 * MS);
	assert_int_equal(r.nunlinked, 0);
	uplink_free(l);
}

/* Twins: two /t requests both containing both calls. The one that ended
 * first takes the earliest call, by order, and says so; a 200 is never
 * followed by a retry, and a retry is never taken from a twin. */
static void test_twins_by_order(void **state)
{
	static struct rec r;
	struct uplink_sink out = SINK(r);
	struct uplink *l = uplink_new(0, 0, 0, 0);
	struct uplink_call c1 = call("GET", "/t", 2 * MS, 4 * MS, 200, "b1");
	struct uplink_call c2 = call("GET", "/t", 5 * MS, 7 * MS, 200, "b2");
	struct uplink_in t1 = inbound("GET", "/t", 1 * MS, 8 * MS);
	struct uplink_in t2 = inbound("GET", "/t", 1 * MS, 9 * MS);
	struct uplink_stats st;

	(void)state;
	memset(&r, 0, sizeof(r));
	uplink_add_call(l, &c1, &out);
	uplink_add_call(l, &c2, &out);
	uplink_add_inbound(l, &t1, &out);
	uplink_add_inbound(l, &t2, &out);
	uplink_run(l, 0, true, &out);
	assert_int_equal(r.nlinked, 2);
	assert_int_equal(r.ncalls[0], 1);          /* c2 was not taken as a retry */
	assert_true(r.by_order[0]);
	assert_int_equal(r.first_start[0], 2 * MS);
	assert_int_equal(r.first_start[1], 5 * MS);
	uplink_get_stats(l, &st);
	assert_int_equal(st.by_order, 1);
	uplink_free(l);
}

/* A health check (no inbound request), a call whose target was rewritten
 * (proxy_pass with a URI) and one outside every request's time: unlinked,
 * after max_age, never guessed. */
static void test_unlinked_never_guessed(void **state)
{
	static struct rec r;
	struct uplink_sink out = SINK(r);
	struct uplink *l = uplink_new(0, 0, 1000 * MS, 5000 * MS);
	struct uplink_call health = call("GET", "/health", 1 * MS, 2 * MS, 200, "b1");
	struct uplink_call rewritten = call("GET", "/v2/a", 11 * MS, 12 * MS, 200, "b1");
	struct uplink_call early = call("GET", "/a", 9 * MS, 12 * MS, 200, "b1");
	struct uplink_in a = inbound("GET", "/a", 10 * MS, 13 * MS);

	(void)state;
	memset(&r, 0, sizeof(r));
	uplink_add_call(l, &health, &out);
	uplink_add_call(l, &rewritten, &out);
	uplink_add_call(l, &early, &out);
	uplink_add_inbound(l, &a, &out);
	uplink_run(l, 2000 * MS, false, &out);
	assert_int_equal(r.nlinked, 0);
	assert_int_equal(r.nunlinked, 0);          /* still young */
	uplink_run(l, 6000 * MS, false, &out);
	assert_int_equal(r.nunlinked, 3);
	uplink_free(l);
}

/* NGINX's 504: the unanswered call is only reported when its connection
 * closes, after the inbound request ended; it still links because the
 * request waits settle_ns. */
static void test_late_unanswered_call(void **state)
{
	static struct rec r;
	struct uplink_sink out = SINK(r);
	struct uplink *l = uplink_new(0, 0, 3000 * MS, 0);
	struct uplink_in h = inbound("GET", "/hang", 1 * MS, 1002 * MS);
	struct uplink_call c = call("GET", "/hang", 2 * MS, 1001 * MS, 0, "py");

	(void)state;
	memset(&r, 0, sizeof(r));
	uplink_add_inbound(l, &h, &out);
	uplink_run(l, 2500 * MS, false, &out);
	uplink_add_call(l, &c, &out);
	uplink_run(l, 4100 * MS, false, &out);
	assert_int_equal(r.nlinked, 1);
	assert_int_equal(r.nunlinked, 0);
	uplink_free(l);
}

/* Full tables decide their oldest entry at once, counted. */
static void test_bounds(void **state)
{
	static struct rec r;
	struct uplink_sink out = SINK(r);
	struct uplink *l = uplink_new(2, 2, 0, 0);
	struct uplink_stats st;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (uint64_t i = 0; i < 3; i++) {
		struct uplink_call c = call("GET", "/n", (10 * i + 2) * MS, (10 * i + 3) * MS, 200, "b");
		uplink_add_call(l, &c, &out);
	}
	uplink_get_stats(l, &st);
	assert_int_equal(st.overflow, 1);
	assert_int_equal(r.nunlinked, 1);
	assert_int_equal(r.unlinked_start[0], 2 * MS);
	for (uint64_t i = 0; i < 3; i++) {
		struct uplink_in in = inbound("GET", "/n", (10 * i + 1) * MS, (10 * i + 4) * MS);
		uplink_add_inbound(l, &in, &out);
	}
	uplink_run(l, 0, true, &out);
	uplink_get_stats(l, &st);
	assert_int_equal(st.overflow, 2);
	assert_int_equal(st.linked, 2);
	assert_int_equal(st.unlinked, 1);
	uplink_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_call_each_and_local_route),
		cmocka_unit_test(test_retry_two_calls),
		cmocka_unit_test(test_interleaved_on_one_worker),
		cmocka_unit_test(test_twins_by_order),
		cmocka_unit_test(test_unlinked_never_guessed),
		cmocka_unit_test(test_late_unanswered_call),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
