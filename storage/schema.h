/* SPDX-License-Identifier: MIT */
/*
 * schema: the l7top DB layout, shared by the writer (store.c) and the
 * reader (query.c). An l7top DB is marked by PRAGMA application_id
 * SCHEMA_APP_ID and versioned by PRAGMA user_version (STORE_SCHEMA_VERSION).
 *
 * It also registers two SQL functions so plain sqlite3 sessions can merge
 * latency histograms the same way l7top does:
 *   hist_merge(blob)       aggregate: the merged histogram blob (NULL rows
 *                          skipped; NULL when no row had one)
 *   hist_merge(a, b)       scalar: blobs a and b merged (a NULL side is the
 *                          other blob; NULL when both are)
 *   hist_quantile(blob, q) scalar: the value at quantile q (0 < q <= 1) in
 *                          µs, as the bucket midpoint (the blob has no
 *                          min/max to clamp to; within 0.8% of the value)
 */
#ifndef L7TOP_SCHEMA_H
#define L7TOP_SCHEMA_H

#include <stddef.h>

#include <sqlite3.h>

#define SCHEMA_APP_ID 0x6c37746f      /* "l7to" */

/* Registers hist_merge and hist_quantile on db. Returns 0 or -EIO. */
int schema_register_functions(sqlite3 *db);

/*
 * Tells whether db (opened from path) is an l7top DB this build can use.
 * Returns 0 with *version = 0 for an empty DB (no tables, not marked), or
 * with *version = 1..STORE_SCHEMA_VERSION for an l7top DB. Otherwise writes
 * one line to err and returns -ENOTSUP (made by a newer l7top) or -EINVAL
 * (unreadable, not SQLite, or someone else's DB). Changes nothing.
 */
int schema_identify(sqlite3 *db, const char *path, int *version, char *err, size_t errlen);

/*
 * Brings an empty or older l7top DB to STORE_SCHEMA_VERSION in one
 * transaction (so two l7tops starting at once cannot half-create it, and a
 * failed migration leaves the old version intact). Registers the SQL
 * functions on db (the v1 → v2 step uses them). Returns 0, or -EIO with one
 * line in err.
 *
 * Version 2 (from 1): endpoints.host with UNIQUE (host, method, route);
 * intervals.{conns_new, tls_drops, reqs_skipped, host_overflow}; sessions.capture;
 * endpoint_stats WITHOUT ROWID keyed (ts_ms, session_id, endpoint_id) with
 * p99_us; the requests table (request log); views endpoint_stats_v and requests_v.
 * Version 4 (from 3): endpoints.protocol with UNIQUE (host, method, route,
 * protocol); requests.grpc_status; intervals.{h2_unreadable, h2_reset,
 * h2_bounds}; the views show them.
 *
 * Version 5 (from 4): endpoint_stats.aborted; intervals.partial_reqs; the
 * folds table (route prefixes folded by learning, so a restart keeps them).
 *
 * Version 7 (from 6): endpoints.target with UNIQUE (host, method, route,
 * protocol, target); sessions.targets; the views show the target.
 */
int schema_migrate(sqlite3 *db, const char *path, char *err, size_t errlen);

/*
 * Adds to intervals a column for every counter of the snapshot table
 * (collector/snapshot.h) it lacks, so a counter added to the table is
 * stored without a schema version of its own (older l7tops ignore the
 * column; rows written before it hold NULL). Run by the writer after
 * schema_migrate(). Returns 0, or -EIO with one line in err.
 */
int schema_add_counter_columns(sqlite3 *db, const char *path, char *err, size_t errlen);

#endif
