// SPDX-License-Identifier: MIT
#include "tui/view.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/agg.h"

/* The one overflow row: the aggregator's OTHER. Rows the view gives up when
 * full go there too, so no screen shows two. */
#define OTHER_METHOD AGG_OTHER_METHOD
#define OTHER_ROUTE  AGG_OTHER_ROUTE


/* Per-request extras, allocated on the first tui_request for an endpoint.
 * The lists are sized by use (most endpoints have a client or two and a
 * code or two: the fixed arrays were ~1.2 KB of each endpoint's row). */
struct view_extra {
	/* at most VIEW_SLOW_MAX, VIEW_CLIENTS_MAX, VIEW_CODES_MAX: bytes do
	 * (three size_t and a padded byte were 24 bytes of every endpoint) */
	uint8_t nslow, nclients, ncodes;
	uint8_t protos;                           /* 1 << PROTO_* seen since start */
	struct view_slow slow[VIEW_SLOW_MAX];
	struct view_client *clients;              /* nclients (<= VIEW_CLIENTS_MAX) */
	struct view_code *codes;                  /* ncodes (<= VIEW_CODES_MAX), code 0: others */
	uint64_t *grpc;                           /* GRPC_CODES per grpc-status, NULL: none */
};
_Static_assert(VIEW_SLOW_MAX <= UINT8_MAX && VIEW_CLIENTS_MAX <= UINT8_MAX &&
	       VIEW_CODES_MAX <= UINT8_MAX, "view_extra counts are bytes");

static void extra_free(struct view_extra *x)
{
	if (!x)
		return;
	free(x->clients);
	free(x->codes);
	free(x->grpc);
	free(x);
}

/* One more entry for an array of n; false on ENOMEM. */
static bool extra_grow(void **arr, size_t n, size_t elem)
{
	void *p = realloc(*arr, (n + 1) * elem);
	if (!p)
		return false;
	*arr = p;
	return true;
}

struct view_ep {
	uint8_t target;                /* ep_stats.target; TARGET_ALL for OTHER */
	/* "method\0route\0" in one allocation sized by the names (fixed
	 * arrays were 280 bytes of each row, most routes are short); cut at
	 * METHOD_MAX - 1 and ROUTE_MAX - 1 bytes as the collector cuts them */
	char *method;
	const char *route;
	struct win_ep w;
	struct view_extra *x;
};

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* The names of a row in one allocation; NULL on ENOMEM. */
static char *names_new(const char *method, const char *route)
{
	method = method ? method : "";
	route = route ? route : "";
	size_t m = strnlen(method, METHOD_MAX - 1), r = strnlen(route, ROUTE_MAX - 1);
	char *p = malloc(m + r + 2);
	if (!p)
		return NULL;
	memcpy(p, method, m);
	p[m] = '\0';
	memcpy(p + m + 1, route, r);
	p[m + 1 + r] = '\0';
	return p;
}

static void ep_set_names(struct view_ep *e, char *names)
{
	free(e->method);
	e->method = names;
	e->route = names + strlen(names) + 1;
}

int view_init(struct view *v, uint64_t interval_ms, size_t max_eps)
{
	memset(v, 0, sizeof(*v));
	v->interval_ms = interval_ms ? interval_ms : 1000;
	v->max_eps = max_eps ? max_eps : 2000;
	win_clock_init(&v->clock, v->interval_ms);
	win_clock_limit(&v->clock, v->interval_ms, VIEW_SLOT_MAX_MS);
	hist_init(&v->all_lat);
	v->sort = COL_RATE;
	v->sort_desc = true;
	v->win = WIN_LAST;
	v->rows_term = 24;
	v->cols_term = 80;
	v->dense = calloc(WIN_CBUCKETS, sizeof(*v->dense));
	v->ups = view_up_new();
	return v->dense && v->ups ? 0 : -ENOMEM;
}

static void free_eps(struct view *v)
{
	for (size_t i = 0; i < v->neps; i++) {
		win_ep_free(&v->eps[i]->w);
		extra_free(v->eps[i]->x);
		free(v->eps[i]->method);
		free(v->eps[i]);
	}
	free(v->eps);
	free(v->hash);
	v->eps = NULL;
	v->hash = NULL;
	v->neps = v->cap = v->hcap = 0;
}

void view_free(struct view *v)
{
	snapshot_free(v->pend);      /* a push never finished: its endpoints are moot */
	free_eps(v);
	if (v->fold_tmp)
		win_ep_free(v->fold_tmp);
	free(v->fold_tmp);
	hist_free(&v->all_lat);
	free(v->rows);
	free(v->vis);
	free(v->dense);
	view_up_free(v->ups);
	memset(v, 0, sizeof(*v));
}

