// SPDX-License-Identifier: MIT
/*
 * History (issue 6): snapshots go through the real writer thread into a temp
 * file and come back through query_*(): percentiles of merged histograms vs
 * exact ones, rollup and retention keeping totals exact, v1 → v2 migration,
 * virtual hosts split and summed, the request log, step series, sessions.
 */
#include <errno.h>
#include <math.h>
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
#include "collector/snapshot.h"
#include "storage/query.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "tests/unit/unit_db.h"

#define T0 1714557600000ULL       /* 2024-05-01 10:00:00Z, a minute boundary */

static const struct run_info sess = {
	.cmdline = "nginx: master process /usr/sbin/nginx", .pids = "100,101", .version = "test",
	.settings = "interval_ms=1000 slow_ms=100 log_status=500", .started_ms = T0,
	.capture = "plain",
};

static struct store *open_ok(const char *path)
{
	struct store *st = NULL;
	char err[256] = "";
	int rc = store_open(&st, path, &sess, err, sizeof(err));
	if (rc)
		fail_msg("store_open: %d %s", rc, err);
	return st;
}

/* Pushes, retrying while the queue is full (tests push faster than disks write). */
static void push(struct store *st, struct snapshot *s)
{
	struct store_health h;
	for (int i = 0; i < 6000; i++) {
		store_get_health(st, &h);
		if (h.queued < STORE_QUEUE_MAX - 1) {
			assert_int_equal(store_push(st, s), 0);
			return;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	fail_msg("writer stuck");
}

/* Polls (up to 30 s) until sql returns 0 on a second connection. */
static void wait_zero(const char *path, const char *sql)
{
	sqlite3 *db = db_open(path);
	for (int i = 0; i < 3000; i++) {
		if (db_int(db, "%s", sql) == 0) {
			sqlite3_close(db);
			return;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	fail_msg("still not 0 after 30 s: %s", sql);
}

/* xorshift: the same data on every run. */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double rng_unit(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

/* Log-normal latency in µs, median med_us: most values above the exact range. */
static uint64_t rng_latency(double med_us)
{
	double u1 = rng_unit() + 1e-12, u2 = rng_unit();
	double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
	double v = med_us * exp(0.7 * z);
	return v < 1 ? 1 : (uint64_t)v;
}

static void ep_name(struct snapshot *s, struct ep_stats *e, const char *host, const char *method,
		    const char *route)
{
	assert_non_null(e->host = snapshot_name(s, host));
	assert_non_null(e->method = snapshot_name(s, method));
	assert_non_null(e->route = snapshot_name(s, route));
}

static void ep_add(struct ep_stats *e, uint64_t lat, int status_class)
{
	assert_int_equal(hist_add(&e->lat, lat), 0);
	e->requests++;
	e->status[status_class - 1]++;
	e->lat_sum_us += lat;
	if (lat > e->lat_max_us)
		e->lat_max_us = lat;
	e->bytes_in += 200 + lat % 7;
	e->bytes_out += 1000 + lat % 13;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the ceil(q * n)-th smallest. */
static uint64_t exact_pct(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);
	return sorted[rank ? rank - 1 : 0];
}

static void assert_within_1pct(uint64_t got, uint64_t want, const char *what)
{
	double d = fabs((double)got - (double)want);
	if (d > 0.01 * (double)want)
		fail_msg("%s: %llu vs exact %llu (%.2f%%)", what, (unsigned long long)got,
			 (unsigned long long)want, 100.0 * d / (double)want);
}

static void fetch_rows(const char *path, const struct query_filter *f, struct endpoint_row **rows,
		       size_t *n)
{
	sqlite3 *db;
	char err[256] = "";
	if (query_open(path, &db, err, sizeof(err)))
		fail_msg("query_open: %s", err);
	if (query_fetch_rows(db, f, rows, n, err, sizeof(err)))
		fail_msg("query_fetch_rows: %s", err);
	sqlite3_close(db);
}

/* query_run() output as a string. */
static char *run(const struct query_opts *o)
{
	char *buf = NULL, err[320] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (query_run(o, f, err, sizeof(err)))
		fail_msg("query_run: %s", err);
	fclose(f);
	return buf;
}

/* ---- percentiles ------------------------------------------------------- */

#define P_EPS 3
#define P_IVS 120
#define P_MAXN (P_IVS * 40)

/*
 * 2 minutes of 1 s intervals, 3 endpoints with different latency shapes:
 * p50/p90/p99 per endpoint over everything and per 30 s step, from the DB's
 * merged histograms, within 1% of the exact percentiles of the raw values.
 */
static void test_percentiles_exact(void **state)
{
	(void)state;
	static const char *const routes[P_EPS] = { "/fast", "/mid", "/slow" };
	static const double med[P_EPS] = { 300, 8000, 250000 };
	static uint64_t raw[P_EPS][P_MAXN];
	static uint64_t step_raw[P_EPS][4][P_MAXN];
	size_t nraw[P_EPS] = { 0 }, nstep[P_EPS][4] = { { 0 } };
	struct tmpdb t;
	tmpdb_make(&t, "hist");

	struct store *st = open_ok(t.path);
	for (int i = 0; i < P_IVS; i++) {
		struct snapshot *s = snapshot_new(P_EPS);
		s->ts_ms = T0 + (uint64_t)i * 1000;
		s->dur_ms = 1000;
		for (int e = 0; e < P_EPS; e++) {
			ep_name(s, &s->eps[e], "", "GET", routes[e]);
			int k = 5 + (int)(rng() % 30);
			for (int j = 0; j < k; j++) {
				uint64_t v = rng_latency(med[e]);
				ep_add(&s->eps[e], v, 2);
				raw[e][nraw[e]++] = v;
				step_raw[e][i / 30][nstep[e][i / 30]++] = v;
			}
		}
		push(st, s);
	}
	store_close(st, T0 + P_IVS * 1000);

	struct endpoint_row *rows;
	size_t n;
	struct query_filter f = { .since_ms = 0, .until_ms = INT64_MAX };
	fetch_rows(t.path, &f, &rows, &n);
	assert_int_equal(n, P_EPS);
	for (size_t i = 0; i < n; i++) {
		int e = (int)(strstr(routes[0], rows[i].route) ? 0 : strstr(routes[1], rows[i].route) ? 1 : 2);
		qsort(raw[e], nraw[e], sizeof(uint64_t), cmp_u64);
		assert_int_equal(rows[i].requests, nraw[e]);
		assert_int_equal(rows[i].max_us, raw[e][nraw[e] - 1]);
		assert_within_1pct(rows[i].p50_us, exact_pct(raw[e], nraw[e], 0.50), "p50");
		assert_within_1pct(rows[i].p90_us, exact_pct(raw[e], nraw[e], 0.90), "p90");
		assert_within_1pct(rows[i].p99_us, exact_pct(raw[e], nraw[e], 0.99), "p99");
	}
	free(rows);

	f.step_ms = 30000;
	fetch_rows(t.path, &f, &rows, &n);
	assert_int_equal(n, P_EPS * 4);
	for (size_t i = 0; i < n; i++) {
		int e = !strcmp(rows[i].route, "/fast") ? 0 : !strcmp(rows[i].route, "/mid") ? 1 : 2;
		int k = (int)((rows[i].ts_ms - (int64_t)T0) / 30000);
		assert_in_range(k, 0, 3);
		uint64_t *v = step_raw[e][k];
		qsort(v, nstep[e][k], sizeof(uint64_t), cmp_u64);
		assert_int_equal(rows[i].requests, nstep[e][k]);
		assert_within_1pct(rows[i].p50_us, exact_pct(v, nstep[e][k], 0.50), "step p50");
		assert_within_1pct(rows[i].p90_us, exact_pct(v, nstep[e][k], 0.90), "step p90");
		assert_within_1pct(rows[i].p99_us, exact_pct(v, nstep[e][k], 0.99), "step p99");
	}
	free(rows);
	tmpdb_remove(&t);
}

/* ---- rollup and retention ---------------------------------------------- */

/*
 * 2 h of 2.5 s intervals (some start on a minute, most do not), 2 hosts x
 * 3 routes, written twice: once as is, once with rollup after 10 minutes.
 * Every per-minute row — counters, max and p50/p90/p99 of the merged
 * histograms — and the totals must be the same in both DBs.
 */
#define R_IVS 2880
static struct snapshot *roll_snap(int i)
{
	static const char *const hosts[] = { "a.example", "b.example" };
	static const char *const routes[] = { "/", "/users/{id}", "/api/orders" };
	struct snapshot *s = snapshot_new(6);
	s->ts_ms = T0 + (uint64_t)i * 2500;
	s->dur_ms = 2500;
	s->c.packets = 10 + (uint64_t)i % 7;
	s->c.conns_open = (uint64_t)i % 50;
	s->c.tls_drops = (uint64_t)i % 3;
	s->c.reqs_skipped = (uint64_t)i % 2;
	for (int e = 0; e < 6; e++) {
		ep_name(s, &s->eps[e], hosts[e / 3], e % 3 == 2 ? "POST" : "GET", routes[e % 3]);
		int k = 1 + (int)(rng() % 6);
		for (int j = 0; j < k; j++)
			ep_add(&s->eps[e], rng_latency(2000.0 * (e + 1)), rng() % 20 ? 2 : 5);
	}
	s->reqs = calloc(1, sizeof(*s->reqs));
	s->nreqs = 1;
	s->reqs[0].s.ts_ms = s->ts_ms + 7;
	s->reqs[0].s.status = 500;
	s->reqs[0].s.lat_us = 1000 + (uint64_t)i;
	snprintf(s->reqs[0].host, HOST_MAX, "%s", hosts[i % 2]);
	snprintf(s->reqs[0].method, METHOD_MAX, "GET");
	snprintf(s->reqs[0].route, ROUTE_MAX, "/users/{id}");
	snprintf(s->reqs[0].path, ROUTE_MAX, "/users/%d", i);
	return s;
}

static void write_roll_db(const char *path, uint64_t retention, uint64_t rollup)
{
	rng_state = 12345;
	struct store *st = open_ok(path);
	store_set_retention(st, retention, rollup);
	for (int i = 0; i < R_IVS; i++)
		push(st, roll_snap(i));
	struct store_health h;
	for (int i = 0; i < 3000; i++) {
		store_get_health(st, &h);
		if (h.written == R_IVS)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	assert_int_equal(h.written, R_IVS);
	assert_int_equal(h.errors, 0);
	if (rollup) {
		char sql[160];
		uint64_t newest = T0 + R_IVS * 2500ULL;
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM intervals WHERE dur_ms < 60000"
			 " AND ts_ms < %llu", (unsigned long long)((newest - rollup) / 60000 * 60000));
		wait_zero(path, sql);
	}
	if (retention) {
		/* Retention looks every 10 s of data, so it may be up to 10 s behind. */
		char sql[200];
		unsigned long long cut = T0 + R_IVS * 2500ULL - retention - 10000;
		snprintf(sql, sizeof(sql), "SELECT (SELECT count(*) FROM endpoint_stats WHERE ts_ms < %llu)"
			 " + (SELECT count(*) FROM requests WHERE ts_ms < %llu)"
			 " + (SELECT count(*) FROM intervals WHERE ts_ms < %llu)", cut, cut, cut);
		wait_zero(path, sql);
	}
	store_close(st, T0 + R_IVS * 2500ULL);
}

static void assert_rows_equal(const struct endpoint_row *a, size_t na, const struct endpoint_row *b,
			      size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		if (memcmp(&a[i], &b[i], sizeof(a[i])))
			fail_msg("row %zu differs: %s %s %s ts %lld: requests %llu/%llu p99 %llu/%llu"
				 " max %llu/%llu", i, a[i].host, a[i].method, a[i].route,
				 (long long)a[i].ts_ms, (unsigned long long)a[i].requests,
				 (unsigned long long)b[i].requests, (unsigned long long)a[i].p99_us,
				 (unsigned long long)b[i].p99_us, (unsigned long long)a[i].max_us,
				 (unsigned long long)b[i].max_us);
	}
}

static void test_rollup_exact(void **state)
{
	(void)state;
	struct tmpdb raw, rolled;
	tmpdb_make(&raw, "hist");
	tmpdb_make(&rolled, "hist");
	write_roll_db(raw.path, 0, 0);
	write_roll_db(rolled.path, 0, 10 * 60000);

	sqlite3 *db = db_open(rolled.path);
	/* Older than 10 min before the end: minute rows only; the last 10 min raw. */
	long long end = (long long)T0 + R_IVS * 2500LL, cut = (end - 600000) / 60000 * 60000;
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats WHERE ts_ms < %lld"
				" AND (dur_ms <> 60000 OR ts_ms %% 60000 <> 0)", cut), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM intervals WHERE ts_ms < %lld", cut),
			 (cut - (int64_t)T0) / 60000);
	assert_true(db_int(db, "SELECT count(*) FROM endpoint_stats WHERE ts_ms >= %lld"
			   " AND dur_ms = 2500", cut) > 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats WHERE ts_ms < %lld", cut),
			 6 * (cut - (int64_t)T0) / 60000);
	/* Interval counters: sums exact, conns_open the minute's max. */
	sqlite3 *rdb = db_open(raw.path);
	const char *sums = "SELECT sum(requests) * 1000003 + sum(packets) * 1009 + sum(tls_drops) * 7"
			   " + sum(reqs_skipped) FROM intervals";
	assert_int_equal(db_int(db, "%s", sums), db_int(rdb, "%s", sums));
	assert_int_equal(db_int(db, "SELECT conns_open FROM intervals WHERE ts_ms = %llu",
				(unsigned long long)T0 + 60000),
			 db_int(rdb, "SELECT max(conns_open) FROM intervals WHERE ts_ms >= %llu"
				" AND ts_ms < %llu", (unsigned long long)T0 + 60000,
				(unsigned long long)T0 + 120000));
	/* p99_us of a minute row = the merged histogram's p99 (for plain SQL). */
	assert_int_equal(schema_register_functions(db), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats WHERE dur_ms = 60000"
				" AND p99_us <> min(hist_quantile(hist, 0.99), lat_max_us)"), 0);
	sqlite3_close(rdb);
	sqlite3_close(db);

	struct query_filter f = { .since_ms = 0, .until_ms = INT64_MAX, .by_host = true };
	struct endpoint_row *a, *b;
	size_t na, nb;
	for (int pass = 0; pass < 3; pass++) {
		f.step_ms = pass == 0 ? 0 : pass == 1 ? 60000 : 3600000;
		fetch_rows(raw.path, &f, &a, &na);
		fetch_rows(rolled.path, &f, &b, &nb);
		query_sort(a, na, QUERY_SORT_REQUESTS);
		query_sort(b, nb, QUERY_SORT_REQUESTS);
		assert_rows_equal(a, na, b, nb);
		if (pass == 1)
			assert_int_equal(na, 6 * R_IVS * 2500 / 60000);
		free(a);
		free(b);
	}
	tmpdb_remove(&raw);
	tmpdb_remove(&rolled);
}

/*
 * Retention 30 min over 2 h of data: what is left is exactly the last 30 min
 * (totals equal to a DB that never deleted, over that range), and deleting
 * took several bounded steps (more rows than one step may touch).
 */
static void test_retention_exact(void **state)
{
	(void)state;
	struct tmpdb raw, kept;
	tmpdb_make(&raw, "hist");
	tmpdb_make(&kept, "hist");
	write_roll_db(raw.path, 0, 0);
	write_roll_db(kept.path, 30 * 60000, 10 * 60000);

	long long end = (long long)T0 + R_IVS * 2500LL, cut = end - 30 * 60000;
	sqlite3 *db = db_open(kept.path);
	/* Everything from the cutoff on is kept; what is older is gone but for
	 * the last retention pass's lag (10 s of data). */
	assert_int_equal(db_int(db, "SELECT count(*) FROM requests WHERE ts_ms >= %lld", cut),
			 (end - cut) / 2500);
	assert_in_range(db_int(db, "SELECT count(*) FROM requests"), (end - cut) / 2500,
			(end - cut + 10000) / 2500);
	assert_in_range(db_int(db, "SELECT min(ts_ms) FROM intervals"), cut - 60000 - 10000, cut);
	assert_int_equal(db_int(db, "SELECT count(*) FROM sessions"), 1);
	sqlite3_close(db);

	/* The rows kept sum exactly to the raw rows in the same (whole-minute) range. */
	struct query_filter f = { .since_ms = (cut + 59999) / 60000 * 60000, .until_ms = INT64_MAX };
	struct endpoint_row *a, *b;
	size_t na, nb;
	fetch_rows(raw.path, &f, &a, &na);
	fetch_rows(kept.path, &f, &b, &nb);
	query_sort(a, na, QUERY_SORT_REQUESTS);
	query_sort(b, nb, QUERY_SORT_REQUESTS);
	assert_rows_equal(a, na, b, nb);
	free(a);
	free(b);
	tmpdb_remove(&raw);
	tmpdb_remove(&kept);
}

/* ---- migration --------------------------------------------------------- */

/* The v1 schema exactly as l7top 0.1 wrote it (storage/schema.c at 50642f6). */
static const char v1_sql[] =
	"CREATE TABLE sessions (id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL,"
	" ended_ms INTEGER, target TEXT, pids TEXT, version TEXT, settings TEXT);"
	"CREATE TABLE endpoints (id INTEGER PRIMARY KEY, method TEXT NOT NULL,"
	" route TEXT NOT NULL, UNIQUE (method, route));"
	"CREATE TABLE intervals (session_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
	" dur_ms INTEGER NOT NULL, requests INTEGER NOT NULL, packets INTEGER,"
	" kernel_drops INTEGER, parse_errors INTEGER, unpaired INTEGER, reasm_gaps INTEGER,"
	" conn_overflow INTEGER, ep_overflow INTEGER, pending_overflow INTEGER,"
	" conns_open INTEGER, PRIMARY KEY (session_id, ts_ms));"
	"CREATE TABLE endpoint_stats (session_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
	" dur_ms INTEGER NOT NULL, endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),"
	" requests INTEGER, s1xx INTEGER, s2xx INTEGER, s3xx INTEGER, s4xx INTEGER,"
	" s5xx INTEGER, bytes_in INTEGER, bytes_out INTEGER, lat_sum_us INTEGER,"
	" lat_max_us INTEGER, hist BLOB, PRIMARY KEY (session_id, ts_ms, endpoint_id));"
	"CREATE INDEX endpoint_stats_ts ON endpoint_stats(ts_ms);"
	"CREATE VIEW endpoint_stats_v AS SELECT datetime(s.ts_ms / 1000, 'unixepoch') AS time,"
	" e.method, e.route, s.requests FROM endpoint_stats s JOIN endpoints e"
	" ON e.id = s.endpoint_id;"
	"INSERT INTO sessions VALUES (1, 1714557600000, 1714557700000, 'nginx', '7', '0.1.0',"
	" 'interval_ms=1000');"
	"INSERT INTO endpoints VALUES (5, 'GET', '/a'), (9, 'POST', '/b');"
	"INSERT INTO intervals (session_id, ts_ms, dur_ms, requests, packets, conns_open)"
	" VALUES (1, 1714557600000, 1000, 30, 99, 3), (1, 1714557601000, 1000, 12, 40, 2);"
	"PRAGMA application_id = 1815573615;"       /* 0x6c37746f */
	"PRAGMA user_version = 1;";

static void make_v1(const char *path)
{
	sqlite3 *db = db_open(path);
	sqlite3_stmt *q;
	uint8_t buf[HIST_ENCODED_MAX];

	db_exec(db, v1_sql);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO endpoint_stats VALUES"
					    " (1, ?1, 1000, ?2, ?3, 0, ?3, 0, 0, 0, 10, 20, 0, ?4, ?5)",
					    -1, &q, NULL), 0);
	for (int i = 0; i < 2; i++) {
		for (int ep = 0; ep < 2; ep++) {
			struct hist h;
			hist_init(&h);
			for (uint64_t v = 1; v <= (uint64_t)(10 + i + ep); v++)
				hist_add(&h, v * 1000);
			size_t len = hist_encode(&h, buf, sizeof(buf));
			sqlite3_bind_int64(q, 1, (sqlite3_int64)(T0 + (uint64_t)i * 1000));
			sqlite3_bind_int(q, 2, ep ? 9 : 5);
			sqlite3_bind_int64(q, 3, (sqlite3_int64)h.count);
			sqlite3_bind_int64(q, 4, (sqlite3_int64)h.max);
			sqlite3_bind_blob(q, 5, buf, (int)len, SQLITE_TRANSIENT);
			assert_int_equal(sqlite3_step(q), SQLITE_DONE);
			sqlite3_reset(q);
			hist_free(&h);
		}
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void test_migrate_v1(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_make(&t, "hist");
	make_v1(t.path);

	/* What v1 totals were, computed by plain SQL before migrating. */
	sqlite3 *db = db_open(t.path);
	int64_t req_a = db_int(db, "SELECT sum(requests) FROM endpoint_stats WHERE endpoint_id = 5");
	sqlite3_close(db);
	assert_int_equal(req_a, 10 + 11);

	/* l7top query migrates a v1 DB when it can write it... */
	struct query_opts o = { .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				.format = QUERY_FMT_CSV };
	char *out = run(&o);
	assert_string_equal(out,
		"method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n"
		"POST,/b,23,0,23,0,0,0,0,20,40,5.984,10.944,11.968,12.000\n"
		"GET,/a,21,0,21,0,0,0,0,20,40,5.984,10.048,10.944,11.000\n");
	free(out);

	db = db_open(t.path);
	assert_int_equal(db_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	/* Ids kept, host '' for old rows, the rebuilt table still joins. */
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints WHERE host = ''"
				" AND ((id = 5 AND route = '/a') OR (id = 9 AND route = '/b'))"), 2);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats s JOIN endpoints e"
				" ON e.id = s.endpoint_id"), 4);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats WHERE p99_us IS NULL"), 0);
	assert_int_equal(db_int(db, "SELECT sum(requests) FROM intervals"), 42);
	assert_int_equal(db_int(db, "SELECT count(*) FROM intervals WHERE tls_drops IS NULL"), 2);
	assert_int_equal(db_int(db, "SELECT count(*) FROM requests"), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM sqlite_master WHERE name ="
				" 'endpoint_stats_ts'"), 0);
	db_exec(db, "PRAGMA foreign_keys = ON");
	assert_int_equal(db_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	sqlite3_close(db);

	/* ...and the writer appends to it, with hosts, next to the old rows. */
	struct store *st = open_ok(t.path);
	struct snapshot *s = snapshot_new(1);
	s->ts_ms = T0 + 5000;
	s->dur_ms = 1000;
	ep_name(s, &s->eps[0], "shop.example", "GET", "/a");
	ep_add(&s->eps[0], 500, 2);
	push(st, s);
	store_close(st, T0 + 6000);
	db = db_open(t.path);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints WHERE method = 'GET'"
				" AND route = '/a'"), 2);
	assert_int_equal(db_int(db, "SELECT count(*) FROM sessions"), 2);
	sqlite3_close(db);
	tmpdb_remove(&t);

	/* The store migrates too (v1 file opened by l7top itself). */
	tmpdb_make(&t, "hist");
	make_v1(t.path);
	st = open_ok(t.path);
	store_close(st, T0);
	db = db_open(t.path);
	assert_int_equal(db_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(db_int(db, "SELECT sum(requests) FROM endpoint_stats"), 10 + 11 + 11 + 12);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

/* A migration that cannot complete leaves the v1 DB exactly usable as v1. */
static void test_migrate_fails_cleanly(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store *st;
	char err[320] = "";
	tmpdb_make(&t, "hist");
	make_v1(t.path);
	sqlite3 *db = db_open(t.path);
	db_exec(db, "CREATE TABLE requests (x)");          /* in the way of v2 */
	sqlite3_close(db);

	assert_int_equal(store_open(&st, t.path, &sess, err, sizeof(err)), -EIO);
	assert_null(st);
	assert_non_null(strstr(err, "cannot migrate"));
	char want[64];
	snprintf(want, sizeof(want), "from schema version 1 to %d (left unchanged)", STORE_SCHEMA_VERSION);
	assert_non_null(strstr(err, want));
	assert_null(strchr(err, '\n'));
	db = db_open(t.path);
	assert_int_equal(db_int(db, "PRAGMA user_version"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats"), 4);
	assert_int_equal(db_int(db, "SELECT count(*) FROM pragma_table_info('endpoints')"
				" WHERE name = 'host'"), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM sqlite_master WHERE name ="
				" 'endpoint_stats_v'"), 1);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

/* ---- hosts, request log, steps, sessions -------------------------------- */

/* One interval: GET /users/{id} under 3 hosts (one without Host), POST /login under 1. */
static struct snapshot *host_snap(uint64_t ts)
{
	static const char *const hosts[] = { "a.example", "b.example", "" };
	struct snapshot *s = snapshot_new(4);
	s->ts_ms = ts;
	s->dur_ms = 1000;
	for (int h = 0; h < 3; h++) {
		ep_name(s, &s->eps[h], hosts[h], "GET", "/users/{id}");
		for (int k = 0; k <= h; k++)
			ep_add(&s->eps[h], 1000 * (uint64_t)(h + 1) + (uint64_t)k, h == 1 ? 5 : 2);
	}
	ep_name(s, &s->eps[3], "a.example", "POST", "/login");
	ep_add(&s->eps[3], 20000, 4);
	return s;
}

static void fold_seen(void *ctx, const char *prefix)
{
	char *got = ctx;
	strcat(got, prefix);
	strcat(got, " ");
}

/*
 * Learned folds: stored with the snapshot that learned them, read back for
 * the next run, and applied by query to the rows stored before: history
 * shows one row per template (aborted counts summed too).
 */
static void test_learned_folds_history(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_make(&t, "hist");
	struct store *st = open_ok(t.path);
	struct snapshot *s = snapshot_new(3);
	s->ts_ms = T0;
	s->dur_ms = 1000;
	ep_name(s, &s->eps[0], "", "GET", "/u/alice");
	ep_add(&s->eps[0], 1000, 2);
	ep_name(s, &s->eps[1], "", "GET", "/u/bob");
	ep_add(&s->eps[1], 1000, 2);
	s->eps[1].requests++;
	s->eps[1].aborted++;
	ep_name(s, &s->eps[2], "", "GET", "/u/{*}");
	ep_add(&s->eps[2], 1000, 2);
	s->folds = calloc(1, sizeof(*s->folds));
	snprintf(s->folds[0], ROUTE_MAX, "/u/");
	s->nfolds = 1;
	push(st, s);
	store_close(st, T0 + 1000);

	st = open_ok(t.path);
	char got[256] = "";
	assert_int_equal(store_folds(st, fold_seen, got), 0);
	assert_string_equal(got, "/u/ ");
	/* the first snapshot hands the (unlocked) connection to the writer */
	struct snapshot *later = snapshot_new(0);
	later->ts_ms = T0 + 1000;
	later->dur_ms = 1000;
	push(st, later);
	assert_int_equal(store_folds(st, fold_seen, got), -EBUSY);
	assert_string_equal(got, "/u/ ");
	store_close(st, T0 + 2000);

	struct query_opts o = { .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				.format = QUERY_FMT_CSV };
	char *out = run(&o);
	assert_string_equal(out,
		"method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n"
		"GET,/u/{*},4,0,3,0,0,0,1,618,3036,1.000,1.000,1.000,1.000\n");
	free(out);
	o.endpoint = "GET /u/{*}";
	out = run(&o);
	assert_non_null(strstr(out, "GET,/u/{*},4,"));
	free(out);
	tmpdb_remove(&t);
}

static void test_hosts_split_and_sum(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_make(&t, "hist");
	struct store *st = open_ok(t.path);
	push(st, host_snap(T0));
	push(st, host_snap(T0 + 1000));
	store_close(st, T0 + 2000);

	/* Without --by-host: exactly today's totals contract, summed across hosts. */
	struct query_opts o = { .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				.format = QUERY_FMT_CSV };
	char *out = run(&o);
	assert_string_equal(out,
		"method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n"
		"GET,/users/{id},12,0,8,0,0,4,0,2464,12136,2.008,2.992,2.992,3.002\n"
		"POST,/login,2,0,0,0,2,0,0,402,2012,20.000,20.000,20.000,20.000\n");
	free(out);

	o.by_host = true;
	out = run(&o);
	assert_string_equal(out,
		"host,method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n"
		",GET,/users/{id},6,0,6,0,0,0,0,1230,6066,2.992,2.992,2.992,3.002\n"
		"b.example,GET,/users/{id},4,0,0,0,0,4,0,822,4046,2.001,2.001,2.001,2.001\n"
		"a.example,GET,/users/{id},2,0,2,0,0,0,0,412,2024,1.000,1.000,1.000,1.000\n"
		"a.example,POST,/login,2,0,0,0,2,0,0,402,2012,20.000,20.000,20.000,20.000\n");
	free(out);

	/* --by-host --step: host first, then ts. */
	o.step_ms = 60000;
	o.endpoint = "POST /login";
	out = run(&o);
	assert_string_equal(out,
		"host,ts,method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n"
		"a.example,2024-05-01T10:00:00Z,POST,/login,2,0,0,0,2,0,0,402,2012,20.000,20.000,"
		"20.000,20.000\n");
	free(out);

	o.format = QUERY_FMT_JSON;
	o.endpoint = "/users/{id}";
	o.limit = 1;
	out = run(&o);
	json_error_t jerr;
	json_t *arr = json_loads(out, 0, &jerr);
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), 1);
	json_t *row = json_array_get(arr, 0);
	const char *first = json_object_iter_key(json_object_iter(row));
	assert_string_equal(first, "host");
	assert_string_equal(json_string_value(json_object_get(row, "ts")), "2024-05-01T10:00:00Z");
	assert_int_equal(json_object_size(row), 17);
	json_decref(arr);
	free(out);
	tmpdb_remove(&t);
}

static void req_set(struct req_record *r, uint64_t ts, const char *host, const char *method,
		    const char *route, const char *path, uint16_t status, uint64_t lat)
{
	memset(r, 0, sizeof(*r));
	r->s.ts_ms = ts;
	r->s.status = status;
	r->s.lat_us = lat;
	r->s.bytes_in = 300;
	r->s.bytes_out = 4000 + status;
	r->s.pid = 4242;
	r->s.client = (struct peer_addr){ .family = 4, .port = (uint16_t)(40000u + status),
					   .addr = { 127, 0, 0, 1 } };
	snprintf(r->host, HOST_MAX, "%s", host);
	snprintf(r->method, METHOD_MAX, "%s", method);
	snprintf(r->route, ROUTE_MAX, "%s", route);
	snprintf(r->path, ROUTE_MAX, "%s", path);
}

static void test_request_log(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_make(&t, "hist");
	struct store *st = open_ok(t.path);
	struct snapshot *s = host_snap(T0);
	s->reqs = calloc(4, sizeof(*s->reqs));
	s->nreqs = 4;
	req_set(&s->reqs[0], T0 + 5, "b.example", "GET", "/users/{id}", "/users/7", 502, 3000);
	/* A query string that slipped through must not reach the DB. */
	req_set(&s->reqs[1], T0 + 123, "a.example", "GET", "/users/{id}",
		"/users/8?token=secret", 200, 250000);
	req_set(&s->reqs[2], T0 + 900, "", "POST", "/login", "/login#frag", 404, 120000);
	req_set(&s->reqs[3], T0 + 950, "a.example", "GET", "/users/{id}", "/users/9", 503, 101000);
	push(st, s);
	store_close(st, T0 + 1000);

	sqlite3 *db = db_open(t.path);
	assert_int_equal(db_int(db, "SELECT count(*) FROM requests WHERE instr(path, '?')"
				" OR instr(path, '#') OR instr(path, 'secret')"), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM requests_v WHERE time ="
				" '2024-05-01T10:00:00.123Z' AND latency_ms = 250"), 1);
	sqlite3_close(db);

	struct query_opts o = { .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				.format = QUERY_FMT_CSV, .mode = QUERY_MODE_REQUESTS,
				.slowest = 2 };
	char *out = run(&o);
	assert_string_equal(out,
		"ts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid\n"
		"2024-05-01T10:00:00.123Z,GET,/users/{id},/users/8,200,250.000,300,4200,"
		"127.0.0.1:40200,4242\n"
		"2024-05-01T10:00:00.900Z,POST,/login,/login,404,120.000,300,4404,"
		"127.0.0.1:40404,4242\n");
	free(out);

	o.slowest = 0;
	o.errors = true;
	o.by_host = true;
	out = run(&o);
	assert_string_equal(out,
		"host,ts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid\n"
		"b.example,2024-05-01T10:00:00.005Z,GET,/users/{id},/users/7,502,3.000,300,4502,"
		"127.0.0.1:40502,4242\n"
		",2024-05-01T10:00:00.900Z,POST,/login,/login,404,120.000,300,4404,"
		"127.0.0.1:40404,4242\n"
		"a.example,2024-05-01T10:00:00.950Z,GET,/users/{id},/users/9,503,101.000,300,4503,"
		"127.0.0.1:40503,4242\n");
	free(out);

	/* --endpoint and json. */
	o.endpoint = "GET /users/{id}";
	o.format = QUERY_FMT_JSON;
	o.by_host = false;
	out = run(&o);
	json_error_t jerr;
	json_t *arr = json_loads(out, 0, &jerr);
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), 2);
	json_t *r = json_array_get(arr, 1);
	assert_string_equal(json_object_iter_key(json_object_iter(r)), "ts");
	assert_int_equal(json_integer_value(json_object_get(r, "status")), 503);
	assert_true(json_real_value(json_object_get(r, "latency_ms")) == 101.0);
	assert_null(json_object_get(r, "host"));
	json_decref(arr);
	free(out);

	/* Through the command line too. */
	char *argv[] = { "query", "--db", t.path, "--requests", "--errors", "--format", "csv", NULL };
	assert_int_equal(query_main(7, argv), 0);
	tmpdb_remove(&t);
}

