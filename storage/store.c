// SPDX-License-Identifier: MIT
#include "storage/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "storage/schema.h"
#include "storage/store_upstream.h"

#define STORE_BUSY_MS      5000     /* wait this long for a `l7top query` or sqlite3 shell */
#define STORE_CACHE_MAX    65536    /* endpoint ids remembered; cleared when full */
#define STORE_STEP_ROWS    8000     /* endpoint rows one upkeep transaction may touch */
#define STORE_STEP_IVS_MAX 64       /* intervals one rollup step may merge */
#define STORE_RETAIN_EVERY 10000    /* look for expired rows every 10 s of data */
#define STORE_WAL_LIMIT    (16 * 1024 * 1024)   /* WAL truncated to this after a checkpoint */
/*
 * The writer's page cache, KiB. Its writes go where the keys say: to the
 * end of the tables (time first), and the few pages on the way there stay
 * hot; SQLite's default 2 MB kept an interval of 10,000 rows that is never
 * read again. At 512 KiB the writer's arena peaked at 1.1 MB instead of
 * 2.6 MB (10,000 endpoints x 10,000 connections, 90 s) for the same CPU.
 */
#define STORE_PAGE_CACHE_KB 512
#define STORE_KEY_MAX      (HOST_MAX + METHOD_MAX + ROUTE_MAX + PROTO_MAX + TARGET_NAME_MAX + 5)

/*
 * host+method+route → endpoints.id, owned by the writer thread. Open
 * addressing over a power-of-two table, grown with the endpoints written
 * (it held 4096 ids, fewer than the rows of --max-endpoints 10000, and
 * every interval then looked most of them up in SQLite again); it is only a
 * cache, so it is simply emptied when full or when a transaction that may
 * have added ids rolls back.
 */
struct ep_slot {
	char *key;                    /* "host\x1fmethod\x1froute"; NULL = empty slot */
	sqlite3_int64 id;
};

struct ep_cache {
	struct ep_slot *slot;         /* cap of them, at most half used */
	size_t cap, used;
};

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_int64 session_id;
	pthread_t thread;             /* the writer, started by the first store_push() */
	bool writer_started;          /* main thread only */

	/* Shared with store_push()/store_get_health()/store_set_retention(); under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t settled;       /* a snapshot was written (or failed) and freed */
	uint64_t pushed, finished;    /* snapshots queued / done with, ever */
	struct snapshot *queue[STORE_QUEUE_MAX];   /* ring */
	size_t qbytes[STORE_QUEUE_MAX];            /* snapshot_bytes() of each */
	size_t head, len;
	bool stopping;
	bool upkeep_more;             /* rollup or retention has work left: no need to wait */
	uint64_t retention_ms, rollup_ms;
	struct store_health health;
	char notes[1024];             /* events not yet in the session row */
	uint64_t notes_lost;          /* events that did not fit */
	uint64_t outage_from_ms;      /* first interval a write outage lost */

	char sink_error[160];         /* main thread: the sink health's copy of last_error */

	/* Writer thread only (and store_open/store_close around it). */
	sqlite3_stmt *put_interval, *put_stat, *find_ep, *ins_ep, *ins_req, *ins_fold;
	sqlite3_stmt *roll_find, *roll_stats, *roll_ivs, *roll_del_stats, *roll_del_ivs;
	sqlite3_stmt *ret_stats, *ret_reqs, *ret_ivs, *ret_sessions;
	uint64_t newest_ms;           /* end of the newest interval written: upkeep's "now" */
	uint64_t retained_at_ms;      /* newest_ms when retention last looked */
	uint64_t avg_rows;            /* running mean of endpoint rows per snapshot */
	uint8_t blob[HIST_ENCODED_MAX];
	bool eps_new;                 /* endpoints was empty at open: insert before looking */
	struct ep_cache cache;
	struct store_upstream *up;    /* the upstream tables' statements */
};

static sqlite3_int64 store_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static uint64_t store_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- endpoint id cache ------------------------------------------------- */

static size_t ep_cache_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;          /* FNV-1a */
	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot holding key, or the empty slot where it would go; NULL while
 * the table has no slots. */
static struct ep_slot *ep_cache_slot(struct ep_cache *c, const char *key)
{
	if (!c->cap)
		return NULL;
	size_t mask = c->cap - 1, i = ep_cache_hash(key) & mask;

	/* At most half full, so an empty slot always ends the probe. */
	for (;; i = (i + 1) & mask) {
		struct ep_slot *s = &c->slot[i];
		if (!s->key || !strcmp(s->key, key))
			return s;
	}
}

static void ep_cache_clear(struct ep_cache *c)
{
	for (size_t i = 0; i < c->cap; i++) {
		free(c->slot[i].key);
		c->slot[i].key = NULL;
	}
	c->used = 0;
}

static void ep_cache_free(struct ep_cache *c)
{
	ep_cache_clear(c);
	free(c->slot);
	c->slot = NULL;
	c->cap = 0;
}

/* Doubles the table (keys rehashed); false on ENOMEM. */
static bool ep_cache_grow(struct ep_cache *c)
{
	struct ep_cache n = { .cap = c->cap ? c->cap * 2 : 1024 };
	if (!(n.slot = calloc(n.cap, sizeof(*n.slot))))
		return false;
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->slot[i].key)
			continue;
		*ep_cache_slot(&n, c->slot[i].key) = c->slot[i];
		n.used++;
	}
	free(c->slot);
	*c = n;
	return true;
}

/* Remembering is best effort: on ENOMEM the id is just looked up again. */
static void ep_cache_put(struct ep_cache *c, const char *key, sqlite3_int64 id)
{
	if ((c->used + 1) * 2 > c->cap && (c->cap >= STORE_CACHE_MAX * 2 || !ep_cache_grow(c))) {
		if (!c->cap)
			return;
		ep_cache_clear(c);
	}
	struct ep_slot *s = ep_cache_slot(c, key);
	if (s->key)
		return;
	s->key = strdup(key);
	if (!s->key)
		return;
	s->id = id;
	c->used++;
}

/* ---- writing one snapshot (writer thread) ------------------------------ */

/* SQLite rc of a statement run to completion; resets it for the next use. */
static int store_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The same for a statement whose every parameter is bound before each step
 * (endpoint_stats: one per row, 10,000 an interval): clearing them first
 * would only release what the next binds replace. */
