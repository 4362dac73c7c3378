// SPDX-License-Identifier: MIT
#include "collector/tls_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "collector/tls_aead.h"

#define HDR            5
#define TAG            16
#define REC_MAX        (16384u + 2048u)   /* TLS 1.2 ciphertext bound (1.3's is lower) */
#define REC_MIN        17u                /* 1.3: inner type + tag; 1.2 AEAD records are longer */
#define HELLO_MAX      (64u * 1024)       /* ClientHello(s) + ServerHello kept for the transcript */
#define FAIL_MAX       16u                /* consecutive records that fail: give up */
#define SCAN_CAP       (HDR + REC_MAX)

enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23, CT_HEARTBEAT = 24 };
enum { HS_CLIENT_HELLO = 1, HS_SERVER_HELLO = 2, HS_FINISHED = 20, HS_KEY_UPDATE = 24 };
enum { EP_HS = 0, EP_AP = 1 };
enum { R_PLAIN, R_CIPHER, R_WAIT };

#define V12 0x0303
#define V13 0x0304

/* SHA-256("HelloRetryRequest"): the ServerHello.random of an HRR (RFC 8446 4.1.3). */
static const uint8_t HRR_RANDOM[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* Indexes into tls_crypto's fetched algorithms. */
enum { MD_SHA256, MD_SHA384, MD_COUNT };
enum { C_AES128GCM, C_AES256GCM, C_CHACHA, C_COUNT };

static const char *const MD_NAMES[MD_COUNT] = { "SHA256", "SHA384" };
static const char *const CIPHER_NAMES[C_COUNT] = { "AES-128-GCM", "AES-256-GCM",
						   "ChaCha20-Poly1305" };
/* The block cipher under each AEAD, for tls_aead's small-record way. */
static const char *const ECB_NAMES[C_COUNT] = { "AES-128-ECB", "AES-256-ECB", NULL };

struct suite {
	uint16_t id, version;
	uint8_t cipher;              /* C_* */
	uint8_t key_len;
	uint8_t iv_len;              /* fixed IV: 12, or 4 for TLS 1.2 GCM (salt) */
	uint8_t explicit_len;        /* per-record nonce on the wire: 8 for TLS 1.2 GCM */
	uint8_t md;                  /* MD_*: HKDF / PRF / transcript hash */
};

static const struct suite SUITES[] = {
	{ 0x1301, V13, C_AES128GCM, 16, 12, 0, MD_SHA256 },
	{ 0x1302, V13, C_AES256GCM, 32, 12, 0, MD_SHA384 },
	{ 0x1303, V13, C_CHACHA, 32, 12, 0, MD_SHA256 },
	{ 0xc02b, V12, C_AES128GCM, 16, 4, 8, MD_SHA256 },    /* ECDHE-ECDSA */
	{ 0xc02c, V12, C_AES256GCM, 32, 4, 8, MD_SHA384 },
	{ 0xc02f, V12, C_AES128GCM, 16, 4, 8, MD_SHA256 },    /* ECDHE-RSA */
	{ 0xc030, V12, C_AES256GCM, 32, 4, 8, MD_SHA384 },
	{ 0x009c, V12, C_AES128GCM, 16, 4, 8, MD_SHA256 },    /* RSA */
	{ 0x009d, V12, C_AES256GCM, 32, 4, 8, MD_SHA384 },
	{ 0x009e, V12, C_AES128GCM, 16, 4, 8, MD_SHA256 },    /* DHE-RSA */
	{ 0x009f, V12, C_AES256GCM, 32, 4, 8, MD_SHA384 },
	{ 0xcca8, V12, C_CHACHA, 32, 12, 0, MD_SHA256 },
	{ 0xcca9, V12, C_CHACHA, 32, 12, 0, MD_SHA256 },
	{ 0xccaa, V12, C_CHACHA, 32, 12, 0, MD_SHA256 },
};

/*
 * Algorithms fetched once. An OpenSSL 3 fetch costs microseconds, and
 * EVP_KDF_derive must never run here: keys mode's uprobe sits on it in the
 * very libcrypto l7top maps, so each call of l7top's own would trap (it was
 * most of l7top's CPU on Connection: close loads). HKDF-Expand and the TLS
 * 1.2 PRF are therefore built on HMAC (EVP_MAC), as RFC 5869 and RFC 5246
 * define them.
 */
struct tls_crypto {
	EVP_MD *md[MD_COUNT];
	EVP_MAC_CTX *hmac[MD_COUNT];     /* keyed with a dummy key; dup'd and rekeyed per use */
	EVP_CIPHER *cipher[C_COUNT];
	EVP_CIPHER *ecb[C_COUNT];        /* NULL where the AEAD is no block cipher mode */
};

struct keys {
	struct tls_aead *aead;       /* NULL = no keys */
	uint8_t iv[12];
	uint64_t seq;                /* implicit sequence number of the next record */
};

struct wait_rec {
	struct wait_rec *next;
	uint64_t ts;
	uint32_t len;
	uint8_t data[];
};

/* One direction. */
struct side {
	/* framing: the record being assembled, header included */
	uint8_t *rec;
	uint32_t cap, have, need;    /* need: HDR until the header is read */
	uint32_t skip;               /* rest of a record broken by a gap */
	bool skim;                   /* the record is a body one, counted unread (skim_starts) */
	uint8_t skim_last;           /* its last data byte (TLS 1.3: the inner content type) */
	bool resync;                 /* framing lost: rec holds raw bytes to scan */
	bool resync_counted;         /* what trial mode finds counts as a resync */
	uint32_t trial_k;            /* >0: seq (and key generation) uncertain by this much */
	uint64_t lost_cipher;        /* ciphertext bytes lost since the last good record */
	unsigned fails;              /* consecutive records that did not verify */
	/* records waiting for keys */
	struct wait_rec *wait, *wait_tail;
	bool dropping;
	uint32_t dropped;
	/* keys */
	int epoch;                   /* TLS 1.3 EP_HS / EP_AP */
	bool ccs;                    /* TLS 1.2 ChangeCipherSpec seen: encrypted from here */
	struct keys k;
	uint8_t secret[TLS_SECRET_MAX];  /* TLS 1.3 current traffic secret (KeyUpdate) */
	uint8_t secret_len;
	bool switch_ap, update;      /* Finished / KeyUpdate in this record */
	/* handshake message stream (plaintext and decrypted alike) */
	uint8_t hs_hdr[4];
	uint8_t hs_hdr_have;
	uint32_t hs_left;            /* body bytes of the current message still to come */
	uint8_t *hello;              /* ClientHello / ServerHello being kept */
	uint32_t hello_len, hello_have;
	bool closed;
	uint64_t records;
	uint32_t key_updates;
	/* whole records the capture cut since the last record read (tls_session_cut) */
	uint64_t cut_len;            /* their ciphertext bytes; 0 = none pending */
	uint64_t cut_body;           /* body plaintext the HTTP layer expected when they began */
	uint64_t cut_ts;             /* timestamp of the last of them */
	uint32_t cut_extra;          /* overhead of a record whose head came before the run */
};

struct tls_session {
	struct side side[2];
	const struct suite *suite;
	uint16_t version, offered_max, suite_id;
	bool ch_done, ch2_done, sh_done, hrr, ems, early_offered;
	uint8_t client_random[32], server_random[32];
	uint8_t thash[EVP_MAX_MD_SIZE];
	unsigned thash_len;
	uint8_t *transcript;         /* ClientHello..ServerHello (TLS 1.3 matching) */
	uint32_t transcript_len, transcript_cap;
	struct tls_secret_set sec;
	struct tls_crypto *own_crypto;  /* the sink gave none: fetched for this session */
	unsigned consumed;           /* TLS_SECRET_BIT()s already turned into keys and wiped */
	uint32_t wait_bytes, wait_max;
	bool dead;
	char reason[TLS_REASON_MAX];
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static void cnt_add(const struct tls_session_sink *out, size_t off, uint64_t n)
{
	if (out->cnt)
		*(uint64_t *)((char *)out->cnt + off) += n;
}
#define COUNT(out, field, n) cnt_add(out, offsetof(struct tls_session_counters, field), n)

/* ------------------------------------------------------------ crypto */

static void keys_wipe(struct keys *k)
{
	tls_aead_free(k->aead);        /* cleanses the key schedule */
	OPENSSL_cleanse(k, sizeof(*k));
}

struct tls_crypto *tls_crypto_new(void)
{
	struct tls_crypto *cr = calloc(1, sizeof(*cr));
	EVP_MAC *mac = cr ? EVP_MAC_fetch(NULL, "HMAC", NULL) : NULL;
	static const uint8_t dummy[1];
	bool ok = mac != NULL;

	for (int i = 0; ok && i < MD_COUNT; i++) {
		OSSL_PARAM p[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)MD_NAMES[i], 0),
			OSSL_PARAM_construct_end(),
		};
		cr->md[i] = EVP_MD_fetch(NULL, MD_NAMES[i], NULL);
		cr->hmac[i] = EVP_MAC_CTX_new(mac);
		ok = cr->md[i] && cr->hmac[i] && EVP_MAC_init(cr->hmac[i], dummy, 1, p);
	}
	for (int i = 0; ok && i < C_COUNT; i++) {
		ok = (cr->cipher[i] = EVP_CIPHER_fetch(NULL, CIPHER_NAMES[i], NULL)) != NULL;
		if (ok && ECB_NAMES[i])
			ok = (cr->ecb[i] = EVP_CIPHER_fetch(NULL, ECB_NAMES[i], NULL)) != NULL;
	}
	EVP_MAC_free(mac);
	if (!ok) {
		tls_crypto_free(cr);
		return NULL;
	}
	return cr;
}

