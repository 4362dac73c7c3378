// SPDX-License-Identifier: MIT
/*
 * l7top: what a running web server is doing at the HTTP level, without
 * touching it. main() parses the command line and wires the pieces:
 *
 *   capture (probes/) -> collector (collector/) -> snapshot per interval
 *        -> batch output (tui/) and the SQLite writer thread (storage/)
 *   TLS uprobes (probes/tls) ---^ plaintext of HTTPS connections
 *
 * all driven by one epoll loop (src/loop.c): the capture fd, the TLS ring
 * buffer, an interval timer, a rescan timer, a TLS drain timer and a signalfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "collector/collector.h"
#include "collector/route_learn.h"
#include "export/json_lines.h"
#include "export/prom.h"
#include "probes/capture.h"
#include "probes/target.h"
#include "probes/target_peers.h"
#include "probes/target_unix.h"
#include "probes/upstreams.h"
#include "probes/tls.h"
#include "probes/tls_keys.h"
#include "collector/tls_secrets.h"   /* the secret kinds collector_tls_secret() takes */
#include "src/bounded_read.h"
#include "src/loop.h"
#include "src/options.h"
#include "src/replay_clock.h"
#include "storage/query.h"
#include "storage/store.h"
#include "tui/batch.h"
#include "tui/tui.h"

#define RESCAN_MS          2000
#define PIDFILE_MS         250
/* Two of the capture ring's block timeouts (CAPTURE_TIMEOUT_MS, 50 ms). */
#define EXIT_LINGER_MS     150
#define DISPATCH_BATCH     4096
/* The TLS probes wake l7top only when 256 KiB wait; this bounds the delay otherwise. */
#define TLS_DRAIN_MS       50

/* Which key a caught secret is, in the collector's numbering. */
static const int TLS_KEY_TO_SECRET[TLS_KEY_SECRETS] = {
	[TLS_KEY_CLIENT_HS] = TLS_SECRET_CLIENT_HS, [TLS_KEY_SERVER_HS] = TLS_SECRET_SERVER_HS,
	[TLS_KEY_CLIENT_AP] = TLS_SECRET_CLIENT_AP, [TLS_KEY_SERVER_AP] = TLS_SECRET_SERVER_AP,
	[TLS_KEY_MASTER12] = TLS_SECRET_MASTER,
};


