// SPDX-License-Identifier: MIT
#include "collector/upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/uplink.h"

#define UPSTREAM_RUN_EVERY_NS 200000000ull

struct up_row {
	uint32_t hash;
	bool active;               /* has something to report this interval */
	struct up_stats s;
};

struct route_row {
	uint32_t hash;
	struct up_route_stats s;
};

struct upstream {
	struct upstream_config cfg;
	struct up_row *ups;
	size_t nups;               /* rows in use; row "*" counts as one */
	int other;                 /* index of "*", -1 none */
	struct route_row *routes;
	size_t nroutes;
	struct uplink *link;
	struct uplink_sink sink;
	struct up_counters cnt;    /* since start; snapshots get deltas */
	struct up_counters last;
	uint64_t ran_ns;           /* packet time the link rule last ran */
};

static uint32_t name_hash(const char *a, const char *b, const char *c)
{
	uint32_t h = 2166136261u;
	const char *parts[3] = { a, b, c };

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; p && *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		h = (h ^ 0xff) * 16777619u;
	}
	return h;
}

static void up_row_init(struct up_row *r, const char *name, uint32_t hash)
{
	memset(r, 0, sizeof(*r));
	r->hash = hash;
	snprintf(r->s.upstream, sizeof(r->s.upstream), "%s", name);
	hist_init(&r->s.lat);
	hist_init(&r->s.connect);
}

/* The row of peer: found, created, or "*" past the bound (counted). */
static struct up_row *up_row_of(struct upstream *u, const char *peer, bool count_overflow)
{
	uint32_t h = name_hash(peer, NULL, NULL);

	for (size_t i = 0; i < u->nups; i++)
		if (u->ups[i].hash == h && (int)i != u->other && !strcmp(u->ups[i].s.upstream, peer))
			return &u->ups[i];
	if (u->nups - (u->other >= 0) >= u->cfg.max_upstreams) {
		if (count_overflow)
			u->cnt.up_overflow++;
		if (u->other < 0) {
			u->other = (int)u->nups;
			up_row_init(&u->ups[u->nups++], UP_OTHER_NAME, 0);
		}
		return &u->ups[u->other];
	}
	up_row_init(&u->ups[u->nups], peer, h);
	return &u->ups[u->nups++];
}

static struct up_route_stats *route_row_of(struct upstream *u, const char *peer, const char *method,
					   const char *route)
{
	uint32_t h = name_hash(peer, method, route);

	for (size_t i = 0; i < u->nroutes; i++) {
		struct up_route_stats *s = &u->routes[i].s;
		if (u->routes[i].hash == h && !strcmp(s->upstream, peer) && !strcmp(s->method, method) &&
		    !strcmp(s->route, route))
			return s;
	}
	if (u->nroutes == u->cfg.max_routes) {
		u->cnt.route_overflow++;
		return NULL;
	}
	struct route_row *r = &u->routes[u->nroutes++];
	memset(r, 0, sizeof(*r));
	r->hash = h;
	snprintf(r->s.upstream, sizeof(r->s.upstream), "%s", peer);
	snprintf(r->s.method, sizeof(r->s.method), "%s", method);
	snprintf(r->s.route, sizeof(r->s.route), "%s", route);
	hist_init(&r->s.lat);
	hist_init(&r->s.before);
	hist_init(&r->s.upstream_time);
	hist_init(&r->s.after);
	return &r->s;
}

static uint64_t span_us(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? (to_ns - from_ns) / 1000 : 0;
}

static void count_status(uint64_t *status, uint64_t *no_answer, uint16_t code)
{
	if (code >= 100 && code < 600)
		status[code / 100 - 1]++;
	else
		(*no_answer)++;
}

/* uplink: I took these calls. Every call counts on its own row; the split
 * goes to the row of the upstream that answered last. */
