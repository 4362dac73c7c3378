// SPDX-License-Identifier: MIT
#include "collector/hist.h"

#include "collector/array_room.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_free(struct hist *h)
{
	free(h->cells);
	memset(h, 0, sizeof(*h));
}

/*
 * Bits set in x. Debian builds for the x86-64 baseline, which has no
 * POPCNT instruction, so the builtin became a call into libgcc for every
 * chunk lookup (9 % of the instructions of a view merging 10,000
 * histograms an interval); this is the same count inline.
 */
static unsigned bits_set(uint64_t x)
{
	if (!x)
		return 0;              /* most words of a map: a few chunks in use */
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

static unsigned chunks_in_use(const struct hist *h)
{
	unsigned n = 0;
	for (unsigned w = 0; w < HIST_MAP_WORDS; w++)
		n += bits_set(h->present[w]);
	return n;
}

size_t hist_bytes(const struct hist *h)
{
	return array_room(chunks_in_use(h), HIST_NCHUNKS) * HIST_CHUNK * sizeof(*h->cells);
}

static int chunk_present(const struct hist *h, unsigned c)
{
	return (int)(h->present[c / 64] >> (c % 64) & 1);
}

/* Where chunk c sits (or would sit) in cells: the present chunks below it. */
static unsigned chunk_rank(const struct hist *h, unsigned c)
{
	unsigned r = 0;
	for (unsigned w = 0; w < c / 64; w++)
		r += bits_set(h->present[w]);
	if (c % 64)
		r += bits_set(h->present[c / 64] & ((1ull << (c % 64)) - 1));
	return r;
}

const uint64_t *hist_chunk(const struct hist *h, unsigned c)
{
	if (c >= HIST_NCHUNKS || !chunk_present(h, c))
		return NULL;
	return h->cells + (size_t)chunk_rank(h, c) * HIST_CHUNK;
}

unsigned hist_next_chunk(const struct hist *h, unsigned c)
{
	while (c < HIST_NCHUNKS) {
		uint64_t w = h->present[c / 64] >> (c % 64);
		if (w)
			return c + (unsigned)__builtin_ctzll(w);
		c = (c / 64 + 1) * 64;
	}
	return HIST_NCHUNKS;
}

unsigned hist_bucket_of(uint64_t us)
{
	if (us < HIST_LINEAR)
		return (unsigned)us;
	if (us >> HIST_MAX_BIT)
		return HIST_BUCKETS - 1;
	unsigned msb = 63 - (unsigned)__builtin_clzll(us);   /* >= 7 */
	unsigned shift = msb - HIST_SUB_BITS;
	unsigned sub = (unsigned)(us >> shift) - 64;          /* 0..63 */
	return HIST_LINEAR + (msb - 7) * 64 + sub;
}

uint64_t hist_bucket_low(unsigned idx)
{
	if (idx < HIST_LINEAR)
		return idx;
	unsigned oct = (idx - HIST_LINEAR) / 64, sub = (idx - HIST_LINEAR) % 64;
	unsigned shift = oct + 7 - HIST_SUB_BITS;
	return (uint64_t)(64 + sub) << shift;
}

uint64_t hist_bucket_high(unsigned idx)
{
	if (idx < HIST_LINEAR)
		return idx + 1;
	unsigned oct = (idx - HIST_LINEAR) / 64;
	return hist_bucket_low(idx) + ((uint64_t)1 << (oct + 7 - HIST_SUB_BITS));
}

uint64_t hist_bucket_count(const struct hist *h, unsigned idx)
{
	const uint64_t *c = idx < HIST_BUCKETS ? hist_chunk(h, idx / HIST_CHUNK) : NULL;
	return c ? c[idx % HIST_CHUNK] : 0;
}

/* The chunk holding bucket idx, added (zeroed, in order) when missing.
 * cells has room for array_room() of the chunks in use: a handful is the
 * common case, and a realloc for each was one per request at 10,000
 * endpoints (see array_room.h). */
static uint64_t *chunk_get(struct hist *h, unsigned idx)
{
	unsigned c = idx / HIST_CHUNK, r = chunk_rank(h, c);
	if (chunk_present(h, c))
		return h->cells + (size_t)r * HIST_CHUNK;
	size_t n = chunks_in_use(h), sz = HIST_CHUNK * sizeof(uint64_t);
	uint64_t *cells = h->cells;
	if (n == array_room(n, HIST_NCHUNKS)) {
		cells = realloc(h->cells, array_room(n + 1, HIST_NCHUNKS) * sz);
		if (!cells)
			return NULL;
	}
	memmove(cells + (size_t)(r + 1) * HIST_CHUNK, cells + (size_t)r * HIST_CHUNK, (n - r) * sz);
	memset(cells + (size_t)r * HIST_CHUNK, 0, sz);
	h->cells = cells;
	h->present[c / 64] |= 1ull << (c % 64);
	return cells + (size_t)r * HIST_CHUNK;
}

static void note_range(struct hist *h, uint64_t lo, uint64_t hi)
{
	if (h->count == 0 || lo < h->min)
		h->min = lo;
	if (hi > h->max)
		h->max = hi;
}

int hist_add_n(struct hist *h, uint64_t us, uint64_t n)
{
	if (n == 0)
		return 0;
	unsigned idx = hist_bucket_of(us);
	uint64_t *c = chunk_get(h, idx);
	if (!c)
		return -ENOMEM;
	c[idx % HIST_CHUNK] += n;
	note_range(h, us, us);
	h->count += n;
	h->sum += us * n;
	return 0;
}

void hist_prefetch(const struct hist *h, uint64_t us)
{
	unsigned c = hist_bucket_of(us) / HIST_CHUNK;
	if (chunk_present(h, c))
		__builtin_prefetch(h->cells + (size_t)chunk_rank(h, c) * HIST_CHUNK, 1);
}

int hist_add(struct hist *h, uint64_t us)
{
	return hist_add_n(h, us, 1);
}

int hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->count == 0)
		return 0;
	const uint64_t *s = src->cells;      /* src's chunks in order */
	for (unsigned i = hist_next_chunk(src, 0); i < HIST_NCHUNKS;
	     i = hist_next_chunk(src, i + 1), s += HIST_CHUNK) {
		uint64_t *d = chunk_get(dst, i * HIST_CHUNK);
		if (!d)
			return -ENOMEM;
		for (unsigned j = 0; j < HIST_CHUNK; j++)
			d[j] += s[j];
	}
	note_range(dst, src->min, src->max);
	dst->count += src->count;
	dst->sum += src->sum;
	return 0;
}

