// SPDX-License-Identifier: MIT
/*
 * tls_aead against OpenSSL's EVP AEAD encryption as ground truth: every
 * record length around the block size and around TLS_AEAD_BULK (where the
 * small-record way hands over to EVP), each cipher TLS uses, the same key
 * alternating between small and large records, with TLS 1.2's 13 bytes of
 * additional data and TLS 1.3's 5; a flipped byte in the ciphertext, the tag
 * or the additional data fails the tag; a peek deciphers any prefix without
 * the tag, and peek_at any 1 or 16 bytes of a record by their offset, or
 * all of it from there on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "collector/tls_aead.h"

#define MAXLEN (16384 + 256)

struct cipher_case {
	const char *aead, *ecb;     /* ecb NULL: EVP only */
	size_t key_len;
};

static const struct cipher_case CASES[] = {
	{ "AES-128-GCM", "AES-128-ECB", 16 },
	{ "AES-256-GCM", "AES-256-ECB", 32 },
	{ "ChaCha20-Poly1305", NULL, 32 },
};

struct sealed {
	uint8_t nonce[TLS_AEAD_NONCE], aad[13], tag[TLS_AEAD_TAG];
	uint8_t plain[MAXLEN], cipher[MAXLEN];
	size_t len, aad_len;        /* aad_len: 13 (TLS 1.2) or 5 (TLS 1.3) */
};

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand();
}

/* The reference: EVP's own encryption of a random record. */
static void seal_aad(const char *name, const uint8_t *key, size_t len, size_t aad_len,
		     struct sealed *s)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl, fl;

	assert_non_null(c);
	assert_non_null(ctx);
	s->len = len;
	s->aad_len = aad_len;
	fill(s->nonce, sizeof(s->nonce));
	fill(s->aad, aad_len);
	fill(s->plain, len);
	assert_true(EVP_EncryptInit_ex2(ctx, c, key, s->nonce, NULL));
	assert_true(EVP_EncryptUpdate(ctx, NULL, &outl, s->aad, (int)aad_len));
	assert_true(EVP_EncryptUpdate(ctx, s->cipher, &outl, s->plain, (int)len));
	assert_true(EVP_EncryptFinal_ex(ctx, s->cipher + outl, &fl));
	assert_true(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TLS_AEAD_TAG, s->tag));
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
}

static void seal(const char *name, const uint8_t *key, size_t len, struct sealed *s)
{
	seal_aad(name, key, len, 13, s);
}

static struct tls_aead *make(const struct cipher_case *cc, const uint8_t *key)
{
	EVP_CIPHER *aead = EVP_CIPHER_fetch(NULL, cc->aead, NULL);
	EVP_CIPHER *ecb = cc->ecb ? EVP_CIPHER_fetch(NULL, cc->ecb, NULL) : NULL;
	struct tls_aead *a = tls_aead_new(aead, ecb, key, cc->key_len);

	/* tls_aead keeps its own reference to the AEAD: the caller's can go. */
	EVP_CIPHER_free(aead);
	EVP_CIPHER_free(ecb);
	assert_non_null(a);
	return a;
}

static int open_copy(struct tls_aead *a, const struct sealed *s, uint8_t *buf)
{
	memcpy(buf, s->cipher, s->len);
	return tls_aead_open(a, s->nonce, s->aad, s->aad_len, buf, s->len, s->tag);
}

/* Lengths around every 16-byte edge up to 100, around the hand-over, and
 * the largest records TLS allows. */
static const size_t LENS[] = {
	0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 99, 200, 511, 512, 513, 1400,
	TLS_AEAD_BULK - 17, TLS_AEAD_BULK - 1, TLS_AEAD_BULK, TLS_AEAD_BULK + 1,
	TLS_AEAD_BULK + 15, 4096, 16384, 16384 + 256,
};

static void test_opens_what_evp_sealed(void **state)
{
	(void)state;
	static struct sealed s;
	static uint8_t buf[MAXLEN];
	uint8_t key[32];

	for (size_t c = 0; c < sizeof(CASES) / sizeof(CASES[0]); c++) {
		fill(key, sizeof(key));
		struct tls_aead *a = make(&CASES[c], key);
		/* twice over, so one key serves small and large records in turn;
		 * the second time with TLS 1.3's 5 bytes of additional data */
		for (int round = 0; round < 2; round++) {
			for (size_t i = 0; i < sizeof(LENS) / sizeof(LENS[0]); i++) {
				size_t len = LENS[round ? sizeof(LENS) / sizeof(LENS[0]) - 1 - i : i];
				seal_aad(CASES[c].aead, key, len, round ? 5 : 13, &s);
				assert_int_equal(open_copy(a, &s, buf), 0);
				if (len)
					assert_memory_equal(buf, s.plain, len);
			}
		}
		tls_aead_free(a);
	}
}

