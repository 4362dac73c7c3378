// SPDX-License-Identifier: MIT
#include "storage/store_upstream.h"

#include <stdlib.h>
#include <string.h>

#include "collector/hist.h"

struct store_upstream {
	sqlite3 *db;
	sqlite3_stmt *find, *ins, *put_stat, *put_route, *put_links;
	sqlite3_stmt *ret[3];
	uint8_t blob[4][HIST_ENCODED_MAX];
};

static sqlite3_int64 i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static int step_done(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

struct store_upstream *store_upstream_new(sqlite3 *db)
{
	static const char find[] = "SELECT id FROM upstreams WHERE name = ?1";
	static const char ins[] = "INSERT INTO upstreams (name) VALUES (?1)";
	/* A second row for the same key (the last interval of a run closing at
	 * the same ms) adds to the first. */
	static const char put_stat[] =
		"INSERT INTO upstream_stats (session_id, ts_ms, dur_ms, upstream_id, requests, s1xx,"
		" s2xx, s3xx, s4xx, s5xx, no_answer, connect_failed, bytes_sent, bytes_received,"
		" lat_max_us, hist, connects, connects_unseen, connect_hist, reused, conns_open)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)"
		" ON CONFLICT (ts_ms, session_id, upstream_id) DO UPDATE SET"
		" requests = requests + excluded.requests, s1xx = s1xx + excluded.s1xx,"
		" s2xx = s2xx + excluded.s2xx, s3xx = s3xx + excluded.s3xx, s4xx = s4xx + excluded.s4xx,"
		" s5xx = s5xx + excluded.s5xx, no_answer = no_answer + excluded.no_answer,"
		" connect_failed = connect_failed + excluded.connect_failed,"
		" bytes_sent = bytes_sent + excluded.bytes_sent,"
		" bytes_received = bytes_received + excluded.bytes_received,"
		" lat_max_us = max(lat_max_us, excluded.lat_max_us), hist = hist_merge(hist, excluded.hist),"
		" connects = connects + excluded.connects,"
		" connects_unseen = connects_unseen + excluded.connects_unseen,"
		" connect_hist = hist_merge(connect_hist, excluded.connect_hist),"
		" reused = reused + excluded.reused, conns_open = max(conns_open, excluded.conns_open)";
	static const char put_route[] =
		"INSERT INTO upstream_route_stats (session_id, ts_ms, dur_ms, upstream_id, method, route,"
		" calls, s1xx, s2xx, s3xx, s4xx, s5xx, no_answer, lat_max_us, hist, inbound, before_hist,"
		" upstream_hist, after_hist)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
		" ON CONFLICT (ts_ms, session_id, upstream_id, method, route) DO UPDATE SET"
		" calls = calls + excluded.calls, s1xx = s1xx + excluded.s1xx, s2xx = s2xx + excluded.s2xx,"
		" s3xx = s3xx + excluded.s3xx, s4xx = s4xx + excluded.s4xx, s5xx = s5xx + excluded.s5xx,"
		" no_answer = no_answer + excluded.no_answer,"
		" lat_max_us = max(lat_max_us, excluded.lat_max_us), hist = hist_merge(hist, excluded.hist),"
		" inbound = inbound + excluded.inbound,"
		" before_hist = hist_merge(before_hist, excluded.before_hist),"
		" upstream_hist = hist_merge(upstream_hist, excluded.upstream_hist),"
		" after_hist = hist_merge(after_hist, excluded.after_hist)";
	static const char put_links[] =
		"INSERT INTO upstream_links (session_id, ts_ms, linked, by_order, unlinked, inbound_linked,"
		" overflow) VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT (ts_ms, session_id) DO UPDATE SET"
		" linked = linked + excluded.linked, by_order = by_order + excluded.by_order,"
		" unlinked = unlinked + excluded.unlinked,"
		" inbound_linked = inbound_linked + excluded.inbound_linked,"
		" overflow = overflow + excluded.overflow";
	static const char *const ret[3] = {
		"DELETE FROM upstream_stats WHERE (ts_ms, session_id, upstream_id) IN"
		" (SELECT ts_ms, session_id, upstream_id FROM upstream_stats WHERE ts_ms < ?1"
		"  ORDER BY ts_ms LIMIT ?2)",
		"DELETE FROM upstream_route_stats WHERE (ts_ms, session_id, upstream_id, method, route) IN"
		" (SELECT ts_ms, session_id, upstream_id, method, route FROM upstream_route_stats"
		"  WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)",
		"DELETE FROM upstream_links WHERE (ts_ms, session_id) IN"
		" (SELECT ts_ms, session_id FROM upstream_links WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)",
	};
	struct store_upstream *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->db = db;
	const struct { const char *sql; sqlite3_stmt **q; } stmts[] = {
		{ find, &u->find }, { ins, &u->ins }, { put_stat, &u->put_stat },
		{ put_route, &u->put_route }, { put_links, &u->put_links },
		{ ret[0], &u->ret[0] }, { ret[1], &u->ret[1] }, { ret[2], &u->ret[2] },
	};
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		if (sqlite3_prepare_v3(db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].q,
				       NULL)) {
			store_upstream_free(u);
			return NULL;
		}
	}
	return u;
}

void store_upstream_free(struct store_upstream *u)
{
	if (!u)
		return;
	sqlite3_finalize(u->find);
	sqlite3_finalize(u->ins);
	sqlite3_finalize(u->put_stat);
	sqlite3_finalize(u->put_route);
	sqlite3_finalize(u->put_links);
	for (int i = 0; i < 3; i++)
		sqlite3_finalize(u->ret[i]);
	free(u);
}

