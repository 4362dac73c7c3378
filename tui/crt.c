// SPDX-License-Identifier: MIT
#include "tui/crt.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include "tui/keys.h"

#define OUTQ_BUSY 4096      /* bytes still queued for the terminal */

struct crt {
	SCREEN *scr;
	bool utf8;
	attr_t attr[ST_COUNT];
	int pipe_r;
	wchar_t *line;
	int line_cap;
};

/* Process-wide, for the signal handlers and atexit only. */
static volatile sig_atomic_t crt_active;
static int crt_pipe_w = -1;
static bool crt_atexit_done;
static const int crt_fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
static struct sigaction crt_old_fatal[sizeof(crt_fatal) / sizeof(crt_fatal[0])];
static struct sigaction crt_old_winch;

static void crt_restore(void)
{
	if (crt_active) {
		crt_active = 0;
		endwin();
	}
}

/* Not async-signal-safe (endwin), like htop's: the process is dying, and
 * a usable shell is worth the risk. */
static void crt_on_fatal(int sig)
{
	crt_restore();
	raise(sig);                   /* SA_RESETHAND: the default action now */
}

static void crt_on_winch(int sig)
{
	int saved = errno;
	(void)sig;
	if (crt_pipe_w >= 0 && write(crt_pipe_w, "w", 1) < 0) {
		/* full pipe: a resize is already pending */
	}
	errno = saved;
}

enum { P_TITLE = 1, P_LABEL, P_WARN, P_ERROR, P_COLHDR, P_SELECTED, P_BAR, P_FOOTER, P_PROMPT };

static void crt_styles(struct crt *c)
{
	const char *nc = getenv("NO_COLOR");
	bool colour = has_colors() && !(nc && *nc);

	if (colour && start_color() == OK) {
		int bg = use_default_colors() == OK ? -1 : COLOR_BLACK;
		init_pair(P_TITLE, COLOR_CYAN, (short)bg);
		init_pair(P_LABEL, COLOR_CYAN, (short)bg);
		init_pair(P_WARN, COLOR_YELLOW, (short)bg);
		init_pair(P_ERROR, COLOR_RED, (short)bg);
		init_pair(P_COLHDR, COLOR_BLACK, COLOR_GREEN);
		init_pair(P_SELECTED, COLOR_BLACK, COLOR_CYAN);
		init_pair(P_BAR, COLOR_GREEN, (short)bg);
		init_pair(P_FOOTER, COLOR_BLACK, COLOR_CYAN);
		init_pair(P_PROMPT, COLOR_BLACK, COLOR_YELLOW);
		c->attr[ST_NORMAL] = A_NORMAL;
		c->attr[ST_TITLE] = COLOR_PAIR(P_TITLE) | A_BOLD;
		c->attr[ST_LABEL] = COLOR_PAIR(P_LABEL);
		c->attr[ST_VALUE] = A_BOLD;
		c->attr[ST_WARN] = COLOR_PAIR(P_WARN) | A_BOLD;
		c->attr[ST_ERROR] = COLOR_PAIR(P_ERROR) | A_BOLD;
		c->attr[ST_COLHDR] = COLOR_PAIR(P_COLHDR);
		c->attr[ST_COLSORT] = COLOR_PAIR(P_SELECTED) | A_BOLD;
		c->attr[ST_SELECTED] = COLOR_PAIR(P_SELECTED);
		c->attr[ST_BAR] = COLOR_PAIR(P_BAR);
		c->attr[ST_KEY] = A_BOLD;
		c->attr[ST_FOOTER] = COLOR_PAIR(P_FOOTER);
		c->attr[ST_PROMPT] = COLOR_PAIR(P_PROMPT);
		return;
	}
	c->attr[ST_NORMAL] = A_NORMAL;
	c->attr[ST_TITLE] = A_BOLD;
	c->attr[ST_LABEL] = A_NORMAL;
	c->attr[ST_VALUE] = A_BOLD;
	c->attr[ST_WARN] = A_BOLD;
	c->attr[ST_ERROR] = A_BOLD | A_UNDERLINE;
	c->attr[ST_COLHDR] = A_REVERSE;
	c->attr[ST_COLSORT] = A_REVERSE | A_BOLD | A_UNDERLINE;
	c->attr[ST_SELECTED] = A_REVERSE;
	c->attr[ST_BAR] = A_NORMAL;
	c->attr[ST_KEY] = A_BOLD;
	c->attr[ST_FOOTER] = A_REVERSE;
	c->attr[ST_PROMPT] = A_BOLD;
}

/* Ctrl-S must not be able to hold our output: flow control off. */
static void crt_no_flow_control(void)
{
	struct termios t;
	if (tcgetattr(STDIN_FILENO, &t) == 0) {
		t.c_iflag &= ~(tcflag_t)(IXON | IXOFF);
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
		def_prog_mode();         /* so curses brings it back after ^Z */
	}
}

