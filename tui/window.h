/* SPDX-License-Identifier: MIT */
/*
 * window: per-endpoint numbers over sliding windows (last interval, last
 * 1 min, last 5 min, since start) from per-interval snapshots, without
 * keeping requests around.
 *
 * Time is cut into slots of whole intervals, ~5 s each (one interval when
 * the interval is longer). Each endpoint keeps the slots the 5 min window
 * reaches (win_clock.keep, at most WIN_SLOTS): counters plus the slot's
 * latency buckets, read *coarse* for the 1 and 5 min windows (16 buckets
 * per power of two: the reported value is within ~3% of the true one,
 * the full buckets are within 0.8%). A window is the
 * sum of the newest slots whose durations reach the window's length, so
 * "1 min" covers 60 s up to 60 s + one slot, and rates divide by the time
 * actually covered. "Last interval" uses the full buckets (exact as the
 * collector's); "since start" the coarse ones too: a spread endpoint's
 * full encoding grew to ~1.2 KB over minutes (every fine bucket of 0.2-20
 * ms), 12 MB of 10,000 endpoints' view after 5 min, the coarse one a
 * quarter of that.
 *
 * Memory per endpoint, sized by use: struct win_ep is ~290 bytes fixed,
 * plus per slot the endpoint was active in among those kept 8 bytes (an
 * idle slot keeps nothing: slots are a sorted array of the active ones,
 * at most WIN_SLOTS) and a record of ~15 bytes of counters and 1-3 bytes
 * per non-empty coarse bucket (every slot's in one buffer, win_ep.rec),
 * plus 1-3 bytes per coarse bucket since start, per fine
 * bucket in the last interval (struct hist_blob / hist_packed: the
 * histograms' encoding, merged and read in place). A fixed ring of 64 slots was 4 KB per endpoint
 * from its first request: 41 MB at 10,000 endpoints seen once; full
 * histograms were 32 bytes per chunk and sparse coarse entries 8 bytes per
 * bucket in arrays grown by doubling (10,000 endpoints x 5 requests per
 * interval of random latencies, 12 intervals: 20.8 MB of view, 14.4 MB
 * packed).
 *
 * Not thread-safe; no globals.
 */
#ifndef L7TOP_WINDOW_H
#define L7TOP_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "collector/hist.h"
#include "collector/snapshot.h"

#define WIN_SLOTS     64
#define WIN_SLOT_MS   5000
#define WIN_5MIN_MS   300000          /* the widest window */
/* Coarse buckets: fine index / 4 (fine = hist_bucket_of()). */
#define WIN_SHIFT     2
#define WIN_CBUCKETS  ((HIST_BUCKETS + (1 << WIN_SHIFT) - 1) >> WIN_SHIFT)

/* Global slot clock, one per view. */
struct win_clock {
	uint32_t ips;                  /* intervals per slot */
	uint32_t seq;                  /* current slot number, from 1 */
	uint32_t in_cur;               /* intervals already in the current slot */
	uint32_t interval_seq;         /* intervals pushed since the last clear */
	uint64_t dur_ms[WIN_SLOTS];    /* by seq % WIN_SLOTS */
	uint64_t total_ms;             /* since the last clear */
	uint64_t last_ms;              /* duration of the last interval */
	/* Newest slots the 5 min window reaches (win_ep_stats sums them), and
	 * the odd partner of an even oldest one: the slots an endpoint keeps.
	 * Kept WIN_SLOTS deep once slots had doubled to 80 s, 10,000
	 * endpoints held 64 each after 85 min, not 5 or 6. */
	uint32_t keep;
	/* Longest slots (intervals per slot) the owner will coarsen to; 0
	 * none. Slots that long keep no partner: it would only be needed by
	 * a coarsening that never comes (a sixth slot of every endpoint's). */
	uint32_t max_ips;
};

/* A slot the endpoint was active in: its counters and latency buckets are
 * its record in win_ep.rec (window.c). The fixed fields of a slot were 72
 * bytes, then 56 (a struct hist_blob and a malloc of its own gone). */
struct win_slot {
	uint32_t seq;                  /* slot number this holds; stale if old */
	uint16_t len;                  /* bytes of its record in win_ep.rec */
};

