/* SPDX-License-Identifier: MIT */
/*
 * tls_calls: what probes/tls_calls.bpf.c and probes/tls.c share.
 *
 * Uprobes on OpenSSL's SSL_read/SSL_write(_ex) read the plaintext inside
 * the server process; SSL_set_fd and SSL_free mark a connection's start
 * and end; SSL_set_fd's fd gives its peer. The calls reach user space
 * through ring buffer "rb" as struct tls_event records whose length
 * depends on the payload: a reader must check the record's size against
 * TLS_EVENT_HDR_SZ + data_len before reading the payload. Fork notices
 * (header only) come through a small ring of their own, "forks", so that
 * keys mode can follow forks without mapping "rb".
 *
 * Map "tgids": key __u32 tgid, value __u8 (ignored). User space fills it
 * with the target's processes; the fork hook reports their forks and adds
 * the children itself. Per-process uprobes need no filter; library-wide
 * ones (after a fork, see tls_calls.bpf.c) and the key probe filter on it.
 * Map "drops": per-CPU __u64 array, index 0, records either ring could
 * not take; user space sums the CPUs.
 */
#ifndef L7TOP_TLS_CALLS_H
#define L7TOP_TLS_CALLS_H

/* BPF side: vmlinux.h has the types; user side: the uapi header. */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * The largest payload one event carries. NGINX never hands SSL_write more
 * than 16 KiB with the default ssl_buffer_size and reads at most a TLS
 * record (16 KiB) per SSL_read, so this captures all it moves.
 */
#define TLS_DATA_MAX        16384
#define TLS_CAPTURE_DEFAULT 16384

/* The bpf_cookie of each uprobe link: which set it belongs to (see lib_wide). */
enum tls_link_kind {
	TLS_LINK_PID = 1,    /* attached to one process */
	TLS_LINK_LIB = 2,    /* attached to the library (pid -1), filtered on "tgids" */
};

enum tls_event_kind {
	TLS_EV_DATA = 1,     /* SSL_read/SSL_write returned data */
	TLS_EV_CLOSE,        /* SSL_free */
	TLS_EV_CONN,         /* SSL_set_fd: the SSL* meets its socket (peer if INET) */
	TLS_EV_FORK,         /* a target process forked: attach to the child now */
};

enum tls_dir {
	TLS_DIR_READ = 0,    /* server read: request bytes */
	TLS_DIR_WRITE = 1,   /* server wrote: response bytes */
};

/*
 * One record. Fixed-width fields, kind first, the payload last so a record
 * can stop right after the bytes it carries. Field meaning by kind:
 *   DATA : tgid tid conn_id dir ts len data_len data[]
 *   CLOSE: tgid tid conn_id ts
 *   CONN : tgid tid conn_id ts fd; family/port/addr of the fd's peer
 *          (family 0 = not an INET socket)
 *   FORK : tgid = parent, tid = child pid, ts
 */
struct tls_event {
	__u32 kind;
	__u32 tgid;
	__u32 tid;
	__u32 dir;
	__u64 conn_id;       /* the SSL* in the server: unique while the connection lives */
	__u64 ts;            /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 len;           /* the call's true length (DATA) */
	__u32 data_len;      /* payload bytes that follow (<= len, <= TLS_DATA_MAX) */
	__s32 fd;
	__u16 family;        /* AF_INET, AF_INET6 or 0 */
	__u16 port;          /* peer port, host order */
	__u8 addr[16];       /* peer address, network order (4 bytes for AF_INET) */
	__u16 lport;         /* CONN: the socket's own port, host order */
	__u16 pad;
	__u8 laddr[16];      /* CONN: its own address, network order */
	__u32 netns;         /* CONN: inode of the socket's network namespace */
	__u8 data[TLS_DATA_MAX];
};

/* Bytes before the payload: a record is TLS_EVENT_HDR_SZ + data_len long. */
#define TLS_EVENT_HDR_SZ __builtin_offsetof(struct tls_event, data)

#endif
