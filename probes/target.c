// SPDX-License-Identifier: MIT
#include "probes/target.h"

#include "probes/proc_sockets.h"
#include "probes/sock_iter.h"
#include "probes/tcp_diag.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TCP_LISTEN 0x0A   /* st column of /proc/net/tcp */
#define TCP_SYN_RECV 0x03
#define UNIX_ACCEPTCON 0x10000   /* Flags column of /proc/net/unix: a listener */
#define UNIX_STREAM 1            /* Type column: SOCK_STREAM */

struct proc_pair {
	pid_t pid, ppid;
};

static int target_cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static bool target_has_pid(const struct target *t, pid_t pid)
{
	for (size_t i = 0; i < t->npids; i++)
		if (t->pids[i] == pid)
			return true;
	return false;
}

/* root: the index of the root whose tree pid is in. */
static void target_add_pid(struct target *t, pid_t pid, uint8_t root)
{
	if (target_has_pid(t, pid))
		return;
	if (t->npids == TARGET_MAX_PIDS) {
		t->pids_truncated = true;
		return;
	}
	t->pid_root[t->npids] = root;
	t->pids[t->npids++] = pid;
}

static bool target_is_pid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* ppid from a stat line; comm may hold spaces and ')', so start after the last ')'. */
static int target_read_ppid(const char *proc_root, const char *pid, pid_t *ppid)
{
	char path[PATH_MAX], line[1024];
	const char *p;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s/stat", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	p = ok ? strrchr(line, ')') : NULL;
	if (!p || sscanf(p + 1, " %*c %d", ppid) != 1)
		return -EINVAL;
	return 0;
}

/* Every (pid, ppid) under proc_root; processes that vanish meanwhile are skipped. */
static int target_read_pairs(const char *proc_root, struct proc_pair **out, size_t *n)
{
	struct proc_pair *v = NULL, *nv;
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir(proc_root);

	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		pid_t ppid;

		if (!target_is_pid_name(de->d_name) || target_read_ppid(proc_root, de->d_name, &ppid))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[*n].pid = (pid_t)atoi(de->d_name);
		v[(*n)++].ppid = ppid;
	}
	closedir(d);
	*out = v;
	return 0;
}

/* Adds the pids listed in one children file ("12 34 "). */
static void target_add_listed(struct target *t, FILE *f, uint8_t root)
{
	long pid;

	while (fscanf(f, "%ld", &pid) == 1)
		if (pid > 0 && pid <= INT32_MAX)
			target_add_pid(t, (pid_t)pid, root);
}

/*
 * pid's children from /proc/PID/task/TID/children (a child is listed
 * under the thread that forked it): the tree's own files, not the stat of
 * every process of the machine, which a server forking a child per
 * connection made l7top read at every fork (38% of its CPU). 0 (none, or
 * pid gone meanwhile); -ENOTSUP when the files do not exist
 * (CONFIG_PROC_CHILDREN off, a fake /proc): then the caller reads stats.
 */
