// SPDX-License-Identifier: MIT
/* route_cache: hits, the learner's fold count, replacement, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/route_cache.h"

static const char *get(struct route_cache *rc, const char *target, size_t folds,
		       struct route_slot **slot)
{
	return route_cache_get(rc, target, strlen(target), folds, slot);
}

static void test_hit_and_fold_count(void **state)
{
	(void)state;
	struct route_cache *rc = route_cache_new(0);
	struct route_slot *slot;

	assert_non_null(rc);
	assert_null(get(rc, "/users/42", 0, &slot));
	assert_non_null(slot);
	route_cache_fill(slot, "/users/42", 9, 0, "/users/{id}");
	assert_string_equal(get(rc, "/users/42", 0, &slot), "/users/{id}");
	/* the learner learnt a fold since: folded again, then cached anew */
	assert_null(get(rc, "/users/42", 1, &slot));
	assert_non_null(slot);
	route_cache_fill(slot, "/users/42", 9, 1, "/users/{*}");
	assert_string_equal(get(rc, "/users/42", 1, &slot), "/users/{*}");
	/* another target of the same length is not this one */
	assert_null(get(rc, "/users/43", 1, &slot));
	route_cache_free(rc);
}

/* Every target a slot, direct-mapped: a later one may take an earlier
 * one's slot, never its route. */
static void test_replacement(void **state)
{
	(void)state;
	struct route_cache *rc = route_cache_new(0);
	struct route_slot *slot;
	char t[32], r[32];
	int hits = 0;

	for (int i = 0; i < 3 * ROUTE_CACHE_MIN_SLOTS; i++) {
		snprintf(t, sizeof(t), "/p/%d", i);
		snprintf(r, sizeof(r), "route %d", i);
		assert_null(get(rc, t, 0, &slot));
		route_cache_fill(slot, t, strlen(t), 0, r);
	}
	for (int i = 0; i < 3 * ROUTE_CACHE_MIN_SLOTS; i++) {
		snprintf(t, sizeof(t), "/p/%d", i);
		snprintf(r, sizeof(r), "route %d", i);
		const char *got = get(rc, t, 0, &slot);
		if (got) {
			assert_string_equal(got, r);
			hits++;
		}
	}
	assert_true(hits > 0 && hits <= ROUTE_CACHE_MIN_SLOTS);
	route_cache_free(rc);
}

/* The route depends on the path only: a query string or a fragment does
 * not make a target new, and the path's bytes alone are compared. */
