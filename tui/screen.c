// SPDX-License-Identifier: MIT
#include "tui/screen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "format/units.h"
#include "tui/keys.h"
#include "tui/screen_upstream.h"

/* A cursor along one row. */
struct pen {
	struct cellbuf *cb;
	int row, col;
	bool full;             /* a segment did not fit: the rest is skipped */
};

__attribute__((format(printf, 3, 4)))
static void put(struct pen *p, enum style st, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->col += cellbuf_text(p->cb, p->row, p->col, -1, st, buf);
}

/*
 * A "label value" segment, all or nothing: header lines drop their last
 * segments on a narrow screen instead of showing half a number.
 */
static void put_kv(struct pen *p, const char *label, const char *value, enum style vst)
{
	int w = utf8_width(label) + 1 + utf8_width(value);
	if (p->full || p->col + w > p->cb->cols) {
		p->full = true;
		return;
	}
	put(p, ST_LABEL, "%s ", label);
	put(p, vst, "%s", value);
	put(p, ST_NORMAL, "  ");
}

static void put_count(struct pen *p, const char *label, uint64_t v, enum style bad)
{
	char b[24];
	put_kv(p, label, fmt_count(v, b, sizeof(b)), v ? bad : ST_VALUE);
}

static double secs_of(uint64_t ms)
{
	return ms ? (double)ms / 1000.0 : 1.0;
}

static void draw_title(const struct view *v, struct cellbuf *cb)
{
	const struct view_header *h = &v->shown;
	struct pen p = { cb, 0, 0, false };
	char up[24], who[96], sort[32], paused[32];

	put(&p, ST_TITLE, "l7top");
	put(&p, ST_NORMAL, "  ");
	snprintf(who, sizeof(who), "%s %zu pid%s", h->target[0] ? h->target : "?", h->npids,
		 h->npids == 1 ? "" : "s");
	put(&p, ST_VALUE, "%s", who);
	put(&p, ST_NORMAL, "  ");
	put_kv(&p, "up", fmt_uptime(h->uptime_ms / 1000, up, sizeof(up)), ST_VALUE);
	put_kv(&p, "window", win_name(v->win), ST_TITLE);
	if ((v->win == WIN_1MIN || v->win == WIN_5MIN) && h->slot_ms > WIN_SLOT_MS) {
		char step[24];
		/* slots made longer for memory (VIEW_SLOTS_MAX): the window covers up to one more */
		put_kv(&p, "in steps of", fmt_uptime(h->slot_ms / 1000, step, sizeof(step)), ST_WARN);
	}
	if (v->paused) {
		snprintf(paused, sizeof(paused), v->paused_pushes ? "(%u new)" : "", v->paused_pushes);
		put_kv(&p, "PAUSED", paused, ST_ERROR);
	}
	if (v->filter[0])
		put_kv(&p, "filter", v->filter, ST_WARN);
	snprintf(sort, sizeof(sort), "%s %s", col_table[v->sort].title, v->sort_desc ? "desc" : "asc");
	put_kv(&p, "sort", sort, ST_VALUE);
	if (h->ports[0])
		put_kv(&p, "port", h->ports, ST_VALUE);
	/* Only when it says something: a server in the host's namespace looks as it always did. */
	if (h->netns[0] && strcmp(h->netns, "host"))
		put_kv(&p, "netns", h->netns, ST_VALUE);
}

static enum style severity_style(enum snap_severity sev)
{
	return sev == SNAP_SEV_ERROR ? ST_ERROR : sev == SNAP_SEV_WARN ? ST_WARN : ST_VALUE;
}

/* A counter-table segment on a header line; see snap_counters_segments(). */
struct segment_pen {
	struct pen *p;
	int kind;              /* enum snap_kind to draw, -1 every kind */
};

static void put_segment(const char *label, uint64_t v, const struct snap_counter_def *d, void *ctx)
{
	struct segment_pen *sp = ctx;
	if (sp->kind < 0 || (int)d->kind == sp->kind)
		put_count(sp->p, label, v, severity_style(d->severity));
}

/* A span's request figures, then the traffic counters of kind `kind`
 * (the last interval's gauges; the counters summed since start). */
