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
 * This is the command line (options, times, running); the reads are in
 * query_read.h, the output formats in query_print.h, the row contract the
 * --json stream shares in format/row.h. The pure parts (time parsing,
 * sorting, printing rows to a FILE *) can be tested without a DB or a
 * terminal.
 */
#ifndef L7TOP_QUERY_H
#define L7TOP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/query_print.h"
#include "storage/query_read.h"

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
	bool by_protocol;               /* --by-protocol */
	bool by_target;                 /* --by-target */
	const char *target;             /* --target NAME; NULL = any */
	int64_t session;                /* --session N; 0 = all */
	const char *endpoint;           /* --endpoint 'METHOD ROUTE' or 'ROUTE' */
	size_t slowest;                 /* --slowest N; 0 = in time order */
	bool errors;                    /* --errors: status >= 400 only */
	const char *protocol;           /* --protocol; NULL = any */
	bool by_route;                  /* --upstreams --by-route */
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

/* "30s" "10m" "2h" "7d" → ms (for --step, and main's --retention). 0 or -EINVAL. */
int query_parse_duration(const char *s, int64_t *ms);

/* Open, fetch, sort, limit, print to out. Returns 0 or -errno with err set. */
int query_run(const struct query_opts *o, FILE *out, char *err, size_t errlen);

#endif
