// SPDX-License-Identifier: MIT
#include "tui/batch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tui/batch_upstream.h"
#include "tui/format.h"

static int by_requests(const void *a, const void *b)
{
	const struct ep_stats *x = *(const struct ep_stats *const *)a;
	const struct ep_stats *y = *(const struct ep_stats *const *)b;
	if (x->requests != y->requests)
		return x->requests < y->requests ? 1 : -1;
	int c = strcmp(x->route, y->route);
	return c ? c : strcmp(x->method, y->method);
}

static double err_pct(const struct ep_stats *e)
{
	return e->requests ? 100.0 * (double)ep_errors(e) / (double)e->requests : 0;
}

static void print_header(FILE *f, const struct snapshot *s, const struct batch_info *in,
			 const struct ep_stats *t, double secs)
{
	char when[16], rate[16], p50[16], p99[16], h2[96];
	time_t ts = (time_t)((s->ts_ms + s->dur_ms) / 1000);

	snprintf(h2, sizeof(h2), "  h2 unreadable headers %lu  h2 reset %lu  h2 bounds %lu",
		 (unsigned long)s->c.h2_unreadable, (unsigned long)s->c.h2_reset,
		 (unsigned long)s->c.h2_bounds);
	struct tm tm;

	localtime_r(&ts, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, "l7top %s  %s  pids %zu  ports %s  netns %s%s%s | %s req/s  err %.1f%% (4xx %lu 5xx %lu)"
		"  p50 %s  p99 %s | conns %lu | drops %lu  tls drops %lu  parse errors %lu  unpaired %lu"
		"  aborted %lu  partial %lu  gaps %lu  overflow %lu  tls undecryptable %lu  tls lost %lu"
		"  tls unprobed %lu%s%s%s%s%s\n",
		when, in->target, in->npids, in->ports, in->netns && *in->netns ? in->netns : "-",
		in->tls_mode ? "  tls " : "",
		in->tls_mode ? in->tls_mode : "", fmt_rate((double)t->requests / secs, rate, 16),
		err_pct(t), (unsigned long)t->status[3], (unsigned long)t->status[4],
		fmt_latency(hist_percentile(&t->lat, 0.50), p50, 16),
		fmt_latency(hist_percentile(&t->lat, 0.99), p99, 16),
		(unsigned long)s->c.conns_open, (unsigned long)s->c.kernel_drops,
		(unsigned long)s->c.tls_drops,
		(unsigned long)s->c.parse_errors, (unsigned long)s->c.unpaired,
		(unsigned long)t->aborted, (unsigned long)s->c.partial_reqs,
		(unsigned long)s->c.reasm_gaps,
		(unsigned long)(s->c.conn_overflow + s->c.ep_overflow + s->c.pending_overflow),
		(unsigned long)s->c.tls_undecryptable, (unsigned long)s->c.tls_lost,
		(unsigned long)s->c.tls_unprobed, h2,
		in->unix_unseen && *in->unix_unseen ? " | unix not captured " : "",
		in->unix_unseen ? in->unix_unseen : "",
		in->db_status && *in->db_status ? " | " : "",
		in->db_status ? in->db_status : "");
}

static void print_row(FILE *f, const struct ep_stats *e, double secs)
{
	char route[41], rate[16], l[4][16], bin[16], bout[16];
	fprintf(f, "%-7.7s %-40s %7s %7lu %6lu %5lu %5lu %5lu %5.1f %8s %8s %8s %8s %7s %7s\n",
		e->method, fmt_middle(e->route, 40, route, sizeof(route)),
		fmt_rate((double)e->requests / secs, rate, 16), (unsigned long)e->requests,
		(unsigned long)e->status[1], (unsigned long)e->status[2],
		(unsigned long)e->status[3], (unsigned long)e->status[4], err_pct(e),
		fmt_latency(hist_percentile(&e->lat, 0.50), l[0], 16),
		fmt_latency(hist_percentile(&e->lat, 0.90), l[1], 16),
		fmt_latency(hist_percentile(&e->lat, 0.99), l[2], 16),
		fmt_latency(e->lat_max_us, l[3], 16),
		fmt_bytes((double)e->bytes_in / secs, bin, 16),
		fmt_bytes((double)e->bytes_out / secs, bout, 16));
}

void batch_print(FILE *f, const struct snapshot *s, const struct batch_info *in)
{
	double secs = s->dur_ms ? (double)s->dur_ms / 1000.0 : 1.0;
	struct ep_stats total;
	const struct ep_stats **rows = calloc(s->n ? s->n : 1, sizeof(*rows));

	snapshot_total(s, &total);
	print_header(f, s, in, &total, secs);
	hist_free(&total.lat);
	fprintf(f, "%-7s %-40s %7s %7s %6s %5s %5s %5s %5s %8s %8s %8s %8s %7s %7s\n", "METHOD",
		"ROUTE", "REQ/S", "REQS", "2XX", "3XX", "4XX", "5XX", "ERR%", "P50", "P90", "P99",
		"MAX", "IN/S", "OUT/S");
	if (rows) {
		for (size_t i = 0; i < s->n; i++)
			rows[i] = &s->eps[i];
		qsort(rows, s->n, sizeof(*rows), by_requests);
		size_t lim = in->max_rows > 0 && (size_t)in->max_rows < s->n ? (size_t)in->max_rows : s->n;
		for (size_t i = 0; i < lim; i++)
			print_row(f, rows[i], secs);
		free(rows);
	}
	batch_print_upstreams(f, s);
	fputc('\n', f);
	fflush(f);
}