static void draw_span(struct cellbuf *cb, int row, const char *label, const struct view_span *s,
		      const struct snap_counters *c, enum snap_kind kind)
{
	struct pen p = { cb, row, 0, false };
	char b[24], v[32];
	double secs = secs_of(s->dur_ms);
	double err = s->requests ? 100.0 * (double)(s->status[3] + s->status[4]) / (double)s->requests : 0;

	put(&p, ST_TITLE, "%-12s", label);
	put_kv(&p, "req/s", fmt_rate((double)s->requests / secs, b, sizeof(b)), ST_VALUE);
	snprintf(v, sizeof(v), "%.1f%%", err);
	put_kv(&p, "err", v, err > 0 ? ST_WARN : ST_VALUE);
	put_kv(&p, "p50", s->requests ? fmt_latency(s->p50, b, sizeof(b)) : "-", ST_VALUE);
	put_kv(&p, "p99", s->requests ? fmt_latency(s->p99, b, sizeof(b)) : "-", ST_VALUE);
	snprintf(v, sizeof(v), "%s/s", fmt_bytes((double)s->bytes_in / secs, b, sizeof(b)));
	put_kv(&p, "in", v, ST_VALUE);
	snprintf(v, sizeof(v), "%s/s", fmt_bytes((double)s->bytes_out / secs, b, sizeof(b)));
	put_kv(&p, "out", v, ST_VALUE);
	put_kv(&p, "4xx", fmt_count(s->status[3], b, sizeof(b)), s->status[3] ? ST_WARN : ST_VALUE);
	put_kv(&p, "5xx", fmt_count(s->status[4], b, sizeof(b)), s->status[4] ? ST_ERROR : ST_VALUE);
	snap_counters_segments(c, true, false, put_segment, &(struct segment_pen){ &p, (int)kind });
}

static void draw_header(const struct view *v, struct cellbuf *cb)
{
	const struct view_header *h = &v->shown;
	char lbl[32], up[24], b[24];
	struct pen p = { cb, 3, 0, false };

	draw_title(v, cb);
	snprintf(lbl, sizeof(lbl), "last %s", fmt_uptime((h->last.dur_ms + 500) / 1000, up, sizeof(up)));
	draw_span(cb, 1, lbl, &h->last, &h->c_last, SNAP_GAUGE);
	draw_span(cb, 2, "since start", &h->all, &h->c_all, SNAP_COUNTER);

	put(&p, ST_TITLE, "%-12s", "capture");
	snap_counters_segments(&h->c_all, false, false, put_segment, &(struct segment_pen){ &p, -1 });
	put_kv(&p, "endpoints", fmt_count(h->neps, b, sizeof(b)),
	       h->c_all.ep_overflow || h->folded ? ST_WARN : ST_VALUE);

	p = (struct pen){ cb, 4, 0, false };
	put(&p, ST_TITLE, "%-12s", "db");
	if (!h->db_path[0]) {
		put(&p, ST_LABEL, "none (--no-db)");
	} else {
		put(&p, ST_VALUE, "%s ", h->db_path);
		if (h->db_error[0])
			put(&p, ST_ERROR, "%s", h->db_error);
		else
			put(&p, ST_LABEL, "ok");
		if (h->db_dropped)
			put(&p, ST_ERROR, " (%lu snapshots dropped)", (unsigned long)h->db_dropped);
	}
	for (size_t i = 0; i < h->nwarn; i++) {
		put(&p, ST_LABEL, " | ");
		put(&p, ST_WARN, "%s", h->warn[i]);
	}
}

/* ---- table --------------------------------------------------------------- */

