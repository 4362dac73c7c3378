/* SPDX-License-Identifier: MIT */
/*
 * sockfilter: what probes/sockfilter.bpf.c and probes/capture.c share.
 *
 * port_bits (.bss): bit p set = server port p (host order) is watched.
 * A segment is kept when its source or destination port is watched.
 * Map "stats": per-CPU __u64 counters indexed by enum sockfilter_stat;
 * user space sums the CPUs.
 */
#ifndef L7TOP_SOCKFILTER_H
#define L7TOP_SOCKFILTER_H

#define SOCKFILTER_MAX_PORTS 256
#define SOCKFILTER_MAX_SKIPS 65536

enum sockfilter_stat {
	SOCKFILTER_STAT_SEEN,   /* TCP segments the program looked at */
	SOCKFILTER_STAT_KEPT,   /* packets it passed on to the ring */
	SOCKFILTER_STAT_CUT,    /* of those, cut to their headers (body skipped) */
	SOCKFILTER_STAT_CUT_BYTES, /* payload bytes not copied because of that */
	SOCKFILTER_STAT_KSKIP,  /* bodies whose length the kernel read itself */
	SOCKFILTER_STAT_UP_LEARNT, /* upstreams learnt from a target's connect() */
	SOCKFILTER_STAT_UP_FULL,   /* upstreams not kept: map full */
	SOCKFILTER_STAT_UP_KEPT,   /* segments kept because they go to or come from an upstream */
	SOCKFILTER_STAT_TLS_RECORDS, /* TLS body records cut (their packets count in CUT too) */
	SOCKFILTER_STAT_TLS_DESYNC,  /* TLS responses whose record framing the kernel lost: not cut */
	SOCKFILTER_NSTATS,
};

/*
 * Map "skips" (LRU): one direction of a connection (sender -> receiver)
 * whose payload up to sequence number `until` (exclusive) user space does
 * not need: the middle of a body of known length. Segments that end at or
 * before `until` reach user space as headers only (the wire length still
 * says how much they carried), so a 1 MB download costs a few hundred
 * bytes of copying instead of 1 MB. IPv4 addresses use the first 4 bytes.
 */
struct skip_key {
	__u8 family;            /* 4 or 6 */
	__u8 pad;
	__u16 sport, dport;     /* host order */
	__u8 saddr[16], daddr[16];
};

/*
 * Where a skip came from. User space knows (it parsed the message); the
 * kernel guesses from a response's first segment (headers with a
 * Content-Length, not a HEAD it saw asked) and so gives way: a segment
 * that starts a new response ends a guessed skip.
 */
enum skip_origin { SKIP_USER = 0, SKIP_KERNEL = 1 };

struct skip_val {
	__u32 until;            /* exclusive end, TCP sequence number */
	__u32 origin;           /* enum skip_origin */
};

/* Response headers the kernel reads to find a body's length itself, in
 * first segments of at least SOCKFILTER_SCAN_MIN payload bytes. */
#define SOCKFILTER_HDR_SCAN 512
#define SOCKFILTER_SCAN_MIN 4096

/*
 * Map "tls_cuts" (LRU, keyed like "skips" by the server -> client
 * direction): TLS connections in keys mode whose response bodies the
 * kernel may cut. User space creates an entry (zeroed: TLS_CUT_IDLE) once a
 * connection has shown HTTP/1.x responses it can frame (Content-Length,
 * headers inside one record), and deletes it when a cut did not add up.
 * The kernel does the rest per packet, because user space reads the ring
 * too late to say anything about one response:
 *  - a client payload segment is a request: the server's next application
 *    data record is the response head and passes whole (TLS_CUT_HEAD);
 *  - the server records after it, until the next client payload, are body
 *    (TLS_CUT_BODY): application-data records of at least
 *    SOCKFILTER_TLS_CUT_MIN bytes are cut. A packet keeps the prefix before
 *    its first cut record (IP + TCP headers only when it starts inside one),
 *    so user space still reads the TCP sequence and length of what was cut;
 *  - record boundaries are followed with the 5-byte record headers (one
 *    split across two packets is completed from the second); a sequence
 *    number out of order or a header that cannot be stops cutting until the
 *    next request (TLS_CUT_OFF, counted in SOCKFILTER_STAT_TLS_DESYNC).
 * SYN and RST delete the entry (a reused 4-tuple starts over).
 */
#define SOCKFILTER_MAX_TLS_CUTS 65536
#define SOCKFILTER_TLS_CUT_MIN  1024   /* smaller records (alerts, tickets) pass */
#define SOCKFILTER_TLS_WALK_MAX 32     /* record headers read per packet */

enum tls_cut_state { TLS_CUT_IDLE = 0, TLS_CUT_HEAD = 1, TLS_CUT_BODY = 2, TLS_CUT_OFF = 3 };

struct tls_cut_val {
	__u32 exp;              /* sequence number of the next new server byte */
	__u32 next_hdr;         /* sequence number of the next record header */
	__u8 state;             /* enum tls_cut_state */
	__u8 cutting;           /* the record running past the last packet is cut */
	__u8 hdr_have;          /* bytes of a split record header in hdr */
	__u8 pad;
	__u8 hdr[8];
};

/*
 * The target's outgoing connections (reverse proxies call their backends):
 * map "upstreams" holds the remote address:port of every peer the target
 * connected to, learnt in the kernel when a target thread's socket enters
 * SYN_SENT (tp_btf/inet_sock_set_state, tgids in map "target_tgids") or
 * written by user space for connections open before l7top started (from
 * /proc). Segments to or from such a peer are kept beside the listening
 * ports'. up_port_bits (.bss) is a prefilter: only a segment with a port
 * bit set costs a hash lookup. Entries are never removed by the kernel;
 * the map is LRU, so an upstream gone for good ages out.
 */
#define SOCKFILTER_MAX_UPSTREAMS 4096
#define SOCKFILTER_MAX_TGIDS     1024

struct upstream_key {
	__u8 family;            /* 4 or 6 */
	__u8 pad;
	__u16 port;             /* host order */
	__u8 addr[16];          /* IPv4 in the first 4 bytes */
};

enum upstream_origin { UPSTREAM_PROC = 1, UPSTREAM_CONNECT = 2 };

#endif
