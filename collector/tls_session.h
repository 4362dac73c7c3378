/* SPDX-License-Identifier: MIT */
/*
 * tls_session: the TLS record layer of one TCP connection, between
 * reassembly and HTTP. Pure: the two reassembled byte streams in, the
 * application-data plaintext out, no I/O, no globals; secrets come from a
 * tls_secrets table the caller fills (probe or key log).
 *
 * What it reads on the wire: record framing (records split across chunks
 * or packed several to a chunk), the ClientHello (client_random, offered
 * versions) and ServerHello (server_random, suite, version, extended master
 * secret, HelloRetryRequest). From those it computes the identifiers its
 * secrets are filed under (client_random; for TLS 1.3 also the transcript
 * hash of ClientHello..ServerHello with the suite's hash), then derives
 * keys itself: HKDF-Expand-Label "key"/"iv" and KeyUpdate's "traffic upd"
 * for TLS 1.3, the PRF "key expansion" key block for TLS 1.2.
 *
 * Supported: TLS 1.3 with TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 * TLS_CHACHA20_POLY1305_SHA256; TLS 1.2 with the AES-GCM and
 * ChaCha20-Poly1305 suites (ECDHE, DHE or RSA key exchange alike: only the
 * master secret matters). Anything else (CBC or CCM suites, TLS <= 1.1,
 * 0-RTT early data, renegotiation) makes the session give up: counted once
 * in `undecryptable`, with a short reason readable per connection.
 *
 * Handshake records are decrypted too (once per connection): finding each
 * side's Finished, and KeyUpdate later, is how the keys are switched at the
 * right record, and it keeps the implicit sequence numbers exact.
 *
 * Records that need keys not yet known wait, copied, in a bounded
 * per-connection buffer (TLS_WAIT_MAX bytes), in order, with their
 * timestamps; tls_session_kick() retries them once new secrets are in the
 * table. What overflows is dropped and counted (waiting_overflow); the
 * first record after it is found again by trial decryption.
 *
 * Lost bytes (tls_session_gap): inside a record whose header was seen, that
 * record is skipped and framing continues exactly; otherwise the direction
 * scans for a record header and tries sequence numbers seq..seq+k (and the
 * next key generation) until a tag verifies: counted in resyncs. The
 * plaintext that could not be recovered is reported through sink->lost (its
 * length is exact for TLS 1.2, within the record padding for TLS 1.3), so
 * the HTTP parser can skip or resync in turn.
 *
 * Secrets and derived keys are wiped (OPENSSL_cleanse) as soon as they are
 * no longer needed, and all of them when the session is freed.
 */
#ifndef L7TOP_TLS_SESSION_H
#define L7TOP_TLS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/tls_secrets.h"

/* Same values as enum http_dir. */
enum tls_side { TLS_CLIENT = 0, TLS_SERVER = 1 };

#define TLS_WAIT_MAX      (256u * 1024)   /* default bytes of records waiting for keys, per session */
#define TLS_RESYNC_MAX    256u            /* sequence numbers tried after a gap */
#define TLS_REASON_MAX    48

/* Summed over sessions by the caller (one struct shared by all). */
struct tls_session_counters {
	uint64_t records;            /* records decrypted (handshake + application) */
	uint64_t plain_bytes;        /* application bytes handed to sink->plain */
	uint64_t undecryptable;      /* sessions given up (see tls_session_reason) */
	uint64_t tag_failures;       /* records whose tag did not verify */
	uint64_t waiting_overflow;   /* records dropped: no room to wait for keys */
	uint64_t desyncs;            /* directions whose record framing was lost (gap, bad header) */
	uint64_t resyncs;            /* ... found again by trial decryption (also after overflow) */
	uint64_t records_lost;       /* records skipped because of lost bytes */
	uint64_t close_notify;       /* directions closed by close_notify */
	uint64_t alerts;             /* other alerts (fatal ones end the direction) */
	uint64_t records_cut;        /* records the capture cut on purpose, counted by arithmetic */
	uint64_t cut_unframed;       /* cut runs that did not add up (framing found by trial) */
	uint64_t records_skipped;    /* body records counted without opening them (body_skip) */
	uint64_t skipped_bytes;      /* ... their plaintext bytes */
	/* Why the last session counted in undecryptable gave up ("" none):
	 * said at exit, so that a run that lost a connection says how. */
	char last_give_up[TLS_REASON_MAX];
};

/*
 * The algorithms sessions use, fetched once (tls_crypto_new) and shared by
 * every session of a caller; read-only after that. NULL: OpenSSL lacks one.
 */
