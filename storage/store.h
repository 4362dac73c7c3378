/* SPDX-License-Identifier: MIT */
/*
 * store: the SQLite writer. One thread of its own behind a bounded queue, so
 * capture never waits on disk. One transaction per interval, prepared
 * statements, WAL, file mode 0600, schema version in PRAGMA user_version.
 *
 * The DB holds no headers, bodies or query strings: only what a snapshot
 * carries (method, folded route, counters, histograms).
 */
#ifndef L7TOP_STORE_H
#define L7TOP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_QUEUE_MAX      64      /* snapshots waiting for the writer */

struct store;

struct store_session {
	const char *target;      /* command line of the first target process */
	const char *pids;        /* "1234,1240" */
	const char *version;     /* l7top version */
	const char *settings;    /* "interval=1s tls=auto ..." free text */
	uint64_t started_ms;     /* unix ms */
};

struct store_health {
	uint64_t queued;         /* snapshots waiting now */
	uint64_t written;        /* snapshots committed */
	uint64_t dropped;        /* snapshots refused: queue full or DB failing */
	uint64_t errors;         /* failed transactions */
	char last_error[160];    /* "" while healthy; one line, for the UI */
};

/*
 * Opens (creating with mode 0600) or migrates the DB, inserts the session
 * row and starts the writer thread. Returns 0 or -errno with a one-line
 * reason in err (e.g. "l7top: cannot open /x.db: read-only directory").
 */
int store_open(struct store **out, const char *path, const struct store_session *sess,
	       char *err, size_t errlen);
/*
 * Queues a snapshot; the store owns it from here on and frees it. Never
 * blocks: when the queue is full the snapshot is freed and counted in
 * store_health.dropped, and -EAGAIN is returned.
 */
int store_push(struct store *st, struct snapshot *snap);
void store_get_health(struct store *st, struct store_health *h);
/* Drains the queue, writes the session's end time, joins the thread, closes. */
void store_close(struct store *st, uint64_t ended_ms);

#endif
