// SPDX-License-Identifier: MIT
/*
 * query: time parsing, sorting and the three output formats, without a DB;
 * then query_run()/query_main() against a small DB built with plain SQL.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "collector/hist.h"
#include "storage/query.h"
#include "storage/schema.h"

#define NOW 1714557600000LL       /* 2024-05-01 10:00:00Z */

static void tz_set(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static int64_t when(const char *s, int64_t now)
{
	int64_t ms = -1;
	if (query_parse_time(s, now, &ms))
		fail_msg("cannot parse '%s'", s);
	return ms;
}

static void test_parse_time(void **state)
{
	(void)state;
	int64_t ms;
	tz_set("UTC");

	assert_int_equal(when("30s", NOW), NOW - 30000);
	assert_int_equal(when("10m", NOW), NOW - 600000);
	assert_int_equal(when("2h", NOW), NOW - 7200000);
	assert_int_equal(when("7d", NOW), NOW - 7 * 86400000LL);
	assert_int_equal(when("0s", NOW), NOW);
	assert_int_equal(when("@1700000000", NOW), 1700000000000LL);
	assert_int_equal(when("09:15", NOW), NOW - 45 * 60000);
	assert_int_equal(when("09:15:30", NOW), NOW - 45 * 60000 + 30000);
	assert_int_equal(when("2024-05-01 09:00", NOW), NOW - 3600000);
	assert_int_equal(when("2024-05-01T09:00:01", NOW), NOW - 3599000);
	assert_int_equal(when("2024-05-01T10:00Z", NOW), NOW);
	assert_int_equal(when("2024-02-29 00:00:00Z", NOW), 1709164800000LL);

	/* Local time vs Z: EST5 is UTC-5 all year. */
	tz_set("EST5");
	assert_int_equal(when("2024-05-01 05:00", NOW), NOW);
	assert_int_equal(when("2024-05-01T05:00Z", NOW), NOW - 5 * 3600000LL);
	/* 10:00Z is 05:00 local on May 1; "HH:MM" is today in local time. */
	assert_int_equal(when("04:00", NOW), NOW - 3600000);
	/* At 02:00Z it is still Apr 30 locally, so 23:00 is Apr 30 23:00 EST. */
	assert_int_equal(when("23:00", NOW - 8 * 3600000LL), NOW - 6 * 3600000LL);
	assert_int_equal(when("09:00Z", NOW), NOW - 3600000);
	tz_set("UTC");

	static const char *const bad[] = {
		"", "10", "10x", "-5m", "5mm", "m", " 5m", "99999999999999999999s",
		"@", "@abc", "@-5", "@12x", "25:00", "12:60", "1:30", "12:3", "12:30:", "12:30:61",
		"2024-02-30 10:00", "2024-13-01 10:00", "2024-05-01", "2024-05-01 10:00Zx",
		"2024-05-01_10:00", "24-05-01 10:00", "1969-12-31 23:00Z", "now",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (query_parse_time(bad[i], NOW, &ms) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

static struct endpoint_row mkrow(const char *method, const char *route, uint64_t requests,
			      uint64_t s4, uint64_t s5, uint64_t bytes, uint64_t p99)
{
	struct endpoint_row r = { .requests = requests, .bytes_in = bytes / 2,
			       .bytes_out = bytes - bytes / 2, .p99_us = p99 };
	snprintf(r.method, sizeof(r.method), "%s", method);
	snprintf(r.route, sizeof(r.route), "%s", route);
	r.status[1] = requests - s4 - s5;
	r.status[3] = s4;
	r.status[4] = s5;
	return r;
}

static void assert_order(struct endpoint_row *r, size_t n, enum query_sort key,
			 const char *const expect[])
{
	char got[128];
	query_sort(r, n, key);
	for (size_t i = 0; i < n; i++) {
		snprintf(got, sizeof(got), "%s %s", r[i].method, r[i].route);
		assert_string_equal(got, expect[i]);
	}
}

static void test_sort(void **state)
{
	(void)state;
	struct endpoint_row r[] = {
		mkrow("GET", "/b", 10, 0, 1, 100, 500),
		mkrow("GET", "/a", 10, 2, 0, 900, 100),
		mkrow("POST", "/a", 50, 0, 0, 50, 9000),
		mkrow("DELETE", "/z", 1, 0, 1, 5000, 100),
	};
	const size_t n = sizeof(r) / sizeof(r[0]);

	assert_order(r, n, QUERY_SORT_REQUESTS,
		     (const char *const[]){ "POST /a", "GET /a", "GET /b", "DELETE /z" });
	assert_order(r, n, QUERY_SORT_P99,
		     (const char *const[]){ "POST /a", "GET /b", "DELETE /z", "GET /a" });
	assert_order(r, n, QUERY_SORT_ERRORS,
		     (const char *const[]){ "GET /a", "DELETE /z", "GET /b", "POST /a" });
	assert_order(r, n, QUERY_SORT_BYTES,
		     (const char *const[]){ "DELETE /z", "GET /a", "GET /b", "POST /a" });
}

/* Output of query_print() as a malloc'd string. */
static char *print(const struct endpoint_row *r, size_t n, enum query_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(query_print(f, r, n, fmt), 0);
	fclose(f);
	return buf;
}

static struct endpoint_row sample(const char *route)
{
	struct endpoint_row r = {
		.requests = 7, .status = { 0, 4, 1, 1, 1 }, .bytes_in = 1536, .bytes_out = 20000,
		.p50_us = 12345, .p90_us = 100, .p99_us = 1500000, .max_us = 1500001,
	};
	snprintf(r.method, sizeof(r.method), "GET");
	snprintf(r.route, sizeof(r.route), "%s", route);
	return r;
}

static void test_csv(void **state)
{
	(void)state;
	struct endpoint_row r[] = { sample("/a,b\"c"), sample("/plain"), sample("/x\r\ny") };
	char *out = print(r, 3, QUERY_FMT_CSV);
	assert_string_equal(out,
		"method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n"
		"GET,\"/a,b\"\"c\",7,0,4,1,1,1,0,1536,20000,12.345,0.100,1500.000,1500.001\n"
		"GET,/plain,7,0,4,1,1,1,0,1536,20000,12.345,0.100,1500.000,1500.001\n"
		"GET,\"/x\r\ny\",7,0,4,1,1,1,0,1536,20000,12.345,0.100,1500.000,1500.001\n");
	free(out);

	out = print(NULL, 0, QUERY_FMT_CSV);
	assert_string_equal(out, "method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,"
			    "bytes_out,p50_ms,p90_ms,p99_ms,max_ms\n");
	free(out);
}

static void test_json(void **state)
{
	(void)state;
	static const char *const ints[] = { "requests", "s1xx", "s2xx", "s3xx", "s4xx", "s5xx",
					    "bytes_in", "bytes_out" };
	static const char *const reals[] = { "p50_ms", "p90_ms", "p99_ms", "max_ms" };
	struct endpoint_row r[] = { sample("/a,b\"c"), sample("/bad\xff\x01") };
	char *out = print(r, 2, QUERY_FMT_JSON);
	json_error_t jerr;

	assert_non_null(strstr(out, "12.345"));
	assert_null(strstr(out, "12.34500"));
	json_t *arr = json_loads(out, 0, &jerr);
	if (!arr)
		fail_msg("json: %s", jerr.text);
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 2);
	json_t *o = json_array_get(arr, 0);
	assert_int_equal(json_object_size(o), 15);
	assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(o, "route")), "/a,b\"c");
	for (size_t i = 0; i < 8; i++)
		assert_true(json_is_integer(json_object_get(o, ints[i])));
	for (size_t i = 0; i < 4; i++)
		assert_true(json_is_real(json_object_get(o, reals[i])));
	assert_int_equal(json_integer_value(json_object_get(o, "s2xx")), 4);
	assert_true(json_real_value(json_object_get(o, "p50_ms")) == 12.345);
	assert_true(json_real_value(json_object_get(o, "max_ms")) == 1500.001);
	/* Not UTF-8: escaped, not dropped, no crash. */
	o = json_array_get(arr, 1);
	assert_string_equal(json_string_value(json_object_get(o, "route")), "/bad%FF%01");
	json_decref(arr);
	free(out);

	out = print(NULL, 0, QUERY_FMT_JSON);
	assert_string_equal(out, "[]\n");
	free(out);
}

/* Display columns from line to at (UTF-8 continuation bytes take none). */
static size_t cols_before(const char *line, const char *at)
{
	size_t n = 0;
	for (const char *p = line; p < at; p++)
		n += ((unsigned char)*p & 0xc0) != 0x80;
	return n;
}

static void test_table(void **state)
{
	(void)state;
	struct endpoint_row r[] = { sample("/users/:id"), sample("/") };
	snprintf(r[1].method, sizeof(r[1].method), "OPTIONS");
	r[1].requests = 1234567;
	r[1].p50_us = 850;
	char *out = print(r, 2, QUERY_FMT_TABLE);
	char *l1 = strchr(out, '\n') + 1, *l2 = strchr(l1, '\n') + 1;

	assert_memory_equal(out, "   REQS    2XX", 14);
	/* Columns line up: the route starts in the same display column on every
	 * line ("µ" is two bytes, one column). */
	size_t at = cols_before(out, strstr(out, "ROUTE"));
	assert_int_equal(cols_before(l1, strstr(l1, "/users/:id")), at);
	assert_int_equal(cols_before(l2, strstr(l2, "/\n")), at);
	assert_non_null(strstr(l1, " 1.5K "));          /* 1536 bytes */
	assert_non_null(strstr(l1, " 20K "));           /* 20000 bytes */
	assert_non_null(strstr(l1, " 12.3ms "));
	assert_non_null(strstr(l1, " 1.50s "));
	assert_non_null(strstr(l2, " 1.23M "));         /* 1234567 requests */
	assert_non_null(strstr(l2, " 850\u00b5s "));   /* one formatter: format/units.h */
	free(out);
}

static void test_parse_args(void **state)
{
	(void)state;
	struct query_opts o;
	char err[320];
	char *ok[] = { "query", "--db", "x.db", "--since", "1h", "--until=@1714557000",
		       "--sort", "p99", "--limit", "5", "--format", "json", NULL };

	assert_int_equal(query_parse_args(12, ok, NOW, &o, err, sizeof(err)), 0);
	assert_string_equal(o.db, "x.db");
	assert_int_equal(o.since_ms, NOW - 3600000);
	assert_int_equal(o.until_ms, 1714557000000LL);
	assert_int_equal(o.sort, QUERY_SORT_P99);
	assert_int_equal(o.limit, 5);
	assert_int_equal(o.format, QUERY_FMT_JSON);

	char *dflt[] = { "query", "--db", "x.db", NULL };
	assert_int_equal(query_parse_args(3, dflt, NOW, &o, err, sizeof(err)), 0);
	assert_int_equal(o.since_ms, 0);
	assert_int_equal(o.until_ms, INT64_MAX);
	assert_int_equal(o.sort, QUERY_SORT_REQUESTS);
	assert_int_equal(o.format, QUERY_FMT_TABLE);
	assert_int_equal(o.limit, 0);

	char *help[] = { "query", "--help", NULL };
	assert_int_equal(query_parse_args(2, help, NOW, &o, err, sizeof(err)), 1);

	/* Usage errors: exit 2 with one line naming the problem. */
	static const struct { int argc; const char *argv[8]; const char *msg; } bad[] = {
		{ 1, { "query" }, "--db FILE is required" },
		{ 4, { "query", "--db", "x", "--bogus" }, "unknown option '--bogus'" },
		{ 2, { "query", "--db" }, "missing value for '--db'" },
		{ 5, { "query", "--db", "x", "--sort", "latency" }, "--sort: 'latency'" },
		{ 5, { "query", "--db", "x", "--format", "xml" }, "--format: 'xml'" },
		{ 5, { "query", "--db", "x", "--limit", "-1" }, "--limit: '-1'" },
		{ 5, { "query", "--db", "x", "--since", "yesterday" }, "--since: cannot read 'yesterday'" },
		{ 7, { "query", "--db", "x", "--since", "1h", "--until", "2h" },
		  "--since must be before --until" },
		{ 4, { "query", "--db", "x", "extra" }, "unexpected argument 'extra'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(query_parse_args(bad[i].argc, (char **)bad[i].argv, NOW, &o, err,
						  sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
		assert_null(strchr(err, '\n'));
		assert_int_equal(query_main(bad[i].argc, (char **)bad[i].argv), 2);
	}
}

/* A DB made with the schema and plain SQL: 3 intervals of 2 endpoints. */
static void make_db(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	char err[256];
	uint8_t buf[HIST_ENCODED_MAX];

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(schema_migrate(db, path, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO sessions(id, started_ms) VALUES (1, 0);"
				      "INSERT INTO endpoints (id, method, route)"
				      " VALUES (1, 'GET', '/a'), (2, 'GET', '/b,c')",
				      NULL, NULL, NULL), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO endpoint_stats (session_id, ts_ms,"
					    " dur_ms, endpoint_id, requests, s1xx, s2xx, s3xx, s4xx,"
					    " s5xx, bytes_in, bytes_out, lat_sum_us, lat_max_us, hist)"
					    " VALUES (1, ?1, 1000, ?2, ?3, 0, ?3, 0, 0, 0, 10, 20, 0, ?4, ?5)",
					    -1, &q, NULL), 0);
	for (int i = 0; i < 3; i++) {
		for (int ep = 1; ep <= 2; ep++) {
			struct hist h;
			hist_init(&h);
			uint64_t lat = (uint64_t)(ep * 10 + i);        /* /a: 10,11,12 /b,c: 20,21,22 */
			hist_add_n(&h, lat, (uint64_t)(ep == 1 ? 5 : 1));
			size_t len = hist_encode(&h, buf, sizeof(buf));
			sqlite3_bind_int64(q, 1, NOW + i * 1000);
			sqlite3_bind_int(q, 2, ep);
			sqlite3_bind_int64(q, 3, (sqlite3_int64)h.count);
			sqlite3_bind_int64(q, 4, (sqlite3_int64)lat);
			sqlite3_bind_blob(q, 5, buf, (int)len, SQLITE_TRANSIENT);
			assert_int_equal(sqlite3_step(q), SQLITE_DONE);
			sqlite3_reset(q);
			hist_free(&h);
		}
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static char *run(const struct query_opts *o)
{
	char *buf = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (query_run(o, f, err, sizeof(err)))
		fail_msg("query_run: %s", err);
	fclose(f);
	return buf;
}

static void test_run_db(void **state)
{
	(void)state;
	char dir[] = "/tmp/l7top-query-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/q.db", dir);
	make_db(path);

	struct query_opts o = { .db = path, .since_ms = 0, .until_ms = INT64_MAX,
				.format = QUERY_FMT_CSV };
	char *out = run(&o);
	assert_string_equal(strchr(out, '\n') + 1,
		"GET,/a,15,0,15,0,0,0,0,30,60,0.011,0.012,0.012,0.012\n"
		"GET,\"/b,c\",3,0,3,0,0,0,0,30,60,0.021,0.022,0.022,0.022\n");
	free(out);

	/* [since, until) drops the first and last interval; limit keeps one row. */
	o.since_ms = NOW + 1;
	o.until_ms = NOW + 2000;
	o.limit = 1;
	o.sort = QUERY_SORT_P99;
	out = run(&o);
	assert_string_equal(strchr(out, '\n') + 1,
			    "GET,\"/b,c\",1,0,1,0,0,0,0,10,20,0.021,0.021,0.021,0.021\n");
	free(out);

	o.since_ms = NOW + 5000;
	o.until_ms = INT64_MAX;
	out = run(&o);
	assert_string_equal(strchr(out, '\n') + 1, "");
	free(out);

	/* The same route over h2: one row unless asked, --protocol keeps one,
	 * --by-protocol splits (rows from before schema 4 have protocol ''). */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO endpoints (id, method, route, protocol)"
				      " VALUES (3, 'GET', '/a', 'h2');"
				      "INSERT INTO endpoint_stats (session_id, ts_ms, dur_ms, endpoint_id,"
				      " requests, s1xx, s2xx, s3xx, s4xx, s5xx, bytes_in, bytes_out,"
				      " lat_sum_us, lat_max_us) VALUES (1, 1700000000000, 1000, 3, 4, 0, 0, 0,"
				      " 4, 0, 1, 2, 0, 0)", NULL, NULL, NULL), 0);
	sqlite3_close(db);
	o = (struct query_opts){ .db = path, .since_ms = 0, .until_ms = INT64_MAX,
				 .format = QUERY_FMT_CSV };
	out = run(&o);
	assert_non_null(strstr(out, "\nGET,/a,19,0,15,0,4,0,0,31,62,"));
	free(out);
	o.protocol = "h2";
	out = run(&o);
	assert_string_equal(out, "method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,"
			    "bytes_out,p50_ms,p90_ms,p99_ms,max_ms\nGET,/a,4,0,0,0,4,0,0,1,2,0.000,"
			    "0.000,0.000,0.000\n");
	free(out);
	o.protocol = NULL;
	o.by_protocol = true;
	out = run(&o);
	assert_non_null(strstr(out, "protocol,method,route,"));
	assert_non_null(strstr(out, "\n,GET,/a,15,"));
	assert_non_null(strstr(out, "\nh2,GET,/a,4,"));
	free(out);

	/* Runtime errors exit 1: not an l7top DB, missing file. */
	char *argv[] = { "query", "--db", dir, NULL };
	assert_int_equal(query_main(3, argv), 1);
	char *argv2[] = { "query", "--db", "/nonexistent-l7top.db", NULL };
	assert_int_equal(query_main(3, argv2), 1);
	char *argv3[] = { "query", "--db", path, "--format", "csv", "--limit", "1", NULL };
	assert_int_equal(query_main(7, argv3), 0);

	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_parse_args),
		cmocka_unit_test(test_run_db),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
