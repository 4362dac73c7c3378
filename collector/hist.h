/* SPDX-License-Identifier: MIT */
/*
 * hist: a mergeable log-linear latency histogram (HdrHistogram's idea).
 *
 * Values are microseconds. Below 128 µs every integer has its own bucket
 * (exact); above, each power of two is split into 64 equal buckets, so a
 * bucket is at most 1/64 of its lower bound wide and its midpoint is within
 * 0.8% of any value in it. Values at or above 2^40 µs (12 days) are clamped.
 *
 * Buckets live in 4-bucket chunks allocated on first use, packed in one
 * array in chunk order; a bitmap says which chunks exist. A histogram that
 * holds a few values costs 112 bytes plus 32 per chunk in use (a value
 * range of a sixteenth of a power of two), rounded up to a power of two of
 * chunks (the array grows by doubling), not the 18 KB a flat array would,
 * and one allocation. (Chunks of 16 cost 128 bytes a chunk: an
 * endpoint with three requests of spread latencies held 384 bytes of
 * mostly zero counters, the largest item of 10,000 such endpoints.) Percentiles over any range come from hist_merge() of
 * the interval histograms, never from averaging percentiles.
 *
 * Ownership: the chunks belong to the struct. Copying a struct hist moves
 * them (the source must then be hist_init()ed, not freed).
 */
#ifndef L7TOP_HIST_H
#define L7TOP_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS   6
#define HIST_LINEAR     128                      /* exact buckets 0..127 */
#define HIST_MAX_BIT    40                       /* values < 2^40 µs */
#define HIST_BUCKETS    (HIST_LINEAR + (HIST_MAX_BIT - 7) * 64)
#define HIST_CHUNK      4
#define HIST_NCHUNKS    (HIST_BUCKETS / HIST_CHUNK)
#define HIST_MAP_WORDS  ((HIST_NCHUNKS + 63) / 64)

struct hist {
	uint64_t count;
	uint64_t sum;          /* µs, exact */
	uint64_t min, max;     /* µs, exact; min is 0 when count is 0 */
	uint64_t present[HIST_MAP_WORDS];   /* bit c: chunk c is in cells */
	uint64_t *cells;       /* the present chunks, HIST_CHUNK counters each, by c */
};

void hist_init(struct hist *h);
/* Frees the chunks; the struct may be reused after hist_init(). */
void hist_free(struct hist *h);
/* Returns 0, or -ENOMEM when a chunk could not be allocated (value lost). */
int hist_add(struct hist *h, uint64_t us);
/* Heap bytes h holds (its chunks; the struct itself is the caller's). */
size_t hist_bytes(const struct hist *h);
int hist_add_n(struct hist *h, uint64_t us, uint64_t n);
/* Fetches the line hist_add(h, us) will count in (when its chunk exists):
 * a pass ahead, for a caller counting a batch. */
void hist_prefetch(const struct hist *h, uint64_t us);
/* dst += src. Returns 0 or -ENOMEM. */
int hist_merge(struct hist *dst, const struct hist *src);
/*
 * The value at quantile q (0 < q <= 1): the bucket holding the
 * ceil(q * count)-th smallest value, reported as its midpoint clamped to
 * [min, max]. 0 for an empty histogram.
 */
uint64_t hist_percentile(const struct hist *h, double q);

/* Bucket geometry, exposed for tests and the Prometheus exporter. */
unsigned hist_bucket_of(uint64_t us);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);   /* exclusive */
uint64_t hist_bucket_count(const struct hist *h, unsigned idx);
/* Chunk c's HIST_CHUNK counters (buckets c * HIST_CHUNK ...), NULL when no
 * value fell in it: lets a reader skip empty ranges quickly. The pointer is
 * valid until the histogram next changes. */
const uint64_t *hist_chunk(const struct hist *h, unsigned c);
/* The first chunk at or after c that holds values, HIST_NCHUNKS when none:
 *   for (c = hist_next_chunk(h, 0); c < HIST_NCHUNKS; c = hist_next_chunk(h, c + 1)) */
unsigned hist_next_chunk(const struct hist *h, unsigned c);

/*
 * Compact serialisation for the DB: a version byte, then for each non-empty
 * bucket a LEB128 varint of (index - previous index) and one of its count.
 * min, max and sum are not in the blob (they are columns of their own).
 * hist_encode() returns the bytes written, or 0 when cap is too small;
 * HIST_ENCODED_MAX always suffices.
 */
#define HIST_ENCODED_MAX (1 + HIST_BUCKETS * 13)
size_t hist_encode(const struct hist *h, uint8_t *buf, size_t cap);
/* Adds the blob's buckets to dst (count too; sum/min/max left to the caller);
 * reads a struct hist_blob's encoding as well.
 * Returns 0, -EINVAL on a malformed blob (dst unchanged), -ENOMEM. */
int hist_decode_merge(struct hist *dst, const uint8_t *buf, size_t len);

