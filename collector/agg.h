/* SPDX-License-Identifier: MIT */
/*
 * agg: per-endpoint statistics for the current interval.
 *
 * An endpoint is method + route. At most max_endpoints distinct ones are
 * kept; requests for any further endpoint land in one extra row,
 * method "*" route "OTHER", and are counted in agg_overflow(), so a URL scan
 * cannot grow memory. agg_snapshot() hands the interval over and starts the
 * next one (endpoints, and their histogram chunks, stay allocated).
 */
#ifndef L7TOP_AGG_H
#define L7TOP_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"

#define AGG_OTHER_METHOD "*"
#define AGG_OTHER_ROUTE  "OTHER"

struct agg;

struct agg_sample {
	const char *method;
	const char *route;
	uint16_t status;
	uint64_t bytes_in, bytes_out;
	uint64_t lat_us;
};

struct agg *agg_new(size_t max_endpoints);
void agg_free(struct agg *a);
void agg_add(struct agg *a, const struct agg_sample *s);
/* A new snapshot of the endpoints with requests this interval (NULL on
 * ENOMEM); the interval's counters restart at zero. */
struct snapshot *agg_snapshot(struct agg *a, uint64_t ts_ms, uint64_t dur_ms);
size_t agg_endpoints(const struct agg *a);
uint64_t agg_overflow(const struct agg *a);   /* requests folded into OTHER, ever */

#endif
