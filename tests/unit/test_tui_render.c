// SPDX-License-Identifier: MIT
/* tui screen: whole screens rendered into a cellbuf at 80x24, 120x40 and
 * 200x50 (and smaller), read back as text: header, columns, rows, footer,
 * detail, help, prompt; nothing past the edges; hostile routes sanitised. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tui/cellbuf.h"
#include "tui/keys.h"
#include "tui/screen.h"
#include "tui/view.h"
#include "peer_text.h"

#define LONG_ROUTE "/api/v2/organisations/:id/projects/:id/pipelines/:id/jobs/:id/artifacts/download"

static void push(struct view *v, uint64_t ts)
{
	static const struct {
		const char *m, *r;
		uint64_t n2, n4, n5, lat;
	} eps[] = {
		{ "GET", "/", 120, 0, 0, 300 },
		{ "GET", "/api/users/:id", 80, 5, 0, 4200 },
		{ "POST", "/api/orders", 30, 2, 3, 25000 },
		{ "GET", LONG_ROUTE, 10, 0, 1, 1500000 },
		{ "OPTIONS", "/healthz", 200, 0, 0, 40 },
	};
	size_t n = sizeof(eps) / sizeof(eps[0]);
	struct snapshot *s = snapshot_new(n);
	assert_non_null(s);
	s->ts_ms = ts;
	s->dur_ms = 1000;
	s->c.kernel_drops = 3;
	s->c.conns_open = 17;
	for (size_t i = 0; i < n; i++) {
		struct ep_stats *e = &s->eps[i];
		e->method = eps[i].m;
		e->route = eps[i].r;
		e->status[1] = eps[i].n2;
		e->status[3] = eps[i].n4;
		e->status[4] = eps[i].n5;
		e->requests = eps[i].n2 + eps[i].n4 + eps[i].n5;
		e->bytes_in = e->requests * 300;
		e->bytes_out = e->requests * 5000;
		hist_init(&e->lat);
		for (uint64_t k = 0; k < e->requests; k++)
			hist_add(&e->lat, eps[i].lat + k * 7);
		e->lat_max_us = e->lat.max;
	}
	const char *warn[] = { "TLS library not found", "DB write failed: disk full \u2014 stats kept in memory" };
	struct run_info h = {
		.target = "nginx[1234]", .npids = 3, .ports = "8080", .db_path = "/tmp/t.db",
		.started_ms = 0, .now_ms = ts + 1000 + 65000, .warnings = warn, .nwarnings = 2,
	};
	assert_int_equal(view_push(v, s, &h), 0);
	snapshot_free(s);
}

static void setup_view(struct view *v)
{
	assert_int_equal(view_init(v, 1000, 0), 0);
	push(v, 0);
	push(v, 1000);
}

static const char *line(const struct cellbuf *cb, int row)
{
	static char buf[4096];
	return cellbuf_line(cb, row, buf, sizeof(buf));
}

/* The screen as text, for failure messages. */
static void dump(const struct cellbuf *cb)
{
	for (int r = 0; r < cb->rows; r++)
		print_message("|%s\n", line(cb, r));
}

static int find_row(const struct cellbuf *cb, const char *needle)
{
	for (int r = 0; r < cb->rows; r++)
		if (strstr(line(cb, r), needle))
			return r;
	return -1;
}

static void expect(const struct cellbuf *cb, const char *needle)
{
	if (find_row(cb, needle) < 0) {
		dump(cb);
		fail_msg("\"%s\" not on screen", needle);
	}
}

/* Every cell holds a one-column codepoint; the buffer is exactly the size. */
static void check_bounds(const struct cellbuf *cb, int rows, int cols)
{
	assert_int_equal(cb->rows, rows);
	assert_int_equal(cb->cols, cols);
	for (int r = 0; r < rows; r++) {
		assert_true(utf8_width(line(cb, r)) <= cols);
		for (int c = 0; c < cols; c++) {
			uint32_t ch = cb->cells[r * cols + c].ch;
			assert_true(ch >= 0x20 && ch != 0x7f);
			assert_true(cb->cells[r * cols + c].style < ST_COUNT);
		}
	}
}

