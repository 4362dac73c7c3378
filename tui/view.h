/* SPDX-License-Identifier: MIT */
/*
 * view: the live view's model, with no terminal in it. It keeps what the
 * snapshots said per endpoint (tui/window.h: sliding windows, bounded
 * memory), and the state of the screen: window, sort column and order,
 * route filter, selection and scroll, mode (table, detail, help), pause.
 * The renderer (tui/screen.h) reads it; the key table (tui/keys.h) changes
 * it; tui/tui.h wires both to the terminal.
 *
 * Snapshots are copied: nothing the caller passes is kept after a call.
 * While paused, pushes still update the model, but the rows, header and
 * detail the screen shows stay as they were.
 */
#ifndef L7TOP_VIEW_H
#define L7TOP_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/sink.h"
#include "collector/snapshot.h"
#include "tui/columns.h"
#include "tui/view_upstream.h"
#include "tui/window.h"

/* Screen rows around the table: header lines, column titles, footer. */
#define VIEW_HEADER_ROWS 5
#define VIEW_CHROME_ROWS (VIEW_HEADER_ROWS + 2)

#define VIEW_FILTER_MAX  128
#define VIEW_WARN_MAX    4
#define VIEW_WARN_LEN    160
#define VIEW_SLOW_MAX    8      /* slowest requests kept per endpoint */
#define VIEW_CLIENTS_MAX 16     /* clients counted per endpoint (space-saving) */
#define VIEW_RANGES_MAX  12     /* bars in the detail's latency chart */
#define VIEW_RECENT_MS   300000 /* "recent" slow requests: the last 5 min */

/*
 * One request, for the detail's "slowest recent requests" and "top
 * clients". The view already takes these from each snapshot's ep_stats
 * (slowest[], clients[], codes[]); this is for callers with more (e.g. a
 * request log). Without either, the detail says "(not recorded yet)".
 */
struct tui_request {
	uint64_t ts_ms;                /* unix ms the request started */
	uint64_t latency_us;
	uint16_t status;
	char method[METHOD_MAX];
	char route[ROUTE_MAX];         /* folded route, as in ep_stats */
	struct peer_addr client;       /* port 0: top clients count the address */
};

enum view_mode { VIEW_TABLE, VIEW_DETAIL };

struct view_span {                     /* header totals over a span */
	uint64_t requests, status[STATUS_CLASSES], bytes_in, bytes_out;
	uint64_t aborted;              /* requests whose client left before the response */
	uint64_t p50, p99, dur_ms;
};

struct view_header {
	char target[64];
	size_t npids;
	char ports[64];
	char netns[64];
	char db_path[256];             /* "" when no DB */
	char db_error[VIEW_WARN_LEN];
	uint64_t db_dropped;
	uint64_t uptime_ms;
	struct view_span last, all;
	struct snap_counters c_last;   /* the last interval's loss counters */
	struct snap_counters c_all;    /* summed since start (conns_open: last) */
	size_t neps;
	uint64_t folded;               /* requests of rows the full view moved into OTHER */
	char warn[VIEW_WARN_MAX][VIEW_WARN_LEN];
	size_t nwarn;
	uint32_t intervals;
	uint64_t slot_ms;              /* the 1 and 5 min windows' step (see VIEW_SLOTS_MAX) */
};

struct view_slow {
	uint64_t ts_ms, latency_us;
	uint16_t status;
	struct peer_addr client;       /* text only when drawn (peer_text) */
};

struct view_client {
	struct peer_addr addr;         /* port 0 */
	uint64_t n;
};

struct view_range {
	uint64_t lo, hi;               /* µs, [lo, hi); hi 0 = open end */
	uint64_t n;
};

struct view_code {
	uint16_t code;                 /* 0: every other code */
	uint64_t n;
};

#define VIEW_CODES_MAX 12

struct view_detail {
	bool valid;
	char target[TARGET_NAME_MAX];  /* "" unless the TARGET column is shown */
	bool folded;                   /* summed across targets (`t`): counts and
					* latency are every target's, the request
					* lists the first one's */
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	struct win_stats st;
	size_t nranges;
	struct view_range range[VIEW_RANGES_MAX];
	bool have_requests;            /* any tui_request seen at all */
	size_t nslow, nclients;
	struct view_slow slow[VIEW_SLOW_MAX];
	struct view_client clients[8];
	size_t ncodes;                 /* every status code seen, by code */
	struct view_code codes[VIEW_CODES_MAX];
	uint8_t protos;                /* 1 << PROTO_* that carried it, since start */
	uint64_t grpc[GRPC_CODES];     /* gRPC calls per grpc-status, since start */
};

struct view_ep;

/*
 * The 1 and 5 min windows keep a slot per endpoint and ~5 s: 10,000
 * endpoints busy for 5 min held 60 each, 98 MB. Past this many slots in
 * all, slots double in length (up to VIEW_SLOT_MAX_MS), which halves their
 * number (~150 bytes each with their latency buckets: ~10 MB); the title
 * shows the step then.
 */
