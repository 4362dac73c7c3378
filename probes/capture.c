// SPDX-License-Identifier: MIT
#include "probes/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_packet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* libpcap's pcap/bpf.h and libbpf both define struct bpf_insn. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probes/pcap_file.h"
#include "probes/sockfilter.h"
#include "sockfilter.skel.h"

#define CAPTURE_DEFAULT_SNAPLEN   262144
/* TPACKET_V3 hands a block over when full or after this; bounds latency. */
#define CAPTURE_TIMEOUT_MS        50

/* One packet socket (libpcap handle on "any") opened inside one network namespace. */
struct capture_handle {
	pcap_t *pcap;
	unsigned long netns;           /* inode of the namespace it was opened in */
};

struct capture {
	pcap_t *pcap;                  /* the first handle's (live) or the file's (offline) */
	struct capture_handle h[CAPTURE_MAX_NETNS];
	size_t nh;                     /* live handles */
	int epfd;                      /* live: readable when any handle is; -1 offline */
	uint64_t closed_drops;         /* ring drops of handles closed since */
	struct capture_opts opts;      /* live: how new handles are opened */
	struct sockfilter_bpf *skel;   /* NULL for offline captures */
	int linktype;
	bool nano;                     /* pcap timestamps are in ns, not us */
	pcap_dumper_t *dump;           /* --write, NULL when off */
	capture_cb cb;                 /* valid during capture_dispatch only */
	void *cb_ctx;
	unsigned long cb_netns;        /* namespace of the handle being dispatched */
	bool lo_only;                  /* capture_loopback_only() */
	uint64_t received;
	uint64_t link_unknown;
	/* Offline: the classic pcap reader (file != NULL), or libpcap's (pcapng). */
	FILE *file;
	struct pcap_file_info info;
	uint64_t size;                 /* UINT64_MAX: not a regular file */
	uint64_t off;                  /* where the next record starts */
	uint64_t rec_off;              /* where the record being handed started */
	uint64_t records;              /* records read, IP or not */
	uint8_t *buf;                  /* one record's bytes, info.snaplen long */
	char why[PCAP_FILE_WHY_LEN + 64];
};

/* libbpf's print callback is process-wide, so its sink is too. */
static FILE *libbpf_log;

__attribute__((format(printf, 2, 0)))
static int capture_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!libbpf_log || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(libbpf_log, fmt, ap);
}

void capture_set_libbpf_log(FILE *f)
{
	libbpf_log = f;
	libbpf_set_print(capture_libbpf_print);
}

/* Root, or the capabilities a socket filter on a packet socket needs. */
static bool capture_privileged(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	const int need[] = { CAP_BPF, CAP_NET_RAW };

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!(data[CAP_TO_INDEX(need[i])].effective & CAP_TO_MASK(need[i])))
			return false;
	return true;
}

static int capture_load_filter(struct capture *c, char *err, size_t errlen)
{
	int ret;

	c->skel = sockfilter_bpf__open();
	if (!c->skel) {
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot open the socket filter: %s", strerror(-ret));
		return ret;
	}
	c->skel->rodata->lo_ifindex = if_nametoindex("lo");
	ret = sockfilter_bpf__load(c->skel);
	if (ret)
		snprintf(err, errlen, "l7top: cannot load the socket filter: %s", strerror(-ret));
	return ret;
}

static int capture_pcap_errno(int status)
{
	switch (status) {
	case PCAP_ERROR_PERM_DENIED:
		return -EPERM;
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return -ENODEV;
	default:
		return -EIO;
	}
}

static int capture_ignore_outgoing(pcap_t *p, bool on)
{
	int v = on;

	return setsockopt(pcap_fileno(p), SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof(v));
}

