// SPDX-License-Identifier: MIT
#include "export/json_upstream.h"

#include <errno.h>

#include <jansson.h>

static json_t *ms(uint64_t us)
{
	return json_real((double)us / 1000.0);
}

static int put_line(FILE *f, json_t *o)
{
	int rc;

	if (!o)
		return -ENOMEM;
	rc = json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(15)) || fputc('\n', f) == EOF ? -EIO : 0;
	json_decref(o);
	return rc;
}

static void put_status(json_t *o, const uint64_t *status)
{
	static const char *const names[5] = { "s1xx", "s2xx", "s3xx", "s4xx", "s5xx" };

	for (int i = 0; i < 5; i++)
		json_object_set_new(o, names[i], json_integer((json_int_t)status[i]));
}

static void put_lat(json_t *o, const struct hist *h, uint64_t max_us)
{
	json_object_set_new(o, "p50_ms", ms(hist_percentile(h, 0.50)));
	json_object_set_new(o, "p90_ms", ms(hist_percentile(h, 0.90)));
	json_object_set_new(o, "p99_ms", ms(hist_percentile(h, 0.99)));
	json_object_set_new(o, "max_ms", ms(max_us));
}

static json_t *up_obj(const char *ts, const struct up_stats *u)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "ts", ts, "upstream", u->upstream, "host", u->host,
			      "requests", (json_int_t)u->requests);

	if (!o)
		return NULL;
	put_status(o, u->status);
	json_object_set_new(o, "no_answer", json_integer((json_int_t)u->no_answer));
	json_object_set_new(o, "connect_failed", json_integer((json_int_t)u->connect_failed));
	put_lat(o, &u->lat, u->lat_max_us);
	json_object_set_new(o, "connects", json_integer((json_int_t)u->connects));
	json_object_set_new(o, "connects_unseen", json_integer((json_int_t)u->connects_unseen));
	json_object_set_new(o, "connect_p50_ms", ms(hist_percentile(&u->connect, 0.50)));
	json_object_set_new(o, "reused", json_integer((json_int_t)u->reused));
	json_object_set_new(o, "conns_open", json_integer((json_int_t)u->conns_open));
	json_object_set_new(o, "bytes_sent", json_integer((json_int_t)u->bytes_sent));
	json_object_set_new(o, "bytes_received", json_integer((json_int_t)u->bytes_received));
	return o;
}

static json_t *route_obj(const char *ts, const struct up_route_stats *r)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I}", "ts", ts, "upstream", r->upstream, "method",
			      r->method, "route", r->route, "calls", (json_int_t)r->calls);

	if (!o)
		return NULL;
	put_status(o, r->status);
	json_object_set_new(o, "no_answer", json_integer((json_int_t)r->no_answer));
	put_lat(o, &r->lat, r->lat_max_us);
	json_object_set_new(o, "inbound", json_integer((json_int_t)r->inbound));
	json_object_set_new(o, "before_p50_ms", ms(hist_percentile(&r->before, 0.50)));
	json_object_set_new(o, "before_p99_ms", ms(hist_percentile(&r->before, 0.99)));
	json_object_set_new(o, "upstream_p50_ms", ms(hist_percentile(&r->upstream_time, 0.50)));
	json_object_set_new(o, "upstream_p99_ms", ms(hist_percentile(&r->upstream_time, 0.99)));
	json_object_set_new(o, "after_p50_ms", ms(hist_percentile(&r->after, 0.50)));
	json_object_set_new(o, "after_p99_ms", ms(hist_percentile(&r->after, 0.99)));
	return o;
}

int json_upstream_write(FILE *f, const char *ts, const struct snapshot *s)
{
	const struct up_counters *c = &s->upc;
	int rc = 0;

	for (size_t i = 0; !rc && i < s->nups; i++)
		rc = put_line(f, up_obj(ts, &s->ups[i]));
	for (size_t i = 0; !rc && i < s->nup_routes; i++)
		rc = put_line(f, route_obj(ts, &s->up_routes[i]));
	if (!rc && (c->calls_linked || c->calls_unlinked || c->link_overflow || c->up_overflow))
		rc = put_line(f, json_pack("{s:s,s:{s:I,s:I,s:I,s:I,s:I}}", "ts", ts, "upstream_links",
					   "linked", (json_int_t)c->calls_linked,
					   "by_order", (json_int_t)c->calls_by_order,
					   "unlinked", (json_int_t)c->calls_unlinked,
					   "inbound_linked", (json_int_t)c->inbound_linked,
					   "overflow", (json_int_t)(c->link_overflow + c->up_overflow +
								    c->route_overflow)));
	if (!rc && c->unix_conns)
		rc = put_line(f, json_pack("{s:s,s:{s:I,s:s}}", "ts", ts, "upstream_unix", "conns",
					   (json_int_t)c->unix_conns, "path", c->unix_path));
	return rc;
}
