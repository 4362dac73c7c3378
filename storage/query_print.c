// SPDX-License-Identifier: MIT
#include "storage/query_print.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include <csv.h>
#include <jansson.h>

#include "format/units.h"

/* ---- printing ---------------------------------------------------------- */

/* RFC 4180: quoted (by libcsv) only when the field needs it. */
static int query_csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n"))
		return csv_fwrite(f, s, strlen(s)) ? -EIO : 0;
	return fputs(s, f) < 0 ? -EIO : 0;
}

/* Text fields, each followed by a comma. */
static int query_csv_fields(FILE *f, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (query_csv_field(f, v[i]) || fputc(',', f) == EOF)
			return -EIO;
	return 0;
}

static int query_print_csv(FILE *f, const struct endpoint_row *rows, size_t n, unsigned cols)
{
	fprintf(f, "%s%s%s%smethod,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,"
		"bytes_out,p50_ms,p90_ms,p99_ms,max_ms\n", cols & QUERY_COL_TARGET ? "target," : "",
		cols & QUERY_COL_HOST ? "host," : "", cols & QUERY_COL_PROTO ? "protocol," : "",
		cols & QUERY_COL_TS ? "ts," : "");
	for (size_t i = 0; i < n; i++) {
		const struct endpoint_row *r = &rows[i];
		char ts[40];
		const char *lead[4];
		size_t nl = 0;
		row_iso_time(r->ts_ms, false, ts, sizeof(ts));
		if (cols & QUERY_COL_TARGET)
			lead[nl++] = r->target;
		if (cols & QUERY_COL_HOST)
			lead[nl++] = r->host;
		if (cols & QUERY_COL_PROTO)
			lead[nl++] = r->protocol;
		if (cols & QUERY_COL_TS)
			lead[nl++] = ts;
		if (query_csv_fields(f, lead, nl) || query_csv_field(f, r->method) ||
		    fputc(',', f) == EOF || query_csv_field(f, r->route))
			return -EIO;
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.3f,%.3f,%.3f,%.3f\n",
			r->requests, r->status[0], r->status[1], r->status[2], r->status[3],
			r->status[4], r->aborted, r->bytes_in, r->bytes_out, row_ms(r->p50_us),
			row_ms(r->p90_us), row_ms(r->p99_us), row_ms(r->max_us));
	}
	return ferror(f) ? -EIO : 0;
}

/* {"target": ..., "host": ..., "protocol": ..., "ts": ...} as cols asks, then
 * body's keys in their order; steals body. target NULL: none to say. */
static json_t *query_json_lead(json_t *body, unsigned cols, const char *target, const char *host,
			       const char *proto, int64_t ts_ms, bool with_ms)
{
	char ts[40];
	json_t *o = body ? json_object() : NULL;

	row_iso_time(ts_ms, with_ms, ts, sizeof(ts));
	if (o && (((cols & QUERY_COL_TARGET) && target &&
		   json_object_set_new(o, "target", row_json_text(target))) ||
		  ((cols & QUERY_COL_HOST) &&
		   json_object_set_new(o, "host", row_json_text(host))) ||
		  ((cols & QUERY_COL_PROTO) &&
		   json_object_set_new(o, "protocol", row_json_text(proto))) ||
		  ((cols & QUERY_COL_TS) && json_object_set_new(o, "ts", json_string(ts))) ||
		  json_object_update(o, body))) {
		json_decref(o);
		o = NULL;
	}
	json_decref(body);
	return o;
}

/* Dumps arr (stolen) to f as the whole output. */
static int query_dump_json(FILE *f, json_t *arr, int rc)
{
	/* 15 significant digits: µs/1000 prints as 12.345, not 12.345000000000001. */
	if (!rc && (json_dumpf(arr, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) ||
		    fputc('\n', f) == EOF))
		rc = -EIO;
	json_decref(arr);
	return rc;
}

