/* SPDX-License-Identifier: MIT */
/*
 * sock_iter: a process's socket inodes from a BPF task_file iterator, one
 * read() for all its fds, in place of a readlink of each /proc/PID/fd
 * entry (an NGINX worker with 8,000 connections, under load: 5-10 ms
 * against 86-104 ms). Types shared by sock_iter.bpf.c and its loader.
 */
#ifndef L7TOP_SOCK_ITER_H
#define L7TOP_SOCK_ITER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* One record per socket fd, written to the iterator's seq_file. */
struct sock_iter_rec {
	__u64 ino;      /* the socket's inode, as "socket:[INODE]" names it */
	__u32 fd;
	__u32 tgid;     /* the process, as the kernel numbers it (init's pid
			 * namespace): one read must name one process */
};

#ifndef __VMLINUX_H__
#include <stdbool.h>
#include <sys/types.h>

#include "probes/proc_sockets.h"

struct sock_iter;

/*
 * Loads the iterator program and checks it on this process against
 * /proc's links: NULL (with *err set to -errno) when this kernel cannot
 * run it or bind it to one process (task iterators take a pid since Linux
 * 6.1), callers then read the links.
 */
struct sock_iter *sock_iter_open(int *err);
void sock_iter_close(struct sock_iter *it);
/*
 * proc_socket_inodes() of pid through the iterator: its socket inodes
 * into all, those on fds from high_fd on into high too (NULL: not
 * wanted). A process gone has none (0). -errno when the iterator could not
 * be made for pid, -ENOTSUP when its records named more than one process
 * (the caller reads /proc instead; what was added may come twice); -ENOMEM.
 */
int sock_iter_read(struct sock_iter *it, pid_t pid, int high_fd, struct inode_set *all,
		   struct inode_set *high);

#endif
#endif
