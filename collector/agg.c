// SPDX-License-Identifier: MIT
#include "collector/agg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/topk.h"

/*
 * Past AGG_BATCH_ROWS rows in use a request's row, its names, its lists and
 * its histogram are cache misses, each waiting on the one before (the
 * table entry names the row, the row points to the rest): at 10,000
 * endpoints about a dozen a request. Requests then wait here, AGG_BATCH at
 * a time, and are counted in passes that fetch each level for all of them
 * before reading it, so their misses overlap. A sample's strings are
 * copies: the caller's are its own again once agg_add() returns.
 */
#define AGG_BATCH      16
#define AGG_BATCH_ROWS 256

struct agg_pending {
	struct agg_sample s;     /* its host, method and route are the copies below */
	uint32_t h;              /* row_hash() of its key */
	char host[HOST_MAX], method[METHOD_MAX], route[ROUTE_MAX];
};

struct agg {
	struct topk *top;       /* which endpoint owns which row */
	struct ep_stats *eps;   /* rows, indexed by topk slot; grown up to the cap */
	char **names;           /* per row: its names, "host\0method\0route\0proto" */
	uint64_t *own;          /* per row: requests since its endpoint took it */
	bool *taken;            /* per row: taken from another endpoint (not free) */
	size_t cap;             /* rows allocated */
	struct ep_stats other;  /* what evicted rows had counted this interval */
	uint64_t overflow;      /* requests shown in OTHER, ever */
	uint64_t since_halving_ms;
	const char *want_host, *want_method, *want_route, *want_proto;   /* for row_is() */
	uint8_t want_target;
	long last;              /* the row the last request went to, -1 none: keep-alive
				 * traffic repeats endpoints, and a row only ever
				 * changes endpoint through ep_init() */
	size_t npending;
	struct agg_pending pending[AGG_BATCH];
	struct snapshot_rows *rows;   /* the snapshots' row arrays, reused (NULL: new each) */
};

/* The row's names in one block of their own size (a route is cut at
 * ROUTE_MAX - 1 bytes, a host at HOST_MAX - 1, as the fixed fields did).
 * -1 on ENOMEM. */
static int ep_init(struct ep_stats *e, char **names, uint8_t target, const char *host,
		   const char *method, const char *route, const char *proto)
{
	size_t lh = strnlen(host, HOST_MAX - 1), lm = strnlen(method, METHOD_MAX - 1);
	size_t lr = strnlen(route, ROUTE_MAX - 1), lp = strnlen(proto, PROTO_MAX - 1);
	char *p = malloc(lh + lm + lr + lp + 4);

	memset(e, 0, sizeof(*e));
	hist_init(&e->lat);
	e->target = target;
	free(*names);
	*names = p;
	if (!p)
		return -1;
	e->host = p;
	p = (char *)memcpy(p, host, lh) + lh;
	*p++ = '\0';
	e->method = p;
	p = (char *)memcpy(p, method, lm) + lm;
	*p++ = '\0';
	e->route = p;
	p = (char *)memcpy(p, route, lr) + lr;
	*p++ = '\0';
	e->proto = p;
	p = (char *)memcpy(p, proto, lp) + lp;
	*p = '\0';
	return 0;
}

struct agg *agg_new(size_t max_endpoints)
{
	struct agg *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->last = -1;
	a->rows = snapshot_rows_new();   /* NULL: every snapshot's rows in a new array */
	a->top = topk_new(max_endpoints ? max_endpoints : 1);
	if (a->top) {
		a->own = calloc(topk_cap(a->top), sizeof(*a->own));
		a->taken = calloc(topk_cap(a->top), sizeof(*a->taken));
	}
	if (!a->own || !a->taken) {
		agg_free(a);
		return NULL;
	}
	/* OTHER sums whatever it takes, whichever target served it */
	hist_init(&a->other.lat);
	a->other.host = "";
	a->other.method = AGG_OTHER_METHOD;
	a->other.route = AGG_OTHER_ROUTE;
	a->other.proto = "";
	a->other.target = TARGET_ALL;
	return a;
}

void agg_free(struct agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->cap; i++) {
		ep_stats_free(&a->eps[i]);
		free(a->names[i]);
	}
	ep_stats_free(&a->other);
	free(a->eps);
	free(a->names);
	free(a->own);
	free(a->taken);
	topk_free(a->top);
	snapshot_rows_put(a->rows);
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
	return e->target == a->want_target && !strcmp(e->route, a->want_route) &&
	       !strcmp(e->method, a->want_method) &&
	       !strcmp(e->host, a->want_host) && !strcmp(e->proto, a->want_proto);
}