/* upstreams.id of name, inserted when new. A SQLite rc. */
static int upstream_id(struct store_upstream *u, const char *name, sqlite3_int64 *id)
{
	int rc;

	sqlite3_bind_text(u->find, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(u->find);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(u->find, 0);
	sqlite3_reset(u->find);
	sqlite3_clear_bindings(u->find);
	if (rc == SQLITE_ROW)
		return SQLITE_OK;
	if (rc != SQLITE_DONE)
		return rc;
	sqlite3_bind_text(u->ins, 1, name, -1, SQLITE_STATIC);
	rc = step_done(u->ins);
	*id = sqlite3_last_insert_rowid(u->db);
	return rc;
}

static void bind_hist(struct store_upstream *u, sqlite3_stmt *q, int col, int slot,
		      const struct hist *h)
{
	size_t n = hist_encode(h, u->blob[slot], sizeof(u->blob[slot]));

	sqlite3_bind_blob(q, col, u->blob[slot], (int)n, SQLITE_STATIC);
}

static void bind_lead(sqlite3_stmt *q, sqlite3_int64 session, const struct snapshot *s,
		      sqlite3_int64 id)
{
	sqlite3_bind_int64(q, 1, session);
	sqlite3_bind_int64(q, 2, i64(s->ts_ms));
	sqlite3_bind_int64(q, 3, i64(s->dur_ms));
	sqlite3_bind_int64(q, 4, id);
}

static int write_up(struct store_upstream *u, sqlite3_int64 session, const struct snapshot *s,
		    const struct up_stats *e)
{
	sqlite3_stmt *q = u->put_stat;
	sqlite3_int64 id = 0;
	int rc = upstream_id(u, e->upstream, &id);

	if (rc)
		return rc;
	bind_lead(q, session, s, id);
	sqlite3_bind_int64(q, 5, i64(e->requests));
	for (int k = 0; k < 5; k++)
		sqlite3_bind_int64(q, 6 + k, i64(e->status[k]));
	sqlite3_bind_int64(q, 11, i64(e->no_answer));
	sqlite3_bind_int64(q, 12, i64(e->connect_failed));
	sqlite3_bind_int64(q, 13, i64(e->bytes_sent));
	sqlite3_bind_int64(q, 14, i64(e->bytes_received));
	sqlite3_bind_int64(q, 15, i64(e->lat_max_us));
	bind_hist(u, q, 16, 0, &e->lat);
	sqlite3_bind_int64(q, 17, i64(e->connects));
	sqlite3_bind_int64(q, 18, i64(e->connects_unseen));
	bind_hist(u, q, 19, 1, &e->connect);
	sqlite3_bind_int64(q, 20, i64(e->reused));
	sqlite3_bind_int64(q, 21, i64(e->conns_open));
	return step_done(q);
}

static int write_route(struct store_upstream *u, sqlite3_int64 session, const struct snapshot *s,
		       const struct up_route_stats *r)
{
	sqlite3_stmt *q = u->put_route;
	sqlite3_int64 id = 0;
	int rc = upstream_id(u, r->upstream, &id);

	if (rc)
		return rc;
	bind_lead(q, session, s, id);
	sqlite3_bind_text(q, 5, r->method, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, r->route, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 7, i64(r->calls));
	for (int k = 0; k < 5; k++)
		sqlite3_bind_int64(q, 8 + k, i64(r->status[k]));
	sqlite3_bind_int64(q, 13, i64(r->no_answer));
	sqlite3_bind_int64(q, 14, i64(r->lat_max_us));
	bind_hist(u, q, 15, 0, &r->lat);
	sqlite3_bind_int64(q, 16, i64(r->inbound));
	bind_hist(u, q, 17, 1, &r->before);
	bind_hist(u, q, 18, 2, &r->upstream_time);
	bind_hist(u, q, 19, 3, &r->after);
	return step_done(q);
}

static int write_links(struct store_upstream *u, sqlite3_int64 session, const struct snapshot *s)
{
	const struct up_counters *c = &s->upc;
	sqlite3_stmt *q = u->put_links;

	if (!c->calls_linked && !c->calls_unlinked && !c->link_overflow && !c->up_overflow &&
	    !c->route_overflow)
		return SQLITE_OK;
	sqlite3_bind_int64(q, 1, session);
	sqlite3_bind_int64(q, 2, i64(s->ts_ms));
	sqlite3_bind_int64(q, 3, i64(c->calls_linked));
	sqlite3_bind_int64(q, 4, i64(c->calls_by_order));
	sqlite3_bind_int64(q, 5, i64(c->calls_unlinked));
	sqlite3_bind_int64(q, 6, i64(c->inbound_linked));
	sqlite3_bind_int64(q, 7, i64(c->link_overflow + c->up_overflow + c->route_overflow));
	return step_done(q);
}

int store_upstream_write(struct store_upstream *u, sqlite3_int64 session, const struct snapshot *s)
{
	int rc = SQLITE_OK;

	for (size_t i = 0; rc == SQLITE_OK && i < s->nups; i++)
		rc = write_up(u, session, s, &s->ups[i]);
	for (size_t i = 0; rc == SQLITE_OK && i < s->nup_routes; i++)
		rc = write_route(u, session, s, &s->up_routes[i]);
	return rc == SQLITE_OK ? write_links(u, session, s) : rc;
}

int store_upstream_retain(struct store_upstream *u, sqlite3_int64 cutoff, int limit, bool *more,
			  uint64_t *deleted)
{
	for (int i = 0; i < 3; i++) {
		sqlite3_bind_int64(u->ret[i], 1, cutoff);
		sqlite3_bind_int64(u->ret[i], 2, limit);
		int rc = step_done(u->ret[i]);
		if (rc)
			return rc;
		int n = sqlite3_changes(u->db);
		*deleted += (uint64_t)n;
		if (n >= limit)
			*more = true;
	}
	return SQLITE_OK;
}