static void draw_table(const struct view *v, struct cellbuf *cb, int top_row, int nrows)
{
	bool vis[COL_COUNT];
	int route_w = col_fit(cb->cols, view_shows_targets(v), vis), x = 0;
	char buf[ROUTE_MAX + 8], cut[ROUTE_MAX + 8];

	cellbuf_fill(cb, top_row, 0, cb->cols, ST_COLHDR, ' ');
	for (int c = 0; c < COL_COUNT; c++) {
		if (!vis[c])
			continue;
		int w = c == COL_ROUTE ? route_w : col_table[c].width;
		enum style st = (enum col_id)c == v->sort ? ST_COLSORT : ST_COLHDR;
		if (col_table[c].left)
			cellbuf_text(cb, top_row, x, w, st, col_table[c].title);
		else
			cellbuf_text_right(cb, top_row, x, w, st, col_table[c].title);
		cellbuf_restyle(cb, top_row, x, w, st);
		x += w + 1;
	}
	if (v->nvis == 0) {
		const char *msg = v->filter[0] ? "(no route matches the filter; Esc clears it)"
			       : v->nrows ? "(nothing in this window; w changes it)"
					  : "(no requests yet)";
		cellbuf_text(cb, top_row + 1, 1, -1, ST_LABEL, msg);
		return;
	}
	for (int i = 0; i < nrows && v->top + (size_t)i < v->nvis; i++) {
		size_t idx = v->top + (size_t)i;
		const struct view_row *r = view_row_at(v, idx);
		int row = top_row + 1 + i;
		bool sel = idx == v->sel;
		x = 0;
		if (sel)
			cellbuf_fill(cb, row, 0, cb->cols, ST_SELECTED, ' ');
		for (int c = 0; c < COL_COUNT; c++) {
			if (!vis[c])
				continue;
			int w = c == COL_ROUTE ? route_w : col_table[c].width;
			enum style st = ST_NORMAL;
			col_table[c].display(r, buf, sizeof(buf));
			if (c == COL_5XX && r->st.status[4])
				st = ST_ERROR;
			else if ((c == COL_4XX && r->st.status[3]) || (c == COL_ERR && r->err_pct > 0))
				st = ST_WARN;
			if (sel)
				st = ST_SELECTED;
			if (c == COL_ROUTE)
				cellbuf_text(cb, row, x, w, st, fmt_middle(buf, (size_t)w, cut, sizeof(cut)));
			else if (col_table[c].left)
				cellbuf_text(cb, row, x, w, st, buf);
			else
				cellbuf_text_right(cb, row, x, w, st, buf);
			x += w + 1;
		}
	}
}

/* ---- detail -------------------------------------------------------------- */

/* "2.50ms" -> "2.5ms", "1.00ms" -> "1ms": range edges are round numbers. */
static char *lat_round(uint64_t us, char *buf, size_t n)
{
	char *dot, *unit;
	fmt_latency(us, buf, n);
	if (!(dot = strchr(buf, '.')))
		return buf;
	for (unit = dot + 1; *unit >= '0' && *unit <= '9'; unit++)
		;
	char *end = unit;
	while (end > dot + 1 && end[-1] == '0')
		end--;
	if (end == dot + 1)
		end = dot;
	memmove(end, unit, strlen(unit) + 1);
	return buf;
}

static int draw_bars(const struct view_detail *d, struct cellbuf *cb, int row, int col, int w,
		     int maxrows)
{
	uint64_t max = 0, total = 0;
	char lbl[48];
	int r0 = row;

	for (size_t i = 0; i < d->nranges; i++) {
		total += d->range[i].n;
		if (d->range[i].n > max)
			max = d->range[i].n;
	}
	struct pen p = { cb, row++, col, false };
	put(&p, ST_TITLE, "Latency");
	put(&p, ST_LABEL, " (%s requests)", fmt_count(total, lbl, sizeof(lbl)));
	if (!d->nranges) {
		cellbuf_text(cb, row++, col + 2, w - 2, ST_LABEL, "(no requests in this window)");
		return row - r0;
	}
	int barw = w - 15 - 15;
	for (size_t i = 0; i < d->nranges && row - r0 < maxrows; i++, row++) {
		char cnt[24], line[48];
		/* "  2.5ms-5ms  ": lo right-aligned, hi left; µ is one column
		 * but two bytes, so the alignment is done in cells. */
		char lo[16], hi[16];
		const struct view_range *rg = &d->range[i];
		cellbuf_text_right(cb, row, col, 7, ST_LABEL, rg->lo || !rg->hi ? lat_round(rg->lo, lo, sizeof(lo)) : "0");
		cellbuf_text(cb, row, col + 7, 7, ST_LABEL, rg->hi ? "-" : "+");
		if (rg->hi)
			cellbuf_text(cb, row, col + 8, 6, ST_LABEL, lat_round(rg->hi, hi, sizeof(hi)));
		int len = barw > 0 && max ? (int)((double)barw * (double)d->range[i].n / (double)max + 0.5) : 0;
		if (d->range[i].n && len == 0 && barw > 0)
			len = 1;
		cellbuf_fill(cb, row, col + 15, len, ST_BAR, 0x2588);   /* █ */
		snprintf(line, sizeof(line), "%7s %5.1f%%", fmt_count(d->range[i].n, cnt, sizeof(cnt)),
			 total ? 100.0 * (double)d->range[i].n / (double)total : 0);
		cellbuf_text(cb, row, col + 15 + (barw > 0 ? barw : 0) + 1, 14, ST_VALUE, line);
	}
	return row - r0;
}

