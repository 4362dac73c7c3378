// SPDX-License-Identifier: MIT
#include "storage/query_upstream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <jansson.h>

#include "collector/hist.h"

struct up_row {
	char upstream[64];
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	uint64_t requests, status[5], no_answer, max_us;
	uint64_t p50, p90, p99;
	/* per upstream */
	uint64_t connect_failed, connects, reused, bytes_sent, bytes_received;
	/* per route */
	uint64_t inbound, split[6];   /* before p50/p99, upstream p50/p99, after p50/p99 */
};

static uint64_t col_u64(sqlite3_stmt *q, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(q, i);
	return v > 0 ? (uint64_t)v : 0;
}

/* The merged histogram in column i: percentiles q1, q2 (and q3) of it. */
static int col_quantiles(sqlite3_stmt *q, int i, uint64_t max_us, const double *qs, int nq,
			 uint64_t *out)
{
	struct hist h;
	int rc = 0;

	hist_init(&h);
	if (sqlite3_column_type(q, i) == SQLITE_BLOB)
		rc = hist_decode_merge(&h, sqlite3_column_blob(q, i), (size_t)sqlite3_column_bytes(q, i));
	if (max_us)
		h.max = max_us;
	for (int k = 0; k < nq; k++)
		out[k] = hist_percentile(&h, qs[k]);
	hist_free(&h);
	return rc;
}

static const double Q3[3] = { 0.50, 0.90, 0.99 };
static const double Q2[2] = { 0.50, 0.99 };

static void col_text(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
	const char *t = (const char *)sqlite3_column_text(q, i);
	snprintf(dst, cap, "%s", t ? t : "");
}

/* Columns: name, requests, s1xx..s5xx, no_answer, max, hist, then per kind. */
static int read_row(sqlite3_stmt *q, bool by_route, struct up_row *r)
{
	int c = 0, rc;
	uint64_t pct[3];

	memset(r, 0, sizeof(*r));
	col_text(q, c++, r->upstream, sizeof(r->upstream));
	if (by_route) {
		col_text(q, c++, r->method, sizeof(r->method));
		col_text(q, c++, r->route, sizeof(r->route));
	}
	r->requests = col_u64(q, c++);
	for (int k = 0; k < 5; k++)
		r->status[k] = col_u64(q, c++);
	r->no_answer = col_u64(q, c++);
	r->max_us = col_u64(q, c++);
	rc = col_quantiles(q, c++, r->max_us, Q3, 3, pct);
	r->p50 = pct[0], r->p90 = pct[1], r->p99 = pct[2];
	if (!by_route) {
		r->connect_failed = col_u64(q, c++);
		r->connects = col_u64(q, c++);
		r->reused = col_u64(q, c++);
		r->bytes_sent = col_u64(q, c++);
		r->bytes_received = col_u64(q, c++);
		return rc;
	}
	r->inbound = col_u64(q, c++);
	for (int k = 0; k < 3 && !rc; k++)
		rc = col_quantiles(q, c++, 0, Q2, 2, &r->split[2 * k]);
	return rc;
}

static const char SQL_UPSTREAMS[] =
	"SELECT u.name, sum(s.requests), sum(s.s1xx), sum(s.s2xx), sum(s.s3xx), sum(s.s4xx),"
	" sum(s.s5xx), sum(s.no_answer), max(s.lat_max_us), hist_merge(s.hist),"
	" sum(s.connect_failed), sum(s.connects) + sum(s.connects_unseen), sum(s.reused),"
	" sum(s.bytes_sent), sum(s.bytes_received)"
	" FROM upstream_stats s JOIN upstreams u ON u.id = s.upstream_id"
	" WHERE s.ts_ms >= ?1 AND s.ts_ms < ?2 AND (?3 = 0 OR s.session_id = ?3)"
	" GROUP BY u.name";

