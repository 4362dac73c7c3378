// SPDX-License-Identifier: MIT
#include "collector/snapshot.h"

#include <stdlib.h>
#include <string.h>

struct snapshot *snapshot_new(size_t n)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (n) {
		s->eps = calloc(n, sizeof(*s->eps));
		if (!s->eps) {
			free(s);
			return NULL;
		}
	}
	s->n = n;
	return s;
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		hist_free(&s->eps[i].lat);
	free(s->eps);
	free(s);
}

void snapshot_total(const struct snapshot *s, struct ep_stats *out)
{
	memset(out, 0, sizeof(*out));
	hist_init(&out->lat);
	for (size_t i = 0; i < s->n; i++) {
		const struct ep_stats *e = &s->eps[i];
		out->requests += e->requests;
		for (int k = 0; k < STATUS_CLASSES; k++)
			out->status[k] += e->status[k];
		out->bytes_in += e->bytes_in;
		out->bytes_out += e->bytes_out;
		out->lat_sum_us += e->lat_sum_us;
		if (e->lat_max_us > out->lat_max_us)
			out->lat_max_us = e->lat_max_us;
		hist_merge(&out->lat, &e->lat);
	}
}
