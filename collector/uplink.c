// SPDX-License-Identifier: MIT
#include "collector/uplink.h"

#include <stdlib.h>
#include <string.h>

/* Both tables are arrays kept in arrival order with holes (used = false)
 * compacted when they pile up; they hold a few seconds of traffic, so a
 * linear scan per decision is cheap next to parsing, and simple to prove. */
struct call_slot {
	struct uplink_call c;
	bool used;
};

struct in_slot {
	struct uplink_in in;
	bool used;
};

struct uplink {
	struct call_slot *calls;
	struct in_slot *ins;
	size_t ncalls, max_calls, nins, max_ins;
	uint64_t settle_ns, max_age_ns;
	struct uplink_stats st;
};

#define UPLINK_CHAIN_MAX 8   /* calls per inbound request (retries) */

struct uplink *uplink_new(size_t max_calls, size_t max_inbound, uint64_t settle_ns,
			  uint64_t max_age_ns)
{
	struct uplink *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->max_calls = max_calls ? max_calls : 8192;
	l->max_ins = max_inbound ? max_inbound : 8192;
	l->settle_ns = settle_ns ? settle_ns : 1000000000ull;
	l->max_age_ns = max_age_ns ? max_age_ns : 30000000000ull;
	l->calls = calloc(l->max_calls, sizeof(*l->calls));
	l->ins = calloc(l->max_ins, sizeof(*l->ins));
	if (!l->calls || !l->ins) {
		uplink_free(l);
		return NULL;
	}
	return l;
}

void uplink_free(struct uplink *l)
{
	if (!l)
		return;
	free(l->calls);
	free(l->ins);
	free(l);
}

uint32_t uplink_key(const char *method, const char *target, size_t target_len)
{
	uint32_t h = 2166136261u;

	for (const char *p = method; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ ' ') * 16777619u;
	for (size_t i = 0; i < target_len; i++)
		h = (h ^ (uint8_t)target[i]) * 16777619u;
	return h;
}

static void calls_compact(struct uplink *l)
{
	size_t k = 0;

	for (size_t i = 0; i < l->ncalls; i++)
		if (l->calls[i].used)
			l->calls[k++] = l->calls[i];
	l->ncalls = k;
}

static void ins_compact(struct uplink *l)
{
	size_t k = 0;

	for (size_t i = 0; i < l->nins; i++)
		if (l->ins[i].used)
			l->ins[k++] = l->ins[i];
	l->nins = k;
}

static void call_unlink(struct uplink *l, struct call_slot *s, const struct uplink_sink *out)
{
	s->used = false;
	l->st.unlinked++;
	if (out && out->unlinked)
		out->unlinked(out->ctx, &s->c);
}

static void decide_inbound(struct uplink *l, struct in_slot *self, const struct uplink_sink *out);
static void decide_oldest(struct uplink *l, const struct uplink_sink *out);

void uplink_add_call(struct uplink *l, const struct uplink_call *c, const struct uplink_sink *out)
{
	if (l->ncalls == l->max_calls) {
		calls_compact(l);
		/* Full of calls waiting for their requests to settle (a busy
		 * proxy): settle the oldest requests early, which takes their
		 * calls; only calls nobody takes are then at risk. */
		if (l->ncalls == l->max_calls && l->nins) {
			decide_oldest(l, out);
			calls_compact(l);
		}
		/* Still full: the oldest eighth goes unlinked at once, so a flood
		 * costs one compaction per max/8 calls, not one per call. */
		for (size_t i = 0; l->ncalls == l->max_calls && i < l->max_calls / 8 + 1; i++)
			if (l->calls[i].used) {
				l->st.overflow++;
				call_unlink(l, &l->calls[i], out);
			}
		if (l->ncalls == l->max_calls)
			calls_compact(l);
	}
	/* Kept sorted by end, so a request's candidates are one short range
	 * (they end inside it). Calls come in nearly in end order: the shift is
	 * short, and none at all for calls reported as they end. */
	size_t i = l->ncalls;
	while (i > 0 && l->calls[i - 1].c.end_ns > c->end_ns)
		i--;
	memmove(&l->calls[i + 1], &l->calls[i], (l->ncalls - i) * sizeof(*l->calls));
	l->calls[i].c = *c;
	l->calls[i].used = true;
	l->ncalls++;
}