struct tls_crypto;
struct tls_crypto *tls_crypto_new(void);
void tls_crypto_free(struct tls_crypto *cr);

struct tls_session_sink {
	/* dir: TLS_CLIENT (requests) or TLS_SERVER; ts: timestamp of the chunk
	 * that completed the record. buf is valid during the call only. */
	void (*plain)(void *ctx, int dir, const uint8_t *buf, size_t len, uint64_t ts);
	/* len plaintext bytes of dir will never come (may be NULL). */
	void (*lost)(void *ctx, int dir, uint64_t len, uint64_t ts);
	/* A cut run of dir did not add up (may be NULL): stop cutting it. */
	void (*cut_failed)(void *ctx, int dir);
	/* The plaintext of the Content-Length body in progress on dir that the
	 * HTTP layer still expects, 0 when unknown (may be NULL: unknown).
	 * Asked when a cut run begins. */
	uint64_t (*body_left)(void *ctx, int dir);
	void *ctx;
	struct tls_session_counters *cnt;
	struct tls_secrets *secrets;  /* where keys are looked up (taken) */
	/* Shared algorithms (tls_crypto_new); NULL: each session fetches its own. */
	const struct tls_crypto *crypto;
	/* Optional (--keylog): each secret the session takes, once, with the
	 * connection's client_random (what an NSS key log files it under). */
	void (*keyed)(void *ctx, const uint8_t client_random[32], enum tls_secret_kind kind,
		      const uint8_t *secret, size_t len);
};

/* What the handshake said, for the UI / session row. */
struct tls_session_info {
	uint16_t version;            /* 0x0303, 0x0304; 0 before the ServerHello */
	uint16_t suite;              /* IANA cipher suite number */
	uint16_t offered_max;        /* highest version the ClientHello offered */
	bool ems;                    /* TLS 1.2 extended master secret */
	bool hrr;                    /* TLS 1.3 HelloRetryRequest */
	bool keyed[2];               /* keys known for each direction */
	uint64_t records[2];         /* records decrypted per direction */
	uint32_t key_updates[2];     /* TLS 1.3 KeyUpdates followed per direction */
	const char *reason;          /* "" or why decryption stopped */
};

struct tls_session;

/* wait_max: bytes that may wait for keys (0 = TLS_WAIT_MAX). NULL: out of memory. */
struct tls_session *tls_session_new(uint32_t wait_max);
/*
 * Wipes and frees. A session that still held records waiting for keys
 * counts as undecryptable ("no keys"). NULL is fine.
 */
void tls_session_free(struct tls_session *s, const struct tls_session_sink *out);
/* Reassembled bytes of one direction, in order. */
void tls_session_feed(struct tls_session *s, int dir, const uint8_t *buf, size_t len, uint64_t ts,
		      const struct tls_session_sink *out);
/* len bytes of dir were not captured (a gap from tcp_reasm). */
void tls_session_gap(struct tls_session *s, int dir, uint64_t len, uint64_t ts,
		     const struct tls_session_sink *out);
/*
 * len bytes of dir were cut on purpose by the capture (keys mode: the kernel
 * cuts response bodies, see tls_conns in probes/sockfilter.h): whole
 * application-data records, or the rest of one whose start was kept (a
 * response's head record: that start is deciphered without its tag and
 * handed on). Consecutive cuts form one run, whose body plaintext R is
 * asked of sink->body_left when it begins; the record after the run
 * settles it: its ciphertext G must be R plus n records' overhead (n
 * integral; the rest of a head record counts its tag alone) and the record
 * must verify at the sequence number after those n. Then the body is
 * reported lost with exactly R bytes (the HTTP layer completes the response
 * at the last cut's time) and decryption goes on. Anything else is counted
 * in cut_unframed, told to cut_failed, and handled as lost bytes.
 */
void tls_session_cut(struct tls_session *s, int dir, uint64_t len, uint64_t ts,
		     const struct tls_session_sink *out);
/* dir ended (FIN): a cut run with no record after it is settled by the
 * arithmetic alone (tls_session_free() does the same). */
void tls_session_eof(struct tls_session *s, int dir, const struct tls_session_sink *out);
/* New secrets may be in out->secrets: decrypt what was waiting. */
void tls_session_kick(struct tls_session *s, const struct tls_session_sink *out);
/* Records are waiting for keys (worth a kick when secrets arrive). */
bool tls_session_waiting(const struct tls_session *s);
/* Gave up: unsupported, undecryptable or not TLS; the rest is ignored. */
bool tls_session_dead(const struct tls_session *s);
void tls_session_get_info(const struct tls_session *s, struct tls_session_info *out);

#endif
