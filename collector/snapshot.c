// SPDX-License-Identifier: MIT
#include "collector/snapshot.h"

#include "collector/array_room.h"
#include "collector/word_hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct snap_counter_def snap_counter_defs[SNAP_NCOUNTERS] = {
#define SNAP_DEF(field, kind_, show_, sev, label_, unit_, metric_, help_) \
	[SNAP_C_##field] = { .name = #field, .kind = kind_, .show = show_, .severity = sev, \
			     .label = label_, .unit = unit_, .metric = metric_, .help = help_, \
			     .offset = offsetof(struct snap_counters, field) },
	SNAP_COUNTERS(SNAP_DEF)
#undef SNAP_DEF
};

void snap_counters_add(struct snap_counters *sum, const struct snap_counters *c)
{
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		uint64_t *d = snap_counter_ref(sum, i);
		uint64_t v = snap_counter_get(c, i);
		*d = snap_counter_defs[i].kind == SNAP_GAUGE ? v : *d + v;
	}
}

void snap_counters_delta(struct snap_counters *out, const struct snap_counters *now,
			 const struct snap_counters *then)
{
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		uint64_t v = snap_counter_get(now, i);
		*snap_counter_ref(out, i) = snap_counter_defs[i].kind == SNAP_GAUGE
			? v : v - snap_counter_get(then, i);
	}
}

void snap_counters_segments(const struct snap_counters *c, bool traffic, bool all,
			    snap_segment_fn *fn, void *ctx)
{
	for (size_t i = 0; i < SNAP_NCOUNTERS;) {
		const struct snap_counter_def *d = &snap_counter_defs[i];
		uint64_t v = 0;
		size_t j = i;

		for (; j < SNAP_NCOUNTERS && !strcmp(snap_counter_defs[j].label, d->label); j++)
			v += snap_counter_get(c, j);
		i = j;
		if (traffic != (d->show == SNAP_SHOW_TRAFFIC))
			continue;
		if (d->show == SNAP_SHOW_IF_SET && !v && !all)
			continue;
		fn(d->label, v, d, ctx);
	}
}

/* Zeroed rows get "" for names, as zeroed names were. */
static void rows_unnamed(struct ep_stats *eps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		eps[i].host = eps[i].method = eps[i].route = eps[i].proto = "";
}

struct snapshot_rows {
	pthread_mutex_t lock;      /* taken once an interval: by the maker, by the freer */
	unsigned refs;
	struct ep_stats *spare;
	size_t cap;
};

struct snapshot_rows *snapshot_rows_new(void)
{
	struct snapshot_rows *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->refs = 1;
	return r;
}

void snapshot_rows_put(struct snapshot_rows *r)
{
	if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL))
		return;
	free(r->spare);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* The spare array when it has room for n (then r holds none), else NULL. */
static struct ep_stats *rows_take(struct snapshot_rows *r, size_t n, size_t *cap)
{
	struct ep_stats *eps = NULL;

	pthread_mutex_lock(&r->lock);
	if (r->spare && r->cap >= n) {
		eps = r->spare;
		*cap = r->cap;
		r->spare = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	return eps;
}

/* eps becomes the spare, unless the spare already has more room. */
static void rows_give(struct snapshot_rows *r, struct ep_stats *eps, size_t cap)
{
	pthread_mutex_lock(&r->lock);
	if (!r->spare || r->cap < cap) {
		struct ep_stats *old = r->spare;
		r->spare = eps;
		r->cap = cap;
		eps = old;
	}
	pthread_mutex_unlock(&r->lock);
	free(eps);
}

struct snapshot *snapshot_new_rows(struct snapshot_rows *r, size_t n)
{
	size_t cap = 0;
	struct ep_stats *eps = r && n ? rows_take(r, n, &cap) : NULL;
	struct snapshot *s = snapshot_new(eps ? 0 : n);

	if (!s) {
		if (eps)
			rows_give(r, eps, cap);
		return NULL;
	}
	if (eps) {
		memset(eps, 0, n * sizeof(*eps));
		rows_unnamed(eps, n);
		s->eps = eps;
		s->n = n;
		s->eps_cap = cap;
	}
	if (r && s->eps) {              /* its rows go back to r when it is freed */
		__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
		s->rows_home = r;
	}
	return s;
}

struct snapshot *snapshot_new(size_t n)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (n) {
		s->eps = calloc(n, sizeof(*s->eps));
		if (!s->eps) {
			free(s);
			return NULL;
		}
	}
	rows_unnamed(s->eps, n);
	s->n = n;
	s->eps_cap = n;
	s->refs = 1;
	return s;
}

