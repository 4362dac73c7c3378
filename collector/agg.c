// SPDX-License-Identifier: MIT
#include "collector/agg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/topk.h"

struct agg {
	struct topk *top;       /* which endpoint owns which row */
	struct ep_stats *eps;   /* rows, indexed by topk slot; grown up to the cap */
	uint64_t *own;          /* per row: requests since its endpoint took it */
	bool *taken;            /* per row: taken from another endpoint (not free) */
	size_t cap;             /* rows allocated */
	struct ep_stats other;  /* what evicted rows had counted this interval */
	uint64_t overflow;      /* requests shown in OTHER, ever */
	uint64_t since_halving_ms;
	const char *want_host, *want_method, *want_route, *want_proto;   /* for row_is() */
	long last;              /* the row the last request went to, -1 none: keep-alive
				 * traffic repeats endpoints, and a row only ever
				 * changes endpoint through ep_init() */
};

static void ep_init(struct ep_stats *e, const char *host, const char *method, const char *route,
		    const char *proto)
{
	memset(e, 0, sizeof(*e));
	hist_init(&e->lat);
	snprintf(e->host, sizeof(e->host), "%s", host);
	snprintf(e->method, sizeof(e->method), "%s", method);
	snprintf(e->route, sizeof(e->route), "%s", route);
	snprintf(e->proto, sizeof(e->proto), "%s", proto);
}

struct agg *agg_new(size_t max_endpoints)
{
	struct agg *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->last = -1;
	a->top = topk_new(max_endpoints ? max_endpoints : 1);
	if (a->top) {
		a->own = calloc(topk_cap(a->top), sizeof(*a->own));
		a->taken = calloc(topk_cap(a->top), sizeof(*a->taken));
	}
	if (!a->own || !a->taken) {
		agg_free(a);
		return NULL;
	}
	ep_init(&a->other, "", AGG_OTHER_METHOD, AGG_OTHER_ROUTE, "");
	return a;
}

void agg_free(struct agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->cap; i++)
		hist_free(&a->eps[i].lat);
	hist_free(&a->other.lat);
	free(a->eps);
	free(a->own);
	free(a->taken);
	topk_free(a->top);
	free(a);
}

/* A slot that was free when its key came is shown at once; one taken from
 * another key once its key came back AGG_CONFIRM times. */
static bool confirmed(const bool *taken, const uint64_t *own, size_t slot)
{
	return !taken[slot] || own[slot] >= AGG_CONFIRM;
}

static bool row_is(void *ctx, size_t slot)
{
	const struct agg *a = ctx;
	const struct ep_stats *e = &a->eps[slot];
	return !strcmp(e->route, a->want_route) && !strcmp(e->method, a->want_method) &&
	       !strcmp(e->host, a->want_host) && !strcmp(e->proto, a->want_proto);
}

/* Counts in OTHER what row e had this interval, and empties it. */
static void row_retire(struct agg *a, struct ep_stats *e)
{
	if (e->requests)
		ep_stats_merge(&a->other, e);
	hist_free(&e->lat);
}

static int rows_grow(struct agg *a)
{
	size_t cap = a->cap ? a->cap * 2 : 64, max = topk_cap(a->top);
	if (cap > max)
		cap = max;
	struct ep_stats *eps = realloc(a->eps, cap * sizeof(*eps));
	if (!eps)
		return -1;
	for (size_t i = a->cap; i < cap; i++)
		hist_init(&eps[i].lat);
	a->eps = eps;
	a->cap = cap;
	return 0;
}

/* The endpoint's row: found, new, or taken from the endpoint of least rank.
 * -1 only on ENOMEM (then the request is counted in OTHER). */
static long row_of(struct agg *a, const char *host, const char *method, const char *route,
		   const char *proto)
{
	bool evicted;

	a->want_host = host, a->want_method = method, a->want_route = route, a->want_proto = proto;
	if (a->last >= 0 && row_is(a, (size_t)a->last)) {
		topk_hit(a->top, (size_t)a->last, 1);
		a->own[a->last]++;
		return a->last;
	}
	/* the protocol is a few known names: its first and last bytes tell them apart */
	uint32_t ph = (uint32_t)(uint8_t)proto[0] * 31u + (uint8_t)proto[strlen(proto) - 1];
	uint32_t h = ep_hash(host, method, route) ^ ph * 2654435761u;
	long slot = topk_find(a->top, h, row_is, a);
	if (slot >= 0) {
		topk_hit(a->top, (size_t)slot, 1);
		a->own[slot]++;
		a->last = slot;
		return slot;
	}
	if (topk_victim(a->top) < 0 && topk_used(a->top) == a->cap && rows_grow(a) < 0)
		return -1;
	long victim = topk_victim(a->top);
	if (victim >= 0)
		row_retire(a, &a->eps[victim]);
	slot = (long)topk_admit(a->top, h, &evicted);
	ep_init(&a->eps[slot], host, method, route, proto);
	a->own[slot] = 1;
	a->taken[slot] = evicted;
	a->last = slot;
	return slot;
}

