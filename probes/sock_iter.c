// SPDX-License-Identifier: MIT
#include "probes/sock_iter.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock_iter.skel.h"

struct sock_iter {
	struct sock_iter_bpf *skel;
};

void sock_iter_close(struct sock_iter *it)
{
	if (!it)
		return;
	sock_iter_bpf__destroy(it->skel);
	free(it);
}

/* Do the two readers agree on this process? 0, -ENOTSUP or -ENOMEM. */
static int self_check(struct sock_iter *it)
{
	struct inode_set a = { 0 }, b = { 0 };
	int err = sock_iter_read(it, getpid(), 0, &a, NULL);

	if (!err)
		err = proc_socket_inodes("/proc", getpid(), 0, &b, NULL);
	if (!err) {
		inode_set_sort(&a);
		inode_set_sort(&b);
		if (a.n != b.n || (a.n && memcmp(a.v, b.v, a.n * sizeof(*a.v))))
			err = -ENOTSUP;
	}
	inode_set_free(&a);
	inode_set_free(&b);
	return err;
}

struct sock_iter *sock_iter_open(int *err)
{
	struct sock_iter *it = calloc(1, sizeof(*it));

	*err = 0;
	if (!it) {
		*err = -ENOMEM;
		return NULL;
	}
	it->skel = sock_iter_bpf__open_and_load();
	if (!it->skel)
		*err = errno ? -errno : -EINVAL;
	/* twice: a thread of ours (the /metrics server) may open or close a
	 * socket between the two reads of one check */
	else if ((*err = self_check(it)) == -ENOTSUP)
		*err = self_check(it);
	if (*err) {
		sock_iter_close(it);
		return NULL;
	}
	return it;
}

/* The records of one read, into the sets; 0, -ENOMEM, or -ENOTSUP when
 * they name a second process (*tgid: the first's, 0 before it). */
static int recs_add(const struct sock_iter_rec *r, size_t n, int high_fd, __u32 *tgid,
		    struct inode_set *all, struct inode_set *high)
{
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		if (*tgid && r[i].tgid != *tgid)
			return -ENOTSUP;
		*tgid = r[i].tgid;
		err = inode_set_add(all, (unsigned long)r[i].ino);
		if (!err && high && r[i].fd >= (__u32)high_fd)
			err = inode_set_add(high, (unsigned long)r[i].ino);
	}
	return err;
}

int sock_iter_read(struct sock_iter *it, pid_t pid, int high_fd, struct inode_set *all,
		   struct inode_set *high)
{
	DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info;
	struct sock_iter_rec buf[512];
	struct bpf_link *link;
	__u32 tgid = 0;
	int fd, err = 0;

	memset(&info, 0, sizeof(info));
	info.task.pid = (__u32)pid;
	opts.link_info = &info;
	opts.link_info_len = sizeof(info);
	link = bpf_program__attach_iter(it->skel->progs.sock_inodes, &opts);
	if (!link)
		/* ESRCH: the process is gone, and has no sockets */
		return errno == ESRCH ? 0 : -(errno ? errno : EINVAL);
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		err = -errno;
	/* Records are written whole: a read returns a multiple of one. */
	while (!err) {
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			err = got < 0 ? -errno : 0;
			break;
		}
		err = recs_add(buf, (size_t)got / sizeof(buf[0]), high_fd, &tgid, all, high);
	}
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return err;
}
