/* SPDX-License-Identifier: MIT */
/*
 * tls_keys: what probes/tls_keys.bpf.c and probes/tls.c share.
 *
 * One entry uprobe on libcrypto's exported EVP_KDF_derive(ctx, out, outlen,
 * params) sees every key derivation OpenSSL 3.x makes. The probe reads the
 * OSSL_PARAM array by name only (no private struct offsets) and passes on
 * the TLS secrets, nothing else:
 *
 *  - TLS 1.3 (TLS13-KDF, HKDF-Expand-Label): a call labelled "s hs traffic",
 *    "c hs traffic", "s ap traffic" or "c ap traffic" derives a traffic
 *    secret into `out`, which an entry probe cannot see; the "key" expansion
 *    that follows on the same thread takes that very secret as its `key`
 *    param. So the labelled call leaves (kind, its `data` = transcript hash)
 *    per thread, and the next "key" call emits the secret with them.
 *    The handshake secrets' transcript hash (ClientHello..ServerHello) is
 *    what the collector recomputes from the wire; the application secrets
 *    carry the longer hash (..server Finished): tls_keys_decode() ties them
 *    to the handshake's hash (see tls.h).
 *  - TLS 1.2 (TLS1-PRF): the "key expansion" call carries the master secret
 *    (`secret`) and the seeds label, server_random, client_random.
 *
 * Records: fixed-size struct tls_key_event in ring buffer "keys_rb"; map
 * "key_drops" (per-CPU __u64, index 0) counts records the ring refused.
 */
#ifndef L7TOP_TLS_KEYS_H
#define L7TOP_TLS_KEYS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "collector/tls_kinds.h"

#define TLS_KEY_SECRET_MAX 48   /* SHA-384 output; the TLS 1.2 master secret */
#define TLS_KEY_ID_MAX     48   /* a transcript hash (32/48) or client_random (32) */
#define TLS_KEY_PARAMS_MAX 10   /* OSSL_PARAMs read per call (TLS1-PRF uses 8) */

enum tls_key_event_kind {
	TLS_KEY_EV_SECRET = 1,
};

/* One secret. Fixed size: the reader checks data_sz == sizeof first. */
struct tls_key_event {
	__u32 kind;                /* TLS_KEY_EV_SECRET */
	__u32 secret_kind;         /* enum tls_secret_kind (collector/tls_kinds.h) */
	__u32 tgid;
	__u32 tid;
	__u64 ts;                  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 id_len;              /* <= TLS_KEY_ID_MAX */
	__u32 secret_len;          /* <= TLS_KEY_SECRET_MAX */
	__u8 id[TLS_KEY_ID_MAX];
	__u8 secret[TLS_KEY_SECRET_MAX];
};

/* The layout of one OSSL_PARAM (OpenSSL 3.x, public ABI in <openssl/core.h>). */
#define OSSL_PARAM_SZ         40
#define OSSL_PARAM_KEY_OFF    0
#define OSSL_PARAM_TYPE_OFF   8
#define OSSL_PARAM_DATA_OFF   16
#define OSSL_PARAM_SIZE_OFF   24

#endif
