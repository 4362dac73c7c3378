/* SPDX-License-Identifier: MIT */
/*
 * upstreams: which of the target's outgoing connections the socket filter
 * keeps (see probes/sockfilter.h). The kernel learns a peer when a target
 * thread connects (tp_btf/inet_sock_set_state, no tracefs needed);
 * upstreams_add() files the peers of connections open before l7top
 * started (probes/target_peers.h). Works on the live capture's filter;
 * every call is a no-op returning -EOPNOTSUPP on an offline capture.
 */
#ifndef L7TOP_UPSTREAMS_H
#define L7TOP_UPSTREAMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "probes/capture.h"
#include "probes/target_peers.h"

struct upstream_probe;

struct upstream_probe_stats {
	uint64_t learnt;          /* peers learnt from connect() in the kernel */
	uint64_t full;            /* peers not kept: the map was full */
	uint64_t kept;            /* segments kept for upstream flows */
};

/*
 * Attaches the connect tracepoint of c's filter. 0, or -errno with one line
 * in err: then only /proc-found peers are kept (the caller says so).
 */
int upstreams_open(struct upstream_probe **out, struct capture *c, char *err, size_t errlen);
/* Is the connect tracepoint attached, so every new connect of the target
 * is learnt in the kernel? False for NULL. */
bool upstreams_tracing(const struct upstream_probe *u);
/* The processes whose connects count (the target's); replaces the set. */
int upstreams_set_tgids(struct upstream_probe *u, const pid_t *pids, size_t n);
/* Every one of pids is followed by the tracepoint already: set by
 * upstreams_set_tgids(), or added by the fork hook as it forked from one.
 * Then none holds a connection the tracepoint missed. False without the
 * tracepoint. Call it before upstreams_set_tgids() adds pids. */
bool upstreams_followed(struct upstream_probe *u, const pid_t *pids, size_t n);
/* Files peers found in /proc. 0, or -ENOSPC when the map is full (counted). */
int upstreams_add(struct upstream_probe *u, const struct target_peer *p, size_t n);
/* Every peer in the map, at most max. */
size_t upstreams_list(struct upstream_probe *u, struct target_peer *out, size_t max);
void upstreams_stats(struct upstream_probe *u, struct upstream_probe_stats *st);
void upstreams_close(struct upstream_probe *u);

#endif
