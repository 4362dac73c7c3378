// SPDX-License-Identifier: MIT
#include "collector/route_pattern.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collector/snapshot.h"

struct route_patterns {
	size_t n;
	char *pat[ROUTE_PATTERNS_MAX];
};

struct route_patterns *route_patterns_new(void)
{
	return calloc(1, sizeof(struct route_patterns));
}

void route_patterns_free(struct route_patterns *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->pat[i]);
	free(p);
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Why pattern s is not one, or NULL. */
static const char *pattern_check(const char *s)
{
	size_t n = strlen(s);

	if (s[0] != '/')
		return "a pattern starts with '/'";
	if (n >= ROUTE_MAX)
		return "longer than 255 bytes";
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c < 0x21 || c > 0x7e)
			return "only printable ASCII, no blanks";
		if (c == '?' || c == '#')
			return "no query string or fragment: routes are paths";
		if (c == '}')
			return "'}' without '{'";
		if (c == '*' && (s[i - 1] != '/' || (s[i + 1] && s[i + 1] != '/')))
			return "'*' must be a whole segment";
		if (c != '{')
			continue;
		size_t j = i + 1;
		while (name_char(s[j]))
			j++;
		if (s[j] != '}')
			return s[j] ? "a name in braces is letters, digits or '_'" : "'{' without '}'";
		if (j == i + 1)
			return "an empty name in braces";
		if (s[j + 1] == '{')
			return "two placeholders side by side cannot be told apart";
		i = j;
	}
	return NULL;
}

int route_patterns_add(struct route_patterns *p, const char *pattern, const char **why)
{
	*why = pattern_check(pattern);
	if (*why)
		return -EINVAL;
	if (p->n == ROUTE_PATTERNS_MAX) {
		*why = "too many patterns (at most 512)";
		return -ENOSPC;
	}
	if (!(p->pat[p->n] = strdup(pattern))) {
		*why = "out of memory";
		return -ENOMEM;
	}
	p->n++;
	return 0;
}

int route_patterns_load(struct route_patterns *p, const char *buf, size_t len, unsigned *line,
			const char **why)
{
	char one[ROUTE_MAX + 2];
	size_t i = 0;

	*line = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && buf[end] != '\n')
			end++;
		(*line)++;
		size_t a = i, b = end;
		for (size_t k = a; k < b; k++)
			if (buf[k] == '#') {
				b = k;
				break;
			}
		while (a < b && (buf[a] == ' ' || buf[a] == '\t'))
			a++;
		while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
			b--;
		i = end + 1;
		if (a == b)
			continue;
		if (b - a > ROUTE_MAX) {
			*why = "longer than 255 bytes";
			return -EINVAL;
		}
		if (memchr(buf + a, '\0', b - a)) {
			*why = "only printable ASCII, no blanks";
			return -EINVAL;
		}
		memcpy(one, buf + a, b - a);
		one[b - a] = '\0';
		int rc = route_patterns_add(p, one, why);
		if (rc)
			return rc;
	}
	return 0;
}

size_t route_patterns_count(const struct route_patterns *p)
{
	return p ? p->n : 0;
}

/*
 * Does pattern pt match path s? "{name}" takes one or more bytes of the
 * segment (shortest first, backtracking), "*" one segment, a last "*" the
 * rest. Recursion depth is bounded by the pattern's placeholders.
 */
static bool match(const char *pt, const char *s)
{
	while (*pt) {
		if (pt[0] == '*') {
			if (!pt[1])
				return true;                  /* the rest, any depth */
			size_t seg = strcspn(s, "/");
			if (!seg)
				return false;
			pt++;
			s += seg;
			continue;
		}
		if (pt[0] == '{') {
			pt = strchr(pt, '}') + 1;
			size_t seg = strcspn(s, "/");
			for (size_t take = 1; take <= seg; take++)
				if (match(pt, s + take))
					return true;
			return false;
		}
		if (*pt != *s)
			return false;
		pt++;
		s++;
	}
	return !*s;
}

const char *route_patterns_match(const struct route_patterns *p, const char *path)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (match(p->pat[i], path))
			return p->pat[i];
	return NULL;
}