static const char SQL_ROUTES[] =
	"SELECT u.name, s.method, s.route, sum(s.calls), sum(s.s1xx), sum(s.s2xx), sum(s.s3xx),"
	" sum(s.s4xx), sum(s.s5xx), sum(s.no_answer), max(s.lat_max_us), hist_merge(s.hist),"
	" sum(s.inbound), hist_merge(s.before_hist), hist_merge(s.upstream_hist),"
	" hist_merge(s.after_hist)"
	" FROM upstream_route_stats s JOIN upstreams u ON u.id = s.upstream_id"
	" WHERE s.ts_ms >= ?1 AND s.ts_ms < ?2 AND (?3 = 0 OR s.session_id = ?3)"
	" AND (?4 IS NULL OR s.method = ?4) AND (?5 IS NULL OR s.route = ?5)"
	" GROUP BY u.name, s.method, s.route";

static int fetch(sqlite3 *db, const struct query_filter *f, bool by_route, struct up_row **rows,
		 size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	struct up_row *v = NULL;
	size_t cap = 0, len = 0;
	int rc;

	if (sqlite3_prepare_v2(db, by_route ? SQL_ROUTES : SQL_UPSTREAMS, -1, &q, NULL)) {
		snprintf(err, errlen, "l7top: query failed: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	sqlite3_bind_int64(q, 1, f->since_ms);
	sqlite3_bind_int64(q, 2, f->until_ms);
	sqlite3_bind_int64(q, 3, f->session);
	if (by_route && f->method)
		sqlite3_bind_text(q, 4, f->method, -1, SQLITE_TRANSIENT);
	if (by_route && f->route)
		sqlite3_bind_text(q, 5, f->route, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct up_row *g = realloc(v, nc * sizeof(*v));
			if (!g) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = g;
			cap = nc;
		}
		if (read_row(q, by_route, &v[len++])) {
			rc = SQLITE_CORRUPT;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "l7top: query failed: %s", rc == SQLITE_NOMEM ? "out of memory" :
			 rc == SQLITE_CORRUPT ? "malformed histogram" : sqlite3_errmsg(db));
		free(v);
		sqlite3_finalize(q);
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	sqlite3_finalize(q);
	*rows = v;
	*n = len;
	return 0;
}

static int by_requests(const void *a, const void *b)
{
	const struct up_row *x = a, *y = b;

	if (x->requests != y->requests)
		return x->requests < y->requests ? 1 : -1;
	int c = strcmp(x->upstream, y->upstream);
	return c ? c : strcmp(x->route, y->route);
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static int csv_text(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n"))
		return csv_fwrite(f, s, strlen(s)) ? -EIO : 0;
	return fputs(s, f) < 0 ? -EIO : 0;
}

static int print_csv(FILE *f, const struct up_row *rows, size_t n, bool by_route)
{
	fprintf(f, "upstream,%srequests,s1xx,s2xx,s3xx,s4xx,s5xx,p50_ms,p90_ms,p99_ms,max_ms,no_answer,%s\n",
		by_route ? "method,route," : "",
		by_route ? "inbound,before_p50_ms,before_p99_ms,upstream_p50_ms,upstream_p99_ms,"
			   "after_p50_ms,after_p99_ms"
			 : "connect_failed,connects,reused,bytes_sent,bytes_received");
	for (size_t i = 0; i < n; i++) {
		const struct up_row *r = &rows[i];

		if (csv_text(f, r->upstream) || fputc(',', f) == EOF)
			return -EIO;
		if (by_route && (csv_text(f, r->method) || fputc(',', f) == EOF ||
				 csv_text(f, r->route) || fputc(',', f) == EOF))
			return -EIO;
		fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%.3f,%.3f,%.3f,%.3f,%" PRIu64, r->requests, r->status[0], r->status[1],
			r->status[2], r->status[3], r->status[4], ms(r->p50), ms(r->p90), ms(r->p99),
			ms(r->max_us), r->no_answer);
		if (by_route)
			fprintf(f, ",%" PRIu64 ",%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n", r->inbound,
				ms(r->split[0]), ms(r->split[1]), ms(r->split[2]), ms(r->split[3]),
				ms(r->split[4]), ms(r->split[5]));
		else
			fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
				r->connect_failed, r->connects, r->reused, r->bytes_sent,
				r->bytes_received);
	}
	return ferror(f) ? -EIO : 0;
}

static json_t *row_json(const struct up_row *r, bool by_route)
{
	static const char *const cls[5] = { "s1xx", "s2xx", "s3xx", "s4xx", "s5xx" };
	static const char *const split[6] = { "before_p50_ms", "before_p99_ms", "upstream_p50_ms",
					      "upstream_p99_ms", "after_p50_ms", "after_p99_ms" };
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "upstream", json_string(r->upstream));
	if (by_route) {
		json_object_set_new(o, "method", json_string(r->method));
		json_object_set_new(o, "route", json_string(r->route));
	}
	json_object_set_new(o, "requests", json_integer((json_int_t)r->requests));
	for (int k = 0; k < 5; k++)
		json_object_set_new(o, cls[k], json_integer((json_int_t)r->status[k]));
	json_object_set_new(o, "p50_ms", json_real(ms(r->p50)));
	json_object_set_new(o, "p90_ms", json_real(ms(r->p90)));
	json_object_set_new(o, "p99_ms", json_real(ms(r->p99)));
	json_object_set_new(o, "max_ms", json_real(ms(r->max_us)));
	json_object_set_new(o, "no_answer", json_integer((json_int_t)r->no_answer));
	if (by_route) {
		json_object_set_new(o, "inbound", json_integer((json_int_t)r->inbound));
		for (int k = 0; k < 6; k++)
			json_object_set_new(o, split[k], json_real(ms(r->split[k])));
	} else {
		json_object_set_new(o, "connect_failed", json_integer((json_int_t)r->connect_failed));
		json_object_set_new(o, "connects", json_integer((json_int_t)r->connects));
		json_object_set_new(o, "reused", json_integer((json_int_t)r->reused));
		json_object_set_new(o, "bytes_sent", json_integer((json_int_t)r->bytes_sent));
		json_object_set_new(o, "bytes_received", json_integer((json_int_t)r->bytes_received));
	}
	return o;
}