static int capture_activate(struct capture *c, pcap_t **out, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	const struct capture_opts *o = &c->opts;
	const char *dev = o->device ? o->device : "any";
	unsigned mb = o->buffer_mb ? o->buffer_mb : CAPTURE_DEFAULT_BUFFER_MB;
	pcap_t *p;
	int st;

	if (mb > CAPTURE_MAX_BUFFER_MB)
		mb = CAPTURE_MAX_BUFFER_MB;

	*out = p = pcap_create(dev, ebuf);
	if (!p) {
		snprintf(err, errlen, "l7top: pcap_create %s: %s", dev, ebuf);
		return -ENODEV;
	}
	pcap_set_snaplen(p, o->snaplen ? (int)o->snaplen : CAPTURE_DEFAULT_SNAPLEN);
	pcap_set_buffer_size(p, (int)(mb << 20));
	pcap_set_timeout(p, CAPTURE_TIMEOUT_MS);
	/* Not every device can; microseconds are then converted. */
	pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
	st = pcap_activate(p);
	if (st < 0) {
		snprintf(err, errlen, "l7top: capture on %s: %s", dev,
			 st == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(st));
		return capture_pcap_errno(st);
	}
	if (pcap_setnonblock(p, 1, ebuf)) {
		snprintf(err, errlen, "l7top: pcap_setnonblock: %s", ebuf);
		return -EIO;
	}
	if (c->lo_only && capture_ignore_outgoing(p, true)) {
		int ret = -errno;

		snprintf(err, errlen, "l7top: PACKET_IGNORE_OUTGOING: %s", strerror(-ret));
		return ret;
	}
	if (c->nh && pcap_datalink(p) != c->linktype) {
		snprintf(err, errlen, "l7top: capture on %s: link type differs between namespaces", dev);
		return -EPROTO;
	}
	c->linktype = pcap_datalink(p);
	c->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
	return 0;
}

static void capture_discard(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	(void)user, (void)h, (void)bytes;
}

/*
 * The ring filled with unfiltered traffic between pcap_activate and the
 * attach. Throw away what is already readable; a block still open at attach
 * time may hold a few more, which callers must tolerate (they ignore ports
 * they do not watch).
 */
static int capture_attach(struct capture *c, pcap_t *p, char *err, size_t errlen)
{
	int prog = bpf_program__fd(c->skel->progs.sockfilter);

	if (setsockopt(pcap_fileno(p), SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog))) {
		int ret = -errno;

		snprintf(err, errlen, "l7top: SO_ATTACH_BPF: %s", strerror(-ret));
		return ret;
	}
	while (pcap_dispatch(p, -1, capture_discard, NULL) > 0)
		;
	return 0;
}

static unsigned long capture_netns_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (unsigned long)st.st_ino;
}

/*
 * Opens a handle in the namespace at ns_path ("/proc/PID/ns/net"; NULL =
 * this thread's own): setns there, open the socket (a packet socket sees
 * only the namespace it is created in), setns back. Only this thread moves.
 */
static int capture_open_handle(struct capture *c, const char *ns_path, unsigned long ino, char *err,
			       size_t errlen)
{
	int home = -1, there = -1, ret;
	pcap_t *p = NULL;

	if (c->nh == CAPTURE_MAX_NETNS) {
		snprintf(err, errlen, "l7top: more than %d network namespaces to capture in",
			 CAPTURE_MAX_NETNS);
		return -E2BIG;
	}
	if (ns_path) {
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		there = open(ns_path, O_RDONLY | O_CLOEXEC);
		if (home < 0 || there < 0 || setns(there, CLONE_NEWNET)) {
			ret = -errno;
			snprintf(err, errlen, "l7top: cannot enter the network namespace %s: %s", ns_path,
				 strerror(-ret));
			goto out;
		}
	}
	ret = capture_activate(c, &p, err, errlen);
	if (home >= 0 && setns(home, CLONE_NEWNET)) {
		/* Every later socket would be opened in the wrong namespace. */
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot return to l7top's network namespace: %s",
			 strerror(-ret));
		goto out;
	}
	if (!ret)
		ret = capture_attach(c, p, err, errlen);
	if (!ret) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = pcap_fileno(p) };

		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, pcap_fileno(p), &ev)) {
			ret = -errno;
			snprintf(err, errlen, "l7top: epoll_ctl: %s", strerror(-ret));
		}
	}
	if (!ret) {
		c->h[c->nh++] = (struct capture_handle){ .pcap = p, .netns = ino };
		c->pcap = c->h[0].pcap;
		p = NULL;
	}
out:
	if (p)
		pcap_close(p);
	if (home >= 0)
		close(home);
	if (there >= 0)
		close(there);
	return ret;
}

