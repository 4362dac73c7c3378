// SPDX-License-Identifier: MIT
/*
 * Keys mode, user side: tls_keys_decode() turns key-ring records into
 * secrets. Record checks before anything is read; TLS 1.2 master secrets
 * by client_random; TLS 1.3 handshake secrets by their own transcript
 * hash; application secrets tied back to their connection's handshake hash
 * (s ap by thread, c ap by its hash, even after other handshakes ran on
 * that thread in between, as NGINX interleaves connections on one worker).
 */
#include <errno.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "probes/tls.h"
#include "probes/tls_keys.h"

static struct tls_key_event ev(uint32_t kind, uint32_t tid, uint8_t id_byte, uint32_t id_len,
			       uint8_t sec_byte, uint32_t sec_len)
{
	struct tls_key_event e;

	memset(&e, 0, sizeof(e));
	e.kind = TLS_KEY_EV_SECRET;
	e.secret_kind = kind;
	e.tgid = 100;
	e.tid = tid;
	e.ts = 5;
	e.id_len = id_len;
	e.secret_len = sec_len;
	memset(e.id, id_byte, id_len);
	memset(e.secret, sec_byte, sec_len);
	return e;
}

static struct tls_keys_state *state_new(void)
{
	struct tls_keys_state *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	return st;
}

static void assert_bytes(const uint8_t *p, uint8_t b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], b);
}

static void test_record_checks(void **state)
{
	(void)state;
	struct tls_keys_state *st = state_new();
	struct tls_key_event e = ev(TLS_SECRET_MASTER, 1, 0xaa, 32, 0x11, 48);
	struct tls_secret out;

	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	/* The ring hands a size: anything but the whole fixed record is refused. */
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e) - 1, 0, &out), -EINVAL);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e) + 8, 0, &out), -EINVAL);
	assert_int_equal(tls_keys_decode(st, &e, 0, 0, &out), -EINVAL);
	e.kind = 7;
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	e = ev(TLS_SECRET_KINDS, 1, 0xaa, 32, 0x11, 48);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	/* Lengths past the arrays, or none at all. */
	e = ev(TLS_SECRET_SERVER_HS, 1, 0xaa, 32, 0x11, 32);
	e.secret_len = TLS_KEY_SECRET_MAX + 1;
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	e.secret_len = 0;
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	e.secret_len = 32;
	e.id_len = TLS_KEY_ID_MAX + 1;
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	e.id_len = 0;
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	/* TLS 1.2: a client_random is 32 bytes, a master secret 48. */
	e = ev(TLS_SECRET_MASTER, 1, 0xaa, 48, 0x11, 48);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	e = ev(TLS_SECRET_MASTER, 1, 0xaa, 32, 0x11, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), -EINVAL);
	/* The largest valid sizes pass. */
	e = ev(TLS_SECRET_SERVER_HS, 1, 0xaa, TLS_KEY_ID_MAX, 0x11, TLS_KEY_SECRET_MAX);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	free(st);
}

static void test_tls12(void **state)
{
	(void)state;
	struct tls_keys_state *st = state_new();
	struct tls_key_event e = ev(TLS_SECRET_MASTER, 9, 0xcc, 32, 0x5a, 48);
	struct tls_secret out;

	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 1000, &out), 1);
	assert_int_equal(out.kind, TLS_SECRET_MASTER);
	assert_int_equal(out.id_kind, TLS_ID_CLIENT_RANDOM);
	assert_int_equal(out.id_len, 32);
	assert_bytes(out.id, 0xcc, 32);
	assert_int_equal(out.len, 48);
	assert_bytes(out.secret, 0x5a, 48);
	assert_int_equal(out.tgid, 100);
	assert_int_equal(out.tid, 9);
	assert_int_equal(out.ts_ns, 1005);      /* ktime + offset */
	free(st);
}

