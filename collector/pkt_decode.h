/* SPDX-License-Identifier: MIT */
/*
 * pkt_decode: an IPv4/IPv6 packet to the TCP segment it carries. Pure.
 */
#ifndef L7TOP_PKT_DECODE_H
#define L7TOP_PKT_DECODE_H

#include <stdint.h>
#include <string.h>

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10

struct tcp_seg {
	uint8_t family;             /* 4 or 6 */
	uint8_t saddr[16], daddr[16];   /* IPv4 in the first 4 bytes */
	uint16_t sport, dport;      /* host order */
	uint32_t seq;
	uint8_t flags;
	const uint8_t *payload;
	uint32_t caplen;            /* payload bytes present in the buffer */
	uint32_t len;               /* payload bytes on the wire */
};

/*
 * An IPv4 address into the 16 bytes of a v6 one, zero-padded, as two
 * 8-byte stores from registers. Connection keys and client addresses are
 * read right after they are written, with 4- to 16-byte loads; a memset
 * followed by a 4-byte copy (or a padded copy built on the stack) is a
 * set of stores the CPU cannot forward to such a load, and each packet
 * stalled until they reached the cache.
 */
static inline void addr16_from_v4(uint8_t out[16], const uint8_t *v4)
{
	uint32_t a;
	uint64_t lo, hi = 0;

	memcpy(&a, v4, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	lo = a;                    /* the address in the word's first 4 bytes */
#else
	lo = (uint64_t)a << 32;
#endif
	memcpy(out, &lo, 8);
	memcpy(out + 8, &hi, 8);
}

/*
 * caplen: bytes present from l3; wirelen: the packet's length on the wire.
 * Returns 0, or -EINVAL for anything that is not a well-formed TCP segment
 * (fragments and IPv6 extension headers included).
 */
int pkt_decode(const uint8_t *l3, uint32_t caplen, uint32_t wirelen, struct tcp_seg *out);

#endif
