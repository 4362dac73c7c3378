/* SPDX-License-Identifier: MIT */
/*
 * replay_clock: which interval a replayed packet belongs to, from the
 * packets' own timestamps. Pure: no globals, no I/O, time as a parameter.
 *
 * Intervals are interval_ms long and aligned on the first packet. Only
 * intervals that hold packets exist: a packet past the current interval
 * closes it and opens the one it falls in, however far ahead, so a quiet
 * hour or a clock that jumps years costs one interval, never a loop over
 * the empty ones. A packet slightly older than the current interval
 * (reordering across CPUs, up to REPLAY_CLOCK_BACK_MS) is counted in the
 * current one; older than that, the clock went back: the current interval
 * closes and a new one starts at the packet. A jump back, or ahead by more
 * than REPLAY_CLOCK_AHEAD_MS, is reported once per replay.
 */
#ifndef L7TOP_REPLAY_CLOCK_H
#define L7TOP_REPLAY_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define REPLAY_CLOCK_BACK_MS   1000ull
#define REPLAY_CLOCK_AHEAD_MS  3600000ull

struct replay_clock {
	uint64_t interval_ms;
	bool started;
	uint64_t start_ms;          /* the current interval's start */
	uint64_t last_ms;           /* the newest packet's time */
	bool jumped;                /* a jump was reported */
	uint64_t jumps;             /* jumps seen (reported or not) */
};

struct replay_step {
	bool close;                 /* close the current interval first ... */
	uint64_t close_start_ms;    /* ... which began here */
	uint64_t close_end_ms;      /* ... and ends here */
	bool report;                /* first jump: say so */
	int64_t jump_ms;            /* by how much (negative: back) */
};

void replay_clock_init(struct replay_clock *c, uint64_t interval_ms);
/* Places a packet at ms; step says what to do before counting it. */
void replay_clock_place(struct replay_clock *c, uint64_t ms, struct replay_step *step);

#endif
