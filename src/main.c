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
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "collector/collector.h"
#include "collector/route_learn.h"
#include "export/json_lines.h"
#include "export/prom.h"
#include "probes/capture.h"
#include "probes/sock_iter.h"
#include "probes/target.h"
#include "probes/target_peers.h"
#include "probes/target_unix.h"
#include "probes/upstreams.h"
#include "probes/tls.h"
#include "probes/tls_keys.h"
#include "collector/tls_secrets.h"   /* tls_keylog_label() */
#include "src/bounded_read.h"
#include "src/loop.h"
#include "src/options.h"
#include "src/replay_clock.h"
#include "storage/query.h"
#include "storage/store.h"
#include "tui/batch.h"
#include "tui/tui.h"

#define RESCAN_MS          2000
/* A rescan reads every fd of every target process once (and sock_diag):
 * with 8,000 connections a BPF task_file iterator reads a worker's in 5-10
 * ms, its /proc/PID/fd links took 86-104 ms (sock_iter.h; it was ~0.2 s,
 * reading /proc/net/tcp and the fds thrice). The next one waits at
 * least RESCAN_SHARE times as long as the last took: rescans take at most
 * 1/RESCAN_SHARE of the loop, and a small target is still rescanned every
 * RESCAN_MS. */
#define RESCAN_SHARE       50
#define SINKS_MAX          4       /* the DB, /metrics, and one of JSON / live view / batch */
#define PIDFILE_MS         250
/* Two of the capture ring's block timeouts (CAPTURE_TIMEOUT_MS, 50 ms). */
#define EXIT_LINGER_MS     150
#define DISPATCH_BATCH     4096
#define DROPS_READ_MS      50     /* ring drop counter read at most this often */
/* The TLS probes wake l7top only when 256 KiB wait; this bounds the delay otherwise. */
#define TLS_DRAIN_MS       50
/* Forks within this of the last fork's rescan wait for the next drain. */
#define FORK_RESCAN_MS     50
/* With the connect tracepoint on, /proc's peers are read when the watched
 * processes change, and at least this often. */
#define PEERS_FULL_MS      30000

/*
 * --tls auto measures keys mode per target over windows of at least
 * AUTO_WINDOW_MS and AUTO_MIN_REQS requests (the first AUTO_WARMUP_MS are
 * not counted: the workers are still being probed) and switches new
 * connections to calls when keys mode costs more per request, in µs:
 *  - keys: the EVP_KDF_derive traps counted per request (measured here: 21
 *    per TLS 1.3 handshake of NGINX with Debian's OpenSSL 3.0, 4 per full
 *    TLS 1.2 one, 3 per resumed one; none per request on a kept-alive
 *    connection) x AUTO_TRAP_US, plus l7top's own CPU per request,
 *    measured over the window (decryption, packets: on a 2-core box it
 *    competes with the server as much as a trap does);
 *  - calls: AUTO_CALLS_TRAPS_REQ traps per request (an SSL_write and two
 *    SSL_read per small request, entry + return each) plus
 *    AUTO_CALLS_TRAPS_HS per handshake (SSL_set_fd, SSL_free), x
 *    AUTO_TRAP_US, plus AUTO_CALLS_CPU_US of l7top's CPU per request.
 * AUTO_TRAP_US is fitted where the choice is close, on this 2-core VM
 * with NGINX and wrk (own libssl copy), side by side, each µs counted as
 * the unobserved rate lost per request: under Connection: close with
 * resumed TLS 1.2, keys mode (3.1 traps + 26-29 µs of l7top CPU per
 * request) lost ~70 µs, calls mode (8 traps + 4.7 µs) ~33 µs; kept alive,
 * keys mode (no trap, 1.7 µs) lost ~4.5 µs. So l7top's CPU counts ~2.6
 * times (it takes a core from the server or its client), and a trap about
 * as much as one µs of it. On a kept-alive connection a trap costs far
 * more (the bench's empty-uprobe floor, 4 per request, left ~0.1 of the
 * rate), but keys mode pays none there and wins at any weight.
 * AUTO_CALLS_CPU_US: calls mode's CPU per request measured the same way.
 * So TLS 1.3 switches above ~0.1 handshakes per request, resumed TLS 1.2
 * above ~0.4.
 */
#define AUTO_TRAP_US         1.0
#define AUTO_CALLS_CPU_US    5.0
#define AUTO_WARMUP_MS       1000
#define AUTO_WINDOW_MS       1000
#define AUTO_MIN_REQS        200
#define AUTO_CALLS_TRAPS_REQ 6.0
#define AUTO_CALLS_TRAPS_HS  2.0
/*
 * Below this many handshakes per request keys mode stays, whatever the
 * CPU: calls mode saves traps per handshake only, and kept alive keys mode
 * wins at any weight (above). l7top's CPU per request counts plaintext
 * work too: a plaintext NGINX with 10,000 endpoints in the live view went
 * over calls mode's estimate at 0.00 handshakes per request, switched, and
 * the uprobes' attach held the loop for ~1 s (100,000+ packets dropped).
 */
#define AUTO_MIN_HS_REQ      0.02
/*
 * The keys probe stays at least this long after the switch: handshakes in
 * flight finish keyed. It is also the trial: the switch holds only if
 * SSL_set_fd (how the calls path tells new connections) came for at least
 * AUTO_SET_FD_SHARE of AUTO_TRIAL_HS handshakes; servers on BIOs (Node.js,
 * Apache's mod_ssl) never call it, and their new connections stay keyed.
 * A trial without that many handshakes within AUTO_TRIAL_MAX_MS is undone.
 */
#define AUTO_SWITCH_GRACE_MS 1000
#define AUTO_TRIAL_HS        20
#define AUTO_SET_FD_SHARE    0.9
#define AUTO_TRIAL_MAX_MS    10000

enum auto_phase { AUTO_OFF, AUTO_KEYS, AUTO_SWITCHING, AUTO_CALLS };

/* --tls auto's state for the target (one tls_probe). */
struct tls_auto {
	enum auto_phase phase;
	uint64_t win_ms;             /* window start; 0 = not started */
	uint64_t hits0, hs0, reqs;   /* traps and handshakes at its start, requests since */
	uint64_t cpu0_us;            /* l7top's CPU at its start */
	uint64_t switch_ms;
	uint64_t sw_hs, sw_fds;      /* handshakes and SSL_set_fds at the switch */
	bool said;                   /* the first choice was said */
	char note[512];              /* the choice and why: stderr, session notes, header */
};


