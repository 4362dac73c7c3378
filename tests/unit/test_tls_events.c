// SPDX-License-Identifier: MIT
/*
 * The pure parts of the TLS loader: record checks before any payload is
 * read, the kernel-clock to wall-clock conversion, finding libssl in a
 * /proc/PID/maps text, and ELF symbol offsets (checked against this very
 * test binary: the bytes at the computed file offset must be the bytes the
 * function has in memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "probes/tls.h"
#include "probes/tls_calls.h"

/* ---- tls_event_check ------------------------------------------------------ */

static struct tls_event *ev_new(uint32_t kind, uint32_t len, uint32_t data_len)
{
	struct tls_event *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->kind = kind;
	e->len = len;
	e->data_len = data_len;
	return e;
}

static void test_check_sizes(void **state)
{
	(void)state;
	struct tls_event *e = ev_new(TLS_EV_DATA, 100, 100);

	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ + 100), 0);
	/* One byte short of the payload it claims. */
	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ + 99), -EINVAL);
	/* Shorter than the header: nothing may be read, not even kind's friends. */
	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ - 1), -EINVAL);
	assert_int_equal(tls_event_check(e, 0), -EINVAL);
	/* Header-only kinds need only the header. */
	e->kind = TLS_EV_CLOSE;
	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ), 0);
	e->kind = TLS_EV_FORK;
	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ), 0);
	e->kind = TLS_EV_CONN;
	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ), 0);
	free(e);
}

static void test_check_lengths(void **state)
{
	(void)state;
	struct tls_event *e = ev_new(TLS_EV_DATA, TLS_DATA_MAX, TLS_DATA_MAX);

	/* Exactly the maximum payload, and a call one byte longer (capped). */
	assert_int_equal(tls_event_check(e, sizeof(*e)), 0);
	e->len = TLS_DATA_MAX + 1;
	assert_int_equal(tls_event_check(e, sizeof(*e)), 0);
	/* More captured than the call moved, or than the maximum. */
	e->len = 10;
	e->data_len = 11;
	assert_int_equal(tls_event_check(e, sizeof(*e)), -EINVAL);
	e->len = TLS_DATA_MAX + 5;
	e->data_len = TLS_DATA_MAX + 1;
	assert_int_equal(tls_event_check(e, sizeof(*e)), -EINVAL);
	/* A call that moved bytes none of which were copied (page not present). */
	e->len = 500;
	e->data_len = 0;
	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ), 0);
	/* Unknown direction and unknown kind. */
	e->dir = 2;
	assert_int_equal(tls_event_check(e, TLS_EVENT_HDR_SZ), -EINVAL);
	e->dir = TLS_DIR_WRITE;
	e->kind = 99;
	assert_int_equal(tls_event_check(e, sizeof(*e)), -EINVAL);
	e->kind = 0;
	assert_int_equal(tls_event_check(e, sizeof(*e)), -EINVAL);
	free(e);
}

/* The payload is last: a record can stop right after its bytes. */
static void test_layout(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct tls_event, kind), 0);
	assert_int_equal(TLS_EVENT_HDR_SZ + TLS_DATA_MAX, sizeof(struct tls_event));
	assert_int_equal(TLS_EVENT_HDR_SZ % 8, 0);
	assert_int_equal(TLS_CAPTURE_BYTES_MAX, TLS_DATA_MAX);
}

/* ---- clocks --------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_clock_offset(void **state)
{
	(void)state;
	int64_t off = tls_clock_offset();
	uint64_t mono = clock_ns(CLOCK_MONOTONIC);
	uint64_t real = clock_ns(CLOCK_REALTIME);
	uint64_t conv = tls_ktime_to_real(mono, off);
	uint64_t diff = conv > real ? conv - real : real - conv;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC: converted, it reads like the wall clock. */
	assert_true(diff < 1000000);
	assert_true(off > 0);
	/* 0 means "no timestamp" and stays so. */
	assert_int_equal(tls_ktime_to_real(0, off), 0);
	assert_int_equal(tls_ktime_to_real(1000, 500), 1500);
	assert_int_equal(tls_ktime_to_real(1000, -500), 500);
}

/* ---- /proc/PID/maps -------------------------------------------------------- */

static int maps_find(const char *text, char *path, size_t plen, char *range, size_t rlen)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int err;

	assert_non_null(f);
	err = tls_maps_find_libssl(f, path, plen, range, rlen);
	fclose(f);
	return err;
}

