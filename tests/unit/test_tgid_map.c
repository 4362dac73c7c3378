// SPDX-License-Identifier: MIT
/*
 * tgid_map against a real BPF hash map (root; skipped otherwise): the scan's
 * pids are kept, a key it does not list survives one sync marked, then goes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>

#include "probes/tgid_map.h"

/* The value at key, 0 when absent. */
static int value_of(int fd, __u32 key)
{
	__u8 v;
	return bpf_map_lookup_elem(fd, &key, &v) ? 0 : v;
}

static int count(int fd)
{
	__u32 key, next;
	int n = 0;

	for (int more = !bpf_map_get_next_key(fd, NULL, &key); more; key = next, n++)
		more = !bpf_map_get_next_key(fd, &key, &next);
	return n;
}

static int map_new(unsigned max)
{
	if (geteuid() != 0)
		skip();
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "tgids_test", 4, 1, max, NULL);
	assert_true(fd >= 0);
	return fd;
}

static void test_unlisted_kept_once(void **state)
{
	(void)state;
	int fd = map_new(64);
	__u8 listed = TGID_LISTED;
	const pid_t both[] = { 10, 20 }, three[] = { 10, 20, 50 }, one[] = { 10 };

	/* 50: a child the fork hook added after the scan read /proc */
	assert_int_equal(bpf_map_update_elem(fd, &(__u32){ 50 }, &listed, BPF_ANY), 0);
	assert_int_equal(tgid_map_sync(fd, both, 2), 0);
	assert_int_equal(value_of(fd, 10), TGID_LISTED);
	assert_int_equal(value_of(fd, 20), TGID_LISTED);
	assert_int_equal(value_of(fd, 50), TGID_UNLISTED);
	/* the next scan lists it */
	assert_int_equal(tgid_map_sync(fd, three, 3), 0);
	assert_int_equal(value_of(fd, 50), TGID_LISTED);
	/* 20 and 50 gone: marked once, removed at the second sync */
	assert_int_equal(tgid_map_sync(fd, one, 1), 0);
	assert_int_equal(count(fd), 3);
	assert_int_equal(value_of(fd, 20), TGID_UNLISTED);
	assert_int_equal(tgid_map_sync(fd, one, 1), 0);
	assert_int_equal(count(fd), 1);
	assert_int_equal(value_of(fd, 10), TGID_LISTED);
	close(fd);
}

static void test_full_map_says_so(void **state)
{
	(void)state;
	int fd = map_new(2);
	const pid_t three[] = { 1, 2, 3 };

	assert_int_equal(tgid_map_sync(fd, three, 3), -E2BIG);
	assert_int_equal(count(fd), 2);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlisted_kept_once),
		cmocka_unit_test(test_full_map_says_so),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