/* ---- endpoint table ------------------------------------------------------ */

/* Endpoints are target + method + route: the target, a small index, mixed in. */
static uint32_t view_hash(uint8_t target, const char *method, const char *route)
{
	return ep_hash("", method, route) ^ (uint32_t)target * 2654435761u;
}

static int rehash(struct view *v, size_t hcap)
{
	uint32_t *h = calloc(hcap, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < v->neps; i++) {
		size_t j = view_hash(v->eps[i]->target, v->eps[i]->method, v->eps[i]->route) &
			   (hcap - 1);
		while (h[j])
			j = (j + 1) & (hcap - 1);
		h[j] = (uint32_t)i + 1;
	}
	free(v->hash);
	v->hash = h;
	v->hcap = hcap;
	return 0;
}

static struct view_ep *ep_find(const struct view *v, uint8_t target, const char *method,
			       const char *route, size_t *slot)
{
	if (!v->hcap)
		return NULL;
	size_t j = view_hash(target, method, route) & (v->hcap - 1);
	while (v->hash[j]) {
		struct view_ep *e = v->eps[v->hash[j] - 1];
		if (e->target == target && !strcmp(e->method, method) && !strcmp(e->route, route))
			return e;
		j = (j + 1) & (v->hcap - 1);
	}
	if (slot)
		*slot = j;
	return NULL;
}

static struct view_ep *ep_append(struct view *v, uint8_t target, const char *method,
				  const char *route)
{
	struct view_ep *e;
	size_t slot;

	if ((v->neps + 1) * 2 > v->hcap && rehash(v, v->hcap ? v->hcap * 2 : 64))
		return NULL;
	if (v->neps == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 32;
		struct view_ep **p = realloc(v->eps, cap * sizeof(*p));
		if (!p)
			return NULL;
		v->eps = p;
		v->cap = cap;
	}
	char *names = names_new(method, route);
	if (!names || !(e = calloc(1, sizeof(*e)))) {
		free(names);
		return NULL;
	}
	e->target = target;
	ep_set_names(e, names);
	win_ep_init(&e->w);
	ep_find(v, target, method, route, &slot);
	v->eps[v->neps] = e;
	v->hash[slot] = (uint32_t)++v->neps;
	return e;
}

/*
 * The view is full and a new endpoint came in a snapshot: the row with the
 * fewest requests since start moves, every window of it, into the OTHER
 * row, and the newcomer takes its place. The collector shows only rows
 * that earned one (collector/agg.h), so first-come rows from a scan give way
 * to the endpoints of now; the rows plus OTHER still add up to everything.
 */
static struct view_ep *ep_take(struct view *v, uint8_t target, const char *method,
			       const char *route)
{
	struct view_ep *other = ep_find(v, TARGET_ALL, OTHER_METHOD, OTHER_ROUTE, NULL);
	size_t victim = SIZE_MAX;
	char *names;

	if (!other && !(other = ep_append(v, TARGET_ALL, OTHER_METHOD, OTHER_ROUTE)))
		return NULL;
	for (size_t i = 0; i < v->neps; i++)
		if (v->eps[i] != other &&
		    (victim == SIZE_MAX || v->eps[i]->w.all.requests < v->eps[victim]->w.all.requests))
			victim = i;
	if (victim == SIZE_MAX)
		return other;
	if (!(names = names_new(method, route)))
		return NULL;                      /* nothing moved yet */
	struct view_ep *e = v->eps[victim];
	win_ep_merge(&other->w, &e->w, &v->clock);
	v->folded += e->w.all.requests;
	win_ep_free(&e->w);
	extra_free(e->x);
	e->x = NULL;
	e->target = target;
	ep_set_names(e, names);
	win_ep_init(&e->w);
	if (rehash(v, v->hcap))
		return NULL;
	return e;
}

/* Finds or adds; past max_eps a snapshot's endpoint takes the least used
 * row (take), anything else goes to the OTHER row. */
static struct view_ep *ep_get(struct view *v, uint8_t target, const char *method,
			      const char *route, bool take)
{
	struct view_ep *e = ep_find(v, target, method, route, NULL);

	if (e)
		return e;
	if (v->neps < v->max_eps)
		return ep_append(v, target, method, route);
	if (take && strcmp(route, OTHER_ROUTE))
		return ep_take(v, target, method, route);
	if ((e = ep_find(v, TARGET_ALL, OTHER_METHOD, OTHER_ROUTE, NULL)))
		return e;
	return ep_append(v, TARGET_ALL, OTHER_METHOD, OTHER_ROUTE);
}

