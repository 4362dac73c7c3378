// SPDX-License-Identifier: MIT
#include "storage/query.h"
#include "collector/route_learn.h"

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
#include "storage/query_upstream.h"
#include "storage/schema.h"
#include "storage/store.h"

#define QUERY_BUSY_MS 2000

static const char query_usage[] =
	"Usage: l7top query --db FILE [--since WHEN] [--until WHEN] [--step DUR]\n"
	"                   [--by-host] [--endpoint 'METHOD ROUTE'] [--session N]\n"
	"                   [--protocol P] [--sort KEY] [--limit N] [--format table|csv|json]\n"
	"       l7top query --db FILE --requests [--slowest N] [--errors] [...]\n"
	"       l7top query --db FILE --sessions\n"
	"       l7top query --db FILE --upstreams [--by-route] [--endpoint EP] [...]\n"
	"\n"
	"Per-endpoint totals (method + route) of the intervals that start in\n"
	"[since, until), with p50/p90/p99 from the merged latency histograms;\n"
	"with --step, the same for every step (one row per step and endpoint).\n"
	"\n"
	"  --db FILE        l7top database (written by l7top --db FILE)\n"
	"  --since WHEN     first interval to count (default: the first one)\n"
	"  --until WHEN     count intervals starting before this (default: now and later)\n"
	"  --step DUR       one row per DUR (30s, 1m, 1h, 1d) and endpoint; a step starts\n"
	"                   at a multiple of DUR since 1970 (UTC); rows older than the\n"
	"                   rollup threshold are per minute, so steps under 1m see them\n"
	"                   at the start of their minute\n"
	"  --by-host        a row per virtual host too (a host column first); without it\n"
	"                   rows sum across hosts\n"
	"  --endpoint EP    only this endpoint: 'GET /users/{id}', or a route alone\n"
	"  --session N      only the run with this id (see --sessions)\n"
	"  --protocol P     only requests carried by P: http/1.0, http/1.1, h2 (HTTP/2\n"
	"                   over TLS) or h2c (cleartext HTTP/2)\n"
	"  --sort KEY       requests (default), p99, errors (4xx+5xx) or bytes (in+out);\n"
	"                   largest first (within each step)\n"
	"  --limit N        print the first N rows only (per step; 0: all, the default)\n"
	"  --format FMT     table (default), csv or json; csv and json have every column\n"
	"  --requests       the request log: errors and slow requests, in time order\n"
	"  --slowest N      the N slowest logged requests, slowest first (implies --requests)\n"
	"  --errors         logged requests with status >= 400 or a failed gRPC call\n"
	"                   (implies --requests)\n"
	"  --sessions       the l7top runs that wrote the DB: id, start, end, target,\n"
	"                   pids, version, capture, settings\n"
	"  --upstreams      the target's own outgoing calls, one row per upstream\n"
	"                   (address:port): calls, status classes, latency, calls\n"
	"                   without answer, refused connects\n"
	"  --by-route       with --upstreams: per upstream and inbound route, the calls\n"
	"                   linked to the route's requests and the split of their\n"
	"                   latency (before, upstream, after); --endpoint applies\n"
	"  --help           this text\n"
	"\n"
	"WHEN is a duration ago (30s, 10m, 2h, 7d), a local time today (HH:MM[:SS]),\n"
	"a local date and time (YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DDTHH:MM[:SS]),\n"
	"the same in UTC with a trailing Z, or unix seconds (@1700000000).\n"
	"Times printed (ts, start, end) are ISO 8601 UTC.\n"
	"\n"
	"EXAMPLES\n"
	"  l7top query --db l7top.db --since 1h\n"
	"  l7top query --db l7top.db --since 09:00 --until 10:30 --sort p99 --limit 10\n"
	"  l7top query --db l7top.db --since 2h --step 1m --endpoint 'GET /users/{id}'\n"
	"  l7top query --db l7top.db --since 1h --by-host --format csv\n"
	"  l7top query --db l7top.db --protocol h2 --format csv\n"
	"  l7top query --db l7top.db --since 14:00 --requests --slowest 20\n"
	"  l7top query --db l7top.db --requests --errors --format json\n"
	"  l7top query --db l7top.db --sessions\n"
	"  l7top query --db l7top.db --since 1h --upstreams --by-route --format csv\n"
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
int query_parse_duration(const char *s, int64_t *ms)
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

