// SPDX-License-Identifier: MIT
#include "storage/query.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <csv.h>
#include <jansson.h>

#include "collector/hist.h"
#include "storage/schema.h"

#define QUERY_BUSY_MS 2000

static const char query_usage[] =
	"Usage: l7top query --db FILE [--since WHEN] [--until WHEN] [--sort KEY]\n"
	"                   [--limit N] [--format table|csv|json]\n"
	"\n"
	"Per-endpoint totals (method + route) of the intervals that start in\n"
	"[since, until), with p50/p90/p99 from the merged latency histograms.\n"
	"\n"
	"  --db FILE        l7top database (written by l7top --db FILE)\n"
	"  --since WHEN     first interval to count (default: the first one)\n"
	"  --until WHEN     count intervals starting before this (default: now and later)\n"
	"  --sort KEY       requests (default), p99, errors (4xx+5xx) or bytes (in+out);\n"
	"                   largest first\n"
	"  --limit N        print the first N endpoints only (0: all, the default)\n"
	"  --format FMT     table (default), csv or json; csv and json have every column\n"
	"  --help           this text\n"
	"\n"
	"WHEN is a duration ago (30s, 10m, 2h, 7d), a local time today (HH:MM[:SS]),\n"
	"a local date and time (YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DDTHH:MM[:SS]),\n"
	"the same in UTC with a trailing Z, or unix seconds (@1700000000).\n"
	"\n"
	"EXAMPLES\n"
	"  l7top query --db l7top.db --since 1h\n"
	"  l7top query --db l7top.db --since 09:00 --until 10:30 --sort p99 --limit 10\n"
	"  l7top query --db l7top.db --since 2024-05-01T00:00Z --format csv > may.csv\n"
	"  l7top query --db l7top.db --since 7d --sort errors --format json | jq '.[0]'\n";

/* ---- time parsing ------------------------------------------------------ */

/* Exactly n digits at *p; advances *p. */
static int query_take_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int query_take_char(const char **p, const char *any)
{
	if (!**p || !strchr(any, **p))
		return -EINVAL;
	(*p)++;
	return 0;
}

/* "30s" "10m" "2h" "7d": digits, one unit, nothing else. */
static int query_parse_duration(const char *s, int64_t *ms)
{
	static const struct { char unit; int64_t ms; } units[] = {
		{ 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 }, { 'd', 86400000 },
	};
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || !*end || end[1])
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (*end != units[i].unit)
			continue;
		if (n > INT64_MAX / units[i].ms)
			return -EINVAL;
		*ms = n * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

static int query_parse_unix(const char *s, int64_t *ms)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v > INT64_MAX / 1000)
		return -EINVAL;
	*ms = v * 1000;
	return 0;
}

/* "[YYYY-MM-DD( |T)]HH:MM[:SS][Z]"; without a date, today (local or UTC). */
static int query_parse_clock(const char *s, int64_t now_ms, int64_t *ms)
{
	const char *p = s;
	struct tm tm = { 0 };
	bool dated = strchr(s, '-') != NULL;

	if (dated && (query_take_digits(&p, 4, &tm.tm_year) || query_take_char(&p, "-") ||
		      query_take_digits(&p, 2, &tm.tm_mon) || query_take_char(&p, "-") ||
		      query_take_digits(&p, 2, &tm.tm_mday) || query_take_char(&p, " T")))
		return -EINVAL;
	if (query_take_digits(&p, 2, &tm.tm_hour) || query_take_char(&p, ":") ||
	    query_take_digits(&p, 2, &tm.tm_min))
		return -EINVAL;
	if (*p == ':' && (query_take_char(&p, ":") || query_take_digits(&p, 2, &tm.tm_sec)))
		return -EINVAL;
	bool utc = *p == 'Z';
	p += utc;
	if (*p || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	if (dated) {
		if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1)
			return -EINVAL;
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
	} else {
		time_t now = (time_t)(now_ms / 1000);
		struct tm today;
		if (!(utc ? gmtime_r(&now, &today) : localtime_r(&now, &today)))
			return -EINVAL;
		tm.tm_year = today.tm_year;
		tm.tm_mon = today.tm_mon;
		tm.tm_mday = today.tm_mday;
	}
	tm.tm_isdst = -1;
	int mday = tm.tm_mday, mon = tm.tm_mon;
	time_t t = utc ? timegm(&tm) : mktime(&tm);
	/* mktime() turns Feb 30 into Mar 2: a changed day means no such date. */
	if (t < 0 || tm.tm_mday != mday || tm.tm_mon != mon)
		return -EINVAL;
	*ms = (int64_t)t * 1000;
	return 0;
}

