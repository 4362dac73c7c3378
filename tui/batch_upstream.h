/* SPDX-License-Identifier: MIT */
/*
 * batch_upstream: the batch output's second table, the target's own
 * outgoing calls per upstream, then per upstream x inbound route with the
 * latency split, and a line with the link rule's counts. Printed only in
 * intervals that have upstream rows.
 */
#ifndef L7TOP_BATCH_UPSTREAM_H
#define L7TOP_BATCH_UPSTREAM_H

#include <stdio.h>

#include "collector/snapshot.h"

void batch_print_upstreams(FILE *f, const struct snapshot *s);

#endif
