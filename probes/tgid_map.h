/* SPDX-License-Identifier: MIT */
/*
 * tgid_map: a BPF hash of watched processes (key __u32 tgid, value __u8)
 * that user space sets from its /proc scan and a fork hook extends in the
 * kernel, the child in it before it runs.
 *
 * A key the scan does not list is kept one sync more, marked: a child
 * forked after the scan read /proc is listed by the next one, and a
 * process gone (or a pid reused since by an unrelated process) leaves at
 * the second sync instead of staying watched for good.
 */
#ifndef L7TOP_TGID_MAP_H
#define L7TOP_TGID_MAP_H

#include <stddef.h>
#include <sys/types.h>

#define TGID_LISTED   1   /* set by the scan, or by the fork hook */
#define TGID_UNLISTED 2   /* not in the last scan: removed at the next */

/* Makes map fd hold pids (TGID_LISTED) and what the rule above keeps.
 * 0 or -errno of the first update that failed (the map full). */
int tgid_map_sync(int fd, const pid_t *pids, size_t n);

#endif