int query_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
	int64_t ago;

	if (*s == '@')
		return query_parse_unix(s + 1, out_ms);
	if (!query_parse_duration(s, &ago)) {
		*out_ms = now_ms - ago;
		return 0;
	}
	return query_parse_clock(s, now_ms, out_ms);
}

/* ---- command line ------------------------------------------------------ */

static int query_pick(const char *s, const char *const names[], int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* Handles one option's argument; 0 or -EINVAL with err set. */
static int query_set_opt(int c, const char *arg, int64_t now_ms, struct query_opts *o,
			 char *err, size_t errlen)
{
	static const char *const sorts[] = { "requests", "p99", "errors", "bytes" };
	static const char *const formats[] = { "table", "csv", "json" };
	int k;
	long long n;
	char *end;

	switch (c) {
	case 'd':
		o->db = arg;
		return 0;
	case 's':
	case 'u':
		if (!query_parse_time(arg, now_ms, c == 's' ? &o->since_ms : &o->until_ms))
			return 0;
		snprintf(err, errlen, "l7top query: --%s: cannot read '%s' as a time "
			 "(e.g. 10m, 2h, 14:30, 2024-05-01 14:30, 2024-05-01T14:30Z, @1714573800)",
			 c == 's' ? "since" : "until", arg);
		return -EINVAL;
	case 'S':
		if ((k = query_pick(arg, sorts, 4)) >= 0) {
			o->sort = (enum query_sort)k;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --sort: '%s' is not requests, p99, errors or bytes", arg);
		return -EINVAL;
	case 'f':
		if ((k = query_pick(arg, formats, 3)) >= 0) {
			o->format = (enum query_format)k;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --format: '%s' is not table, csv or json", arg);
		return -EINVAL;
	case 'n':
		errno = 0;
		n = strtoll(arg, &end, 10);
		if (!errno && *arg && !*end && n >= 0) {
			o->limit = (size_t)n;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --limit: '%s' is not a number >= 0", arg);
		return -EINVAL;
	}
	return -EINVAL;
}

int query_parse_args(int argc, char **argv, int64_t now_ms, struct query_opts *o,
		     char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "sort", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct query_opts){ .since_ms = 0, .until_ms = INT64_MAX };
	optind = 0;                 /* glibc: restart scanning; query_main may run twice */
	opterr = 0;                 /* our messages are one line and name the command */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		if (c == '?' || c == ':') {
			snprintf(err, errlen, "l7top query: %s '%s' (see l7top query --help)",
				 c == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
			return -EINVAL;
		}
		if (query_set_opt(c, optarg, now_ms, o, err, errlen))
			return -EINVAL;
	}
	if (optind < argc) {
		snprintf(err, errlen, "l7top query: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->db) {
		snprintf(err, errlen, "l7top query: --db FILE is required (see l7top query --help)");
		return -EINVAL;
	}
	if (o->since_ms >= o->until_ms) {
		snprintf(err, errlen, "l7top query: --since must be before --until");
		return -EINVAL;
	}
	return 0;
}

/* ---- reading the DB ---------------------------------------------------- */

int query_open(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	int version = 0, rc;

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

/* One result row → r. 0, or -EINVAL for a histogram blob that is not ours. */
static int query_read_row(sqlite3_stmt *q, struct query_row *r)
{
	struct hist h;
	const char *m = (const char *)sqlite3_column_text(q, 0);
	const char *route = (const char *)sqlite3_column_text(q, 1);

	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", m ? m : "");
	snprintf(r->route, sizeof(r->route), "%s", route ? route : "");
	r->requests = query_col_u64(q, 2);
	for (int k = 0; k < STATUS_CLASSES; k++)
		r->status[k] = query_col_u64(q, 3 + k);
	r->bytes_in = query_col_u64(q, 8);
	r->bytes_out = query_col_u64(q, 9);
	r->max_us = query_col_u64(q, 10);

	hist_init(&h);
	int rc = 0;
	if (sqlite3_column_type(q, 11) == SQLITE_BLOB)
		rc = hist_decode_merge(&h, sqlite3_column_blob(q, 11),
				       (size_t)sqlite3_column_bytes(q, 11));
	/* The blob has no max; the column does, and percentiles clamp to it. */
	h.max = r->max_us;
	r->p50_us = hist_percentile(&h, 0.50);
	r->p90_us = hist_percentile(&h, 0.90);
	r->p99_us = hist_percentile(&h, 0.99);
	hist_free(&h);
	return rc;
}

int query_fetch(sqlite3 *db, int64_t since_ms, int64_t until_ms,
		struct query_row **rows, size_t *n, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT e.method, e.route, sum(s.requests), sum(s.s1xx), sum(s.s2xx),"
		" sum(s.s3xx), sum(s.s4xx), sum(s.s5xx), sum(s.bytes_in), sum(s.bytes_out),"
		" max(s.lat_max_us), hist_merge(s.hist)"
		" FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id"
		" WHERE s.ts_ms >= ?1 AND s.ts_ms < ?2 GROUP BY s.endpoint_id";
	struct query_row *out = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "l7top: query failed: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	sqlite3_bind_int64(q, 1, since_ms);
	sqlite3_bind_int64(q, 2, until_ms);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			struct query_row *grown = realloc(out, cap * sizeof(*out));
			if (!grown) {
				rc = SQLITE_NOMEM;
				break;
			}
			out = grown;
		}
		if (query_read_row(q, &out[len++])) {
			rc = SQLITE_CORRUPT;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "l7top: query failed: %s",
			 rc == SQLITE_CORRUPT ? "malformed histogram" : sqlite3_errmsg(db));
		sqlite3_finalize(q);
		free(out);
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	sqlite3_finalize(q);
	*rows = out;
	*n = len;
	return 0;
}

/* ---- sorting ----------------------------------------------------------- */

static uint64_t query_key(const struct query_row *r, enum query_sort key)
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
static int query_cmp(const struct query_row *a, const struct query_row *b, enum query_sort key)
{
	uint64_t ka = query_key(a, key), kb = query_key(b, key);
	if (ka != kb)
		return ka > kb ? -1 : 1;
	int c = strcmp(a->method, b->method);
	return c ? c : strcmp(a->route, b->route);
}

#define QUERY_CMP(name, key) \
	static int name(const void *a, const void *b) { return query_cmp(a, b, key); }
QUERY_CMP(query_cmp_requests, QUERY_SORT_REQUESTS)
QUERY_CMP(query_cmp_p99, QUERY_SORT_P99)
QUERY_CMP(query_cmp_errors, QUERY_SORT_ERRORS)
QUERY_CMP(query_cmp_bytes, QUERY_SORT_BYTES)

void query_sort(struct query_row *rows, size_t n, enum query_sort key)
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

/* ---- printing ---------------------------------------------------------- */

static double query_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

/* RFC 4180: quoted (by libcsv) only when the field needs it. */
static int query_csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n"))
		return csv_fwrite(f, s, strlen(s)) ? -EIO : 0;
	return fputs(s, f) < 0 ? -EIO : 0;
}

static int query_print_csv(FILE *f, const struct query_row *rows, size_t n)
{
	fputs("method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,bytes_in,bytes_out,"
	      "p50_ms,p90_ms,p99_ms,max_ms\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct query_row *r = &rows[i];
		if (query_csv_field(f, r->method) || fputc(',', f) == EOF ||
		    query_csv_field(f, r->route))
			return -EIO;
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 ",%.3f,%.3f,%.3f,%.3f\n",
			r->requests, r->status[0], r->status[1], r->status[2], r->status[3],
			r->status[4], r->bytes_in, r->bytes_out, query_ms(r->p50_us),
			query_ms(r->p90_us), query_ms(r->p99_us), query_ms(r->max_us));
	}
	return ferror(f) ? -EIO : 0;
}

/*
 * jansson refuses strings that are not UTF-8. The collector only hands us
 * ASCII, but a DB may come from anywhere: %XX-encode what jansson would
 * refuse (as the collector does) rather than fail.
 */
static json_t *query_json_str(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char esc[ROUTE_MAX * 3 + 1];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 <= sizeof(esc); p++) {
		if (*p >= 0x20 && *p < 0x7f)
			esc[o++] = (char)*p;
		else
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "%%%02X", *p);
	}
	esc[o] = '\0';
	return json_string(esc);
}

