// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the --read path. The input is a whole capture file:
 * probes/pcap_file.c checks its header and every record header exactly as
 * capture.c's reader does (with the input's size as the file size), and
 * each record that passes goes to the collector the way capture.c hands it
 * on (link header stripped for Ethernet, cooked and raw IP; other link
 * types skipped), with learn_ports so SYNs pick the server side. Besides
 * ASan/UBSan, it checks the reader's contract: a record that passes fits
 * in what is left of the file and within the snaplen.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "collector/collector.h"
#include "probes/pcap_file.h"

/* The link header's length, as capture.c would strip it; -1 to skip. */
static int link_len(int linktype, const uint8_t *p, uint32_t len)
{
	switch (linktype) {
	case 1:       /* Ethernet */
		return len >= 14 ? 14 : -1;
	case 113:     /* Linux cooked v1 */
		return len >= 16 ? 16 : -1;
	case 276:     /* Linux cooked v2 */
		return len >= 20 ? 20 : -1;
	case 12:      /* raw IP */
		return len > 0 && (p[0] >> 4 == 4 || p[0] >> 4 == 6) ? 0 : -1;
	default:
		return -1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collector_config cfg = { .max_conns = 32, .max_endpoints = 16, .learn_ports = true,
					.max_ooo_bytes = 8192, .max_ooo_segs = 16 };
	struct pcap_file_info info;
	char why[PCAP_FILE_WHY_LEN];
	struct collector *c;
	uint64_t off = PCAP_FILE_HDR_LEN, last = 0;

	if (pcap_file_header(data, size, &info, why, sizeof(why)) != PCAP_FILE_OK)
		return 0;
	if (info.snaplen > PCAP_FILE_MAX_SNAPLEN)
		abort();
	c = collector_new(&cfg);
	if (!c)
		return 0;
	for (;;) {
		struct pcap_file_record rec;
		uint64_t left = size - off;

		if (left == 0 || pcap_file_record(&info, data + off, off, left, &rec, why,
						  sizeof(why)) != PCAP_FILE_OK)
			break;
		/* The contract the reader relies on to read rec.caplen bytes. */
		if (PCAP_FILE_REC_HDR_LEN + (uint64_t)rec.caplen > left || rec.caplen > info.snaplen ||
		    rec.caplen > rec.wirelen)
			abort();
		const uint8_t *pkt = data + off + PCAP_FILE_REC_HDR_LEN;
		int l = link_len(info.linktype, pkt, rec.caplen);
		if (l >= 0)
			collector_packet(c, rec.ts_ns, pkt + l, rec.caplen - (uint32_t)l,
					 rec.wirelen - (uint32_t)l);
		/* An interval boundary now and then, as the replay clock makes them. */
		if (rec.ts_ns / 1000000000u != last / 1000000000u)
			snapshot_free(collector_snapshot(c, last / 1000000, 1000));
		last = rec.ts_ns;
		off += PCAP_FILE_REC_HDR_LEN + rec.caplen;
	}
	collector_expire(c, last + 3600ull * 1000000000ull);
	snapshot_free(collector_snapshot(c, last / 1000000, 1000));
	collector_free(c);
	return 0;
}
