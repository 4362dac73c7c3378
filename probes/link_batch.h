/* SPDX-License-Identifier: MIT */
/*
 * link_batch: BPF links destroyed together, off the loop when they may be.
 *
 * Closing a uprobe link takes ~108 ms on this kernel: the last reference to
 * the uprobe waits out RCU grace periods before close() returns, and the
 * kernel closes uprobe events one at a time (a lock held across the wait).
 * Calls mode's 10 links held l7top's exit for 1.1 s; moving a forking
 * target's per-process links to the library stalled the loop for 2.2 s,
 * no ring read meanwhile. A batch closes its links on threads of their own
 * (the waits overlap in part: 10 links in ~0.9 s), and a reaper does that
 * on a thread while the loop goes on, for links the BPF side already
 * ignores (lib_wide set, or their process gone).
 */
#ifndef L7TOP_LINK_BATCH_H
#define L7TOP_LINK_BATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct bpf_link;

#define LINK_BATCH_MAX 32   /* links one batch holds; a full batch is destroyed first */

struct link_batch {
	size_t n;
	struct bpf_link *links[LINK_BATCH_MAX];
};

/* Moves *slot (when not NULL) into b and sets *slot to NULL. */
void link_batch_take(struct link_batch *b, struct bpf_link **slot);
/* Destroys every link in b and returns once all are gone; b is empty
 * after. A link whose thread cannot start is destroyed on the caller's. */
void link_batch_destroy(struct link_batch *b);

/* One batch being destroyed on a thread of its own. Zeroed: idle. */
struct link_reaper {
	pthread_t th;
	bool running;
	struct link_batch b;
};

/* Hands b's links to r (b is empty after) and returns at once; waits for
 * r's previous batch first. Without a thread, destroys them here. */
void link_reaper_start(struct link_reaper *r, struct link_batch *b);
/* Returns once r's batch is gone (at once when idle). */
void link_reaper_wait(struct link_reaper *r);

#endif