/* A count >= min from strtoll; 0 or -EINVAL. */
static int query_parse_count(const char *arg, long long min, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(arg, &end, 10);
	if (errno || !*arg || *end || n < min)
		return -EINVAL;
	*out = n;
	return 0;
}

enum { QOPT_STEP = 256, QOPT_BY_HOST, QOPT_PROTOCOL, QOPT_ENDPOINT, QOPT_SESSION, QOPT_SESSIONS,
       QOPT_REQUESTS, QOPT_SLOWEST, QOPT_ERRORS, QOPT_UPSTREAMS, QOPT_BY_ROUTE };

/* Handles one option's argument; 0 or -EINVAL with err set. */
static int query_set_opt(int c, const char *arg, int64_t now_ms, struct query_opts *o,
			 char *err, size_t errlen)
{
	static const char *const sorts[] = { "requests", "p99", "errors", "bytes" };
	static const char *const formats[] = { "table", "csv", "json" };
	int k;
	long long n;

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
		if (!query_parse_count(arg, 0, &n)) {
			o->limit = (size_t)n;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --limit: '%s' is not a number >= 0", arg);
		return -EINVAL;
	case QOPT_STEP:
		if (!query_parse_duration(arg, &o->step_ms) && o->step_ms > 0)
			return 0;
		snprintf(err, errlen, "l7top query: --step: '%s' is not a duration above 0"
			 " (e.g. 30s, 1m, 1h, 1d)", arg);
		return -EINVAL;
	case QOPT_BY_HOST:
		o->by_host = true;
		return 0;
	case QOPT_PROTOCOL:
		if (proto_id(arg) < PROTO_COUNT) {
			o->protocol = arg;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --protocol: '%s' is not http/1.0, http/1.1, h2"
			 " or h2c", arg);
		return -EINVAL;
	case QOPT_ENDPOINT:
		if (*arg) {
			o->endpoint = arg;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --endpoint: give 'METHOD ROUTE' or a route");
		return -EINVAL;
	case QOPT_SESSION:
		if (!query_parse_count(arg, 1, &n)) {
			o->session = n;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --session: '%s' is not a session id"
			 " (see --sessions)", arg);
		return -EINVAL;
	case QOPT_SESSIONS:
		o->mode = QUERY_MODE_SESSIONS;
		return 0;
	case QOPT_UPSTREAMS:
		o->mode = QUERY_MODE_UPSTREAMS;
		return 0;
	case QOPT_BY_ROUTE:
		o->by_route = true;
		return 0;
	case QOPT_SLOWEST:
		if (query_parse_count(arg, 1, &n)) {
			snprintf(err, errlen, "l7top query: --slowest: '%s' is not a number >= 1", arg);
			return -EINVAL;
		}
		o->slowest = (size_t)n;
		/* fall through */
	case QOPT_REQUESTS:
	case QOPT_ERRORS:
		if (c == QOPT_ERRORS)
			o->errors = true;
		if (o->mode != QUERY_MODE_SESSIONS)
			o->mode = QUERY_MODE_REQUESTS;
		return 0;
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
		{ "step", required_argument, NULL, QOPT_STEP },
		{ "by-host", no_argument, NULL, QOPT_BY_HOST },
		{ "protocol", required_argument, NULL, QOPT_PROTOCOL },
		{ "endpoint", required_argument, NULL, QOPT_ENDPOINT },
		{ "session", required_argument, NULL, QOPT_SESSION },
		{ "sessions", no_argument, NULL, QOPT_SESSIONS },
		{ "requests", no_argument, NULL, QOPT_REQUESTS },
		{ "slowest", required_argument, NULL, QOPT_SLOWEST },
		{ "errors", no_argument, NULL, QOPT_ERRORS },
		{ "upstreams", no_argument, NULL, QOPT_UPSTREAMS },
		{ "by-route", no_argument, NULL, QOPT_BY_ROUTE },
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
	if (o->mode == QUERY_MODE_SESSIONS && (o->slowest || o->errors)) {
		snprintf(err, errlen, "l7top query: --sessions cannot be combined with"
			 " --requests, --slowest or --errors");
		return -EINVAL;
	}
	if (o->by_route && o->mode != QUERY_MODE_UPSTREAMS) {
		snprintf(err, errlen, "l7top query: --by-route goes with --upstreams");
		return -EINVAL;
	}
	if (o->mode == QUERY_MODE_UPSTREAMS && (o->step_ms || o->by_host || o->slowest || o->errors)) {
		snprintf(err, errlen, "l7top query: --upstreams takes --since, --until, --session,"
			 " --endpoint, --limit and --format only");
		return -EINVAL;
	}
	if (o->mode == QUERY_MODE_REQUESTS && o->step_ms) {
		snprintf(err, errlen, "l7top query: --step does not apply to --requests");
		return -EINVAL;
	}
	return 0;
}

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
static int query_read_row(sqlite3_stmt *q, struct query_row *r)
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

/* --endpoint 'GET /x' → method and route; 'ROUTE' alone → route. */
static void query_split_endpoint(const char *ep, char *method, size_t mlen, char *route,
				 size_t rlen)
{
	const char *sp = strchr(ep, ' ');
	if (sp && ep[0] != '/') {
		snprintf(method, mlen, "%.*s", (int)(sp - ep), ep);
		while (*sp == ' ')
			sp++;
		snprintf(route, rlen, "%s", sp);
	} else {
		method[0] = '\0';
		snprintf(route, rlen, "%s", ep);
	}
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
}

#define QUERY_FILTER_SQL(alias) \
	" " alias ".ts_ms >= ?1 AND " alias ".ts_ms < ?2" \
	" AND (?3 = 0 OR " alias ".session_id = ?3)" \
	" AND (?4 IS NULL OR e.method = ?4)" \
	" AND (?5 IS NULL OR e.route = ?5 OR l7top_fold(e.route) = ?5)" \
	" AND (?7 IS NULL OR e.protocol = ?7)"

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
	return query_read_row(q, row);
}

int query_fetch_rows(sqlite3 *db, const struct query_filter *f,
		     struct query_row **rows, size_t *n, char *err, size_t errlen)
{
	char *sql = sqlite3_mprintf(
		"SELECT %s AS t, %s AS h, e.method, l7top_fold(e.route) AS r, sum(s.requests),"
		" sum(s.s1xx),"
		" sum(s.s2xx), sum(s.s3xx), sum(s.s4xx), sum(s.s5xx), sum(s.bytes_in),"
		" sum(s.bytes_out), max(s.lat_max_us), hist_merge(s.hist), coalesce(sum(s.aborted), 0)"
		" FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id"
		" WHERE" QUERY_FILTER_SQL("s")
		" GROUP BY t, h, e.method, r",
		f->step_ms > 0 ? "s.ts_ms / ?6 * ?6" : "0", f->by_host ? "e.host" : "''");
	sqlite3_stmt *q = NULL;
	int err_prep = query_prepare(db, sql, &q, err, errlen);

	sqlite3_free(sql);
	if (err_prep)
		return err_prep;
	query_bind_filter(q, f);
	if (f->step_ms > 0)
		sqlite3_bind_int64(q, 6, f->step_ms);
	return query_collect(db, q, sizeof(**rows), read_endpoint_row, (void **)rows, n, err, errlen);
}

int query_fetch(sqlite3 *db, int64_t since_ms, int64_t until_ms,
		struct query_row **rows, size_t *n, char *err, size_t errlen)
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
	return 0;
}

