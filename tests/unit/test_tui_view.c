// SPDX-License-Identifier: MIT
/* tui view model: formatting, windows from pushed snapshots, sorting by
 * every column, filtering, selection, keys, clear, the OTHER row, the
 * detail's latency ranges and request extras. No terminal involved. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/agg.h"
#include "format/units.h"
#include "tui/keys.h"
#include "tui/view.h"
#include "tui/window.h"
#include "peer_text.h"

/* One endpoint of a test snapshot. */
struct ep_spec {
	const char *method, *route;
	uint64_t n2, n3, n4, n5;
	uint64_t lat_us;              /* every request this latency */
	uint64_t in, out;
};

static struct snapshot *snap(uint64_t ts_ms, uint64_t dur_ms, const struct ep_spec *e, size_t n)
{
	struct snapshot *s = snapshot_new(n);
	assert_non_null(s);
	s->ts_ms = ts_ms;
	s->dur_ms = dur_ms;
	for (size_t i = 0; i < n; i++) {
		struct ep_stats *x = &s->eps[i];
		assert_non_null(x->method = snapshot_name(s, e[i].method));
		assert_non_null(x->route = snapshot_name(s, e[i].route));
		x->status[1] = e[i].n2;
		x->status[2] = e[i].n3;
		x->status[3] = e[i].n4;
		x->status[4] = e[i].n5;
		x->requests = e[i].n2 + e[i].n3 + e[i].n4 + e[i].n5;
		x->bytes_in = e[i].in;
		x->bytes_out = e[i].out;
		hist_init(&x->lat);
		hist_add_n(&x->lat, e[i].lat_us, x->requests);
		x->lat_sum_us = e[i].lat_us * x->requests;
		x->lat_max_us = x->requests ? e[i].lat_us : 0;
	}
	return s;
}

static void push(struct view *v, uint64_t ts, const struct ep_spec *e, size_t n)
{
	struct snapshot *s = snap(ts, 1000, e, n);
	struct run_info h = { .target = "nginx[42]", .npids = 3, .started_ms = 0, .now_ms = ts + 1000 };
	assert_int_equal(view_push(v, s, &h), 0);
	snapshot_free(s);
}

static const struct view_row *find(const struct view *v, const char *route)
{
	for (size_t i = 0; i < v->nvis; i++)
		if (!strcmp(view_row_at(v, i)->route, route))
			return view_row_at(v, i);
	return NULL;
}

/* ---- format -------------------------------------------------------------- */

/* fmt_latency() as it was, with printf's %f: the reference. */
static void latency_printf(uint64_t us, char *buf, size_t n)
{
	double v = (double)us;
	if (us < 1000)
		snprintf(buf, n, "%lu\u00b5s", (unsigned long)us);
	else if (us < 9995)
		snprintf(buf, n, "%.2fms", v / 1e3);
	else if (us < 99950)
		snprintf(buf, n, "%.1fms", v / 1e3);
	else if (us < 999500)
		snprintf(buf, n, "%.0fms", v / 1e3);
	else if (us < 9995000)
		snprintf(buf, n, "%.2fs", v / 1e6);
	else if (us < 99950000)
		snprintf(buf, n, "%.1fs", v / 1e6);
	else if (us < 999500000)
		snprintf(buf, n, "%.0fs", v / 1e6);
	else
		snprintf(buf, n, "%.1fm", v / 6e7);
}

/* fmt_bytes() and fmt_rate() as they were, with printf's %f. */
static void bytes_printf(double v, char *buf, size_t n)
{
	static const char unit[] = "BKMGTP";
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%.0fB", v);
	else
		snprintf(buf, n, v < 10 ? "%.1f%c" : "%.0f%c", v, unit[u]);
}

static void rate_printf(double r, char *buf, size_t n)
{
	if (r < 10)
		snprintf(buf, n, "%.1f", r);
	else if (r < 10000)
		snprintf(buf, n, "%.0f", r);
	else if (r < 1e6)
		snprintf(buf, n, "%.1fk", r / 1e3);
	else
		snprintf(buf, n, "%.1fM", r / 1e6);
}

/* The first value at or above us exactly halfway between two shown ones. */
static uint64_t half_above(uint64_t us)
{
	static const struct { uint64_t below, unit; } step[] = {
		{ 9995, 10 }, { 99950, 100 }, { 999500, 1000 }, { 9995000, 10000 },
		{ 99950000, 100000 }, { 999500000, 1000000 }, { UINT64_MAX, 6000000 },
	};
	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++)
		if (us < step[i].below)
			return us / step[i].unit * step[i].unit + step[i].unit / 2;
	return us;
}