int crt_open(struct crt **out, char *err, size_t errlen)
{
	struct crt *c;
	int p[2];

	*out = NULL;
	if (crt_active) {
		snprintf(err, errlen, "l7top: the terminal is already in use");
		return -EBUSY;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "l7top: the live view needs a terminal on stdin and stdout");
		return -ENOTTY;
	}
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC)) {
		free(c);
		return -errno;
	}
	/* Only the character type: numbers elsewhere keep the C locale. */
	setlocale(LC_CTYPE, "");
	c->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	c->scr = newterm(NULL, stdout, stdin);
	if (!c->scr) {
		const char *term = getenv("TERM");
		snprintf(err, errlen, "l7top: cannot use the terminal (TERM=%s)", term ? term : "unset");
		close(p[0]);
		close(p[1]);
		free(c);
		return -ENOTTY;
	}
	set_term(c->scr);
	crt_active = 1;
	if (!crt_atexit_done) {
		atexit(crt_restore);
		crt_atexit_done = true;
	}
	struct sigaction sa = { .sa_handler = crt_on_fatal, .sa_flags = SA_RESETHAND | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crt_fatal) / sizeof(crt_fatal[0]); i++)
		sigaction(crt_fatal[i], &sa, &crt_old_fatal[i]);
	c->pipe_r = p[0];
	crt_pipe_w = p[1];
	struct sigaction sw = { .sa_handler = crt_on_winch, .sa_flags = SA_RESTART };
	sigemptyset(&sw.sa_mask);
	sigaction(SIGWINCH, &sw, &crt_old_winch);

	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	crt_no_flow_control();
	crt_styles(c);
	*out = c;
	return 0;
}

void crt_close(struct crt *c)
{
	if (!c)
		return;
	crt_restore();
	delscreen(c->scr);
	sigaction(SIGWINCH, &crt_old_winch, NULL);
	for (size_t i = 0; i < sizeof(crt_fatal) / sizeof(crt_fatal[0]); i++)
		sigaction(crt_fatal[i], &crt_old_fatal[i], NULL);
	close(c->pipe_r);
	close(crt_pipe_w);
	crt_pipe_w = -1;
	free(c->line);
	free(c);
}

void crt_size(struct crt *c, int *rows, int *cols)
{
	struct winsize ws;
	(void)c;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col &&
	    (ws.ws_row != LINES || ws.ws_col != COLS))
		resizeterm(ws.ws_row, ws.ws_col);
	*rows = LINES;
	*cols = COLS;
}

int crt_read_key(struct crt *c)
{
	(void)c;
	int k = getch();
	switch (k) {
	case ERR:
		return -1;
	case KEY_UP:
		return KEYS_UP;
	case KEY_DOWN:
		return KEYS_DOWN;
	case KEY_LEFT:
		return KEYS_LEFT;
	case KEY_RIGHT:
		return KEYS_RIGHT;
	case KEY_PPAGE:
		return KEYS_PGUP;
	case KEY_NPAGE:
		return KEYS_PGDN;
	case KEY_HOME:
		return KEYS_HOME;
	case KEY_END:
		return KEYS_END;
	case KEY_F(1):
		return KEYS_F1;
	case KEY_ENTER:
	case '\r':
		return KEYS_ENTER;
	case KEY_BACKSPACE:
	case 8:
		return KEYS_BACKSPACE;
	case KEY_RESIZE:
		return KEYS_RESIZE;
	default:
		return k < 0x100 ? k : -1;     /* other function keys: ignored */
	}
}

/* What a non-UTF-8 terminal gets instead of our few non-ASCII glyphs. */
static wchar_t crt_ascii(uint32_t ch)
{
	if (ch == 0xb5)
		return L'u';                   /* µ */
	if (ch >= 0x2580 && ch <= 0x259f)
		return L'#';                   /* blocks */
	if (ch >= 0x2500 && ch < 0x2580)
		return L'-';                   /* box drawing */
	return L'?';
}

void crt_show(struct crt *c, const struct cellbuf *cb)
{
	if (c->line_cap < cb->cols + 1) {
		wchar_t *l = realloc(c->line, (size_t)(cb->cols + 1) * sizeof(*l));
		if (!l)
			return;
		c->line = l;
		c->line_cap = cb->cols + 1;
	}
	erase();
	for (int r = 0; r < cb->rows && r < LINES; r++) {
		const struct cell *row = &cb->cells[r * cb->cols];
		int cols = cb->cols < COLS ? cb->cols : COLS;
		for (int x = 0; x < cols;) {
			int st = row[x].style, n = 0, start = x;
			while (x < cols && row[x].style == st) {
				uint32_t ch = row[x].ch;
				c->line[n++] = ch < 0x80 || c->utf8 ? (wchar_t)ch : crt_ascii(ch);
				x++;
			}
			/* Blank default-style runs are already blank after erase(). */
			if (st == ST_NORMAL) {
				while (n && c->line[n - 1] == L' ')
					n--;
				if (!n)
					continue;
			}
			attrset(c->attr[st < ST_COUNT ? st : ST_NORMAL]);
			/* The bottom-right cell returns ERR (no room to move the
			 * cursor on); the character is drawn all the same. */
			mvaddnwstr(r, start, c->line, n);
		}
	}
	attrset(A_NORMAL);
	wnoutrefresh(stdscr);
	doupdate();
}

bool crt_output_busy(const struct crt *c)
{
	struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
	int queued = 0;
	(void)c;
	if (ioctl(STDOUT_FILENO, TIOCOUTQ, &queued) == 0 && queued > OUTQ_BUSY)
		return true;
	int n = poll(&pfd, 1, 0);
	return n == 0 || (n == 1 && !(pfd.revents & POLLOUT));
}

int crt_resize_fd(const struct crt *c)
{
	return c->pipe_r;
}

void crt_resize_ack(struct crt *c)
{
	char buf[64];
	while (read(c->pipe_r, buf, sizeof(buf)) > 0)
		;
}