/* Counters of a window, as the table shows them. */
struct win_stats {
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];
	uint64_t grpc_errors;          /* failed gRPC calls outside 4xx/5xx */
	uint64_t bytes_in, bytes_out;
	uint64_t lat_max_us;
	uint64_t p50, p90, p99;        /* µs */
	uint64_t dur_ms;               /* time the window covers */
};

/* What the full windows keep of an endpoint's intervals: the counters of
 * struct ep_stats the table shows (struct win_stats), none of its
 * per-request lists. (aborted and lat_sum_us were kept too, and never
 * read: 32 bytes of each endpoint.) */
struct win_counts {
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];
	uint64_t grpc_errors;
	uint64_t bytes_in, bytes_out;
	uint64_t lat_max_us;
};

struct win_ep {
	uint32_t last_interval;        /* clock interval_seq of `last` */
	uint8_t nslot, slot_cap;       /* slot[]: active slots, seq ascending */
	uint32_t rec_len, rec_cap;     /* bytes used and allocated in rec */
	struct win_counts last;        /* the last interval it appeared in */
	struct win_counts all;         /* since start */
	struct hist_packed last_lat;   /* of `last` */
	struct hist_packed all_lat;    /* of `all` */
	struct win_slot *slot;         /* NULL until the first add */
	/* The slots' records (counters as varints, then coarse latency
	 * buckets, hist_enc_*), slot after slot in slot[]'s order, each its
	 * slot's len long: one allocation for all of them. NULL while no slot
	 * holds anything. */
	uint8_t *rec;
};

enum win_kind { WIN_LAST, WIN_1MIN, WIN_5MIN, WIN_ALL, WIN_KINDS };

void win_clock_init(struct win_clock *c, uint64_t interval_ms);
/* Call once per snapshot before win_ep_add() for that snapshot. */
void win_clock_tick(struct win_clock *c, uint64_t dur_ms);
/*
 * Doubles the slot length, for a view whose slots outgrow its memory: call
 * win_ep_coarsen() on every endpoint right after, before anything else.
 * Windows stay honest (rates divide by the time covered) and get coarser:
 * "1 min" covers 60 s up to 60 s + one slot.
 */
void win_clock_coarsen(struct win_clock *c);
/* Slots will not be coarsened past max_slot_ms (0: no bound, the default):
 * call after win_clock_init(). */
void win_clock_limit(struct win_clock *c, uint64_t interval_ms, uint64_t max_slot_ms);
/* Whether win_clock_coarsen() stays within that bound. */
bool win_clock_can_coarsen(const struct win_clock *c);
/* The endpoint's slots on the coarsened clock: each pair becomes one.
 * Returns 0 or -ENOMEM (latency data partly lost, counts kept). */
int win_ep_coarsen(struct win_ep *e);
/* Drops e's slots out of every window, and gives back the array an idle
 * endpoint no longer fills (adding drops them too, but an idle endpoint
 * adds nothing). Call once per interval, not per add: it may shrink. */
void win_ep_expire(struct win_ep *e, const struct win_clock *c);
/* The window's length in ms (0 for WIN_LAST / WIN_ALL) and its name. */
const char *win_name(enum win_kind k);

void win_ep_init(struct win_ep *e);
void win_ep_free(struct win_ep *e);
/* Adds one endpoint's interval. Returns 0 or -ENOMEM (data partly lost). */
int win_ep_add(struct win_ep *e, const struct win_clock *c, const struct ep_stats *s);
/* dst += src in every window (the view folds an endpoint into its OTHER
 * row). Returns 0 or -ENOMEM (latency data partly lost, counts kept). */
int win_ep_merge(struct win_ep *dst, const struct win_ep *src, const struct win_clock *c);
/*
 * The window's numbers. dense is scratch of WIN_CBUCKETS counters, and on
 * return holds the window's coarse histogram (for the detail bars).
 */
void win_ep_stats(const struct win_ep *e, const struct win_clock *c, enum win_kind k,
		  struct win_stats *out, uint64_t *dense);

/* Coarse bucket geometry. */
uint64_t win_cbucket_low(unsigned c);
uint64_t win_cbucket_high(unsigned c);   /* exclusive */
/* Adds a full histogram into a dense coarse one. */
void win_dense_add(uint64_t *dense, const struct hist *h);
/* Quantile of a dense coarse histogram: the bucket midpoint, at most max. */
uint64_t win_dense_percentile(const uint64_t *dense, uint64_t count, double q, uint64_t max);

#endif
