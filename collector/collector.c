// SPDX-License-Identifier: MIT
#include "collector/collector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/agg.h"
#include "collector/calls_handoff.h"
#include "collector/conn_table.h"
#include "collector/h2_stream.h"
#include "collector/hpack_pool.h"
#include "collector/http_stream.h"
#include "collector/pkt_decode.h"
#include "collector/route_cache.h"
#include "collector/route_fold.h"
#include "collector/route_learn.h"
#include "collector/tcp_reasm.h"
#include "collector/tls_secrets.h"
#include "collector/tls_session.h"
#include "collector/upstream.h"

/* A closed connection lingers this long so late retransmissions are
 * recognised as duplicates instead of opening a phantom connection. */
#define CLOSED_LINGER_NS (2ull * 1000000000ull)
/* Tuples --tls auto's calls path took, waiting for their connection: the TLS
 * ring runs ahead of the capture by a block or more (thousands of
 * connections a second under Connection: close). */
#define CALLS_PENDING_MAX 4096

struct collector {
	struct collector_config cfg;
	struct reasm_limits lim;
	uint8_t server_port[65536 / 8];
	uint8_t tls_port[65536 / 8];
	/* Ports of keyed TLS connections let go while still open (idle): one
	 * may speak again, so such a port never leaves the capture. */
	uint8_t tls_keyed_idle_port[65536 / 8];
	/* TLS ports the capture no longer keeps (collector_tls_ports_left). */
	uint8_t tls_port_left[65536 / 8];
	struct conn_table *conns;
	struct agg *agg;
	struct route_learn *learn;       /* NULL with fold_off */
	size_t folds_told;               /* learned folds already in a snapshot */
	struct http_counters http;
	struct reasm_stats reasm;
	uint64_t packets, conn_overflow, conns_new;
	/* Followed connections with closed_ns set, and upstream ones: the
	 * totals and the snapshot read these instead of walking every
	 * connection each interval (at 10,000 connections those walks were a
	 * cache miss per connection each, 1.5 per request offline). */
	size_t conns_closed, conns_upstream;
	/* The last Host header seen and its virtual host name (route_host()):
	 * most traffic names one host, so most requests skip normalising it. */
	char host_raw[HOST_MAX];
	size_t host_raw_len;             /* SIZE_MAX: nothing cached */
	char host_name[HOST_MAX];
	uint64_t aborted;                /* aborted requests of the snapshots handed out */
	uint64_t tls_blind_conns, tls_blind_bytes;   /* keys mode: TLS joined mid-stream */
	struct snap_counters last;       /* totals at the previous snapshot */
	struct conn *cur;                /* connection being fed (for callbacks) */
	struct tls_secrets *secrets;     /* keys mode: secrets waiting for connections */
	struct tls_crypto *crypto;       /* ... and the algorithms every session shares,
					  * fetched at the first TLS connection */
	bool crypto_failed;              /* ... this OpenSSL lacks one: every TLS
					  * connection counts undecryptable */
	/* Sessions with records waiting for keys: what a kick visits. Closed
	 * connections linger seconds in the table, so walking the table per
	 * drain cost a quarter of l7top's CPU on a Connection: close load. */
	struct conn *tls_waiting;
	bool tls_keys_wanted;            /* a session waited since collector_tls_keys_wanted() */
	/*
	 * --tls auto's switch to calls: connections the calls probes read
	 * (SSL_set_fd told us their tuple, mostly before their first packet:
	 * then the tuple waits in calls_pending, made at the switch), and a
	 * sink for their sessions that counts nothing and hands out no
	 * plaintext.
	 */
	struct calls_handoff *calls_pending;
	uint64_t calls_handoff_lost;     /* tuples evicted before their connection came */
	bool tls_keys_gone;              /* the keys probe is off: no session for those */
	struct tls_session_counters tls_mute;
	struct tls_session_sink tls_mute_sink;
	uint64_t secrets_lost;           /* refused or expired secrets, last seen */
	struct tls_session_counters tls;
	struct tls_session_sink tls_sink;
	struct req_record *reqs;         /* this interval's request log */
	size_t nreqs;
	uint64_t reqs_skipped;
	struct http_sink sink;
	struct http_fast_memos fast;     /* the sink's memo of header blocks */
	struct route_cache *routes;      /* targets and the routes route_name() gave them */
	struct hpack_pool *hpack;        /* the h2 readers' HPACK memory (NULL: malloc's) */
	struct upstream *up;             /* the target's outgoing calls */
	/* Targets (collector_set_targets): names for snapshots, listeners
	 * sorted by port and pids sorted, for connections to find theirs. */
	size_t ntargets;
	char targets[TARGETS_MAX][TARGET_NAME_MAX];
	size_t nlisteners, npids;
	struct collector_listener listeners[COLLECTOR_MAX_LISTENERS];
	struct collector_pid pids[COLLECTOR_MAX_PIDS];
	uint32_t cur_netns;              /* namespace of the packet being fed */
	uint32_t cur_key_ns;             /* ... as its connection's key holds it */
	uint8_t cur_target;              /* its listener's target */
};

static bool bit_get(const uint8_t *map, uint16_t port)
{
	return map[port >> 3] & (1u << (port & 7));
}

static void bit_set(uint8_t *map, uint16_t port)
{
	map[port >> 3] |= (uint8_t)(1u << (port & 7));
}

static bool port_is_server(const struct collector *c, uint16_t port)
{
	return bit_get(c->server_port, port);
}

/* Errors (failed gRPC calls too) and slow requests go to the request log,
 * up to max_reqs each interval; what the cap turns away is counted. */
static void log_request(struct collector *c, const struct agg_sample *s, const struct http_txn *t)
{
	const struct req_sample *r = &s->req;
	bool grpc_failed = r->grpc && r->grpc_status != 0;
	if (r->status < c->cfg.log_status && r->lat_us < (uint64_t)c->cfg.slow_ms * 1000 &&
	    !grpc_failed)
		return;
	if (c->nreqs >= c->cfg.max_reqs) {
		c->reqs_skipped++;
		return;
	}
	struct req_record *rec = &c->reqs[c->nreqs++];
	rec->s = *r;
	snprintf(rec->host, sizeof(rec->host), "%s", s->host);
	snprintf(rec->method, sizeof(rec->method), "%s", s->method);
	snprintf(rec->route, sizeof(rec->route), "%s", s->route);
	snprintf(rec->proto, sizeof(rec->proto), "%s", s->proto);
	rec->target = s->target;
	route_path(t->target, t->target_len, rec->path, sizeof(rec->path));
}

/*
 * One exchange on an upstream connection: the target was the client. An
 * answer that ends after the target closed or reset the connection never
 * reached it (NGINX's proxy_read_timeout: it gives up, answers 504, and the
 * backend writes into a closed socket): the call ended unanswered when the
 * target gave up.
 */
static void on_upstream_txn(struct collector *c, struct conn *cn, const struct http_txn *t)
{
	struct http_txn late;

	if (cn->calls == 0 && !cn->synack_ns)
		upstream_add_connect(c->up, cn->server, false, 0);
	if (!t->status) {
		/* unanswered (aborted: the target left): it ended when the target gave up */
		late = *t;
		late.end_ns = cn->fin_ns ? cn->fin_ns : cn->closed_ns ? cn->closed_ns : cn->last_ns;
		t = &late;
	} else if (cn->fin_ns && t->end_ns > cn->fin_ns) {
		late = *t;
		late.status = 0;
		late.end_ns = cn->fin_ns;
		t = &late;
	}
	upstream_add_call(c->up, cn->server, t, cn->calls > 0);
	cn->calls++;
}

/* A request the upstream connection closed on unanswered (NGINX's
 * proxy_read_timeout: 504): a call without status, ending at the close. */
static void on_noreply(void *ctx, const struct http_txn *t)
{
	struct collector *c = ctx;
	struct conn *cn = c->cur;

	if (!cn || !cn->upstream)
		return;
	on_upstream_txn(c, cn, t);            /* status 0: ends when the target gave up */
}

/* A request's route slot, fetched while its answer is on its way: set as
 * the readers' hook while the route cache misses (route_cache_missing). */
static void on_request_seen(void *ctx, const char *target, size_t len)
{
	struct collector *c = ctx;
	route_cache_prefetch(c->routes, target, len);
}

/* The route of t: gRPC methods are names, not paths to fold, and an
 * unreadable h2 path is the honest row; else the first user pattern that
 * matches the path, else the path with ids folded, then learned folds. */