static int store_step_bound(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The collector NUL-terminates; copying with a bound makes that true whatever it did. */
static void store_copy(char *dst, size_t cap, const char *src, size_t srcmax)
{
	size_t n = cap ? strnlen(src, srcmax < cap - 1 ? srcmax : cap - 1) : 0;

	if (!cap)
		return;
	memcpy(dst, src, n);      /* not snprintf("%.*s"): ~600 instructions a field */
	dst[n] = '\0';
}

/* Appends src (cut at max - 1 bytes, as store_copy() does) and a 0x1f
 * separator to key at k; returns the new length. */
static size_t store_key_put(char *key, size_t k, const char *src, size_t max)
{
	size_t n = strnlen(src, max - 1);
	memcpy(key + k, src, n);
	key[k + n] = '\x1f';
	return k + n + 1;
}

static void store_ep_bind(sqlite3_stmt *q, const char *const names[5])
{
	for (int i = 0; i < 5; i++)
		sqlite3_bind_text(q, i + 1, names[i], -1, SQLITE_STATIC);
}

/* SQLITE_OK with *id of a new endpoints row, SQLITE_CONSTRAINT when the
 * names are taken, or another error. */
static int store_ep_insert(struct store *st, const char *const names[5], sqlite3_int64 *id)
{
	store_ep_bind(st->ins_ep, names);
	int rc = store_step_done(st->ins_ep);
	if (rc == SQLITE_OK)
		*id = sqlite3_last_insert_rowid(st->db);
	return (rc & 0xff) == SQLITE_CONSTRAINT ? SQLITE_CONSTRAINT : rc;
}

/* SQLITE_OK with *id, SQLITE_DONE when no row has the names, or an error. */
static int store_ep_find(struct store *st, const char *const names[5], sqlite3_int64 *id)
{
	store_ep_bind(st->find_ep, names);
	int rc = sqlite3_step(st->find_ep);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st->find_ep, 0);
	sqlite3_reset(st->find_ep);
	sqlite3_clear_bindings(st->find_ep);
	return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/*
 * endpoints.id for host+method+route+protocol+target, inserting the row on
 * first sight. target NULL: the run watches one target, whose rows are ''
 * (shared with every earlier run, as before targets existed).
 */
static int store_endpoint_id(struct store *st, const char *host_in, const char *method_in,
			     const char *route_in, const char *proto_in, const char *target_in,
			     sqlite3_int64 *id)
{
	char host[HOST_MAX], method[METHOD_MAX], route[ROUTE_MAX], proto[PROTO_MAX];
	char target[TARGET_NAME_MAX];
	char key[STORE_KEY_MAX];

	/* the key by memcpy (five snprintf()s were most of a cached lookup) */
	size_t k = store_key_put(key, 0, host_in, HOST_MAX);
	k = store_key_put(key, k, method_in, METHOD_MAX);
	k = store_key_put(key, k, route_in, ROUTE_MAX);
	k = store_key_put(key, k, proto_in, PROTO_MAX);
	k = store_key_put(key, k, target_in ? target_in : "", TARGET_NAME_MAX);
	key[k - 1] = '\0';
	struct ep_slot *s = ep_cache_slot(&st->cache, key);
	if (s && s->key) {
		*id = s->id;
		return SQLITE_OK;
	}
	store_copy(host, sizeof(host), host_in, HOST_MAX);
	store_copy(method, sizeof(method), method_in, METHOD_MAX);
	store_copy(route, sizeof(route), route_in, ROUTE_MAX);
	store_copy(proto, sizeof(proto), proto_in, PROTO_MAX);
	store_copy(target, sizeof(target), target_in ? target_in : "", TARGET_NAME_MAX);
	const char *const names[5] = { host, method, route, proto, target };
	/*
	 * A DB that had no endpoints at open holds only the ones this run
	 * inserted, and those are cached: a miss is new, so insert first and
	 * look only if another writer took the name (the UNIQUE constraint
	 * says so). 10,000 new endpoints: one walk of the names' index each,
	 * not two. Otherwise look first: an earlier run likely has it.
	 */
	int rc = st->eps_new ? store_ep_insert(st, names, id) : SQLITE_CONSTRAINT;
	if (rc == SQLITE_CONSTRAINT) {
		rc = store_ep_find(st, names, id);
		if (rc == SQLITE_DONE && st->eps_new)
			rc = SQLITE_CONSTRAINT;      /* the insert failed on something else */
		else if (rc == SQLITE_DONE)
			rc = store_ep_insert(st, names, id);
	}
	if (rc == SQLITE_OK)
		ep_cache_put(&st->cache, key, *id);
	return rc;
}

/*
 * Upserts one intervals row. c[] holds the SNAP_NCOUNTERS values in the
 * counter table's order (the statement's). A row already there (a minute
 * row, or a clock that went back) is added to: counters summed, gauges and
 * dur_ms = max.
 */
static int store_put_interval(struct store *st, sqlite3_int64 session, sqlite3_int64 ts_ms,
			      sqlite3_int64 dur_ms, sqlite3_int64 requests, const sqlite3_int64 *c)
{
	sqlite3_stmt *q = st->put_interval;

	sqlite3_bind_int64(q, 1, session);
	sqlite3_bind_int64(q, 2, ts_ms);
	sqlite3_bind_int64(q, 3, dur_ms);
	sqlite3_bind_int64(q, 4, requests);
	for (int i = 0; i < SNAP_NCOUNTERS; i++)
		sqlite3_bind_int64(q, 5 + i, c[i]);
	return store_step_done(q);
}

static int store_write_interval(struct store *st, const struct snapshot *s)
{
	sqlite3_int64 cv[SNAP_NCOUNTERS];
	uint64_t requests = 0;

	for (size_t i = 0; i < s->n; i++)
		requests += s->eps[i].requests;
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++)
		cv[i] = store_i64(snap_counter_get(&s->c, i));
	return store_put_interval(st, st->session_id, store_i64(s->ts_ms), store_i64(s->dur_ms),
				  store_i64(requests), cv);
}

/*
 * Upserts one endpoint_stats row. v[] = requests, s1xx..s5xx, bytes_in,
 * bytes_out, lat_sum_us, lat_max_us, aborted. On conflict the row is added to
 * (histograms merged) and its p99 recomputed from the merged histogram.
 */
static int store_put_stat(struct store *st, sqlite3_int64 session, sqlite3_int64 ts_ms,
			  sqlite3_int64 dur_ms, sqlite3_int64 ep_id, const sqlite3_int64 *v,
			  const void *blob, int blen, sqlite3_int64 p99_us)
{
	sqlite3_stmt *q = st->put_stat;

	sqlite3_bind_int64(q, 1, session);
	sqlite3_bind_int64(q, 2, ts_ms);
	sqlite3_bind_int64(q, 3, dur_ms);
	sqlite3_bind_int64(q, 4, ep_id);
	for (int i = 0; i < 10; i++)
		sqlite3_bind_int64(q, 5 + i, v[i]);
	if (blob)
		sqlite3_bind_blob(q, 15, blob, blen, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 15);
	sqlite3_bind_int64(q, 16, p99_us);
	sqlite3_bind_int64(q, 17, v[10]);
	return store_step_bound(q);
}