/* ---- pushing data -------------------------------------------------------- */

static void span_add(struct view_span *d, const struct ep_stats *s)
{
	d->requests += s->requests;
	d->aborted += s->aborted;
	for (int k = 0; k < STATUS_CLASSES; k++)
		d->status[k] += s->status[k];
	d->bytes_in += s->bytes_in;
	d->bytes_out += s->bytes_out;
}

static void header_from(struct view *v, const struct run_info *h)
{
	struct view_header *o = &v->live;
	if (!h)
		return;
	copy_str(o->target, sizeof(o->target), h->target);
	o->npids = h->npids;
	copy_str(o->ports, sizeof(o->ports), h->ports);
	copy_str(o->netns, sizeof(o->netns), h->netns);
	copy_str(o->db_path, sizeof(o->db_path), h->db_path);
	copy_str(o->db_error, sizeof(o->db_error), h->db_error);
	o->db_dropped = h->db_dropped;
	o->uptime_ms = h->now_ms > h->started_ms ? h->now_ms - h->started_ms : 0;
	o->nwarn = 0;
	for (size_t i = 0; i < h->nwarnings && o->nwarn < VIEW_WARN_MAX; i++)
		if (h->warnings[i] && *h->warnings[i])
			copy_str(o->warn[o->nwarn++], VIEW_WARN_LEN, h->warnings[i]);
}

static void extras_from_stats(struct view *v, struct view_ep *e, const struct ep_stats *s);

/* Slots held, once those out of every window are dropped: an idle
 * endpoint's stay until its next request otherwise. */
static size_t slots_in_use(struct view *v)
{
	size_t n = 0;
	for (size_t i = 0; i < v->neps; i++) {
		win_ep_expire(&v->eps[i]->w, &v->clock);
		n += v->eps[i]->w.nslot;
	}
	return n;
}

/* Keeps the windows' slots under VIEW_SLOTS_MAX by making them longer. */
static int slots_bound(struct view *v)
{
	int err = 0;
	while (slots_in_use(v) > VIEW_SLOTS_MAX && win_clock_can_coarsen(&v->clock)) {
		win_clock_coarsen(&v->clock);
		for (size_t i = 0; i < v->neps; i++)
			err |= win_ep_coarsen(&v->eps[i]->w);
	}
	return err;
}

/* The interval's clock, totals and header: all of a push but its endpoints. */
static int push_start(struct view *v, const struct snapshot *s, const struct run_info *h)
{
	struct ep_stats tot;
	int err = 0;

	win_clock_tick(&v->clock, s->dur_ms ? s->dur_ms : v->interval_ms);
	snapshot_total(s, &tot);
	memset(&v->live.last, 0, sizeof(v->live.last));
	span_add(&v->live.last, &tot);
	v->live.last.p50 = hist_percentile(&tot.lat, 0.50);
	v->live.last.p99 = hist_percentile(&tot.lat, 0.99);
	v->live.last.dur_ms = v->clock.last_ms;
	span_add(&v->all, &tot);
	if (hist_merge(&v->all_lat, &tot.lat))
		err = -ENOMEM;
	ep_stats_free(&tot);
	v->all.p50 = hist_percentile(&v->all_lat, 0.50);
	v->all.p99 = hist_percentile(&v->all_lat, 0.99);
	v->all.dur_ms = v->clock.total_ms;
	v->live.all = v->all;
	v->live.c_last = s->c;
	snap_counters_add(&v->c_all, &s->c);
	v->live.c_all = v->c_all;
	v->live.intervals = v->clock.interval_seq;
	v->ntargets = s->ntargets < TARGETS_MAX ? s->ntargets : TARGETS_MAX;
	memcpy(v->targets, s->targets, sizeof(v->targets));
	header_from(v, h);
	if (v->ups && view_up_push(v->ups, s))
		err = -ENOMEM;
	return err;
}

/* Endpoints [from, to) of s into their windows. */
static int push_eps(struct view *v, const struct snapshot *s, size_t from, size_t to)
{
	int err = 0;

	for (size_t i = from; i < to; i++) {
		const struct ep_stats *es = &s->eps[i];
		struct view_ep *e = ep_get(v, es->target, es->method, es->route, true);
		if (!e) {
			err = -ENOMEM;
			continue;
		}
		if (win_ep_add(&e->w, &v->clock, es))
			err = -ENOMEM;
		extras_from_stats(v, e, es);
	}
	return err;
}

