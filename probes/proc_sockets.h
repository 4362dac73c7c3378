/* SPDX-License-Identifier: MIT */
/*
 * proc_sockets: which sockets a process holds, from /proc/PID/fd
 * ("socket:[INODE]" links). Target discovery matches these inodes against
 * the rows of /proc/PID/net/{tcp,tcp6,unix} to find the target's listeners
 * and its outgoing connections.
 */
#ifndef L7TOP_PROC_SOCKETS_H
#define L7TOP_PROC_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A growable array of socket inodes; sort it before lookups. Zero-init it. */
struct inode_set {
	unsigned long *v;
	size_t n, cap;
};

/* 0 or -ENOMEM. */
int inode_set_add(struct inode_set *s, unsigned long ino);
void inode_set_sort(struct inode_set *s);
/* Only after inode_set_sort(). */
bool inode_set_has(const struct inode_set *s, unsigned long ino);
void inode_set_free(struct inode_set *s);

/* Adds the socket inodes of pid's fds to all, and those on fds from
 * high_fd on also to high (NULL: not wanted). One readlink per fd, relative
 * to the fd directory: with 10,000 connections the fds are most of a
 * rescan, which reads them through sock_iter where the kernel allows. A
 * process or fd that went away is not an error (it has none); 0 or
 * -ENOMEM. */
int proc_socket_inodes(const char *proc_root, pid_t pid, int high_fd, struct inode_set *all,
		       struct inode_set *high);

#endif