int query_fetch_requests(sqlite3 *db, const struct query_filter *f, bool errors,
			 size_t slowest, struct query_req **rows, size_t *n,
			 char *err, size_t errlen)
{
	char *sql = sqlite3_mprintf(
		"SELECT r.ts_ms, e.host, e.method, e.route, r.path, r.status, r.latency_us,"
		" r.bytes_in, r.bytes_out, r.client, r.pid"
		" FROM requests r JOIN endpoints e ON e.id = r.endpoint_id"
		" WHERE" QUERY_FILTER_SQL("r") "%s ORDER BY %s LIMIT ?6",
		errors ? " AND (r.status >= 400 OR r.grpc_status > 0)" : "",
		slowest ? "r.latency_us DESC, r.ts_ms, r.id" : "r.ts_ms, r.id");
	sqlite3_stmt *q = NULL;
	int err_prep = query_prepare(db, sql, &q, err, errlen);

	sqlite3_free(sql);
	if (err_prep)
		return err_prep;
	query_bind_filter(q, f);
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
	return 0;
}

int query_fetch_sessions(sqlite3 *db, const struct query_filter *f,
			 struct query_session **rows, size_t *n, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT id, started_ms, ended_ms, target, pids, version, capture, settings"
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
	if (a->ts_ms != b->ts_ms)
		return a->ts_ms < b->ts_ms ? -1 : 1;
	uint64_t ka = query_key(a, key), kb = query_key(b, key);
	if (ka != kb)
		return ka > kb ? -1 : 1;
	int c = strcmp(a->method, b->method);
	if (!c)
		c = strcmp(a->route, b->route);
	return c ? c : strcmp(a->host, b->host);
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

/* Keeps the first limit rows of each step (rows sorted by query_sort); returns the new n. */
static size_t query_limit(struct query_row *rows, size_t n, size_t limit)
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

/* ---- printing ---------------------------------------------------------- */

static double query_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

void query_iso_time(int64_t ts_ms, bool with_ms, char *buf, size_t len)
{
	time_t t = (time_t)(ts_ms / 1000);
	struct tm tm;
	char sec[32];

	if (ts_ms < 0 || !gmtime_r(&t, &tm) ||
	    !strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	if (with_ms)
		snprintf(buf, len, "%s.%03dZ", sec, (int)(ts_ms % 1000));
	else
		snprintf(buf, len, "%sZ", sec);
}

/* RFC 4180: quoted (by libcsv) only when the field needs it. */
static int query_csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n"))
		return csv_fwrite(f, s, strlen(s)) ? -EIO : 0;
	return fputs(s, f) < 0 ? -EIO : 0;
}

/* Text fields, each followed by a comma. */
static int query_csv_fields(FILE *f, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (query_csv_field(f, v[i]) || fputc(',', f) == EOF)
			return -EIO;
	return 0;
}

static int query_print_csv(FILE *f, const struct query_row *rows, size_t n, unsigned cols)
{
	fprintf(f, "%s%smethod,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,"
		"p50_ms,p90_ms,p99_ms,max_ms\n", cols & QUERY_COL_HOST ? "host," : "",
		cols & QUERY_COL_TS ? "ts," : "");
	for (size_t i = 0; i < n; i++) {
		const struct query_row *r = &rows[i];
		char ts[40];
		const char *lead[2];
		size_t nl = 0;
		query_iso_time(r->ts_ms, false, ts, sizeof(ts));
		if (cols & QUERY_COL_HOST)
			lead[nl++] = r->host;
		if (cols & QUERY_COL_TS)
			lead[nl++] = ts;
		if (query_csv_fields(f, lead, nl) || query_csv_field(f, r->method) ||
		    fputc(',', f) == EOF || query_csv_field(f, r->route))
			return -EIO;
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.3f,%.3f,%.3f,%.3f\n",
			r->requests, r->status[0], r->status[1], r->status[2], r->status[3],
			r->status[4], r->aborted, r->bytes_in, r->bytes_out, query_ms(r->p50_us),
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

json_t *query_row_json(const struct query_row *r)
{
	/* "o" steals the reference; json_pack fails (and frees) on a NULL one. */
	return json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}",
			 "method", query_json_str(r->method), "route", query_json_str(r->route),
			 "requests", query_jint(r->requests),
			 "s1xx", query_jint(r->status[0]), "s2xx", query_jint(r->status[1]),
			 "s3xx", query_jint(r->status[2]), "s4xx", query_jint(r->status[3]),
			 "s5xx", query_jint(r->status[4]), "aborted", query_jint(r->aborted),
			 "bytes_in", query_jint(r->bytes_in), "bytes_out", query_jint(r->bytes_out),
			 "p50_ms", query_ms(r->p50_us), "p90_ms", query_ms(r->p90_us),
			 "p99_ms", query_ms(r->p99_us), "max_ms", query_ms(r->max_us));
}

/* {"host": ..., "ts": ...} as cols asks, then body's keys in their order; steals body. */
static json_t *query_json_lead(json_t *body, unsigned cols, const char *host, int64_t ts_ms,
			       bool with_ms)
{
	char ts[40];
	json_t *o = body ? json_object() : NULL;

	query_iso_time(ts_ms, with_ms, ts, sizeof(ts));
	if (o && (((cols & QUERY_COL_HOST) &&
		   json_object_set_new(o, "host", query_json_str(host))) ||
		  ((cols & QUERY_COL_TS) && json_object_set_new(o, "ts", json_string(ts))) ||
		  json_object_update(o, body))) {
		json_decref(o);
		o = NULL;
	}
	json_decref(body);
	return o;
}

/* Dumps arr (stolen) to f as the whole output. */
static int query_dump_json(FILE *f, json_t *arr, int rc)
{
	/* 15 significant digits: µs/1000 prints as 12.345, not 12.345000000000001. */
	if (!rc && (json_dumpf(arr, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) ||
		    fputc('\n', f) == EOF))
		rc = -EIO;
	json_decref(arr);
	return rc;
}

static int query_print_json(FILE *f, const struct query_row *rows, size_t n, unsigned cols)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < n; i++) {
		json_t *row = query_row_json(&rows[i]);
		if (cols)
			row = query_json_lead(row, cols, rows[i].host, rows[i].ts_ms, false);
		if (json_array_append_new(arr, row))
			rc = -ENOMEM;
	}
	return query_dump_json(f, arr, rc);
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

