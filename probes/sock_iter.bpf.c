// SPDX-License-Identifier: MIT
/*
 * A process's socket inodes: a task_file iterator, bound by user space to
 * one pid (bpf_iter_link_info.task.pid), writes a sock_iter_rec for every
 * fd whose file is a socket. Threads sharing the fd table are visited
 * once (the kernel skips them), so every fd comes once. Task iterators
 * take a pid since Linux 6.1; a kernel that ignores it walks every
 * process, so each record names its process and user space refuses a
 * read that names two.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sock_iter.h"

#define S_IFMT   00170000
#define S_IFSOCK 0140000

char LICENSE[] SEC("license") = "Dual MIT/GPL";

static __always_inline int sock_fd(struct seq_file *seq, struct task_struct *task,
				   struct file *file, __u32 fd)
{
	/* BTF pointers the iterator hands over: read directly, no probe_read */
	struct inode *inode = file->f_inode;
	struct sock_iter_rec r = { .fd = fd, .tgid = task->tgid };

	if (!inode || (inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	r.ino = inode->i_ino;
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}

SEC("iter/task_file")
int sock_inodes(struct bpf_iter__task_file *ctx)
{
	/* null-checked in the registers they are used from */
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;

	if (!task || !file)
		return 0;
	return sock_fd(ctx->meta->seq, task, file, ctx->fd);
}
