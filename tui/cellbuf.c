// SPDX-License-Identifier: MIT
#include "tui/cellbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cellbuf_resize(struct cellbuf *cb, int rows, int cols)
{
	if (rows < 0)
		rows = 0;
	if (cols < 0)
		cols = 0;
	if (rows * cols > cb->rows * cb->cols || !cb->cells) {
		size_t n = (size_t)rows * (size_t)cols;
		struct cell *c = realloc(cb->cells, (n ? n : 1) * sizeof(*c));
		if (!c) {
			free(cb->cells);
			cb->cells = NULL;
			cb->rows = cb->cols = 0;
			return -ENOMEM;
		}
		cb->cells = c;
	}
	cb->rows = rows;
	cb->cols = cols;
	cellbuf_clear(cb);
	return 0;
}

void cellbuf_free(struct cellbuf *cb)
{
	free(cb->cells);
	cb->cells = NULL;
	cb->rows = cb->cols = 0;
}

void cellbuf_clear(struct cellbuf *cb)
{
	for (int i = 0; i < cb->rows * cb->cols; i++)
		cb->cells[i] = (struct cell){ .ch = ' ', .style = ST_NORMAL };
}

/* One-column codepoints only; see the header. */
static int single_width(uint32_t c)
{
	return (c >= 0x20 && c < 0x7f) || (c >= 0xa0 && c <= 0xff) ||
	       (c >= 0x2010 && c <= 0x2027) || (c >= 0x2190 && c <= 0x21ff) ||
	       (c >= 0x2500 && c <= 0x259f) || (c >= 0x25a0 && c <= 0x25ff);
}

/* Decodes one codepoint; *len gets the bytes used (>= 1). Invalid → '?'. */
static uint32_t utf8_next(const unsigned char *s, size_t *len)
{
	uint32_t c = s[0];
	size_t n, i;

	*len = 1;
	if (c < 0x80)
		return single_width(c) ? c : '?';
	if ((c & 0xe0) == 0xc0)
		n = 2, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 3, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 4, c &= 0x07;
	else
		return '?';
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return '?';       /* also stops at the NUL */
		c = (c << 6) | (s[i] & 0x3f);
	}
	*len = n;
	return single_width(c) ? c : '?';
}

int utf8_width(const char *s)
{
	int w = 0;
	size_t len;
	while (*s) {
		utf8_next((const unsigned char *)s, &len);
		s += len;
		w++;
	}
	return w;
}

static struct cell *at(struct cellbuf *cb, int row, int col)
{
	return &cb->cells[row * cb->cols + col];
}

int cellbuf_text(struct cellbuf *cb, int row, int col, int maxw, enum style st, const char *s)
{
	int w = 0;
	size_t len;

	if (row < 0 || row >= cb->rows || col < 0)
		return 0;
	if (maxw < 0 || col + maxw > cb->cols)
		maxw = cb->cols - col;
	while (*s && w < maxw) {
		uint32_t c = utf8_next((const unsigned char *)s, &len);
		*at(cb, row, col + w) = (struct cell){ .ch = c, .style = (uint8_t)st };
		s += len;
		w++;
	}
	return w;
}

int cellbuf_text_right(struct cellbuf *cb, int row, int col, int w, enum style st, const char *s)
{
	int sw = utf8_width(s);
	return cellbuf_text(cb, row, sw < w ? col + w - sw : col, w, st, s);
}

void cellbuf_fill(struct cellbuf *cb, int row, int col, int w, enum style st, uint32_t ch)
{
	if (row < 0 || row >= cb->rows)
		return;
	for (int c = col < 0 ? 0 : col; c < col + w && c < cb->cols; c++)
		*at(cb, row, c) = (struct cell){ .ch = ch, .style = (uint8_t)st };
}

void cellbuf_restyle(struct cellbuf *cb, int row, int col, int w, enum style st)
{
	if (row < 0 || row >= cb->rows)
		return;
	for (int c = col < 0 ? 0 : col; c < col + w && c < cb->cols; c++)
		at(cb, row, c)->style = (uint8_t)st;
}

static size_t put_utf8(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | (c >> 12));
	o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

char *cellbuf_line(const struct cellbuf *cb, int row, char *buf, size_t n)
{
	size_t o = 0, keep = 0;
	buf[0] = '\0';
	if (row < 0 || row >= cb->rows || n < 5)
		return buf;
	for (int c = 0; c < cb->cols && o + 4 < n; c++) {
		uint32_t ch = cb->cells[row * cb->cols + c].ch;
		o += put_utf8(ch, buf + o);
		if (ch != ' ')
			keep = o;
	}
	buf[keep] = '\0';
	return buf;
}