#define VIEW_SLOTS_MAX   65536
#define VIEW_SLOT_MAX_MS 80000

struct view {
	/* model */
	uint64_t interval_ms;
	struct win_clock clock;
	size_t max_eps;                /* rows before the view moves its least used into OTHER */
	struct view_ep **eps;
	size_t neps, cap;
	uint32_t *hash;                /* open addressing: ep index + 1, 0 empty */
	size_t hcap;
	struct hist all_lat;           /* every endpoint, since start */
	struct view_span all;
	struct snap_counters c_all;
	uint64_t folded;
	bool have_requests;
	struct view_header live;       /* updated on every push */
	struct snapshot *pend;         /* a push in steps (view_push_begin), held; NULL: none */
	size_t pend_at;                /* its endpoints taken so far */
	int pend_err;
	uint64_t *dense;               /* WIN_CBUCKETS scratch */

	/* what the screen shows */
	struct view_header shown;
	struct view_row *rows;         /* every endpoint, for the window */
	size_t nrows, rows_cap;
	unsigned *vis;                 /* rows passing the filter, sorted */
	size_t nvis;
	enum win_kind win;
	enum col_id sort;
	bool sort_desc;
	char filter[VIEW_FILTER_MAX];
	bool prompt;                   /* editing the filter */
	char prompt_buf[VIEW_FILTER_MAX];
	size_t sel, top;               /* into vis */
	unsigned sel_ep;               /* endpoint index of the selection */
	bool sel_valid;
	int rows_term, cols_term;
	enum view_mode mode;
	bool help;
	bool paused;
	uint32_t paused_pushes;
	struct view_detail detail;
	struct view_upstreams *ups;    /* the target's outgoing calls; NULL: out of memory */
	bool show_ups;                 /* `u`: the upstream table instead of the endpoints' */
	/* Targets, as the last snapshot named them; endpoints are per target.
	 * `t` folds them: one row per method + route (its windows merged). */
	size_t ntargets;
	char targets[TARGETS_MAX][TARGET_NAME_MAX];
	bool fold_targets;
	struct win_ep *fold_tmp;       /* scratch for a folded row; NULL until needed */
};

/* Returns 0 or -ENOMEM. */
int view_init(struct view *v, uint64_t interval_ms, size_t max_eps);
void view_free(struct view *v);

/* One interval. Returns 0 or -ENOMEM (some numbers lost, view consistent). */
/* h: the header's facts (copied; NULL keeps the last ones). */
int view_push(struct view *v, const struct snapshot *s, const struct run_info *h);
/*
 * The same push in steps, for a loop that reads packets between them: in
 * one piece, 10,000 endpoints kept the loop away from the capture ring for
 * 70-220 ms. begin takes the interval's totals and header and holds s;
 * each step takes n more endpoints, the one after the last refreshes the
 * rows and returns true: the push is complete. Until then call nothing but view_push_step(),
 * view_push_finish() (the rest at once; 0 or -ENOMEM for the whole push),
 * view_push() (finishes first) and view_free().
 */
void view_push_begin(struct view *v, struct snapshot *s, const struct run_info *h);
bool view_push_step(struct view *v, size_t n);
int view_push_finish(struct view *v);
/* Optional per-request data (see struct tui_request). */
void view_add_requests(struct view *v, const struct tui_request *r, size_t n);

/* Recomputes rows, header and detail from the model (a no-op while paused
 * unless force). */
void view_refresh(struct view *v, bool force);
void view_set_size(struct view *v, int rows, int cols);
/* Table rows that fit on the screen. */
size_t view_page(const struct view *v);

void view_move(struct view *v, long delta);
void view_home(struct view *v);
void view_end(struct view *v);
/* Sort by col; its natural order (numbers biggest first). */
void view_sort_by(struct view *v, enum col_id col);
/* The next / previous visible column (dir = +1 / -1). */
void view_sort_step(struct view *v, int dir);
void view_sort_reverse(struct view *v);
/* Copies s ("" = none) and re-filters. */
void view_set_filter(struct view *v, const char *s);
void view_cycle_window(struct view *v);
void view_set_window(struct view *v, enum win_kind k);
/* Opens the selected endpoint's detail; false if nothing is selected. */
bool view_open_detail(struct view *v);
void view_close_detail(struct view *v);
void view_toggle_pause(struct view *v);
/* Forgets every endpoint and total: since-start and windows start again. */
void view_clear(struct view *v);
/* `t`: rows per target, or folded across targets (one row per method + route). */
void view_toggle_fold_targets(struct view *v);
/* Is the TARGET column shown (several targets, not folded)? */
bool view_shows_targets(const struct view *v);
/* A row's target name: "nginx[1234]", "*" when folded or summed (OTHER). */
const char *view_target_name(const struct view *v, unsigned t);

/* The selected row or NULL. */
const struct view_row *view_selected(const struct view *v);
/* Visible row i (0 <= i < v->nvis). */
const struct view_row *view_row_at(const struct view *v, size_t i);

#endif
