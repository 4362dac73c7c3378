// SPDX-License-Identifier: MIT
#include "storage/query_read.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collector/hist.h"
#include "collector/route_learn.h"
#include "storage/schema.h"
#include "storage/store.h"

#define QUERY_BUSY_MS 2000

/* ---- reading the DB ---------------------------------------------------- */

/* A DB of an older schema: migrated once, read-write, then reopened read-only. */
static int query_migrate(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	char why[256] = "";
	int rc = -EIO;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, QUERY_BUSY_MS);
		rc = schema_migrate(db, path, why, sizeof(why));
	} else {
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db));
	}
	sqlite3_close(db);
	if (rc)
		snprintf(err, errlen, "l7top: DB %s has an older schema and cannot be migrated"
			 " (%s): run this l7top on it with write access once", path, why);
	return rc;
}

/* The learned folds of a DB, for l7top_fold(route). */
struct query_folds {
	size_t n;
	char **prefix;
};

static void query_folds_free(void *p)
{
	struct query_folds *f = p;
	for (size_t i = 0; f && i < f->n; i++)
		free(f->prefix[i]);
	if (f)
		free(f->prefix);
	free(f);
}

static void query_fold_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct query_folds *f = sqlite3_user_data(ctx);
	const unsigned char *route = sqlite3_value_text(argv[0]);
	char out[ROUTE_MAX];
	(void)argc;

	if (!route) {
		sqlite3_result_null(ctx);
		return;
	}
	if (!f->n) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	route_learn_rewrite((const char *const *)f->prefix, f->n, (const char *)route, out,
			    sizeof(out));
	sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

/*
 * l7top_fold(route): the route as the folds learned so far write it, so rows
 * stored before a fold was learned group with the rows after it. The folds
 * are read once, when the DB is opened. 0 or -EIO.
 */
static int query_register_folds(sqlite3 *db)
{
	struct query_folds *f = calloc(1, sizeof(*f));
	sqlite3_stmt *q = NULL;
	size_t cap = 0;

	if (!f)
		return -ENOMEM;
	if (sqlite3_prepare_v2(db, "SELECT prefix FROM folds", -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			const unsigned char *p = sqlite3_column_text(q, 0);
			if (!p)
				continue;
			if (f->n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				char **grown = realloc(f->prefix, ncap * sizeof(*grown));
				if (!grown)
					break;
				f->prefix = grown;
				cap = ncap;
			}
			if (!(f->prefix[f->n] = strdup((const char *)p)))
				break;
			f->n++;
		}
	}
	sqlite3_finalize(q);
	return sqlite3_create_function_v2(db, "l7top_fold", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
					  f, query_fold_fn, NULL, NULL, query_folds_free)
	       ? -EIO : 0;
}

int query_open(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	int version = 0, rc;

	for (int attempt = 0;; attempt++) {
		if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
			int e = sqlite3_system_errno(*db);
			snprintf(err, errlen, "l7top: cannot open DB %s: %s", path,
				 e ? strerror(e) : sqlite3_errmsg(*db));
			sqlite3_close(*db);
			*db = NULL;
			return -EIO;
		}
		sqlite3_busy_timeout(*db, QUERY_BUSY_MS);
		rc = schema_register_functions(*db) ? -EIO
			: schema_identify(*db, path, &version, err, errlen);
		if (!rc && version == 0) {
			snprintf(err, errlen, "l7top: DB %s is not an l7top database (empty)", path);
			rc = -EINVAL;
		} else if (rc == -EIO) {
			snprintf(err, errlen, "l7top: DB %s: %s", path, sqlite3_errmsg(*db));
		}
		if (!rc && version < STORE_SCHEMA_VERSION && !attempt) {
			sqlite3_close(*db);
			*db = NULL;
			rc = query_migrate(path, err, errlen);
			if (rc)
				return rc;
			continue;
		}
		break;
	}
	if (!rc && query_register_folds(*db)) {
		snprintf(err, errlen, "l7top: DB %s: %s", path, sqlite3_errmsg(*db));
		rc = -EIO;
	}
	if (rc) {
		sqlite3_close(*db);
		*db = NULL;
	}
	return rc;
}

static uint64_t query_col_u64(sqlite3_stmt *q, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(q, i);
	return v > 0 ? (uint64_t)v : 0;
}

static void query_col_text(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
	const char *t = (const char *)sqlite3_column_text(q, i);
	snprintf(dst, cap, "%s", t ? t : "");
}

/*
 * One result row (ts, host, method, route, requests, s1xx..s5xx, bytes_in,
 * bytes_out, max, hist) → r. 0, or -EINVAL for a histogram blob that is not ours.
 */