static int push_end(struct view *v)
{
	int err = slots_bound(v) ? -ENOMEM : 0;

	v->live.neps = v->neps;
	v->live.folded = v->folded;
	v->live.slot_ms = (uint64_t)v->clock.ips * v->interval_ms;
	if (v->paused)
		v->paused_pushes++;
	view_refresh(v, false);
	return err;
}

int view_push(struct view *v, const struct snapshot *s, const struct run_info *h)
{
	view_push_finish(v);
	int err = push_start(v, s, h);
	err |= push_eps(v, s, 0, s->n);
	err |= push_end(v);
	return err ? -ENOMEM : 0;
}

void view_push_begin(struct view *v, struct snapshot *s, const struct run_info *h)
{
	view_push_finish(v);
	v->pend_err = push_start(v, s, h);
	v->pend = snapshot_hold(s);
	v->pend_at = 0;
}

bool view_push_step(struct view *v, size_t n)
{
	struct snapshot *s = v->pend;

	if (!s)
		return true;
	if (v->pend_at < s->n) {
		size_t to = s->n - v->pend_at > n ? v->pend_at + n : s->n;
		v->pend_err |= push_eps(v, s, v->pend_at, to);
		v->pend_at = to;
		if (n != SIZE_MAX)
			return false;  /* the rows' refresh (every row, sorted) is a slice of its own */
	}
	v->pend = NULL;
	snapshot_free(s);
	v->pend_err |= push_end(v);
	return true;
}

int view_push_finish(struct view *v)
{
	int err;

	view_push_step(v, SIZE_MAX);
	err = v->pend_err ? -ENOMEM : 0;
	v->pend_err = 0;
	return err;
}

/* Keeps the VIEW_SLOW_MAX slowest of the last VIEW_RECENT_MS. */
static void slow_add(struct view_extra *x, const struct view_slow *r)
{
	size_t i, min = 0;
	for (i = 0; i < x->nslow;) {
		if (x->slow[i].ts_ms + VIEW_RECENT_MS < r->ts_ms)
			x->slow[i] = x->slow[--x->nslow];
		else
			i++;
	}
	struct view_slow s = *r;
	if (x->nslow < VIEW_SLOW_MAX) {
		x->slow[x->nslow++] = s;
		return;
	}
	for (i = 1; i < x->nslow; i++)
		if (x->slow[i].latency_us < x->slow[min].latency_us)
			min = i;
	if (r->latency_us > x->slow[min].latency_us)
		x->slow[min] = s;
}

/* Space-saving top-k: a full table replaces its smallest counter, which
 * over-counts the newcomer by at most that counter (Metwally et al.). */
static void client_add(struct view_extra *x, const struct peer_addr *addr, uint64_t n)
{
	size_t i, min = 0;
	for (i = 0; i < x->nclients; i++) {
		if (peer_same_host(&x->clients[i].addr, addr)) {
			x->clients[i].n += n;
			return;
		}
		if (x->clients[i].n < x->clients[min].n)
			min = i;
	}
	if (x->nclients < VIEW_CLIENTS_MAX &&
	    extra_grow((void **)&x->clients, x->nclients, sizeof(*x->clients))) {
		min = x->nclients++;
		x->clients[min].n = 0;
	} else if (!x->nclients) {
		return;                        /* ENOMEM before any slot */
	}
	x->clients[min].addr = *addr;
	x->clients[min].addr.port = 0;
	x->clients[min].n += n;
}

/* Distinct codes in order of first use, up to VIEW_CODES_MAX - 1; code 0
 * takes the rest, so the counts always add up. */
static void code_add(struct view_extra *x, uint16_t code, uint64_t n)
{
	bool other = false;
	for (size_t i = 0; i < x->ncodes; i++) {
		if (x->codes[i].code == code) {
			x->codes[i].n += n;
			return;
		}
		other |= !x->codes[i].code;
	}
	if (code && x->ncodes - other >= VIEW_CODES_MAX - 1) {
		code_add(x, 0, n);
		return;
	}
	if (!extra_grow((void **)&x->codes, x->ncodes, sizeof(*x->codes)))
		return;
	x->codes[x->ncodes++] = (struct view_code){ .code = code, .n = n };
}

static struct view_extra *extra_of(struct view_ep *e)
{
	if (!e->x)
		e->x = calloc(1, sizeof(*e->x));
	return e->x;
}