static void capture_close_handle(struct capture *c, size_t i)
{
	struct pcap_stat ps;

	if (!pcap_stats(c->h[i].pcap, &ps))
		c->closed_drops += ps.ps_drop;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, pcap_fileno(c->h[i].pcap), NULL);
	pcap_close(c->h[i].pcap);
	c->h[i] = c->h[--c->nh];
	c->pcap = c->nh ? c->h[0].pcap : NULL;
}

int capture_set_netns(struct capture *c, const struct capture_netns *ns, size_t n, char *err,
		      size_t errlen)
{
	char path[64];
	int ret;

	if (!c->skel)
		return -EOPNOTSUPP;
	/* New namespaces first, so a failure leaves the old handles working. */
	for (size_t i = 0; i < n; i++) {
		bool have = false;

		for (size_t k = 0; k < c->nh; k++)
			have |= c->h[k].netns == ns[i].ino;
		if (have)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/net", ns[i].pid);
		/* The process may have moved or gone since the scan: open what it has now. */
		if (capture_netns_ino(path) != ns[i].ino)
			continue;
		if ((ret = capture_open_handle(c, path, ns[i].ino, err, errlen)))
			return ret;
	}
	for (size_t k = 0; k < c->nh;) {
		bool want = false;

		for (size_t i = 0; i < n; i++)
			want |= c->h[k].netns == ns[i].ino;
		if (want || c->nh == 1)
			k++;           /* the last handle stays: an fd for the loop */
		else
			capture_close_handle(c, k);
	}
	return 0;
}

size_t capture_netns(const struct capture *c, unsigned long *ino, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nh && n < max; i++)
		ino[n++] = c->h[i].netns;
	return n;
}

int capture_open_live(struct capture **out, const struct capture_opts *o, char *err, size_t errlen)
{
	static const struct capture_opts defaults;
	struct capture *c;
	int ret;

	*out = NULL;
	if (!capture_privileged()) {
		snprintf(err, errlen, "l7top: need root or CAP_BPF+CAP_PERFMON+CAP_NET_RAW");
		return -EPERM;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "l7top: out of memory");
		return -ENOMEM;
	}
	c->opts = o ? *o : defaults;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	ret = c->epfd < 0 ? -errno : 0;
	if (ret)
		snprintf(err, errlen, "l7top: epoll_create1: %s", strerror(-ret));
	if (!ret)
		ret = capture_load_filter(c, err, errlen);
	if (!ret && c->opts.nnetns)
		ret = capture_set_netns(c, c->opts.netns, c->opts.nnetns, err, errlen);
	if (!ret && !c->nh)
		ret = capture_open_handle(c, NULL, capture_netns_ino("/proc/thread-self/ns/net"), err,
					  errlen);
	if (ret) {
		capture_close(c);
		return ret;
	}
	c->opts.netns = NULL;          /* the caller's array: not ours to keep */
	c->opts.nnetns = 0;
	*out = c;
	return 0;
}

/* pcapng, and anything else libpcap knows: it owns f from here on. */
static int capture_open_libpcap(struct capture *c, FILE *f, const char *path, char *err,
				size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";

	c->pcap = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!c->pcap) {
		fclose(f);
		snprintf(err, errlen, "l7top: %s: %s: file is corrupt", path, ebuf);
		return -EBADMSG;
	}
	c->linktype = pcap_datalink(c->pcap);
	c->nano = true;
	c->rec_off = UINT64_MAX;
	return 0;
}

/* Classic pcap: the header checked here; a dead pcap_t serves --write. */
static int capture_open_classic(struct capture *c, FILE *f, const uint8_t *hdr, size_t n,
				const char *path, char *err, size_t errlen)
{
	char why[PCAP_FILE_WHY_LEN];

	if (pcap_file_header(hdr, n, &c->info, why, sizeof(why)) != PCAP_FILE_OK) {
		snprintf(err, errlen, "l7top: %s: %s", path, why);
		fclose(f);
		return -EBADMSG;
	}
	c->file = f;
	c->off = PCAP_FILE_HDR_LEN;
	c->buf = malloc(c->info.snaplen);
	c->pcap = pcap_open_dead_with_tstamp_precision(c->info.linktype, (int)c->info.snaplen,
						       PCAP_TSTAMP_PRECISION_NANO);
	if (!c->buf || !c->pcap) {
		snprintf(err, errlen, "l7top: out of memory");
		return -ENOMEM;
	}
	c->linktype = c->info.linktype;
	c->nano = true;
	return 0;
}

