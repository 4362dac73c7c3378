// SPDX-License-Identifier: MIT
/*
 * TLS plaintext at the OpenSSL boundary. Uprobes on SSL_read/SSL_write and
 * their _ex variants save (SSL*, buffer) at entry; the return probe copies
 * what the call really moved into the ring buffer. SSL_set_fd ties an SSL*
 * to its socket (the peer is read from the kernel's socket), SSL_free
 * ends it. A fork of a target process is reported at once so
 * user space attaches to new NGINX workers before they take traffic.
 *
 * Thin on purpose: no parsing here, and no wake-up per event (see emit()).
 * A target of one process gets per-process uprobes (cookie TLS_LINK_PID),
 * which keep every other process mapping libssl untrapped, until it forks:
 * a child would run unprobed until user space attached to it, so the
 * loader then moves them to the library itself (cookie TLS_LINK_LIB, every
 * process traps) and they filter on "tgids", which the fork hook extends
 * in the kernel before the child runs. A target of several processes is on
 * the library from the start (see tls.c). Until "lib_wide" flips, the
 * library ones serve only processes without per-process links
 * ("pid_linked"); the flip then moves the rest at once, so no call is seen
 * twice or not at all (see call_wanted() for the SSL calls themselves).
 * Every hook here is a uprobe or BTF-typed: none needs tracefs mounted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tls_calls.h"

#define AF_INET  2
#define AF_INET6 10

/* Set through skel->rodata before load. */
const volatile __u32 capture_bytes = TLS_CAPTURE_DEFAULT;
/* 0: the per-process uprobes are live; 1: the library ones. Written by user space. */
volatile __u32 lib_wide;

/*
 * --tls auto switched a keys-mode target to calls for its new connections:
 * only an SSL* that met its socket (SSL_set_fd) after the switch is read
 * here; the connections opened before it stay with the keys path (their
 * ciphertext is decrypted from the wire), so no request is read twice.
 */
volatile __u32 new_only;

struct fresh_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fresh_key);
	__type(value, __u8);
} fresh SEC(".maps");

/* Wake the reader only once this much waits; it also drains on a timer. */
const volatile __u64 wake_bytes = 256 * 1024;

/* The calls probes' events. Mapped (twice: its size is RSS twice over) only
 * when a calls probe first attaches, so keys mode and auto before a switch
 * do not hold it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} rb SEC(".maps");

/* Fork notices, in every mode: a ring of their own, mapped from the start. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024);         /* ~170 notices of 96 bytes between reads */
} forks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

/*
 * Target processes that have per-process uprobes. Before lib_wide flips,
 * the library uprobes serve the others (children forked since), so a child
 * is read from the moment its library uprobe exists, with no call twice.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} pid_linked SEC(".maps");

/* An SSL call in flight, from entry to return, per thread. */
struct call {
	__u64 ssl;
	__u64 buf;
	__u64 out_sz;   /* _ex: where the call stores its byte count; 0 otherwise */
	__u32 dir;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);            /* pid_tgid */
	__type(value, struct call);
} calls SEC(".maps");

/*
 * Data events are built here and copied out with bpf_ringbuf_output() at
 * their true size. bpf_ringbuf_reserve() needs a constant size: reserving
 * TLS_DATA_MAX for every call would spend 16 KiB of ring on a 100-byte
 * request, so a 16 MiB ring would hold ~1000 events; the extra copy costs
 * far less than the uprobe trap itself.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_event);
} scratch SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&drops, &zero);

	if (v)
		(*v)++;
}

/* No wake-up per event: only when the reader has fallen this far behind. */
static __always_inline __u64 wake_flags(void)
{
	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) > wake_bytes ? BPF_RB_FORCE_WAKEUP
								      : BPF_RB_NO_WAKEUP;
}

static __always_inline bool tgid_watched(__u32 tgid)
{
	return bpf_map_lookup_elem(&tgids, &tgid) != NULL;
}

/* A header-only record (CLOSE, CONN, FORK), zeroed; NULL when the ring is full. */
static __always_inline struct tls_event *reserve_hdr(__u32 kind)
{
	struct tls_event *e = bpf_ringbuf_reserve(&rb, TLS_EVENT_HDR_SZ, 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		count_drop();
		return NULL;
	}
	__builtin_memset(e, 0, TLS_EVENT_HDR_SZ);
	e->kind = kind;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->ts = bpf_ktime_get_ns();
	return e;
}

/* Is this entry probe hit one to record? (Return probes follow their entry.) */
static __always_inline bool hit_wanted(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_get_attach_cookie(ctx) == TLS_LINK_LIB)
		return tgid_watched(tgid) && (lib_wide || !bpf_map_lookup_elem(&pid_linked, &tgid));
	return !lib_wide;
}

/*
 * An SSL_read/SSL_write entry: while both kinds of link exist, both take
 * it. The per-thread entry in "calls" is one whichever took it, and one
 * return reports it, so nothing is read twice; and no flip of lib_wide can
 * fall between the two links' decisions on one call and leave it to
 * neither, as hit_wanted() could.
 */
static __always_inline bool call_wanted(void *ctx)
{
	if (bpf_get_attach_cookie(ctx) == TLS_LINK_LIB)
		return tgid_watched(bpf_get_current_pid_tgid() >> 32);
	return true;
}

/* new_only: is ssl one of the connections the calls path reads? */
static __always_inline bool conn_fresh(void *ssl)
{
	struct fresh_key k = { .ssl = (__u64)ssl, .tgid = bpf_get_current_pid_tgid() >> 32 };

	return !new_only || bpf_map_lookup_elem(&fresh, &k) != NULL;
}

