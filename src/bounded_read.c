// SPDX-License-Identifier: MIT
#include "src/bounded_read.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define BOUNDED_READ_CHUNK 65536

/* Line lengths across chunk boundaries: *cur is the open line's length. */
static int bounded_lines(const char *p, size_t n, size_t max_line, size_t *cur, size_t *lineno)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			*cur = 0;
			++*lineno;
		} else if (++*cur > max_line) {
			return -E2BIG;
		}
	}
	return 0;
}

static void bounded_wipe(char **buf, size_t len)
{
	if (*buf)
		OPENSSL_cleanse(*buf, len);
	free(*buf);
	*buf = NULL;
}

int bounded_read(FILE *f, size_t max_file, size_t max_line, char **buf, size_t *len,
		 char *why, size_t whylen)
{
	size_t cap = 0, cur = 0, lineno = 1;
	int rc = 0;

	*buf = NULL;
	*len = 0;
	for (;;) {
		size_t n, want = BOUNDED_READ_CHUNK;

		if (*len + want > cap) {
			/* *len <= max_file here, so one chunk past the bound is enough. */
			size_t ncap = cap ? cap * 2 : BOUNDED_READ_CHUNK;
			if (ncap > max_file + BOUNDED_READ_CHUNK)
				ncap = max_file + BOUNDED_READ_CHUNK;
			char *v = malloc(ncap);
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			if (*buf)
				memcpy(v, *buf, *len);
			bounded_wipe(buf, *len);
			*buf = v;
			cap = ncap;
		}
		n = fread(*buf + *len, 1, want, f);
		if ((rc = bounded_lines(*buf + *len, n, max_line, &cur, &lineno))) {
			snprintf(why, whylen, "line %zu is longer than %zu bytes", lineno, max_line);
			break;
		}
		*len += n;
		if (*len > max_file) {
			rc = -EFBIG;
			snprintf(why, whylen, "longer than %zu MiB", max_file >> 20);
			break;
		}
		if (n < want) {
			if (ferror(f)) {
				rc = -EIO;
				snprintf(why, whylen, "read error: %s", strerror(errno));
			}
			break;
		}
	}
	if (rc) {
		if (rc == -ENOMEM)
			snprintf(why, whylen, "out of memory");
		bounded_wipe(buf, cap);
		*len = 0;
	}
	return rc;
}
