/* SPDX-License-Identifier: MIT */
/*
 * screen: draws a view into a cellbuf of rows x cols. Pure: no curses, no
 * globals, no time (the view carries the uptime); the same view and size
 * always give the same cells. Never writes past the buffer's edges, and
 * drops table columns (tui/columns.h) rather than wrapping.
 *
 *   row 0       l7top, target, uptime, window, sort, PAUSED
 *   row 1-2     last interval / since start: req/s, errors, p50/p99, bytes, conns
 *   row 3       capture losses (highlighted when non-zero), endpoints
 *   row 4       DB path and health, then the caller's warnings
 *   row 5       column titles          (detail: the endpoint's title)
 *   rows 6..    endpoints              (detail: numbers, latency bars, requests)
 *   last row    keys, or the filter prompt
 */
#ifndef L7TOP_SCREEN_H
#define L7TOP_SCREEN_H

#include "tui/cellbuf.h"
#include "tui/view.h"

/* Resizes out to rows x cols when needed and draws. Returns 0 or -ENOMEM. */
int screen_render(const struct view *v, int rows, int cols, struct cellbuf *out);

#endif
