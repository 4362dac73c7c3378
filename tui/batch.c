// SPDX-License-Identifier: MIT
#include "tui/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format/units.h"
#include "tui/batch_upstream.h"

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

struct batch_segments {
	FILE *f;
	const char *sep;       /* before the next segment */
};

static void print_segment(const char *label, uint64_t v, const struct snap_counter_def *d,
			  void *ctx)
{
	struct batch_segments *b = ctx;
	(void)d;
	fprintf(b->f, "%s%s %lu", b->sep, label, (unsigned long)v);
	b->sep = "  ";
}

static void print_header(FILE *f, const struct snapshot *s, const struct run_info *in,
			 const struct ep_stats *t, double secs)
{
	char when[16], rate[16], p50[16], p99[16];
	time_t ts = (time_t)((s->ts_ms + s->dur_ms) / 1000);
	struct tm tm;

	localtime_r(&ts, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, "l7top %s  %s  pids %zu  ports %s  netns %s%s%s | %s req/s  err %.1f%% (4xx %lu 5xx %lu)"
		"  p50 %s  p99 %s",
		when, in->target ? in->target : "", in->npids, in->ports ? in->ports : "",
		in->netns && *in->netns ? in->netns : "-",
		in->show_tls ? "  tls " : "", in->show_tls ? tls_mode_name(in->tls_mode) : "",
		fmt_rate((double)t->requests / secs, rate, 16),
		err_pct(t), (unsigned long)t->status[3], (unsigned long)t->status[4],
		fmt_latency(hist_percentile(&t->lat, 0.50), p50, 16),
		fmt_latency(hist_percentile(&t->lat, 0.99), p99, 16));
	/* Every counter, zero or not: scripts read these lines. */
	snap_counters_segments(&s->c, true, true, print_segment,
			       &(struct batch_segments){ f, " | " });
	snap_counters_segments(&s->c, false, true, print_segment,
			       &(struct batch_segments){ f, " | " });
	fprintf(f, "%s%s%s%s\n", in->unix_unseen && *in->unix_unseen ? " | unix not captured " : "",
		in->unix_unseen ? in->unix_unseen : "", in->db_error && *in->db_error ? " | " : "",
		in->db_error ? in->db_error : "");
}

/* With several targets every row starts with its target's name. */
#define BATCH_TARGET_W 20

/*
 * One table row, built without printf's format parser: a --no-tui interval
 * of 10,000 endpoints prints 10,000 rows, and fprintf() was most of the
 * cost of an interval there. The columns are those of the header line;
 * widths count bytes as printf's do, the latencies their columns.
 */
struct row_line {
	char b[512];
	size_t n;
};

static void put_text(struct row_line *l, const char *s, size_t max, int width, bool left)
{
	size_t len = strnlen(s, max);
	int pad = width > (int)len ? width - (int)len : 0;
	if (len > sizeof(l->b) - 2 - l->n - (size_t)pad)
		return;                       /* cannot happen: the row is far shorter */
	if (!left) {
		memset(l->b + l->n, ' ', (size_t)pad);
		l->n += (size_t)pad;
	}
	memcpy(l->b + l->n, s, len);
	l->n += len;
	if (left) {
		memset(l->b + l->n, ' ', (size_t)pad);
		l->n += (size_t)pad;
	}
	l->b[l->n++] = ' ';
}

/* v in decimal, as fmt_uint() writes it, without its general fixed-point path
 * (five counts a row). */
static void put_count(struct row_line *l, uint64_t v, int width)
{
	char d[24];
	size_t i = sizeof(d) - 1;
	d[i] = '\0';
	do
		d[--i] = (char)('0' + v % 10);
	while (v /= 10);
	put_text(l, d + i, sizeof(d) - 1 - i, width, false);
}

/*
 * Rows gathered and written a block at a time. stdout is line buffered (a
 * terminal, or a script reading lines), so stdio gave every row a write()
 * of its own: 10,000 system calls an interval at 10,000 endpoints. A block
 * goes in one write() after what stdio holds; a stream without a file
 * (a memstream) takes it through stdio.
 */
struct row_out {
	FILE *f;
	size_t n;
	char b[16384];
};