struct app {
	struct options opt;
	struct loop *loop;
	struct capture *cap;
	struct tls_probe *tls;
	struct sock_iter *sock_iter; /* the rescans' fd reader; NULL: /proc's links */
	struct upstream_probe *ups;  /* the target's outgoing connections; NULL offline */
	struct target_unix unix_ups; /* its connections to unix-socket backends (not seen) */
	enum tls_mode tls_mode;      /* what the probes run: TLS_MODE_OFF without them */
	bool tls_secrets_new;        /* secrets filed since the last collector_tls_kick() */
	FILE *keylog;                /* --keylog, NULL when off */
	struct collector *coll;
	struct store *store;         /* NULL: no DB */
	struct prom *prom;           /* --prometheus, for its target label; a sink otherwise */
	struct sink sinks[SINKS_MAX];    /* every output, in push order */
	bool sink_failed[SINKS_MAX]; /* said why and ended the run: not pushed to again */
	size_t nsinks;
	struct sink *db_sink;        /* the store's, for the DB health the others show */
	bool live_view;              /* the live view owns the terminal: nothing on stderr */
	struct run_info run;         /* what every output shows beside the numbers */
	char pids_str[512];
	char settings[1024];
	const char *warnings[3];     /* the live view's status line: unix_warn, the folds, auto */
	struct tls_auto tauto;
	struct tls_sink tls_sink;        /* where the TLS probe's records go */
	struct target target;
	char target_name[160];       /* "nginx[1234]", or every target's: "nginx[1],nginx[2]" */
	/* Each target's name, as rows carry it: set when its root is first seen
	 * alive, kept while it is gone and after its workers are adopted. */
	char tnames[TARGET_MAX_ROOTS][TARGET_NAME_MAX];
	uint8_t root_group[64];      /* the target of each of opt.roots */
	bool adopted;                /* opt.roots include survivors of a gone root */
	char ports_str[128];
	char netns_str[128];         /* the namespaces captured in, by name */
	char unix_str[256];          /* unix listeners packet capture cannot see, "" if none */
	char unix_warn[340];         /* ... said in the live view's status line */
	uint64_t start_ms;           /* session start */
	uint64_t interval_start_ms;
	unsigned intervals_untrimmed; /* closed since the heap last gave pages back */
	uint64_t last_kernel_drops;
	uint64_t last_tls_drops;
	uint64_t last_tls_unprobed;
	uint16_t tls_ports[TARGET_MAX_PORTS];   /* ports the TLS path owns (calls mode) */
	size_t ntls_ports;
	bool resync_pids;            /* a target process forked: attach at once */
	uint64_t fork_rescan_ms;     /* monotonic: the last rescan a fork asked for */
	uint64_t last_pkt_ns;        /* offline: the capture's clock */
	struct replay_clock clock;   /* offline: which interval a packet is in */
	char jump[96];               /* offline: the first clock jump, "" if none */
	bool stopped;                /* offline: a signal ended the replay */
	uint64_t captured_bytes;     /* bytes the kernel copied to us */
	uint64_t seen_drops;         /* ring drops already acted on */
	uint64_t drops_read_ms;      /* when the kernel's drop counter was last read */
	uint64_t rescan_due_ms;      /* monotonic: no timed rescan before (RESCAN_SHARE) */
	char db_off[300];            /* why there is no DB ("" when there is one) */
	char folds_line[VIEW_WARN_LEN];   /* "learned folds: /u/{*} ..." for the live view */
	uint64_t said_outages, said_recoveries;   /* DB outages told on stderr */
	int root_fds[64];            /* pidfds of the roots: readable when one exits */
	size_t nroot_fds;
	bool target_gone;            /* --pidfile: every process exited, waiting for a new PID */
	uint64_t gone_ms;
	char gone_name[160];         /* who exited, "nginx[1234]" */
	char stop_reason[200];       /* said once the terminal is ours again */
	bool said_proc;              /* /proc/net/tcp over its bound, said */
	uint64_t peers_ms;           /* when /proc's peers were last read */
	struct pkt_batch *batch;     /* live packets held for collector_prefetch() */
	uint64_t batched;            /* ... that went through it */
	bool lo_only;                /* the capture ignores packets on their way out */
	bool lo_left;                /* the target's traffic left lo: never again */
	int exit_code;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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

/*
 * Where to capture: the namespaces where the target listens. Not the others:
 * a supervisor in the host's namespace whose servers run in containers
 * would otherwise add the host side of their veths, seeing each packet twice.
 */
static size_t target_capture_netns(const struct target *t, struct capture_netns *out)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nnetns && n < CAPTURE_MAX_NETNS; i++)
		if (t->netns[i].listens)
			out[n++] = (struct capture_netns){ .ino = t->netns[i].ino,
							   .pid = t->netns[i].pid };
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

	struct capture_netns was[CAPTURE_MAX_NETNS];
	size_t nwas = target_capture_netns(old, was);
	bool same = n == nwas;

	for (size_t i = 0; same && i < n; i++)
		same = ns[i].ino == was[i].ino;
	if (!a->cap || same)
		return;
	if (capture_set_netns(a->cap, ns, n, err, sizeof(err)) && !a->live_view)
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

/* "comm[pid]" of root r. */
static void root_name(const struct target *t, size_t r, char *buf, size_t n)
{
	snprintf(buf, n, "%.15s[%d]", t->roots[r].comm[0] ? t->roots[r].comm : "?", t->roots[r].pid);
}

/* Each distinct root its own target, in the order given (the last one
 * past the bound), as target_scan() numbers them. */
static void roots_ungroup(struct app *a)
{
	size_t next = 0;

	for (size_t i = 0; i < a->opt.nroots; i++) {
		size_t j = 0;
		while (j < i && a->opt.roots[j] != a->opt.roots[i])
			j++;
		size_t g = j < i ? a->root_group[j] : next++;
		a->root_group[i] = (uint8_t)(g < TARGET_MAX_ROOTS ? g : TARGET_MAX_ROOTS - 1);
	}
	a->adopted = false;
}

/* Names of targets whose root is alive and not yet named; the others keep theirs. */
static void name_targets(struct app *a)
{
	for (size_t r = 0; r < a->target.nroots; r++)
		if (!a->tnames[r][0] || (a->target.roots[r].comm[0] && !a->adopted))
			root_name(&a->target, r, a->tnames[r], sizeof(a->tnames[r]));
}

static void describe_target(struct app *a)
{
	size_t n = 0, o = 0;
	snprintf(a->target_name, sizeof(a->target_name), "%s[%d]",
		 a->target.comm[0] ? a->target.comm : "?", a->target.npids ? a->target.pids[0] : 0);
	name_targets(a);
	/* several targets: the run is all of them (session rows, headers) */
	for (size_t r = 0; a->target.nroots > 1 && r < a->target.nroots; r++) {
		o += (size_t)snprintf(a->target_name + o, sizeof(a->target_name) - o, "%s%s",
				      r ? "," : "", a->tnames[r]);
		if (o >= sizeof(a->target_name))
			break;
	}
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
	return a->tls && tls_probe_modes(a->tls) == TLS_MODE_CALLS;
}

/*
 * TLS ports leave the socket filter when the uprobes read them: in calls
 * mode, and once --tls auto's keys probe left (then a port leaves when no
 * connection keyed before the switch is open on it any more).
 */
static bool tls_ports_leave(const struct app *a)
{
	return tls_calls_only(a) || a->tauto.phase == AUTO_CALLS;
}

