// SPDX-License-Identifier: MIT
#include "src/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define LOOP_MAX_FDS 16

struct loop_entry {
	int fd;
	bool timer;            /* the loop owns the fd */
	loop_fn fn;
	void *ctx;
};

struct loop {
	int epfd;
	bool stop;
	struct loop_entry e[LOOP_MAX_FDS];
	loop_idle_fn idle;
	void *idle_ctx;
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	for (int i = 0; i < LOOP_MAX_FDS; i++)
		l->e[i].fd = -1;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (int i = 0; i < LOOP_MAX_FDS; i++)
		if (l->e[i].fd >= 0 && l->e[i].timer)
			close(l->e[i].fd);
	close(l->epfd);
	free(l);
}

static int loop_add(struct loop *l, int fd, bool timer, loop_fn fn, void *ctx)
{
	for (int i = 0; i < LOOP_MAX_FDS; i++) {
		if (l->e[i].fd >= 0)
			continue;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->e[i] };
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		l->e[i] = (struct loop_entry){ .fd = fd, .timer = timer, .fn = fn, .ctx = ctx };
		return 0;
	}
	return -ENOSPC;
}

int loop_add_fd(struct loop *l, int fd, loop_fn fn, void *ctx)
{
	return loop_add(l, fd, false, fn, ctx);
}

int loop_del_fd(struct loop *l, int fd)
{
	for (int i = 0; i < LOOP_MAX_FDS; i++) {
		if (l->e[i].fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		if (l->e[i].timer)
			close(fd);
		l->e[i].fd = -1;
		return 0;
	}
	return -ENOENT;
}

int loop_add_timer(struct loop *l, uint64_t period_ms, loop_fn fn, void *ctx)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct itimerspec its = {
		.it_interval = { (time_t)(period_ms / 1000), (long)(period_ms % 1000) * 1000000 },
		.it_value = { (time_t)(period_ms / 1000), (long)(period_ms % 1000) * 1000000 },
	};
	int err = timerfd_settime(fd, 0, &its, NULL) < 0 ? -errno : loop_add(l, fd, true, fn, ctx);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

uint64_t loop_timer_ack(int fd)
{
	uint64_t n = 0;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

void loop_set_idle(struct loop *l, loop_idle_fn fn, void *ctx)
{
	l->idle = fn;
	l->idle_ctx = ctx;
}

int loop_run(struct loop *l)
{
	struct epoll_event ev[LOOP_MAX_FDS];

	l->stop = false;
	while (!l->stop) {
		bool more = l->idle && l->idle(l->idle_ctx);
		int n = epoll_wait(l->epfd, ev, LOOP_MAX_FDS, more ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->stop; i++) {
			struct loop_entry *e = ev[i].data.ptr;
			if (e->fd >= 0)
				e->fn(l, e->fd, e->ctx);
		}
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
