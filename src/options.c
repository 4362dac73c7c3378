// SPDX-License-Identifier: MIT
#include "src/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/route_learn.h"
#include "export/prom.h"
#include "probes/capture.h"
#include "probes/tls.h"
#include "storage/query.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: l7top --pid PID[,PID...] [options]\n"
		"       l7top --pidfile FILE [options]\n"
		"       l7top --read FILE.pcap [--port PORT[,PORT]] [options]\n"
		"       l7top query --db FILE [--since WHEN] [--until WHEN] [--sort KEY]\n"
		"                   [--limit N] [--format table|csv|json] [--step DUR]\n"
		"                   [--endpoint 'METHOD ROUTE'] [--by-host] [--protocol P] [--by-protocol]\n"
		"                   [--session N]\n"
		"       l7top query --db FILE --requests (--slowest N | --errors)\n"
		"       l7top query --db FILE --sessions   (l7top query --help for more)\n"
		"\n"
		"Shows what a running web server is doing at the HTTP level: one row per\n"
		"endpoint (method + route) with rates, status classes, latency percentiles\n"
		"and bytes. Captures plaintext HTTP with an eBPF socket filter and HTTPS\n"
		"with uprobes on the server's OpenSSL calls; needs root.\n"
		"\n"
		"Options:\n"
		"  -p, --pid PID[,PID]     processes to watch, with all their descendants; each PID\n"
		"                          is a target of its own (rows per target); when\n"
		"                          all have exited, l7top flushes, says so and exits 0\n"
		"      --pidfile FILE      watch the process whose PID FILE holds (e.g.\n"
		"                          /run/nginx.pid) and follow the service across\n"
		"                          restarts: a new PID in FILE is attached to at once\n"
		"  -d, --interval SECONDS  refresh and storage interval (default 1)\n"
		"      --duration SECONDS  stop by itself after this long\n"
		"      --no-tui            print batch snapshots (also when stdout is not a tty)\n"
		"      --db FILE           SQLite file (default " DEFAULT_DB ")\n"
		"      --no-db             keep nothing on disk\n"
		"      --retention DUR     delete stored rows older than this (default 7d;\n"
		"                          0 or forever keeps everything); rows older than 1h\n"
		"                          are rolled up into one row per minute\n"
		"      --slow-ms N         request log: requests at least this slow (default 100)\n"
		"      --log-status N      request log: statuses at or above N (default 500)\n"
		"      --max-endpoints N   endpoint rows, heavy hitters first, besides OTHER (default 2000)\n"
		"      --max-conns N       connections followed at once (default 65536)\n"
		"      --route PATTERN     name a route yourself, tried before any folding, first\n"
		"                          match wins (repeatable): /u/{user}, /api/v{v}/items/{sku},\n"
		"                          /static/* (the rest of the path), /search (exactly)\n"
		"      --routes FILE       route patterns, one a line, '#' comments\n"
		"      --fold-after N      a path segment with more than N distinct values under\n"
		"                          one parent becomes {*} (default 16; 0 = never; never the\n"
		"                          first segment); the DB remembers learned folds\n"
		"      --rows N            endpoints per batch snapshot (default all)\n"
		"  -r, --read FILE         replay a pcap file instead of capturing live\n"
		"      --port PORT[,PORT]  server ports in --read mode (default: learnt from SYNs)\n"
		"      --tls MODE          how HTTPS is read: keys (session secrets caught once per\n"
		"                          handshake in OpenSSL 3.x, records decrypted here), calls\n"
		"                          (uprobes on every SSL_read/SSL_write), auto (keys where\n"
		"                          possible, else calls; the default) or off (plaintext only)\n"
		"      --no-tls-cut        keys mode: copy HTTPS response bodies whole instead of\n"
		"                          cutting them in the kernel (by default ~5%% of a 100 KB\n"
		"                          body is copied, bytes still counted to the byte)\n"
		"      --keylog FILE       also write the caught secrets to FILE (NSS key log, mode\n"
		"                          0600) for Wireshark; nothing writes secrets otherwise\n"
		"      --keylog-in FILE    decrypt with the secrets of an NSS key log (SSLKEYLOGFILE),\n"
		"                          e.g. with --read (lines <= 4096 bytes, file <= 64 MiB)\n"
		"      --ssl-lib PATH      the OpenSSL library to probe (default: the libssl each\n"
		"                          process maps, or SSL_read in its executable)\n"
		"      --capture-bytes N   plaintext bytes kept per SSL call (default and max 16384)\n"
		"      --capture-buffer MB the kernel's packet ring (default 8, max 1024): raise\n"
		"                          it when the header counts drops; all of it is RSS\n"
		"      --json              one JSON object per endpoint per interval on stdout,\n"
		"                          then one of the interval's counters, nothing else\n"
		"                          there (implies --no-tui)\n"
		"      --prometheus [ADDR:]PORT\n"
		"                          serve /metrics for Prometheus (ADDR default 127.0.0.1)\n"
		"  -w, --write FILE.pcap   also save the packets the filter kept (mode 0600)\n"
		"  -h, --help              this text\n"
		"  -V, --version           version\n"
		"\n"
		"Examples:\n"
		"  sudo l7top --pid $(cat /run/nginx.pid)\n"
		"  sudo l7top --pid 1234 --no-tui --interval 5 --db /tmp/l7.db\n"
		"  sudo l7top --pidfile /run/nginx.pid --no-tui   # survives systemctl restart nginx\n"
		"  sudo l7top --pid $(pgrep -o node) --ssl-lib /usr/bin/node\n"
		"  sudo l7top --pid $(cat /run/nginx.pid) --tls keys --write /tmp/w.pcap --keylog /tmp/k.log\n"
		"  l7top --read /tmp/w.pcap --keylog-in /tmp/k.log --no-db\n"
		"  sudo l7top --pid $(cat /run/nginx.pid) --no-db --json | jq 'select(.s5xx > 0)'\n"
		"  sudo l7top --pid $(cat /run/proxy.pid),$(cat /run/app.pid)   # proxy + backend\n"
		"  sudo l7top --pid $(cat /run/nginx.pid) --no-tui --prometheus 9464\n"
		"  sudo l7top --pid 1234 --no-tui --write /tmp/web.pcap; l7top --read /tmp/web.pcap\n"
		"  l7top query --db /tmp/l7.db --since 14:00 --until 14:10 --sort p99\n"
		"  l7top query --db /tmp/l7.db --since 2h --step 1m --endpoint 'GET /users/{id}'\n"
		"  l7top query --db /tmp/l7.db --requests --slowest 20\n"
		"  sudo l7top --pid 1234 --retention 30d --slow-ms 250 --log-status 400\n"
		"  sudo l7top --pid 1234 --route '/u/{user}' --route '/static/*' --routes /etc/l7top.routes\n"
		"\n"
		"Exit status: 0 ok, 1 runtime error, 2 usage or target error.\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Seconds, possibly fractional ("0.5"), to milliseconds. */
