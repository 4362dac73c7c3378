// SPDX-License-Identifier: MIT
#include "collector/pkt_decode.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* l4 points at the TCP header; l4_wire is the TCP segment's length on the wire. */
static int decode_tcp(const uint8_t *l4, uint32_t l4_cap, uint32_t l4_wire, struct tcp_seg *s)
{
	if (l4_cap < 20)
		return -EINVAL;
	uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;
	if (doff < 20 || doff > l4_cap || doff > l4_wire)
		return -EINVAL;
	s->sport = rd16(l4);
	s->dport = rd16(l4 + 2);
	s->seq = rd32(l4 + 4);
	s->flags = l4[13];
	s->payload = l4 + doff;
	s->len = l4_wire - doff;
	s->caplen = l4_cap - doff;
	if (s->caplen > s->len)           /* Ethernet padding */
		s->caplen = s->len;
	return 0;
}

static int decode_v4(const uint8_t *p, uint32_t cap, uint32_t wire, struct tcp_seg *s)
{
	if (cap < 20)
		return -EINVAL;
	uint32_t ihl = (uint32_t)(p[0] & 15) * 4;
	uint32_t tot = rd16(p + 2);
	if (ihl < 20 || ihl > cap || p[9] != 6)
		return -EINVAL;
	if ((rd16(p + 6) & 0x3fff) != 0)  /* a fragment: MF set or offset != 0 */
		return -EINVAL;
	if (tot == 0)                      /* TSO/GSO packets may carry 0 */
		tot = wire;
	if (tot < ihl)
		return -EINVAL;
	s->family = 4;
	addr16_from_v4(s->saddr, p + 12);
	addr16_from_v4(s->daddr, p + 16);
	uint32_t l4cap = (cap < tot ? cap : tot) - ihl;
	return decode_tcp(p + ihl, l4cap, tot - ihl, s);
}

static int decode_v6(const uint8_t *p, uint32_t cap, uint32_t wire, struct tcp_seg *s)
{
	if (cap < 40 || p[6] != 6)
		return -EINVAL;
	uint32_t plen = rd16(p + 4);
	if (plen == 0)                     /* jumbogram / BIG TCP */
		plen = wire > 40 ? wire - 40 : 0;
	s->family = 6;
	memcpy(s->saddr, p + 8, 16);
	memcpy(s->daddr, p + 24, 16);
	uint32_t l4cap = cap - 40 < plen ? cap - 40 : plen;
	return decode_tcp(p + 40, l4cap, plen, s);
}

int pkt_decode(const uint8_t *l3, uint32_t caplen, uint32_t wirelen, struct tcp_seg *out)
{
	if (caplen < 1)
		return -EINVAL;
	switch (l3[0] >> 4) {
	case 4:
		return decode_v4(l3, caplen, wirelen, out);
	case 6:
		return decode_v6(l3, caplen, wirelen, out);
	default:
		return -EINVAL;
	}
}
