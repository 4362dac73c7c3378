// SPDX-License-Identifier: MIT
/*
 * view_heap: the live view's heap at 10,000 endpoints, each with 5
 * requests of spread latencies (0.2-20 ms) in every 1 s interval, after
 * 12 intervals and after 320 (the 5 min window full), or after as many as
 * asked (make bench adds 900: 15 min, past which the view must not grow).
 * A benchmark's figure, no assertion: the bench's live runs last seconds,
 * and the view grows with its windows for 5 minutes.
 *
 *   view_heap [ENDPOINTS] [INTERVALS...]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/snapshot.h"
#include "tui/view.h"

static const char *const WORDS[10] = { "alpha", "bravo", "charlie", "delta", "echo",
				       "foxtrot", "golf", "hotel", "india", "juliet" };

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* One interval: every endpoint a leaf of the fan-out-10 path tree. */
static struct snapshot *interval(size_t neps, uint64_t ts_ms, uint64_t *rng)
{
	struct snapshot *s = snapshot_new(neps);
	if (!s)
		return NULL;
	s->ts_ms = ts_ms;
	s->dur_ms = 1000;
	for (size_t i = 0; i < neps; i++) {
		struct ep_stats *e = &s->eps[i];
		char route[64];
		snprintf(route, sizeof(route), "/ep/%s/%s/%s/%s", WORDS[i / 1000 % 10],
			 WORDS[i / 100 % 10], WORDS[i / 10 % 10], WORDS[i % 10]);
		e->host = snapshot_name(s, "127.0.0.1");
		e->method = snapshot_name(s, "GET");
		e->route = snapshot_name(s, route);
		e->proto = snapshot_name(s, "http/1.1");
		hist_init(&e->lat);
		for (int k = 0; k < 5; k++) {
			uint64_t lat = 200 + next_rand(rng) % 20000;
			struct req_sample r = { .ts_ms = ts_ms, .lat_us = lat, .status = 200,
						.client = { .family = 4, .addr = { 127, 0, 0, 1 },
							    .port = (uint16_t)(10000 + next_rand(rng) % 50000) } };
			e->requests++;
			e->status[1]++;
			e->bytes_in += 80;
			e->bytes_out += 150;
			e->lat_sum_us += lat;
			if (lat > e->lat_max_us)
				e->lat_max_us = lat;
			hist_add(&e->lat, lat);
			ep_slowest_offer(e, &r);
			ep_clients_add(e, &r.client, 1);
			ep_codes_add(e, 200, 1);
		}
	}
	return s;
}

int main(int argc, char **argv)
{
	size_t neps = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	uint64_t rng = 88172645463325252ull;
	struct view v;
	int arg = 2;
	long want = argc > arg ? atol(argv[arg]) : 320;

	if (view_init(&v, 1000, neps))
		return 1;
	size_t base = mallinfo2().uordblks;
	for (long it = 1; it <= want || arg < argc; it++) {
		struct snapshot *s = interval(neps, 1700000000000ull + (uint64_t)it * 1000, &rng);
		struct run_info h = { .target = "bench[1]", .npids = 1, .now_ms = (uint64_t)it * 1000 };
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int err = !s || view_push(&v, s, &h);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		snapshot_free(s);
		if (err) {
			fprintf(stderr, "view_heap: out of memory\n");
			return 1;
		}
		if (it != want)
			continue;
		struct mallinfo2 mi = mallinfo2();
		printf("%zu endpoints, %ld intervals: view heap %.1f MB in use (%zu B per endpoint), "
		       "malloc arena %.1f MB, last push %.1f ms, window step %llu s\n",
		       neps, it, (double)(mi.uordblks - base) / 1048576, (mi.uordblks - base) / neps,
		       (double)(mi.arena + mi.hblkhd) / 1048576,
		       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		       (unsigned long long)(v.live.slot_ms / 1000));
		if (++arg >= argc)
			break;
		want = atol(argv[arg]);
	}
	view_free(&v);
	return 0;
}
