// SPDX-License-Identifier: MIT
#include "collector/route_learn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LEARN_ROUTE_MAX 1024      /* longest route rewritten; longer ones are cut */

struct route_learn {
	unsigned max_values;
	size_t nslots;            /* power of two, even */
	uint32_t *parent;         /* per slot: parent hash, 0 = free */
	uint16_t *nvals;          /* per slot */
	uint32_t *vals;           /* per slot: max_values value hashes */
	size_t max_folds, nfolds;
	char **folds;             /* learned parents, in order */
	uint32_t *fold_tab;       /* open addressing by hash: index + 1 */
	size_t fold_mask;
	uint64_t refused;
};

#define FNV_START 2166136261u

static uint32_t fnv_more(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* A parent's or value's hash, from fnv_more()'s running one. */
static uint32_t fnv_done(uint32_t h)
{
	return h | 1;             /* never 0: 0 marks a free slot */
}

static uint32_t fnv(const char *s, size_t n)
{
	return fnv_done(fnv_more(FNV_START, s, n));
}

struct route_learn *route_learn_new(unsigned max_values, size_t slots, size_t max_folds)
{
	struct route_learn *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->max_values = max_values ? max_values : ROUTE_LEARN_VALUES;
	if (l->max_values > UINT16_MAX)
		l->max_values = UINT16_MAX;
	l->nslots = 2;
	while (l->nslots < (slots ? slots : 4096))
		l->nslots <<= 1;
	l->max_folds = max_folds ? max_folds : 256;
	size_t ft = 16;
	while (ft < 2 * l->max_folds)
		ft <<= 1;
	l->fold_mask = ft - 1;
	l->parent = calloc(l->nslots, sizeof(*l->parent));
	l->nvals = calloc(l->nslots, sizeof(*l->nvals));
	l->vals = calloc(l->nslots * l->max_values, sizeof(*l->vals));
	l->folds = calloc(l->max_folds, sizeof(*l->folds));
	l->fold_tab = calloc(ft, sizeof(*l->fold_tab));
	if (!l->parent || !l->nvals || !l->vals || !l->folds || !l->fold_tab) {
		route_learn_free(l);
		return NULL;
	}
	return l;
}

void route_learn_free(struct route_learn *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nfolds; i++)
		free(l->folds[i]);
	free(l->folds);
	free(l->fold_tab);
	free(l->parent);
	free(l->nvals);
	free(l->vals);
	free(l);
}

static bool fold_has(const struct route_learn *l, uint32_t h, const char *p, size_t n)
{
	for (size_t i = h & l->fold_mask; l->fold_tab[i]; i = (i + 1) & l->fold_mask) {
		const char *f = l->folds[l->fold_tab[i] - 1];
		if (strlen(f) == n && !memcmp(f, p, n))
			return true;
	}
	return false;
}

static int fold_insert(struct route_learn *l, const char *p, size_t n)
{
	uint32_t h = fnv(p, n);
	if (fold_has(l, h, p, n))
		return 0;
	if (l->nfolds == l->max_folds) {
		l->refused++;
		return -ENOSPC;
	}
	char *f = malloc(n + 1);
	if (!f)
		return -ENOMEM;
	memcpy(f, p, n);
	f[n] = '\0';
	size_t i = h & l->fold_mask;
	while (l->fold_tab[i])
		i = (i + 1) & l->fold_mask;
	l->folds[l->nfolds++] = f;
	l->fold_tab[i] = (uint32_t)l->nfolds;
	return 0;
}

int route_learn_add(struct route_learn *l, const char *prefix)
{
	size_t n = strlen(prefix);
	if (n < 3 || prefix[0] != '/' || prefix[n - 1] != '/' || n >= LEARN_ROUTE_MAX)
		return -EINVAL;
	return fold_insert(l, prefix, n);
}

/* The slot counting parent h: found, or the lower-count one of its two. */
static size_t slot_of(struct route_learn *l, uint32_t h)
{
	size_t a = h & (l->nslots - 1) & ~(size_t)1, b = a + 1;
	if (l->parent[a] == h)
		return a;
	if (l->parent[b] == h)
		return b;
	size_t s = l->nvals[b] < l->nvals[a] ? b : a;
	l->parent[s] = h;
	l->nvals[s] = 0;
	return s;
}

/* Counts the value of hash vh under parent p[0..n) (hash ph); true when
 * the parent folds now. */
static bool count_value(struct route_learn *l, uint32_t ph, const char *p, size_t n, uint32_t vh)
{
	size_t s = slot_of(l, ph);
	uint32_t *vals = &l->vals[s * l->max_values];

	for (unsigned i = 0; i < l->nvals[s]; i++)
		if (vals[i] == vh)
			return false;
	if (l->nvals[s] < l->max_values) {
		vals[l->nvals[s]++] = vh;
		return false;
	}
	l->parent[s] = 0;            /* folded parents are not counted any more */
	l->nvals[s] = 0;
	return fold_insert(l, p, n) == 0;
}

static bool is_placeholder(const char *s, size_t n)
{
	return n >= 2 && s[0] == '{' && s[n - 1] == '}';
}

static void put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
	if (*o + n >= cap)
		n = *o + 1 < cap ? cap - 1 - *o : 0;
	memcpy(out + *o, s, n);
	*o += n;
}

