/* SPDX-License-Identifier: MIT */
/*
 * sockfilter: what probes/sockfilter.bpf.c and probes/capture.c share.
 *
 * Map "ports": key __u16 server port in host order, value __u8 (ignored).
 * A segment is kept when its source or destination port is a key.
 * Map "stats": per-CPU __u64 counters indexed by enum sockfilter_stat;
 * user space sums the CPUs.
 */
#ifndef L7TOP_SOCKFILTER_H
#define L7TOP_SOCKFILTER_H

#define SOCKFILTER_MAX_PORTS 256

enum sockfilter_stat {
	SOCKFILTER_STAT_SEEN,   /* packets the program ran on */
	SOCKFILTER_STAT_KEPT,   /* packets it passed on to the ring */
	SOCKFILTER_NSTATS,
};

#endif
