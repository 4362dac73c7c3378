// SPDX-License-Identifier: MIT
/*
 * DB size and write cost, measured through the real writer path: synthetic
 * 1 s intervals pushed into store_push() with the default rollup (1 h) and
 * retention (7 d), then the file size and the writer's own timings.
 *
 * As a unit test (no environment) it runs a small case: 20 endpoints for 15
 * simulated minutes with rollup after 5 — checking that rollup kept up and
 * the file stayed small. The measurement in docs/DB.md is the same code:
 *
 *   L7TOP_DBSIZE_EPS=2000 L7TOP_DBSIZE_HOURS=24 L7TOP_DBSIZE_OUT=/var/tmp/day.db \
 *       build/tests/test_history_size
 *
 * Model, per endpoint and second: 1..10 requests (mean 5.5); log-normal
 * latency (sigma 0.7) with a median between 1 and 40 ms by endpoint; 93% 2xx,
 * 3% 3xx, 3% 4xx, 1% 5xx; one virtual host. The request log gets every 5xx
 * and every request >= 100 ms, at most 100 a second (the collector's cap).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include "storage/store.h"

#define T0 1714521600000ULL        /* 2024-05-01 00:00:00Z */
#define REQ_CAP 100

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
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

static double rng_normal(void)
{
	return sqrt(-2 * log(rng_unit() + 1e-12)) * cos(2 * M_PI * rng_unit());
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static struct snapshot *gen_snapshot(uint64_t ts, size_t neps, uint64_t *logged)
{
	struct snapshot *s = snapshot_new(neps);
	assert_non_null(s);
	s->ts_ms = ts;
	s->dur_ms = 1000;
	s->reqs = calloc(REQ_CAP, sizeof(*s->reqs));
	assert_non_null(s->reqs);
	s->c.packets = 40 * neps;
	s->c.conns_open = 100;
	for (size_t e = 0; e < neps; e++) {
		struct ep_stats *ep = &s->eps[e];
		char route[ROUTE_MAX];
		snprintf(route, sizeof(route), "/api/v1/resource%zu/{id}", e);
		ep->host = "www.example.com";
		ep->method = e % 4 == 3 ? "POST" : "GET";
		assert_non_null(ep->route = snapshot_name(s, route));
		double med = 1000.0 + 39000.0 * (double)(e % 17) / 16.0;
		int k = 1 + (int)(rng() % 10);
		for (int j = 0; j < k; j++) {
			uint64_t lat = (uint64_t)(med * exp(0.7 * rng_normal())) + 1;
			uint64_t r = rng() % 100;
			int cls = r < 93 ? 2 : r < 96 ? 3 : r < 99 ? 4 : 5;
			hist_add(&ep->lat, lat);
			ep->requests++;
			ep->status[cls - 1]++;
			ep->lat_sum_us += lat;
			if (lat > ep->lat_max_us)
				ep->lat_max_us = lat;
			uint64_t in = 300 + rng() % 500, out = 500 + rng() % 50000;
			ep->bytes_in += in;
			ep->bytes_out += out;
			if ((cls == 5 || lat >= 100000)) {
				if (s->nreqs == REQ_CAP) {
					s->c.reqs_skipped++;
					continue;
				}
				struct req_record *q = &s->reqs[s->nreqs++];
				q->s = (struct req_sample){ .ts_ms = ts + rng() % 1000, .lat_us = lat,
							    .bytes_in = in, .bytes_out = out,
							    .status = (uint16_t)(cls == 5 ? 503 : 200),
							    .pid = 1234 };
				q->s.client = (struct peer_addr){
					.family = 4, .addr = { 10, 0, (uint8_t)(rng() % 256), (uint8_t)(rng() % 256) },
					.port = (uint16_t)(30000 + rng() % 30000) };
				snprintf(q->host, HOST_MAX, "%s", ep->host);
				snprintf(q->method, METHOD_MAX, "%s", ep->method);
				snprintf(q->route, ROUTE_MAX, "%s", ep->route);
				snprintf(q->path, ROUTE_MAX, "/api/v1/resource%zu/%llu", e,
					 (unsigned long long)(rng() % 100000));
				(*logged)++;
			}
		}
	}
	return s;
}

static long long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) ? 0 : (long long)sb.st_size;
}

