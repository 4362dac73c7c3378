// SPDX-License-Identifier: MIT
#include "tui/window.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void win_clock_init(struct win_clock *c, uint64_t interval_ms)
{
	memset(c, 0, sizeof(*c));
	if (!interval_ms)
		interval_ms = 1000;
	c->ips = (uint32_t)((WIN_SLOT_MS + interval_ms - 1) / interval_ms);
	if (!c->ips)
		c->ips = 1;
}

/* How many of the newest slots a window of want ms sums: until their
 * durations reach it, the current (partial) slot included. *dur_ms (may be
 * NULL): the time they cover. */
static uint32_t slots_back(const struct win_clock *c, uint64_t want, uint64_t *dur_ms)
{
	uint64_t dur = 0;
	uint32_t back = 0;

	for (; back < WIN_SLOTS - 1 && back < c->seq && dur < want; back++)
		dur += c->dur_ms[(c->seq - back) % WIN_SLOTS];
	if (dur_ms)
		*dur_ms = dur;
	return back;
}

/*
 * A new slot only adds to the newest end, so the oldest slot the widest
 * window needs never moves back: what is dropped is never needed again.
 * Coarsening joins slots 2t-1 and 2t into t, so an even oldest slot keeps
 * its odd partner: once they are one slot, the window sums both (without
 * it, 40 s slots doubled late showed 3,000 requests in 340 s for 3,400).
 */
static void keep_update(struct win_clock *c)
{
	uint32_t keep = slots_back(c, WIN_5MIN_MS, NULL), oldest = c->seq - keep + 1;

	if (keep && oldest > 1 && oldest % 2 == 0 && win_clock_can_coarsen(c))
		keep++;                           /* <= WIN_SLOTS: back stops at WIN_SLOTS - 1 */
	c->keep = keep;
}

void win_clock_limit(struct win_clock *c, uint64_t interval_ms, uint64_t max_slot_ms)
{
	uint64_t ips = max_slot_ms / (interval_ms ? interval_ms : 1000);

	if (ips < c->ips)
		ips = c->ips;                     /* already that long: no coarsening */
	c->max_ips = !max_slot_ms ? 0 : ips > UINT32_MAX ? UINT32_MAX : (uint32_t)ips;
	keep_update(c);
}

bool win_clock_can_coarsen(const struct win_clock *c)
{
	return !c->max_ips || (uint64_t)c->ips * 2 <= c->max_ips;
}

void win_clock_tick(struct win_clock *c, uint64_t dur_ms)
{
	if (c->seq == 0 || c->in_cur >= c->ips) {
		c->seq++;
		c->in_cur = 0;
		c->dur_ms[c->seq % WIN_SLOTS] = 0;
	}
	c->in_cur++;
	c->interval_seq++;
	c->dur_ms[c->seq % WIN_SLOTS] += dur_ms;
	c->total_ms += dur_ms;
	c->last_ms = dur_ms;
	keep_update(c);
}

/*
 * Slots of twice the length from now on: old slots 2t-1 and 2t become slot
 * t, their durations summed, the current one keeping what it has had.
 */
void win_clock_coarsen(struct win_clock *c)
{
	uint64_t dur[WIN_SLOTS] = { 0 };
	uint32_t s = c->seq, ns = (s + 1) / 2;

	for (uint32_t t = ns; t >= 1 && t + WIN_SLOTS > ns; t--)
		for (uint32_t o = 2 * t - 1; o <= 2 * t; o++)
			if (o <= s && o + WIN_SLOTS > s)
				dur[t % WIN_SLOTS] += c->dur_ms[o % WIN_SLOTS];
	memcpy(c->dur_ms, dur, sizeof(dur));
	if (s && s % 2 == 0)
		c->in_cur += c->ips;              /* the current slot was a pair's second */
	c->seq = ns;
	c->ips *= 2;
	keep_update(c);
}

