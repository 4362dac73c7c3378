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

static const char query_usage[] =
	"Usage: l7top query --db FILE [--since WHEN] [--until WHEN] [--step DUR]\n"
	"                   [--by-host] [--endpoint 'METHOD ROUTE'] [--session N]\n"
	"                   [--protocol P] [--by-protocol] [--target T] [--by-target]\n"
	"                   [--sort KEY] [--limit N] [--format table|csv|json]\n"
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
	"  --by-protocol    a row per protocol too (a protocol column after host);\n"
	"                   without it rows sum across protocols\n"
	"  --target T       only requests served by target T (\"nginx[1234]\", as the\n"
	"                   run named it; a run of one target is named by its session)\n"
	"  --by-target      a row per target too (a target column first): with\n"
	"                   --pid front,back a proxy's and its backend's rows apart;\n"
	"                   with --requests, each logged request's target first\n"
	"  --sort KEY       requests (default), p99, errors (4xx+5xx) or bytes (in+out);\n"
	"                   largest first (within each step)\n"
	"  --limit N        print the first N rows only (per step; 0: all, the default)\n"
	"  --format FMT     table (default), csv or json; csv and json have every column\n"
	"  --requests       the request log: errors and slow requests, in time order\n"
	"  --slowest N      the N slowest logged requests, slowest first (implies --requests)\n"
	"  --errors         logged requests with status >= 400 or a failed gRPC call\n"
	"                   (implies --requests)\n"
	"  --sessions       the l7top runs that wrote the DB: id, start, end, target,\n"
	"                   pids, version, capture, settings, notes (exits,\n"
	"                   restarts, DB outages)\n"
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
	"  l7top query --db l7top.db --since 1h --by-target\n"
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

enum { QOPT_STEP = 256, QOPT_BY_HOST, QOPT_BY_PROTOCOL, QOPT_PROTOCOL, QOPT_BY_TARGET, QOPT_TARGET,
       QOPT_ENDPOINT, QOPT_SESSION, QOPT_SESSIONS,
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
	case QOPT_BY_PROTOCOL:
		o->by_protocol = true;
		return 0;
	case QOPT_BY_TARGET:
		o->by_target = true;
		return 0;
	case QOPT_TARGET:
		if (*arg) {
			o->target = arg;
			return 0;
		}
		snprintf(err, errlen, "l7top query: --target: give a target's name, e.g. 'nginx[1234]'"
			 " (see --by-target)");
		return -EINVAL;
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
		{ "by-protocol", no_argument, NULL, QOPT_BY_PROTOCOL },
		{ "by-target", no_argument, NULL, QOPT_BY_TARGET },
		{ "target", required_argument, NULL, QOPT_TARGET },
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

/* ---- running ----------------------------------------------------------- */

static int query_run_rows(sqlite3 *db, const struct query_opts *o, const struct query_filter *f,
			  FILE *out, char *err, size_t errlen)
{
	struct endpoint_row *rows = NULL;
	size_t n = 0;

	int rc = query_fetch_rows(db, f, &rows, &n, err, errlen);
	if (rc)
		return rc;
	query_sort(rows, n, o->sort);
	n = query_limit(rows, n, o->limit);
	rc = query_print_rows(out, rows, n, o->format,
			      (o->by_host ? QUERY_COL_HOST : 0) | (o->by_protocol ? QUERY_COL_PROTO : 0) |
			      (o->by_target ? QUERY_COL_TARGET : 0) | (o->step_ms ? QUERY_COL_TS : 0));
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
	rc = query_print_requests(out, rows, n, o->format, (o->by_host ? QUERY_COL_HOST : 0) |
				  (o->by_target ? QUERY_COL_TARGET : 0));
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
		.by_host = o->by_host, .by_protocol = o->by_protocol, .session = o->session,
		.protocol = o->protocol, .by_target = o->by_target, .target = o->target,
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
