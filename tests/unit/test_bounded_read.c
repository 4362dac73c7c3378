// SPDX-License-Identifier: MIT
/* bounded_read: bounds per line and per file, across chunk boundaries. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "src/bounded_read.h"

static int read_mem(const char *text, size_t n, size_t max_file, size_t max_line, size_t *len,
		    char *why, size_t whylen)
{
	FILE *f = fmemopen((void *)text, n, "r");
	char *buf;
	int rc;

	assert_non_null(f);
	rc = bounded_read(f, max_file, max_line, &buf, len, why, whylen);
	fclose(f);
	if (!rc) {
		assert_memory_equal(buf, text, n);
		free(buf);
	} else {
		assert_null(buf);
	}
	return rc;
}

static void test_fits(void **state)
{
	(void)state;
	char why[128];
	size_t len;
	const char text[] = "CLIENT_RANDOM aa bb\n# comment\nlast line without newline";

	assert_int_equal(read_mem(text, strlen(text), 1 << 20, 64, &len, why, sizeof(why)), 0);
	assert_int_equal(len, strlen(text));
	assert_int_equal(read_mem("", 0, 1 << 20, 64, &len, why, sizeof(why)), 0);
	assert_int_equal(len, 0);
}

/* Exactly max_line bytes is fine; one more is not, wherever chunks end. */
static void test_line_bound(void **state)
{
	(void)state;
	size_t n = 200000, len;
	char *text = malloc(n + 1), why[128];

	assert_non_null(text);
	memset(text, 'x', n);
	for (size_t i = 4096; i < n; i += 4097)
		text[i] = '\n';                       /* lines of exactly 4096 */
	assert_int_equal(read_mem(text, n, 1 << 20, 4096, &len, why, sizeof(why)), 0);
	text[4096 * 20 + 19] = 'y';                   /* line 21 becomes 8193 bytes */
	assert_int_equal(read_mem(text, n, 1 << 20, 4096, &len, why, sizeof(why)), -E2BIG);
	assert_string_equal(why, "line 20 is longer than 4096 bytes");
	free(text);
}

static void test_file_bound(void **state)
{
	(void)state;
	size_t n = 300000, len;
	char *text = malloc(n), why[128];

	assert_non_null(text);
	memset(text, '\n', n);
	assert_int_equal(read_mem(text, n, 1 << 20, 10, &len, why, sizeof(why)), 0);
	assert_int_equal(read_mem(text, n, 1 << 17, 10, &len, why, sizeof(why)), -EFBIG);
	assert_int_equal(len, 0);
	free(text);
}

/* /dev/zero: one endless line, refused after max_line bytes. */
static void test_dev_zero(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/zero", "r");
	char *buf, why[128];
	size_t len;

	assert_non_null(f);
	assert_int_equal(bounded_read(f, KEYLOG_MAX_FILE, KEYLOG_MAX_LINE, &buf, &len, why,
				      sizeof(why)), -E2BIG);
	assert_null(buf);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fits),
		cmocka_unit_test(test_line_bound),
		cmocka_unit_test(test_file_bound),
		cmocka_unit_test(test_dev_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
