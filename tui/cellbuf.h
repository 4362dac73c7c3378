/* SPDX-License-Identifier: MIT */
/*
 * cellbuf: a screen as a grid of cells (one codepoint + one style each).
 * The renderer draws into it with no terminal around, tests read it back as
 * text, and crt copies it to curses. Every write is clipped at the edges:
 * nothing can land past the last column or row.
 *
 * Only codepoints that take exactly one column on any terminal are stored
 * (printable ASCII, Latin-1, general punctuation, box drawing and block
 * elements); anything else — control bytes from a route, invalid UTF-8,
 * wide characters — becomes '?'. A route can never smuggle an escape
 * sequence to the terminal.
 */
#ifndef L7TOP_CELLBUF_H
#define L7TOP_CELLBUF_H

#include <stddef.h>
#include <stdint.h>

/* Roles, not colours: crt decides what each looks like (and NO_COLOR). */
enum style {
	ST_NORMAL,
	ST_TITLE,       /* program name, window name */
	ST_LABEL,       /* "req/s", "p99": dimmer than values */
	ST_VALUE,
	ST_WARN,        /* non-zero drops, status-line warnings */
	ST_ERROR,       /* 5xx, DB failing */
	ST_COLHDR,      /* table column titles */
	ST_COLSORT,     /* the column the table is sorted by */
	ST_SELECTED,    /* the selected row */
	ST_BAR,         /* histogram bars */
	ST_KEY,         /* key names in the footer and help */
	ST_FOOTER,      /* footer text */
	ST_PROMPT,      /* the filter prompt */
	ST_COUNT
};

struct cell {
	uint32_t ch;
	uint8_t style;
};

struct cellbuf {
	int rows, cols;
	struct cell *cells;     /* rows * cols, row-major */
};

/* (Re)sizes and clears. Returns 0 or -ENOMEM (the buffer is then 0x0). */
int cellbuf_resize(struct cellbuf *cb, int rows, int cols);
void cellbuf_free(struct cellbuf *cb);
/* Every cell a blank in ST_NORMAL. */
void cellbuf_clear(struct cellbuf *cb);
/*
 * Writes UTF-8 text at (row, col), at most maxw columns (maxw < 0: up to
 * the edge). Returns the columns written; 0 when (row, col) is outside.
 */
int cellbuf_text(struct cellbuf *cb, int row, int col, int maxw, enum style st, const char *s);
/* Like cellbuf_text, right-aligned in a field of width w starting at col. */
int cellbuf_text_right(struct cellbuf *cb, int row, int col, int w, enum style st, const char *s);
/* w cells of ch from (row, col), clipped. */
void cellbuf_fill(struct cellbuf *cb, int row, int col, int w, enum style st, uint32_t ch);
/* Changes the style of w cells, keeping their text. */
void cellbuf_restyle(struct cellbuf *cb, int row, int col, int w, enum style st);
/* Row as UTF-8 without trailing blanks (for tests and debugging). */
char *cellbuf_line(const struct cellbuf *cb, int row, char *buf, size_t n);

/* Display columns s takes once sanitised (one per decoded codepoint). */
int utf8_width(const char *s);

#endif
