/* SPDX-License-Identifier: MIT */
/*
 * prom_upstream: the upstream families of /metrics (export/prom.c calls it
 * under its lock), counters since start:
 *   l7top_upstream_requests_total{upstream,method,route,code}
 *       calls linked to an inbound route; code is the status class
 *       ("2xx".."5xx") or "none" (no answer): the per-route rows keep classes;
 *   l7top_upstream_request_duration_seconds{upstream} histogram of every
 *       answered call to the upstream (linked or not);
 *   l7top_upstream_connect_failures_total{upstream}.
 * Bounded: PROM_UP_SERIES route series and PROM_UP_PEERS upstreams; what
 * does not fit is counted in l7top_upstream_series_dropped_total.
 */
#ifndef L7TOP_PROM_UPSTREAM_H
#define L7TOP_PROM_UPSTREAM_H

#include <stdio.h>

#include "collector/snapshot.h"

#define PROM_UP_SERIES 2000
#define PROM_UP_PEERS  256

struct prom_upstream;

struct prom_upstream *prom_upstream_new(void);
void prom_upstream_free(struct prom_upstream *u);
void prom_upstream_update(struct prom_upstream *u, const struct snapshot *s);
/* le bounds in µs, shared with the endpoint histogram. */
void prom_upstream_render(const struct prom_upstream *u, FILE *f, const uint64_t *le_us, size_t nle);

#endif
