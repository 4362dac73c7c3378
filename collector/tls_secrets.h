/* SPDX-License-Identifier: MIT */
/*
 * tls_secrets: TLS session secrets waiting for the connection they belong
 * to. Pure: secrets in, secrets out, no I/O, no globals, time as a parameter.
 *
 * Secrets arrive from two places:
 *  - the EVP_KDF_derive probe: TLS 1.3 traffic secrets keyed by the
 *    transcript hash of ClientHello..ServerHello (the `data` of
 *    "s hs traffic"), TLS 1.2 master secrets keyed by client_random;
 *  - an NSS key log (SSLKEYLOGFILE, --keylog-in), which keys everything by
 *    client_random.
 * A tls_session recomputes both identifiers from the captured handshake and
 * takes what matches.
 *
 * The table is bounded: when full, new secrets are refused and counted
 * (a connection whose keys are refused is then counted undecryptable by its
 * session, so nothing is lost silently). Entries live at most ttl_ns; every
 * secret byte is wiped (OPENSSL_cleanse) when its entry is used up,
 * expires, or the table is freed.
 */
#ifndef L7TOP_TLS_SECRETS_H
#define L7TOP_TLS_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "collector/tls_kinds.h"

#define TLS_SECRET_MAX  48   /* SHA-384 output; TLS 1.2 master secret is 48 too */
#define TLS_ID_MAX      48   /* client_random (32) or a transcript hash (32/48) */

#define TLS_SECRET_BIT(k)  (1u << (k))
#define TLS_SECRETS_13     (TLS_SECRET_BIT(TLS_SECRET_CLIENT_HS) | TLS_SECRET_BIT(TLS_SECRET_SERVER_HS) | \
			    TLS_SECRET_BIT(TLS_SECRET_CLIENT_AP) | TLS_SECRET_BIT(TLS_SECRET_SERVER_AP))
#define TLS_SECRETS_12     TLS_SECRET_BIT(TLS_SECRET_MASTER)

/* The secrets of one connection, as far as they are known. */
struct tls_secret_set {
	unsigned have;               /* TLS_SECRET_BIT()s present */
	uint8_t len[TLS_SECRET_KINDS];
	uint8_t val[TLS_SECRET_KINDS][TLS_SECRET_MAX];
};

struct tls_secrets_stats {
	uint64_t added;              /* secrets accepted */
	uint64_t full;               /* secrets refused: table full */
	uint64_t expired;            /* entries wiped unused after ttl */
	uint64_t used;               /* entries handed over complete */
};

struct tls_secrets;

/* max entries (one per connection), ttl_ns lifetime. NULL: out of memory. */
struct tls_secrets *tls_secrets_new(size_t max, uint64_t ttl_ns);
/* Wipes and frees everything. NULL is fine. */
void tls_secrets_free(struct tls_secrets *t);
/*
 * Adds one secret to the entry of (idk, id), creating it if needed; a
 * secret already present is overwritten. Returns 0, -EINVAL (bad lengths
 * or kind), -ENOSPC (table full, counted in stats.full).
 */
int tls_secrets_add(struct tls_secrets *t, enum tls_id_kind idk, const uint8_t *id, size_t id_len,
		    enum tls_secret_kind kind, const uint8_t *secret, size_t len, uint64_t now_ns);
/*
 * Copies into out the secrets of (idk, id) that out lacks; returns the
 * TLS_SECRET_BIT()s now present in out. When the entry holds every kind in
 * `want`, it has been used up: it is wiped and removed.
 */
unsigned tls_secrets_take(struct tls_secrets *t, enum tls_id_kind idk, const uint8_t *id, size_t id_len,
			  unsigned want, struct tls_secret_set *out);
/* Wipes entries older than the ttl. Call it from the periodic tick. */
void tls_secrets_expire(struct tls_secrets *t, uint64_t now_ns);
size_t tls_secrets_count(const struct tls_secrets *t);
void tls_secrets_get_stats(const struct tls_secrets *t, struct tls_secrets_stats *st);
/* Wipes a set (before it goes out of scope or is freed). */
void tls_secret_set_wipe(struct tls_secret_set *s);

/*
 * Parses an NSS key log (the SSLKEYLOGFILE format: "LABEL <client_random
 * hex> <secret hex>" lines; CLIENT_RANDOM, CLIENT/SERVER_HANDSHAKE_TRAFFIC_
 * SECRET, CLIENT/SERVER_TRAFFIC_SECRET_0 are kept, other labels and '#'
 * comments skipped) into t, keyed by client_random. Returns the number of
 * secrets added, or -ENOSPC when the table refused one (the rest is still
 * read). *bad (may be NULL) gets the count of malformed lines.
 */
int tls_keylog_parse(struct tls_secrets *t, const char *buf, size_t len, uint64_t now_ns, size_t *bad);
/* The key log label of a kind ("CLIENT_RANDOM", ...), for writing one. */
const char *tls_keylog_label(enum tls_secret_kind kind);

#endif
