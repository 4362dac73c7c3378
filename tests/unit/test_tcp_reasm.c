// SPDX-License-Identifier: MIT
/* tcp_reasm: reordered, duplicated and overlapping segments give back the
 * original stream; holes past the bound are declared once; FIN comes last. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/pkt_decode.h"
#include "collector/tcp_reasm.h"

#define STREAM 4000

struct sinkbuf {
	uint8_t data[STREAM * 2];
	size_t len;
	uint32_t gaps, gap_bytes;
	int fins;
	size_t len_at_fin;
};

static void on_data(void *ctx, const uint8_t *b, uint32_t n, uint64_t ts)
{
	struct sinkbuf *s = ctx;
	(void)ts;
	assert_int_equal(s->fins, 0);
	assert_true(s->len + n <= sizeof(s->data));
	memcpy(s->data + s->len, b, n);
	s->len += n;
}

static void on_gap(void *ctx, uint32_t n, uint64_t ts)
{
	struct sinkbuf *s = ctx;
	(void)ts;
	s->gaps++;
	s->gap_bytes += n;
}

static void on_fin(void *ctx, uint64_t ts)
{
	struct sinkbuf *s = ctx;
	(void)ts;
	s->fins++;
	s->len_at_fin = s->len;
}

struct seg {
	uint32_t off, len;
};

static uint8_t src[STREAM];
static const struct reasm_limits lim = { .max_ooo_bytes = 1 << 20, .max_ooo_segs = 1000 };

static void feed_all(struct reasm *r, struct sinkbuf *out, const struct seg *segs, size_t n,
		     uint32_t isn)
{
	struct reasm_out o = { on_data, on_gap, on_fin, out, NULL };
	struct reasm_stats st = { 0 };
	for (size_t i = 0; i < n; i++) {
		uint8_t flags = segs[i].off + segs[i].len == STREAM ? TCPF_FIN : 0;
		reasm_feed(r, &lim, &st, isn + segs[i].off, flags | TCPF_ACK, src + segs[i].off,
			   segs[i].len, segs[i].len, 1, &o);
	}
}

static size_t make_segments(struct seg *segs, unsigned seed)
{
	size_t n = 0;
	uint32_t off = 0;
	srand(seed);
	while (off < STREAM) {
		uint32_t len = 1 + (uint32_t)rand() % 300;
		if (off + len > STREAM)
			len = STREAM - off;
		segs[n++] = (struct seg){ off, len };
		off += len;
	}
	return n;
}

static void check_stream(const struct sinkbuf *out)
{
	assert_int_equal(out->len, STREAM);
	assert_memory_equal(out->data, src, STREAM);
	assert_int_equal(out->fins, 1);
	assert_int_equal(out->len_at_fin, STREAM);
	assert_int_equal(out->gaps, 0);
}

static void test_shuffled_duplicated_overlapping(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 200; seed++) {
		struct seg segs[STREAM * 3];
		size_t n = make_segments(segs, seed);
		/* duplicates and overlapping retransmissions spanning neighbours */
		size_t base = n;
		for (size_t i = 0; i < base; i += 3)
			segs[n++] = segs[i];
		for (size_t i = 0; i + 1 < base; i += 4) {
			uint32_t a = segs[i].off + segs[i].len / 2;
			uint32_t b = segs[i + 1].off + segs[i + 1].len;
			segs[n++] = (struct seg){ a, b - a };
		}
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)rand() % (i + 1);
			struct seg t = segs[i];
			segs[i] = segs[j];
			segs[j] = t;
		}
		struct reasm r;
		static struct sinkbuf out;
		memset(&out, 0, sizeof(out));
		reasm_init(&r);
		reasm_sync(&r, 0xfffff000u + seed);      /* wraps around 2^32 */
		feed_all(&r, &out, segs, n, 0xfffff000u + seed);
		check_stream(&out);
		assert_int_equal(r.ooo_segs, 0);
		reasm_free(&r, NULL);
	}
}

static void test_unsynced_ignores_data(void **state)
{
	(void)state;
	struct reasm r;
	static struct sinkbuf out;
	struct seg s = { 0, 100 };
	memset(&out, 0, sizeof(out));
	reasm_init(&r);
	feed_all(&r, &out, &s, 1, 7);
	assert_int_equal(out.len, 0);
	reasm_free(&r, NULL);
}