/* The rank (1-based, at least 1, at most count) of quantile q of count values. */
static uint64_t quantile_rank(uint64_t count, double q)
{
	uint64_t rank = (uint64_t)(q * (double)count);
	if ((double)rank < q * (double)count)
		rank++;                      /* ceil without libm */
	if (rank < 1)
		rank = 1;
	return rank > count ? count : rank;
}

/* What a percentile landing in bucket idx reports: its midpoint (exact
 * buckets: the value), kept within what was seen. */
static uint64_t bucket_value(unsigned idx, uint64_t min, uint64_t max)
{
	uint64_t lo = hist_bucket_low(idx), hi = hist_bucket_high(idx);
	uint64_t mid = idx < HIST_LINEAR ? lo : lo + (hi - lo) / 2;
	if (max && mid > max)
		mid = max;
	return mid < min ? min : mid;
}

uint64_t hist_percentile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	uint64_t rank = quantile_rank(h->count, q), seen = 0;
	const uint64_t *cells = h->cells;
	for (unsigned i = hist_next_chunk(h, 0); i < HIST_NCHUNKS; i = hist_next_chunk(h, i + 1)) {
		for (unsigned j = 0; j < HIST_CHUNK; j++) {
			seen += cells[j];
			if (seen >= rank)
				return bucket_value(i * HIST_CHUNK + j, h->min, h->max);
		}
		cells += HIST_CHUNK;
	}
	return h->max;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		p[n++] = b | (v ? 0x80 : 0);
	} while (v);
	return n;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -EINVAL;
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EINVAL;
}

size_t hist_varint_put(uint8_t *p, uint64_t v)
{
	return put_varint(p, v);
}

int hist_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	return get_varint(p, end, out);
}

