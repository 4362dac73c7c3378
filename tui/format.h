/* SPDX-License-Identifier: MIT */
/*
 * format: numbers in human units for screens and tables. Pure: each
 * function writes a NUL-terminated string into buf and returns buf.
 */
#ifndef L7TOP_FORMAT_H
#define L7TOP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* 850us, 4.25ms, 123.4ms, 2.35s; "-" for none. */
char *fmt_latency(uint64_t us, char *buf, size_t n);
/* 512B, 1.5K, 23M, 1.2G (powers of 1024). */
char *fmt_bytes(double bytes, char *buf, size_t n);
/* 0.3, 12.5, 1234, 12.3k, 4.5M */
char *fmt_rate(double per_s, char *buf, size_t n);
/* s cut to width display columns by replacing its middle with "..": a
 * route's start and end are what tell routes apart. */
char *fmt_middle(const char *s, size_t width, char *buf, size_t n);

#endif