const char *win_name(enum win_kind k)
{
	static const char *const names[WIN_KINDS] = {
		[WIN_LAST] = "last interval",
		[WIN_1MIN] = "last 1 min",
		[WIN_5MIN] = "last 5 min",
		[WIN_ALL] = "since start",
	};
	return k < WIN_KINDS ? names[k] : "?";
}

static uint64_t win_len_ms(enum win_kind k)
{
	return k == WIN_1MIN ? 60000 : k == WIN_5MIN ? WIN_5MIN_MS : 0;
}

void win_ep_init(struct win_ep *e)
{
	memset(e, 0, sizeof(*e));
}

void win_ep_free(struct win_ep *e)
{
	hist_packed_free(&e->last_lat);
	hist_packed_free(&e->all_lat);
	free(e->slot);
	free(e->rec);
	memset(e, 0, sizeof(*e));
}

/* Coarse bucket c spans fine buckets 4c .. 4c+3. */
uint64_t win_cbucket_low(unsigned c)
{
	return hist_coarse_low(c, WIN_SHIFT);
}

uint64_t win_cbucket_high(unsigned c)
{
	return hist_coarse_high(c, WIN_SHIFT);
}

/* A slot's counters are an interval row's by the same names: one list of
 * them, for adding a row (struct ep_stats) or another slot (win_counts). */
#define WIN_COUNTS_ADD(d, s)                                           \
	do {                                                           \
		(d)->requests += (s)->requests;                        \
		for (int k_ = 0; k_ < STATUS_CLASSES; k_++)            \
			(d)->status[k_] += (s)->status[k_];            \
		(d)->grpc_errors += (s)->grpc_errors;                  \
		(d)->bytes_in += (s)->bytes_in;                        \
		(d)->bytes_out += (s)->bytes_out;                      \
		if ((s)->lat_max_us > (d)->lat_max_us)                 \
			(d)->lat_max_us = (s)->lat_max_us;             \
	} while (0)

static void counters_add(struct win_counts *d, const struct ep_stats *s)
{
	WIN_COUNTS_ADD(d, s);
}

static void counts_add(struct win_counts *d, const struct win_counts *s)
{
	WIN_COUNTS_ADD(d, s);
}

