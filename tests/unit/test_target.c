// SPDX-License-Identifier: MIT
/*
 * target_scan against a fake /proc tree built in a temp dir (process tree,
 * fd symlinks whose text is "socket:[N]", net/tcp{,6} in the kernel's
 * format), then once against the real /proc; target_parse_pids.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "probes/target.h"
#include "probes/target_peers.h"
#include "probes/tcp_diag.h"

static const char TCP_HDR[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
/* inode 1001: LISTEN :8080; 2001: LISTEN :22 (pid 200); 1003: ESTABLISHED :9999 (owned,
 * not a listener). The kernel lists its listening hash first, as here; the
 * last row is a listener where none can be (after an established row) and
 * is not read. */
static const char TCP_ROWS[] =
	"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0\n"
	"   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0\n"
	"   2: 0100007F:270F 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1\n"
	"   3: 00000000:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0\n";
static const char TCP6_HDR[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
/* inode 1002: LISTEN :8443; 1004: LISTEN :8080 (dup of v4); 1005: LISTEN :80 */
static const char TCP6_ROWS[] =
	"   0: 00000000000000000000000000000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0\n"
	"   1: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 100 0 0 10 0\n"
	"   2: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1005 1 0000000000000000 100 0 0 10 0\n";

struct fake_proc {
	char root[PATH_MAX];
};

static void fake_write(const char *root, const char *rel, const char *data, size_t len)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = strchr(path + strlen(root) + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void fake_puts(const char *root, const char *rel, const char *text)
{
	fake_write(root, rel, text, strlen(text));
}

/* A process: stat (comm may hold ") " on purpose), comm, and fds. */
static void fake_process(const char *root, int pid, int ppid, const char *comm, const int *inodes, size_t n)
{
	char rel[64], buf[256], path[PATH_MAX * 2];

	snprintf(rel, sizeof(rel), "%d/stat", pid);
	snprintf(buf, sizeof(buf), "%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5\n",
		 pid, comm, ppid, pid, pid);
	fake_puts(root, rel, buf);
	snprintf(rel, sizeof(rel), "%d/comm", pid);
	snprintf(buf, sizeof(buf), "%s\n", comm);
	fake_puts(root, rel, buf);
	snprintf(path, sizeof(path), "%s/%d/fd", root, pid);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%d/fd/0", root, pid);
	assert_int_equal(symlink("/dev/null", path), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%d/fd/%zu", root, pid, i + 3);
		snprintf(buf, sizeof(buf), "socket:[%d]", inodes[i]);
		assert_int_equal(symlink(buf, path), 0);
	}
}

/* 1006: our listener; 1007: our connected socket; 3001: someone else's listener. */
#define UNIX_ROWS \
	"Num       RefCount Protocol Flags    Type St Inode Path\n" \
	"0000000000000000: 00000002 00000000 00010000 0001 01  1006 /run/app.sock\n" \
	"0000000000000000: 00000003 00000000 00000000 0001 03  1007 /run/app.sock\n" \
	"0000000000000000: 00000002 00000000 00010000 0001 01  3001 /run/other.sock\n" \
	"0000000000000000: 00000003 00000000 00000000 0001 03  1058\n"

static int setup_fake(void **state)
{
	static const char cmdline[] = "nginx\0-g\0daemon off;\0";
	static const int root_fds[] = { 1001, 1002, 1003, 1006, 1007 }, child_fds[] = { 1004, 1005 };
	static const int other_fds[] = { 2001 }, all[] = { 1, 100, 101, 102, 200 };
	struct fake_proc *fp = calloc(1, sizeof(*fp));

	assert_non_null(fp);
	snprintf(fp->root, sizeof(fp->root), "/tmp/l7top-proc-XXXXXX");
	assert_non_null(mkdtemp(fp->root));
	fake_process(fp->root, 1, 0, "init", NULL, 0);
	fake_process(fp->root, 100, 1, "nginx", root_fds, 5);
	fake_process(fp->root, 101, 100, "we) ird (x", child_fds, 2);
	fake_process(fp->root, 102, 101, "grandchild", NULL, 0);
	fake_process(fp->root, 200, 1, "sshd", other_fds, 1);
	fake_write(fp->root, "100/cmdline", cmdline, sizeof(cmdline) - 1);
	/* One net namespace: every process shows the same tables. */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int pid = all[i];
		char rel[64], buf[2048];

		snprintf(rel, sizeof(rel), "%d/net/tcp", pid);
		snprintf(buf, sizeof(buf), "%s%s", TCP_HDR, TCP_ROWS);
		fake_puts(fp->root, rel, buf);
		snprintf(rel, sizeof(rel), "%d/net/tcp6", pid);
		snprintf(buf, sizeof(buf), "%s%s", TCP6_HDR, TCP6_ROWS);
		fake_puts(fp->root, rel, buf);
		snprintf(rel, sizeof(rel), "%d/net/unix", pid);
		fake_puts(fp->root, rel, UNIX_ROWS);
	}
	*state = fp;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int teardown_fake(void **state)
{
	struct fake_proc *fp = *state;

	nftw(fp->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fp);
	return 0;
}

static void test_scan_tree(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t roots[] = { 100 };
	static struct target t;

	assert_int_equal(target_scan(fp->root, roots, 1, &t), 0);
	assert_int_equal(t.npids, 3);
	assert_int_equal(t.pids[0], 100);
	assert_int_equal(t.pids[1], 101);   /* comm "we) ird (x" parsed from the last ')' */
	assert_int_equal(t.pids[2], 102);   /* grandchild */
	assert_false(t.pids_truncated);
	/* 1001 v4, 1002/1004/1005 v6; 1003 is ESTABLISHED; 2001 is not ours */
	assert_int_equal(t.nports, 3);
	assert_int_equal(t.ports[0], 80);
	assert_int_equal(t.ports[1], 8080);
	assert_int_equal(t.ports[2], 8443);
	assert_string_equal(t.comm, "nginx");
	assert_string_equal(t.cmdline, "nginx -g daemon off;");
	assert_int_equal(t.nunix, 1);
	assert_string_equal(t.unix_paths[0], "/run/app.sock");
	/* ::1 for :80; 8080 and 8443 on the wildcard addresses */
	for (size_t i = 0; i < t.nlisteners; i++)
		assert_int_equal(t.listeners[i].loopback, t.listeners[i].port == 80);
	assert_false(target_listeners_loopback(&t));
}

/*
 * With /proc/PID/task/TID/children the tree is read from its own files:
 * 103 is listed as 100's child though its stat names another parent (the
 * stat walk would not find it), and 104 comes from the file of 100's
 * thread 105, the thread that forked it.
 */
static void test_scan_tree_children(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t roots[] = { 100 };
	static struct target t;

	fake_process(fp->root, 103, 1, "listed", NULL, 0);
	fake_process(fp->root, 104, 100, "by a thread", NULL, 0);
	fake_puts(fp->root, "100/task/100/children", "101 103 ");
	fake_puts(fp->root, "100/task/105/children", "104 ");
	fake_puts(fp->root, "101/task/101/children", "102 ");
	fake_puts(fp->root, "102/task/102/children", "");
	fake_puts(fp->root, "103/task/103/children", "");
	fake_puts(fp->root, "104/task/104/children", "");
	assert_int_equal(target_scan(fp->root, roots, 1, &t), 0);
	assert_int_equal(t.npids, 5);
	assert_int_equal(t.pids[0], 100);
	assert_int_equal(t.pids[1], 101);
	assert_int_equal(t.pids[2], 103);
	assert_int_equal(t.pids[3], 104);
	assert_int_equal(t.pids[4], 102);   /* breadth-first: the grandchild last */
	assert_false(t.pids_truncated);
}

static const uint8_t *addr_of(const char *text, int *family)
{
	static uint8_t a[16];

	*family = strchr(text, ':') ? 6 : 4;
	assert_int_equal(inet_pton(*family == 6 ? AF_INET6 : AF_INET, text, a), 1);
	return a;
}

static void test_addr_loopback(void **state)
{
	static const char *const yes[] = { "127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1" };
	static const char *const no[] = { "0.0.0.0", "10.0.0.1", "128.0.0.1", "::", "::2",
					  "::ffff:10.0.0.1", "fe80::1", "1::1" };
	int family;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		const uint8_t *a = addr_of(yes[i], &family);
		assert_true(target_addr_loopback(family, a));
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		const uint8_t *a = addr_of(no[i], &family);
		assert_false(target_addr_loopback(family, a));
	}
	assert_false(target_addr_loopback(5, addr_of("127.0.0.1", &family)));
}

/* 1003 (127.0.0.1:9999 -> 127.0.0.1:50000, ESTABLISHED) is the tree's one
 * outgoing connection; the listeners are not peers. */
static void test_scan_peers(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t roots[] = { 100 };
	static struct target t;
	struct target_peer p[4];
	const uint8_t lo[4] = { 127, 0, 0, 1 };
	bool truncated;

	assert_int_equal(target_scan(fp->root, roots, 1, &t), 0);
	assert_int_equal(target_scan_peers(fp->root, &t, NULL, p, 4, &truncated), 1);
	assert_false(truncated);
	assert_int_equal(p[0].family, 4);
	assert_int_equal(p[0].port, 50000);
	assert_memory_equal(p[0].addr, lo, 4);
	assert_int_equal(target_scan_peers(fp->root, &t, NULL, p, 0, &truncated), 0);
	assert_true(truncated);
}

static void test_peer_rows(void **state)
{
	struct target_peer p;
	unsigned long ino;
	uint16_t lport;
	const uint8_t v6lo[16] = { [15] = 1 };

	(void)state;
	assert_false(target_peer_parse_row(TCP_HDR, &lport, &p, &ino));
	assert_false(target_peer_parse_row(TCP_ROWS, &lport, &p, &ino));   /* LISTEN */
	assert_true(target_peer_parse_row(
		"   5: 0100007F:D431 0100007F:2329 01 00000000:00000000 00:00000000 00000000  33 0 7777 1\n",
		&lport, &p, &ino));
	assert_int_equal(lport, 0xD431);
	assert_int_equal(p.port, 9001);
	assert_int_equal(ino, 7777);
	/* SYN_SENT counts (a connect in flight); v6 words are host order. */
	assert_true(target_peer_parse_row(
		"   0: 00000000000000000000000001000000:D431 00000000000000000000000001000000:2329 02 "
		"00000000:00000000 00:00000000 00000000  33 0 8888 1\n", &lport, &p, &ino));
	assert_int_equal(p.family, 6);
	assert_memory_equal(p.addr, v6lo, 16);
	assert_false(target_peer_parse_row("   0: 0100007F:D431 0100007F:zz 01 junk\n", &lport, &p, &ino));
}

static void test_scan_unrelated(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t roots[] = { 200 };
	static struct target t;

	assert_int_equal(target_scan(fp->root, roots, 1, &t), 0);
	assert_int_equal(t.npids, 1);
	assert_int_equal(t.nports, 1);
	assert_int_equal(t.ports[0], 22);
	assert_string_equal(t.comm, "sshd");
	assert_string_equal(t.cmdline, "");
}

/* Two roots: two targets, each with its tree and its own listeners. */
static const struct target_listener *listener(const struct target *t, uint16_t port)
{
	for (size_t i = 0; i < t->nlisteners; i++)
		if (t->listeners[i].port == port)
			return &t->listeners[i];
	return NULL;
}

static void test_scan_two_roots(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t roots[] = { 100, 200 };
	static struct target t;

	assert_int_equal(target_scan(fp->root, roots, 2, &t), 0);
	assert_int_equal(t.nroots, 2);
	assert_int_equal(t.roots[0].pid, 100);
	assert_string_equal(t.roots[0].comm, "nginx");
	assert_int_equal(t.roots[1].pid, 200);
	assert_string_equal(t.roots[1].comm, "sshd");
	assert_int_equal(t.npids, 4);
	for (size_t i = 0; i < t.npids; i++)
		assert_int_equal(t.pid_root[i], t.pids[i] == 200 ? 1 : 0);
	assert_int_equal(t.nports, 4);
	assert_int_equal(t.nlisteners, 4);        /* 8080 over v4 and v6 is one */
	assert_int_equal(listener(&t, 8080)->root, 0);
	assert_int_equal(listener(&t, 8443)->root, 0);
	assert_int_equal(listener(&t, 80)->root, 0);   /* held by the child 101 */
	assert_int_equal(listener(&t, 22)->root, 1);
	assert_false(t.roots_truncated);
	assert_false(t.listeners_truncated);
}

/* Indices stay put: a gone root keeps its target's place; grouped roots
 * (workers adopted after their master died) are one target. */
static void test_scan_root_indices(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t roots[] = { 999, 100, 200 }, workers[] = { 101, 102 };
	const uint8_t groups[] = { 0, 0 };
	static struct target t;

	assert_int_equal(target_scan(fp->root, roots, 3, &t), 0);
	assert_int_equal(t.nroots, 3);
	assert_int_equal(t.roots[0].pid, 999);
	assert_string_equal(t.roots[0].comm, "");
	assert_string_equal(t.roots[1].comm, "nginx");
	for (size_t i = 0; i < t.npids; i++)
		assert_int_equal(t.pid_root[i], t.pids[i] == 200 ? 2 : 1);
	assert_int_equal(listener(&t, 22)->root, 2);

	assert_int_equal(target_scan_grouped(fp->root, workers, groups, 2, &t), 0);
	assert_int_equal(t.nroots, 1);
	assert_int_equal(t.roots[0].pid, 101);
	assert_int_equal(t.npids, 2);
	assert_int_equal(t.pid_root[0], 0);
	assert_int_equal(t.pid_root[1], 0);
}

static void test_scan_missing_root(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t gone[] = { 999 }, mixed[] = { 999, 101, 101 };
	static struct target t;

	assert_int_equal(target_scan(fp->root, gone, 1, &t), -ESRCH);
	assert_int_equal(target_scan(fp->root, NULL, 0, &t), -ESRCH);
	/* Existing roots count; duplicates collapse; 101's child comes after. */
	assert_int_equal(target_scan(fp->root, mixed, 3, &t), 0);
	assert_int_equal(t.npids, 2);
	assert_int_equal(t.pids[0], 101);
	assert_int_equal(t.pids[1], 102);
	assert_int_equal(t.nports, 2);
	assert_int_equal(t.ports[0], 80);
	assert_int_equal(t.ports[1], 8080);
	assert_string_equal(t.comm, "we) ird (x");
}

/*
 * Network namespaces: one entry per distinct ns/net inode, with the first
 * process inside it; names come from a bind-mount directory or PID 1.
 * (Plain files stand in for the ns links: only their inodes matter.)
 */
static void test_scan_netns(void **state)
{
	struct fake_proc *fp = *state;
	const pid_t roots[] = { 100 };
	char a[PATH_MAX * 2], b[PATH_MAX * 2], dir[PATH_MAX + 16], name[64];
	static struct target t;
	struct stat st;

	fake_puts(fp->root, "100/ns/net", "host");
	fake_puts(fp->root, "101/ns/net", "container");
	snprintf(a, sizeof(a), "%s/101/ns/net", fp->root);
	snprintf(b, sizeof(b), "%s/102/ns/net", fp->root);
	fake_puts(fp->root, "102/ns/.dir", "");
	assert_int_equal(link(a, b), 0);              /* 102 shares 101's namespace */
	snprintf(a, sizeof(a), "%s/100/ns/net", fp->root);
	snprintf(b, sizeof(b), "%s/1/ns/net", fp->root);
	fake_puts(fp->root, "1/ns/.dir", "");
	assert_int_equal(link(a, b), 0);              /* 100 is in PID 1's */
	snprintf(dir, sizeof(dir), "%s/netns", fp->root);
	mkdir(dir, 0755);
	snprintf(a, sizeof(a), "%s/101/ns/net", fp->root);
	snprintf(b, sizeof(b), "%s/web1", dir);
	assert_int_equal(link(a, b), 0);              /* `ip netns add web1` */

	assert_int_equal(target_scan(fp->root, roots, 1, &t), 0);
	assert_int_equal(t.nnetns, 2);
	assert_int_equal(t.netns[0].pid, 100);
	assert_int_equal(t.netns[1].pid, 101);
	assert_true(t.netns[0].listens && t.netns[1].listens);   /* both show our listeners */
	assert_int_equal(stat(a, &st), 0);
	assert_true(t.netns[1].ino == (unsigned long)st.st_ino);
	target_netns_name(fp->root, dir, t.netns[0].ino, name, sizeof(name));
	assert_string_equal(name, "host");
	target_netns_name(fp->root, dir, t.netns[1].ino, name, sizeof(name));
	assert_string_equal(name, "web1");
	target_netns_name(fp->root, "/nonexistent", t.netns[1].ino, name, sizeof(name));
	snprintf(a, sizeof(a), "net:[%lu]", t.netns[1].ino);
	assert_string_equal(name, a);

	/* An outgoing connection that only the second namespace's table lists
	 * (101's socket 1010 -> 10.0.0.9:8081) is a peer too. */
	static const char row[] =
		"   3: 0200000A:D431 0900000A:1F91 01 00000000:00000000 00:00000000 00000000     0        0 1010 1\n";
	char rel[64], buf[2048], path[PATH_MAX * 2];
	struct target_peer p[4];
	bool truncated;
	snprintf(rel, sizeof(rel), "101/net/tcp");
	snprintf(buf, sizeof(buf), "%s%s%s", TCP_HDR, TCP_ROWS, row);
	snprintf(path, sizeof(path), "%s/101/net/tcp", fp->root);
	unlink(path);
	fake_puts(fp->root, rel, buf);
	snprintf(path, sizeof(path), "%s/101/fd/9", fp->root);
	assert_int_equal(symlink("socket:[1010]", path), 0);
	assert_int_equal(target_scan(fp->root, roots, 1, &t), 0);
	size_t np = target_scan_peers(fp->root, &t, NULL, p, 4, &truncated);
	bool found = false;
	for (size_t i = 0; i < np; i++)
		found |= p[i].port == 8081;
	assert_true(found);
	assert_int_equal(np, 2);              /* and 1003's peer, listed in both tables once */
}

/* Real /proc: a socket this process listens on must show up. */
static void test_scan_real_proc(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sa);
	pid_t self = getpid();
	static struct target t;
	bool found = false;
	int fd;

	(void)state;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
	assert_int_equal(target_scan("/proc", &self, 1, &t), 0);
	assert_int_equal(t.pids[0], self);
	for (size_t i = 0; i < t.nports; i++)
		found |= t.ports[i] == ntohs(sa.sin_port);
	assert_true(found);
	/* sock_diag gives the bound address: 127.0.0.1, then the wildcard too */
	assert_true(target_listeners_loopback(&t));
	int any = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in wild = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	slen = sizeof(wild);
	assert_true(any >= 0);
	assert_int_equal(bind(any, (struct sockaddr *)&wild, sizeof(wild)), 0);
	assert_int_equal(listen(any, 4), 0);
	assert_int_equal(getsockname(any, (struct sockaddr *)&wild, &slen), 0);
	assert_int_equal(target_scan("/proc", &self, 1, &t), 0);
	for (size_t i = 0; i < t.nlisteners; i++)
		assert_int_equal(t.listeners[i].loopback, t.listeners[i].port == ntohs(sa.sin_port));
	assert_false(target_listeners_loopback(&t));
	close(any);
	close(fd);
}

