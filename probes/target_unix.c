// SPDX-License-Identifier: MIT
#include "probes/target_unix.h"

#include "probes/proc_sockets.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UNIX_STATE_CONNECTED 1     /* TCP_ESTABLISHED, as unix_diag reports it */

struct unix_sock {
	uint32_t ino, peer;
	uint8_t type, state;
	char name[108];              /* "" = unnamed */
};

struct unix_list {
	struct unix_sock *v;
	size_t n, cap;
};

static int unix_cmp_ino(const void *a, const void *b)
{
	uint32_t x = ((const struct unix_sock *)a)->ino, y = ((const struct unix_sock *)b)->ino;

	return (x > y) - (x < y);
}

static int unix_push(struct unix_list *l, const struct unix_sock *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct unix_sock *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *s;
	return 0;
}

/* One unix_diag_msg and its attributes. */
static int unix_parse(const struct nlmsghdr *h, struct unix_list *l)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	struct unix_sock s = { .ino = m->udiag_ino, .type = m->udiag_type, .state = m->udiag_state };
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

	for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= 4) {
			memcpy(&s.peer, RTA_DATA(a), 4);
		} else if (a->rta_type == UNIX_DIAG_NAME && RTA_PAYLOAD(a) > 0) {
			size_t n = RTA_PAYLOAD(a) < sizeof(s.name) - 1 ? RTA_PAYLOAD(a) : sizeof(s.name) - 1;
			memcpy(s.name, RTA_DATA(a), n);
			s.name[n] = '\0';
			if (n && s.name[0] == '\0')
				s.name[0] = '@';     /* abstract namespace */
		}
	}
	return unix_push(l, &s);
}

/* Every unix socket of this network namespace, with names and peers. */
static int unix_dump(struct unix_list *l)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = ~0u,
		       .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER },
	};
	static char buf[32768] __attribute__((aligned(8)));
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), err = 0;
	bool done = false;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) < 0)
		err = -errno;
	while (!err && !done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		int len = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len) && !err;
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				err = -EIO;
			else
				err = unix_parse(h, l);
		}
	}
	close(fd);
	return err;
}

int target_scan_unix(const char *proc_root, const struct target *t,
		     const struct target_socks *socks, struct target_unix *out)
{
	struct target_socks own = { 0 };
	struct unix_list l = { 0 };
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = unix_dump(&l))) {
		free(l.v);
		return err;
	}
	if (!socks) {
		if ((err = target_socks_read(proc_root, t, &own))) {
			target_socks_free(&own);
			free(l.v);
			return err;
		}
		socks = &own;
	}
	/* fds 0-2 left out: a service run by systemd has its stdout and
	 * stderr connected to journald's named socket, which is logging, not
	 * a backend. */
	const struct inode_set *mine = &socks->from3;
	qsort(l.v, l.n, sizeof(*l.v), unix_cmp_ino);
	for (size_t i = 0; i < l.n; i++) {
		const struct unix_sock *s = &l.v[i], *peer;
		struct unix_sock key = { .ino = s->peer };

		if (s->type != SOCK_STREAM || s->state != UNIX_STATE_CONNECTED || s->name[0] || !s->peer)
			continue;
		peer = bsearch(&key, l.v, l.n, sizeof(*l.v), unix_cmp_ino);
		if (!peer || !peer->name[0] || !inode_set_has(mine, s->ino))
			continue;
		if (!out->conns++)
			snprintf(out->path, sizeof(out->path), "%s", peer->name);
	}
	target_socks_free(&own);
	free(l.v);
	return 0;
}