static void test_steps_and_sessions(void **state)
{
	(void)state;
	struct tmpdb t;
	tmpdb_make(&t, "hist");

	/* Session 1: 3 minutes at 1 s. Session 2: one interval in minute 2. */
	struct store *st = open_ok(t.path);
	for (int i = 0; i < 180; i++)
		push(st, host_snap(T0 + (uint64_t)i * 1000));
	store_close(st, T0 + 180000);
	struct run_info s2 = sess;
	s2.started_ms = T0 + 120000;
	s2.pids = "200";
	s2.capture = "plain+tls";
	char err[256];
	assert_int_equal(store_open(&st, t.path, &s2, err, sizeof(err)), 0);
	push(st, host_snap(T0 + 125000));
	store_close(st, T0 + 126000);

	struct query_opts o = { .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				.format = QUERY_FMT_CSV, .step_ms = 60000,
				.endpoint = "GET /users/{id}" };
	char *out = run(&o);
	assert_string_equal(out,
		"ts,method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n"
		"2024-05-01T10:00:00Z,GET,/users/{id},360,0,240,0,0,120,0,73920,364080,"
		"2.008,2.992,2.992,3.002\n"
		"2024-05-01T10:01:00Z,GET,/users/{id},360,0,240,0,0,120,0,73920,364080,"
		"2.008,2.992,2.992,3.002\n"
		"2024-05-01T10:02:00Z,GET,/users/{id},366,0,244,0,0,122,0,75152,370148,"
		"2.008,2.992,2.992,3.002\n");
	free(out);

	/* --session 2 and a --since/--until window; step rows sorted by ts then key. */
	o.session = 2;
	o.endpoint = NULL;
	o.since_ms = (int64_t)T0 + 60000;
	out = run(&o);
	assert_string_equal(strchr(out, '\n') + 1,
		"2024-05-01T10:02:00Z,GET,/users/{id},6,0,4,0,0,2,0,1232,6068,2.008,2.992,2.992,3.002\n"
		"2024-05-01T10:02:00Z,POST,/login,1,0,0,0,1,0,0,201,1006,20.000,20.000,20.000,20.000\n");
	free(out);

	struct query_opts so = { .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				 .format = QUERY_FMT_CSV, .mode = QUERY_MODE_SESSIONS };
	out = run(&so);
	assert_string_equal(out,
		"id,start,end,target,pids,version,capture,settings,notes\n"
		"1,2024-05-01T10:00:00Z,2024-05-01T10:03:00Z,nginx: master process /usr/sbin/nginx,"
		"\"100,101\",test,plain,interval_ms=1000 slow_ms=100 log_status=500,\n"
		"2,2024-05-01T10:02:00Z,2024-05-01T10:02:06Z,nginx: master process /usr/sbin/nginx,"
		"200,test,plain+tls,interval_ms=1000 slow_ms=100 log_status=500,\n");
	free(out);

	/* Table formats render (headers present, one line per row). */
	o.format = QUERY_FMT_TABLE;
	o.by_host = true;
	out = run(&o);
	assert_memory_equal(out, "TIME                 HOST      ", 30);
	free(out);
	so.format = QUERY_FMT_TABLE;
	out = run(&so);
	assert_non_null(strstr(out, "plain+tls"));
	free(out);

	/* Usage errors. */
	struct query_opts po;
	char perr[320];
	char *bad1[] = { "query", "--db", "x", "--step", "0s", NULL };
	assert_int_equal(query_parse_args(5, bad1, 0, &po, perr, sizeof(perr)), -EINVAL);
	assert_non_null(strstr(perr, "--step"));
	char *bad2[] = { "query", "--db", "x", "--requests", "--step", "1m", NULL };
	assert_int_equal(query_parse_args(6, bad2, 0, &po, perr, sizeof(perr)), -EINVAL);
	char *bad3[] = { "query", "--db", "x", "--session", "zero", NULL };
	assert_int_equal(query_parse_args(5, bad3, 0, &po, perr, sizeof(perr)), -EINVAL);
	char *ok[] = { "query", "--db", "x", "--slowest", "5", "--by-host", "--session", "3", NULL };
	assert_int_equal(query_parse_args(8, ok, 0, &po, perr, sizeof(perr)), 0);
	assert_int_equal(po.mode, QUERY_MODE_REQUESTS);
	assert_int_equal(po.slowest, 5);
	assert_true(po.by_host);
	assert_int_equal(po.session, 3);
	tmpdb_remove(&t);
}