static int target_read_children(const char *proc_root, pid_t pid, struct target *t, uint8_t root)
{
	char path[PATH_MAX];
	struct dirent *de;
	int err = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%d/task", proc_root, (int)pid);
	if (!(d = opendir(path))) {
		if (errno != ENOENT && errno != ESRCH)
			return -errno;
		snprintf(path, sizeof(path), "%s/%d", proc_root, (int)pid);
		return access(path, F_OK) ? 0 : -ENOTSUP;   /* gone meanwhile, or no task files */
	}
	while (!err && (de = readdir(d))) {
		FILE *f;

		if (!target_is_pid_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%d/task/%s/children", proc_root, (int)pid, de->d_name);
		if (!(f = fopen(path, "re"))) {
			/* a thread gone meanwhile has no children left; no file at all, no support */
			snprintf(path, sizeof(path), "%s/%d/task/%s", proc_root, (int)pid, de->d_name);
			err = access(path, F_OK) ? 0 : -ENOTSUP;
			continue;
		}
		target_add_listed(t, f, root);
		fclose(f);
	}
	closedir(d);
	return err;
}

/* Breadth-first: pids[] grows while we walk it, so grandchildren follow. */
static int target_add_descendants(const char *proc_root, struct target *t)
{
	struct proc_pair *pairs = NULL;
	size_t npairs;
	int err = 0;

	for (size_t i = 0; i < t->npids && !err; i++)
		err = target_read_children(proc_root, t->pids[i], t, t->pid_root[i]);
	if (err != -ENOTSUP)
		return err;
	if ((err = target_read_pairs(proc_root, &pairs, &npairs)))
		return err;
	for (size_t i = 0; i < t->npids; i++)
		for (size_t j = 0; j < npairs; j++)
			if (pairs[j].ppid == t->pids[i])
				target_add_pid(t, pairs[j].pid, t->pid_root[i]);
	free(pairs);
	return 0;
}

static void target_add_port(struct target *t, uint16_t port)
{
	for (size_t i = 0; i < t->nports; i++)
		if (t->ports[i] == port)
			return;
	if (t->nports == TARGET_MAX_PORTS) {
		t->ports_truncated = true;
		return;
	}
	t->ports[t->nports++] = port;
}

bool target_read_line(char *buf, size_t size, FILE *f, bool *too_long)
{
	size_t n;

	*too_long = false;
	if (!fgets(buf, (int)size, f))
		return false;
	n = strlen(buf);
	if (n && buf[n - 1] != '\n' && !feof(f)) {
		int ch;

		*too_long = true;            /* skip the rest: never parse a fragment */
		while ((ch = fgetc(f)) != EOF && ch != '\n')
			;
		buf[0] = '\0';
	}
	return true;
}

/*
 * Rows look alike in tcp and tcp6, only the address width differs:
 *   sl local:port rem:port st tx:rx tr:when retrnsmt uid timeout inode ...
 */
/* The root holding socket ino (per-root inode sets, sorted). */
static uint8_t target_root_of(const struct target *t, const struct inode_set *per_root,
			      unsigned long ino)
{
	for (size_t r = 0; r < t->nroots; r++)
		if (inode_set_has(&per_root[r], ino))
			return (uint8_t)r;
	return 0;
}

bool target_addr_loopback(int family, const uint8_t *addr)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (family == 4)
		return addr[0] == 127;
	if (family != 6)
		return false;
	if (!memcmp(addr, mapped, sizeof(mapped)))
		return addr[12] == 127;
	for (int i = 0; i < 15; i++)
		if (addr[i])
			return false;
	return addr[15] == 1;
}

/* One port may be bound on several addresses: loopback only if all are. */
static void target_add_listener(struct target *t, unsigned long netns, uint16_t port, uint8_t root,
				bool loopback)
{
	for (size_t i = 0; i < t->nlisteners; i++)
		if (t->listeners[i].netns == netns && t->listeners[i].port == port) {
			t->listeners[i].loopback &= loopback;
			return;
		}
	if (t->nlisteners == TARGET_MAX_LISTENERS) {
		t->listeners_truncated = true;
		return;
	}
	t->listeners[t->nlisteners++] = (struct target_listener){ netns, port, root, loopback };
}

bool target_listeners_loopback(const struct target *t)
{
	if (!t->nlisteners || t->listeners_truncated)
		return false;
	for (size_t i = 0; i < t->nlisteners; i++)
		if (!t->listeners[i].loopback)
			return false;
	return true;
}

/*
 * A local address as /proc/net/tcp{,6} prints it: 8 or 32 hex digits, each
 * group of 8 a 32-bit word of the address in this machine's byte order.
 */
static bool target_proc_addr_loopback(const char *hex)
{
	size_t n = strlen(hex);
	uint8_t addr[16];

	if (n != 8 && n != 32)
		return false;
	for (size_t w = 0; w < n / 8; w++) {
		char word[9];
		uint32_t v;

		memcpy(word, hex + 8 * w, 8);
		word[8] = '\0';
		v = (uint32_t)strtoul(word, NULL, 16);
		memcpy(addr + 4 * w, &v, 4);
	}
	return target_addr_loopback(n == 8 ? 4 : 6, addr);
}

/* Returns how many of the target's listeners the table lists; each is
 * noted with its namespace (netns) and the root whose tree holds it. */
static int target_read_listeners(const char *path, const struct inode_set *s,
				 const struct inode_set *per_root, unsigned long netns,
				 struct target *t)
{
	char line[512];
	size_t lines = 0;
	bool too_long;
	FILE *f = fopen(path, "re");
	int found = 0;