/* The widest of a string column, at least min. */
#define QUERY_WIDTH(rows, n, field, min) __extension__ ({ \
	int w_ = (min); \
	for (size_t i_ = 0; i_ < (n); i_++) { \
		int l_ = (int)strlen((rows)[i_].field); \
		w_ = l_ > w_ ? l_ : w_; \
	} \
	w_; })

/* "TIME  HOST  " as cols asks, padded; for the header when r is NULL. */
static void query_table_lead(FILE *f, unsigned cols, int hw, const char *host, int64_t ts_ms,
			     bool with_ms)
{
	char ts[40];
	if (cols & QUERY_COL_TS) {
		if (host)
			query_iso_time(ts_ms, with_ms, ts, sizeof(ts));
		fprintf(f, "%-*s ", with_ms ? 24 : 20, host ? ts : "TIME");
	}
	if (cols & QUERY_COL_HOST)
		fprintf(f, "%-*s ", hw, host ? (*host ? host : "-") : "HOST");
}

/* Like top: numbers right-aligned, the variable-width route last. */
static int query_print_table(FILE *f, const struct query_row *rows, size_t n, unsigned cols)
{
	int mw = QUERY_WIDTH(rows, n, method, 6), hw = QUERY_WIDTH(rows, n, host, 4);

	query_table_lead(f, cols, hw, NULL, 0, false);
	fprintf(f, "%7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s  %-*s %s\n", "REQS", "2XX",
		"3XX", "4XX", "5XX", "ABORT", "IN", "OUT", "P50", "P90", "P99", "MAX", mw, "METHOD", "ROUTE");
	for (size_t i = 0; i < n; i++) {
		const struct query_row *r = &rows[i];
		char c[6][16], by[2][16], l[4][16];
		query_count(c[0], sizeof(c[0]), r->requests);
		for (int k = 1; k < 5; k++)
			query_count(c[k], sizeof(c[k]), r->status[k]);
		query_count(c[5], sizeof(c[5]), r->aborted);
		query_bytes(by[0], sizeof(by[0]), r->bytes_in);
		query_bytes(by[1], sizeof(by[1]), r->bytes_out);
		query_lat(l[0], sizeof(l[0]), r->p50_us);
		query_lat(l[1], sizeof(l[1]), r->p90_us);
		query_lat(l[2], sizeof(l[2]), r->p99_us);
		query_lat(l[3], sizeof(l[3]), r->max_us);
		query_table_lead(f, cols, hw, r->host, r->ts_ms, false);
		fprintf(f, "%7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s  %-*s %s\n", c[0], c[1],
			c[2], c[3], c[4], c[5], by[0], by[1], l[0], l[1], l[2], l[3], mw, r->method,
			r->route);
	}
	return ferror(f) ? -EIO : 0;
}