static int query_read_row(sqlite3_stmt *q, struct endpoint_row *r)
{
	struct hist h;

	memset(r, 0, sizeof(*r));
	r->ts_ms = sqlite3_column_int64(q, 0);
	query_col_text(q, 1, r->host, sizeof(r->host));
	query_col_text(q, 2, r->method, sizeof(r->method));
	query_col_text(q, 3, r->route, sizeof(r->route));
	r->requests = query_col_u64(q, 4);
	for (int k = 0; k < STATUS_CLASSES; k++)
		r->status[k] = query_col_u64(q, 5 + k);
	r->bytes_in = query_col_u64(q, 10);
	r->bytes_out = query_col_u64(q, 11);
	r->max_us = query_col_u64(q, 12);
	r->aborted = query_col_u64(q, 14);

	hist_init(&h);
	int rc = 0;
	if (sqlite3_column_type(q, 13) == SQLITE_BLOB)
		rc = hist_decode_merge(&h, sqlite3_column_blob(q, 13),
				       (size_t)sqlite3_column_bytes(q, 13));
	/* The blob has no max; the column does, and percentiles clamp to it. */
	h.max = r->max_us;
	r->p50_us = hist_percentile(&h, 0.50);
	r->p90_us = hist_percentile(&h, 0.90);
	r->p99_us = hist_percentile(&h, 0.99);
	hist_free(&h);
	return rc;
}

/* Binds the filter's common parameters ?1..?5 (since, until, session, method, route). */
static void query_bind_filter(sqlite3_stmt *q, const struct query_filter *f)
{
	sqlite3_bind_int64(q, 1, f->since_ms);
	sqlite3_bind_int64(q, 2, f->until_ms);
	sqlite3_bind_int64(q, 3, f->session);
	if (f->method)
		sqlite3_bind_text(q, 4, f->method, -1, SQLITE_TRANSIENT);
	if (f->route)
		sqlite3_bind_text(q, 5, f->route, -1, SQLITE_TRANSIENT);
	if (f->protocol)
		sqlite3_bind_text(q, 7, f->protocol, -1, SQLITE_TRANSIENT);
	if (f->target)
		sqlite3_bind_text(q, 8, f->target, -1, SQLITE_TRANSIENT);
}

/*
 * A row's target: its own name when its run watched several, else ('') the
 * run's one target, which its session row names (NULL before schema v7).
 * Needs the join below.
 */
#define QUERY_TARGET_SQL "CASE e.target WHEN '' THEN coalesce(ss.targets, '') ELSE e.target END"
#define QUERY_JOIN_SESSION(alias) " LEFT JOIN sessions ss ON ss.id = " alias ".session_id"

#define QUERY_FILTER_SQL(alias) \
	" " alias ".ts_ms >= ?1 AND " alias ".ts_ms < ?2" \
	" AND (?3 = 0 OR " alias ".session_id = ?3)" \
	" AND (?4 IS NULL OR e.method = ?4)" \
	" AND (?5 IS NULL OR e.route = ?5 OR l7top_fold(e.route) = ?5)" \
	" AND (?7 IS NULL OR e.protocol = ?7)" \
	" AND (?8 IS NULL OR " QUERY_TARGET_SQL " = ?8)"

/* Grows *buf (of *cap elements of size sz) to hold one more; 0 or -ENOMEM. */
static int query_grow(void **buf, size_t *cap, size_t len, size_t sz)
{
	if (len < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 64;
	void *grown = realloc(*buf, ncap * sz);
	if (!grown)
		return -ENOMEM;
	*buf = grown;
	*cap = ncap;
	return 0;
}

/* Prepares sql, or says in err why not. */
static int query_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **q, char *err, size_t errlen)
{
	if (!sql || sqlite3_prepare_v2(db, sql, -1, q, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "l7top: query failed: %s",
			 sql ? sqlite3_errmsg(db) : "out of memory");
		return -EIO;
	}
	return 0;
}

/* query_prepare() of a sqlite3_mprintf'd sql (freed here, NULL = out of
 * memory) with the filter's common parameters bound. */
static int query_prepare_filtered(sqlite3 *db, char *sql, const struct query_filter *f,
				  sqlite3_stmt **q, char *err, size_t errlen)
{
	int rc = query_prepare(db, sql, q, err, errlen);

	sqlite3_free(sql);
	if (!rc)
		query_bind_filter(*q, f);
	return rc;
}

/* Reads the current row of q into row; non-zero: the row is malformed. */
typedef int (*query_read_fn)(sqlite3_stmt *q, void *row);