/* Counts in OTHER what row e had this interval, and empties it. */
static void row_retire(struct agg *a, struct ep_stats *e)
{
	if (e->requests)
		ep_stats_merge(&a->other, e);
	ep_stats_free(e);
}

static int rows_grow(struct agg *a)
{
	size_t cap = a->cap ? a->cap * 2 : 64, max = topk_cap(a->top);
	if (cap > max)
		cap = max;
	struct ep_stats *eps = realloc(a->eps, cap * sizeof(*eps));
	if (!eps)
		return -1;
	a->eps = eps;
	char **names = realloc(a->names, cap * sizeof(*names));
	if (!names)
		return -1;
	a->names = names;
	for (size_t i = a->cap; i < cap; i++) {
		memset(&eps[i], 0, sizeof(eps[i]));
		hist_init(&eps[i].lat);
		names[i] = NULL;
	}
	a->cap = cap;
	return 0;
}

static uint32_t row_hash(uint8_t target, const char *host, const char *method, const char *route,
			 const char *proto)
{
	/* the protocol is a few known names: its first and last bytes tell them
	 * apart; the target is a small index, mixed in the same way */
	uint32_t ph = (uint32_t)(uint8_t)proto[0] * 31u + (uint8_t)proto[strlen(proto) - 1] +
		      ((uint32_t)target << 16);
	return ep_hash(host, method, route) ^ ph * 2654435761u;
}

/* The endpoint's row: found, new, or taken from the endpoint of least rank.
 * hp: the key's row_hash() when known (NULL: worked out if needed). -1 only
 * on ENOMEM (then the request is counted in OTHER). */
static long row_of(struct agg *a, uint8_t target, const char *host, const char *method,
		   const char *route, const char *proto, const uint32_t *hp)
{
	bool evicted;

	a->want_host = host, a->want_method = method, a->want_route = route, a->want_proto = proto;
	a->want_target = target;
	if (a->last >= 0 && row_is(a, (size_t)a->last)) {
		topk_hit(a->top, (size_t)a->last, 1);
		a->own[a->last]++;
		return a->last;
	}
	uint32_t h = hp ? *hp : row_hash(target, host, method, route, proto);
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
	a->own[slot] = 1;
	a->taken[slot] = evicted;
	if (ep_init(&a->eps[slot], &a->names[slot], target, host, method, route, proto) < 0) {
		/* a nameless row would match nothing: keep it as OTHER's double */
		a->eps[slot].host = a->other.host, a->eps[slot].method = a->other.method;
		a->eps[slot].route = a->other.route, a->eps[slot].proto = a->other.proto;
		return -1;
	}
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
		if (r->client.family)
			ep_clients_add(e, &r->client, 1);
		return;
	}
	if (r->grpc && r->grpc_status >= 0 && r->grpc_status < GRPC_CODES)
		ep_grpc_add(e, r->grpc_status, 1);
	/* a call without grpc-status did not succeed either (cut short) */
	if (r->grpc && r->grpc_status != 0 && r->status < 400)
		e->grpc_errors++;
	if (r->status >= 100 && r->status < 600)
		e->status[r->status / 100 - 1]++;
	ep_codes_add(e, r->status, 1);
	e->bytes_in += r->bytes_in;
	e->bytes_out += r->bytes_out;
	e->lat_sum_us += r->lat_us;
	if (r->lat_us > e->lat_max_us)
		e->lat_max_us = r->lat_us;
	hist_add(&e->lat, r->lat_us);
	ep_slowest_offer(e, r);
	if (r->client.family)
		ep_clients_add(e, &r->client, 1);
}

static const char *sample_proto(const struct agg_sample *s)
{
	return s->proto && *s->proto ? s->proto : PROTO_NAMES[PROTO_HTTP11];
}

static void sample_count(struct agg *a, const struct agg_sample *s, const uint32_t *hp)
{
	const char *proto = sample_proto(s);
	long slot = row_of(a, s->target, s->host, s->method, s->route, proto, hp);
	ep_count(slot >= 0 ? &a->eps[slot] : &a->other, s, proto);
}

/* dst gets src cut as ep_init() cuts names (cap - 1 bytes at most). */
static const char *name_copy(char *dst, const char *src, size_t cap)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return dst;
}

