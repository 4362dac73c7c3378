/* SPDX-License-Identifier: MIT */
/*
 * query_upstream: `l7top query --upstreams [--by-route]`, the target's
 * outgoing calls from the DB (schema v4), over [since, until) and the
 * session/endpoint filter, in the three formats. csv columns:
 *   upstream,requests,s1xx,s2xx,s3xx,s4xx,s5xx,p50_ms,p90_ms,p99_ms,max_ms,
 *   no_answer,connect_failed,connects,reused,bytes_sent,bytes_received
 * and with --by-route (requests = linked calls, --endpoint applies):
 *   upstream,method,route,requests,s1xx,...,max_ms,no_answer,inbound,
 *   before_p50_ms,before_p99_ms,upstream_p50_ms,upstream_p99_ms,
 *   after_p50_ms,after_p99_ms
 * json: an array of objects with the same keys.
 */
#ifndef L7TOP_QUERY_UPSTREAM_H
#define L7TOP_QUERY_UPSTREAM_H

#include <stdbool.h>
#include <stdio.h>

#include <sqlite3.h>

#include "storage/query.h"

/* Rows sorted by requests, largest first, cut at limit (0: all). 0 or -errno, err set. */
int query_run_upstreams(sqlite3 *db, const struct query_filter *f, bool by_route,
			enum query_format fmt, size_t limit, FILE *out, char *err, size_t errlen);

#endif
