// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: segment reassembly + HTTP parsing + aggregation through
 * the collector's public entry point, with segments in any order and size.
 *
 * Input: a list of records [ctl][len][len bytes]. ctl bit 0 picks the
 * direction, bits 1..2 the TCP flags (none, FIN, RST, SYN), bits 3..7 a
 * signed shift of the segment's sequence number, so records overlap, leave
 * holes, repeat and arrive out of order. A record with ctl 0xff takes a
 * snapshot mid-stream. The first bytes of the corpus seeds are real HTTP
 * (HTTP/1.x, and HTTP/2 from python3-h2: preface, HPACK, CONTINUATION,
 * gRPC trailers).
 *
 * The same records then go, in order, through collector_stream_data (the
 * calls-mode path: bytes read inside the server process): there the first
 * bytes decide HTTP/1.x, HTTP/2 with its preface, or HTTP/2 joined
 * mid-connection, and ctl bit 6 makes a call carry more bytes than were
 * captured (a gap).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "collector/collector.h"

static size_t build(uint8_t *pkt, int to_server, uint32_t seq, uint8_t flags,
		    const uint8_t *data, size_t len)
{
	memset(pkt, 0, 40);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)((40 + len) >> 8);
	pkt[3] = (uint8_t)(40 + len);
	pkt[9] = 6;
	pkt[12] = 10, pkt[15] = to_server ? 2 : 1;
	pkt[16] = 10, pkt[19] = to_server ? 1 : 2;
	uint16_t sp = to_server ? 40000 : 80, dp = to_server ? 80 : 40000;
	pkt[20] = (uint8_t)(sp >> 8), pkt[21] = (uint8_t)sp;
	pkt[22] = (uint8_t)(dp >> 8), pkt[23] = (uint8_t)dp;
	pkt[24] = (uint8_t)(seq >> 24), pkt[25] = (uint8_t)(seq >> 16);
	pkt[26] = (uint8_t)(seq >> 8), pkt[27] = (uint8_t)seq;
	pkt[32] = 5 << 4;
	pkt[33] = flags;
	if (len)
		memcpy(pkt + 40, data, len);
	return 40 + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t port = 80;
	static const uint8_t flag_of[4] = { 0x10, 0x11, 0x04, 0x02 };
	struct collector_config cfg = { .max_conns = 16, .max_endpoints = 8,
					.max_ooo_bytes = 4096, .max_ooo_segs = 16 };
	struct collector *c = collector_new(&cfg);
	uint8_t pkt[40 + 256];
	uint32_t off[2] = { 0, 0 };
	const uint32_t isn[2] = { 1000, 0xfffff000u };
	uint64_t ts = 1;

	if (!c)
		return 0;
	collector_set_ports(c, &port, 1);
	size_t n = build(pkt, 1, isn[0] - 1, 0x02, NULL, 0);
	collector_packet(c, ts, pkt, (uint32_t)n, (uint32_t)n);
	n = build(pkt, 0, isn[1] - 1, 0x12, NULL, 0);
	collector_packet(c, ts, pkt, (uint32_t)n, (uint32_t)n);

	for (size_t i = 0; i + 2 <= size;) {
		uint8_t ctl = data[i], len = data[i + 1];
		i += 2;
		if (ctl == 0xff) {
			snapshot_free(collector_snapshot(c, ts, 1));
			continue;
		}
		if (len > size - i)
			len = (uint8_t)(size - i);
		int dir = ctl & 1;
		int8_t shift = (int8_t)((ctl & 0xf8)) >> 3;     /* -16..15 */
		uint32_t seq = isn[dir] + off[dir] + (uint32_t)(int32_t)shift * 7;
		n = build(pkt, !dir, seq, flag_of[(ctl >> 1) & 3], data + i, len);
		/* sometimes claim a longer wire length: a cut segment */
		uint32_t wire = (uint32_t)n + ((ctl & 0x40) && len ? 100u : 0u);
		collector_packet(c, ts++, pkt, (uint32_t)n, wire);
		off[dir] += len;
		i += len;
	}
	/* the calls-mode path; conn 1 from the first byte, conn 2 from the third
	 * record on (joined mid-connection) */
	for (size_t i = 0, rec = 0; i + 2 <= size; rec++) {
		uint8_t ctl = data[i], len = data[i + 1];
		i += 2;
		if (ctl == 0xff)
			continue;
		if (len > size - i)
			len = (uint8_t)(size - i);
		uint32_t wire = len + ((ctl & 0x40) ? 100u : 0u);
		collector_stream_data(c, 7, 1, ctl & 1, data + i, len, wire, ts++);
		if (rec >= 2)
			collector_stream_data(c, 7, 2, ctl & 1, data + i, len, wire, ts++);
		i += len;
	}
	collector_stream_close(c, 7, 1, ts);
	collector_expire(c, ts + 10ull * 1000000000ull * 1000);
	snapshot_free(collector_snapshot(c, ts, 1));
	collector_free(c);
	return 0;
}