static void test_format_units(void **st)
{
	char b[32];
	(void)st;
	assert_string_equal(fmt_latency(0, b, sizeof(b)), "0\u00b5s");
	assert_string_equal(fmt_latency(850, b, sizeof(b)), "850\u00b5s");
	assert_string_equal(fmt_latency(4250, b, sizeof(b)), "4.25ms");
	assert_string_equal(fmt_latency(12345, b, sizeof(b)), "12.3ms");
	assert_string_equal(fmt_latency(123456, b, sizeof(b)), "123ms");
	assert_string_equal(fmt_latency(999999, b, sizeof(b)), "1.00s");
	assert_string_equal(fmt_latency(2350000, b, sizeof(b)), "2.35s");
	assert_string_equal(fmt_latency(600000000, b, sizeof(b)), "600s");
	assert_string_equal(fmt_latency(3000000000ull, b, sizeof(b)), "50.0m");
	assert_string_equal(fmt_count(99999, b, sizeof(b)), "99999");
	assert_string_equal(fmt_count(123456, b, sizeof(b)), "123k");
	assert_string_equal(fmt_count(1234567, b, sizeof(b)), "1.23M");
	assert_string_equal(fmt_count(999999999, b, sizeof(b)), "1.00G");
	assert_string_equal(fmt_bytes(512, b, sizeof(b)), "512B");
	assert_string_equal(fmt_bytes(1536, b, sizeof(b)), "1.5K");
	assert_string_equal(fmt_bytes(23.0 * 1024 * 1024, b, sizeof(b)), "23M");
	assert_string_equal(fmt_bytes(1.2 * 1024 * 1024 * 1024, b, sizeof(b)), "1.2G");
	assert_string_equal(fmt_rate(0.25, b, sizeof(b)), "0.2");
	assert_string_equal(fmt_rate(12345, b, sizeof(b)), "12.3k");
	assert_string_equal(fmt_uptime(45, b, sizeof(b)), "45s");
	assert_string_equal(fmt_uptime(725, b, sizeof(b)), "12m05s");
	assert_string_equal(fmt_uptime(3 * 3600 + 120, b, sizeof(b)), "3h02m");
	assert_string_equal(fmt_uptime(2 * 86400 + 3 * 3600, b, sizeof(b)), "2d03h");
	/* Every short latency fits a 6-column field. */
	for (uint64_t us = 1; us < 10000000000ull; us = us * 3 + 7)
		assert_true(strlen(fmt_latency(us, b, sizeof(b))) <= 7);   /* µ = 2 bytes */
	/* In integers, as printf's %.Nf wrote it, halves included (printf
	 * rounds the nearest double: 398.5 ms is exact and even, 4.005 lies
	 * below). Every value to 20 ms, then a step of 5 %, the halves too. */
	for (uint64_t us = 0; us < 20000000000ull; us = us < 20000 ? us + 1 : us * 21 / 20 + 1) {
		char want[32];
		latency_printf(us, want, sizeof(want));
		assert_string_equal(fmt_latency(us, b, sizeof(b)), want);
		uint64_t h = half_above(us);
		latency_printf(h, want, sizeof(want));
		assert_string_equal(fmt_latency(h, b, sizeof(b)), want);
	}
	/* Bytes, rates and percents the same way, against printf itself: steps
	 * of 1/40 (exact halves among them), then spread doubles to 1e13. */
	uint64_t x = 12345;
	for (int i = 0; i < 400000; i++) {
		double v;
		if (i < 200000) {
			v = i / 40.0;
		} else {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			v = (double)(x >> 11) / (double)(1ull << 53) * pow(10, (double)(i % 14));
		}
		char want[32];
		bytes_printf(v, want, sizeof(want));
		assert_string_equal(fmt_bytes(v, b, sizeof(b)), want);
		rate_printf(v, want, sizeof(want));
		assert_string_equal(fmt_rate(v, b, sizeof(b)), want);
		snprintf(want, sizeof(want), "%.1f", v);
		assert_string_equal(fmt_fixed1(v, b, sizeof(b)), want);
	}
	for (uint64_t v = 0; v < UINT64_MAX / 7; v = v * 7 + 3) {
		char want[32];
		snprintf(want, sizeof(want), "%lu", (unsigned long)v);
		assert_string_equal(fmt_uint(v, b, sizeof(b)), want);
	}
	assert_string_equal(fmt_uint(UINT64_MAX, b, sizeof(b)), "18446744073709551615");
	assert_string_equal(fmt_latency(398500, b, sizeof(b)), "398ms");
	assert_string_equal(fmt_latency(4005, b, sizeof(b)), "4.00ms");
	assert_string_equal(fmt_latency(1234567, b, 4), "1.2");   /* cut to the buffer */
}

static void test_format_middle(void **st)
{
	char b[64];
	(void)st;
	assert_string_equal(fmt_middle("/api/v1/users/:id", 40, b, sizeof(b)), "/api/v1/users/:id");
	assert_string_equal(fmt_middle("/api/v1/users/:id/orders/:id", 14, b, sizeof(b)),
			    "/api/v..rs/:id");
	assert_int_equal(strlen(fmt_middle("/api/v1/users/:id/orders/:id", 14, b, sizeof(b))), 14);
	fmt_middle("/api/v1/users/:id/orders/:id", 15, b, sizeof(b));
	assert_int_equal(strlen(b), 15);
	assert_memory_equal(b, "/api/v", 6);
	assert_string_equal(b + strlen(b) - 7, "ers/:id");
	assert_string_equal(fmt_middle("abcdefgh", 4, b, sizeof(b)), "abcd");
}

