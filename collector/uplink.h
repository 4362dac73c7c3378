/* SPDX-License-Identifier: MIT */
/*
 * uplink: which inbound request an upstream call was made for. Pure:
 * records in, link decisions out through callbacks; time is a parameter.
 *
 * The rule. An upstream call C (the target as the client, e.g. NGINX's
 * proxy_pass) belongs to an inbound request I (the target as the server)
 * when all of these hold:
 *   1. the same method and the same request-target as sent (NGINX's
 *      proxy_pass without a URI part forwards the client's URI as is);
 *   2. C lies inside I's exchange: I.start <= C.start and C.end <= I.end
 *      (the proxy cannot call before it is asked, and answers after the
 *      backend did; a call that got no answer ends when the target gave
 *      up on it: closed or reset the connection);
 *   3. the calls of one I never overlap each other and a next one follows
 *      only a failure (proxy_next_upstream: an error, no answer, 5xx, or
 *      403/404/429 where configured), so I takes the earliest-starting
 *      candidate and then, while the last one failed, the next one that
 *      starts after it ended, unless another pending inbound request could
 *      also hold it (a retry is never taken from another request). Taking
 *      the earliest-starting call, requests in order of their end, is the
 *      greedy that leaves the most calls for the requests still to come: a
 *      later-starting call fits more of them.
 * Inbound requests are decided once settle_ns has passed after their end
 * (a call is reported when it ends, or when the target gives up on it, so
 * only a reassembly hole can hold one back, and that for at most a second),
 * in the order they ended (the order they were added): a shorter request
 * inside a longer one with the same target takes its calls first. When I
 * holds more same-target calls than it takes (a twin's are among them), the
 * link is made by that order and counted as by_order (the route
 * is right either way; the split may belong to its twin). A call no inbound
 * request takes within max_age_ns is unlinked: counted, never guessed. Both tables are bounded; what does
 * not fit is counted (overflow) and, for calls, also unlinked.
 */
#ifndef L7TOP_UPLINK_H
#define L7TOP_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"

struct uplink_call {
	uint64_t start_ns, end_ns;
	uint32_t key;                /* uplink_key(method, target) */
	uint16_t status;             /* 0 = no answer */
	char upstream[CLIENT_MAX];   /* "addr:port" */
};

struct uplink_in {
	uint64_t start_ns, end_ns;
	uint32_t key;
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
};

struct uplink_sink {
	/* I took calls[0..n-1] (n >= 1, in time order). */
	void (*linked)(void *ctx, const struct uplink_in *in, const struct uplink_call *const *calls,
		       size_t n, bool by_order);
	/* A call no inbound request took. */
	void (*unlinked)(void *ctx, const struct uplink_call *c);
	void *ctx;
};

struct uplink_stats {
	uint64_t linked;             /* upstream calls linked */
	uint64_t by_order;           /* of those, decided by order between twins */
	uint64_t unlinked;           /* upstream calls no inbound request took */
	uint64_t inbound_linked;     /* inbound requests with at least one call */
	uint64_t overflow;           /* records refused: a table was full */
};

struct uplink;

/* max_calls, max_inbound: table bounds (0 = 8192 each); settle_ns 0 = 1 s,
 * max_age_ns 0 = 30 s. NULL on ENOMEM. */
struct uplink *uplink_new(size_t max_calls, size_t max_inbound, uint64_t settle_ns,
			  uint64_t max_age_ns);
void uplink_free(struct uplink *l);
uint32_t uplink_key(const char *method, const char *target, size_t target_len);
/* Records are copied. When a table is full the oldest entry is decided
 * now (a call: unlinked) to make room, and overflow counts it. */
void uplink_add_call(struct uplink *l, const struct uplink_call *c, const struct uplink_sink *out);
void uplink_add_inbound(struct uplink *l, const struct uplink_in *in,
			const struct uplink_sink *out);
/* Decides what has settled at now_ns; all = decide everything (exit). */
void uplink_run(struct uplink *l, uint64_t now_ns, bool all, const struct uplink_sink *out);
void uplink_get_stats(const struct uplink *l, struct uplink_stats *st);

#endif
