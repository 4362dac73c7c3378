// SPDX-License-Identifier: MIT
/* hist: percentiles within 1% of the exact ones, merges equal one big
 * histogram, and the DB encoding round-trips. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <errno.h>
#include <cmocka.h>

#include "collector/array_room.h"
#include "collector/hist.h"

#define N 20000

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t exact(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* Log-normal-ish latencies from 20 µs to minutes. */
static uint64_t draw(void)
{
	double u = ((double)rand() + 1) / ((double)RAND_MAX + 2);
	return (uint64_t)(20 + exp(6 + 4 * u * u * u) * (1 + (double)(rand() % 100)));
}

static void test_percentiles_vs_exact(void **state)
{
	(void)state;
	static uint64_t v[N];
	struct hist h;
	static const double qs[] = { 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0 };

	for (unsigned seed = 1; seed <= 5; seed++) {
		srand(seed);
		hist_init(&h);
		for (size_t i = 0; i < N; i++) {
			v[i] = draw();
			assert_int_equal(hist_add(&h, v[i]), 0);
		}
		qsort(v, N, sizeof(v[0]), cmp_u64);
		for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			double want = (double)exact(v, N, qs[k]);
			double got = (double)hist_percentile(&h, qs[k]);
			assert_true(fabs(got - want) <= 0.01 * want);
		}
		assert_int_equal(h.count, N);
		assert_int_equal(h.max, v[N - 1]);
		assert_int_equal(h.min, v[0]);
		hist_free(&h);
	}
}

static void test_small_values_exact(void **state)
{
	(void)state;
	struct hist h;
	hist_init(&h);
	for (uint64_t i = 0; i < 100; i++)
		hist_add(&h, i);
	assert_int_equal(hist_percentile(&h, 0.5), 49);
	assert_int_equal(hist_percentile(&h, 1.0), 99);
	assert_int_equal(hist_percentile(&h, 0.01), 0);
	hist_free(&h);
}

static void test_bucket_geometry(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < (1ull << 30); v = v * 3 / 2 + 1) {
		unsigned b = hist_bucket_of(v);
		assert_true(hist_bucket_low(b) <= v && v < hist_bucket_high(b));
		if (v >= 128)
			assert_true((double)(hist_bucket_high(b) - hist_bucket_low(b)) <=
				    (double)hist_bucket_low(b) / 64.0);
	}
	assert_int_equal(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_merge_and_encode(void **state)
{
	(void)state;
	struct hist a, b, all, dec;
	static uint8_t blob[HIST_ENCODED_MAX];

	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	hist_init(&dec);
	srand(42);
	for (int i = 0; i < 5000; i++) {
		uint64_t x = draw();
		hist_add(i % 2 ? &a : &b, x);
		hist_add(&all, x);
	}
	hist_merge(&a, &b);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.sum, all.sum);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		assert_int_equal(hist_bucket_count(&a, i), hist_bucket_count(&all, i));

	size_t n = hist_encode(&all, blob, sizeof(blob));
	assert_true(n > 1);
	assert_int_equal(hist_decode_merge(&dec, blob, n), 0);
	assert_int_equal(dec.count, all.count);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		assert_int_equal(hist_bucket_count(&dec, i), hist_bucket_count(&all, i));
	dec.max = all.max;
	assert_int_equal(hist_percentile(&dec, 0.99), hist_percentile(&all, 0.99));

	/* a cut or corrupted blob changes nothing */
	uint64_t before = dec.count;
	assert_int_equal(hist_decode_merge(&dec, blob, n - 1 > 1 ? n - 1 : 1) == 0 ||
			 dec.count == before, 1);
	blob[0] = 9;
	assert_int_equal(hist_decode_merge(&dec, blob, n), -EINVAL);
	assert_int_equal(hist_encode(&all, blob, 3), 0);
	hist_free(&a);
	hist_free(&b);
	hist_free(&all);
	hist_free(&dec);
}

struct each_check {
	const struct hist *h;
	uint64_t total;
	int last;
};

static void each_bucket(void *ctx, unsigned idx, uint64_t n)
{
	struct each_check *c = ctx;
	assert_true((int)idx > c->last || (c->total == 0 && idx == 0));
	assert_int_equal(n, hist_bucket_count(c->h, idx));
	c->last = (int)idx;
	c->total += n;
}

static size_t ref_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	for (; v >= 0x80; v >>= 7)
		p[n++] = (uint8_t)(v | 0x80);
	p[n++] = (uint8_t)v;
	return n;
}

/* The blob encoding of h, written out from hist.h's description bucket by
 * bucket (not by hist.c's code): what every packed form must equal. */
