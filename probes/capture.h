/* SPDX-License-Identifier: MIT */
/*
 * capture: plaintext packets from the kernel. An eBPF socket filter
 * (probes/sockfilter.bpf.c) attached to libpcap live handles on "any", one
 * opened inside each network namespace of the target's processes, keeps
 * only TCP segments to or from the target's listening ports that carry data
 * or SYN/FIN/RST, and drops the PACKET_OUTGOING copy of loopback packets so
 * each segment reaches user space once, through libpcap's TPACKET_V3 ring.
 *
 * The same interface reads a pcap file (--read) so the collector cannot
 * tell the two apart. Link-layer headers are stripped here: callbacks get
 * the IP packet.
 */
#ifndef L7TOP_CAPTURE_H
#define L7TOP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct capture;

#define CAPTURE_MAX_NETNS 16

/* A network namespace to capture in, and a process inside it (for /proc/PID/ns/net). */
struct capture_netns {
	unsigned long ino;
	int pid;
};

/* Bodies are cut in the kernel, so 8 MB (4 x tcpdump's 2) holds bursts.
 * Every page of it is RSS from the start (--capture-buffer). What fills it
 * is the loop away from the ring: 8 MB once dropped packets when 10,000
 * connections opened at once while an interval of 10,000 endpoints was
 * closed in one piece (70-220 ms in the live view). That view now takes a
 * snapshot in slices (view_push_begin), the longest time away ~40-70 ms;
 * since, no drop at 8 MB in any case of make bench, in 10,000 x 10,000
 * live with one or two CPU hogs beside it, or at TLS 100 KB in keys mode,
 * every ciphertext byte copied (~600 MB/s). */
#define CAPTURE_DEFAULT_BUFFER_MB 8
#define CAPTURE_MAX_BUFFER_MB     1024   /* keeps mb << 20 in an int */

struct capture_opts {
	const char *device;        /* NULL = "any"; the filter's cut lengths assume
				    * "any" (cooked): see sockfilter.bpf.c */
	unsigned buffer_mb;        /* kernel ring; 0 = CAPTURE_DEFAULT_BUFFER_MB */
	unsigned snaplen;          /* 0 = 262144 */
	const struct capture_netns *netns;  /* where to open packet sockets; */
	size_t nnetns;                      /* 0 = l7top's own namespace only */
};

struct capture_pkt {
	uint64_t ts_ns;            /* kernel timestamp, unix ns */
	const uint8_t *l3;         /* IPv4 or IPv6 header */
	uint32_t caplen;           /* bytes available from l3 */
	uint32_t wirelen;          /* bytes from l3 as on the wire (>= caplen) */
	unsigned long netns;       /* inode of the namespace its socket is in; 0 offline */
};

typedef void (*capture_cb)(void *ctx, const struct capture_pkt *p);

struct capture_stats {
	uint64_t received;         /* packets handed to the callback */
	uint64_t kernel_drops;     /* pcap_stats ps_drop: ring full */
	uint64_t if_drops;         /* pcap_stats ps_ifdrop */
	uint64_t filter_kept;      /* the BPF program's own counters */
	uint64_t filter_seen;
	uint64_t link_unknown;     /* packets whose link header we could not strip */
	uint64_t filter_cut;       /* packets cut to their headers (skipped body) */
	uint64_t filter_cut_bytes; /* payload bytes those did not copy */
	uint64_t filter_tls_records; /* TLS response bodies cut (keys mode) */
	uint64_t filter_tls_desync;  /* TLS responses the kernel lost the framing of */
	uint64_t filter_lo_out;      /* loopback packets on their way out the filter dropped */
};

/* Returns 0 or -errno with a one-line reason in err. */
int capture_open_live(struct capture **out, const struct capture_opts *o, char *err, size_t errlen);
/*
 * --read: a classic pcap file is read by probes/pcap_file.c's rules (every
 * record header checked against the snaplen and the file size before it is
 * used); pcapng goes through libpcap. -EBADMSG: the file's content is
 * wrong (empty, truncated header, impossible snaplen); -EISDIR, -EINVAL
 * (neither format), -ENOENT...: the path is. err names the path.
 */
int capture_open_offline(struct capture **out, const char *path, char *err, size_t errlen);
/*
 * Makes the packet sockets one per namespace in ns[]: opens those missing
 * (inside the namespace, so its own loopback and veths are seen and no
 * other namespace's traffic is), closes those no longer listed (always
 * keeping one). Live only; 0 or -errno with one line in err.
 */