static json_int_t query_jint(uint64_t v)
{
	return v > INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

static json_t *query_json_row(const struct query_row *r)
{
	/* "o" steals the reference; json_pack fails (and frees) on a NULL one. */
	return json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}",
			 "method", query_json_str(r->method), "route", query_json_str(r->route),
			 "requests", query_jint(r->requests),
			 "s1xx", query_jint(r->status[0]), "s2xx", query_jint(r->status[1]),
			 "s3xx", query_jint(r->status[2]), "s4xx", query_jint(r->status[3]),
			 "s5xx", query_jint(r->status[4]),
			 "bytes_in", query_jint(r->bytes_in), "bytes_out", query_jint(r->bytes_out),
			 "p50_ms", query_ms(r->p50_us), "p90_ms", query_ms(r->p90_us),
			 "p99_ms", query_ms(r->p99_us), "max_ms", query_ms(r->max_us));
}

static int query_print_json(FILE *f, const struct query_row *rows, size_t n)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < n; i++)
		if (json_array_append_new(arr, query_json_row(&rows[i])))
			rc = -ENOMEM;
	/* 15 significant digits: µs/1000 prints as 12.345, not 12.345000000000001. */
	if (!rc && (json_dumpf(arr, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) ||
		    fputc('\n', f) == EOF))
		rc = -EIO;
	json_decref(arr);
	return rc;
}