/* "Protocols h2 http/1.1" and, for gRPC methods, the codes seen by name. */
static int draw_protocols(const struct view_detail *d, struct cellbuf *cb, int row, int col,
			  int maxrows)
{
	char b[24];
	int used = 0;
	if (maxrows < 1 || !d->protos)
		return 0;
	struct pen p = { cb, row + used++, col, false };
	put(&p, ST_TITLE, "Protocols");
	for (int i = 0; i < PROTO_COUNT; i++)
		if (d->protos & (1u << i))
			put(&p, ST_VALUE, "  %s", PROTO_NAMES[i]);
	bool grpc = false;
	for (int i = 0; i < GRPC_CODES; i++)
		grpc |= d->grpc[i] != 0;
	if (!grpc || used >= maxrows)
		return used;
	p = (struct pen){ cb, row + used++, col, false };
	put(&p, ST_TITLE, "gRPC codes");
	for (int i = 0; i < GRPC_CODES; i++) {
		if (!d->grpc[i])
			continue;
		p.col += 2;
		put_kv(&p, grpc_code_name(i), fmt_count(d->grpc[i], b, sizeof(b)),
		       i ? ST_ERROR : ST_VALUE);
		p.col -= 2;
	}
	return used;
}

static int draw_requests(const struct view_detail *d, struct cellbuf *cb, int row, int col, int w,
			 int maxrows)
{
	int r0 = row;
	char b[24];
	struct pen p = { cb, row++, col, false };

	put(&p, ST_TITLE, "Status codes");
	if (!d->ncodes)
		put(&p, ST_LABEL, "  (not recorded yet)");
	for (size_t i = 0; i < d->ncodes; i++) {
		char code[8];
		snprintf(code, sizeof(code), d->codes[i].code ? "%u" : "other", d->codes[i].code);
		p.col += 2;
		put_kv(&p, code, fmt_count(d->codes[i].n, b, sizeof(b)),
		       d->codes[i].code >= 500 ? ST_ERROR : d->codes[i].code >= 400 ? ST_WARN : ST_VALUE);
		p.col -= 2;
	}
	row += draw_protocols(d, cb, row, col, maxrows - (row - r0));
	if (row - r0 >= maxrows)
		return row - r0;
	p = (struct pen){ cb, row++, col, false };
	put(&p, ST_TITLE, "Slowest recent requests");
	if (!d->have_requests || !d->nslow) {
		put(&p, ST_LABEL, "  %s", d->have_requests ? "(none in the last 5 min)" : "(not recorded yet)");
	} else {
		for (size_t i = 0; i < d->nslow && row - r0 < maxrows - 2; i++) {
			char when[16];
			time_t t = (time_t)(d->slow[i].ts_ms / 1000);
			struct tm tm;
			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
			p = (struct pen){ cb, row++, col + 2, false };
			put(&p, ST_LABEL, "%s ", when);
			put(&p, d->slow[i].status >= 500 ? ST_ERROR : d->slow[i].status >= 400 ? ST_WARN : ST_VALUE,
			    "%3u", d->slow[i].status);
			cellbuf_text_right(cb, p.row, p.col, 8, ST_VALUE,
					   fmt_latency(d->slow[i].latency_us, b, sizeof(b)));
			p.col += 9;
			cellbuf_text(cb, p.row, p.col, w - (p.col - col), ST_NORMAL,
				     peer_text(&d->slow[i].client, b, sizeof(b)));
		}
	}
	if (row - r0 >= maxrows)
		return row - r0;
	p = (struct pen){ cb, row++, col, false };
	put(&p, ST_TITLE, "Top clients");
	if (!d->have_requests || !d->nclients) {
		put(&p, ST_LABEL, "  %s", d->have_requests ? "(none)" : "(not recorded yet)");
	} else {
		for (size_t i = 0; i < d->nclients && row - r0 < maxrows; i++) {
			p = (struct pen){ cb, row++, col + 2, false };
			put(&p, ST_VALUE, "%7s ", fmt_count(d->clients[i].n, b, sizeof(b)));
			cellbuf_text(cb, p.row, p.col, w - (p.col - col), ST_NORMAL,
				     peer_text(&d->clients[i].addr, b, sizeof(b)));
		}
	}
	return row - r0;
}