struct app {
	struct options opt;
	struct loop *loop;
	struct capture *cap;
	struct tls_probe *tls;
	struct upstream_probe *ups;  /* the target's outgoing connections; NULL offline */
	struct target_unix unix_ups; /* its connections to unix-socket backends (not seen) */
	const char *tls_modes;       /* "keys", "calls", "keys+calls", "none", "off" */
	bool tls_secrets_new;        /* secrets filed since the last collector_tls_kick() */
	FILE *keylog;                /* --keylog, NULL when off */
	struct collector *coll;
	struct store *store;
	struct tui *tui;             /* NULL: batch output */
	struct prom *prom;           /* --prometheus, NULL when off */
	struct target target;
	char target_name[64];
	char ports_str[128];
	char netns_str[128];         /* the namespaces captured in, by name */
	char unix_str[256];          /* unix listeners packet capture cannot see, "" if none */
	char unix_warn[340];         /* ... said in the live view's status line */
	uint64_t start_ms;           /* session start */
	uint64_t interval_start_ms;
	uint64_t last_kernel_drops;
	uint64_t last_tls_drops;
	uint64_t last_tls_unprobed;
	uint16_t tls_ports[TARGET_MAX_PORTS];   /* ports the TLS path owns (calls mode) */
	size_t ntls_ports;
	bool resync_pids;            /* a target process forked: attach at once */
	uint64_t last_pkt_ns;        /* offline: the capture's clock */
	struct replay_clock clock;   /* offline: which interval a packet is in */
	char jump[96];               /* offline: the first clock jump, "" if none */
	bool stopped;                /* offline: a signal ended the replay */
	uint64_t captured_bytes;     /* bytes the kernel copied to us */
	uint64_t seen_drops;         /* ring drops already acted on */
	char db_off[300];            /* why there is no DB ("" when there is one) */
	char folds_line[VIEW_WARN_LEN];   /* "learned folds: /u/{*} ..." for the live view */
	uint64_t said_outages, said_recoveries;   /* DB outages told on stderr */
	int root_fds[64];            /* pidfds of the roots: readable when one exits */
	size_t nroot_fds;
	bool target_gone;            /* --pidfile: every process exited, waiting for a new PID */
	uint64_t gone_ms;
	char gone_name[64];          /* who exited, "nginx[1234]" */
	char stop_reason[160];       /* said once the terminal is ours again */
	int exit_code;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- target ------------------------------------------------------------ */

/* The names of the namespaces the capture really has sockets in. */
static void describe_netns(struct app *a)
{
	unsigned long ino[CAPTURE_MAX_NETNS];
	size_t n = a->cap && !a->opt.read_pcap ? capture_netns(a->cap, ino, CAPTURE_MAX_NETNS) : 0;
	size_t len = 0;

	a->netns_str[0] = '\0';
	for (size_t i = 0; i < n && len + 2 < sizeof(a->netns_str); i++) {
		char name[64];

		target_netns_name("/proc", "/run/netns", ino[i], name, sizeof(name));
		len += (size_t)snprintf(a->netns_str + len, sizeof(a->netns_str) - len, "%s%s",
					i ? "," : "", name);
	}
}

static size_t target_capture_netns(const struct target *t, struct capture_netns *out)
{
	size_t n = t->nnetns < CAPTURE_MAX_NETNS ? t->nnetns : CAPTURE_MAX_NETNS;

	for (size_t i = 0; i < n; i++)
		out[i] = (struct capture_netns){ .ino = t->netns[i].ino, .pid = t->netns[i].pid };
	return n;
}

/*
 * A target process entered a namespace we have no socket in (or left
 * one): open or close packet sockets to match. A failure keeps the old
 * sockets and is said once per change.
 */
static void follow_netns(struct app *a, const struct target *old)
{
	struct capture_netns ns[CAPTURE_MAX_NETNS];
	size_t n = target_capture_netns(&a->target, ns);
	char err[256];

	if (!a->cap || (old->nnetns == a->target.nnetns &&
			!memcmp(old->netns, a->target.netns, n * sizeof(old->netns[0]))))
		return;
	if (capture_set_netns(a->cap, ns, n, err, sizeof(err)) && !a->tui)
		fprintf(stderr, "%s\n", err);
}

/* Unix listeners: requests through them never reach a packet socket, so say which. */
static void describe_unix(struct app *a)
{
	size_t len = 0;

	a->unix_str[0] = a->unix_warn[0] = '\0';
	for (size_t i = 0; i < a->target.nunix && len + 2 < sizeof(a->unix_str); i++)
		len += (size_t)snprintf(a->unix_str + len, sizeof(a->unix_str) - len, "%s%s",
					i ? "," : "", a->target.unix_paths[i]);
	if (a->target.unix_truncated && len + 5 < sizeof(a->unix_str))
		snprintf(a->unix_str + len, sizeof(a->unix_str) - len, ",...");
	if (a->unix_str[0])
		snprintf(a->unix_warn, sizeof(a->unix_warn),
			 "unix listeners not captured (packet capture cannot see them): %s",
			 a->unix_str);
}

static void describe_target(struct app *a)
{
	size_t n = 0;
	snprintf(a->target_name, sizeof(a->target_name), "%s[%d]",
		 a->target.comm[0] ? a->target.comm : "?", a->target.npids ? a->target.pids[0] : 0);
	a->ports_str[0] = '\0';
	for (size_t i = 0; i < a->target.nports && n + 8 < sizeof(a->ports_str); i++)
		n += (size_t)snprintf(a->ports_str + n, sizeof(a->ports_str) - n, "%s%u",
				      i ? "," : "", a->target.ports[i]);
	describe_netns(a);
	describe_unix(a);
}

static bool port_in(uint16_t port, const uint16_t *ports, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/*
 * Calls mode: the plaintext comes from the uprobes, not from the wire. In
 * keys mode (or a mix, which NGINX never is: one binary, one OpenSSL) the
 * ciphertext on the wire is what gets decrypted, so it must be captured.
 */
static bool tls_calls_only(const struct app *a)
{
	return a->tls && !strcmp(tls_probe_modes(a->tls), "calls");
}

/*
 * The socket filter keeps the target's ports, minus those the collector saw
 * TLS on when the uprobes read them (calls mode): their requests come
 * through the TLS path, and ciphertext would only cost ring slots. (With
 * --tls off the collector sets TLS connections aside itself.)
 */
static void apply_capture_ports(struct app *a)
{
	uint16_t keep[TARGET_MAX_PORTS];
	size_t n = 0;

	if (!a->cap || a->opt.read_pcap)
		return;
	for (size_t i = 0; i < a->target.nports; i++)
		if (!tls_calls_only(a) || !port_in(a->target.ports[i], a->tls_ports, a->ntls_ports))
			keep[n++] = a->target.ports[i];
	capture_set_ports(a->cap, keep, n);
}

static void apply_ports(struct app *a)
{
	collector_set_ports(a->coll, a->target.ports, a->target.nports);
	apply_capture_ports(a);
	describe_target(a);
}

/* New TLS ports seen on the wire leave the socket filter (calls mode). */
static void refresh_tls_ports(struct app *a)
{
	uint16_t p[TARGET_MAX_PORTS];
	size_t n;

	if (!tls_calls_only(a))
		return;
	n = collector_tls_ports(a->coll, p, TARGET_MAX_PORTS);
	if (n == a->ntls_ports && !memcmp(p, a->tls_ports, n * sizeof(p[0])))
		return;
	memcpy(a->tls_ports, p, n * sizeof(p[0]));
	a->ntls_ports = n;
	apply_capture_ports(a);
}

/* --pidfile: the PID it names now as the one root; 0 or -errno. */
static int roots_from_pidfile(struct app *a, char *why, size_t whylen)
{
	pid_t pid;
	int err = target_read_pidfile(a->opt.pidfile, &pid, why, whylen);

	if (err)
		return err;
	a->opt.roots[0] = pid;
	a->opt.nroots = 1;
	return 0;
}

/* Initial scan: exit code on a target that cannot be watched, else -1. */
static int target_init(struct app *a)
{
	char why[96];
	int err;

	if (a->opt.pidfile && roots_from_pidfile(a, why, sizeof(why))) {
		fprintf(stderr, "l7top: --pidfile %s: %s\n", a->opt.pidfile, why);
		return EXIT_USAGE;
	}
	err = target_scan("/proc", a->opt.roots, a->opt.nroots, &a->target);
	if (err == -ESRCH) {
		fprintf(stderr, "l7top: no process with PID %d%s%s\n", a->opt.roots[0],
			a->opt.pidfile ? ", as " : "", a->opt.pidfile ? a->opt.pidfile : "");
		return EXIT_USAGE;
	}
	if (err) {
		fprintf(stderr, "l7top: cannot read /proc for PID %d: %s\n", a->opt.roots[0],
			strerror(-err));
		return EXIT_RUNTIME;
	}
	if (!a->target.nports && a->target.nunix) {
		describe_unix(a);
		fprintf(stderr, "l7top: %s[%d] listens on unix sockets only (%s), which packet "
			"capture cannot see: nothing to watch\n", a->target.comm, a->target.pids[0],
			a->unix_str);
		return EXIT_USAGE;
	}
	if (!a->target.nports) {
		fprintf(stderr, "l7top: %s[%d] listens on no TCP port: nothing to watch\n",
			a->target.comm, a->target.pids[0]);
		return EXIT_USAGE;
	}
	return -1;
}

/*
 * The target's outgoing connections: its processes' connects are learnt in
 * the kernel; the ones open already (or opened while the tracepoint was
 * off) come from /proc at each scan. Both go to the filter and the collector.
 */
static void sync_upstreams(struct app *a)
{
	struct target_peer p[TARGET_MAX_PEERS];
	bool truncated;
	size_t n;

	if (!a->ups)
		return;
	upstreams_set_tgids(a->ups, a->target.pids, a->target.npids);
	n = target_scan_peers("/proc", &a->target, p, TARGET_MAX_PEERS, &truncated);
	upstreams_add(a->ups, p, n);          /* -ENOSPC: counted by the filter's stats */
	for (size_t i = 0; i < n; i++)
		collector_note_upstream(a->coll, p[i].family, p[i].addr, p[i].port);
	target_scan_unix("/proc", &a->target, &a->unix_ups);   /* an error leaves it zero */
}

static void open_upstreams(struct app *a)
{
	char err[256];
	int e = upstreams_open(&a->ups, a->cap, err, sizeof(err));

	if (e && e != -EOPNOTSUPP)
		fprintf(stderr, "%s\n", err);   /* the probe still takes /proc's peers */
	sync_upstreams(a);
}

static void rescan(struct app *a);

/* One line of what happened to the target: on stderr (unless the live view
 * owns the terminal: its header says it) and in the session row. */
__attribute__((format(printf, 2, 3)))
static void target_event(struct app *a, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!a->tui)
		fprintf(stderr, "l7top: %s\n", line);
	store_note(a->store, line);
}

static void on_root_exit(struct loop *l, int fd, void *ctx)
{
	struct app *a = ctx;

	loop_del_fd(l, fd);              /* readable for good once the process is gone */
	for (size_t i = 0; i < a->nroot_fds; i++)
		if (a->root_fds[i] == fd)
			a->root_fds[i] = a->root_fds[--a->nroot_fds];
	close(fd);
	rescan(a);
}

/* A pidfd per root, so an exit is heard at once rather than at the next rescan. */
static void watch_roots(struct app *a)
{
	for (size_t i = 0; i < a->nroot_fds; i++) {
		loop_del_fd(a->loop, a->root_fds[i]);
		close(a->root_fds[i]);
	}
	a->nroot_fds = 0;
	for (size_t i = 0; i < a->opt.nroots && a->nroot_fds < 64; i++) {
		int fd = (int)syscall(SYS_pidfd_open, a->opt.roots[i], 0);
		if (fd < 0)
			continue;                /* gone already, or no pidfd: the rescan timer sees it */
		if (loop_add_fd(a->loop, fd, on_root_exit, a)) {
			close(fd);
			continue;
		}
		a->root_fds[a->nroot_fds++] = fd;
	}
}

static bool pid_alive(pid_t pid)
{
	return target_alive("/proc", pid);
}

/*
 * The roots are gone. Descendants that outlived them (workers of a master
 * killed with -9) are still watched processes: they become the roots.
 * Returns how many there are.
 */
static size_t adopt_survivors(struct app *a)
{
	size_t n = 0;

	for (size_t i = 0; i < a->target.npids && n < 64; i++)
		if (pid_alive(a->target.pids[i]))
			a->opt.roots[n++] = a->target.pids[i];
	if (n)
		a->opt.nroots = n;
	return n;
}

static void on_linger_done(struct loop *l, int fd, void *ctx)
{
	(void)ctx;
	loop_timer_ack(fd);
	loop_stop(l);
}

/* Every watched process exited: stop (flushing), or wait for --pidfile. */
static void target_lost(struct app *a)
{
	if (a->target_gone)
		return;
	snprintf(a->gone_name, sizeof(a->gone_name), "%s", a->target_name);
	if (!a->opt.pidfile) {
		snprintf(a->stop_reason, sizeof(a->stop_reason), "%s exited; stopping", a->gone_name);
		store_note(a->store, a->stop_reason);
		/* The last replies may sit in a ring block the kernel hands over
		 * only when it times out: wait for that, then flush and stop. */
		a->target_gone = true;
		if (loop_add_timer(a->loop, EXIT_LINGER_MS, on_linger_done, a) < 0)
			loop_stop(a->loop);
		return;
	}
	a->target_gone = true;
	a->gone_ms = now_ms();
	target_event(a, "%s exited; waiting for a new PID in %s", a->gone_name, a->opt.pidfile);
	snprintf(a->target_name, sizeof(a->target_name), "%.40s exited", a->gone_name);
	a->target.npids = 0;
}

/* Applies a scan: TLS probes follow the pids, the filter the ports. */
static void target_apply(struct app *a, const struct target *t)
{
	bool changed = t->nports != a->target.nports ||
		       memcmp(t->ports, a->target.ports, t->nports * sizeof(t->ports[0]));
	struct target old = a->target;

	a->target = *t;
	follow_netns(a, &old);
	if (a->tls)
		tls_probe_sync_pids(a->tls, t->pids, t->npids);   /* failures are logged per pid */
	if (changed && t->nports)
		apply_ports(a);
	else
		describe_target(a);
	sync_upstreams(a);
	refresh_tls_ports(a);
}

/*
 * --pidfile: a PID there that is not the one watched, and alive: the
 * service restarted (or was upgraded). Attach to the new process tree.
 */
static void follow_pidfile(struct app *a)
{
	pid_t old = a->opt.nroots ? a->opt.roots[0] : 0;
	char why[96], was[64];
	struct target t;

	if (!a->opt.pidfile || roots_from_pidfile(a, why, sizeof(why)))
		return;                          /* missing or empty mid-restart: later */
	if ((a->opt.roots[0] == old && !a->target_gone) || !pid_alive(a->opt.roots[0]) ||
	    target_scan("/proc", a->opt.roots, a->opt.nroots, &t)) {
		a->opt.roots[0] = old;
		return;
	}
	snprintf(was, sizeof(was), "%s", a->target_gone ? a->gone_name : a->target_name);
	target_apply(a, &t);
	watch_roots(a);
	if (a->target_gone)
		target_event(a, "%s names %s: watching it (%lu ms after %s exited)", a->opt.pidfile,
			     a->target_name, (unsigned long)(now_ms() - a->gone_ms), was);
	else
		target_event(a, "%s names %s: watching it instead of %s", a->opt.pidfile,
			     a->target_name, was);
	a->target_gone = false;
}

static void rescan(struct app *a)
{
	struct target t;
	int err;

	follow_pidfile(a);
	if (a->target_gone)
		return;
	err = target_scan("/proc", a->opt.roots, a->opt.nroots, &t);
	if (err == -ESRCH && adopt_survivors(a))
		err = target_scan("/proc", a->opt.roots, a->opt.nroots, &t);
	if (err == -ESRCH) {
		target_lost(a);
		if (a->target_gone)
			follow_pidfile(a);           /* the new PID may be there already */
		return;
	}
	if (err)
		return;                          /* /proc unreadable for now; keep the last view */
	target_apply(a, &t);
}

/* --pidfile: looked at often, so a restart costs little of its traffic. */
static void on_pidfile_timer(struct loop *l, int fd, void *ctx)
{
	struct app *a = ctx;
	(void)l;
	loop_timer_ack(fd);
	if (a->target_gone)
		rescan(a);
	else
		follow_pidfile(a);
}

/* ---- intervals ----------------------------------------------------------- */

static void on_skip(void *ctx, int family, const uint8_t *saddr, const uint8_t *daddr,
		    uint16_t sport, uint16_t dport, uint32_t until)
{
	struct app *a = ctx;
	if (a->cap)
		capture_skip(a->cap, family, saddr, daddr, sport, dport, until);
}

/* Like tcpdump's closing lines: what crossed from the kernel, and what the
 * filter spared us by skipping bodies. */
static void print_capture_summary(struct app *a)
{
	struct capture_stats cs;
	if (a->tls) {
		struct tls_stats ts;

		tls_probe_stats(a->tls, &ts);
		fprintf(stderr, "l7top: tls: %lu secrets caught (%lu not tied to a handshake, %lu lost), "
			"%lu processes probed too late\n", (unsigned long)ts.secrets,
			(unsigned long)ts.secrets_unmatched, (unsigned long)ts.secret_drops,
			(unsigned long)ts.unprobed);
	}
	if (!a->cap)
		return;
	capture_get_stats(a->cap, &cs);
	fprintf(stderr, "l7top: %lu packets captured (%lu bytes), %lu cut to headers "
		"(%lu payload bytes not copied), %lu dropped by the kernel\n",
		(unsigned long)cs.received, (unsigned long)a->captured_bytes,
		(unsigned long)cs.filter_cut, (unsigned long)cs.filter_cut_bytes,
		(unsigned long)cs.kernel_drops);
}

static void on_packet(void *ctx, const struct capture_pkt *p)
{
	struct app *a = ctx;
	a->captured_bytes += p->caplen;
	a->last_pkt_ns = p->ts_ns;
	collector_packet(a->coll, p->ts_ns, p->l3, p->caplen, p->wirelen);
}

/* --json: a reader that went away (EPIPE) or a full disk ends the run. */
static void emit_json(struct app *a, const struct snapshot *s)
{
	if (!json_lines_write(stdout, s) || a->exit_code)
		return;
	fprintf(stderr, "l7top: cannot write the JSON lines to stdout: %s\n", strerror(errno));
	a->exit_code = EXIT_RUNTIME;
	loop_stop(a->loop);
}

/* --write: each interval reaches the disk; on a write error the file is
 * closed (what it holds stays readable) and monitoring goes on. */
static void flush_dump(struct app *a)
{
	int rc = a->cap ? capture_dump_flush(a->cap) : 0;
	if (!rc)
		return;
	fprintf(stderr, "l7top: --write %s: %s; no more packets are saved\n", a->opt.write_pcap,
		strerror(-rc));
	capture_dump_close(a->cap);
}

/* Ends the current interval at end_ms: snapshot, print, hand to storage. */
/* The collector's snapshot of the interval ending at end_ms, with the
 * capture's and the TLS probe's loss counters added. */
static struct snapshot *snapshot_take(struct app *a, uint64_t end_ms)
{
	struct capture_stats cs = { 0 };
	struct snapshot *s;