static int capture_open_file(struct capture *c, const char *path, char *err, size_t errlen)
{
	uint8_t hdr[PCAP_FILE_HDR_LEN];
	struct stat st;
	size_t n;
	FILE *f;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		int ret = -errno;
		snprintf(err, errlen, "l7top: %s: %s", path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "l7top: %s is a directory, not a pcap file", path);
		close(fd);
		return -EISDIR;
	}
	c->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : UINT64_MAX;
	f = fdopen(fd, "rb");
	if (!f) {
		int ret = -errno;
		snprintf(err, errlen, "l7top: %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	n = fread(hdr, 1, sizeof(hdr), f);
	if (n < sizeof(hdr) && ferror(f)) {
		int ret = -errno;
		snprintf(err, errlen, "l7top: cannot read %s: %s", path, strerror(-ret));
		fclose(f);
		return ret;
	}
	switch (n < 4 ? PCAP_FILE_CLASSIC : pcap_file_kind(hdr, n)) {
	case PCAP_FILE_CLASSIC:            /* or too short to tell: said as truncated */
		return capture_open_classic(c, f, hdr, n, path, err, errlen);
	case PCAP_FILE_PCAPNG:
		/* libpcap reads the header itself: it must start over. */
		if (fseek(f, 0, SEEK_SET)) {
			snprintf(err, errlen, "l7top: %s: pcapng is read from files only, not from a "
				 "pipe: save it first", path);
			fclose(f);
			return -ESPIPE;
		}
		return capture_open_libpcap(c, f, path, err, errlen);
	default:
		snprintf(err, errlen, "l7top: %s is neither a pcap nor a pcapng file", path);
		fclose(f);
		return -EINVAL;
	}
}

int capture_open_offline(struct capture **out, const char *path, char *err, size_t errlen)
{
	struct capture *c;
	int ret;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "l7top: out of memory");
		return -ENOMEM;
	}
	c->epfd = -1;
	ret = capture_open_file(c, path, err, errlen);
	if (ret) {
		capture_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

/*
 * Writes the program's port bitmap through the skeleton's mmap of .bss.
 * Each 64-bit word is stored once with the old and new bits, then with the
 * new ones only, so a port kept across the change is never unwatched.
 */
int capture_set_ports(struct capture *c, const uint16_t *ports, size_t n)
{
	__u64 want[65536 / 64];            /* 8 KiB: fine on a thread's stack */
	volatile __u64 *bits;

	if (!c->skel)
		return -EOPNOTSUPP;
	if (n > SOCKFILTER_MAX_PORTS)
		return -E2BIG;
	bits = c->skel->bss->port_bits;
	memset(want, 0, sizeof(want));
	for (size_t i = 0; i < n; i++)
		want[ports[i] >> 6] |= 1ull << (ports[i] & 63);
	for (size_t w = 0; w < 65536 / 64; w++)
		if (want[w] & ~bits[w])
			bits[w] |= want[w];
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (size_t w = 0; w < 65536 / 64; w++)
		if (bits[w] != want[w])
			bits[w] = want[w];
	return 0;
}

int capture_fd(const struct capture *c)
{
	return c->skel ? c->epfd : -1;
}

/* IP version nibble: tells IPv4 from IPv6 where the link header does not. */
static bool capture_is_ip(const uint8_t *l3, uint32_t len)
{
	return len > 0 && (l3[0] >> 4 == 4 || l3[0] >> 4 == 6);
}

static bool capture_ethertype_ip(uint16_t type)
{
	return type == 0x0800 || type == 0x86DD;
}

static uint16_t capture_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Length of the link header in front of the IP header, or -1 when the
 * packet is not IP or the link type is one we do not know.
 */
static int capture_link_len(int linktype, const uint8_t *p, uint32_t len)
{
	switch (linktype) {
	case DLT_LINUX_SLL:     /* 16 bytes, protocol last */
		return len >= 16 && capture_ethertype_ip(capture_be16(p + 14)) ? 16 : -1;
	case DLT_LINUX_SLL2:    /* 20 bytes, protocol first */
		return len >= 20 && capture_ethertype_ip(capture_be16(p)) ? 20 : -1;
	case DLT_EN10MB:
		if (len >= 18 && (capture_be16(p + 12) == 0x8100 || capture_be16(p + 12) == 0x88A8))
			return capture_ethertype_ip(capture_be16(p + 16)) ? 18 : -1;
		return len >= 14 && capture_ethertype_ip(capture_be16(p + 12)) ? 14 : -1;
	case DLT_NULL:          /* 4-byte address family, byte order varies */
	case DLT_LOOP:
		return len > 4 && capture_is_ip(p + 4, len - 4) ? 4 : -1;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return capture_is_ip(p, len) ? 0 : -1;
	default:
		return -1;
	}
}

static void capture_handle(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct capture *c = (struct capture *)user;
	int off = capture_link_len(c->linktype, bytes, h->caplen);
	struct capture_pkt p;

	if (c->dump)
		pcap_dump((u_char *)c->dump, h, bytes);
	if (off < 0 || h->len < (uint32_t)off) {
		c->link_unknown++;
		return;
	}
	p.ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u +
		  (uint64_t)h->ts.tv_usec * (c->nano ? 1u : 1000u);
	p.l3 = bytes + off;
	p.caplen = h->caplen - (uint32_t)off;
	p.wirelen = h->len - (uint32_t)off;
	p.netns = c->cb_netns;
	c->received++;
	c->cb(c->cb_ctx, &p);
}

/*
 * Reads one classic pcap record into c->buf. 1: rec is filled; 0: the file
 * ended where a record would start; <0: c->why says why it cannot be read.
 */
static int capture_read_record(struct capture *c, struct pcap_file_record *rec)
{
	uint8_t hdr[PCAP_FILE_REC_HDR_LEN];
	uint64_t left = c->size == UINT64_MAX ? UINT64_MAX : c->size - c->off;
	size_t n = fread(hdr, 1, sizeof(hdr), c->file);

	if (n < sizeof(hdr)) {
		if (ferror(c->file)) {
			snprintf(c->why, sizeof(c->why), "read error at offset %lu: %s",
				 (unsigned long)c->off, strerror(errno));
			return -EIO;
		}
		if (n == 0 && (left == 0 || left == UINT64_MAX))
			return 0;
		left = n;                  /* shorter than its size said: it shrank */
	}
	if (pcap_file_record(&c->info, hdr, c->off, left, rec, c->why, sizeof(c->why)) !=
	    PCAP_FILE_OK)
		return -EBADMSG;
	if (fread(c->buf, 1, rec->caplen, c->file) != rec->caplen) {
		if (ferror(c->file)) {
			snprintf(c->why, sizeof(c->why), "read error at offset %lu: %s",
				 (unsigned long)c->off, strerror(errno));
			return -EIO;
		}
		snprintf(c->why, sizeof(c->why), "record at offset %lu claims %u bytes, the file "
			 "ends first: file is truncated", (unsigned long)c->off, rec->caplen);
		return -EBADMSG;
	}
	c->rec_off = c->off;
	c->off += sizeof(hdr) + rec->caplen;
	c->records++;
	return 1;
}

static int capture_dispatch_classic(struct capture *c, int max)
{
	struct pcap_file_record rec;
	int n = 0, rc = 1;

	while ((max <= 0 || n < max) && (rc = capture_read_record(c, &rec)) > 0) {
		struct pcap_pkthdr h = {
			.ts = { .tv_sec = (time_t)(rec.ts_ns / 1000000000u),
				.tv_usec = (suseconds_t)(rec.ts_ns % 1000000000u) },
			.caplen = rec.caplen,
			.len = rec.wirelen,
		};
		capture_handle((u_char *)c, &h, c->buf);
		n++;
	}
	if (rc < 0)
		return rc;
	return n ? n : rc == 0 ? -ENODATA : 0;
}

static int capture_dispatch_one(struct capture *c, pcap_t *p, int max)
{
	int n = pcap_dispatch(p, max > 0 ? max : -1, capture_handle, (u_char *)c);

	if (n == PCAP_ERROR_BREAK)
		return 0;
	if (n < 0) {
		/* libpcap's own words, for capture_error(); no stale errno. */
		snprintf(c->why, sizeof(c->why), "%s", pcap_geterr(p));
		return -EIO;
	}
	return n;
}

int capture_dispatch(struct capture *c, int max, capture_cb cb, void *ctx)
{
	int n = 0;

	c->cb = cb;
	c->cb_ctx = ctx;
	c->cb_netns = 0;
	if (c->file) {
		n = capture_dispatch_classic(c, max);
		c->cb = NULL;
		return n;
	}
	if (!c->skel) {                  /* libpcap's reader (pcapng) */
		n = pcap_dispatch(c->pcap, max > 0 ? max : -1, capture_handle, (u_char *)c);
		c->cb = NULL;
		if (n == PCAP_ERROR_BREAK)
			return 0;
		if (n < 0) {
			/* libpcap's own words; its errno, if any, is already in them. */
			snprintf(c->why, sizeof(c->why), "%s: file is corrupt", pcap_geterr(c->pcap));
			return -EBADMSG;
		}
		if (n == 0)
			return -ENODATA;
		c->records += (uint64_t)n;
		return n;
	}
	for (size_t i = 0; i < c->nh && n >= 0; i++) {
		c->cb_netns = c->h[i].netns;
		int k = capture_dispatch_one(c, c->h[i].pcap, max);

		n = k < 0 ? k : n + k;
	}
	c->cb = NULL;
	return n;
}

const char *capture_error(const struct capture *c)
{
	return c->why;
}

uint64_t capture_offset(const struct capture *c)
{
	return c->rec_off;
}

uint64_t capture_records(const struct capture *c)
{
	return c->records;
}

static void capture_filter_stats(struct capture *c, struct capture_stats *st)
{
	int ncpu = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(c->skel->maps.stats);
	__u64 *v = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*v)) : NULL;

	if (!v)
		return;
	for (__u32 idx = 0; idx < SOCKFILTER_NSTATS; idx++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &idx, v))
			continue;
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
		if (idx == SOCKFILTER_STAT_SEEN)
			st->filter_seen = sum;
		else if (idx == SOCKFILTER_STAT_KEPT)
			st->filter_kept = sum;
		else if (idx == SOCKFILTER_STAT_CUT)
			st->filter_cut = sum;
		else if (idx == SOCKFILTER_STAT_CUT_BYTES)
			st->filter_cut_bytes = sum;
		else if (idx == SOCKFILTER_STAT_TLS_RECORDS)
			st->filter_tls_records = sum;
		else if (idx == SOCKFILTER_STAT_TLS_DESYNC)
			st->filter_tls_desync = sum;
		else if (idx == SOCKFILTER_STAT_LO_OUT)
			st->filter_lo_out = sum;
	}
	free(v);
}

