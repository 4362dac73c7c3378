/* SPDX-License-Identifier: MIT */
/*
 * query: `l7top query`, reading an l7top DB back:
 *   totals      per-endpoint totals over a time range (the default)
 *   --step D    the same per step of length D (one row per step and endpoint)
 *   --by-host   split by virtual host (a host column first); without it rows
 *               sum across hosts
 *   --requests  the request log (--slowest N, --errors)
 *   --sessions  the runs that wrote the DB
 * Percentiles come from the merged histograms of the rows in the range or
 * step, never from averaged percentiles.
 *
 * The pure parts (time parsing, sorting, printing rows to a FILE *) are
 * exported so they can be tested without a DB or a terminal.
 */
#ifndef L7TOP_QUERY_H
#define L7TOP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <sqlite3.h>

#include "collector/snapshot.h"

enum query_sort { QUERY_SORT_REQUESTS, QUERY_SORT_P99, QUERY_SORT_ERRORS, QUERY_SORT_BYTES };
enum query_format { QUERY_FMT_TABLE, QUERY_FMT_CSV, QUERY_FMT_JSON };

/* One endpoint's totals over the range (or one step of it). */
struct query_row {
	int64_t ts_ms;                  /* step start, unix ms; 0 for totals */
	char host[HOST_MAX];            /* "" unless split by host */
	char method[METHOD_MAX];
	char route[ROUTE_MAX];          /* longer routes (not written by l7top) are cut */
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];  /* 1xx..5xx */
	uint64_t aborted;               /* client left before the response */
	uint64_t bytes_in, bytes_out;
	uint64_t p50_us, p90_us, p99_us;
	uint64_t max_us;                /* max of the intervals' lat_max_us */
};

/* Which rows: time range, step, host split, session, endpoint. */
struct query_filter {
	int64_t since_ms, until_ms;     /* rows with since_ms <= ts_ms < until_ms */
	int64_t step_ms;                /* 0: one row per endpoint for the whole range */
	bool by_host;                   /* group by host too (else hosts are summed) */
	int64_t session;                /* sessions.id; 0 = every session */
	const char *method;             /* NULL = any */
	const char *route;              /* NULL = any */
	const char *protocol;           /* PROTO_NAMES entry; NULL = any */
};

/* One request-log row. */
struct query_req {
	int64_t ts_ms;                  /* request start, unix ms */
	char host[HOST_MAX];
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	char path[ROUTE_MAX];
	unsigned status;
	uint64_t latency_us, bytes_in, bytes_out;
	char client[CLIENT_MAX];
	uint32_t pid;
};

/* One sessions row. Long texts are cut to fit. */
struct query_session {
	int64_t id;
	int64_t started_ms, ended_ms;   /* ended_ms 0: still running, or crashed */
	char target[512];
	char pids[512];
	char version[64];
	char capture[32];
	char settings[512];
};

enum query_mode { QUERY_MODE_ROWS, QUERY_MODE_REQUESTS, QUERY_MODE_SESSIONS, QUERY_MODE_UPSTREAMS };

struct query_opts {
	const char *db;
	int64_t since_ms, until_ms;     /* rows with since_ms <= ts_ms < until_ms */
	enum query_sort sort;
	size_t limit;                   /* 0 = every row (per step with --step) */
	enum query_format format;
	enum query_mode mode;
	int64_t step_ms;                /* --step; 0 = totals */
	bool by_host;                   /* --by-host */
	int64_t session;                /* --session N; 0 = all */
	const char *endpoint;           /* --endpoint 'METHOD ROUTE' or 'ROUTE' */
	size_t slowest;                 /* --slowest N; 0 = in time order */
	bool errors;                    /* --errors: status >= 400 only */
	const char *protocol;           /* --protocol; NULL = any */
	bool by_route;                  /* --upstreams --by-route */
};

/* Print flags: which leading columns the csv/json/table output has. */
#define QUERY_COL_HOST 1u          /* "host" first */
#define QUERY_COL_TS   2u          /* "ts" (after host) */

/* `l7top query ...` (argv[0] is "query"). Returns the exit code: 0, 1 runtime, 2 usage. */
int query_main(int argc, char **argv);

