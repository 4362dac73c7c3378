// SPDX-License-Identifier: MIT
#include "tui/columns.h"

#include <stdio.h>
#include <string.h>

#include "format/units.h"

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_dbl(double a, double b)
{
	return a < b ? -1 : a > b;
}

static void show_target(const struct view_row *r, char *b, size_t n)
{
	snprintf(b, n, "%s", r->target ? r->target : "");
}

static int cmp_target(const struct view_row *a, const struct view_row *b)
{
	int c = strcmp(a->target ? a->target : "", b->target ? b->target : "");
	return c ? c : strcmp(a->route, b->route);
}

static void show_method(const struct view_row *r, char *b, size_t n)
{
	snprintf(b, n, "%s", r->method);
}

static int cmp_method(const struct view_row *a, const struct view_row *b)
{
	int c = strcmp(a->method, b->method);
	return c ? c : strcmp(a->route, b->route);
}

static void show_route(const struct view_row *r, char *b, size_t n)
{
	snprintf(b, n, "%s", r->route);
}

static int cmp_route(const struct view_row *a, const struct view_row *b)
{
	int c = strcmp(a->route, b->route);
	return c ? c : strcmp(a->method, b->method);
}

static void show_rate(const struct view_row *r, char *b, size_t n)
{
	fmt_rate(r->rate, b, n);
}

static int cmp_rate(const struct view_row *a, const struct view_row *b)
{
	return cmp_dbl(a->rate, b->rate);
}

static void show_total(const struct view_row *r, char *b, size_t n)
{
	fmt_count(r->st.requests, b, n);
}

static int cmp_total(const struct view_row *a, const struct view_row *b)
{
	return cmp_u64(a->st.requests, b->st.requests);
}

#define STATUS_COL(k)                                                                     \
	static void show_##k##xx(const struct view_row *r, char *b, size_t n)              \
	{                                                                                \
		fmt_count(r->st.status[k - 1], b, n);                                    \
	}                                                                                \
	static int cmp_##k##xx(const struct view_row *a, const struct view_row *b)         \
	{                                                                                \
		return cmp_u64(a->st.status[k - 1], b->st.status[k - 1]);                \
	}
STATUS_COL(2)
STATUS_COL(3)
STATUS_COL(4)
STATUS_COL(5)

static void show_err(const struct view_row *r, char *b, size_t n)
{
	if (r->err_pct >= 99.95)
		snprintf(b, n, "100");
	else
		snprintf(b, n, "%.1f", r->err_pct);
}

static int cmp_err(const struct view_row *a, const struct view_row *b)
{
	int c = cmp_dbl(a->err_pct, b->err_pct);
	return c ? c : cmp_u64(a->st.status[3] + a->st.status[4], b->st.status[3] + b->st.status[4]);
}

#define LAT_COL(name, field)                                                              \
	static void show_##name(const struct view_row *r, char *b, size_t n)               \
	{                                                                                \
		if (r->st.requests)                                                      \
			fmt_latency(r->st.field, b, n);                                \
		else                                                                     \
			snprintf(b, n, "-");                                             \
	}                                                                                \
	static int cmp_##name(const struct view_row *a, const struct view_row *b)          \
	{                                                                                \
		return cmp_u64(a->st.field, b->st.field);                                \
	}
LAT_COL(p50, p50)
LAT_COL(p90, p90)
LAT_COL(p99, p99)
LAT_COL(max, lat_max_us)

static void show_in(const struct view_row *r, char *b, size_t n)
{
	fmt_bytes(r->in_rate, b, n);
}

static int cmp_in(const struct view_row *a, const struct view_row *b)
{
	return cmp_dbl(a->in_rate, b->in_rate);
}

static void show_out(const struct view_row *r, char *b, size_t n)
{
	fmt_bytes(r->out_rate, b, n);
}

static int cmp_out(const struct view_row *a, const struct view_row *b)
{
	return cmp_dbl(a->out_rate, b->out_rate);
}

const struct column col_table[COL_COUNT] = {
	/* "python3[123456]" fits; the last column a narrow screen gives up */
	[COL_TARGET] = { .title = "TARGET", .width = 15, .left = true, .drop = 12, .display = show_target, .compare = cmp_target },
	[COL_METHOD] = { .title = "METHOD", .width = 7, .left = true, .display = show_method, .compare = cmp_method },
	[COL_ROUTE] = { .title = "ROUTE", .width = 0, .left = true, .display = show_route, .compare = cmp_route },
	[COL_RATE] = { .title = "REQ/S", .width = 6, .desc = true, .display = show_rate, .compare = cmp_rate },
	[COL_TOTAL] = { .title = "TOTAL", .width = 6, .desc = true, .drop = 7, .display = show_total, .compare = cmp_total },
	[COL_2XX] = { .title = "2XX", .width = 6, .desc = true, .drop = 6, .display = show_2xx, .compare = cmp_2xx },
	[COL_3XX] = { .title = "3XX", .width = 5, .desc = true, .drop = 3, .display = show_3xx, .compare = cmp_3xx },
	[COL_4XX] = { .title = "4XX", .width = 5, .desc = true, .drop = 9, .display = show_4xx, .compare = cmp_4xx },
	[COL_5XX] = { .title = "5XX", .width = 5, .desc = true, .drop = 10, .display = show_5xx, .compare = cmp_5xx },
	[COL_ERR] = { .title = "ERR%", .width = 5, .desc = true, .drop = 8, .display = show_err, .compare = cmp_err },
	[COL_P50] = { .title = "P50", .width = 6, .desc = true, .drop = 11, .display = show_p50, .compare = cmp_p50 },
	[COL_P90] = { .title = "P90", .width = 6, .desc = true, .drop = 5, .display = show_p90, .compare = cmp_p90 },
	[COL_P99] = { .title = "P99", .width = 6, .desc = true, .display = show_p99, .compare = cmp_p99 },
	[COL_MAX] = { .title = "MAX", .width = 6, .desc = true, .drop = 4, .display = show_max, .compare = cmp_max },
	[COL_IN] = { .title = "IN/S", .width = 6, .desc = true, .drop = 2, .display = show_in, .compare = cmp_in },
	[COL_OUT] = { .title = "OUT/S", .width = 6, .desc = true, .drop = 1, .display = show_out, .compare = cmp_out },
};

int col_fit(int cols, bool targets, bool vis[COL_COUNT])
{
	int used = 0;
	for (int i = 0; i < COL_COUNT; i++) {
		vis[i] = i != COL_TARGET || targets;
		if (i != COL_ROUTE && vis[i])
			used += col_table[i].width + 1;
	}
	/* Drop by rank until ROUTE has its minimum. */
	for (int rank = 1; cols - used < COL_ROUTE_MIN; rank++) {
		int victim = -1;
		for (int i = 0; i < COL_COUNT; i++)
			if (vis[i] && col_table[i].drop == rank)
				victim = i;
		if (rank > COL_COUNT)
			break;
		if (victim >= 0) {
			vis[victim] = false;
			used -= col_table[victim].width + 1;
		}
	}
	int route = cols - used;
	return route < 1 ? 1 : route;
}