/* ---- windows ------------------------------------------------------------- */

static void test_windows(void **st)
{
	struct view v;
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	/* 400 one-second intervals: /a gets 1 req/s at 1 ms; /b 10 req/s for
	 * the last 30 s only at 20 ms. */
	for (int i = 0; i < 400; i++) {
		struct ep_spec e[2] = {
			{ "GET", "/a", .n2 = 1, .lat_us = 1000, .in = 100, .out = 1000 },
			{ "GET", "/b", .n2 = 9, .n5 = 1, .lat_us = 20000, .in = 10, .out = 10 },
		};
		push(&v, (uint64_t)i * 1000, e, i >= 370 ? 2 : 1);
	}
	const struct view_row *a, *b;

	view_set_window(&v, WIN_LAST);
	a = find(&v, "/a");
	b = find(&v, "/b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->st.requests, 1);
	assert_int_equal(b->st.requests, 10);
	assert_int_equal(b->st.status[4], 1);
	assert_true(b->err_pct > 9.99 && b->err_pct < 10.01);
	assert_true(a->rate > 0.99 && a->rate < 1.01);

	/* 1 min: 60 s up to 60 s + one slot (5 s); rate is exact. */
	view_set_window(&v, WIN_1MIN);
	a = find(&v, "/a");
	b = find(&v, "/b");
	assert_true(a->st.dur_ms >= 60000 && a->st.dur_ms <= 65000);
	assert_int_equal(a->st.requests, a->st.dur_ms / 1000);
	assert_true(a->rate > 0.99 && a->rate < 1.01);
	assert_int_equal(b->st.requests, 300);                     /* only 30 s of /b */
	assert_true(b->rate > 300.0 / 65 - 0.01 && b->rate < 300.0 / 60 + 0.01);
	/* Coarse window percentiles within 3%. */
	assert_true(b->st.p50 >= 19400 && b->st.p50 <= 20000);
	assert_true(a->st.p99 >= 970 && a->st.p99 <= 1030);
	assert_int_equal(b->st.lat_max_us, 20000);

	view_set_window(&v, WIN_5MIN);
	a = find(&v, "/a");
	assert_true(a->st.dur_ms >= 300000 && a->st.dur_ms <= 305000);
	assert_int_equal(a->st.requests, a->st.dur_ms / 1000);
	assert_int_equal(find(&v, "/b")->st.requests, 300);

	view_set_window(&v, WIN_ALL);
	a = find(&v, "/a");
	assert_int_equal(a->st.requests, 400);
	assert_int_equal(a->st.dur_ms, 400000);
	assert_int_equal(a->st.bytes_out, 400000);
	assert_int_equal(a->st.p50, hist_percentile(&(struct hist){ 0 }, 0.5) + 1000);
	assert_int_equal(v.shown.all.requests, 400 + 300);
	assert_int_equal(v.shown.last.requests, 11);

	/* An endpoint idle in the last interval shows zeros, not stale data. */
	push(&v, 400000, (struct ep_spec[]){ { "GET", "/a", .n2 = 1, .lat_us = 1000 } }, 1);
	view_set_window(&v, WIN_LAST);
	assert_int_equal(find(&v, "/b")->st.requests, 0);
	view_free(&v);
}

static void test_window_slots_long_interval(void **st)
{
	struct win_clock c;
	(void)st;
	win_clock_init(&c, 60000);
	assert_int_equal(c.ips, 1);
	win_clock_init(&c, 1000);
	assert_int_equal(c.ips, 5);
	win_clock_init(&c, 300);
	assert_int_equal(c.ips, 17);
}

/* ---- sorting and filtering ----------------------------------------------- */

static void setup_three(struct view *v)
{
	assert_int_equal(view_init(v, 1000, 0), 0);
	struct ep_spec e[3] = {
		{ "GET", "/alpha", .n2 = 50, .lat_us = 500, .in = 3000, .out = 100 },
		{ "POST", "/beta/items", .n2 = 5, .n3 = 7, .n4 = 20, .lat_us = 90000, .in = 1000, .out = 900000 },
		{ "DELETE", "/gamma/items", .n2 = 10, .n5 = 2, .lat_us = 5000, .in = 50000, .out = 10 },
	};
	push(v, 0, e, 3);
}

static void order(const struct view *v, const char *r0, const char *r1, const char *r2)
{
	assert_int_equal(v->nvis, 3);
	assert_string_equal(view_row_at(v, 0)->route, r0);
	assert_string_equal(view_row_at(v, 1)->route, r1);
	assert_string_equal(view_row_at(v, 2)->route, r2);
}

static void test_sort_every_column(void **st)
{
	struct view v;
	(void)st;
	setup_three(&v);
	/* default: REQ/S, biggest first */
	order(&v, "/alpha", "/beta/items", "/gamma/items");
	/* Reversing flips the key; ties stay in route order either way. */
	static const struct {
		enum col_id col;
		const char *r[3], *rev[3];
	} want[] = {
		{ COL_METHOD, { "/gamma/items", "/alpha", "/beta/items" }, { "/beta/items", "/alpha", "/gamma/items" } },
		{ COL_ROUTE, { "/alpha", "/beta/items", "/gamma/items" }, { "/gamma/items", "/beta/items", "/alpha" } },
		{ COL_RATE, { "/alpha", "/beta/items", "/gamma/items" }, { "/gamma/items", "/beta/items", "/alpha" } },
		{ COL_TOTAL, { "/alpha", "/beta/items", "/gamma/items" }, { "/gamma/items", "/beta/items", "/alpha" } },
		{ COL_2XX, { "/alpha", "/gamma/items", "/beta/items" }, { "/beta/items", "/gamma/items", "/alpha" } },
		{ COL_3XX, { "/beta/items", "/alpha", "/gamma/items" }, { "/alpha", "/gamma/items", "/beta/items" } },
		{ COL_4XX, { "/beta/items", "/alpha", "/gamma/items" }, { "/alpha", "/gamma/items", "/beta/items" } },
		{ COL_5XX, { "/gamma/items", "/alpha", "/beta/items" }, { "/alpha", "/beta/items", "/gamma/items" } },
		{ COL_ERR, { "/beta/items", "/gamma/items", "/alpha" }, { "/alpha", "/gamma/items", "/beta/items" } },
		{ COL_P50, { "/beta/items", "/gamma/items", "/alpha" }, { "/alpha", "/gamma/items", "/beta/items" } },
		{ COL_P90, { "/beta/items", "/gamma/items", "/alpha" }, { "/alpha", "/gamma/items", "/beta/items" } },
		{ COL_P99, { "/beta/items", "/gamma/items", "/alpha" }, { "/alpha", "/gamma/items", "/beta/items" } },
		{ COL_MAX, { "/beta/items", "/gamma/items", "/alpha" }, { "/alpha", "/gamma/items", "/beta/items" } },
		{ COL_IN, { "/gamma/items", "/alpha", "/beta/items" }, { "/beta/items", "/alpha", "/gamma/items" } },
		{ COL_OUT, { "/beta/items", "/alpha", "/gamma/items" }, { "/gamma/items", "/alpha", "/beta/items" } },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		view_sort_by(&v, want[i].col);
		order(&v, want[i].r[0], want[i].r[1], want[i].r[2]);
		view_sort_reverse(&v);
		order(&v, want[i].rev[0], want[i].rev[1], want[i].rev[2]);
	}
	view_free(&v);
}

static void test_sort_keys(void **st)
{
	struct view v;
	(void)st;
	setup_three(&v);
	view_set_size(&v, 40, 200);
	assert_int_equal(keys_dispatch(&v, 'L'), REACT_REDRAW);
	assert_int_equal(v.sort, COL_P99);
	order(&v, "/beta/items", "/gamma/items", "/alpha");
	keys_dispatch(&v, 'E');
	assert_int_equal(v.sort, COL_ERR);
	keys_dispatch(&v, 'T');
	assert_int_equal(v.sort, COL_TOTAL);
	keys_dispatch(&v, 'R');
	assert_int_equal(v.sort, COL_RATE);
	keys_dispatch(&v, '>');
	assert_int_equal(v.sort, COL_TOTAL);
	keys_dispatch(&v, '<');
	keys_dispatch(&v, '<');
	assert_int_equal(v.sort, COL_ROUTE);
	assert_false(v.sort_desc);
	keys_dispatch(&v, 'r');
	order(&v, "/gamma/items", "/beta/items", "/alpha");
	/* At 80 columns '<' from METHOD wraps to the last *visible* column. */
	view_set_size(&v, 24, 80);
	view_sort_by(&v, COL_METHOD);
	keys_dispatch(&v, '<');
	assert_int_equal(v.sort, COL_P99);
	assert_int_equal(keys_dispatch(&v, 'q'), REACT_QUIT);
	view_free(&v);
}

static void test_filter_and_selection(void **st)
{
	struct view v;
	(void)st;
	setup_three(&v);
	view_set_size(&v, 24, 80);
	keys_dispatch(&v, KEYS_DOWN);
	assert_string_equal(view_selected(&v)->route, "/beta/items");
	/* '/' opens the prompt; typing does not filter until Enter. */
	keys_dispatch(&v, '/');
	assert_true(v.prompt);
	for (const char *p = "items"; *p; p++)
		keys_dispatch(&v, *p);
	assert_int_equal(v.nvis, 3);
	assert_string_equal(v.prompt_buf, "items");
	keys_dispatch(&v, KEYS_ENTER);
	assert_false(v.prompt);
	assert_string_equal(v.filter, "items");
	assert_int_equal(v.nvis, 2);
	/* the selection stays on its endpoint */
	assert_string_equal(view_selected(&v)->route, "/beta/items");
	/* Backspace in the prompt, and a filter that matches nothing. */
	keys_dispatch(&v, '/');
	keys_dispatch(&v, KEYS_BACKSPACE);
	keys_dispatch(&v, 'z');
	keys_dispatch(&v, KEYS_ENTER);
	assert_string_equal(v.filter, "itemz");
	assert_int_equal(v.nvis, 0);
	assert_null(view_selected(&v));
	assert_false(view_open_detail(&v));
	/* Esc in the prompt clears the filter. */
	keys_dispatch(&v, '/');
	keys_dispatch(&v, KEYS_ESC);
	assert_string_equal(v.filter, "");
	assert_int_equal(v.nvis, 3);
	/* Navigation clamps. */
	keys_dispatch(&v, KEYS_END);
	assert_int_equal(v.sel, 2);
	keys_dispatch(&v, KEYS_PGDN);
	assert_int_equal(v.sel, 2);
	keys_dispatch(&v, KEYS_HOME);
	assert_int_equal(v.sel, 0);
	keys_dispatch(&v, 'k');
	assert_int_equal(v.sel, 0);
	keys_dispatch(&v, 'j');
	assert_int_equal(v.sel, 1);
	/* The selection follows its endpoint through re-sorts. */
	keys_dispatch(&v, 'L');
	assert_string_equal(view_selected(&v)->route, "/beta/items");
	assert_int_equal(v.sel, 0);
	view_free(&v);
}

static void test_scroll(void **st)
{
	struct view v;
	struct ep_spec e[100];
	char routes[100][16];
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(routes[i], sizeof(routes[i]), "/r%03d", i);
		e[i] = (struct ep_spec){ "GET", routes[i], .n2 = (uint64_t)(200 - i), .lat_us = 100 };
	}
	push(&v, 0, e, 100);
	view_set_size(&v, 24, 80);
	assert_int_equal(view_page(&v), 17);
	keys_dispatch(&v, KEYS_PGDN);
	assert_int_equal(v.sel, 17);
	assert_int_equal(v.top, 1);
	keys_dispatch(&v, KEYS_END);
	assert_int_equal(v.sel, 99);
	assert_int_equal(v.top, 83);
	keys_dispatch(&v, KEYS_PGUP);
	assert_int_equal(v.sel, 82);
	assert_int_equal(v.top, 82);
	view_free(&v);
}