static void draw_detail(const struct view *v, struct cellbuf *cb, int top, int nrows)
{
	const struct view_detail *d = &v->detail;
	const struct win_stats *s = &d->st;
	char b[6][24], cut[ROUTE_MAX + 8];
	int ups = screen_detail_upstream_rows(v);
	if (ups > nrows / 2)
		ups = nrows / 2;
	int end = top + nrows - ups;

	if (ups)
		screen_draw_detail_upstreams(v, cb, end, ups);
	if (!d->valid) {
		cellbuf_text(cb, top, 1, -1, ST_LABEL, "(no endpoint selected; Esc goes back)");
		return;
	}
	cellbuf_fill(cb, top, 0, cb->cols, ST_COLHDR, ' ');
	struct pen p = { cb, top, 0, false };
	if (d->target[0])
		put(&p, ST_COLHDR, "%s  ", d->target);
	put(&p, ST_COLHDR, "%s ", d->method);
	int room = cb->cols - p.col - 24;
	put(&p, ST_COLHDR, "%s", fmt_middle(d->route, (size_t)(room > 8 ? room : 8), cut, sizeof(cut)));
	put(&p, ST_COLHDR, "  %s (%s)%s", win_name(v->win), fmt_uptime((s->dur_ms + 500) / 1000, b[0], 24),
	    d->folded ? "  all targets" : "");
	cellbuf_restyle(cb, top, 0, cb->cols, ST_COLHDR);

	double secs = secs_of(s->dur_ms);
	p = (struct pen){ cb, top + 1, 0, false };
	put_kv(&p, "requests", fmt_count(s->requests, b[0], 24), ST_VALUE);
	put_kv(&p, "req/s", fmt_rate((double)s->requests / secs, b[1], 24), ST_VALUE);
	for (int k = 0; k < STATUS_CLASSES; k++) {
		char l[16];         /* "%dxx" of any int: gcc -O1 checks the worst case */
		snprintf(l, sizeof(l), "%dxx", k + 1);
		put_count(&p, l, s->status[k], k == 4 ? ST_ERROR : k == 3 ? ST_WARN : ST_VALUE);
	}
	p = (struct pen){ cb, top + 2, 0, false };
	put_kv(&p, "p50", s->requests ? fmt_latency(s->p50, b[0], 24) : "-", ST_VALUE);
	put_kv(&p, "p90", s->requests ? fmt_latency(s->p90, b[1], 24) : "-", ST_VALUE);
	put_kv(&p, "p99", s->requests ? fmt_latency(s->p99, b[2], 24) : "-", ST_VALUE);
	put_kv(&p, "max", s->requests ? fmt_latency(s->lat_max_us, b[3], 24) : "-", ST_VALUE);
	put(&p, ST_LABEL, "in ");
	put(&p, ST_VALUE, "%s/s", fmt_bytes((double)s->bytes_in / secs, b[4], 24));
	put(&p, ST_LABEL, "  out ");
	put(&p, ST_VALUE, "%s/s", fmt_bytes((double)s->bytes_out / secs, b[5], 24));

	int row = top + 3;
	if (cb->cols >= 110) {                 /* bars left, requests right */
		int lw = cb->cols * 55 / 100;
		int used = draw_bars(d, cb, row + 1, 0, lw, end - row - 1);
		(void)used;
		draw_requests(d, cb, row + 1, lw + 2, cb->cols - lw - 2, end - row - 1);
	} else {
		row += draw_bars(d, cb, row, 0, cb->cols, end - row - 2);
		if (row < end)
			draw_requests(d, cb, row, 0, cb->cols, end - row);
	}
}