static void route_name(struct collector *c, const struct http_txn *t, char *route, size_t cap)
{
	if (t->path_unknown) {
		snprintf(route, cap, "%s", H2_ROUTE_UNREADABLE);
		return;
	}
	if (t->grpc) {
		route_path(t->target, t->target_len, route, cap);
		return;
	}
	if (route_patterns_count(c->cfg.routes)) {
		route_path(t->target, t->target_len, route, cap);
		const char *name = route_patterns_match(c->cfg.routes, route);
		if (name) {
			snprintf(route, cap, "%s", name);
			return;
		}
	}
	size_t folds = c->learn ? route_learn_count(c->learn) : 0;
	struct route_slot *slot = NULL;
	const char *cached = cap == ROUTE_MAX ?
		route_cache_get(c->routes, t->target, t->target_len, folds, &slot) : NULL;
	c->sink.request_seen = route_cache_missing(c->routes) ? on_request_seen : NULL;
	if (cached) {
		memcpy(route, cached, strlen(cached) + 1);
		return;
	}
	route_fold(t->target, t->target_len, route, cap);
	if (c->learn)
		route_learn_apply(c->learn, route, cap);
	route_cache_fill(slot, t->target, t->target_len, c->learn ? route_learn_count(c->learn) : 0,
			 route);
}

/* t's virtual host name, from the one-entry cache when t names the last host. */
static const char *txn_host(struct collector *c, const struct http_txn *t)
{
	if (t->host_len == c->host_raw_len && (!t->host_len || !memcmp(t->host, c->host_raw, t->host_len)))
		return c->host_name;
	route_host(t->host, t->host_len, c->host_name, sizeof(c->host_name));
	if (t->host_len <= sizeof(c->host_raw)) {
		if (t->host_len)
			memcpy(c->host_raw, t->host, t->host_len);
		c->host_raw_len = t->host_len;
	} else {
		c->host_raw_len = SIZE_MAX;
	}
	return c->host_name;
}

static void peer_fill(struct peer_addr *p, int family, const uint8_t *addr, uint16_t port);

/* cn's peer into *p: a wire connection's is its key's client side (as
 * conn_lookup() set it), read from line 0 rather than line 1. */
static void conn_client_fill(struct peer_addr *p, const struct conn *cn)
{
	if (cn->key.family == CONN_FAMILY_PROC)
		*p = cn->client;
	else
		peer_fill(p, cn->key.family, cn->key.cli, cn->key.cli_port);
}

static void on_txn(void *ctx, const struct http_txn *t)
{
	struct collector *c = ctx;
	struct conn *cn = c->cur;
	char route[ROUTE_MAX];

	if (cn && cn->upstream) {
		on_upstream_txn(c, cn, t);
		return;
	}
	route_name(c, t, route, sizeof(route));
	if (upstream_any(c->up))
		upstream_add_inbound(c->up, t, route);
	struct agg_sample s = {
		.target = cn ? cn->target : 0,
		.host = txn_host(c, t),
		.method = t->method,
		.route = route,
		.proto = t->proto ? t->proto : PROTO_NAMES[PROTO_HTTP11],
		.aborted = t->aborted,
		.req = {
			.ts_ms = t->start_ns / 1000000,
			.lat_us = t->end_ns > t->start_ns ? (t->end_ns - t->start_ns) / 1000 : 0,
			.bytes_in = t->bytes_in,
			.bytes_out = t->bytes_out,
			.status = t->status,
			.grpc = t->grpc,
			.grpc_status = (int16_t)t->grpc_status,
			/* (set for CONN_FAMILY_PROC only: line 1 unread otherwise) */
			.pid = cn && cn->key.family == CONN_FAMILY_PROC ? cn->pid : 0,
		},
	};
	if (cn)
		conn_client_fill(&s.req.client, cn);
	agg_add(c->agg, &s);
	if (!t->aborted)
		log_request(c, &s, t);
}

/* ---- which reader: HTTP/1.x or HTTP/2, decided per connection ---- */

/* cn's HTTP/2 reader, or NULL: app says first (conn.h2 is another cache
 * line, which HTTP/1.x segments no longer read). */
static struct h2_stream *conn_h2(const struct conn *cn)
{
	return cn->app == APP_H2 ? cn->h2 : NULL;
}

/* cn's TLS session, or NULL: tls is set whenever it is (the same line). */
static struct tls_session *conn_tlss(const struct conn *cn)
{
	return cn->tls ? cn->tlss : NULL;
}

/* TLS on the wire (keys mode) or read inside the process (calls mode). */
static bool conn_is_tls(const struct conn *cn)
{
	return cn->tls || cn->key.family == CONN_FAMILY_PROC;
}

static void conn_h2_start(struct collector *c, struct conn *cn, bool preface, bool mid)
{
	cn->h2 = h2_stream_new(PROTO_NAMES[conn_is_tls(cn) ? PROTO_H2 : PROTO_H2C], preface, mid,
			       hpack_pool_mem(c->hpack));
	if (cn->h2)
		cn->app = APP_H2;
	else
		c->http.parse_errors++;          /* out of memory: counted, not silent */
}

/* A server's first frame is its SETTINGS (not an ACK): a connection that
 * starts here has its HPACK state ahead, not behind. */
static bool starts_with_settings(const uint8_t *buf, size_t len)
{
	return len >= 9 && buf[3] == 4 && !(buf[4] & 1) && h2_frames_plausible(buf, len);
}

/*
 * The first bytes of a connection decide its reader: the client preface
 * (h2c with prior knowledge, or h2 inside TLS after ALPN), the server's
 * SETTINGS, an HTTP/1.x message, or, joining mid-connection, whole HTTP/2
 * frames (their HPACK state unknown). Returns false to drop buf and wait:
 * bytes in the middle of something, inside a process where no resync
 * point is promised.
 */
static bool conn_decide(struct collector *c, struct conn *cn, enum http_dir dir,
			const uint8_t *buf, size_t len)
{
	if (dir == HTTP_DIR_REQ && h2_preface_start(buf, len)) {
		conn_h2_start(c, cn, true, false);
	} else if (dir == HTTP_DIR_RESP && starts_with_settings(buf, len)) {
		conn_h2_start(c, cn, true, false);
	} else if (http_message_start(dir, buf, len)) {
		cn->app = APP_HTTP1;
	} else if (h2_frames_plausible(buf, len)) {
		conn_h2_start(c, cn, false, true);
	} else if (cn->key.family == CONN_FAMILY_PROC) {
		return false;
	} else {
		cn->app = APP_HTTP1;
	}
	return cn->app != APP_UNDECIDED;
}

/* After a 101 (Upgrade: h2c) the client sends the preface, the server
 * its SETTINGS: HTTP/2 with a fresh HPACK state from here. */
static void conn_after_upgrade(struct collector *c, struct conn *cn, enum http_dir dir,
			       const uint8_t *buf, size_t len)
{
	if ((dir == HTTP_DIR_REQ && h2_preface_start(buf, len)) ||
	    (dir == HTTP_DIR_RESP && starts_with_settings(buf, len)))
		conn_h2_start(c, cn, true, false);
}

static void app_feed(struct collector *c, struct conn *cn, enum http_dir dir, const uint8_t *buf,
		     size_t len, uint64_t ts)
{
	if (cn->app == APP_UNDECIDED && !conn_decide(c, cn, dir, buf, len))
		return;
	if (cn->app == APP_HTTP1 && cn->http.upgraded && !cn->h2)
		conn_after_upgrade(c, cn, dir, buf, len);
	if (conn_h2(cn)) {
		h2_stream_feed(cn->h2, dir, buf, len, ts, &c->sink);
		return;
	}
	bool was = cn->http.upgraded;
	http_stream_feed(&cn->http, dir, buf, len, ts, &c->sink);
	size_t tail = !was && cn->http.upgraded ? cn->http.upgrade_tail : 0;
	if (tail) {
		conn_after_upgrade(c, cn, dir, buf + len - tail, tail);
		if (cn->h2)
			h2_stream_feed(cn->h2, dir, buf + len - tail, tail, ts, &c->sink);
	}
}

static void app_gap(struct collector *c, struct conn *cn, enum http_dir dir, uint64_t len,
		    uint64_t ts)
{
	if (conn_h2(cn))
		h2_stream_gap(cn->h2, dir, len, ts, &c->sink);
	else if (cn->app == APP_HTTP1)
		http_stream_gap(&cn->http, dir, len, ts, &c->sink);
}

static void app_eof(struct collector *c, struct conn *cn, enum http_dir dir, uint64_t ts)
{
	if (!conn_h2(cn))                        /* h2 ends streams by frames, or at release */
		http_stream_eof(&cn->http, dir, ts, &c->sink);
}