/* ---- pause, clear, limits ------------------------------------------------ */

static void test_pause_and_clear(void **st)
{
	struct view v;
	struct ep_spec e = { "GET", "/x", .n2 = 5, .lat_us = 100 };
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	push(&v, 0, &e, 1);
	view_set_window(&v, WIN_ALL);
	keys_dispatch(&v, 'p');
	assert_true(v.paused);
	push(&v, 1000, &e, 1);
	push(&v, 2000, &e, 1);
	assert_int_equal(find(&v, "/x")->st.requests, 5);       /* display frozen */
	assert_int_equal(v.shown.all.requests, 5);
	assert_int_equal(v.paused_pushes, 2);
	keys_dispatch(&v, 'p');
	assert_int_equal(find(&v, "/x")->st.requests, 15);      /* data kept coming */
	keys_dispatch(&v, 'c');
	assert_int_equal(v.nvis, 0);
	assert_int_equal(v.shown.all.requests, 0);
	push(&v, 3000, &e, 1);
	assert_int_equal(find(&v, "/x")->st.requests, 5);
	assert_int_equal(v.shown.all.requests, 5);
	view_free(&v);
}

/* One overflow row: what a full view gives up goes into the aggregator's
 * OTHER row (the one the collector sends), never into a second one; the
 * rows plus OTHER add up to every request. */
