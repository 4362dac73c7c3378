// SPDX-License-Identifier: MIT
/*
 * store + schema: snapshots go through the real writer thread into a temp
 * file, then come back out through query_fetch() and plain SQL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "collector/hist.h"
#include "collector/snapshot.h"
#include "storage/query.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "tests/unit/unit_db.h"

#define T0 1714557600000ULL       /* 2024-05-01 10:00:00Z */

static const struct run_info sess = {
	.cmdline = "nginx: master process", .pids = "100,101", .version = "test",
	.settings = "interval=1s", .started_ms = T0,
};

static struct store *store_open_ok(const char *path)
{
	struct store *st = NULL;
	char err[256] = "";
	int rc = store_open(&st, path, &sess, err, sizeof(err));
	if (rc)
		fail_msg("store_open: %d %s", rc, err);
	return st;
}

/* Sets endpoint i of s: latencies lat[0..nlat), status class of each. */
static void ep_set(struct snapshot *s, size_t i, const char *method, const char *route,
		   const uint64_t *lat, size_t nlat, int status_class)
{
	struct ep_stats *e = &s->eps[i];
	assert_non_null(e->method = snapshot_name(s, method));
	assert_non_null(e->route = snapshot_name(s, route));
	for (size_t k = 0; k < nlat; k++) {
		assert_int_equal(hist_add(&e->lat, lat[k]), 0);
		e->lat_sum_us += lat[k];
		if (lat[k] > e->lat_max_us)
			e->lat_max_us = lat[k];
	}
	e->requests = nlat;
	e->status[status_class - 1] = nlat;
	e->bytes_in = 100 * nlat;
	e->bytes_out = 1000 * nlat;
}

static struct snapshot *snap_one(uint64_t ts, const char *route, uint64_t lat)
{
	struct snapshot *s = snapshot_new(1);
	assert_non_null(s);
	s->ts_ms = ts;
	s->dur_ms = 1000;
	ep_set(s, 0, "GET", route, &lat, 1, 2);
	return s;
}

/* Waits until the writer has handled n snapshots (written or failed). */
static void wait_handled(struct store *st, uint64_t n, struct store_health *h)
{
	for (int i = 0; i < 1000; i++) {
		store_get_health(st, h);
		if (h->written + h->errors >= n)
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	fail_msg("writer handled %llu of %llu snapshots",
		 (unsigned long long)(h->written + h->errors), (unsigned long long)n);
}

static const struct endpoint_row *row_find(const struct endpoint_row *r, size_t n, const char *route)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(r[i].route, route))
			return &r[i];
	return NULL;
}

static void fetch(const char *path, int64_t since, int64_t until, struct endpoint_row **rows,
		  size_t *n)
{
	sqlite3 *db;
	char err[256] = "";
	if (query_open(path, &db, err, sizeof(err)))
		fail_msg("query_open: %s", err);
	if (query_fetch(db, since, until, rows, n, err, sizeof(err)))
		fail_msg("query_fetch: %s", err);
	sqlite3_close(db);
}

/* ---- tests ------------------------------------------------------------- */

static const uint64_t lat_a[3][4] = {
	{ 90, 250, 1000, 1500 }, { 120, 4000, 4100, 800 }, { 95, 100000, 7000, 3000 },
};
static const uint64_t lat_b[2][3] = { { 40, 60, 80 }, { 5000, 50, 70 } };

