// SPDX-License-Identifier: MIT
#include "collector/route_fold.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static bool is_long_hex(const char *s, size_t n)
{
	if (n < 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_hex((unsigned char)s[i]))
			return false;
	return true;
}

/* 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool is_id_segment(const char *s, size_t n)
{
	return all_digits(s, n) || is_uuid(s, n) || is_long_hex(s, n);
}

struct route_buf {
	char *out;
	size_t cap, len;
};

/*
 * The escaping rule: a byte in 0x21..0x7e other than '%' is itself; every
 * other byte, '%' included, is %XX (upper-case hex). Since '%' always starts
 * an escape, the mapping is one-to-one: a raw 0x9B ("%9B") and a literal
 * "%9B" sent by a client ("%259B") stay two routes, and a route decodes back
 * to the exact bytes of the path (up to the cut).
 */
static bool is_plain(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '%';
}

static void put_byte(struct route_buf *b, unsigned char c)
{
	static const char hexd[] = "0123456789ABCDEF";
	if (is_plain(c)) {
		if (b->len + 1 < b->cap)
			b->out[b->len++] = (char)c;
		return;
	}
	/* Cut whole escapes only, so a route never ends in half of one. */
	if (b->len + 3 < b->cap) {
		b->out[b->len++] = '%';
		b->out[b->len++] = hexd[c >> 4];
		b->out[b->len++] = hexd[c & 15];
	} else {
		b->cap = b->len + 1;         /* full: stop appending */
	}
}

static void put_str(struct route_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_byte(b, (unsigned char)s[i]);
}

/* Skips "scheme://authority" of an absolute-form target (RFC 7230 5.3.2). */
static size_t skip_authority(const char *t, size_t len)
{
	if (len == 0 || t[0] == '/')
		return 0;                      /* origin-form: nearly every request */
	const char *sep = memmem(t, len, "://", 3);
	if (!sep)
		return 0;
	size_t i = (size_t)(sep - t) + 3;
	while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#')
		i++;
	return i;
}

/*
 * put_str() of the segment t[seg..) up to its end (the next '/' or end),
 * returning where it ends; *params gets where its path parameters start
 * (";jsessionid=..." and the like carry sessions as a query string does:
 * dropped the same way), the end when there are none. One pass, plain
 * bytes stored inline: a byte at a time through put_byte() after two
 * scans of the segment this was ~45 instructions per path byte, on every
 * request, and the live scale rows' paths grow a word per level with the
 * endpoint count. The length and the room stay in locals while plain
 * bytes are copied: written back through b on every byte (a char store
 * may alias them) the copy was ~30 instructions a byte. A plain byte past
 * cap - 1 is dropped as put_byte() drops it.
 */
static size_t put_segment(struct route_buf *b, const char *t, size_t seg, size_t end,
			  size_t *params)
{
	size_t i = seg, len = b->len, last = b->cap - 1;
	char *out = b->out;

	for (; i < end && t[i] != '/'; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c == ';') {
			const char *slash = memchr(t + i, '/', end - i);
			b->len = len;
			*params = i;
			return slash ? (size_t)(slash - t) : end;
		}
		if (is_plain(c)) {
			if (len < last)
				out[len++] = (char)c;
			continue;
		}
		b->len = len;
		put_byte(b, c);
		len = b->len;
		last = b->cap - 1;           /* put_byte() closes a full buffer */
	}
	b->len = len;
	*params = i;
	return i;
}

/* memchr, not a loop of two compares a byte: ~7 instructions per path
 * byte on every request */
size_t route_path_len(const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);
	if (q)
		len = (size_t)(q - target);
	q = memchr(target, '#', len);
	return q ? (size_t)(q - target) : len;
}

static size_t fold(const char *target, size_t len, char *out, size_t cap, bool ids)
{
	struct route_buf b = { .out = out, .cap = cap, .len = 0 };
	size_t i = skip_authority(target, len), end = i + route_path_len(target + i, len - i);

	if (i == end)
		put_byte(&b, '/');
	while (i < end) {
		size_t seg = i;
		if (target[seg] == '/') {
			put_byte(&b, '/');
			seg++;
		}
		/* put as it is read, taken back if it is an id */
		struct route_buf before = b;
		size_t params, stop = put_segment(&b, target, seg, end, &params);
		if (ids && is_id_segment(target + seg, params - seg)) {
			b = before;
			put_str(&b, "{id}", 4);
		}
		i = stop;
	}
	out[b.len] = '\0';
	return b.len;
}

size_t route_fold(const char *target, size_t len, char *out, size_t cap)
{
	return fold(target, len, out, cap, true);
}

size_t route_path(const char *target, size_t len, char *out, size_t cap)
{
	return fold(target, len, out, cap, false);
}

size_t route_host(const char *host, size_t len, char *out, size_t cap)
{
	struct route_buf b = { .out = out, .cap = cap, .len = 0 };
	size_t end = len;

	/* drop the port: after the last ':' unless inside an IPv6 literal */
	for (size_t i = len; i-- > 0;) {
		if (host[i] == ']')
			break;
		if (host[i] == ':') {
			end = i;
			break;
		}
	}
	while (end > 0 && (host[end - 1] == ' ' || host[end - 1] == '\t'))
		end--;
	for (size_t i = 0; i < end; i++) {
		unsigned char c = (unsigned char)host[i];
		put_byte(&b, c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c);
	}
	out[b.len] = '\0';
	return b.len;
}