	if (!f)
		return 0;   /* no IPv6, or the process exited */
	while (target_read_line(line, sizeof(line), f, &too_long)) {
		unsigned port, st;
		unsigned long ino;
		char local[40];

		/* The kernel lists listeners first; a huge table only costs us
		 * its established rows, which we do not need. */
		if (++lines > TARGET_PROC_MAX_LINES) {
			t->proc_truncated = true;
			break;
		}
		if (too_long)
			continue;
		if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   local, &port, &st, &ino) != 4)
			continue;   /* the header line */
		if (st == TCP_LISTEN && inode_set_has(s, ino)) {
			target_add_port(t, (uint16_t)port);
			target_add_listener(t, netns, (uint16_t)port, target_root_of(t, per_root, ino),
					    target_proc_addr_loopback(local));
			found++;
		}
		/* The kernel prints its listening hash first, then the
		 * established one (since 4.4 SYN_RECV rows live there too):
		 * the first such row ends the listeners. Stopping here keeps
		 * the kernel from formatting, and us from scanning, a row per
		 * connection of the machine every rescan (20,000 connections
		 * cost l7top 2 % of a CPU at rest). */
		if (st != TCP_LISTEN && st != TCP_SYN_RECV)
			break;
	}
	fclose(f);
	return found;
}

/*
 * pid's network namespace: its inode in *ino and its index in t->netns, or
 * -1 when it is not listed yet; -2 when the process is gone.
 */
static int target_netns_find(const char *proc_root, const struct target *t, pid_t pid,
			     unsigned long *ino)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/ns/net", proc_root, pid);
	if (stat(path, &st))
		return -2;
	*ino = (unsigned long)st.st_ino;
	for (size_t i = 0; i < t->nnetns; i++)
		if (t->netns[i].ino == *ino)
			return (int)i;
	return -1;
}

/* pid's namespace holds TCP listeners of the target: packets there are ours. */
static void target_netns_listens(const char *proc_root, struct target *t, pid_t pid)
{
	unsigned long ino;
	int i = target_netns_find(proc_root, t, pid, &ino);

	if (i >= 0)
		t->netns[i].listens = true;
}

static void target_add_unix(struct target *t, const char *path)
{
	for (size_t i = 0; i < t->nunix; i++)
		if (!strcmp(t->unix_paths[i], path))
			return;
	if (t->nunix == TARGET_MAX_UNIX) {
		t->unix_truncated = true;
		return;
	}
	snprintf(t->unix_paths[t->nunix++], TARGET_UNIX_PATH, "%s", path);
}

/*
 *   Num RefCount Protocol Flags Type St Inode Path
 *   0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/x.sock
 * A listener has __SO_ACCEPTCON in Flags; an unnamed one has no path.
 */
static void target_read_unix(const char *path, const struct inode_set *s, struct target *t)
{
	char line[512];
	size_t lines = 0;
	bool too_long;
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (target_read_line(line, sizeof(line), f, &too_long)) {
		unsigned long flags, ino;
		unsigned type;
		char name[TARGET_UNIX_PATH] = "";

		if (++lines > TARGET_PROC_MAX_LINES) {
			t->proc_truncated = true;
			break;
		}
		if (too_long)
			continue;

		if (sscanf(line, "%*s %*x %*x %lx %x %*x %lu %107s", &flags, &type, &ino, name) < 3)
			continue;   /* the header line */
		if ((flags & UNIX_ACCEPTCON) && type == UNIX_STREAM &&
		    inode_set_has(s, ino))
			target_add_unix(t, name[0] ? name : "(unnamed)");
	}
	fclose(f);
}

/*
 * /proc/PID/net/tcp lists the sockets of PID's net namespace. Reading it
 * once per process would be wasteful with many workers: read it for the
 * roots (which normally share the workers' namespace), then for any
 * process whose namespace differs from the roots'.
 */