/* Name storage: blocks of at least SNAP_NAMES_BLOCK bytes, chained, so a
 * name once handed out never moves. */
#define SNAP_NAMES_BLOCK 16384
struct snap_names {
	struct snap_names *next;
	size_t used, cap;
	char buf[];
};

const char *snapshot_name(struct snapshot *s, const char *str)
{
	size_t len = strlen(str) + 1;
	struct snap_names *b = s->names;

	if (!b || b->cap - b->used < len) {
		size_t cap = len > SNAP_NAMES_BLOCK ? len : SNAP_NAMES_BLOCK;
		if (!(b = malloc(sizeof(*b) + cap)))
			return NULL;
		b->next = s->names;
		b->used = 0;
		b->cap = cap;
		s->names = b;
	}
	char *p = b->buf + b->used;
	memcpy(p, str, len);
	b->used += len;
	return p;
}

void ep_stats_free(struct ep_stats *e)
{
	hist_free(&e->lat);
	free(e->slowest);
	free(e->clients);
	free(e->codes);
	free(e->grpc);
	e->slowest = NULL;
	e->clients = NULL;
	e->codes = NULL;
	e->grpc = NULL;
	e->nslowest = e->nclients = e->ncodes = 0;
}

struct snapshot *snapshot_hold(struct snapshot *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

static size_t ep_bytes(const struct ep_stats *e)
{
	return hist_bytes(&e->lat) + array_room(e->nslowest, EP_SLOWEST) * sizeof(*e->slowest) +
	       array_room(e->nclients, EP_CLIENTS) * sizeof(*e->clients) +
	       array_room(e->ncodes, EP_CODES) * sizeof(*e->codes) +
	       (e->grpc ? GRPC_CODES * sizeof(*e->grpc) : 0);
}

size_t snapshot_bytes(const struct snapshot *s)
{
	size_t n = sizeof(*s) + s->n * sizeof(*s->eps) + s->nreqs * sizeof(*s->reqs) +
		   s->nups * sizeof(*s->ups) + s->nup_routes * sizeof(*s->up_routes) +
		   s->nfolds * sizeof(*s->folds);

	for (size_t i = 0; i < s->n; i++)
		n += ep_bytes(&s->eps[i]);
	for (const struct snap_names *b = s->names; b; b = b->next)
		n += sizeof(*b) + b->cap;
	for (size_t i = 0; i < s->nups; i++)
		n += hist_bytes(&s->ups[i].lat) + hist_bytes(&s->ups[i].connect);
	for (size_t i = 0; i < s->nup_routes; i++) {
		const struct up_route_stats *r = &s->up_routes[i];
		n += hist_bytes(&r->lat) + hist_bytes(&r->before) + hist_bytes(&r->upstream_time) +
		     hist_bytes(&r->after);
	}
	return n;
}

void snapshot_free(struct snapshot *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (size_t i = 0; i < s->n; i++)
		ep_stats_free(&s->eps[i]);
	if (s->rows_home && s->eps) {
		rows_give(s->rows_home, s->eps, s->eps_cap);
		snapshot_rows_put(s->rows_home);
	} else {
		free(s->eps);
	}
	free(s->reqs);
	for (struct snap_names *b = s->names, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	for (size_t i = 0; i < s->nups; i++) {
		hist_free(&s->ups[i].lat);
		hist_free(&s->ups[i].connect);
	}
	free(s->ups);
	for (size_t i = 0; i < s->nup_routes; i++) {
		struct up_route_stats *r = &s->up_routes[i];
		hist_free(&r->lat);
		hist_free(&r->before);
		hist_free(&r->upstream_time);
		hist_free(&r->after);
	}
	free(s->up_routes);
	free(s->folds);
	free(s);
}

static void hist_copy(struct hist *dst, const struct hist *src)
{
	hist_init(dst);
	hist_merge(dst, src);       /* -ENOMEM: the copy is short, never wrong */
}

int snapshot_copy_upstreams(struct snapshot *dst, const struct snapshot *src)
{
	dst->upc = src->upc;
	if (src->nups) {
		dst->ups = calloc(src->nups, sizeof(*dst->ups));
		if (!dst->ups)
			return -ENOMEM;
		dst->nups = src->nups;
		for (size_t i = 0; i < src->nups; i++) {
			dst->ups[i] = src->ups[i];
			hist_copy(&dst->ups[i].lat, &src->ups[i].lat);
			hist_copy(&dst->ups[i].connect, &src->ups[i].connect);
		}
	}
	if (src->nup_routes) {
		dst->up_routes = calloc(src->nup_routes, sizeof(*dst->up_routes));
		if (!dst->up_routes)
			return -ENOMEM;
		dst->nup_routes = src->nup_routes;
		for (size_t i = 0; i < src->nup_routes; i++) {
			const struct up_route_stats *r = &src->up_routes[i];
			struct up_route_stats *o = &dst->up_routes[i];
			*o = *r;
			hist_copy(&o->lat, &r->lat);
			hist_copy(&o->before, &r->before);
			hist_copy(&o->upstream_time, &r->upstream_time);
			hist_copy(&o->after, &r->after);
		}
	}
	return 0;
}

const char *const PROTO_NAMES[PROTO_COUNT] = {
	[PROTO_HTTP10] = "http/1.0", [PROTO_HTTP11] = "http/1.1",
	[PROTO_H2] = "h2", [PROTO_H2C] = "h2c",
};

enum proto_id proto_id(const char *name)
{
	/* The collector passes PROTO_NAMES' own pointers: once per request,
	 * so the addresses are tried before the names. */
	for (int i = 0; i < PROTO_COUNT; i++)
		if (name == PROTO_NAMES[i])
			return (enum proto_id)i;
	for (int i = 0; i < PROTO_COUNT; i++)
		if (!strcmp(name, PROTO_NAMES[i]))
			return (enum proto_id)i;
	return PROTO_COUNT;
}

const char *grpc_code_name(int c)
{
	static const char *const names[GRPC_CODES] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};
	return c >= 0 && c < GRPC_CODES ? names[c] : "?";
}

uint64_t ep_errors(const struct ep_stats *e)
{
	return e->status[3] + e->status[4] + e->grpc_errors;
}

const char *peer_text(const struct peer_addr *p, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	if (!n)
		return out;
	out[0] = '\0';
	if ((p->family != 4 && p->family != 6) ||
	    !inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a)))
		return out;
	if (!p->port)
		snprintf(out, n, "%s", a);
	else
		snprintf(out, n, p->family == 4 ? "%s:%u" : "[%s]:%u", a, p->port);
	return out;
}

