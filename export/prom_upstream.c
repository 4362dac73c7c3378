// SPDX-License-Identifier: MIT
#include "export/prom_upstream.h"

#include "export/prom.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PROM_UP_LE_MAX 32

struct up_route_series {
	char upstream[UP_NAME_MAX];
	char method[24];
	char route[256];
	uint64_t status[5];
	uint64_t none;
};

struct up_peer_series {
	char upstream[UP_NAME_MAX];
	struct hist lat;           /* merged since start */
	uint64_t connect_failed;
};

struct prom_upstream {
	struct up_route_series *r;
	size_t nr;
	struct up_peer_series *p;
	size_t np;
	uint64_t dropped;
};

struct prom_upstream *prom_upstream_new(void)
{
	struct prom_upstream *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->r = calloc(PROM_UP_SERIES, sizeof(*u->r));
	u->p = calloc(PROM_UP_PEERS, sizeof(*u->p));
	if (!u->r || !u->p) {
		prom_upstream_free(u);
		return NULL;
	}
	return u;
}

void prom_upstream_free(struct prom_upstream *u)
{
	if (!u)
		return;
	for (size_t i = 0; u->p && i < u->np; i++)
		hist_free(&u->p[i].lat);
	free(u->r);
	free(u->p);
	free(u);
}

static struct up_route_series *route_of(struct prom_upstream *u, const struct up_route_stats *s)
{
	for (size_t i = 0; i < u->nr; i++)
		if (!strcmp(u->r[i].upstream, s->upstream) && !strcmp(u->r[i].method, s->method) &&
		    !strcmp(u->r[i].route, s->route))
			return &u->r[i];
	if (u->nr == PROM_UP_SERIES)
		return NULL;
	struct up_route_series *r = &u->r[u->nr++];
	snprintf(r->upstream, sizeof(r->upstream), "%s", s->upstream);
	snprintf(r->method, sizeof(r->method), "%s", s->method);
	snprintf(r->route, sizeof(r->route), "%s", s->route);
	return r;
}

static struct up_peer_series *peer_of(struct prom_upstream *u, const char *name)
{
	for (size_t i = 0; i < u->np; i++)
		if (!strcmp(u->p[i].upstream, name))
			return &u->p[i];
	if (u->np == PROM_UP_PEERS)
		return NULL;
	struct up_peer_series *p = &u->p[u->np++];
	snprintf(p->upstream, sizeof(p->upstream), "%s", name);
	hist_init(&p->lat);
	return p;
}

void prom_upstream_update(struct prom_upstream *u, const struct snapshot *s)
{
	for (size_t i = 0; i < s->nup_routes; i++) {
		struct up_route_series *r = route_of(u, &s->up_routes[i]);
		if (!r) {
			u->dropped++;
			continue;
		}
		for (int k = 0; k < 5; k++)
			r->status[k] += s->up_routes[i].status[k];
		r->none += s->up_routes[i].no_answer;
	}
	for (size_t i = 0; i < s->nups; i++) {
		struct up_peer_series *p = peer_of(u, s->ups[i].upstream);
		if (!p) {
			u->dropped++;
			continue;
		}
		hist_merge(&p->lat, &s->ups[i].lat);
		p->connect_failed += s->ups[i].connect_failed;
	}
}

/* Label values come from routes and addresses: escape as the format says. */
static void render_requests(const struct prom_upstream *u, FILE *f)
{
	static const char *const cls[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	fputs("# HELP l7top_upstream_requests_total Calls the target made to an upstream, linked to "
	      "the inbound route they served, by status class (\"none\": no answer).\n"
	      "# TYPE l7top_upstream_requests_total counter\n", f);
	for (size_t i = 0; i < u->nr; i++) {
		const struct up_route_series *r = &u->r[i];
		for (int k = 0; k <= 5; k++) {
			uint64_t n = k < 5 ? r->status[k] : r->none;
			if (!n)
				continue;
			fputs("l7top_upstream_requests_total{upstream=\"", f);
			prom_label(f, r->upstream);
			fputs("\",method=\"", f);
			prom_label(f, r->method);
			fputs("\",route=\"", f);
			prom_label(f, r->route);
			fprintf(f, "\",code=\"%s\"} %" PRIu64 "\n", k < 5 ? cls[k] : "none", n);
		}
	}
}

static void render_hist(const struct prom_upstream *u, FILE *f, const uint64_t *le_us, size_t nle)
{
	static const char name[] = "l7top_upstream_request_duration_seconds";

	fprintf(f, "# HELP %s Upstream calls, first request byte to last response byte.\n"
		"# TYPE %s histogram\n", name, name);
	for (size_t i = 0; i < u->np; i++) {
		const struct up_peer_series *p = &u->p[i];
		uint64_t le[PROM_UP_LE_MAX] = { 0 }, cum = 0;

		if (nle > PROM_UP_LE_MAX)
			nle = PROM_UP_LE_MAX;
		for (unsigned b = 0; b < HIST_BUCKETS; b++) {
			uint64_t n = hist_bucket_count(&p->lat, b), high = hist_bucket_high(b) - 1;
			size_t k = 0;
			if (!n)
				continue;
			while (k < nle && high > le_us[k])
				k++;
			if (k < nle)
				le[k] += n;
		}
		for (size_t k = 0; k < nle; k++) {
			cum += le[k];
			fprintf(f, "%s_bucket{upstream=\"", name);
			prom_label(f, p->upstream);
			fprintf(f, "\",le=\"%g\"} %" PRIu64 "\n", (double)le_us[k] / 1e6, cum);
		}
		fprintf(f, "%s_bucket{upstream=\"", name);
		prom_label(f, p->upstream);
		fprintf(f, "\",le=\"+Inf\"} %" PRIu64 "\n", p->lat.count);
		fprintf(f, "%s_sum{upstream=\"", name);
		prom_label(f, p->upstream);
		fprintf(f, "\"} %.6f\n", (double)p->lat.sum / 1e6);
		fprintf(f, "%s_count{upstream=\"", name);
		prom_label(f, p->upstream);
		fprintf(f, "\"} %" PRIu64 "\n", p->lat.count);
	}
}

void prom_upstream_render(const struct prom_upstream *u, FILE *f, const uint64_t *le_us, size_t nle)
{
	if (!u || (!u->nr && !u->np))
		return;
	render_requests(u, f);
	render_hist(u, f, le_us, nle);
	fputs("# HELP l7top_upstream_connect_failures_total Connects to an upstream answered by RST.\n"
	      "# TYPE l7top_upstream_connect_failures_total counter\n", f);
	for (size_t i = 0; i < u->np; i++) {
		fputs("l7top_upstream_connect_failures_total{upstream=\"", f);
		prom_label(f, u->p[i].upstream);
		fprintf(f, "\"} %" PRIu64 "\n", u->p[i].connect_failed);
	}
	fputs("# HELP l7top_upstream_series_dropped_total Upstream rows past the series bounds.\n"
	      "# TYPE l7top_upstream_series_dropped_total counter\n", f);
	fprintf(f, "l7top_upstream_series_dropped_total %" PRIu64 "\n", u->dropped);
}
