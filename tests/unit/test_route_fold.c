// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "collector/route_fold.h"
#include "collector/snapshot.h"

static void expect(const char *target, const char *route)
{
	char out[ROUTE_MAX];
	size_t n = route_fold(target, strlen(target), out, sizeof(out));
	assert_string_equal(out, route);
	assert_int_equal(n, strlen(route));
}

static void test_ids(void **state)
{
	(void)state;
	expect("/users/17", "/users/{id}");
	expect("/users/42?token=secret", "/users/{id}");
	expect("/users/9b2c7d1e-0f3a-4b5c-8d9e-0123456789ab/orders", "/users/{id}/orders");
	expect("/blob/deadbeefdeadbeef0123", "/blob/{id}");
	expect("/blob/deadbeefdeadbee", "/blob/deadbeefdeadbee");     /* 15 hex: a word */
	expect("/v2/items", "/v2/items");
	expect("/a/123abc", "/a/123abc");
	expect("/9b2c7d1e-0f3a-4b5c-8d9e-0123456789aZ", "/9b2c7d1e-0f3a-4b5c-8d9e-0123456789aZ");
}

static void test_shapes(void **state)
{
	(void)state;
	expect("/", "/");
	expect("", "/");
	expect("?x=1", "/");
	expect("*", "*");
	expect("/a//b/", "/a//b/");
	expect("/page#frag", "/page");
	expect("http://example.com:8080/users/5?q", "/users/{id}");
	expect("http://example.com", "/");
	expect("/a b\x01\xff", "/a%20b%01%FF");
	/* '%' is always escaped: a raw byte and its literal escape differ. */
	expect("/a\x9b", "/a%9B");
	expect("/a%9B", "/a%259B");
	expect("/a%", "/a%25");
	expect("/a%zz", "/a%25zz");
	expect("/login;jsessionid=1A2B3C", "/login");
	expect("/a;v=1/17;x/b", "/a/{id}/b");
}

static void test_cut(void **state)
{
	(void)state;
	char target[5000], out[ROUTE_MAX];
	target[0] = '/';
	memset(target + 1, 'g', sizeof(target) - 1);
	size_t n = route_fold(target, sizeof(target), out, sizeof(out));
	assert_int_equal(n, ROUTE_MAX - 1);
	/* escapes are never cut in half */
	memset(target + 1, 0x01, sizeof(target) - 1);
	n = route_fold(target, sizeof(target), out, sizeof(out));
	assert_int_equal((n - 1) % 3, 0);
	assert_true(n >= ROUTE_MAX - 3);
}

/* The longest whole-escape prefix of full that fits cap (with its NUL). */
static size_t fitting_prefix(const char *full, size_t cap)
{
	size_t n = 0;
	while (full[n]) {
		size_t tok = full[n] == '%' ? 3 : 1;
		if (n + tok > cap - 1)
			break;
		n += tok;
	}
	return n;
}

/*
 * Any target, any buffer: the route in a short buffer is the full route cut
 * before the first byte or escape that does not fit, nothing skipped after
 * it (runs of plain bytes are copied at once, escapes one by one).
 */
static void test_cut_anywhere(void **state)
{
	(void)state;
	static const char alphabet[] = "ab/;%? 1f-\x01\xff#";
	uint32_t rng = 12345;
	char target[48], full[256], out[256];

	for (int round = 0; round < 20000; round++) {
		size_t len = 0, n;
		rng = rng * 1103515245u + 12345u;
		len = (rng >> 16) % sizeof(target);
		for (size_t i = 0; i < len; i++) {
			rng = rng * 1103515245u + 12345u;
			target[i] = alphabet[(rng >> 16) % (sizeof(alphabet) - 1)];
		}
		route_fold(target, len, full, sizeof(full));
		for (size_t cap = 1; cap < strlen(full) + 4; cap++) {
			n = route_fold(target, len, out, cap);
			size_t want = fitting_prefix(full, cap);
			assert_int_equal(n, want);
			assert_memory_equal(out, full, want);
			assert_int_equal(out[n], '\0');
		}
	}
}