void tls_crypto_free(struct tls_crypto *cr)
{
	if (!cr)
		return;
	for (int i = 0; i < MD_COUNT; i++) {
		EVP_MD_free(cr->md[i]);
		EVP_MAC_CTX_free(cr->hmac[i]);
	}
	for (int i = 0; i < C_COUNT; i++) {
		EVP_CIPHER_free(cr->cipher[i]);
		EVP_CIPHER_free(cr->ecb[i]);
	}
	free(cr);
}

/*
 * A copy of the digest's HMAC context keyed with key, for every MAC
 * hmac_next() makes under that key: the key's pads are hashed once. The
 * PRF makes 4 to 6 MACs under one master secret, a TLS 1.3 secret gives a
 * key and an iv: a fresh copy keyed per MAC was a fifth of l7top's CPU
 * per TLS 1.2 handshake under Connection: close. NULL on failure; the
 * caller frees it (EVP_MAC_CTX_free cleanses the key it holds).
 */
static EVP_MAC_CTX *hmac_keyed(const struct tls_crypto *cr, int md, const uint8_t *key, size_t klen)
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(cr->hmac[md]);

	if (c && !EVP_MAC_init(c, key, klen, NULL)) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	return c;
}

/* HMAC(c's key, data) into out (its size); the length or -EIO. A NULL key
 * starts again from the keyed state (OpenSSL's HMAC keeps it). */
static int hmac_next(EVP_MAC_CTX *c, const uint8_t *data, size_t dlen, uint8_t out[EVP_MAX_MD_SIZE])
{
	size_t n = 0;

	return c && EVP_MAC_init(c, NULL, 0, NULL) && EVP_MAC_update(c, data, dlen) &&
	       EVP_MAC_final(c, out, &n, EVP_MAX_MD_SIZE) ? (int)n : -EIO;
}

/*
 * HKDF-Expand-Label(secret, label, "", len) of RFC 8446 7.1, the secret
 * keyed in c, len <= one hash output (what TLS 1.3 asks: keys, ivs, next
 * secrets), so HKDF-Expand (RFC 5869 2.3) is the single block
 * T(1) = HMAC(secret, info || 0x01).
 */
static int expand_label(EVP_MAC_CTX *c, const char *label, uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 6 + 12 + 1 + 1], t[EVP_MAX_MD_SIZE];
	size_t ll = strlen(label), n = 0;
	int hl;

	if (ll > 12)
		return -EINVAL;
	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = 0;                 /* empty context */
	info[n++] = 1;                 /* HKDF-Expand's block counter */
	hl = hmac_next(c, info, n, t);
	if (hl < 0 || len > (size_t)hl) {
		OPENSSL_cleanse(t, sizeof(t));
		return -EIO;
	}
	memcpy(out, t, len);
	OPENSSL_cleanse(t, sizeof(t));
	return 0;
}

/*
 * TLS 1.2 PRF (RFC 5246 5): P_hash(secret, seed) = HMAC(secret, A(1) + seed)
 * + HMAC(secret, A(2) + seed) + ..., A(0) = seed, A(i) = HMAC(secret, A(i-1)).
 */
