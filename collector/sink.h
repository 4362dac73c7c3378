/* SPDX-License-Identifier: MIT */
/*
 * sink: where a snapshot goes. Every output (the SQLite store, /metrics,
 * JSON lines, the batch printer, the live view) is a sink behind this one
 * small interface; main closes an interval with one loop over its sinks:
 *
 *   for each sink: sink->ops->push(sink->self, per_host ? s : folded, &run);
 *
 * and ends the run with one loop calling close. What the outputs show
 * beside the numbers (what is watched, how, since when, the DB's state)
 * comes in one struct run_info, the same for all of them.
 */
#ifndef L7TOP_SINK_H
#define L7TOP_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"
#include "collector/tls_kinds.h"

/*
 * The run, as main knows it: filled once at start, the changing fields
 * (pids, ports, TLS mode, DB health, now) refreshed before every push.
 * Strings belong to main and stay valid until the next push; sinks copy
 * what they keep. Any string may be NULL.
 */
struct run_info {
	const char *target;        /* "nginx[1234]", or the pcap file read */
	const char *cmdline;       /* the first target's command line (or the pcap file) */
	const char *pids;          /* "1234,1240" */
	size_t npids;
	const char *ports;         /* "80,443" */
	const char *netns;         /* network namespaces captured in: "host", "web1,web2";
				    * NULL: not said (a capture read) */
	const char *unix_unseen;   /* unix listeners packet capture cannot see; "" = none */
	enum tls_mode tls_mode;    /* what HTTPS is read with */
	bool show_tls;             /* false: nothing to say about TLS (a plain capture read) */
	const char *capture;       /* "plain", "plain+tls", "pcap" */
	const char *version;       /* l7top's */
	const char *settings;      /* "interval_ms=1000 slow_ms=100 ..." free text */
	uint64_t started_ms;       /* session start, unix ms */
	uint64_t now_ms;           /* the push (or close), unix ms */
	const char *db_path;       /* NULL: no DB (--no-db, or the disk refused it) */
	const char *db_error;      /* "" or NULL: healthy; else one line */
	uint64_t db_dropped;       /* snapshots the DB did not take */
	const char *const *warnings;   /* status line notes, e.g. "TLS library not found" */
	size_t nwarnings;
};

/* How a sink is doing, for the headers of the others. */
struct sink_health {
	const char *error;         /* "" when healthy; valid until the next call */
	uint64_t dropped;          /* snapshots not taken */
};

struct sink_ops {
	const char *name;
	/* true: gets the collector's snapshot (per-host rows, the request
	 * log); false: the one summed across hosts (snapshot_fold_hosts). */
	bool per_host;
	/*
	 * One interval. The snapshot is the caller's: a sink keeping it takes
	 * a reference (snapshot_hold). Returns 0, or -errno when the sink
	 * cannot go on (it has said why on stderr) and the run should end;
	 * passing trouble (a full queue, a series out of memory) is counted
	 * by the sink and is not an error here.
	 */
	int (*push)(void *self, struct snapshot *s, const struct run_info *run);
	/* Optional. */
	void (*health)(void *self, struct sink_health *h);
	/* Flushes and frees self. The last call. */
	void (*close)(void *self, const struct run_info *run);
};

struct sink {
	const struct sink_ops *ops;
	void *self;
};

#endif