static int store_write_endpoint(struct store *st, const struct snapshot *s,
				const struct ep_stats *e)
{
	sqlite3_int64 id = 0, v[11];

	int rc = store_endpoint_id(st, e->host, e->method, e->route, e->proto,
				   snapshot_row_target(s, e->target), &id);
	if (rc)
		return rc;
	v[0] = store_i64(e->requests);
	for (int k = 0; k < STATUS_CLASSES; k++)
		v[1 + k] = store_i64(e->status[k]);
	v[6] = store_i64(e->bytes_in);
	v[7] = store_i64(e->bytes_out);
	v[8] = store_i64(e->lat_sum_us);
	v[9] = store_i64(e->lat_max_us);
	v[10] = store_i64(e->aborted);
	size_t blen = hist_encode(&e->lat, st->blob, sizeof(st->blob));
	return store_put_stat(st, st->session_id, store_i64(s->ts_ms), store_i64(s->dur_ms), id,
			      v, st->blob, (int)blen, store_i64(hist_percentile(&e->lat, 0.99)));
}

/* One request-log row. The path is cut at '?' or '#' whatever the collector sent. */
static int store_write_request(struct store *st, const struct snapshot *snap,
			       const struct req_record *r)
{
	char path[ROUTE_MAX], client[CLIENT_MAX];
	sqlite3_int64 id = 0;
	sqlite3_stmt *q = st->ins_req;

	int rc = store_endpoint_id(st, r->host, r->method, r->route, r->proto,
				   snapshot_row_target(snap, r->target), &id);
	if (rc)
		return rc;
	store_copy(path, sizeof(path), r->path, ROUTE_MAX);
	path[strcspn(path, "?#")] = '\0';
	peer_text(&r->s.client, client, sizeof(client));
	sqlite3_bind_int64(q, 1, st->session_id);
	sqlite3_bind_int64(q, 2, store_i64(r->s.ts_ms));
	sqlite3_bind_int64(q, 3, id);
	sqlite3_bind_text(q, 4, path, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 5, r->s.status);
	sqlite3_bind_int64(q, 6, store_i64(r->s.lat_us));
	sqlite3_bind_int64(q, 7, store_i64(r->s.bytes_in));
	sqlite3_bind_int64(q, 8, store_i64(r->s.bytes_out));
	sqlite3_bind_text(q, 9, client, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 10, r->s.pid);
	if (r->s.grpc && r->s.grpc_status >= 0)
		sqlite3_bind_int(q, 11, r->s.grpc_status);
	return store_step_done(q);
}

/*
 * Runs fn in one write transaction: all of it or none. On failure the
 * transaction is rolled back, SQLite's reason copied to why (before the
 * rollback overwrites it) and the cache emptied (it may hold ids of endpoint
 * rows that the rollback removed). Returns a SQLite rc.
 */
static int store_txn(struct store *st, int (*fn)(struct store *, void *), void *ctx,
		     char *why, size_t whylen)
{
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = fn(st, ctx);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return SQLITE_OK;
	snprintf(why, whylen, "%s", sqlite3_errmsg(st->db));
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	ep_cache_clear(&st->cache);
	return rc;
}

static int store_write_fn(struct store *st, void *ctx)
{
	const struct snapshot *s = ctx;
	int rc = store_write_interval(st, s);
	for (size_t i = 0; rc == SQLITE_OK && i < s->n; i++)
		rc = store_write_endpoint(st, s, &s->eps[i]);
	for (size_t i = 0; rc == SQLITE_OK && i < s->nreqs; i++)
		rc = store_write_request(st, s, &s->reqs[i]);
	if (rc == SQLITE_OK)
		rc = store_upstream_write(st->up, st->session_id, s);
	for (size_t i = 0; rc == SQLITE_OK && i < s->nfolds; i++) {
		sqlite3_bind_text(st->ins_fold, 1, s->folds[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st->ins_fold, 2, store_i64(s->ts_ms + s->dur_ms));
		rc = store_step_done(st->ins_fold);
	}
	return rc;
}

static void store_note_locked(struct store *st, const char *text);

/*
 * Appends the waiting notes to the session row, in a statement of its own
 * right after an interval committed (so the DB works). On failure they are
 * put back in front of any added meanwhile, for the next round.
 */
static void store_write_notes(struct store *st)
{
	char text[sizeof(st->notes) + 32], later[sizeof(st->notes)];
	sqlite3_stmt *q = NULL;
	int rc;

	pthread_mutex_lock(&st->lock);
	if (st->notes_lost)
		snprintf(text, sizeof(text), "%s; +%lu more", st->notes, (unsigned long)st->notes_lost);
	else
		snprintf(text, sizeof(text), "%s", st->notes);
	st->notes[0] = '\0';
	st->notes_lost = 0;
	pthread_mutex_unlock(&st->lock);
	if (!text[0])
		return;
	rc = sqlite3_prepare_v2(st->db, "UPDATE sessions SET notes = coalesce(notes || '; ', '')"
				" || ?1 WHERE id = ?2", -1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, st->session_id);
		rc = store_step_done(q);
	}
	sqlite3_finalize(q);
	if (rc == SQLITE_OK)
		return;
	pthread_mutex_lock(&st->lock);
	snprintf(later, sizeof(later), "%s", st->notes);
	st->notes[0] = '\0';
	store_note_locked(st, text);
	if (later[0])
		store_note_locked(st, later);
	pthread_mutex_unlock(&st->lock);
}

/* ---- upkeep: rollup and retention (writer thread) ---------------------- */

/* A rollup group: one session, minute and endpoint. */
struct roll_group {
	sqlite3_int64 session, minute, ep_id;
	sqlite3_int64 v[11];            /* as store_put_stat() */
	void *hist;
	int hlen;
};

struct roll_ctx {
	sqlite3_int64 cutoff;           /* merge raw rows that start before this */
	sqlite3_int64 nivs;             /* raw intervals to take at most */
	bool more;                      /* out: raw intervals left before cutoff */
	uint64_t rolled;                /* out: raw endpoint rows merged */
};

static void roll_groups_free(struct roll_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].hist);
	free(g);
}

