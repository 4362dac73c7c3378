// SPDX-License-Identifier: MIT
#include "probes/tgid_map.h"

#include <errno.h>
#include <stdbool.h>

#include <bpf/bpf.h>

static bool tgid_listed(const pid_t *pids, size_t n, __u32 key)
{
	for (size_t i = 0; i < n; i++)
		if ((__u32)pids[i] == key)
			return true;
	return false;
}

int tgid_map_sync(int fd, const pid_t *pids, size_t n)
{
	__u8 listed = TGID_LISTED, unlisted = TGID_UNLISTED, v;
	__u32 key, next;
	int err = 0;

	/* added first, so a watched process is never missing in between */
	for (size_t i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &(__u32){ (__u32)pids[i] }, &listed, BPF_ANY) && !err)
			err = -errno;
	for (bool more = !bpf_map_get_next_key(fd, NULL, &key); more; key = next) {
		/* the successor first: deleting key would lose our place */
		more = !bpf_map_get_next_key(fd, &key, &next);
		if (tgid_listed(pids, n, key) || bpf_map_lookup_elem(fd, &key, &v))
			continue;
		if (v == TGID_UNLISTED)
			bpf_map_delete_elem(fd, &key);
		else
			bpf_map_update_elem(fd, &key, &unlisted, BPF_EXIST);
	}
	return err;
}