static void render(struct view *v, int rows, int cols, struct cellbuf *cb)
{
	view_set_size(v, rows, cols);
	assert_int_equal(screen_render(v, rows, cols, cb), 0);
	check_bounds(cb, rows, cols);
}

static void test_render_80x24(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	setup_view(&v);
	render(&v, 24, 80, &cb);
	assert_non_null(strstr(line(&cb, 0), "l7top"));
	assert_non_null(strstr(line(&cb, 0), "nginx[1234] 3 pids"));
	assert_non_null(strstr(line(&cb, 0), "up 1m07s"));
	assert_non_null(strstr(line(&cb, 0), "window last interval"));
	assert_non_null(strstr(line(&cb, 1), "req/s 451"));
	assert_non_null(strstr(line(&cb, 2), "since start"));
	assert_non_null(strstr(line(&cb, 3), "drops 6"));
	assert_non_null(strstr(line(&cb, 4), "/tmp/t.db ok"));
	assert_non_null(strstr(line(&cb, 4), "TLS library not found"));
	/* At 80 columns: right-most columns dropped, never wrapped. */
	const char *hdr = line(&cb, 5);
	assert_non_null(strstr(hdr, "METHOD"));
	assert_non_null(strstr(hdr, "ROUTE"));
	assert_non_null(strstr(hdr, "REQ/S"));
	assert_non_null(strstr(hdr, "P99"));
	assert_null(strstr(hdr, "OUT/S"));
	assert_null(strstr(hdr, "IN/S"));
	/* Busiest first; the long route cut in the middle. */
	assert_non_null(strstr(line(&cb, 6), "OPTIONS /healthz"));
	assert_non_null(strstr(line(&cb, 7), "GET     /  "));
	int r = find_row(&cb, "/api/v2/org");
	assert_true(r > 5);
	assert_non_null(strstr(line(&cb, r), ".."));
	assert_non_null(strstr(line(&cb, r), "/download"));
	assert_non_null(strstr(line(&cb, r), "1.50s"));
	/* The selected row is highlighted across the screen. */
	assert_int_equal(cb.cells[6 * 80 + 79].style, ST_SELECTED);
	assert_int_equal(cb.cells[5 * 80 + 0].style, ST_COLHDR);
	/* Footer on the last row. */
	assert_non_null(strstr(line(&cb, 23), "q Quit"));
	assert_non_null(strstr(line(&cb, 23), "h Help"));
	cellbuf_free(&cb);
	view_free(&v);
}

static void test_render_200x50(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	setup_view(&v);
	render(&v, 50, 200, &cb);
	const char *hdr = line(&cb, 5);
	static const char *const cols[] = { "METHOD", "ROUTE", "REQ/S", "TOTAL", "2XX", "3XX", "4XX", "5XX",
					    "ERR%", "P50", "P90", "P99", "MAX", "IN/S", "OUT/S" };
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		assert_non_null(strstr(hdr, cols[i]));
	/* Wide enough for the whole route. */
	expect(&cb, LONG_ROUTE);
	/* Units. */
	int r = find_row(&cb, "/api/users/:id");
	assert_non_null(strstr(line(&cb, r), "4.51ms"));
	assert_non_null(strstr(line(&cb, r), "K"));       /* bytes/s */
	r = find_row(&cb, "OPTIONS");
	assert_non_null(strstr(line(&cb, r), "\u00b5s"));
	/* 5 rows, then nothing until the footer. */
	assert_string_equal(line(&cb, 11), "");
	assert_non_null(strstr(line(&cb, 49), "q Quit"));
	cellbuf_free(&cb);
	view_free(&v);
}