/* v scaled down by base while it can be: "850us", "12.3ms", "1.25s". */
static void query_human(char *b, size_t len, double v, double base,
			const char *const units[], int nunits)
{
	int u = 0;
	while (v >= base && u + 1 < nunits) {
		v /= base;
		u++;
	}
	if (u == 0)
		snprintf(b, len, "%.0f%s", v, units[0]);
	else
		snprintf(b, len, v < 100 ? "%.1f%s" : "%.0f%s", v, units[u]);
}

static void query_count(char *b, size_t len, uint64_t v)
{
	static const char *const units[] = { "", "k", "M", "G", "T" };
	if (v < 100000)
		snprintf(b, len, "%" PRIu64, v);
	else
		query_human(b, len, (double)v, 1000, units, 5);
}

static void query_bytes(char *b, size_t len, uint64_t v)
{
	static const char *const units[] = { "B", "K", "M", "G", "T" };
	query_human(b, len, (double)v, 1024, units, 5);
}

static void query_lat(char *b, size_t len, uint64_t us)
{
	static const char *const units[] = { "us", "ms", "s" };
	query_human(b, len, (double)us, 1000, units, 3);
}

/* Like top: numbers right-aligned, the variable-width route last. */
static int query_print_table(FILE *f, const struct query_row *rows, size_t n)
{
	int mw = 6;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(rows[i].method);
		mw = l > mw ? l : mw;
	}
	fprintf(f, "%7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s  %-*s %s\n", "REQS", "2XX",
		"3XX", "4XX", "5XX", "IN", "OUT", "P50", "P90", "P99", "MAX", mw, "METHOD", "ROUTE");
	for (size_t i = 0; i < n; i++) {
		const struct query_row *r = &rows[i];
		char c[5][16], by[2][16], l[4][16];
		query_count(c[0], sizeof(c[0]), r->requests);
		for (int k = 1; k < 5; k++)
			query_count(c[k], sizeof(c[k]), r->status[k]);
		query_bytes(by[0], sizeof(by[0]), r->bytes_in);
		query_bytes(by[1], sizeof(by[1]), r->bytes_out);
		query_lat(l[0], sizeof(l[0]), r->p50_us);
		query_lat(l[1], sizeof(l[1]), r->p90_us);
		query_lat(l[2], sizeof(l[2]), r->p99_us);
		query_lat(l[3], sizeof(l[3]), r->max_us);
		fprintf(f, "%7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s  %-*s %s\n", c[0], c[1],
			c[2], c[3], c[4], by[0], by[1], l[0], l[1], l[2], l[3], mw, r->method,
			r->route);
	}
	return ferror(f) ? -EIO : 0;
}

int query_print(FILE *f, const struct query_row *rows, size_t n, enum query_format fmt)
{
	switch (fmt) {
	case QUERY_FMT_CSV:
		return query_print_csv(f, rows, n);
	case QUERY_FMT_JSON:
		return query_print_json(f, rows, n);
	case QUERY_FMT_TABLE:
		break;
	}
	return query_print_table(f, rows, n);
}

int query_run(const struct query_opts *o, FILE *out, char *err, size_t errlen)
{
	struct query_row *rows = NULL;
	size_t n = 0;
	sqlite3 *db;

	int rc = query_open(o->db, &db, err, errlen);
	if (rc)
		return rc;
	rc = query_fetch(db, o->since_ms, o->until_ms, &rows, &n, err, errlen);
	sqlite3_close(db);
	if (!rc) {
		query_sort(rows, n, o->sort);
		if (o->limit && n > o->limit)
			n = o->limit;
		rc = query_print(out, rows, n, o->format);
		if (rc)
			snprintf(err, errlen, "l7top query: cannot write the output: %s",
				 strerror(-rc));
	}
	free(rows);
	return rc;
}

int query_main(int argc, char **argv)
{
	struct query_opts o;
	struct timespec now;
	char err[320];

	clock_gettime(CLOCK_REALTIME, &now);
	int rc = query_parse_args(argc, argv, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
				  &o, err, sizeof(err));
	if (rc == 1) {
		fputs(query_usage, stdout);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (query_run(&o, stdout, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return fflush(stdout) ? 1 : 0;
}
