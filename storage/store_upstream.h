/* SPDX-License-Identifier: MIT */
/*
 * store_upstream: the writer thread's part for the upstream tables of
 * schema v4 (storage/schema.c): upstreams, upstream_stats,
 * upstream_route_stats, upstream_links. Runs inside store.c's interval
 * transaction; retention deletes in bounded steps like the other tables.
 */
#ifndef L7TOP_STORE_UPSTREAM_H
#define L7TOP_STORE_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "collector/snapshot.h"

struct store_upstream;

/* Prepares its statements on db. NULL on failure (SQLite's error in db). */
struct store_upstream *store_upstream_new(sqlite3 *db);
void store_upstream_free(struct store_upstream *u);
/* Writes s's upstream part for session; a SQLite rc. */
int store_upstream_write(struct store_upstream *u, sqlite3_int64 session, const struct snapshot *s);
/* Deletes at most limit rows per table older than cutoff; *more: a table
 * hit the limit; *deleted += rows removed. A SQLite rc. */
int store_upstream_retain(struct store_upstream *u, sqlite3_int64 cutoff, int limit, bool *more,
			  uint64_t *deleted);

#endif
