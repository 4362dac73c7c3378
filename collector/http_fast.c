// SPDX-License-Identifier: MIT
#include "collector/http_fast.h"

#include <llhttp.h>
#include <string.h>

/* RFC 9110 tchar: what a header name or a method may hold. */
static const uint8_t http_fast_tchar[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1,
};

/* Visible ASCII, space and tab: a strict subset of what llhttp takes in a
 * value or a reason phrase (it also takes bytes >= 0x80). */
static bool http_fast_text(uint8_t c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t';
}

#define FAST_ONES 0x0101010101010101ull
#define FAST_HIGH 0x8080808080808080ull

/* Does any of the 8 bytes fall outside 0x20..0x7e? Borrows and carries
 * only start at such a byte, so the answer is exact for the word. */
static bool http_fast_word_odd(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return ((w - 0x20 * FAST_ONES) | w | (w + FAST_ONES)) & FAST_HIGH;
}

/*
 * Where the line from p[i] ends: the offset of its CR, followed by LF, with
 * only text bytes before; (size_t)-1 for anything else. Eight bytes a step
 * while all are plain, one at a time around the odd ones (CR, tab).
 */
static size_t http_fast_eol(const uint8_t *p, size_t i, size_t n)
{
	while (i < n) {
		if (i + 8 <= n && !http_fast_word_odd(p + i)) {
			i += 8;
			continue;
		}
		if (p[i] == '\r')
			return i + 1 < n && p[i + 1] == '\n' ? i : (size_t)-1;
		if (!http_fast_text(p[i]))
			return (size_t)-1;
		i++;
	}
	return (size_t)-1;
}

/* Header names that change the framing or the connection, or are kept. */
enum http_fast_name { FAST_OTHER, FAST_CLEN, FAST_CONNECTION, FAST_HOST, FAST_REFUSE };

/* p[0..n) equals lower, ASCII case aside (lower holds letters and '-'). */
static bool http_fast_ieq(const uint8_t *p, size_t n, const char *lower)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] | 0x20) != (uint8_t)lower[i])
			return false;
	return true;
}

/* By length first: most names are none of these and cost one compare. */
static enum http_fast_name http_fast_name(const uint8_t *p, size_t n)
{
	switch (n) {
	case 4:
		return http_fast_ieq(p, n, "host") ? FAST_HOST : FAST_OTHER;
	case 7:
		return http_fast_ieq(p, n, "upgrade") ? FAST_REFUSE : FAST_OTHER;
	case 10:
		return http_fast_ieq(p, n, "connection") ? FAST_CONNECTION : FAST_OTHER;
	case 14:
		return http_fast_ieq(p, n, "content-length") ? FAST_CLEN : FAST_OTHER;
	case 16:
		return http_fast_ieq(p, n, "proxy-connection") ? FAST_REFUSE : FAST_OTHER;
	case 17:
		return http_fast_ieq(p, n, "transfer-encoding") ? FAST_REFUSE : FAST_OTHER;
	default:
		return FAST_OTHER;
	}
}

/* Content-Length: 1 to 15 digits, nothing else (no sign, no spaces, no
 * list). 15 digits stay far below llhttp's own overflow check. */