static void test_max_endpoints_other(void **st)
{
	struct view v;
	struct ep_spec e[6];
	char routes[5][16];
	(void)st;
	assert_int_equal(view_init(&v, 1000, 3), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(routes[i], sizeof(routes[i]), "/r%d", i);
		e[i] = (struct ep_spec){ "GET", routes[i], .n2 = 1, .lat_us = 100 };
	}
	e[5] = (struct ep_spec){ AGG_OTHER_METHOD, AGG_OTHER_ROUTE, .n2 = 2, .lat_us = 100 };
	push(&v, 0, e, 6);
	size_t others = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < v.nrows; i++) {
		others += !strcmp(view_row_at(&v, i)->route, AGG_OTHER_ROUTE);
		total += view_row_at(&v, i)->st.requests;
	}
	assert_int_equal(others, 1);
	assert_null(find(&v, "(other: view full)"));
	assert_int_equal(total, 7);
	view_free(&v);
}

/* Row names are sized by use: the longest route the collector gives
 * (ROUTE_MAX - 1 bytes) is kept whole, also when it takes a full view's
 * least used row (whose short name it replaces), and found again. */
static void test_names_sized_by_use(void **st)
{
	struct view v;
	char longr[ROUTE_MAX];
	(void)st;
	memset(longr, 'x', sizeof(longr) - 1);
	longr[0] = '/';
	longr[sizeof(longr) - 1] = '\0';
	assert_int_equal(view_init(&v, 1000, 2), 0);
	struct ep_spec a[2] = { { "GET", "/a", .n2 = 1, .lat_us = 100 },
				{ "DELETE", "/b", .n2 = 5, .lat_us = 100 } };
	push(&v, 0, a, 2);
	struct ep_spec b[1] = { { "PATCH", longr, .n2 = 9, .lat_us = 100 } };
	push(&v, 1000, b, 1);
	push(&v, 2000, b, 1);                  /* the same row again: found by its name */
	view_set_window(&v, WIN_ALL);
	view_refresh(&v, true);
	bool seen = false;
	for (size_t i = 0; i < v.nrows; i++) {
		const struct view_row *r = view_row_at(&v, i);
		assert_string_not_equal(r->route, "/a");   /* gave way */
		if (r->route[0] != '/' || r->route[1] != 'x')
			continue;
		seen = true;
		assert_string_equal(r->method, "PATCH");
		assert_string_equal(r->route, longr);
		assert_int_equal(r->st.requests, 18);
	}
	assert_true(seen);
	assert_non_null(find(&v, "/b"));
	view_free(&v);
}

