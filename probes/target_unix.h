/* SPDX-License-Identifier: MIT */
/*
 * target_unix: the target's connections to backends on unix sockets
 * (`proxy_pass http://unix:/run/app.sock`), which packet capture cannot
 * see. Found, not measured: the target's connected stream sockets whose
 * peer has a name (a listening socket's path), through sock_diag
 * (NETLINK_SOCK_DIAG, UDIAG_SHOW_PEER), so the view can say that such
 * calls exist and are not in the upstream table. NGINX's own master/worker
 * channels are unnamed socketpairs and do not count. Sees the unix sockets
 * of l7top's network namespace.
 */
#ifndef L7TOP_TARGET_UNIX_H
#define L7TOP_TARGET_UNIX_H

#include <stddef.h>
#include <stdint.h>

#include "probes/target.h"

struct target_unix {
	uint64_t conns;          /* connected stream sockets to a named peer */
	char path[108];          /* one of those peers' paths ("@name": abstract) */
};

/* 0, or -errno (then out is zero): no netlink, or /proc unreadable.
 * socks: t's fds' sockets from target_scan_socks; NULL reads them. */
int target_scan_unix(const char *proc_root, const struct target *t,
		     const struct target_socks *socks, struct target_unix *out);

#endif