/* Reads the merged endpoint groups of [lo, hi]. SQLite rc; *out malloc'd. */
static int roll_load_stats(struct store *st, sqlite3_int64 lo, sqlite3_int64 hi,
			   struct roll_group **out, size_t *n, uint64_t *raw)
{
	sqlite3_stmt *q = st->roll_stats;
	struct roll_group *g = NULL;
	size_t len = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(q, 1, lo);
	sqlite3_bind_int64(q, 2, hi);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct roll_group *grown = realloc(g, ncap * sizeof(*g));
			if (!grown) {
				rc = SQLITE_NOMEM;
				break;
			}
			g = grown;
			cap = ncap;
		}
		struct roll_group *r = &g[len];
		r->session = sqlite3_column_int64(q, 0);
		r->minute = sqlite3_column_int64(q, 1);
		r->ep_id = sqlite3_column_int64(q, 2);
		for (int i = 0; i < 10; i++)
			r->v[i] = sqlite3_column_int64(q, 3 + i);
		r->hlen = sqlite3_column_bytes(q, 13);
		r->hist = NULL;
		if (r->hlen > 0) {
			r->hist = malloc((size_t)r->hlen);
			if (!r->hist) {
				rc = SQLITE_NOMEM;
				break;
			}
			memcpy(r->hist, sqlite3_column_blob(q, 13), (size_t)r->hlen);
		}
		*raw += (uint64_t)sqlite3_column_int64(q, 14);
		r->v[10] = sqlite3_column_int64(q, 15);
		len++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		roll_groups_free(g, len);
		return rc;
	}
	*out = g;
	*n = len;
	return SQLITE_OK;
}

/* p99 of a merged blob, clamped to the group's max (the blob has none). */
static sqlite3_int64 roll_p99(const void *blob, int len, sqlite3_int64 max_us)
{
	struct hist h;
	uint64_t p = 0;

	hist_init(&h);
	if (blob && !hist_decode_merge(&h, blob, (size_t)len)) {
		h.max = max_us > 0 ? (uint64_t)max_us : 0;
		p = hist_percentile(&h, 0.99);
	}
	hist_free(&h);
	return store_i64(p);
}

/* The per-minute sums of the raw intervals rows in [lo, hi], upserted after
 * the raw rows are gone (a raw row starting on the minute has the minute
 * row's key). */
static int roll_intervals(struct store *st, sqlite3_int64 lo, sqlite3_int64 hi)
{
	enum { W = 3 + SNAP_NCOUNTERS };   /* session, minute, requests, counters */
	sqlite3_stmt *q = st->roll_ivs;
	sqlite3_int64 (*rows)[W] = NULL;
	size_t len = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(q, 1, lo);
	sqlite3_bind_int64(q, 2, hi);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *grown = realloc(rows, ncap * sizeof(*rows));
			if (!grown) {
				rc = SQLITE_NOMEM;
				break;
			}
			rows = grown;
			cap = ncap;
		}
		for (int i = 0; i < W; i++)
			rows[len][i] = sqlite3_column_int64(q, i);
		len++;
	}
	sqlite3_reset(q);
	if (rc == SQLITE_DONE) {
		sqlite3_bind_int64(st->roll_del_ivs, 1, lo);
		sqlite3_bind_int64(st->roll_del_ivs, 2, hi);
		rc = store_step_done(st->roll_del_ivs);
	}
	for (size_t i = 0; rc == SQLITE_OK && i < len; i++)
		rc = store_put_interval(st, rows[i][0], rows[i][1], (sqlite3_int64)STORE_ROLLUP_STEP_MS,
					rows[i][2], &rows[i][3]);
	free(rows);
	return rc;
}

/*
 * One rollup step: the oldest raw intervals before the cutoff (at most
 * nivs of them, all sessions) and their endpoint rows become minute rows.
 */
static int store_rollup_fn(struct store *st, void *ctx)
{
	struct roll_ctx *rc_ = ctx;
	sqlite3_stmt *q = st->roll_find;
	sqlite3_int64 lo = 0, hi = 0, n = 0;
	struct roll_group *g = NULL;
	size_t ng = 0;
	int rc;

	sqlite3_bind_int64(q, 1, rc_->cutoff);
	sqlite3_bind_int64(q, 2, rc_->nivs);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		hi = sqlite3_column_int64(q, 0);
		if (!n++)
			lo = hi;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return rc;
	rc_->more = n == rc_->nivs;
	if (!n)
		return SQLITE_OK;
	rc = roll_load_stats(st, lo, hi, &g, &ng, &rc_->rolled);
	if (rc)
		return rc;
	sqlite3_bind_int64(st->roll_del_stats, 1, lo);
	sqlite3_bind_int64(st->roll_del_stats, 2, hi);
	rc = store_step_done(st->roll_del_stats);
	for (size_t i = 0; rc == SQLITE_OK && i < ng; i++)
		rc = store_put_stat(st, g[i].session, g[i].minute, (sqlite3_int64)STORE_ROLLUP_STEP_MS,
				    g[i].ep_id, g[i].v, g[i].hist, g[i].hlen,
				    roll_p99(g[i].hist, g[i].hlen, g[i].v[9]));
	roll_groups_free(g, ng);
	if (rc == SQLITE_OK)
		rc = roll_intervals(st, lo, hi);
	return rc;
}

struct retain_ctx {
	sqlite3_int64 cutoff;           /* delete rows that start before this */
	bool more;                      /* out: a delete hit its limit */
	uint64_t deleted;               /* out */
};

static int store_retain_fn(struct store *st, void *ctx)
{
	struct retain_ctx *r = ctx;
	sqlite3_stmt *const del[] = { st->ret_stats, st->ret_reqs, st->ret_ivs };

	for (size_t i = 0; i < sizeof(del) / sizeof(del[0]); i++) {
		sqlite3_bind_int64(del[i], 1, r->cutoff);
		sqlite3_bind_int64(del[i], 2, STORE_STEP_ROWS);
		int rc = store_step_done(del[i]);
		if (rc)
			return rc;
		int n = sqlite3_changes(st->db);
		r->deleted += (uint64_t)n;
		if (n >= STORE_STEP_ROWS)
			r->more = true;
	}
	int urc = store_upstream_retain(st->up, r->cutoff, STORE_STEP_ROWS, &r->more, &r->deleted);
	if (urc)
		return urc;
	sqlite3_bind_int64(st->ret_sessions, 1, r->cutoff);
	sqlite3_bind_int64(st->ret_sessions, 2, st->session_id);
	return store_step_done(st->ret_sessions);
}

static void store_upkeep_failed(struct store *st, const char *what, const char *why)
{
	pthread_mutex_lock(&st->lock);
	st->health.errors++;
	snprintf(st->health.last_error, sizeof(st->health.last_error),
		 "DB %s failed: %s", what, why);
	pthread_mutex_unlock(&st->lock);
}

