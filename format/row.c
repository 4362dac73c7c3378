// SPDX-License-Identifier: MIT
#include "format/row.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "collector/hist.h"

void row_endpoint_from_stats(const struct ep_stats *e, struct endpoint_row *r)
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

double row_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

void row_iso_time(int64_t ts_ms, bool with_ms, char *buf, size_t len)
{
	time_t t = (time_t)(ts_ms / 1000);
	struct tm tm;
	char sec[32];

	if (ts_ms < 0 || !gmtime_r(&t, &tm) ||
	    !strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	if (with_ms)
		snprintf(buf, len, "%s.%03dZ", sec, (int)(ts_ms % 1000));
	else
		snprintf(buf, len, "%sZ", sec);
}

/*
 * jansson refuses strings that are not UTF-8. The collector only hands us
 * ASCII, but a DB may come from anywhere: %XX-encode what jansson would
 * refuse (as the collector does) rather than fail.
 */
json_t *row_json_text(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char esc[ROUTE_MAX * 3 + 1];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 <= sizeof(esc); p++) {
		if (*p >= 0x20 && *p < 0x7f)
			esc[o++] = (char)*p;
		else
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "%%%02X", *p);
	}
	esc[o] = '\0';
	return json_string(esc);
}

json_int_t row_json_count(uint64_t v)
{
	return v > INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

json_t *row_endpoint_json(const struct endpoint_row *r)
{
	/* "o" steals the reference; json_pack fails (and frees) on a NULL one. */
	return json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}",
			 "method", row_json_text(r->method), "route", row_json_text(r->route),
			 "requests", row_json_count(r->requests),
			 "s1xx", row_json_count(r->status[0]), "s2xx", row_json_count(r->status[1]),
			 "s3xx", row_json_count(r->status[2]), "s4xx", row_json_count(r->status[3]),
			 "s5xx", row_json_count(r->status[4]), "aborted", row_json_count(r->aborted),
			 "bytes_in", row_json_count(r->bytes_in), "bytes_out", row_json_count(r->bytes_out),
			 "p50_ms", row_ms(r->p50_us), "p90_ms", row_ms(r->p90_us),
			 "p99_ms", row_ms(r->p99_us), "max_ms", row_ms(r->max_us));
}