static size_t ref_blob(const struct hist *h, uint8_t *out)
{
	size_t n = 0;
	unsigned next = 0;

	out[n++] = HIST_BLOB_VERSION;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint64_t c = hist_bucket_count(h, i);
		if (!c)
			continue;
		n += ref_varint(out + n, c << 1 | (i != next));
		if (i != next)
			n += ref_varint(out + n, i - next - 1);
		next = i + 1;
	}
	return n;
}

/* The blob's bytes, known by hand: a neighbour's bucket costs its count
 * alone, a gap one more varint; the DB's reader takes them and refuses a
 * cut one or one past the last bucket; dense buckets take fewer bytes than
 * hist_encode()'s. */
static void test_blob_encoding(void **state)
{
	(void)state;
	static const uint8_t want[] = { HIST_BLOB_VERSION, 0x06, 0x02, 0x91, 0x03, 0x02 };
	struct hist_blob b = { 0 };
	struct hist h, dec;

	hist_init(&h);
	assert_int_equal(hist_add_n(&h, 0, 3), 0);
	assert_int_equal(hist_add_n(&h, 1, 1), 0);
	assert_int_equal(hist_add_n(&h, 5, 200), 0);
	assert_int_equal(hist_blob_add(&b, &h), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.buf, want, sizeof(want));
	hist_init(&dec);
	assert_int_equal(hist_decode_merge(&dec, b.buf, b.len), 0);
	assert_int_equal(dec.count, 204);
	assert_int_equal(hist_bucket_count(&dec, 5), 200);
	assert_int_equal(hist_decode_merge(&dec, b.buf, b.len - 2), -EINVAL);   /* gap cut */
	static const uint8_t past[] = { HIST_BLOB_VERSION, 0x03, 0xff, 0x7f };   /* gap 16383 */
	assert_int_equal(hist_decode_merge(&dec, past, sizeof(past)), -EINVAL);
	assert_int_equal(dec.count, 204);
	hist_free(&dec);
	hist_free(&h);
	hist_blob_free(&b);

	hist_init(&h);
	for (uint64_t x = 200; x < 20000; x += 7)
		assert_int_equal(hist_add(&h, x), 0);
	assert_int_equal(hist_blob_add_shifted(&b, &h, 2), 0);
	static uint8_t v1[HIST_ENCODED_MAX];
	struct hist coarse;
	hist_init(&coarse);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		assert_int_equal(hist_add_n(&coarse, hist_bucket_low(i >> 2 << 2), hist_bucket_count(&h, i)), 0);
	size_t n1 = hist_encode(&coarse, v1, sizeof(v1));
	assert_true(b.len < n1 * 3 / 4);
	hist_free(&coarse);
	hist_free(&h);
	hist_blob_free(&b);
}

/* Intervals added packed, one by one, hold exactly what one full
 * histogram of every value holds: buckets, count, sum, min, max. */
static void test_packed_equals_full(void **state)
{
	(void)state;
	struct hist_packed p = { 0 };
	struct hist all, iv, un;

	hist_init(&all);
	hist_init(&un);
	srand(7);
	for (int round = 0; round < 40; round++) {
		hist_init(&iv);
		/* some rounds empty, some one value, most many */
		int n = round % 10 == 3 ? 0 : round % 10 == 5 ? 1 : rand() % 300;
		for (int i = 0; i < n; i++) {
			uint64_t x = round == 9 ? 5 : draw();   /* one round all in bucket 5 */
			assert_int_equal(hist_add(&iv, x), 0);
			assert_int_equal(hist_add(&all, x), 0);
		}
		assert_int_equal(hist_packed_add(&p, &iv), 0);
		hist_free(&iv);
		assert_int_equal(p.count, all.count);
	}
	/* the buckets, decoded as the DB's reader decodes them */
	assert_int_equal(hist_decode_merge(&un, p.b.buf, p.b.len), 0);
	assert_int_equal(un.count, all.count);
	assert_int_equal(p.sum, all.sum);
	assert_int_equal(p.min, all.min);
	assert_int_equal(p.max, all.max);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		assert_int_equal(hist_bucket_count(&un, i), hist_bucket_count(&all, i));
	for (double q = 0.05; q < 1.0; q += 0.05)
		assert_int_equal(hist_packed_percentile(&p, q), hist_percentile(&all, q));
	/* read off the encoding as off the full one, the ends included */
	static const double qs[] = { 0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1 };
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		assert_int_equal(hist_packed_percentile(&p, qs[i]), hist_percentile(&all, qs[i]));
	/* every bucket once, in order, with its count */
	struct each_check ec = { .h = &all };
	hist_blob_each(&p.b, each_bucket, &ec);
	assert_int_equal(ec.total, all.count);
	/* byte for byte what encoding the full one gives */
	static uint8_t blob[HIST_ENCODED_MAX];
	size_t n = ref_blob(&all, blob);
	assert_int_equal(p.b.len, n);
	assert_memory_equal(p.b.buf, blob, n);
	hist_packed_free(&p);
	assert_null(p.b.buf);
	assert_int_equal(p.count, 0);
	hist_free(&all);
	hist_free(&un);
}