size_t hist_encode(const struct hist *h, uint8_t *buf, size_t cap)
{
	uint8_t tmp[24];
	size_t n = 0;
	unsigned prev = 0;

	if (cap < 1)
		return 0;
	buf[n++] = 1;                          /* format version */
	const uint64_t *cells = h->cells;      /* the chunks in order */
	for (unsigned ch = hist_next_chunk(h, 0); ch < HIST_NCHUNKS;
	     ch = hist_next_chunk(h, ch + 1), cells += HIST_CHUNK) {
		for (unsigned j = 0; j < HIST_CHUNK; j++) {
			uint64_t c = cells[j];
			unsigned idx = ch * HIST_CHUNK + j;
			if (!c)
				continue;
			size_t k = put_varint(tmp, idx - prev);
			k += put_varint(tmp + k, c);
			if (n + k > cap)
				return 0;
			memcpy(buf + n, tmp, k);
			n += k;
			prev = idx;
		}
	}
	return n;
}

/*
 * One bucket of an untrusted encoding: version 1 (hist_encode()'s delta
 * and count) or HIST_BLOB_VERSION (put_bucket()'s). *next: version 1's
 * previous index, or the blob's next expected one; 0 at the start.
 * 0, or -EINVAL when cut short or past the last bucket.
 */
static int decode_bucket(uint8_t ver, const uint8_t **p, const uint8_t *end, uint64_t *next,
			 uint64_t *idx, uint64_t *c)
{
	uint64_t a, gap = 0;

	if (get_varint(p, end, &a))
		return -EINVAL;
	if (ver == 1) {
		if (get_varint(p, end, c) || a >= HIST_BUCKETS)
			return -EINVAL;
		*idx = *next += a;
		return *idx < HIST_BUCKETS ? 0 : -EINVAL;
	}
	if ((a & 1) && (get_varint(p, end, &gap) || gap >= HIST_BUCKETS))
		return -EINVAL;
	*c = a >> 1;
	*idx = *next + (a & 1 ? gap + 1 : 0);
	*next = *idx + 1;
	return *idx < HIST_BUCKETS ? 0 : -EINVAL;
}

int hist_decode_merge(struct hist *dst, const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t idx, next = 0, c;
	struct hist tmp;
	int err = 0;

	if (len < 1 || (buf[0] != 1 && buf[0] != HIST_BLOB_VERSION))
		return -EINVAL;
	p++;
	/* Decode into a scratch histogram first so a bad blob changes nothing. */
	hist_init(&tmp);
	while (p < end) {
		if (decode_bucket(buf[0], &p, end, &next, &idx, &c)) {
			err = -EINVAL;
			break;
		}
		uint64_t *ch = chunk_get(&tmp, (unsigned)idx);
		if (!ch) {
			err = -ENOMEM;
			break;
		}
		ch[idx % HIST_CHUNK] += c;
		tmp.count += c;
	}
	if (!err) {
		/* min/max/sum are the caller's; merge buckets and count only. */
		uint64_t min = dst->min, max = dst->max, sum = dst->sum, cnt = dst->count;
		err = hist_merge(dst, &tmp);
		if (!err) {
			dst->min = cnt ? min : 0;
			dst->max = max;
			dst->sum = sum;
		} else {
			dst->count = cnt;
		}
	}
	hist_free(&tmp);
	return err;
}

