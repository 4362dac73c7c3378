// SPDX-License-Identifier: MIT
/* route_learn (learned folding) and route_pattern (user route patterns). */
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/route_learn.h"
#include "collector/route_pattern.h"

static const char *apply(struct route_learn *l, const char *route)
{
	static char buf[256];
	snprintf(buf, sizeof(buf), "%s", route);
	route_learn_apply(l, buf, sizeof(buf));
	return buf;
}

/* Slugs, names and SKUs fold once a parent has more than 16 of them; real
 * fixed routes under few values stay; the first segment never folds. */
static void test_learns_templates(void **state)
{
	(void)state;
	struct route_learn *l = route_learn_new(0, 0, 0);
	char r[128];

	for (int i = 0; i < 16; i++) {
		snprintf(r, sizeof(r), "/blog/post-number-%d", i);
		assert_string_equal(apply(l, r), r);       /* 16 values: not yet */
	}
	assert_int_equal(route_learn_count(l), 0);
	assert_string_equal(apply(l, "/blog/yet-another-post"), "/blog/{*}");
	assert_int_equal(route_learn_count(l), 1);
	assert_string_equal(route_learn_prefix(l, 0), "/blog/");
	assert_string_equal(apply(l, "/blog/post-number-3"), "/blog/{*}");
	assert_string_equal(apply(l, "/blog/a/comments"), "/blog/{*}/comments");

	/* names under /u/, each with a fixed tail: the tail stays */
	for (int i = 0; i < 40; i++) {
		snprintf(r, sizeof(r), "/u/user%c%c/posts", 'a' + i % 26, 'a' + i / 26);
		apply(l, r);
	}
	assert_string_equal(apply(l, "/u/alice/posts"), "/u/{*}/posts");
	/* a second level learned under a folded parent */
	for (int i = 0; i < 20; i++) {
		snprintf(r, sizeof(r), "/products/SKU-%04d", i * 7 + 1);
		apply(l, r);
	}
	assert_string_equal(apply(l, "/products/SKU-9999"), "/products/{*}");
	/* top-level names never fold, however many */
	for (int i = 0; i < 100; i++) {
		snprintf(r, sizeof(r), "/scan%d", i);
		assert_string_equal(apply(l, r), r);
	}
	/* placeholders are one value: 100 ids do not fold /api/items/ */
	for (int i = 0; i < 100; i++)
		assert_string_equal(apply(l, "/api/items/{id}"), "/api/items/{id}");
	assert_string_equal(apply(l, "/api/items/{id}/x"), "/api/items/{id}/x");
	assert_int_equal(route_learn_count(l), 3);
	route_learn_free(l);
}

/* A restart: folds known from the DB apply from the first request. */
static void test_known_folds_and_rewrite(void **state)
{
	(void)state;
	struct route_learn *l = route_learn_new(0, 0, 0);
	const char *const known[] = { "/blog/", "/u/{*}/posts/" };
	char out[256];

	assert_int_equal(route_learn_add(l, known[0]), 0);
	assert_int_equal(route_learn_add(l, known[1]), 0);
	assert_int_equal(route_learn_add(l, "no-slash"), -EINVAL);
	assert_string_equal(apply(l, "/blog/first"), "/blog/{*}");
	assert_string_equal(apply(l, "/u/bob/posts"), "/u/bob/posts");   /* /u/ itself not folded */

	/* rows stored before the folds were learned, as query rewrites them */
	route_learn_rewrite(known, 2, "/blog/hello-world", out, sizeof(out));
	assert_string_equal(out, "/blog/{*}");
	route_learn_rewrite(known, 2, "/u/{*}/posts/42", out, sizeof(out));
	assert_string_equal(out, "/u/{*}/posts/{*}");
	route_learn_rewrite(known, 2, "/blogx/y", out, sizeof(out));
	assert_string_equal(out, "/blogx/y");
	route_learn_rewrite(known, 0, "/", out, sizeof(out));
	assert_string_equal(out, "/");
	route_learn_free(l);
}

/* Memory is bounded: at most max_folds folds, the rest refused (counted);
 * a flood of parents only recycles slots. */
