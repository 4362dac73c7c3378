// SPDX-License-Identifier: MIT
/*
 * pcap_file (record validation) and replay_clock (intervals from the
 * packets' own times): the pure parts of a bounded --read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "probes/pcap_file.h"
#include "src/replay_clock.h"

static void put32(uint8_t *p, uint32_t v, bool be)
{
	for (int i = 0; i < 4; i++)
		p[be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}

static void file_header(uint8_t *h, uint32_t magic, uint32_t snaplen, uint32_t link, bool be)
{
	memset(h, 0, PCAP_FILE_HDR_LEN);
	put32(h, magic, be);
	h[be ? 5 : 4] = 2;         /* version 2.4 */
	h[be ? 7 : 6] = 4;
	put32(h + 16, snaplen, be);
	put32(h + 20, link, be);
}

static void rec_header(uint8_t *r, uint32_t sec, uint32_t frac, uint32_t cap, uint32_t wire, bool be)
{
	put32(r, sec, be);
	put32(r + 4, frac, be);
	put32(r + 8, cap, be);
	put32(r + 12, wire, be);
}

static void test_kinds(void **state)
{
	(void)state;
	const uint8_t ng[] = { 0x0a, 0x0d, 0x0d, 0x0a }, us[] = { 0xd4, 0xc3, 0xb2, 0xa1 },
		      nsbe[] = { 0xa1, 0xb2, 0x3c, 0x4d }, junk[] = { 'G', 'E', 'T', ' ' };
	assert_int_equal(pcap_file_kind(ng, 4), PCAP_FILE_PCAPNG);
	assert_int_equal(pcap_file_kind(us, 4), PCAP_FILE_CLASSIC);
	assert_int_equal(pcap_file_kind(nsbe, 4), PCAP_FILE_CLASSIC);
	assert_int_equal(pcap_file_kind(junk, 4), PCAP_FILE_UNKNOWN);
	assert_int_equal(pcap_file_kind(us, 3), PCAP_FILE_UNKNOWN);
}

static void test_header(void **state)
{
	(void)state;
	uint8_t h[PCAP_FILE_HDR_LEN];
	struct pcap_file_info info;
	char why[PCAP_FILE_WHY_LEN];

	file_header(h, 0xa1b23c4d, 65535, 1, true);
	assert_int_equal(pcap_file_header(h, sizeof(h), &info, why, sizeof(why)), PCAP_FILE_OK);
	assert_true(info.swapped);
	assert_true(info.nano);
	assert_int_equal(info.snaplen, 65535);
	assert_int_equal(info.linktype, 1);

	/* snaplen 0 = unknown: libpcap's bound; LINKTYPE_RAW is DLT_RAW. */
	file_header(h, 0xa1b2c3d4, 0, 101, false);
	assert_int_equal(pcap_file_header(h, sizeof(h), &info, why, sizeof(why)), PCAP_FILE_OK);
	assert_false(info.swapped);
	assert_false(info.nano);
	assert_int_equal(info.snaplen, PCAP_FILE_MAX_SNAPLEN);
	assert_int_equal(info.linktype, 12);

	file_header(h, 0xa1b2c3d4, 0xffffffffu, 1, false);
	assert_int_equal(pcap_file_header(h, sizeof(h), &info, why, sizeof(why)), PCAP_FILE_CORRUPT);
	assert_non_null(strstr(why, "snaplen of 4294967295"));

	file_header(h, 0xa1b2c3d4, 65535, 1, false);
	h[4] = 3;
	assert_int_equal(pcap_file_header(h, sizeof(h), &info, why, sizeof(why)), PCAP_FILE_CORRUPT);

	assert_int_equal(pcap_file_header(h, 0, &info, why, sizeof(why)), PCAP_FILE_TRUNCATED);
	assert_non_null(strstr(why, "is empty"));
	assert_int_equal(pcap_file_header(h, 10, &info, why, sizeof(why)), PCAP_FILE_TRUNCATED);
}

