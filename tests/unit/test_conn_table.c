// SPDX-License-Identifier: MIT
/* conn_table: buckets grow with the connections, every connection is found
 * again across the growths, removals leave the rest findable, and the bound
 * refuses the one past it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/conn_table.h"

/* Loopback keys that differ only in the client port, as wrk's do. */
static struct conn_key key_of(unsigned i)
{
	struct conn_key k;
	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.srv_port = 8080;
	k.cli_port = (uint16_t)(1024 + i % 60000);
	k.netns = 4026531840u + i / 60000;
	k.srv[0] = k.cli[0] = 127;
	k.srv[3] = k.cli[3] = 1;
	return k;
}

static void test_grow_find_remove(void **state)
{
	(void)state;
	enum { N = 20000, MAX = 65536 };
	struct conn_table *t = conn_table_new(MAX);
	static struct conn *c[N];

	assert_non_null(t);
	for (unsigned i = 0; i < N; i++) {
		struct conn_key k = key_of(i);
		assert_null(conn_table_find(t, &k));
		assert_non_null(c[i] = conn_table_insert(t, &k));
		/* on a line boundary, zeroed but for the key */
		assert_int_equal((uintptr_t)c[i] % 64, 0);
		assert_int_equal(c[i]->last_ns | c[i]->http.npending | c[i]->calls, 0);
	}
	for (unsigned i = 0; i < N; i++) {
		struct conn_key k = key_of(i);
		assert_ptr_equal(conn_table_find(t, &k), c[i]);
	}
	for (unsigned i = 0; i < N; i += 2)
		conn_table_remove(t, c[i]);
	size_t left = 0;
	for (struct conn *cn = conn_table_first(t); cn; cn = cn->next)
		left++;
	assert_int_equal(left, N / 2);
	for (unsigned i = 0; i < N; i++) {
		struct conn_key k = key_of(i);
		assert_ptr_equal(conn_table_find(t, &k), i % 2 ? c[i] : NULL);
	}
	conn_table_free(t);
}

static void test_bound(void **state)
{
	(void)state;
	struct conn_table *t = conn_table_new(100);
	assert_non_null(t);
	for (unsigned i = 0; i < 100; i++) {
		struct conn_key k = key_of(i);
		assert_non_null(conn_table_insert(t, &k));
	}
	struct conn_key k = key_of(100);
	assert_null(conn_table_insert(t, &k));
	k = key_of(99);
	assert_non_null(conn_table_find(t, &k));
	conn_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_find_remove),
		cmocka_unit_test(test_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