/* ---- help, footer -------------------------------------------------------- */

static void draw_help(struct cellbuf *cb, int top, int nrows)
{
	int w = cb->cols < 70 ? cb->cols : 70, x = (cb->cols - w) / 2, row = top;
	int n = 0;
	for (const struct key_binding *b = keys_table; b->action; b++)
		n += b->name != NULL;
	int h = n + 4 < nrows ? n + 4 : nrows;
	for (int r = 0; r < h; r++)
		cellbuf_fill(cb, top + r, x, w, ST_NORMAL, ' ');
	cellbuf_fill(cb, row, x, w, ST_COLHDR, ' ');
	cellbuf_text(cb, row++, x + 1, w - 1, ST_COLHDR, "l7top keys (any key closes)");
	row++;
	for (const struct key_binding *b = keys_table; b->action && row < top + h; b++) {
		if (!b->name)
			continue;
		cellbuf_text(cb, row, x + 2, 13, ST_KEY, b->name);
		cellbuf_text(cb, row++, x + 16, w - 16, ST_NORMAL, b->help);
	}
}

static void draw_footer(const struct view *v, struct cellbuf *cb, int row)
{
	static const char *const hints[][2] = {
		{ "h", "Help" }, { "w", "Window" }, { "/", "Filter" }, { "<>", "Sort" },
		{ "Enter", "Detail" }, { "p", "Pause" }, { "u", "Backends" },
		{ "q", "Quit" },
	};
	struct pen p = { cb, row, 0, false };

	if (v->prompt) {
		cellbuf_fill(cb, row, 0, cb->cols, ST_PROMPT, ' ');
		put(&p, ST_PROMPT, "Filter route: %s", v->prompt_buf);
		int cursor = p.col;
		put(&p, ST_PROMPT, "_   (Enter applies, Esc clears)");
		cellbuf_restyle(cb, row, cursor, 1, ST_SELECTED);
		return;
	}
	cellbuf_fill(cb, row, 0, cb->cols, ST_FOOTER, ' ');
	if (v->mode == VIEW_DETAIL) {
		put(&p, ST_KEY, "Esc");
		put(&p, ST_FOOTER, " Back  ");
		put(&p, ST_KEY, "w");
		put(&p, ST_FOOTER, " Window  ");
		put(&p, ST_KEY, "q");
		put(&p, ST_FOOTER, " Quit");
		return;
	}
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		put(&p, ST_KEY, "%s", hints[i][0]);
		put(&p, ST_FOOTER, " %s  ", hints[i][1]);
	}
}

int screen_render(const struct view *v, int rows, int cols, struct cellbuf *out)
{
	if (out->rows != rows || out->cols != cols || !out->cells) {
		if (cellbuf_resize(out, rows, cols))
			return -ENOMEM;
	} else {
		cellbuf_clear(out);
	}
	if (rows <= 0 || cols <= 0)
		return 0;
	draw_header(v, out);
	int top = VIEW_HEADER_ROWS, body = rows - VIEW_HEADER_ROWS - 1;
	if (body > 0) {
		if (v->mode == VIEW_DETAIL)
			draw_detail(v, out, top, body);
		else if (v->show_ups)
			screen_draw_upstreams(v, out, top, body);
		else
			draw_table(v, out, top, body - 1);
		if (v->help)
			draw_help(out, top, body);
	}
	if (rows > VIEW_HEADER_ROWS)
		draw_footer(v, out, rows - 1);
	return 0;
}