static __always_inline int call_enter(void *ctx, void *ssl, const void *buf, size_t *out_sz,
				      __u32 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call c = {
		.ssl = (__u64)ssl,
		.buf = (__u64)buf,
		.out_sz = (__u64)out_sz,
		.dir = dir,
	};

	if (!call_wanted(ctx) || !conn_fresh(ssl))
		return 0;
	bpf_map_update_elem(&calls, &id, &c, BPF_ANY);
	return 0;
}

/* ret: the call's return value; for _ex calls 1 means *out_sz bytes moved. */
static __always_inline int call_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &id);
	__u32 zero = 0;
	struct tls_event *e;
	__u64 moved = 0;
	long n;

	if (!c)
		return 0;
	if (c->out_sz) {
		if (ret == 1)
			bpf_probe_read_user(&moved, sizeof(moved), (void *)c->out_sz);
	} else if (ret > 0) {
		moved = ret;
	}
	if (!moved || moved > 0xffffffffull)
		goto out;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		goto out;
	e->kind = TLS_EV_DATA;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->dir = c->dir;
	e->conn_id = c->ssl;
	e->ts = bpf_ktime_get_ns();
	e->len = (__u32)moved;
	e->fd = -1;
	e->family = 0;
	e->port = 0;
	/*
	 * A 64-bit clamp plus barrier_var: clang 14 otherwise hands the helper
	 * the unclamped register and the verifier rejects it. Masking with
	 * (MAX - 1) would pass but copy nothing for exactly MAX bytes.
	 */
	n = moved;
	if (n > capture_bytes)
		n = capture_bytes;
	if (n > TLS_DATA_MAX)
		n = TLS_DATA_MAX;
	if (n < 0)
		n = 0;
	barrier_var(n);
	if (bpf_probe_read_user(e->data, n, (void *)c->buf))
		n = 0;      /* page not present: keep the length, the parser skips the gap */
	e->data_len = n;
	if (bpf_ringbuf_output(&rb, e, TLS_EVENT_HDR_SZ + n, wake_flags()))
		count_drop();
out:
	bpf_map_delete_elem(&calls, &id);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return call_enter(ctx, ssl, buf, NULL, TLS_DIR_READ);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_exit, int ret)
{
	return call_exit(ret);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return call_enter(ctx, ssl, buf, NULL, TLS_DIR_WRITE);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_exit, int ret)
{
	return call_exit(ret);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return call_enter(ctx, ssl, buf, readbytes, TLS_DIR_READ);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_exit, int ret)
{
	return call_exit(ret);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written)
{
	return call_enter(ctx, ssl, buf, written, TLS_DIR_WRITE);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_exit, int ret)
{
	return call_exit(ret);
}

/* Bounds the fd table walk; an fd past it is reported without a peer. */
#define FD_MAX (1 << 20)
#define S_IFMT   00170000
#define S_IFSOCK 0140000

/*
 * The peer of the calling process's socket fd, read from the kernel's own
 * socket (no accept hook, so no tracefs and no trap per accept). Leaves
 * e->family 0 when fd is not an INET socket.
 */
static __always_inline void read_peer(struct tls_event *e, int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *f = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (fd < 0 || fd >= FD_MAX || (unsigned int)fd >= max)
		return;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(e->addr, &a, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return;
	}
	e->family = family;
	e->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (family == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		__builtin_memcpy(e->laddr, &a, 4);
	} else {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	}
}

/*
 * The SSL* meets its socket: report the socket's peer. With new_only, the
 * SSL* is marked fresh before its report is reserved: a full ring loses
 * the report (counted), not every request the connection will carry.
 */
SEC("uprobe")
int BPF_KPROBE(ssl_set_fd, void *ssl, int fd)
{
	struct fresh_key k = { .ssl = (__u64)ssl, .tgid = bpf_get_current_pid_tgid() >> 32 };
	struct tls_event *e;
	__u8 one = 1;

	if (!hit_wanted(ctx))
		return 0;
	if (new_only)
		bpf_map_update_elem(&fresh, &k, &one, BPF_ANY);
	e = reserve_hdr(TLS_EV_CONN);
	if (e) {
		e->conn_id = (__u64)ssl;
		e->fd = fd;
		read_peer(e, fd);
		bpf_ringbuf_submit(e, wake_flags());
	}
	return 0;
}

/* The SSL* ends: reported if it was read here, forgotten either way. */
SEC("uprobe")
int BPF_KPROBE(ssl_free, void *ssl)
{
	struct fresh_key k = { .ssl = (__u64)ssl, .tgid = bpf_get_current_pid_tgid() >> 32 };
	struct tls_event *e;

	if (!hit_wanted(ctx) || !conn_fresh(ssl))
		return 0;
	if (new_only)
		bpf_map_delete_elem(&fresh, &k);
	e = reserve_hdr(TLS_EV_CLOSE);
	if (e) {
		e->conn_id = (__u64)ssl;
		bpf_ringbuf_submit(e, wake_flags());
	}
	return 0;
}

/*
 * A target process forked (NGINX reload, a worker respawned). The child is
 * watched by the fork hook at once; user space attaches the uprobes when
 * this event wakes it, which is why it forces a wake-up. New threads share
 * the process's uprobes and are not reported.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct tls_event *e;
	__u8 one = 1;

	if (ctgid == ptgid || !tgid_watched(ptgid))
		return 0;
	bpf_map_update_elem(&tgids, &ctgid, &one, BPF_ANY);
	e = bpf_ringbuf_reserve(&forks, TLS_EVENT_HDR_SZ, 0);
	if (!e) {
		count_drop();
		return 0;
	}
	__builtin_memset(e, 0, TLS_EVENT_HDR_SZ);
	e->kind = TLS_EV_FORK;
	e->tgid = ptgid;
	e->tid = ctgid;
	e->ts = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