static int lo_listen(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Connects to port on loopback; *local: the client's port. */
static int lo_connect(uint16_t port, uint16_t *local)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(port) };
	socklen_t slen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
	*local = ntohs(sa.sin_port);
	return fd;
}

struct diag_count {
	uint16_t a, b;
	int on_a, on_b;
};

static void diag_count_cb(const struct tcp_diag_sock *d, void *ctx)
{
	struct diag_count *c = ctx;

	c->on_a += d->sport == c->a || d->dport == c->a;
	c->on_b += d->sport == c->b || d->dport == c->b;
}

/* The kernel leaves out the sockets on a skipped port, and only those. */
static void diag_check_skip(uint16_t l1, uint16_t l2)
{
	const uint32_t est = 1u << 1;   /* TCP_ESTABLISHED */
	struct diag_count all = { l1, l2, 0, 0 }, skip = all;
	int fd = tcp_diag_open("/proc/self/ns/net");

	assert_true(fd >= 0);
	assert_int_equal(tcp_diag_dump(fd, AF_INET, est, NULL, 0, diag_count_cb, &all), 0);
	assert_int_equal(tcp_diag_dump(fd, AF_INET, est, &l1, 1, diag_count_cb, &skip), 0);
	close(fd);
	assert_int_equal(all.on_a, 2);       /* both ends of each connection */
	assert_int_equal(all.on_b, 2);
	assert_int_equal(skip.on_a, 0);
	assert_int_equal(skip.on_b, 2);
}