static void test_render_sorted_filtered(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	setup_view(&v);
	view_set_size(&v, 40, 120);
	keys_dispatch(&v, 'L');
	render(&v, 40, 120, &cb);
	assert_non_null(strstr(line(&cb, 6), "/api/v2/org"));
	assert_int_equal(cb.cells[5 * 120 + (int)(strstr(line(&cb, 5), "P99") - line(&cb, 5))].style,
			 ST_COLSORT);
	keys_dispatch(&v, '/');
	keys_dispatch(&v, 'a');
	keys_dispatch(&v, 'p');
	keys_dispatch(&v, 'i');
	render(&v, 40, 120, &cb);
	assert_non_null(strstr(line(&cb, 39), "Filter route: api_"));
	keys_dispatch(&v, KEYS_ENTER);
	render(&v, 40, 120, &cb);
	assert_non_null(strstr(line(&cb, 0), "filter api"));
	assert_int_equal(find_row(&cb, "/healthz"), -1);
	expect(&cb, "/api/orders");
	assert_string_equal(line(&cb, 9), "");            /* 3 rows: 6, 7, 8 */
	keys_dispatch(&v, '/');
	keys_dispatch(&v, 'x');
	keys_dispatch(&v, KEYS_ENTER);
	render(&v, 40, 120, &cb);
	expect(&cb, "(no route matches the filter");
	cellbuf_free(&cb);
	view_free(&v);
}

static void test_render_detail(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	setup_view(&v);
	view_set_size(&v, 24, 80);
	keys_dispatch(&v, 'j');                               /* GET / */
	keys_dispatch(&v, 'j');                               /* GET /api/users/:id */
	keys_dispatch(&v, KEYS_ENTER);
	render(&v, 24, 80, &cb);
	assert_non_null(strstr(line(&cb, 5), "GET /api/users/:id"));
	assert_non_null(strstr(line(&cb, 5), "last interval"));
	expect(&cb, "requests 85");
	expect(&cb, "4xx 5");
	expect(&cb, "Latency");
	/* A bar: a range label, blocks, a count and a share. */
	int r = find_row(&cb, "\u2588");
	assert_true(r > 5);
	assert_non_null(strstr(line(&cb, r), "ms"));
	assert_non_null(strstr(line(&cb, r), "%"));
	expect(&cb, "Slowest recent requests  (not recorded yet)");
	expect(&cb, "Top clients  (not recorded yet)");
	assert_non_null(strstr(line(&cb, 23), "Esc Back"));

	/* With request extras, wide: bars left, requests right. */
	struct tui_request req = { .ts_ms = 3723000, .latency_us = 98765, .status = 503 };
	snprintf(req.method, sizeof(req.method), "GET");
	snprintf(req.route, sizeof(req.route), "/api/users/:id");
	req.client = peer_from("203.0.113.7");
	view_add_requests(&v, &req, 1);
	setenv("TZ", "UTC", 1);
	tzset();
	render(&v, 50, 200, &cb);
	r = find_row(&cb, "01:02:03 503  98.8ms 203.0.113.7");
	if (r < 0)
		dump(&cb);
	assert_true(r > 0);
	/* beside the bars, in the right half */
	assert_true(strstr(line(&cb, r), "01:02:03") - line(&cb, r) >= 110);
	expect(&cb, "      1 203.0.113.7");
	keys_dispatch(&v, KEYS_ESC);
	render(&v, 24, 80, &cb);
	assert_non_null(strstr(line(&cb, 5), "METHOD"));
	cellbuf_free(&cb);
	view_free(&v);
}

