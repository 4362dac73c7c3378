/* SPDX-License-Identifier: MIT */
/*
 * collector: IP packets in, per-interval snapshots out. Ties together
 * pkt_decode -> conn_table -> tcp_reasm (per direction) -> http_stream ->
 * route_fold -> agg. Pure: no I/O, no clock; time comes with each packet
 * and with collector_expire()/collector_snapshot().
 */
#ifndef L7TOP_COLLECTOR_H
#define L7TOP_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/route_pattern.h"
#include "collector/snapshot.h"
#include "collector/tls_kinds.h"
#include "collector/tls_session.h"

struct collector_config {
	size_t max_conns;           /* 0 = 65536 */
	size_t max_endpoints;       /* 0 = 2000 */
	uint32_t idle_timeout_s;    /* 0 = 300: silent connections are forgotten */
	uint32_t max_ooo_bytes;     /* 0 = 256 KiB per direction */
	uint32_t max_ooo_segs;      /* 0 = 512 per direction */
	bool learn_ports;           /* offline: a SYN's destination port is a server */
	uint16_t log_status;        /* 0 = 500: request-log rows for status >= this */
	uint32_t slow_ms;           /* 0 = 100: request-log rows for latency >= this */
	uint32_t max_reqs;          /* 0 = 100 request-log rows per interval */
	/*
	 * Called when one direction of a connection (sender -> receiver) needs
	 * none of its payload before sequence number until: the rest of a body
	 * of known length. The capture may then copy headers only. Optional.
	 */
	void (*skip)(void *ctx, int family, const uint8_t *saddr, const uint8_t *daddr,
		     uint16_t sport, uint16_t dport, uint32_t until);
	void *skip_ctx;
	uint32_t skip_min;          /* 0 = 16 KiB: shorter remainders are not worth it */
	/*
	 * Keys mode, optional (skip_ctx): on = the kernel may cut the response
	 * bodies of the TLS connection whose server -> client direction this
	 * is (whole records, see tls_cuts in probes/sockfilter.h); off = not
	 * any more. Called once per connection each way at most.
	 */
	void (*tls_cut)(void *ctx, int family, const uint8_t *saddr, const uint8_t *daddr,
			uint16_t sport, uint16_t dport, bool on);
	bool tls_decrypt;           /* keys mode: decrypt TLS seen on the wire with the
				     * secrets given to collector_tls_secret() */
	/* Optional (--keylog): every secret a connection takes, once, with its
	 * client_random. */
	void (*tls_keylog)(void *ctx, const uint8_t client_random[32], enum tls_secret_kind kind,
			   const uint8_t *secret, size_t len);
	void *tls_keylog_ctx;
	/*
	 * Live capture: the kernel keeps only the target's flows, so a SYN
	 * between two ports neither of which is a listening one is the target
	 * connecting out: an upstream connection (collector/upstream.h).
	 */
	bool learn_upstreams;
	size_t max_upstreams;       /* 0 = 256 backends, then row "*" */
	/* Learned folding (collector/route_learn.h): a segment position with
	 * more than fold_values distinct values under one parent folds to
	 * "{*}". 0 = 16; fold_off: never. */
	unsigned fold_values;
	bool fold_off;
	/* User route patterns (--route), tried first; NULL = none. Owned by
	 * the caller, unchanged while the collector lives. */
	const struct route_patterns *routes;
};

struct collector;

struct collector *collector_new(const struct collector_config *cfg);
/* Releases every connection (unanswered requests counted) and frees. */
void collector_free(struct collector *c);
/* The server side of a connection is the one on one of these ports. */
void collector_set_ports(struct collector *c, const uint16_t *ports, size_t n);

/*
 * Targets (each --pid root and its process tree). A connection belongs to
 * the target owning the socket it was accepted on: its listener (network
 * namespace + port) for packets, its process for TLS read in a process.
 * Decided once, when the connection is first seen; rows are per target.
 * Without targets set, everything is target 0.
 */
struct collector_listener {
	uint32_t netns;              /* inode of the namespace; 0 = any */
	uint16_t port;
	uint8_t target;              /* index into the names */
};
struct collector_pid {
	uint32_t pid;
	uint8_t target;
};
/* Out-of-order bytes waiting in all connections together (each direction
 * also has its own 256 KiB): a run whose capture ring dropped packets at
 * 10,000 connections held 9 MB of them, behind holes that never fill. */
