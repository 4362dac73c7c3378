/* SPDX-License-Identifier: MIT */
/*
 * target: which processes and ports l7top watches, from /proc alone.
 * The roots given with --pid and every descendant (NGINX's master and the
 * workers it forks), and the TCP ports any of them listens on, IPv4 and
 * IPv6 (socket inodes in /proc/PID/fd matched against /proc/PID/net/tcp{,6},
 * read through the target's own net namespace), the network namespaces
 * they live in, and the unix-socket listeners (/proc/PID/net/unix), which
 * packet capture cannot see and which are only named. Rescanned periodically so
 * new workers and listeners are picked up.
 */
#ifndef L7TOP_TARGET_H
#define L7TOP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "probes/proc_sockets.h"

#define TARGET_MAX_PIDS  1024
#define TARGET_MAX_PORTS 64
#define TARGET_MAX_NETNS 16
#define TARGET_MAX_UNIX  8
#define TARGET_UNIX_PATH 108                /* sun_path */
#define TARGET_MAX_ROOTS 16                 /* targets: --pid roots, each with its tree */
#define TARGET_MAX_LISTENERS 256

/* One network namespace the target's processes live in. */
struct target_netns {
	unsigned long ino;                  /* inode of /proc/PID/ns/net */
	pid_t pid;                          /* the first target process inside it */
	bool listens;                       /* the target has TCP listeners in it */
};

/* One root and its process tree: a target of its own in every output. */
struct target_root {
	pid_t pid;
	char comm[32];
};

/* A TCP listener, and the root whose tree holds its socket. */
struct target_listener {
	unsigned long netns;                /* inode of its network namespace */
	uint16_t port;
	uint8_t root;                       /* index into roots */
	bool loopback;                      /* bound to loopback addresses only */
};

struct target {
	size_t npids;
	pid_t pids[TARGET_MAX_PIDS];        /* existing roots first, then descendants */
	uint8_t pid_root[TARGET_MAX_PIDS];  /* the root each pid descends from */
	size_t nroots;
	struct target_root roots[TARGET_MAX_ROOTS];   /* in the order given; comm "" = gone */
	size_t nlisteners;
	struct target_listener listeners[TARGET_MAX_LISTENERS];
	size_t nports;
	uint16_t ports[TARGET_MAX_PORTS];   /* sorted, no duplicates */
	size_t nnetns;
	struct target_netns netns[TARGET_MAX_NETNS];  /* distinct, in pid order */
	size_t nunix;                       /* unix stream listeners: packet capture never sees */
	char unix_paths[TARGET_MAX_UNIX][TARGET_UNIX_PATH];  /* them; "@name" = abstract */
	char comm[32];                      /* comm of the first existing root */
	char cmdline[256];                  /* its command line, spaces for NULs,
					     * credentials redacted */
	bool pids_truncated, ports_truncated, netns_truncated, unix_truncated;
	bool roots_truncated, listeners_truncated;
	bool proc_truncated;                /* a /proc/net/{tcp,tcp6,unix} had more
					     * than TARGET_PROC_MAX_LINES rows */
};

/* Rows of /proc/PID/net/{tcp,tcp6,unix} read per scan (in tcp the
 * listeners come first). */
#define TARGET_PROC_MAX_LINES 1000000

/*
 * Scans proc_root ("/proc", or a fake tree in tests). Returns 0, or -ESRCH
 * when none of the roots exists. Listening on no port is not an error here;
 * the caller decides.
 */
int target_scan(const char *proc_root, const pid_t *roots, size_t nroots, struct target *out);
/*
 * The same with root i in target groups[i] (< TARGET_MAX_ROOTS): workers
 * that outlived their master stay one target, the master's. target_scan()
 * makes each distinct root the next target. Either way a target keeps its
 * index while its root is gone (roots[] entry with comm "").
 */
int target_scan_grouped(const char *proc_root, const pid_t *roots, const uint8_t *groups,
			size_t nroots, struct target *out);
/*
 * The socket inodes on the target's fds, read once per scan and shared by
 * its users (listeners here, peers, unix connections): with 10,000
 * connections each read of every fd cost the main loop ~0.5 s.
 */
struct sock_iter;

struct target_socks {
	struct inode_set all;                         /* every process's, sorted */
	struct inode_set from3;                       /* on fds 3 and up, sorted */
	struct inode_set per_root[TARGET_MAX_ROOTS];  /* each root's tree's, sorted */
	struct sock_iter *iter;   /* reads the fds when set (a process it cannot
				   * read, and NULL, go through /proc's links) */
};
/* target_scan_grouped, keeping the inodes it read in socks (free them with
 * target_socks_free, on error too); the fds are read through iter when
 * set (sock_iter.h), else through /proc/PID/fd's links. */
int target_scan_socks(const char *proc_root, const pid_t *roots, const uint8_t *groups,
		      size_t nroots, struct sock_iter *iter, struct target *out,
		      struct target_socks *socks);
/* Reads t's fds into socks (zero-init but for its iter): for a target scanned without. */
int target_socks_read(const char *proc_root, const struct target *t, struct target_socks *socks);
void target_socks_free(struct target_socks *socks);
/*
 * A name for people: "host" for the namespace of proc_root's PID 1 or of
 * l7top itself ("self"), the
 * name under netns_dir ("/run/netns", where `ip netns add` puts them) when
 * one is bound there, else "net:[INODE]".
 */
void target_netns_name(const char *proc_root, const char *netns_dir, unsigned long ino, char *buf,
		       size_t size);
/* Replaces, in place, the values of arguments that name credentials
 * (password, secret, token, key, auth, cred) with "***". */
void target_redact_cmdline(char *cmd, size_t size);
/*
 * A PID file (NGINX's /run/nginx.pid): one decimal PID, an optional newline,
 * at most TARGET_PIDFILE_MAX bytes. Returns 0, or -errno with a few words in
 * why (-EINVAL: empty or not a PID; -EFBIG: too long; open's errno).
 */
#define TARGET_PIDFILE_MAX 64
int target_read_pidfile(const char *path, pid_t *pid, char *why, size_t whylen);
/*
 * fgets for /proc files that never hands on part of a line: a line longer
 * than size - 1 is read to its end and skipped (*too_long, buf empty).
 * false at the end of the file.
 */
bool target_read_line(char *buf, size_t size, FILE *f, bool *too_long);
/* Exists and has not exited (a zombie has). */
bool target_alive(const char *proc_root, pid_t pid);
/* addr (network order; family 4 or 6, IPv4 in the first 4 bytes) is on
 * loopback: 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6. */
bool target_addr_loopback(int family, const uint8_t *addr);
/* Every listener of t is bound to a loopback address (and t has some):
 * then all of its traffic crosses lo, none another interface. */
bool target_listeners_loopback(const struct target *t);
/* Parses "123" or "123,456". Returns 0 or -EINVAL. */
int target_parse_pids(const char *arg, pid_t *pids, size_t max, size_t *n);

#endif