void hist_blob_free(struct hist_blob *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* An empty blob reads as this one: the version byte, no buckets. */
static const uint8_t blob_none[1] = { HIST_BLOB_VERSION };

void hist_blob_clear(struct hist_blob *b)
{
	if (!b->buf)
		return;
	memcpy(b->buf, blob_none, sizeof(blob_none));
	b->len = sizeof(blob_none);
}

void hist_packed_free(struct hist_packed *p)
{
	hist_blob_free(&p->b);
	memset(p, 0, sizeof(*p));
}

void hist_packed_clear(struct hist_packed *p)
{
	p->count = p->sum = p->min = p->max = 0;
	hist_blob_clear(&p->b);
}

/* The non-empty buckets of a full histogram in index order, each index
 * shifted right by shift (coarser buckets: a run of them sums into one). */
struct bucket_cursor {
	const struct hist *h;
	const uint64_t *cells;         /* chunk ch's counters */
	unsigned ch, j, shift;
	unsigned ahead;                /* the next fine bucket read, HIST_BUCKETS none */
	uint64_t ahead_n;
};

/* The next non-empty fine bucket's index and count; HIST_BUCKETS at the end. */
static unsigned cursor_fine(struct bucket_cursor *c, uint64_t *n)
{
	while (c->ch < HIST_NCHUNKS) {
		for (; c->j < HIST_CHUNK; c->j++)
			if ((*n = c->cells[c->j])) {
				unsigned idx = c->ch * HIST_CHUNK + c->j++;
				return idx;
			}
		c->ch = hist_next_chunk(c->h, c->ch + 1);
		c->cells += HIST_CHUNK;
		c->j = 0;
	}
	return HIST_BUCKETS;
}

static struct bucket_cursor cursor_start(const struct hist *h, unsigned shift)
{
	struct bucket_cursor c = { .h = h, .cells = h->cells, .ch = hist_next_chunk(h, 0), .shift = shift };
	c.ahead = cursor_fine(&c, &c.ahead_n);
	return c;
}

/* The next non-empty (shifted) bucket's index and count; HIST_BUCKETS at the end. */
static unsigned cursor_next(struct bucket_cursor *c, uint64_t *n)
{
	if (c->ahead >= HIST_BUCKETS)
		return HIST_BUCKETS;
	unsigned idx = c->ahead >> c->shift;
	*n = 0;
	do {
		*n += c->ahead_n;
		c->ahead = cursor_fine(c, &c->ahead_n);
	} while (c->ahead < HIST_BUCKETS && c->ahead >> c->shift == idx);
	return idx;
}

/*
 * One bucket onto a blob (HIST_BLOB_VERSION) whose next bucket was
 * expected at *next: varint(n << 1 | gap), then varint(gap - 1) when the
 * bucket is not *next. The delta of the DB's format cost a byte per
 * bucket, and a window's coarse buckets are mostly each other's
 * neighbours: a 5 s slot of an endpoint at 5 requests/s, 0.2-20 ms, held
 * 33 bytes, 80 s slots 149. Counts stay below 2^63 (request counts).
 */
static size_t put_bucket(uint8_t *out, unsigned *next, unsigned idx, uint64_t n)
{
	unsigned gap = idx - *next;
	size_t k = put_varint(out, n << 1 | (gap != 0));
	if (gap)
		k += put_varint(out + k, gap - 1);
	*next = idx + 1;
	return k;
}

/* The next bucket of a blob at *q: its index (HIST_BUCKETS at the end) and
 * count; *next as put_bucket() keeps it, 0 at the start. The blob is ours
 * (put_bucket()s), so it decodes; hist_decode_merge() checks the bounds. */
static unsigned blob_next(const uint8_t **q, const uint8_t *end, uint64_t *next, uint64_t *n)
{
	uint64_t tok, gap = 0;
	if (*q >= end || get_varint(q, end, &tok) || ((tok & 1) && get_varint(q, end, &gap)))
		return HIST_BUCKETS;
	*n = tok >> 1;
	uint64_t idx = *next + (tok & 1 ? gap + 1 : 0);
	*next = idx + 1;
	return idx < HIST_BUCKETS ? (unsigned)idx : HIST_BUCKETS;
}

/*
 * b becomes the n bytes at out (the caller's stack buffer, or a heap one
 * of a bigger size). In b's own buffer when they fit: a new block per add,
 * the old one freed, left holes of every older size behind (10,000
 * endpoints' view: 20 MB in use in 38 MB of heap). Else at their size.
 * 0 or -ENOMEM (b unchanged).
 */
static int blob_keep(struct hist_blob *b, uint8_t *out, const uint8_t *stack, size_t n)
{
	if (out == stack && n <= b->cap) {
		memcpy(b->buf, stack, n);
		b->len = (uint32_t)n;
		return 0;
	}
	uint8_t *fit = out == stack ? malloc(n) : realloc(out, n);
	if (out == stack) {
		if (!fit)
			return -ENOMEM;
		memcpy(fit, stack, n);
	}
	free(b->buf);
	b->buf = fit ? fit : out;
	b->len = (uint32_t)n;
	/* malloc rounds up; what it gave is ours to grow into */
	b->cap = fit ? (uint32_t)malloc_usable_size(fit) : (uint32_t)n;
	return 0;
}

int hist_blob_add(struct hist_blob *b, const struct hist *h)
{
	return hist_blob_add_shifted(b, h, 0);
}

size_t hist_enc_add_bound(size_t len, const struct hist *h)
{
	/* Every bucket of h may be new: two varints of at most 10 bytes each;
	 * an old bucket's gap only shrinks. */
	return len + (size_t)chunks_in_use(h) * HIST_CHUNK * 20;
}

size_t hist_enc_add(const uint8_t *old, size_t len, const struct hist *h, unsigned shift,
		    uint8_t *out)
{
	struct bucket_cursor cur = cursor_start(h, shift);
	const uint8_t *q = old, *end = old + len;
	uint64_t at = 0, old_n = 0, new_n = 0;
	unsigned old_idx = blob_next(&q, end, &at, &old_n), new_idx = cursor_next(&cur, &new_n);
	unsigned next = 0;
	size_t n = 0;

	while (old_idx < HIST_BUCKETS || new_idx < HIST_BUCKETS) {
		if (old_idx <= new_idx) {
			bool both = old_idx == new_idx;
			n += put_bucket(out + n, &next, old_idx, old_n + (both ? new_n : 0));
			if (both)
				new_idx = cursor_next(&cur, &new_n);
			old_idx = blob_next(&q, end, &at, &old_n);
		} else {
			n += put_bucket(out + n, &next, new_idx, new_n);
			new_idx = cursor_next(&cur, &new_n);
		}
	}
	return n;
}

size_t hist_enc_merge_bound(size_t dlen, size_t slen)
{
	/* A merged bucket's gap is at most either side's, its count one byte
	 * longer at most: both plus one byte per bucket of s bound it. */
	return dlen + 2 * slen;
}

size_t hist_enc_merge(const uint8_t *d, size_t dlen, const uint8_t *s, size_t slen, uint8_t *out)
{
	const uint8_t *q = d, *qend = d + dlen, *r = s, *rend = s + slen;
	uint64_t qa = 0, ra = 0, qn = 0, rn = 0;
	unsigned qi = blob_next(&q, qend, &qa, &qn), ri = blob_next(&r, rend, &ra, &rn), next = 0;
	size_t n = 0;

	while (qi < HIST_BUCKETS || ri < HIST_BUCKETS) {
		if (qi == ri) {
			n += put_bucket(out + n, &next, qi, qn + rn);
			qi = blob_next(&q, qend, &qa, &qn);
			ri = blob_next(&r, rend, &ra, &rn);
		} else if (qi < ri) {
			n += put_bucket(out + n, &next, qi, qn);
			qi = blob_next(&q, qend, &qa, &qn);
		} else {
			n += put_bucket(out + n, &next, ri, rn);
			ri = blob_next(&r, rend, &ra, &rn);
		}
	}
	return n;
}

void hist_enc_each(const uint8_t *b, size_t len, void (*fn)(void *ctx, unsigned idx, uint64_t n),
		   void *ctx)
{
	const uint8_t *q = b, *end = b + len;
	uint64_t at = 0, n;

	for (unsigned idx = blob_next(&q, end, &at, &n); idx < HIST_BUCKETS;
	     idx = blob_next(&q, end, &at, &n))
		fn(ctx, idx, n);
}

/* A blob's buckets (after its version byte) and their length. */
static const uint8_t *blob_bytes(const struct hist_blob *b, size_t *len)
{
	*len = b->buf ? b->len - 1 : 0;
	return b->buf ? b->buf + 1 : blob_none + 1;
}

int hist_blob_add_shifted(struct hist_blob *b, const struct hist *h, unsigned shift)
{
	if (!h->count)
		return 0;
	size_t len;
	const uint8_t *old = blob_bytes(b, &len);
	size_t cap = 1 + hist_enc_add_bound(len, h);
	/* Built on the stack when it fits, then copied at its size: a heap
	 * scratch of the worst case, shrunk after, left holes behind that
	 * doubled the heap of a view merging 10,000 blobs per interval. */
	uint8_t stack[2048], *out = cap <= sizeof(stack) ? stack : malloc(cap);
	if (!out)
		return -ENOMEM;
	out[0] = HIST_BLOB_VERSION;
	return blob_keep(b, out, stack, 1 + hist_enc_add(old, len, h, shift, out + 1));
}

int hist_blob_merge(struct hist_blob *d, const struct hist_blob *s)
{
	if (!s->buf)
		return 0;
	size_t dlen, slen;
	const uint8_t *dq = blob_bytes(d, &dlen), *sq = blob_bytes(s, &slen);
	size_t cap = 1 + hist_enc_merge_bound(dlen, slen);
	uint8_t stack[2048], *out = cap <= sizeof(stack) ? stack : malloc(cap);
	if (!out)
		return -ENOMEM;
	out[0] = HIST_BLOB_VERSION;
	return blob_keep(d, out, stack, 1 + hist_enc_merge(dq, dlen, sq, slen, out + 1));
}

/* p's count, sum, min and max take in those of what its blob just took. */
static void packed_note(struct hist_packed *p, uint64_t count, uint64_t sum, uint64_t min,
			uint64_t max)
{
	p->min = p->count && p->min < min ? p->min : min;
	p->max = p->max > max ? p->max : max;
	p->count += count;
	p->sum += sum;
}

int hist_packed_merge(struct hist_packed *d, const struct hist_packed *s)
{
	if (!s->count)
		return 0;
	int err = hist_blob_merge(&d->b, &s->b);
	if (err)
		return err;
	packed_note(d, s->count, s->sum, s->min, s->max);
	return 0;
}

void hist_blob_each(const struct hist_blob *b, void (*fn)(void *ctx, unsigned idx, uint64_t n),
		    void *ctx)
{
	size_t len;
	const uint8_t *q = blob_bytes(b, &len);
	hist_enc_each(q, len, fn, ctx);
}

uint64_t hist_coarse_low(unsigned idx, unsigned shift)
{
	return hist_bucket_low(idx << shift);
}

uint64_t hist_coarse_high(unsigned idx, unsigned shift)
{
	unsigned last = ((idx + 1) << shift) - 1;
	return hist_bucket_high(last < HIST_BUCKETS ? last : HIST_BUCKETS - 1);
}

/* The middle of coarse bucket idx, clamped to [min, max]. Shift 0 is
 * bucket_value()'s answer: a linear bucket is 1 µs wide, its middle its low. */
static uint64_t coarse_value(unsigned idx, unsigned shift, uint64_t min, uint64_t max)
{
	uint64_t lo = hist_coarse_low(idx, shift), hi = hist_coarse_high(idx, shift);
	uint64_t mid = lo + (hi - lo) / 2;
	if (mid > max)
		mid = max;             /* count > 0: max is a value seen (0 too) */
	return mid < min ? min : mid;
}

uint64_t hist_packed_percentile_shifted(const struct hist_packed *p, double q, unsigned shift)
{
	if (p->count == 0)
		return 0;
	if (q <= 0)
		return p->min;
	const uint8_t *b = p->b.buf + 1, *end = p->b.buf + p->b.len;
	uint64_t rank = quantile_rank(p->count, q), seen = 0, at = 0, n;
	for (unsigned idx = blob_next(&b, end, &at, &n); idx < HIST_BUCKETS;
	     idx = blob_next(&b, end, &at, &n)) {
		seen += n;
		if (seen >= rank)
			return coarse_value(idx, shift, p->min, p->max);
	}
	return p->max;
}

uint64_t hist_packed_percentile(const struct hist_packed *p, double q)
{
	return hist_packed_percentile_shifted(p, q, 0);
}

int hist_packed_add_shifted(struct hist_packed *p, const struct hist *h, unsigned shift)
{
	if (!h->count)
		return 0;
	int err = hist_blob_add_shifted(&p->b, h, shift);
	if (err)
		return err;
	packed_note(p, h->count, h->sum, h->min, h->max);
	return 0;
}

int hist_packed_add(struct hist_packed *p, const struct hist *h)
{
	return hist_packed_add_shifted(p, h, 0);
}