/*
 * The socket filter keeps the target's ports, minus those the collector saw
 * TLS on when the uprobes read them: their requests come through the TLS
 * path, and ciphertext would only cost ring slots and CPU. (With --tls off
 * the collector sets TLS connections aside itself.)
 */
static void apply_capture_ports(struct app *a)
{
	uint16_t keep[TARGET_MAX_PORTS];
	size_t n = 0;

	if (!a->cap || a->opt.read_pcap)
		return;
	for (size_t i = 0; i < a->target.nports; i++)
		if (!tls_ports_leave(a) || !port_in(a->target.ports[i], a->tls_ports, a->ntls_ports))
			keep[n++] = a->target.ports[i];
	capture_set_ports(a->cap, keep, n);
}

/*
 * Each root is a target: the collector learns their names, which target
 * each listener (namespace + port) and each process belongs to. With one
 * root there is one target, named as the run.
 */
static void apply_targets(struct app *a)
{
	const struct target *t = &a->target;
	static struct collector_listener ls[TARGET_MAX_LISTENERS];
	static struct collector_pid pids[TARGET_MAX_PIDS];

	name_targets(a);
	for (size_t i = 0; i < t->nlisteners; i++)
		ls[i] = (struct collector_listener){ .netns = (uint32_t)t->listeners[i].netns,
						     .port = t->listeners[i].port,
						     .target = t->listeners[i].root };
	for (size_t i = 0; i < t->npids; i++)
		pids[i] = (struct collector_pid){ .pid = (uint32_t)t->pids[i], .target = t->pid_root[i] };
	collector_set_targets(a->coll, (const char(*)[TARGET_NAME_MAX])a->tnames, t->nroots, ls,
			      t->nlisteners, pids, t->npids);
}

static void apply_ports(struct app *a)
{
	collector_set_ports(a->coll, a->target.ports, a->target.nports);
	apply_capture_ports(a);
	describe_target(a);
}