/* A full view (say of a scan's first one-off paths) still gives a row to
 * an endpoint that comes later: the least used row moves into OTHER (the
 * aggregator's, the one overflow row) with every window, and since start the rows plus OTHER add up to everything. */
static void test_full_view_gives_way(void **st)
{
	struct view v;
	struct ep_spec e[4];
	char routes[4][32];
	(void)st;
	assert_int_equal(view_init(&v, 1000, 4), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(routes[i], sizeof(routes[i]), "/scan%d", i);
		e[i] = (struct ep_spec){ "GET", routes[i], .n2 = 1, .n4 = 1, .lat_us = 100 };
	}
	push(&v, 0, e, 4);
	struct ep_spec good = { "GET", "/good/wb", .n2 = 5, .lat_us = 200 };
	for (int i = 1; i <= 3; i++)
		push(&v, 1000u * (unsigned)i, &good, 1);
	view_set_window(&v, WIN_ALL);
	const struct view_row *g = find(&v, "/good/wb");
	const struct view_row *o = find(&v, AGG_OTHER_ROUTE);
	assert_non_null(g);
	assert_int_equal(g->st.requests, 15);
	assert_non_null(o);
	assert_int_equal(o->st.requests, 2);
	assert_int_equal(o->st.status[3], 1);
	assert_int_equal(v.shown.folded, 2);
	uint64_t sum = 0;
	for (size_t i = 0; i < v.nvis; i++)
		sum += view_row_at(&v, i)->st.requests;
	assert_int_equal(sum, 8 + 15);
	view_set_window(&v, WIN_1MIN);
	o = find(&v, AGG_OTHER_ROUTE);
	assert_non_null(o);
	assert_int_equal(o->st.requests, 2);
	view_free(&v);
}

/* ---- detail -------------------------------------------------------------- */

static void test_detail_ranges(void **st)
{
	struct view v;
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	struct snapshot *s = snap(0, 1000, (struct ep_spec[]){ { "GET", "/d", .n2 = 1, .lat_us = 1 } }, 1);
	/* 1 µs .. 60 s: more ranges than fit, the ends get merged. */
	for (uint64_t us = 50; us < 60000000; us *= 2)
		hist_add_n(&s->eps[0].lat, us, 10);
	s->eps[0].requests = s->eps[0].lat.count;
	s->eps[0].status[1] = s->eps[0].requests;
	s->eps[0].lat_max_us = s->eps[0].lat.max;
	view_push(&v, s, NULL);
	snapshot_free(s);
	assert_true(keys_dispatch(&v, KEYS_ENTER) & REACT_REDRAW);
	assert_int_equal(v.mode, VIEW_DETAIL);
	const struct view_detail *d = &v.detail;
	assert_true(d->valid);
	assert_string_equal(d->route, "/d");
	assert_int_equal(d->nranges, VIEW_RANGES_MAX);
	uint64_t sum = 0;
	for (size_t i = 0; i < d->nranges; i++) {
		sum += d->range[i].n;
		if (i)
			assert_int_equal(d->range[i].lo, d->range[i - 1].hi);
	}
	assert_int_equal(sum, d->st.requests);
	assert_int_equal(d->range[0].lo, 0);
	assert_int_equal(d->range[d->nranges - 1].hi, 0);      /* open end */
	assert_false(d->have_requests);
	keys_dispatch(&v, KEYS_ESC);
	assert_int_equal(v.mode, VIEW_TABLE);
	view_free(&v);
}