int capture_skip(struct capture *c, int family, const uint8_t *saddr, const uint8_t *daddr,
		 uint16_t sport, uint16_t dport, uint32_t until)
{
	struct skip_key k = { .family = (__u8)family, .sport = sport, .dport = dport };
	struct skip_val v = { .until = until, .origin = SKIP_USER };

	if (!c->skel)
		return 0;                    /* offline: nothing to tell a kernel */
	memcpy(k.saddr, saddr, 16);
	memcpy(k.daddr, daddr, 16);
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.skips), &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

int capture_tls_cut(struct capture *c, int family, const uint8_t *saddr, const uint8_t *daddr,
		    uint16_t sport, uint16_t dport, bool on)
{
	struct skip_key k = { .family = (__u8)family, .sport = sport, .dport = dport };
	__u8 one = 1;
	int ok, conns;

	if (!c->skel)
		return 0;
	ok = bpf_map__fd(c->skel->maps.tls_cut_ok);
	conns = bpf_map__fd(c->skel->maps.tls_conns);
	memcpy(k.saddr, saddr, 16);
	memcpy(k.daddr, daddr, 16);
	if (on)
		return bpf_map_update_elem(ok, &k, &one, BPF_ANY) ? -errno : 0;
	/* The kernel's record state goes too: it remembers a permission. */
	if ((bpf_map_delete_elem(ok, &k) && errno != ENOENT) ||
	    (bpf_map_delete_elem(conns, &k) && errno != ENOENT))
		return -errno;
	return 0;
}