/*
 * The folding as it was first written, a byte at a time through one
 * escape function: route_fold() copies runs of plain bytes at once and
 * must give the same route, cut at the same byte, for every target and
 * buffer size.
 */
struct ref_buf {
	char *out;
	size_t cap, len;
};

static void ref_put(struct ref_buf *b, unsigned char c)
{
	static const char hexd[] = "0123456789ABCDEF";
	if (c >= 0x21 && c <= 0x7e && c != '%') {
		if (b->len + 1 < b->cap)
			b->out[b->len++] = (char)c;
		return;
	}
	if (b->len + 3 < b->cap) {
		b->out[b->len++] = '%';
		b->out[b->len++] = hexd[c >> 4];
		b->out[b->len++] = hexd[c & 15];
	} else {
		b->cap = b->len + 1;
	}
}

static bool ref_id(const char *s, size_t n)
{
	bool digits = n > 0, hex = n >= 16, uuid = n == 36;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool h = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		digits &= c >= '0' && c <= '9';
		hex &= h;
		uuid &= dash ? c == '-' : h;
	}
	return digits || hex || uuid;
}

static size_t ref_fold(const char *t, size_t len, char *out, size_t cap)
{
	struct ref_buf b = { .out = out, .cap = cap };
	size_t i = 0, end = 0;
	while (end < len && t[end] != '?' && t[end] != '#')
		end++;
	if (i == end)
		ref_put(&b, '/');
	while (i < end) {
		size_t seg = i, stop, params;
		if (t[seg] == '/')
			ref_put(&b, t[seg++]);
		for (stop = seg; stop < end && t[stop] != '/'; stop++)
			;
		for (params = seg; params < stop && t[params] != ';'; params++)
			;
		if (ref_id(t + seg, params - seg))
			for (const char *p = "{id}"; *p; p++)
				ref_put(&b, (unsigned char)*p);
		else
			for (size_t k = seg; k < params; k++)
				ref_put(&b, (unsigned char)t[k]);
		i = stop;
	}
	out[b.len] = '\0';
	return b.len;
}

static void test_same_as_bytewise(void **state)
{
	(void)state;
	/* letters, digits and hex (ids), separators, escapes */
	static const char alphabet[] = "abz/;%?#017f-A\x01\x7f\xff ";
	uint32_t rng = 777;
	char target[64], want[300], got[300];

	for (int round = 0; round < 20000; round++) {
		rng = rng * 1103515245u + 12345u;
		size_t len = (rng >> 16) % sizeof(target);
		for (size_t i = 0; i < len; i++) {
			rng = rng * 1103515245u + 12345u;
			/* mostly '/' and letters: segments of every length */
			unsigned r = (rng >> 16) % 64;
			target[i] = r < 8 ? '/' : r < 32 ? "abcdef0123456789"[r % 16]
					      : alphabet[r % (sizeof(alphabet) - 1)];
		}
		if (len)
			target[0] = '/';
		for (size_t cap = 1; cap < 260; cap += cap < 70 ? 1 : 63) {
			size_t n = route_fold(target, len, got, cap);
			assert_int_equal(n, ref_fold(target, len, want, cap));
			assert_string_equal(got, want);
		}
	}
}

static void expect_host(const char *host, const char *want)
{
	char out[HOST_MAX];
	route_host(host, strlen(host), out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_hosts_and_paths(void **state)
{
	(void)state;
	char out[ROUTE_MAX];
	expect_host("Example.COM:8443", "example.com");
	expect_host("example.com", "example.com");
	expect_host("[::1]:80", "[::1]");
	expect_host("[::1]", "[::1]");
	expect_host("", "");
	route_path("/users/17?token=x", 17, out, sizeof(out));
	assert_string_equal(out, "/users/17");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_cut_anywhere),
		cmocka_unit_test(test_same_as_bytewise),
		cmocka_unit_test(test_hosts_and_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