static void ep_count(struct ep_stats *e, const struct agg_sample *s, const char *proto)
{
	const struct req_sample *r = &s->req;
	enum proto_id pid = proto_id(proto);
	e->requests++;
	if (pid < PROTO_COUNT)
		e->protos |= (uint8_t)(1u << pid);
	if (s->aborted) {
		/* no response: nothing for the status, latency or slowest lists */
		e->aborted++;
		e->bytes_in += r->bytes_in;
		if (s->client_addr && *s->client_addr)
			ep_clients_add(e->clients, s->client_addr, 1);
		return;
	}
	if (r->grpc && r->grpc_status >= 0 && r->grpc_status < GRPC_CODES)
		e->grpc[r->grpc_status]++;
	/* a call without grpc-status did not succeed either (cut short) */
	if (r->grpc && r->grpc_status != 0 && r->status < 400)
		e->grpc_errors++;
	if (r->status >= 100 && r->status < 600)
		e->status[r->status / 100 - 1]++;
	status_counts_add(e->codes, EP_CODES, r->status, 1);
	e->bytes_in += r->bytes_in;
	e->bytes_out += r->bytes_out;
	e->lat_sum_us += r->lat_us;
	if (r->lat_us > e->lat_max_us)
		e->lat_max_us = r->lat_us;
	hist_add(&e->lat, r->lat_us);
	ep_slowest_offer(e->slowest, r);
	if (s->client_addr && *s->client_addr)
		ep_clients_add(e->clients, s->client_addr, 1);
}

void agg_add(struct agg *a, const struct agg_sample *s)
{
	const char *proto = s->proto && *s->proto ? s->proto : PROTO_NAMES[PROTO_HTTP11];
	long slot = row_of(a, s->host, s->method, s->route, proto);
	ep_count(slot >= 0 ? &a->eps[slot] : &a->other, s, proto);
}

/* The interval's counters restart; name and histogram storage stay. */
static void ep_restart(struct ep_stats *e)
{
	hist_init(&e->lat);
	e->requests = e->aborted = e->bytes_in = e->bytes_out = 0;
	e->lat_sum_us = e->lat_max_us = 0;
	memset(e->status, 0, sizeof(e->status));
	memset(e->slowest, 0, sizeof(e->slowest));
	memset(e->clients, 0, sizeof(e->clients));
	memset(e->codes, 0, sizeof(e->codes));
	memset(e->grpc, 0, sizeof(e->grpc));
	e->grpc_errors = 0;
	e->protos = 0;
}

static bool row_shown(const struct agg *a, size_t slot)
{
	return a->eps[slot].requests && confirmed(a->taken, a->own, slot);
}

static void ranks_age(struct agg *a, uint64_t dur_ms)
{
	a->since_halving_ms += dur_ms;
	if (a->since_halving_ms < AGG_HALVING_MS)
		return;
	a->since_halving_ms = 0;
	topk_halve(a->top);
}

struct snapshot *agg_snapshot(struct agg *a, uint64_t ts_ms, uint64_t dur_ms)
{
	size_t n = a->other.requests > 0, k = 0, used = topk_used(a->top);
	for (size_t i = 0; i < used; i++)
		n += row_shown(a, i);
	struct snapshot *s = snapshot_new(n);
	if (!s)
		return NULL;
	s->ts_ms = ts_ms;
	s->dur_ms = dur_ms;
	for (size_t i = 0; i < used; i++) {
		if (!row_shown(a, i))
			continue;
		/* The histogram's chunks move to the snapshot: no copy, and an
		 * endpoint that goes quiet holds no chunks afterwards. */
		s->eps[k++] = a->eps[i];
		ep_restart(&a->eps[i]);
	}
	if (a->other.requests) {
		a->overflow += a->other.requests;
		s->eps[k++] = a->other;
		ep_restart(&a->other);
	}
	ranks_age(a, dur_ms);
	return s;
}

void agg_settle(struct agg *a)
{
	for (size_t i = 0; i < topk_used(a->top); i++) {
		if (confirmed(a->taken, a->own, i) || !a->eps[i].requests)
			continue;
		row_retire(a, &a->eps[i]);
		ep_restart(&a->eps[i]);
	}
}

size_t agg_endpoints(const struct agg *a)
{
	return topk_used(a->top);
}

uint64_t agg_held(const struct agg *a)
{
	uint64_t n = 0;
	for (size_t i = 0; i < topk_used(a->top); i++)
		if (!confirmed(a->taken, a->own, i))
			n += a->eps[i].requests;
	return n;
}

uint64_t agg_overflow(const struct agg *a)
{
	return a->overflow;
}