static void test_detail_requests(void **st)
{
	struct view v;
	struct tui_request r[30];
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	push(&v, 0, (struct ep_spec[]){ { "GET", "/slow", .n2 = 30, .lat_us = 1000 } }, 1);
	for (int i = 0; i < 30; i++) {
		r[i] = (struct tui_request){ .ts_ms = 1000 + (uint64_t)i, .latency_us = 1000 + (uint64_t)i * 100,
					     .status = i % 7 ? 200 : 503 };
		snprintf(r[i].method, sizeof(r[i].method), "GET");
		snprintf(r[i].route, sizeof(r[i].route), "/slow");
		r[i].client = peer_from(i % 3 ? "10.0.0.1" : "10.0.0.2");
	}
	view_add_requests(&v, r, 30);
	assert_true(view_open_detail(&v));
	const struct view_detail *d = &v.detail;
	assert_true(d->have_requests);
	assert_int_equal(d->nslow, VIEW_SLOW_MAX);
	assert_int_equal(d->slow[0].latency_us, 1000 + 29 * 100);
	assert_int_equal(d->slow[VIEW_SLOW_MAX - 1].latency_us, 1000 + 22 * 100);
	assert_int_equal(d->nclients, 2);
	assert_string_equal(peer_str(&d->clients[0].addr), "10.0.0.1");
	assert_int_equal(d->clients[0].n, 20);
	assert_int_equal(d->clients[1].n, 10);
	view_free(&v);
}

/* The collector's per-endpoint samples (slowest, clients, codes) reach
 * the detail without any tui_request. */
static void test_detail_from_snapshot(void **st)
{
	struct view v;
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	for (int i = 0; i < 3; i++) {
		struct snapshot *s = snap((uint64_t)i * 1000, 1000,
					  (struct ep_spec[]){ { "GET", "/s", .n2 = 9, .n4 = 1, .lat_us = 500 } }, 1);
		struct ep_stats *e = &s->eps[0];
		struct req_sample r = { .ts_ms = 5000 + (uint64_t)i, .lat_us = 900 + (uint64_t)i, .status = 404 };
		r.client = peer_from("192.0.2.1:5555");
		ep_slowest_offer(e, &r);
		ep_clients_add(e, PEER("192.0.2.1"), 9);
		ep_clients_add(e, PEER("192.0.2.2"), 1);
		ep_codes_add(e, 200, 9);
		ep_codes_add(e, 404, 1);
		assert_int_equal(view_push(&v, s, NULL), 0);
		snapshot_free(s);
	}
	assert_true(view_open_detail(&v));
	const struct view_detail *d = &v.detail;
	assert_true(d->have_requests);
	assert_int_equal(d->nslow, 3);
	assert_int_equal(d->slow[0].latency_us, 902);
	assert_int_equal(d->nclients, 2);
	assert_string_equal(peer_str(&d->clients[0].addr), "192.0.2.1");
	assert_int_equal(d->clients[0].n, 27);
	assert_int_equal(d->ncodes, 2);
	assert_int_equal(d->codes[0].code, 200);
	assert_int_equal(d->codes[0].n, 27);
	assert_int_equal(d->codes[1].code, 404);
	assert_int_equal(d->codes[1].n, 3);
	view_free(&v);
}

/* More endpoints than VIEW_SLOTS_MAX slots hold over 5 min: the windows'
 * slots get longer instead of the heap growing, the title is told the
 * step, and every rate stays what was pushed (1 request per 5 s interval
 * per endpoint: requests x 5000 = the window's ms, in every row). */
static void test_slots_bounded(void **st)
{
	enum { NEP = VIEW_SLOTS_MAX / (WIN_SLOTS - 4) + 100 };
	static char names[NEP][16];
	static struct ep_spec spec[NEP];
	struct view v;
	(void)st;

	assert_int_equal(view_init(&v, WIN_SLOT_MS, NEP), 0);   /* one interval a slot */
	for (int i = 0; i < NEP; i++) {
		snprintf(names[i], sizeof(names[i]), "/e%d", i);
		spec[i] = (struct ep_spec){ "GET", names[i], .n2 = 1, .lat_us = 300 + (uint64_t)i % 50 };
	}
	for (uint64_t t = 0; t < WIN_SLOTS + 8; t++) {
		struct snapshot *s = snap(t * WIN_SLOT_MS, WIN_SLOT_MS, spec, NEP);
		struct run_info h = { .target = "nginx[42]", .npids = 1, .now_ms = (t + 1) * WIN_SLOT_MS };
		assert_int_equal(view_push(&v, s, &h), 0);
		snapshot_free(s);
	}
	assert_true(v.live.slot_ms > WIN_SLOT_MS);
	assert_true(v.live.slot_ms <= VIEW_SLOT_MAX_MS);
	view_set_window(&v, WIN_5MIN);
	assert_int_equal(v.nvis, NEP);
	for (size_t i = 0; i < v.nvis; i++) {
		const struct view_row *r = view_row_at(&v, i);
		assert_true(r->st.requests >= 300000 / WIN_SLOT_MS);   /* the window's 5 min, or more */
		assert_int_equal(r->st.requests * WIN_SLOT_MS, r->st.dur_ms);
		/* one latency per endpoint, read coarse (within ~3%) */
		uint64_t lat = 300 + (uint64_t)atoi(r->route + 2) % 50;
		assert_int_equal(r->st.p50, r->st.p99);
		assert_true(r->st.p50 * 100 >= lat * 96 && r->st.p50 * 100 <= lat * 104);
	}
	view_free(&v);
}