/* The first call ending at or after t (calls are sorted by end). */
static size_t calls_from(const struct uplink *l, uint64_t t)
{
	size_t lo = 0, hi = l->ncalls;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->calls[mid].c.end_ns < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool contains(const struct uplink_in *in, const struct uplink_call *c)
{
	return c->key == in->key && c->start_ns >= in->start_ns && c->end_ns <= in->end_ns;
}

/* Does a pending inbound request other than self also contain c? */
static bool contested(const struct uplink *l, const struct in_slot *self, const struct uplink_call *c)
{
	for (size_t i = 0; i < l->nins; i++)
		if (&l->ins[i] != self && l->ins[i].used && contains(&l->ins[i].in, c))
			return true;
	return false;
}

/* The earliest-starting unused call in I starting at or after `after`, and
 * how many unused calls I holds (*nheld). Taking the earliest first,
 * requests in order of their end, is the greedy that leaves the most calls
 * for the requests still to come: a later-starting call fits more of them. */
static struct call_slot *first_candidate(struct uplink *l, const struct uplink_in *in, uint64_t after,
					 size_t *nheld)
{
	struct call_slot *best = NULL;

	*nheld = 0;
	for (size_t i = calls_from(l, in->start_ns); i < l->ncalls; i++) {
		struct call_slot *s = &l->calls[i];

		if (s->c.end_ns > in->end_ns)
			break;
		if (!s->used || !contains(in, &s->c))
			continue;
		++*nheld;
		if (s->c.start_ns < after)
			continue;
		if (!best || s->c.start_ns < best->c.start_ns)
			best = s;
	}
	return best;
}

/* A proxy tries the next backend only after a failure: an error, no
 * answer, or (if configured: proxy_next_upstream http_403/404/429) those. */
static bool call_retried(const struct uplink_call *c)
{
	return c->status == 0 || c->status >= 500 || c->status == 403 || c->status == 404 ||
	       c->status == 429;
}

static void decide_inbound(struct uplink *l, struct in_slot *self, const struct uplink_sink *out)
{
	const struct uplink_call *chain[UPLINK_CHAIN_MAX];
	size_t n = 0, held, more;
	struct call_slot *s = first_candidate(l, &self->in, 0, &held);
	bool by_order;

	self->used = false;
	if (!s)
		return;
	while (s && n < UPLINK_CHAIN_MAX) {
		s->used = false;
		chain[n++] = &s->c;
		if (!call_retried(&s->c))
			break;
		s = first_candidate(l, &self->in, s->c.end_ns, &more);
		/* A retry is never taken from a request that could own it. */
		if (s && contested(l, self, &s->c))
			s = NULL;
	}
	/* It held more same-target calls than it took: a twin's are among them,
	 * and order chose (cheaper than asking every pending request, which
	 * only a retry needs, above). */
	by_order = held > n;
	l->st.linked += n;
	l->st.inbound_linked++;
	if (by_order)
		l->st.by_order += n;
	if (out && out->linked)
		out->linked(out->ctx, &self->in, chain, n, by_order);
}

void uplink_add_inbound(struct uplink *l, const struct uplink_in *in,
			const struct uplink_sink *out)
{
	if (l->nins == l->max_ins) {
		ins_compact(l);
		/* Still full: the oldest eighth is decided now rather than dropped
		 * unseen (counted), one compaction per max/8 requests. */
		if (l->nins == l->max_ins)
			decide_oldest(l, out);
	}
	l->ins[l->nins].in = *in;
	l->ins[l->nins++].used = true;
}

/* The oldest eighth of the pending requests, decided before they settle
 * (counted in overflow: a table was full). */
static void decide_oldest(struct uplink *l, const struct uplink_sink *out)
{
	size_t want = l->max_ins / 8 + 1, done = 0;

	for (size_t i = 0; i < l->nins && done < want; i++) {
		if (!l->ins[i].used)
			continue;
		l->st.overflow++;
		decide_inbound(l, &l->ins[i], out);
		done++;
	}
	ins_compact(l);
}

/*
 * Inbound records arrive when their response ends, so array order is end
 * order (pipelined requests aside, which end in order anyway): deciding
 * them front to back decides the one that ended first first.
 */
void uplink_run(struct uplink *l, uint64_t now_ns, bool all, const struct uplink_sink *out)
{
	for (size_t i = 0; i < l->nins; i++) {
		struct in_slot *s = &l->ins[i];

		if (s->used && (all || s->in.end_ns + l->settle_ns <= now_ns))
			decide_inbound(l, s, out);
	}
	for (size_t i = 0; i < l->ncalls; i++) {
		struct call_slot *c = &l->calls[i];

		if (c->used && (all || c->c.end_ns + l->max_age_ns <= now_ns))
			call_unlink(l, c, out);
	}
	calls_compact(l);
	ins_compact(l);
}

void uplink_get_stats(const struct uplink *l, struct uplink_stats *st)
{
	*st = l->st;
}