static void on_linked(void *ctx, const struct uplink_in *in, const struct uplink_call *const *calls,
		      size_t n, bool by_order)
{
	struct upstream *u = ctx;
	const struct uplink_call *first = calls[0], *last = calls[n - 1];
	struct up_route_stats *r = NULL;

	(void)by_order;
	for (size_t i = 0; i < n; i++) {
		const struct uplink_call *c = calls[i];
		uint64_t lat = span_us(c->start_ns, c->end_ns);

		r = route_row_of(u, c->upstream, in->method, in->route);
		if (!r)
			continue;
		r->calls++;
		count_status(r->status, &r->no_answer, c->status);
		hist_add(&r->lat, lat);
		if (lat > r->lat_max_us)
			r->lat_max_us = lat;
	}
	if (!r || strcmp(r->upstream, last->upstream))
		return;
	r->inbound++;
	hist_add(&r->before, span_us(in->start_ns, first->start_ns));
	hist_add(&r->upstream_time, span_us(first->start_ns, last->end_ns));
	hist_add(&r->after, span_us(last->end_ns, in->end_ns));
}

struct upstream *upstream_new(const struct upstream_config *cfg)
{
	struct upstream *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->cfg = *cfg;
	if (!u->cfg.max_upstreams)
		u->cfg.max_upstreams = 256;
	if (!u->cfg.max_routes)
		u->cfg.max_routes = 2000;
	u->other = -1;
	u->ups = calloc(u->cfg.max_upstreams + 1, sizeof(*u->ups));
	u->routes = calloc(u->cfg.max_routes, sizeof(*u->routes));
	u->link = uplink_new(cfg->max_link_calls, cfg->max_link_inbound, cfg->settle_ns, 0);
	if (!u->ups || !u->routes || !u->link) {
		upstream_free(u);
		return NULL;
	}
	u->sink = (struct uplink_sink){ .linked = on_linked, .ctx = u };
	return u;
}

static void route_row_free(struct up_route_stats *s)
{
	hist_free(&s->lat);
	hist_free(&s->before);
	hist_free(&s->upstream_time);
	hist_free(&s->after);
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	for (size_t i = 0; u->ups && i < u->nups; i++) {
		hist_free(&u->ups[i].s.lat);
		hist_free(&u->ups[i].s.connect);
	}
	for (size_t i = 0; u->routes && i < u->nroutes; i++)
		route_row_free(&u->routes[i].s);
	free(u->ups);
	free(u->routes);
	uplink_free(u->link);
	free(u);
}

void upstream_note_peer(struct upstream *u, const char *peer)
{
	up_row_of(u, peer, false);
}

bool upstream_has_peer(const struct upstream *u, const char *peer)
{
	uint32_t h = name_hash(peer, NULL, NULL);

	for (size_t i = 0; i < u->nups; i++)
		if (u->ups[i].hash == h && (int)i != u->other && !strcmp(u->ups[i].s.upstream, peer))
			return true;
	return false;
}

bool upstream_any(const struct upstream *u)
{
	return u->nups > 0;
}

void upstream_add_call(struct upstream *u, const char *peer, const struct http_txn *t, bool reused)
{
	struct up_row *row = up_row_of(u, peer, true);
	struct up_stats *s = &row->s;
	uint64_t lat = span_us(t->start_ns, t->end_ns);

	row->active = true;
	if (t->status >= 100 && t->status < 600) {
		s->requests++;
		s->status[t->status / 100 - 1]++;
		hist_add(&s->lat, lat);
		if (lat > s->lat_max_us)
			s->lat_max_us = lat;
	} else {
		s->no_answer++;
	}
	s->reused += reused;
	s->bytes_sent += t->bytes_in;       /* the target is the client here */
	s->bytes_received += t->bytes_out;
	if (t->host_len) {
		size_t n = t->host_len < sizeof(s->host) - 1 ? t->host_len : sizeof(s->host) - 1;
		memcpy(s->host, t->host, n);
		s->host[n] = '\0';
	}
	struct uplink_call c = {
		.start_ns = t->start_ns,
		.end_ns = t->end_ns,
		.key = uplink_key(t->method, t->target, t->target_len),
		.status = t->status,
	};
	snprintf(c.upstream, sizeof(c.upstream), "%s", s->upstream);
	uplink_add_call(u->link, &c, &u->sink);
}

