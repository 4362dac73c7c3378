// SPDX-License-Identifier: MIT
#include "src/replay_clock.h"

#include <string.h>

void replay_clock_init(struct replay_clock *c, uint64_t interval_ms)
{
	memset(c, 0, sizeof(*c));
	c->interval_ms = interval_ms ? interval_ms : 1;
}

static void replay_clock_jump(struct replay_clock *c, int64_t by, struct replay_step *step)
{
	c->jumps++;
	if (c->jumped)
		return;
	c->jumped = true;
	step->report = true;
	step->jump_ms = by;
}

void replay_clock_place(struct replay_clock *c, uint64_t ms, struct replay_step *step)
{
	uint64_t end = c->start_ms + c->interval_ms;

	memset(step, 0, sizeof(*step));
	if (!c->started) {
		c->started = true;
		c->start_ms = c->last_ms = ms;
		return;
	}
	if (ms >= end) {
		step->close = true;
		step->close_start_ms = c->start_ms;
		step->close_end_ms = end;
		/* The interval the packet falls in, on the first packet's grid. */
		c->start_ms += (ms - c->start_ms) / c->interval_ms * c->interval_ms;
		if (ms > c->last_ms && ms - c->last_ms > REPLAY_CLOCK_AHEAD_MS)
			replay_clock_jump(c, (int64_t)(ms - c->last_ms), step);
	} else if (ms + REPLAY_CLOCK_BACK_MS < c->start_ms) {
		step->close = true;
		step->close_start_ms = c->start_ms;
		step->close_end_ms = end;
		replay_clock_jump(c, -(int64_t)(c->last_ms - ms), step);
		c->start_ms = ms;
	}
	c->last_ms = ms;
}