/*
 * The walk both apply and rewrite share: route → out, calling fold() for
 * each segment after the first that is not a placeholder, with its parent
 * (out so far) and the parent's hash, kept running as out grows: hashing
 * each parent anew was quadratic in the route, on every request whose
 * route the collector's cache had not seen last. fold() also gets the
 * segment's own hash (vh, fnv() of it) and says whether it becomes "{*}".
 */
typedef bool (*fold_fn)(void *ctx, uint32_t ph, const char *parent, size_t n, uint32_t vh);

/* put(), the running hash following what it wrote. */
static void put_hashed(char *out, size_t cap, size_t *o, uint32_t *h, const char *s, size_t n)
{
	size_t at = *o;
	put(out, cap, o, s, n);
	*h = fnv_more(*h, out + at, *o - at);
}

/*
 * put_hashed() of the segment at p (up to the next '/' or the end), and
 * fnv() of the whole segment into *vh, in one pass: returns the segment's
 * length. (strcspn, then put_hashed, then fnv of the value again, with
 * the calls around them, cost ~1,300 instructions a request on a
 * four-level path: one pass per request per segment, and the live scale
 * rows' paths grow a level per tenfold endpoints.)
 */
static size_t put_segment(char *out, size_t cap, size_t *o, uint32_t *h, const char *p,
			  uint32_t *vh)
{
	size_t room = *o + 1 < cap ? cap - 1 - *o : 0, n = 0;
	uint32_t hh = *h, v = FNV_START;
	char *w = out + *o;

	for (; p[n] && p[n] != '/'; n++) {
		uint8_t c = (uint8_t)p[n];
		v = (v ^ c) * 16777619u;
		if (n < room) {
			w[n] = (char)c;
			hh = (hh ^ c) * 16777619u;
		}
	}
	*o += n < room ? n : room;
	*h = hh;
	*vh = fnv_done(v);
	return n;
}

/* put_hashed() of the one byte c (a '/'), without a call to memcpy and a
 * hash loop for it: ~50 instructions, once per segment of every request. */
static void put_char(char *out, size_t cap, size_t *o, uint32_t *h, char c)
{
	if (*o + 1 >= cap)
		return;
	out[(*o)++] = c;
	*h = (*h ^ (uint8_t)c) * 16777619u;
}

static size_t walk(const char *route, char *out, size_t cap, fold_fn fold, void *ctx)
{
	const char *p = route;
	size_t o = 0;
	uint32_t h = FNV_START, vh;

	if (cap > LEARN_ROUTE_MAX)
		cap = LEARN_ROUTE_MAX;
	if (*p == '/')
		put_char(out, cap, &o, &h, *p++);
	p += put_segment(out, cap, &o, &h, p, &vh);
	while (*p == '/') {
		put_char(out, cap, &o, &h, *p++);
		/* written at once, taken back when it folds: the parent is
		 * out[0, at), the bytes after it are not the fold's to read */
		size_t at = o;
		uint32_t ph = h;
		size_t sn = put_segment(out, cap, &o, &h, p, &vh);
		if (sn && !is_placeholder(p, sn) && fold(ctx, fnv_done(ph), out, at, vh)) {
			o = at;
			h = ph;
			put_hashed(out, cap, &o, &h, ROUTE_LEARN_FOLD, sizeof(ROUTE_LEARN_FOLD) - 1);
		}
		p += sn;
	}
	out[o] = '\0';
	return o;
}

struct apply_ctx {
	struct route_learn *l;
	bool learned;
};

static bool apply_fold(void *ctx, uint32_t ph, const char *parent, size_t n, uint32_t vh)
{
	struct apply_ctx *a = ctx;
	if (fold_has(a->l, ph, parent, n))
		return true;
	if (!count_value(a->l, ph, parent, n, vh))
		return false;
	a->learned = true;
	return true;
}

bool route_learn_apply(struct route_learn *l, char *route, size_t cap)
{
	char out[LEARN_ROUTE_MAX];
	struct apply_ctx a = { .l = l };

	if (!cap)
		return false;
	size_t n = walk(route, out, cap < sizeof(out) ? cap : sizeof(out), apply_fold, &a);
	memcpy(route, out, n + 1);
	return a.learned;
}

size_t route_learn_count(const struct route_learn *l)
{
	return l->nfolds;
}

const char *route_learn_prefix(const struct route_learn *l, size_t i)
{
	return i < l->nfolds ? l->folds[i] : NULL;
}

uint64_t route_learn_refused(const struct route_learn *l)
{
	return l->refused;
}

struct list_ctx {
	const char *const *prefixes;
	size_t n;
};

static bool list_fold(void *ctx, uint32_t ph, const char *parent, size_t n, uint32_t vh)
{
	const struct list_ctx *c = ctx;
	(void)ph;
	(void)vh;
	for (size_t i = 0; i < c->n; i++)
		if (strlen(c->prefixes[i]) == n && !memcmp(c->prefixes[i], parent, n))
			return true;
	return false;
}

size_t route_learn_rewrite(const char *const *prefixes, size_t n, const char *route,
			   char *out, size_t cap)
{
	struct list_ctx c = { prefixes, n };
	if (!cap)
		return 0;
	return walk(route, out, cap, list_fold, &c);
}