void capture_tls_follow(struct capture *c, bool on)
{
	if (c->skel)
		c->skel->bss->tls_cut_on = on;
}

uint64_t capture_drops(struct capture *c)
{
	uint64_t sum = c->closed_drops;
	struct pcap_stat ps;

	for (size_t i = 0; i < c->nh; i++)
		if (!pcap_stats(c->h[i].pcap, &ps))
			sum += ps.ps_drop;
	return sum;
}

int capture_loopback_only(struct capture *c, bool on)
{
	if (!c->skel || c->opts.device)
		return -EOPNOTSUPP;
	for (size_t i = 0; i < c->nh; i++)
		if (capture_ignore_outgoing(c->h[i].pcap, on)) {
			int ret = -errno;

			/* Never leave some sockets deaf to what leaves: all hear it again. */
			for (size_t k = 0; k < c->nh; k++)
				capture_ignore_outgoing(c->h[k].pcap, false);
			c->lo_only = false;
			return ret;
		}
	c->lo_only = on;
	return 0;
}

bool capture_left_loopback(const struct capture *c, uint32_t *connects)
{
	*connects = c->skel ? c->skel->bss->left_lo_connects : 0;
	return c->skel && c->skel->bss->left_lo_packets;
}

void capture_get_stats(struct capture *c, struct capture_stats *st)
{
	struct pcap_stat ps;

	memset(st, 0, sizeof(*st));
	st->received = c->received;
	st->link_unknown = c->link_unknown;
	if (!c->skel)
		return;
	st->kernel_drops = capture_drops(c);
	for (size_t i = 0; i < c->nh; i++)
		if (pcap_stats(c->h[i].pcap, &ps) == 0)
			st->if_drops += ps.ps_ifdrop;
	capture_filter_stats(c, st);
}

