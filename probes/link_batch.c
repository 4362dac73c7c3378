// SPDX-License-Identifier: MIT
#include "probes/link_batch.h"

#include <bpf/libbpf.h>

static void *link_destroy_fn(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

void link_batch_take(struct link_batch *b, struct bpf_link **slot)
{
	if (!*slot)
		return;
	if (b->n == LINK_BATCH_MAX)
		link_batch_destroy(b);
	b->links[b->n++] = *slot;
	*slot = NULL;
}

void link_batch_destroy(struct link_batch *b)
{
	pthread_t th[LINK_BATCH_MAX];
	bool started[LINK_BATCH_MAX] = { false };
	size_t last = b->n ? b->n - 1 : 0;

	/* all but the last on threads of their own, the last on this one */
	for (size_t i = 0; i < last; i++)
		started[i] = !pthread_create(&th[i], NULL, link_destroy_fn, b->links[i]);
	if (b->n)
		bpf_link__destroy(b->links[last]);
	for (size_t i = 0; i < last; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			bpf_link__destroy(b->links[i]);
	}
	b->n = 0;
}

static void *reaper_fn(void *arg)
{
	link_batch_destroy(&((struct link_reaper *)arg)->b);
	return NULL;
}

void link_reaper_start(struct link_reaper *r, struct link_batch *b)
{
	if (!b->n)
		return;
	link_reaper_wait(r);
	r->b = *b;
	b->n = 0;
	r->running = !pthread_create(&r->th, NULL, reaper_fn, r);
	if (!r->running)
		link_batch_destroy(&r->b);
}

void link_reaper_wait(struct link_reaper *r)
{
	if (!r->running)
		return;
	pthread_join(r->th, NULL);
	r->running = false;
}