static void test_flipped_byte_fails_the_tag(void **state)
{
	(void)state;
	static struct sealed s;
	static uint8_t buf[MAXLEN];
	static const size_t lens[] = { 40, TLS_AEAD_BULK + 100 };
	uint8_t key[32];

	for (size_t c = 0; c < sizeof(CASES) / sizeof(CASES[0]); c++) {
		fill(key, sizeof(key));
		struct tls_aead *a = make(&CASES[c], key);
		for (size_t i = 0; i < 2; i++) {
			seal(CASES[c].aead, key, lens[i], &s);
			s.cipher[lens[i] / 2] ^= 0x01;
			assert_int_equal(open_copy(a, &s, buf), -EBADMSG);
			s.cipher[lens[i] / 2] ^= 0x01;
			s.tag[3] ^= 0x80;
			assert_int_equal(open_copy(a, &s, buf), -EBADMSG);
			s.tag[3] ^= 0x80;
			s.aad[12] ^= 0x10;
			assert_int_equal(open_copy(a, &s, buf), -EBADMSG);
			s.aad[12] ^= 0x10;
			s.nonce[11] ^= 0x01;
			assert_int_equal(open_copy(a, &s, buf), -EBADMSG);
			s.nonce[11] ^= 0x01;
			/* a failure leaves the key usable */
			assert_int_equal(open_copy(a, &s, buf), 0);
			assert_memory_equal(buf, s.plain, lens[i]);
		}
		tls_aead_free(a);
	}
}

static void test_peek_reads_any_prefix(void **state)
{
	(void)state;
	static struct sealed s;
	static uint8_t out[MAXLEN];
	static const size_t prefixes[] = { 1, 7, 16, 100, 1000, TLS_AEAD_BULK, 5000 };
	uint8_t key[32];

	for (size_t c = 0; c < sizeof(CASES) / sizeof(CASES[0]); c++) {
		fill(key, sizeof(key));
		struct tls_aead *a = make(&CASES[c], key);
		seal(CASES[c].aead, key, 16384, &s);
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			memset(out, 0, sizeof(out));
			assert_int_equal(tls_aead_peek(a, s.nonce, s.aad, s.aad_len, s.cipher, out,
						       prefixes[i]), 0);
			assert_memory_equal(out, s.plain, prefixes[i]);
			assert_int_equal(out[prefixes[i]], 0);   /* nothing past the prefix */
		}
		tls_aead_free(a);
	}
}

/* What body_skip() reads of a TLS 1.3 record: its last byte (or any 16) by
 * offset, the rest left enciphered; ChaCha20 keys have no such way. */
static void test_peek_at_reads_by_offset(void **state)
{
	(void)state;
	static struct sealed s;
	static const size_t lens[] = { 1, 17, TLS_AEAD_BULK - 1, TLS_AEAD_BULK, 5000, 16384 + 256 };
	static uint8_t rest[MAXLEN + 1];   /* and a byte that must stay */
	uint8_t key[32], out[16];

	for (size_t c = 0; c < sizeof(CASES) / sizeof(CASES[0]); c++) {
		fill(key, sizeof(key));
		struct tls_aead *a = make(&CASES[c], key);
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			size_t len = lens[i];
			seal_aad(CASES[c].aead, key, len, 5, &s);
			if (!CASES[c].ecb) {
				assert_int_equal(tls_aead_peek_at(a, s.nonce, len - 1, s.cipher + len - 1, out, 1),
						 -EOPNOTSUPP);
				continue;
			}
			const size_t offs[] = { 0, 1, 15, 16, 17, len / 2, len - 1 };
			for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
				size_t off = offs[k] < len ? offs[k] : len - 1;
				size_t fit = len - off < 16 ? len - off : 16;
				/* one byte, and all that fit */
				assert_int_equal(tls_aead_peek_at(a, s.nonce, off, s.cipher + off, out, 1), 0);
				assert_int_equal(out[0], s.plain[off]);
				assert_int_equal(tls_aead_peek_at(a, s.nonce, off, s.cipher + off, out, fit), 0);
				assert_memory_equal(out, s.plain + off, fit);
				/* the rest of the record, in place, across the
				 * keystream's 512-byte pieces */
				memcpy(rest, s.cipher + off, len - off);
				rest[len - off] = 0x5a;
				assert_int_equal(tls_aead_peek_at(a, s.nonce, off, rest, rest, len - off), 0);
				assert_memory_equal(rest, s.plain + off, len - off);
				assert_int_equal(rest[len - off], 0x5a);
			}
		}
		tls_aead_free(a);
	}
}

static void test_refuses_oversized_key(void **state)
{
	(void)state;
	EVP_CIPHER *aead = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	uint8_t key[64] = { 0 };

	assert_null(tls_aead_new(aead, NULL, key, sizeof(key)));
	assert_null(tls_aead_new(NULL, NULL, key, 16));
	EVP_CIPHER_free(aead);
	tls_aead_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opens_what_evp_sealed),
		cmocka_unit_test(test_flipped_byte_fails_the_tag),
		cmocka_unit_test(test_peek_reads_any_prefix),
		cmocka_unit_test(test_peek_at_reads_by_offset),
		cmocka_unit_test(test_refuses_oversized_key),
	};
	srand(19);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