/*
 * One bounded step of each kind of upkeep. Sets upkeep_more when either has
 * work left, so an idle writer keeps going; a failure stops both until the
 * next snapshot (a full disk must not spin).
 */
static void store_upkeep(struct store *st)
{
	struct roll_ctx roll = { 0 };
	struct retain_ctx ret = { 0 };
	uint64_t retention, rollup;
	bool more = false;
	char why[100];

	pthread_mutex_lock(&st->lock);
	retention = st->retention_ms;
	rollup = st->rollup_ms;
	bool stopping = st->stopping;
	/* Nothing written yet, nothing to keep up: wait for a snapshot (the
	 * writer spun here, a core's worth, from start to the first write). */
	if (!st->newest_ms)
		st->upkeep_more = false;
	pthread_mutex_unlock(&st->lock);
	if (stopping || !st->newest_ms)
		return;
	uint64_t t0 = store_mono_us();

	if (rollup && st->newest_ms > rollup + STORE_ROLLUP_STEP_MS) {
		roll.cutoff = store_i64((st->newest_ms - rollup) / STORE_ROLLUP_STEP_MS *
					STORE_ROLLUP_STEP_MS);
		uint64_t k = STORE_STEP_ROWS / (st->avg_rows ? st->avg_rows : 1);
		roll.nivs = k < 1 ? 1 : k > STORE_STEP_IVS_MAX ? STORE_STEP_IVS_MAX : (sqlite3_int64)k;
		if (store_txn(st, store_rollup_fn, &roll, why, sizeof(why))) {
			store_upkeep_failed(st, "rollup", why);
			goto out;
		}
		more = roll.more;
	}
	if (retention && st->newest_ms > retention &&
	    (st->upkeep_more || st->newest_ms - st->retained_at_ms >= STORE_RETAIN_EVERY)) {
		st->retained_at_ms = st->newest_ms;
		ret.cutoff = store_i64(st->newest_ms - retention);
		if (store_txn(st, store_retain_fn, &ret, why, sizeof(why))) {
			store_upkeep_failed(st, "retention", why);
			more = false;
			goto out;
		}
		more = more || ret.more;
	}
out:
	pthread_mutex_lock(&st->lock);
	st->health.rolled += roll.rolled;
	st->health.deleted += ret.deleted;
	st->health.upkeep_us_total += store_mono_us() - t0;
	st->upkeep_more = more;
	pthread_mutex_unlock(&st->lock);
}

/* ---- the writer thread ------------------------------------------------- */

/* The oldest queued snapshot, off the queue and its bytes (under lock, len > 0). */
static struct snapshot *queue_pop(struct store *st)
{
	struct snapshot *s = st->queue[st->head];

	st->health.queued_bytes -= st->qbytes[st->head];
	st->head = (st->head + 1) % STORE_QUEUE_MAX;
	st->len--;
	return s;
}

/*
 * Next snapshot to write; NULL with *done false when there is none but
 * upkeep has work left, NULL with *done true once stopping and drained.
 */
static struct snapshot *store_next(struct store *st, bool *done)
{
	struct snapshot *s = NULL;

	pthread_mutex_lock(&st->lock);
	while (!st->len && !st->stopping && !st->upkeep_more)
		pthread_cond_wait(&st->wake, &st->lock);
	if (st->len)
		s = queue_pop(st);
	*done = !s && st->stopping;
	pthread_mutex_unlock(&st->lock);
	return s;
}

/*
 * A failed snapshot is dropped, not retried: the next one is the retry, so a
 * full disk costs the intervals it lasts and memory stays bounded. Once
 * closing, a failure drops the rest too: with a DB held busy by someone
 * else, each write would wait STORE_BUSY_MS and exit would take minutes.
 */
/* ISO 8601 UTC, to the second, for notes. */
static void store_iso(uint64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "%lu ms", (unsigned long)ms);
}

/* Under lock. */
static void store_note_locked(struct store *st, const char *text)
{
	size_t used = strlen(st->notes), n = strlen(text);

	if (used + (used ? 2 : 0) + n >= sizeof(st->notes)) {
		st->notes_lost++;
		return;
	}
	snprintf(st->notes + used, sizeof(st->notes) - used, "%s%s", used ? "; " : "", text);
}

void store_note(struct store *st, const char *text)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	store_note_locked(st, text);
	pthread_mutex_unlock(&st->lock);
}

/* Under lock: a write outage began or ended with snapshot s. */
static void store_outage_track(struct store *st, int rc, const char *why, const struct snapshot *s)
{
	struct store_health *h = &st->health;
	char from[32], to[32], note[256];

	if (rc != SQLITE_OK) {
		if (h->outages == h->recoveries) {
			h->outages++;
			h->outage_lost = 0;
			st->outage_from_ms = s->ts_ms;
			snprintf(h->outage_why, sizeof(h->outage_why), "%s", why);
		}
		h->outage_lost++;
		return;
	}
	if (h->outages == h->recoveries)
		return;
	h->recoveries++;
	store_iso(st->outage_from_ms, from, sizeof(from));
	store_iso(s->ts_ms, to, sizeof(to));
	snprintf(note, sizeof(note), "DB writes failed from %s to %s (%s): %lu intervals not stored",
		 from, to, h->outage_why, (unsigned long)h->outage_lost);
	store_note_locked(st, note);
}

static void store_account(struct store *st, int rc, const char *why, uint64_t us,
			  const struct snapshot *s)
{
	pthread_mutex_lock(&st->lock);
	store_outage_track(st, rc, why, s);
	st->health.last_write_us = us;
	st->health.write_us_total += us;
	if (us > st->health.max_write_us)
		st->health.max_write_us = us;
	if (rc == SQLITE_OK) {
		st->health.written++;
		st->health.last_error[0] = '\0';
	} else {
		st->health.errors++;
		st->health.dropped++;
		snprintf(st->health.last_error, sizeof(st->health.last_error),
			 "DB write failed: %s — stats kept in memory", why);
	}
	while (rc != SQLITE_OK && st->stopping && st->len) {
		snapshot_free(queue_pop(st));
		st->health.dropped++;
	}
	pthread_mutex_unlock(&st->lock);
}

