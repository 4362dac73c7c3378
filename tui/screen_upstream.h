/* SPDX-License-Identifier: MIT */
/*
 * screen_upstream: the live view's upstream table (key `u`) and the
 * upstream lines of an endpoint's detail, drawn from view->ups' shown copy.
 */
#ifndef L7TOP_SCREEN_UPSTREAM_H
#define L7TOP_SCREEN_UPSTREAM_H

#include "tui/cellbuf.h"
#include "tui/view.h"

/* The table in rows [top, top + nrows). */
void screen_draw_upstreams(const struct view *v, struct cellbuf *cb, int top, int nrows);
/* Rows the selected endpoint's upstream lines want (0: none) and drawing them. */
int screen_detail_upstream_rows(const struct view *v);
void screen_draw_detail_upstreams(const struct view *v, struct cellbuf *cb, int top, int nrows);

#endif