static uint64_t app_body_left(const struct conn *cn, enum http_dir dir)
{
	return conn_h2(cn) ? h2_stream_body_left(cn->h2, dir) : http_stream_body_left(&cn->http, dir);
}

/* Keys mode: reassembled ciphertext goes to the connection's TLS session,
 * and what it decrypts goes on to HTTP as if it had been on the wire. */
static void tls_cut_tell(struct collector *c, struct conn *cn, bool on)
{
	const struct conn_key *k = &cn->key;

	c->cfg.tls_cut(c->cfg.skip_ctx, k->family, k->srv, k->cli, k->srv_port, k->cli_port, on);
}

/*
 * Keys mode: once a response of the connection began and entered a
 * Content-Length body of at least skip_min bytes inside one record (an
 * HTTP/1.x connection, headers framed in a record of their own start), the
 * kernel may cut the bodies that follow. The permission is for the
 * connection, not for one response: by the time user space reads a
 * response's headers the kernel has long sent its body on.
 */
static void tls_cut_grant(struct collector *c, struct conn *cn, bool started_here)
{
	if (!c->cfg.tls_cut || cn->tls_cut != CONN_TLS_CUT_NO || cn->h2 || cn->app != APP_HTTP1 ||
	    cn->http.upgraded || !started_here ||
	    http_stream_sized_left(&cn->http, HTTP_DIR_RESP) < c->cfg.skip_min)
		return;
	cn->tls_cut = CONN_TLS_CUT_ON;
	tls_cut_tell(c, cn, true);
}

static void tls_plain(void *ctx, int dir, const uint8_t *buf, size_t len, uint64_t ts)
{
	struct collector *c = ctx;
	struct conn *cn = c->cur;
	bool idle = dir && !cn->http.half[HTTP_DIR_RESP].in_msg;

	if (cn->calls_owned)
		return;
	cn->tls_plain_seen = true;
	app_feed(c, cn, dir ? HTTP_DIR_RESP : HTTP_DIR_REQ, buf, len, ts);
	if (dir)
		tls_cut_grant(c, cn, idle);
}

static uint64_t tls_body_left(void *ctx, int dir)
{
	struct collector *c = ctx;
	struct conn *cn = c->cur;

	return cn->h2 ? 0 : http_stream_sized_left(&cn->http, dir ? HTTP_DIR_RESP : HTTP_DIR_REQ);
}

/* A cut run did not add up: the kernel stops cutting this connection. */
static void tls_cut_failed(void *ctx, int dir)
{
	struct collector *c = ctx;
	struct conn *cn = c->cur;

	(void)dir;
	if (cn->tls_cut == CONN_TLS_CUT_ON && c->cfg.tls_cut)
		tls_cut_tell(c, cn, false);
	cn->tls_cut = CONN_TLS_CUT_NEVER;
}

static void tls_lost(void *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct collector *c = ctx;
	app_gap(c, c->cur, dir ? HTTP_DIR_RESP : HTTP_DIR_REQ, len, ts);
}

static void tls_keyed(void *ctx, const uint8_t client_random[32], enum tls_secret_kind kind,
		      const uint8_t *secret, size_t len)
{
	struct collector *c = ctx;
	c->cfg.tls_keylog(c->cfg.tls_keylog_ctx, client_random, kind, secret, len);
}

struct collector *collector_new(const struct collector_config *cfg)
{
	struct collector *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cfg = *cfg;
	c->hpack = hpack_pool_new();     /* NULL: libnghttp2's allocator (the same) */
	if (!c->cfg.max_conns)
		c->cfg.max_conns = 65536;
	if (!c->cfg.max_endpoints)
		c->cfg.max_endpoints = 2000;
	/* NULL: every target folded (ENOMEM costs time only) */
	c->routes = route_cache_new(c->cfg.max_endpoints);
	if (!c->cfg.idle_timeout_s)
		c->cfg.idle_timeout_s = 300;
	if (!c->cfg.log_status)
		c->cfg.log_status = 500;
	if (!c->cfg.slow_ms)
		c->cfg.slow_ms = 100;
	if (!c->cfg.max_reqs)
		c->cfg.max_reqs = 100;
	if (!c->cfg.skip_min)
		c->cfg.skip_min = 16 * 1024;
	c->lim.max_ooo_bytes = cfg->max_ooo_bytes ? cfg->max_ooo_bytes : 256 * 1024;
	c->lim.max_ooo_segs = cfg->max_ooo_segs ? cfg->max_ooo_segs : 512;
	/* Above Linux's 200 ms minimum RTO, so a real retransmission still
	 * fills its hole; a hole the capture made never fills. */
	c->lim.max_wait_ns = 1000ull * 1000000ull;
	c->lim.max_queued_bytes = COLLECTOR_QUEUED_BYTES_MAX;
	c->conns = conn_table_new(c->cfg.max_conns);
	c->agg = agg_new(c->cfg.max_endpoints);
	c->reqs = calloc(c->cfg.max_reqs, sizeof(*c->reqs));
	struct upstream_config uc = { .max_upstreams = cfg->max_upstreams };
	c->up = upstream_new(&uc);
	if (!c->cfg.fold_off)
		c->learn = route_learn_new(c->cfg.fold_values, 0, 0);
	if (!c->conns || !c->agg || !c->reqs || !c->up || (!c->cfg.fold_off && !c->learn)) {
		collector_free(c);
		return NULL;
	}
	c->sink = (struct http_sink){ .txn = on_txn, .noreply = on_noreply, .ctx = c,
				      .cnt = &c->http, .fast = &c->fast };
	if (cfg->tls_decrypt) {
		/* one entry per handshake in flight; unused secrets live 30 s */
		c->secrets = tls_secrets_new(4096, 30ull * 1000000000ull);
		if (!c->secrets) {
			collector_free(c);
			return NULL;
		}
	}
	c->tls_sink = (struct tls_session_sink){ .plain = tls_plain, .lost = tls_lost,
						 .cut_failed = tls_cut_failed, .body_left = tls_body_left,
						 .ctx = c,
						 .cnt = &c->tls, .secrets = c->secrets,
						 .crypto = c->crypto,
						 .keyed = cfg->tls_keylog ? tls_keyed : NULL };
	c->tls_mute_sink = (struct tls_session_sink){ .ctx = c, .cnt = &c->tls_mute,
						      .secrets = c->secrets, .crypto = c->crypto };
	return c;
}

static void tls_wait_unlist(struct collector *c, struct conn *cn);

/* The sink of cn's session: the muted one once the calls path reads cn. */
static const struct tls_session_sink *tls_sink_of(struct collector *c, const struct conn *cn)
{
	return cn->calls_owned ? &c->tls_mute_sink : &c->tls_sink;
}

static void conn_release(struct collector *c, struct conn *cn)
{
	struct conn *was = c->cur;
	c->cur = cn;                     /* transactions emitted now are cn's */
	tls_wait_unlist(c, cn);
	if (cn->tlss)
		tls_session_free(cn->tlss, tls_sink_of(c, cn));
	c->tls_blind_conns += cn->tls_late && !cn->calls_owned;   /* neither path read it */
	reasm_free(&cn->dir[0], &c->reasm);
	reasm_free(&cn->dir[1], &c->reasm);
	http_stream_free(&cn->http, &c->sink);
	h2_stream_free(cn->h2, &c->sink);
	cn->h2 = NULL;
	c->conns_closed -= cn->closed_ns != 0;
	c->conns_upstream -= cn->upstream;
	conn_table_remove(c->conns, cn);
	c->cur = was == cn ? NULL : was;
}

void collector_flush(struct collector *c)
{
	struct conn *cn;
	while ((cn = conn_table_first(c->conns)))
		conn_release(c, cn);
	upstream_expire(c->up, 0, true);     /* every call gets its link decided now */
	agg_settle(c->agg);             /* the last snapshot holds every request */
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	if (c->conns) {
		collector_flush(c);
		conn_table_free(c->conns);
	}
	hpack_pool_free(c->hpack);       /* after every h2 reader gave its blocks back */
	agg_free(c->agg);
	upstream_free(c->up);
	route_learn_free(c->learn);
	route_cache_free(c->routes);
	tls_secrets_free(c->secrets);
	calls_handoff_free(c->calls_pending);
	tls_crypto_free(c->crypto);
	free(c->reqs);
	free(c);
}

void collector_set_ports(struct collector *c, const uint16_t *ports, size_t n)
{
	memset(c->server_port, 0, sizeof(c->server_port));
	for (size_t i = 0; i < n; i++)
		bit_set(c->server_port, ports[i]);
}

