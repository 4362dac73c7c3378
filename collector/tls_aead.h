/* SPDX-License-Identifier: MIT */
#ifndef L7TOP_TLS_AEAD_H
#define L7TOP_TLS_AEAD_H

/*
 * One direction's record key: opens TLS records (AES-GCM, ChaCha20-Poly1305)
 * with a 12-byte nonce and a 16-byte tag. Pure: no I/O, no globals.
 *
 * Small AES-GCM records go through OpenSSL's GCM mode functions over an ECB
 * key schedule rather than through the EVP AEAD interface: EVP spends more on
 * each record's parameters (the IV length query, the tag as an OSSL_PARAM)
 * than on decrypting a keep-alive request. Large records take EVP's stitched
 * AES-NI/PCLMUL code, faster in bulk.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define TLS_AEAD_NONCE 12
#define TLS_AEAD_TAG   16

/* Records this long or longer go through EVP when the key has both ways. */
#define TLS_AEAD_BULK  2048

struct tls_aead;

/* aead: the AEAD cipher; ecb: the same block cipher in ECB mode for the
 * small-record way, or NULL (ChaCha20-Poly1305: EVP only). NULL on failure. */
struct tls_aead *tls_aead_new(EVP_CIPHER *aead, EVP_CIPHER *ecb, const uint8_t *key, size_t key_len);
void tls_aead_free(struct tls_aead *a);

/* Opens buf[0..len) in place: 0, -EBADMSG (tag), -EIO (the library failed). */
int tls_aead_open(struct tls_aead *a, const uint8_t nonce[TLS_AEAD_NONCE], const uint8_t *aad,
		  size_t aad_len, uint8_t *buf, size_t len, const uint8_t tag[TLS_AEAD_TAG]);

/* Deciphers in[0..len) into out without the tag (a record's first bytes,
 * the rest of it cut): 0 or -EIO. in and out may be the same. */
int tls_aead_peek(struct tls_aead *a, const uint8_t nonce[TLS_AEAD_NONCE], const uint8_t *aad,
		  size_t aad_len, const uint8_t *in, uint8_t *out, size_t len);

/* Deciphers in[0..len), the ciphertext at byte off of a record's data,
 * without the tag: a TLS 1.3 record's last byte (its inner content type)
 * read without opening the rest, or a response head read piece by piece.
 * AES-GCM only: 0, -EIO, or -EOPNOTSUPP (a key without the small-record
 * way). in and out may be the same. */
int tls_aead_peek_at(struct tls_aead *a, const uint8_t nonce[TLS_AEAD_NONCE], size_t off,
		     const uint8_t *in, uint8_t *out, size_t len);

/* Would tls_aead_peek_at work with this key (not -EOPNOTSUPP)? */
bool tls_aead_can_peek_at(const struct tls_aead *a);

#endif