/* Packed into coarse buckets (fine >> 2): count, sum, min and max exact;
 * each percentile in the coarse bucket of the exact one, so within its
 * width (a sixteenth of a power of two, 4 µs below 128) of the full
 * histogram's answer; one value alone read back exactly (clamped to
 * min = max), 0 µs included. */
static void test_packed_shifted(void **state)
{
	(void)state;
	struct hist_packed p = { 0 }, one = { 0 };
	struct hist all, iv;

	hist_init(&all);
	srand(11);
	for (int round = 0; round < 30; round++) {
		hist_init(&iv);
		for (int i = 0; i < 200; i++) {
			uint64_t x = draw();
			assert_int_equal(hist_add(&iv, x), 0);
			assert_int_equal(hist_add(&all, x), 0);
		}
		assert_int_equal(hist_packed_add_shifted(&p, &iv, 2), 0);
		hist_free(&iv);
	}
	assert_int_equal(p.count, all.count);
	assert_int_equal(p.sum, all.sum);
	assert_int_equal(p.min, all.min);
	assert_int_equal(p.max, all.max);
	for (double q = 0.05; q < 1.0; q += 0.05) {
		uint64_t exact = hist_percentile(&all, q), coarse = hist_packed_percentile_shifted(&p, q, 2);
		uint64_t d = exact > coarse ? exact - coarse : coarse - exact;
		assert_true(d <= exact / 16 + 1);
	}
	/* one value alone, at the linear range's ends, an octave edge, the clamp */
	static const uint64_t lone[] = { 0, 5, 127, 128, 12345, 1ull << 41 };
	for (size_t k = 0; k < sizeof(lone) / sizeof(lone[0]); k++) {
		hist_init(&iv);
		assert_int_equal(hist_add_n(&iv, lone[k], 7), 0);
		assert_int_equal(hist_packed_add_shifted(&one, &iv, 2), 0);
		assert_int_equal(hist_packed_percentile_shifted(&one, 0.99, 2), iv.max);
		assert_int_equal(hist_packed_percentile_shifted(&one, 0.5, 2), iv.min);
		hist_free(&iv);
		hist_packed_free(&one);
	}
	/* values below 128 µs: within the coarse bucket's 4 µs */
	hist_init(&iv);
	for (uint64_t x = 0; x < 128; x++)
		assert_int_equal(hist_add(&iv, x), 0);
	assert_int_equal(hist_packed_add_shifted(&one, &iv, 2), 0);
	for (double q = 0.05; q < 1.0; q += 0.05) {
		uint64_t exact = hist_percentile(&iv, q), coarse = hist_packed_percentile_shifted(&one, q, 2);
		assert_true(exact > coarse ? exact - coarse < 4 : coarse - exact < 4);
	}
	hist_free(&iv);
	hist_free(&all);
	hist_packed_free(&p);
	hist_packed_free(&one);
}

/* Two packed histograms merged in their encoding hold what one of every
 * value holds, byte for byte; empty sides change nothing. */
/* p holds what h holds: ref_blob()'s bytes and the exact count, sum,
 * min and max. */
static void assert_packed_is(const struct hist_packed *p, const struct hist *h)
{
	static uint8_t blob[HIST_ENCODED_MAX];
	size_t n = ref_blob(h, blob);

	assert_int_equal(p->b.len, n);
	assert_memory_equal(p->b.buf, blob, n);
	assert_int_equal(p->count, h->count);
	assert_int_equal(p->sum, h->sum);
	assert_int_equal(p->min, h->min);
	assert_int_equal(p->max, h->max);
}