static int query_print_json(FILE *f, const struct endpoint_row *rows, size_t n, unsigned cols)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < n; i++) {
		json_t *row = row_endpoint_json(&rows[i]);
		if (cols)
			row = query_json_lead(row, cols, rows[i].target, rows[i].host,
					      rows[i].protocol, rows[i].ts_ms, false);
		if (json_array_append_new(arr, row))
			rc = -ENOMEM;
	}
	return query_dump_json(f, arr, rc);
}

/* The widest of a string column, at least min. */
#define QUERY_WIDTH(rows, n, field, min) __extension__ ({ \
	int w_ = (min); \
	for (size_t i_ = 0; i_ < (n); i_++) { \
		int l_ = (int)strlen((rows)[i_].field); \
		w_ = l_ > w_ ? l_ : w_; \
	} \
	w_; })

/* "TIME  TARGET  HOST  " as cols asks, padded; for the header when host is NULL. */
static void query_table_lead(FILE *f, unsigned cols, int hw, int tw, const char *target,
			     const char *host, const char *proto, int64_t ts_ms, bool with_ms)
{
	char ts[40];
	if (cols & QUERY_COL_TS) {
		if (host)
			row_iso_time(ts_ms, with_ms, ts, sizeof(ts));
		fprintf(f, "%-*s ", with_ms ? 24 : 20, host ? ts : "TIME");
	}
	if (cols & QUERY_COL_TARGET)
		fprintf(f, "%-*s ", tw, host ? (target && *target ? target : "-") : "TARGET");
	if (cols & QUERY_COL_HOST)
		fprintf(f, "%-*s ", hw, host ? (*host ? host : "-") : "HOST");
	if (cols & QUERY_COL_PROTO)
		fprintf(f, "%-8s ", host ? (proto && *proto ? proto : "-") : "PROTOCOL");
}

/* Like top: numbers right-aligned, the variable-width route last. */
static int query_print_table(FILE *f, const struct endpoint_row *rows, size_t n, unsigned cols)
{
	int mw = QUERY_WIDTH(rows, n, method, 6), hw = QUERY_WIDTH(rows, n, host, 4);
	int tw = QUERY_WIDTH(rows, n, target, 6);

	query_table_lead(f, cols, hw, tw, NULL, NULL, NULL, 0, false);
	fprintf(f, "%7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s  %-*s %s\n", "REQS", "2XX",
		"3XX", "4XX", "5XX", "ABORT", "IN", "OUT", "P50", "P90", "P99", "MAX", mw, "METHOD",
		"ROUTE");
	for (size_t i = 0; i < n; i++) {
		const struct endpoint_row *r = &rows[i];
		char c[6][16], by[2][16], l[4][16];
		const uint64_t lat[4] = { r->p50_us, r->p90_us, r->p99_us, r->max_us };
		fmt_count(r->requests, c[0], sizeof(c[0]));
		for (int k = 1; k < 5; k++)
			fmt_count(r->status[k], c[k], sizeof(c[k]));
		fmt_count(r->aborted, c[5], sizeof(c[5]));
		fmt_bytes((double)r->bytes_in, by[0], sizeof(by[0]));
		fmt_bytes((double)r->bytes_out, by[1], sizeof(by[1]));
		for (int k = 0; k < 4; k++)
			fmt_latency(lat[k], l[k], sizeof(l[k]));
		query_table_lead(f, cols, hw, tw, r->target, r->host, r->protocol, r->ts_ms, false);
		fprintf(f, "%7s %6s %6s %6s %6s %6s %6s %6s %*s %*s %*s %*s  %-*s %s\n", c[0], c[1],
			c[2], c[3], c[4], c[5], by[0], by[1], fmt_width(l[0], 6), l[0], fmt_width(l[1], 6),
			l[1], fmt_width(l[2], 6), l[2], fmt_width(l[3], 6), l[3], mw, r->method,
			r->route);
	}
	return ferror(f) ? -EIO : 0;
}