/* Counts the waiting requests, in arrival order (see AGG_BATCH). */
static void pending_count(struct agg *a)
{
	size_t n = a->npending;
	long slot[AGG_BATCH];

	a->npending = 0;
	for (size_t i = 0; i < n; i++) {
		slot[i] = topk_peek(a->top, a->pending[i].h);
		if (slot[i] < 0)
			continue;
		const char *e = (const char *)&a->eps[slot[i]];
		for (size_t off = 0; off < sizeof(struct ep_stats); off += 64)
			__builtin_prefetch(e + off, 1);
		__builtin_prefetch(&a->own[slot[i]], 1);
	}
	for (size_t i = 0; i < n; i++) {
		if (slot[i] < 0)
			continue;
		const struct ep_stats *e = &a->eps[slot[i]];
		__builtin_prefetch(e->host);
		__builtin_prefetch(e->route);
		hist_prefetch(&e->lat, a->pending[i].s.req.lat_us);
		__builtin_prefetch(e->clients, 1);
		__builtin_prefetch(e->codes, 1);
		__builtin_prefetch(e->slowest, 1);
	}
	for (size_t i = 0; i < n; i++)
		sample_count(a, &a->pending[i].s, &a->pending[i].h);
}

void agg_add(struct agg *a, const struct agg_sample *s)
{
	if (topk_used(a->top) < AGG_BATCH_ROWS) {   /* (rows in use never fall) */
		sample_count(a, s, NULL);
		return;
	}
	struct agg_pending *p = &a->pending[a->npending++];
	p->s = *s;
	p->s.host = name_copy(p->host, s->host, HOST_MAX);
	p->s.method = name_copy(p->method, s->method, METHOD_MAX);
	p->s.route = name_copy(p->route, s->route, ROUTE_MAX);
	p->s.proto = sample_proto(s);
	p->h = row_hash(p->s.target, p->host, p->method, p->route, p->s.proto);
	topk_prefetch(a->top, p->h);
	if (a->npending == AGG_BATCH)
		pending_count(a);
}

/* The interval's counters restart with the names kept; what the row owned
 * (arrays, histogram chunks) has moved to a snapshot or been freed. */
static void ep_restart(struct ep_stats *e)
{
	struct ep_stats named = { .target = e->target, .host = e->host, .method = e->method,
				  .route = e->route, .proto = e->proto };   /* the key stays */
	*e = named;
	hist_init(&e->lat);
}

/* dst gets copies of src's names in s's storage. -1 on ENOMEM. */
static int names_copy(struct snapshot *s, struct ep_stats *dst, const struct ep_stats *src)
{
	dst->host = snapshot_name(s, src->host);
	dst->method = snapshot_name(s, src->method);
	dst->route = snapshot_name(s, src->route);
	dst->proto = snapshot_name(s, src->proto);
	return dst->host && dst->method && dst->route && dst->proto ? 0 : -1;
}

/* dst (named already) takes everything else src has. */
static void ep_move(struct ep_stats *dst, const struct ep_stats *src)
{
	struct ep_stats named = *dst;
	*dst = *src;
	dst->host = named.host;
	dst->method = named.method;
	dst->route = named.route;
	dst->proto = named.proto;
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
	pending_count(a);
	size_t n = a->other.requests > 0, k = 0, used = topk_used(a->top);
	for (size_t i = 0; i < used; i++)
		n += row_shown(a, i);
	struct snapshot *s = snapshot_new_rows(a->rows, n);
	if (!s)
		return NULL;
	s->ts_ms = ts_ms;
	s->dur_ms = dur_ms;
	/* names first: on ENOMEM the rows keep everything for the next one */
	for (size_t i = 0; i < used; i++)
		if (row_shown(a, i) && names_copy(s, &s->eps[k++], &a->eps[i]) < 0) {
			snapshot_free(s);
			return NULL;
		}
	k = 0;
	for (size_t i = 0; i < used; i++) {
		if (!row_shown(a, i))
			continue;
		/* The histogram's chunks and the lists move to the snapshot: no
		 * copy, and an endpoint that goes quiet holds none afterwards. */
		ep_move(&s->eps[k++], &a->eps[i]);
		ep_restart(&a->eps[i]);
	}
	if (a->other.requests) {
		a->overflow += a->other.requests;
		s->eps[k] = a->other;        /* static names */
		k++;
		ep_restart(&a->other);
	}
	ranks_age(a, dur_ms);
	return s;
}

void agg_settle(struct agg *a)
{
	pending_count(a);
	for (size_t i = 0; i < topk_used(a->top); i++) {
		if (confirmed(a->taken, a->own, i) || !a->eps[i].requests)
			continue;
		row_retire(a, &a->eps[i]);
		ep_restart(&a->eps[i]);
	}
}

size_t agg_endpoints(struct agg *a)
{
	pending_count(a);
	return topk_used(a->top);
}

uint64_t agg_held(struct agg *a)
{
	pending_count(a);
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
