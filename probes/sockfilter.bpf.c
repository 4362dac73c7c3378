// SPDX-License-Identifier: MIT
/*
 * Socket filter for the libpcap handle (SO_ATTACH_BPF): keeps TCP segments
 * to or from a watched port that carry payload or SYN/FIN/RST, and drops
 * everything else in the kernel so it never costs a ring slot.
 *
 * IP and TCP headers are read relative to the network header (they are in
 * the skb's linear part). Payload is read with bpf_skb_load_bytes(), which
 * also copies from paged fragments: sendfile()/splice() payload never is
 * linear, and bpf_skb_load_bytes_relative() only reads the linear part.
 * Its offsets, and the lengths the program returns, count from skb->data:
 * the network header on "any" (cooked, SOCK_DGRAM), the only device l7top
 * opens. On a SOCK_RAW device they would be short by the link header.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "sockfilter.h"

/* uapi macros that vmlinux.h (types only) does not carry */
#define ETH_P_IP        0x0800
#define ETH_P_IPV6      0x86DD
#define PACKET_OUTGOING 4
#define IP_MF_OFFSET    0x3FFF  /* more-fragments flag + fragment offset */
#define AF_INET         2
#define AF_INET6        10

/* Set through skel->rodata before load. */
const volatile __u32 lo_ifindex = 0;
/* Bodies shorter than this are not worth a map update. */
const volatile __u32 skip_min = 16384;

/*
 * Watched server ports, one bit each, in .bss: user space writes it through
 * the skeleton's mmap. Every packet on every interface runs this program
 * (loopback ones twice), so the test is a load and a mask, not a hash
 * lookup helper call.
 */
__u64 port_bits[65536 / 64];

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKFILTER_MAX_SKIPS);
	__type(key, struct skip_key);
	__type(value, struct skip_val);
} skips SEC(".maps");

/* Upstream peers and their prefilter: see sockfilter.h. */
__u64 up_port_bits[65536 / 64];

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKFILTER_MAX_UPSTREAMS);
	__type(key, struct upstream_key);
	__type(value, __u32);   /* enum upstream_origin */
} upstreams SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKFILTER_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} target_tgids SEC(".maps");


/*
 * The header scan's buffer and state live in a per-CPU map value, not on
 * the stack: the verifier does not track map contents, so bpf_loop()'s
 * callback converges at once instead of being walked byte by byte.
 */
struct scan {
	__u32 n;                /* bytes in b */
	__u32 last4;            /* last four bytes, for CRLF CRLF */
	__u32 line_pos;         /* position in the current header line */
	__u32 match;            /* bytes of "content-length:" matched */
	__u32 in_value;         /* reading the Content-Length digits */
	__u32 have_clen;
	__u32 hdr_end;          /* offset just past CRLF CRLF; 0 = not seen */
	__u32 pad;
	__u64 clen;
	__u8 b[SOCKFILTER_HDR_SCAN];
};

/* Outstanding HEAD requests per connection, keyed by the response
 * direction: their responses announce a length they never send. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKFILTER_MAX_SKIPS);
	__type(key, struct skip_key);
	__type(value, __u32);
} heads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scan);
} scratch SEC(".maps");

/* TLS connections followed record by record, and those user space lets
 * the kernel cut: see sockfilter.h. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKFILTER_MAX_TLS_CUTS);
	__type(key, struct skip_key);
	__type(value, struct tls_cut_val);
} tls_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKFILTER_MAX_TLS_CUTS);
	__type(key, struct skip_key);
	__type(value, __u8);
} tls_cut_ok SEC(".maps");

/*
 * Where the target's traffic goes, for the packet socket's loopback-only
 * mode (user space reads both through the skeleton's mmap): a kept packet
 * to a watched port came by another interface than lo, and how many target connects went
 * to a peer off loopback (as the SYN is about to leave: the one moment the
 * kernel can tell before such traffic exists).
 */
__u32 left_lo_packets;
__u32 left_lo_connects;

/* Keys mode, set by user space: until then no packet pays for a lookup. */
__u32 tls_cut_on;

/*
 * Server ports a ClientHello went to, set here and never cleared: only
 * their segments look for a connection in tls_conns, so following TLS
 * costs a plaintext port one bit test a segment (and a client segment a
 * 6-byte load, for a ClientHello), not two hash lookups a request.
 */
