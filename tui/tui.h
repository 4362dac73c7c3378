/* SPDX-License-Identifier: MIT */
/*
 * tui: the live view, as main sees it. Everything else in tui/ is behind
 * this: the model (view), the renderer (screen), the key table (keys) and
 * the terminal (crt).
 *
 *   struct tui *t = tui_new(&(struct tui_config){ .interval_ms = 1000 });
 *   if (tui_start(t, loop, err, sizeof(err)))  -> batch output instead
 *   each interval:  tui_push_snapshot(t, s, &run); tui_draw(t);
 *   after loop_run: tui_free(t);                  (terminal restored)
 *
 * or, as main does, through tui_sink(t): push = both calls, close = tui_free.
 *
 * tui_start() registers stdin and a resize fd with the loop; on 'q' the
 * view calls loop_stop(), so quitting takes the same path as SIGTERM.
 * Nothing here blocks: keys are read with nodelay, and a frame is skipped
 * when the terminal is not taking output (crt_output_busy()).
 */
#ifndef L7TOP_TUI_H
#define L7TOP_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/snapshot.h"
#include "src/loop.h"
#include "tui/view.h"

struct tui_config {
	uint64_t interval_ms;     /* the snapshot interval (windows are built from it) */
	size_t max_endpoints;     /* rows before the view moves its least used into the
				   * aggregator's OTHER row; 0 = 2000 */
};

struct tui;

/* The model only, no terminal yet (tests can use it as is). NULL: ENOMEM. */
struct tui *tui_new(const struct tui_config *cfg);
/*
 * Takes the terminal and registers with the loop. Returns 0, or -errno
 * with a one-line reason in err; the terminal is untouched on failure.
 */
int tui_start(struct tui *t, struct loop *l, char *err, size_t errlen);
/* Copies what it needs from s and run; keeps neither. Does not draw. */
void tui_push_snapshot(struct tui *t, const struct snapshot *s, const struct run_info *run);
/* Reads every waiting key and acts on it (redraws if needed). */
void tui_on_input(struct tui *t);
/* Draws the current view (a no-op before tui_start). */
void tui_draw(struct tui *t);
/* Restores the terminal (if started), unregisters, frees. NULL is fine. */
void tui_free(struct tui *t);
/* t as a sink (hosts folded): push draws each interval, close is tui_free().
 * Once started on a loop, a snapshot of many endpoints is taken in slices
 * between the loop's waits (view_push_begin), drawn when whole. */
struct sink tui_sink(struct tui *t);

#endif
