/* SPDX-License-Identifier: MIT */
/*
 * store: the SQLite writer. One thread of its own behind a bounded queue, so
 * capture never waits on disk. One transaction per interval (its per-host
 * endpoint rows and its request-log rows together), prepared statements,
 * WAL, file mode 0600, schema version in PRAGMA user_version.
 *
 * The same thread keeps the DB small, in bounded steps between intervals
 * (each its own short transaction, so neither capture nor a reader waits on
 * a big delete):
 *   rollup     per-interval rows older than rollup_after are merged into one
 *              row per session, minute and endpoint (dur_ms = 60000):
 *              counters summed, max = max, histograms merged bucket by
 *              bucket, so totals and percentiles over whole minutes are the
 *              same before and after;
 *   retention  rows older than the retention are deleted.
 * "Now" for both is the end of the newest interval written, not the wall
 * clock: a replayed pcap from last month is not deleted as it is written.
 *
 * The DB holds no headers, bodies or query strings: only what a snapshot
 * carries (host, method, folded route, counters, histograms) and, in the
 * request log, the path without its query string.
 */
#ifndef L7TOP_STORE_H
#define L7TOP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "collector/sink.h"
#include "collector/snapshot.h"

#define STORE_SCHEMA_VERSION 7
#define STORE_QUEUE_MAX      64      /* snapshots waiting for the writer */
/* ... and the heap they hold: 64 snapshots of 10,000 endpoints, 3-4 MB each,
 * were 200-270 MB behind a stalled disk */
#define STORE_QUEUE_MAX_BYTES (32u << 20)
#define STORE_RETENTION_DEFAULT_MS (7 * 86400000ULL)   /* --retention 7d */
#define STORE_ROLLUP_DEFAULT_MS    (3600000ULL)        /* per-interval rows kept 1 h */
#define STORE_ROLLUP_STEP_MS       60000ULL            /* rollup row length */

struct store;

struct store_health {
	uint64_t queued;         /* snapshots waiting now */
	uint64_t queued_bytes;   /* the heap they hold (snapshot_bytes) */
	uint64_t written;        /* snapshots committed */
	uint64_t dropped;        /* snapshots refused: queue full (count or bytes) or DB failing */
	uint64_t errors;         /* failed transactions (writes and upkeep) */
	uint64_t rolled;         /* per-interval endpoint rows merged into minute rows */
	uint64_t deleted;        /* rows removed by retention */
	uint64_t last_write_us;  /* wall time of the last interval's transaction */
	uint64_t max_write_us;   /* the longest one */
	uint64_t write_us_total; /* all interval transactions (mean = / (written + errors)) */
	uint64_t upkeep_us_total;/* all rollup and retention steps */
	char last_error[160];    /* "" while healthy; one line, for the UI */
	uint64_t outages;        /* times interval writes went from working to failing */
	uint64_t recoveries;     /* times they worked again after failing */
	uint64_t outage_lost;    /* snapshots the current (or last) outage cost */
	char outage_why[100];    /* SQLite's reason for the current (or last) outage */
};

/*
 * Call first in main(), before any thread and any other SQLite call: turns
 * off SQLite's memory statistics, a global mutex taken on every allocation
 * (~5 % of the writer's time at 10,000 rows per interval).
 */
void store_library_init(void);
/*
 * Opens (creating with mode 0600) or migrates the DB (an older schema is
 * migrated in place in one transaction), inserts the session row (from
 * run: cmdline, pids, version, settings, started_ms, capture; NULL = an
 * empty row). The writer thread starts with the first store_push(). Returns
 * 0 or -errno with a one-line reason in err:
 *   -EROFS, -EACCES   the file or its directory cannot be written (SQLite
 *                     needs to create FILE-wal and FILE-shm beside it)
 *   -ENOSPC           the disk is full
 *   -ENOENT           the directory does not exist
 *   -EINVAL           not an l7top DB, or corrupt
 *   -ENOTSUP          written by a newer l7top
 *   -EIO, -ENOMEM     anything else
 * -EROFS, -EACCES and -ENOSPC leave capture unaffected: the caller may go on
 * without a DB and show err; the others are worth stopping for (the user
 * named a wrong path or a broken file).
 */
int store_open(struct store **out, const char *path, const struct run_info *run,
	       char *err, size_t errlen);
/*
 * Queues a snapshot; the store owns it from here on and frees it. Give it
 * the collector's snapshot as it is — per-host rows and request log — not
 * snapshot_fold_hosts()'s (that one has neither hosts nor requests). Never
 * blocks: when the queue is full the snapshot is freed and counted in
 * store_health.dropped, and -EAGAIN is returned (a writer that cannot be
 * started: the same, with its -errno and last_error).
 */
int store_push(struct store *st, struct snapshot *snap);
/* Waits until every queued snapshot was written (or failed) and freed. A
 * replay (--read) calls it before each interval: it need not keep pace, so
 * it never drops one, and holds one snapshot at a time, as live capture does. */
void store_wait_written(struct store *st);
void store_get_health(struct store *st, struct store_health *h);
/*
 * Sets how long rows are kept (0 = forever; default 7 days) and how long
 * per-interval rows are kept before they are merged into per-minute rows
 * (0 = never; default 1 hour; values under a minute are taken as a minute).
 * Safe from any thread at any time; the writer applies it from its next step.
 */
void store_set_retention(struct store *st, uint64_t retention_ms, uint64_t rollup_after_ms);
/*
 * Adds one event to the session row's notes ("nginx[1234] exited at
 * 2026-12-01T19:20:00Z"). Written with the next interval that commits, so a
 * note made while the DB fails lands once it works again; bounded (a note
 * that does not fit is counted in the text as "+N more"). Any thread.
 * The store adds its own notes for write outages, with their length.
 */
void store_note(struct store *st, const char *text);
/* Drains the queue, writes the session's end time, joins the thread, closes. */
/* Calls fn for every route prefix folded by learning in an earlier run
 * (the folds table), oldest first. Call before the first store_push():
 * -EBUSY after it. 0 or -EIO. */
int store_folds(struct store *st, void (*fn)(void *ctx, const char *prefix), void *ctx);
void store_close(struct store *st, uint64_t ended_ms);
/*
 * st as a sink: per-host rows; push queues (a full queue is counted in
 * health.dropped, not an error); health is the writer's last error; close
 * is store_close() at run->now_ms.
 */
struct sink store_sink(struct store *st);

#endif