bool peer_same_host(const struct peer_addr *a, const struct peer_addr *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
}

uint32_t ep_hash(const char *host, const char *method, const char *route)
{
	uint64_t h = word_hash(0, host, strlen(host));
	h = word_hash(h, method, strlen(method));
	return word_hash32(word_hash(h, route, strlen(route)));
}

/* Room for one more entry in a row's array of n, which holds
 * array_room(n, max); false when it has max already or on ENOMEM (the
 * caller makes do with the entries it has). */
static bool ep_grow(void **arr, size_t n, size_t max, size_t elem)
{
	if (n >= max)
		return false;
	if (n < array_room(n, max))
		return true;
	void *p = realloc(*arr, array_room(n + 1, max) * elem);
	if (!p)
		return false;
	*arr = p;
	return true;
}

void ep_slowest_offer(struct ep_stats *e, const struct req_sample *r)
{
	size_t n = e->nslowest, i = n;
	while (i > 0 && e->slowest[i - 1].lat_us < r->lat_us)
		i--;
	if (i == EP_SLOWEST)
		return;
	if (n < EP_SLOWEST && ep_grow((void **)&e->slowest, n, EP_SLOWEST, sizeof(*e->slowest)))
		e->nslowest = (uint8_t)++n;
	if (i >= n)
		return;                      /* no room to grow: kept the slower ones */
	memmove(&e->slowest[i + 1], &e->slowest[i], (n - 1 - i) * sizeof(*e->slowest));
	e->slowest[i] = *r;
}