static bool target_same_netns(const char *proc_root, pid_t a, pid_t b)
{
	char pa[PATH_MAX], pb[PATH_MAX], la[64], lb[64];
	ssize_t na, nb;

	snprintf(pa, sizeof(pa), "%s/%d/ns/net", proc_root, a);
	snprintf(pb, sizeof(pb), "%s/%d/ns/net", proc_root, b);
	na = readlink(pa, la, sizeof(la));
	nb = readlink(pb, lb, sizeof(lb));
	return na > 0 && na == nb && !memcmp(la, lb, (size_t)na);
}

int target_socks_read(const char *proc_root, const struct target *t, struct target_socks *k)
{
	int err = 0;

	for (size_t i = 0; i < t->npids && !err; i++) {
		struct inode_set *own = &k->per_root[t->pid_root[i]];
		/* a fake tree (tests) has links only */
		int rc = k->iter && !strcmp(proc_root, "/proc") ?
			 sock_iter_read(k->iter, t->pids[i], 3, own, &k->from3) : -ENOTSUP;
		if (rc == 0 || rc == -ENOMEM) {
			err = rc;
			continue;
		}
		/* what a failed read added comes again: a set may hold an inode twice */
		err = proc_socket_inodes(proc_root, t->pids[i], 3, own, &k->from3);
	}
	for (size_t r = 0; r < t->nroots && !err; r++) {
		inode_set_sort(&k->per_root[r]);
		for (size_t j = 0; j < k->per_root[r].n && !err; j++)
			err = inode_set_add(&k->all, k->per_root[r].v[j]);
	}
	if (!err) {
		inode_set_sort(&k->all);
		inode_set_sort(&k->from3);
	}
	return err;
}

void target_socks_free(struct target_socks *k)
{
	inode_set_free(&k->all);
	inode_set_free(&k->from3);
	for (size_t r = 0; r < TARGET_MAX_ROOTS; r++)
		inode_set_free(&k->per_root[r]);
}

struct listen_acc {
	const struct inode_set *s, *per_root;
	unsigned long netns;
	struct target *t;
	int found;
};

static void target_listen_cb(const struct tcp_diag_sock *d, void *ctx)
{
	struct listen_acc *a = ctx;

	if (!inode_set_has(a->s, d->inode))
		return;
	target_add_port(a->t, d->sport);
	target_add_listener(a->t, a->netns, d->sport, target_root_of(a->t, a->per_root, d->inode),
			    target_addr_loopback(d->family, d->src));
	a->found++;
}

/*
 * pid's namespace's listeners from sock_diag: the kernel walks its
 * listening hash only, where /proc/net/tcp goes on to look for the first
 * established row (a walk of every bucket of the established hash).
 * How many are the target's, or -errno: then read /proc's tables.
 */
static int target_diag_listeners(pid_t pid, const struct inode_set *s,
				 const struct inode_set *per_root, unsigned long netns,
				 struct target *t)
{
	struct target saved = *t;
	struct listen_acc a = { s, per_root, netns, t, 0 };
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if ((fd = tcp_diag_open(path)) < 0)
		return fd;
	err = tcp_diag_dump(fd, AF_INET, 1u << TCP_LISTEN, NULL, 0, target_listen_cb, &a);
	if (!err)
		err = tcp_diag_dump(fd, AF_INET6, 1u << TCP_LISTEN, NULL, 0, target_listen_cb, &a);
	close(fd);
	if (err)
		*t = saved;                  /* the tables give them all again */
	return err ? err : a.found;
}

/* The target's listeners in pid's namespace (netns); how many. */
static int target_find_listeners(const char *proc_root, pid_t pid, const struct inode_set *s,
				 const struct inode_set *per_root, unsigned long netns,
				 struct target *t)
{
	char path[PATH_MAX];
	int found;

	/* a fake tree (tests) has tables, not sockets */
	if (!strcmp(proc_root, "/proc")) {
		found = target_diag_listeners(pid, s, per_root, netns, t);
		if (found >= 0)
			return found;
	}
	snprintf(path, sizeof(path), "%s/%d/net/tcp", proc_root, pid);
	found = target_read_listeners(path, s, per_root, netns, t);
	snprintf(path, sizeof(path), "%s/%d/net/tcp6", proc_root, pid);
	return found + target_read_listeners(path, s, per_root, netns, t);
}