int query_print_rows(FILE *f, const struct endpoint_row *rows, size_t n, enum query_format fmt,
		     unsigned cols)
{
	switch (fmt) {
	case QUERY_FMT_CSV:
		return query_print_csv(f, rows, n, cols);
	case QUERY_FMT_JSON:
		return query_print_json(f, rows, n, cols);
	case QUERY_FMT_TABLE:
		break;
	}
	return query_print_table(f, rows, n, cols);
}

int query_print(FILE *f, const struct endpoint_row *rows, size_t n, enum query_format fmt)
{
	return query_print_rows(f, rows, n, fmt, 0);
}

/* ---- printing the request log and sessions ----------------------------- */

static int query_print_requests_csv(FILE *f, const struct query_req *r, size_t n, unsigned cols)
{
	fprintf(f, "%s%sts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid\n",
		cols & QUERY_COL_TARGET ? "target," : "", cols & QUERY_COL_HOST ? "host," : "");
	for (size_t i = 0; i < n; i++) {
		char ts[40];
		row_iso_time(r[i].ts_ms, true, ts, sizeof(ts));
		const char *v[6];
		size_t nv = 0;
		if (cols & QUERY_COL_TARGET)
			v[nv++] = r[i].target;
		if (cols & QUERY_COL_HOST)
			v[nv++] = r[i].host;
		v[nv++] = ts, v[nv++] = r[i].method, v[nv++] = r[i].route, v[nv++] = r[i].path;
		if (query_csv_fields(f, v, nv))
			return -EIO;
		fprintf(f, "%u,%.3f,%" PRIu64 ",%" PRIu64 ",", r[i].status, row_ms(r[i].latency_us),
			r[i].bytes_in, r[i].bytes_out);
		if (query_csv_field(f, r[i].client))
			return -EIO;
		fprintf(f, ",%" PRIu32 "\n", r[i].pid);
	}
	return ferror(f) ? -EIO : 0;
}

static int query_print_requests_json(FILE *f, const struct query_req *r, size_t n,
				     unsigned cols)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < n; i++) {
		json_t *body = json_pack("{s:o, s:o, s:o, s:I, s:f, s:I, s:I, s:o, s:I}",
					 "method", row_json_text(r[i].method),
					 "route", row_json_text(r[i].route),
					 "path", row_json_text(r[i].path),
					 "status", (json_int_t)r[i].status,
					 "latency_ms", row_ms(r[i].latency_us),
					 "bytes_in", row_json_count(r[i].bytes_in),
					 "bytes_out", row_json_count(r[i].bytes_out),
					 "client", row_json_text(r[i].client),
					 "pid", (json_int_t)r[i].pid);
		json_t *row = query_json_lead(body, (cols & (QUERY_COL_HOST | QUERY_COL_TARGET)) |
					      QUERY_COL_TS, r[i].target, r[i].host, NULL, r[i].ts_ms, true);
		if (json_array_append_new(arr, row))
			rc = -ENOMEM;
	}
	return query_dump_json(f, arr, rc);
}

