/* SPDX-License-Identifier: MIT */
/*
 * route_fold: turns a request target into the route an endpoint is keyed by.
 *
 *   "/users/42?token=x"                       -> "/users/{id}"
 *   "/users/9b2c...-...-.../orders"           -> "/users/{id}/orders"
 *   "http://host:80/a/deadbeefdeadbeef00"     -> "/a/{id}"
 *
 * The query string and fragment are dropped (they carry tokens), the scheme
 * and authority of an absolute-form target are dropped, a path segment that
 * is all digits, a UUID, or 16+ hex digits becomes "{id}", bytes outside
 * printable ASCII (0x21..0x7e) and '%' itself are written as %XX (so "%20"
 * sent by a client is "%2520", a raw space "%20": two byte sequences never
 * share a route), a route is always safe for a terminal, CSV and JSON, and
 * the result is cut at cap - 1 bytes (whole escapes only). Pure: no
 * allocation, no globals.
 */
#ifndef L7TOP_ROUTE_FOLD_H
#define L7TOP_ROUTE_FOLD_H

#include <stddef.h>

/* Writes a NUL-terminated route into out (cap >= 2). Returns its length. */
size_t route_fold(const char *target, size_t len, char *out, size_t cap);
/* The same without folding ids: the path as sent, minus query string. */
size_t route_path(const char *target, size_t len, char *out, size_t cap);
/* How much of target[0..len) comes before its query string or fragment:
 * the part a route depends on. */
size_t route_path_len(const char *target, size_t len);
/* A Host header as a virtual host name: lower case, port dropped, escaped
 * like routes. "" stays "" (HTTP/1.0 without Host). */
size_t route_host(const char *host, size_t len, char *out, size_t cap);

#endif
