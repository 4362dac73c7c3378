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
#include <unistd.h>

#include <sqlite3.h>

#include "storage/schema.h"

#define STORE_BUSY_MS    5000     /* wait this long for a `l7top query` or sqlite3 shell */
#define STORE_CACHE_MAX  4096     /* endpoint ids remembered; cleared when full */

/*
 * method+route → endpoints.id, owned by the writer thread. Open addressing
 * over a power-of-two table; it is only a cache, so it is simply emptied
 * when full or when a transaction that may have added ids rolls back.
 */
struct ep_slot {
	char *route;                  /* NULL = empty slot */
	char method[METHOD_MAX];
	sqlite3_int64 id;
};

struct ep_cache {
	struct ep_slot slot[STORE_CACHE_MAX * 2];
	size_t used;
};

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_int64 session_id;
	pthread_t thread;

	/* Shared with store_push()/store_get_health(); under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct snapshot *queue[STORE_QUEUE_MAX];   /* ring */
	size_t head, len;
	bool stopping;
	struct store_health health;

	/* Writer thread only (and store_open/store_close around it). */
	sqlite3_stmt *ins_interval, *ins_stat, *find_ep, *ins_ep;
	uint8_t blob[HIST_ENCODED_MAX];
	struct ep_cache cache;
};

static sqlite3_int64 store_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

/* ---- endpoint id cache ------------------------------------------------- */

