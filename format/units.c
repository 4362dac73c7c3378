// SPDX-License-Identifier: MIT
#include "format/units.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Digits of q / scale with dec (0-2) decimals, then unit, into buf (cut to n). */
static char *put_fixed(char *buf, size_t n, uint64_t q, uint64_t scale, int dec, const char *unit)
{
	char tmp[48], digits[24], *p = tmp;
	int nd = 0;

	for (uint64_t v = q / scale; nd == 0 || v; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	while (nd)
		*p++ = digits[--nd];
	if (dec) {
		*p++ = '.';
		if (dec == 2)
			*p++ = (char)('0' + q % scale / 10);
		*p++ = (char)('0' + q % 10);
	}
	size_t ul = strnlen(unit, 8);
	memcpy(p, unit, ul);
	p += ul;
	if (n) {
		size_t len = (size_t)(p - tmp) < n ? (size_t)(p - tmp) : n - 1;
		memcpy(buf, tmp, len);
		buf[len] = '\0';
	}
	return buf;
}

/* x to dec (0-1) decimals, then unit, as printf's "%.*f" writes it: in
 * integers, but for what lies so near a half that printf's exact reading
 * of the double decides (and what integers cannot hold). */
static char *fixed_double(char *buf, size_t n, double x, int dec, const char *unit)
{
	double scale = dec ? 10.0 : 1.0, v = x * scale;
	if (!(v >= 0 && v < 1e9) || fabs(v - floor(v) - 0.5) < 1e-6) {
		snprintf(buf, n, "%.*f%s", dec, x, unit);
		return buf;
	}
	uint64_t q = (uint64_t)v + (v - floor(v) > 0.5);
	return put_fixed(buf, n, q, dec ? 10 : 1, dec, unit);
}

char *fmt_bytes(double b, char *buf, size_t n)
{
	static const char *const unit[] = { "B", "K", "M", "G", "T", "P" };
	int u = 0;
	while (b >= 1024 && u < 5) {
		b /= 1024;
		u++;
	}
	return fixed_double(buf, n, b, u && b < 10 ? 1 : 0, unit[u]);
}

char *fmt_rate(double r, char *buf, size_t n)
{
	if (r < 10)
		return fixed_double(buf, n, r, 1, "");
	if (r < 10000)
		return fixed_double(buf, n, r, 0, "");
	if (r < 1e6)
		return fixed_double(buf, n, r / 1e3, 1, "k");
	return fixed_double(buf, n, r / 1e6, 1, "M");
}

char *fmt_fixed1(double x, char *buf, size_t n)
{
	return fixed_double(buf, n, x, 1, "");
}

char *fmt_middle(const char *s, size_t width, char *buf, size_t n)
{
	size_t len = strlen(s);
	if (width + 1 > n)
		width = n - 1;
	if (len <= width || width < 5) {
		/* most routes fit: a copy, not printf's "%.*s" (most of what a
		 * --no-tui row of 10,000 cost beside the numbers) */
		size_t k = len < width ? len : width;
		if (n) {
			memcpy(buf, s, k);
			buf[k] = '\0';
		}
		return buf;
	}
	size_t head = (width - 2) / 2, tail = width - 2 - head;
	memcpy(buf, s, head);
	memcpy(buf + head, "..", 2);
	memcpy(buf + head + 2, s + len - tail, tail);
	buf[width] = '\0';
	return buf;
}

/* value / div to dec (0-2) decimals, then unit, into buf, as printf's "%.*f"
 * writes it, in integers: a --no-tui interval of 10,000 rows formats 40,000
 * latencies, and %f took a third of l7top's instructions there. */
static char *fixed(char *buf, size_t n, uint64_t value, uint64_t div, int dec, const char *unit)
{
	uint64_t scale = dec == 2 ? 100 : dec == 1 ? 10 : 1;
	uint64_t part = (value % div) * scale % div;     /* in two parts: no overflow */
	/* Exactly halfway, printf rounds the nearest double, which may lie on
	 * either side (398.5 is exact: 398; 4.005 is below: 4.00): its answer. */
	if (part * 2 == div) {
		snprintf(buf, n, "%.*f%s", dec, (double)value / (double)div, unit);
		return buf;
	}
	uint64_t q = value / div * scale + ((value % div) * scale + div / 2) / div;
	return put_fixed(buf, n, q, scale, dec, unit);
}

char *fmt_latency(uint64_t us, char *buf, size_t n)
{
	/* Below each bound: the divisor, decimals and unit; the bounds keep
	 * every text within 6 columns (9995 µs would round to "10.00ms"). */
	static const struct { uint64_t below, div; int dec; const char *unit; } ladder[] = {
		{ 1000, 1, 0, "\u00b5s" }, { 9995, 1000, 2, "ms" }, { 99950, 1000, 1, "ms" },
		{ 999500, 1000, 0, "ms" }, { 9995000, 1000000, 2, "s" }, { 99950000, 1000000, 1, "s" },
		{ 999500000, 1000000, 0, "s" }, { UINT64_MAX, 60000000, 1, "m" },
	};
	size_t i = 0;
	while (us >= ladder[i].below && ladder[i].below != UINT64_MAX)
		i++;
	return fixed(buf, n, us, ladder[i].div, ladder[i].dec, ladder[i].unit);
}

char *fmt_uint(uint64_t v, char *buf, size_t n)
{
	return put_fixed(buf, n, v, 1, 0, "");
}

char *fmt_count(uint64_t v, char *buf, size_t n)
{
	static const char unit[] = "kMGTPE";
	double d = (double)v;
	int u = -1;

	if (v < 100000)
		return fmt_uint(v, buf, n);
	while (d >= 999.5 && u < 5) {
		d /= 1000;
		u++;
	}
	snprintf(buf, n, d < 9.995 ? "%.2f%c" : d < 99.95 ? "%.1f%c" : "%.0f%c", d, unit[u]);
	return buf;
}

char *fmt_uptime(uint64_t s, char *buf, size_t n)
{
	if (s < 60)
		snprintf(buf, n, "%lus", (unsigned long)s);
	else if (s < 3600)
		snprintf(buf, n, "%lum%02lus", (unsigned long)(s / 60), (unsigned long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%luh%02lum", (unsigned long)(s / 3600), (unsigned long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%lud%02luh", (unsigned long)(s / 86400),
			 (unsigned long)(s % 86400 / 3600));
	return buf;
}

int fmt_width(const char *s, int cols)
{
	int extra = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		extra += (*p & 0xc0) == 0x80;      /* UTF-8 continuation bytes take no column */
	return cols + extra;
}