/*
 * Real /proc, peers through sock_diag: this process listens on one port
 * with a connection to itself there (inbound: no peer), and holds both
 * ends of a connection to a port nobody listens on any more (outgoing both
 * ways: two peers, the server port and the client's).
 */
static void test_peers_real_proc(void **state)
{
	const uint8_t lo[4] = { 127, 0, 0, 1 };
	struct target_peer p[8];
	struct target_socks k;
	static struct target t;
	pid_t self = getpid();
	uint16_t l1, l2, c1port, c2port;
	bool truncated, got_l2 = false, got_c2 = false;
	int fl1 = lo_listen(&l1), fc1 = lo_connect(l1, &c1port), fa1 = accept(fl1, NULL, NULL);
	int fl2 = lo_listen(&l2), fc2 = lo_connect(l2, &c2port), fa2 = accept(fl2, NULL, NULL);

	(void)state;
	assert_true(fa1 >= 0 && fa2 >= 0);
	close(fl2);
	diag_check_skip(l1, l2);
	assert_int_equal(target_scan_socks("/proc", &self, NULL, 1, NULL, &t, &k), 0);
	size_t n = target_scan_peers("/proc", &t, &k, p, 8, &truncated);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p[i].family, 4);
		assert_memory_equal(p[i].addr, lo, 4);
		assert_int_not_equal(p[i].port, l1);    /* the inbound one is no peer */
		got_l2 |= p[i].port == l2;
		got_c2 |= p[i].port == c2port;
	}
	assert_int_equal(n, 2);
	assert_true(got_l2 && got_c2);
	assert_false(truncated);
	target_socks_free(&k);
	close(fa2);
	close(fc2);
	close(fa1);
	close(fc1);
	close(fl1);
}

