/* SPDX-License-Identifier: MIT */
/*
 * prom: a Prometheus /metrics endpoint (text exposition format 0.0.4).
 *
 * The main loop hands each interval's snapshot to prom_update(), which adds
 * it to totals kept since start: Prometheus counters must only grow, and a
 * scrape may come at any time, between intervals or not at all. Scrapes are
 * served by libmicrohttpd from its own thread; a mutex guards the totals.
 *
 * Series: one per virtual host + method + route, bounded by the endpoint
 * cap the collector already enforces (its OTHER row); prom keeps its own
 * bound as well and folds anything past it into host "" method "*" route
 * "OTHER", so a scrape can never grow without limit. Every HTTP series also
 * carries target="comm[pid]" (the watched process, one value per run) once
 * prom_set_target() was called; Prometheus adds instance and job.
 *
 *   l7top_http_requests_total{host,method,route,status}  status: full code,
 *                                                   or "other" (see status_count)
 *   l7top_http_request_duration_seconds{host,method,route}  histogram
 *   l7top_http_request_bytes_total{host,method,route}
 *   l7top_http_response_bytes_total{host,method,route}
 *   l7top_capture_drops_total, l7top_parse_errors_total and the other loss
 *   counters of struct snap_counters; l7top_build_info{version}
 *
 * The histogram's le bounds are compile-time constants (prom.c), the same
 * on every host and every run, so sum by (le) across instances is exact:
 * fleet percentiles come from merged buckets, never averaged percentiles.
 */
#ifndef L7TOP_PROM_H
#define L7TOP_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/sink.h"
#include "collector/snapshot.h"

struct prom;

struct prom_config {
	const char *listen;        /* "PORT", ":PORT", "ADDR:PORT", "[V6]:PORT";
				    * NULL = no HTTP server (tests: prom_render only) */
	const char *version;       /* for l7top_build_info */
	size_t max_series;         /* method+route series before OTHER; 0 = 2001 */
};

/*
 * "9100" and ":9100" mean 127.0.0.1:9100 (loopback unless an address is
 * given); "0.0.0.0:9100", "[::1]:9100", "localhost:9100" name one. Port 0
 * lets the kernel pick (see prom_port). Writes the host part to host.
 * Returns 0 or -EINVAL.
 */
int prom_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port);

/*
 * Starts serving GET /metrics on cfg->listen. Must be called after the stop
 * signals are blocked: the server thread inherits the mask. Returns 0 or
 * -errno with one line in err (bad address, port in use, out of memory).
 */
int prom_open(struct prom **out, const struct prom_config *cfg, char *err, size_t errlen);
/* The target label of every HTTP series ("nginx[1234]"). Only the first
 * call counts: the label stays one constant for the whole run, also when
 * --pidfile follows the service to a new PID, so a restart of the service
 * does not split l7top's counters (which run on) into new series. */
void prom_set_target(struct prom *p, const char *target);
/* The port actually bound (useful with port 0); 0 without a server. */
uint16_t prom_port(const struct prom *p);
/* Adds one interval (s is not kept). Returns 0 or -ENOMEM (series lost). */
int prom_update(struct prom *p, const struct snapshot *s);
/* Writes s as a label value: \ and " escaped, newline as \n, other control
 * and non-ASCII bytes as %XX (labels stay one line of ASCII). */
void prom_label(FILE *f, const char *s);
/* Writes the exposition text of the totals so far. Returns 0 or -EIO. */
int prom_render(struct prom *p, FILE *f);
/* Stops the server (waits for a scrape in flight) and frees. NULL is fine. */
void prom_close(struct prom *p);
/* p as a sink (per-host rows): push is prom_update(), close prom_close(). */
struct sink prom_sink(struct prom *p);

#endif