__u64 tls_port_bits[65536 / 64];

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOCKFILTER_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One parsed segment; offsets count from the network header. */
struct seg {
	__u32 l4off;    /* TCP header */
	__u32 iplen;    /* IP header + payload; 0 = length field 0 (BIG TCP) */
	__u32 hdrlen;   /* IP + TCP headers */
	__u16 sport, dport;   /* host order */
	__u32 seq;
	__u32 ack_seq;  /* the peer's bytes received when this was sent */
	bool syn_fin_rst;
	bool syn, ack, rst;
	struct skip_key key;
};

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += n;
}

static __always_inline void stat_inc(__u32 idx)
{
	stat_add(idx, 1);
}

/*
 * The IP header and the TCP header after it come in one helper call (the
 * program's dearest step, on every packet of the machine): an IPv4 header
 * with options is the rare case that needs a second.
 */
struct hdrs4 {
	struct iphdr ip;
	struct tcphdr th;
};

struct hdrs6 {
	struct ipv6hdr ip6;
	struct tcphdr th;
};

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct seg *s, struct tcphdr *th)
{
	struct hdrs4 h;

	if (bpf_skb_load_bytes_relative(skb, 0, &h, sizeof(h), BPF_HDR_START_NET))
		return -1;
	if (h.ip.protocol != IPPROTO_TCP || h.ip.ihl < 5)
		return -1;
	/*
	 * TCP does its own segmentation, so fragments are rare; a later
	 * fragment has no TCP header to read, so drop all of them.
	 */
	if (h.ip.frag_off & bpf_htons(IP_MF_OFFSET))
		return -1;
	s->l4off = h.ip.ihl * 4;
	s->iplen = bpf_ntohs(h.ip.tot_len);
	s->key.family = 4;
	__builtin_memcpy(s->key.saddr, &h.ip.saddr, 4);
	__builtin_memcpy(s->key.daddr, &h.ip.daddr, 4);
	if (s->l4off == sizeof(struct iphdr)) {
		*th = h.th;
		return 0;
	}
	return bpf_skb_load_bytes_relative(skb, s->l4off, th, sizeof(*th), BPF_HDR_START_NET) ? -1 : 0;
}

/* No extension headers: a next header other than TCP is not ours. */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct seg *s, struct tcphdr *th)
{
	struct hdrs6 h;
	__u16 plen;

	if (bpf_skb_load_bytes_relative(skb, 0, &h, sizeof(h), BPF_HDR_START_NET))
		return -1;
	if (h.ip6.nexthdr != IPPROTO_TCP)
		return -1;
	plen = bpf_ntohs(h.ip6.payload_len);
	s->l4off = sizeof(h.ip6);
	s->iplen = plen ? sizeof(h.ip6) + plen : 0;
	s->key.family = 6;
	__builtin_memcpy(s->key.saddr, &h.ip6.saddr, 16);
	__builtin_memcpy(s->key.daddr, &h.ip6.daddr, 16);
	*th = h.th;
	return 0;
}

static __always_inline int parse_tcp(const struct tcphdr *thp, struct seg *s)
{
	const struct tcphdr th = *thp;

	if (th.doff < 5)
		return -1;
	s->hdrlen = s->l4off + th.doff * 4;
	s->sport = bpf_ntohs(th.source);
	s->dport = bpf_ntohs(th.dest);
	s->seq = bpf_ntohl(th.seq);
	s->ack_seq = bpf_ntohl(th.ack_seq);
	s->syn_fin_rst = th.syn || th.fin || th.rst;
	s->syn = th.syn;
	s->ack = th.ack;
	s->rst = th.rst;
	s->key.sport = s->sport;
	s->key.dport = s->dport;
	return 0;
}

static __always_inline int parse_seg(struct __sk_buff *skb, struct seg *s)
{
	struct tcphdr th;
	int err;

	if (skb->protocol == bpf_htons(ETH_P_IP))
		err = parse_ipv4(skb, s, &th);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		err = parse_ipv6(skb, s, &th);
	else
		return -1;
	return err ? err : parse_tcp(&th, s);
}

/* One bit a port in a 65536-bit set (port_bits, up_port_bits, tls_port_bits). */
static __always_inline bool port_in(const __u64 *bits, __u16 port)
{
	return bits[(port >> 6) & 1023] & (1ull << (port & 63));
}

static __always_inline void port_add(__u64 *bits, __u16 port)
{
	__sync_fetch_and_or(&bits[(port >> 6) & 1023], 1ull << (port & 63));
}

static __always_inline bool port_bit(__u16 port)
{
	return port_in(port_bits, port);
}

static __always_inline bool port_watched(const struct seg *s)
{
	return port_bit(s->sport) || port_bit(s->dport);
}

static __always_inline bool tls_port(__u16 port)
{
	return port_in(tls_port_bits, port);
}

