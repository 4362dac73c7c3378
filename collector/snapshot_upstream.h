/* SPDX-License-Identifier: MIT */
/*
 * The upstream part of a snapshot (see collector/snapshot.h): the target's
 * own outgoing HTTP calls per backend, and per backend x inbound route the
 * calls linked to that route's requests with the split of their latency.
 * Kept apart so the endpoint part reads as before.
 */
#ifndef L7TOP_SNAPSHOT_UPSTREAM_H
#define L7TOP_SNAPSHOT_UPSTREAM_H

#include <stdint.h>

#include "collector/hist.h"

#define UP_NAME_MAX   48       /* "[v6 address]:port" */
#define UP_HOST_MAX   64       /* Host header the target sent */
#define UP_OTHER_NAME "*"      /* every upstream past the table's bound */

/* One backend (address:port) over the interval. */
struct up_stats {
	char upstream[UP_NAME_MAX];
	char host[UP_HOST_MAX];    /* last Host the target sent it, "" none */
	uint64_t requests;         /* calls with an answer */
	uint64_t status[5];        /* 1xx..5xx of those */
	uint64_t no_answer;        /* calls whose connection closed unanswered (timeouts) */
	uint64_t connect_failed;   /* SYN answered by RST (backend down) */
	uint64_t bytes_sent;       /* requests, as on the wire */
	uint64_t bytes_received;   /* responses */
	uint64_t lat_max_us;
	struct hist lat;           /* call: first request byte -> last response byte */
	uint64_t connects;         /* new connections whose SYN and SYN/ACK were seen */
	uint64_t connects_unseen;  /* new connections without a visible handshake */
	struct hist connect;       /* SYN -> SYN/ACK, µs */
	uint64_t reused;           /* calls on a connection that had carried one before */
	uint64_t conns_open;       /* gauge at the end of the interval */
};

/* Calls to one upstream linked to one inbound route (uplink's rule). */
struct up_route_stats {
	char upstream[UP_NAME_MAX];
	char method[24];
	char route[256];
	uint64_t calls;            /* linked calls (each retry is one) */
	uint64_t status[5];
	uint64_t no_answer;
	uint64_t lat_max_us;
	struct hist lat;           /* the calls' own latency */
	uint64_t inbound;          /* inbound requests this upstream answered last */
	struct hist before;        /* inbound start -> first call sent */
	struct hist upstream_time; /* first call sent -> last call answered */
	struct hist after;         /* last call answered -> inbound response end */
};

struct up_counters {
	uint64_t calls_linked;
	uint64_t calls_by_order;   /* linked by order between same-target twins */
	uint64_t calls_unlinked;
	uint64_t inbound_linked;
	uint64_t link_overflow;    /* link records refused (tables full) */
	uint64_t up_overflow;      /* calls to upstreams past the table bound (row "*") */
	uint64_t route_overflow;   /* linked calls past the route-row bound */
	/* Backends on unix sockets: invisible to packet capture, so not in the
	 * table; the target's connections to them (a gauge, from the last /proc
	 * scan) and one of their paths, set by the caller (probes/target_unix.h). */
	uint64_t unix_conns;
	char unix_path[108];
};

#endif
