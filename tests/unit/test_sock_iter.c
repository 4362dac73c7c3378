// SPDX-License-Identifier: MIT
/*
 * sock_iter against the kernel (root; skipped otherwise): the task_file
 * iterator gives the same socket inodes as /proc/PID/fd's links, for this
 * process and for a child, past one read's worth of records, and none for
 * a process that is gone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "probes/proc_sockets.h"
#include "probes/sock_iter.h"
#include "probes/target.h"

static struct sock_iter *iter_open(void)
{
	int err;

	if (geteuid() != 0)
		skip();
	struct sock_iter *it = sock_iter_open(&err);
	assert_non_null(it);
	assert_int_equal(err, 0);
	return it;
}

static void assert_same_set(struct inode_set *a, struct inode_set *b)
{
	inode_set_sort(a);
	inode_set_sort(b);
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_true(a->v[i] == b->v[i]);
}

/* Both readers of pid, with fds from high_fd on kept apart too. */
static void assert_readers_agree(struct sock_iter *it, pid_t pid, int high_fd, size_t at_least)
{
	struct inode_set ia = { 0 }, ih = { 0 }, pa = { 0 }, ph = { 0 };

	assert_int_equal(sock_iter_read(it, pid, high_fd, &ia, &ih), 0);
	assert_int_equal(proc_socket_inodes("/proc", pid, high_fd, &pa, &ph), 0);
	assert_true(ia.n >= at_least);
	assert_same_set(&ia, &pa);
	assert_same_set(&ih, &ph);
	inode_set_free(&ia);
	inode_set_free(&ih);
	inode_set_free(&pa);
	inode_set_free(&ph);
}

/* A TCP listener, a UDP socket and a unix pair; one moved to fd 200. */
static void open_some(int *fds)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int pair[2];

	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fds[0] >= 0);
	assert_int_equal(bind(fds[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fds[0], 4), 0);
	fds[1] = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	fds[2] = pair[0];
	fds[3] = dup2(pair[1], 200);
	assert_int_equal(fds[3], 200);
	close(pair[1]);
}

static void close_some(const int *fds)
{
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

static void test_same_as_proc_links(void **state)
{
	(void)state;
	struct sock_iter *it = iter_open();
	int fds[4];

	open_some(fds);
	assert_readers_agree(it, getpid(), 3, 4);
	assert_readers_agree(it, getpid(), 100, 4);   /* fd 200 alone is high */
	close_some(fds);
	sock_iter_close(it);
}

/* More sockets than one read's buffer holds (512 records). */
static void test_many_sockets(void **state)
{
	(void)state;
	struct sock_iter *it = iter_open();
	enum { N = 1500 };
	int *fds = calloc(N, sizeof(*fds));
	size_t n = 0;

	assert_non_null(fds);
	for (; n < N; n++)
		if ((fds[n] = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
			break;                   /* the fd limit: as many as it allows */
	assert_true(n > 600);
	assert_readers_agree(it, getpid(), 3, n);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	sock_iter_close(it);
}

/* Another process's fds; then the same pid once it is gone. */
static void test_child_then_gone(void **state)
{
	(void)state;
	struct sock_iter *it = iter_open();
	int ready[2], hold[2];
	char c;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fds[4];
		open_some(fds);
		if (write(ready[1], "r", 1) != 1 || read(hold[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_readers_agree(it, pid, 3, 4);
	assert_int_equal(write(hold[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, NULL, 0), pid);

	struct inode_set all = { 0 };
	assert_int_equal(sock_iter_read(it, pid, 3, &all, NULL), 0);
	assert_int_equal(all.n, 0);
	inode_set_free(&all);
	for (int i = 0; i < 2; i++) {
		close(ready[i]);
		close(hold[i]);
	}
	sock_iter_close(it);
}

/* A rescan through the iterator sees what one through the links sees. */
static void test_scan_through_iter(void **state)
{
	(void)state;
	struct sock_iter *it = iter_open();
	struct target t1, t2;
	struct target_socks k1, k2;
	pid_t self = getpid();
	int fds[4];

	open_some(fds);
	assert_int_equal(target_scan_socks("/proc", &self, NULL, 1, it, &t1, &k1), 0);
	assert_int_equal(target_scan_socks("/proc", &self, NULL, 1, NULL, &t2, &k2), 0);
	assert_true(k1.all.n >= 4);
	assert_same_set(&k1.all, &k2.all);
	assert_same_set(&k1.from3, &k2.from3);
	assert_same_set(&k1.per_root[0], &k2.per_root[0]);
	assert_int_equal(t1.nports, t2.nports);
	assert_true(t1.nports >= 1);                 /* the listener */
	for (size_t i = 0; i < t1.nports; i++)
		assert_int_equal(t1.ports[i], t2.ports[i]);
	target_socks_free(&k1);
	target_socks_free(&k2);
	close_some(fds);
	sock_iter_close(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_proc_links),
		cmocka_unit_test(test_many_sockets),
		cmocka_unit_test(test_child_then_gone),
		cmocka_unit_test(test_scan_through_iter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