static __always_inline bool up_port_bit(__u16 port)
{
	return port_in(up_port_bits, port);
}

static __always_inline bool upstream_is(__u8 family, __u16 port, const __u8 *addr)
{
	struct upstream_key k = { .family = family, .port = port };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&upstreams, &k) != NULL;
}

/*
 * A segment of one of the target's connections to an upstream? A SYN must
 * go to the upstream and a SYN/ACK come from it: an upstream port number
 * is also some other client's ephemeral port now and then (a backend that
 * is down leaves its port free), and its handshakes are not ours.
 */
static __always_inline bool upstream_flow(const struct seg *s)
{
	bool to = !s->syn || !s->ack, from = !s->syn || s->ack;

	if (to && up_port_bit(s->dport) && upstream_is(s->key.family, s->dport, s->key.daddr))
		return true;
	return from && up_port_bit(s->sport) && upstream_is(s->key.family, s->sport, s->key.saddr);
}

/*
 * Pure ACKs and window updates tell the parser nothing, and they are about
 * half of all segments. A zero IP length field means a BIG TCP super-packet
 * (> 64 KiB), which certainly carries payload.
 */
static __always_inline bool seg_useful(const struct seg *s)
{
	if (s->syn_fin_rst || s->iplen == 0)
		return true;
	return s->iplen > s->hdrlen;
}

/*
 * How many bytes of the packet to hand to user space: only its headers
 * when the whole payload lies in a stretch user space said it can skip,
 * else all of it. A segment past the stretch retires the entry.
 */
/* ---- a response's first segment: find the body length in the kernel ---- */


/* A global, not a static: the kernel refuses the object's BTF when a static
 * variable shares .rodata (libbpf cannot place it: "Invalid offset"), and
 * without BTF, bpf_loop()'s callback has no func_info and is refused too. */
const volatile char cl_name[16] = "content-length:";

/* bpf_loop() wants its context on the stack: a pointer to the map value. */
struct scan_ctx {
	struct scan *x;
};

static long scan_byte(__u32 i, struct scan_ctx *ctx)
{
	struct scan *x = ctx->x;
	__u8 c;

	if (i >= x->n)
		return 1;
	/* The mask keeps the verifier's bound: without the barrier clang
	 * knows i < 512 already and drops it. */
	barrier_var(i);
	c = x->b[i & (SOCKFILTER_HDR_SCAN - 1)];
	x->last4 = x->last4 << 8 | c;
	if (x->last4 == 0x0d0a0d0a) {
		x->hdr_end = i + 1;
		return 1;
	}
	if (x->in_value) {
		if (c >= '0' && c <= '9' && x->clen < (1ull << 40))
			x->clen = x->clen * 10 + (c - '0');
		else if (c != ' ' || x->have_clen)
			x->in_value = 0;
		if (c >= '0' && c <= '9')
			x->have_clen = 1;
	} else if (x->line_pos == x->match && x->match < 15) {
		__u32 m = x->match;
		barrier_var(m);
		__u8 want = cl_name[m & 15];
		x->match = ((c | 0x20) == want || c == want) ? x->match + 1 : 0;
		if (x->match == 15)
			x->in_value = 1;
	}
	x->line_pos = c == '\n' ? 0 : x->line_pos + 1;
	if (c == '\n')
		x->match = 0;
	return 0;
}

/* The 3-digit status of "HTTP/1.x NNN": 1xx, 204 and 304 have no body. */
static __always_inline bool status_has_body(const struct scan *b)
{
	__u8 d0 = b->b[9], d1 = b->b[10], d2 = b->b[11];

	if (d0 == '1')
		return false;
	return !((d0 == '2' && d1 == '0' && d2 == '4') || (d0 == '3' && d1 == '0' && d2 == '4'));
}


static __always_inline bool head_pending(struct seg *s)
{
	__u32 *n = bpf_map_lookup_elem(&heads, &s->key);

	if (!n || *n == 0)
		return false;
	__sync_fetch_and_add(n, -1);
	return true;
}

/*
 * s starts a response. Reads its headers (when they fit in this segment
 * and in SOCKFILTER_HDR_SCAN bytes) and, for a body of at least skip_min
 * bytes, records the skip at once: on loopback a whole 1 MB response
 * passes before user space could have parsed its headers. Returns the
 * bytes of this segment to keep, or 0 to decide as usual.
 */
