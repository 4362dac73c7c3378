/* SPDX-License-Identifier: MIT */
/*
 * keys: one table from keys to actions (htop's Action). An action changes
 * the view and returns reaction flags; the caller redraws or quits on them.
 * Key codes are the view's own (printable ASCII as itself, KEYS_* for the
 * rest) so the table and its tests need no curses; crt translates.
 */
#ifndef L7TOP_KEYS_H
#define L7TOP_KEYS_H

#include "tui/view.h"

enum keys_code {
	KEYS_ENTER = '\n',
	KEYS_ESC = 27,
	KEYS_BACKSPACE = 127,
	KEYS_UP = 0x1000,
	KEYS_DOWN,
	KEYS_LEFT,
	KEYS_RIGHT,
	KEYS_PGUP,
	KEYS_PGDN,
	KEYS_HOME,
	KEYS_END,
	KEYS_F1,
	KEYS_RESIZE,
};

enum keys_reaction {
	REACT_NONE = 0,
	REACT_REDRAW = 1 << 0,     /* the screen changed */
	REACT_QUIT = 1 << 1,
	REACT_RESIZE = 1 << 2,     /* ask the terminal for its size */
};

struct key_binding {
	int key;
	const char *name;          /* as shown in help; NULL: not listed */
	const char *help;
	int (*action)(struct view *v, int key);
};

/* The table, ending with a zeroed entry. */
extern const struct key_binding keys_table[];

/* Runs the action bound to key (or edits the filter prompt when open);
 * the help overlay closes on any key. Returns REACT_* flags. */
int keys_dispatch(struct view *v, int key);

#endif