/* What the collector kept about single requests this interval. */
static void extras_from_stats(struct view *v, struct view_ep *e, const struct ep_stats *s)
{
	struct view_extra *x = extra_of(e);
	if (!x)
		return;
	for (size_t k = 0; k < s->nslowest; k++) {
		const struct req_sample *r = &s->slowest[k];
		struct view_slow vs = { .ts_ms = r->ts_ms, .latency_us = r->lat_us, .status = r->status,
					.client = r->client };
		slow_add(x, &vs);
		v->have_requests = true;
	}
	for (size_t k = 0; k < s->nclients; k++)
		if (s->clients[k].n && s->clients[k].addr.family) {
			client_add(x, &s->clients[k].addr, s->clients[k].n);
			v->have_requests = true;
		}
	for (size_t k = 0; k < s->ncodes; k++)
		code_add(x, s->codes[k].code, s->codes[k].n);
	x->protos |= s->protos;
	if (s->grpc && !x->grpc)
		x->grpc = calloc(GRPC_CODES, sizeof(*x->grpc));   /* NULL: not counted */
	for (int k = 0; x->grpc && k < GRPC_CODES; k++)
		x->grpc[k] += ep_grpc(s, k);
}

void view_add_requests(struct view *v, const struct tui_request *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* a request without a target is the first one's (one target: the only one) */
		struct view_ep *e = ep_get(v, 0, r[i].method, r[i].route, false);
		if (!e)
			continue;
		if (!extra_of(e))
			continue;
		v->have_requests = true;
		struct view_slow vs = { .ts_ms = r[i].ts_ms, .latency_us = r[i].latency_us,
					.status = r[i].status, .client = r[i].client };
		slow_add(e->x, &vs);
		if (r[i].client.family)
			client_add(e->x, &r[i].client, 1);
	}
	if (!v->paused && v->mode == VIEW_DETAIL)
		view_refresh(v, false);
}

/* ---- rows, filter, sort -------------------------------------------------- */

static int row_cmp(const void *a, const void *b, void *ctx)
{
	const struct view *v = ctx;
	const struct view_row *x = &v->rows[*(const unsigned *)a];
	const struct view_row *y = &v->rows[*(const unsigned *)b];
	int c = col_table[v->sort].compare(x, y);
	if (v->sort_desc)
		c = -c;
	if (!c && v->sort != COL_ROUTE)
		c = strcmp(x->route, y->route);       /* stable, readable ties */
	if (!c)
		c = strcmp(x->method, y->method);
	return c;
}

static bool row_match(const struct view *v, const struct view_row *r)
{
	return !v->filter[0] || strstr(r->route, v->filter);
}

static void clamp_selection(struct view *v)
{
	size_t page = view_page(v);
	if (v->nvis == 0) {
		v->sel = v->top = 0;
		v->sel_valid = false;
		return;
	}
	if (v->sel >= v->nvis)
		v->sel = v->nvis - 1;
	if (v->sel < v->top)
		v->top = v->sel;
	if (page && v->sel >= v->top + page)
		v->top = v->sel - page + 1;
	if (v->top + page > v->nvis)
		v->top = v->nvis > page ? v->nvis - page : 0;
	v->sel_ep = v->rows[v->vis[v->sel]].ep;
	v->sel_valid = true;
}

/* Filters and sorts rows into vis; the selection follows its endpoint. */
static void resort(struct view *v)
{
	v->nvis = 0;
	for (size_t i = 0; i < v->nrows; i++)
		if (row_match(v, &v->rows[i]))
			v->vis[v->nvis++] = (unsigned)i;
	if (v->nvis > 1)             /* vis is NULL while no endpoint was seen */
		qsort_r(v->vis, v->nvis, sizeof(*v->vis), row_cmp, v);
	if (v->sel_valid)
		for (size_t i = 0; i < v->nvis; i++)
			if (v->rows[v->vis[i]].ep == v->sel_ep) {
				v->sel = i;
				break;
			}
	clamp_selection(v);
}

static void row_rates(struct view_row *r);

const char *view_target_name(const struct view *v, unsigned t)
{
	if (v->fold_targets)
		return "*";
	return t < v->ntargets && v->targets[t][0] ? v->targets[t] : "*";
}

bool view_shows_targets(const struct view *v)
{
	return v->ntargets > 1 && !v->fold_targets;
}

static void fill_row(struct view *v, unsigned i, struct view_row *r)
{
	const struct view_ep *e = v->eps[i];
	memset(r, 0, sizeof(*r));
	r->method = e->method;
	r->route = e->route;
	r->target = view_target_name(v, e->target);
	r->ep = i;
	win_ep_stats(&e->w, &v->clock, v->win, &r->st, v->dense);
	row_rates(r);
}