static bool http_fast_clen(const uint8_t *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

/*
 * The header lines from p[*off] to the CRLF CRLF, "name:" OWS value CRLF
 * each. Content-Length and Host are noted in m (once each at most);
 * false for any line not of the strict form and any header that changes
 * the framing (requests: any Content-Length). *off moves past the block.
 */
static bool http_fast_headers(const uint8_t *p, size_t n, size_t *off, bool request,
			      struct http_fast_msg *m, bool *clen_seen)
{
	size_t i = *off;

	while (i + 1 < n && !(p[i] == '\r' && p[i + 1] == '\n')) {
		size_t name = i, vs, ve;

		while (i < n && http_fast_tchar[p[i]])
			i++;
		if (i == name || i >= n || p[i] != ':')
			return false;
		enum http_fast_name kind = http_fast_name(p + name, i - name);
		if (kind == FAST_REFUSE || (kind == FAST_CLEN && request))
			return false;
		for (i++; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		vs = i;
		if ((i = http_fast_eol(p, i, n)) == (size_t)-1)
			return false;
		for (ve = i; ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'); ve--)
			;
		/* trailing spaces in a value that matters: llhttp judges */
		if (kind != FAST_OTHER && ve != i)
			return false;
		if (kind == FAST_CONNECTION &&
		    (ve - vs != 10 || !http_fast_ieq(p + vs, ve - vs, "keep-alive")))
			return false;
		if (kind == FAST_CLEN && (*clen_seen || !http_fast_clen(p + vs, ve - vs, &m->clen)))
			return false;
		*clen_seen |= kind == FAST_CLEN;
		if (kind == FAST_HOST) {
			if (m->host_len || ve == vs || ve - vs > UINT16_MAX)
				return false;
			m->host_off = (uint16_t)vs;
			m->host_len = (uint16_t)(ve - vs);
		}
		i += 2;
	}
	if (i + 1 >= n)
		return false;
	*off = i + 2;
	return true;
}

/* "HTTP/1.1 NNN reason\r\n": the status when it has a body and is final
 * (200-599 but 204 and 304), else 0. *off moves past the line. */
static uint16_t http_fast_status(const uint8_t *p, size_t n, size_t *off)
{
	uint16_t st;
	size_t i;

	if (n < 14 || memcmp(p, "HTTP/1.1 ", 9) || p[9] < '2' || p[9] > '5' ||
	    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || p[12] != ' ')
		return 0;
	st = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
	if (st == 204 || st == 304 || (i = http_fast_eol(p, 13, n)) == (size_t)-1)
		return 0;
	*off = i + 2;
	return st;
}

/* A remembered header block that p starts with: its reading. */
static bool http_fast_recall(const struct http_fast_memo *memo, const uint8_t *p, size_t n,
			     struct http_fast_msg *out)
{
	if (!memo || !memo->m.hdr_len || n < memo->m.hdr_len ||
	    memcmp(p, memo->hdr, memo->m.hdr_len))
		return false;
	*out = memo->m;
	return true;
}

static void http_fast_remember(struct http_fast_memo *memo, const uint8_t *p,
			       const struct http_fast_msg *m)
{
	if (!memo || m->hdr_len > HTTP_FAST_MEMO)
		return;
	memcpy(memo->hdr, p, m->hdr_len);
	memo->m = *m;
}

size_t http_fast_response_head(struct http_fast_memo *memo, const uint8_t *p, size_t n,
			       struct http_fast_msg *out)
{
	struct http_fast_msg m = { 0 };
	bool seen = false;
	size_t off = 0;

	if (!http_fast_recall(memo, p, n, &m)) {
		if (!(m.status = http_fast_status(p, n, &off)) ||
		    !http_fast_headers(p, n, &off, false, &m, &seen) || !seen ||
		    off > UINT16_MAX)
			return 0;
		m.hdr_len = (uint16_t)off;
		m.host_len = 0;
		http_fast_remember(memo, p, &m);
	}
	*out = m;
	return m.hdr_len;
}


/* The methods read here; any other goes to llhttp. */
static int http_fast_method(const uint8_t *p, size_t n)
{
	static const struct { const char *name; uint8_t len, method; } known[] = {
		{ "GET", 3, HTTP_GET },       { "HEAD", 4, HTTP_HEAD },
		{ "POST", 4, HTTP_POST },     { "PUT", 3, HTTP_PUT },
		{ "DELETE", 6, HTTP_DELETE }, { "OPTIONS", 7, HTTP_OPTIONS },
		{ "PATCH", 5, HTTP_PATCH },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (n == known[i].len && !memcmp(p, known[i].name, n))
			return known[i].method;
	return -1;
}

/* "METHOD /path[?query] HTTP/1.1\r\n": origin-form targets of visible
 * ASCII without '#' (llhttp takes more). *off moves past the line. */
static bool http_fast_request_line(const uint8_t *p, size_t n, size_t *off,
				   struct http_fast_msg *m)
{
	size_t i = 0, t;
	int method;

	while (i < n && i < 8 && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	if (i >= n || p[i] != ' ' || (method = http_fast_method(p, i)) < 0)
		return false;
	t = ++i;
	if (i >= n || p[i] != '/')
		return false;
	while (i < n && p[i] > 0x20 && p[i] < 0x7f && p[i] != '#')
		i++;
	if (i - t > UINT16_MAX || n - i < 11 || memcmp(p + i, " HTTP/1.1\r\n", 11))
		return false;
	m->method = (uint8_t)method;
	m->target_off = (uint16_t)t;
	m->target_len = (uint16_t)(i - t);
	*off = i + 11;
	return true;
}

size_t http_fast_request(struct http_fast_memo *memo, const uint8_t *p, size_t n,
			 struct http_fast_msg *out)
{
	struct http_fast_msg m = { 0 };
	bool seen = false;
	size_t off = 0;

	if (!http_fast_recall(memo, p, n, &m)) {
		if (!http_fast_request_line(p, n, &off, &m) ||
		    !http_fast_headers(p, n, &off, true, &m, &seen) || off > UINT16_MAX)
			return 0;
		m.hdr_len = (uint16_t)off;
		http_fast_remember(memo, p, &m);
	}
	*out = m;
	return m.hdr_len;
}