/* New TLS ports seen on the wire leave the socket filter (tls_ports_leave). */
static void refresh_tls_ports(struct app *a)
{
	uint16_t p[TARGET_MAX_PORTS], keyed[TARGET_MAX_PORTS];
	size_t n, nk = 0, m = 0;

	if (!tls_ports_leave(a))
		return;
	n = collector_tls_ports(a->coll, p, TARGET_MAX_PORTS);
	if (!tls_calls_only(a))
		nk = collector_tls_keyed_ports(a->coll, keyed, TARGET_MAX_PORTS);
	for (size_t i = 0; i < n; i++)
		if (!port_in(p[i], keyed, nk))
			p[m++] = p[i];
	if (m == a->ntls_ports && !memcmp(p, a->tls_ports, m * sizeof(p[0])))
		return;
	memcpy(a->tls_ports, p, m * sizeof(p[0]));
	a->ntls_ports = m;
	collector_tls_ports_left(a->coll, p, m);
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
	roots_ungroup(a);
	struct target_socks socks;
	err = target_scan_socks("/proc", a->opt.roots, NULL, a->opt.nroots, a->sock_iter,
				&a->target, &socks);
	target_socks_free(&socks);
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

__attribute__((format(printf, 2, 3)))
static void target_event(struct app *a, const char *fmt, ...);

/*
 * Loopback-only capture. While every listener of the target is bound to
 * loopback and every peer it talks to is on loopback, all its packets cross
 * lo, where a packet socket sees each twice: the copy on its way out is
 * cloned for the socket, only for the filter to drop it. Ignoring outgoing
 * packets saves that clone and a filter run per loopback packet (the exit
 * line counts the copies dropped leaving: none while this is on).
 * Once the target's traffic leaves lo, outgoing packets are read again, for
 * good: switching back would race its next connect out.
 */
static void loopback_leave(struct app *a, const char *why)
{
	bool was = a->lo_only;

	if (a->lo_left)
		return;
	a->lo_left = true;
	if (!was)
		return;
	/* Failing, the sockets hear outgoing packets again all the same (capture.c). */
	capture_loopback_only(a->cap, false);
	a->lo_only = false;
	target_event(a, "%s: packets are read on their way out too from now on", why);
}

/* What the kernel saw of the target's traffic leaving lo: true when it did
 * (said through loopback_leave()). Two loads from the filter's mapped .bss. */
static bool loopback_left(struct app *a)
{
	uint32_t connects;
	bool packet = capture_left_loopback(a->cap, &connects);

	if (connects) {
		char why[128];

		/* Its SYN may have left while outgoing packets were ignored, and more. */
		snprintf(why, sizeof(why), "the target connected to a peer off loopback (%u "
			 "connection%s may miss %s first packets)", connects,
			 connects == 1 ? "" : "s", connects == 1 ? "its" : "their");
		loopback_leave(a, why);
	} else if (packet) {
		loopback_leave(a, "a packet came in off loopback to a watched port");
	}
	return connects || packet;
}

/* Each wake-up while the mode is on. */
static void loopback_check(struct app *a)
{
	if (a->lo_only)
		loopback_left(a);
}

/* A scan found a listener off loopback: before sockets are opened for it.
 * False when the mode cannot be on (offline, no listener yet, left). */
static bool loopback_listeners(struct app *a, const struct target *t)
{
	if (!a->cap || a->opt.read_pcap || a->lo_left || !t->nlisteners)
		return false;
	if (!target_listeners_loopback(t)) {
		loopback_leave(a, "a listener is not on loopback");
		return false;
	}
	return true;
}

/* After each scan of the target: on while everything it has is on lo (the
 * kernel's counters count from the filter's load, before the mode is on). */
static void loopback_apply(struct app *a)
{
	if (!loopback_listeners(a, &a->target) || loopback_left(a) || a->lo_only)
		return;
	if (!capture_loopback_only(a->cap, true))
		a->lo_only = true;
}

/*
 * The target's outgoing connections: its processes' connects are learnt in
 * the kernel; the ones open already (or opened while the tracepoint was
 * off) come from /proc at each scan. Both go to the filter and the collector.
 */
/*
 * Is reading /proc's peers worth it now? It walks the namespace's TCP hash
 * (20,000 connections: most of l7top's CPU at rest). With the tracepoint
 * on, a connection opened by a watched process is learnt as it opens:
 * only a process the kernel did not follow from its fork can hold ones
 * opened before. Asked before upstreams_set_tgids() adds the new pids.
 */
static bool peers_due(struct app *a)
{
	uint64_t now = now_ms();

	if (upstreams_followed(a->ups, a->target.pids, a->target.npids) && a->peers_ms &&
	    now - a->peers_ms < PEERS_FULL_MS)
		return false;
	a->peers_ms = now;
	return true;
}

/* socks: the target's fds' sockets, as the scan that gave a->target read
 * them; NULL reads them again. */
static void sync_upstreams(struct app *a, const struct target_socks *socks)
{
	struct target_peer p[TARGET_MAX_PEERS];
	bool truncated;
	size_t n;

	if (!a->ups)
		return;
	bool due = peers_due(a);
	upstreams_set_tgids(a->ups, a->target.pids, a->target.npids);
	target_scan_unix("/proc", &a->target, socks, &a->unix_ups);   /* an error leaves it zero */
	if (!due)
		return;
	n = target_scan_peers("/proc", &a->target, socks, p, TARGET_MAX_PEERS, &truncated);
	upstreams_add(a->ups, p, n);          /* -ENOSPC: counted by the filter's stats */
	for (size_t i = 0; i < n; i++) {
		collector_note_upstream(a->coll, p[i].family, p[i].addr, p[i].port);
		if (!target_addr_loopback(p[i].family, p[i].addr))
			loopback_leave(a, "the target talks to a peer off loopback");
	}
}

static void open_upstreams(struct app *a)
{
	char err[256];
	int e = upstreams_open(&a->ups, a->cap, err, sizeof(err));

	if (e && e != -EOPNOTSUPP)
		fprintf(stderr, "%s\n", err);   /* the probe still takes /proc's peers */
	/* one read of the fds for both the unix and the TCP peers */
	struct target_socks socks = { .iter = a->sock_iter };
	e = target_socks_read("/proc", &a->target, &socks);
	sync_upstreams(a, e ? NULL : &socks);
	target_socks_free(&socks);
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
	if (!a->live_view)
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
 * A root is gone. Its descendants that outlived it (workers of a master
 * killed with -9) are still watched processes of its target: they join the
 * roots, in that target (one master's workers stay one target, under the
 * master's name), while the gone root keeps its place so no other target's
 * index moves. Returns true when roots were added.
 */
static bool adopt_survivors(struct app *a)
{
	size_t n = a->opt.nroots;
	bool added = false;

	for (size_t i = 0; i < a->opt.nroots; i++) {
		if (pid_alive(a->opt.roots[i]))
			continue;
		for (size_t k = 0; k < a->target.npids && n < 64; k++) {
			pid_t p = a->target.pids[k];
			bool known = false;
			for (size_t j = 0; j < n && !known; j++)
				known = a->opt.roots[j] == p;
			if (known || a->target.pid_root[k] != a->root_group[i] || !pid_alive(p))
				continue;
			a->root_group[n] = a->root_group[i];
			a->opt.roots[n++] = p;
			added = true;
		}
	}
	a->opt.nroots = n;
	a->adopted |= added;
	return added;
}

/* socks: the scan's fds' sockets, for target_apply() (free them, on error too) */
static int scan_roots(struct app *a, struct target *t, struct target_socks *socks)
{
	return target_scan_socks("/proc", a->opt.roots, a->root_group, a->opt.nroots, a->sock_iter,
				 t, socks);
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
/* socks: t's fds' sockets, from the scan that gave t. */
static void target_apply(struct app *a, const struct target *t, const struct target_socks *socks)
{
	bool changed = t->nports != a->target.nports ||
		       memcmp(t->ports, a->target.ports, t->nports * sizeof(t->ports[0]));
	struct target old = a->target;

	if (t->proc_truncated && !a->said_proc && !a->live_view)
		fprintf(stderr, "l7top: /proc/%d/net has a socket table of more than %d rows: the "
			"rest is not read\n", t->pids[0], TARGET_PROC_MAX_LINES);
	a->said_proc |= t->proc_truncated;
	loopback_listeners(a, t);        /* new namespaces' sockets must hear what leaves */
	a->target = *t;
	follow_netns(a, &old);
	if (a->tls)
		tls_probe_sync_pids(a->tls, t->pids, t->npids);   /* failures are logged per pid */
	if (t->nports)
		apply_targets(a);
	if (changed && t->nports)
		apply_ports(a);
	else
		describe_target(a);
	sync_upstreams(a, socks);
	refresh_tls_ports(a);
	loopback_apply(a);
}

/*
 * --pidfile: a PID there that is not the one watched, and alive: the
 * service restarted (or was upgraded). Attach to the new process tree.
 */
static void follow_pidfile(struct app *a)
{
	pid_t pid, old = a->opt.nroots ? a->opt.roots[0] : 0;
	char why[96], was[160];
	struct target t;
	struct target_socks socks;

	if (!a->opt.pidfile || target_read_pidfile(a->opt.pidfile, &pid, why, sizeof(why)))
		return;                          /* missing or empty mid-restart: later */
	if ((pid == old && !a->target_gone) || !pid_alive(pid))
		return;
	if (target_scan_socks("/proc", &pid, NULL, 1, a->sock_iter, &t, &socks)) {
		target_socks_free(&socks);
		return;
	}
	a->opt.roots[0] = pid;
	a->opt.nroots = 1;
	roots_ungroup(a);
	memset(a->tnames, 0, sizeof(a->tnames));  /* a new tree: named after its new root */
	snprintf(was, sizeof(was), "%s", a->target_gone ? a->gone_name : a->target_name);
	target_apply(a, &t, &socks);
	target_socks_free(&socks);
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
	struct target_socks socks;
	int err;

	follow_pidfile(a);
	if (a->target_gone)
		return;
	adopt_survivors(a);
	err = scan_roots(a, &t, &socks);
	if (!err)
		target_apply(a, &t, &socks);
	target_socks_free(&socks);
	if (err == -ESRCH) {
		target_lost(a);
		if (a->target_gone)
			follow_pidfile(a);           /* the new PID may be there already */
	}
	/* another error: /proc unreadable for now; keep the last view */
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

static void on_tls_cut(void *ctx, int family, const uint8_t *saddr, const uint8_t *daddr,
		       uint16_t sport, uint16_t dport, bool on)
{
	struct app *a = ctx;
	if (a->cap)
		capture_tls_cut(a->cap, family, saddr, daddr, sport, dport, on);
}

/* What keys mode (or --keylog-in) did with the records it saw. */
static void print_tls_records(struct app *a)
{
	struct tls_session_counters tc;

	collector_tls_counters(a->coll, &tc);
	if (tc.records || tc.records_skipped || tc.records_cut)
		fprintf(stderr, "l7top: tls records: %lu decrypted, %lu body records counted without "
			"decrypting (%lu bytes), %lu cut by the kernel\n", (unsigned long)tc.records,
			(unsigned long)tc.records_skipped, (unsigned long)tc.skipped_bytes,
			(unsigned long)tc.records_cut);
	if (tc.undecryptable)
		fprintf(stderr, "l7top: tls: %lu sessions given up, the last for: %s\n",
			(unsigned long)tc.undecryptable, tc.last_give_up);
}

/* Like tcpdump's closing lines: what crossed from the kernel, and what the
 * filter spared us by skipping bodies. */
static void print_capture_summary(struct app *a)
{
	struct capture_stats cs;

	print_tls_records(a);
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
		"(%lu payload bytes not copied), %lu dropped by the kernel",
		(unsigned long)cs.received, (unsigned long)a->captured_bytes,
		(unsigned long)cs.filter_cut, (unsigned long)cs.filter_cut_bytes,
		(unsigned long)cs.kernel_drops);
	if (cs.kernel_drops)
		fprintf(stderr, " (ring %u MB: raise --capture-buffer)", a->opt.capture_buffer_mb);
	/* How the capture ran: loopback copies made leaving only to be dropped
	 * (none while loopback-only), packets that went in prefetched batches. */
	fprintf(stderr, ", %lu loopback copies dropped leaving", (unsigned long)cs.filter_lo_out);
	if (a->batched)
		fprintf(stderr, ", %lu in prefetched batches", (unsigned long)a->batched);
	if (cs.filter_tls_records || cs.filter_tls_desync)
		fprintf(stderr, "; TLS: %lu bodies cut, %lu lost their record framing",
			(unsigned long)cs.filter_tls_records, (unsigned long)cs.filter_tls_desync);
	if (a->tls) {
		struct tls_stats ts;
		tls_probe_stats(a->tls, &ts);
		fprintf(stderr, "; TLS plaintext %lu bytes from the calls probes",
			(unsigned long)ts.data_bytes);
	}
	fputc('\n', stderr);
}

/* The TLS probes' events waiting in their ring, between two packets; keys
 * filed by them decrypt at once. */
static void take_tls_events_now(struct app *a)
{
	if (tls_probe_consume_pending(a->tls, &a->tls_sink) > 0 && a->tls_secrets_new) {
		a->tls_secrets_new = false;
		collector_tls_kick(a->coll);
	}
}

/*
 * Once --tls auto has switched, the calls probes' events are taken before
 * every packet, not only before each dispatch: one dispatch may read
 * several capture blocks, and a block retired after the last drain could
 * hold a whole short connection (Connection: close) whose SSL_set_fd, which
 * precedes its first request, is still in the ring. Read first, the keys
 * path would count it too. (Events read ahead of their connection's
 * packets wait in the collector's handoff table.) In keys mode the ring is
 * also read after a packet whose records wait for their keys: caught in the
 * handshake, before the server sent them, the keys are in the ring, and a
 * late batch can hold more of a new connection than may wait (with cut
 * bodies CI once lost 4 of 6,432 requests so).
 */
static void on_packet(void *ctx, const struct capture_pkt *p)
{
	struct app *a = ctx;
	if (a->tauto.phase >= AUTO_SWITCHING)
		take_tls_events_now(a);
	a->captured_bytes += p->caplen;
	a->last_pkt_ns = p->ts_ns;
	collector_packet_ns(a->coll, (uint32_t)p->netns, p->ts_ns, p->l3, p->caplen, p->wirelen);
	if (a->tls && collector_tls_keys_wanted(a->coll))
		take_tls_events_now(a);
}

/*
 * Live packets go to the collector in batches once it follows enough
 * connections that their table entries no longer stay in the cache (shared
 * with the server and its clients): collector_prefetch() fetches a batch's
 * entries at once, then each packet goes through on_packet() in order.
 * Copies, because libpcap hands a capture block back to the kernel as soon
 * as it moves past it; a large packet goes at once, after the batch.
 */
#define PKT_BATCH_BYTES 2048
#define PKT_BATCH_CONNS 2048

struct pkt_batch {
	size_t n;
	struct capture_pkt p[COLLECTOR_PREFETCH_MAX];
	uint8_t buf[COLLECTOR_PREFETCH_MAX][PKT_BATCH_BYTES];
};

/* After every live capture_dispatch(): nothing stays held past it. */
static void batch_flush(struct app *a)
{
	struct pkt_batch *b = a->batch;
	struct collector_pkt cp[COLLECTOR_PREFETCH_MAX];

	if (!b || !b->n)
		return;
	for (size_t i = 0; i < b->n; i++)
		cp[i] = (struct collector_pkt){ .netns = (uint32_t)b->p[i].netns, .l3 = b->p[i].l3,
						.caplen = b->p[i].caplen, .wirelen = b->p[i].wirelen };
	collector_prefetch(a->coll, cp, b->n);
	a->batched += b->n;
	for (size_t i = 0; i < b->n; i++)
		on_packet(a, &b->p[i]);
	b->n = 0;
}

static void on_live_packet(void *ctx, const struct capture_pkt *p)
{
	struct app *a = ctx;
	struct pkt_batch *b = a->batch;

	if (!b || p->caplen > PKT_BATCH_BYTES || collector_conns(a->coll) < PKT_BATCH_CONNS) {
		batch_flush(a);
		on_packet(a, p);
		return;
	}
	memcpy(b->buf[b->n], p->l3, p->caplen);
	b->p[b->n] = *p;
	b->p[b->n].l3 = b->buf[b->n];
	if (++b->n == COLLECTOR_PREFETCH_MAX)
		batch_flush(a);
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

/* ---- outputs ------------------------------------------------------------ */

static void sinks_add(struct app *a, struct sink k)
{
	if (a->nsinks < SINKS_MAX)
		a->sinks[a->nsinks++] = k;
}

/* The facts that change while running: pids, ports, TLS mode, DB health. */
static void run_refresh(struct app *a, uint64_t now)
{
	struct run_info *r = &a->run;
	size_t n = 0;

	a->pids_str[0] = '\0';
	for (size_t i = 0; i < a->target.npids && n + 12 < sizeof(a->pids_str); i++)
		n += (size_t)snprintf(a->pids_str + n, sizeof(a->pids_str) - n, "%s%d",
				      i ? "," : "", a->target.pids[i]);
	r->target = a->opt.read_pcap ? a->opt.read_pcap : a->target_name;
	r->cmdline = a->opt.read_pcap ? a->opt.read_pcap : a->target.cmdline;
	r->pids = a->pids_str;
	r->npids = a->target.npids;
	r->ports = a->ports_str;
	r->tls_mode = a->tls ? tls_probe_modes(a->tls)
		    : a->opt.keylog_in ? TLS_MODE_KEYLOG : TLS_MODE_OFF;
	r->show_tls = a->tls || a->opt.keylog_in || !a->opt.read_pcap;
	r->capture = a->opt.read_pcap ? "pcap" : a->tls ? "plain+tls" : "plain";
	r->version = L7TOP_VERSION;
	r->settings = a->settings;
	r->started_ms = a->start_ms;
	r->now_ms = now;
	r->netns = a->opt.read_pcap ? NULL : a->netns_str;
	r->unix_unseen = a->unix_str;
	a->warnings[0] = a->unix_warn;
	a->warnings[1] = folds_describe(a);
	a->warnings[2] = a->tauto.note;
	r->warnings = a->warnings;
	r->nwarnings = 3;            /* empty ones are not shown */
	r->db_path = a->store ? a->opt.db : NULL;
	r->db_error = a->db_off;
	r->db_dropped = 0;
	if (a->db_sink) {
		struct sink_health h = { "", 0 };
		a->db_sink->ops->health(a->db_sink->self, &h);
		r->db_error = h.error;
		r->db_dropped = h.dropped;
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
	if (a->live_view)
		return;
	if (began)
		fprintf(stderr, "l7top: DB %s: write failed: %s; stats are kept in memory, the next "
			"interval retries\n", a->opt.db, h->outage_why);
	if (ended && h->outages == h->recoveries)
		fprintf(stderr, "l7top: DB %s: writes work again (%lu intervals were not stored)\n",
			a->opt.db, (unsigned long)h->outage_lost);
}

/* Ends the current interval at end_ms: one snapshot, to every sink. */
/* One window of measures: the choice, said once, and the switch if it is calls. */
/* l7top's own CPU time so far (all threads), µs. */
static uint64_t self_cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void tls_auto_decide(struct app *a, uint64_t hits, uint64_t hs, uint64_t now)
{
	struct tls_auto *au = &a->tauto;
	double h = (double)(hs - au->hs0) / (double)au->reqs;
	double traps = (double)(hits - au->hits0) / (double)au->reqs;
	double cpu = (double)(self_cpu_us() - au->cpu0_us) / (double)au->reqs;
	double keys = traps * AUTO_TRAP_US + cpu;
	double calls = (AUTO_CALLS_TRAPS_REQ + AUTO_CALLS_TRAPS_HS * h) * AUTO_TRAP_US +
		       AUTO_CALLS_CPU_US;
	int err;

	if (keys <= calls || h < AUTO_MIN_HS_REQ) {
		if (!au->said) {
			if (keys <= calls)
				snprintf(au->note, sizeof(au->note), "tls auto: keys for %s: %.2f "
					 "handshakes per request, %.1f derivation traps + %.0f us of "
					 "l7top CPU per request: ~%.0f us <= ~%.0f in calls mode",
					 a->target_name, h, traps, cpu, keys, calls);
			else
				snprintf(au->note, sizeof(au->note), "tls auto: keys for %s: %.3f "
					 "handshakes per request, under %.2f: too few for calls mode "
					 "to save on (%.0f us of l7top CPU per request is not TLS's "
					 "alone)", a->target_name, h, AUTO_MIN_HS_REQ, cpu);
			target_event(a, "%s", au->note);
			au->said = true;
		}
		return;
	}
	err = tls_probe_switch_calls(a->tls);
	if (err) {
		snprintf(au->note, sizeof(au->note), "tls auto: keys for %s: calls would cost less "
			 "(%.2f handshakes per request) but its probes failed: %s", a->target_name, h,
			 strerror(-err));
		target_event(a, "%s", au->note);
		au->phase = AUTO_OFF;
		return;
	}
	au->phase = AUTO_SWITCHING;
	au->switch_ms = now;
	au->sw_hs = hs;
	tls_probe_auto_counts(a->tls, &hits, &hs, &au->sw_fds);
	snprintf(au->note, sizeof(au->note), "tls auto: calls for new connections of %s: %.2f "
		 "handshakes per request, %.1f derivation traps + %.0f us of l7top CPU per request: "
		 "~%.0f us > ~%.0f in calls mode; open connections stay keyed", a->target_name, h,
		 traps, cpu, keys, calls);
	target_event(a, "%s", au->note);
	a->tls_mode = tls_probe_modes(a->tls);
}

/* After the switch: holds it (the keys probe leaves) or takes it back. */
static void tls_auto_trial(struct app *a, uint64_t hs, uint64_t fds, uint64_t now)
{
	struct tls_auto *au = &a->tauto;
	uint64_t dh = hs - au->sw_hs, df = fds - au->sw_fds;

	if (now < au->switch_ms + AUTO_SWITCH_GRACE_MS ||
	    (dh < AUTO_TRIAL_HS && now < au->switch_ms + AUTO_TRIAL_MAX_MS))
		return;
	if (dh >= AUTO_TRIAL_HS && (double)df >= AUTO_SET_FD_SHARE * (double)dh) {
		tls_probe_keys_off(a->tls);
		collector_tls_keys_gone(a->coll);
		au->phase = AUTO_CALLS;
		return;
	}
	tls_probe_switch_undo(a->tls);
	au->phase = AUTO_OFF;
	a->tls_mode = tls_probe_modes(a->tls);
	snprintf(au->note, sizeof(au->note), "tls auto: keys for %s after all: %lu SSL_set_fd for "
		 "%lu handshakes, so the calls path cannot tell its new connections (BIO-based TLS)",
		 a->target_name, (unsigned long)df, (unsigned long)dh);
	target_event(a, "%s", au->note);
}

/* Per interval: requests into the window; decides when it is full. */
static void tls_auto_step(struct app *a, const struct snapshot *s, uint64_t now)
{
	struct tls_auto *au = &a->tauto;
	uint64_t hits, hs, fds;

	tls_probe_auto_counts(a->tls, &hits, &hs, &fds);
	if (au->phase == AUTO_SWITCHING) {
		tls_auto_trial(a, hs, fds, now);
		return;
	}
	if (au->phase != AUTO_KEYS || now < a->start_ms + AUTO_WARMUP_MS)
		return;
	if (!au->win_ms) {
		au->win_ms = now;
		au->hits0 = hits;
		au->hs0 = hs;
		au->cpu0_us = self_cpu_us();
		au->reqs = 0;
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		au->reqs += s->eps[i].requests;
	if (now < au->win_ms + AUTO_WINDOW_MS || au->reqs < AUTO_MIN_REQS)
		return;
	tls_auto_decide(a, hits, hs, now);
	au->win_ms = 0;
}

/*
 * Every 10 intervals, free pages inside the heap go back to the kernel.
 * Each interval frees a snapshot's worth of small blocks between the
 * long-lived ones (the view's windows, connections), and glibc returns
 * only the heap's top: the view of 10,000 endpoints over 5 minutes held
 * 44.7 MB of RSS for 20.1 MB in use, 38.9 MB with a trim per interval
 * (3.3 ms each on average, 7 ms at most; every 10th costs a tenth).
 */
#define TRIM_EVERY 10
static void heap_give_back(struct app *a)
{
	/* offline, intervals follow the capture's clock: hundreds a second */
	if (a->opt.read_pcap || ++a->intervals_untrimmed < TRIM_EVERY)
		return;
	a->intervals_untrimmed = 0;
	malloc_trim(0);
}

static void interval_close(struct app *a, uint64_t end_ms)
{
	struct snapshot *s, *folded = NULL;

	if (a->store && a->opt.read_pcap)
		store_wait_written(a->store);
	s = snapshot_take(a, end_ms);

	if (!s) {
		fprintf(stderr, "l7top: out of memory taking a snapshot\n");
		return;
	}
	if (a->tls)
		tls_auto_step(a, s, now_ms());
	run_refresh(a, now_ms());
	/* Learned folds are news for a log reader too (stderr: stdout may be JSON). */
	for (size_t i = 0; !a->live_view && i < s->nfolds; i++)
		fprintf(stderr, "l7top: learned fold %s" ROUTE_LEARN_FOLD "\n", s->folds[i]);
	if (a->store) {
		struct store_health h;
		store_get_health(a->store, &h);
		db_health_say(a, &h);
	}
	for (size_t i = 0; i < a->nsinks; i++) {
		const struct sink *k = &a->sinks[i];
		struct snapshot *in = s;
		if (a->sink_failed[i])
			continue;
		if (!k->ops->per_host) {
			/* Views sum endpoints across hosts; NULL on ENOMEM: skipped. */
			if (!folded)
				folded = snapshot_fold_hosts(s);
			if (!(in = folded))
				continue;
		}
		if (k->ops->push(k->self, in, &a->run) < 0) {
			a->sink_failed[i] = true;
			a->exit_code = EXIT_RUNTIME;
			loop_stop(a->loop);
		}
	}
	flush_dump(a);
	if (folded != s)
		snapshot_free(folded);
	snapshot_free(s);
	heap_give_back(a);
}

/* Closes every sink, the last opened first (the live view gives the
 * terminal back before the store's last lines). */
static void sinks_close(struct app *a, uint64_t ended_ms)
{
	run_refresh(a, ended_ms);
	while (a->nsinks) {
		const struct sink *k = &a->sinks[--a->nsinks];
		k->ops->close(k->self, &a->run);
	}
	a->db_sink = NULL;
	a->store = NULL;
	a->prom = NULL;
	a->live_view = false;
}

/* The one sink that shows each interval: JSON lines, the live view (when
 * allowed and both ends are a terminal) or the batch printer. */
static int open_view(struct app *a, bool live)
{
	char err[256] = "";
	struct sink k;

	if (a->opt.json) {
		sinks_add(a, json_lines_sink(stdout));
		return 0;
	}
	if (live && !a->opt.no_tui && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
		struct tui *t = tui_new(&(struct tui_config){ .interval_ms = a->opt.interval_ms,
							       .max_endpoints = a->opt.max_endpoints });
		if (t && !tui_start(t, a->loop, err, sizeof(err))) {
			sinks_add(a, tui_sink(t));
			a->live_view = true;
			return 0;
		}
		fprintf(stderr, "%s; batch output instead\n", err[0] ? err : "l7top: out of memory");
		tui_free(t);
	}
	if (batch_sink(stdout, a->opt.max_rows, &k)) {
		fprintf(stderr, "l7top: out of memory\n");
		return EXIT_RUNTIME;
	}
	sinks_add(a, k);
	return 0;
}

static void drain_capture(struct app *a)
{
	while (capture_dispatch(a->cap, DISPATCH_BATCH, on_live_packet, a) > 0)
		;
	batch_flush(a);
}

/* ---- TLS ------------------------------------------------------------------ */

static void on_tls_data(void *ctx, const struct tls_data *d)
{
	struct app *a = ctx;
	collector_stream_data(a->coll, d->tgid, d->conn_id, d->dir, d->buf, d->caplen, d->len,
			      d->ts_ns);
}

/* Calls mode: SSL_set_fd on an accepted socket begins its stream and names
 * the client, for the request log and "top clients" (keys mode reads it
 * from the packets). */
static void on_tls_conn(void *ctx, const struct tls_conn *c)
{
	struct app *a = ctx;
	collector_stream_peer(a->coll, c->tgid, c->conn_id, c->family, c->addr, c->port, c->ts_ns);
	/* The calls probes read this one: its ciphertext must not count too. */
	if (c->family && a->tauto.phase >= AUTO_SWITCHING)
		collector_tls_calls_conn(a->coll, c->netns, c->family, c->addr, c->port, c->laddr,
					 c->lport);
}

static void on_tls_close(void *ctx, uint32_t tgid, uint64_t conn_id, uint64_t ts_ns)
{
	struct app *a = ctx;
	collector_stream_close(a->coll, tgid, conn_id, ts_ns);
}

static void on_tls_fork(void *ctx, uint32_t parent, uint32_t child)
{
	struct app *a = ctx;

	collector_pid_forked(a->coll, parent, child);   /* -ENOSPC: the rescan counts it */
	a->resync_pids = true;
}

/* Keys mode: a secret is filed for the connection it belongs to; it goes
 * nowhere else (the key log, if asked for, is written by the collector's
 * callback once the connection matched, see on_keylog). */
static void on_tls_secret(void *ctx, const struct tls_secret *sec)
{
	struct app *a = ctx;

	/* -ENOSPC is counted by the collector (tls secrets lost). */
	collector_tls_secret(a->coll, sec->id_kind, sec->id, sec->id_len, sec->kind, sec->secret,
			     sec->len, now_ns());
	a->tls_secrets_new = true;
}

/* Records waiting in the TLS rings to the collector; then follows any fork at
 * once, so a new NGINX worker is probed before it takes many requests. */
static void drain_tls(struct app *a)
{
	if (!a->tls)
		return;
	tls_probe_consume(a->tls, &a->tls_sink);
	if (a->tls_secrets_new) {
		/* Records that arrived before their keys decrypt now. */
		a->tls_secrets_new = false;
		collector_tls_kick(a->coll);
	}
	/* One rescan per FORK_RESCAN_MS at most: the kernel follows the
	 * children meanwhile (tgids), and a server forking a child per
	 * connection had l7top rescan at each one. The TLS drain timer takes
	 * a fork left waiting. */
	uint64_t now = mono_ms();
	if (a->resync_pids && now - a->fork_rescan_ms >= FORK_RESCAN_MS) {
		a->resync_pids = false;
		a->fork_rescan_ms = now;
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
static void on_keylog(void *ctx, const uint8_t client_random[32], enum tls_secret_kind kind,
		      const uint8_t *secret, size_t len)
{
	struct app *a = ctx;

	if (!a->keylog)
		return;
	fprintf(a->keylog, "%s ", tls_keylog_label(kind));
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
		.mode = a->opt.tls,
	};

	a->tls_mode = TLS_MODE_OFF;
	if (a->opt.tls == TLS_MODE_OFF)
		return 0;
	if (tls_probe_open(&a->tls, &o, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return EXIT_RUNTIME;
	}
	a->tls_sink = (struct tls_sink){
		.data = on_tls_data, .conn = on_tls_conn, .close = on_tls_close, .fork = on_tls_fork,
		.secret = on_tls_secret, .ctx = a,
	};
	if (open_keylog(a))
		return EXIT_USAGE;
	a->tls_mode = tls_probe_modes(a->tls);
	if (a->opt.tls == TLS_MODE_AUTO && a->tls_mode == TLS_MODE_KEYS)
		a->tauto.phase = AUTO_KEYS;
	if (a->tls_mode == TLS_MODE_CALLS && !a->opt.keylog_in)
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
	if (a->tls && tls_probe_modes(a->tls) != TLS_MODE_CALLS)
		drain_tls(a);
}

static void on_capture(struct loop *l, int fd, void *ctx)
{
	struct app *a = ctx;
	(void)fd;
	drain_keys_first(a);
	int n = capture_dispatch(a->cap, DISPATCH_BATCH, on_live_packet, a);
	batch_flush(a);
	loopback_check(a);
	if (n < 0 && n != -EAGAIN) {
		fprintf(stderr, "l7top: capture failed: %s\n", capture_error(a->cap));
		a->exit_code = EXIT_RUNTIME;
		loop_stop(l);
		return;
	}
	/* The ring overflowed: its holes will never fill, resync. Reading the
	 * counter is a getsockopt per socket, so not on every wake-up: within
	 * DROPS_READ_MS of the drop is soon enough. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t mono_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (mono_ms - a->drops_read_ms < DROPS_READ_MS)
		return;
	a->drops_read_ms = mono_ms;
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
	loopback_check(a);
	refresh_tls_ports(a);
	interval_close(a, now_ms());
}

static void on_rescan(struct loop *l, int fd, void *ctx)
{
	struct app *a = ctx;
	(void)l;
	loop_timer_ack(fd);
	uint64_t t0 = mono_ms();
	if (t0 >= a->rescan_due_ms) {
		rescan(a);
		uint64_t wait = (mono_ms() - t0) * RESCAN_SHARE;
		/* the timer ticks every RESCAN_MS: due a little early is the next tick */
		a->rescan_due_ms = wait > RESCAN_MS ? t0 + wait - RESCAN_MS / 2 : 0;
	}
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
	char err[256], dur[24];
	int e;

	if (a->opt.no_db)
		return 0;
	if (!strcmp(a->opt.db, DEFAULT_DB))
		mkdir("/var/lib/l7top", 0700);
	/* Which TLS mode the processes run in; never anything about secrets. */
	char tls_set[48] = "";
	if (a->tls || a->opt.keylog_in)
		snprintf(tls_set, sizeof(tls_set), " tls=%s%s",
			 tls_mode_name(a->tls ? a->tls_mode : TLS_MODE_KEYLOG),
			 a->tls && a->opt.keylog_in ? "+keylog" : "");
	snprintf(a->settings, sizeof(a->settings),
		 "interval_ms=%lu max_endpoints=%zu retention=%s slow_ms=%u log_status=%u%s%s%s%s%s%s"
		 "%s%s",
		 (unsigned long)a->opt.interval_ms, a->opt.max_endpoints,
		 retention_str(a->opt.retention_ms, dur, sizeof(dur)), a->opt.slow_ms,
		 a->opt.log_status, tls_set, a->opt.read_pcap ? " read=pcap" : "",
		 a->netns_str[0] ? " netns=" : "", a->netns_str,
		 a->unix_str[0] ? " unix_not_captured=" : "", a->unix_str,
		 /* several targets: the session names them (sessions.targets too) */
		 a->target.nroots > 1 ? " targets=" : "", a->target.nroots > 1 ? a->target_name : "");
	run_refresh(a, now_ms());
	e = store_open(&a->store, a->opt.db, &a->run, err, sizeof(err));
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
	sinks_add(a, store_sink(a->store));
	a->db_sink = &a->sinks[a->nsinks - 1];
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
	sinks_add(a, prom_sink(a->prom));
	return 0;
}

static int run_live(struct app *a)
{
	char err[256];
	int e;
	/* NULL where the kernel has no task_file iterator: the links then */
	a->sock_iter = sock_iter_open(&e);
	int rc = target_init(a);
	if (rc >= 0)
		return rc;
	struct capture_netns ns[CAPTURE_MAX_NETNS];
	struct capture_opts co = { .netns = ns, .nnetns = target_capture_netns(&a->target, ns),
				   .buffer_mb = a->opt.capture_buffer_mb };
	/* libbpf's warnings (both probe families); the live view will hand its log file. */
	capture_set_libbpf_log(stderr);
	e = capture_open_live(&a->cap, &co, err, sizeof(err));
	if (e) {
		fprintf(stderr, "%s\n", err);
		return e == -EPERM ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if ((rc = open_dump(a)))
		return rc;
	a->batch = calloc(1, sizeof(*a->batch));   /* NULL: packets one by one, as offline */
	apply_targets(a);
	apply_ports(a);
	open_upstreams(a);
	loopback_apply(a);
	if ((rc = open_tls(a)))
		return rc;
	/* Keys mode: the filter follows TLS records so that it can cut bodies. */
	capture_tls_follow(a->cap, a->opt.tls_cut && a->tls_mode != TLS_MODE_OFF &&
			   a->tls_mode != TLS_MODE_CALLS);
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
	fprintf(stderr, "l7top: watching %s (%zu pids), ports %s, netns %s, db %s, tls %s%s%s%s\n",
		a->target_name, a->target.npids, a->ports_str, a->netns_str,
		a->store ? a->opt.db : "none", tls_mode_name(a->tls_mode),
		a->lo_only ? "; loopback only: packets read as they arrive" : "",
		a->unix_warn[0] ? "; " : "", a->unix_warn);
	/* After the last line on stderr: curses owns the terminal from here. */
	if ((rc = open_view(a, true)))
		return rc;
	if (loop_run(a->loop) < 0) {
		fprintf(stderr, "l7top: event loop failed: %s\n", strerror(errno));
		a->exit_code = EXIT_RUNTIME;
	}
	drain_keys_first(a);
	drain_capture(a);
	drain_tls(a);
	collector_flush(a->coll);
	interval_close(a, now_ms());
	struct store_health h = { 0 };
	if (a->live_view && a->store)
		store_get_health(a->store, &h);
	sinks_close(a, now_ms());    /* the terminal is restored before anything else prints */
	if (h.outages)
		fprintf(stderr, "l7top: DB %s: writes failed %lu times during the run (last: %s)"
			"; the session row notes when\n", a->opt.db, (unsigned long)h.outages,
			h.outage_why);
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
	if ((rc = open_store(a)) || (rc = open_view(a, false)))
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
	sinks_close(a, a->interval_start_ms);
	print_tls_records(a);
	return a->exit_code;
}

/*
 * glibc raises its mmap threshold to the size of the last mmapped block
 * freed, so after the first snapshot of 10,000 endpoints (~10 MB) every
 * later one would come from the heap, where a freed one stays in RSS
 * beside its successor. A fixed threshold keeps big arrays in mmap,
 * returned to the kernel when freed; two arenas (main loop, DB writer)
 * are all l7top needs.
 */
static void malloc_tune(void)
{
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 2);
}

int main(int argc, char **argv)
{
	struct app a = { 0 };
	int rc;

	store_library_init();

	malloc_tune();

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
		/* live only: a pcap's cut records are read without it (--no-tls-cut
		 * copies bodies whole) */
		.tls_cut = a.opt.tls_cut && !a.opt.read_pcap ? on_tls_cut : NULL,
		.skip_ctx = &a,
		/* auto may still turn it off (open_tls) when every process runs calls */
		.tls_decrypt = a.opt.read_pcap ? a.opt.keylog_in != NULL
					       : a.opt.tls == TLS_MODE_KEYS || a.opt.tls == TLS_MODE_AUTO,
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

	sinks_close(&a, a.opt.read_pcap ? a.interval_start_ms : now_ms());
	tls_probe_close(a.tls);
	sock_iter_close(a.sock_iter);
	upstreams_close(a.ups);
	if (a.keylog)
		fclose(a.keylog);
	if (a.cap)
		capture_close(a.cap);
	free(a.batch);
	collector_free(a.coll);
	loop_free(a.loop);
	options_free(&a.opt);
	return rc;
}
