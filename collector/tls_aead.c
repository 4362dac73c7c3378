// SPDX-License-Identifier: MIT
#include "collector/tls_aead.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/modes.h>

/* A small record's keystream, made in one ECB call before the mode functions
 * run: counter 1 (the tag's mask), the data's blocks, one spare. */
#define KS_BLOCKS (TLS_AEAD_BULK / 16 + 2)

struct keystream {
	uint8_t nonce[TLS_AEAD_NONCE];
	uint32_t blocks;             /* counters 1..blocks */
	uint64_t w[KS_BLOCKS * 2];
};

struct tls_aead {
	EVP_CIPHER *aead;            /* referenced: the bulk context is made from it */
	EVP_CIPHER_CTX *bulk;        /* EVP AEAD context, made at the first large record */
	EVP_CIPHER_CTX *ecb;         /* NULL: EVP only */
	GCM128_CONTEXT *gcm;         /* GCM mode over ecb */
	bool ecb_failed;             /* an ECB call failed inside the mode functions */
	const struct keystream *ks;  /* during a small-way call: its precomputed blocks */
	uint8_t key[32];             /* for the bulk context; cleansed with the rest */
	size_t key_len;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The precomputed block for counter block cb, or NULL. */
static const uint64_t *ks_find(const struct tls_aead *a, const uint8_t cb[16])
{
	const struct keystream *ks = a->ks;
	uint32_t ctr = be32(cb + 12);
	if (!ks || ctr - 1 >= ks->blocks || memcmp(cb, ks->nonce, TLS_AEAD_NONCE))
		return NULL;
	return ks->w + 2 * (ctr - 1);
}

/* The mode functions' block cipher (H at setup, then the tag's mask and a
 * short last block per record): from the precomputed keystream when it has
 * the block. The mode functions cannot return an error, so a failure is kept
 * for the caller to see. */
static void ecb_block(const unsigned char in[16], unsigned char out[16], const void *key)
{
	struct tls_aead *a = (struct tls_aead *)key;
	const uint64_t *w = ks_find(a, in);
	int outl;

	if (w)
		memcpy(out, w, 16);
	else if (!EVP_EncryptUpdate(a->ecb, out, &outl, in, 16))
		a->ecb_failed = true;
}

/* The keystream blocks E(nonce || ctr), E(nonce || ctr + 1).., n of them,
 * into w, in one ECB call. */
static bool keystream_make(struct tls_aead *a, uint64_t *w, const uint8_t nonce[TLS_AEAD_NONCE],
			   uint32_t ctr, size_t n)
{
	uint64_t head, tail = 0;
	int outl;

	memcpy(&head, nonce, 8);
	memcpy(&tail, nonce + 8, 4);
	for (size_t i = 0; i < n; i++) {
		uint32_t be = __builtin_bswap32(ctr + (uint32_t)i);
		w[2 * i] = head;
		w[2 * i + 1] = tail;
		memcpy((uint8_t *)&w[2 * i + 1] + 4, &be, 4);
	}
	return EVP_EncryptUpdate(a->ecb, (uint8_t *)w, &outl, (uint8_t *)w, (int)(n * 16)) == 1;
}

static void xor_words(const uint8_t *in, uint8_t *out, const uint64_t *w, size_t words)
{
	for (size_t j = 0; j < words; j++) {
		uint64_t x;
		memcpy(&x, in + 8 * j, 8);
		x ^= w[j];
		memcpy(out + 8 * j, &x, 8);
	}
}

/* CTR with a 32-bit big-endian counter in the last word of ivec, as GCM wants,
 * XORed in 8-byte words from the keystream small_start() made: it holds every
 * block a record under TLS_AEAD_BULK needs, so a miss is a failure. */
static void ecb_ctr32(const unsigned char *in, unsigned char *out, size_t blocks, const void *key,
		      const unsigned char ivec[16])
{
	struct tls_aead *a = (struct tls_aead *)key;
	const uint64_t *pre = ks_find(a, ivec);

	if (pre && be32(ivec + 12) - 1 + blocks <= a->ks->blocks)
		xor_words(in, out, pre, blocks * 2);
	else
		a->ecb_failed = true;
}

struct tls_aead *tls_aead_new(EVP_CIPHER *aead, EVP_CIPHER *ecb, const uint8_t *key, size_t key_len)
{
	struct tls_aead *a = calloc(1, sizeof(*a));