#define COLLECTOR_QUEUED_BYTES_MAX (8u << 20)
#define COLLECTOR_MAX_LISTENERS 256
#define COLLECTOR_MAX_PIDS      1024
/*
 * Replaces the targets' names (n <= TARGETS_MAX; snapshots carry them),
 * their listeners and their processes (at most COLLECTOR_MAX_*; the rest is
 * ignored and counted in the return value: 0 when all fit).
 */
size_t collector_set_targets(struct collector *c, const char (*names)[TARGET_NAME_MAX], size_t n,
			     const struct collector_listener *ls, size_t nls,
			     const struct collector_pid *pids, size_t npids);
/* child forked from parent, a target process: child is of parent's target
 * from now on, not only from the next collector_set_targets() (a calls-mode
 * child's first requests were the first target's meanwhile). 0, also when
 * parent is no target's; -ENOSPC past COLLECTOR_MAX_PIDS. */
int collector_pid_forked(struct collector *c, uint32_t parent, uint32_t child);
/*
 * The target of a server port seen in namespace netns: the listener of that
 * namespace (a listener of namespace 0, or netns 0, matches any), else 0.
 * Packets a socket of one namespace sees for a port that only other
 * namespaces listen on (veth copies: the other namespace's socket sees the
 * connection itself) are ignored.
 */
uint8_t collector_target_of(const struct collector *c, uint32_t netns, uint16_t port);

void collector_packet(struct collector *c, uint64_t ts_ns, const uint8_t *l3,
		      uint32_t caplen, uint32_t wirelen);

/* A packet as collector_packet_ns() takes it, for collector_prefetch(). */
struct collector_pkt {
	uint32_t netns;
	uint32_t caplen, wirelen;
	const uint8_t *l3;
};

#define COLLECTOR_PREFETCH_MAX 32
/*
 * A hint before handing these packets over one by one: fetches into the
 * cache the connection entries they will look up, all at once, so that
 * their misses overlap instead of each packet waiting for two in turn (a
 * third of l7top's time at 10,000 connections). Changes nothing; packets
 * past COLLECTOR_PREFETCH_MAX are not looked at. Worth it only when the
 * table is larger than the cache: collector_conns().
 */
void collector_prefetch(struct collector *c, const struct collector_pkt *p, size_t n);
/* Connections followed now. */
size_t collector_conns(const struct collector *c);
/* The same, from a packet socket opened in namespace netns (inode; 0 unknown). */
void collector_packet_ns(struct collector *c, uint32_t netns, uint64_t ts_ns, const uint8_t *l3,
			 uint32_t caplen, uint32_t wirelen);
/*
 * Plaintext of a TLS connection read inside the server process (uprobes on
 * SSL_read/SSL_write): in order per (tgid, conn_id), so it bypasses TCP
 * reassembly. buf holds caplen of the len bytes the call carried; the rest
 * is skipped inside bodies of known length, else counted as a gap.
 * dir: 0 = request (read by the server), 1 = response (written).
 */
void collector_stream_data(struct collector *c, uint32_t tgid, uint64_t conn_id, int dir,
			   const uint8_t *buf, uint32_t caplen, uint32_t len, uint64_t ts_ns);
void collector_stream_close(struct collector *c, uint32_t tgid, uint64_t conn_id, uint64_t ts_ns);
/*
 * --tls auto switched to calls for new connections: this TCP connection
 * (client cli:cli_port, server srv:srv_port, family 4 or 6, ports in host
 * order, IPv4 in the first 4 bytes) is read by the calls probes. Its
 * ciphertext is parsed only to take the secrets it was given (a muted
 * session that counts nothing) while the keys probe runs; after
 * collector_tls_keys_gone() it gets no session at all, so it is never
 * counted twice nor as undecryptable.
 */
void collector_tls_calls_conn(struct collector *c, uint32_t netns, int family, const uint8_t cli[16],
			      uint16_t cli_port, const uint8_t srv[16], uint16_t srv_port);
/* These TLS ports left the capture (the calls path reads them): a tuple
 * the calls path names there waits for no packet. */
