/* SPDX-License-Identifier: MIT */
/*
 * target_peers: the target's outgoing TCP connections, from /proc alone:
 * the peers (remote address:port) of its established sockets whose local
 * port is not one it listens on, i.e. the backends a reverse proxy or an
 * API client talks to: socket inodes of the target's fds matched against
 * the namespace's TCP sockets, from sock_diag with the listening ports
 * left out in the kernel (probes/tcp_diag.h), else /proc/PID/net/tcp{,6}.
 * Connections opened later are learnt in the kernel (probes/upstreams.h);
 * this covers the ones already open when l7top starts.
 */
#ifndef L7TOP_TARGET_PEERS_H
#define L7TOP_TARGET_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/target.h"

#define TARGET_MAX_PEERS 256

struct target_peer {
	uint8_t family;          /* 4 or 6 */
	uint16_t port;           /* host order */
	uint8_t addr[16];        /* network order; IPv4 in the first 4 bytes */
};

/*
 * Fills out with at most max distinct peers of t's processes (t from
 * target_scan; socks: its fds' sockets from target_scan_socks, NULL reads
 * them). Returns how many; *truncated says some did not fit.
 * Unreadable processes are skipped (they exited, or are not ours).
 */
size_t target_scan_peers(const char *proc_root, const struct target *t,
			 const struct target_socks *socks, struct target_peer *out, size_t max,
			 bool *truncated);
/* Parses one /proc/net/tcp{,6} row; true for an established socket, with
 * its local port, peer and inode. For tests and target_scan_peers. */
bool target_peer_parse_row(const char *line, uint16_t *local_port, struct target_peer *peer,
			   unsigned long *inode);

#endif
