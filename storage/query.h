/* SPDX-License-Identifier: MIT */
/*
 * query: `l7top query`, per-endpoint totals over a time range of an l7top
 * DB. Percentiles come from the merged interval histograms, never from
 * averaged percentiles.
 *
 * The pure parts (time parsing, sorting, printing rows to a FILE *) are
 * exported so they can be tested without a DB or a terminal.
 */
#ifndef L7TOP_QUERY_H
#define L7TOP_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "collector/snapshot.h"

enum query_sort { QUERY_SORT_REQUESTS, QUERY_SORT_P99, QUERY_SORT_ERRORS, QUERY_SORT_BYTES };
enum query_format { QUERY_FMT_TABLE, QUERY_FMT_CSV, QUERY_FMT_JSON };

/* One endpoint's totals over the range. */
struct query_row {
	char method[METHOD_MAX];
	char route[ROUTE_MAX];          /* longer routes (not written by l7top) are cut */
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];  /* 1xx..5xx */
	uint64_t bytes_in, bytes_out;
	uint64_t p50_us, p90_us, p99_us;
	uint64_t max_us;                /* max of the intervals' lat_max_us */
};

struct query_opts {
	const char *db;
	int64_t since_ms, until_ms;     /* rows with since_ms <= ts_ms < until_ms */
	enum query_sort sort;
	size_t limit;                   /* 0 = every row */
	enum query_format format;
};

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

/* Opens path read-only and checks it is an l7top DB. 0 or -errno, err set. */
int query_open(const char *path, sqlite3 **db, char *err, size_t errlen);
/*
 * Per-endpoint totals of [since_ms, until_ms), unsorted. *rows is malloc'd
 * (the caller frees it; NULL when *n is 0). Returns 0 or -errno, err set.
 */
int query_fetch(sqlite3 *db, int64_t since_ms, int64_t until_ms,
		struct query_row **rows, size_t *n, char *err, size_t errlen);
/* Descending by key; ties by method, then route (ascending). */
void query_sort(struct query_row *rows, size_t n, enum query_sort key);
/* Writes rows in fmt (csv/json: every column; table: for people). 0 or -EIO. */
int query_print(FILE *f, const struct query_row *rows, size_t n, enum query_format fmt);
/* Open, fetch, sort, limit, print to out. Returns 0 or -errno with err set. */
int query_run(const struct query_opts *o, FILE *out, char *err, size_t errlen);

#endif
