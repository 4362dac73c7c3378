// SPDX-License-Identifier: MIT
#include "tui/batch_upstream.h"

#include "format/units.h"

static double up_err_pct(const struct up_stats *u)
{
	uint64_t all = u->requests + u->no_answer + u->connect_failed;
	uint64_t bad = u->status[4] + u->no_answer + u->connect_failed;

	return all ? 100.0 * (double)bad / (double)all : 0;
}

static void print_up_row(FILE *f, const struct up_stats *u, double secs)
{
	char rate[16], l[4][16], c50[16], in[16], out[16];

	fprintf(f, "%-22.22s %7s %6lu %5lu %5lu %5lu %5lu %5lu %5lu %5.1f %8s %8s %8s %8s %8s %5lu "
		"%5lu %5lu %7s %7s\n",
		u->upstream, fmt_rate((double)(u->requests + u->no_answer) / secs, rate, 16),
		(unsigned long)u->requests, (unsigned long)u->status[1], (unsigned long)u->status[2],
		(unsigned long)u->status[3], (unsigned long)u->status[4], (unsigned long)u->no_answer,
		(unsigned long)u->connect_failed, up_err_pct(u),
		fmt_latency(hist_percentile(&u->lat, 0.50), l[0], 16),
		fmt_latency(hist_percentile(&u->lat, 0.90), l[1], 16),
		fmt_latency(hist_percentile(&u->lat, 0.99), l[2], 16),
		fmt_latency(u->lat_max_us, l[3], 16),
		u->connects ? fmt_latency(hist_percentile(&u->connect, 0.50), c50, 16) : "-",
		(unsigned long)(u->connects + u->connects_unseen), (unsigned long)u->reused,
		(unsigned long)u->conns_open, fmt_bytes((double)u->bytes_sent / secs, out, 16),
		fmt_bytes((double)u->bytes_received / secs, in, 16));
}

static void print_route_row(FILE *f, const struct up_route_stats *r)
{
	char route[33], l[8][16];

	fprintf(f, "%-22.22s %-7.7s %-32s %6lu %5lu %8s %8s | %6lu %8s %8s %8s %8s %8s %8s\n",
		r->upstream, r->method, fmt_middle(r->route, 32, route, sizeof(route)),
		(unsigned long)r->calls, (unsigned long)(r->status[4] + r->no_answer),
		fmt_latency(hist_percentile(&r->lat, 0.50), l[0], 16),
		fmt_latency(hist_percentile(&r->lat, 0.99), l[1], 16), (unsigned long)r->inbound,
		fmt_latency(hist_percentile(&r->before, 0.50), l[2], 16),
		fmt_latency(hist_percentile(&r->before, 0.99), l[3], 16),
		fmt_latency(hist_percentile(&r->upstream_time, 0.50), l[4], 16),
		fmt_latency(hist_percentile(&r->upstream_time, 0.99), l[5], 16),
		fmt_latency(hist_percentile(&r->after, 0.50), l[6], 16),
		fmt_latency(hist_percentile(&r->after, 0.99), l[7], 16));
}

void batch_print_upstreams(FILE *f, const struct snapshot *s)
{
	double secs = s->dur_ms ? (double)s->dur_ms / 1000.0 : 1.0;
	const struct up_counters *c = &s->upc;

	if (!s->nups && !s->nup_routes && !c->calls_linked && !c->calls_unlinked && !c->unix_conns)
		return;
	if (c->unix_conns)
		fprintf(f, "upstreams on unix sockets: %lu connections (e.g. %s): not visible to packet"
			" capture, not in this table\n", (unsigned long)c->unix_conns, c->unix_path);
	fprintf(f, "upstreams | calls linked %lu (by order %lu) unlinked %lu | inbound linked %lu"
		" | overflow %lu\n",
		(unsigned long)c->calls_linked, (unsigned long)c->calls_by_order,
		(unsigned long)c->calls_unlinked, (unsigned long)c->inbound_linked,
		(unsigned long)(c->link_overflow + c->up_overflow + c->route_overflow));
	if (s->nups)
		fprintf(f, "%-22s %7s %6s %5s %5s %5s %5s %5s %5s %5s %8s %8s %8s %8s %8s %5s %5s %5s "
			"%7s %7s\n", "UPSTREAM", "REQ/S", "REQS", "2XX", "3XX", "4XX", "5XX", "NOANS",
			"CFAIL", "ERR%", "P50", "P90", "P99", "MAX", "CONN50", "NEWC", "REUSE", "OPEN",
			"SENT/S", "RECV/S");
	for (size_t i = 0; i < s->nups; i++)
		print_up_row(f, &s->ups[i], secs);
	if (s->nup_routes)
		fprintf(f, "%-22s %-7s %-32s %6s %5s %8s %8s | %6s %8s %8s %8s %8s %8s %8s\n",
			"UPSTREAM", "METHOD", "ROUTE", "CALLS", "ERR", "P50", "P99", "INBND",
			"PRE50", "PRE99", "UP50", "UP99", "POST50", "POST99");
	for (size_t i = 0; i < s->nup_routes; i++)
		print_route_row(f, &s->up_routes[i]);
}
