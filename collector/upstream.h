/* SPDX-License-Identifier: MIT */
/*
 * upstream: the target's own outgoing HTTP calls (a reverse proxy's calls
 * to its backends), per backend and, through the link rule
 * (collector/uplink.h), per backend x inbound route with the split of that
 * route's latency. Pure: the collector feeds it parsed exchanges, time is a
 * parameter, upstream_snapshot() hands an interval over.
 *
 * Bounds: max_upstreams backends (then row "*", counted in up_overflow),
 * max_routes backend x route rows (then counted in route_overflow and not
 * kept), the link tables (uplink's bounds, counted in link_overflow).
 */
#ifndef L7TOP_UPSTREAM_H
#define L7TOP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/http_stream.h"
#include "collector/snapshot.h"

struct upstream_config {
	size_t max_upstreams;      /* 0 = 256 */
	size_t max_routes;         /* 0 = 2000 */
	size_t max_link_calls;     /* 0 = 8192 */
	size_t max_link_inbound;   /* 0 = 8192 */
	uint64_t settle_ns;        /* 0 = 1 s: see uplink.h */
};

struct upstream;

struct upstream *upstream_new(const struct upstream_config *cfg);
void upstream_free(struct upstream *u);
/* A backend known before it is called (from /proc): it gets a row. */
void upstream_note_peer(struct upstream *u, const char *peer);
/* Is peer a backend with a row (not folded into "*")? */
bool upstream_has_peer(const struct upstream *u, const char *peer);
/* Has any backend been seen? Inbound requests are kept for linking only then. */
bool upstream_any(const struct upstream *u);
/*
 * A call on a connection to peer ended: t as http_stream emits it; t->status
 * 0 = the connection closed unanswered (end_ns = when it closed). reused:
 * an earlier call went over the same connection.
 */
void upstream_add_call(struct upstream *u, const char *peer, const struct http_txn *t, bool reused);
/* A new connection to peer: its SYN -> SYN/ACK time, or seen = false when
 * the handshake was not captured (open before l7top started). */
void upstream_add_connect(struct upstream *u, const char *peer, bool seen, uint64_t connect_us);
void upstream_add_connect_failed(struct upstream *u, const char *peer);
/* An inbound request the target answered (route as folded for agg). */
void upstream_add_inbound(struct upstream *u, const struct http_txn *t, const char *route);
/* Counts one open connection to peer for this interval's gauge; call for
 * each before upstream_snapshot(). */
void upstream_conn_open(struct upstream *u, const char *peer);
/* Runs the link rule on what settled by now_ns; all = everything (exit). */
void upstream_expire(struct upstream *u, uint64_t now_ns, bool all);
/* Moves the interval into s (ups, up_routes, upc); 0 or -ENOMEM. */
int upstream_snapshot(struct upstream *u, struct snapshot *s);

#endif