/* Rates and error share from the window's counts. */
static void row_rates(struct view_row *r)
{
	double secs = r->st.dur_ms ? (double)r->st.dur_ms / 1000.0 : 1.0;
	r->rate = (double)r->st.requests / secs;
	r->in_rate = (double)r->st.bytes_in / secs;
	r->out_rate = (double)r->st.bytes_out / secs;
	r->err_pct = r->st.requests ? 100.0 * (double)(r->st.status[3] + r->st.status[4] +
							r->st.grpc_errors) / (double)r->st.requests : 0;
}

/* Latency bars: fixed 1-2.5-5 edges, trimmed to the non-empty span, the
 * ends merged until at most VIEW_RANGES_MAX remain. */
static void detail_ranges(struct view_detail *d, const uint64_t *dense)
{
	static const uint64_t edge[] = { 0, 100, 250, 500, 1000, 2500, 5000, 10000, 25000,
					 50000, 100000, 250000, 500000, 1000000, 2500000,
					 5000000, 10000000, 30000000, 0 };
	enum { NR = sizeof(edge) / sizeof(edge[0]) - 1 };
	uint64_t n[NR] = { 0 };
	size_t lo = 0, hi = NR;        /* [lo, hi) */

	for (unsigned c = 0; c < WIN_CBUCKETS; c++) {
		if (!dense[c])
			continue;
		uint64_t mid = (win_cbucket_low(c) + win_cbucket_high(c)) / 2;
		size_t r = 0;
		while (r + 1 < NR && mid >= edge[r + 1])
			r++;
		n[r] += dense[c];
	}
	while (lo < hi && !n[lo])
		lo++;
	while (hi > lo && !n[hi - 1])
		hi--;
	d->nranges = 0;
	if (lo == hi)
		return;
	/* Keep some context: one empty range either side when there is room. */
	if (hi - lo + 2 <= VIEW_RANGES_MAX) {
		if (lo > 0)
			lo--;
		if (hi < NR)
			hi++;
	}
	uint64_t rlo = edge[lo], acc = 0;
	size_t extra = hi - lo > VIEW_RANGES_MAX ? hi - lo - VIEW_RANGES_MAX : 0;
	size_t merge_lo = (extra + 1) / 2, merge_hi = extra / 2;
	for (size_t r = lo; r < hi; r++) {
		acc += n[r];
		bool merging = (r < lo + merge_lo) || (r >= hi - merge_hi - 1 && r + 1 < hi);
		if (merging)
			continue;
		d->range[d->nranges].lo = rlo;
		d->range[d->nranges].hi = edge[r + 1];
		d->range[d->nranges].n = acc;
		d->nranges++;
		acc = 0;
		rlo = edge[r + 1];
	}
}

static int slow_cmp(const void *a, const void *b)
{
	const struct view_slow *x = a, *y = b;
	return x->latency_us < y->latency_us ? 1 : x->latency_us > y->latency_us ? -1 : 0;
}

static int client_cmp(const void *a, const void *b)
{
	const struct view_client *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	return memcmp(x->addr.addr, y->addr.addr, sizeof(x->addr.addr));
}

static int code_cmp(const void *a, const void *b)
{
	const struct view_code *x = a, *y = b;
	unsigned cx = x->code ? x->code : 1000, cy = y->code ? y->code : 1000;   /* other: last */
	return cx < cy ? -1 : cx > cy;
}

/* Targets folded (`t`): the detail of a row is every target's endpoint of
 * that method + route merged, as the row is. false: nothing to merge. */
static bool detail_folded_stats(struct view *v, const struct view_ep *e, struct view_detail *d)
{
	size_t n = 0;

	if (!v->fold_targets || v->ntargets < 2)
		return false;
	if (!v->fold_tmp && !(v->fold_tmp = calloc(1, sizeof(*v->fold_tmp))))
		return false;
	win_ep_init(v->fold_tmp);
	for (size_t i = 0; i < v->neps; i++) {
		const struct view_ep *o = v->eps[i];
		if (strcmp(o->route, e->route) || strcmp(o->method, e->method))
			continue;
		win_ep_merge(v->fold_tmp, &o->w, &v->clock);   /* -ENOMEM: counts kept */
		n++;
	}
	win_ep_stats(v->fold_tmp, &v->clock, v->win, &d->st, v->dense);
	win_ep_free(v->fold_tmp);
	return n > 0;
}