int capture_set_netns(struct capture *c, const struct capture_netns *ns, size_t n, char *err,
		      size_t errlen);
/* The inodes of the namespaces captured in now; returns how many (<= max). */
size_t capture_netns(const struct capture *c, unsigned long *ino, size_t max);
/* Replaces the set of server ports the kernel filter keeps. Live only. */
int capture_set_ports(struct capture *c, const uint16_t *ports, size_t n);
/* A pollable fd (EPOLLIN when packets wait); -1 for offline captures. */
int capture_fd(const struct capture *c);
/*
 * Hands up to max waiting packets (max <= 0: all) to cb without blocking.
 * Returns the number handled, 0 when none waited, -ENODATA at the end of
 * an offline file, or another -errno. Offline, -EBADMSG (a record that
 * cannot be right, or the file ends inside one) and -EIO (a read error)
 * leave one sentence in capture_error(); the packets before it were handed.
 */
int capture_dispatch(struct capture *c, int max, capture_cb cb, void *ctx);
/* Why the last capture_dispatch() failed: "record at offset ..." offline,
 * libpcap's reason live. */
const char *capture_error(const struct capture *c);
/* Offline: byte offset of the record last handed to the callback
 * (UINT64_MAX when libpcap reads the file and does not say). */
uint64_t capture_offset(const struct capture *c);
/* Offline: records read so far, IP packets or not. */
uint64_t capture_records(const struct capture *c);
/*
 * The sender -> receiver direction's payload before sequence number until
 * (exclusive) is not needed: the middle of a body of known length. The
 * kernel filter then copies such segments' headers only. Addresses are 16
 * bytes (IPv4 in the first 4). Live only; 0 or -errno.
 */
int capture_skip(struct capture *c, int family, const uint8_t *saddr, const uint8_t *daddr,
		 uint16_t sport, uint16_t dport, uint32_t until);
/*
 * Keys mode: on = the kernel may cut the bodies of the TLS connection whose
 * server -> client direction this is (see tls_conns in probes/sockfilter.h);
 * off = it must not any more. Live only; 0 or -errno.
 */
int capture_tls_cut(struct capture *c, int family, const uint8_t *saddr, const uint8_t *daddr,
		    uint16_t sport, uint16_t dport, bool on);
/* Keys mode on or off: the kernel follows TLS connections' records from
 * their ClientHello (a map entry each), so that it can cut. Live only. */
void capture_tls_follow(struct capture *c, bool on);
void capture_get_stats(struct capture *c, struct capture_stats *st);
/*
 * Loopback-only mode: the packet sockets ignore packets on their way out,
 * so a loopback packet (which each socket sees leaving lo and coming back
 * in, and the filter keeps the second) is no longer cloned for the socket
 * and filtered only to be dropped. Every packet leaving by another
 * interface is lost while it is on: turn it on only while all the watched
 * traffic is on lo. New namespaces' sockets follow. 0, or -errno (-EOPNOTSUPP
 * offline or on a --device socket).
 */
int capture_loopback_only(struct capture *c, bool on);
/* What the kernel saw of the watched traffic leaving lo: a kept packet that
 * came in by another interface (returns true), and in *connects how many
 * target connects went to a peer off loopback. */
bool capture_left_loopback(const struct capture *c, uint32_t *connects);
/* Packets the kernel ring dropped so far (cheap: no BPF map reads). */
uint64_t capture_drops(struct capture *c);
/*
 * --write: from now on, every packet capture_dispatch() reads (what the
 * kernel filter kept, link header included) is also appended to a pcap
 * file at path, in the handle's link type and timestamp precision, for
 * Wireshark or a later --read. The file is created or truncated with mode
 * 0600 (it holds request and response bytes) and never through a symlink.
 * Returns 0 or -errno with one line in err; -EBUSY when one is open.
 */
int capture_dump_open(struct capture *c, const char *path, char *err, size_t errlen);
/* Pushes buffered packets to the file (call once per interval). 0 or -errno. */
int capture_dump_flush(struct capture *c);
/* Flushes and closes the file; capture_close() does this too. 0 or -errno. */
int capture_dump_close(struct capture *c);
void capture_close(struct capture *c);
/* The live filter's skeleton, for probes/upstreams.c; NULL offline. */
struct sockfilter_bpf;
struct sockfilter_bpf *capture_filter_skel(struct capture *c);
/*
 * Where libbpf's warnings go (NULL = nowhere), so they never write over a
 * screen a TUI owns. Process-wide, like libbpf_set_print itself.
 */
void capture_set_libbpf_log(FILE *f);

#endif