/* An interval with two upstreams; /api/users/:id's calls linked to it. */
static void push_upstreams(struct view *v, uint64_t ts)
{
	struct snapshot *s = snapshot_new(0);
	assert_non_null(s);
	s->ts_ms = ts;
	s->dur_ms = 1000;
	s->nups = 2;
	s->ups = calloc(2, sizeof(*s->ups));
	const char *names[2] = { "127.0.0.1:9001", "[2001:db8::7]:8443" };
	for (int i = 0; i < 2; i++) {
		struct up_stats *u = &s->ups[i];
		snprintf(u->upstream, sizeof(u->upstream), "%s", names[i]);
		hist_init(&u->lat);
		hist_init(&u->connect);
		u->requests = 20 + 10 * (uint64_t)i;
		u->status[1] = u->requests - (uint64_t)i;
		u->status[4] = (uint64_t)i;
		u->no_answer = (uint64_t)i;
		for (uint64_t k = 0; k < u->requests; k++)
			hist_add(&u->lat, 2000 + k * 100);
		u->lat_max_us = u->lat.max;
		u->connects = 3;
		hist_add(&u->connect, 60);
		u->reused = 17;
		u->conns_open = 2;
	}
	s->nup_routes = 1;
	s->up_routes = calloc(1, sizeof(*s->up_routes));
	struct up_route_stats *r = &s->up_routes[0];
	snprintf(r->upstream, sizeof(r->upstream), "127.0.0.1:9001");
	snprintf(r->method, sizeof(r->method), "GET");
	snprintf(r->route, sizeof(r->route), "/api/users/:id");
	hist_init(&r->lat);
	hist_init(&r->before);
	hist_init(&r->upstream_time);
	hist_init(&r->after);
	r->calls = r->inbound = 20;
	r->status[1] = 20;
	for (int k = 0; k < 20; k++) {
		hist_add(&r->lat, 3000);
		hist_add(&r->before, 120);
		hist_add(&r->upstream_time, 3000);
		hist_add(&r->after, 80);
	}
	s->upc.calls_linked = 20;
	s->upc.calls_unlinked = 1;
	struct run_info h = { .target = "nginx[1234]", .npids = 3, .ports = "8080",
				.now_ms = ts + 1000 };
	assert_int_equal(view_push(v, s, &h), 0);
	snapshot_free(s);
}

/* `u`: the upstream table; an endpoint's detail lists its upstreams and
 * the latency split; `p` freezes the upstream table too. */
static void test_render_upstreams(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	setup_view(&v);
	keys_dispatch(&v, 'u');
	render(&v, 24, 80, &cb);
	expect(&cb, "UPSTREAM");
	expect(&cb, "(no outgoing calls seen");
	push_upstreams(&v, 2000);
	render(&v, 24, 80, &cb);
	int r = find_row(&cb, "127.0.0.1:9001");
	assert_true(r > 5);
	assert_non_null(strstr(line(&cb, r), "20"));
	expect(&cb, "[2001:db8::7]:8443");
	expect(&cb, "calls linked to inbound requests 20 of 21 decided (95.2%");
	expect(&cb, "GET    /api/users/:id");
	render(&v, 50, 200, &cb);
	expect(&cb, "POST50");
	keys_dispatch(&v, 'p');
	push_upstreams(&v, 3000);
	render(&v, 24, 80, &cb);
	expect(&cb, "20 of 21");                     /* paused: the last shown numbers */
	keys_dispatch(&v, 'p');
	view_refresh(&v, false);
	render(&v, 24, 80, &cb);
	expect(&cb, "40 of 42");
	keys_dispatch(&v, 'u');
	view_set_filter(&v, "/api/users");
	keys_dispatch(&v, 'j');
	keys_dispatch(&v, KEYS_ENTER);
	render(&v, 24, 80, &cb);
	expect(&cb, "upstreams (since start)");
	r = find_row(&cb, "127.0.0.1:9001");
	assert_true(r > 10);
	if (!strstr(line(&cb, r), "120µs"))
		dump(&cb);
	assert_non_null(strstr(line(&cb, r), "120µs"));
	cellbuf_free(&cb);
	view_free(&v);
}

/* A gRPC method over h2: the detail names the protocol and the gRPC codes
 * by name; a call answered 200 with a failing code counts in ERR%. */
static void test_render_detail_grpc(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	for (uint64_t ts = 0; ts <= 1000; ts += 1000) {
		struct snapshot *s = snapshot_new(1);
		assert_non_null(s);
		s->ts_ms = ts;
		s->dur_ms = 1000;
		struct ep_stats *e = &s->eps[0];
		e->method = "POST";
		e->route = "/shop.v1.Cart/Add";
		e->requests = e->status[1] = 8;
		ep_grpc_add(e, 0, 5);
		ep_grpc_add(e, 14, 2);
		ep_grpc_add(e, 5, 1);
		e->grpc_errors = 3;
		e->protos = 1u << PROTO_H2;
		hist_init(&e->lat);
		for (int k = 0; k < 8; k++)
			hist_add(&e->lat, 900);
		struct run_info h = { .target = "node[9]", .npids = 1, .ports = "50051",
				      .started_ms = 0, .now_ms = ts + 1000 };
		assert_int_equal(view_push(&v, s, &h), 0);
		snapshot_free(s);
	}
	render(&v, 30, 100, &cb);
	int r = find_row(&cb, "/shop.v1.Cart/Add");
	assert_true(r > 0);
	assert_non_null(strstr(line(&cb, r), "37.5"));      /* 3 of 8 failed */
	keys_dispatch(&v, KEYS_ENTER);
	render(&v, 30, 100, &cb);
	expect(&cb, "Protocols  h2");
	expect(&cb, "gRPC codes");
	expect(&cb, "UNAVAILABLE 4");                          /* since start: 2 intervals */
	expect(&cb, "NOT_FOUND 2");
	expect(&cb, "OK 10");
	cellbuf_free(&cb);
	view_free(&v);
}