static void detail_fill(struct view *v)
{
	struct view_detail *d = &v->detail;
	if (!v->sel_valid || v->sel_ep >= v->neps) {
		d->valid = false;
		return;
	}
	const struct view_ep *e = v->eps[v->sel_ep];
	memset(d, 0, sizeof(*d));
	d->valid = true;
	copy_str(d->method, sizeof(d->method), e->method);
	copy_str(d->route, sizeof(d->route), e->route);
	if (view_shows_targets(v))
		copy_str(d->target, sizeof(d->target), view_target_name(v, e->target));
	if (detail_folded_stats(v, e, d))
		d->folded = true;
	else
		win_ep_stats(&e->w, &v->clock, v->win, &d->st, v->dense);
	detail_ranges(d, v->dense);
	d->have_requests = v->have_requests;
	if (e->x) {
		d->nslow = e->x->nslow;
		if (d->nslow) {   /* the lists are NULL while empty */
			memcpy(d->slow, e->x->slow, d->nslow * sizeof(d->slow[0]));
			qsort(d->slow, d->nslow, sizeof(d->slow[0]), slow_cmp);
		}
		struct view_client all[VIEW_CLIENTS_MAX];
		if (e->x->nclients) {
			memcpy(all, e->x->clients, e->x->nclients * sizeof(all[0]));
			qsort(all, e->x->nclients, sizeof(all[0]), client_cmp);
		}
		d->nclients = e->x->nclients < 8 ? e->x->nclients : 8;
		memcpy(d->clients, all, d->nclients * sizeof(all[0]));
		for (size_t i = 0; i < e->x->ncodes; i++)
			if (e->x->codes[i].n)
				d->codes[d->ncodes++] = e->x->codes[i];
		qsort(d->codes, d->ncodes, sizeof(d->codes[0]), code_cmp);
		d->protos = e->x->protos;
		if (e->x->grpc)
			memcpy(d->grpc, e->x->grpc, sizeof(d->grpc));
	}
}

static int by_route_method(const void *a, const void *b, void *ctx)
{
	const struct view *v = ctx;
	unsigned i = *(const unsigned *)a, j = *(const unsigned *)b;
	const struct view_ep *x = v->eps[i], *y = v->eps[j];
	int c = strcmp(x->route, y->route);
	if (!c)
		c = strcmp(x->method, y->method);
	return c ? c : (i > j) - (i < j);
}

/* One row of the endpoints idx[0..n) (one method + route, several
 * targets): their windows merged into scratch, so the percentiles come
 * from the merged histograms. The row stands for its first endpoint. */
static void fill_row_merged(struct view *v, const unsigned *idx, size_t n, struct view_row *r)
{
	const struct view_ep *lead = v->eps[idx[0]];

	memset(r, 0, sizeof(*r));
	r->method = lead->method;
	r->route = lead->route;
	r->target = "*";
	r->ep = idx[0];
	win_ep_init(v->fold_tmp);
	for (size_t k = 0; k < n; k++)
		win_ep_merge(v->fold_tmp, &v->eps[idx[k]]->w, &v->clock);   /* -ENOMEM: counts kept */
	win_ep_stats(v->fold_tmp, &v->clock, v->win, &r->st, v->dense);
	win_ep_free(v->fold_tmp);
	row_rates(r);
}

/* Targets folded together: one row per method + route. vis is scratch
 * here (resort() rebuilds it). Returns the rows made. */
static size_t fill_rows_folded(struct view *v)
{
	unsigned *idx = v->vis;
	size_t k = 0;

	if (!v->fold_tmp && !(v->fold_tmp = calloc(1, sizeof(*v->fold_tmp))))
		return 0;
	for (unsigned i = 0; i < v->neps; i++)
		idx[i] = i;
	qsort_r(idx, v->neps, sizeof(*idx), by_route_method, v);
	for (size_t i = 0, j; i < v->neps; i = j) {
		const struct view_ep *e = v->eps[idx[i]];
		for (j = i + 1; j < v->neps && !strcmp(v->eps[idx[j]]->route, e->route) &&
				!strcmp(v->eps[idx[j]]->method, e->method); j++)
			;
		if (j - i == 1) {
			fill_row(v, idx[i], &v->rows[k]);
			v->rows[k].target = "*";
		} else {
			fill_row_merged(v, idx + i, j - i, &v->rows[k]);
		}
		k++;
	}
	return k;
}

void view_toggle_fold_targets(struct view *v)
{
	v->fold_targets = !v->fold_targets;
	view_refresh(v, true);
}