/* One connection's TLS 1.3 handshake, as the server derives it. */
static void test_tls13_one(void **state)
{
	(void)state;
	struct tls_keys_state *st = state_new();
	struct tls_secret out;
	struct tls_key_event e;

	e = ev(TLS_SECRET_SERVER_HS, 7, 0x01, 32, 0xa1, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_int_equal(out.id_kind, TLS_ID_TRANSCRIPT);
	assert_bytes(out.id, 0x01, 32);
	assert_bytes(out.secret, 0xa1, 32);
	e = ev(TLS_SECRET_CLIENT_HS, 7, 0x01, 32, 0xa2, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_bytes(out.id, 0x01, 32);
	/* s ap carries the longer hash (0x02): filed under the handshake's (0x01). */
	e = ev(TLS_SECRET_SERVER_AP, 7, 0x02, 32, 0xa3, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_int_equal(out.kind, TLS_SECRET_SERVER_AP);
	assert_int_equal(out.id_kind, TLS_ID_TRANSCRIPT);
	assert_int_equal(out.id_len, 32);
	assert_bytes(out.id, 0x01, 32);
	assert_bytes(out.secret, 0xa3, 32);
	e = ev(TLS_SECRET_CLIENT_AP, 7, 0x02, 32, 0xa4, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_int_equal(out.kind, TLS_SECRET_CLIENT_AP);
	assert_bytes(out.id, 0x01, 32);
	assert_bytes(out.secret, 0xa4, 32);
	/* Used up: a second c ap with that hash is not tied to anything. */
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 0);
	free(st);
}

/*
 * Two connections on one thread, the second's handshake between the first's
 * server flight and its client Finished (one NGINX worker, two clients), plus
 * a SHA-384 suite on another thread.
 */
static void test_tls13_interleaved(void **state)
{
	(void)state;
	struct tls_keys_state *st = state_new();
	struct tls_secret out;
	struct tls_key_event e;

	e = ev(TLS_SECRET_SERVER_HS, 7, 0x10, 32, 0xb1, 32);       /* conn A */
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	e = ev(TLS_SECRET_SERVER_AP, 7, 0x11, 32, 0xb2, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_bytes(out.id, 0x10, 32);
	e = ev(TLS_SECRET_SERVER_HS, 7, 0x20, 32, 0xc1, 32);       /* conn B, same thread */
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	e = ev(TLS_SECRET_SERVER_AP, 7, 0x21, 32, 0xc2, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_bytes(out.id, 0x20, 32);
	e = ev(TLS_SECRET_SERVER_HS, 8, 0x30, 48, 0xd1, 48);       /* conn C, SHA-384, other thread */
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	e = ev(TLS_SECRET_SERVER_AP, 8, 0x31, 48, 0xd2, 48);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_int_equal(out.id_len, 48);
	assert_bytes(out.id, 0x30, 48);
	/* A's client Finished arrives after B's handshake: still A's. */
	e = ev(TLS_SECRET_CLIENT_AP, 7, 0x11, 32, 0xb3, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_int_equal(out.id_len, 32);
	assert_bytes(out.id, 0x10, 32);
	assert_bytes(out.secret, 0xb3, 32);
	e = ev(TLS_SECRET_CLIENT_AP, 8, 0x31, 48, 0xd3, 48);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_int_equal(out.id_len, 48);
	assert_bytes(out.id, 0x30, 48);
	e = ev(TLS_SECRET_CLIENT_AP, 7, 0x21, 32, 0xc3, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	assert_bytes(out.id, 0x20, 32);
	free(st);
}

/* Lost records (ring full): nothing is guessed. */
static void test_tls13_unmatched(void **state)
{
	(void)state;
	struct tls_keys_state *st = state_new();
	struct tls_secret out;
	struct tls_key_event e;

	/* s ap without a handshake seen on that thread. */
	e = ev(TLS_SECRET_SERVER_AP, 3, 0x41, 32, 0xe1, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 0);
	/* c ap whose s ap was never seen. */
	e = ev(TLS_SECRET_CLIENT_AP, 3, 0x41, 32, 0xe2, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 0);
	/* A handshake on thread 4 does not lend its hash to thread 5. */
	e = ev(TLS_SECRET_SERVER_HS, 4, 0x50, 32, 0xe3, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	e = ev(TLS_SECRET_SERVER_AP, 5, 0x51, 32, 0xe4, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 0);
	/* A c ap hash that differs from the s ap's in one byte. */
	e = ev(TLS_SECRET_SERVER_AP, 4, 0x52, 32, 0xe5, 32);
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 1);
	e = ev(TLS_SECRET_CLIENT_AP, 4, 0x52, 32, 0xe6, 32);
	e.id[31] ^= 1;
	assert_int_equal(tls_keys_decode(st, &e, sizeof(e), 0, &out), 0);
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_checks),
		cmocka_unit_test(test_tls12),
		cmocka_unit_test(test_tls13_one),
		cmocka_unit_test(test_tls13_interleaved),
		cmocka_unit_test(test_tls13_unmatched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