static void test_bounds(void **state)
{
	(void)state;
	struct route_learn *l = route_learn_new(2, 64, 4);
	char r[128];

	for (int p = 0; p < 10; p++)
		for (int v = 0; v < 3; v++) {
			snprintf(r, sizeof(r), "/p%d/v%d", p, v);
			apply(l, r);
		}
	assert_int_equal(route_learn_count(l), 4);
	assert_int_equal(route_learn_refused(l), 6);
	for (int i = 0; i < 100000; i++) {
		snprintf(r, sizeof(r), "/x%d/y", i);
		apply(l, r);
	}
	assert_int_equal(route_learn_count(l), 4);
	/* long routes stay within the buffer */
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[10] = '/';
	big[sizeof(big) - 1] = '\0';
	route_learn_apply(l, big, 64);
	assert_true(strlen(big) < 64);
	route_learn_free(l);
}

/*
 * A route cut by the caller's buffer: a value is counted by all its bytes,
 * not the ones that fit (values alike up to the cut are still distinct),
 * and a fold writes "{*}" where the cut value stood.
 */
static void test_cut_values(void **state)
{
	(void)state;
	struct route_learn *l = route_learn_new(16, 0, 0);
	char r[64];

	for (int v = 1; v <= 16; v++) {
		snprintf(r, sizeof(r), "/u/aaaa-%d/x", v);
		route_learn_apply(l, r, 8);
		assert_string_equal(r, "/u/aaaa");
	}
	assert_int_equal(route_learn_count(l), 0);
	snprintf(r, sizeof(r), "/u/aaaa-17/x");
	assert_true(route_learn_apply(l, r, 8));
	assert_string_equal(r, "/u/{*}/");
	assert_string_equal(route_learn_prefix(l, 0), "/u/");
	/* the parent's hash follows what was written: "/u/{*}/" is a parent
	 * of its own, counted like any other */
	snprintf(r, sizeof(r), "/u/zzzz/x");
	route_learn_apply(l, r, 64);
	assert_string_equal(r, "/u/{*}/x");
	route_learn_free(l);
}

static void test_patterns(void **state)
{
	(void)state;
	struct route_patterns *p = route_patterns_new();
	const char *why;

	assert_int_equal(route_patterns_add(p, "/api/v{version}/items/{sku}", &why), 0);
	assert_int_equal(route_patterns_add(p, "/u/{user}", &why), 0);
	assert_int_equal(route_patterns_add(p, "/static/*", &why), 0);
	assert_int_equal(route_patterns_add(p, "/search", &why), 0);
	assert_int_equal(route_patterns_add(p, "/a/*/b", &why), 0);
	assert_string_equal(route_patterns_match(p, "/api/v2/items/SKU-1"), "/api/v{version}/items/{sku}");
	assert_null(route_patterns_match(p, "/api/v/items/SKU-1"));     /* {version}: 1+ bytes */
	assert_null(route_patterns_match(p, "/api/v2/items/a/b"));
	assert_string_equal(route_patterns_match(p, "/u/alice"), "/u/{user}");
	assert_null(route_patterns_match(p, "/u/alice/x"));
	assert_null(route_patterns_match(p, "/u/"));
	assert_string_equal(route_patterns_match(p, "/static/css/site.css"), "/static/*");
	assert_string_equal(route_patterns_match(p, "/static/"), "/static/*");
	assert_string_equal(route_patterns_match(p, "/search"), "/search");
	assert_null(route_patterns_match(p, "/search/x"));
	assert_string_equal(route_patterns_match(p, "/a/x/b"), "/a/*/b");
	assert_null(route_patterns_match(p, "/a//b"));
	assert_int_equal(route_patterns_count(p), 5);

	static const char *const bad[] = { "api", "/a b", "/x?y=1", "/{}", "/{a", "/a}", "/{a-b}",
					   "/x*", "/{a}{b}", "/*x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(route_patterns_add(p, bad[i], &why), -EINVAL);
		assert_non_null(why);
	}
	route_patterns_free(p);
}

static void test_pattern_file(void **state)
{
	(void)state;
	struct route_patterns *p = route_patterns_new();
	static const char ok[] = "# shop routes\n\n  /u/{user}   # people\n/static/*\r\n";
	static const char bad[] = "/ok\n# fine\n/also/ok\nnot-a-route\n";
	unsigned line;
	const char *why;

	assert_int_equal(route_patterns_load(p, ok, strlen(ok), &line, &why), 0);
	assert_int_equal(route_patterns_count(p), 2);
	assert_string_equal(route_patterns_match(p, "/u/bob"), "/u/{user}");
	assert_int_equal(route_patterns_load(p, bad, strlen(bad), &line, &why), -EINVAL);
	assert_int_equal(line, 4);
	route_patterns_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learns_templates),
		cmocka_unit_test(test_known_folds_and_rewrite),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_cut_values),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_pattern_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