static void test_hole_declared_when_bound_hit(void **state)
{
	(void)state;
	struct reasm_limits small = { .max_ooo_bytes = 500, .max_ooo_segs = 100 };
	struct reasm_stats st = { 0 };
	static struct sinkbuf out;
	struct reasm_out o = { on_data, on_gap, on_fin, &out, NULL };
	struct reasm r;

	memset(&out, 0, sizeof(out));
	reasm_init(&r);
	reasm_sync(&r, 1000);
	reasm_feed(&r, &small, &st, 1000, TCPF_ACK, src, 100, 100, 1, &o);
	/* bytes 100..199 lost; then 6 segments of 100 bytes wait */
	for (uint32_t off = 200; off < 800; off += 100)
		reasm_feed(&r, &small, &st, 1000 + off, TCPF_ACK, src + off, 100, 100, 1, &o);
	assert_int_equal(out.gaps, 1);
	assert_int_equal(out.gap_bytes, 100);
	assert_int_equal(out.len, 700);
	assert_memory_equal(out.data + 100, src + 200, 600);
	assert_int_equal(st.gaps, 1);
	reasm_free(&r, NULL);
}

/* Streams sharing one reasm_stats share max_queued_bytes: the stream whose
 * segment crosses it gives its hole up; the others keep waiting. */
static void test_queued_bytes_bound_all_streams(void **state)
{
	(void)state;
	struct reasm_limits lim2 = { .max_ooo_bytes = 1000, .max_ooo_segs = 100 };
	struct reasm_stats st = { 0 };
	static struct sinkbuf out[3];
	struct reasm r[3];
	uint64_t one = 0;

	memset(out, 0, sizeof(out));
	for (int i = 0; i < 3; i++) {
		struct reasm_out o = { on_data, on_gap, on_fin, &out[i], NULL };
		reasm_init(&r[i]);
		reasm_sync(&r[i], 1000);
		/* bytes 0..99 never come; 100 bytes wait behind them */
		reasm_feed(&r[i], &lim2, &st, 1100, TCPF_ACK, src + 100, 100, 100, 1, &o);
		if (!i) {
			one = st.queued_bytes;     /* a segment and its header */
			assert_true(one > 100);
			lim2.max_queued_bytes = one * 5 / 2;
		}
	}
	/* two segments wait; the third stream's crossed 2.5 of them */
	assert_int_equal(out[0].gaps, 0);
	assert_int_equal(out[1].gaps, 0);
	assert_int_equal(out[2].gaps, 1);
	assert_int_equal(out[2].gap_bytes, 100);
	assert_int_equal(out[2].len, 100);
	assert_memory_equal(out[2].data, src + 100, 100);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.queued_bytes, 2 * one);
	/* the hole of the first fills: its bytes leave the count */
	struct reasm_out o0 = { on_data, on_gap, on_fin, &out[0], NULL };
	reasm_feed(&r[0], &lim2, &st, 1000, TCPF_ACK, src, 100, 100, 1, &o0);
	assert_int_equal(out[0].len, 200);
	assert_int_equal(st.queued_bytes, one);
	/* freeing a stream with bytes waiting takes them off too */
	reasm_free(&r[1], &st);
	assert_int_equal(st.queued_bytes, 0);
	reasm_free(&r[0], &st);
	reasm_free(&r[2], &st);
	assert_int_equal(st.queued_bytes, 0);
}

static void test_snaplen_tail_is_a_gap(void **state)
{
	(void)state;
	struct reasm_stats st = { 0 };
	static struct sinkbuf out;
	struct reasm_out o = { on_data, on_gap, on_fin, &out, NULL };
	struct reasm r;

	memset(&out, 0, sizeof(out));
	reasm_init(&r);
	reasm_sync(&r, 0);
	reasm_feed(&r, &lim, &st, 0, TCPF_ACK, src, 40, 1000, 1, &o);
	reasm_feed(&r, &lim, &st, 1000, TCPF_ACK | TCPF_FIN, src + 1000, 10, 10, 2, &o);
	assert_int_equal(out.len, 50);
	assert_int_equal(out.gap_bytes, 960);
	assert_int_equal(out.fins, 1);
	reasm_free(&r, NULL);
}

static int fill_src(void **state)
{
	(void)state;
	for (size_t i = 0; i < STREAM; i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shuffled_duplicated_overlapping),
		cmocka_unit_test(test_unsynced_ignores_data),
		cmocka_unit_test(test_hole_declared_when_bound_hit),
		cmocka_unit_test(test_queued_bytes_bound_all_streams),
		cmocka_unit_test(test_snaplen_tail_is_a_gap),
	};
	return cmocka_run_group_tests(tests, fill_src, NULL);
}