int query_print_rows(FILE *f, const struct query_row *rows, size_t n, enum query_format fmt,
		     unsigned cols)
{
	switch (fmt) {
	case QUERY_FMT_CSV:
		return query_print_csv(f, rows, n, cols);
	case QUERY_FMT_JSON:
		return query_print_json(f, rows, n, cols);
	case QUERY_FMT_TABLE:
		break;
	}
	return query_print_table(f, rows, n, cols);
}

int query_print(FILE *f, const struct query_row *rows, size_t n, enum query_format fmt)
{
	return query_print_rows(f, rows, n, fmt, 0);
}

/* ---- printing the request log and sessions ----------------------------- */

static int query_print_requests_csv(FILE *f, const struct query_req *r, size_t n, unsigned cols)
{
	fprintf(f, "%sts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid\n",
		cols & QUERY_COL_HOST ? "host," : "");
	for (size_t i = 0; i < n; i++) {
		char ts[40];
		query_iso_time(r[i].ts_ms, true, ts, sizeof(ts));
		const char *v[] = { r[i].host, ts, r[i].method, r[i].route, r[i].path };
		bool host = cols & QUERY_COL_HOST;
		if (query_csv_fields(f, v + !host, 5 - !host))
			return -EIO;
		fprintf(f, "%u,%.3f,%" PRIu64 ",%" PRIu64 ",", r[i].status, query_ms(r[i].latency_us),
			r[i].bytes_in, r[i].bytes_out);
		if (query_csv_field(f, r[i].client))
			return -EIO;
		fprintf(f, ",%" PRIu32 "\n", r[i].pid);
	}
	return ferror(f) ? -EIO : 0;
}

