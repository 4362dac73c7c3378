// SPDX-License-Identifier: MIT
#include "probes/proc_sockets.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

int inode_set_add(struct inode_set *s, unsigned long ino)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		unsigned long *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ino;
	return 0;
}

static int inode_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return (x > y) - (x < y);
}

void inode_set_sort(struct inode_set *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), inode_cmp);
}

bool inode_set_has(const struct inode_set *s, unsigned long ino)
{
	return s->n && bsearch(&ino, s->v, s->n, sizeof(*s->v), inode_cmp);
}

void inode_set_free(struct inode_set *s)
{
	free(s->v);
	*s = (struct inode_set){ 0 };
}

/* "socket:[INODE]": 0 for any other link. */
static unsigned long proc_link_socket(const char *link, ssize_t len)
{
	static const char pre[] = "socket:[";
	char *end;
	unsigned long ino;

	if (len <= (ssize_t)sizeof(pre) || memcmp(link, pre, sizeof(pre) - 1))
		return 0;
	ino = strtoul(link + sizeof(pre) - 1, &end, 10);
	return *end == ']' ? ino : 0;
}

int proc_socket_inodes(const char *proc_root, pid_t pid, int high_fd, struct inode_set *all,
		       struct inode_set *high)
{
	char path[PATH_MAX], link[64];
	struct dirent *de;
	DIR *d;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%d/fd", proc_root, pid);
	d = opendir(path);
	if (!d)
		return 0;   /* exited, or not ours to read */
	while (!err && (de = readdir(d))) {
		unsigned long ino;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!(ino = proc_link_socket(link, len)))
			continue;
		err = inode_set_add(all, ino);
		if (!err && high && atoi(de->d_name) >= high_fd)
			err = inode_set_add(high, ino);
	}
	closedir(d);
	return err;
}
