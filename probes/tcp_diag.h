/* SPDX-License-Identifier: MIT */
/*
 * tcp_diag: TCP sockets of a network namespace from sock_diag
 * (NETLINK_SOCK_DIAG, inet_diag_req_v2), filtered in the kernel by state
 * and by port, so a machine's 20,000 connections are neither formatted by
 * the kernel nor parsed by us as /proc/net/tcp would make us do.
 */
#ifndef L7TOP_TCP_DIAG_H
#define L7TOP_TCP_DIAG_H

#include <stddef.h>
#include <stdint.h>

struct tcp_diag_sock {
	uint8_t family;          /* 4 or 6 */
	uint16_t sport, dport;   /* host order */
	uint8_t src[16], dst[16];  /* network order; IPv4 in the first 4 bytes */
	unsigned long inode;
};

/* A sock_diag socket in the network namespace at ns_path
 * ("/proc/PID/ns/net"), entered by this thread only for the socket() call.
 * The fd, or -errno. */
int tcp_diag_open(const char *ns_path);
/*
 * Calls cb for each TCP socket of family (AF_INET, AF_INET6) whose state
 * is in states (a TCPF_ mask) and neither of whose ports is one of the
 * nskip in skip (at most TCP_DIAG_MAX_SKIP). 0, or -errno (EINVAL: a
 * kernel without port bytecode): then cb may have been called for some.
 */
#define TCP_DIAG_MAX_SKIP 64
int tcp_diag_dump(int fd, int family, uint32_t states, const uint16_t *skip, size_t nskip,
		  void (*cb)(const struct tcp_diag_sock *s, void *ctx), void *ctx);

#endif
