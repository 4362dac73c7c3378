/* SPDX-License-Identifier: MIT */
/*
 * columns: the endpoint table's columns, htop-Panel style: one entry per
 * column with a display and a compare callback, so sorting, drawing and the
 * key table all read the same description.
 */
#ifndef L7TOP_COLUMNS_H
#define L7TOP_COLUMNS_H

#include <stdbool.h>
#include <stddef.h>

#include "tui/window.h"

enum col_id {
	COL_TARGET,            /* shown only with several targets, and not folded */
	COL_METHOD, COL_ROUTE, COL_RATE, COL_TOTAL, COL_2XX, COL_3XX, COL_4XX, COL_5XX,
	COL_ERR, COL_P50, COL_P90, COL_P99, COL_MAX, COL_IN, COL_OUT, COL_COUNT
};

/* One table row: an endpoint and its numbers over the current window. */
struct view_row {
	const char *method, *route;    /* owned by the view's endpoint */
	const char *target;            /* owned by the view: "nginx[1234]", "*" folded */
	unsigned ep;                   /* endpoint index in the view */
	struct win_stats st;
	double rate, err_pct, in_rate, out_rate;
};

struct column {
	const char *title;
	int width;             /* display columns; 0 = ROUTE, takes what is left */
	bool left;             /* left-aligned (text) */
	bool desc;             /* first sort order: biggest first for numbers */
	int drop;              /* narrow screens drop columns by rising rank; 0 never */
	void (*display)(const struct view_row *r, char *buf, size_t n);
	/* < 0 when a sorts before b in ascending order. */
	int (*compare)(const struct view_row *a, const struct view_row *b);
};

extern const struct column col_table[COL_COUNT];

#define COL_ROUTE_MIN 20

/*
 * Decides which columns fit in a screen cols wide (one blank between
 * columns) and returns ROUTE's width. Columns are dropped by their drop
 * rank until ROUTE gets COL_ROUTE_MIN; never wraps. TARGET is there only
 * when targets is set (several targets, not folded together).
 */
int col_fit(int cols, bool targets, bool vis[COL_COUNT]);

#endif