/* A reader holding a read transaction open does not stop the writer (WAL). */
static void test_concurrent_reader(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store_health h;
	tmpdb_make(&t, "hist");
	struct store *st = open_ok(t.path);
	push(st, host_snap(T0));
	sqlite3 *db = db_open(t.path);
	for (int i = 0; i < 200 && db_int(db, "SELECT count(*) FROM intervals") == 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	db_exec(db, "BEGIN");
	int64_t before = db_int(db, "SELECT count(*) FROM endpoint_stats");
	for (int i = 1; i < 20; i++)
		push(st, host_snap(T0 + (uint64_t)i * 1000));
	for (int i = 0; i < 500; i++) {
		store_get_health(st, &h);
		if (h.written == 20)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	assert_int_equal(h.written, 20);
	assert_int_equal(h.errors, 0);
	assert_string_equal(h.last_error, "");
	assert_true(h.max_write_us > 0);
	/* The reader's snapshot is stable; after it ends it sees everything. */
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats"), before);
	db_exec(db, "COMMIT");
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats"), 20 * 4);
	sqlite3_close(db);
	store_close(st, T0 + 20000);
	tmpdb_remove(&t);
}

/* A corrupt file: one line, the right errno, for both writer and reader. */
static void test_corrupt_file(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store *st;
	sqlite3 *db;
	char err[320] = "";
	tmpdb_make(&t, "hist");
	st = open_ok(t.path);
	push(st, host_snap(T0));
	store_close(st, T0 + 1000);
	/* Overwrite the header page with junk. */
	FILE *f = fopen(t.path, "r+b");
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fputc(0xa5 ^ i, f);
	fclose(f);
	assert_int_equal(store_open(&st, t.path, &sess, err, sizeof(err)), -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, t.path));
	assert_int_not_equal(query_open(t.path, &db, err, sizeof(err)), 0);
	assert_null(strchr(err, '\n'));
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentiles_exact),
		cmocka_unit_test(test_rollup_exact),
		cmocka_unit_test(test_retention_exact),
		cmocka_unit_test(test_migrate_v1),
		cmocka_unit_test(test_migrate_fails_cleanly),
		cmocka_unit_test(test_hosts_split_and_sum),
		cmocka_unit_test(test_learned_folds_history),
		cmocka_unit_test(test_request_log),
		cmocka_unit_test(test_steps_and_sessions),
		cmocka_unit_test(test_concurrent_reader),
		cmocka_unit_test(test_corrupt_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