/* reasm callbacks: c->cur is the connection, ctx says the direction. */
static void rx_data(void *ctx, const uint8_t *buf, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	app_feed(c, c->cur, HTTP_DIR_REQ, buf, len, ts);
}

static void tx_data(void *ctx, const uint8_t *buf, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	app_feed(c, c->cur, HTTP_DIR_RESP, buf, len, ts);
}

static void rx_gap(void *ctx, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	app_gap(c, c->cur, HTTP_DIR_REQ, len, ts);
}

static void tx_gap(void *ctx, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	app_gap(c, c->cur, HTTP_DIR_RESP, len, ts);
}

static void rx_fin(void *ctx, uint64_t ts)
{
	struct collector *c = ctx;
	app_eof(c, c->cur, HTTP_DIR_REQ, ts);
}

static void tx_fin(void *ctx, uint64_t ts)
{
	struct collector *c = ctx;
	app_eof(c, c->cur, HTTP_DIR_RESP, ts);
}

static void tls_wait_unlist(struct collector *c, struct conn *cn)
{
	if (!cn->wlisted)
		return;
	if (cn->wprev)
		cn->wprev->wnext = cn->wnext;
	else
		c->tls_waiting = cn->wnext;
	if (cn->wnext)
		cn->wnext->wprev = cn->wprev;
	cn->wprev = cn->wnext = NULL;
	cn->wlisted = false;
}

/* After bytes went into cn's session: on the waiting list iff it waits. */
static void tls_wait_note(struct collector *c, struct conn *cn)
{
	bool waiting = cn->tlss && tls_session_waiting(cn->tlss);

	if (!waiting) {
		tls_wait_unlist(c, cn);
		return;
	}
	c->tls_keys_wanted = true;
	if (cn->wlisted)
		return;
	cn->wprev = NULL;
	cn->wnext = c->tls_waiting;
	if (cn->wnext)
		cn->wnext->wprev = cn;
	c->tls_waiting = cn;
	cn->wlisted = true;
}

static void tls_rx_data(void *ctx, const uint8_t *buf, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	tls_session_feed(c->cur->tlss, TLS_CLIENT, buf, len, ts, tls_sink_of(c, c->cur));
	tls_wait_note(c, c->cur);
}

static void tls_tx_data(void *ctx, const uint8_t *buf, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	tls_session_feed(c->cur->tlss, TLS_SERVER, buf, len, ts, tls_sink_of(c, c->cur));
	tls_wait_note(c, c->cur);
}

static void tls_rx_gap(void *ctx, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	tls_session_gap(c->cur->tlss, TLS_CLIENT, len, ts, tls_sink_of(c, c->cur));
	tls_wait_note(c, c->cur);
}

static void tls_tx_gap(void *ctx, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	tls_session_gap(c->cur->tlss, TLS_SERVER, len, ts, tls_sink_of(c, c->cur));
	tls_wait_note(c, c->cur);
}

/* Segments the kernel cut to their headers: whole records of a body. */
static void tls_tx_cut(void *ctx, uint32_t len, uint64_t ts)
{
	struct collector *c = ctx;
	tls_session_cut(c->cur->tlss, TLS_SERVER, len, ts, &c->tls_sink);
}

static void tls_tx_fin(void *ctx, uint64_t ts)
{
	struct collector *c = ctx;
	tls_session_eof(c->cur->tlss, TLS_SERVER, &c->tls_sink);
	app_eof(c, c->cur, HTTP_DIR_RESP, ts);
}

static const struct reasm_out TLS_OUT_TEMPLATE[2] = {
	[HTTP_DIR_REQ] = { .data = tls_rx_data, .gap = tls_rx_gap, .fin = rx_fin },
	[HTTP_DIR_RESP] = { .data = tls_tx_data, .gap = tls_tx_gap, .cut = tls_tx_cut,
			    .fin = tls_tx_fin },
};

static const struct reasm_out DIR_OUT_TEMPLATE[2] = {
	[HTTP_DIR_REQ] = { .data = rx_data, .gap = rx_gap, .fin = rx_fin },
	[HTTP_DIR_RESP] = { .data = tx_data, .gap = tx_gap, .fin = tx_fin },
};

static struct conn *conn_new(struct collector *c, const struct conn_key *k)
{
	struct conn *cn = conn_table_insert(c->conns, k);
	if (!cn) {
		c->conn_overflow++;
		return NULL;
	}
	reasm_init(&cn->dir[0]);
	reasm_init(&cn->dir[1]);
	http_stream_init(&cn->http);
	c->conns_new++;
	return cn;
}

static void format_peer(int family, const uint8_t *addr, uint16_t port, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "";
	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, a, sizeof(a));
	snprintf(out, n, family == 4 ? "%s:%u" : "[%s]:%u", a, port);
}

/*
 * Written in place, the address by words (addr16_from_v4): built in a
 * temporary and returned, the struct was copied with 16-byte loads over
 * its 1- to 4-byte stores, which the CPU cannot forward (a stall on every
 * request).
 */
static void peer_fill(struct peer_addr *p, int family, const uint8_t *addr, uint16_t port)
{
	p->family = (uint8_t)family;
	p->pad = 0;
	p->port = port;
	if (family == 4)
		addr16_from_v4(p->addr, addr);
	else
		memcpy(p->addr, addr, 16);
}

/*
 * The connection key of a segment going dir, in namespace netns (0: any),
 * written field by field where the lookup reads it. Returned by value, it
 * was built in one stack slot and copied to another with 16-byte loads
 * over its 1- to 4-byte stores, which the CPU cannot forward: a stall on
 * every packet, the hottest spot of collector_packet_ns in a profile.
 */
static void conn_key_fill(struct conn_key *k, const struct tcp_seg *s, enum http_dir dir,
			  uint32_t netns)
{
	bool req = dir == HTTP_DIR_REQ;

	k->family = s->family;
	k->pad = 0;
	k->srv_port = req ? s->dport : s->sport;
	k->cli_port = req ? s->sport : s->dport;
	k->pad2 = 0;
	k->netns = netns;
	memcpy(k->srv, req ? s->daddr : s->saddr, 16);
	memcpy(k->cli, req ? s->saddr : s->daddr, 16);
}