static void test_round_trip(void **state)
{
	(void)state;
	struct tmpdb t;
	struct hist ha, hb;
	tmpdb_make(&t, "store");
	hist_init(&ha);
	hist_init(&hb);

	struct store *st = store_open_ok(t.path);
	for (int i = 0; i < 3; i++) {
		struct snapshot *s = snapshot_new(i == 1 ? 1 : 2);
		s->ts_ms = T0 + (uint64_t)i * 1000;
		s->dur_ms = 1000;
		s->c.packets = 10 + (uint64_t)i;
		s->c.kernel_drops = 1;
		ep_set(s, 0, "GET", "/users/:id", lat_a[i], 4, i == 2 ? 5 : 2);
		for (int k = 0; k < 4; k++)
			hist_add(&ha, lat_a[i][k]);
		if (i != 1) {
			ep_set(s, 1, "POST", "/login", lat_b[i / 2], 3, 4);
			for (int k = 0; k < 3; k++)
				hist_add(&hb, lat_b[i / 2][k]);
		}
		assert_int_equal(store_push(st, s), 0);
	}
	store_close(st, T0 + 5000);

	struct endpoint_row *rows = NULL;
	size_t n = 0;
	fetch(t.path, 0, INT64_MAX, &rows, &n);
	assert_int_equal(n, 2);
	const struct endpoint_row *a = row_find(rows, n, "/users/:id");
	const struct endpoint_row *b = row_find(rows, n, "/login");
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->method, "GET");
	assert_string_equal(b->method, "POST");
	assert_int_equal(a->requests, 12);
	assert_int_equal(a->status[1], 8);
	assert_int_equal(a->status[4], 4);
	assert_int_equal(a->bytes_in, 1200);
	assert_int_equal(a->bytes_out, 12000);
	assert_int_equal(a->max_us, 100000);
	assert_int_equal(b->requests, 6);
	assert_int_equal(b->status[3], 6);
	assert_int_equal(b->max_us, 5000);
	/* Percentiles of the merged DB histograms = those of one hist of all values. */
	assert_int_equal(a->p50_us, hist_percentile(&ha, 0.50));
	assert_int_equal(a->p90_us, hist_percentile(&ha, 0.90));
	assert_int_equal(a->p99_us, hist_percentile(&ha, 0.99));
	assert_int_equal(b->p50_us, hist_percentile(&hb, 0.50));
	assert_int_equal(b->p90_us, hist_percentile(&hb, 0.90));
	assert_int_equal(b->p99_us, hist_percentile(&hb, 0.99));
	assert_in_range(a->p99_us, 99200, 100000);       /* bucket midpoint, within 0.8% */
	free(rows);

	/* [since, until): only the middle interval. */
	fetch(t.path, (int64_t)T0 + 1000, (int64_t)T0 + 2000, &rows, &n);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].requests, 4);
	assert_int_equal(rows[0].max_us, 4100);
	free(rows);

	sqlite3 *db = db_open(t.path);
	assert_int_equal(db_int(db, "SELECT count(*) FROM intervals"), 3);
	assert_int_equal(db_int(db, "SELECT sum(requests) FROM intervals"), 18);
	assert_int_equal(db_int(db, "SELECT sum(packets) FROM intervals"), 33);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints"), 2);
	assert_int_equal(db_int(db, "SELECT ended_ms FROM sessions"), T0 + 5000);
	assert_int_equal(db_int(db, "SELECT started_ms FROM sessions WHERE pids = '100,101'"
				" AND version = 'test'"), T0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats_v WHERE time ="
				" '2024-05-01 10:00:02' AND route = '/users/:id' AND max_ms = 100"), 1);
	sqlite3_close(db);
	hist_free(&ha);
	hist_free(&hb);
	tmpdb_remove(&t);
}

static void assert_mode_0600(const char *path, int must_exist)
{
	struct stat sb;
	if (stat(path, &sb)) {
		if (must_exist)
			fail_msg("%s: %s", path, strerror(errno));
		return;
	}
	assert_int_equal(sb.st_mode & 0777, 0600);
}

