/* SPDX-License-Identifier: MIT */
/*
 * query_read: what `l7top query` reads from an l7top DB: per-endpoint rows
 * (totals or per step, percentiles from the merged histograms, never from
 * averaged percentiles), the request log and the sessions; and their order.
 */
#ifndef L7TOP_QUERY_READ_H
#define L7TOP_QUERY_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "collector/snapshot.h"
#include "format/row.h"

enum query_sort { QUERY_SORT_REQUESTS, QUERY_SORT_P99, QUERY_SORT_ERRORS, QUERY_SORT_BYTES };

/* Which rows: time range, step, host split, session, endpoint. */
struct query_filter {
	int64_t since_ms, until_ms;     /* rows with since_ms <= ts_ms < until_ms */
	int64_t step_ms;                /* 0: one row per endpoint for the whole range */
	bool by_host;                   /* group by host too (else hosts are summed) */
	bool by_protocol;               /* group by protocol too (else summed) */
	bool by_target;                 /* group by target too (else summed) */
	const char *target;             /* only this target ("nginx[1234]"); NULL = any */
	int64_t session;                /* sessions.id; 0 = every session */
	const char *method;             /* NULL = any */
	const char *route;              /* NULL = any */
	const char *protocol;           /* PROTO_NAMES entry; NULL = any */
};

/* One request-log row. */
struct query_req {
	int64_t ts_ms;                  /* request start, unix ms */
	char target[TARGET_NAME_MAX * 4]; /* as endpoint_row.target */
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
	char notes[1100];               /* sessions.notes: exits, restarts, DB outages */
};

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
		struct endpoint_row **rows, size_t *n, char *err, size_t errlen);
/* query_fetch() with every filter: steps, hosts, session, endpoint. */
int query_fetch_rows(sqlite3 *db, const struct query_filter *f,
		     struct endpoint_row **rows, size_t *n, char *err, size_t errlen);
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
void query_sort(struct endpoint_row *rows, size_t n, enum query_sort key);
/* The first limit rows (0: all) of sorted rows, per step: returns how many are kept. */
size_t query_limit(struct endpoint_row *rows, size_t n, size_t limit);

#endif
