/* SPDX-License-Identifier: MIT */
/*
 * json_upstream: the upstream lines of `--json` (see export/json_lines.h),
 * written after the endpoint lines of the same interval, only when the
 * interval has any:
 *   {"ts":..., "upstream":"127.0.0.1:9001", "requests":..., "s1xx".."s5xx",
 *    "no_answer", "connect_failed", "p50_ms", "p90_ms", "p99_ms", "max_ms",
 *    "connects", "connect_p50_ms", "reused", "conns_open", "bytes_sent",
 *    "bytes_received"}
 *   {"ts":..., "upstream":..., "method":..., "route":..., "calls":...,
 *    "s1xx".."s5xx", "no_answer", "p50_ms", "p90_ms", "p99_ms", "max_ms",
 *    "inbound", "before_p50_ms", "before_p99_ms", "upstream_p50_ms",
 *    "upstream_p99_ms", "after_p50_ms", "after_p99_ms"}
 *   {"ts":..., "upstream_links":{"linked":..., "by_order":..., "unlinked":...,
 *    "inbound_linked":..., "overflow":...}}
 *   {"ts":..., "upstream_unix":{"conns":..., "path":...}}  backends on unix
 *    sockets, which packet capture cannot see (connections, not calls)
 */
#ifndef L7TOP_JSON_UPSTREAM_H
#define L7TOP_JSON_UPSTREAM_H

#include <stdio.h>

#include "collector/snapshot.h"

/* 0, -ENOMEM or -EIO, as json_lines_write(). */
int json_upstream_write(FILE *f, const char *ts, const struct snapshot *s);

#endif