static struct conn *conn_lookup(struct collector *c, const struct tcp_seg *s, enum http_dir dir)
{
	struct conn_key k;
	conn_key_fill(&k, s, dir, c->cur_key_ns);
	struct conn *cn = conn_table_find(c->conns, &k);
	bool syn_only = (s->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
	/* A new SYN on a tuple we follow: the old connection ended unseen (its
	 * FINs lost) or closed; a retransmitted SYN has the same ISN. */
	if (cn && syn_only && (cn->closed_ns || cn->dir[HTTP_DIR_REQ].delivered ||
			       cn->dir[HTTP_DIR_REQ].next_seq != s->seq + 1)) {
		conn_release(c, cn);           /* the 4-tuple is being reused */
		cn = NULL;
	}
	if (cn || (!(s->flags & TCPF_SYN) && s->len == 0))
		return cn;
	cn = conn_new(c, &k);
	if (cn) {
		peer_fill(&cn->client, k.family, k.cli, k.cli_port);
		cn->target = c->cur_target;
	}
	return cn;
}

/*
 * The algorithms the sessions share, fetched at the first TLS connection:
 * loading OpenSSL's default provider makes 1.8 MB of libcrypto resident,
 * which a server without HTTPS never needs. false: none to be had.
 */
static bool crypto_ready(struct collector *c)
{
	if (!c->crypto && !c->crypto_failed) {
		c->crypto = tls_crypto_new();
		c->crypto_failed = !c->crypto;   /* tried once, not per connection */
		c->tls_sink.crypto = c->crypto;
		c->tls_mute_sink.crypto = c->crypto;
	}
	return c->crypto != NULL;
}

/*
 * The start of a TLS record: content type 20..23, version 3.x, a length a
 * record may have. HTTP/1.x never starts with those bytes (control
 * characters), so a segment starting so on a connection joined without
 * its SYN is TLS whose handshake happened before l7top was there.
 */
static bool tls_record_start(const struct tcp_seg *s)
{
	const uint8_t *p = s->payload;
	if (s->caplen < 5 || p[0] < 20 || p[0] > 23 || p[1] != 3 || p[2] > 4)
		return false;
	return ((unsigned)p[3] << 8 | p[4]) <= 16384 + 2048;
}

/*
 * A TLS alert opening the client side: a client that gave up before its
 * ClientHello (wrk, stopped mid-connect, sends close_notify in the clear).
 * It carries no request; parsed as HTTP it was a parse error that no
 * request explained.
 */
static bool tls_alert_first(const struct tcp_seg *s)
{
	return tls_record_start(s) && s->payload[0] == 21;
}

/* A TLS handshake record (content type 22, version 3.x) opening the client
 * side: the bytes are ciphertext, for the TLS path to read, not HTTP. */
static bool tls_start(struct collector *c, struct conn *cn, const struct tcp_seg *s)
{
	if (tls_alert_first(s)) {
		cn->tls = true;
		return true;
	}
	if (s->caplen < 3 || s->payload[0] != 0x16 || s->payload[1] != 0x03)
		return false;
	cn->tls = true;
	bit_set(c->tls_port, cn->key.srv_port);
	if (c->calls_pending && !cn->calls_owned)
		cn->calls_owned = calls_handoff_take(c->calls_pending, &cn->key);
	/*
	 * Once the keys probe is gone no secret comes for a new handshake: a
	 * session could only hold its records until they expire, and it would
	 * keep the port in the capture (collector_tls_keyed_ports), every
	 * packet of every new connection copied for nothing. The calls probes
	 * read it, or nothing does: conn_release counts it then.
	 */
	if (c->secrets && c->tls_keys_gone) {
		/*
		 * On a port that left the capture this hello was caught just
		 * before it left: its SSL_set_fd was set aside for that (no packet
		 * was to come) and its FIN will not come. A new connection there
		 * is the calls probes' (the switch held because they name >= 90%
		 * of handshakes), so it is not counted unread.
		 */
		if (bit_get(c->tls_port_left, cn->key.srv_port))
			cn->calls_owned = true;
		cn->tls_late = !cn->calls_owned;
	} else if (c->secrets) {
		cn->tlss = crypto_ready(c) ? tls_session_new(0) : NULL;
		if (!cn->tlss)
			c->tls.undecryptable++;   /* no memory or no algorithms: counted, not silent */
	}
	return true;
}


/* Keys mode: a TLS connection met mid-stream cannot be decrypted (its
 * secrets went by before the probe did); it is counted, with its bytes,
 * instead of being silently absent. */
static void tls_join_blind(struct collector *c, struct conn *cn)
{
	cn->tls = cn->tls_blind = true;
	c->tls_blind_conns++;
	bit_set(c->tls_port, cn->key.srv_port);
}

/*
 * Past a body's headers the rest of it only needs counting: tell the
 * capture where it ends, so it stops copying the payload up to there.
 *
 * The socket filter reads a response's Content-Length itself when the
 * headers come in a segment of their own or with the body's start, and
 * cuts from there. Telling it again was a bpf() call per response, a
 * third of l7top's CPU on 100 KB files. So such a body waits for its next
 * segment: cut to no payload, the kernel has it (a snap length never cuts
 * that far); with payload, the kernel missed it, or dropped its guess
 * since (it does at what looks like a response inside the body), and is
 * told then, once: a body told is the kernel's to the end.
 */
static void announce_skip(struct collector *c, struct conn *cn, enum http_dir dir,
			  const struct tcp_seg *s)
{
	uint64_t left = app_body_left(cn, dir);
	const struct conn_key *k = &cn->key;

	if (!c->cfg.skip || left < c->cfg.skip_min || left > (1u << 30))
		return;
	uint32_t until = cn->dir[dir].next_seq + (uint32_t)left;
	if (dir == HTTP_DIR_RESP && !conn_h2(cn) && http_stream_body_sized(&cn->http, dir)) {
		if (!s->len || until == cn->skip_told)
			return;                    /* a FIN alone tells nothing; told already */
		if (!s->caplen) {
			cn->skip_until[dir] = until;   /* cut whole: the kernel has the body */
			return;
		}
		if (until != cn->skip_wait && until != cn->skip_until[dir]) {
			cn->skip_wait = until;     /* its headers: see what the next segment says */
			return;
		}
		cn->skip_told = until;
	} else if (until == cn->skip_until[dir]) {
		return;
	}
	cn->skip_until[dir] = until;
	if (dir == HTTP_DIR_REQ)
		c->cfg.skip(c->cfg.skip_ctx, k->family, k->cli, k->srv, k->cli_port, k->srv_port, until);
	else
		c->cfg.skip(c->cfg.skip_ctx, k->family, k->srv, k->cli, k->srv_port, k->cli_port, until);
}

/* Declares the holes of one direction lost (see reasm_give_up). */
static void conn_give_up(struct collector *c, struct conn *cn, enum http_dir dir)
{
	struct reasm_out out = cn->tlss ? TLS_OUT_TEMPLATE[dir] : DIR_OUT_TEMPLATE[dir];
	out.ctx = c;
	c->cur = cn;
	reasm_give_up(&cn->dir[dir], &c->reasm, &out);
	c->cur = NULL;
}

/* Is s the first data segment of a stream started by its SYN? */
static bool seq_is_first(const struct reasm *r, const struct tcp_seg *s)
{
	return r->synced && r->next_seq == s->seq && !r->ooo && !r->fin_seen && !r->delivered;
}

/* cn ended at ts (the first end seen counts; 0 keeps it open, as before). */
static void conn_close(struct collector *c, struct conn *cn, uint64_t ts)
{
	if (cn->closed_ns || !ts)
		return;
	cn->closed_ns = ts;
	c->conns_closed++;
}

static void conn_feed(struct collector *c, struct conn *cn, const struct tcp_seg *s,
		      enum http_dir dir, uint64_t ts)
{
	struct reasm *r = &cn->dir[dir];
	struct reasm_out out = DIR_OUT_TEMPLATE[dir];