static void *store_thread(void *arg)
{
	struct store *st = arg;
	char why[100];                 /* fits last_error with the wording around it */
	bool done = false;

	while (!done) {
		struct snapshot *s = store_next(st, &done);
		if (s) {
			uint64_t t0 = store_mono_us();
			int rc = store_txn(st, store_write_fn, s, why, sizeof(why));
			store_account(st, rc, why, store_mono_us() - t0, s);
			if (rc == SQLITE_OK)
				store_write_notes(st);
			if (rc == SQLITE_OK) {
				uint64_t end = s->ts_ms + s->dur_ms;
				if (end > st->newest_ms)
					st->newest_ms = end;
				st->avg_rows = (st->avg_rows * 7 + s->n + 7) / 8;
			}
			snapshot_free(s);
			pthread_mutex_lock(&st->lock);
			st->finished++;
			pthread_cond_broadcast(&st->settled);
			pthread_mutex_unlock(&st->lock);
			if (rc != SQLITE_OK)
				continue;           /* no upkeep on a failing DB */
		}
		if (!done)
			store_upkeep(st);
	}
	return NULL;
}

/* ---- public API -------------------------------------------------------- */

void store_library_init(void)
{
	/* Best effort: SQLITE_MISUSE once SQLite has started, which only costs speed. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/*
 * The connection is opened without SQLite's mutex (SQLITE_OPEN_NOMUTEX: a
 * lock and unlock around every bind and step, ~5 % of the writer's time at
 * 10,000 rows per interval), so it must have one user at a time: the main
 * thread until the first snapshot (store_folds() reads there), the writer
 * from then until store_close() has joined it.
 */
static int store_start_writer(struct store *st)
{
	if (st->writer_started)
		return 0;
	int rc = -pthread_create(&st->thread, NULL, store_thread, st);
	if (rc) {
		pthread_mutex_lock(&st->lock);
		st->health.errors++;
		st->health.dropped++;
		snprintf(st->health.last_error, sizeof(st->health.last_error),
			 "cannot start the DB writer: %s", strerror(-rc));
		pthread_mutex_unlock(&st->lock);
		return rc;
	}
	st->writer_started = true;
	return 0;
}

int store_push(struct store *st, struct snapshot *snap)
{
	bool queued = false;
	size_t bytes;

	if (!snap)
		return -EINVAL;
	bytes = snapshot_bytes(snap);     /* outside the lock: a walk of the rows */
	int rc = store_start_writer(st);
	if (rc) {
		snapshot_free(snap);
		return rc;
	}
	pthread_mutex_lock(&st->lock);
	/* One snapshot is always taken, however large: the bound is on waiting. */
	if (!st->stopping && st->len < STORE_QUEUE_MAX &&
	    (!st->len || st->health.queued_bytes + bytes <= STORE_QUEUE_MAX_BYTES)) {
		size_t at = (st->head + st->len) % STORE_QUEUE_MAX;

		st->queue[at] = snap;
		st->qbytes[at] = bytes;
		st->health.queued_bytes += bytes;
		st->len++;
		st->pushed++;
		queued = true;
		pthread_cond_signal(&st->wake);
	} else {
		st->health.dropped++;
	}
	pthread_mutex_unlock(&st->lock);
	if (queued)
		return 0;
	snapshot_free(snap);
	return -EAGAIN;
}

void store_wait_written(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	while (st->finished < st->pushed)
		pthread_cond_wait(&st->settled, &st->lock);
	pthread_mutex_unlock(&st->lock);
}

void store_get_health(struct store *st, struct store_health *h)
{
	pthread_mutex_lock(&st->lock);
	*h = st->health;
	h->queued = st->len;
	pthread_mutex_unlock(&st->lock);
}

void store_set_retention(struct store *st, uint64_t retention_ms, uint64_t rollup_after_ms)
{
	if (rollup_after_ms && rollup_after_ms < STORE_ROLLUP_STEP_MS)
		rollup_after_ms = STORE_ROLLUP_STEP_MS;
	pthread_mutex_lock(&st->lock);
	st->retention_ms = retention_ms;
	st->rollup_ms = rollup_after_ms;
	st->upkeep_more = true;        /* look again at once */
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
}

/*
 * Creates the file with mode 0600 ourselves, because SQLite would use
 * 0644 & ~umask. SQLite gives -wal and -shm the mode of the main file, so
 * they are 0600 too; we do not touch the process-wide umask, which other
 * threads may be relying on.
 *
 * In WAL mode SQLite creates FILE-wal and FILE-shm beside the file, so a
 * directory we cannot write to is refused here, in words, rather than as
 * "unable to open database file" at the first write.
 */
static int store_create_file(const char *path, char *err, size_t errlen)
{
	/* No symlinks, and only a regular file of our own: root writing into
	 * a file someone else prepared (in /tmp, say) would hand them request
	 * paths and client addresses. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat st;
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "l7top: cannot open %s: %s", path,
			 e == ELOOP ? "it is a symbolic link" : strerror(e));
		return -e;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(fd);
		snprintf(err, errlen, "l7top: refusing %s: not a regular file owned by this user", path);
		return -EPERM;
	}
	close(fd);

	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (access(dir, W_OK | X_OK)) {
		int e = errno;
		snprintf(err, errlen, "l7top: cannot write to %s: directory %s: %s (the DB needs"
			 " its -wal and -shm files beside it)", path, dir, strerror(e));
		return -e;
	}
	return 0;
}

/*
 * The intervals upsert, one column per counter of the table: counters are
 * added to a row already there, gauges keep the larger level. coalesce():
 * rows written before a column existed hold NULL there.
 */
static char *store_put_interval_sql(void)
{
	sqlite3_str *q = sqlite3_str_new(NULL);

	sqlite3_str_appendall(q, "INSERT INTO intervals (session_id, ts_ms, dur_ms, requests");
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++)
		sqlite3_str_appendf(q, ", %s", snap_counter_defs[i].name);
	sqlite3_str_appendall(q, ") VALUES (?1, ?2, ?3, ?4");
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++)
		sqlite3_str_appendf(q, ", ?%d", (int)i + 5);
	sqlite3_str_appendall(q, ") ON CONFLICT (session_id, ts_ms) DO UPDATE SET"
			      " dur_ms = max(dur_ms, excluded.dur_ms),"
			      " requests = requests + excluded.requests");
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		const char *n = snap_counter_defs[i].name;
		if (snap_counter_defs[i].kind == SNAP_GAUGE)
			sqlite3_str_appendf(q, ", %s = max(coalesce(%s, 0), excluded.%s)", n, n, n);
		else
			sqlite3_str_appendf(q, ", %s = coalesce(%s, 0) + excluded.%s", n, n, n);
	}
	return sqlite3_str_finish(q);
}

/* Per-minute sums of raw intervals rows, columns as store_put_interval()'s
 * after session, minute and requests. */
