// SPDX-License-Identifier: MIT
/*
 * capture against the real kernel (root; skipped otherwise): a TCP exchange
 * on loopback, IPv4 and IPv6, must reach the callback segment by segment,
 * once each, without pure ACKs or other ports. Offline: one pcap file per
 * link type, read back with the link header stripped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include "probes/capture.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

static const char REQ[] = "GET / HTTP/1.1\r\n\r\n";
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* ---------------------------------------------------------------- live */

struct tcp_view {
	uint16_t sport, dport;
	uint8_t flags;
	const uint8_t *payload;
	uint32_t paylen;
};

/* What the callback saw of the two ports the test uses. */
struct tally {
	uint16_t watched, other;
	int segs, syn, synack, fin_to, fin_from, rst;
	int req, resp, bad_payload, pure_ack, other_port, bad_ts;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int tcp_parse(const struct capture_pkt *p, struct tcp_view *v)
{
	uint32_t l4off, iplen, doff;
	const uint8_t *l3 = p->l3;

	if (p->caplen >= 20 && l3[0] >> 4 == 4 && l3[9] == 6) {
		l4off = (l3[0] & 15u) * 4;
		iplen = be16(l3 + 2);
	} else if (p->caplen >= 40 && l3[0] >> 4 == 6 && l3[6] == 6) {
		l4off = 40;
		iplen = 40u + be16(l3 + 4);
	} else {
		return -1;
	}
	if (iplen > p->caplen || l4off + 20 > iplen)
		return -1;
	doff = (l3[l4off + 12] >> 4) * 4u;
	v->sport = be16(l3 + l4off);
	v->dport = be16(l3 + l4off + 2);
	v->flags = l3[l4off + 13];
	v->payload = l3 + l4off + doff;
	v->paylen = iplen - l4off - doff;
	return 0;
}

static bool payload_is(const struct tcp_view *v, const char *s)
{
	return v->paylen == strlen(s) && !memcmp(v->payload, s, v->paylen);
}

/* Kernel timestamps are wall-clock ns: within a few seconds of now. */
static bool ts_recent(uint64_t ts_ns)
{
	struct timespec now;
	uint64_t now_ns;

	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	return ts_ns <= now_ns && now_ns - ts_ns < 5000000000u;
}

static void tally_pkt(void *ctx, const struct capture_pkt *p)
{
	struct tally *t = ctx;
	struct tcp_view v;

	/* Packets queued before the filter was attached may be anything. */
	if (tcp_parse(p, &v))
		return;
	if (v.sport == t->other || v.dport == t->other)
		t->other_port++;
	if (v.sport != t->watched && v.dport != t->watched)
		return;
	t->segs++;
	t->bad_ts += !ts_recent(p->ts_ns);
	t->syn += (v.flags & (TH_SYN | TH_ACK)) == TH_SYN;
	t->synack += (v.flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK);
	t->fin_to += (v.flags & TH_FIN) && v.dport == t->watched;
	t->fin_from += (v.flags & TH_FIN) && v.sport == t->watched;
	t->rst += !!(v.flags & TH_RST);
	t->pure_ack += v.paylen == 0 && !(v.flags & (TH_SYN | TH_FIN | TH_RST));
	if (v.paylen == 0)
		return;
	if (v.dport == t->watched && payload_is(&v, REQ))
		t->req++;
	else if (v.sport == t->watched && payload_is(&v, RESP))
		t->resp++;
	else
		t->bad_payload++;
}

static int listen_on(int family, uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = family == AF_INET ? sizeof(*sin) : sizeof(*sin6);
	int fd = socket(family, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		sin6->sin6_addr = in6addr_loopback;
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET ? sin->sin_port : sin6->sin6_port);
	return fd;
}

/* One request/response on a fresh connection to lfd, closed cleanly (FIN both ways). */
static void exchange(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[256];
	int cfd, sfd;

	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	cfd = socket(ss.ss_family, SOCK_STREAM, 0);
	assert_true(cfd >= 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&ss, len), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	assert_int_equal(send(cfd, REQ, strlen(REQ), 0), (ssize_t)strlen(REQ));
	assert_int_equal(recv(sfd, buf, strlen(REQ), MSG_WAITALL), (ssize_t)strlen(REQ));
	assert_int_equal(send(sfd, RESP, strlen(RESP), 0), (ssize_t)strlen(RESP));
	assert_int_equal(recv(cfd, buf, strlen(RESP), MSG_WAITALL), (ssize_t)strlen(RESP));
	close(cfd);
	/* Wait for the client's FIN so the server's close sends FIN, not RST. */
	assert_int_equal(recv(sfd, buf, sizeof(buf), 0), 0);
	close(sfd);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Polls and dispatches for up to 2 s; once both FINs are in, goes on for
 * another 200 ms so a late duplicate would still be counted.
 */
static void collect(struct capture *c, struct tally *t)
{
	struct pollfd pfd = { .fd = capture_fd(c), .events = POLLIN };
	uint64_t end = now_ms() + 2000;
	bool done = false;

	assert_true(pfd.fd >= 0);
	while (now_ms() < end) {
		poll(&pfd, 1, 50);
		assert_true(capture_dispatch(c, 0, tally_pkt, t) >= 0);
		if (!done && t->fin_to && t->fin_from) {
			done = true;
			end = now_ms() + 200;
		}
	}
}

static struct capture *open_live(void)
{
	struct capture *c;
	char err[256] = "";
	int ret;

	if (geteuid() != 0)
		return NULL;
	capture_set_libbpf_log(stderr);
	ret = capture_open_live(&c, NULL, err, sizeof(err));
	if (ret)
		fail_msg("capture_open_live: %d %s", ret, err);
	return c;
}

static void check_stats(struct capture *c, const struct tally *t)
{
	struct capture_stats st;

	capture_get_stats(c, &st);
	assert_int_equal(st.kernel_drops, 0);
	assert_true(st.received >= (uint64_t)t->segs);
	/*
	 * libpcap itself skips the outgoing loopback copy, so the callback
	 * cannot tell whether the filter dropped it; the filter's own count
	 * can: it kept each segment of the watched port once.
	 */
	assert_int_equal(st.filter_kept, t->segs);
	/* The handshake's last ACK alone makes seen > kept. */
	assert_true(st.filter_seen > st.filter_kept);
}

/*
 * lo_only: the sockets ignore packets on their way out. Every segment must
 * still come once (its copy coming back in), and the filter must not have
 * run on a single outgoing copy; without it, it drops each of them.
 */
static void live_exchange(int family, bool lo_only)
{
	struct capture *c = open_live();
	struct capture_stats st;
	struct tally t = { 0 };
	uint32_t connects;
	uint64_t lo_out_before;
	int lfd, ofd;

	if (!c)
		skip();
	lfd = listen_on(family, &t.watched);
	ofd = listen_on(family, &t.other);
	assert_int_equal(capture_set_ports(c, &t.watched, 1), 0);
	assert_int_equal(capture_loopback_only(c, lo_only), 0);
	/* Other programs' loopback traffic before the switch (any port) is
	 * counted too; from the switch on, none leaving reaches the filter. */
	usleep(20 * 1000);
	capture_get_stats(c, &st);
	lo_out_before = st.filter_lo_out;
	exchange(lfd);
	exchange(ofd);
	collect(c, &t);
	assert_int_equal(t.syn, 1);
	assert_int_equal(t.synack, 1);
	assert_int_equal(t.req, 1);      /* exact bytes, and not twice on lo */
	assert_int_equal(t.resp, 1);
	assert_int_equal(t.fin_to, 1);
	assert_int_equal(t.fin_from, 1);
	assert_int_equal(t.rst, 0);
	assert_int_equal(t.bad_payload, 0);
	assert_int_equal(t.pure_ack, 0);
	assert_int_equal(t.other_port, 0);
	assert_int_equal(t.bad_ts, 0);
	check_stats(c, &t);
	capture_get_stats(c, &st);
	if (lo_only)
		assert_int_equal(st.filter_lo_out - lo_out_before, 0);
	else
		assert_true(st.filter_lo_out - lo_out_before >= (uint64_t)t.segs);
	/* all on lo, no connect probe attached */
	assert_false(capture_left_loopback(c, &connects));
	assert_int_equal(connects, 0);
	close(lfd);
	close(ofd);
	capture_close(c);
}

/* KiB of packet-socket rings mapped into this process (/proc/self/maps
 * names them "socket:[inode]"). */
static unsigned long ring_kib(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi, kib = 0;
	char line[512];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "socket:[") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			kib += (hi - lo) >> 10;
	fclose(f);
	return kib;
}

/* The ring is what --capture-buffer says, 8 MB by default: every page of
 * it counts in l7top's RSS. */
static void test_live_buffer_size(void **state)
{
	static const unsigned sizes[] = { 0, 3 };   /* 0: CAPTURE_DEFAULT_BUFFER_MB */
	(void)state;
	if (geteuid() != 0)
		skip();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct capture_opts o = { .buffer_mb = sizes[i] };
		unsigned long want = (sizes[i] ? sizes[i] : CAPTURE_DEFAULT_BUFFER_MB) << 10;
		struct capture *c;
		char err[256] = "";
		unsigned long before = ring_kib();

		assert_int_equal(capture_open_live(&c, &o, err, sizeof(err)), 0);
		unsigned long got = ring_kib() - before;
		/* libpcap rounds to whole blocks: within one 512 KiB block below */
		assert_true(got <= want && got + 512 >= want);
		capture_close(c);
		assert_int_equal(ring_kib(), before);
	}
}