static void test_packed_merge(void **state)
{
	(void)state;
	struct hist_packed a = { 0 }, b = { 0 }, none = { 0 };
	struct hist all, ha, hb;

	srand(11);
	hist_init(&all);
	for (int round = 0; round < 20; round++) {
		hist_init(&ha);
		hist_init(&hb);
		for (int i = rand() % 200; i > 0; i--) {
			uint64_t x = draw();
			assert_int_equal(hist_add(i % 3 ? &ha : &hb, x), 0);
			assert_int_equal(hist_add(&all, x), 0);
		}
		assert_int_equal(hist_packed_add(&a, &ha), 0);
		assert_int_equal(hist_packed_add(&b, &hb), 0);
		hist_free(&ha);
		hist_free(&hb);
	}
	assert_int_equal(hist_packed_merge(&a, &none), 0);
	assert_int_equal(hist_packed_merge(&none, &b), 0);     /* into an empty one */
	assert_int_equal(none.b.len, b.b.len);
	assert_memory_equal(none.b.buf, b.b.buf, b.b.len);
	assert_int_equal(hist_packed_merge(&a, &b), 0);
	assert_packed_is(&a, &all);
	hist_packed_free(&a);
	hist_packed_free(&b);
	hist_packed_free(&none);
	hist_free(&all);
}

/* A cleared packed histogram reads as a new one and takes the next
 * interval's values in the same buffer; adds that fit are made in place;
 * every encoding equals ref_blob()'s of the same values. */
static void test_packed_clear_reuses(void **state)
{
	(void)state;
	struct hist_packed p = { 0 };
	struct hist h, all;

	srand(5);
	for (int round = 0; round < 30; round++) {
		hist_packed_clear(&p);
		assert_int_equal(p.count, 0);
		assert_int_equal(hist_packed_percentile(&p, 0.5), 0);
		uint8_t *buf = p.b.buf;
		uint32_t cap = p.b.cap;
		hist_init(&all);
		for (int k = 0; k < 3; k++) {
			hist_init(&h);
			for (int i = 1 + rand() % 20; i > 0; i--) {
				uint64_t x = draw();
				assert_int_equal(hist_add(&h, x), 0);
				assert_int_equal(hist_add(&all, x), 0);
			}
			assert_int_equal(hist_packed_add(&p, &h), 0);
			/* in place whenever it fits what the buffer holds */
			if (buf && p.b.len <= cap)
				assert_ptr_equal(p.b.buf, buf);
			buf = p.b.buf;
			cap = p.b.cap;
			assert_true(p.b.len <= p.b.cap);
			hist_free(&h);
		}
		assert_packed_is(&p, &all);
		assert_int_equal(hist_packed_percentile(&p, 0.9), hist_percentile(&all, 0.9));
		hist_free(&all);
	}
	hist_packed_free(&p);
	assert_null(p.b.buf);
}

/* The room an array grown by doubling has: a power of two, capped. */
static void test_array_room(void **state)
{
	(void)state;
	static const size_t want[][3] = {   /* n, max, room */
		{ 0, 8, 0 }, { 1, 8, 1 }, { 2, 8, 2 }, { 3, 8, 4 }, { 5, 8, 8 },
		{ 8, 8, 8 }, { 3, 3, 3 }, { 2, 3, 2 }, { 5, 560, 8 }, { 513, 560, 560 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(array_room(want[i][0], want[i][1]), want[i][2]);
}

/* Chunks added from the top bucket down (each new one goes first, the
 * others move up) into an array grown by doubling: every count stays where
 * it was put, and the bytes held are the room, not one chunk more each
 * time (ASan: nothing is written past the room). */
static void test_chunks_grow_by_doubling(void **state)
{
	(void)state;
	struct hist h;
	unsigned first = HIST_LINEAR / HIST_CHUNK, n = 40;

	hist_init(&h);
	for (unsigned k = 0; k < n; k++) {
		unsigned idx = (first + n - 1 - k) * HIST_CHUNK + k % HIST_CHUNK;
		assert_int_equal(hist_add_n(&h, hist_bucket_low(idx), k + 1), 0);
		assert_int_equal(hist_bytes(&h), array_room(k + 1, HIST_NCHUNKS) * HIST_CHUNK * 8);
		for (unsigned j = 0; j <= k; j++) {
			unsigned at = (first + n - 1 - j) * HIST_CHUNK + j % HIST_CHUNK;
			assert_int_equal(hist_bucket_count(&h, at), j + 1);
			assert_int_equal(hist_bucket_count(&h, at ^ 1), 0);
		}
	}
	assert_int_equal(h.count, n * (n + 1) / 2);
	hist_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentiles_vs_exact),
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_bucket_geometry),
		cmocka_unit_test(test_merge_and_encode),
		cmocka_unit_test(test_blob_encoding),
		cmocka_unit_test(test_packed_equals_full),
		cmocka_unit_test(test_packed_merge),
		cmocka_unit_test(test_packed_shifted),
		cmocka_unit_test(test_packed_clear_reuses),
		cmocka_unit_test(test_array_room),
		cmocka_unit_test(test_chunks_grow_by_doubling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
