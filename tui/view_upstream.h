/* SPDX-License-Identifier: MIT */
/*
 * view_upstream: the live view's model of the target's outgoing calls
 * (collector/snapshot_upstream.h), summed since start (or the last clear):
 * one row per upstream, one per upstream x inbound route, and the link
 * counts. The rows the screen draws are a copy taken when the view is not
 * paused, so `p` freezes this table like the endpoint table.
 * Bounded: VIEW_UPS_MAX upstreams and VIEW_UP_ROUTES_MAX route rows; rows
 * past them are counted in dropped and said on screen.
 */
#ifndef L7TOP_VIEW_UPSTREAM_H
#define L7TOP_VIEW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"

#define VIEW_UPS_MAX       64
#define VIEW_UP_ROUTES_MAX 256

struct view_up_set {
	size_t nups, nroutes;
	struct up_stats ups[VIEW_UPS_MAX];             /* since start; conns_open: last */
	uint64_t last_calls[VIEW_UPS_MAX];             /* calls in the last interval */
	struct up_route_stats routes[VIEW_UP_ROUTES_MAX];
	struct up_counters links;
	uint64_t dropped;                              /* rows past the bounds */
	uint64_t last_dur_ms;
};

struct view_upstreams {
	struct view_up_set live, shown;
};

/* NULL on ENOMEM. */
struct view_upstreams *view_up_new(void);
void view_up_free(struct view_upstreams *u);
/* Adds one interval to live. 0 or -ENOMEM (a histogram short). */
int view_up_push(struct view_upstreams *u, const struct snapshot *s);
/* live -> shown (the screen's copy). */
void view_up_refresh(struct view_upstreams *u);
void view_up_clear(struct view_upstreams *u);
/* The shown route rows of method + route, at most max, into out; how many. */
size_t view_up_of_route(const struct view_upstreams *u, const char *method, const char *route,
			const struct up_route_stats **out, size_t max);

#endif
