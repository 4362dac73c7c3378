// SPDX-License-Identifier: MIT
#include "format/units.h"

#include <stdio.h>
#include <string.h>

char *fmt_bytes(double b, char *buf, size_t n)
{
	static const char unit[] = "BKMGTP";
	int u = 0;
	while (b >= 1024 && u < 5) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%.0fB", b);
	else
		snprintf(buf, n, b < 10 ? "%.1f%c" : "%.0f%c", b, unit[u]);
	return buf;
}

char *fmt_rate(double r, char *buf, size_t n)
{
	if (r < 10)
		snprintf(buf, n, "%.1f", r);
	else if (r < 10000)
		snprintf(buf, n, "%.0f", r);
	else if (r < 1e6)
		snprintf(buf, n, "%.1fk", r / 1e3);
	else
		snprintf(buf, n, "%.1fM", r / 1e6);
	return buf;
}

char *fmt_middle(const char *s, size_t width, char *buf, size_t n)
{
	size_t len = strlen(s);
	if (width + 1 > n)
		width = n - 1;
	if (len <= width || width < 5) {
		snprintf(buf, n, "%.*s", (int)width, s);
		return buf;
	}
	size_t head = (width - 2) / 2, tail = width - 2 - head;
	memcpy(buf, s, head);
	memcpy(buf + head, "..", 2);
	memcpy(buf + head + 2, s + len - tail, tail);
	buf[width] = '\0';
	return buf;
}

char *fmt_latency(uint64_t us, char *buf, size_t n)
{
	double v = (double)us;
	if (us < 1000)
		snprintf(buf, n, "%lu\u00b5s", (unsigned long)us);
	else if (us < 9995)
		snprintf(buf, n, "%.2fms", v / 1e3);
	else if (us < 99950)
		snprintf(buf, n, "%.1fms", v / 1e3);
	else if (us < 999500)
		snprintf(buf, n, "%.0fms", v / 1e3);
	else if (us < 9995000)
		snprintf(buf, n, "%.2fs", v / 1e6);
	else if (us < 99950000)
		snprintf(buf, n, "%.1fs", v / 1e6);
	else if (us < 999500000)
		snprintf(buf, n, "%.0fs", v / 1e6);
	else
		snprintf(buf, n, "%.1fm", v / 6e7);
	return buf;
}

char *fmt_count(uint64_t v, char *buf, size_t n)
{
	static const char unit[] = "kMGTPE";
	double d = (double)v;
	int u = -1;

	if (v < 100000) {
		snprintf(buf, n, "%lu", (unsigned long)v);
		return buf;
	}
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
