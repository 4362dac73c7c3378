// SPDX-License-Identifier: MIT
#include "tui/screen_upstream.h"

#include <stdio.h>
#include <string.h>

#include "format/units.h"
#include "tui/view_upstream.h"

#define DETAIL_UPS_MAX 4     /* upstream lines in an endpoint's detail */

static const char *lat(const struct hist *h, double q, char *b, size_t n)
{
	return h->count ? fmt_latency(hist_percentile(h, q), b, n) : "-";
}

static double err_pct(const struct up_stats *u)
{
	uint64_t all = u->requests + u->no_answer + u->connect_failed;

	return all ? 100.0 * (double)(u->status[4] + u->no_answer + u->connect_failed) / (double)all : 0;
}

static void draw_up_row(const struct view_up_set *s, size_t i, struct cellbuf *cb, int row)
{
	const struct up_stats *u = &s->ups[i];
	double secs = s->last_dur_ms ? (double)s->last_dur_ms / 1000.0 : 1.0;
	char line[256], b[13][16];
	enum style st = u->status[4] || u->no_answer || u->connect_failed ? ST_WARN : ST_NORMAL;

	snprintf(line, sizeof(line),
		 "%-21.21s %6s %7s %5.1f %7s %7s %7s %7s %6s %6s %5s %5s %6s %5s %5s %4lu",
		 u->upstream, fmt_rate((double)s->last_calls[i] / secs, b[0], 16),
		 fmt_count(u->requests + u->no_answer, b[1], 16), err_pct(u),
		 lat(&u->lat, 0.50, b[2], 16), lat(&u->lat, 0.90, b[3], 16),
		 lat(&u->lat, 0.99, b[4], 16), u->lat.count ? fmt_latency(u->lat_max_us, b[5], 16) : "-",
		 fmt_count(u->status[1], b[6], 16), fmt_count(u->status[4], b[7], 16),
		 fmt_count(u->no_answer, b[8], 16), fmt_count(u->connect_failed, b[9], 16),
		 u->connect.count ? fmt_latency(hist_percentile(&u->connect, 0.5), b[10], 16) : "-",
		 fmt_count(u->connects + u->connects_unseen, b[11], 16), fmt_count(u->reused, b[12], 16),
		 (unsigned long)u->conns_open);
	cellbuf_text(cb, row, 0, cb->cols, st, line);
}

static void draw_route_row(const struct up_route_stats *r, struct cellbuf *cb, int row)
{
	char line[320], cut[40], b[8][16];

	snprintf(line, sizeof(line), "%-21.21s %-6.6s %-28s %6s %7s %7s %7s %7s %7s %7s %7s",
		 r->upstream, r->method, fmt_middle(r->route, 28, cut, sizeof(cut)),
		 fmt_count(r->calls, b[0], 16), lat(&r->lat, 0.50, b[1], 16), lat(&r->lat, 0.99, b[2], 16),
		 lat(&r->before, 0.50, b[3], 16), lat(&r->upstream_time, 0.50, b[4], 16),
		 lat(&r->after, 0.50, b[5], 16), lat(&r->after, 0.99, b[6], 16),
		 fmt_count(r->status[4] + r->no_answer, b[7], 16));
	cellbuf_text(cb, row, 0, cb->cols, r->status[4] || r->no_answer ? ST_WARN : ST_NORMAL, line);
}

static void header_row(struct cellbuf *cb, int row, const char *text)
{
	cellbuf_fill(cb, row, 0, cb->cols, ST_COLHDR, ' ');
	cellbuf_text(cb, row, 0, cb->cols, ST_COLHDR, text);
}