static void test_render_help_and_pause(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	setup_view(&v);
	keys_dispatch(&v, '?');
	render(&v, 24, 80, &cb);
	expect(&cb, "l7top keys");
	expect(&cb, "reverse the sort order");
	keys_dispatch(&v, 'x');                               /* any key closes */
	assert_false(v.help);
	keys_dispatch(&v, 'p');
	push(&v, 2000);
	render(&v, 24, 80, &cb);
	assert_non_null(strstr(line(&cb, 0), "PAUSED (1 new)"));
	keys_dispatch(&v, 'w');
	render(&v, 24, 80, &cb);
	assert_non_null(strstr(line(&cb, 0), "window last 1 min"));
	cellbuf_free(&cb);
	view_free(&v);
}

/* A reverse proxy and its backend serving one route: two rows under a
 * TARGET column, each with its own count; `t` folds them into one row of
 * the sum and drops the column; `t` again splits them. One target: no
 * TARGET column (test_render_80x24). */
static void push_targets(struct view *v, uint64_t ts)
{
	struct snapshot *s = snapshot_new(3);
	assert_non_null(s);
	s->ts_ms = ts;
	s->dur_ms = 1000;
	s->ntargets = 2;
	snprintf(s->targets[0], TARGET_NAME_MAX, "nginx[100]");
	snprintf(s->targets[1], TARGET_NAME_MAX, "nginx[200]");
	const uint64_t n[3] = { 120, 60, 7 };
	for (size_t i = 0; i < 3; i++) {
		struct ep_stats *e = &s->eps[i];
		e->method = "GET";
		e->route = i < 2 ? "/api/users/{id}" : "/static/app.css";
		e->target = i == 1 ? 1 : 0;
		e->requests = e->status[1] = n[i];
		hist_init(&e->lat);
		for (uint64_t k = 0; k < n[i]; k++)
			hist_add(&e->lat, 1000 + k);
		e->lat_max_us = e->lat.max;
	}
	struct run_info h = { .target = "nginx[100],nginx[200]", .npids = 6, .ports = "8080,9090",
			      .now_ms = ts + 1000 };
	assert_int_equal(view_push(v, s, &h), 0);
	snapshot_free(s);
}

static void test_render_targets(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	push_targets(&v, 0);
	render(&v, 24, 100, &cb);
	assert_non_null(strstr(line(&cb, 5), "TARGET"));
	int r = find_row(&cb, "nginx[100]      GET     /api/users/{id}");
	assert_true(r > 5);
	assert_non_null(strstr(line(&cb, r), " 120 "));
	r = find_row(&cb, "nginx[200]      GET     /api/users/{id}");
	assert_true(r > 5);
	assert_non_null(strstr(line(&cb, r), " 60 "));
	expect(&cb, "nginx[100]      GET     /static/app.css");

	assert_int_equal(keys_dispatch(&v, 't'), REACT_REDRAW);
	render(&v, 24, 100, &cb);
	assert_null(strstr(line(&cb, 5), "TARGET"));
	assert_int_equal(v.nrows, 2);
	r = find_row(&cb, "GET     /api/users/{id}");
	assert_true(r > 5);
	assert_non_null(strstr(line(&cb, r), " 180 "));
	assert_int_equal(find_row(&cb, "nginx[200]      GET"), -1);
	/* the folded row's detail is every target's: 180 requests */
	view_home(&v);
	keys_dispatch(&v, '\r');
	render(&v, 24, 100, &cb);
	expect(&cb, "all targets");
	expect(&cb, "requests 180");
	keys_dispatch(&v, KEYS_ESC);

	keys_dispatch(&v, 't');
	push_targets(&v, 1000);
	render(&v, 24, 100, &cb);
	assert_int_equal(v.nrows, 3);
	expect(&cb, "nginx[200]      GET     /api/users/{id}");
	/* a row's detail names its target */
	view_home(&v);
	keys_dispatch(&v, '\r');
	render(&v, 24, 100, &cb);
	expect(&cb, "nginx[100]  GET /api/users/{id}");
	keys_dispatch(&v, KEYS_ESC);
	keys_dispatch(&v, '?');
	render(&v, 40, 100, &cb);
	expect(&cb, "targets: a row per target");
	cellbuf_free(&cb);
	view_free(&v);
}