static int prf12(const struct tls_crypto *cr, int md, const uint8_t *secret, size_t slen,
		 const uint8_t *seed, size_t seedlen, uint8_t *out, size_t len)
{
	uint8_t a[EVP_MAX_MD_SIZE + 128], t[EVP_MAX_MD_SIZE];
	size_t alen = seedlen, done = 0;
	EVP_MAC_CTX *c;
	int rc = 0;

	if (seedlen > 128)
		return -EINVAL;
	if (!(c = hmac_keyed(cr, md, secret, slen)))
		return -EIO;
	memcpy(a, seed, seedlen);
	while (done < len) {
		int hl = hmac_next(c, a, alen, a);     /* A(i), in place */

		if (hl < 0) {
			rc = -EIO;
			break;
		}
		alen = (size_t)hl;
		memcpy(a + alen, seed, seedlen);
		if (hmac_next(c, a, alen + seedlen, t) != hl) {
			rc = -EIO;
			break;
		}
		memcpy(out + done, t, len - done < alen ? len - done : alen);
		done += alen;
	}
	EVP_MAC_CTX_free(c);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

static int keys_set(const struct tls_crypto *cr, const struct suite *su, const uint8_t *key,
		    const uint8_t *iv, struct keys *k)
{
	keys_wipe(k);
	k->aead = tls_aead_new(cr->cipher[su->cipher], cr->ecb[su->cipher], key, su->key_len);
	if (!k->aead)
		return -EIO;
	memcpy(k->iv, iv, su->iv_len);
	return 0;
}

/* TLS 1.3 traffic keys from a traffic secret. */
static int keys_from_secret13(const struct tls_crypto *cr, const struct suite *su,
			      const uint8_t *secret, size_t slen, struct keys *k)
{
	uint8_t key[32], iv[12];
	EVP_MAC_CTX *c = hmac_keyed(cr, su->md, secret, slen);
	int rc = c ? expand_label(c, "key", key, su->key_len) : -EIO;
	if (!rc)
		rc = expand_label(c, "iv", iv, 12);
	EVP_MAC_CTX_free(c);
	if (!rc)
		rc = keys_set(cr, su, key, iv, k);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return rc;
}

/* iv XOR the sequence number, left-padded (RFC 8446 5.3, RFC 7905). */
static void nonce_xor(const uint8_t iv[12], uint64_t seq, uint8_t out[12])
{
	memcpy(out, iv, 12);
	for (int i = 0; i < 8; i++)
		out[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

/*
 * The nonce record r (header first, clen bytes of content) was sealed with
 * at seq, and its additional data: TLS 1.3's is the header itself (the
 * pointer returned is r), TLS 1.2's is built in aad. *aad_len its length.
 */
static inline const uint8_t *record_nonce_aad(const struct tls_session *s, const struct keys *k,
					      uint64_t seq, const uint8_t *r, uint32_t clen,
					      uint8_t nonce[12], uint8_t aad[13], size_t *aad_len)
{
	if (s->version == V13) {
		nonce_xor(k->iv, seq, nonce);
		*aad_len = HDR;
		return r;
	}
	if (s->suite->explicit_len) {
		memcpy(nonce, k->iv, 4);
		memcpy(nonce + 4, r + HDR, 8);
	} else {
		nonce_xor(k->iv, seq, nonce);
	}
	for (int i = 0; i < 8; i++)
		aad[i] = (uint8_t)(seq >> (56 - 8 * i));
	memcpy(aad + 8, r, 3);
	aad[11] = (uint8_t)(clen >> 8);
	aad[12] = (uint8_t)clen;
	*aad_len = 13;
	return aad;
}

/*
 * Decrypts record r (header included, n bytes) in place with k at seq.
 * Returns the content length, *type the (inner) content type and *off where
 * the content starts in r; -EBADMSG when it does not verify.
 */
static int record_open(const struct tls_session *s, const struct keys *k, uint64_t seq, uint8_t *r,
		       uint32_t n, uint8_t *type, uint32_t *off)
{
	uint8_t nonce[12], aad_buf[13];
	uint32_t ex = s->suite->explicit_len, clen;
	const uint8_t *aad;
	size_t aad_len;

	if (n < HDR + ex + TAG + (s->version == V13))
		return -EBADMSG;
	clen = n - HDR - ex - TAG;
	aad = record_nonce_aad(s, k, seq, r, clen, nonce, aad_buf, &aad_len);
	if (tls_aead_open(k->aead, nonce, aad, aad_len, r + HDR + ex, clen, r + n - TAG))
		return -EBADMSG;
	*off = HDR + ex;
	if (s->version != V13) {
		*type = r[0];
		return (int)clen;
	}
	while (clen && !r[HDR + clen - 1])    /* zero padding, then the real type */
		clen--;
	if (!clen)
		return -EBADMSG;
	*type = r[HDR + --clen];
	return (int)clen;
}

/* Bytes a record adds around its content, for reporting lost plaintext. */
static uint32_t overhead(const struct tls_session *s)
{
	return HDR + TAG + (s->suite ? s->suite->explicit_len : 0) + (s->version == V13);
}

/* ------------------------------------------------------------ session */

static void wait_free(struct tls_session *s, struct side *sd)
{
	while (sd->wait) {
		struct wait_rec *w = sd->wait;
		sd->wait = w->next;
		s->wait_bytes -= w->len;
		free(w);
	}
	sd->wait_tail = NULL;
}

static void side_wipe(struct tls_session *s, struct side *sd)
{
	wait_free(s, sd);
	keys_wipe(&sd->k);
	OPENSSL_cleanse(sd->secret, sizeof(sd->secret));
	if (sd->rec)
		OPENSSL_cleanse(sd->rec, sd->cap);
	free(sd->rec);
	free(sd->hello);
	sd->rec = sd->hello = NULL;
	sd->cap = sd->have = 0;
}

/* The hellos kept for the transcript, no longer needed. */
static void transcript_drop(struct tls_session *s)
{
	free(s->transcript);
	s->transcript = NULL;
	s->transcript_len = s->transcript_cap = 0;
}

/* Stops decrypting for good: counted once, named in s->reason. */
__attribute__((format(printf, 3, 4)))
static void give_up(struct tls_session *s, const struct tls_session_sink *out, const char *fmt, ...)
{
	va_list ap;
	if (s->dead)
		return;
	s->dead = true;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	COUNT(out, undecryptable, 1);
	if (out->cnt)
		snprintf(out->cnt->last_give_up, sizeof(out->cnt->last_give_up), "%s", s->reason);
	for (int d = 0; d < 2; d++)
		side_wipe(s, &s->side[d]);
	tls_secret_set_wipe(&s->sec);
	transcript_drop(s);
}

struct tls_session *tls_session_new(uint32_t wait_max)
{
	struct tls_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	for (int d = 0; d < 2; d++)
		s->side[d].need = HDR;
	s->wait_max = wait_max ? wait_max : TLS_WAIT_MAX;
	return s;
}

static void cut_settle_last(struct tls_session *s, int d, const struct tls_session_sink *out);
static unsigned secrets_wanted(const struct tls_session *s);

/* A session freed while waiting: what of its handshake it lacked, so that
 * a lost connection says whether capture or the key probe missed it. */
static void give_up_waiting(struct tls_session *s, const struct tls_session_sink *out)
{
	unsigned want = secrets_wanted(s);

	if (!s->ch_done)
		give_up(s, out, "no keys: its ClientHello never read");
	else if (!s->sh_done)
		give_up(s, out, "no keys: its ServerHello never read");
	else
		give_up(s, out, "no keys: TLS 1.%d, %d of %d secrets caught", s->version == V13 ? 3 : 2,
			__builtin_popcount(s->sec.have & want), __builtin_popcount(want));
}

void tls_session_free(struct tls_session *s, const struct tls_session_sink *out)
{
	if (!s)
		return;
	for (int d = 0; d < 2; d++)
		cut_settle_last(s, d, out);
	if (tls_session_waiting(s))
		give_up_waiting(s, out);
	for (int d = 0; d < 2 && !s->dead; d++) {
		/* a record cut short, or bytes never framed again: not silent */
		struct side *sd = &s->side[d];
		if (!sd->closed && (sd->have || sd->skip || sd->resync))
			COUNT(out, records_lost, 1);
	}
	for (int d = 0; d < 2; d++)
		side_wipe(s, &s->side[d]);
	tls_secret_set_wipe(&s->sec);
	free(s->transcript);
	tls_crypto_free(s->own_crypto);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

bool tls_session_waiting(const struct tls_session *s)
{
	return s->side[0].wait || s->side[1].wait;
}

bool tls_session_dead(const struct tls_session *s)
{
	return s->dead;
}

void tls_session_get_info(const struct tls_session *s, struct tls_session_info *out)
{
	memset(out, 0, sizeof(*out));
	out->version = s->version;
	out->suite = s->suite_id;
	out->offered_max = s->offered_max;
	out->ems = s->ems;
	out->hrr = s->hrr;
	for (int d = 0; d < 2; d++) {
		out->keyed[d] = s->side[d].k.aead != NULL;
		out->records[d] = s->side[d].records;
		out->key_updates[d] = s->side[d].key_updates;
	}
	out->reason = s->reason;
}

/* --------------------------------------------------------- secrets */

static unsigned secrets_wanted(const struct tls_session *s)
{
	return s->version == V13 ? TLS_SECRETS_13 : TLS_SECRETS_12;
}

/* Takes from the table whatever this connection's identifiers match. */
static void secrets_fetch(struct tls_session *s, const struct tls_session_sink *out)
{
	unsigned want = secrets_wanted(s), before = s->sec.have, got;
	if (!out->secrets || (s->sec.have & want) == want)
		return;
	tls_secrets_take(out->secrets, TLS_ID_CLIENT_RANDOM, s->client_random, 32, want, &s->sec);
	if (s->thash_len && (s->sec.have & want) != want)
		tls_secrets_take(out->secrets, TLS_ID_TRANSCRIPT, s->thash, s->thash_len, want, &s->sec);
	got = s->sec.have & ~before;
	for (enum tls_secret_kind k = 0; out->keyed && got && k < TLS_SECRET_KINDS; k++)
		if (got & TLS_SECRET_BIT(k))
			out->keyed(out->ctx, s->client_random, k, s->sec.val[k], s->sec.len[k]);
}

/* Hands out secret kind once; it is wiped from the set as it is used. */
static const uint8_t *secret_use(struct tls_session *s, enum tls_secret_kind kind, size_t *len)
{
	unsigned bit = TLS_SECRET_BIT(kind);
	if (!(s->sec.have & bit) || (s->consumed & bit))
		return NULL;
	*len = s->sec.len[kind];
	return s->sec.val[kind];
}

static void secret_done(struct tls_session *s, enum tls_secret_kind kind)
{
	OPENSSL_cleanse(s->sec.val[kind], sizeof(s->sec.val[kind]));
	s->consumed |= TLS_SECRET_BIT(kind);
}

static enum tls_secret_kind kind13(int d, int epoch)
{
	if (epoch == EP_HS)
		return d == TLS_CLIENT ? TLS_SECRET_CLIENT_HS : TLS_SECRET_SERVER_HS;
	return d == TLS_CLIENT ? TLS_SECRET_CLIENT_AP : TLS_SECRET_SERVER_AP;
}

/* The sink's algorithms, else the session's own (fetched once); NULL: out of memory. */
static const struct tls_crypto *crypto(struct tls_session *s, const struct tls_session_sink *out)
{
	if (out->crypto)
		return out->crypto;
	if (!s->own_crypto)
		s->own_crypto = tls_crypto_new();
	return s->own_crypto;
}

/* TLS 1.2: both directions' keys from the master secret's key block. */
static int keys12(struct tls_session *s, const struct tls_crypto *cr)
{
	const struct suite *su = s->suite;
	uint8_t seed[13 + 64], block[2 * 32 + 2 * 12];
	size_t mlen, kl = su->key_len, il = su->iv_len;
	const uint8_t *ms = secret_use(s, TLS_SECRET_MASTER, &mlen);
	int rc;

	if (!ms)
		return -ENOKEY;
	memcpy(seed, "key expansion", 13);
	memcpy(seed + 13, s->server_random, 32);
	memcpy(seed + 45, s->client_random, 32);
	rc = prf12(cr, su->md, ms, mlen, seed, sizeof(seed), block, 2 * kl + 2 * il);
	if (!rc)
		rc = keys_set(cr, su, block, block + 2 * kl, &s->side[TLS_CLIENT].k);
	if (!rc)
		rc = keys_set(cr, su, block + kl, block + 2 * kl + il, &s->side[TLS_SERVER].k);
	OPENSSL_cleanse(block, sizeof(block));
	secret_done(s, TLS_SECRET_MASTER);
	return rc;
}

/* TLS 1.3: keys of side d's current epoch. */
static int keys13(struct tls_session *s, const struct tls_crypto *cr, int d)
{
	struct side *sd = &s->side[d];
	enum tls_secret_kind kind = kind13(d, sd->epoch);
	size_t len;
	const uint8_t *sec = secret_use(s, kind, &len);
	if (!sec)
		return -ENOKEY;
	uint64_t seq = sd->k.seq;
	int rc = keys_from_secret13(cr, s->suite, sec, len, &sd->k);
	sd->k.seq = seq;
	memcpy(sd->secret, sec, len);
	sd->secret_len = (uint8_t)len;
	secret_done(s, kind);
	return rc;
}

/* Are side d's keys for its current epoch known (deriving them if the
 * secrets just arrived)? */
static bool keys_ready(struct tls_session *s, int d, const struct tls_session_sink *out)
{
	if (s->side[d].k.aead)
		return true;
	if (!s->suite)
		return false;
	secrets_fetch(s, out);
	const struct tls_crypto *cr = crypto(s, out);
	int rc = !cr ? -ENOMEM : s->version == V13 ? keys13(s, cr, d) : keys12(s, cr);
	if (rc && rc != -ENOKEY)
		give_up(s, out, "key derivation failed");
	return !rc;
}

/* --------------------------------------------------------- handshake */

/* Walks the extensions block ext[0..len); calls fn for each. */
static int exts_walk(const uint8_t *ext, size_t len,
		     void (*fn)(struct tls_session *s, int d, uint16_t type, const uint8_t *p, size_t n),
		     struct tls_session *s, int d)
{
	size_t i = 0;
	while (i + 4 <= len) {
		uint16_t t = be16(ext + i), n = be16(ext + i + 2);
		if (i + 4 + n > len)
			return -EBADMSG;
		fn(s, d, t, ext + i + 4, n);
		i += 4 + n;
	}
	return i == len ? 0 : -EBADMSG;
}

static void ch_ext(struct tls_session *s, int d, uint16_t type, const uint8_t *p, size_t n)
{
	(void)d;
	if (type == 0x002a)                 /* early_data */
		s->early_offered = true;
	if (type == 0x002b && n >= 1)       /* supported_versions: list */
		for (size_t i = 1; i + 1 < n && i < 1u + p[0]; i += 2)
			if ((be16(p + i) & 0x0f0f) != 0x0a0a && be16(p + i) > s->offered_max)
				s->offered_max = be16(p + i);   /* GREASE values skipped */
}

static void sh_ext(struct tls_session *s, int d, uint16_t type, const uint8_t *p, size_t n)
{
	(void)d;
	if (type == 0x002b && n == 2)       /* supported_versions: the chosen one */
		s->version = be16(p);
	if (type == 0x0017)                 /* extended_master_secret */
		s->ems = true;
}

/* Appends a handshake message to the transcript kept for TLS 1.3 matching. */
static int transcript_add(struct tls_session *s, const uint8_t *msg, uint32_t len)
{
	uint32_t need = s->transcript_len + len;

	if (need > HELLO_MAX)
		return -E2BIG;
	/* As large as the hellos: most are under 2 KB. A HELLO_MAX buffer
	 * per handshake was 64 KB malloc'd and freed per connection, the
	 * heap's top grown and trimmed back (brk, page faults) under
	 * Connection: close. */
	if (need > s->transcript_cap) {
		uint32_t cap = need < 2048 ? 2048 : need;
		uint8_t *p = realloc(s->transcript, cap);

		if (!p)
			return -ENOMEM;
		s->transcript = p;
		s->transcript_cap = cap;
	}
	memcpy(s->transcript + s->transcript_len, msg, len);
	s->transcript_len += len;
	return 0;
}

/* The suite's hash, fetched once when the sink shares its algorithms. */
static const EVP_MD *suite_md(struct tls_session *s, const struct tls_session_sink *out)
{
	const struct tls_crypto *cr = crypto(s, out);

	if (cr)
		return cr->md[s->suite->md];
	return s->suite->md == MD_SHA384 ? EVP_sha384() : EVP_sha256();
}

/* After an HRR the transcript starts with message_hash(ClientHello1)
 * (RFC 8446 4.4.1) in place of ClientHello1 itself. */
static int transcript_hrr(struct tls_session *s, const struct tls_session_sink *out)
{
	uint8_t mh[4 + EVP_MAX_MD_SIZE];
	unsigned hl;
	if (!EVP_Digest(s->transcript, s->transcript_len, mh + 4, &hl, suite_md(s, out), NULL))
		return -EIO;
	mh[0] = 254;
	mh[1] = mh[2] = 0;
	mh[3] = (uint8_t)hl;
	s->transcript_len = 0;
	return transcript_add(s, mh, 4 + hl);
}

static const struct suite *suite_find(uint16_t id)
{
	for (size_t i = 0; i < sizeof(SUITES) / sizeof(SUITES[0]); i++)
		if (SUITES[i].id == id)
			return &SUITES[i];
	return NULL;
}

/* legacy_version, random, session id: common to both hellos. Returns the
 * offset after the session id or -EBADMSG. */
static int hello_head(const uint8_t *b, uint32_t n, uint8_t random[32])
{
	if (n < 2 + 32 + 1 || 35u + b[34] > n)
		return -EBADMSG;
	memcpy(random, b + 2, 32);
	return 35 + b[34];
}

static int client_hello(struct tls_session *s, const uint8_t *msg, uint32_t len,
			const struct tls_session_sink *out)
{
	const uint8_t *b = msg + 4;
	size_t n = len - 4;
	uint8_t random[32];
	int h = hello_head(b, (uint32_t)n, random);
	size_t i = h < 0 ? 0 : (size_t)h;

	if (s->ch_done && !s->hrr)
		return give_up(s, out, "second ClientHello"), -EPROTO;
	if (h < 0 || i + 2 > n || i + 2 + be16(b + i) + 1 > n)
		return give_up(s, out, "bad ClientHello"), -EBADMSG;
	s->offered_max = be16(b);
	memcpy(s->client_random, random, 32);
	i += 2 + be16(b + i);                   /* cipher suites */
	i += 1 + (size_t)b[i];                  /* compression methods */
	if (i + 2 <= n && i + 2 + be16(b + i) <= n)
		exts_walk(b + i + 2, be16(b + i), ch_ext, s, TLS_CLIENT);
	s->ch2_done = s->ch_done;
	s->ch_done = true;
	if (transcript_add(s, msg, len))
		return give_up(s, out, "ClientHello too large"), -E2BIG;
	return 0;
}

/* The real ServerHello: version and suite settle what can be decrypted. */
static int server_hello_final(struct tls_session *s, const uint8_t *msg, uint32_t len,
			      const struct tls_session_sink *out)
{
	if (s->version != V13 && s->version != V12)
		return give_up(s, out, "version 0x%04x unsupported", s->version), -ENOTSUP;
	if (!s->suite || s->suite->version != s->version)
		return give_up(s, out, "suite 0x%04x unsupported", s->suite_id), -ENOTSUP;
	s->sh_done = true;
	if (s->version == V13) {
		if (transcript_add(s, msg, len) ||
		    !EVP_Digest(s->transcript, s->transcript_len, s->thash, &s->thash_len,
				suite_md(s, out), NULL))
			return give_up(s, out, "transcript"), -EIO;
	}
	transcript_drop(s);
	return 0;
}

static int server_hello(struct tls_session *s, const uint8_t *msg, uint32_t len,
			const struct tls_session_sink *out)
{
	const uint8_t *b = msg + 4;
	size_t n = len - 4;
	uint8_t random[32];
	int h = hello_head(b, (uint32_t)n, random);
	size_t i = h < 0 ? 0 : (size_t)h;

	if (!s->ch_done || s->sh_done)
		return give_up(s, out, "unexpected ServerHello"), -EPROTO;
	if (h < 0 || i + 3 > n)
		return give_up(s, out, "bad ServerHello"), -EBADMSG;
	s->version = be16(b);
	s->suite_id = be16(b + i);
	s->suite = suite_find(s->suite_id);
	i += 3;
	if (i + 2 <= n && i + 2 + be16(b + i) <= n)
		exts_walk(b + i + 2, be16(b + i), sh_ext, s, TLS_SERVER);
	if (memcmp(random, HRR_RANDOM, 32)) {
		memcpy(s->server_random, random, 32);
		return server_hello_final(s, msg, len, out);
	}
	if (s->hrr || s->version != V13 || !s->suite)
		return give_up(s, out, "bad HelloRetryRequest"), -EPROTO;
	s->hrr = true;                          /* ClientHello2 and the real ServerHello follow */
	if (transcript_hrr(s, out) || transcript_add(s, msg, len))
		return give_up(s, out, "transcript"), -EIO;
	return 0;
}

/* A whole plaintext hello message (header included). */
static void hello_done(struct tls_session *s, int d, const uint8_t *msg, uint32_t len,
		       const struct tls_session_sink *out)
{
	if (d == TLS_CLIENT && msg[0] == HS_CLIENT_HELLO)
		client_hello(s, msg, len, out);
	else if (d == TLS_SERVER && msg[0] == HS_SERVER_HELLO)
		server_hello(s, msg, len, out);
	else
		give_up(s, out, "hello in the wrong direction");
}

/* A handshake message header: what to keep, what it changes. */
static void hs_header(struct tls_session *s, int d, bool encrypted, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint8_t type = sd->hs_hdr[0];
	uint32_t len = be24(sd->hs_hdr + 1);

	sd->hs_left = len;
	if (!encrypted && (type == HS_CLIENT_HELLO || type == HS_SERVER_HELLO)) {
		free(sd->hello);
		sd->hello = len + 4 <= HELLO_MAX ? malloc(len + 4) : NULL;
		if (!sd->hello) {
			give_up(s, out, "hello too large");
			return;
		}
		memcpy(sd->hello, sd->hs_hdr, 4);
		sd->hello_len = len + 4;
		sd->hello_have = 4;
	} else if (encrypted && type == HS_FINISHED && s->version == V13) {
		sd->switch_ap = sd->epoch == EP_HS;
	} else if (encrypted && type == HS_KEY_UPDATE && s->version == V13) {
		sd->update = true;
	} else if (encrypted && type == HS_CLIENT_HELLO) {
		give_up(s, out, "renegotiation unsupported");
	}
}

/*
 * Handshake bytes of side d (from plaintext records or decrypted ones):
 * message boundaries are tracked across records; only hello bodies are
 * kept, the rest is skipped.
 */
static void hs_stream(struct tls_session *s, int d, const uint8_t *p, uint32_t n, bool encrypted,
		      const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	while ((n || (sd->hs_hdr_have == 4 && !sd->hs_left)) && !s->dead) {
		if (sd->hs_hdr_have < 4) {
			sd->hs_hdr[sd->hs_hdr_have++] = *p++;
			n--;
			if (sd->hs_hdr_have == 4)
				hs_header(s, d, encrypted, out);
			continue;
		}
		uint32_t take = n < sd->hs_left ? n : sd->hs_left;
		if (sd->hello) {
			memcpy(sd->hello + sd->hello_have, p, take);
			sd->hello_have += take;
		}
		p += take;
		n -= take;
		sd->hs_left -= take;
		if (sd->hs_left)
			break;
		sd->hs_hdr_have = 0;            /* message complete */
		if (sd->hello) {
			uint8_t *m = sd->hello;
			sd->hello = NULL;
			hello_done(s, d, m, sd->hello_len, out);
			free(m);
		}
	}
}

/* --------------------------------------------------------- records */

static void alert(struct tls_session *s, int d, const uint8_t *p, uint32_t n,
		  const struct tls_session_sink *out)
{
	if (n < 2)
		return;
	if (p[1] == 0) {
		COUNT(out, close_notify, 1);
		s->side[d].closed = true;
	} else {
		COUNT(out, alerts, 1);
		if (p[0] == 2)
			s->side[d].closed = true;   /* fatal: nothing follows */
	}
}

/* Decrypted content of one record. */
static void content(struct tls_session *s, int d, uint8_t type, const uint8_t *p, uint32_t n,
		    uint64_t ts, const struct tls_session_sink *out)
{
	s->side[d].records++;
	COUNT(out, records, 1);
	if (type == CT_APPDATA && n) {
		COUNT(out, plain_bytes, n);
		if (out->plain)
			out->plain(out->ctx, d, p, n, ts);
	} else if (type == CT_HANDSHAKE) {
		hs_stream(s, d, p, n, true, out);
	} else if (type == CT_ALERT) {
		alert(s, d, p, n, out);
	}
}

/* TLS 1.3: the next key generation of side d (its application keys while
 * in the handshake epoch, the "traffic upd" keys after), into *k and
 * secret. 0 or -ENOKEY. */
static int next_gen(struct tls_session *s, int d, struct keys *k, uint8_t *secret, size_t *slen,
		    const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	const uint8_t *cur = sd->secret;
	const struct tls_crypto *cr = crypto(s, out);
	size_t len = sd->secret_len;

	if (s->version != V13 || !cr)
		return -ENOKEY;
	if (sd->epoch == EP_HS) {
		cur = secret_use(s, kind13(d, EP_AP), &len);
		if (!cur)
			return -ENOKEY;
		memcpy(secret, cur, len);
	} else {
		EVP_MAC_CTX *c = len ? hmac_keyed(cr, s->suite->md, cur, len) : NULL;
		int rc = c ? expand_label(c, "traffic upd", secret, len) : -EIO;

		EVP_MAC_CTX_free(c);
		if (rc)
			return -ENOKEY;
	}
	*slen = len;
	return keys_from_secret13(cr, s->suite, secret, len, k);
}

/* Adopts the next key generation (after its Finished or a KeyUpdate). */
static void gen_adopt(struct tls_session *s, int d, struct keys *k, const uint8_t *secret, size_t len)
{
	struct side *sd = &s->side[d];
	keys_wipe(&sd->k);
	sd->k = *k;
	memset(k, 0, sizeof(*k));
	memcpy(sd->secret, secret, len);
	sd->secret_len = (uint8_t)len;
	if (sd->epoch == EP_HS) {
		secret_done(s, kind13(d, EP_AP));
		sd->epoch = EP_AP;
	}
}

/* What the record just decrypted changed: keys switch on record edges. */
static void after_record(struct tls_session *s, int d, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	if (!sd->switch_ap && !sd->update)
		return;
	if (sd->switch_ap) {
		keys_wipe(&sd->k);              /* AP keys come when needed (keys_ready) */
		sd->epoch = EP_AP;
	} else {
		struct keys k = { 0 };
		uint8_t sec[TLS_SECRET_MAX];
		size_t len;
		if (next_gen(s, d, &k, sec, &len, out))
			give_up(s, out, "KeyUpdate failed");
		else
			gen_adopt(s, d, &k, sec, len);
		sd->key_updates++;
		keys_wipe(&k);
		OPENSSL_cleanse(sec, sizeof(sec));
	}
	sd->switch_ap = sd->update = false;
}

/* Plaintext lost on d: told to the consumer so it can skip or resync. */
static void report_lost(struct tls_session *s, int d, uint64_t records, uint64_t ts,
			const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint64_t ovh = records * overhead(s);
	uint64_t len = sd->lost_cipher > ovh ? sd->lost_cipher - ovh : 0;
	COUNT(out, records_lost, records);
	if (len && out->lost)
		out->lost(out->ctx, d, len, ts);
	sd->lost_cipher = 0;
}

/*
 * The record's sequence number or key generation is uncertain (after lost
 * bytes or dropped records): try seq+0..trial_k with the current keys and
 * 0..trial_k with the next generation. r is left intact; true when one
 * verified, its content delivered.
 */
static bool trial(struct tls_session *s, int d, const uint8_t *r, uint32_t n, uint32_t kmax, uint64_t ts,
		  const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	struct keys nk = { 0 };
	uint8_t sec[TLS_SECRET_MAX], type;
	size_t slen = 0;
	uint32_t off;
	uint8_t *buf = malloc(n);
	bool have_next = next_gen(s, d, &nk, sec, &slen, out) == 0, ok = false;

	for (uint32_t k = 0; buf && k <= kmax && k <= TLS_RESYNC_MAX && !ok; k++) {
		for (int g = 0; g < 2 && !ok; g++) {
			struct keys *kk = g ? &nk : &sd->k;
			if (!kk->aead || (g && !have_next))
				continue;
			memcpy(buf, r, n);
			int len = record_open(s, kk, (g ? 0 : sd->k.seq) + k, buf, n, &type, &off);
			if (len < 0)
				continue;
			ok = true;
			if (g) {
				gen_adopt(s, d, &nk, sec, slen);
				sd->k.seq = 0;
			}
			sd->k.seq += k + 1;
			report_lost(s, d, k, ts, out);
			content(s, d, type, buf + off, (uint32_t)len, ts, out);
		}
	}
	keys_wipe(&nk);
	OPENSSL_cleanse(sec, sizeof(sec));
	if (buf)
		OPENSSL_cleanse(buf, n);
	free(buf);
	return ok;
}

/* A record that does not verify: its sequence number is used up. */
static void tag_failure(struct tls_session *s, int d, uint32_t n, uint64_t ts,
			const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	COUNT(out, tag_failures, 1);
	if (d == TLS_CLIENT && sd->epoch == EP_HS && s->early_offered && s->version == V13) {
		give_up(s, out, "0-RTT early data unsupported");
		return;
	}
	if (++sd->fails >= FAIL_MAX) {
		give_up(s, out, "records do not verify");
		return;
	}
	sd->lost_cipher += n;
	report_lost(s, d, 1, ts, out);
	sd->k.seq++;
	sd->trial_k = 1;    /* a KeyUpdate may have been in it */
}

/*
 * How many records a cut run of g ciphertext bytes holds, when it carried
 * the rest of a body of r plaintext bytes and nothing else: each record
 * adds the same overhead around its plaintext (no padding: OpenSSL sends
 * none), and none carries more than 2^14 bytes. False when that does not
 * add up.
 */
static bool cut_count(const struct tls_session *s, uint64_t g, uint64_t r, uint32_t extra, uint64_t *n)
{
	uint64_t ovh = overhead(s);

	if (!r || g < r + extra || (g - r - extra) % ovh)
		return false;
	*n = (g - r - extra) / ovh;
	return (*n || extra) && (*n + 1) * 16384 >= r && *n <= r;
}

/* A cut run that does not add up: the framing is found again by trial
 * decryption (the generic path after lost bytes), counted, and the
 * capture is told to stop cutting this connection. */
static void cut_unframed(struct tls_session *s, int d, uint64_t g, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint64_t k = g / (HDR + REC_MIN) + 2;

	COUNT(out, cut_unframed, 1);
	if (out->cut_failed)
		out->cut_failed(out->ctx, d);
	sd->lost_cipher += g;
	sd->trial_k = k < TLS_RESYNC_MAX ? (uint32_t)k : TLS_RESYNC_MAX;
	sd->resync_counted = true;
}

/*
 * Record r follows a cut run: when the run adds up to the body that was
 * expected and r verifies at the sequence number after the run's records,
 * the body is reported whole (lost() with its exact length and the last
 * cut packet's time) and r is delivered. Else the run is unframed.
 * Returns true when r was delivered.
 */
static bool cut_settle(struct tls_session *s, int d, const uint8_t *r, uint32_t n, uint64_t ts,
		       const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint64_t g = sd->cut_len, nrec;
	uint8_t *buf, type;
	uint32_t off;
	int len = -1;

	sd->cut_len = 0;
	if (cut_count(s, g, sd->cut_body, sd->cut_extra, &nrec) && (buf = malloc(n))) {
		memcpy(buf, r, n);
		len = record_open(s, &sd->k, sd->k.seq + nrec, buf, n, &type, &off);
		if (len >= 0) {
			COUNT(out, records_cut, nrec);
			if (out->lost)
				out->lost(out->ctx, d, sd->cut_body, sd->cut_ts);
			sd->k.seq += nrec + 1;
			sd->fails = 0;
			content(s, d, type, buf + off, (uint32_t)len, ts, out);
		}
		OPENSSL_cleanse(buf, n);
		free(buf);
	}
	/* the rest of a head record carries its overhead, not a whole record's */
	if (len < 0)
		cut_unframed(s, d, g > sd->cut_extra ? g - sd->cut_extra : 0, out);
	return len >= 0;
}

/*
 * A run followed by the start of a record only (the next response's head,
 * its rest cut): settled by the arithmetic; true when it added up.
 */
static bool cut_settle_count(struct tls_session *s, int d, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint64_t g = sd->cut_len, nrec;

	sd->cut_len = 0;
	if (!cut_count(s, g, sd->cut_body, sd->cut_extra, &nrec)) {
		cut_unframed(s, d, g > sd->cut_extra ? g - sd->cut_extra : 0, out);
		return false;
	}
	COUNT(out, records_cut, nrec);
	sd->k.seq += nrec;
	if (out->lost)
		out->lost(out->ctx, d, sd->cut_body, sd->cut_ts);
	return true;
}

/*
 * The direction ended (or the session is freed) with a cut run pending and
 * no record after it to verify with: the arithmetic alone settles it; a
 * close_notify cut with it (it looks like data in TLS 1.3) is allowed for.
 */
static void cut_settle_last(struct tls_session *s, int d, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint64_t g = sd->cut_len, nrec, alert = overhead(s) + 2;

	if (!g || s->dead)
		return;
	sd->cut_len = 0;
	if (g == alert && !sd->cut_body && !sd->cut_extra)
		return;                         /* a close_notify after the last response */
	if (!cut_count(s, g, sd->cut_body, sd->cut_extra, &nrec) &&
	    !(g > alert && cut_count(s, g - alert, sd->cut_body, sd->cut_extra, &nrec))) {
		COUNT(out, cut_unframed, 1);
		return;
	}
	COUNT(out, records_cut, nrec);
	sd->k.seq += nrec;
	if (out->lost)
		out->lost(out->ctx, d, sd->cut_body, sd->cut_ts);
}

/*
 * A whole application-data record of at least TLS_AEAD_BULK bytes that lies
 * inside a Content-Length body and does not end it is counted, not opened:
 * its plaintext only needs counting (as the kernel cuts plaintext bodies),
 * and opening it is most of keys mode's cost on downloads. Its length is the
 * ciphertext's less the overhead; TLS 1.3 hides the content type and
 * padding in the last byte, deciphered alone (one block): it must read
 * application data, unpadded. The record that ends the body is opened, and
 * its tag verifies the sequence number the skipped ones used up.
 *
 * body_fits says so from the header alone; body_count then needs only the
 * record's last data byte (`last`), so a record known to fit from its header
 * is not even copied together (skim_starts).
 */
static bool body_fits(const struct tls_session *s, int d, uint8_t type, uint32_t n,
		      const struct tls_session_sink *out)
{
	const struct side *sd = &s->side[d];
	uint32_t ex = s->suite->explicit_len;

	if (!out->body_left || !out->lost || type != CT_APPDATA || n < HDR + ex + TAG + TLS_AEAD_BULK ||
	    (s->version == V13 && sd->epoch != EP_AP))
		return false;
	return n - HDR - ex - TAG - (s->version == V13) < out->body_left(out->ctx, d);
}

static bool body_count(struct tls_session *s, int d, uint32_t n, const uint8_t *last, uint64_t ts,
		       const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint32_t clen = n - HDR - s->suite->explicit_len - TAG, plain = clen - (s->version == V13);
	uint8_t nonce[12], type;

	if (s->version == V13) {
		nonce_xor(sd->k.iv, sd->k.seq, nonce);
		if (tls_aead_peek_at(sd->k.aead, nonce, clen - 1, last, &type, 1) || type != CT_APPDATA)
			return false;
	}
	sd->k.seq++;
	sd->fails = 0;
	COUNT(out, records_skipped, 1);
	COUNT(out, skipped_bytes, plain);
	out->lost(out->ctx, d, plain, ts);
	return true;
}

static bool body_skip(struct tls_session *s, int d, const uint8_t *r, uint32_t n, uint64_t ts,
		      const struct tls_session_sink *out)
{
	return body_fits(s, d, r[0], n, out) && body_count(s, d, n, r + n - TAG - 1, ts, out);
}

static void cipher_record(struct tls_session *s, int d, uint8_t *r, uint32_t n, uint64_t ts,
			  const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint8_t type;
	uint32_t off;

	if (sd->cut_len && cut_settle(s, d, r, n, ts, out)) {
		if (!s->dead)
			after_record(s, d, out);
		return;
	}
	if (sd->trial_k) {
		if (trial(s, d, r, n, sd->trial_k, ts, out)) {
			if (sd->resync_counted)
				COUNT(out, resyncs, 1);
			sd->resync_counted = false;
			sd->trial_k = sd->fails = 0;
		} else if (sd->resync_counted) {
			sd->lost_cipher += n;   /* still lost: one more record uncertain */
			sd->trial_k++;
			if (++sd->fails >= FAIL_MAX)
				give_up(s, out, "cannot resync");
		} else {
			tag_failure(s, d, n, ts, out);
		}
	} else if (!body_skip(s, d, r, n, ts, out)) {
		int len = record_open(s, &sd->k, sd->k.seq, r, n, &type, &off);
		if (len < 0) {
			tag_failure(s, d, n, ts, out);
			return;
		}
		sd->k.seq++;
		sd->fails = 0;
		content(s, d, type, r + off, (uint32_t)len, ts, out);
	}
	if (!s->dead)
		after_record(s, d, out);
}

static void plain_record(struct tls_session *s, int d, const uint8_t *r, uint32_t n,
			 const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	switch (r[0]) {
	case CT_HANDSHAKE:
		hs_stream(s, d, r + HDR, n - HDR, false, out);
		break;
	case CT_CCS:                        /* TLS 1.3: middlebox compatibility, ignored */
		if (s->version == V12) {
			sd->ccs = true;
			sd->k.seq = 0;
		}
		break;
	case CT_ALERT:
		alert(s, d, r + HDR, n - HDR, out);
		break;
	case CT_APPDATA:
		give_up(s, out, "data before the handshake");
		break;
	}
}

/* Is record type of side d plaintext, encrypted, or unknowable yet? */
static int classify(const struct tls_session *s, int d, uint8_t type)
{
	/* The server answers the client's hello: its records wait for it
	 * (the two directions may be fed in any order). */
	if (d == TLS_SERVER && (!s->ch_done || (s->hrr && !s->ch2_done)))
		return R_WAIT;
	if (!s->version)       /* what the client sends after its hello depends on the version */
		return d == TLS_CLIENT && s->ch_done ? R_WAIT : R_PLAIN;
	if (s->version == V13)
		return type != CT_APPDATA ? R_PLAIN : s->sh_done ? R_CIPHER : R_WAIT;
	return s->side[d].ccs ? R_CIPHER : R_PLAIN;
}

static void enqueue(struct tls_session *s, int d, const uint8_t *r, uint32_t n, uint64_t ts,
		    const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	struct wait_rec *w = NULL;

	if (!sd->dropping && s->wait_bytes + n <= s->wait_max)
		w = malloc(sizeof(*w) + n);
	if (!w) {
		/* Everything after a dropped record is dropped too until the
		 * queue is empty: the record after them is then found again by
		 * trial decryption. */
		COUNT(out, waiting_overflow, 1);
		sd->dropping = true;
		sd->dropped++;
		sd->lost_cipher += n;
		return;
	}
	w->next = NULL;
	w->ts = ts;
	w->len = n;
	memcpy(w->data, r, n);
	if (sd->wait_tail)
		sd->wait_tail->next = w;
	else
		sd->wait = w;
	sd->wait_tail = w;
	s->wait_bytes += n;
}

static void dropping_end(struct side *sd)
{
	sd->dropping = false;
	sd->trial_k += sd->dropped;
	sd->resync_counted = true;
	sd->dropped = 0;
}

static void drain(struct tls_session *s, const struct tls_session_sink *out);

/*
 * Is side d's oldest waiting record encrypted with keys not caught yet?
 * Such a record holds back everything newer from the other side too: a
 * request waiting for the client's traffic key (OpenSSL derives it only
 * when it reads the client's Finished) must reach the HTTP layer before
 * the response the server sent after reading it.
 */
static bool waits_for_keys(struct tls_session *s, int d, const struct tls_session_sink *out)
{
	const struct wait_rec *w = s->side[d].wait;

	return w && classify(s, d, w->data[0]) == R_CIPHER && !keys_ready(s, d, out);
}

/* Processes a record now if it can be, else queues it. */
static void record_in(struct tls_session *s, int d, uint8_t *r, uint32_t n, uint64_t ts,
		      const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	if (sd->closed || s->dead)
		return;
	/* Records waiting on either side are older than this one: they go
	 * first, so the two directions keep their order in time. */
	if (tls_session_waiting(s))
		drain(s, out);
	if (s->dead)
		return;
	if (sd->dropping && !sd->wait)
		dropping_end(sd);
	if (sd->wait || sd->dropping || waits_for_keys(s, !d, out)) {
		enqueue(s, d, r, n, ts, out);
		return;
	}
	int cls = classify(s, d, r[0]);
	if (cls == R_CIPHER && !keys_ready(s, d, out))
		cls = R_WAIT;
	if (s->dead)
		return;
	if (cls == R_WAIT)
		enqueue(s, d, r, n, ts, out);
	else if (cls == R_PLAIN)
		plain_record(s, d, r, n, out);
	else
		cipher_record(s, d, r, n, ts, out);
}

/* Processes waiting records of both sides as far as keys allow. */
static void drain(struct tls_session *s, const struct tls_session_sink *out)
{
	bool progress = true;
	while (progress && !s->dead) {
		progress = false;
		for (int d = 0; d < 2 && !s->dead; d++) {
			struct side *sd = &s->side[d];
			const struct side *other = &s->side[!d];
			while (sd->wait && !s->dead) {
				struct wait_rec *w = sd->wait;
				int cls = classify(s, d, w->data[0]);
				if (cls == R_WAIT || (cls == R_CIPHER && !keys_ready(s, d, out)))
					break;
				/* The other side's older record goes first, or, waiting
				 * for keys, holds this one back: the order in time stays. */
				if (other->wait && other->wait->ts < w->ts &&
				    classify(s, !d, other->wait->data[0]) != R_WAIT)
					break;
				sd->wait = w->next;
				if (!sd->wait)
					sd->wait_tail = NULL;
				s->wait_bytes -= w->len;
				if (!sd->closed && !s->dead)
					(cls == R_PLAIN ? plain_record(s, d, w->data, w->len, out)
							: cipher_record(s, d, w->data, w->len, w->ts, out));
				free(w);
				progress = true;
			}
			if (!sd->wait && sd->dropping)
				dropping_end(sd);
		}
	}
}

/* ------------------------------------------------------------ framing */

static bool header_ok(const uint8_t *h)
{
	uint16_t len = be16(h + 3);
	return h[0] >= CT_CCS && h[0] <= CT_HEARTBEAT && h[1] == 3 && len && len <= REC_MAX;
}

/* Could an encrypted record start at h (while scanning after a gap)? */
static bool header_cipher(const struct tls_session *s, const uint8_t *h)
{
	uint16_t len = be16(h + 3);
	bool type_ok = h[0] == CT_APPDATA || (s->version == V12 && (h[0] == CT_ALERT || h[0] == CT_HANDSHAKE));
	return type_ok && h[1] == 3 && h[2] == 3 && len >= REC_MIN && len <= REC_MAX;
}

static int rec_reserve(struct side *sd, uint32_t need)
{
	if (sd->cap >= need)
		return 0;
	uint8_t *p = malloc(need);
	if (!p)
		return -ENOMEM;
	if (sd->rec) {
		memcpy(p, sd->rec, sd->have);
		OPENSSL_cleanse(sd->rec, sd->cap);
		free(sd->rec);
	}
	sd->rec = p;
	sd->cap = need;
	return 0;
}

/* Framing is lost on d: what is buffered becomes raw bytes to scan. */
static void resync_start(struct tls_session *s, int d, uint64_t lost, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	sd->lost_cipher += lost;
	uint64_t k = sd->lost_cipher / (HDR + REC_MIN) + 2;
	sd->trial_k = k < TLS_RESYNC_MAX ? (uint32_t)k : TLS_RESYNC_MAX;
	if (!sd->resync)
		COUNT(out, desyncs, 1);
	sd->resync = sd->resync_counted = true;
	sd->need = HDR;
	sd->skip = 0;
}

static void frame(struct tls_session *s, int d, const uint8_t *buf, size_t len, uint64_t ts,
		  const struct tls_session_sink *out);

/*
 * Scans the raw bytes of d for a record header whose record verifies
 * (trial). On success framing resumes after it, with the bytes that follow.
 */
static void scan(struct tls_session *s, int d, uint64_t ts, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint32_t i = 0;

	while (sd->resync && !s->dead) {
		while (i + HDR <= sd->have && !header_cipher(s, sd->rec + i))
			i++;
		if (i + HDR > sd->have) {       /* keep a possible header's start */
			i = sd->have > HDR - 1 ? sd->have - (HDR - 1) : 0;
		} else if (i + HDR + be16(sd->rec + i + 3) <= sd->have) {
			uint32_t n = HDR + be16(sd->rec + i + 3);
			sd->lost_cipher += i;
			if (!trial(s, d, sd->rec + i, n, sd->trial_k, ts, out)) {
				sd->lost_cipher -= i;
				i++;
				continue;
			}
			COUNT(out, resyncs, 1);
			if (s->dead)
				return;
			sd->resync = sd->resync_counted = false;
			sd->trial_k = sd->fails = 0;
			uint32_t rest = sd->have - i - n;
			uint8_t *tail = rest ? malloc(rest) : NULL;
			if (tail)
				memcpy(tail, sd->rec + i + n, rest);
			sd->have = 0;
			if (!s->dead)
				after_record(s, d, out);
			if (tail)
				frame(s, d, tail, rest, ts, out);
			free(tail);
			return;
		}
		sd->lost_cipher += i;            /* not a record start: discarded */
		memmove(sd->rec, sd->rec + i, sd->have - i);
		sd->have -= i;
		return;
	}
}

/* A record whose header was read. */
static void frame_record(struct tls_session *s, int d, uint64_t ts, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint32_t n = sd->need;
	sd->have = 0;
	sd->need = HDR;
	record_in(s, d, sd->rec, n, ts, out);
}

/* A header that cannot be: not TLS at all, or framing lost to corruption. */
static void bad_header(struct tls_session *s, int d, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	if (classify(s, d, CT_APPDATA) != R_CIPHER || sd->wait || !keys_ready(s, d, out)) {
		give_up(s, out, "not a TLS record");
		return;
	}
	memmove(sd->rec, sd->rec + 1, HDR - 1);
	sd->have = HDR - 1;
	resync_start(s, d, 1, out);
}

/*
 * The header of side d's next record was read: is it a body record that
 * body_skip would count unread, with nothing queued that it would have to
 * wait behind? Then its bytes are passed over instead of copied together:
 * a download's ciphertext is otherwise copied once more in user space,
 * which cost more than the records it decrypts.
 */
static bool skim_starts(struct tls_session *s, int d, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];

	/* The common case, a short record, is told first, before the keys. */
	if (sd->rec[0] != CT_APPDATA || sd->need < HDR + TAG + TLS_AEAD_BULK || sd->trial_k ||
	    sd->cut_len || sd->dropping || tls_session_waiting(s) ||
	    classify(s, d, CT_APPDATA) != R_CIPHER || !keys_ready(s, d, out) || s->dead)
		return false;
	if (s->version == V13 && !tls_aead_can_peek_at(sd->k.aead))
		return false;                   /* ChaCha20: the record is opened */
	return body_fits(s, d, sd->rec[0], sd->need, out);
}

/* Up to len bytes of a skimmed record: only its last data byte is kept. */
static size_t skim_bytes(struct side *sd, const uint8_t *buf, size_t len)
{
	uint32_t last = sd->need - TAG - 1;
	size_t n = sd->need - sd->have < len ? sd->need - sd->have : len;

	if (last >= sd->have && last < sd->have + n)
		sd->skim_last = buf[last - sd->have];
	sd->have += (uint32_t)n;
	return n;
}

/* A skimmed record is all here. Its last byte must still say application
 * data (TLS 1.3): if not, the record, unkept, is lost as one that did not
 * verify would be. */
static void skim_end(struct tls_session *s, int d, uint64_t ts, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	uint32_t n = sd->need;
	sd->skim = false;
	sd->have = 0;
	sd->need = HDR;
	if (!body_fits(s, d, sd->rec[0], n, out) || !body_count(s, d, n, &sd->skim_last, ts, out))
		tag_failure(s, d, n, ts, out);
	if (!s->dead)
		after_record(s, d, out);
}

static void frame(struct tls_session *s, int d, const uint8_t *buf, size_t len, uint64_t ts,
		  const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	while (len && !s->dead && !sd->closed) {
		if (sd->resync) {
			if (rec_reserve(sd, 2 * SCAN_CAP)) {
				give_up(s, out, "out of memory");
				return;
			}
			size_t n = len < 2 * SCAN_CAP - sd->have ? len : 2 * SCAN_CAP - sd->have;
			memcpy(sd->rec + sd->have, buf, n);
			sd->have += (uint32_t)n;
			buf += n;
			len -= n;
			scan(s, d, ts, out);
			continue;
		}
		if (sd->skip) {                 /* the rest of a record broken by a gap */
			size_t n = len < sd->skip ? len : sd->skip;
			sd->skip -= (uint32_t)n;
			buf += n;
			len -= n;
			continue;
		}
		if (sd->skim) {
			size_t n = skim_bytes(sd, buf, len);
			buf += n;
			len -= n;
			if (sd->have == sd->need)
				skim_end(s, d, ts, out);
			continue;
		}
		if (rec_reserve(sd, sd->need)) {
			give_up(s, out, "out of memory");
			return;
		}
		size_t n = sd->need - sd->have < len ? sd->need - sd->have : len;
		memcpy(sd->rec + sd->have, buf, n);
		sd->have += (uint32_t)n;
		buf += n;
		len -= n;
		if (sd->have == HDR && sd->need == HDR) {
			if (!header_ok(sd->rec)) {
				bad_header(s, d, out);
				continue;
			}
			sd->need = HDR + be16(sd->rec + 3);
			sd->skim = skim_starts(s, d, out);
			continue;
		}
		if (sd->have == sd->need && sd->need > HDR)
			frame_record(s, d, ts, out);
	}
}

void tls_session_feed(struct tls_session *s, int dir, const uint8_t *buf, size_t len, uint64_t ts,
		      const struct tls_session_sink *out)
{
	int d = dir ? TLS_SERVER : TLS_CLIENT;
	if (s->dead)
		return;
	frame(s, d, buf, len, ts, out);
	drain(s, out);
}

void tls_session_kick(struct tls_session *s, const struct tls_session_sink *out)
{
	if (!s->dead)
		drain(s, out);
}

/*
 * The capture kept only the start of a record (a response's head record:
 * its HTTP headers are what counts): that start is deciphered without its
 * tag (AES-GCM and ChaCha20 are stream ciphers; the record after the run
 * verifies the sequence numbers) and must read "HTTP/1.", handed on as
 * application data, and the rest of the record joins the cut run with its
 * overhead (tag, and TLS 1.3's content type) counted in cut_extra. False:
 * not a prefix that can be read so.
 *
 * AES-GCM's start is deciphered HEAD_PIECE bytes at a time, and once what
 * is left of it lies inside the body HTTP is reading, it is not deciphered
 * at all: it joins the run as *unread, counted as the cut bytes are. The
 * kernel keeps 4 KB of the record and NGINX's headers take ~250 bytes:
 * deciphering all of it (with GHASH, through EVP) was a third of l7top's
 * CPU on 100 KB downloads.
 */
#define HEAD_PIECE 512

static bool cut_head_prefix(struct tls_session *s, int d, uint64_t ts, uint32_t *extra,
			    uint32_t *unread, const struct tls_session_sink *out)
{
	struct side *sd = &s->side[d];
	const struct suite *su = s->suite;
	uint8_t nonce[12], aad_buf[13], piece[HEAD_PIECE], *r = sd->rec;
	uint32_t ex = su->explicit_len, tail = TAG + (s->version == V13);
	uint32_t clen = sd->need - HDR - ex - TAG, have = sd->have - HDR - ex;
	const uint8_t *aad;
	size_t aadlen;

	if (r[0] != CT_APPDATA || sd->have <= HDR + ex || sd->need - sd->have <= tail)
		return false;
	aad = record_nonce_aad(s, &sd->k, sd->k.seq, r, clen, nonce, aad_buf, &aadlen);
	/* Deciphered in a copy: a prefix that is no response start (so the
	 * sequence number is not what the arithmetic said) stays as it was. */
	uint8_t *c = r + HDR + ex;
	bool by_piece = tls_aead_can_peek_at(sd->k.aead);
	uint32_t n = by_piece && have > HEAD_PIECE ? HEAD_PIECE : have;
	uint8_t *p = n <= HEAD_PIECE ? piece : malloc(n);
	bool ok = p && !tls_aead_peek(sd->k.aead, nonce, aad, aadlen, c, p, n) && n >= 7 &&
		  !memcmp(p, "HTTP/1.", 7);
	if (ok)
		memcpy(c, p, n);
	if (p)
		OPENSSL_cleanse(p, n);
	if (p != piece)
		free(p);
	if (!ok)
		return false;
	sd->k.seq++;
	*extra = tail;                         /* the rest of this record opens the run */
	*unread = 0;
	sd->have = 0;
	sd->need = HDR;
	content(s, d, CT_APPDATA, c, n, ts, out);
	for (uint32_t off = n; off < have && !s->dead; off += n) {
		if (out->body_left && out->body_left(out->ctx, d) >= have - off) {
			*unread = have - off;
			break;
		}
		n = have - off < HEAD_PIECE ? have - off : HEAD_PIECE;
		if (tls_aead_peek_at(sd->k.aead, nonce, off, c + off, c + off, n)) {
			give_up(s, out, "the cipher library failed");
			break;
		}
		content(s, d, CT_APPDATA, c + off, n, ts, out);
	}
	return true;
}

void tls_session_cut(struct tls_session *s, int dir, uint64_t len, uint64_t ts,
		     const struct tls_session_sink *out)
{
	int d = dir ? TLS_SERVER : TLS_CLIENT;
	struct side *sd = &s->side[d];
	uint32_t extra = 0, unread = 0;
	bool ready;

	if (s->dead || sd->closed || !len)
		return;
	if (sd->cut_len && !sd->have) {         /* the run goes on */
		sd->cut_len += len;
		sd->cut_ts = ts;
		return;
	}
	/* The start of the next response's head came after a run: the run
	 * has no whole record after it to verify with, so its arithmetic
	 * settles it, and the head's "HTTP/1." confirms the sequence number. */
	if (sd->cut_len && !cut_settle_count(s, d, out)) {
		sd->lost_cipher += sd->have;    /* unframed: the prefix goes with the loss */
		sd->have = 0;
		sd->need = HDR;
		tls_session_gap(s, dir, len, ts, out);
		return;
	}
	ready = !sd->skip && !sd->skim && !sd->resync && !sd->trial_k && !sd->wait && !sd->dropping &&
		classify(s, d, CT_APPDATA) == R_CIPHER && keys_ready(s, d, out);
	if (s->dead)
		return;
	/* Whole records after a record edge, or the rest of a record whose
	 * start was kept (a response's head), with keys and nothing waiting:
	 * anything else is bytes lost in the middle of the framing. */
	if (!ready ||
	    (sd->have && (sd->have < HDR || !cut_head_prefix(s, d, ts, &extra, &unread, out)))) {
		if (s->dead)
			return;
		COUNT(out, cut_unframed, 1);
		if (out->cut_failed)
			out->cut_failed(out->ctx, d);
		tls_session_gap(s, dir, len, ts, out);
		return;
	}
	if (s->dead)
		return;
	sd->cut_extra = extra;
	sd->cut_body = out->body_left ? out->body_left(out->ctx, d) : 0;
	sd->cut_len = len + unread;
	sd->cut_ts = ts;
}

void tls_session_eof(struct tls_session *s, int dir, const struct tls_session_sink *out)
{
	cut_settle_last(s, dir ? TLS_SERVER : TLS_CLIENT, out);
}

void tls_session_gap(struct tls_session *s, int dir, uint64_t len, uint64_t ts,
		     const struct tls_session_sink *out)
{
	int d = dir ? TLS_SERVER : TLS_CLIENT;
	struct side *sd = &s->side[d];

	if (s->dead || sd->closed || !len)
		return;
	if (classify(s, d, CT_APPDATA) != R_CIPHER || sd->wait || sd->dropping || !keys_ready(s, d, out)) {
		give_up(s, out, "bytes lost before the keys");
		return;
	}
	if (sd->resync) {
		resync_start(s, d, len, out);
		return;
	}
	if (sd->skip) {                         /* already broken: the gap eats the rest first */
		uint64_t n = len < sd->skip ? len : sd->skip;
		sd->skip -= (uint32_t)n;
		len -= n;
		if (!len)
			return;
	}
	if (sd->have >= HDR) {
		/* The record being read is lost, and told at once: its length is
		 * known, and the consumer learns of the loss before anything the
		 * other direction sends next. If the gap ends inside it, the next
		 * record starts exactly where its header said. */
		uint32_t rest = sd->need - sd->have;
		sd->skim = false;
		sd->lost_cipher += sd->need;
		report_lost(s, d, 1, ts, out);
		sd->k.seq++;
		sd->trial_k = 1;                    /* a KeyUpdate may have been in it */
		sd->have = 0;
		sd->need = HDR;
		if (len <= rest) {
			sd->skip = rest - (uint32_t)len;
			return;
		}
		len -= rest;
	}
	uint64_t partial = sd->have;            /* part of a header */
	sd->have = 0;
	resync_start(s, d, partial + len, out);
}