/* umask 0 would give SQLite's default 0644: the store must not rely on umask. */
static void test_mode_and_version(void **state)
{
	(void)state;
	struct tmpdb t;
	char p[128];
	tmpdb_make(&t, "store");

	mode_t old = umask(0);
	struct store *st = store_open_ok(t.path);
	assert_int_equal(store_push(st, snap_one(T0, "/", 10)), 0);
	struct store_health h;
	wait_handled(st, 1, &h);
	assert_int_equal(h.written, 1);
	assert_mode_0600(t.path, 1);
	snprintf(p, sizeof(p), "%s-wal", t.path);
	assert_mode_0600(p, 1);              /* WAL mode: it exists while open */
	snprintf(p, sizeof(p), "%s-shm", t.path);
	assert_mode_0600(p, 0);
	store_close(st, T0 + 1);
	umask(old);

	sqlite3 *db = db_open(t.path);
	assert_int_equal(db_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(db_int(db, "PRAGMA application_id"), SCHEMA_APP_ID);
	sqlite3_close(db);

	/* Reopening appends a session to the same DB. */
	st = store_open_ok(t.path);
	store_close(st, T0 + 2);
	db = db_open(t.path);
	assert_int_equal(db_int(db, "SELECT count(*) FROM sessions"), 2);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

static void test_newer_version_refused(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store *st;
	sqlite3 *db;
	char err[256] = "";
	tmpdb_make(&t, "store");

	store_close(store_open_ok(t.path), T0);
	db = db_open(t.path);
	char *sql = sqlite3_mprintf("PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
	db_exec(db, sql);
	sqlite3_free(sql);
	sqlite3_close(db);

	assert_int_equal(store_open(&st, t.path, &sess, err, sizeof(err)), -ENOTSUP);
	assert_null(st);
	assert_non_null(strstr(err, "newer than this l7top supports"));
	assert_null(strchr(err, '\n'));
	err[0] = '\0';
	assert_int_equal(query_open(t.path, &db, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "newer"));
	tmpdb_remove(&t);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void assert_refused(const char *path)
{
	struct store *st;
	sqlite3 *db;
	char err[256] = "", prefix[128];

	snprintf(prefix, sizeof(prefix), "l7top: DB %s is not an l7top database (", path);
	assert_int_equal(store_open(&st, path, &sess, err, sizeof(err)), -EINVAL);
	assert_null(st);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_null(strchr(err, '\n'));
	err[0] = '\0';
	assert_int_equal(query_open(path, &db, err, sizeof(err)), -EINVAL);
	assert_memory_equal(err, prefix, strlen(prefix));
}

static void test_foreign_files_refused(void **state)
{
	(void)state;
	struct tmpdb t;
	uint8_t junk[4096], back[4096];
	tmpdb_make(&t, "store");

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	write_file(t.path, junk, sizeof(junk));
	assert_refused(t.path);
	/* Left exactly as it was. */
	FILE *f = fopen(t.path, "rb");
	assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(back));
	assert_int_equal(fgetc(f), EOF);
	fclose(f);
	assert_memory_equal(back, junk, sizeof(junk));

	write_file(t.path, "hello\n", 6);
	assert_refused(t.path);
	unlink(t.path);

	/* Somebody else's SQLite DB. */
	sqlite3 *db = db_open(t.path);
	db_exec(db, "CREATE TABLE notes(x)");
	sqlite3_close(db);
	assert_refused(t.path);
	tmpdb_remove(&t);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct store *st;
	char err[256] = "";

	assert_int_equal(store_open(&st, "/nonexistent-l7top/x.db", &sess, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "l7top: cannot open /nonexistent-l7top/x.db: "
			    "No such file or directory");
	sqlite3 *db;
	assert_int_not_equal(query_open("/nonexistent-l7top/x.db", &db, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot open DB"));

	/* a symlink planted where the DB goes is refused, and so is its target */
	char dir[] = "/tmp/l7top-store-XXXXXX", link[64], target[64];
	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/l.db", dir);
	snprintf(target, sizeof(target), "%s/t.db", dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(store_open(&st, link, &sess, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(access(target, F_OK), -1);
	unlink(link);
	rmdir(dir);
}

/* A second connection holds the write lock so the writer cannot drain. */
static void test_queue_full(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store_health h;
	int pushed = 0, rc = 0;
	tmpdb_make(&t, "store");

	struct store *st = store_open_ok(t.path);
	sqlite3 *db = db_open(t.path);
	db_exec(db, "BEGIN IMMEDIATE");
	for (int i = 0; i < 3 * STORE_QUEUE_MAX; i++) {
		rc = store_push(st, snap_one(T0 + (uint64_t)i * 1000, "/q", 5));
		if (rc)
			break;
		pushed++;
	}
	assert_int_equal(rc, -EAGAIN);
	/* The writer may have taken one snapshot off the queue before blocking. */
	assert_in_range(pushed, STORE_QUEUE_MAX, STORE_QUEUE_MAX + 1);
	store_get_health(st, &h);
	assert_int_equal(h.dropped, 1);
	assert_in_range(h.queued, STORE_QUEUE_MAX - 1, STORE_QUEUE_MAX);
	assert_int_equal(store_push(st, NULL), -EINVAL);
	db_exec(db, "COMMIT");

	wait_handled(st, (uint64_t)pushed, &h);
	assert_int_equal(h.written, pushed);
	assert_int_equal(h.errors, 0);
	store_close(st, T0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM intervals"), pushed);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

/* n endpoints, each with latencies spread over a few histogram chunks. */
static struct snapshot *snap_big(uint64_t ts, size_t n)
{
	static const uint64_t lat[] = { 90, 1500, 40000, 900000 };
	struct snapshot *s = snapshot_new(n);
	char route[32];

	assert_non_null(s);
	s->ts_ms = ts;
	s->dur_ms = 1000;
	for (size_t i = 0; i < n; i++) {
		snprintf(route, sizeof(route), "/big/%zu", i);
		ep_set(s, i, "GET", route, lat, 4, 2);
	}
	return s;
}

/*
 * The queue is bounded by the heap its snapshots hold too: with the writer
 * blocked, snapshots of 20,000 endpoints stop well before STORE_QUEUE_MAX,
 * the one refused is counted, and the bytes waiting never pass the bound.
 * One snapshot alone is taken whatever its size.
 */
static void test_queue_bytes_bound(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store_health h;
	int pushed = 0, rc = 0;
	tmpdb_make(&t, "store");

	struct snapshot *probe = snap_big(T0, 20000);
	size_t one = snapshot_bytes(probe);
	/* rows, four histogram chunks each, the names */
	assert_true(one > 20000 * (sizeof(struct ep_stats) + 4 * HIST_CHUNK * sizeof(uint64_t)));
	snapshot_free(probe);

	struct store *st = store_open_ok(t.path);
	sqlite3 *db = db_open(t.path);
	db_exec(db, "BEGIN IMMEDIATE");
	for (int i = 0; i < STORE_QUEUE_MAX; i++) {
		rc = store_push(st, snap_big(T0 + (uint64_t)i * 1000, 20000));
		if (rc)
			break;
		pushed++;
		store_get_health(st, &h);
		assert_true(h.queued_bytes <= STORE_QUEUE_MAX_BYTES || h.queued == 1);
	}
	assert_int_equal(rc, -EAGAIN);
	/* the writer may hold one off the queue, blocked on the lock */
	assert_in_range(pushed, STORE_QUEUE_MAX_BYTES / one, STORE_QUEUE_MAX_BYTES / one + 1);
	store_get_health(st, &h);
	assert_int_equal(h.dropped, 1);
	assert_int_equal(h.queued_bytes, h.queued * one);
	db_exec(db, "COMMIT");

	wait_handled(st, (uint64_t)pushed, &h);
	assert_int_equal(h.written, pushed);
	assert_int_equal(h.queued_bytes, 0);
	store_close(st, T0);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

/*
 * A trigger makes one snapshot's transaction fail half-way, after it
 * inserted a new endpoint: the whole snapshot must roll back, the error be
 * reported, and the next snapshot (reusing that endpoint) be written.
 */
static void test_write_failure_recovers(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store_health h;
	tmpdb_make(&t, "store");

	struct store *st = store_open_ok(t.path);
	sqlite3 *db = db_open(t.path);
	db_exec(db, "CREATE TRIGGER fail BEFORE INSERT ON endpoint_stats"
		    " WHEN (SELECT route FROM endpoints WHERE id = NEW.endpoint_id) = '/fail'"
		    " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");

	struct snapshot *s = snapshot_new(2);
	s->ts_ms = T0;
	uint64_t v = 10;
	ep_set(s, 0, "GET", "/new", &v, 1, 2);
	ep_set(s, 1, "GET", "/fail", &v, 1, 2);
	assert_int_equal(store_push(st, s), 0);
	wait_handled(st, 1, &h);
	assert_int_equal(h.errors, 1);
	assert_int_equal(h.dropped, 1);
	assert_int_equal(h.written, 0);
	assert_string_equal(h.last_error, "DB write failed: disk on fire — stats kept in memory");
	assert_int_equal(h.outages, 1);
	assert_int_equal(h.recoveries, 0);
	assert_int_equal(h.outage_lost, 1);
	assert_string_equal(h.outage_why, "disk on fire");
	/* A note made while the DB fails waits for it to work again. */
	store_note(st, "nginx[1] exited; waiting for a new PID in /run/nginx.pid");

	assert_int_equal(store_push(st, snap_one(T0 + 1000, "/new", 20)), 0);
	wait_handled(st, 2, &h);
	assert_int_equal(h.written, 1);
	assert_string_equal(h.last_error, "");
	assert_int_equal(h.outages, 1);
	assert_int_equal(h.recoveries, 1);
	store_note(st, "at exit");
	store_close(st, T0 + 2000);

	/* Both notes and the outage (its span, reason and cost) are in the row. */
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT notes FROM sessions", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	const char *notes = (const char *)sqlite3_column_text(q, 0);
	assert_non_null(notes);
	assert_non_null(strstr(notes, "nginx[1] exited; waiting for a new PID in /run/nginx.pid"));
	assert_non_null(strstr(notes, "DB writes failed from 2024-"));
	assert_non_null(strstr(notes, "(disk on fire): 1 intervals not stored"));
	assert_non_null(strstr(notes, "; at exit"));
	sqlite3_finalize(q);

	assert_int_equal(db_int(db, "SELECT count(*) FROM intervals"), 1);
	assert_int_equal(db_int(db, "SELECT ts_ms FROM intervals"), T0 + 1000);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats s"
				" JOIN endpoints e ON e.id = s.endpoint_id AND e.route = '/new'"), 1);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

/*
 * A fresh DB's writer inserts a name before looking it up (what it has not
 * cached is new). Another writer taking the name meanwhile (a second l7top
 * on the same DB) sends it back to looking: the row is shared, not doubled
 * and not an error.
 */
static void test_endpoint_taken_meanwhile(void **state)
{
	(void)state;
	struct tmpdb t;
	struct store_health h;
	tmpdb_make(&t, "store");

	struct store *st = store_open_ok(t.path);
	sqlite3 *db = db_open(t.path);
	assert_int_equal(store_push(st, snap_one(T0, "/a", 10)), 0);
	wait_handled(st, 1, &h);
	db_exec(db, "INSERT INTO endpoints (host, method, route, protocol, target)"
		    " SELECT host, method, '/b', protocol, target FROM endpoints WHERE route = '/a'");
	int64_t taken = db_int(db, "SELECT id FROM endpoints WHERE route = '/b'");
	assert_int_equal(store_push(st, snap_one(T0 + 1000, "/b", 20)), 0);
	assert_int_equal(store_push(st, snap_one(T0 + 2000, "/c", 30)), 0);
	wait_handled(st, 3, &h);
	assert_int_equal(h.errors, 0);
	assert_int_equal(h.written, 3);
	store_close(st, T0 + 3000);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints"), 3);
	assert_int_equal(db_int(db, "SELECT endpoint_id FROM endpoint_stats WHERE ts_ms = "
				"1714557601000"), taken);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoint_stats s"
				" JOIN endpoints e ON e.id = s.endpoint_id AND e.route = '/c'"), 1);
	sqlite3_close(db);
	tmpdb_remove(&t);
}

static void test_sql_functions(void **state)
{
	(void)state;
	sqlite3 *db;
	sqlite3_stmt *q;
	struct hist part, all, dec;
	uint8_t buf[HIST_ENCODED_MAX];

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(schema_register_functions(db), 0);
	db_exec(db, "CREATE TABLE t(g INTEGER, h BLOB)");
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?1, ?2)", -1, &q, NULL), 0);
	hist_init(&all);
	for (int g = 0; g < 4; g++) {
		hist_init(&part);
		for (uint64_t x = 1; x <= 25; x++) {
			hist_add(&part, (uint64_t)g * 25 + x);           /* 1..100, exact buckets */
			hist_add(&part, 1000 * ((uint64_t)g * 25 + x));  /* 1 ms..100 ms */
		}
		hist_merge(&all, &part);
		size_t len = hist_encode(&part, buf, sizeof(buf));
		sqlite3_bind_int(q, 1, g % 2);
		sqlite3_bind_blob(q, 2, buf, (int)len, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(q), SQLITE_DONE);
		sqlite3_reset(q);
		hist_free(&part);
	}
	sqlite3_finalize(q);
	db_exec(db, "INSERT INTO t VALUES (2, NULL)");

	/* The blob has no min/max, so compare with a decoded merge (no clamping). */
	hist_init(&dec);
	size_t len = hist_encode(&all, buf, sizeof(buf));
	assert_int_equal(hist_decode_merge(&dec, buf, len), 0);
	assert_int_equal(db_int(db, "SELECT hist_quantile(hist_merge(h), 0.25) FROM t"), 50);
	assert_int_equal(db_int(db, "SELECT hist_quantile(hist_merge(h), 0.5) FROM t"), 100);
	assert_int_equal(db_int(db, "SELECT hist_quantile(hist_merge(h), 0.99) FROM t"),
			 hist_percentile(&dec, 0.99));
	assert_int_equal(db_int(db, "SELECT hist_quantile(hist_merge(h), 0.9) FROM t"),
			 hist_percentile(&dec, 0.9));
	/* Merging in SQL groups gives the same blob as merging in C. */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT hist_merge(h) FROM"
					    " (SELECT hist_merge(h) AS h FROM t GROUP BY g)", -1, &q,
					    NULL), 0);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(q, 0), (int)len);
	assert_memory_equal(sqlite3_column_blob(q, 0), buf, len);
	sqlite3_finalize(q);

	/* NULLs and bad input: NULL or an SQL error, never a crash. */
	assert_int_equal(db_int(db, "SELECT hist_merge(h) IS NULL FROM t WHERE g = 2"), 1);
	assert_int_equal(db_int(db, "SELECT hist_quantile(NULL, 0.5) IS NULL"), 1);
	assert_int_not_equal(sqlite3_exec(db, "SELECT hist_merge(x'02ff') ", NULL, NULL, NULL), 0);
	assert_non_null(strstr(sqlite3_errmsg(db), "not an l7top histogram"));
	assert_int_not_equal(sqlite3_exec(db, "SELECT hist_quantile(h, 0) FROM t", NULL, NULL,
					  NULL), 0);
	assert_int_not_equal(sqlite3_exec(db, "SELECT hist_quantile(x'01ffffffffffffffffffff', 0.5)",
					  NULL, NULL, NULL), 0);
	hist_free(&dec);
	hist_free(&all);
	sqlite3_close(db);
}

/* query_run's csv output for o (the caller frees). */
static char *query_csv(const struct query_opts *o)
{
	char *buf = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	if (query_run(o, f, err, sizeof(err)))
		fail_msg("query_run: %s", err);
	fclose(f);
	return buf;
}

/*
 * Targets: a run of two (a proxy and its backend both serving /api) keeps
 * their rows apart under their names; a run of one stores '' and is named
 * by its session; --by-target splits, --target keeps one, the default sums.
 */
static void test_targets(void **state)
{
	struct tmpdb t;
	const uint64_t lat[] = { 1000, 2000, 3000 };
	(void)state;

	tmpdb_make(&t, "targets");
	struct run_info two = sess;
	two.target = "nginx[100],nginx[200]";
	struct store *st = NULL;
	char err[256] = "";
	assert_int_equal(store_open(&st, t.path, &two, err, sizeof(err)), 0);
	struct snapshot *s = snapshot_new(3);
	s->ts_ms = T0;
	s->dur_ms = 1000;
	s->ntargets = 2;
	snprintf(s->targets[0], TARGET_NAME_MAX, "nginx[100]");
	snprintf(s->targets[1], TARGET_NAME_MAX, "nginx[200]");
	ep_set(s, 0, "GET", "/api", lat, 3, 2);
	ep_set(s, 1, "GET", "/api", lat, 2, 2);
	s->eps[1].target = 1;
	ep_set(s, 2, "*", "OTHER", lat, 1, 2);
	s->eps[2].target = TARGET_ALL;
	/* a request-log row of the backend */
	s->reqs = calloc(1, sizeof(*s->reqs));
	assert_non_null(s->reqs);
	s->nreqs = 1;
	s->reqs[0] = (struct req_record){ .s = { .ts_ms = T0 + 10, .lat_us = 2000, .status = 503 },
					  .method = "GET", .route = "/api", .path = "/api", .target = 1 };
	assert_int_equal(store_push(st, s), 0);
	store_close(st, T0 + 1000);

	struct run_info one = sess;
	one.target = "nginx[300]";
	assert_int_equal(store_open(&st, t.path, &one, err, sizeof(err)), 0);
	s = snapshot_new(1);
	s->ts_ms = T0 + 5000;
	s->dur_ms = 1000;
	s->ntargets = 1;
	snprintf(s->targets[0], TARGET_NAME_MAX, "nginx[300]");
	ep_set(s, 0, "GET", "/api", lat, 1, 2);
	assert_int_equal(store_push(st, s), 0);
	store_close(st, T0 + 6000);

	sqlite3 *db = db_open(t.path);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints WHERE target = 'nginx[200]'"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints WHERE target = '*'"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM endpoints WHERE target = ''"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM sessions WHERE targets = 'nginx[300]'"), 1);
	assert_int_equal(db_int(db, "SELECT sum(requests) FROM endpoint_stats_v WHERE target = 'nginx[300]'"), 1);
	sqlite3_close(db);

	struct query_opts o = { .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				.format = QUERY_FMT_CSV };
	char *out = query_csv(&o);
	assert_non_null(strstr(out, "\nGET,/api,6,"));           /* summed across targets */
	free(out);
	o.by_target = true;
	out = query_csv(&o);
	assert_non_null(strstr(out, "target,method,route,"));
	assert_non_null(strstr(out, "\nnginx[100],GET,/api,3,"));
	assert_non_null(strstr(out, "\nnginx[200],GET,/api,2,"));
	assert_non_null(strstr(out, "\nnginx[300],GET,/api,1,"));
	assert_non_null(strstr(out, "\n*,*,OTHER,1,"));
	free(out);
	o.by_target = false;
	o.target = "nginx[200]";
	out = query_csv(&o);
	assert_non_null(strstr(out, "\nGET,/api,2,"));
	assert_null(strstr(out, "OTHER"));
	free(out);
	/* the request log: --by-target names the row's target first */
	o = (struct query_opts){ .db = t.path, .since_ms = 0, .until_ms = INT64_MAX,
				 .format = QUERY_FMT_CSV, .mode = QUERY_MODE_REQUESTS, .by_target = true };
	out = query_csv(&o);
	assert_non_null(strstr(out, "target,ts,method,route,path,status,"));
	assert_non_null(strstr(out, "\nnginx[200],2024-05-01T10:00:00.010Z,GET,/api,/api,503,"));
	free(out);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_mode_and_version),
		cmocka_unit_test(test_newer_version_refused),
		cmocka_unit_test(test_foreign_files_refused),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_queue_bytes_bound),
		cmocka_unit_test(test_write_failure_recovers),
		cmocka_unit_test(test_endpoint_taken_meanwhile),
		cmocka_unit_test(test_sql_functions),
		cmocka_unit_test(test_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