void upstream_add_connect(struct upstream *u, const char *peer, bool seen, uint64_t connect_us)
{
	struct up_row *row = up_row_of(u, peer, true);

	row->active = true;
	if (!seen) {
		row->s.connects_unseen++;
		return;
	}
	row->s.connects++;
	hist_add(&row->s.connect, connect_us);
}

void upstream_add_connect_failed(struct upstream *u, const char *peer)
{
	struct up_row *row = up_row_of(u, peer, true);

	row->active = true;
	row->s.connect_failed++;
}

void upstream_add_inbound(struct upstream *u, const struct http_txn *t, const char *route)
{
	struct uplink_in in = {
		.start_ns = t->start_ns,
		.end_ns = t->end_ns,
		.key = uplink_key(t->method, t->target, t->target_len),
	};

	snprintf(in.method, sizeof(in.method), "%s", t->method);
	snprintf(in.route, sizeof(in.route), "%s", route);
	uplink_add_inbound(u->link, &in, &u->sink);
	/* Decide by the traffic's own clock, a few times a second, so the
	 * pending tables hold about settle_ns of requests, not the seconds
	 * between the caller's expiry ticks. */
	if (t->end_ns > u->ran_ns + UPSTREAM_RUN_EVERY_NS) {
		u->ran_ns = t->end_ns;
		uplink_run(u->link, t->end_ns, false, &u->sink);
	}
}

void upstream_conn_open(struct upstream *u, const char *peer)
{
	struct up_row *row = up_row_of(u, peer, false);

	row->active = true;
	row->s.conns_open++;
}

void upstream_expire(struct upstream *u, uint64_t now_ns, bool all)
{
	uplink_run(u->link, now_ns, all, &u->sink);
}

static void counters_since(struct upstream *u, struct up_counters *out)
{
	struct uplink_stats ls;
	struct up_counters *c = &u->cnt, *l = &u->last;

	uplink_get_stats(u->link, &ls);
	c->calls_linked = ls.linked;
	c->calls_by_order = ls.by_order;
	c->calls_unlinked = ls.unlinked;
	c->inbound_linked = ls.inbound_linked;
	c->link_overflow = ls.overflow;
	out->calls_linked = c->calls_linked - l->calls_linked;
	out->calls_by_order = c->calls_by_order - l->calls_by_order;
	out->calls_unlinked = c->calls_unlinked - l->calls_unlinked;
	out->inbound_linked = c->inbound_linked - l->inbound_linked;
	out->link_overflow = c->link_overflow - l->link_overflow;
	out->up_overflow = c->up_overflow - l->up_overflow;
	out->route_overflow = c->route_overflow - l->route_overflow;
	*l = *c;
}

/* A row's interval counters restart; its name and the Host stay. */
static void up_row_reset(struct up_row *r)
{
	struct up_stats *s = &r->s;
	char name[UP_NAME_MAX], host[UP_HOST_MAX];

	memcpy(name, s->upstream, sizeof(name));
	memcpy(host, s->host, sizeof(host));
	up_row_init(r, name, r->hash);
	memcpy(r->s.host, host, sizeof(host));
}

int upstream_snapshot(struct upstream *u, struct snapshot *s)
{
	size_t n = 0;

	counters_since(u, &s->upc);
	for (size_t i = 0; i < u->nups; i++)
		n += u->ups[i].active;
	if (n && !(s->ups = calloc(n, sizeof(*s->ups))))
		return -ENOMEM;
	if (u->nroutes && !(s->up_routes = calloc(u->nroutes, sizeof(*s->up_routes))))
		return -ENOMEM;
	for (size_t i = 0; i < u->nups; i++) {
		if (!u->ups[i].active)
			continue;
		s->ups[s->nups++] = u->ups[i].s;   /* the histograms move */
		up_row_reset(&u->ups[i]);
	}
	/* Route rows move whole; the table starts empty each interval. */
	for (size_t i = 0; i < u->nroutes; i++)
		s->up_routes[s->nup_routes++] = u->routes[i].s;
	u->nroutes = 0;
	return 0;
}