static __always_inline int response_start(struct __sk_buff *skb, struct seg *s, __u32 paylen)
{
	__u32 zero = 0, hdr_end;
	struct scan *x;
	long n = paylen;

	x = bpf_map_lookup_elem(&scratch, &zero);
	if (!x)
		return 0;
	if (n > SOCKFILTER_HDR_SCAN)
		n = SOCKFILTER_HDR_SCAN;
	barrier_var(n);
	/* after the barrier, so the verifier sees the lower bound too */
	if (n < 16)
		return 0;
	if (bpf_skb_load_bytes(skb, s->hdrlen, x->b, n))
		return 0;
	x->n = n;
	x->last4 = x->line_pos = x->match = x->in_value = x->have_clen = x->hdr_end = 0;
	x->clen = 0;
	if (!status_has_body(x))
		return 0;
	struct scan_ctx ctx = { .x = x };
	bpf_loop(SOCKFILTER_HDR_SCAN, scan_byte, &ctx, 0);
	hdr_end = x->hdr_end;
	if (!hdr_end || !x->have_clen || x->clen < skip_min || head_pending(s))
		return 0;
	struct skip_val v = {
		.until = s->seq + hdr_end + (__u32)x->clen,
		.origin = SKIP_KERNEL,
	};
	bpf_map_update_elem(&skips, &s->key, &v, BPF_ANY);
	stat_inc(SOCKFILTER_STAT_KSKIP);
	if (paylen <= hdr_end)
		return 0;
	stat_inc(SOCKFILTER_STAT_CUT);
	stat_add(SOCKFILTER_STAT_CUT_BYTES, paylen - hdr_end);
	return s->hdrlen + hdr_end;
}

/* The other direction of the same connection. */
static __always_inline void reverse_key(const struct skip_key *k, struct skip_key *r)
{
	*r = *k;
	__builtin_memcpy(r->saddr, k->daddr, 16);
	__builtin_memcpy(r->daddr, k->saddr, 16);
	r->sport = k->dport;
	r->dport = k->sport;
}

/* A request "HEAD ..." from the client: remember one for its response. */
static __always_inline void note_head(struct seg *s)
{
	struct skip_key rk;
	__u32 one = 1, *n;

	reverse_key(&s->key, &rk);
	n = bpf_map_lookup_elem(&heads, &rk);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&heads, &rk, &one, BPF_ANY);
}

/* The first 8 payload bytes, as a number ("HTTP/1." / "HEAD "). */
static __always_inline __u64 payload_head(struct __sk_buff *skb, struct seg *s, __u32 paylen)
{
	__u64 w = 0;

	if (paylen < 8 || bpf_skb_load_bytes(skb, s->hdrlen, &w, 8))
		return 0;
	return w;
}

#define WORD_HTTP1 0x2e312f50545448ull   /* "HTTP/1." little endian, 7 bytes */
#define WORD_HEAD  0x2044414548ull       /* "HEAD " */
#define WORD_CRLF2 0x0a0d0a0du           /* "\r\n\r\n" */

/*
 * SYN, FIN or RST: whatever was known about the connection's bodies is
 * over. Without this an entry would outlive its connection, and a new one
 * reusing the 4-tuple (proxies, health checkers) would have its segments
 * cut against the old sequence numbers.
 */
static __always_inline void forget_conn(struct seg *s)
{
	struct skip_key rk;

	reverse_key(&s->key, &rk);
	bpf_map_delete_elem(&skips, &s->key);
	bpf_map_delete_elem(&skips, &rk);
	bpf_map_delete_elem(&heads, &s->key);
	bpf_map_delete_elem(&heads, &rk);
}

/* A SYN or RST: a TLS connection's cutting state is over (FIN is not: data
 * may ride on it, and nothing follows it). */
static __always_inline void forget_tls(struct seg *s)
{
	struct skip_key rk;

	if (!tls_cut_on || !(s->syn || s->rst) || !(tls_port(s->sport) || tls_port(s->dport)))
		return;
	reverse_key(&s->key, &rk);
	bpf_map_delete_elem(&tls_conns, &s->key);
	bpf_map_delete_elem(&tls_conns, &rk);
	bpf_map_delete_elem(&tls_cut_ok, &s->key);
	bpf_map_delete_elem(&tls_cut_ok, &rk);
}

/* ---- TLS: cut the records of response bodies (see sockfilter.h) ---- */

#define TLS_CT_APPDATA 23
#define TLS_REC_MAX    (16384 + 2048)

/* Has user space allowed cutting this connection? Asked only where a cut
 * could begin, and remembered once yes. */
static __always_inline bool tls_allowed(struct tls_cut_val *v, struct skip_key *key)
{
	if (v->ok)
		return true;
	if (!bpf_map_lookup_elem(&tls_cut_ok, key))
		return false;
	v->ok = 1;
	return true;
}