static int print_json(FILE *f, const struct up_row *rows, size_t n, bool by_route)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < n; i++)
		if (json_array_append_new(arr, row_json(&rows[i], by_route)))
			rc = -ENOMEM;
	if (!rc && (json_dumpf(arr, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) || fputc('\n', f) == EOF))
		rc = -EIO;
	json_decref(arr);
	return rc;
}

static int print_table(FILE *f, const struct up_row *rows, size_t n, bool by_route)
{
	fprintf(f, "%-22s %s%8s %6s %5s %5s %5s %5s %8s %8s %8s %8s %6s\n", "UPSTREAM",
		by_route ? "METHOD  ROUTE                            " : "", "REQS", "2XX", "3XX", "4XX",
		"5XX", "NOANS", "P50_MS", "P90_MS", "P99_MS", "MAX_MS", by_route ? "INBND" : "CFAIL");
	for (size_t i = 0; i < n; i++) {
		const struct up_row *r = &rows[i];

		fprintf(f, "%-22.22s ", r->upstream);
		if (by_route)
			fprintf(f, "%-7.7s %-32.32s ", r->method, r->route);
		fprintf(f, "%8" PRIu64 " %6" PRIu64 " %5" PRIu64 " %5" PRIu64 " %5" PRIu64 " %5" PRIu64
			" %8.3f %8.3f %8.3f %8.3f %6" PRIu64 "\n", r->requests, r->status[1], r->status[2],
			r->status[3], r->status[4], r->no_answer, ms(r->p50), ms(r->p90), ms(r->p99),
			ms(r->max_us), by_route ? r->inbound : r->connect_failed);
	}
	return ferror(f) ? -EIO : 0;
}

int query_run_upstreams(sqlite3 *db, const struct query_filter *f, bool by_route,
			enum query_format fmt, size_t limit, FILE *out, char *err, size_t errlen)
{
	struct up_row *rows = NULL;
	size_t n = 0;
	int rc = fetch(db, f, by_route, &rows, &n, err, errlen);

	if (rc)
		return rc;
	qsort(rows, n, sizeof(*rows), by_requests);
	if (limit && n > limit)
		n = limit;
	rc = fmt == QUERY_FMT_CSV ? print_csv(out, rows, n, by_route)
	   : fmt == QUERY_FMT_JSON ? print_json(out, rows, n, by_route)
	   : print_table(out, rows, n, by_route);
	free(rows);
	return rc;
}
