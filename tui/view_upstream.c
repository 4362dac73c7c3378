// SPDX-License-Identifier: MIT
#include "tui/view_upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void set_free(struct view_up_set *s)
{
	for (size_t i = 0; i < s->nups; i++) {
		hist_free(&s->ups[i].lat);
		hist_free(&s->ups[i].connect);
	}
	for (size_t i = 0; i < s->nroutes; i++) {
		hist_free(&s->routes[i].lat);
		hist_free(&s->routes[i].before);
		hist_free(&s->routes[i].upstream_time);
		hist_free(&s->routes[i].after);
	}
	memset(s, 0, sizeof(*s));
}

struct view_upstreams *view_up_new(void)
{
	return calloc(1, sizeof(struct view_upstreams));
}

void view_up_free(struct view_upstreams *u)
{
	if (!u)
		return;
	set_free(&u->live);
	set_free(&u->shown);
	free(u);
}

void view_up_clear(struct view_upstreams *u)
{
	set_free(&u->live);
	set_free(&u->shown);
}

static int up_merge(struct up_stats *d, const struct up_stats *s)
{
	d->requests += s->requests;
	for (int k = 0; k < 5; k++)
		d->status[k] += s->status[k];
	d->no_answer += s->no_answer;
	d->connect_failed += s->connect_failed;
	d->bytes_sent += s->bytes_sent;
	d->bytes_received += s->bytes_received;
	if (s->lat_max_us > d->lat_max_us)
		d->lat_max_us = s->lat_max_us;
	d->connects += s->connects;
	d->connects_unseen += s->connects_unseen;
	d->reused += s->reused;
	d->conns_open = s->conns_open;
	if (s->host[0])
		memcpy(d->host, s->host, sizeof(d->host));
	return hist_merge(&d->lat, &s->lat) | hist_merge(&d->connect, &s->connect);
}

static int route_merge(struct up_route_stats *d, const struct up_route_stats *s)
{
	d->calls += s->calls;
	for (int k = 0; k < 5; k++)
		d->status[k] += s->status[k];
	d->no_answer += s->no_answer;
	if (s->lat_max_us > d->lat_max_us)
		d->lat_max_us = s->lat_max_us;
	d->inbound += s->inbound;
	return hist_merge(&d->lat, &s->lat) | hist_merge(&d->before, &s->before) |
	       hist_merge(&d->upstream_time, &s->upstream_time) | hist_merge(&d->after, &s->after);
}

static struct up_stats *up_slot(struct view_up_set *v, const char *name, size_t *idx)
{
	for (size_t i = 0; i < v->nups; i++)
		if (!strcmp(v->ups[i].upstream, name)) {
			*idx = i;
			return &v->ups[i];
		}
	if (v->nups == VIEW_UPS_MAX)
		return NULL;
	struct up_stats *u = &v->ups[v->nups];
	memset(u, 0, sizeof(*u));
	memcpy(u->upstream, name, sizeof(u->upstream));
	hist_init(&u->lat);
	hist_init(&u->connect);
	*idx = v->nups++;
	return u;
}

static struct up_route_stats *route_slot(struct view_up_set *v, const struct up_route_stats *r)
{
	for (size_t i = 0; i < v->nroutes; i++) {
		struct up_route_stats *x = &v->routes[i];
		if (!strcmp(x->upstream, r->upstream) && !strcmp(x->method, r->method) &&
		    !strcmp(x->route, r->route))
			return x;
	}
	if (v->nroutes == VIEW_UP_ROUTES_MAX)
		return NULL;
	struct up_route_stats *x = &v->routes[v->nroutes++];
	memset(x, 0, sizeof(*x));
	memcpy(x->upstream, r->upstream, sizeof(x->upstream));
	memcpy(x->method, r->method, sizeof(x->method));
	memcpy(x->route, r->route, sizeof(x->route));
	hist_init(&x->lat);
	hist_init(&x->before);
	hist_init(&x->upstream_time);
	hist_init(&x->after);
	return x;
}

int view_up_push(struct view_upstreams *u, const struct snapshot *s)
{
	struct view_up_set *v = &u->live;
	int err = 0;

	memset(v->last_calls, 0, sizeof(v->last_calls));
	for (size_t i = 0; i < s->nups; i++) {
		size_t idx;
		struct up_stats *d = up_slot(v, s->ups[i].upstream, &idx);
		if (!d) {
			v->dropped++;
			continue;
		}
		err |= up_merge(d, &s->ups[i]);
		v->last_calls[idx] = s->ups[i].requests + s->ups[i].no_answer;
	}
	for (size_t i = 0; i < s->nup_routes; i++) {
		struct up_route_stats *d = route_slot(v, &s->up_routes[i]);
		if (!d) {
			v->dropped++;
			continue;
		}
		err |= route_merge(d, &s->up_routes[i]);
	}
	const struct up_counters *c = &s->upc;
	v->links.calls_linked += c->calls_linked;
	v->links.calls_by_order += c->calls_by_order;
	v->links.calls_unlinked += c->calls_unlinked;
	v->links.inbound_linked += c->inbound_linked;
	v->links.link_overflow += c->link_overflow;
	v->links.up_overflow += c->up_overflow;
	v->links.route_overflow += c->route_overflow;
	v->links.unix_conns = c->unix_conns;          /* a gauge */
	memcpy(v->links.unix_path, c->unix_path, sizeof(v->links.unix_path));
	v->last_dur_ms = s->dur_ms;
	return err ? -ENOMEM : 0;
}

/* A deep copy: the histograms are merged into fresh ones. */
void view_up_refresh(struct view_upstreams *u)
{
	struct view_up_set *d = &u->shown, *s = &u->live;

	set_free(d);
	*d = *s;
	for (size_t i = 0; i < s->nups; i++) {
		hist_init(&d->ups[i].lat);
		hist_init(&d->ups[i].connect);
		hist_merge(&d->ups[i].lat, &s->ups[i].lat);
		hist_merge(&d->ups[i].connect, &s->ups[i].connect);
	}
	for (size_t i = 0; i < s->nroutes; i++) {
		struct up_route_stats *x = &d->routes[i];
		const struct up_route_stats *y = &s->routes[i];
		hist_init(&x->lat);
		hist_init(&x->before);
		hist_init(&x->upstream_time);
		hist_init(&x->after);
		hist_merge(&x->lat, &y->lat);
		hist_merge(&x->before, &y->before);
		hist_merge(&x->upstream_time, &y->upstream_time);
		hist_merge(&x->after, &y->after);
	}
}

size_t view_up_of_route(const struct view_upstreams *u, const char *method, const char *route,
			const struct up_route_stats **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; u && i < u->shown.nroutes && n < max; i++) {
		const struct up_route_stats *r = &u->shown.routes[i];
		if (!strcmp(r->method, method) && !strcmp(r->route, route))
			out[n++] = r;
	}
	return n;
}