/* A push in steps leaves the model a whole push leaves, whatever the step,
 * over several intervals and with a full view moving rows into OTHER; a
 * step stops where it says, and the snapshot is held until the last one. */
static void test_push_in_steps(void **st)
{
	struct ep_spec e[40];
	char routes[40][16];
	struct run_info h = { .target = "nginx[42]", .npids = 3 };
	(void)st;
	for (int i = 0; i < 40; i++) {
		snprintf(routes[i], sizeof(routes[i]), "/s%d", i);
		e[i] = (struct ep_spec){ "GET", routes[i], .n2 = (uint64_t)i + 1, .n5 = (uint64_t)i % 3,
					 .lat_us = 100 + 37 * (uint64_t)i, .in = 10, .out = 99 };
	}
	for (size_t step = 1; step <= 41; step += 8) {
		struct view whole, steps;
		assert_int_equal(view_init(&whole, 1000, 30), 0);
		assert_int_equal(view_init(&steps, 1000, 30), 0);
		for (uint64_t t = 0; t < 4; t++) {
			size_t n = 20 + 6 * t;               /* new endpoints each interval */
			struct snapshot *s = snap(t * 1000, 1000, e, n);
			h.now_ms = t * 1000 + 1000;
			assert_int_equal(view_push(&whole, s, &h), 0);
			view_push_begin(&steps, s, &h);
			snapshot_free(s);                    /* the view holds its own reference */
			size_t calls = 1;
			while (!view_push_step(&steps, step))
				calls++;
			assert_int_equal(calls, (n + step - 1) / step + 1);   /* + the rows' refresh */
			assert_int_equal(view_push_finish(&steps), 0);
			assert_null(steps.pend);
		}
		assert_int_equal(steps.nrows, whole.nrows);
		assert_int_equal(steps.live.neps, whole.live.neps);
		assert_int_equal(steps.live.folded, whole.live.folded);
		assert_int_equal(steps.live.all.requests, whole.live.all.requests);
		assert_int_equal(steps.live.last.p99, whole.live.last.p99);
		for (size_t i = 0; i < whole.nvis; i++) {
			const struct view_row *a = view_row_at(&whole, i), *b = view_row_at(&steps, i);
			assert_string_equal(a->route, b->route);
			assert_memory_equal(&a->st, &b->st, sizeof(a->st));
		}
		view_free(&whole);
		view_free(&steps);
	}
}

/* A push begun and never finished is freed with the view (ASan: no leak). */
static void test_push_in_steps_abandoned(void **st)
{
	struct ep_spec e[3] = { { "GET", "/a", .n2 = 1, .lat_us = 10 },
				{ "GET", "/b", .n2 = 2, .lat_us = 20 },
				{ "GET", "/c", .n2 = 3, .lat_us = 30 } };
	struct run_info h = { .target = "nginx[42]" };
	struct view v;
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	struct snapshot *s = snap(0, 1000, e, 3);
	view_push_begin(&v, s, &h);
	snapshot_free(s);
	assert_false(view_push_step(&v, 1));
	assert_int_equal(v.neps, 1);
	view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_bounded),
		cmocka_unit_test(test_push_in_steps),
		cmocka_unit_test(test_push_in_steps_abandoned),
		cmocka_unit_test(test_format_units),
		cmocka_unit_test(test_format_middle),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_window_slots_long_interval),
		cmocka_unit_test(test_sort_every_column),
		cmocka_unit_test(test_sort_keys),
		cmocka_unit_test(test_filter_and_selection),
		cmocka_unit_test(test_scroll),
		cmocka_unit_test(test_pause_and_clear),
		cmocka_unit_test(test_max_endpoints_other),
		cmocka_unit_test(test_names_sized_by_use),
		cmocka_unit_test(test_full_view_gives_way),
		cmocka_unit_test(test_detail_ranges),
		cmocka_unit_test(test_detail_requests),
		cmocka_unit_test(test_detail_from_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
