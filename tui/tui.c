// SPDX-License-Identifier: MIT
#include "tui/tui.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "tui/cellbuf.h"
#include "tui/crt.h"
#include "tui/keys.h"
#include "tui/screen.h"

/* Endpoints a push takes per slice of the loop: ~7 ms of work at 10,000
 * endpoints (7 µs each), the capture read between two slices. */
#define TUI_STEP_EPS 1000

struct tui {
	struct view view;
	struct cellbuf cb;
	struct crt *crt;
	struct loop *loop;
	bool dirty;               /* a frame was skipped: draw at the next chance */
};

struct tui *tui_new(const struct tui_config *cfg)
{
	struct tui *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (view_init(&t->view, cfg ? cfg->interval_ms : 1000, cfg ? cfg->max_endpoints : 0)) {
		view_free(&t->view);
		free(t);
		return NULL;
	}
	return t;
}

static void on_stdin(struct loop *l, int fd, void *ctx)
{
	(void)l;
	(void)fd;
	tui_on_input(ctx);
}

static void on_resize(struct loop *l, int fd, void *ctx)
{
	struct tui *t = ctx;
	(void)l;
	(void)fd;
	crt_resize_ack(t->crt);
	tui_draw(t);               /* crt_size() picks up the new size */
}

/* The loop's idle slice: more of a push in steps, drawn once complete. */
static bool tui_idle(void *ctx)
{
	struct tui *t = ctx;
	if (!t->view.pend)
		return false;
	if (!view_push_step(&t->view, TUI_STEP_EPS))
		return true;
	tui_draw(t);                  /* complete: drawn if the terminal takes output */
	return false;
}

int tui_start(struct tui *t, struct loop *l, char *err, size_t errlen)
{
	int rc = crt_open(&t->crt, err, errlen);
	if (rc)
		return rc;
	t->loop = l;
	if (l && ((rc = loop_add_fd(l, STDIN_FILENO, on_stdin, t)) ||
		  (rc = loop_add_fd(l, crt_resize_fd(t->crt), on_resize, t)))) {
		loop_del_fd(l, STDIN_FILENO);
		crt_close(t->crt);
		t->crt = NULL;
		t->loop = NULL;
		snprintf(err, errlen, "l7top: cannot watch the terminal: %s", strerror(-rc));
		return rc;
	}
	if (l)
		loop_set_idle(l, tui_idle, t);
	tui_draw(t);
	return 0;
}

void tui_push_snapshot(struct tui *t, const struct snapshot *s, const struct run_info *run)
{
	view_push(&t->view, s, run);
}

void tui_on_input(struct tui *t)
{
	int k, react = 0;
	if (!t->crt)
		return;
	if (t->view.pend) {           /* keys act on a whole interval, drawn */
		view_push_finish(&t->view);
		react = REACT_REDRAW;
	}
	while ((k = crt_read_key(t->crt)) >= 0) {
		react |= keys_dispatch(&t->view, k);
		if (react & REACT_QUIT)
			break;
	}
	if (react & REACT_QUIT) {
		if (t->loop)
			loop_stop(t->loop);
		return;
	}
	if (react & (REACT_REDRAW | REACT_RESIZE))
		tui_draw(t);
}

void tui_draw(struct tui *t)
{
	int rows, cols;
	if (!t->crt)
		return;
	if (crt_output_busy(t->crt)) {
		t->dirty = true;      /* the terminal is not reading: do not block */
		return;
	}
	view_push_finish(&t->view);
	crt_size(t->crt, &rows, &cols);
	view_set_size(&t->view, rows, cols);
	if (screen_render(&t->view, rows, cols, &t->cb) == 0)
		crt_show(t->crt, &t->cb);
	t->dirty = false;
}

void tui_free(struct tui *t)
{
	if (!t)
		return;
	if (t->crt) {
		if (t->loop) {
			loop_del_fd(t->loop, STDIN_FILENO);
			loop_del_fd(t->loop, crt_resize_fd(t->crt));
			loop_set_idle(t->loop, NULL, NULL);
		}
		crt_close(t->crt);
	}
	cellbuf_free(&t->cb);
	view_free(&t->view);
	free(t);
}

/* ---- as a sink ------------------------------------------------------------ */

static int tui_sink_push(void *self, struct snapshot *s, const struct run_info *run)
{
	struct tui *t = self;
	/* the rows' refresh covers every row the view holds, not only this
	 * interval's: a view of many is sliced too */
	if (t->loop && (s->n > TUI_STEP_EPS || t->view.neps > TUI_STEP_EPS)) {
		view_push_begin(&t->view, s, run);   /* tui_idle() goes on */
		return 0;
	}
	tui_push_snapshot(t, s, run);
	tui_draw(t);
	return 0;
}

static void tui_sink_close(void *self, const struct run_info *run)
{
	(void)run;
	tui_free(self);
}

static const struct sink_ops tui_sink_ops = {
	.name = "tui",
	.push = tui_sink_push,
	.close = tui_sink_close,
};

struct sink tui_sink(struct tui *t)
{
	return (struct sink){ .ops = &tui_sink_ops, .self = t };
}