static int query_print_requests_json(FILE *f, const struct query_req *r, size_t n,
				     unsigned cols)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < n; i++) {
		json_t *body = json_pack("{s:o, s:o, s:o, s:I, s:f, s:I, s:I, s:o, s:I}",
					 "method", query_json_str(r[i].method),
					 "route", query_json_str(r[i].route),
					 "path", query_json_str(r[i].path),
					 "status", (json_int_t)r[i].status,
					 "latency_ms", query_ms(r[i].latency_us),
					 "bytes_in", query_jint(r[i].bytes_in),
					 "bytes_out", query_jint(r[i].bytes_out),
					 "client", query_json_str(r[i].client),
					 "pid", (json_int_t)r[i].pid);
		json_t *row = query_json_lead(body, (cols & QUERY_COL_HOST) | QUERY_COL_TS,
					      r[i].host, r[i].ts_ms, true);
		if (json_array_append_new(arr, row))
			rc = -ENOMEM;
	}
	return query_dump_json(f, arr, rc);
}

static int query_print_requests_table(FILE *f, const struct query_req *r, size_t n,
				      unsigned cols)
{
	int mw = QUERY_WIDTH(r, n, method, 6), hw = QUERY_WIDTH(r, n, host, 4);
	int rw = QUERY_WIDTH(r, n, route, 5), cw = QUERY_WIDTH(r, n, client, 6);

	cols |= QUERY_COL_TS;
	query_table_lead(f, cols, hw, NULL, 0, true);
	fprintf(f, "%6s %8s %6s %6s %8s  %-*s %-*s %-*s %s\n", "STATUS", "LATENCY", "IN", "OUT",
		"PID", cw, "CLIENT", mw, "METHOD", rw, "ROUTE", "PATH");
	for (size_t i = 0; i < n; i++) {
		char l[16], by[2][16];
		query_lat(l, sizeof(l), r[i].latency_us);
		query_bytes(by[0], sizeof(by[0]), r[i].bytes_in);
		query_bytes(by[1], sizeof(by[1]), r[i].bytes_out);
		query_table_lead(f, cols, hw, r[i].host, r[i].ts_ms, true);
		fprintf(f, "%6u %8s %6s %6s %8" PRIu32 "  %-*s %-*s %-*s %s\n", r[i].status, l,
			by[0], by[1], r[i].pid, cw, *r[i].client ? r[i].client : "-", mw,
			r[i].method, rw, r[i].route, r[i].path);
	}
	return ferror(f) ? -EIO : 0;
}

