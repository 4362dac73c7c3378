/* SPDX-License-Identifier: MIT */
/*
 * agg: per-endpoint statistics for the current interval.
 *
 * An endpoint is target + virtual host + method + route + protocol (views
 * that show one row per method + route fold hosts and protocols; targets
 * stay apart, so a proxy and its backend never share a row). At most max_endpoints rows
 * exist, and which endpoints own them is decided by Space-Saving
 * (collector/topk.h), not by who came first: an endpoint that is not in the
 * table takes the row of least rank, so one with real traffic gets a row
 * whenever it arrives and keeps it while a scan of one-off paths churns
 * through the rest. Bound: with N requests since start (halved every
 * AGG_HALVING_MS of intervals), an endpoint with more than N / max_endpoints
 * of them always holds a row, and at most N / max_endpoints of its requests
 * are counted outside it (in OTHER, before it got its row).
 *
 * Counts are exact. A row counts its endpoint's requests from the moment it
 * took the row; what an evicted row had counted this interval moves to one
 * extra row, method "*" route "OTHER", so OTHER + rows = every request, in
 * every snapshot. Under pressure (the row was taken from another endpoint)
 * a row is shown only once it has AGG_CONFIRM requests: until then its
 * counts are held back, and reach a snapshot later, in the row (confirmed)
 * or in OTHER (evicted first, or agg_settle()). A scan's one-off paths thus
 * never reach a snapshot under their own names; at most one request per row
 * is held, and none is lost. agg_overflow() counts requests shown in OTHER.
 *
 * The virtual host is part of the key, so hosts ride the same heavy
 * hitters: a scan of random Host headers makes one-off rows that fold into
 * OTHER, while a real host's endpoints keep their rows and names. (Folding
 * hosts into "*" first, as l7top did before, split a real host's first
 * request under pressure off its endpoint.)
 *
 * agg_snapshot() hands the interval over and starts the next one. The
 * snapshot takes each endpoint's histogram chunks with it, so an endpoint
 * that goes quiet keeps its row (about 300 bytes with its names) but no
 * histogram and no lists.
 */
#ifndef L7TOP_AGG_H
#define L7TOP_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"

#define AGG_OTHER_METHOD "*"
#define AGG_OTHER_ROUTE  "OTHER"
#define AGG_CONFIRM      2                   /* requests before a taken row is shown */
#define AGG_HALVING_MS   (10ull * 60 * 1000) /* ranks halve every 10 min of intervals */

struct agg;

struct agg_sample {
	const char *host;        /* normalised (lower case, no port) */
	const char *method;
	const char *route;
	const char *proto;       /* PROTO_NAMES entry */
	uint8_t target;          /* which target served it (snapshot.targets index) */
	bool aborted;            /* the client left before the response: no status,
				  * no latency (see http_txn.aborted) */
	struct req_sample req;   /* status, latency, bytes, time, client (top
				  * clients count its address) */
};

struct agg *agg_new(size_t max_endpoints);
void agg_free(struct agg *a);
/* Counts s (its strings are copied if need be: the caller may reuse them).
 * With many rows in use a request waits to be counted with the next few
 * (agg.c, AGG_BATCH); every call below counts the waiting ones first. */
void agg_add(struct agg *a, const struct agg_sample *s);
/* A new snapshot of the endpoints with requests this interval (NULL on
 * ENOMEM); the interval's counters restart at zero. Held-back counts of
 * unconfirmed rows stay for a later snapshot. */
struct snapshot *agg_snapshot(struct agg *a, uint64_t ts_ms, uint64_t dur_ms);
/* Moves every held-back count into OTHER (l7top is stopping), so the next
 * snapshot holds everything. */
void agg_settle(struct agg *a);
size_t agg_endpoints(struct agg *a);         /* rows in use */
uint64_t agg_held(struct agg *a);            /* requests held back now */
uint64_t agg_overflow(const struct agg *a);  /* requests shown in OTHER, ever */

#endif