/*
 * A histogram's buckets kept encoded: a version byte (HIST_BLOB_VERSION),
 * then per non-empty bucket a varint of (count << 1 | gap), followed by
 * one of gap - 1 when the bucket is not the one after the last (gap: the
 * empty buckets skipped). hist_encode()'s delta cost a byte per bucket,
 * mostly 1 in a window's coarse buckets: 1-2 bytes per non-empty bucket
 * of those instead of 2-3 (32 per chunk in a struct hist), the same
 * buckets, merged in the encoded form. hist_decode_merge() reads it too. For what lives long and is read
 * rarely: the live view's windows per endpoint. Zero-initialised is empty.
 */
#define HIST_BLOB_VERSION 2

struct hist_blob {
	uint8_t *buf;                  /* NULL when empty */
	uint32_t len;
	uint32_t cap;                  /* bytes buf can hold: a blob that grows by a
					* byte or none is rewritten in place */
};

void hist_blob_free(struct hist_blob *b);
/* Empties b, its buffer kept for the next add (one interval's blob after
 * another's: no free and malloc each time). */
void hist_blob_clear(struct hist_blob *b);
/* b += h's buckets (no full histogram is built). 0 or -ENOMEM (b unchanged). */
int hist_blob_add(struct hist_blob *b, const struct hist *h);
/* The same into coarser buckets: bucket i of h counts in bucket i >> shift
 * of b (a blob is one or the other, never both). */
int hist_blob_add_shifted(struct hist_blob *b, const struct hist *h, unsigned shift);
/* d += s, merged in the encoded form. 0 or -ENOMEM (d unchanged). */
int hist_blob_merge(struct hist_blob *d, const struct hist_blob *s);
/* fn(ctx, bucket, n) for every non-empty bucket, in index order. */
void hist_blob_each(const struct hist_blob *b, void (*fn)(void *ctx, unsigned idx, uint64_t n),
		    void *ctx);

/*
 * The same encoding without its version byte, in the caller's buffers: for
 * one buffer holding many histograms (the windows' slots of an endpoint,
 * one allocation instead of one per slot). out must hold the bound's
 * bytes; the functions return the bytes written. old/d/s are the buckets
 * of a blob this code wrote (zero length: empty).
 */
size_t hist_enc_add_bound(size_t len, const struct hist *h);
size_t hist_enc_add(const uint8_t *old, size_t len, const struct hist *h, unsigned shift,
		    uint8_t *out);
size_t hist_enc_merge_bound(size_t dlen, size_t slen);
size_t hist_enc_merge(const uint8_t *d, size_t dlen, const uint8_t *s, size_t slen, uint8_t *out);
void hist_enc_each(const uint8_t *b, size_t len, void (*fn)(void *ctx, unsigned idx, uint64_t n),
		   void *ctx);
/* The encodings' LEB128 varint, for records that carry counters beside
 * buckets: put writes at most 10 bytes and returns them; get returns 0 or
 * -EINVAL (cut short), *p past what it read. */
size_t hist_varint_put(uint8_t *p, uint64_t v);
int hist_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out);

/*
 * A blob with the histogram's count, sum, min and max: exact as a struct
 * hist (the live view's last interval), or in coarser buckets (its since
 * start: hist_packed_add_shifted). A wide latency spread touches a new
 * chunk with most values: 10,000 endpoints after 10 s under 10,000
 * connections held 5.9 MB of such chunks (18.8 per endpoint).
 */
struct hist_packed {
	uint64_t count, sum, min, max;
	struct hist_blob b;
};

void hist_packed_free(struct hist_packed *p);
/* Empties p, its blob's buffer kept (hist_blob_clear). */
void hist_packed_clear(struct hist_packed *p);
/* p += h. Returns 0 or -ENOMEM (p unchanged). */
int hist_packed_add(struct hist_packed *p, const struct hist *h);
/* The same into coarser buckets (hist_blob_add_shifted); count, sum, min
 * and max stay exact. A packed histogram is one or the other, never both. */
int hist_packed_add_shifted(struct hist_packed *p, const struct hist *h, unsigned shift);
/* d += s, in the encoded form (both of one shift). 0 or -ENOMEM (d unchanged). */
int hist_packed_merge(struct hist_packed *d, const struct hist_packed *s);
/* hist_percentile() of what p holds, read off the encoding. */
uint64_t hist_packed_percentile(const struct hist_packed *p, double q);
/* The same of one added with hist_packed_add_shifted(p, h, shift): the
 * coarse bucket's middle, clamped to [min, max]. */
uint64_t hist_packed_percentile_shifted(const struct hist_packed *p, double q, unsigned shift);
/* Coarse bucket idx: fine buckets idx << shift onwards; high is exclusive. */
uint64_t hist_coarse_low(unsigned idx, unsigned shift);
uint64_t hist_coarse_high(unsigned idx, unsigned shift);

#endif
