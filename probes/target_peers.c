// SPDX-License-Identifier: MIT
#include "probes/target_peers.h"

#include "probes/proc_sockets.h"
#include "probes/tcp_diag.h"

#include <dirent.h>
#include <sys/socket.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TCP_ESTABLISHED 0x01   /* st column of /proc/net/tcp */
#define TCP_SYN_SENT    0x02

/* /proc prints each 32-bit word of an address as a host-order number. */
static bool peers_parse_addr(const char *hex, size_t len, struct target_peer *p)
{
	size_t words = len / 8;

	if (len != 8 && len != 32)
		return false;
	p->family = len == 8 ? 4 : 6;
	memset(p->addr, 0, sizeof(p->addr));
	for (size_t w = 0; w < words; w++) {
		char part[9];
		uint32_t v;

		memcpy(part, hex + w * 8, 8);
		part[8] = '\0';
		v = (uint32_t)strtoul(part, NULL, 16);
		memcpy(p->addr + w * 4, &v, 4);
	}
	return true;
}

bool target_peer_parse_row(const char *line, uint16_t *local_port, struct target_peer *peer,
			   unsigned long *inode)
{
	char laddr[40], raddr[40];
	unsigned lport, rport, st;

	if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
		   laddr, &lport, raddr, &rport, &st, inode) != 6)
		return false;
	if (st != TCP_ESTABLISHED && st != TCP_SYN_SENT)
		return false;
	if (!peers_parse_addr(raddr, strlen(raddr), peer) || strlen(laddr) != strlen(raddr))
		return false;
	*local_port = (uint16_t)lport;
	peer->port = (uint16_t)rport;
	return true;
}

static bool peers_listens(const struct target *t, uint16_t port)
{
	for (size_t i = 0; i < t->nports; i++)
		if (t->ports[i] == port)
			return true;
	return false;
}

static bool peers_have(const struct target_peer *v, size_t n, const struct target_peer *p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == p->family && v[i].port == p->port &&
		    !memcmp(v[i].addr, p->addr, 16))
			return true;
	return false;
}

/* What a peer found in either source goes through. */
struct peers_acc {
	const struct inode_set *s;
	const struct target *t;
	struct target_peer *out;
	size_t max, *n;
	bool *truncated;
};

/*
 * A connection is outgoing when its local port is not a listening port of
 * the target; a peer whose port the target listens on is the target
 * talking to itself, which the listeners already cover.
 */
static void peers_keep(struct peers_acc *a, uint16_t lport, const struct target_peer *p,
		       unsigned long ino)
{
	if (peers_listens(a->t, lport) || peers_listens(a->t, p->port))
		return;
	if (!inode_set_has(a->s, ino) || peers_have(a->out, *a->n, p))
		return;
	if (*a->n == a->max) {
		*a->truncated = true;
		return;
	}
	a->out[(*a->n)++] = *p;
}

static void peers_read_table(const char *path, struct peers_acc *a)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct target_peer p;
		unsigned long ino;
		uint16_t lport;

		if (target_peer_parse_row(line, &lport, &p, &ino))
			peers_keep(a, lport, &p, ino);
	}
	fclose(f);
}

static void peers_diag_cb(const struct tcp_diag_sock *d, void *ctx)
{
	struct target_peer p = { .family = d->family, .port = d->dport };

	memcpy(p.addr, d->dst, sizeof(p.addr));
	peers_keep(ctx, d->sport, &p, d->inode);
}

/*
 * The namespace of pid from sock_diag: established and connecting sockets
 * only, the target's listening ports left out by the kernel, so a machine
 * of 10,000 inbound connections costs a walk of its hash, not 20,000 rows
 * printed and parsed. 0, or -errno: then read /proc's tables instead.
 */
static int peers_read_diag(pid_t pid, struct peers_acc *a)
{
	const uint32_t states = (1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT);
	char path[64];
	size_t n0 = *a->n;
	bool t0 = *a->truncated;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if ((fd = tcp_diag_open(path)) < 0)
		return fd;
	err = tcp_diag_dump(fd, AF_INET, states, a->t->ports, a->t->nports, peers_diag_cb, a);
	if (!err)
		err = tcp_diag_dump(fd, AF_INET6, states, a->t->ports, a->t->nports, peers_diag_cb, a);
	close(fd);
	if (err) {
		*a->n = n0;                  /* the tables give them all again */
		*a->truncated = t0;
	}
	return err;
}

size_t target_scan_peers(const char *proc_root, const struct target *t,
			 const struct target_socks *socks, struct target_peer *out, size_t max,
			 bool *truncated)
{
	struct target_socks own = { 0 };
	char path[PATH_MAX];
	size_t n = 0;

	*truncated = false;
	if (!socks) {
		target_socks_read(proc_root, t, &own);   /* -ENOMEM: what was read */
		socks = &own;
	}
	const struct inode_set *s = &socks->all;
	if (s->n) {
		/* /proc/PID/net/tcp lists PID's namespace only: read it once in
		 * every namespace the target's processes live in (target_scan
		 * lists them with a process inside), not just the first one's. */
		size_t nns = t->nnetns ? t->nnetns : 1;
		struct peers_acc acc = { s, t, out, max, &n, truncated };
		for (size_t k = 0; k < nns; k++) {
			pid_t pid = t->nnetns ? t->netns[k].pid : t->pids[0];
			/* a fake tree (tests) has tables, not sockets */
			if (!strcmp(proc_root, "/proc") && !peers_read_diag(pid, &acc))
				continue;
			snprintf(path, sizeof(path), "%s/%d/net/tcp", proc_root, pid);
			peers_read_table(path, &acc);
			snprintf(path, sizeof(path), "%s/%d/net/tcp6", proc_root, pid);
			peers_read_table(path, &acc);
		}
	}
	target_socks_free(&own);
	return n;
}
