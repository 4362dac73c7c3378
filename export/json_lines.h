/* SPDX-License-Identifier: MIT */
/*
 * json_lines: `--json`, one JSON object per endpoint per interval, one per
 * line, for jq and log shippers. The keys are those of the csv/json
 * contract of `l7top query` (method, route, requests, s1xx..s5xx, bytes_in,
 * bytes_out, p50_ms, p90_ms, p99_ms, max_ms), preceded by "ts", the
 * interval start in ISO 8601 UTC with milliseconds:
 *
 *   {"ts":"2024-05-01T10:00:00.000Z","method":"GET","route":"/users/:id",...}
 *
 * After the endpoints, every interval (idle ones too) ends with one line of
 * the snapshot's counters, keyed by the counter table's names:
 *
 *   {"ts":"2024-05-01T10:00:00.000Z","dur_ms":1000,"counters":{"kernel_drops":0,...}}
 *
 * so a reader tells the two apart by "route" or "counters".
 *
 * The objects come from row_endpoint_json() and the time from row_iso_time()
 * (format/row.h), so `--json` and `l7top query --format json` format alike.
 */
#ifndef L7TOP_JSON_LINES_H
#define L7TOP_JSON_LINES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/sink.h"
#include "collector/snapshot.h"

/*
 * Writes s's endpoints, one line each, in the snapshot's order, then its
 * counters line, and flushes f so a pipe sees each interval at once.
 * Returns 0, -ENOMEM, or -EIO when f failed (e.g. EPIPE: the reader left).
 */
int json_lines_write(FILE *f, const struct snapshot *s);
/*
 * f as a sink (hosts folded). A write that fails (EPIPE: the reader left;
 * a full disk) is said on stderr and ends the run: push returns -EIO.
 */
struct sink json_lines_sink(FILE *f);

#endif