static int parse_seconds(const char *s, uint64_t *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0.1 || v > 86400.0 * 365)
		return -EINVAL;
	*ms = (uint64_t)(v * 1000.0 + 0.5);
	return 0;
}

static int parse_ports(const char *arg, struct options *o)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (parse_u64(tok, 1, 65535, &v) || o->nports >= TARGET_MAX_PORTS)
			return -EINVAL;
		o->ports[o->nports++] = (uint16_t)v;
	}
	return o->nports ? 0 : -EINVAL;
}

static int bad_arg(const char *opt, const char *val)
{
	fprintf(stderr, "l7top: invalid value '%s' for %s (see l7top --help)\n", val, opt);
	return EXIT_USAGE;
}

enum { OPT_NO_TUI = 256, OPT_DB, OPT_NO_DB, OPT_DURATION, OPT_MAX_EP, OPT_MAX_CONNS, OPT_ROWS,
       OPT_PORT, OPT_TLS, OPT_SSL_LIB, OPT_CAPTURE_BYTES, OPT_JSON, OPT_PROMETHEUS,
       OPT_RETENTION, OPT_SLOW_MS, OPT_LOG_STATUS };

/* Apart from the enum above, so options added there never collide. */
enum { OPT_KEYLOG = 400, OPT_KEYLOG_IN, OPT_TLS_CUT, OPT_PIDFILE, OPT_FOLD_AFTER, OPT_ROUTE, OPT_ROUTES,
       OPT_CAPTURE_BUFFER, OPT_NO_TLS_CUT };

static int parse_tls_mode(const char *s, enum tls_mode *out)
{
	static const enum tls_mode asked[] = { TLS_MODE_AUTO, TLS_MODE_KEYS, TLS_MODE_CALLS,
					       TLS_MODE_OFF };

	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		if (!strcmp(s, tls_mode_name(asked[i]))) {
			*out = asked[i];
			return 0;
		}
	}
	return -EINVAL;
}