/* The answer to a request does not start with a record (a handshake
 * flight spanning segments, a pipelined request): not followed. */
static __always_inline void tls_off(struct tls_cut_val *v)
{
	v->state = TLS_CUT_OFF;
	v->hdr_have = 0;
}

/*
 * Bytes of a packet to keep once the body is being cut: everything from
 * cut_start on goes, whatever order the packets come in (a sender's
 * segments are filtered on more than one CPU: the ACK-clocked ones where
 * the ACK arrived).
 */
static __always_inline int tls_cut_keep(struct tls_cut_val *v, struct seg *s, __u32 paylen, int full)
{
	__s32 before = (__s32)(v->cut_start - s->seq);

	if (before >= (__s32)paylen)
		return full;                        /* the head record's */
	if (before < 0)
		before = 0;
	stat_inc(SOCKFILTER_STAT_CUT);
	stat_add(SOCKFILTER_STAT_CUT_BYTES, paylen - before);
	return s->hdrlen + before;
}

/* Begins cutting at the record starting at payload offset off. */
static __always_inline int tls_cut_begin(struct tls_cut_val *v, struct seg *s, __u32 off, __u32 paylen,
					 int full)
{
	v->cutting = 1;
	v->cut_start = s->seq + off;
	stat_inc(SOCKFILTER_STAT_TLS_RECORDS);
	return tls_cut_keep(v, s, paylen, full);
}

/* The rest of a header split across packets, from this packet's start;
 * the record it opens starts at v->next_hdr. */
static __always_inline int tls_hdr_finish(struct __sk_buff *skb, struct seg *s, struct tls_cut_val *v,
					  __u32 paylen)
{
	__u32 have = v->hdr_have, len;

	for (__u32 i = 0; i < 4; i++) {
		__u32 at = have + i;
		if (at >= 5)
			break;
		if (i >= paylen)
			return -1;
		if (bpf_skb_load_bytes(skb, s->hdrlen + i, &v->hdr[at & 7], 1))
			return -1;
	}
	len = (__u32)v->hdr[3] << 8 | v->hdr[4];
	if (v->hdr[1] != 3 || len > TLS_REC_MAX)
		return -1;
	v->hdr_have = 0;
	v->next_hdr += 5 + len;
	return 0;
}

/* A header cut by the packet's end: its first bytes wait for the next one. */
static __always_inline int tls_hdr_split(struct __sk_buff *skb, struct seg *s, struct tls_cut_val *v,
					 __u32 off, __u32 paylen)
{
	__u32 n = paylen - off;

	for (__u32 i = 0; i < 4; i++) {
		if (i >= n)
			break;
		if (bpf_skb_load_bytes(skb, s->hdrlen + off + i, &v->hdr[i & 7], 1))
			return -1;
	}
	v->hdr_have = n;
	return 0;
}

/* The body's record framing is lost (segments out of order, a bad header):
 * from now on only a segment starting with a record header can begin a
 * cut. Counted once per response. */
static __always_inline int tls_lost(struct tls_cut_val *v, int full)
{
	stat_inc(SOCKFILTER_STAT_TLS_DESYNC);
	v->state = TLS_CUT_SCAN;
	v->hdr_have = 0;
	return full;
}

/*
 * A body packet before the permission: the record headers are followed,
 * in order, so that a permission arriving in the middle of the response
 * starts the cut at a record's first byte. Returns the bytes to keep.
 */
static __always_inline int tls_body_walk(struct __sk_buff *skb, struct seg *s, struct tls_cut_val *v,
					 __u32 paylen, int full)
{
	bool allowed;
	__u8 h[5];

	if (s->seq != v->exp)
		return tls_lost(v, full);
	v->exp = s->seq + paylen;
	allowed = tls_allowed(v, &s->key);
	if (v->hdr_have && tls_hdr_finish(skb, s, v, paylen))
		return tls_lost(v, full);
	for (int i = 0; i < SOCKFILTER_TLS_WALK_MAX; i++) {
		__u32 off = v->next_hdr - s->seq, len;

		if (off >= paylen)
			return full;                /* the next header is in a later packet */
		if (allowed)
			return tls_cut_begin(v, s, off, paylen, full);
		if (off + 5 > paylen)
			return tls_hdr_split(skb, s, v, off, paylen) ? tls_lost(v, full) : full;
		if (bpf_skb_load_bytes(skb, s->hdrlen + off, h, 5))
			break;
		len = (__u32)h[3] << 8 | h[4];
		if (h[0] < 20 || h[0] > 24 || h[1] != 3 || len > TLS_REC_MAX)
			break;
		v->next_hdr += 5 + len;
	}
	return tls_lost(v, full);                   /* a bad header, or the bound hit */
}

