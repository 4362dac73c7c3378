/* SPDX-License-Identifier: MIT */
/*
 * options: l7top's command line (getopt_long), checked as a whole. Numbers
 * go through strtoull/strtod with errno checks; every refusal is one line
 * naming the option and the value.
 */
#ifndef L7TOP_OPTIONS_H
#define L7TOP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collector/route_pattern.h"
#include "probes/target.h"
#include "probes/tls.h"

#define L7TOP_VERSION      "0.1.0"
#define DEFAULT_DB         "/var/lib/l7top/l7top.db"

enum exit_code { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct options {
	pid_t roots[64];
	size_t nroots;
	const char *db;
	const char *read_pcap;
	uint64_t interval_ms;
	uint64_t duration_ms;      /* 0 = until a signal */
	size_t max_endpoints;
	size_t max_conns;
	bool no_tui;
	uint64_t retention_ms;     /* 0 = keep forever */
	uint32_t slow_ms;          /* request log: slow requests */
	uint16_t log_status;       /* request log: statuses at or above */
	bool no_db;
	int max_rows;
	uint16_t ports[TARGET_MAX_PORTS];   /* --port, for --read */
	size_t nports;
	enum tls_mode tls;         /* TLS_MODE_OFF, _CALLS, _KEYS or _AUTO */
	const char *ssl_lib;       /* --ssl-lib: NULL = find libssl per process */
	uint32_t capture_bytes;    /* 0 = the probe's default */
	unsigned capture_buffer_mb; /* --capture-buffer (default CAPTURE_DEFAULT_BUFFER_MB) */
	bool json;                 /* --json: JSON lines on stdout instead of batch */
	const char *prometheus;    /* --prometheus [ADDR:]PORT, NULL = off */
	const char *write_pcap;    /* --write FILE.pcap, NULL = off */
	bool tls_cut;              /* keys mode cuts response bodies in the kernel (--no-tls-cut: not) */
	const char *keylog;        /* --keylog FILE: caught secrets, NSS format, NULL = off */
	const char *keylog_in;     /* --keylog-in FILE: an NSS key log to decrypt with */
	unsigned fold_after;       /* --fold-after: distinct values before a learned fold; 0 = never */
	struct route_patterns *routes;   /* --route / --routes, in order; NULL = none */
	const char *pidfile;       /* --pidfile FILE: the root PID, followed across restarts */
};

/*
 * Fills o from argv (defaults first). Returns -1 to go on, or the exit code
 * to leave with: 0 after --help/--version, 2 after a one-line complaint.
 */
int options_parse(int argc, char **argv, struct options *o);
/* Frees what options_parse() allocated (the route patterns). */
void options_free(struct options *o);

#endif