static void test_records(void **state)
{
	(void)state;
	struct pcap_file_info info = { .snaplen = 65535 }, nano = { .snaplen = 65535, .nano = true },
			      be = { .snaplen = 65535, .swapped = true };
	struct pcap_file_record rec;
	uint8_t r[PCAP_FILE_REC_HDR_LEN];
	char why[PCAP_FILE_WHY_LEN];

	rec_header(r, 1700000000, 123456, 66, 66, false);
	assert_int_equal(pcap_file_record(&info, r, 24, 16 + 66, &rec, why, sizeof(why)), PCAP_FILE_OK);
	assert_int_equal(rec.caplen, 66);
	assert_int_equal(rec.wirelen, 66);
	assert_true(rec.ts_ns == 1700000000ull * 1000000000ull + 123456000ull);
	rec_header(r, 1700000000, 123456789, 66, 1500, false);
	assert_int_equal(pcap_file_record(&nano, r, 24, UINT64_MAX, &rec, why, sizeof(why)), PCAP_FILE_OK);
	assert_true(rec.ts_ns == 1700000000ull * 1000000000ull + 123456789ull);
	rec_header(r, 1, 2, 66, 66, true);
	assert_int_equal(pcap_file_record(&be, r, 24, 100, &rec, why, sizeof(why)), PCAP_FILE_OK);
	assert_int_equal(rec.caplen, 66);

	/* Zero length records are valid. */
	rec_header(r, 1, 2, 0, 0, false);
	assert_int_equal(pcap_file_record(&info, r, 24, 16, &rec, why, sizeof(why)), PCAP_FILE_OK);

	/* The flipped length: named, with its offset. */
	rec_header(r, 1, 2, 4294967040u, 66, false);
	assert_int_equal(pcap_file_record(&info, r, 9316, 1000, &rec, why, sizeof(why)), PCAP_FILE_CORRUPT);
	assert_string_equal(why, "record at offset 9316 claims 4294967040 bytes (snaplen 65535): "
				 "file is corrupt");
	rec_header(r, 1, 2, 65536, 70000, false);
	assert_int_equal(pcap_file_record(&info, r, 24, UINT64_MAX, &rec, why, sizeof(why)),
			 PCAP_FILE_CORRUPT);
	rec_header(r, 1, 2, 100, 99, false);
	assert_int_equal(pcap_file_record(&info, r, 24, 1000, &rec, why, sizeof(why)), PCAP_FILE_CORRUPT);
	assert_non_null(strstr(why, "on the wire"));
	rec_header(r, 1, 2, 100, PCAP_FILE_MAX_WIRELEN + 1, false);
	assert_int_equal(pcap_file_record(&info, r, 24, 1000, &rec, why, sizeof(why)), PCAP_FILE_CORRUPT);
	rec_header(r, 1, 1000000, 66, 66, false);
	assert_int_equal(pcap_file_record(&info, r, 24, 1000, &rec, why, sizeof(why)), PCAP_FILE_CORRUPT);
	assert_non_null(strstr(why, "timestamp fraction"));
	rec_header(r, 1, 999999999, 66, 66, false);
	assert_int_equal(pcap_file_record(&nano, r, 24, 1000, &rec, why, sizeof(why)), PCAP_FILE_OK);

	/* Truncated: inside the header, and inside the data. */
	rec_header(r, 1, 2, 66, 66, false);
	assert_int_equal(pcap_file_record(&info, r, 500, 15, &rec, why, sizeof(why)), PCAP_FILE_TRUNCATED);
	assert_non_null(strstr(why, "offset 500 (15 of 16 bytes)"));
	assert_int_equal(pcap_file_record(&info, r, 500, 16 + 65, &rec, why, sizeof(why)),
			 PCAP_FILE_TRUNCATED);
	assert_non_null(strstr(why, "the file has 65 left"));
	assert_int_equal(pcap_file_record(&info, r, 500, 16 + 66, &rec, why, sizeof(why)), PCAP_FILE_OK);
}

/* Every bit of a record header flipped, at every size the file could
 * have: the verdict is always one of three, and OK only within bounds. */
static void test_records_every_flip(void **state)
{
	(void)state;
	struct pcap_file_info info = { .snaplen = 262144 };
	struct pcap_file_record rec;
	uint8_t r[PCAP_FILE_REC_HDR_LEN];
	char why[PCAP_FILE_WHY_LEN];

	for (int bit = 0; bit < 128; bit++) {
		for (uint64_t left = 0; left < 200; left += 7) {
			rec_header(r, 1700000000, 5, 66, 66, false);
			r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (pcap_file_record(&info, r, 24, left, &rec, why, sizeof(why)) != PCAP_FILE_OK)
				continue;
			assert_true(16 + (uint64_t)rec.caplen <= left);
			assert_true(rec.caplen <= rec.wirelen);
		}
	}
}

static void test_clock_steady(void **state)
{
	(void)state;
	struct replay_clock c;
	struct replay_step st;

	replay_clock_init(&c, 1000);
	replay_clock_place(&c, 5000, &st);
	assert_false(st.close);
	replay_clock_place(&c, 5999, &st);
	assert_false(st.close);
	replay_clock_place(&c, 6000, &st);
	assert_true(st.close);
	assert_true(st.close_start_ms == 5000 && st.close_end_ms == 6000);
	assert_false(st.report);
	/* A quiet minute: one close, no empty intervals, still on the grid. */
	replay_clock_place(&c, 66500, &st);
	assert_true(st.close && st.close_start_ms == 6000 && st.close_end_ms == 7000);
	assert_true(c.start_ms == 66000);
	/* Reordering within a second stays in the current interval. */
	replay_clock_place(&c, 65500, &st);
	assert_false(st.close);
	assert_int_equal(c.jumps, 0);
}

static void test_clock_jumps(void **state)
{
	(void)state;
	struct replay_clock c;
	struct replay_step st;
	int closes = 0, reports = 0;

	replay_clock_init(&c, 1000);
	replay_clock_place(&c, 1700000000000ull, &st);
	/* Years ahead and back, a thousand times: one close per packet at
	 * most, one report in all. */
	for (int i = 0; i < 1000; i++) {
		replay_clock_place(&c, i % 2 ? 1700000000000ull + (uint64_t)i : 4102444800000ull, &st);
		closes += st.close;
		reports += st.report;
		if (i == 0) {
			assert_true(st.report);
			assert_true(st.jump_ms > 0);
		}
	}
	assert_int_equal(reports, 1);
	assert_true(closes <= 1000);
	assert_int_equal(c.jumps, 1000);

	replay_clock_init(&c, 1000);
	replay_clock_place(&c, 100000000, &st);
	replay_clock_place(&c, 100000000 - 86400000, &st);
	assert_true(st.close && st.report);
	assert_true(st.jump_ms == -86400000);
	assert_true(c.start_ms == 100000000 - 86400000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_records_every_flip),
		cmocka_unit_test(test_clock_steady),
		cmocka_unit_test(test_clock_jumps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