/* The type and length of the record header the payload starts with; -1: none can. */
static __always_inline int tls_first_record(struct __sk_buff *skb, struct seg *s, __u32 paylen, __u32 *len)
{
	__u8 h[5];

	if (paylen < 5 || bpf_skb_load_bytes(skb, s->hdrlen, h, 5))
		return -1;
	*len = (__u32)h[3] << 8 | h[4];
	if (h[0] < 20 || h[0] > 24 || h[1] != 3 || *len > TLS_REC_MAX)
		return -1;
	return h[0];
}

/*
 * The first server packet after a request: it starts with the response's
 * head record, which passes; the body is everything after it until the
 * next request.
 */
static __always_inline int tls_head(struct __sk_buff *skb, struct seg *s, struct tls_cut_val *v,
				    __u32 paylen, int full)
{
	__u32 len = 0;
	int type = tls_first_record(skb, s, paylen, &len);

	if (type != TLS_CT_APPDATA) {
		/* the handshake's flights are not followed */
		if (type < 0)
			tls_off(v);
		return full;
	}
	v->state = TLS_CUT_BODY;
	v->cutting = v->hdr_have = 0;
	v->next_hdr = v->cut_start = s->seq + 5 + len;
	v->exp = s->seq + paylen;
	/* A small response in one record (most are) costs no more lookups. */
	if (paylen <= 5 + len && 5 + len <= SOCKFILTER_TLS_HEAD_KEEP + 64)
		return full;
	if (tls_allowed(v, &s->key)) {
		/* Of a big head record only the start passes: the HTTP headers
		 * are in it; user space deciphers it without the tag. */
		if (5 + len > SOCKFILTER_TLS_HEAD_KEEP + 64)
			v->cut_start = s->seq + SOCKFILTER_TLS_HEAD_KEEP;
		v->cutting = 1;
		stat_inc(SOCKFILTER_STAT_TLS_RECORDS);
		return tls_cut_keep(v, s, paylen, full);
	}
	v->exp = s->seq;
	return tls_body_walk(skb, s, v, paylen, full);
}

/* A server segment of a connection in tls_conns: bytes to keep. */
static __always_inline int tls_server_seg(struct __sk_buff *skb, struct seg *s, __u32 paylen,
					  struct tls_cut_val *v, int full)
{
	bool old = v->hi_ok && (__s32)(s->seq - v->srv_hi) < 0;
	__u32 len;

	if (!old || (__s32)(s->seq + paylen - v->srv_hi) > 0)
		v->srv_hi = s->seq + paylen;
	v->hi_ok = 1;
	/* A retransmission (a tail loss probe after the next request, say)
	 * is cut as its bytes were the first time; it begins nothing. */
	if (old)
		return v->cutting ? tls_cut_keep(v, s, paylen, full) : full;
	/* The server had more of the client's bytes when it sent this than
	 * when it began its last answer: a request came, and this segment
	 * begins the answer (its head record). */
	if (s->ack && (__s32)(s->ack_seq - v->srv_ack) > 0) {
		v->srv_ack = s->ack_seq;
		v->state = TLS_CUT_HEAD;
	}
	if (v->state == TLS_CUT_HEAD)
		return tls_head(skb, s, v, paylen, full);
	/* Framing lost in the body: a segment that starts with a record header
	 * (a false one is 1 in 2^26 per segment, and user space would find it
	 * out) can still begin the cut, once allowed. */
	if (v->state == TLS_CUT_SCAN)
		return tls_allowed(v, &s->key) && tls_first_record(skb, s, paylen, &len) == TLS_CT_APPDATA
			       ? (v->state = TLS_CUT_BODY, tls_cut_begin(v, s, 0, paylen, full))
			       : full;
	if (v->state != TLS_CUT_BODY)
		return full;
	if (v->cutting)
		return tls_cut_keep(v, s, paylen, full);
	return tls_body_walk(skb, s, v, paylen, full);
}

/* A client segment that starts with a TLS record header: 1, or 2 for a
 * ClientHello (handshake record, first message type 1) opening a
 * connection; 0 for anything else. */
static __always_inline int tls_client_record(struct __sk_buff *skb, struct seg *s, __u32 paylen)
{
	__u8 h[6];

	if (paylen < 6 || bpf_skb_load_bytes(skb, s->hdrlen, h, 6))
		return 0;
	if (h[1] != 3 || h[0] < 20 || h[0] > 24)
		return 0;
	return h[0] == 22 && h[5] == 1 ? 2 : 1;
}