	if (!a || !aead || key_len > sizeof(a->key) || !EVP_CIPHER_up_ref(aead)) {
		free(a);
		return NULL;
	}
	a->aead = aead;
	memcpy(a->key, key, key_len);
	a->key_len = key_len;
	if (ecb) {
		a->ecb = EVP_CIPHER_CTX_new();
		if (!a->ecb || !EVP_EncryptInit_ex2(a->ecb, ecb, key, NULL, NULL) ||
		    !EVP_CIPHER_CTX_set_padding(a->ecb, 0) ||
		    !(a->gcm = CRYPTO_gcm128_new(a, ecb_block)) || a->ecb_failed) {
			tls_aead_free(a);
			return NULL;
		}
	}
	return a;
}

void tls_aead_free(struct tls_aead *a)
{
	if (!a)
		return;
	CRYPTO_gcm128_release(a->gcm);   /* cleansed: it holds H and the counters */
	EVP_CIPHER_CTX_free(a->ecb);     /* cleanses the key schedule */
	EVP_CIPHER_CTX_free(a->bulk);
	EVP_CIPHER_free(a->aead);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

static bool small_way(const struct tls_aead *a, size_t len)
{
	return a->gcm && len < TLS_AEAD_BULK;
}

/* The EVP context keyed, nonce set and aad fed: true when ready for data. */
static bool bulk_start(struct tls_aead *a, const uint8_t *nonce, const uint8_t *aad, size_t aad_len)
{
	int outl;

	if (aad_len > INT_MAX)
		return false;
	if (!a->bulk) {
		a->bulk = EVP_CIPHER_CTX_new();
		if (!a->bulk || !EVP_DecryptInit_ex2(a->bulk, a->aead, a->key, NULL, NULL)) {
			EVP_CIPHER_CTX_free(a->bulk);
			a->bulk = NULL;
			return false;
		}
	}
	return EVP_DecryptInit_ex2(a->bulk, NULL, NULL, nonce, NULL) &&
	       EVP_DecryptUpdate(a->bulk, NULL, &outl, aad, (int)aad_len);
}

/* The record's whole keystream in one ECB call (each EVP call costs more than
 * enciphering a few blocks), then the mode set up to draw from it. */
static bool small_start(struct tls_aead *a, struct keystream *ks, const uint8_t *nonce,
			const uint8_t *aad, size_t aad_len, size_t len)
{
	memcpy(ks->nonce, nonce, TLS_AEAD_NONCE);
	ks->blocks = (uint32_t)((len + 15) / 16 + 1);
	a->ecb_failed = false;
	a->ks = NULL;
	if (!keystream_make(a, ks->w, nonce, 1, ks->blocks))
		return false;
	a->ks = ks;
	CRYPTO_gcm128_setiv(a->gcm, nonce, TLS_AEAD_NONCE);
	return CRYPTO_gcm128_aad(a->gcm, aad, aad_len) == 0;
}

/* in[0..len) deciphered into out the small way, the tag left to check (the
 * mode functions keep its mask). The keystream is as secret as the plaintext
 * it opens: cleansed before returning. */
static bool small_decrypt(struct tls_aead *a, const uint8_t *nonce, const uint8_t *aad,
			  size_t aad_len, const uint8_t *in, uint8_t *out, size_t len)
{
	struct keystream ks;
	bool ok = small_start(a, &ks, nonce, aad, aad_len, len) &&
		  !CRYPTO_gcm128_decrypt_ctr32(a->gcm, in, out, len, ecb_ctr32) && !a->ecb_failed;

	a->ks = NULL;
	OPENSSL_cleanse(ks.w, ks.blocks * 16);
	return ok;
}

int tls_aead_open(struct tls_aead *a, const uint8_t nonce[TLS_AEAD_NONCE], const uint8_t *aad,
		  size_t aad_len, uint8_t *buf, size_t len, const uint8_t tag[TLS_AEAD_TAG])
{
	int outl, fl;

	if (small_way(a, len)) {
		if (!small_decrypt(a, nonce, aad, aad_len, buf, buf, len))
			return -EIO;
		return CRYPTO_gcm128_finish(a->gcm, tag, TLS_AEAD_TAG) == 0 ? 0 : -EBADMSG;
	}
	if (len > INT_MAX || !bulk_start(a, nonce, aad, aad_len) ||
	    !EVP_CIPHER_CTX_ctrl(a->bulk, EVP_CTRL_AEAD_SET_TAG, TLS_AEAD_TAG, (void *)tag) ||
	    !EVP_DecryptUpdate(a->bulk, buf, &outl, buf, (int)len))
		return -EIO;
	return EVP_DecryptFinal_ex(a->bulk, buf + outl, &fl) > 0 ? 0 : -EBADMSG;
}

/* Keystream blocks made per ECB call by peek_at: 512 bytes on the stack. */
#define PEEK_BLOCKS 32

int tls_aead_peek(struct tls_aead *a, const uint8_t nonce[TLS_AEAD_NONCE], const uint8_t *aad,
		  size_t aad_len, const uint8_t *in, uint8_t *out, size_t len)
{
	int outl;

	/* No tag to check, so no GHASH to run: AES-GCM is AES-CTR then (EVP's
	 * decryption hashed all 4 KB of a response's head, for nothing) */
	if (tls_aead_can_peek_at(a))
		return tls_aead_peek_at(a, nonce, 0, in, out, len);
	return len <= INT_MAX && bulk_start(a, nonce, aad, aad_len) &&
	       EVP_DecryptUpdate(a->bulk, out, &outl, in, (int)len) ? 0 : -EIO;
}

bool tls_aead_can_peek_at(const struct tls_aead *a)
{
	return a->gcm != NULL;
}

int tls_aead_peek_at(struct tls_aead *a, const uint8_t nonce[TLS_AEAD_NONCE], size_t off,
		     const uint8_t *in, uint8_t *out, size_t len)
{
	uint64_t w[PEEK_BLOCKS * 2];
	const uint8_t *ks = (const uint8_t *)w;
	size_t skip = off % 16;
	int rc = 0;

	if (!tls_aead_can_peek_at(a))
		return -EOPNOTSUPP;
	/* GCM's counter 1 masks the tag: data block i is enciphered under i + 2;
	 * a record's data is far below 2^32 blocks */
	if (off > (size_t)UINT32_MAX * 8 || len > (size_t)UINT32_MAX * 8)
		return -EIO;
	while (len && !rc) {
		size_t n = (skip + len + 15) / 16, take;

		if (n > PEEK_BLOCKS)
			n = PEEK_BLOCKS;
		take = n * 16 - skip < len ? n * 16 - skip : len;
		if (!keystream_make(a, w, nonce, (uint32_t)(off / 16) + 2, n)) {
			rc = -EIO;
			break;
		}
		if (!skip && !(take % 8))
			xor_words(in, out, w, take / 8);
		else
			for (size_t i = 0; i < take; i++)
				out[i] = in[i] ^ ks[skip + i];
		in += take;
		out += take;
		off += take;
		len -= take;
		skip = 0;
	}
	OPENSSL_cleanse(w, sizeof(w));
	return rc;
}