/* Space-Saving top-k: an unseen client takes the slot of least rank and
 * inherits that rank, so a heavy hitter arriving late still gets a slot and
 * keeps it; its n counts only its own requests, so the number shown is
 * exact (what came before it took the slot is not in any slot). Slots are
 * added as clients come, up to EP_CLIENTS. */
void ep_clients_add(struct ep_stats *e, const struct peer_addr *addr, uint64_t n)
{
	struct client_count *c = e->clients;
	size_t min = 0;
	for (size_t i = 0; i < e->nclients; i++) {
		if (peer_same_host(&c[i].addr, addr)) {
			c[i].n += n;
			c[i].rank += n;
			return;
		}
		if (c[i].rank < c[min].rank)
			min = i;
	}
	if (e->nclients < EP_CLIENTS &&
	    ep_grow((void **)&e->clients, e->nclients, EP_CLIENTS, sizeof(*e->clients))) {
		c = e->clients;
		min = e->nclients++;
		c[min].rank = 0;
	} else if (!e->nclients) {
		return;                      /* ENOMEM before any slot: not counted */
	}
	c[min].rank += n;
	c[min].n = n;
	c[min].addr = *addr;
	c[min].addr.port = 0;
}

void ep_codes_add(struct ep_stats *e, uint16_t code, uint64_t n)
{
	bool other = false;

	if (code < 100 || code > 599)
		code = 0;
	for (size_t i = 0; i < e->ncodes; i++) {
		if (e->codes[i].code == code) {
			e->codes[i].n += n;
			return;
		}
		other |= !e->codes[i].code;
	}
	/* distinct codes past EP_CODES - 1 go to code 0 */
	if (code && e->ncodes - other >= EP_CODES - 1) {
		ep_codes_add(e, 0, n);
		return;
	}
	if (!ep_grow((void **)&e->codes, e->ncodes, EP_CODES, sizeof(*e->codes)))
		return;
	e->codes[e->ncodes++] = (struct status_count){ .code = code, .n = n };
}

void ep_grpc_add(struct ep_stats *e, int c, uint64_t n)
{
	if (!e->grpc && !(e->grpc = calloc(GRPC_CODES, sizeof(*e->grpc))))
		return;
	e->grpc[c] += n;
}

void status_counts_add(struct status_count *c, size_t nslots, uint16_t code, uint64_t n)
{
	size_t last = nslots - 1;

	if (code < 100 || code > 599)
		code = 0;
	for (size_t i = 0; code && i < last; i++) {
		if (c[i].n && c[i].code == code) {
			c[i].n += n;
			return;
		}
		if (!c[i].n) {
			c[i].code = code;
			c[i].n = n;
			return;
		}
	}
	c[last].code = 0;
	c[last].n += n;
}

/* dst += src's counters and histogram, not its lists (slowest, clients, codes). */
static void ep_counts_merge(struct ep_stats *dst, const struct ep_stats *src)
{
	dst->requests += src->requests;
	dst->aborted += src->aborted;
	for (int k = 0; k < STATUS_CLASSES; k++)
		dst->status[k] += src->status[k];
	dst->bytes_in += src->bytes_in;
	dst->bytes_out += src->bytes_out;
	dst->lat_sum_us += src->lat_sum_us;
	if (src->lat_max_us > dst->lat_max_us)
		dst->lat_max_us = src->lat_max_us;
	hist_merge(&dst->lat, &src->lat);
	dst->protos |= src->protos;
	dst->grpc_errors += src->grpc_errors;
	for (int i = 0; src->grpc && i < GRPC_CODES; i++)
		if (src->grpc[i])
			ep_grpc_add(dst, i, src->grpc[i]);
}

void ep_stats_merge(struct ep_stats *dst, const struct ep_stats *src)
{
	ep_counts_merge(dst, src);
	for (size_t i = 0; i < src->nslowest; i++)
		ep_slowest_offer(dst, &src->slowest[i]);
	for (size_t i = 0; i < src->nclients; i++)
		ep_clients_add(dst, &src->clients[i].addr, src->clients[i].n);
	for (size_t i = 0; i < src->ncodes; i++)
		ep_codes_add(dst, src->codes[i].code, src->codes[i].n);
}