/*
 * Keys mode: a payload segment of a TLS connection, followed from its
 * ClientHello on (so that a permission given in the middle of a response
 * finds the record framing known). Returns the bytes to keep, or -1 when
 * the connection is not followed.
 */
static __always_inline int tls_cut(struct __sk_buff *skb, struct seg *s, __u32 paylen, int full)
{
	struct skip_key rk;
	struct tls_cut_val *v;

	if (port_bit(s->sport)) {
		if (!tls_port(s->sport))
			return -1;
		v = bpf_map_lookup_elem(&tls_conns, &s->key);
		return v ? tls_server_seg(skb, s, paylen, v, full) : -1;
	}
	/*
	 * A client segment looks nothing up: the server's ACK tells its side
	 * of a request. Noting it here was a write to the connection's entry
	 * on the client's CPU and a read on the server's, a cache line moved
	 * twice a request (a keep-alive TLS segment cost the filter 220 ns,
	 * 142 without it).
	 */
	int rec = tls_client_record(skb, s, paylen);
	if (rec == 2) {
		struct tls_cut_val nv = { .state = TLS_CUT_HEAD, .srv_ack = s->seq + paylen };
		reverse_key(&s->key, &rk);
		if (!tls_port(s->dport))
			port_add(tls_port_bits, s->dport);
		bpf_map_update_elem(&tls_conns, &rk, &nv, BPF_NOEXIST);
	}
	return rec && tls_port(s->dport) ? full : -1;
}

/* Does the payload end in CRLF CRLF, i.e. is it a header block alone? */
static __always_inline bool headers_alone(struct __sk_buff *skb, struct seg *s, __u32 paylen)
{
	__u32 w = 0;

	if (paylen < 16)
		return false;
	if (bpf_skb_load_bytes(skb, s->hdrlen + paylen - 4, &w, 4))
		return false;
	return w == WORD_CRLF2;
}

/* Does s start inside the body a skip cuts? What looks like a response
 * there may be body content: a download of a capture, say. */
static __always_inline bool inside_skip(const struct skip_val *sk, const struct seg *s)
{
	return sk && (__s32)(s->seq - sk->until) < 0;
}

static __always_inline int keep_len(struct __sk_buff *skb, struct seg *s)
{
	/* Both candidates are read into scalars first: clang would otherwise
	 * share one load between the ctx and the stack pointer, which the
	 * verifier refuses ("same insn cannot be used with different pointers"). */
	__u32 full = skb->len, hdr = s->hdrlen, paylen;
	struct skip_val *sk;
	int keep;

	barrier_var(full);
	barrier_var(hdr);
	/* iplen 0: a BIG TCP super-packet, as long as the skb */
	paylen = s->iplen ? (s->iplen > hdr ? s->iplen - hdr : 0) : (full > hdr ? full - hdr : 0);
	if (tls_cut_on && paylen && !s->syn && !s->rst && (keep = tls_cut(skb, s, paylen, full)) >= 0)
		return keep;
	if (s->syn_fin_rst) {
		forget_conn(s);
		forget_tls(s);
		return full;
	}
	if (s->iplen == 0)
		return full;
	if (port_bit(s->dport) && (payload_head(skb, s, paylen) & 0xffffffffffull) == WORD_HEAD)
		note_head(s);
	/*
	 * Every kept segment passes here, in the sender's softirq: small ones
	 * cost less to copy than to look up, and hold no body worth cutting.
	 * The one small segment worth reading is a response's headers sent
	 * alone (sendfile without TCP_NOPUSH): it announces the big body that
	 * follows. A small complete response ("ok\n" after its headers) ends
	 * in its body, not in CRLF CRLF, and costs one 4-byte load.
	 */
	if (paylen < SOCKFILTER_SCAN_MIN) {
		if (port_bit(s->sport) && headers_alone(skb, s, paylen) &&
		    (payload_head(skb, s, paylen) & 0xffffffffffffffull) == WORD_HTTP1 &&
		    !inside_skip(bpf_map_lookup_elem(&skips, &s->key), s))
			response_start(skb, s, paylen);
		return full;
	}
	sk = bpf_map_lookup_elem(&skips, &s->key);
	if (port_bit(s->sport) && (payload_head(skb, s, paylen) & 0xffffffffffffffull) == WORD_HTTP1) {
		/* A new response: a guess about the previous one is over, and so
		 * is any skip it has already passed (keep-alive leaves one per
		 * body behind). */
		bool inside = inside_skip(sk, s);
		if (sk && (sk->origin == SKIP_KERNEL || !inside)) {
			bpf_map_delete_elem(&skips, &s->key);
			sk = NULL;
			/* The guess may have been wrong (a length a response never
			 * sends), or this is body that looks like a response: no
			 * guess from it, it passes whole and user space, which
			 * knows, tells the kernel what follows. */
			if (inside)
				return full;
		}
		if (!sk && (keep = response_start(skb, s, paylen)) > 0)
			return keep;
	}
	if (!sk)
		return full;
	if ((__s32)(sk->until - (s->seq + paylen)) >= 0) {
		stat_inc(SOCKFILTER_STAT_CUT);
		stat_add(SOCKFILTER_STAT_CUT_BYTES, paylen);
		return hdr;
	}
	if (!inside_skip(sk, s))
		bpf_map_delete_elem(&skips, &s->key);
	return full;
}

