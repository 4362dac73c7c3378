/* SPDX-License-Identifier: MIT */
/*
 * batch: the non-interactive output, like `top -b`. Each interval: one
 * header line with the totals and every loss counter, a column header, and
 * one line per endpoint, busiest first.
 */
#ifndef L7TOP_BATCH_H
#define L7TOP_BATCH_H

#include <stdio.h>

#include "collector/snapshot.h"

struct batch_info {
	const char *target;       /* "nginx[1234]" */
	size_t npids;
	const char *ports;        /* "80,443" */
	const char *netns;        /* network namespaces captured in: "host", "web1,web2" */
	const char *unix_unseen;  /* unix listeners packet capture cannot see; NULL or "" = none */
	const char *db_status;    /* NULL or "" when healthy */
	int max_rows;             /* 0 = all */
	const char *tls_mode;     /* "keys", "calls", "keys+calls", "none", "off"; NULL = not shown */
};

void batch_print(FILE *f, const struct snapshot *s, const struct batch_info *info);

#endif