static void test_keyed_by_path(void **state)
{
	(void)state;
	struct route_cache *rc = route_cache_new(0);
	struct route_slot *slot;

	assert_null(get(rc, "/search?q=shoes", 0, &slot));
	assert_non_null(slot);
	route_cache_fill(slot, "/search?q=shoes", 15, 0, "/search");
	assert_string_equal(get(rc, "/search?q=socks&page=2", 0, &slot), "/search");
	assert_string_equal(get(rc, "/search#top", 0, &slot), "/search");
	assert_string_equal(get(rc, "/search", 0, &slot), "/search");
	assert_null(get(rc, "/searches?q=shoes", 0, &slot));
	assert_null(get(rc, "/search/?q=shoes", 0, &slot));
	/* only a query string: no path to key by, folded every time */
	assert_null(get(rc, "?q=1", 0, &slot));
	assert_null(slot);
	/* a long query string after a short path is cachable */
	char longq[ROUTE_CACHE_TARGET * 2];
	memset(longq, 'q', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	memcpy(longq, "/p?", 3);
	assert_null(get(rc, longq, 0, &slot));
	assert_non_null(slot);
	route_cache_fill(slot, longq, strlen(longq), 0, "/p");
	assert_string_equal(get(rc, "/p?x", 0, &slot), "/p");
	route_cache_free(rc);
}

/* Every length of target is hashed to its last byte: the tail of 1 to 7
 * bytes after the last whole word is read without going past the end
 * (ASan checks) and picks the slot, so targets that differ only there
 * do not all land in one. */
static void test_tail_bytes_hashed(void **state)
{
	(void)state;
	struct route_cache *rc = route_cache_new(0);
	char t[32], r[32];

	for (size_t len = 2; len <= 24; len++) {
		struct route_slot *first = NULL, *slot;
		bool apart = false;

		for (char last = 'a'; last <= 'd'; last++) {
			memset(t, 'x', len);
			t[0] = '/';
			t[len - 1] = last;
			t[len] = '\0';
			snprintf(r, sizeof(r), "route %zu%c", len, last);
			assert_null(get(rc, t, 0, &slot));
			assert_non_null(slot);
			if (!first)
				first = slot;
			apart |= slot != first;
			route_cache_fill(slot, t, len, 0, r);
			assert_string_equal(get(rc, t, 0, &slot), r);
		}
		assert_true(apart);
	}
	route_cache_free(rc);
}

static void test_bounds(void **state)
{
	(void)state;
	struct route_cache *rc = route_cache_new(0);
	struct route_slot *slot;
	char longt[ROUTE_CACHE_TARGET + 2], longr[ROUTE_CACHE_ROUTE + 1];

	memset(longt, 'a', sizeof(longt) - 1);
	longt[0] = '/';
	longt[sizeof(longt) - 1] = '\0';
	assert_null(get(rc, longt, 0, &slot));
	assert_null(slot);                          /* not cachable: folded every time */
	route_cache_fill(slot, longt, strlen(longt), 0, "/x");   /* NULL slot: nothing */
	assert_null(get(rc, "", 0, &slot));
	assert_null(slot);
	memset(longr, 'r', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	assert_null(get(rc, "/long/route", 0, &slot));
	route_cache_fill(slot, "/long/route", 11, 0, longr);      /* a route that long: not kept */
	assert_null(get(rc, "/long/route", 0, &slot));
	assert_null(route_cache_get(NULL, "/a", 2, 0, &slot));     /* no cache (ENOMEM): misses */
	assert_null(slot);
	route_cache_free(rc);
	route_cache_free(NULL);
}

/* A slot per endpoint row, a power of two within the bounds; a bigger
 * table keeps more of many targets. */
static void test_sized_by_endpoints(void **state)
{
	(void)state;
	static const size_t want[][2] = {
		{ 0, 1024 }, { 1024, 1024 }, { 2000, 2048 }, { 10000, 16384 }, { 1000000, 16384 },
	};
	struct route_slot *slot;
	char t[32];
	int hits[2] = { 0, 0 };

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct route_cache *rc = route_cache_new(want[i][0]);
		assert_int_equal(route_cache_slots(rc), want[i][1]);
		route_cache_free(rc);
	}
	for (int k = 0; k < 2; k++) {
		struct route_cache *rc = route_cache_new(k ? 10000 : 0);
		for (int i = 0; i < 10000; i++) {
			snprintf(t, sizeof(t), "/ep/%d", i);
			route_cache_prefetch(rc, t, strlen(t));   /* a hint: changes nothing */
			assert_null(get(rc, t, 0, &slot));
			route_cache_fill(slot, t, strlen(t), 0, t);
		}
		for (int i = 0; i < 10000; i++) {
			snprintf(t, sizeof(t), "/ep/%d", i);
			const char *got = get(rc, t, 0, &slot);
			if (got) {
				assert_string_equal(got, t);
				hits[k]++;
			}
		}
		route_cache_free(rc);
	}
	assert_true(hits[0] <= 1024);
	assert_true(hits[1] > 5000);          /* 10,000 targets in 16,384 slots: ~7,400 */
}

/* Worth fetching ahead while lookups miss, judged a window at a time. */
static void test_missing_judged_by_window(void **state)
{
	(void)state;
	struct route_cache *rc = route_cache_new(0);
	struct route_slot *slot;
	char t[32];

	assert_false(route_cache_missing(rc));
	for (int i = 0; i < ROUTE_CACHE_WINDOW; i++) {      /* all new: misses */
		snprintf(t, sizeof(t), "/new/%d", i);
		assert_null(get(rc, t, 0, &slot));
		assert_int_equal(route_cache_missing(rc), i == ROUTE_CACHE_WINDOW - 1);
	}
	assert_null(get(rc, "/hot", 0, &slot));
	route_cache_fill(slot, "/hot", 4, 0, "/hot");
	for (int i = 1; i < ROUTE_CACHE_WINDOW; i++)         /* one miss, then hits */
		assert_non_null(get(rc, "/hot", 0, &slot));
	assert_false(route_cache_missing(rc));
	route_cache_free(rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_and_fold_count),
		cmocka_unit_test(test_replacement),
		cmocka_unit_test(test_keyed_by_path),
		cmocka_unit_test(test_tail_bytes_hashed),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_sized_by_endpoints),
		cmocka_unit_test(test_missing_judged_by_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
