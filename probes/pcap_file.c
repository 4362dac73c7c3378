// SPDX-License-Identifier: MIT
#include "probes/pcap_file.h"

#include <inttypes.h>
#include <stdio.h>

#define PCAP_PCAPNG_MAGIC 0x0A0D0D0Au
#define PCAP_MAGIC_US     0xA1B2C3D4u
#define PCAP_MAGIC_NS     0xA1B23C4Du
#define LINKTYPE_RAW      101      /* in files; libpcap calls it DLT_RAW (12) */
#define DLT_RAW_VALUE     12

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t swap32(uint32_t v)
{
	return v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24;
}

static uint16_t field16(const struct pcap_file_info *info, const uint8_t *p)
{
	return info->swapped ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[0] | p[1] << 8);
}

/* Fields are read little-endian, then swapped if the magic said so. */
static uint32_t field32(const struct pcap_file_info *info, const uint8_t *p)
{
	uint32_t v = le32(p);
	return info->swapped ? swap32(v) : v;
}

enum pcap_file_kind pcap_file_kind(const uint8_t *p, size_t n)
{
	uint32_t m;

	if (n < 4)
		return PCAP_FILE_UNKNOWN;
	m = le32(p);
	if (m == PCAP_PCAPNG_MAGIC)
		return PCAP_FILE_PCAPNG;
	if (m == PCAP_MAGIC_US || m == PCAP_MAGIC_NS || swap32(m) == PCAP_MAGIC_US ||
	    swap32(m) == PCAP_MAGIC_NS)
		return PCAP_FILE_CLASSIC;
	return PCAP_FILE_UNKNOWN;
}

enum pcap_file_verdict pcap_file_header(const uint8_t *p, size_t n, struct pcap_file_info *info,
					char *why, size_t whylen)
{
	uint32_t m, snaplen, link;
	uint16_t major;

	if (n < PCAP_FILE_HDR_LEN) {
		snprintf(why, whylen, "%s (%zu of %d header bytes): file is truncated",
			 n ? "ends inside the file header" : "is empty", n, PCAP_FILE_HDR_LEN);
		return PCAP_FILE_TRUNCATED;
	}
	if (pcap_file_kind(p, n) != PCAP_FILE_CLASSIC) {
		snprintf(why, whylen, "is not a pcap file");
		return PCAP_FILE_CORRUPT;
	}
	m = le32(p);
	info->swapped = m != PCAP_MAGIC_US && m != PCAP_MAGIC_NS;
	info->nano = (info->swapped ? swap32(m) : m) == PCAP_MAGIC_NS;
	major = field16(info, p + 4);
	snaplen = field32(info, p + 16);
	link = field32(info, p + 20) & 0xffffu;   /* the upper bits carry FCS info */
	if (major != 2) {
		snprintf(why, whylen, "header says format version %u (only 2 exists): file is corrupt",
			 major);
		return PCAP_FILE_CORRUPT;
	}
	if (snaplen > PCAP_FILE_MAX_SNAPLEN) {
		snprintf(why, whylen, "header claims a snaplen of %" PRIu32 " bytes (at most %u can be "
			 "right): file is corrupt", snaplen, PCAP_FILE_MAX_SNAPLEN);
		return PCAP_FILE_CORRUPT;
	}
	info->snaplen = snaplen ? snaplen : PCAP_FILE_MAX_SNAPLEN;
	info->linktype = link == LINKTYPE_RAW ? DLT_RAW_VALUE : (int)link;
	return PCAP_FILE_OK;
}

enum pcap_file_verdict pcap_file_record(const struct pcap_file_info *info, const uint8_t *p,
					uint64_t off, uint64_t left, struct pcap_file_record *rec,
					char *why, size_t whylen)
{
	uint32_t sec, frac, caplen, wirelen;
	uint32_t frac_max = info->nano ? 1000000000u : 1000000u;

	if (left < PCAP_FILE_REC_HDR_LEN) {
		snprintf(why, whylen, "file ends inside the record header at offset %" PRIu64
			 " (%" PRIu64 " of %d bytes): file is truncated", off, left,
			 PCAP_FILE_REC_HDR_LEN);
		return PCAP_FILE_TRUNCATED;
	}
	sec = field32(info, p);
	frac = field32(info, p + 4);
	caplen = field32(info, p + 8);
	wirelen = field32(info, p + 12);
	if (caplen > info->snaplen) {
		snprintf(why, whylen, "record at offset %" PRIu64 " claims %" PRIu32 " bytes (snaplen %"
			 PRIu32 "): file is corrupt", off, caplen, info->snaplen);
		return PCAP_FILE_CORRUPT;
	}
	if (wirelen > PCAP_FILE_MAX_WIRELEN || caplen > wirelen) {
		snprintf(why, whylen, "record at offset %" PRIu64 " claims %" PRIu32 " bytes captured "
			 "of %" PRIu32 " on the wire: file is corrupt", off, caplen, wirelen);
		return PCAP_FILE_CORRUPT;
	}
	if (frac >= frac_max) {
		snprintf(why, whylen, "record at offset %" PRIu64 " has a timestamp fraction of %"
			 PRIu32 " %s: file is corrupt", off, frac, info->nano ? "ns" : "us");
		return PCAP_FILE_CORRUPT;
	}
	if (caplen > left - PCAP_FILE_REC_HDR_LEN) {
		snprintf(why, whylen, "record at offset %" PRIu64 " claims %" PRIu32 " bytes, the "
			 "file has %" PRIu64 " left: file is truncated", off, caplen,
			 left - PCAP_FILE_REC_HDR_LEN);
		return PCAP_FILE_TRUNCATED;
	}
	rec->ts_ns = (uint64_t)sec * 1000000000u + (uint64_t)frac * (info->nano ? 1u : 1000u);
	rec->caplen = caplen;
	rec->wirelen = wirelen;
	return PCAP_FILE_OK;
}