void collector_tls_ports_left(struct collector *c, const uint16_t *ports, size_t n);
/* The keys probe is detached: connections from now on have no secrets. */
void collector_tls_keys_gone(struct collector *c);
/* A process stream begins (SSL_set_fd), with its peer: family 4 or 6, addr
 * in network order (4 or 16 bytes), port host order; family 0: unknown. A
 * stream that carried data under the same conn_id ends first. */
void collector_stream_peer(struct collector *c, uint32_t tgid, uint64_t conn_id, int family,
			   const uint8_t *addr, uint16_t port, uint64_t ts_ns);
/*
 * Server ports on which a TLS ClientHello was seen on the wire. Such
 * connections are not parsed from packets (the TLS path reads them); the
 * caller may stop capturing those ports. Returns how many were written.
 */
size_t collector_tls_ports(const struct collector *c, uint16_t *out, size_t max);
/* Of those, the ports with a keyed connection still open: one decrypted here
 * from captured ciphertext (not one the calls path reads), or one let go
 * idle while open, which may speak again. */
size_t collector_tls_keyed_ports(const struct collector *c, uint16_t *out, size_t max);
/* Keys mode's record counts over the run (decrypted, skipped, cut). */
void collector_tls_counters(const struct collector *c, struct tls_session_counters *out);
/* A backend the target has a connection to (found in /proc): its
 * connections are followed even without their SYN. family 4/6, addr in
 * network order, port host order. */
void collector_note_upstream(struct collector *c, int family, const uint8_t *addr, uint16_t port);
/* Ends every connection now (l7top is stopping): exchanges cut short are
 * counted as http_stream_free() says, before the last snapshot. */
void collector_flush(struct collector *c);
/*
 * Keys mode (cfg.tls_decrypt). A secret caught at a handshake: id_kind and
 * kinds of collector/tls_kinds.h (TLS 1.3 traffic secrets by transcript
 * hash, TLS 1.2 master secrets by client_random). Returns 0, -ENOSPC when
 * the bounded table is full (counted), -EINVAL, or -ENOTSUP without keys
 * mode. Call collector_tls_kick() after a batch so waiting records decrypt.
 */
int collector_tls_secret(struct collector *c, enum tls_id_kind id_kind, const uint8_t *id,
			 size_t id_len, enum tls_secret_kind kind, const uint8_t *secret, size_t len,
			 uint64_t now_ns);
/* An NSS key log (SSLKEYLOGFILE format): every line becomes a secret. */
int collector_tls_keylog(struct collector *c, const char *buf, size_t len, uint64_t now_ns,
			 size_t *bad_lines);
void collector_tls_kick(struct collector *c);
/*
 * Has a session's record waited for keys since the last call? Its secret
 * was caught before the server sent it, so it is in the probe's ring: read
 * the ring and kick now, not after the batch. A batch read late (l7top
 * descheduled under load) can hold a new connection's whole first second,
 * more than a session may hold waiting (TLS_WAIT_MAX).
 */
bool collector_tls_keys_wanted(struct collector *c);
/*
 * Keys mode off after all (the TLS probe chose calls mode for every
 * process): wire TLS is set aside again instead of waiting for keys that
 * will never come. Call before the first packet; the secrets are wiped.
 */
void collector_tls_decrypt_off(struct collector *c);
/*
 * The capture lost packets (its ring overflowed): the holes they left will
 * never fill, so give up on every hole now instead of waiting out the
 * bounds, and let each stream resync.
 */
void collector_skip_holes(struct collector *c);
/* Forgets idle and closed connections, and gives up on holes that waited
 * too long; call about once a second. */
void collector_expire(struct collector *c, uint64_t now_ns);
/* The interval just ended: endpoints plus counter deltas. NULL on ENOMEM. */
struct snapshot *collector_snapshot(struct collector *c, uint64_t ts_ms, uint64_t dur_ms);
/* Counters since start (for headers and exporters). */
void collector_totals(struct collector *c, struct snap_counters *out);
/* A fold learned before (the DB remembers them): applied from now on and
 * not reported again in snapshots. 0 or -errno (route_learn_add()). */
int collector_fold_add(struct collector *c, const char *prefix);
/* The folded prefixes so far, in the order learned; NULL past the end. */
const char *collector_fold(const struct collector *c, size_t i);

#endif