static void row_out_flush(struct row_out *o)
{
	int fd = fileno(o->f);
	size_t off = 0;

	if (fd < 0 || fflush(o->f)) {
		fwrite(o->b, 1, o->n, o->f);
		o->n = 0;
		return;
	}
	while (off < o->n) {
		ssize_t w = write(fd, o->b + off, o->n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;                /* as stdio: the rows are lost, the run goes on */
		off += (size_t)w;
	}
	o->n = 0;
}

static void row_out_put(struct row_out *o, const struct row_line *l)
{
	if (o->n + l->n > sizeof(o->b))
		row_out_flush(o);
	memcpy(o->b + o->n, l->b, l->n);
	o->n += l->n;
}

static void print_row(struct row_out *f, const struct snapshot *s, const struct ep_stats *e,
		      double secs)
{
	char route[41], rate[16], l[16], bin[16], bout[16], pct[16];
	const uint64_t lat[4] = { hist_percentile(&e->lat, 0.50), hist_percentile(&e->lat, 0.90),
				  hist_percentile(&e->lat, 0.99), e->lat_max_us };
	const char *target = snapshot_row_target(s, e->target);
	struct row_line line = { .n = 0 };

	if (target)
		put_text(&line, target, BATCH_TARGET_W, BATCH_TARGET_W, true);
	put_text(&line, e->method, 7, 7, true);
	put_text(&line, fmt_middle(e->route, 40, route, sizeof(route)), sizeof(route), 40, true);
	put_text(&line, fmt_rate((double)e->requests / secs, rate, 16), sizeof(rate), 7, false);
	put_count(&line, e->requests, 7);
	put_count(&line, e->status[1], 6);
	for (int c = 2; c < STATUS_CLASSES; c++)
		put_count(&line, e->status[c], 5);
	put_text(&line, fmt_fixed1(err_pct(e), pct, sizeof(pct)), sizeof(pct), 5, false);
	for (int i = 0; i < 4; i++) {
		fmt_latency(lat[i], l, sizeof(l));
		put_text(&line, l, sizeof(l), fmt_width(l, 8), false);
	}
	put_text(&line, fmt_bytes((double)e->bytes_in / secs, bin, 16), sizeof(bin), 7, false);
	put_text(&line, fmt_bytes((double)e->bytes_out / secs, bout, 16), sizeof(bout), 7, false);
	line.b[line.n - 1] = '\n';
	row_out_put(f, &line);
}

void batch_print(FILE *f, const struct snapshot *s, const struct run_info *in, int max_rows)
{
	double secs = s->dur_ms ? (double)s->dur_ms / 1000.0 : 1.0;
	struct ep_stats total;
	const struct ep_stats **rows = calloc(s->n ? s->n : 1, sizeof(*rows));

	snapshot_total(s, &total);
	print_header(f, s, in, &total, secs);
	ep_stats_free(&total);
	if (s->ntargets > 1)
		fprintf(f, "%-*s ", BATCH_TARGET_W, "TARGET");
	fprintf(f, "%-7s %-40s %7s %7s %6s %5s %5s %5s %5s %8s %8s %8s %8s %7s %7s\n", "METHOD",
		"ROUTE", "REQ/S", "REQS", "2XX", "3XX", "4XX", "5XX", "ERR%", "P50", "P90", "P99",
		"MAX", "IN/S", "OUT/S");
	if (rows) {
		for (size_t i = 0; i < s->n; i++)
			rows[i] = &s->eps[i];
		qsort(rows, s->n, sizeof(*rows), by_requests);
		size_t lim = max_rows > 0 && (size_t)max_rows < s->n ? (size_t)max_rows : s->n;
		struct row_out out = { .f = f, .n = 0 };
		for (size_t i = 0; i < lim; i++)
			print_row(&out, s, rows[i], secs);
		row_out_flush(&out);
		free(rows);
	}
	batch_print_upstreams(f, s);
	fputc('\n', f);
	fflush(f);
}

/* ---- as a sink ------------------------------------------------------------ */

struct batch_out {
	FILE *f;
	int max_rows;
};

static int batch_sink_push(void *self, struct snapshot *s, const struct run_info *run)
{
	struct batch_out *b = self;
	batch_print(b->f, s, run, b->max_rows);
	return 0;
}

static void batch_sink_close(void *self, const struct run_info *run)
{
	(void)run;
	free(self);
}

static const struct sink_ops batch_sink_ops = {
	.name = "batch",
	.push = batch_sink_push,
	.close = batch_sink_close,
};

int batch_sink(FILE *f, int max_rows, struct sink *out)
{
	struct batch_out *b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	*b = (struct batch_out){ f, max_rows };
	*out = (struct sink){ .ops = &batch_sink_ops, .self = b };
	return 0;
}
