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
	SOCKFILTER_STAT_TLS_RECORDS, /* TLS response bodies cut (their packets count in CUT too) */
	SOCKFILTER_STAT_TLS_DESYNC,  /* TLS bodies whose record framing the kernel lost before cutting */
	SOCKFILTER_STAT_LO_OUT,      /* loopback packets on their way out, dropped: each is kept
				      * on its way back in (the socket ignores them when it can) */
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
 * Keys mode (tls_cut_on in .bss): map "tls_conns" (LRU, keyed like "skips"
 * by the server -> client direction) follows every TLS connection on a
 * watched port from its ClientHello on; map "tls_cut_ok" holds those whose
 * response bodies user space lets the kernel cut: it adds one once a
 * connection has shown an HTTP/1.x response it can frame (Content-Length,
 * headers inside one record), and deletes both when a cut did not add up.
 * The kernel decides per packet, because user space reads the ring too late
 * to say anything about one response:
 *  - a request (TLS_CUT_HEAD) is what the server's ACK number says: a server
 *    segment acknowledging client bytes past those its last answer began
 *    after starts the response head's record, which passes whole, or
 *    its first SOCKFILTER_TLS_HEAD_KEEP bytes when it is longer;
 *  - the body is everything after it until the next answer begins
 *    (TLS_CUT_BODY): once allowed, every byte from there on (cut_start) is
 *    cut, decided by sequence number alone, so
 *    segments filtered out of order on two CPUs are cut alike. A packet
 *    keeps the prefix before cut_start (IP + TCP headers only after it), so
 *    user space still reads the TCP sequence and length of what was cut;
 *  - until the permission comes the record headers of the body are walked
 *    (5-byte headers, one split across packets completed from the next), so
 *    that a permission arriving in the middle of a response starts the cut
 *    at a record's first byte. After a segment out of order or a header
 *    that cannot be (counted in SOCKFILTER_STAT_TLS_DESYNC) only a segment
 *    that starts with a record header can begin the cut (TLS_CUT_SCAN);
 *    a response that does not start so is not followed (TLS_CUT_OFF).
 * Alerts and other small records inside a body run are cut with it: in TLS
 * 1.3 they look like data anyway; user space allows for a close_notify at
 * the end of a run. SYN and RST delete the entries (a reused 4-tuple starts
 * over).
 */
#define SOCKFILTER_MAX_TLS_CUTS 65536
#define SOCKFILTER_TLS_WALK_MAX 32     /* record headers read per packet */
/* Of a head record longer than this (+ 64), only this much passes: NGINX
 * puts the headers and the body's first 16 KB in one record. */
#define SOCKFILTER_TLS_HEAD_KEEP 4096

enum tls_cut_state { TLS_CUT_IDLE = 0, TLS_CUT_HEAD = 1, TLS_CUT_BODY = 2, TLS_CUT_OFF = 3,
		     TLS_CUT_SCAN = 4 };

struct tls_cut_val {
	__u32 exp;              /* walking: sequence number of the next new server byte */
	__u32 next_hdr;         /* walking: sequence number of the next record header */
	__u32 cut_start;        /* cutting: the body's bytes from here on are cut */
	__u32 srv_hi;           /* end of the newest server byte (retransmissions and
				 * late segments start before it) */
	__u32 srv_ack;          /* the server's ACK when it began its last answer (or
				 * the ClientHello's end): an ACK past it is a request */
	__u8 state;             /* enum tls_cut_state */
	__u8 cutting;           /* cut from cut_start (else walking) */
	__u8 hdr_have;          /* bytes of a split record header in hdr */
	__u8 ok;                /* found in tls_cut_ok: cutting allowed */
	__u8 hi_ok;             /* srv_hi is set */
	__u8 pad2[3];
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