int query_print_requests(FILE *f, const struct query_req *r, size_t n, enum query_format fmt,
			 unsigned cols)
{
	switch (fmt) {
	case QUERY_FMT_CSV:
		return query_print_requests_csv(f, r, n, cols);
	case QUERY_FMT_JSON:
		return query_print_requests_json(f, r, n, cols);
	case QUERY_FMT_TABLE:
		break;
	}
	return query_print_requests_table(f, r, n, cols);
}

int query_print_sessions(FILE *f, const struct query_session *s, size_t n,
			 enum query_format fmt)
{
	json_t *arr = fmt == QUERY_FMT_JSON ? json_array() : NULL;
	int rc = fmt == QUERY_FMT_JSON && !arr ? -ENOMEM : 0;

	if (fmt == QUERY_FMT_CSV)
		fputs("id,start,end,target,pids,version,capture,settings\n", f);
	else if (fmt == QUERY_FMT_TABLE)
		fprintf(f, "%4s %-20s %-20s %-8s %-10s %-20s %s\n", "ID", "START", "END",
			"VERSION", "CAPTURE", "PIDS", "TARGET / SETTINGS");
	for (size_t i = 0; !rc && i < n; i++) {
		char start[40], end[40] = "";
		query_iso_time(s[i].started_ms, false, start, sizeof(start));
		if (s[i].ended_ms)
			query_iso_time(s[i].ended_ms, false, end, sizeof(end));
		if (fmt == QUERY_FMT_CSV) {
			const char *v[] = { start, end, s[i].target, s[i].pids, s[i].version,
					    s[i].capture };
			if (fprintf(f, "%" PRId64 ",", s[i].id) < 0 || query_csv_fields(f, v, 6) ||
			    query_csv_field(f, s[i].settings) || fputc('\n', f) == EOF)
				rc = -EIO;
		} else if (fmt == QUERY_FMT_JSON) {
			json_t *o = json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
					      "id", (json_int_t)s[i].id, "start", start,
					      "end", *end ? json_string(end) : json_null(),
					      "target", query_json_str(s[i].target),
					      "pids", query_json_str(s[i].pids),
					      "version", query_json_str(s[i].version),
					      "capture", query_json_str(s[i].capture),
					      "settings", query_json_str(s[i].settings));
			if (json_array_append_new(arr, o))
				rc = -ENOMEM;
		} else {
			fprintf(f, "%4" PRId64 " %-20s %-20s %-8s %-10s %-20s %s  [%s]\n", s[i].id,
				start, *end ? end : "(running/crashed)", s[i].version,
				*s[i].capture ? s[i].capture : "-", s[i].pids, s[i].target,
				s[i].settings);
		}
	}
	if (fmt == QUERY_FMT_JSON)
		return query_dump_json(f, arr, rc);
	return rc || ferror(f) ? -EIO : 0;
}