	s = collector_snapshot(a->coll, a->interval_start_ms,
			       end_ms > a->interval_start_ms ? end_ms - a->interval_start_ms : 0);
	a->interval_start_ms = end_ms;
	if (!s)
		return NULL;
	if (a->cap) {
		capture_get_stats(a->cap, &cs);
		s->c.kernel_drops = cs.kernel_drops - a->last_kernel_drops;
		a->last_kernel_drops = cs.kernel_drops;
	}
	s->upc.unix_conns = a->unix_ups.conns;
	memcpy(s->upc.unix_path, a->unix_ups.path, sizeof(s->upc.unix_path));
	if (a->tls) {
		struct tls_stats ts;
		tls_probe_stats(a->tls, &ts);
		s->c.tls_drops = ts.drops - a->last_tls_drops;
		a->last_tls_drops = ts.drops;
		s->c.tls_unprobed = ts.unprobed - a->last_tls_unprobed;
		a->last_tls_unprobed = ts.unprobed;
	}
	return s;
}

/* The learned folds, as the live view's status line says them. */
static const char *folds_describe(struct app *a)
{
	size_t o = 0, cap = sizeof(a->folds_line);
	const char *f;

	a->folds_line[0] = '\0';
	for (size_t i = 0; (f = collector_fold(a->coll, i)) && o + 8 < cap; i++)
		o += (size_t)snprintf(a->folds_line + o, cap - o, "%s%s" ROUTE_LEARN_FOLD,
				      i ? " " : "learned folds: ", f);
	if (o >= cap)
		memcpy(a->folds_line + cap - 4, "...", 4);
	return a->folds_line;
}

/* One interval on whichever view is active: JSON lines, the live view or
 * the batch printer. Views sum endpoints across hosts. */
static void snapshot_show(struct app *a, const struct snapshot *merged,
			  const struct store_health *h)
{
	/* Learned folds are news for a log reader too (stderr: stdout may be JSON). */
	for (size_t i = 0; !a->tui && i < merged->nfolds; i++)
		fprintf(stderr, "l7top: learned fold %s" ROUTE_LEARN_FOLD "\n", merged->folds[i]);
	const char *db_status = a->db_off[0] ? a->db_off : h->last_error;
	struct batch_info info = {
		.target = a->opt.read_pcap ? a->opt.read_pcap : a->target_name,
		.npids = a->target.npids,
		.ports = a->ports_str,
		.netns = a->opt.read_pcap ? NULL : a->netns_str,
		.unix_unseen = a->unix_str,
		.db_status = db_status,
		.max_rows = a->opt.max_rows,
		.tls_mode = a->tls ? tls_probe_modes(a->tls)
			  : a->opt.keylog_in ? "keylog" : a->opt.read_pcap ? NULL : "off",
	};

	if (a->opt.json) {
		emit_json(a, merged);
	} else if (a->tui) {
		const char *warnings[] = { a->unix_warn, folds_describe(a) };
		struct tui_header th = {
			.warnings = warnings,
			.nwarnings = 2,   /* empty ones are not shown */
			.target = info.target,
			.npids = a->target.npids,
			.ports = a->ports_str,
			.netns = a->netns_str,
			.db_path = a->store ? a->opt.db : NULL,
			.db_error = db_status,
			.db_dropped = h->dropped,
			.start_ms = a->start_ms,
			.now_ms = now_ms(),
		};
		tui_push_snapshot(a->tui, merged, &th);
		tui_draw(a->tui);
	} else {
		batch_print(stdout, merged, &info);
	}
}

/*
 * A DB write outage began or ended: one line each on stderr (the live view
 * shows it in its header instead: stderr is its screen). The store notes
 * the outage in the session row itself once it can.
 */
static void db_health_say(struct app *a, const struct store_health *h)
{
	bool began = h->outages > a->said_outages, ended = h->recoveries > a->said_recoveries;

	a->said_outages = h->outages;
	a->said_recoveries = h->recoveries;
	if (a->tui)
		return;
	if (began)
		fprintf(stderr, "l7top: DB %s: write failed: %s; stats are kept in memory, the next "
			"interval retries\n", a->opt.db, h->outage_why);
	if (ended && h->outages == h->recoveries)
		fprintf(stderr, "l7top: DB %s: writes work again (%lu intervals were not stored)\n",
			a->opt.db, (unsigned long)h->outage_lost);
}

/* Ends the current interval at end_ms: snapshot, show, hand to storage. */
static void interval_close(struct app *a, uint64_t end_ms)
{
	struct store_health h = { 0 };
	struct snapshot *s = snapshot_take(a, end_ms), *merged;

	if (!s) {
		fprintf(stderr, "l7top: out of memory taking a snapshot\n");
		return;
	}
	if (a->store) {
		store_get_health(a->store, &h);
		db_health_say(a, &h);
	}
	/* /metrics keeps the host label, like storage. */
	if (a->prom)
		prom_update(a->prom, s);            /* -ENOMEM: the row is missing from scrapes */
	merged = snapshot_fold_hosts(s);
	if (merged) {
		snapshot_show(a, merged, &h);
		if (merged != s)
			snapshot_free(merged);
	}
	flush_dump(a);
	/* Storage keeps the per-host rows and the request log. */
	if (a->store)
		store_push(a->store, s);      /* the store owns s now, even on -EAGAIN */
	else
		snapshot_free(s);
}

static void drain_capture(struct app *a)
{
	while (capture_dispatch(a->cap, DISPATCH_BATCH, on_packet, a) > 0)
		;
}

/* ---- TLS ------------------------------------------------------------------ */

static void on_tls_data(void *ctx, const struct tls_data *d)
{
	struct app *a = ctx;
	collector_stream_data(a->coll, d->tgid, d->conn_id, d->dir, d->buf, d->caplen, d->len,
			      d->ts_ns);
}

static void on_tls_close(void *ctx, uint32_t tgid, uint64_t conn_id, uint64_t ts_ns)
{
	struct app *a = ctx;
	collector_stream_close(a->coll, tgid, conn_id, ts_ns);
}

static void on_tls_fork(void *ctx, uint32_t parent, uint32_t child)
{
	struct app *a = ctx;
	(void)parent, (void)child;
	a->resync_pids = true;
}

/* Keys mode: a secret is filed for the connection it belongs to; it goes
 * nowhere else (the key log, if asked for, is written by the collector's
 * callback once the connection matched, see on_keylog). */
static void on_tls_secret(void *ctx, const struct tls_secret *sec)
{
	struct app *a = ctx;

	if (sec->kind < 0 || sec->kind >= TLS_KEY_SECRETS)
		return;
	/* -ENOSPC is counted by the collector (tls secrets lost). */
	collector_tls_secret(a->coll, sec->id_kind, sec->id, sec->id_len,
			     TLS_KEY_TO_SECRET[sec->kind], sec->secret, sec->len, now_ns());
	a->tls_secrets_new = true;
}

/* Records waiting in the TLS rings to the collector; then follows any fork at
 * once, so a new NGINX worker is probed before it takes many requests. */
static void drain_tls(struct app *a)
{
	const struct tls_sink sink = {
		.data = on_tls_data, .close = on_tls_close, .fork = on_tls_fork,
		.secret = on_tls_secret, .ctx = a,
	};

	if (!a->tls)
		return;
	tls_probe_consume(a->tls, &sink);
	if (a->tls_secrets_new) {
		/* Records that arrived before their keys decrypt now. */
		a->tls_secrets_new = false;
		collector_tls_kick(a->coll);
	}
	if (a->resync_pids) {
		a->resync_pids = false;
		rescan(a);
	}
}

static void on_tls(struct loop *l, int fd, void *ctx)
{
	(void)l, (void)fd;
	drain_tls(ctx);
}

/* Also takes a TLS port off the socket filter soon after its first
 * ClientHello, so few handshakes are seen on both paths. */
static void on_tls_timer(struct loop *l, int fd, void *ctx)
{
	(void)l;
	loop_timer_ack(fd);
	drain_tls(ctx);
	refresh_tls_ports(ctx);
}

/*
 * --keylog: a connection took a secret; one NSS key log line, flushed at
 * once so Wireshark can read along. TLS 1.3 secrets reach it here, not from
 * the probe, because only the collector knows their client_random.
 */
static void on_keylog(void *ctx, const uint8_t client_random[32], int kind, const uint8_t *secret,
		      size_t len)
{
	static const char *const LABEL[TLS_SECRET_KINDS] = {
		[TLS_SECRET_CLIENT_HS] = "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
		[TLS_SECRET_SERVER_HS] = "SERVER_HANDSHAKE_TRAFFIC_SECRET",
		[TLS_SECRET_CLIENT_AP] = "CLIENT_TRAFFIC_SECRET_0",
		[TLS_SECRET_SERVER_AP] = "SERVER_TRAFFIC_SECRET_0",
		[TLS_SECRET_MASTER] = "CLIENT_RANDOM",
	};
	struct app *a = ctx;

	if (!a->keylog || kind < 0 || kind >= TLS_SECRET_KINDS)
		return;
	fprintf(a->keylog, "%s ", LABEL[kind]);
	for (size_t i = 0; i < 32; i++)
		fprintf(a->keylog, "%02x", client_random[i]);
	fputc(' ', a->keylog);
	for (size_t i = 0; i < len; i++)
		fprintf(a->keylog, "%02x", secret[i]);
	fputc('\n', a->keylog);
	if (fflush(a->keylog)) {
		fprintf(stderr, "l7top: --keylog %s: %s; no more secrets are written\n", a->opt.keylog,
			strerror(errno));
		fclose(a->keylog);
		a->keylog = NULL;
	}
}

/* --keylog: created (or truncated) with mode 0600, never through a symlink. */
static int open_keylog(struct app *a)
{
	int fd;

	if (!a->opt.keylog)
		return 0;
	fd = open(a->opt.keylog, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) || !(a->keylog = fdopen(fd, "w"))) {
		fprintf(stderr, "l7top: --keylog %s: %s\n", a->opt.keylog, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_USAGE;
	}
	return 0;
}

/* --keylog-in: the whole file, as collector_tls_keylog() wants it, within
 * KEYLOG_MAX_LINE per line and KEYLOG_MAX_FILE in all. */
static int load_keylog(struct app *a, uint64_t now)
{
	FILE *f = fopen(a->opt.keylog_in, "re");
	char *buf = NULL, why[128];
	size_t len = 0, bad = 0;
	int rc, added;

	if (!f) {
		fprintf(stderr, "l7top: --keylog-in %s: %s\n", a->opt.keylog_in, strerror(errno));
		return EXIT_USAGE;
	}
	rc = bounded_read(f, KEYLOG_MAX_FILE, KEYLOG_MAX_LINE, &buf, &len, why, sizeof(why));
	fclose(f);
	if (rc) {
		fprintf(stderr, "l7top: --keylog-in %s: %s%s\n", a->opt.keylog_in, why,
			rc == -E2BIG || rc == -EFBIG ? ": not an NSS key log" : "");
		return EXIT_RUNTIME;
	}
	added = collector_tls_keylog(a->coll, buf, len, now, &bad);
	if (added < 0)
		fprintf(stderr, "l7top: --keylog-in %s: %s (the table holds 4096 connections)\n",
			a->opt.keylog_in, strerror(-added));
	else
		fprintf(stderr, "l7top: --keylog-in %s: %d secrets, %zu malformed lines\n",
			a->opt.keylog_in, added, bad);
	if (buf)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return EXIT_OK;
}

/*
 * --tls keys|calls|auto: an error only when BPF itself fails; no OpenSSL is
 * a notice. Keys mode decrypts in the collector; when auto ends up with
 * calls everywhere, the collector sets wire TLS aside again.
 */
static int open_tls(struct app *a)
{
	char err[256];
	struct tls_probe_opts o = {
		.pids = a->target.pids,
		.npids = a->target.npids,
		.target_name = a->target_name,
		.ssl_lib = a->opt.ssl_lib,
		.capture_bytes = a->opt.capture_bytes,
		.log = a->opt.no_tui ? stderr : NULL,
		.mode = options_tls_probe_mode(a->opt.tls),
	};

	a->tls_modes = "off";
	if (a->opt.tls == TLS_OFF)
		return 0;
	if (tls_probe_open(&a->tls, &o, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return EXIT_RUNTIME;
	}
	if (open_keylog(a))
		return EXIT_USAGE;
	a->tls_modes = tls_probe_modes(a->tls);
	if (!strcmp(a->tls_modes, "calls") && !a->opt.keylog_in)
		collector_tls_decrypt_off(a->coll);
	if (a->opt.keylog_in)
		return load_keylog(a, now_ns());
	return 0;
}

/*
 * Keys mode: OpenSSL derives a secret before it sends the records it
 * protects, so draining the key ring before each packet batch files the
 * keys of every server record about to be read; the ring needs no wake-up
 * per handshake, and records seldom wait (at most the client's, until the
 * server reads its Finished). An empty ring costs two loads.
 */
static void drain_keys_first(struct app *a)
{
	if (a->tls && strcmp(tls_probe_modes(a->tls), "calls"))
		drain_tls(a);
}

static void on_capture(struct loop *l, int fd, void *ctx)
{
	struct app *a = ctx;
	(void)fd;
	drain_keys_first(a);
	int n = capture_dispatch(a->cap, DISPATCH_BATCH, on_packet, a);
	if (n < 0 && n != -EAGAIN) {
		fprintf(stderr, "l7top: capture failed: %s\n", strerror(-n));
		a->exit_code = EXIT_RUNTIME;
		loop_stop(l);
		return;
	}
	/* The ring overflowed: its holes will never fill, resync at once. */
	uint64_t drops = capture_drops(a->cap);
	if (drops != a->seen_drops) {
		a->seen_drops = drops;
		collector_skip_holes(a->coll);
	}
}

static void on_interval(struct loop *l, int fd, void *ctx)
{
	struct app *a = ctx;
	loop_timer_ack(fd);
	/* The last interval is closed once, by the exit path. */
	if (a->opt.duration_ms && now_ms() + 50 >= a->start_ms + a->opt.duration_ms) {
		loop_stop(l);
		return;
	}
	drain_keys_first(a);
	drain_capture(a);
	drain_tls(a);
	refresh_tls_ports(a);
	interval_close(a, now_ms());
}

static void on_rescan(struct loop *l, int fd, void *ctx)
{
	struct app *a = ctx;
	(void)l;
	loop_timer_ack(fd);
	rescan(a);
	collector_expire(a->coll, now_ns());
}

static void on_signal(struct loop *l, int fd, void *ctx)
{
	struct signalfd_siginfo si;
	(void)ctx;
	if (read(fd, &si, sizeof(si)) == sizeof(si))
		loop_stop(l);
}

/* ---- setup --------------------------------------------------------------- */

/* 7d, 12h, 90s or forever: the largest whole unit, as --retention takes it. */
static const char *retention_str(uint64_t ms, char *buf, size_t n)
{
	if (!ms)
		snprintf(buf, n, "forever");
	else if (ms % 86400000 == 0)
		snprintf(buf, n, "%lud", (unsigned long)(ms / 86400000));
	else if (ms % 3600000 == 0)
		snprintf(buf, n, "%luh", (unsigned long)(ms / 3600000));
	else
		snprintf(buf, n, "%lus", (unsigned long)(ms / 1000));
	return buf;
}

/* A fold an earlier run learned: applied at once, so rows keep their names. */
static void on_stored_fold(void *ctx, const char *prefix)
{
	struct app *a = ctx;
	collector_fold_add(a->coll, prefix);
}

static int open_store(struct app *a)
{
	char err[256], pids[512] = "", settings[1024], dur[24];
	size_t n = 0;
	int e;

	if (a->opt.no_db)
		return 0;
	if (!strcmp(a->opt.db, DEFAULT_DB))
		mkdir("/var/lib/l7top", 0700);
	for (size_t i = 0; i < a->target.npids && n + 12 < sizeof(pids); i++)
		n += (size_t)snprintf(pids + n, sizeof(pids) - n, "%s%d", i ? "," : "",
				      a->target.pids[i]);
	/* Which TLS mode the processes run in; never anything about secrets. */
	char tls_set[48] = "";
	if (a->tls || a->opt.keylog_in)
		snprintf(tls_set, sizeof(tls_set), " tls=%s%s", a->tls ? a->tls_modes : "keylog",
			 a->tls && a->opt.keylog_in ? "+keylog" : "");
	snprintf(settings, sizeof(settings),
		 "interval_ms=%lu max_endpoints=%zu retention=%s slow_ms=%u log_status=%u%s%s%s%s%s%s",
		 (unsigned long)a->opt.interval_ms, a->opt.max_endpoints,
		 retention_str(a->opt.retention_ms, dur, sizeof(dur)), a->opt.slow_ms,
		 a->opt.log_status, tls_set, a->opt.read_pcap ? " read=pcap" : "",
		 a->netns_str[0] ? " netns=" : "", a->netns_str,
		 a->unix_str[0] ? " unix_not_captured=" : "", a->unix_str);
	struct store_session sess = {
		.target = a->opt.read_pcap ? a->opt.read_pcap : a->target.cmdline,
		.pids = pids,
		.version = L7TOP_VERSION,
		.settings = settings,
		.started_ms = a->start_ms,
		.capture = a->opt.read_pcap ? "pcap" : a->tls ? "plain+tls" : "plain",
	};
	e = store_open(&a->store, a->opt.db, &sess, err, sizeof(err));
	if (e == -EROFS || e == -EACCES || e == -ENOSPC) {
		/* The disk is the problem, not the DB: watch on, in memory. */
		fprintf(stderr, "%s: watching without a DB\n", err);
		snprintf(a->db_off, sizeof(a->db_off), "DB off: %s", err);
		a->store = NULL;
		return 0;
	}
	if (e) {
		fprintf(stderr, "%s\n", err);
		return EXIT_RUNTIME;
	}
	store_set_retention(a->store, a->opt.retention_ms, STORE_ROLLUP_DEFAULT_MS);
	if (store_folds(a->store, on_stored_fold, a))
		fprintf(stderr, "l7top: cannot read learned folds from %s: folding starts over\n",
			a->opt.db);
	return 0;
}

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Must run before any thread exists (the SQLite writer, libbpf's): threads
 * inherit the mask, so the stop signals then only ever reach the signalfd
 * and every exit path flushes the last interval. */
static void block_signals(void)
{
	sigset_t set;
	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int signals_fd(void)
{
	sigset_t set;
	stop_signals(&set);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* --write: right after the capture opens, so no kept packet is missed. */
static int open_dump(struct app *a)
{
	char err[320];

	if (!a->opt.write_pcap)
		return 0;
	if (capture_dump_open(a->cap, a->opt.write_pcap, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return EXIT_RUNTIME;
	}
	return 0;
}

/* --prometheus: after block_signals(), since the server thread inherits the mask. */
static int open_prom(struct app *a)
{
	char err[320];
	struct prom_config pc = {
		.listen = a->opt.prometheus,
		.version = L7TOP_VERSION,
		.max_series = a->opt.max_endpoints + 1,
	};

	if (!a->opt.prometheus)
		return 0;
	if (prom_open(&a->prom, &pc, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return EXIT_RUNTIME;
	}
	return 0;
}

static int run_live(struct app *a)
{
	char err[256];
	int rc = target_init(a);
	if (rc >= 0)
		return rc;
	struct capture_netns ns[CAPTURE_MAX_NETNS];
	struct capture_opts co = { .netns = ns, .nnetns = target_capture_netns(&a->target, ns) };
	/* libbpf's warnings (both probe families); the live view will hand its log file. */
	capture_set_libbpf_log(stderr);
	int e = capture_open_live(&a->cap, &co, err, sizeof(err));
	if (e) {
		fprintf(stderr, "%s\n", err);
		return e == -EPERM ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if ((rc = open_dump(a)))
		return rc;
	apply_ports(a);
	open_upstreams(a);
	if ((rc = open_tls(a)))
		return rc;
	if ((rc = open_store(a)))
		return rc;

	int sfd = signals_fd();
	if (sfd < 0 || loop_add_fd(a->loop, sfd, on_signal, a) ||
	    loop_add_fd(a->loop, capture_fd(a->cap), on_capture, a) ||
	    loop_add_timer(a->loop, a->opt.interval_ms, on_interval, a) < 0 ||
	    loop_add_timer(a->loop, RESCAN_MS, on_rescan, a) < 0 ||
	    (a->opt.pidfile && loop_add_timer(a->loop, PIDFILE_MS, on_pidfile_timer, a) < 0) ||
	    (a->tls && (loop_add_fd(a->loop, tls_probe_fd(a->tls), on_tls, a) ||
			loop_add_timer(a->loop, TLS_DRAIN_MS, on_tls_timer, a) < 0))) {
		fprintf(stderr, "l7top: cannot set up the event loop: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	watch_roots(a);
	if (a->prom)
		prom_set_target(a->prom, a->target_name);
	a->interval_start_ms = now_ms();
	fprintf(stderr, "l7top: watching %s (%zu pids), ports %s, netns %s, db %s, tls %s%s%s\n",
		a->target_name, a->target.npids, a->ports_str, a->netns_str,
		a->store ? a->opt.db : "none", a->tls_modes, a->unix_warn[0] ? "; " : "",
		a->unix_warn);
	/* After the last line on stderr: curses owns the terminal from here. */
	if (!a->opt.no_tui && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
		struct tui_config tc = { .interval_ms = a->opt.interval_ms,
					 .max_endpoints = a->opt.max_endpoints };
		err[0] = '\0';
		a->tui = tui_new(&tc);
		if (!a->tui || tui_start(a->tui, a->loop, err, sizeof(err))) {
			fprintf(stderr, "%s; batch output instead\n", err[0] ? err : "l7top: out of memory");
			tui_free(a->tui);
			a->tui = NULL;
		}
	}
	if (loop_run(a->loop) < 0) {
		fprintf(stderr, "l7top: event loop failed: %s\n", strerror(errno));
		a->exit_code = EXIT_RUNTIME;
	}
	drain_keys_first(a);
	drain_capture(a);
	drain_tls(a);
	collector_flush(a->coll);
	interval_close(a, now_ms());
	bool had_tui = a->tui != NULL;
	tui_free(a->tui);            /* the terminal is restored before anything else prints */
	a->tui = NULL;
	if (had_tui && a->store) {
		struct store_health h;
		store_get_health(a->store, &h);
		if (h.outages)
			fprintf(stderr, "l7top: DB %s: writes failed %lu times during the run (last: %s)"
				"; the session row notes when\n", a->opt.db, (unsigned long)h.outages,
				h.outage_why);
	}
	close(sfd);
	if (a->stop_reason[0])
		fprintf(stderr, "l7top: %s\n", a->stop_reason);
	print_capture_summary(a);
	return a->exit_code;
}

/* A jump in the capture's clock: where, kept for the one closing line. */
static void note_jump(struct app *a, const struct replay_step *st)
{
	uint64_t off = capture_offset(a->cap);
	uint64_t s = (uint64_t)(st->jump_ms < 0 ? -st->jump_ms : st->jump_ms) / 1000;
	size_t n;

	n = (size_t)snprintf(a->jump, sizeof(a->jump), "the capture's clock jumps %s %lu s",
			     st->jump_ms < 0 ? "back" : "ahead", (unsigned long)s);
	if (off != UINT64_MAX && n < sizeof(a->jump))
		snprintf(a->jump + n, sizeof(a->jump) - n, " at the record at offset %lu",
			 (unsigned long)off);
}

/* Replays a pcap: intervals follow the capture's own clock (replay_clock.h). */
static void on_offline_packet(void *ctx, const struct capture_pkt *p)
{
	struct app *a = ctx;
	struct replay_step st;
	bool first = !a->clock.started;

	replay_clock_place(&a->clock, p->ts_ns / 1000000, &st);
	if (st.report)
		note_jump(a, &st);
	if (st.close) {
		a->interval_start_ms = st.close_start_ms;
		interval_close(a, st.close_end_ms);
	}
	if (first)
		a->start_ms = a->clock.start_ms;
	a->interval_start_ms = a->clock.start_ms;
	on_packet(a, p);
}

/* A stop signal waiting? The offline loop has no epoll to hear it. */
static bool stop_requested(struct app *a, int sfd)
{
	struct signalfd_siginfo si;

	if (sfd < 0 || read(sfd, &si, sizeof(si)) != sizeof(si))
		return false;
	fprintf(stderr, "l7top: %s: stopped by %s after %lu packets; the last interval is shown\n",
		a->opt.read_pcap, strsignal((int)si.ssi_signo),
		(unsigned long)capture_records(a->cap));
	a->stopped = true;
	return true;
}

/*
 * What the end of a replay says, in one line at most: the reason it
 * stopped early, or that nothing could be read, or the first clock jump
 * (which an error line mentions too: a jump is often the first sign of a
 * corrupt file).
 */
static int offline_verdict(struct app *a, int rc)
{
	struct capture_stats cs;
	char also[128] = "";

	if (a->jump[0])
		snprintf(also, sizeof(also), " (before it, %s)", a->jump);
	if (rc < 0 && rc != -ENODATA) {
		fprintf(stderr, "l7top: %s: %s%s\n", a->opt.read_pcap, capture_error(a->cap), also);
		return EXIT_RUNTIME;
	}
	capture_get_stats(a->cap, &cs);
	if (!capture_records(a->cap)) {
		fprintf(stderr, "l7top: %s holds no packets\n", a->opt.read_pcap);
		return EXIT_RUNTIME;
	}
	if (!cs.received) {
		fprintf(stderr, "l7top: %s: none of its %lu packets is IP over a link type l7top "
			"reads\n", a->opt.read_pcap, (unsigned long)capture_records(a->cap));
		return EXIT_RUNTIME;
	}
	if (a->jump[0])
		fprintf(stderr, "l7top: %s: %s; only intervals with packets were shown\n",
			a->opt.read_pcap, a->jump);
	return EXIT_OK;
}

static int run_offline(struct app *a)
{
	char err[512];
	int rc, sfd, e;

	if ((e = capture_open_offline(&a->cap, a->opt.read_pcap, err, sizeof(err)))) {
		fprintf(stderr, "%s\n", err);
		return e == -EBADMSG ? EXIT_RUNTIME : EXIT_USAGE;
	}
	if ((rc = open_dump(a)))
		return rc;
	memcpy(a->target.ports, a->opt.ports, a->opt.nports * sizeof(a->opt.ports[0]));
	a->target.nports = a->opt.nports;
	apply_ports(a);
	/* Filed at time 0: the table's ttl must not run against the capture's clock. */
	if (a->opt.keylog_in && (rc = load_keylog(a, 0)))
		return rc;
	if ((rc = open_store(a)))
		return rc;
	replay_clock_init(&a->clock, a->opt.interval_ms);
	sfd = signals_fd();
	while (!a->exit_code && !stop_requested(a, sfd) &&
	       (rc = capture_dispatch(a->cap, DISPATCH_BATCH, on_offline_packet, a)) > 0)
		;
	if (sfd >= 0)
		close(sfd);
	if (!a->exit_code && !a->stopped)
		a->exit_code = offline_verdict(a, rc);
	collector_expire(a->coll, a->last_pkt_ns + 3600ull * 1000000000ull);
	collector_flush(a->coll);     /* rows still held back go to OTHER: nothing is lost */
	if (a->clock.started)
		interval_close(a, a->clock.start_ms + a->opt.interval_ms);
	return a->exit_code;
}

int main(int argc, char **argv)
{
	struct app a = { 0 };
	int rc;

	if (argc > 1 && !strcmp(argv[1], "query"))
		return query_main(argc - 1, argv + 1);
	if ((rc = options_parse(argc, argv, &a.opt)) >= 0)
		return rc;
	block_signals();
	/* Until the live view exists, a terminal gets the batch output too. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct collector_config cc = {
		.max_conns = a.opt.max_conns,
		.max_endpoints = a.opt.max_endpoints,
		.learn_ports = a.opt.read_pcap && !a.opt.nports,
		.slow_ms = a.opt.slow_ms,
		.log_status = a.opt.log_status,
		.skip = on_skip,
		.skip_ctx = &a,
		/* auto may still turn it off (open_tls) when every process runs calls */
		.tls_decrypt = a.opt.read_pcap ? a.opt.keylog_in != NULL
					       : a.opt.tls == TLS_KEYS || a.opt.tls == TLS_AUTO,
		.tls_keylog = a.opt.keylog ? on_keylog : NULL,
		.tls_keylog_ctx = &a,
		.learn_upstreams = !a.opt.read_pcap,
		.fold_values = a.opt.fold_after,
		.fold_off = a.opt.fold_after == 0,
		.routes = a.opt.routes,
	};
	a.coll = collector_new(&cc);
	a.loop = loop_new();
	if (!a.coll || !a.loop) {
		fprintf(stderr, "l7top: out of memory\n");
		return EXIT_RUNTIME;
	}
	a.start_ms = now_ms();
	rc = open_prom(&a);
	if (!rc)
		rc = a.opt.read_pcap ? run_offline(&a) : run_live(&a);

	if (a.store)
		store_close(a.store, a.opt.read_pcap ? a.interval_start_ms : now_ms());
	tls_probe_close(a.tls);
	upstreams_close(a.ups);
	if (a.keylog)
		fclose(a.keylog);
	prom_close(a.prom);
	if (a.cap)
		capture_close(a.cap);
	collector_free(a.coll);
	loop_free(a.loop);
	options_free(&a.opt);
	return rc;
}
