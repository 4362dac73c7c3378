/* SPDX-License-Identifier: MIT */
/*
 * route_pattern: routes the user names (--route, --routes FILE), matched
 * before any automatic folding; the first pattern that matches a request's
 * path (query string dropped, as sent) names its route, as written.
 *
 *   /search                      exactly that path
 *   /u/{user}                    {name}: one or more bytes inside a segment
 *   /api/v{version}/items/{sku}  placeholders may sit inside a segment
 *
 * A "*" segment matches exactly one segment, and as the last segment
 * ("/files/" then "*") the rest of the path, any depth.
 *
 * A pattern starts with '/', holds printable ASCII only, names are
 * [A-Za-z0-9_]+ between braces, "*" stands alone in its segment, and it is
 * shorter than ROUTE_MAX. At most ROUTE_PATTERNS_MAX patterns. Pure.
 */
#ifndef L7TOP_ROUTE_PATTERN_H
#define L7TOP_ROUTE_PATTERN_H

#include <stddef.h>

#define ROUTE_PATTERNS_MAX 512

struct route_patterns;

struct route_patterns *route_patterns_new(void);
void route_patterns_free(struct route_patterns *p);
/* 0, or -EINVAL / -ENOSPC / -ENOMEM with *why saying what is wrong. */
int route_patterns_add(struct route_patterns *p, const char *pattern, const char **why);
/* A pattern file: one a line, '#' starts a comment, blank lines and
 * surrounding blanks ignored. 0, or the error of the first bad line
 * (*line its number, from 1). */
int route_patterns_load(struct route_patterns *p, const char *buf, size_t len, unsigned *line,
			const char **why);
size_t route_patterns_count(const struct route_patterns *p);
/* The first pattern matching path (NUL-terminated, no query string), or NULL. */
const char *route_patterns_match(const struct route_patterns *p, const char *path);

#endif
