// SPDX-License-Identifier: MIT
#include "collector/tcp_reasm.h"
#include "collector/pkt_decode.h"

#include <stdlib.h>
#include <string.h>

struct reasm_seg {
	struct reasm_seg *next;
	uint32_t seq, len;          /* len: bytes on the wire */
	uint32_t caplen;            /* bytes present in data[] (<= len) */
	uint64_t ts_ns;
	bool fin;
	uint8_t data[];
};

/* What a waiting segment holds of the heap: small segments are mostly
 * header, so max_queued_bytes counts it. */
static uint64_t seg_size(uint32_t caplen)
{
	return sizeof(struct reasm_seg) + caplen;
}

/* Sequence arithmetic modulo 2^32 (RFC 1982). */
static int32_t seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

void reasm_init(struct reasm *r)
{
	memset(r, 0, sizeof(*r));
}

void reasm_free(struct reasm *r, struct reasm_stats *st)
{
	struct reasm_seg *s = r->ooo, *n;
	for (; s; s = n) {
		n = s->next;
		if (st)
			st->queued_bytes -= seg_size(s->caplen);
		free(s);
	}
	r->ooo = NULL;
	r->ooo_bytes = r->ooo_segs = 0;
}

void reasm_sync(struct reasm *r, uint32_t seq)
{
	r->synced = true;
	r->next_seq = seq;
}

static void note_fin(struct reasm *r, uint32_t fin_seq)
{
	if (!r->fin_seen) {
		r->fin_seen = true;
		r->fin_seq = fin_seq;
	}
}

static void maybe_fin(struct reasm *r, uint64_t ts, const struct reasm_out *out)
{
	if (r->fin_seen && !r->fin_done && seq_diff(r->next_seq, r->fin_seq) >= 0) {
		r->fin_done = true;
		if (out->fin)
			out->fin(out->ctx, ts);
	}
}

/* Delivers the part of [seq, seq+len) at or after next_seq; seq <= next_seq. */
static void deliver(struct reasm *r, struct reasm_stats *st, uint32_t seq, const uint8_t *buf,
		    uint32_t len, uint64_t ts, const struct reasm_out *out)
{
	uint32_t skip = (uint32_t)seq_diff(r->next_seq, seq);
	if (skip >= len) {
		st->retrans_bytes += len;
		return;
	}
	st->retrans_bytes += skip;
	r->next_seq += len - skip;
	r->delivered = true;
	if (out->data)
		out->data(out->ctx, buf + skip, len - skip, ts);
}

/*
 * Delivers [seq, seq+len) of which the first caplen bytes were captured:
 * the data, then the part that was cut (a snap length, a skipped body) as a
 * gap of known length.
 */
static void deliver_range(struct reasm *r, struct reasm_stats *st, uint32_t seq,
			  const uint8_t *buf, uint32_t caplen, uint32_t len, uint64_t ts,
			  const struct reasm_out *out)
{
	if (caplen)
		deliver(r, st, seq, buf, caplen, ts, out);
	if (caplen < len && seq_diff(seq + len, r->next_seq) > 0) {
		uint32_t cut = (uint32_t)seq_diff(seq + len, r->next_seq);
		st->cut_bytes += cut;
		if (out->cut)
			out->cut(out->ctx, cut, ts);
		else if (out->gap)
			out->gap(out->ctx, cut, ts);
		r->next_seq += cut;
	}
}

/* Delivers waiting segments that have become contiguous. */
static void drain(struct reasm *r, struct reasm_stats *st, const struct reasm_out *out)
{
	while (r->ooo && seq_diff(r->ooo->seq, r->next_seq) <= 0) {
		struct reasm_seg *s = r->ooo;
		r->ooo = s->next;
		r->ooo_bytes -= s->caplen;
		r->ooo_segs--;
		st->queued_bytes -= seg_size(s->caplen);
		deliver_range(r, st, s->seq, s->data, s->caplen, s->len, s->ts_ns, out);
		if (s->fin)
			note_fin(r, s->seq + s->len);
		maybe_fin(r, s->ts_ns, out);
		free(s);
		if (r->ooo)
			r->ooo_since = r->ooo->ts_ns;   /* a new hole starts waiting */
	}
}

/* Gives up on the hole before the first waiting segment. */
static void skip_hole(struct reasm *r, struct reasm_stats *st, const struct reasm_out *out)
{
	uint32_t hole = (uint32_t)seq_diff(r->ooo->seq, r->next_seq);
	st->gaps++;
	st->gap_bytes += hole;
	if (out->gap)
		out->gap(out->ctx, hole, r->ooo->ts_ns);
	r->next_seq = r->ooo->seq;
	drain(r, st, out);
}

static void enqueue(struct reasm *r, struct reasm_stats *st, uint32_t seq, uint8_t flags,
		    const uint8_t *buf, uint32_t caplen, uint32_t len, uint64_t ts)
{
	struct reasm_seg *s = malloc(sizeof(*s) + caplen), **pp = &r->ooo;
	if (!s) {
		/* Out of memory counts as a lost segment: the hole is found later. */
		return;
	}
	s->seq = seq;
	s->len = len;
	s->caplen = caplen;
	s->ts_ns = ts;
	s->fin = flags & TCPF_FIN;
	memcpy(s->data, buf, caplen);
	if (!r->ooo)
		r->ooo_since = ts;
	while (*pp && seq_diff((*pp)->seq, seq) <= 0)
		pp = &(*pp)->next;
	s->next = *pp;
	*pp = s;
	r->ooo_bytes += caplen;
	r->ooo_segs++;
	st->ooo_segs++;
	st->queued_bytes += seg_size(caplen);
}

/* Must the stream's first hole be given up now? */
static bool over_limits(const struct reasm *r, const struct reasm_limits *lim,
			const struct reasm_stats *st, uint64_t now_ns)
{
	return r->ooo_bytes > lim->max_ooo_bytes || r->ooo_segs > lim->max_ooo_segs ||
	       (lim->max_queued_bytes && st->queued_bytes > lim->max_queued_bytes) ||
	       reasm_stale(r, lim, now_ns);
}

void reasm_give_up(struct reasm *r, struct reasm_stats *st, const struct reasm_out *out)
{
	while (r->ooo)
		skip_hole(r, st, out);
}

bool reasm_stale(const struct reasm *r, const struct reasm_limits *lim, uint64_t now_ns)
{
	return r->ooo && lim->max_wait_ns && now_ns > r->ooo_since + lim->max_wait_ns;
}

void reasm_feed(struct reasm *r, const struct reasm_limits *lim, struct reasm_stats *st,
		uint32_t seq, uint8_t flags, const uint8_t *payload, uint32_t caplen,
		uint32_t len, uint64_t ts_ns, const struct reasm_out *out)
{
	if (flags & TCPF_SYN)
		seq++;                 /* the SYN takes one sequence number */
	if (!r->synced)
		return;
	if (caplen > len)
		caplen = len;
	if (seq_diff(seq, r->next_seq) > 0) {
		if (len == 0 && (flags & TCPF_FIN)) {
			note_fin(r, seq);
			return;
		}
		if (len)
			enqueue(r, st, seq, flags, payload, caplen, len, ts_ns);
		while (r->ooo && over_limits(r, lim, st, ts_ns))
			skip_hole(r, st, out);
		return;
	}
	deliver_range(r, st, seq, payload, caplen, len, ts_ns, out);
	if (flags & TCPF_FIN)
		note_fin(r, seq + len);
	drain(r, st, out);
	maybe_fin(r, ts_ns, out);
}
