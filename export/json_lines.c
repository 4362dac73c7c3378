// SPDX-License-Identifier: MIT
#include "export/json_lines.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "collector/hist.h"
#include "export/json_upstream.h"
#include "format/row.h"

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
		if (ep_grpc(e, i) && json_object_set_new(codes, grpc_code_name(i),
							 json_integer((json_int_t)ep_grpc(e, i))))
			return -1;
	return json_object_set_new(o, "grpc", codes);
}

/* {"ts": ...} first, the target when several are watched (NULL: one,
 * whose lines look as before targets), then the contract's keys in their
 * order, then the protocols (and gRPC failures when there were gRPC calls). */
static json_t *json_lines_obj(const char *ts, const char *target, const struct ep_stats *e)
{
	struct endpoint_row r;
	char protos[64];
	row_endpoint_from_stats(e, &r);
	json_t *row = row_endpoint_json(&r);
	json_t *o = row ? json_pack("{s:s}", "ts", ts) : NULL;

	if (o && target && json_object_set_new(o, "target", row_json_text(target))) {
		json_decref(o);
		o = NULL;
	}
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
		grpc += ep_grpc(e, i);
	if (o && grpc && json_lines_grpc(o, e)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* {"ts": ..., "dur_ms": ..., "counters": {every counter of the table}}. */
static json_t *json_lines_counters(const char *ts, const struct snapshot *s)
{
	json_t *c = json_object();
	json_t *o = c ? json_pack("{s:s,s:I}", "ts", ts, "dur_ms", (json_int_t)s->dur_ms) : NULL;

	for (size_t i = 0; o && i < SNAP_NCOUNTERS; i++) {
		uint64_t v = snap_counter_get(&s->c, i);
		if (json_object_set_new(c, snap_counter_defs[i].name,
					json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v))) {
			json_decref(o);
			o = NULL;
		}
	}
	if (o && json_object_set_new(o, "counters", c) == 0)
		return o;
	json_decref(o);
	json_decref(c);
	return NULL;
}

/* Compact: one object per line is the whole point. 15 digits as in
 * `query --format json`, so 12.345 stays 12.345. Consumes o. */
static int json_lines_put(FILE *f, json_t *o)
{
	int rc = 0;
	if (!o)
		return -ENOMEM;
	if (json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(15)) || fputc('\n', f) == EOF)
		rc = -EIO;
	json_decref(o);
	return rc;
}

int json_lines_write(FILE *f, const struct snapshot *s)
{
	char ts[40];
	int rc = 0;

	row_iso_time((int64_t)s->ts_ms, true, ts, sizeof(ts));

	for (size_t i = 0; !rc && i < s->n; i++)
		rc = json_lines_put(f, json_lines_obj(ts, snapshot_row_target(s, s->eps[i].target),
						      &s->eps[i]));
	if (!rc)
		rc = json_lines_put(f, json_lines_counters(ts, s));
	if (!rc)
		rc = json_upstream_write(f, ts, s);
	if (fflush(f) || ferror(f))
		rc = rc ? rc : -EIO;
	return rc;
}

/* ---- as a sink ------------------------------------------------------------ */

static int json_lines_sink_push(void *self, struct snapshot *s, const struct run_info *run)
{
	(void)run;
	int rc = json_lines_write(self, s);
	if (rc)
		fprintf(stderr, "l7top: cannot write the JSON lines: %s\n", strerror(errno));
	return rc;
}

static void json_lines_sink_close(void *self, const struct run_info *run)
{
	(void)run;
	fflush(self);
}

static const struct sink_ops json_lines_sink_ops = {
	.name = "json",
	.push = json_lines_sink_push,
	.close = json_lines_sink_close,
};

struct sink json_lines_sink(FILE *f)
{
	return (struct sink){ .ops = &json_lines_sink_ops, .self = f };
}
