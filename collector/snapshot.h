/* SPDX-License-Identifier: MIT */
/*
 * snapshot: what one interval produced. The only type the TUI, the batch
 * printer and storage see; they never touch packets, BPF or llhttp.
 *
 * Ownership: snapshot_new() allocates, the last consumer calls
 * snapshot_free(). The main loop prints a snapshot and then hands it to the
 * storage queue, which frees it after writing (or on drop).
 */
#ifndef L7TOP_SNAPSHOT_H
#define L7TOP_SNAPSHOT_H

#include <stdint.h>
#include <stddef.h>

#include "collector/hist.h"

#define METHOD_MAX 24       /* longest method llhttp knows is 22 chars */
#define ROUTE_MAX  256      /* folded routes longer than this are cut with "..." */

/* Status classes 1xx..5xx; index = status / 100 - 1. */
#define STATUS_CLASSES 5

struct ep_stats {
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];
	uint64_t bytes_in;       /* request messages as they crossed the wire */
	uint64_t bytes_out;      /* responses incl. headers, chunk framing, 1xx */
	uint64_t lat_sum_us;
	uint64_t lat_max_us;
	struct hist lat;         /* latency, µs */
};

/*
 * Counters of what was seen, lost or refused during the interval. Every
 * bound in l7top has a counter here: nothing is dropped silently.
 */
struct snap_counters {
	uint64_t packets;          /* segments that reached user space */
	uint64_t kernel_drops;     /* lost between kernel and l7top (ring full) */
	uint64_t parse_errors;     /* connections whose bytes were not HTTP/1.x */
	uint64_t unpaired;         /* responses without request, requests never answered */
	uint64_t reasm_gaps;       /* byte ranges never seen (capture loss, bound hit) */
	uint64_t conn_overflow;    /* connections not tracked: table full */
	uint64_t ep_overflow;      /* requests folded into the OTHER row */
	uint64_t pending_overflow; /* pipelined requests beyond the per-conn bound */
	uint64_t conns_open;       /* gauge at the end of the interval */
	uint64_t conns_new;
};

struct snapshot {
	uint64_t ts_ms;            /* interval start, unix ms */
	uint64_t dur_ms;
	struct snap_counters c;
	size_t n;                  /* endpoints with requests this interval */
	struct ep_stats *eps;
};

struct snapshot *snapshot_new(size_t n);
void snapshot_free(struct snapshot *s);
/* Totals across endpoints; lat is merged (caller frees it with hist_free). */
void snapshot_total(const struct snapshot *s, struct ep_stats *out);

#endif