const char *snapshot_target(const struct snapshot *s, unsigned t)
{
	return t < s->ntargets && t < TARGETS_MAX ? s->targets[t] : "";
}

const char *snapshot_row_target(const struct snapshot *s, unsigned t)
{
	if (s->ntargets < 2)
		return NULL;
	return *snapshot_target(s, t) ? snapshot_target(s, t) : "*";
}

void snapshot_total(const struct snapshot *s, struct ep_stats *out)
{
	memset(out, 0, sizeof(*out));
	hist_init(&out->lat);
	/* the headers read counts and percentiles only: merging every row's
	 * slowest, clients and codes lists cost as much as the rest */
	for (size_t i = 0; i < s->n; i++)
		ep_counts_merge(out, &s->eps[i]);
}

static int by_method_route(const void *a, const void *b)
{
	const struct ep_stats *x = *(const struct ep_stats *const *)a;
	const struct ep_stats *y = *(const struct ep_stats *const *)b;
	int c = strcmp(x->route, y->route);
	if (!c)
		c = strcmp(x->method, y->method);
	return c ? c : (int)x->target - (int)y->target;
}

/* Do two rows of s share target, method and route (hosts or protocols
 * split them)? A hash table of row numbers: linear in rows, where sorting them
 * every interval cost more than the rest of the view at 10,000 endpoints.
 * -1 on ENOMEM. */
static int rows_split(const struct snapshot *s)
{
	size_t cap = 16;
	while (cap < s->n * 2)
		cap *= 2;
	uint32_t *h = calloc(cap, sizeof(*h));   /* row + 1; 0 = empty */
	int split = 0;

	if (!h)
		return -1;
	for (size_t i = 0; i < s->n && !split; i++) {
		const struct ep_stats *e = &s->eps[i];
		size_t j = ep_hash("", e->method, e->route) & (cap - 1);
		for (; h[j]; j = (j + 1) & (cap - 1)) {
			const struct ep_stats *o = &s->eps[h[j] - 1];
			if (o->target == e->target && !strcmp(o->route, e->route) &&
			    !strcmp(o->method, e->method)) {
				split = 1;
				break;
			}
		}
		h[j] = (uint32_t)i + 1;
	}
	free(h);
	return split;
}

struct snapshot *snapshot_fold_hosts(struct snapshot *s)
{
	struct snapshot *out;
	size_t k = 0;
	int split = rows_split(s);

	if (split < 0)
		return NULL;
	if (!split) {
		/* One host per endpoint (the usual case): s already is the view,
		 * and copying 2000 histograms every second would be waste. */
		return s;
	}
	const struct ep_stats **idx = calloc(s->n ? s->n : 1, sizeof(*idx));
	if (!idx)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		idx[i] = &s->eps[i];
	qsort(idx, s->n, sizeof(*idx), by_method_route);
	out = snapshot_new(s->n);
	if (!out) {
		free(idx);
		return NULL;
	}
	out->ts_ms = s->ts_ms;
	out->dur_ms = s->dur_ms;
	out->c = s->c;
	out->ntargets = s->ntargets;
	memcpy(out->targets, s->targets, sizeof(out->targets));
	snapshot_copy_upstreams(out, s);    /* -ENOMEM: the view lacks upstreams, counted nowhere worse */
	for (size_t i = 0; i < s->n; i++) {
		if (!k || by_method_route(&idx[i], &idx[i - 1])) {
			struct ep_stats *e = &out->eps[k++];
			memset(e, 0, sizeof(*e));
			hist_init(&e->lat);
			/* names of its own: out may outlive s */
			e->host = "";
			e->method = snapshot_name(out, idx[i]->method);
			e->route = snapshot_name(out, idx[i]->route);
			e->proto = snapshot_name(out, idx[i]->proto);
			e->target = idx[i]->target;
			if (!e->method || !e->route || !e->proto) {
				out->n = k - 1;
				snapshot_free(out);
				free(idx);
				return NULL;
			}
		}
		if (strcmp(out->eps[k - 1].proto, idx[i]->proto))
			out->eps[k - 1].proto = "";   /* several: see protos */
		ep_stats_merge(&out->eps[k - 1], idx[i]);
	}
	out->n = k;
	free(idx);
	return out;
}