static void test_maps_libssl(void **state)
{
	(void)state;
	char path[256], range[64];
	static const char MAPS[] =
		"55d0c5a00000-55d0c5a2a000 r--p 00000000 fe:01 1234   /usr/sbin/nginx\n"
		"7f10a0000000-7f10a0021000 rw-p 00000000 00:00 0 \n"
		"7f10a1000000-7f10a1010000 r--p 00000000 fe:01 77     /usr/lib/x86_64-linux-gnu/libssl3.so\n"
		"7f10a2000000-7f10a2020000 r--p 00000000 fe:01 78     /opt/libssl.so-tools/libfoo.so\n"
		"7f10a3000000-7f10a3021000 r--p 00000000 fe:01 99     /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
		"7f10a3021000-7f10a3080000 r-xp 00021000 fe:01 99     /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
		"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0      [stack]\n";

	/* NSS's libssl3.so is not OpenSSL; the first libssl.so.3 mapping wins. */
	assert_int_equal(maps_find(MAPS, path, sizeof(path), range, sizeof(range)), 0);
	assert_string_equal(path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
	assert_string_equal(range, "7f10a3000000-7f10a3021000");
}

static void test_maps_spaces_deleted(void **state)
{
	(void)state;
	char path[256], range[64];

	assert_int_equal(maps_find("7f00-7f10 r-xp 00000000 fe:01 5 /opt/my ssl/libssl.so.1.1 (deleted)\n",
				   path, sizeof(path), range, sizeof(range)), 0);
	assert_string_equal(path, "/opt/my ssl/libssl.so.1.1");
	assert_string_equal(range, "7f00-7f10");
	assert_int_equal(maps_find("7f00-7f10 r-xp 00000000 fe:01 5 /usr/lib/libssl.so\n", path,
				   sizeof(path), range, sizeof(range)), 0);
	assert_string_equal(path, "/usr/lib/libssl.so");
}

static void test_maps_none(void **state)
{
	(void)state;
	char path[256], range[64], tiny[8];

	/* node: OpenSSL inside the executable, no libssl mapped. */
	assert_int_equal(maps_find("00400000-04000000 r-xp 00000000 fe:01 9 /usr/bin/node\n"
				   "7f00-7f10 r-xp 00000000 fe:01 5 /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n",
				   path, sizeof(path), range, sizeof(range)), -ENOENT);
	assert_int_equal(maps_find("", path, sizeof(path), range, sizeof(range)), -ENOENT);
	assert_int_equal(maps_find("garbage\n\n", path, sizeof(path), range, sizeof(range)), -ENOENT);
	/* A path that does not fit is an error, never a cut path. */
	assert_int_equal(maps_find("7f00-7f10 r-xp 00000000 fe:01 5 /usr/lib/libssl.so.3\n", tiny,
				   sizeof(tiny), range, sizeof(range)), -ENAMETOOLONG);
}

/* ---- ELF offsets ---------------------------------------------------------- */

/* Not static: it must be a symbol of this binary. */
__attribute__((noinline, used)) int tls_test_marker(int x);
__attribute__((noinline, used)) int tls_test_marker(int x)
{
	return x * 7 + 3;
}

static void test_elf_self(void **state)
{
	(void)state;
	const char *names[] = { "tls_test_marker", "no_such_function_here", "main" };
	uint64_t offs[3];
	unsigned char file[16];
	int fd;

	assert_int_equal(tls_elf_func_offsets("/proc/self/exe", names, 3, offs), 2);
	assert_int_not_equal(offs[0], 0);
	assert_int_equal(offs[1], 0);
	assert_int_not_equal(offs[2], 0);
	/* The code at the file offset a uprobe would get is the function's code. */
	fd = open("/proc/self/exe", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, file, sizeof(file), (off_t)offs[0]), sizeof(file));
	close(fd);
	assert_memory_equal(file, (const void *)tls_test_marker, sizeof(file));
	assert_int_equal(tls_test_marker(1), 10);
}

static void test_elf_errors(void **state)
{
	(void)state;
	const char *names[] = { "SSL_read" };
	uint64_t off = 1;
	char tmp[] = "/tmp/l7top-tls-elf.XXXXXX";
	int fd = mkstemp(tmp);

	assert_int_equal(tls_elf_func_offsets("/nonexistent/libssl.so.3", names, 1, &off), -ENOENT);
	assert_int_equal(off, 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an ELF file at all\n", 23), 23);
	close(fd);
	assert_int_equal(tls_elf_func_offsets(tmp, names, 1, &off), -ENOEXEC);
	unlink(tmp);
}

/* The real libraries of these machines, when present. */
static void test_elf_openssl(void **state)
{
	(void)state;
	const char *names[] = { "SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex", "SSL_set_fd",
				"SSL_free" };
	const char *libs[] = { "/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/bin/node" };
	uint64_t offs[6];

	for (size_t i = 0; i < 2; i++) {
		if (access(libs[i], R_OK))
			continue;
		assert_int_equal(tls_elf_func_offsets(libs[i], names, 6, offs), 6);
		for (size_t k = 0; k < 6; k++)
			assert_int_not_equal(offs[k], 0);
	}
	/* libcrypto has none of them. */
	if (!access("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", R_OK))
		assert_int_equal(tls_elf_func_offsets("/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
						      names, 6, offs), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_sizes),
		cmocka_unit_test(test_check_lengths),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_clock_offset),
		cmocka_unit_test(test_maps_libssl),
		cmocka_unit_test(test_maps_spaces_deleted),
		cmocka_unit_test(test_maps_none),
		cmocka_unit_test(test_elf_self),
		cmocka_unit_test(test_elf_errors),
		cmocka_unit_test(test_elf_openssl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
