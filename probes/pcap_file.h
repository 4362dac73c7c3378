/* SPDX-License-Identifier: MIT */
/*
 * pcap_file: the classic pcap format (the one tcpdump -w and l7top --write
 * write), checked field by field. Pure: it takes the bytes of a header and
 * the size of the file and says whether they can be right, so a corrupt
 * or truncated file ends a replay with one line naming the byte offset
 * instead of a read past the end, a giant allocation or a spin.
 *
 * Limits (why a record "cannot be right"):
 *   - a record's captured length is at most the file's snaplen (a header
 *     snaplen of 0 means "unknown": PCAP_FILE_MAX_SNAPLEN, libpcap's bound,
 *     is used instead), and at most its length on the wire;
 *   - its length on the wire is at most PCAP_FILE_MAX_WIRELEN;
 *   - its timestamp fraction is below one second;
 *   - it fits in what is left of the file.
 * A header snaplen above PCAP_FILE_MAX_SNAPLEN is refused: no record of a
 * link type l7top reads can be that long, and a flipped bit is the likely
 * cause.
 */
#ifndef L7TOP_PCAP_FILE_H
#define L7TOP_PCAP_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCAP_FILE_HDR_LEN      24
#define PCAP_FILE_REC_HDR_LEN  16
#define PCAP_FILE_MAX_SNAPLEN  262144u          /* libpcap's MAXIMUM_SNAPLEN */
#define PCAP_FILE_MAX_WIRELEN  (16u << 20)      /* far above GRO/BIG TCP sizes */
#define PCAP_FILE_WHY_LEN      160

/* What the first bytes of a file are. */
enum pcap_file_kind {
	PCAP_FILE_CLASSIC,     /* pcap: parsed here */
	PCAP_FILE_PCAPNG,      /* pcapng: libpcap reads it */
	PCAP_FILE_UNKNOWN,     /* neither */
};

struct pcap_file_info {
	bool swapped;          /* written on a host of the other byte order */
	bool nano;             /* fractions are ns, not us */
	uint32_t snaplen;      /* bound on caplen actually applied */
	int linktype;          /* as a libpcap DLT_ value */
};

struct pcap_file_record {
	uint64_t ts_ns;
	uint32_t caplen;       /* bytes that follow the record header */
	uint32_t wirelen;
};

enum pcap_file_verdict {
	PCAP_FILE_OK,
	PCAP_FILE_TRUNCATED,   /* the file ends inside the header or the record */
	PCAP_FILE_CORRUPT,     /* a field no writer produces */
};

/* Looks at up to 4 bytes (n may be smaller). */
enum pcap_file_kind pcap_file_kind(const uint8_t *p, size_t n);
/*
 * The 24-byte file header. Returns PCAP_FILE_OK and fills info, or a
 * verdict with one sentence (no "l7top:", no file name) in why.
 */
enum pcap_file_verdict pcap_file_header(const uint8_t *p, size_t n, struct pcap_file_info *info,
					char *why, size_t whylen);
/*
 * One record header at byte offset off; left = bytes of the file from off
 * on (UINT64_MAX when the size is unknown, e.g. a pipe). Returns
 * PCAP_FILE_OK and fills rec, or a verdict with a sentence naming the
 * offset in why ("record at offset 9316 claims 4294967040 bytes (snaplen
 * 262144): file is corrupt").
 */
enum pcap_file_verdict pcap_file_record(const struct pcap_file_info *info, const uint8_t *p,
					uint64_t off, uint64_t left, struct pcap_file_record *rec,
					char *why, size_t whylen);

#endif