/*
 * Fills o from the command line. now_ms (unix ms) anchors "10m" and "HH:MM".
 * Returns 0, 1 when --help was asked for, or -EINVAL with one line in err.
 */
int query_parse_args(int argc, char **argv, int64_t now_ms, struct query_opts *o,
		     char *err, size_t errlen);

/*
 * WHEN → unix ms: "30s" "10m" "2h" "7d" (that long before now_ms),
 * "HH:MM[:SS]" (today), "YYYY-MM-DD[ T]HH:MM[:SS]" (local time, or UTC with a
 * trailing "Z"), "@UNIXSECONDS". Returns 0 or -EINVAL.
 */
int query_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/* "30s" "10m" "2h" "7d" → ms (for --step, and main's --retention). 0 or -EINVAL. */
int query_parse_duration(const char *s, int64_t *ms);

/*
 * Opens path read-only and checks it is an l7top DB. A DB of an older schema
 * version is first migrated (read-write, one transaction); if that cannot be
 * done the error says so. 0 or -errno, err set.
 */
int query_open(const char *path, sqlite3 **db, char *err, size_t errlen);
/*
 * Per-endpoint totals of [since_ms, until_ms) summed across hosts and
 * sessions, unsorted. *rows is malloc'd (the caller frees it; NULL when *n
 * is 0). Returns 0 or -errno, err set.
 */
int query_fetch(sqlite3 *db, int64_t since_ms, int64_t until_ms,
		struct query_row **rows, size_t *n, char *err, size_t errlen);
/* query_fetch() with every filter: steps, hosts, session, endpoint. */
int query_fetch_rows(sqlite3 *db, const struct query_filter *f,
		     struct query_row **rows, size_t *n, char *err, size_t errlen);
/*
 * Request-log rows of the filter's range (step and by_host ignored): only
 * status >= 400 with errors; the slowest N first with slowest > 0, else in
 * time order. *out malloc'd. 0 or -errno, err set.
 */
int query_fetch_requests(sqlite3 *db, const struct query_filter *f, bool errors,
			 size_t slowest, struct query_req **out, size_t *n,
			 char *err, size_t errlen);
/* Sessions that overlap [since_ms, until_ms) (all of them for session 0, else that one). */
int query_fetch_sessions(sqlite3 *db, const struct query_filter *f,
			 struct query_session **out, size_t *n, char *err, size_t errlen);
/* Ascending by ts_ms (steps), then descending by key; ties by method, route, host. */
void query_sort(struct query_row *rows, size_t n, enum query_sort key);
/* Writes rows in fmt (csv/json: every column; table: for people). 0 or -EIO. */
int query_print(FILE *f, const struct query_row *rows, size_t n, enum query_format fmt);
/* The same with leading columns: QUERY_COL_HOST and/or QUERY_COL_TS. */
int query_print_rows(FILE *f, const struct query_row *rows, size_t n, enum query_format fmt,
		     unsigned cols);
/* csv: ts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid
 * (host first with QUERY_COL_HOST). 0 or -EIO. */
int query_print_requests(FILE *f, const struct query_req *r, size_t n, enum query_format fmt,
			 unsigned cols);
/* csv: id,start,end,target,pids,version,capture,settings. 0 or -EIO. */
int query_print_sessions(FILE *f, const struct query_session *s, size_t n,
			 enum query_format fmt);
/* ts_ms as ISO 8601 UTC: "2026-11-25T14:05:00Z", or with ms ".123Z" when with_ms. */
void query_iso_time(int64_t ts_ms, bool with_ms, char *buf, size_t len);
/*
 * One row as the JSON object of the csv/json contract (method, route,
 * requests, s1xx..s5xx, bytes_in, bytes_out, p50_ms, p90_ms, p99_ms,
 * max_ms, in that order). A new reference, NULL on ENOMEM. Shared with
 * the --json stream (export/json_lines.c) so both speak one contract.
 */
json_t *query_row_json(const struct query_row *r);
/* Open, fetch, sort, limit, print to out. Returns 0 or -errno with err set. */
int query_run(const struct query_opts *o, FILE *out, char *err, size_t errlen);

#endif
