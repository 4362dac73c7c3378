/* SPDX-License-Identifier: MIT */
/*
 * tls_kinds: how HTTPS is read and what a TLS secret is, numbered once for
 * every side: the BPF programs (probes/tls_keys.bpf.c writes
 * enum tls_secret_kind into its ring records), the loader (probes/tls.c),
 * the core (collector/) and main. Enums only, so BPF code can include it.
 */
#ifndef L7TOP_TLS_KINDS_H
#define L7TOP_TLS_KINDS_H

/*
 * How HTTPS is read: what --tls asks for, and what the loader reports once
 * it has looked at the processes (CALLS, KEYS, KEYS_CALLS or NONE).
 */
enum tls_mode {
	TLS_MODE_OFF = 0,          /* plaintext ports only; TLS connections are set aside */
	TLS_MODE_CALLS,            /* uprobes on SSL_read/SSL_write: plaintext in the process */
	TLS_MODE_KEYS,             /* secrets at the handshake; ciphertext decrypted here */
	TLS_MODE_AUTO,             /* keys where OpenSSL 3.x derives by EVP_KDF_derive, else calls */
	TLS_MODE_KEYS_CALLS,       /* reported: some processes in each */
	TLS_MODE_NONE,             /* reported: no OpenSSL found in any process yet */
	TLS_MODE_KEYLOG,           /* reported: a capture decrypted with --keylog-in */
	TLS_MODES
};

#ifndef __bpf__
/* "off", "calls", "keys", "auto", "keys+calls", "none", "keylog": --tls
 * takes the first four; headers and the session row show any. */
const char *tls_mode_name(enum tls_mode m);
#endif

/* What a secret is. In a key log (NSS format) each has its label. */
enum tls_secret_kind {
	TLS_SECRET_CLIENT_HS = 0,  /* CLIENT_HANDSHAKE_TRAFFIC_SECRET, "c hs traffic" */
	TLS_SECRET_SERVER_HS,      /* SERVER_HANDSHAKE_TRAFFIC_SECRET, "s hs traffic" */
	TLS_SECRET_CLIENT_AP,      /* CLIENT_TRAFFIC_SECRET_0, "c ap traffic" */
	TLS_SECRET_SERVER_AP,      /* SERVER_TRAFFIC_SECRET_0, "s ap traffic" */
	TLS_SECRET_MASTER,         /* TLS 1.2 master secret (CLIENT_RANDOM line) */
	TLS_SECRET_KINDS
};

/* Which connection a secret belongs to, by what it is keyed on. */
enum tls_id_kind {
	TLS_ID_CLIENT_RANDOM = 0,  /* TLS 1.2: the ClientHello's random */
	TLS_ID_TRANSCRIPT,         /* TLS 1.3: Hash(ClientHello..ServerHello), the suite's hash */
};

#endif