static int target_add_ports(const char *proc_root, struct target *t, struct target_socks *k)
{
	const struct inode_set *s = &k->all;
	char path[PATH_MAX];
	int err = target_socks_read(proc_root, t, k);

	if (!err && s->n) {
		for (size_t i = 0; i < t->npids; i++) {
			if (i > 0 && target_same_netns(proc_root, t->pids[0], t->pids[i]))
				continue;
			unsigned long ns = 0;
			int found;

			target_netns_find(proc_root, t, t->pids[i], &ns);
			found = target_find_listeners(proc_root, t->pids[i], s, k->per_root, ns, t);
			if (found)
				target_netns_listens(proc_root, t, t->pids[i]);
			snprintf(path, sizeof(path), "%s/%d/net/unix", proc_root, t->pids[i]);
			target_read_unix(path, s, t);
		}
		qsort(t->ports, t->nports, sizeof(*t->ports), target_cmp_u16);
	}
	return err;
}

/* Reads a small /proc file whole; NULs become spaces (cmdline), the trailing newline goes. */
static void target_read_text(const char *proc_root, pid_t pid, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/%s", proc_root, pid, name);
	f = fopen(path, "re");
	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
}

/* Does this word name a credential ("--password", "DB_TOKEN", "apiKey")? */
static bool word_is_secret(const char *w, size_t n)
{
	static const char *const names[] = { "pass", "secret", "token", "key", "auth", "cred" };
	char low[64];

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)w[i]);
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(low, names[i]))
			return true;
	return false;
}

/*
 * Command lines carry credentials (`-Dspring.datasource.password=...`,
 * `--token abc`) and this one ends up in the DB's sessions table: values of
 * such arguments become "***", in place.
 */
void target_redact_cmdline(char *cmd, size_t size)
{
	char out[sizeof(((struct target *)0)->cmdline) * 2];
	size_t o = 0;
	bool hide_next = false;

	for (const char *p = cmd; *p;) {
		if (*p == ' ') {
			if (o + 1 < sizeof(out))
				out[o++] = *p;
			p++;
			continue;
		}
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		size_t n = (size_t)(p - w);
		const char *eq = memchr(w, '=', n);
		size_t keep = n;                 /* bytes of the word kept as they are */
		if (hide_next)
			keep = 0;
		else if (eq && word_is_secret(w, (size_t)(eq - w)))
			keep = (size_t)(eq - w) + 1;
		hide_next = !eq && w[0] == '-' && word_is_secret(w, n);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%.*s%s", (int)keep, w,
				      keep < n ? "***" : "");
		if (o >= sizeof(out))
			o = sizeof(out) - 1;
	}
	out[o] = '\0';
	snprintf(cmd, size, "%s", out);
}

/* Records pid's network namespace when it is not listed yet. Gone processes are skipped. */
static void target_add_netns(const char *proc_root, struct target *t, pid_t pid)
{
	unsigned long ino;

	if (target_netns_find(proc_root, t, pid, &ino) != -1)
		return;
	if (t->nnetns == TARGET_MAX_NETNS) {
		t->netns_truncated = true;
		return;
	}
	t->netns[t->nnetns++] = (struct target_netns){ .ino = ino, .pid = pid };
}

void target_netns_name(const char *proc_root, const char *netns_dir, unsigned long ino, char *buf,
		       size_t size)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	/* l7top itself normally runs on the host; in a container its PID 1 may not. */
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s/ns/net", proc_root, i ? "self" : "1");
		if (!stat(path, &st) && (unsigned long)st.st_ino == ino) {
			snprintf(buf, size, "host");
			return;
		}
	}
	snprintf(buf, size, "net:[%lu]", ino);
	if (!(d = opendir(netns_dir)))
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", netns_dir, de->d_name);
		if (!stat(path, &st) && (unsigned long)st.st_ino == ino) {
			snprintf(buf, size, "%s", de->d_name);
			break;
		}
	}
	closedir(d);
}

/* A zombie has exited: it only waits for its parent to reap it. */
bool target_alive(const char *proc_root, pid_t pid)
{
	char path[PATH_MAX], line[1024];
	const char *p;
	char state = 0;
	FILE *f;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid);
	if (!(f = fopen(path, "re")))
		return false;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p + 1, " %c", &state) != 1)
		return true;                 /* unreadable state: it exists */
	return state != 'Z' && state != 'X';
}