static void test_live_ipv4(void **state)
{
	(void)state;
	live_exchange(AF_INET, false);
}

static void test_live_ipv6(void **state)
{
	(void)state;
	live_exchange(AF_INET6, false);
}

static void test_live_loopback_only(void **state)
{
	(void)state;
	live_exchange(AF_INET, true);
	live_exchange(AF_INET6, true);
}

/* Without root or the capabilities, fail early with the reason. */
static void test_live_needs_privilege(void **state)
{
	struct capture *c;
	char err[256] = "";
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		assert_int_equal(capture_open_live(&c, NULL, err, sizeof(err)), -EPERM);
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Leaving uid 0 clears the effective capabilities. */
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(capture_open_live(&c, NULL, err, sizeof(err)) == -EPERM &&
		      strstr(err, "CAP_BPF") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* capture_set_ports replaces the set: a port left out stops matching. */
static void test_live_set_ports_replaces(void **state)
{
	struct capture *c = open_live();
	struct tally t = { 0 };
	uint16_t both[2];
	int lfd, ofd;

	(void)state;
	if (!c)
		skip();
	lfd = listen_on(AF_INET, &t.watched);
	ofd = listen_on(AF_INET, &t.other);
	both[0] = t.watched;
	both[1] = t.other;
	assert_int_equal(capture_set_ports(c, both, 2), 0);
	assert_int_equal(capture_set_ports(c, &t.watched, 1), 0);
	exchange(ofd);
	exchange(lfd);
	collect(c, &t);
	assert_int_equal(t.req, 1);
	assert_int_equal(t.other_port, 0);
	/* The empty set keeps nothing. */
	memset(&t.segs, 0, sizeof(t) - offsetof(struct tally, segs));
	assert_int_equal(capture_set_ports(c, NULL, 0), 0);
	exchange(lfd);
	usleep(200 * 1000);
	assert_true(capture_dispatch(c, 0, tally_pkt, &t) >= 0);
	assert_int_equal(t.syn + t.req + t.fin_to, 0);
	close(lfd);
	close(ofd);
	capture_close(c);
}

/* ------------------------------------------------------------- offline */

static const uint8_t IP4_PKT[] = {
	0x45, 0, 0, 45, 0, 1, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,   /* IPv4, 45 bytes */
	0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
	'h', 'e', 'l', 'l', 'o',
};

static const uint8_t IP6_PKT[] = {
	0x60, 0, 0, 0, 0, 25, 6, 64,                                              /* IPv6, 25 bytes payload */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
	'h', 'e', 'l', 'l', 'o',
};

struct link_case {
	const char *name;
	int dlt;
	uint8_t hdr[20];
	unsigned hdrlen;
	bool v6;
	bool ok;          /* false: must count as link_unknown */
};

#define ETH_MACS 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
#define NULL_AF_INET 2, 0, 0, 0   /* host order, little-endian writer */

static const struct link_case LINKS[] = {
	{ "en10mb", DLT_EN10MB, { ETH_MACS, 0x08, 0x00 }, 14, false, true },
	{ "en10mb-vlan", DLT_EN10MB, { ETH_MACS, 0x81, 0x00, 0x00, 0x07, 0x86, 0xdd }, 18, true, true },
	{ "en10mb-arp", DLT_EN10MB, { ETH_MACS, 0x08, 0x06 }, 14, false, false },
	{ "sll", DLT_LINUX_SLL, { 0, 0, 0x03, 0x04, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00 }, 16, false, true },
	{ "sll-v6", DLT_LINUX_SLL, { 0, 4, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd }, 16, true, true },
	{ "sll2", DLT_LINUX_SLL2, { 0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 0 }, 20, true, true },
	{ "null", DLT_NULL, { NULL_AF_INET }, 4, false, true },
	{ "loop", DLT_LOOP, { 0, 0, 0, 2 }, 4, false, true },
	{ "raw", DLT_RAW, { 0 }, 0, false, true },
	{ "ipv4", DLT_IPV4, { 0 }, 0, false, true },
	{ "ipv6", DLT_IPV6, { 0 }, 0, true, true },
	{ "unknown-dlt", DLT_PPP, { 0xff, 0x03, 0x00, 0x21 }, 4, false, false },
};

#define TS_SEC  1700000000u
#define TS_NSEC 123456789u
#define WIRE_EXTRA 100u   /* the file says the packet was longer on the wire */

struct got {
	int n;
	struct capture_pkt p;
	uint8_t l3[128];
};

static void got_pkt(void *ctx, const struct capture_pkt *p)
{
	struct got *g = ctx;

	g->n++;
	g->p = *p;
	memcpy(g->l3, p->l3, p->caplen < sizeof(g->l3) ? p->caplen : sizeof(g->l3));
}

static void write_pcap(const char *path, const struct link_case *lc, const uint8_t *ip, size_t iplen)
{
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(lc->dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
	struct pcap_pkthdr h = { .ts = { TS_SEC, TS_NSEC } };
	uint8_t frame[128];
	pcap_dumper_t *d;

	assert_non_null(dead);
	d = pcap_dump_open(dead, path);
	assert_non_null(d);
	memcpy(frame, lc->hdr, lc->hdrlen);
	memcpy(frame + lc->hdrlen, ip, iplen);
	h.caplen = (bpf_u_int32)(lc->hdrlen + iplen);
	h.len = h.caplen + WIRE_EXTRA;
	pcap_dump((u_char *)d, &h, frame);
	pcap_dump_close(d);
	pcap_close(dead);
}

static void offline_case(const struct link_case *lc)
{
	const uint8_t *ip = lc->v6 ? IP6_PKT : IP4_PKT;
	size_t iplen = lc->v6 ? sizeof(IP6_PKT) : sizeof(IP4_PKT);
	char path[] = "/tmp/l7top-capture-XXXXXX";
	struct capture_stats st;
	struct capture *c;
	struct got g = { 0 };
	char err[256] = "";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	write_pcap(path, lc, ip, iplen);
	if (capture_open_offline(&c, path, err, sizeof(err)))
		fail_msg("%s: %s", lc->name, err);
	assert_int_equal(capture_fd(c), -1);
	assert_int_equal(capture_set_ports(c, NULL, 0), -EOPNOTSUPP);
	assert_int_equal(capture_dispatch(c, 0, got_pkt, &g), 1);
	assert_int_equal(capture_dispatch(c, 0, got_pkt, &g), -ENODATA);
	capture_get_stats(c, &st);
	if (lc->ok) {
		assert_int_equal(g.n, 1);
		assert_int_equal(g.p.caplen, iplen);
		assert_int_equal(g.p.wirelen, iplen + WIRE_EXTRA);
		assert_memory_equal(g.l3, ip, iplen);
		assert_int_equal(g.p.ts_ns, (uint64_t)TS_SEC * 1000000000u + TS_NSEC);
		assert_int_equal(st.received, 1);
		assert_int_equal(st.link_unknown, 0);
	} else {
		assert_int_equal(g.n, 0);
		assert_int_equal(st.link_unknown, 1);
	}
	capture_close(c);
	unlink(path);
}

static void test_offline_links(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(LINKS) / sizeof(LINKS[0]); i++) {
		print_message("  link %s\n", LINKS[i].name);
		offline_case(&LINKS[i]);
	}
}

static void test_offline_missing(void **state)
{
	struct capture *c = (struct capture *)1;
	char err[256] = "";

	(void)state;
	assert_int_equal(capture_open_offline(&c, "/nonexistent/x.pcap", err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_true(err[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offline_links),
		cmocka_unit_test(test_offline_missing),
		cmocka_unit_test(test_live_needs_privilege),
		cmocka_unit_test(test_live_ipv4),
		cmocka_unit_test(test_live_buffer_size),
		cmocka_unit_test(test_live_ipv6),
		cmocka_unit_test(test_live_loopback_only),
		cmocka_unit_test(test_live_set_ports_replaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