static void test_parse_pids(void **state)
{
	static const char *const bad[] = {
		"", "abc", "1,", ",1", "1,,2", "-1", "0", "+1", " 1", "1 ", "1x",
		"99999999999", "2147483648", "1,2,3,4,5",
	};
	pid_t pids[4];
	size_t n;

	(void)state;
	assert_int_equal(target_parse_pids("123", pids, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], 123);
	assert_int_equal(target_parse_pids("1,22,333", pids, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pids[2], 333);
	assert_int_equal(target_parse_pids("2147483647", pids, 4, &n), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (target_parse_pids(bad[i], pids, 4, &n) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void expect_redacted(const char *in, const char *want)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", in);
	target_redact_cmdline(buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_cmdline_redaction(void **state)
{
	(void)state;
	expect_redacted("nginx: master process /usr/sbin/nginx", "nginx: master process /usr/sbin/nginx");
	expect_redacted("java -Dspring.datasource.password=hunter2 -jar app.jar",
			"java -Dspring.datasource.password=*** -jar app.jar");
	expect_redacted("node app.js --token abcdef --port 80", "node app.js --token *** --port 80");
	expect_redacted("x API_KEY=k1 --auth=a", "x API_KEY=*** --auth=***");
	expect_redacted("x --password", "x --password");
	expect_redacted("x --secret ab", "x --secret ***");
}

/* A /proc line longer than the buffer is skipped whole, never parsed in parts. */
static void test_read_line_bounds(void **state)
{
	(void)state;
	char text[3000], line[64];
	bool too_long;
	FILE *f;

	memset(text, 'x', sizeof(text));
	memcpy(text, "short\n", 6);
	text[2000] = '\n';                   /* line 2: 1994 bytes */
	memcpy(text + 2001, "  1: 0100007F:1F90\n", 19);
	text[2020] = '\0';
	f = fmemopen(text, strlen(text), "r");
	assert_non_null(f);
	assert_true(target_read_line(line, sizeof(line), f, &too_long));
	assert_false(too_long);
	assert_string_equal(line, "short\n");
	assert_true(target_read_line(line, sizeof(line), f, &too_long));
	assert_true(too_long);
	assert_string_equal(line, "");
	assert_true(target_read_line(line, sizeof(line), f, &too_long));
	assert_false(too_long);
	assert_string_equal(line, "  1: 0100007F:1F90\n");
	assert_false(target_read_line(line, sizeof(line), f, &too_long));
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_line_bounds),
		cmocka_unit_test(test_addr_loopback),
		cmocka_unit_test_setup_teardown(test_scan_tree, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_scan_tree_children, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_scan_unrelated, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_scan_peers, setup_fake, teardown_fake),
		cmocka_unit_test(test_peer_rows),
		cmocka_unit_test_setup_teardown(test_scan_missing_root, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_scan_two_roots, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_scan_root_indices, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_scan_netns, setup_fake, teardown_fake),
		cmocka_unit_test(test_scan_real_proc),
		cmocka_unit_test(test_peers_real_proc),
		cmocka_unit_test(test_parse_pids),
		cmocka_unit_test(test_cmdline_redaction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
