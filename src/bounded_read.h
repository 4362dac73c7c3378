/* SPDX-License-Identifier: MIT */
/*
 * bounded_read: a text file read whole, line by line in spirit, with a
 * bound per line and per file, so /dev/zero, a 100 MB line or a runaway
 * file ends in one line of explanation instead of memory without end.
 */
#ifndef L7TOP_BOUNDED_READ_H
#define L7TOP_BOUNDED_READ_H

#include <stddef.h>
#include <stdio.h>

#define KEYLOG_MAX_LINE  4096              /* an NSS key log line is < 200 bytes */
#define KEYLOG_MAX_FILE  (64u << 20)       /* 4096 connections' secrets are ~4 MB */

/*
 * Reads f to its end into *buf (malloc'd, *len bytes, not NUL-terminated;
 * the caller frees it, wiping it first if it holds secrets). Returns 0, or:
 *   -E2BIG   a line is longer than max_line bytes (why says which)
 *   -EFBIG   the file is longer than max_file bytes
 *   -EIO     a read error (why holds its errno text)
 *   -ENOMEM
 * On failure *buf is NULL; what was read is wiped and freed.
 */
int bounded_read(FILE *f, size_t max_file, size_t max_line, char **buf, size_t *len,
		 char *why, size_t whylen);

#endif