static size_t ep_cache_hash(const char *method, const char *route)
{
	uint64_t h = 1469598103934665603ULL;          /* FNV-1a */
	for (const char *p = method; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;            /* separator no method holds */
	for (const char *p = route; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot holding method+route, or the empty slot where it would go. */
static struct ep_slot *ep_cache_slot(struct ep_cache *c, const char *method, const char *route)
{
	const size_t mask = STORE_CACHE_MAX * 2 - 1;
	size_t i = ep_cache_hash(method, route) & mask;

	/* At most half full, so an empty slot always ends the probe. */
	for (;; i = (i + 1) & mask) {
		struct ep_slot *s = &c->slot[i];
		if (!s->route || (!strcmp(s->route, route) && !strcmp(s->method, method)))
			return s;
	}
}

static void ep_cache_clear(struct ep_cache *c)
{
	for (size_t i = 0; i < STORE_CACHE_MAX * 2; i++) {
		free(c->slot[i].route);
		c->slot[i].route = NULL;
	}
	c->used = 0;
}

/* Remembering is best effort: on ENOMEM the id is just looked up again. */
static void ep_cache_put(struct ep_cache *c, const char *method, const char *route,
			 sqlite3_int64 id)
{
	if (c->used >= STORE_CACHE_MAX)
		ep_cache_clear(c);
	struct ep_slot *s = ep_cache_slot(c, method, route);
	if (s->route)
		return;
	s->route = strdup(route);
	if (!s->route)
		return;
	snprintf(s->method, sizeof(s->method), "%s", method);
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

/* endpoints.id for method+route, inserting the row on first sight. */
static int store_endpoint_id(struct store *st, const char *method, const char *route,
			     sqlite3_int64 *id)
{
	struct ep_slot *s = ep_cache_slot(&st->cache, method, route);
	if (s->route) {
		*id = s->id;
		return SQLITE_OK;
	}
	sqlite3_bind_text(st->find_ep, 1, method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->find_ep, 2, route, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st->find_ep);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st->find_ep, 0);
	sqlite3_reset(st->find_ep);
	sqlite3_clear_bindings(st->find_ep);
	if (rc == SQLITE_DONE) {
		sqlite3_bind_text(st->ins_ep, 1, method, -1, SQLITE_STATIC);
		sqlite3_bind_text(st->ins_ep, 2, route, -1, SQLITE_STATIC);
		rc = store_step_done(st->ins_ep);
		*id = sqlite3_last_insert_rowid(st->db);
	} else if (rc == SQLITE_ROW) {
		rc = SQLITE_OK;
	}
	if (rc == SQLITE_OK)
		ep_cache_put(&st->cache, method, route, *id);
	return rc;
}

static int store_write_interval(struct store *st, const struct snapshot *s)
{
	const struct snap_counters *c = &s->c;
	const uint64_t v[] = {
		c->packets, c->kernel_drops, c->parse_errors, c->unpaired, c->reasm_gaps,
		c->conn_overflow, c->ep_overflow, c->pending_overflow, c->conns_open,
	};
	sqlite3_stmt *q = st->ins_interval;
	uint64_t requests = 0;

	for (size_t i = 0; i < s->n; i++)
		requests += s->eps[i].requests;
	sqlite3_bind_int64(q, 1, st->session_id);
	sqlite3_bind_int64(q, 2, store_i64(s->ts_ms));
	sqlite3_bind_int64(q, 3, store_i64(s->dur_ms));
	sqlite3_bind_int64(q, 4, store_i64(requests));
	for (int i = 0; i < (int)(sizeof(v) / sizeof(v[0])); i++)
		sqlite3_bind_int64(q, 5 + i, store_i64(v[i]));
	return store_step_done(q);
}

static int store_write_endpoint(struct store *st, const struct snapshot *s,
				const struct ep_stats *e)
{
	char method[METHOD_MAX], route[ROUTE_MAX];
	sqlite3_int64 id = 0;
	sqlite3_stmt *q = st->ins_stat;

	/* The collector NUL-terminates; copying makes that true whatever it did. */
	snprintf(method, sizeof(method), "%.*s", (int)strnlen(e->method, METHOD_MAX), e->method);
	snprintf(route, sizeof(route), "%.*s", (int)strnlen(e->route, ROUTE_MAX), e->route);
	int rc = store_endpoint_id(st, method, route, &id);
	if (rc)
		return rc;
	size_t blen = hist_encode(&e->lat, st->blob, sizeof(st->blob));
	sqlite3_bind_int64(q, 1, st->session_id);
	sqlite3_bind_int64(q, 2, store_i64(s->ts_ms));
	sqlite3_bind_int64(q, 3, store_i64(s->dur_ms));
	sqlite3_bind_int64(q, 4, id);
	sqlite3_bind_int64(q, 5, store_i64(e->requests));
	for (int k = 0; k < STATUS_CLASSES; k++)
		sqlite3_bind_int64(q, 6 + k, store_i64(e->status[k]));
	sqlite3_bind_int64(q, 11, store_i64(e->bytes_in));
	sqlite3_bind_int64(q, 12, store_i64(e->bytes_out));
	sqlite3_bind_int64(q, 13, store_i64(e->lat_sum_us));
	sqlite3_bind_int64(q, 14, store_i64(e->lat_max_us));
	sqlite3_bind_blob(q, 15, st->blob, (int)blen, SQLITE_STATIC);
	return store_step_done(q);
}

/*
 * One snapshot, one transaction: all of it or none. On failure the
 * transaction is rolled back, SQLite's reason copied to why (before the
 * rollback overwrites it) and the cache emptied (it may hold ids of endpoint
 * rows that the rollback removed). Returns a SQLite rc.
 */
static int store_write(struct store *st, const struct snapshot *s, char *why, size_t whylen)
{
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = store_write_interval(st, s);
	for (size_t i = 0; rc == SQLITE_OK && i < s->n; i++)
		rc = store_write_endpoint(st, s, &s->eps[i]);
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

/* ---- the writer thread ------------------------------------------------- */

/* Next snapshot to write, or NULL once stopping and drained. */
static struct snapshot *store_next(struct store *st)
{
	struct snapshot *s = NULL;

	pthread_mutex_lock(&st->lock);
	while (!st->len && !st->stopping)
		pthread_cond_wait(&st->wake, &st->lock);
	if (st->len) {
		s = st->queue[st->head];
		st->head = (st->head + 1) % STORE_QUEUE_MAX;
		st->len--;
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

/*
 * A failed snapshot is dropped, not retried: the next one is the retry, so a
 * full disk costs the intervals it lasts and memory stays bounded. Once
 * closing, a failure drops the rest too: with a DB held busy by someone
 * else, each write would wait STORE_BUSY_MS and exit would take minutes.
 */
static void store_account(struct store *st, int rc, const char *why)
{
	pthread_mutex_lock(&st->lock);
	if (rc == SQLITE_OK) {
		st->health.written++;
		st->health.last_error[0] = '\0';
	} else {
		st->health.errors++;
		st->health.dropped++;
		snprintf(st->health.last_error, sizeof(st->health.last_error),
			 "DB write failed: %s — stats kept in memory", why);
	}
	for (; rc != SQLITE_OK && st->stopping && st->len; st->len--) {
		snapshot_free(st->queue[st->head]);
		st->head = (st->head + 1) % STORE_QUEUE_MAX;
		st->health.dropped++;
	}
	pthread_mutex_unlock(&st->lock);
}

static void *store_thread(void *arg)
{
	struct store *st = arg;
	struct snapshot *s;
	char why[100];                 /* fits last_error with the wording around it */

	while ((s = store_next(st))) {
		int rc = store_write(st, s, why, sizeof(why));
		store_account(st, rc, why);
		snapshot_free(s);
	}
	return NULL;
}

/* ---- public API -------------------------------------------------------- */

int store_push(struct store *st, struct snapshot *snap)
{
	bool queued = false;

	if (!snap)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (!st->stopping && st->len < STORE_QUEUE_MAX) {
		st->queue[(st->head + st->len) % STORE_QUEUE_MAX] = snap;
		st->len++;
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

void store_get_health(struct store *st, struct store_health *h)
{
	pthread_mutex_lock(&st->lock);
	*h = st->health;
	h->queued = st->len;
	pthread_mutex_unlock(&st->lock);
}

/*
 * Creates the file with mode 0600 ourselves, because SQLite would use
 * 0644 & ~umask. SQLite gives -wal and -shm the mode of the main file, so
 * they are 0600 too; we do not touch the process-wide umask, which other
 * threads may be relying on.
 */
static int store_create_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "l7top: cannot open %s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

static int store_prepare(struct store *st)
{
	static const char ins_interval[] =
		"INSERT INTO intervals (session_id, ts_ms, dur_ms, requests, packets, kernel_drops,"
		" parse_errors, unpaired, reasm_gaps, conn_overflow, ep_overflow, pending_overflow,"
		" conns_open) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)";
	static const char ins_stat[] =
		"INSERT INTO endpoint_stats (session_id, ts_ms, dur_ms, endpoint_id, requests,"
		" s1xx, s2xx, s3xx, s4xx, s5xx, bytes_in, bytes_out, lat_sum_us, lat_max_us, hist)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)";
	static const char find_ep[] = "SELECT id FROM endpoints WHERE method = ?1 AND route = ?2";
	static const char ins_ep[] = "INSERT INTO endpoints (method, route) VALUES (?1, ?2)";
	const int f = SQLITE_PREPARE_PERSISTENT;

	if (sqlite3_prepare_v3(st->db, ins_interval, -1, f, &st->ins_interval, NULL) ||
	    sqlite3_prepare_v3(st->db, ins_stat, -1, f, &st->ins_stat, NULL) ||
	    sqlite3_prepare_v3(st->db, find_ep, -1, f, &st->find_ep, NULL) ||
	    sqlite3_prepare_v3(st->db, ins_ep, -1, f, &st->ins_ep, NULL))
		return -EIO;
	return 0;
}

static int store_insert_session(struct store *st, const struct store_session *sess)
{
	static const char sql[] =
		"INSERT INTO sessions (started_ms, target, pids, version, settings)"
		" VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL))
		return -EIO;
	sqlite3_bind_int64(q, 1, store_i64(sess ? sess->started_ms : 0));
	if (sess) {
		sqlite3_bind_text(q, 2, sess->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, sess->pids, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, sess->version, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, sess->settings, -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return -EIO;
	st->session_id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

/* Identify before WAL: a foreign DB must be left exactly as it was. */
static int store_setup(struct store *st, const struct store_session *sess,
		       char *err, size_t errlen)
{
	int version, rc;

	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	if (schema_register_functions(st->db))
		goto sql_fail;
	rc = schema_identify(st->db, st->path, &version, err, errlen);
	if (rc)
		return rc;
	if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 " PRAGMA foreign_keys = ON;", NULL, NULL, NULL))
		goto sql_fail;
	if (version < STORE_SCHEMA_VERSION) {
		rc = schema_migrate(st->db, st->path, err, errlen);
		if (rc)
			return rc;
	}
	if (store_prepare(st) || store_insert_session(st, sess))
		goto sql_fail;
	return 0;
sql_fail:
	snprintf(err, errlen, "l7top: DB %s: %s", st->path, sqlite3_errmsg(st->db));
	return -EIO;
}

static void store_free(struct store *st)
{
	sqlite3_finalize(st->ins_interval);
	sqlite3_finalize(st->ins_stat);
	sqlite3_finalize(st->find_ep);
	sqlite3_finalize(st->ins_ep);
	sqlite3_close(st->db);
	ep_cache_clear(&st->cache);
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

int store_open(struct store **out, const char *path, const struct store_session *sess,
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
	rc = store_create_file(path, err, errlen);
	if (rc)
		goto fail;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "l7top: cannot open %s: %s", path, sqlite3_errmsg(st->db));
		rc = -EIO;
		goto fail;
	}
	rc = store_setup(st, sess, err, errlen);
	if (rc)
		goto fail;
	rc = -pthread_create(&st->thread, NULL, store_thread, st);
	if (rc) {
		snprintf(err, errlen, "l7top: cannot start the DB writer: %s", strerror(-rc));
		goto fail;
	}
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

void store_close(struct store *st, uint64_t ended_ms)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);      /* the writer drains the queue first */
	store_end_session(st, ended_ms);
	store_free(st);
}