/*
 * Steps q to the end (then finalizes it), appending one sz-byte element per
 * row through read. On success *rows (malloc'd, the caller frees) holds *n
 * elements; on failure nothing is returned and err says why.
 */
static int query_collect(sqlite3 *db, sqlite3_stmt *q, size_t sz, query_read_fn read,
			 void **rows, size_t *n, char *err, size_t errlen)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (query_grow((void **)&out, &cap, len, sz)) {
			rc = SQLITE_NOMEM;
			break;
		}
		memset(out + len * sz, 0, sz);
		if (read(q, out + len++ * sz)) {
			rc = SQLITE_CORRUPT;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		snprintf(err, errlen, "l7top: query failed: %s",
			 rc == SQLITE_NOMEM ? "out of memory" :
			 rc == SQLITE_CORRUPT ? "malformed histogram" : sqlite3_errmsg(db));
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		free(out);
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	*rows = out;
	*n = len;
	return 0;
}

static int read_endpoint_row(sqlite3_stmt *q, void *row)
{
	struct endpoint_row *r = row;
	int rc = query_read_row(q, row);
	query_col_text(q, 15, r->protocol, sizeof(r->protocol));
	query_col_text(q, 16, r->target, sizeof(r->target));
	return rc;
}

int query_fetch_rows(sqlite3 *db, const struct query_filter *f,
		     struct endpoint_row **rows, size_t *n, char *err, size_t errlen)
{
	char *sql = sqlite3_mprintf(
		"SELECT %s AS t, %s AS h, e.method, l7top_fold(e.route) AS r, sum(s.requests),"
		" sum(s.s1xx),"
		" sum(s.s2xx), sum(s.s3xx), sum(s.s4xx), sum(s.s5xx), sum(s.bytes_in),"
		" sum(s.bytes_out), max(s.lat_max_us), hist_merge(s.hist), coalesce(sum(s.aborted), 0),"
		" %s AS pr, %s AS tg"
		" FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id"
		QUERY_JOIN_SESSION("s")
		" WHERE" QUERY_FILTER_SQL("s")
		" GROUP BY t, tg, h, pr, e.method, r",
		f->step_ms > 0 ? "s.ts_ms / ?6 * ?6" : "0", f->by_host ? "e.host" : "''",
		f->by_protocol ? "e.protocol" : "''", f->by_target ? QUERY_TARGET_SQL : "''");
	sqlite3_stmt *q = NULL;
	int rc = query_prepare_filtered(db, sql, f, &q, err, errlen);

	if (rc)
		return rc;
	if (f->step_ms > 0)
		sqlite3_bind_int64(q, 6, f->step_ms);
	return query_collect(db, q, sizeof(**rows), read_endpoint_row, (void **)rows, n, err, errlen);
}

int query_fetch(sqlite3 *db, int64_t since_ms, int64_t until_ms,
		struct endpoint_row **rows, size_t *n, char *err, size_t errlen)
{
	const struct query_filter f = { .since_ms = since_ms, .until_ms = until_ms };
	return query_fetch_rows(db, &f, rows, n, err, errlen);
}

static int read_request_row(sqlite3_stmt *q, void *row)
{
	struct query_req *r = row;
	r->ts_ms = sqlite3_column_int64(q, 0);
	query_col_text(q, 1, r->host, sizeof(r->host));
	query_col_text(q, 2, r->method, sizeof(r->method));
	query_col_text(q, 3, r->route, sizeof(r->route));
	query_col_text(q, 4, r->path, sizeof(r->path));
	r->status = (unsigned)sqlite3_column_int(q, 5);
	r->latency_us = query_col_u64(q, 6);
	r->bytes_in = query_col_u64(q, 7);
	r->bytes_out = query_col_u64(q, 8);
	query_col_text(q, 9, r->client, sizeof(r->client));
	r->pid = (uint32_t)query_col_u64(q, 10);
	query_col_text(q, 11, r->target, sizeof(r->target));
	return 0;
}

int query_fetch_requests(sqlite3 *db, const struct query_filter *f, bool errors,
			 size_t slowest, struct query_req **rows, size_t *n,
			 char *err, size_t errlen)
{
	char *sql = sqlite3_mprintf(
		"SELECT r.ts_ms, e.host, e.method, e.route, r.path, r.status, r.latency_us,"
		" r.bytes_in, r.bytes_out, r.client, r.pid, " QUERY_TARGET_SQL
		" FROM requests r JOIN endpoints e ON e.id = r.endpoint_id"
		QUERY_JOIN_SESSION("r")
		" WHERE" QUERY_FILTER_SQL("r") "%s ORDER BY %s LIMIT ?6",
		errors ? " AND (r.status >= 400 OR r.grpc_status > 0)" : "",
		slowest ? "r.latency_us DESC, r.ts_ms, r.id" : "r.ts_ms, r.id");
	sqlite3_stmt *q = NULL;
	int rc = query_prepare_filtered(db, sql, f, &q, err, errlen);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 6, slowest ? (sqlite3_int64)slowest : -1);
	return query_collect(db, q, sizeof(**rows), read_request_row, (void **)rows, n, err, errlen);
}

