// SPDX-License-Identifier: MIT
#include "export/json_lines.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "collector/hist.h"
#include "export/json_upstream.h"
#include "storage/query.h"

/* The snapshot row in the shape `l7top query` reads back from the DB. */
static void json_lines_row(const struct ep_stats *e, struct query_row *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", e->method);
	snprintf(r->route, sizeof(r->route), "%s", e->route);
	r->requests = e->requests;
	memcpy(r->status, e->status, sizeof(r->status));
	r->aborted = e->aborted;
	r->bytes_in = e->bytes_in;
	r->bytes_out = e->bytes_out;
	r->p50_us = hist_percentile(&e->lat, 0.50);
	r->p90_us = hist_percentile(&e->lat, 0.90);
	r->p99_us = hist_percentile(&e->lat, 0.99);
	r->max_us = e->lat_max_us;
}

/* "h2,http/1.1": the protocols that carried the row's requests. */
static void json_lines_protocols(const struct ep_stats *e, char *out, size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < PROTO_COUNT; i++)
		if (e->protos & (1u << i))
			len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s",
						len ? "," : "", PROTO_NAMES[i]);
}

/* "grpc_errors": failed calls the status classes miss, "grpc": {"OK": n, ...}
 * per status code name. 0 or -1 on ENOMEM. */
static int json_lines_grpc(json_t *o, const struct ep_stats *e)
{
	json_t *codes = json_object();
	if (!codes || json_object_set_new(o, "grpc_errors", json_integer((json_int_t)e->grpc_errors)))
		return -1;
	for (int i = 0; i < GRPC_CODES; i++)
		if (e->grpc[i] && json_object_set_new(codes, grpc_code_name(i),
						      json_integer((json_int_t)e->grpc[i])))
			return -1;
	return json_object_set_new(o, "grpc", codes);
}

/* {"ts": ...} first, then the contract's keys in their order, then the
 * protocols (and gRPC failures when there were gRPC calls). */
static json_t *json_lines_obj(const char *ts, const struct ep_stats *e)
{
	struct query_row r;
	char protos[64];
	json_lines_row(e, &r);
	json_t *row = query_row_json(&r);
	json_t *o = row ? json_pack("{s:s}", "ts", ts) : NULL;

	if (o && json_object_update(o, row)) {
		json_decref(o);
		o = NULL;
	}
	json_decref(row);
	json_lines_protocols(e, protos, sizeof(protos));
	if (o && json_object_set_new(o, "protocol", json_string(protos))) {
		json_decref(o);
		o = NULL;
	}
	uint64_t grpc = 0;
	for (int i = 0; i < GRPC_CODES; i++)
		grpc += e->grpc[i];
	if (o && grpc && json_lines_grpc(o, e)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

int json_lines_write(FILE *f, const struct snapshot *s)
{
	char ts[40];
	int rc = 0;

	query_iso_time((int64_t)s->ts_ms, true, ts, sizeof(ts));

	for (size_t i = 0; !rc && i < s->n; i++) {
		json_t *o = json_lines_obj(ts, &s->eps[i]);
		if (!o)
			return -ENOMEM;
		/* Compact: one object per line is the whole point. 15 digits as in
		 * `query --format json`, so 12.345 stays 12.345. */
		if (json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(15)) || fputc('\n', f) == EOF)
			rc = -EIO;
		json_decref(o);
	}
	if (!rc)
		rc = json_upstream_write(f, ts, s);
	if (fflush(f) || ferror(f))
		rc = rc ? rc : -EIO;
	return rc;
}
