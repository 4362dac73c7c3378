/* SPDX-License-Identifier: MIT */
/*
 * conn_table: the TCP connections being followed, keyed by
 * (server addr:port, client addr:port). Bounded: when max connections are
 * tracked, conn_table_insert() refuses and the caller counts it.
 */
#ifndef L7TOP_CONN_TABLE_H
#define L7TOP_CONN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/http_stream.h"
#include "collector/snapshot.h"
#include "collector/tcp_reasm.h"

struct tls_session;
struct h2_stream;

/* Which reader a connection's application bytes go to. */
enum conn_app {
	APP_UNDECIDED = 0,           /* no bytes yet (or only bytes to wait past) */
	APP_HTTP1,                   /* http_stream */
	APP_H2,                      /* h2_stream */
};

/* family 4/6: a TCP connection seen on the wire; CONN_FAMILY_PROC: a TLS
 * connection seen inside a process (srv = tgid, cli = the library's
 * connection pointer), whose bytes arrive already in order. */
#define CONN_FAMILY_PROC 0xff

/* Keys mode: the capture cuts a connection's response bodies once user
 * space has framed one of them (collector.c, tls_cut_grant). */
enum conn_tls_cut { CONN_TLS_CUT_NO = 0, CONN_TLS_CUT_ON, CONN_TLS_CUT_NEVER };

/*
 * Two network namespaces may both carry 127.0.0.1:80 <-> 127.0.0.1:N: a
 * server-side connection's key holds the namespace of its listener (0 when
 * unknown: offline, upstream calls, TLS read in a process). Every byte is a
 * named field, so a zero-initialised key has no stray padding to hash.
 */
struct conn_key {
	uint8_t family;
	uint8_t pad;
	uint16_t srv_port, cli_port;
	uint16_t pad2;
	uint32_t netns;
	uint8_t srv[16], cli[16];
};

/*
 * Hot fields first. At 10,000 connections each segment's connection is out
 * of cache and every line of it the segment touches is a miss, so the
 * table allocates conns on line boundaries and a segment of plain HTTP/1.x
 * read by http_fast touches three: the key, chain, flags, target and time;
 * both directions' reassembly state (in-order part); HTTP's state. Line 1
 * is read only when app, tls or the key's family say its fields are set
 * (conn_h2(), conn_tlss(), conn_client() in collector.c), line 5 when
 * llhttp reads.
 */
struct conn {
	/* line 0 */
	struct conn_key key;
	uint8_t app;                 /* enum conn_app */
	bool tls;                    /* ciphertext on the wire */
	/* The target's own outgoing connection (it is the client; key.srv is
	 * the upstream): collector/upstream.h. */
	bool upstream;
	uint8_t target;              /* the target serving it (collector_set_targets) */
	struct conn *hnext;          /* hash chain */
	uint64_t last_ns;            /* last segment seen */
	/* line 1 */
	struct h2_stream *h2;        /* HTTP/2 reader once detected (app APP_H2), else NULL */
	struct tls_session *tlss;    /* keys mode (tls set): its decryption, else NULL */
	uint64_t closed_ns;          /* both FINs delivered or RST; 0 = open */
	struct conn *next;           /* list of all, for expiry */
	bool tls_blind;              /* keys mode: TLS joined mid-stream, its secrets never seen */
	uint32_t pid;                /* server process: CONN_FAMILY_PROC only, else 0 */
	struct peer_addr client;     /* the peer (family 0 unknown); for a wire
				      * connection, its key's client side */
	/* line 2, and the other direction's rarely read part in line 3 */
	struct reasm dir[2];         /* HTTP_DIR_REQ: client->server */
	/* ---- cold: once per connection, per body skipped, or TLS only ---- */
	struct conn *prev;           /* list of all */
	uint32_t skip_until[2];      /* last skip announced (or the kernel's) per direction */
	uint32_t skip_wait;          /* a response body's end, not announced yet: the
				      * kernel may be cutting it already */
	uint32_t skip_told;          /* ... and the last one announced after all */
	uint8_t tls_cut;             /* enum conn_tls_cut: may the capture cut its bodies? */
	bool wlisted;                /* on the collector's list of sessions waiting for keys */
	bool calls_owned;            /* --tls auto switched: the calls probes read it, its
				      * ciphertext is only parsed for the secrets it takes */
	bool tls_plain_seen;         /* its session handed plaintext to HTTP */
	bool tls_late;               /* started after the keys probe left, not (yet)
				      * the calls probes': no session, no secrets */
	bool connect_failed;         /* upstream: its SYN was answered by RST */
	/* line 4 (its hot part), on a line of its own */
	_Alignas(64) struct http_stream http;
	struct conn *wprev, *wnext;  /* the list of sessions waiting for keys */
	uint64_t syn_ns, synack_ns;  /* upstream handshake as seen, 0 = not seen */
	uint64_t fin_ns;             /* the target's first FIN or RST on it */
	uint32_t calls;              /* exchanges it carried so far */
	char server[48];             /* "addr:port" of the upstream */
};


struct conn_table;

/* The hash of every byte of k (pads included: keys are zeroed first). */
uint32_t conn_key_hash(const struct conn_key *k);

struct conn_table *conn_table_new(size_t max);
/* Frees the table; conns must have been released by the caller first
 * (conn_table_first/remove), since their streams hold counters to report. */
void conn_table_free(struct conn_table *t);
struct conn *conn_table_find(struct conn_table *t, const struct conn_key *k);
/*
 * Cache hints for a batch of lookups, in three passes over the batch: the
 * bucket of each key (returns its hash), then the entry that heads each
 * bucket, all of it, then the next entry of the chain when the head is
 * another connection's (a quarter of lookups at 10,000 connections, 0.6
 * of them a bucket: the one miss the first two passes left). Nothing
 * changes; a wrong guess costs a prefetch.
 */
size_t conn_table_count(const struct conn_table *t);
uint32_t conn_table_prefetch_bucket(const struct conn_table *t, const struct conn_key *k);
void conn_table_prefetch_entry(const struct conn_table *t, uint32_t hash);
/* ... and returns the head when it is k's connection (its lines are in
 * by now: the caller may read it for a pass of its own), else NULL. */
const struct conn *conn_table_prefetch_next(const struct conn_table *t, uint32_t hash,
					    const struct conn_key *k);
/* A zeroed conn with its key set; NULL when full or out of memory. */
struct conn *conn_table_insert(struct conn_table *t, const struct conn_key *k);
/* Unlinks and frees c (the caller has released its streams). */
void conn_table_remove(struct conn_table *t, struct conn *c);
struct conn *conn_table_first(struct conn_table *t);

#endif
