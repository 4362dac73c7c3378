// SPDX-License-Identifier: MIT
#include "probes/upstreams.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probes/sockfilter.h"
#include "probes/tgid_map.h"
#include "sockfilter.skel.h"

struct upstream_probe {
	struct sockfilter_bpf *skel;
	struct bpf_link *link;     /* NULL: the tracepoint would not attach */
	struct bpf_link *fork;     /* NULL: children wait for the rescan (and its socket scan) */
};

int upstreams_open(struct upstream_probe **out, struct capture *c, char *err, size_t errlen)
{
	struct upstream_probe *u;
	int ret;

	*out = NULL;
	if (!capture_filter_skel(c))
		return -EOPNOTSUPP;
	u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, errlen, "l7top: out of memory");
		return -ENOMEM;
	}
	u->skel = capture_filter_skel(c);
	*out = u;
	u->link = bpf_program__attach(u->skel->progs.upstream_connect);
	if (!u->link) {
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot attach tp_btf/inet_sock_set_state (%s): "
			 "new upstream connections are found by the 2 s /proc rescan only",
			 strerror(-ret));
		return ret;
	}
	u->fork = bpf_program__attach(u->skel->progs.upstream_fork);   /* NULL: scans stay */
	return 0;
}

bool upstreams_tracing(const struct upstream_probe *u)
{
	return u && u->link;
}

int upstreams_set_tgids(struct upstream_probe *u, const pid_t *pids, size_t n)
{
	if (!u)
		return -EOPNOTSUPP;
	return tgid_map_sync(bpf_map__fd(u->skel->maps.target_tgids), pids,
			     n < SOCKFILTER_MAX_TGIDS ? n : SOCKFILTER_MAX_TGIDS);
}

bool upstreams_followed(struct upstream_probe *u, const pid_t *pids, size_t n)
{
	__u8 v;

	if (!u || !u->link)
		return false;
	int fd = bpf_map__fd(u->skel->maps.target_tgids);
	for (size_t i = 0; i < n; i++)
		if (bpf_map_lookup_elem(fd, &(__u32){ (__u32)pids[i] }, &v))
			return false;
	return true;
}

int upstreams_add(struct upstream_probe *u, const struct target_peer *p, size_t n)
{
	__u32 origin = UPSTREAM_PROC;
	volatile __u64 *bits;
	int fd, err = 0;

	if (!u)
		return -EOPNOTSUPP;
	fd = bpf_map__fd(u->skel->maps.upstreams);
	bits = u->skel->bss->up_port_bits;
	for (size_t i = 0; i < n; i++) {
		struct upstream_key k = { .family = p[i].family, .port = p[i].port };

		memcpy(k.addr, p[i].addr, 16);
		/* The port bit first: a peer in the map behind a clear bit is never looked up. */
		__atomic_fetch_or(&bits[p[i].port >> 6], 1ull << (p[i].port & 63), __ATOMIC_SEQ_CST);
		if (bpf_map_update_elem(fd, &k, &origin, BPF_NOEXIST) && errno != EEXIST)
			err = -ENOSPC;
	}
	return err;
}

size_t upstreams_list(struct upstream_probe *u, struct target_peer *out, size_t max)
{
	struct upstream_key k, next;
	size_t n = 0;
	int fd;

	if (!u)
		return 0;
	fd = bpf_map__fd(u->skel->maps.upstreams);
	for (int more = !bpf_map_get_next_key(fd, NULL, &k); more && n < max;) {
		out[n].family = k.family;
		out[n].port = k.port;
		memcpy(out[n].addr, k.addr, 16);
		n++;
		more = !bpf_map_get_next_key(fd, &k, &next);
		k = next;
	}
	return n;
}

void upstreams_stats(struct upstream_probe *u, struct upstream_probe_stats *st)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v;
	int fd;

	memset(st, 0, sizeof(*st));
	if (!u || ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return;
	fd = bpf_map__fd(u->skel->maps.stats);
	const __u32 idx[3] = { SOCKFILTER_STAT_UP_LEARNT, SOCKFILTER_STAT_UP_FULL,
			       SOCKFILTER_STAT_UP_KEPT };
	uint64_t *dst[3] = { &st->learnt, &st->full, &st->kept };
	for (int j = 0; j < 3; j++) {
		if (bpf_map_lookup_elem(fd, &idx[j], v))
			continue;
		for (int i = 0; i < ncpu; i++)
			*dst[j] += v[i];
	}
	free(v);
}

void upstreams_close(struct upstream_probe *u)
{
	if (!u)
		return;
	bpf_link__destroy(u->fork);
	bpf_link__destroy(u->link);
	free(u);
}
