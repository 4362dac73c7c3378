// SPDX-License-Identifier: MIT
#include "probes/tcp_diag.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static bool same_ns(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static int diag_socket(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : fd;
}

int tcp_diag_open(const char *ns_path)
{
	static const char self[] = "/proc/thread-self/ns/net";
	int home, there, fd;

	/* setns only when needed: the host's namespace is the common case. */
	if (same_ns(ns_path, self))
		return diag_socket();
	home = open(self, O_RDONLY | O_CLOEXEC);
	there = open(ns_path, O_RDONLY | O_CLOEXEC);
	if (home < 0 || there < 0 || setns(there, CLONE_NEWNET))
		fd = -errno;
	else
		fd = diag_socket();
	/* Failing to return, every later socket of this thread would be in
	 * the wrong namespace (as for capture's handles, nothing better to do). */
	if (home >= 0 && there >= 0 && setns(home, CLONE_NEWNET) && fd >= 0) {
		close(fd);
		fd = -errno;
	}
	if (home >= 0)
		close(home);
	if (there >= 0)
		close(there);
	return fd;
}

/* Appends one op; false when the program would not fit. */
static bool bc_put(uint8_t *bc, size_t *len, size_t cap, const void *op, size_t n)
{
	if (*len + n > cap)
		return false;
	memcpy(bc + *len, op, n);
	*len += n;
	return true;
}

/*
 * Bytecode accepting a socket neither of whose ports is in skip. The
 * kernel walks "yes" to the end to accept; for each port and side:
 *   S_EQ p (yes: next op, no: skip the jump)   JMP (to past the end: reject)
 * as ss compiles "not". Returns its length (0: none needed).
 */
static size_t bc_skip_ports(uint8_t *bc, size_t cap, const uint16_t *skip, size_t nskip)
{
	const size_t unit = 2 * sizeof(struct inet_diag_bc_op) + sizeof(struct inet_diag_bc_op);
	size_t len = 0, total = nskip * 2 * unit;

	if (total > cap)
		return 0;
	for (size_t i = 0; i < nskip; i++)
		for (int side = 0; side < 2; side++) {
			size_t left = total - len;    /* bytes from this op to the end */
			struct inet_diag_bc_op eq[2] = {
				{ .code = side ? INET_DIAG_BC_D_EQ : INET_DIAG_BC_S_EQ,
				  .yes = 2 * sizeof(struct inet_diag_bc_op), .no = (unsigned short)unit },
				{ .no = skip[i] },
			};
			struct inet_diag_bc_op jmp = {
				.code = INET_DIAG_BC_JMP, .yes = sizeof(struct inet_diag_bc_op),
				.no = (unsigned short)(left - 2 * sizeof(struct inet_diag_bc_op) + 4),
			};
			bc_put(bc, &len, cap, eq, sizeof(eq));
			bc_put(bc, &len, cap, &jmp, sizeof(jmp));
		}
	return len;
}

static void diag_parse(const struct nlmsghdr *h, void (*cb)(const struct tcp_diag_sock *, void *),
		       void *ctx)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	struct tcp_diag_sock s = { 0 };

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return;
	s.family = m->idiag_family == AF_INET6 ? 6 : 4;
	s.sport = ntohs(m->id.idiag_sport);
	s.dport = ntohs(m->id.idiag_dport);
	memcpy(s.src, m->id.idiag_src, s.family == 6 ? 16 : 4);
	memcpy(s.dst, m->id.idiag_dst, s.family == 6 ? 16 : 4);
	s.inode = m->idiag_inode;
	cb(&s, ctx);
}

int tcp_diag_dump(int fd, int family, uint32_t states, const uint16_t *skip, size_t nskip,
		  void (*cb)(const struct tcp_diag_sock *s, void *ctx), void *ctx)
{
	static uint8_t buf[32768] __attribute__((aligned(8)));
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
		struct nlattr a;
		uint8_t bc[TCP_DIAG_MAX_SKIP * 2 * 12];
	} req = {
		.h = { .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = states },
	};
	size_t bclen;
	bool done = false;
	int err = 0;

	if (nskip > TCP_DIAG_MAX_SKIP)
		return -E2BIG;
	bclen = bc_skip_ports(req.bc, sizeof(req.bc), skip, nskip);
	req.a = (struct nlattr){ .nla_len = (uint16_t)(NLA_HDRLEN + bclen),
				 .nla_type = INET_DIAG_REQ_BYTECODE };
	req.h.nlmsg_len = (uint32_t)(NLMSG_LENGTH(sizeof(req.r)) + (bclen ? NLA_HDRLEN + bclen : 0));
	if (send(fd, &req, req.h.nlmsg_len, 0) < 0)
		return -errno;
	while (!err && !done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		int len = (int)n;

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				err = e->error ? e->error : -EIO;
				break;
			}
			diag_parse(h, cb, ctx);
		}
	}
	return err;
}
