/* SPDX-License-Identifier: MIT */
/*
 * word_hash: bytes hashed eight at a time, each word through its own
 * multiply. A request's target (route_cache) and its endpoint's names
 * (ep_hash) are hashed on every request; a byte at a time (FNV) the names
 * of "/ep/alpha/bravo/charlie/delta" were a chain of ~40 dependent
 * multiplies, and a target's ~90 instructions.
 */
#ifndef L7TOP_WORD_HASH_H
#define L7TOP_WORD_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Bytes i..n-1 of s (1 to 7 of them) as one word, zero above, as a copy
 * into a zeroed word would make it on little-endian. That copy is a run
 * of small stores the 8-byte load after it cannot take from the store
 * buffer: a stall on every request. A string of 8 bytes or more gives
 * its last eight in one load, shifted; a shorter one is put together in
 * a register. Never reads outside s[0..n).
 */
static inline uint64_t word_tail(const char *s, size_t i, size_t n)
{
	unsigned drop = (unsigned)(8 - (n - i)) * 8;
	uint64_t w = 0;

	if (n >= 8) {
		memcpy(&w, s + n - 8, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		return w >> drop;
#else
		return w & (~0ull >> drop);
#endif
	}
	for (size_t k = n; k-- > i;)
		w = w << 8 | (uint8_t)s[k];
	return w;
}

/* h with s[0..n) mixed in; the length goes in first, so strings hashed one
 * after another keep their boundaries. */
static inline uint64_t word_hash(uint64_t h, const char *s, size_t n)
{
	uint64_t w;
	size_t i = 0;

	h ^= n * 0x9e3779b97f4a7c15ull;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	if (i < n)
		h = (h ^ word_tail(s, i, n)) * 0xc4ceb9fe1a85ec53ull;
	return h;
}

/* The 64 bits of a word_hash() folded to 32. */
static inline uint32_t word_hash32(uint64_t h)
{
	return (uint32_t)(h ^ h >> 32);
}

#endif
