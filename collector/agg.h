/* SPDX-License-Identifier: MIT */
/*
 * agg: per-endpoint statistics for the current interval.
 *
 * An endpoint is virtual host + method + route + protocol (views that
 * show one row per method + route fold hosts and protocols). At most max_endpoints
 * distinct ones are kept; requests for any further endpoint land in one
 * extra row, method "*" route "OTHER", and are counted in agg_overflow(), so
 * a URL scan cannot grow memory. Likewise at most max_hosts distinct hosts:
 * further ones are recorded as host "*" (agg_host_overflow()).
 * agg_snapshot() hands the interval over and starts the next one. The
 * snapshot takes each endpoint's histogram chunks with it, so an endpoint
 * that goes quiet keeps its row (about 1.4 KB) but no histogram.
 */
#ifndef L7TOP_AGG_H
#define L7TOP_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"

#define AGG_OTHER_METHOD "*"
#define AGG_OTHER_ROUTE  "OTHER"

struct agg;

#define AGG_OTHER_HOST   "*"

struct agg_sample {
	const char *host;        /* normalised (lower case, no port) */
	const char *method;
	const char *route;
	const char *proto;       /* PROTO_NAMES entry */
	const char *client_addr; /* without port, for top clients; "" unknown */
	struct req_sample req;   /* status, latency, bytes, time, client */
};

struct agg *agg_new(size_t max_endpoints, size_t max_hosts);
void agg_free(struct agg *a);
void agg_add(struct agg *a, const struct agg_sample *s);
/* A new snapshot of the endpoints with requests this interval (NULL on
 * ENOMEM); the interval's counters restart at zero. */
struct snapshot *agg_snapshot(struct agg *a, uint64_t ts_ms, uint64_t dur_ms);
size_t agg_endpoints(const struct agg *a);
uint64_t agg_overflow(const struct agg *a);   /* requests folded into OTHER, ever */
uint64_t agg_host_overflow(const struct agg *a);

#endif