SEC("socket")
int sockfilter(struct __sk_buff *skb)
{
	struct seg s = {};

	/*
	 * A packet socket sees each loopback segment twice: leaving lo
	 * (OUTGOING) and coming back in (HOST). Keep the second copy only.
	 */
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == lo_ifindex) {
		stat_inc(SOCKFILTER_STAT_LO_OUT);
		return 0;
	}
	if (parse_seg(skb, &s))
		return 0;
	stat_inc(SOCKFILTER_STAT_SEEN);
	if (!seg_useful(&s))
		return 0;
	if (!port_watched(&s)) {
		if (!upstream_flow(&s))
			return 0;
		stat_inc(SOCKFILTER_STAT_UP_KEPT);
	}
	stat_inc(SOCKFILTER_STAT_KEPT);
	/* Only a packet to a watched port: one from a port 80 somewhere else
	 * answers another program's client on this host, not the target. */
	if (skb->ifindex != lo_ifindex && !left_lo_packets && port_bit(s.dport))
		left_lo_packets = 1;
	return keep_len(skb, &s);
}

/* 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104, as target_addr_loopback(). */
static __always_inline bool peer_loopback(const struct upstream_key *k)
{
	if (k->family == 4)
		return k->addr[0] == 127;
	for (int i = 0; i < 10; i++)
		if (k->addr[i])
			return false;
	if (k->addr[10] == 0xff && k->addr[11] == 0xff)
		return k->addr[12] == 127;
	return !k->addr[10] && !k->addr[11] && !k->addr[12] && !k->addr[13] && !k->addr[14] &&
	       k->addr[15] == 1;
}

/*
 * A target thread connects out: its socket enters SYN_SENT in the
 * connect() call itself, so the current task is the connecting one, and
 * this runs before the SYN leaves, so the socket filter keeps the SYN
 * (which gives the connect time) and everything after it.
 */
static __always_inline int learn_upstream(const struct sock *sk, int newstate)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, one = UPSTREAM_CONNECT;
	struct upstream_key k = {};
	__u16 fam;

	if (newstate != TCP_SYN_SENT || !bpf_map_lookup_elem(&target_tgids, &tgid))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	fam = sk->__sk_common.skc_family;
	k.port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (fam == AF_INET) {
		k.family = 4;
		__builtin_memcpy(k.addr, &sk->__sk_common.skc_daddr, 4);
	} else if (fam == AF_INET6) {
		k.family = 6;
		__builtin_memcpy(k.addr, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		return 0;
	}
	if (!peer_loopback(&k))
		__sync_fetch_and_add(&left_lo_connects, 1);
	if (!bpf_map_lookup_elem(&upstreams, &k)) {
		if (bpf_map_update_elem(&upstreams, &k, &one, BPF_NOEXIST) == 0)
			stat_inc(SOCKFILTER_STAT_UP_LEARNT);
		else
			stat_inc(SOCKFILTER_STAT_UP_FULL);
	}
	port_add(up_port_bits, k.port);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(upstream_connect, const struct sock *sk, const int oldstate, const int newstate)
{
	return learn_upstream(sk, newstate);
}

/*
 * A target process forked: the child is followed from its first connect,
 * not from the next /proc rescan. It holds no connection the tracepoint
 * missed (what it inherits, its parent opened), so user space can skip
 * the scan of the namespace's sockets that a new process needs: a server
 * forking a child per connection made l7top walk the TCP hash at every
 * fork, most of its CPU (upstreams_followed()). A full map leaves the
 * child to that scan.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(upstream_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u8 one = 1;

	if (ctgid != ptgid && bpf_map_lookup_elem(&target_tgids, &ptgid))
		bpf_map_update_elem(&target_tgids, &ctgid, &one, BPF_NOEXIST);
	return 0;
}

/* GPL-compatible so any helper stays usable; the source itself is MIT. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
