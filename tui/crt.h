/* SPDX-License-Identifier: MIT */
/*
 * crt: the terminal, and the only file that calls curses (htop's CRT).
 * Opens curses on stdin/stdout, maps styles to colours (none when NO_COLOR
 * is set to anything non-empty, or the terminal has none), copies a
 * cellbuf to the screen without flicker (erase, wnoutrefresh, doupdate;
 * curses sends only what changed), reads keys without blocking.
 *
 * The terminal is restored on every way out: crt_close(), exit() (an
 * atexit hook), and fatal signals (SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
 * SIGILL: endwin, then the signal is re-raised with its default action so
 * the core dump and exit status stay right). That hook and the SIGWINCH
 * self-pipe are the only process-wide state; one crt at a time.
 *
 * Flow control (IXON) is turned off while the view is open: Ctrl-S is an
 * ordinary key and cannot freeze the output. See crt_output_busy() for a
 * terminal that stops reading anyway.
 */
#ifndef L7TOP_CRT_H
#define L7TOP_CRT_H

#include <stdbool.h>
#include <stddef.h>

#include "tui/cellbuf.h"

struct crt;

/* Returns 0, or -errno with a one-line reason (no terminal, TERM unknown). */
int crt_open(struct crt **out, char *err, size_t errlen);
/* Restores the terminal and frees; NULL is fine. */
void crt_close(struct crt *c);
/* The terminal's size now, after resizing curses if it changed. */
void crt_size(struct crt *c, int *rows, int *cols);
/* The next key as a keys_code / ASCII, or -1 when none is waiting. */
int crt_read_key(struct crt *c);
/* Shows cb (its size must be crt_size()'s). */
void crt_show(struct crt *c, const struct cellbuf *cb);
/*
 * True when the terminal has not taken what was already written (output
 * queue above a frame's worth, or no room to write): drawing now could
 * block the caller's loop, so skip the frame and try later.
 */
bool crt_output_busy(const struct crt *c);
/* Readable after a SIGWINCH; crt_resize_ack() drains it. */
int crt_resize_fd(const struct crt *c);
void crt_resize_ack(struct crt *c);

#endif