void screen_draw_upstreams(const struct view *v, struct cellbuf *cb, int top, int nrows)
{
	const struct view_up_set *s = v->ups ? &v->ups->shown : NULL;
	int row = top, end = top + nrows;
	char line[256];

	header_row(cb, row++, "UPSTREAM               REQ/S    REQS  ERR%     P50     P90     P99"
		   "     MAX    2XX    5XX NOANS CFAIL CONN50  NEWC REUSE OPEN");
	if (s && s->links.unix_conns && row < end) {
		snprintf(line, sizeof(line), "unix socket %s: %lu connections, not visible to packet"
			 " capture, not in this table", s->links.unix_path,
			 (unsigned long)s->links.unix_conns);
		cellbuf_text(cb, row++, 0, cb->cols, ST_WARN, line);
	}
	if (!s || (!s->nups && !s->nroutes)) {
		cellbuf_text(cb, row, 1, -1, ST_LABEL,
			     "(no outgoing calls seen: the target calls no backend over TCP yet;"
			     " a backend on a unix socket is not visible to packet capture)");
		return;
	}
	for (size_t i = 0; i < s->nups && row < end; i++)
		draw_up_row(s, i, cb, row++);
	if (row >= end)
		return;
	const struct up_counters *c = &s->links;
	uint64_t all = c->calls_linked + c->calls_unlinked;
	char pct[16] = "-";
	if (all)
		snprintf(pct, sizeof(pct), "%.1f%%", 100.0 * (double)c->calls_linked / (double)all);
	/* Links are decided a few seconds after each request (uplink.h). */
	snprintf(line, sizeof(line), "since start | calls linked to inbound requests %lu of %lu"
		 " decided (%s, %lu by order) | overflow %lu",
		 (unsigned long)c->calls_linked, (unsigned long)all, pct,
		 (unsigned long)c->calls_by_order,
		 (unsigned long)(c->link_overflow + c->up_overflow + c->route_overflow + s->dropped));
	cellbuf_text(cb, row++, 0, cb->cols, ST_LABEL, line);
	if (row >= end || !s->nroutes)
		return;
	header_row(cb, row++, "UPSTREAM               METHOD ROUTE                         CALLS"
		   "     P50     P99   PRE50    UP50  POST50  POST99     ERR");
	for (size_t i = 0; i < s->nroutes && row < end; i++)
		draw_route_row(&s->routes[i], cb, row++);
}

int screen_detail_upstream_rows(const struct view *v)
{
	const struct up_route_stats *r[DETAIL_UPS_MAX];
	size_t n = v->detail.valid ? view_up_of_route(v->ups, v->detail.method, v->detail.route, r,
						      DETAIL_UPS_MAX) : 0;

	return n ? (int)n + 1 : 0;
}

void screen_draw_detail_upstreams(const struct view *v, struct cellbuf *cb, int top, int nrows)
{
	const struct up_route_stats *r[DETAIL_UPS_MAX];
	size_t n = view_up_of_route(v->ups, v->detail.method, v->detail.route, r, DETAIL_UPS_MAX);
	char line[256], b[10][16];

	if (!n || nrows < 2)
		return;
	header_row(cb, top, "upstreams (since start)   CALLS     P50     P99 | before p50/p99"
		   "   upstream p50/p99   after p50/p99");
	for (size_t i = 0; i < n && (int)i + 1 < nrows; i++) {
		snprintf(line, sizeof(line), "%-22.22s %8s %7s %7s | %6s %6s    %7s %7s   %6s %6s",
			 r[i]->upstream, fmt_count(r[i]->calls, b[0], 16), lat(&r[i]->lat, 0.5, b[1], 16),
			 lat(&r[i]->lat, 0.99, b[2], 16), lat(&r[i]->before, 0.5, b[3], 16),
			 lat(&r[i]->before, 0.99, b[4], 16), lat(&r[i]->upstream_time, 0.5, b[5], 16),
			 lat(&r[i]->upstream_time, 0.99, b[6], 16), lat(&r[i]->after, 0.5, b[7], 16),
			 lat(&r[i]->after, 0.99, b[8], 16));
		cellbuf_text(cb, top + 1 + (int)i, 0, cb->cols, ST_NORMAL, line);
	}
}
