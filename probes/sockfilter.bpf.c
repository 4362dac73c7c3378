// SPDX-License-Identifier: MIT
/*
 * Socket filter for the libpcap handle (SO_ATTACH_BPF): keeps TCP segments
 * to or from a watched port that carry payload or SYN/FIN/RST, and drops
 * everything else in the kernel so it never costs a ring slot.
 *
 * Headers are read relative to the network header, so the same program
 * works on "any" (cooked, SOCK_DGRAM) and on an Ethernet device (SOCK_RAW).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sockfilter.h"

/* uapi macros that vmlinux.h (types only) does not carry */
#define ETH_P_IP        0x0800
#define ETH_P_IPV6      0x86DD
#define PACKET_OUTGOING 4
#define IP_MF_OFFSET    0x3FFF  /* more-fragments flag + fragment offset */

/* Set through skel->rodata before load. */
const volatile __u32 lo_ifindex = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKFILTER_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKFILTER_MAX_SKIPS);
	__type(key, struct skip_key);
	__type(value, __u32);
} skips SEC(".maps");

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
	bool syn_fin_rst;
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

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct seg *s)
{
	struct iphdr ip;

	if (bpf_skb_load_bytes_relative(skb, 0, &ip, sizeof(ip), BPF_HDR_START_NET))
		return -1;
	if (ip.protocol != IPPROTO_TCP || ip.ihl < 5)
		return -1;
	/*
	 * TCP does its own segmentation, so fragments are rare; a later
	 * fragment has no TCP header to read, so drop all of them.
	 */
	if (ip.frag_off & bpf_htons(IP_MF_OFFSET))
		return -1;
	s->l4off = ip.ihl * 4;
	s->iplen = bpf_ntohs(ip.tot_len);
	s->key.family = 4;
	__builtin_memcpy(s->key.saddr, &ip.saddr, 4);
	__builtin_memcpy(s->key.daddr, &ip.daddr, 4);
	return 0;
}

/* No extension headers: a next header other than TCP is not ours. */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct seg *s)
{
	struct ipv6hdr ip6;
	__u16 plen;

	if (bpf_skb_load_bytes_relative(skb, 0, &ip6, sizeof(ip6), BPF_HDR_START_NET))
		return -1;
	if (ip6.nexthdr != IPPROTO_TCP)
		return -1;
	plen = bpf_ntohs(ip6.payload_len);
	s->l4off = sizeof(ip6);
	s->iplen = plen ? sizeof(ip6) + plen : 0;
	s->key.family = 6;
	__builtin_memcpy(s->key.saddr, &ip6.saddr, 16);
	__builtin_memcpy(s->key.daddr, &ip6.daddr, 16);
	return 0;
}

static __always_inline int parse_tcp(struct __sk_buff *skb, struct seg *s)
{
	struct tcphdr th;

	if (bpf_skb_load_bytes_relative(skb, s->l4off, &th, sizeof(th), BPF_HDR_START_NET))
		return -1;
	if (th.doff < 5)
		return -1;
	s->hdrlen = s->l4off + th.doff * 4;
	s->sport = bpf_ntohs(th.source);
	s->dport = bpf_ntohs(th.dest);
	s->seq = bpf_ntohl(th.seq);
	s->syn_fin_rst = th.syn || th.fin || th.rst;
	s->key.sport = s->sport;
	s->key.dport = s->dport;
	return 0;
}

static __always_inline int parse_seg(struct __sk_buff *skb, struct seg *s)
{
	int err;

	if (skb->protocol == bpf_htons(ETH_P_IP))
		err = parse_ipv4(skb, s);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		err = parse_ipv6(skb, s);
	else
		return -1;
	return err ? err : parse_tcp(skb, s);
}

static __always_inline bool port_watched(const struct seg *s)
{
	__u16 sport = s->sport, dport = s->dport;

	return bpf_map_lookup_elem(&ports, &sport) || bpf_map_lookup_elem(&ports, &dport);
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
static __always_inline int keep_len(struct __sk_buff *skb, struct seg *s)
{
	/* Both candidates are read into scalars first: clang would otherwise
	 * share one load between the ctx and the stack pointer, which the
	 * verifier refuses ("same insn cannot be used with different pointers"). */
	__u32 full = skb->len, hdr = s->hdrlen, paylen;
	__u32 *until;

	barrier_var(full);
	barrier_var(hdr);
	until = bpf_map_lookup_elem(&skips, &s->key);
	if (!until || s->iplen == 0 || s->syn_fin_rst)
		return full;
	paylen = s->iplen > hdr ? s->iplen - hdr : 0;
	if ((__s32)(*until - (s->seq + paylen)) >= 0) {
		stat_inc(SOCKFILTER_STAT_CUT);
		stat_add(SOCKFILTER_STAT_CUT_BYTES, paylen);
		return hdr;
	}
	if ((__s32)(s->seq - *until) >= 0)
		bpf_map_delete_elem(&skips, &s->key);
	return full;
}

SEC("socket")
int sockfilter(struct __sk_buff *skb)
{
	struct seg s = {};

	stat_inc(SOCKFILTER_STAT_SEEN);
	/*
	 * A packet socket sees each loopback segment twice: leaving lo
	 * (OUTGOING) and coming back in (HOST). Keep the second copy only.
	 */
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == lo_ifindex)
		return 0;
	if (parse_seg(skb, &s) || !port_watched(&s) || !seg_useful(&s))
		return 0;
	stat_inc(SOCKFILTER_STAT_KEPT);
	return keep_len(skb, &s);
}

/* GPL-compatible so any helper stays usable; the source itself is MIT. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
