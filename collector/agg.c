// SPDX-License-Identifier: MIT
#include "collector/agg.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct agg {
	size_t max;             /* distinct endpoints before OTHER */
	size_t max_hosts;
	uint32_t *host_set;     /* hashes of hosts seen (0 = empty slot) */
	size_t host_slots, nhosts;
	uint64_t host_overflow;
	size_t n, cap;          /* endpoints in eps[] (OTHER included once used) */
	struct ep_stats *eps;
	uint32_t *slots;        /* open addressing: index + 1, 0 = empty */
	size_t nslots;          /* power of two, > 2 * (max + 1) */
	int other;              /* index of the OTHER row, -1 until needed */
	uint64_t overflow;
};

struct agg *agg_new(size_t max_endpoints, size_t max_hosts)
{
	struct agg *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->max_hosts = max_hosts ? max_hosts : 1;
	a->host_slots = 16;
	while (a->host_slots < 2 * a->max_hosts)
		a->host_slots <<= 1;
	a->host_set = calloc(a->host_slots, sizeof(*a->host_set));
	a->max = max_endpoints ? max_endpoints : 1;
	a->nslots = 16;
	while (a->nslots < 2 * (a->max + 1))
		a->nslots <<= 1;
	a->slots = calloc(a->nslots, sizeof(*a->slots));
	if (!a->slots || !a->host_set) {
		free(a->slots);
		free(a->host_set);
		free(a);
		return NULL;
	}
	a->other = -1;
	return a;
}

void agg_free(struct agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		hist_free(&a->eps[i].lat);
	free(a->eps);
	free(a->slots);
	free(a->host_set);
	free(a);
}

static int ep_append(struct agg *a, const char *host, const char *method, const char *route,
		     const char *proto)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct ep_stats *eps = realloc(a->eps, cap * sizeof(*eps));
		if (!eps)
			return -1;
		a->eps = eps;
		a->cap = cap;
	}
	struct ep_stats *e = &a->eps[a->n];
	memset(e, 0, sizeof(*e));
	hist_init(&e->lat);
	snprintf(e->host, sizeof(e->host), "%s", host);
	snprintf(e->method, sizeof(e->method), "%s", method);
	snprintf(e->route, sizeof(e->route), "%s", route);
	snprintf(e->proto, sizeof(e->proto), "%s", proto);
	return (int)a->n++;
}

/* Index of the endpoint's row: found, created, or OTHER past the cap. */
/* The host as counted: itself while fewer than max_hosts were seen, else "*". */
static const char *host_admit(struct agg *a, const char *host)
{
	uint32_t h = ep_hash(host, "", "") | 1;       /* never 0: 0 marks empty */
	size_t mask = a->host_slots - 1, i = h & mask;
	for (; a->host_set[i]; i = (i + 1) & mask)
		if (a->host_set[i] == h)
			return host;
	if (a->nhosts >= a->max_hosts) {
		a->host_overflow++;
		return AGG_OTHER_HOST;
	}
	a->host_set[i] = h;
	a->nhosts++;
	return host;
}

static int ep_index(struct agg *a, const char *host, const char *method, const char *route,
		    const char *proto)
{
	/* the protocol is a few known names: its first and last bytes tell them apart */
	uint32_t ph = (uint32_t)(uint8_t)proto[0] * 31u + (uint8_t)proto[strlen(proto) - 1];
	size_t mask = a->nslots - 1, i = (ep_hash(host, method, route) ^ ph * 2654435761u) & mask;

	for (; a->slots[i]; i = (i + 1) & mask) {
		const struct ep_stats *e = &a->eps[a->slots[i] - 1];
		if ((int)a->slots[i] - 1 != a->other && !strcmp(e->route, route) &&
		    !strcmp(e->method, method) && !strcmp(e->host, host) && !strcmp(e->proto, proto))
			return (int)a->slots[i] - 1;
	}
	size_t distinct = a->n - (a->other >= 0);
	if (distinct >= a->max) {
		a->overflow++;
		if (a->other < 0)
			a->other = ep_append(a, "", AGG_OTHER_METHOD, AGG_OTHER_ROUTE, "");
		return a->other;
	}
	int idx = ep_append(a, host, method, route, proto);
	if (idx >= 0)
		a->slots[i] = (uint32_t)idx + 1;
	return idx;
}

void agg_add(struct agg *a, const struct agg_sample *s)
{
	const struct req_sample *r = &s->req;
	const char *proto = s->proto && *s->proto ? s->proto : PROTO_NAMES[PROTO_HTTP11];
	int idx = ep_index(a, host_admit(a, s->host), s->method, s->route, proto);
	if (idx < 0)
		return;
	struct ep_stats *e = &a->eps[idx];
	enum proto_id pid = proto_id(proto);
	e->requests++;
	if (pid < PROTO_COUNT)
		e->protos |= (uint8_t)(1u << pid);
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

struct snapshot *agg_snapshot(struct agg *a, uint64_t ts_ms, uint64_t dur_ms)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < a->n; i++)
		n += a->eps[i].requests > 0;
	struct snapshot *s = snapshot_new(n);
	if (!s)
		return NULL;
	s->ts_ms = ts_ms;
	s->dur_ms = dur_ms;
	for (size_t i = 0; i < a->n; i++) {
		struct ep_stats *e = &a->eps[i];
		if (!e->requests)
			continue;
		struct ep_stats *o = &s->eps[k++];
		/* The histogram's chunks move to the snapshot: no copy, and an
		 * endpoint that goes quiet holds no chunks afterwards. */
		*o = *e;
		hist_init(&e->lat);
		e->requests = e->bytes_in = e->bytes_out = 0;
		e->lat_sum_us = e->lat_max_us = 0;
		memset(e->status, 0, sizeof(e->status));
		memset(e->slowest, 0, sizeof(e->slowest));
		memset(e->clients, 0, sizeof(e->clients));
		memset(e->codes, 0, sizeof(e->codes));
		memset(e->grpc, 0, sizeof(e->grpc));
		e->grpc_errors = 0;
		e->protos = 0;
		hist_reset(&e->lat);
	}
	return s;
}

size_t agg_endpoints(const struct agg *a)
{
	return a->n;
}

uint64_t agg_overflow(const struct agg *a)
{
	return a->overflow;
}

uint64_t agg_host_overflow(const struct agg *a)
{
	return a->host_overflow;
}