static uint32_t sat32(uint64_t a, uint64_t b)
{
	uint64_t v = a + b;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* A slot's counters (32 bits, saturating) += an interval row's or another
 * slot's, by the same names. */
#define SLOT_COUNTS_ADD(d, s)                                          \
	do {                                                           \
		(d)->requests = sat32((d)->requests, (s)->requests);   \
		for (int k_ = 0; k_ < STATUS_CLASSES; k_++)            \
			(d)->status[k_] = sat32((d)->status[k_], (s)->status[k_]); \
		(d)->grpc_errors = sat32((d)->grpc_errors, (s)->grpc_errors); \
		(d)->bytes_in += (s)->bytes_in;                        \
		(d)->bytes_out += (s)->bytes_out;                      \
		if ((s)->lat_max_us > (d)->lat_max_us)                 \
			(d)->lat_max_us = sat32(0, (s)->lat_max_us);   \
	} while (0)

/* Calls fn for every non-empty fine bucket of h. Reads the chunk pointers
 * only to skip absent chunks quickly. */
#define HIST_FOREACH(h, i, n)                                                        \
	for (unsigned i##_c = hist_next_chunk((h), 0); i##_c < HIST_NCHUNKS;           \
	     i##_c = hist_next_chunk((h), i##_c + 1))                                 \
		for (unsigned i = i##_c * HIST_CHUNK; i < (i##_c + 1) * HIST_CHUNK; i++)     \
			if (((n) = hist_bucket_count((h), i)) != 0)

/* ---- the slots' records, one buffer per endpoint ------------------------ */

/*
 * A slot's record in e->rec: its counters as varints (requests, status
 * classes, gRPC errors, max latency, bytes in, bytes out), then its coarse
 * latency buckets (hist_enc_*). A zero-length record is a slot with
 * nothing yet. As a struct of fixed fields they were 56 bytes a slot, as
 * varints ~15.
 */
struct slot_counts {
	uint64_t bytes_in, bytes_out;
	uint32_t requests;                /* 32 bits, saturating, as before */
	uint32_t status[STATUS_CLASSES];
	uint32_t grpc_errors;
	uint32_t lat_max_us;
};

/* Counters of a record at most: 8 of 32 bits (5 bytes), 2 of 64 (10). */
#define REC_COUNTS_MAX (8 * 5 + 2 * 10)

/* A record never outgrows its slot's uint16_t len: the counters, and per
 * coarse bucket a varint count of at most 10 bytes and a gap of at most 2. */
_Static_assert(REC_COUNTS_MAX + WIN_CBUCKETS * 12 <= UINT16_MAX, "win_slot.len too narrow");

static size_t counts_put(const struct slot_counts *c, uint8_t *out)
{
	size_t n = hist_varint_put(out, c->requests);
	for (int k = 0; k < STATUS_CLASSES; k++)
		n += hist_varint_put(out + n, c->status[k]);
	n += hist_varint_put(out + n, c->grpc_errors);
	n += hist_varint_put(out + n, c->lat_max_us);
	n += hist_varint_put(out + n, c->bytes_in);
	n += hist_varint_put(out + n, c->bytes_out);
	return n;
}

static uint64_t get_one(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	hist_varint_get(p, end, &v);     /* ours, counts_put() wrote it */
	return v;
}

/* The counters of the record at rec (len bytes; 0: all zero). Returns the
 * bytes they take: its buckets follow. */
static size_t counts_get(const uint8_t *rec, size_t len, struct slot_counts *c)
{
	const uint8_t *p = rec, *end = rec + len;

	memset(c, 0, sizeof(*c));
	if (!len)
		return 0;
	c->requests = (uint32_t)get_one(&p, end);
	for (int k = 0; k < STATUS_CLASSES; k++)
		c->status[k] = (uint32_t)get_one(&p, end);
	c->grpc_errors = (uint32_t)get_one(&p, end);
	c->lat_max_us = (uint32_t)get_one(&p, end);
	c->bytes_in = get_one(&p, end);
	c->bytes_out = get_one(&p, end);
	return (size_t)(p - rec);
}

/* What an endpoint without records reads (e->rec is NULL). */
static const uint8_t rec_none[1];

static const uint8_t *rec_at(const struct win_ep *e, size_t off)
{
	return e->rec ? e->rec + off : rec_none;
}

/* Where slot i's record starts in e->rec. */
static size_t rec_off(const struct win_ep *e, unsigned i)
{
	size_t off = 0;
	for (unsigned k = 0; k < i; k++)
		off += e->slot[k].len;
	return off;
}

/* What e->rec is given for len bytes: 32 more, room for the newest
 * slot's counters and new buckets over a few intervals. Slack in
 * proportion held more (view_heap at 5 / 15 min, MB in use and arena:
 * a quarter 15.7 / 16.6 and 30.5; an eighth 16.4 / 16.7 and 27.4; 32
 * bytes 16.1 / 16.4 and 27.7). */
static size_t rec_slack(size_t len)
{
	return len + 32;
}

/* e->rec at len bytes or more, with slack: the newest slot takes new
 * buckets most intervals, and a realloc each time would move the buffer
 * about the heap. 0 or -ENOMEM (unchanged). */
static int rec_reserve(struct win_ep *e, size_t len)
{
	if (len <= e->rec_cap)
		return 0;
	uint8_t *p = realloc(e->rec, rec_slack(len));
	if (!p)
		return -ENOMEM;
	e->rec = p;
	e->rec_cap = (uint32_t)rec_slack(len);
	return 0;
}

/* The old bytes at off become the n at out (never inside e->rec).
 * 0 or -ENOMEM (unchanged); a shrink cannot fail. */
static int rec_replace(struct win_ep *e, size_t off, size_t old, const uint8_t *out, size_t n)
{
	if (rec_reserve(e, e->rec_len - old + n))
		return -ENOMEM;
	if (!e->rec)
		return 0;                         /* nothing there, nothing new */
	memmove(e->rec + off + n, e->rec + off + old, e->rec_len - off - old);
	if (n)
		memcpy(e->rec + off, out, n);
	e->rec_len = (uint32_t)(e->rec_len - old + n);
	return 0;
}

/* Scratch for a new encoding of cap bytes: the caller's stack when it
 * fits (the common case, no malloc), else the heap. NULL on ENOMEM. */
static uint8_t *scratch(uint8_t *stack, size_t stack_len, size_t cap)
{
	return cap <= stack_len ? stack : malloc(cap);
}

/* Slot i's record (at off) becomes out[0..n), and out's heap scratch, if it
 * had one, goes. 0 or -ENOMEM (the slot unchanged). */
static int slot_store(struct win_ep *e, unsigned i, size_t off, uint8_t *out, const uint8_t *stack,
		      size_t n)
{
	int err = rec_replace(e, off, e->slot[i].len, out, n);

	if (!err)
		e->slot[i].len = (uint16_t)n;
	if (out != stack)
		free(out);
	return err;
}

/* Slot i += an interval row: counters and coarse buckets. 0 or -ENOMEM
 * (the slot unchanged: the windows miss the row). */
static int slot_add(struct win_ep *e, unsigned i, const struct ep_stats *s)
{
	size_t off = rec_off(e, i), len = e->slot[i].len;
	const uint8_t *r = rec_at(e, off);
	struct slot_counts c;
	size_t h = counts_get(r, len, &c);
	uint8_t stack[2048],
		*out = scratch(stack, sizeof(stack), REC_COUNTS_MAX + hist_enc_add_bound(len - h, &s->lat));

	if (!out)
		return -ENOMEM;
	SLOT_COUNTS_ADD(&c, s);
	size_t n = counts_put(&c, out);
	n += hist_enc_add(r + h, len - h, &s->lat, WIN_SHIFT, out + n);
	return slot_store(e, i, off, out, stack, n);
}

/*
 * The record at off (a bytes) and the one right after it (b bytes) become
 * one: counters and buckets summed. On ENOMEM the summed counters with the
 * first one's buckets, in place (a varint of a sum is no longer than the
 * two: never longer than both records): the second's latency lost.
 * Returns 0 or -ENOMEM, *n the bytes the record takes.
 */
static int rec_merge_next(struct win_ep *e, size_t off, size_t a, size_t b, size_t *n)
{
	const uint8_t *ra = rec_at(e, off), *rb = rec_at(e, off + a);
	struct slot_counts ca, cb;
	size_t ha = counts_get(ra, a, &ca), hb = counts_get(rb, b, &cb);
	uint8_t stack[2048],
		*out = scratch(stack, sizeof(stack), REC_COUNTS_MAX + hist_enc_merge_bound(a - ha, b - hb));
	int err = -ENOMEM;

	SLOT_COUNTS_ADD(&ca, &cb);
	if (out) {
		*n = counts_put(&ca, out);
		*n += hist_enc_merge(ra + ha, a - ha, rb + hb, b - hb, out + *n);
		err = rec_replace(e, off, a + b, out, *n);
	}
	if (err && e->rec) {
		uint8_t hdr[REC_COUNTS_MAX];
		size_t hn = counts_put(&ca, hdr);
		memmove(e->rec + off + hn, e->rec + off + ha, a - ha);
		memcpy(e->rec + off, hdr, hn);
		*n = hn + a - ha;
		rec_replace(e, off + *n, a + b - *n, NULL, 0);
	}
	if (out && out != stack)
		free(out);
	return err;
}

/* Slot i += another endpoint's record (slen bytes at s). 0 or -ENOMEM (the
 * slot unchanged). */
static int slot_merge_rec(struct win_ep *e, unsigned i, const uint8_t *s, size_t slen)
{
	if (!slen)
		return 0;
	size_t off = rec_off(e, i), len = e->slot[i].len;
	const uint8_t *r = rec_at(e, off);
	struct slot_counts cd, cs;
	size_t hd = counts_get(r, len, &cd), hs = counts_get(s, slen, &cs);
	uint8_t stack[2048],
		*out = scratch(stack, sizeof(stack), REC_COUNTS_MAX + hist_enc_merge_bound(len - hd, slen - hs));

	if (!out)
		return -ENOMEM;
	SLOT_COUNTS_ADD(&cd, &cs);
	size_t n = counts_put(&cd, out);
	n += hist_enc_merge(r + hd, len - hd, s + hs, slen - hs, out + n);
	return slot_store(e, i, off, out, stack, n);
}

/* A slot the newest c->keep do not reach is out of every window. */
static bool slot_expired(const struct win_clock *c, uint32_t seq)
{
	return seq + c->keep <= c->seq;
}

/* Drops the slots out of every window. */
static void slots_expire(struct win_ep *e, const struct win_clock *c)
{
	unsigned k = 0;
	while (k < e->nslot && slot_expired(c, e->slot[k].seq))
		k++;
	if (!k)
		return;
	rec_replace(e, 0, rec_off(e, k), NULL, 0);
	memmove(e->slot, e->slot + k, (e->nslot - k) * sizeof(*e->slot));
	e->nslot = (uint8_t)(e->nslot - k);
}

/* e->rec back to what it holds plus the slack rec_reserve() leaves, once it
 * holds half of what it has or less (slots expired or joined). */
static void rec_trim(struct win_ep *e)
{
	if (!e->rec_len) {
		free(e->rec);
		e->rec = NULL;
		e->rec_cap = 0;
		return;
	}
	if (e->rec_len > e->rec_cap / 2)
		return;
	uint8_t *p = realloc(e->rec, rec_slack(e->rec_len));
	if (p) {
		e->rec = p;
		e->rec_cap = (uint32_t)rec_slack(e->rec_len);
	}
}

/* The slot array at cap entries (>= nslot); kept as it was on ENOMEM. */
static void slots_resize(struct win_ep *e, unsigned cap)
{
	if (!cap) {
		free(e->slot);
		e->slot = NULL;
		e->slot_cap = 0;
		return;
	}
	struct win_slot *p = realloc(e->slot, cap * sizeof(*p));
	if (p) {
		e->slot = p;
		e->slot_cap = (uint8_t)cap;
	}
}

void win_ep_expire(struct win_ep *e, const struct win_clock *c)
{
	slots_expire(e, c);
	/* room for one more, no more: the array of 64 slots an endpoint had at
	 * 5 s slots was 4.6 KB, and halving it only when a quarter full kept
	 * 8 for the 5 or 6 of 80 s slots (1.1 MB of 10,000 endpoints' view) */
	if (!e->nslot)
		slots_resize(e, 0);
	else if (e->slot_cap > e->nslot + 1)
		slots_resize(e, e->nslot + 1u);
	rec_trim(e);
}

/* The endpoint's slot for seq (seq <= now, within the window span), made
 * if absent: slots stay sorted, idle ones take no memory. NULL on ENOMEM. */
static struct win_slot *slot_at(struct win_ep *e, uint32_t seq, const struct win_clock *c)
{
	unsigned i;

	slots_expire(e, c);
	for (i = e->nslot; i > 0 && e->slot[i - 1].seq >= seq; i--)
		if (e->slot[i - 1].seq == seq)
			return &e->slot[i - 1];
	if (e->nslot == e->slot_cap) {
		/* two more, not twice: a 5 min window of 80 s slots is 5 or 6
		 * of them (view_heap at 5 / 15 min: 16.7 / 18.0 MB in use;
		 * by one, 17.2 / 18.0; doubling, 16.7 / 18.6) */
		unsigned cap = e->slot_cap + 2u;
		if (cap > WIN_SLOTS)
			cap = WIN_SLOTS;          /* seqs in (now - WIN_SLOTS, now]: never more */
		struct win_slot *p = realloc(e->slot, cap * sizeof(*p));
		if (!p)
			return NULL;
		e->slot = p;
		e->slot_cap = (uint8_t)cap;
	}
	memmove(e->slot + i + 1, e->slot + i, (e->nslot - i) * sizeof(*e->slot));
	e->nslot++;
	struct win_slot *sl = &e->slot[i];
	memset(sl, 0, sizeof(*sl));
	sl->seq = seq;
	return sl;
}

/* The last interval is replaced unless this is the same interval again. */
static void last_start(struct win_ep *e, const struct win_clock *c)
{
	if (e->last_interval == c->interval_seq)
		return;
	memset(&e->last, 0, sizeof(e->last));
	hist_packed_clear(&e->last_lat);
	e->last_interval = c->interval_seq;
}

int win_ep_add(struct win_ep *e, const struct win_clock *c, const struct ep_stats *s)
{
	struct win_slot *sl;
	int err = 0;

	last_start(e, c);
	counters_add(&e->last, s);
	err |= hist_packed_add(&e->last_lat, &s->lat);
	counters_add(&e->all, s);
	err |= hist_packed_add_shifted(&e->all_lat, &s->lat, WIN_SHIFT);

	if (!(sl = slot_at(e, c->seq, c)))
		return -ENOMEM;                   /* the windows miss it; last and all have it */
	err |= slot_add(e, (unsigned)(sl - e->slot), s);
	return err ? -ENOMEM : 0;
}

/*
 * Slots 2t-1 and 2t become t. Slots [0, k) are the new ones, their records
 * the first off bytes of e->rec, the old slots' from i on right after: a
 * slot joining the last new one has its record next to that one's.
 */
int win_ep_coarsen(struct win_ep *e)
{
	unsigned k = 0;
	size_t off = 0;
	int err = 0;

	for (unsigned i = 0; i < e->nslot; i++) {
		struct win_slot sl = e->slot[i];
		uint32_t seq = (sl.seq + 1) / 2;
		if (k && e->slot[k - 1].seq == seq) {
			struct win_slot *d = &e->slot[k - 1];
			size_t n, at = off - d->len;
			err |= rec_merge_next(e, at, d->len, sl.len, &n);
			d->len = (uint16_t)n;
			off = at + n;
			continue;
		}
		sl.seq = seq;
		e->slot[k++] = sl;
		off += sl.len;
	}
	e->nslot = (uint8_t)k;
	rec_trim(e);
	/* the array shrinks with the slots: half of them went */
	unsigned cap = e->slot_cap;
	while (cap > 2 && cap / 2 >= k)
		cap /= 2;
	if (cap < e->slot_cap)
		slots_resize(e, cap);
	return err ? -ENOMEM : 0;
}

int win_ep_merge(struct win_ep *dst, const struct win_ep *src, const struct win_clock *c)
{
	int err = 0;

	if (src->last_interval == c->interval_seq && c->interval_seq) {
		last_start(dst, c);
		counts_add(&dst->last, &src->last);
		err |= hist_packed_merge(&dst->last_lat, &src->last_lat);
	}
	counts_add(&dst->all, &src->all);
	err |= hist_packed_merge(&dst->all_lat, &src->all_lat);
	size_t soff = 0;
	for (unsigned i = 0; i < src->nslot; soff += src->slot[i++].len) {
		const struct win_slot *ss = &src->slot[i];
		struct win_slot *ds;
		if (slot_expired(c, ss->seq))
			continue;                 /* out of every window */
		if (!(ds = slot_at(dst, ss->seq, c))) {
			err = -ENOMEM;
			continue;
		}
		err |= slot_merge_rec(dst, (unsigned)(ds - dst->slot), rec_at(src, soff), ss->len);
	}
	return err ? -ENOMEM : 0;
}

/* A window's coarse histogram, summed from its slots' coarse buckets (or
 * the last interval's fine ones, folded). */
struct dense_sum {
	uint64_t *dense;
	uint64_t count;
};

static void dense_put(void *ctx, unsigned idx, uint64_t n)
{
	struct dense_sum *d = ctx;
	d->dense[idx] += n;
	d->count += n;
}

static void dense_put_fine(void *ctx, unsigned idx, uint64_t n)
{
	dense_put(ctx, idx >> WIN_SHIFT, n);
}

void win_dense_add(uint64_t *dense, const struct hist *h)
{
	uint64_t n;
	HIST_FOREACH(h, i, n)
		dense[i >> WIN_SHIFT] += n;
}

uint64_t win_dense_percentile(const uint64_t *dense, uint64_t count, double q, uint64_t max)
{
	if (!count)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)count + 0.999999), cum = 0;
	if (rank < 1)
		rank = 1;
	for (unsigned c = 0; c < WIN_CBUCKETS; c++) {
		cum += dense[c];
		if (cum >= rank) {
			uint64_t mid = (win_cbucket_low(c) + win_cbucket_high(c)) / 2;
			return mid > max ? max : mid;
		}
	}
	return max;
}

/* Read off the encodings: the table asks every row for its window's
 * percentiles at each refresh, 10,000 rows included. */
static void stats_from_packed(const struct win_counts *s, const struct hist_packed *lat,
			      unsigned shift, struct win_stats *out, uint64_t *dense)
{
	out->requests = s->requests;
	memcpy(out->status, s->status, sizeof(out->status));
	out->grpc_errors = s->grpc_errors;
	out->bytes_in = s->bytes_in;
	out->bytes_out = s->bytes_out;
	out->lat_max_us = s->lat_max_us;
	out->p50 = hist_packed_percentile_shifted(lat, 0.50, shift);
	out->p90 = hist_packed_percentile_shifted(lat, 0.90, shift);
	out->p99 = hist_packed_percentile_shifted(lat, 0.99, shift);
	if (dense) {
		struct dense_sum sum = { .dense = dense };
		hist_blob_each(&lat->b, shift ? dense_put : dense_put_fine, &sum);
	}
}

void win_ep_stats(const struct win_ep *e, const struct win_clock *c, enum win_kind k,
		  struct win_stats *out, uint64_t *dense)
{
	memset(out, 0, sizeof(*out));
	if (dense)
		memset(dense, 0, WIN_CBUCKETS * sizeof(*dense));
	if (k == WIN_LAST) {
		out->dur_ms = c->last_ms;
		if (e->last_interval == c->interval_seq && c->interval_seq)
			stats_from_packed(&e->last, &e->last_lat, 0, out, dense);
		return;
	}
	if (k == WIN_ALL) {
		out->dur_ms = c->total_ms;
		stats_from_packed(&e->all, &e->all_lat, WIN_SHIFT, out, dense);
		return;
	}
	struct dense_sum sum = { .dense = dense };
	/* The window: the newest slots whose durations reach its length. */
	uint32_t back = slots_back(c, win_len_ms(k), &out->dur_ms);
	size_t off = e->rec_len;              /* slot i - 1's record ends here */
	for (unsigned i = e->nslot; i > 0; i--) {
		const struct win_slot *sl = &e->slot[i - 1];
		off -= sl->len;
		if (sl->seq > c->seq)
			continue;                 /* cannot happen: one clock */
		if (sl->seq + back <= c->seq)
			break;                    /* older than the window */
		const uint8_t *r = rec_at(e, off);
		struct slot_counts sc;
		size_t h = counts_get(r, sl->len, &sc);
		out->requests += sc.requests;
		for (int s = 0; s < STATUS_CLASSES; s++)
			out->status[s] += sc.status[s];
		out->grpc_errors += sc.grpc_errors;
		out->bytes_in += sc.bytes_in;
		out->bytes_out += sc.bytes_out;
		if (sc.lat_max_us > out->lat_max_us)
			out->lat_max_us = sc.lat_max_us;
		if (dense)
			hist_enc_each(r + h, sl->len - h, dense_put, &sum);
	}
	if (dense) {
		out->p50 = win_dense_percentile(dense, sum.count, 0.50, out->lat_max_us);
		out->p90 = win_dense_percentile(dense, sum.count, 0.90, out->lat_max_us);
		out->p99 = win_dense_percentile(dense, sum.count, 0.99, out->lat_max_us);
	}
}
