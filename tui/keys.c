// SPDX-License-Identifier: MIT
#include "tui/keys.h"

#include <string.h>

static int act_up(struct view *v, int k)
{
	(void)k;
	view_move(v, -1);
	return REACT_REDRAW;
}

static int act_down(struct view *v, int k)
{
	(void)k;
	view_move(v, 1);
	return REACT_REDRAW;
}

static int act_pgup(struct view *v, int k)
{
	(void)k;
	view_move(v, -(long)view_page(v));
	return REACT_REDRAW;
}

static int act_pgdn(struct view *v, int k)
{
	(void)k;
	view_move(v, (long)view_page(v));
	return REACT_REDRAW;
}

static int act_home(struct view *v, int k)
{
	(void)k;
	view_home(v);
	return REACT_REDRAW;
}

static int act_end(struct view *v, int k)
{
	(void)k;
	view_end(v);
	return REACT_REDRAW;
}

static int act_sort_prev(struct view *v, int k)
{
	(void)k;
	view_sort_step(v, -1);
	return REACT_REDRAW;
}

static int act_sort_next(struct view *v, int k)
{
	(void)k;
	view_sort_step(v, 1);
	return REACT_REDRAW;
}

static int act_reverse(struct view *v, int k)
{
	(void)k;
	view_sort_reverse(v);
	return REACT_REDRAW;
}

static int act_sort_key(struct view *v, int k)
{
	view_sort_by(v, k == 'R' ? COL_RATE : k == 'T' ? COL_TOTAL : k == 'E' ? COL_ERR : COL_P99);
	return REACT_REDRAW;
}

static int act_filter(struct view *v, int k)
{
	(void)k;
	v->prompt = true;
	memcpy(v->prompt_buf, v->filter, sizeof(v->prompt_buf));
	return REACT_REDRAW;
}

static int act_enter(struct view *v, int k)
{
	(void)k;
	if (v->mode == VIEW_TABLE)
		view_open_detail(v);
	return REACT_REDRAW;
}

static int act_back(struct view *v, int k)
{
	(void)k;
	if (v->mode == VIEW_DETAIL)
		view_close_detail(v);
	else if (v->filter[0])
		view_set_filter(v, "");
	return REACT_REDRAW;
}

static int act_window(struct view *v, int k)
{
	(void)k;
	view_cycle_window(v);
	return REACT_REDRAW;
}

static int act_pause(struct view *v, int k)
{
	(void)k;
	view_toggle_pause(v);
	return REACT_REDRAW;
}

static int act_clear(struct view *v, int k)
{
	(void)k;
	view_clear(v);
	return REACT_REDRAW;
}

static int act_help(struct view *v, int k)
{
	(void)k;
	v->help = true;
	return REACT_REDRAW;
}

static int act_upstreams(struct view *v, int k)
{
	(void)k;
	v->show_ups = !v->show_ups;
	if (v->mode == VIEW_DETAIL)
		view_close_detail(v);
	return REACT_REDRAW;
}

static int act_fold_targets(struct view *v, int k)
{
	(void)k;
	view_toggle_fold_targets(v);
	return REACT_REDRAW;
}

static int act_quit(struct view *v, int k)
{
	(void)v;
	(void)k;
	return REACT_QUIT;
}

static int act_resize(struct view *v, int k)
{
	(void)v;
	(void)k;
	return REACT_RESIZE | REACT_REDRAW;
}

const struct key_binding keys_table[] = {
	{ .key = KEYS_UP, .name = "Up/Down j/k", .help = "move the selection", .action = act_up },
	{ .key = 'k', .action = act_up },
	{ .key = KEYS_DOWN, .action = act_down },
	{ .key = 'j', .action = act_down },
	{ .key = KEYS_PGUP, .name = "PgUp/PgDn", .help = "move a page", .action = act_pgup },
	{ .key = KEYS_PGDN, .action = act_pgdn },
	{ .key = KEYS_HOME, .name = "Home/End", .help = "first / last row", .action = act_home },
	{ .key = KEYS_END, .action = act_end },
	{ .key = '<', .name = "< >", .help = "sort by the previous / next column", .action = act_sort_prev },
	{ .key = KEYS_LEFT, .action = act_sort_prev },
	{ .key = '>', .action = act_sort_next },
	{ .key = KEYS_RIGHT, .action = act_sort_next },
	{ .key = 'r', .name = "r", .help = "reverse the sort order", .action = act_reverse },
	{ .key = 'R', .name = "R T E L", .help = "sort by rate, total, errors, p99", .action = act_sort_key },
	{ .key = 'T', .action = act_sort_key },
	{ .key = 'E', .action = act_sort_key },
	{ .key = 'L', .action = act_sort_key },
	{ .key = '/', .name = "/", .help = "filter routes (Enter applies, Esc clears)", .action = act_filter },
	{ .key = KEYS_ENTER, .name = "Enter", .help = "details of the selected endpoint", .action = act_enter },
	{ .key = '\r', .action = act_enter },
	{ .key = KEYS_ESC, .name = "Esc", .help = "back to the table / clear the filter", .action = act_back },
	{ .key = KEYS_BACKSPACE, .action = act_back },
	{ .key = 'w', .name = "w", .help = "window: last interval, 1 min, 5 min, since start", .action = act_window },
	{ .key = 'p', .name = "p", .help = "pause the display (data is still collected)", .action = act_pause },
	{ .key = 'c', .name = "c", .help = "clear counters and windows", .action = act_clear },
	{ .key = 'u', .name = "u", .help = "upstreams: the target's own calls to its backends", .action = act_upstreams },
	{ .key = 't', .name = "t", .help = "targets: a row per target (TARGET column) / folded together", .action = act_fold_targets },
	{ .key = 'h', .name = "h ? F1", .help = "this help", .action = act_help },
	{ .key = '?', .action = act_help },
	{ .key = KEYS_F1, .action = act_help },
	{ .key = 'q', .name = "q", .help = "quit (the DB is flushed)", .action = act_quit },
	{ .key = KEYS_RESIZE, .action = act_resize },
	{ 0 },
};

/* The filter prompt owns the keyboard while open. */
static int prompt_key(struct view *v, int key)
{
	size_t len = strlen(v->prompt_buf);
	switch (key) {
	case KEYS_ENTER:
	case '\r':
		v->prompt = false;
		view_set_filter(v, v->prompt_buf);
		break;
	case KEYS_ESC:
		v->prompt = false;
		view_set_filter(v, "");
		break;
	case KEYS_BACKSPACE:
	case 8:
		if (len)
			v->prompt_buf[len - 1] = '\0';
		break;
	case 21:                     /* Ctrl-U */
		v->prompt_buf[0] = '\0';
		break;
	case KEYS_RESIZE:
		return REACT_RESIZE | REACT_REDRAW;
	default:
		if (key >= 0x20 && key < 0x7f && len + 1 < sizeof(v->prompt_buf)) {
			v->prompt_buf[len] = (char)key;
			v->prompt_buf[len + 1] = '\0';
		} else {
			return REACT_NONE;
		}
	}
	return REACT_REDRAW;
}

int keys_dispatch(struct view *v, int key)
{
	if (v->prompt)
		return prompt_key(v, key);
	if (v->help && key != KEYS_RESIZE) {
		v->help = false;
		return key == 'q' ? REACT_QUIT : REACT_REDRAW;
	}
	for (const struct key_binding *b = keys_table; b->action; b++)
		if (b->key == key)
			return b->action(v, key);
	return REACT_NONE;
}