static int query_print_requests_table(FILE *f, const struct query_req *r, size_t n,
				      unsigned cols)
{
	int mw = QUERY_WIDTH(r, n, method, 6), hw = QUERY_WIDTH(r, n, host, 4);
	int rw = QUERY_WIDTH(r, n, route, 5), cw = QUERY_WIDTH(r, n, client, 6);

	cols |= QUERY_COL_TS;
	int tw = QUERY_WIDTH(r, n, target, 6);
	query_table_lead(f, cols, hw, tw, NULL, NULL, NULL, 0, true);
	fprintf(f, "%6s %8s %6s %6s %8s  %-*s %-*s %-*s %s\n", "STATUS", "LATENCY", "IN", "OUT",
		"PID", cw, "CLIENT", mw, "METHOD", rw, "ROUTE", "PATH");
	for (size_t i = 0; i < n; i++) {
		char l[16], by[2][16];
		fmt_latency(r[i].latency_us, l, sizeof(l));
		fmt_bytes((double)r[i].bytes_in, by[0], sizeof(by[0]));
		fmt_bytes((double)r[i].bytes_out, by[1], sizeof(by[1]));
		query_table_lead(f, cols, hw, tw, r[i].target, r[i].host, NULL, r[i].ts_ms, true);
		fprintf(f, "%6u %*s %6s %6s %8" PRIu32 "  %-*s %-*s %-*s %s\n", r[i].status,
			fmt_width(l, 8), l, by[0], by[1], r[i].pid, cw, *r[i].client ? r[i].client : "-", mw,
			r[i].method, rw, r[i].route, r[i].path);
	}
	return ferror(f) ? -EIO : 0;
}

int query_print_requests(FILE *f, const struct query_req *r, size_t n, enum query_format fmt,
			 unsigned cols)
{
	switch (fmt) {
	case QUERY_FMT_CSV:
		return query_print_requests_csv(f, r, n, cols);
	case QUERY_FMT_JSON:
		return query_print_requests_json(f, r, n, cols);
	case QUERY_FMT_TABLE:
		break;
	}
	return query_print_requests_table(f, r, n, cols);
}

int query_print_sessions(FILE *f, const struct query_session *s, size_t n,
			 enum query_format fmt)
{
	json_t *arr = fmt == QUERY_FMT_JSON ? json_array() : NULL;
	int rc = fmt == QUERY_FMT_JSON && !arr ? -ENOMEM : 0;

	if (fmt == QUERY_FMT_CSV)
		fputs("id,start,end,target,pids,version,capture,settings,notes\n", f);
	else if (fmt == QUERY_FMT_TABLE)
		fprintf(f, "%4s %-20s %-20s %-8s %-10s %-20s %s\n", "ID", "START", "END",
			"VERSION", "CAPTURE", "PIDS", "TARGET / SETTINGS");
	for (size_t i = 0; !rc && i < n; i++) {
		char start[40], end[40] = "";
		row_iso_time(s[i].started_ms, false, start, sizeof(start));
		if (s[i].ended_ms)
			row_iso_time(s[i].ended_ms, false, end, sizeof(end));
		if (fmt == QUERY_FMT_CSV) {
			const char *v[] = { start, end, s[i].target, s[i].pids, s[i].version,
					    s[i].capture, s[i].settings };
			if (fprintf(f, "%" PRId64 ",", s[i].id) < 0 || query_csv_fields(f, v, 7) ||
			    query_csv_field(f, s[i].notes) || fputc('\n', f) == EOF)
				rc = -EIO;
		} else if (fmt == QUERY_FMT_JSON) {
			json_t *o = json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
					      "id", (json_int_t)s[i].id, "start", start,
					      "end", *end ? json_string(end) : json_null(),
					      "target", row_json_text(s[i].target),
					      "pids", row_json_text(s[i].pids),
					      "version", row_json_text(s[i].version),
					      "capture", row_json_text(s[i].capture),
					      "settings", row_json_text(s[i].settings),
					      "notes", *s[i].notes ? json_string(s[i].notes) : json_null());
			if (json_array_append_new(arr, o))
				rc = -ENOMEM;
		} else {
			fprintf(f, "%4" PRId64 " %-20s %-20s %-8s %-10s %-20s %s  [%s]%s%s\n", s[i].id,
				start, *end ? end : "(running/crashed)", s[i].version,
				*s[i].capture ? s[i].capture : "-", s[i].pids, s[i].target,
				s[i].settings, *s[i].notes ? "  notes: " : "", s[i].notes);
		}
	}
	if (fmt == QUERY_FMT_JSON)
		return query_dump_json(f, arr, rc);
	return rc || ferror(f) ? -EIO : 0;
}