/* ---- running ----------------------------------------------------------- */

static int query_run_rows(sqlite3 *db, const struct query_opts *o, const struct query_filter *f,
			  FILE *out, char *err, size_t errlen)
{
	struct query_row *rows = NULL;
	size_t n = 0;

	int rc = query_fetch_rows(db, f, &rows, &n, err, errlen);
	if (rc)
		return rc;
	query_sort(rows, n, o->sort);
	n = query_limit(rows, n, o->limit);
	rc = query_print_rows(out, rows, n, o->format,
			      (o->by_host ? QUERY_COL_HOST : 0) | (o->step_ms ? QUERY_COL_TS : 0));
	free(rows);
	return rc;
}

static int query_run_requests(sqlite3 *db, const struct query_opts *o,
			      const struct query_filter *f, FILE *out, char *err, size_t errlen)
{
	struct query_req *rows = NULL;
	size_t n = 0;

	int rc = query_fetch_requests(db, f, o->errors, o->slowest, &rows, &n, err, errlen);
	if (rc)
		return rc;
	if (o->limit && n > o->limit)
		n = o->limit;
	rc = query_print_requests(out, rows, n, o->format, o->by_host ? QUERY_COL_HOST : 0);
	free(rows);
	return rc;
}

static int query_run_sessions(sqlite3 *db, const struct query_opts *o,
			      const struct query_filter *f, FILE *out, char *err, size_t errlen)
{
	struct query_session *rows = NULL;
	size_t n = 0;

	int rc = query_fetch_sessions(db, f, &rows, &n, err, errlen);
	if (rc)
		return rc;
	if (o->limit && n > o->limit)
		n = o->limit;
	rc = query_print_sessions(out, rows, n, o->format);
	free(rows);
	return rc;
}

int query_run(const struct query_opts *o, FILE *out, char *err, size_t errlen)
{
	char method[METHOD_MAX] = "", route[ROUTE_MAX] = "";
	struct query_filter f = {
		.since_ms = o->since_ms, .until_ms = o->until_ms, .step_ms = o->step_ms,
		.by_host = o->by_host, .session = o->session, .protocol = o->protocol,
	};
	sqlite3 *db;

	if (o->endpoint) {
		query_split_endpoint(o->endpoint, method, sizeof(method), route, sizeof(route));
		f.method = *method ? method : NULL;
		f.route = route;
	}
	int rc = query_open(o->db, &db, err, errlen);
	if (rc)
		return rc;
	err[0] = '\0';
	switch (o->mode) {
	case QUERY_MODE_REQUESTS:
		rc = query_run_requests(db, o, &f, out, err, errlen);
		break;
	case QUERY_MODE_SESSIONS:
		rc = query_run_sessions(db, o, &f, out, err, errlen);
		break;
	case QUERY_MODE_ROWS:
		rc = query_run_rows(db, o, &f, out, err, errlen);
		break;
	case QUERY_MODE_UPSTREAMS:
		rc = query_run_upstreams(db, &f, o->by_route, o->format, o->limit, out, err, errlen);
		break;
	}
	sqlite3_close(db);
	if (rc && !err[0])
		snprintf(err, errlen, "l7top query: cannot write the output: %s", strerror(-rc));
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