static char *store_roll_intervals_sql(void)
{
	sqlite3_str *q = sqlite3_str_new(NULL);

	sqlite3_str_appendall(q, "SELECT session_id, ts_ms / 60000 * 60000 AS m, sum(requests)");
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++)
		sqlite3_str_appendf(q, ", %s(%s)", snap_counter_defs[i].kind == SNAP_GAUGE
				    ? "max" : "sum", snap_counter_defs[i].name);
	sqlite3_str_appendall(q, " FROM intervals WHERE ts_ms >= ?1 AND ts_ms <= ?2"
			      " AND dur_ms < 60000 GROUP BY session_id, m");
	return sqlite3_str_finish(q);
}

/* No endpoints row yet; false when that cannot be read (then looking first
 * is the safe order). */
static bool store_endpoints_empty(sqlite3 *db)
{
	sqlite3_stmt *q;
	int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM endpoints LIMIT 1", -1, &q, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE;
}

static int store_prepare(struct store *st)
{
	char *put_interval = store_put_interval_sql(), *roll_ivs = store_roll_intervals_sql();
	static const char put_stat[] =
		"INSERT INTO endpoint_stats (session_id, ts_ms, dur_ms, endpoint_id, requests,"
		" s1xx, s2xx, s3xx, s4xx, s5xx, bytes_in, bytes_out, lat_sum_us, lat_max_us, hist, p99_us,"
		" aborted) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"
		" ON CONFLICT (ts_ms, session_id, endpoint_id) DO UPDATE SET"
		" dur_ms = max(dur_ms, excluded.dur_ms), requests = requests + excluded.requests,"
		" s1xx = s1xx + excluded.s1xx, s2xx = s2xx + excluded.s2xx, s3xx = s3xx + excluded.s3xx,"
		" s4xx = s4xx + excluded.s4xx, s5xx = s5xx + excluded.s5xx,"
		" aborted = aborted + excluded.aborted,"
		" bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out,"
		" lat_sum_us = lat_sum_us + excluded.lat_sum_us,"
		" lat_max_us = max(lat_max_us, excluded.lat_max_us),"
		" hist = hist_merge(hist, excluded.hist),"
		" p99_us = min(hist_quantile(hist_merge(hist, excluded.hist), 0.99),"
		"              max(lat_max_us, excluded.lat_max_us))";
	static const char find_ep[] =
		"SELECT id FROM endpoints WHERE host = ?1 AND method = ?2 AND route = ?3"
		" AND protocol = ?4 AND target = ?5";
	static const char ins_ep[] =
		"INSERT INTO endpoints (host, method, route, protocol, target)"
		" VALUES (?1, ?2, ?3, ?4, ?5)";
	static const char ins_req[] =
		"INSERT INTO requests (session_id, ts_ms, endpoint_id, path, status, latency_us,"
		" bytes_in, bytes_out, client, pid, grpc_status)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)";
	static const char ins_fold[] =
		"INSERT OR IGNORE INTO folds (prefix, learned_ms) VALUES (?1, ?2)";
	static const char roll_find[] =
		"SELECT ts_ms FROM intervals WHERE dur_ms < 60000 AND ts_ms < ?1"
		" ORDER BY ts_ms LIMIT ?2";
	static const char roll_stats[] =
		"SELECT session_id, ts_ms / 60000 * 60000 AS m, endpoint_id, sum(requests),"
		" sum(s1xx), sum(s2xx), sum(s3xx), sum(s4xx), sum(s5xx), sum(bytes_in), sum(bytes_out),"
		" sum(lat_sum_us), max(lat_max_us), hist_merge(hist), count(*), sum(aborted)"
		" FROM endpoint_stats WHERE ts_ms >= ?1 AND ts_ms <= ?2 AND dur_ms < 60000"
		" GROUP BY session_id, m, endpoint_id";
	static const char roll_del_stats[] =
		"DELETE FROM endpoint_stats WHERE ts_ms >= ?1 AND ts_ms <= ?2 AND dur_ms < 60000";
	static const char roll_del_ivs[] =
		"DELETE FROM intervals WHERE ts_ms >= ?1 AND ts_ms <= ?2 AND dur_ms < 60000";
	static const char ret_stats[] =
		"DELETE FROM endpoint_stats WHERE (ts_ms, session_id, endpoint_id) IN"
		" (SELECT ts_ms, session_id, endpoint_id FROM endpoint_stats WHERE ts_ms < ?1"
		"  ORDER BY ts_ms LIMIT ?2)";
	static const char ret_reqs[] =
		"DELETE FROM requests WHERE id IN"
		" (SELECT id FROM requests WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)";
	static const char ret_ivs[] =
		"DELETE FROM intervals WHERE rowid IN"
		" (SELECT rowid FROM intervals WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)";
	static const char ret_sessions[] =
		"DELETE FROM sessions WHERE id <> ?2 AND coalesce(ended_ms, started_ms) < ?1"
		" AND NOT EXISTS (SELECT 1 FROM intervals i WHERE i.session_id = sessions.id)";
	const struct { const char *sql; sqlite3_stmt **st; } stmts[] = {
		{ put_interval, &st->put_interval }, { put_stat, &st->put_stat },
		{ find_ep, &st->find_ep }, { ins_ep, &st->ins_ep }, { ins_req, &st->ins_req },
		{ ins_fold, &st->ins_fold }, { roll_find, &st->roll_find }, { roll_stats, &st->roll_stats },
		{ roll_ivs, &st->roll_ivs }, { roll_del_stats, &st->roll_del_stats },
		{ roll_del_ivs, &st->roll_del_ivs }, { ret_stats, &st->ret_stats },
		{ ret_reqs, &st->ret_reqs }, { ret_ivs, &st->ret_ivs },
		{ ret_sessions, &st->ret_sessions },
	};

	int rc = put_interval && roll_ivs ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < sizeof(stmts) / sizeof(stmts[0]); i++)
		if (sqlite3_prepare_v3(st->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
				       stmts[i].st, NULL))
			rc = -EIO;
	sqlite3_free(put_interval);
	sqlite3_free(roll_ivs);
	if (!rc && !(st->up = store_upstream_new(st->db)))
		rc = -EIO;
	return rc;
}