int capture_dump_open(struct capture *c, const char *path, char *err, size_t errlen)
{
	int fd, ret;
	FILE *f;

	if (c->dump) {
		snprintf(err, errlen, "l7top: %s: a capture file is already being written", path);
		return -EBUSY;
	}
	/* pcap_dump_open() would fopen() with the umask's mode: packets are
	 * request and response bytes, so create the file 0600 ourselves, and
	 * refuse a symlink (root writing into a shared directory). O_CREAT
	 * keeps an existing file's mode, hence the fchmod. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600)) {
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot write %s: %s", path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	f = fdopen(fd, "wb");
	if (!f) {
		ret = -errno;
		close(fd);
		snprintf(err, errlen, "l7top: cannot write %s: %s", path, strerror(-ret));
		return ret;
	}
	/* libpcap closes f itself when it cannot write the header. */
	c->dump = pcap_dump_fopen(c->pcap, f);
	if (!c->dump) {
		snprintf(err, errlen, "l7top: cannot write %s: %s", path, pcap_geterr(c->pcap));
		return -EIO;
	}
	return 0;
}

int capture_dump_flush(struct capture *c)
{
	if (!c->dump)
		return 0;
	return pcap_dump_flush(c->dump) ? -(errno ? errno : EIO) : 0;
}

int capture_dump_close(struct capture *c)
{
	int ret;

	if (!c->dump)
		return 0;
	ret = capture_dump_flush(c);
	/* pcap_dump_close() fcloses without telling; a full disk shows above. */
	pcap_dump_close(c->dump);
	c->dump = NULL;
	return ret;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	capture_dump_close(c);
	if (c->skel) {
		while (c->nh)
			capture_close_handle(c, c->nh - 1);
	} else if (c->pcap) {
		pcap_close(c->pcap);
	}
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->file)
		fclose(c->file);
	free(c->buf);
	sockfilter_bpf__destroy(c->skel);
	free(c);
}

struct sockfilter_bpf *capture_filter_skel(struct capture *c)
{
	return c->skel;
}