static int routes_init(struct options *o)
{
	if (!o->routes && !(o->routes = route_patterns_new())) {
		fprintf(stderr, "l7top: out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

/* --route PATTERN: 0, or -EINVAL after one line saying why. */
static int route_add(struct options *o, const char *pat)
{
	const char *why;
	if (routes_init(o))
		return -ENOMEM;
	if (route_patterns_add(o->routes, pat, &why)) {
		fprintf(stderr, "l7top: --route '%s': %s\n", pat, why);
		return -EINVAL;
	}
	return 0;
}

/* --routes FILE: every line a pattern; the first bad one is named. */
static int routes_load(struct options *o, const char *path)
{
	enum { MAX_FILE = 1 << 20 };
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	const char *why = NULL;
	unsigned line = 0;
	int rc = -EINVAL;

	if (!f) {
		fprintf(stderr, "l7top: --routes %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (routes_init(o) || !(buf = malloc(MAX_FILE + 1))) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	size_t n = fread(buf, 1, MAX_FILE + 1, f);
	if (ferror(f))
		fprintf(stderr, "l7top: --routes %s: %s\n", path, strerror(errno));
	else if (n > MAX_FILE)
		fprintf(stderr, "l7top: --routes %s: larger than 1 MiB\n", path);
	else if (route_patterns_load(o->routes, buf, n, &line, &why))
		fprintf(stderr, "l7top: %s:%u: bad route pattern: %s\n", path, line, why);
	else
		rc = 0;
	fclose(f);
	free(buf);
	return rc;
}

void options_free(struct options *o)
{
	route_patterns_free(o->routes);
	o->routes = NULL;
}

/* Returns -1 to go on, or an exit code. */
int options_parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'd' },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "no-tui", no_argument, NULL, OPT_NO_TUI },
		{ "db", required_argument, NULL, OPT_DB },
		{ "no-db", no_argument, NULL, OPT_NO_DB },
		{ "max-endpoints", required_argument, NULL, OPT_MAX_EP },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "rows", required_argument, NULL, OPT_ROWS },
		{ "read", required_argument, NULL, 'r' },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "tls", required_argument, NULL, OPT_TLS },
		{ "ssl-lib", required_argument, NULL, OPT_SSL_LIB },
		{ "capture-bytes", required_argument, NULL, OPT_CAPTURE_BYTES },
		{ "capture-buffer", required_argument, NULL, OPT_CAPTURE_BUFFER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "prometheus", required_argument, NULL, OPT_PROMETHEUS },
		{ "keylog", required_argument, NULL, OPT_KEYLOG },
		{ "tls-cut", no_argument, NULL, OPT_TLS_CUT },   /* once opt-in, now the default: kept for scripts */
		{ "no-tls-cut", no_argument, NULL, OPT_NO_TLS_CUT },
		{ "keylog-in", required_argument, NULL, OPT_KEYLOG_IN },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "write", required_argument, NULL, 'w' },
		{ "retention", required_argument, NULL, OPT_RETENTION },
		{ "slow-ms", required_argument, NULL, OPT_SLOW_MS },
		{ "log-status", required_argument, NULL, OPT_LOG_STATUS },
		{ "fold-after", required_argument, NULL, OPT_FOLD_AFTER },
		{ "route", required_argument, NULL, OPT_ROUTE },
		{ "routes", required_argument, NULL, OPT_ROUTES },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	o->db = DEFAULT_DB;
	o->interval_ms = 1000;
	o->max_endpoints = 2000;
	o->max_conns = 65536;
	o->capture_buffer_mb = CAPTURE_DEFAULT_BUFFER_MB;
	o->retention_ms = 7ull * 24 * 3600 * 1000;
	o->slow_ms = 100;
	o->log_status = 500;
	o->tls = TLS_MODE_AUTO;
	o->tls_cut = true;
	o->fold_after = ROUTE_LEARN_VALUES;
	while ((c = getopt_long(argc, argv, "p:d:r:w:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (target_parse_pids(optarg, o->roots, 64, &o->nroots))
				return bad_arg("--pid", optarg);
			break;
		case 'd':
			if (parse_seconds(optarg, &o->interval_ms))
				return bad_arg("--interval", optarg);
			break;
		case OPT_DURATION:
			if (parse_seconds(optarg, &o->duration_ms))
				return bad_arg("--duration", optarg);
			break;
		case OPT_NO_TUI:
			o->no_tui = true;
			break;
		case OPT_DB:
			o->db = optarg;
			break;
		case OPT_NO_DB:
			o->no_db = true;
			break;
		case OPT_MAX_EP:
			if (parse_u64(optarg, 1, 1000000, &v))
				return bad_arg("--max-endpoints", optarg);
			o->max_endpoints = v;
			break;
		case OPT_MAX_CONNS:
			if (parse_u64(optarg, 1, 10000000, &v))
				return bad_arg("--max-conns", optarg);
			o->max_conns = v;
			break;
		case OPT_ROWS:
			if (parse_u64(optarg, 1, 1000000, &v))
				return bad_arg("--rows", optarg);
			o->max_rows = (int)v;
			break;
		case 'r':
			o->read_pcap = optarg;
			break;
		case OPT_PORT:
			if (parse_ports(optarg, o))
				return bad_arg("--port", optarg);
			break;
		case OPT_TLS:
			if (parse_tls_mode(optarg, &o->tls))
				return bad_arg("--tls", optarg);
			break;
		case OPT_TLS_CUT:
			o->tls_cut = true;
			break;
		case OPT_NO_TLS_CUT:
			o->tls_cut = false;
			break;
		case OPT_KEYLOG:
			o->keylog = optarg;
			break;
		case OPT_KEYLOG_IN:
			o->keylog_in = optarg;
			break;
		case OPT_PIDFILE:
			o->pidfile = optarg;
			break;
		case OPT_SSL_LIB:
			o->ssl_lib = optarg;
			break;
		case OPT_CAPTURE_BYTES:
			if (parse_u64(optarg, 1, TLS_CAPTURE_BYTES_MAX, &v))
				return bad_arg("--capture-bytes", optarg);
			o->capture_bytes = (uint32_t)v;
			break;
		case OPT_CAPTURE_BUFFER:
			if (parse_u64(optarg, 1, CAPTURE_MAX_BUFFER_MB, &v))
				return bad_arg("--capture-buffer", optarg);
			o->capture_buffer_mb = (unsigned)v;
			break;
		case OPT_JSON:
			o->json = true;
			o->no_tui = true;
			break;
		case OPT_PROMETHEUS: {
			char host[256];
			uint16_t port;
			if (prom_parse_listen(optarg, host, sizeof(host), &port) || !port)
				return bad_arg("--prometheus", optarg);
			o->prometheus = optarg;
			break;
		}
		case 'w':
			o->write_pcap = optarg;
			break;
		case OPT_RETENTION: {
			int64_t ms = 0;
			if (strcmp(optarg, "forever") && (query_parse_duration(optarg, &ms) || ms < 0))
				return bad_arg("--retention", optarg);
			o->retention_ms = (uint64_t)ms;
			break;
		}
		case OPT_SLOW_MS:
			if (parse_u64(optarg, 1, 3600000, &v))
				return bad_arg("--slow-ms", optarg);
			o->slow_ms = (uint32_t)v;
			break;
		case OPT_LOG_STATUS:
			if (parse_u64(optarg, 400, 599, &v))
				return bad_arg("--log-status", optarg);
			o->log_status = (uint16_t)v;
			break;
		case OPT_FOLD_AFTER:
			if (parse_u64(optarg, 0, 65535, &v))
				return bad_arg("--fold-after", optarg);
			o->fold_after = (unsigned)v;
			break;
		case OPT_ROUTE:
		case OPT_ROUTES:
			if ((c == OPT_ROUTE ? route_add(o, optarg) : routes_load(o, optarg)))
				return EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("l7top %s\n", L7TOP_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "l7top: see l7top --help\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "l7top: unexpected argument '%s' (see l7top --help)\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!o->nroots && !o->read_pcap && !o->pidfile) {
		fprintf(stderr, "l7top: say which server to watch: --pid PID or --pidfile FILE (see "
			"l7top --help)\n");
		return EXIT_USAGE;
	}
	if (o->pidfile && (o->nroots || o->read_pcap)) {
		fprintf(stderr, "l7top: --pidfile names the server to watch: use it without --pid "
			"and --read\n");
		return EXIT_USAGE;
	}
	if (o->keylog && (o->read_pcap || o->tls == TLS_MODE_CALLS || o->tls == TLS_MODE_OFF)) {
		fprintf(stderr, "l7top: --keylog writes the secrets of a live --tls keys or auto run\n");
		return EXIT_USAGE;
	}
	if (o->keylog_in && !o->read_pcap && (o->tls == TLS_MODE_CALLS || o->tls == TLS_MODE_OFF)) {
		fprintf(stderr, "l7top: --keylog-in decrypts what the socket filter sees: use it with"
			" --read, --tls keys or --tls auto\n");
		return EXIT_USAGE;
	}
	return -1;
}