/*
 * Root i belongs to target groups[i] (NULL: each distinct root is the next
 * target). Indices stay as given whether a root is alive or not, so a
 * target keeps its index (its rows) when another one exits; a group is
 * named after its first live root.
 */
static void target_add_roots(const char *proc_root, const pid_t *roots, const uint8_t *groups,
			     size_t nroots, struct target *out)
{
	size_t next = 0;

	for (size_t i = 0; i < nroots; i++) {
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = roots[j] == roots[i];
		if (dup)
			continue;
		size_t g = groups ? groups[i] : next++;
		if (g >= TARGET_MAX_ROOTS) {
			/* its tree counts with the last target's: watched, not told apart */
			out->roots_truncated = true;
			g = TARGET_MAX_ROOTS - 1;
		}
		if (g >= out->nroots) {
			out->nroots = g + 1;
			out->roots[g].pid = roots[i];
		}
		if (!target_alive(proc_root, roots[i]))
			continue;
		struct target_root *r = &out->roots[g];
		if (!r->comm[0]) {
			r->pid = roots[i];
			target_read_text(proc_root, roots[i], "comm", r->comm, sizeof(r->comm));
		}
		target_add_pid(out, roots[i], (uint8_t)g);
	}
}

int target_scan_grouped(const char *proc_root, const pid_t *roots, const uint8_t *groups,
			size_t nroots, struct target *out)
{
	struct target_socks k = { 0 };
	int err = target_scan_socks(proc_root, roots, groups, nroots, NULL, out, &k);

	target_socks_free(&k);
	return err;
}

int target_scan_socks(const char *proc_root, const pid_t *roots, const uint8_t *groups,
		      size_t nroots, struct sock_iter *iter, struct target *out,
		      struct target_socks *socks)
{
	int err;

	*socks = (struct target_socks){ .iter = iter };
	memset(out, 0, sizeof(*out));
	target_add_roots(proc_root, roots, groups, nroots, out);
	if (out->npids == 0)
		return -ESRCH;
	target_read_text(proc_root, out->pids[0], "comm", out->comm, sizeof(out->comm));
	target_read_text(proc_root, out->pids[0], "cmdline", out->cmdline, sizeof(out->cmdline));
	target_redact_cmdline(out->cmdline, sizeof(out->cmdline));
	err = target_add_descendants(proc_root, out);
	for (size_t i = 0; !err && i < out->npids; i++)
		target_add_netns(proc_root, out, out->pids[i]);
	if (!err)
		err = target_add_ports(proc_root, out, socks);
	return err;
}

int target_scan(const char *proc_root, const pid_t *roots, size_t nroots, struct target *out)
{
	return target_scan_grouped(proc_root, roots, NULL, nroots, out);
}

int target_parse_pids(const char *arg, pid_t *pids, size_t max, size_t *n)
{
	const char *p = arg;

	*n = 0;
	for (;;) {
		char *end;
		long v;

		/* strtol alone would accept " 1", "+1" and "-1". */
		if (!isdigit((unsigned char)*p) || *n == max)
			return -EINVAL;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || v <= 0 || v > INT_MAX || (*end != ',' && *end != '\0'))
			return -EINVAL;
		pids[(*n)++] = (pid_t)v;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

int target_read_pidfile(const char *path, pid_t *pid, char *why, size_t whylen)
{
	char buf[TARGET_PIDFILE_MAX + 1], *end;
	size_t n;
	long v;
	FILE *f = fopen(path, "re");

	if (!f) {
		int ret = -errno;
		snprintf(why, whylen, "%s", strerror(-ret));
		return ret;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n > TARGET_PIDFILE_MAX) {
		snprintf(why, whylen, "longer than %d bytes: not a PID file", TARGET_PIDFILE_MAX);
		return -EFBIG;
	}
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	while (*end == '\n' || *end == ' ' || *end == '\r')
		end++;
	if (errno || end == buf || *end || v <= 0 || v > INT_MAX) {
		/* Empty while the server rewrites it, or not a PID at all. */
		snprintf(why, whylen, n ? "does not hold a PID" : "is empty");
		return -EINVAL;
	}
	*pid = (pid_t)v;
	return 0;
}