void view_refresh(struct view *v, bool force)
{
	if (v->paused && !force)
		return;
	if (v->rows_cap < v->neps) {
		size_t cap = v->neps + 64;
		struct view_row *r = realloc(v->rows, cap * sizeof(*r));
		unsigned *vis = r ? realloc(v->vis, cap * sizeof(*vis)) : NULL;
		if (r)
			v->rows = r;
		if (!vis)
			return;            /* keep showing the last good rows */
		v->vis = vis;
		v->rows_cap = cap;
	}
	if (v->fold_targets && v->ntargets > 1) {
		v->nrows = fill_rows_folded(v);
	} else {
		v->nrows = v->neps;
		for (unsigned i = 0; i < v->neps; i++)
			fill_row(v, i, &v->rows[i]);
	}
	v->shown = v->live;
	if (v->ups)
		view_up_refresh(v->ups);
	resort(v);
	if (v->mode == VIEW_DETAIL)
		detail_fill(v);
}

/* ---- screen state -------------------------------------------------------- */

void view_set_size(struct view *v, int rows, int cols)
{
	v->rows_term = rows;
	v->cols_term = cols;
	clamp_selection(v);
}

size_t view_page(const struct view *v)
{
	return v->rows_term > VIEW_CHROME_ROWS ? (size_t)(v->rows_term - VIEW_CHROME_ROWS) : 1;
}

void view_move(struct view *v, long delta)
{
	if (!v->nvis)
		return;
	long s = (long)v->sel + delta;
	if (s < 0)
		s = 0;
	if (s >= (long)v->nvis)
		s = (long)v->nvis - 1;
	v->sel = (size_t)s;
	clamp_selection(v);
}

void view_home(struct view *v)
{
	v->sel = 0;
	clamp_selection(v);
}

void view_end(struct view *v)
{
	v->sel = v->nvis ? v->nvis - 1 : 0;
	clamp_selection(v);
}

void view_sort_by(struct view *v, enum col_id col)
{
	if (col >= COL_COUNT)
		return;
	v->sort = col;
	v->sort_desc = col_table[col].desc;
	resort(v);
}

void view_sort_step(struct view *v, int dir)
{
	bool vis[COL_COUNT];
	col_fit(v->cols_term, view_shows_targets(v), vis);
	int c = (int)v->sort;
	for (int i = 0; i < COL_COUNT; i++) {
		c = (c + dir + COL_COUNT) % COL_COUNT;
		if (vis[c])
			break;
	}
	view_sort_by(v, (enum col_id)c);
}

void view_sort_reverse(struct view *v)
{
	v->sort_desc = !v->sort_desc;
	resort(v);
}

void view_set_filter(struct view *v, const char *s)
{
	copy_str(v->filter, sizeof(v->filter), s);
	resort(v);
}

void view_set_window(struct view *v, enum win_kind k)
{
	v->win = k < WIN_KINDS ? k : WIN_LAST;
	view_refresh(v, true);
}

void view_cycle_window(struct view *v)
{
	view_set_window(v, (enum win_kind)((v->win + 1) % WIN_KINDS));
}

bool view_open_detail(struct view *v)
{
	if (!v->sel_valid)
		return false;
	v->mode = VIEW_DETAIL;
	detail_fill(v);
	return true;
}

void view_close_detail(struct view *v)
{
	v->mode = VIEW_TABLE;
}

void view_toggle_pause(struct view *v)
{
	v->paused = !v->paused;
	v->paused_pushes = 0;
	if (!v->paused)
		view_refresh(v, true);
}

void view_clear(struct view *v)
{
	free_eps(v);
	hist_free(&v->all_lat);
	win_clock_init(&v->clock, v->interval_ms);
	win_clock_limit(&v->clock, v->interval_ms, VIEW_SLOT_MAX_MS);
	memset(&v->all, 0, sizeof(v->all));
	memset(&v->c_all, 0, sizeof(v->c_all));
	v->folded = 0;
	v->have_requests = false;
	memset(&v->live.last, 0, sizeof(v->live.last));
	memset(&v->live.all, 0, sizeof(v->live.all));
	memset(&v->live.c_last, 0, sizeof(v->live.c_last));
	memset(&v->live.c_all, 0, sizeof(v->live.c_all));
	v->live.neps = 0;
	v->live.folded = 0;
	v->live.intervals = 0;
	if (v->ups)
		view_up_clear(v->ups);
	v->sel = v->top = 0;
	v->sel_valid = false;
	v->mode = VIEW_TABLE;
	v->paused = false;
	v->paused_pushes = 0;
	view_refresh(v, true);
}

const struct view_row *view_selected(const struct view *v)
{
	return v->sel_valid && v->sel < v->nvis ? &v->rows[v->vis[v->sel]] : NULL;
}

const struct view_row *view_row_at(const struct view *v, size_t i)
{
	return i < v->nvis ? &v->rows[v->vis[i]] : NULL;
}