	cn->last_ns = ts;
	if (!cn->tls && dir == HTTP_DIR_REQ && s->caplen && seq_is_first(r, s))
		tls_start(c, cn, s);
	else if (!cn->tls && c->secrets && !r->synced && !(s->flags & TCPF_SYN) &&
		 tls_record_start(s))
		tls_join_blind(c, cn);
	if (cn->tls && !conn_tlss(cn)) {
		if (cn->tls_blind)
			c->tls_blind_bytes += s->len;
		/* Nothing to parse here, but a closed TLS connection must not
		 * stay in the open-connections gauge until the idle timeout. */
		if (s->flags & (TCPF_FIN | TCPF_RST))
			conn_close(c, cn, ts);
		return;
	}
	if (conn_tlss(cn))
		out = TLS_OUT_TEMPLATE[dir];
	if (s->flags & TCPF_RST) {
		conn_close(c, cn, ts);
		if (dir == HTTP_DIR_REQ)
			http_stream_client_reset(&cn->http);
		return;
	}
	if (!r->synced) {
		if (s->flags & TCPF_SYN)
			reasm_sync(r, s->seq + 1);
		/* joining a connection open before l7top started, without its SYN */
		else if (s->caplen && (http_message_start(dir, s->payload, s->caplen) ||
				       h2_frames_plausible(s->payload, s->caplen)) &&
			 (dir == HTTP_DIR_REQ || cn->dir[HTTP_DIR_REQ].synced))
			reasm_sync(r, s->seq);
		else
			return;
	}
	out.ctx = c;
	c->cur = cn;
	reasm_feed(r, &c->lim, &c->reasm, s->seq, s->flags, s->payload, s->caplen, s->len, ts, &out);
	c->cur = NULL;
	if (!conn_tlss(cn))
		announce_skip(c, cn, dir, s);   /* plaintext lengths are not TCP lengths */
	/* Requests keep coming while responses wait behind a hole: the client
	 * got those responses, so the hole is ours and will not fill. */
	/* (The tests read this direction's state first: the other one's is
	 * another cache line.) */
	if (dir == HTTP_DIR_REQ && cn->http.npending > HTTP_PENDING_MAX / 2 &&
	    cn->dir[HTTP_DIR_RESP].ooo)
		conn_give_up(c, cn, HTTP_DIR_RESP);
	if (r->fin_done && cn->dir[!dir].fin_done)
		conn_close(c, cn, ts);
}

static bool upstream_conn_is(struct collector *c, int family, const uint8_t *srv, uint16_t srv_port,
			     const uint8_t *cli, uint16_t cli_port)
{
	struct conn_key k = { .family = (uint8_t)family, .srv_port = srv_port, .cli_port = cli_port };
	memcpy(k.srv, srv, 16);
	memcpy(k.cli, cli, 16);
	struct conn *cn = conn_table_find(c->conns, &k);
	return cn && cn->upstream;
}

static bool upstream_peer_known(struct collector *c, int family, const uint8_t *addr, uint16_t port)
{
	char peer[48];
	format_peer(family, addr, port, peer, sizeof(peer));
	return upstream_has_peer(c->up, peer);
}

/*
 * Joining an upstream connection without its SYN (open before l7top
 * started) takes a segment that starts a message of that direction: an
 * upstream's port number is some other client's ephemeral port now and
 * then, and its bytes must not open phantom connections.
 */
static bool joins(const struct tcp_seg *s, enum http_dir dir)
{
	return s->caplen && http_message_start(dir, s->payload, s->caplen);
}

/*
 * A segment on no listening port: is it one of the target's own outgoing
 * connections, and which way does it go? Followed connections first, then
 * a SYN the target sends (live capture only), then a backend found in /proc.
 */
static bool upstream_dir(struct collector *c, const struct tcp_seg *s, enum http_dir *dir)
{
	if (upstream_conn_is(c, s->family, s->daddr, s->dport, s->saddr, s->sport))
		*dir = HTTP_DIR_REQ;
	else if (upstream_conn_is(c, s->family, s->saddr, s->sport, s->daddr, s->dport))
		*dir = HTTP_DIR_RESP;
	else if (c->cfg.learn_upstreams && (s->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN)
		*dir = HTTP_DIR_REQ;
	else if (joins(s, HTTP_DIR_REQ) && upstream_peer_known(c, s->family, s->daddr, s->dport))
		*dir = HTTP_DIR_REQ;
	else if (joins(s, HTTP_DIR_RESP) && upstream_peer_known(c, s->family, s->saddr, s->sport))
		*dir = HTTP_DIR_RESP;
	else
		return false;
	return true;
}

/* Handshake timing of an upstream connection: SYN -> SYN/ACK is the
 * connect time; a RST answering the SYN is a backend refusing it. */
static void upstream_handshake(struct collector *c, struct conn *cn, const struct tcp_seg *s,
			       enum http_dir dir, uint64_t ts)
{
	if (!cn->upstream) {
		cn->upstream = true;
		c->conns_upstream++;
		format_peer(cn->key.family, cn->key.srv, cn->key.srv_port, cn->server,
			    sizeof(cn->server));
		upstream_note_peer(c->up, cn->server);
	}
	if (dir == HTTP_DIR_REQ && (s->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN && !cn->syn_ns)
		cn->syn_ns = ts;
	if (dir == HTTP_DIR_REQ && (s->flags & (TCPF_FIN | TCPF_RST)) && !cn->fin_ns)
		cn->fin_ns = ts;
	if (dir != HTTP_DIR_RESP || !cn->syn_ns || cn->synack_ns || cn->connect_failed)
		return;
	if ((s->flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK)) {
		cn->synack_ns = ts;
		upstream_add_connect(c->up, cn->server, true, ts > cn->syn_ns ? (ts - cn->syn_ns) / 1000 : 0);
	} else if (s->flags & TCPF_RST) {
		cn->connect_failed = true;
		upstream_add_connect_failed(c->up, cn->server);
	}
}

/*
 * The target closed or reset an upstream connection with calls outstanding
 * (NGINX's proxy_read_timeout): they end unanswered now, not when the
 * connection is forgotten seconds later, so the link rule has them while
 * their inbound requests wait; an answer sent after that never reached the
 * target and is ignored. (A client that half-closes and still reads its
 * answer would be miscounted; proxies close whole connections.)
 */
static void upstream_gave_up(struct collector *c, struct conn *cn)
{
	c->cur = cn;
	http_stream_abandon(&cn->http, &c->sink);
	c->cur = NULL;
}

static const struct collector_listener *listener_find(const struct collector *c, uint32_t netns,
						      uint16_t port, bool *elsewhere);

/*
 * Which listener a server-side packet seen in namespace netns came to: its
 * target and key namespace go to cur_target / cur_key_ns. false: the port
 * is a listener of other namespaces only, and netns is known; the packet is
 * a copy that a packet socket of this namespace saw on its end of a veth,
 * and the socket inside the listener's namespace sees the connection
 * itself (counting both would count it twice).
 */
static bool listener_pick(struct collector *c, uint32_t netns, uint16_t port)
{
	bool elsewhere = false;
	const struct collector_listener *l = listener_find(c, netns, port, &elsewhere);

	if (!l)
		return !(elsewhere && netns);
	c->cur_target = l->target;
	c->cur_key_ns = l->netns ? netns : 0;
	return true;
}

/* A segment to or from one of the server ports: which way it goes. */
static bool server_dir(const struct collector *c, const struct tcp_seg *s, enum http_dir *dir)
{
	if (port_is_server(c, s->dport))
		*dir = HTTP_DIR_REQ;
	else if (port_is_server(c, s->sport))
		*dir = HTTP_DIR_RESP;
	else
		return false;
	return true;
}

void collector_packet(struct collector *c, uint64_t ts_ns, const uint8_t *l3,
		      uint32_t caplen, uint32_t wirelen)
{
	collector_packet_ns(c, 0, ts_ns, l3, caplen, wirelen);
}

void collector_packet_ns(struct collector *c, uint32_t netns, uint64_t ts_ns, const uint8_t *l3,
			 uint32_t caplen, uint32_t wirelen)
{
	struct tcp_seg s;
	enum http_dir dir;
	bool up = false;

	if (pkt_decode(l3, caplen, wirelen, &s))
		return;
	if (c->cfg.learn_ports && (s.flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN)
		bit_set(c->server_port, s.dport);
	if (!server_dir(c, &s, &dir) && !(up = upstream_dir(c, &s, &dir)))
		return;
	c->cur_netns = netns;
	c->cur_key_ns = 0;
	c->cur_target = 0;
	if (!up && !listener_pick(c, netns, dir == HTTP_DIR_REQ ? s.dport : s.sport))
		return;                      /* another namespace's connection, seen through a veth */
	c->packets++;
	struct conn *cn = conn_lookup(c, &s, dir);
	if (!cn)
		return;
	if (up)
		upstream_handshake(c, cn, &s, dir, ts_ns);
	conn_feed(c, cn, &s, dir, ts_ns);
	if (up && dir == HTTP_DIR_REQ && (s.flags & (TCPF_FIN | TCPF_RST)))
		upstream_gave_up(c, cn);
}

/*
 * The key collector_packet_ns() will look p up by, guessed without side
 * effects: a server-side packet only (upstream calls are few), its
 * namespace as listener_pick() would choose it.
 */
static bool prefetch_key(const struct collector *c, const struct collector_pkt *p,
			 struct conn_key *k)
{
	const struct collector_listener *l;
	struct tcp_seg s;
	enum http_dir dir;
	bool elsewhere = false;

	if (pkt_decode(p->l3, p->caplen, p->wirelen, &s) || !server_dir(c, &s, &dir))
		return false;
	l = listener_find(c, p->netns, dir == HTTP_DIR_REQ ? s.dport : s.sport, &elsewhere);
	conn_key_fill(k, &s, dir, l && l->netns ? p->netns : 0);
	return true;
}

void collector_prefetch(struct collector *c, const struct collector_pkt *p, size_t n)
{
	uint32_t hash[COLLECTOR_PREFETCH_MAX];
	bool ok[COLLECTOR_PREFETCH_MAX];
	struct conn_key k[COLLECTOR_PREFETCH_MAX];

	if (n > COLLECTOR_PREFETCH_MAX)
		n = COLLECTOR_PREFETCH_MAX;
	for (size_t i = 0; i < n; i++)
		if ((ok[i] = prefetch_key(c, &p[i], &k[i])))
			hash[i] = conn_table_prefetch_bucket(c->conns, &k[i]);
	/* By now the first buckets are in: the entries they point to next. */
	for (size_t i = 0; i < n; i++)
		if (ok[i])
			conn_table_prefetch_entry(c->conns, hash[i]);
	/* And the heads: where one is another connection's, the entry after it;
	 * where it is the packet's, the request entry its HTTP/1.x reader
	 * reads (fetched last: it needed the entry's line). */
	for (size_t i = 0; i < n; i++) {
		const struct conn *cn = ok[i] ? conn_table_prefetch_next(c->conns, hash[i], &k[i]) : NULL;
		if (cn && cn->app == APP_HTTP1)
			http_stream_prefetch(&cn->http);
	}
}

size_t collector_conns(const struct collector *c)
{
	return conn_table_count(c->conns);
}

void collector_note_upstream(struct collector *c, int family, const uint8_t *addr, uint16_t port)
{
	char peer[48];
	format_peer(family, addr, port, peer, sizeof(peer));
	upstream_note_peer(c->up, peer);
}

static int listener_cmp(const void *a, const void *b)
{
	const struct collector_listener *x = a, *y = b;
	if (x->port != y->port)
		return (int)x->port - (int)y->port;
	return x->netns < y->netns ? -1 : x->netns > y->netns;
}

static int pid_cmp(const void *a, const void *b)
{
	const struct collector_pid *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

size_t collector_set_targets(struct collector *c, const char (*names)[TARGET_NAME_MAX], size_t n,
			     const struct collector_listener *ls, size_t nls,
			     const struct collector_pid *pids, size_t npids)
{
	size_t left = 0;

	if (n > TARGETS_MAX) {
		left += n - TARGETS_MAX;
		n = TARGETS_MAX;
	}
	c->ntargets = n;
	for (size_t i = 0; i < n; i++)
		snprintf(c->targets[i], TARGET_NAME_MAX, "%s", names[i]);
	if (nls > COLLECTOR_MAX_LISTENERS) {
		left += nls - COLLECTOR_MAX_LISTENERS;
		nls = COLLECTOR_MAX_LISTENERS;
	}
	if (npids > COLLECTOR_MAX_PIDS) {
		left += npids - COLLECTOR_MAX_PIDS;
		npids = COLLECTOR_MAX_PIDS;
	}
	c->nlisteners = ls ? nls : 0;          /* NULL with 0: none */
	c->npids = pids ? npids : 0;
	if (c->nlisteners) {
		memcpy(c->listeners, ls, nls * sizeof(*ls));
		qsort(c->listeners, nls, sizeof(*ls), listener_cmp);
	}
	if (c->npids) {
		memcpy(c->pids, pids, npids * sizeof(*pids));
		qsort(c->pids, npids, sizeof(*pids), pid_cmp);
	}
	return left;
}

/*
 * The listener of port in namespace netns (one of namespace 0 matches any;
 * so does any when netns is 0: offline or unknown), or NULL, with
 * *elsewhere set when the port is a listener of other namespaces only.
 * Listeners are few, sorted by port then namespace: a binary search finds
 * the port's first.
 */
static const struct collector_listener *listener_find(const struct collector *c, uint32_t netns,
						      uint16_t port, bool *elsewhere)
{
	size_t lo = 0, hi = c->nlisteners;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->listeners[mid].port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	*elsewhere = false;
	if (lo == c->nlisteners || c->listeners[lo].port != port)
		return NULL;
	for (size_t i = lo; i < c->nlisteners && c->listeners[i].port == port; i++)
		if (c->listeners[i].netns == netns || !c->listeners[i].netns || !netns)
			return &c->listeners[i];
	*elsewhere = true;
	return NULL;
}

int collector_pid_forked(struct collector *c, uint32_t parent, uint32_t child)
{
	struct collector_pid key = { .pid = child };
	const struct collector_pid *p = bsearch(&(struct collector_pid){ .pid = parent }, c->pids,
						c->npids, sizeof(key), pid_cmp);
	size_t at = 0;

	if (!p || bsearch(&key, c->pids, c->npids, sizeof(key), pid_cmp))
		return 0;                  /* not a target's, or known already */
	if (c->npids == COLLECTOR_MAX_PIDS)
		return -ENOSPC;
	key.target = p->target;
	while (at < c->npids && c->pids[at].pid < child)
		at++;
	memmove(&c->pids[at + 1], &c->pids[at], (c->npids - at) * sizeof(key));
	c->pids[at] = key;
	c->npids++;
	return 0;
}

uint8_t collector_target_of(const struct collector *c, uint32_t netns, uint16_t port)
{
	bool elsewhere;
	const struct collector_listener *l = listener_find(c, netns, port, &elsewhere);
	return l ? l->target : 0;
}

static uint8_t target_of_pid(const struct collector *c, uint32_t pid)
{
	struct collector_pid key = { .pid = pid };
	const struct collector_pid *p = bsearch(&key, c->pids, c->npids, sizeof(key), pid_cmp);
	return p ? p->target : 0;
}

static struct conn *proc_conn(struct collector *c, uint32_t tgid, uint64_t conn_id, bool create)
{
	struct conn_key k = { .family = CONN_FAMILY_PROC };
	memcpy(k.srv, &tgid, sizeof(tgid));
	memcpy(k.cli, &conn_id, sizeof(conn_id));
	struct conn *cn = conn_table_find(c->conns, &k);
	if (cn || !create)
		return cn;
	if ((cn = conn_new(c, &k)))
		cn->target = target_of_pid(c, tgid);
	return cn;
}

void collector_stream_data(struct collector *c, uint32_t tgid, uint64_t conn_id, int dir,
			   const uint8_t *buf, uint32_t caplen, uint32_t len, uint64_t ts_ns)
{
	enum http_dir d = dir ? HTTP_DIR_RESP : HTTP_DIR_REQ;
	struct conn *cn = proc_conn(c, tgid, conn_id, true);

	if (!cn)
		return;
	c->packets++;
	cn->last_ns = ts_ns;
	cn->pid = tgid;
	if (caplen > len)
		caplen = len;
	c->cur = cn;
	if (caplen)
		app_feed(c, cn, d, buf, caplen, ts_ns);
	if (caplen < len)
		app_gap(c, cn, d, len - caplen, ts_ns);
	c->cur = NULL;
}

void collector_stream_peer(struct collector *c, uint32_t tgid, uint64_t conn_id, int family,
			   const uint8_t *addr, uint16_t port, uint64_t ts_ns)
{
	struct conn *cn = proc_conn(c, tgid, conn_id, false);
	/*
	 * SSL_set_fd begins a connection. A stream that already carried data
	 * under this SSL* (pid is set by its first) is the previous
	 * connection, its SSL_free unseen (a lost report): fed on, the new
	 * requests would follow a response that said Connection: close, and
	 * be lost.
	 */
	if (cn && cn->pid)
		collector_stream_close(c, tgid, conn_id, ts_ns);
	cn = proc_conn(c, tgid, conn_id, true);
	if (!cn)
		return;
	if (family)
		peer_fill(&cn->client, family, addr, port);
	/* Else the next expiry took it for idle before its first call, peer and all. */
	if (!cn->last_ns)
		cn->last_ns = ts_ns;
}

void collector_tls_calls_conn(struct collector *c, uint32_t netns, int family, const uint8_t cli[16],
			      uint16_t cli_port, const uint8_t srv[16], uint16_t srv_port)
{
	struct conn_key k = { .family = (uint8_t)family, .srv_port = srv_port, .cli_port = cli_port };
	bool elsewhere;
	const struct collector_listener *l = listener_find(c, netns, srv_port, &elsewhere);
	struct conn *cn;

	k.netns = l && l->netns ? netns : 0;     /* as listener_pick keys its packets */
	memcpy(k.srv, srv, 16);
	memcpy(k.cli, cli, 16);
	cn = conn_table_find(c->conns, &k);
	/*
	 * Clients reuse a port within the seconds a closed connection lingers
	 * here (seen under Connection: close), and the packets of the old one
	 * may still be on their way in: a connection that handed out plaintext,
	 * closed or was taken already is that older one, not this (the
	 * SSL_set_fd comes before any request). The new one takes its tuple
	 * from calls_pending when its ClientHello is read.
	 */
	if (!cn || cn->closed_ns || cn->tls_plain_seen || cn->calls_owned) {
		if (bit_get(c->tls_port_left, srv_port))
			return;          /* no packet of the new one will come */
		if (!c->calls_pending)
			c->calls_pending = calls_handoff_new(CALLS_PENDING_MAX);
		if (!c->calls_pending || calls_handoff_put(c->calls_pending, &k))
			c->calls_handoff_lost++;
		return;
	}
	cn->calls_owned = true;
	if (cn->tlss && c->tls_keys_gone) {
		tls_wait_unlist(c, cn);
		tls_session_free(cn->tlss, &c->tls_mute_sink);
		cn->tlss = NULL;
	}
}

void collector_tls_ports_left(struct collector *c, const uint16_t *ports, size_t n)
{
	memset(c->tls_port_left, 0, sizeof(c->tls_port_left));
	for (size_t i = 0; i < n; i++)
		bit_set(c->tls_port_left, ports[i]);
}

void collector_tls_keys_gone(struct collector *c)
{
	c->tls_keys_gone = true;
}

void collector_stream_close(struct collector *c, uint32_t tgid, uint64_t conn_id, uint64_t ts_ns)
{
	struct conn *cn = proc_conn(c, tgid, conn_id, false);
	if (!cn)
		return;
	c->cur = cn;
	app_eof(c, cn, HTTP_DIR_RESP, ts_ns);
	c->cur = NULL;
	conn_release(c, cn);
}

/* The ports set in map, ascending, at most max of them. */
static size_t ports_in(const uint8_t *map, uint16_t *out, size_t max)
{
	size_t n = 0;
	for (uint32_t p = 0; p < 65536 && n < max; p++)
		if (bit_get(map, (uint16_t)p))
			out[n++] = (uint16_t)p;
	return n;
}

size_t collector_tls_ports(const struct collector *c, uint16_t *out, size_t max)
{
	return ports_in(c->tls_port, out, max);
}

void collector_tls_counters(const struct collector *c, struct tls_session_counters *out)
{
	*out = c->tls;
}

size_t collector_tls_keyed_ports(const struct collector *c, uint16_t *out, size_t max)
{
	size_t n = ports_in(c->tls_keyed_idle_port, out, max);

	for (const struct conn *cn = conn_table_first(c->conns); cn; cn = cn->next) {
		bool listed = false;

		if (!cn->tlss || cn->calls_owned || cn->closed_ns || cn->upstream)
			continue;
		for (size_t i = 0; i < n && !listed; i++)
			listed = out[i] == cn->key.srv_port;
		if (!listed && n < max)
			out[n++] = cn->key.srv_port;
	}
	return n;
}

int collector_tls_secret(struct collector *c, enum tls_id_kind id_kind, const uint8_t *id,
			 size_t id_len, enum tls_secret_kind kind, const uint8_t *secret, size_t len,
			 uint64_t now_ns)
{
	if (!c->secrets)
		return -ENOTSUP;
	return tls_secrets_add(c->secrets, id_kind, id, id_len, kind, secret, len, now_ns);
}

int collector_tls_keylog(struct collector *c, const char *buf, size_t len, uint64_t now_ns,
			 size_t *bad_lines)
{
	if (!c->secrets)
		return -ENOTSUP;
	return tls_keylog_parse(c->secrets, buf, len, now_ns, bad_lines);
}

void collector_tls_decrypt_off(struct collector *c)
{
	tls_secrets_free(c->secrets);
	c->secrets = NULL;
	c->tls_sink.secrets = NULL;
	c->tls_mute_sink.secrets = NULL;
	c->cfg.tls_decrypt = false;
}

bool collector_tls_keys_wanted(struct collector *c)
{
	bool wanted = c->tls_keys_wanted;

	c->tls_keys_wanted = false;
	return wanted;
}

void collector_tls_kick(struct collector *c)
{
	struct conn *cn = c->tls_waiting, *next;

	for (; cn; cn = next) {
		next = cn->wnext;
		c->cur = cn;
		tls_session_kick(cn->tlss, tls_sink_of(c, cn));
		c->cur = NULL;
		tls_wait_note(c, cn);
	}
	/* who still waits lacks a secret the ring had: asked again at its next bytes */
	c->tls_keys_wanted = false;
}

void collector_skip_holes(struct collector *c)
{
	for (struct conn *cn = conn_table_first(c->conns); cn; cn = cn->next)
		for (int d = 0; d < 2; d++)
			if (cn->dir[d].ooo)
				conn_give_up(c, cn, (enum http_dir)d);
}

void collector_expire(struct collector *c, uint64_t now_ns)
{
	/* Every waiting segment of every connection is counted in c->reasm:
	 * none, no hole to give up, and no walk reading each connection's
	 * reassembly line (10,000 misses per rescan tick at 10,000). */
	for (struct conn *cn = c->reasm.queued_bytes ? conn_table_first(c->conns) : NULL; cn;
	     cn = cn->next)
		for (int d = 0; d < 2; d++)
			if (reasm_stale(&cn->dir[d], &c->lim, now_ns))
				conn_give_up(c, cn, (enum http_dir)d);
	if (c->secrets)
		tls_secrets_expire(c->secrets, now_ns);
	uint64_t idle = (uint64_t)c->cfg.idle_timeout_s * 1000000000ull;
	struct conn *cn = conn_table_first(c->conns), *next;

	for (; cn; cn = next) {
		next = cn->next;
		bool closed = cn->closed_ns && now_ns > cn->closed_ns + CLOSED_LINGER_NS;
		bool silent = now_ns > cn->last_ns + idle;
		if (!closed && silent && cn->tlss && !cn->calls_owned)
			bit_set(c->tls_keyed_idle_port, cn->key.srv_port);
		if (closed || silent)
			conn_release(c, cn);
	}
	upstream_expire(c->up, now_ns, false);
}

void collector_totals(struct collector *c, struct snap_counters *t)
{
	memset(t, 0, sizeof(*t));
	t->packets = c->packets;
	t->parse_errors = c->http.parse_errors;
	t->unpaired = c->http.unpaired;
	t->reasm_gaps = c->reasm.gaps + c->http.gaps;
	t->conn_overflow = c->conn_overflow;
	t->ep_overflow = agg_overflow(c->agg);
	t->pending_overflow = c->http.pending_overflow;
	t->conns_open = conn_table_count(c->conns) - c->conns_closed;
	t->conns_new = c->conns_new;
	t->reqs_skipped = c->reqs_skipped;
	t->tls_undecryptable = c->tls.undecryptable + c->tls_blind_conns;
	t->tls_undecryptable_bytes = c->tls_blind_bytes;
	t->tls_lost = c->tls.waiting_overflow + c->tls.records_lost + c->tls.tag_failures;
	t->tls_cut_unframed = c->tls.cut_unframed;
	t->tls_handoff_lost = c->calls_handoff_lost;
	if (c->secrets) {
		struct tls_secrets_stats st;
		tls_secrets_get_stats(c->secrets, &st);
		c->secrets_lost = st.full + st.expired;
	}
	t->tls_secrets_lost = c->secrets_lost;    /* kept when keys mode is turned off */
	t->partial_reqs = c->http.partial;
	t->aborted = c->aborted;
	t->h2_unreadable = c->http.h2_unreadable;
	t->h2_reset = c->http.h2_reset;
	t->h2_bounds = c->http.h2_bounds;
}

int collector_fold_add(struct collector *c, const char *prefix)
{
	if (!c->learn)
		return -ENOTSUP;
	int rc = route_learn_add(c->learn, prefix);
	c->folds_told = route_learn_count(c->learn);
	return rc;
}

const char *collector_fold(const struct collector *c, size_t i)
{
	return c->learn ? route_learn_prefix(c->learn, i) : NULL;
}

/* Folds learned since the last snapshot go with this one (to be stored). */
static void snapshot_take_folds(struct collector *c, struct snapshot *s)
{
	size_t n = c->learn ? route_learn_count(c->learn) : 0;
	if (n <= c->folds_told)
		return;
	s->folds = calloc(n - c->folds_told, sizeof(*s->folds));
	if (!s->folds)
		return;                  /* told with the next snapshot */
	for (size_t i = c->folds_told; i < n; i++)
		snprintf(s->folds[s->nfolds++], ROUTE_MAX, "%s", route_learn_prefix(c->learn, i));
	c->folds_told = n;
}

struct snapshot *collector_snapshot(struct collector *c, uint64_t ts_ms, uint64_t dur_ms)
{
	struct snap_counters now, *l = &c->last;
	struct snapshot *s = agg_snapshot(c->agg, ts_ms, dur_ms);

	if (!s)
		return NULL;
	/* As the rows count them (the aggregator may hold some back a while). */
	for (size_t i = 0; i < s->n; i++)
		c->aborted += s->eps[i].aborted;
	collector_totals(c, &now);
	snap_counters_delta(&s->c, &now, l);
	*l = now;
	for (const struct conn *cn = conn_table_first(c->conns); c->conns_upstream && cn; cn = cn->next)
		if (cn->upstream && !cn->closed_ns)
			upstream_conn_open(c->up, cn->server);
	if (upstream_snapshot(c->up, s)) {
		snapshot_free(s);
		return NULL;
	}
	snapshot_take_folds(c, s);
	s->ntargets = c->ntargets;
	memcpy(s->targets, c->targets, sizeof(s->targets));
	/* hand the request log over; the next interval starts empty */
	if (c->nreqs) {
		s->reqs = malloc(c->nreqs * sizeof(*s->reqs));
		if (s->reqs) {
			memcpy(s->reqs, c->reqs, c->nreqs * sizeof(*s->reqs));
			s->nreqs = c->nreqs;
		} else {
			s->c.reqs_skipped += c->nreqs;
		}
		c->nreqs = 0;
	}
	return s;
}
