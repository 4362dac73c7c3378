/* SPDX-License-Identifier: MIT */
#ifndef L7TOP_COLLECTOR_CALLS_HANDOFF_H
#define L7TOP_COLLECTOR_CALLS_HANDOFF_H

/*
 * --tls auto, after the switch: the TCP tuples the calls path took
 * (SSL_set_fd) before the collector met their connection. The event rides
 * the TLS ring, which is read ahead of the capture ring by up to a capture
 * block or more on a loaded host, so thousands may wait for their SYN and
 * ClientHello. A tuple is taken once, by the connection that opens on it;
 * the oldest untaken one makes room when the table is full (counted by the
 * caller: that connection may then be read by both paths).
 */

#include <stdbool.h>
#include <stddef.h>

#include "collector/conn_table.h"

struct calls_handoff;

/* max: entries held, a power of two; NULL when out of memory. */
struct calls_handoff *calls_handoff_new(size_t max);
void calls_handoff_free(struct calls_handoff *h);
/* Holds k's tuple (its netns is not compared). true when an entry never
 * taken was evicted for it. */
bool calls_handoff_put(struct calls_handoff *h, const struct conn_key *k);
/* Takes the entry of k's tuple, if one is held. */
bool calls_handoff_take(struct calls_handoff *h, const struct conn_key *k);

#endif
