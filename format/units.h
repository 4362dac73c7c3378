/* SPDX-License-Identifier: MIT */
/*
 * units: numbers in human units, the one formatter for every screen and
 * table (the live view, the batch lines, `l7top query`'s table). Pure: each
 * function writes a NUL-terminated string into buf and returns buf.
 */
#ifndef L7TOP_UNITS_H
#define L7TOP_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* 512B, 1.5K, 23M, 1.2G (powers of 1024). */
char *fmt_bytes(double bytes, char *buf, size_t n);
/* 0.3, 12.5, 1234, 12.3k, 4.5M */
char *fmt_rate(double per_s, char *buf, size_t n);
/* x with one decimal, as printf's "%.1f" ("12.5"). */
char *fmt_fixed1(double x, char *buf, size_t n);
/* v in decimal digits, as printf's "%lu" ("1234"). */
char *fmt_uint(uint64_t v, char *buf, size_t n);
/* s cut to width display columns by replacing its middle with "..": a
 * route's start and end are what tell routes apart. */
char *fmt_middle(const char *s, size_t width, char *buf, size_t n);

/*
 * At most 6 display columns, where every column counts.
 * fmt_latency: 3 significant digits, "850µs" "4.25ms" "12.3ms" "123ms"
 * "2.35s" "23.5s" "235s" "12.5m" ("µ" is 2 bytes of UTF-8: give 16).
 * fmt_count: "12345", "123k", "1.23M", "12.3G".
 * fmt_uptime: "45s", "12m05s", "3h02m", "2d03h".
 */
char *fmt_latency(uint64_t us, char *buf, size_t n);
char *fmt_count(uint64_t v, char *buf, size_t n);
char *fmt_uptime(uint64_t secs, char *buf, size_t n);
/* The field width that right-aligns s in cols display columns with
 * printf's %*s, which counts bytes ("µ" is two of them, one column). */
int fmt_width(const char *s, int cols);

#endif
