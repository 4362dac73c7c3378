// SPDX-License-Identifier: MIT
/*
 * --write: capture_dump_open() copies every packet dispatch reads, link
 * header, lengths and nanosecond timestamps intact, into a 0600 file;
 * refuses symlinks and a second file; capture_close() completes the file.
 * Offline handles stand in for the live one (same code path after pcap).
 * Live --write is covered by tests/integration/test_export_pcap.sh.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include "probes/capture.h"

#define NPKT 5

static const uint8_t ETH_IP4[] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00,
	0x45, 0, 0, 45, 0, 1, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
	0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
	'h', 'e', 'l', 'l', 'o',
};
/* ARP: not IP, so the collector never sees it, but it was kept: dumped. */
static const uint8_t ETH_ARP[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06, 0, 1 };

struct dir {
	char path[64];
	char in[96], out[96], link[96];
};

static int dir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/tmp/l7top-dump-XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->in, sizeof(d->in), "%s/in.pcap", d->path);
	snprintf(d->out, sizeof(d->out), "%s/out.pcap", d->path);
	snprintf(d->link, sizeof(d->link), "%s/link.pcap", d->path);
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir *d = *state;
	unlink(d->in);
	unlink(d->out);
	unlink(d->link);
	rmdir(d->path);
	free(d);
	return 0;
}

static void pkt_at(int i, struct pcap_pkthdr *h, const uint8_t **data)
{
	bool arp = i == 2;
	*data = arp ? ETH_ARP : ETH_IP4;
	h->ts.tv_sec = 1700000000 + i;
	h->ts.tv_usec = 123456789 - i;            /* nanoseconds in a nano file */
	h->caplen = (bpf_u_int32)(arp ? sizeof(ETH_ARP) : sizeof(ETH_IP4));
	h->len = h->caplen + (bpf_u_int32)i * 100;  /* truncated on the wire */
}

static void write_input(const char *path)
{
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
							     PCAP_TSTAMP_PRECISION_NANO);
	pcap_dumper_t *d = pcap_dump_open(dead, path);

	assert_non_null(d);
	for (int i = 0; i < NPKT; i++) {
		struct pcap_pkthdr h;
		const uint8_t *data;
		pkt_at(i, &h, &data);
		pcap_dump((u_char *)d, &h, data);
	}
	pcap_dump_close(d);
	pcap_close(dead);
}

static void count_pkt(void *ctx, const struct capture_pkt *p)
{
	(void)p;
	(*(int *)ctx)++;
}

/* out holds exactly the input's packets. */
static void check_output(const char *path)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	struct pcap_pkthdr *h;
	const u_char *data;
	int i = 0;

	if (!p)
		fail_msg("%s", ebuf);
	assert_int_equal(pcap_datalink(p), DLT_EN10MB);
	while (pcap_next_ex(p, &h, &data) == 1) {
		struct pcap_pkthdr want;
		const uint8_t *wdata;
		assert_true(i < NPKT);
		pkt_at(i++, &want, &wdata);
		assert_int_equal(h->ts.tv_sec, want.ts.tv_sec);
		assert_int_equal(h->ts.tv_usec, want.ts.tv_usec);
		assert_int_equal(h->caplen, want.caplen);
		assert_int_equal(h->len, want.len);
		assert_memory_equal(data, wdata, want.caplen);
	}
	assert_int_equal(i, NPKT);
	pcap_close(p);
}

static struct capture *open_in(const struct dir *d)
{
	struct capture *c;
	char err[256];

	write_input(d->in);
	if (capture_open_offline(&c, d->in, err, sizeof(err)))
		fail_msg("%s", err);
	return c;
}

static void test_dump_roundtrip(void **state)
{
	struct dir *d = *state;
	struct capture *c = open_in(d);
	struct stat st;
	char err[256];
	int got = 0;

	/* An existing world-readable file, and a umask that would allow it. */
	FILE *f = fopen(d->out, "w");
	fputs("old contents", f);
	fclose(f);
	chmod(d->out, 0644);
	mode_t old = umask(0);
	assert_int_equal(capture_dump_open(c, d->out, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(capture_dump_open(c, d->out, err, sizeof(err)), -EBUSY);
	while (capture_dispatch(c, 2, count_pkt, &got) > 0)
		assert_int_equal(capture_dump_flush(c), 0);
	assert_int_equal(got, NPKT - 1);          /* the ARP frame is not IP */
	assert_int_equal(capture_dump_close(c), 0);
	assert_int_equal(capture_dump_close(c), 0);   /* idempotent */
	assert_int_equal(capture_dump_flush(c), 0);   /* no file: nothing to do */
	capture_close(c);

	assert_int_equal(stat(d->out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	check_output(d->out);
}

/* capture_close() alone leaves a complete file: the exit path needs no
 * extra call. */
static void test_close_flushes(void **state)
{
	struct dir *d = *state;
	struct capture *c = open_in(d);
	char err[256];
	int got = 0;

	assert_int_equal(capture_dump_open(c, d->out, err, sizeof(err)), 0);
	while (capture_dispatch(c, 0, count_pkt, &got) > 0)
		;
	capture_close(c);
	check_output(d->out);
}

static void test_refuses_symlink(void **state)
{
	struct dir *d = *state;
	struct capture *c = open_in(d);
	char err[256] = "";

	assert_int_equal(symlink(d->out, d->link), 0);
	assert_int_equal(capture_dump_open(c, d->link, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, d->link));
	assert_int_equal(capture_dump_open(c, "/nonexistent/dir/x.pcap", err, sizeof(err)), -ENOENT);
	capture_close(c);
	assert_int_equal(access(d->out, F_OK), -1);   /* nothing created behind the link */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dump_roundtrip, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_close_flushes, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_symlink, dir_setup, dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