static void print_tables(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL))
		return;
	if (!sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
				" ORDER BY 2 DESC", -1, &q, NULL)) {
		while (sqlite3_step(q) == SQLITE_ROW)
			printf("  %-24s %10.1f MiB\n", sqlite3_column_text(q, 0),
			       (double)sqlite3_column_int64(q, 1) / 1048576.0);
		sqlite3_finalize(q);
	}
	const char *counts[] = {
		"SELECT 'endpoint_stats raw', count(*) FROM endpoint_stats WHERE dur_ms < 60000",
		"SELECT 'endpoint_stats minute', count(*) FROM endpoint_stats WHERE dur_ms = 60000",
		"SELECT 'requests', count(*) FROM requests",
		"SELECT 'intervals', count(*) FROM intervals",
	};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		if (sqlite3_prepare_v2(db, counts[i], -1, &q, NULL))
			continue;
		if (sqlite3_step(q) == SQLITE_ROW)
			printf("  rows %-24s %lld\n", sqlite3_column_text(q, 0),
			       (long long)sqlite3_column_int64(q, 1));
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
}

static void test_db_size(void **state)
{
	(void)state;
	const bool full = getenv("L7TOP_DBSIZE_EPS") != NULL;
	const size_t neps = (size_t)env_u64("L7TOP_DBSIZE_EPS", 20);
	const uint64_t secs = full ? env_u64("L7TOP_DBSIZE_HOURS", 24) * 3600 : 900;
	const uint64_t rollup = full ? STORE_ROLLUP_DEFAULT_MS : 5 * 60000;
	const char *out = getenv("L7TOP_DBSIZE_OUT");
	char dir[64] = "/tmp/l7top-size-XXXXXX", path[128], wal[140];
	uint64_t logged = 0;
	struct store_health h;
	struct timespec t0, t1;

	if (out) {
		snprintf(path, sizeof(path), "%s", out);
		unlink(path);
	} else {
		assert_non_null(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/size.db", dir);
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	const struct run_info sess = { .cmdline = "synthetic", .pids = "1", .version = "size",
					    .settings = "interval_ms=1000", .started_ms = T0,
					    .capture = "plain" };
	struct store *st = NULL;
	char err[256];
	if (store_open(&st, path, &sess, err, sizeof(err)))
		fail_msg("%s", err);
	store_set_retention(st, STORE_RETENTION_DEFAULT_MS, rollup);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < secs; i++) {
		struct snapshot *s = gen_snapshot(T0 + i * 1000, neps, &logged);
		for (;;) {
			store_get_health(st, &h);
			if (h.queued < 8)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		}
		assert_int_equal(store_push(st, s), 0);
		if (full && i % 3600 == 3599) {
			store_get_health(st, &h);
			printf("  hour %3llu: %8.1f MiB, write mean %.2f ms max %.1f ms, upkeep %.2f ms/interval\n",
			       (unsigned long long)(i + 1) / 3600,
			       (double)(file_size(path) + file_size(wal)) / 1048576.0,
			       (double)h.write_us_total / 1000.0 / (double)(h.written ? h.written : 1),
			       (double)h.max_write_us / 1000.0,
			       (double)h.upkeep_us_total / 1000.0 / (double)(h.written ? h.written : 1));
			fflush(stdout);
		}
	}
	/* Let the writer drain and finish rollup of what is past the threshold. */
	for (int i = 0; i < 60000; i++) {
		store_get_health(st, &h);
		if (h.written + h.errors >= secs && !h.queued)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	sleep(1);
	store_get_health(st, &h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	store_close(st, T0 + secs * 1000);
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	printf("  %zu endpoints, %llu s of 1 s intervals, rollup after %llu min:"
	       " %.1f MiB (%lld bytes) after close\n", neps, (unsigned long long)secs,
	       (unsigned long long)rollup / 60000, (double)file_size(path) / 1048576.0,
	       file_size(path));
	printf("  write per interval: mean %.2f ms, max %.1f ms; upkeep (rollup+retention)"
	       " %.2f ms per interval; wall %.0f s; request-log rows %llu (%.1f/s)\n",
	       (double)h.write_us_total / 1000.0 / (double)(h.written ? h.written : 1),
	       (double)h.max_write_us / 1000.0,
	       (double)h.upkeep_us_total / 1000.0 / (double)(h.written ? h.written : 1), wall,
	       (unsigned long long)logged, (double)logged / (double)secs);
	print_tables(path);
	assert_int_equal(h.written, secs);
	assert_int_equal(h.errors, 0);
	assert_true(h.rolled > 0);

	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM intervals WHERE dur_ms < 60000"
		 " AND ts_ms < %llu", (unsigned long long)(T0 + secs * 1000 - rollup - 120000));
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(q, 0), 0);       /* rollup kept up */
	sqlite3_finalize(q);
	sqlite3_close(db);
	if (!full)
		assert_true(file_size(path) < 16 * 1024 * 1024);
	if (!out) {
		unlink(path);
		unlink(wal);
		rmdir(dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
