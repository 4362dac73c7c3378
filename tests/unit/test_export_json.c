// SPDX-License-Identifier: MIT
/*
 * json_lines: every line parses back with jansson to the snapshot's
 * numbers, keys in the contract's order after "ts"; routes with quotes,
 * backslashes, control and non-UTF-8 bytes stay one valid line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "collector/agg.h"
#include "export/json_lines.h"

#define TS 1714557600123ull           /* 2024-05-01T10:00:00.123Z */

static void add(struct agg *a, const char *method, const char *route, uint16_t status,
		uint64_t lat_us)
{
	struct agg_sample s = {
		.host = "", .method = method, .route = route,
		.req = { .ts_ms = 1, .lat_us = lat_us, .status = status,
			 .bytes_in = 100, .bytes_out = 1000 },
	};
	agg_add(a, &s);
}

/* The lines written for s, split; *n set. */
static char **write_lines(const struct snapshot *s, size_t *n)
{
	char *buf = NULL, **lines = calloc(64, sizeof(*lines)), *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(json_lines_write(f, s), 0);
	assert_int_equal(fclose(f), 0);
	assert_true(len == 0 || buf[len - 1] == '\n');
	*n = 0;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[(*n)++] = strdup(l);
	free(buf);
	return lines;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static void test_lines_parse_back(void **state)
{
	static const char *const keys[] = {
		"ts", "method", "route", "requests", "s1xx", "s2xx", "s3xx", "s4xx", "s5xx",
		"aborted", "bytes_in", "bytes_out", "p50_ms", "p90_ms", "p99_ms", "max_ms", "protocol",
	};
	struct agg *a = agg_new(100);
	size_t n;
	(void)state;

	add(a, "GET", "/users/:id", 200, 1000);
	add(a, "GET", "/users/:id", 404, 3000);
	add(a, "POST", "/upload", 503, 250);
	struct snapshot *s = agg_snapshot(a, TS, 1000);
	char **lines = write_lines(s, &n);
	assert_int_equal(n, 3);          /* two endpoints, then the counters line */

	json_error_t je;
	json_t *o = json_loads(lines[0], 0, &je);
	assert_non_null(o);
	/* jansson keeps insertion order: the contract's order, ts first. */
	size_t k = 0;
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		assert_true(k < sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(key, keys[k++]);
	}
	assert_int_equal(k, sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(json_string_value(json_object_get(o, "ts")), "2024-05-01T10:00:00.123Z");
	assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
	/* a sample without a protocol is HTTP/1.1, as http_stream says by default */
	assert_string_equal(json_string_value(json_object_get(o, "protocol")), "http/1.1");
	assert_string_equal(json_string_value(json_object_get(o, "route")), "/users/:id");
	assert_int_equal(json_integer_value(json_object_get(o, "requests")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "s2xx")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "s4xx")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "bytes_out")), 2000);
	assert_true(json_real_value(json_object_get(o, "max_ms")) == 3.0);
	double p50 = json_real_value(json_object_get(o, "p50_ms"));
	assert_true(p50 > 0.99 && p50 < 1.01);
	json_decref(o);

	o = json_loads(lines[1], 0, &je);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "route")), "/upload");
	assert_int_equal(json_integer_value(json_object_get(o, "s5xx")), 1);
	assert_true(json_real_value(json_object_get(o, "p99_ms")) == 0.25);
	json_decref(o);
	free_lines(lines, n);
	snapshot_free(s);
	agg_free(a);
}

/* Several targets: "target" after "ts" on every endpoint line (OTHER's is
 * "*"); one target: no such key (the existing test's key list). */
static void test_target_key(void **state)
{
	struct agg *a = agg_new(100);
	struct agg_sample smp = { .host = "", .method = "GET", .route = "/api",
				  .req = { .ts_ms = 1, .lat_us = 10, .status = 200 } };
	size_t n;
	json_error_t je;
	(void)state;

	agg_add(a, &smp);
	smp.target = 1;
	agg_add(a, &smp);
	agg_add(a, &smp);
	struct snapshot *s = agg_snapshot(a, TS, 1000);
	s->ntargets = 2;
	snprintf(s->targets[0], TARGET_NAME_MAX, "nginx[10]");
	snprintf(s->targets[1], TARGET_NAME_MAX, "nginx[20]");
	char **lines = write_lines(s, &n);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 2; i++) {
		json_t *o = json_loads(lines[i], 0, &je);
		assert_non_null(o);
		void *it = json_object_iter_next(o, json_object_iter(o));
		assert_string_equal(json_object_iter_key(it), "target");
		const char *t = json_string_value(json_object_get(o, "target"));
		json_int_t want = !strcmp(t, "nginx[10]") ? 1 : !strcmp(t, "nginx[20]") ? 2 : -1;
		assert_int_equal(json_integer_value(json_object_get(o, "requests")), want);
		json_decref(o);
	}
	free_lines(lines, n);
	s->ntargets = 1;
	lines = write_lines(s, &n);
	assert_null(strstr(lines[0], "\"target\""));
	free_lines(lines, n);
	snapshot_free(s);
	agg_free(a);
}

static void test_escaping(void **state)
{
	static const char route[] = "/q/say\"hi\"\\x\nz\t\x01";
	struct agg *a = agg_new(100);
	size_t n;
	(void)state;

	add(a, "GET", route, 200, 10);
	add(a, "GET", "/bad/\xff\xfe", 200, 10);     /* not UTF-8: %XX, like query */
	struct snapshot *s = agg_snapshot(a, TS, 1000);
	char **lines = write_lines(s, &n);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_null(strpbrk(lines[i], "\t\x01"));   /* raw control bytes never leak */

	json_error_t je;
	json_t *o = json_loads(lines[0], 0, &je);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "route")), route);
	json_decref(o);
	o = json_loads(lines[1], 0, &je);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "route")), "/bad/%FF%FE");
	json_decref(o);
	free_lines(lines, n);
	snapshot_free(s);
	agg_free(a);
}

static void test_empty_and_failure(void **state)
{
	struct snapshot *s = snapshot_new(0);
	struct agg *a = agg_new(100);
	size_t n;
	(void)state;

	char **lines = write_lines(s, &n);
	assert_int_equal(n, 1);          /* an idle interval still reports its counters */
	assert_non_null(strstr(lines[0], "\"counters\":{"));
	assert_null(strstr(lines[0], "\"route\""));
	free_lines(lines, n);
	snapshot_free(s);

	/* A stream that cannot be written: -EIO, as main needs to stop on EPIPE. */
	add(a, "GET", "/", 200, 10);
	s = agg_snapshot(a, TS, 1000);
	FILE *ro = fopen("/dev/null", "r");
	assert_non_null(ro);
	assert_int_equal(json_lines_write(ro, s), -EIO);
	fclose(ro);
	snapshot_free(s);
	agg_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_parse_back),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_target_key),
		cmocka_unit_test(test_empty_and_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
