/* SPDX-License-Identifier: MIT */
/*
 * batch: the non-interactive output, like `top -b`. Each interval: one
 * header line with the totals and every loss counter, a column header, and
 * one line per endpoint, busiest first.
 */
#ifndef L7TOP_BATCH_H
#define L7TOP_BATCH_H

#include <stdio.h>

#include "collector/sink.h"
#include "collector/snapshot.h"

/* s's lines; the header from run (target, pids, ports, TLS mode, DB error);
 * at most max_rows endpoints (0 = all). */
void batch_print(FILE *f, const struct snapshot *s, const struct run_info *run, int max_rows);
/* batch_print() to f as a sink (hosts folded). 0 or -ENOMEM. */
int batch_sink(FILE *f, int max_rows, struct sink *out);

#endif
