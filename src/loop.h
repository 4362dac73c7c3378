/* SPDX-License-Identifier: MIT */
/*
 * loop: the one event loop (redis's ae, small). Callbacks run on readable
 * fds; timers are timerfds, signals a signalfd, so everything is one
 * epoll_wait and nothing sleep-polls.
 */
#ifndef L7TOP_LOOP_H
#define L7TOP_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
typedef void (*loop_fn)(struct loop *l, int fd, void *ctx);

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Calls fn whenever fd is readable. Returns 0 or -errno. */
int loop_add_fd(struct loop *l, int fd, loop_fn fn, void *ctx);
int loop_del_fd(struct loop *l, int fd);
/* A periodic timer (first expiry after period_ms). Returns its fd or -errno;
 * the callback must read the fd (loop_timer_ack). */
int loop_add_timer(struct loop *l, uint64_t period_ms, loop_fn fn, void *ctx);
uint64_t loop_timer_ack(int fd);
/*
 * Work done in slices between waits (redis's beforeSleep): fn runs before
 * every wait and returns true while it has more, and the wait then only
 * polls, so fds are served between two slices. One per loop; NULL clears.
 */
typedef bool (*loop_idle_fn)(void *ctx);
void loop_set_idle(struct loop *l, loop_idle_fn fn, void *ctx);
/* Runs until loop_stop(). Returns 0 or -errno from epoll. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