static int read_session_row(sqlite3_stmt *q, void *row)
{
	struct query_session *s = row;
	s->id = sqlite3_column_int64(q, 0);
	s->started_ms = sqlite3_column_int64(q, 1);
	s->ended_ms = sqlite3_column_int64(q, 2);
	query_col_text(q, 3, s->target, sizeof(s->target));
	query_col_text(q, 4, s->pids, sizeof(s->pids));
	query_col_text(q, 5, s->version, sizeof(s->version));
	query_col_text(q, 6, s->capture, sizeof(s->capture));
	query_col_text(q, 7, s->settings, sizeof(s->settings));
	query_col_text(q, 8, s->notes, sizeof(s->notes));
	return 0;
}

int query_fetch_sessions(sqlite3 *db, const struct query_filter *f,
			 struct query_session **rows, size_t *n, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT id, started_ms, ended_ms, target, pids, version, capture, settings, notes"
		" FROM sessions WHERE started_ms < ?2 AND (ended_ms IS NULL OR ended_ms >= ?1)"
		" AND (?3 = 0 OR id = ?3) ORDER BY id";
	sqlite3_stmt *q = NULL;
	int rc = query_prepare(db, sql, &q, err, errlen);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, f->since_ms);
	sqlite3_bind_int64(q, 2, f->until_ms);
	sqlite3_bind_int64(q, 3, f->session);
	return query_collect(db, q, sizeof(**rows), read_session_row, (void **)rows, n, err, errlen);
}

/* ---- sorting ----------------------------------------------------------- */

static uint64_t query_key(const struct endpoint_row *r, enum query_sort key)
{
	switch (key) {
	case QUERY_SORT_P99:
		return r->p99_us;
	case QUERY_SORT_ERRORS:
		return r->status[3] + r->status[4];
	case QUERY_SORT_BYTES:
		return r->bytes_in + r->bytes_out;
	case QUERY_SORT_REQUESTS:
		break;
	}
	return r->requests;
}

/* qsort has no context argument; the four comparators differ only in key. */
static int query_cmp(const struct endpoint_row *a, const struct endpoint_row *b, enum query_sort key)
{
	if (a->ts_ms != b->ts_ms)
		return a->ts_ms < b->ts_ms ? -1 : 1;
	uint64_t ka = query_key(a, key), kb = query_key(b, key);
	if (ka != kb)
		return ka > kb ? -1 : 1;
	int c = strcmp(a->method, b->method);
	if (!c)
		c = strcmp(a->route, b->route);
	if (!c)
		c = strcmp(a->target, b->target);
	if (!c)
		c = strcmp(a->host, b->host);
	return c ? c : strcmp(a->protocol, b->protocol);
}

#define QUERY_CMP(name, key) \
	static int name(const void *a, const void *b) { return query_cmp(a, b, key); }
QUERY_CMP(query_cmp_requests, QUERY_SORT_REQUESTS)
QUERY_CMP(query_cmp_p99, QUERY_SORT_P99)
QUERY_CMP(query_cmp_errors, QUERY_SORT_ERRORS)
QUERY_CMP(query_cmp_bytes, QUERY_SORT_BYTES)

void query_sort(struct endpoint_row *rows, size_t n, enum query_sort key)
{
	static int (*const cmp[])(const void *, const void *) = {
		[QUERY_SORT_REQUESTS] = query_cmp_requests,
		[QUERY_SORT_P99] = query_cmp_p99,
		[QUERY_SORT_ERRORS] = query_cmp_errors,
		[QUERY_SORT_BYTES] = query_cmp_bytes,
	};
	if (n > 1)
		qsort(rows, n, sizeof(*rows), cmp[key]);
}

/* Keeps the first limit rows of each step (rows sorted by query_sort); returns the new n. */
size_t query_limit(struct endpoint_row *rows, size_t n, size_t limit)
{
	size_t out = 0, in_step = 0;

	if (!limit)
		return n;
	for (size_t i = 0; i < n; i++) {
		if (i && rows[i].ts_ms != rows[i - 1].ts_ms)
			in_step = 0;
		if (in_step++ < limit)
			rows[out++] = rows[i];
	}
	return out;
}

