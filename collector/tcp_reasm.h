/* SPDX-License-Identifier: MIT */
/*
 * tcp_reasm: one direction of a TCP connection turned back into an ordered
 * byte stream. Pure: segments in, callbacks out, no I/O, no globals.
 *
 * In-order data is delivered at once with its segment's timestamp.
 * Retransmitted bytes and overlaps are trimmed (the first copy wins).
 * Segments ahead of the next expected byte wait, copied, in a list sorted by
 * sequence number, up to the limits; past them the hole is declared lost
 * (a gap callback with its length) and delivery resumes after it. The FIN is
 * delivered once every byte before it has been.
 */
#ifndef L7TOP_TCP_REASM_H
#define L7TOP_TCP_REASM_H

#include <stdbool.h>
#include <stdint.h>

struct reasm_seg;

struct reasm_limits {
	uint32_t max_ooo_bytes;     /* bytes waiting in one direction */
	uint32_t max_ooo_segs;
	uint64_t max_wait_ns;       /* how long a hole may wait for its bytes; 0 = forever */
	/* Heap held by waiting segments in all the streams that share one
	 * reasm_stats (a collector's every connection); 0 = no such bound.
	 * Past it, the stream being fed gives its holes up (counted in gaps,
	 * like the other limits): after capture drops, thousands of
	 * connections can each hold a hole that never fills. */
	uint64_t max_queued_bytes;
};

struct reasm_out {
	void (*data)(void *ctx, const uint8_t *buf, uint32_t len, uint64_t ts_ns);
	void (*gap)(void *ctx, uint32_t len, uint64_t ts_ns);  /* bytes never seen */
	void (*fin)(void *ctx, uint64_t ts_ns);
	void *ctx;
	/* Bytes of a segment not captured on purpose (its captured part came
	 * first); NULL: told through gap like any other. */
	void (*cut)(void *ctx, uint32_t len, uint64_t ts_ns);
};

struct reasm_stats {
	uint64_t retrans_bytes;     /* duplicate bytes trimmed */
	uint64_t ooo_segs;          /* segments that had to wait */
	uint64_t gaps;              /* holes declared lost */
	uint64_t gap_bytes;
	uint64_t cut_bytes;         /* not captured on purpose (snap length, skipped body) */
	uint64_t queued_bytes;      /* gauge: heap held by waiting segments (headers too),
				     * in every stream counted here */
};

/* What an in-order segment reads comes first (16 bytes): in a conn the
 * other direction's reassembly shares a cache line with these. */
struct reasm {
	uint32_t next_seq;
	bool synced;                /* next_seq is meaningful */
	bool fin_seen, fin_done;
	bool delivered;             /* some byte has gone out */
	struct reasm_seg *ooo;      /* sorted by seq, may overlap */
	uint32_t fin_seq;
	uint32_t ooo_bytes, ooo_segs;
	uint64_t ooo_since;         /* when the current hole was first seen */
};

void reasm_init(struct reasm *r);
/* Frees waiting segments; st (NULL: none) stops counting their bytes. */
void reasm_free(struct reasm *r, struct reasm_stats *st);
/* Starts the stream at seq (after a SYN: its seq + 1). */
void reasm_sync(struct reasm *r, uint32_t seq);
/*
 * Declares every hole lost and delivers what waits behind them (gap
 * callbacks in their places). For bytes that will never come: the capture
 * ring dropped them, so no retransmission will be seen either.
 */
void reasm_give_up(struct reasm *r, struct reasm_stats *st, const struct reasm_out *out);
/* True when a hole has waited longer than lim->max_wait_ns at now. */
bool reasm_stale(const struct reasm *r, const struct reasm_limits *lim, uint64_t now_ns);
/*
 * Feeds one segment: seq, flags (TCPF_*), the captured payload (caplen
 * bytes) of a segment that carried len bytes on the wire. The missing tail,
 * if any, is reported through the gap callback in its place in the stream
 * (and counted in cut_bytes, not gaps: it was cut on purpose). Unsynced
 * streams ignore data.
 */
void reasm_feed(struct reasm *r, const struct reasm_limits *lim, struct reasm_stats *st,
		uint32_t seq, uint8_t flags, const uint8_t *payload, uint32_t caplen,
		uint32_t len, uint64_t ts_ns, const struct reasm_out *out);

#endif
