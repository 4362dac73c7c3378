// SPDX-License-Identifier: MIT
#include "tui/format.h"

#include <stdio.h>
#include <string.h>

char *fmt_latency(uint64_t us, char *buf, size_t n)
{
	if (us < 1000)
		snprintf(buf, n, "%luus", (unsigned long)us);
	else if (us < 10000)
		snprintf(buf, n, "%.2fms", (double)us / 1e3);
	else if (us < 1000000)
		snprintf(buf, n, "%.1fms", (double)us / 1e3);
	else
		snprintf(buf, n, "%.2fs", (double)us / 1e6);
	return buf;
}

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