static void test_render_small_and_odd_sizes(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	setup_view(&v);
	static const int sz[][2] = { { 24, 80 }, { 10, 40 }, { 3, 20 }, { 1, 1 }, { 8, 300 }, { 0, 0 } };
	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		render(&v, sz[i][0], sz[i][1], &cb);
		view_open_detail(&v);
		render(&v, sz[i][0], sz[i][1], &cb);
		v.help = true;
		render(&v, sz[i][0], sz[i][1], &cb);
		v.help = false;
		view_close_detail(&v);
	}
	cellbuf_free(&cb);
	view_free(&v);
}

static void test_hostile_route(void **st)
{
	struct view v;
	struct cellbuf cb = { 0 };
	(void)st;
	assert_int_equal(view_init(&v, 1000, 0), 0);
	struct snapshot *s = snapshot_new(1);
	s->dur_ms = 1000;
	s->eps[0].method = "GET";
	s->eps[0].route = "/x\x1b[2J\x07\xff\xc3(\xe4\xb8\xad/y";
	s->eps[0].requests = s->eps[0].status[1] = 1;
	hist_init(&s->eps[0].lat);
	hist_add(&s->eps[0].lat, 10);
	view_push(&v, s, NULL);
	snapshot_free(s);
	render(&v, 24, 120, &cb);
	expect(&cb, "/x?[2J?\?\?(?/y");
	cellbuf_free(&cb);
	view_free(&v);
}

static void test_cellbuf_clip(void **st)
{
	struct cellbuf cb = { 0 };
	char b[64];
	(void)st;
	assert_int_equal(cellbuf_resize(&cb, 2, 5), 0);
	assert_int_equal(cellbuf_text(&cb, 0, 3, -1, ST_NORMAL, "abcdef"), 2);
	assert_string_equal(cellbuf_line(&cb, 0, b, sizeof(b)), "   ab");
	assert_int_equal(cellbuf_text(&cb, 2, 0, -1, ST_NORMAL, "x"), 0);
	assert_int_equal(cellbuf_text(&cb, 1, 5, -1, ST_NORMAL, "x"), 0);
	assert_int_equal(cellbuf_text_right(&cb, 1, 0, 5, ST_NORMAL, "\u00b5s"), 2);
	assert_string_equal(cellbuf_line(&cb, 1, b, sizeof(b)), "   \u00b5s");
	cellbuf_fill(&cb, 1, -3, 100, ST_BAR, '#');
	assert_string_equal(cellbuf_line(&cb, 1, b, sizeof(b)), "#####");
	cellbuf_free(&cb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cellbuf_clip),
		cmocka_unit_test(test_render_80x24),
		cmocka_unit_test(test_render_200x50),
		cmocka_unit_test(test_render_sorted_filtered),
		cmocka_unit_test(test_render_detail),
		cmocka_unit_test(test_render_detail_grpc),
		cmocka_unit_test(test_render_help_and_pause),
		cmocka_unit_test(test_render_upstreams),
		cmocka_unit_test(test_render_small_and_odd_sizes),
		cmocka_unit_test(test_render_targets),
		cmocka_unit_test(test_hostile_route),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