static int store_insert_session(struct store *st, const struct run_info *sess)
{
	static const char sql[] =
		"INSERT INTO sessions (started_ms, target, pids, version, settings, capture, targets)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL))
		return -EIO;
	sqlite3_bind_int64(q, 1, store_i64(sess ? sess->started_ms : 0));
	if (sess) {
		sqlite3_bind_text(q, 2, sess->cmdline, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, sess->pids, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, sess->version, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, sess->settings, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, sess->capture, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 7, sess->target, -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return -EIO;
	st->session_id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

/* A SQLite failure during setup → -errno and one line. */
static int store_setup_error(struct store *st, char *err, size_t errlen)
{
	int code = sqlite3_errcode(st->db) & 0xff, e = sqlite3_system_errno(st->db);
	const char *msg = sqlite3_errmsg(st->db);

	switch (code) {
	case SQLITE_FULL:
		snprintf(err, errlen, "l7top: DB %s: disk full (%s)", st->path, msg);
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		snprintf(err, errlen, "l7top: DB %s cannot be written: %s", st->path,
			 e ? strerror(e) : msg);
		return e == EROFS ? -EROFS : -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		snprintf(err, errlen, "l7top: DB %s is corrupt (%s): move it away or use"
			 " another --db", st->path, msg);
		return -EINVAL;
	}
	snprintf(err, errlen, "l7top: DB %s: %s", st->path, msg);
	return -EIO;
}

/* Identify before WAL: a foreign DB must be left exactly as it was. */
static int store_setup(struct store *st, const struct run_info *sess,
		       char *err, size_t errlen)
{
	int version, rc;

	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	if (schema_register_functions(st->db))
		return store_setup_error(st, err, errlen);
	rc = schema_identify(st->db, st->path, &version, err, errlen);
	if (rc)
		return rc;
	/*
	 * foreign_keys stays off (SQLite's default) on this connection: every
	 * child row it writes carries an id it has just read from or inserted
	 * into endpoints or upstreams, and nothing deletes a parent row, so the
	 * check per row (a B-tree search, ~5 % of the writer's time at 10,000
	 * endpoints) could never fail. PRAGMA foreign_key_check still audits.
	 */
	char *sql = sqlite3_mprintf("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
				    " PRAGMA temp_store = MEMORY; PRAGMA cache_size = -%d;"
				    " PRAGMA journal_size_limit = %d;", STORE_PAGE_CACHE_KB,
				    STORE_WAL_LIMIT);
	rc = sql ? sqlite3_exec(st->db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
	sqlite3_free(sql);
	if (rc)
		return store_setup_error(st, err, errlen);
	if (version < STORE_SCHEMA_VERSION) {
		rc = schema_migrate(st->db, st->path, err, errlen);
		if (rc) {
			int code = sqlite3_errcode(st->db) & 0xff;
			return code == SQLITE_FULL ? -ENOSPC : rc;
		}
	}
	rc = schema_add_counter_columns(st->db, st->path, err, errlen);
	if (rc)
		return (sqlite3_errcode(st->db) & 0xff) == SQLITE_FULL ? -ENOSPC : rc;
	if (store_prepare(st) || store_insert_session(st, sess))
		return store_setup_error(st, err, errlen);
	st->eps_new = store_endpoints_empty(st->db);
	return 0;
}

static void store_free(struct store *st)
{
	sqlite3_stmt *const all[] = {
		st->put_interval, st->put_stat, st->find_ep, st->ins_ep, st->ins_req, st->ins_fold,
		st->roll_find, st->roll_stats, st->roll_ivs, st->roll_del_stats, st->roll_del_ivs,
		st->ret_stats, st->ret_reqs, st->ret_ivs, st->ret_sessions,
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sqlite3_finalize(all[i]);
	store_upstream_free(st->up);
	sqlite3_close(st->db);
	ep_cache_free(&st->cache);
	pthread_cond_destroy(&st->wake);
	pthread_cond_destroy(&st->settled);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

int store_open(struct store **out, const char *path, const struct run_info *sess,
	       char *err, size_t errlen)
{
	struct store *st;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(path))) {
		free(st);
		snprintf(err, errlen, "l7top: cannot open %s: out of memory", path);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->wake, NULL);
	pthread_cond_init(&st->settled, NULL);
	st->retention_ms = STORE_RETENTION_DEFAULT_MS;
	st->rollup_ms = STORE_ROLLUP_DEFAULT_MS;
	rc = store_create_file(path, err, errlen);
	if (rc)
		goto fail;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = store_setup_error(st, err, errlen);
		goto fail;
	}
	rc = store_setup(st, sess, err, errlen);
	if (rc)
		goto fail;
	*out = st;
	return 0;
fail:
	store_free(st);
	return rc;
}

static void store_end_session(struct store *st, uint64_t ended_ms)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(st->db, "UPDATE sessions SET ended_ms = ?1 WHERE id = ?2",
			       -1, &q, NULL))
		return;
	sqlite3_bind_int64(q, 1, store_i64(ended_ms));
	sqlite3_bind_int64(q, 2, st->session_id);
	sqlite3_step(q);            /* best effort: a NULL ended_ms reads as "crashed" */
	sqlite3_finalize(q);
}

int store_folds(struct store *st, void (*fn)(void *ctx, const char *prefix), void *ctx)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if (st->writer_started)
		return -EBUSY;          /* the connection is the writer's now */
	pthread_mutex_lock(&st->lock);
	rc = sqlite3_prepare_v2(st->db, "SELECT prefix FROM folds ORDER BY learned_ms, prefix", -1,
				&q, NULL);
	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(q)) == SQLITE_ROW)
			if (sqlite3_column_type(q, 0) == SQLITE_TEXT)
				fn(ctx, (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	pthread_mutex_unlock(&st->lock);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

void store_close(struct store *st, uint64_t ended_ms)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	if (st->writer_started)
		pthread_join(st->thread, NULL);  /* the writer drains the queue first */
	store_write_notes(st);               /* best effort, like the end time */
	store_end_session(st, ended_ms);
	store_free(st);
}

/* ---- as a sink ------------------------------------------------------------ */

static int store_sink_push(void *self, struct snapshot *s, const struct run_info *run)
{
	(void)run;
	store_push(self, snapshot_hold(s));   /* -EAGAIN is counted in health.dropped */
	return 0;
}

static void store_sink_health(void *self, struct sink_health *h)
{
	struct store *st = self;
	struct store_health sh;

	store_get_health(st, &sh);
	snprintf(st->sink_error, sizeof(st->sink_error), "%s", sh.last_error);
	h->error = st->sink_error;
	h->dropped = sh.dropped;
}

static void store_sink_close(void *self, const struct run_info *run)
{
	store_close(self, run->now_ms);
}

static const struct sink_ops store_sink_ops = {
	.name = "db",
	.per_host = true,
	.push = store_sink_push,
	.health = store_sink_health,
	.close = store_sink_close,
};

struct sink store_sink(struct store *st)
{
	return (struct sink){ .ops = &store_sink_ops, .self = st };
}
