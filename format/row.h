/* SPDX-License-Identifier: MIT */
/*
 * row: the endpoint row of the csv/json contract, and the few ways rows
 * are written, shared by `l7top query` (storage/) and the --json stream
 * (export/), so both speak one contract: the same keys in the same order,
 * the same time format, the same escaping.
 */
#ifndef L7TOP_ROW_H
#define L7TOP_ROW_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "collector/snapshot.h"

/* One endpoint's totals over a range, a step of it, or an interval. */
struct endpoint_row {
	int64_t ts_ms;                  /* step start, unix ms; 0 for totals */
	char target[TARGET_NAME_MAX * 4]; /* "" unless split by target; a session's
					 * targets may be several names */
	char host[HOST_MAX];            /* "" unless split by host */
	char protocol[PROTO_MAX];       /* "" unless split by protocol */
	char method[METHOD_MAX];
	char route[ROUTE_MAX];          /* longer routes (not written by l7top) are cut */
	uint64_t requests;
	uint64_t status[STATUS_CLASSES];  /* 1xx..5xx */
	uint64_t aborted;               /* client left before the response */
	uint64_t bytes_in, bytes_out;
	uint64_t p50_us, p90_us, p99_us;
	uint64_t max_us;                /* max of the intervals' lat_max_us */
};

/* A snapshot's endpoint as a row (ts_ms 0): percentiles from its histogram. */
void row_endpoint_from_stats(const struct ep_stats *e, struct endpoint_row *r);
/*
 * One row as the JSON object of the contract (method, route, requests,
 * s1xx..s5xx, aborted, bytes_in, bytes_out, p50_ms, p90_ms, p99_ms, max_ms, in that
 * order). A new reference, NULL on ENOMEM.
 */
json_t *row_endpoint_json(const struct endpoint_row *r);
/* A JSON string of s; bytes jansson refuses (not UTF-8) are %XX-encoded. */
json_t *row_json_text(const char *s);
/* A count as a JSON integer (clamped to INT64_MAX). */
json_int_t row_json_count(uint64_t v);
/* µs as the contract's milliseconds. */
double row_ms(uint64_t us);
/* ts_ms as ISO 8601 UTC: "2026-11-25T14:05:00Z", or with ms ".123Z" when with_ms. */
void row_iso_time(int64_t ts_ms, bool with_ms, char *buf, size_t len);

#endif
