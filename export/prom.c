// SPDX-License-Identifier: MIT
#include "export/prom.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "collector/agg.h"
#include "export/prom_upstream.h"
#include "collector/hist.h"

#define PROM_DEFAULT_SERIES 2001      /* collector's default cap + OTHER */
#define PROM_CODES          16        /* codes per series since start */
#define PROM_CONN_LIMIT     16        /* concurrent scrapes */
#define PROM_CONN_TIMEOUT_S 10
#define PROM_CONTENT_TYPE   "text/plain; version=0.0.4; charset=utf-8"

/* le bounds in µs: constants, never derived from the data, so every l7top
 * of a fleet serves the same buckets and sum by (le) over hosts is exact.
 * Each internal histogram bucket is counted under the
 * first bound its highest value does not exceed, so a bound never counts a
 * value above it; a bucket straddling a bound (2.5 ms, 25 ms, ... are not
 * bucket edges) moves to the next bound, an error under 1/64 of the bound. */
static const uint64_t prom_le_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
#define PROM_LE_N (sizeof(prom_le_us) / sizeof(prom_le_us[0]))

/*
 * libmicrohttpd, opened when a listener is asked for. Linked, it brings
 * GnuTLS, p11-kit, nettle and gmp, which initialise themselves at load:
 * 2.4 MB of RSS in every run, /metrics or not. Types come from its header.
 */
struct mhd_api {
	void *dl;
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
};

/* One target + virtual host + method + route since start. */
struct prom_series {
	char target[TARGET_NAME_MAX]; /* "" with one target: the run's label (prom.target) */
	char host[HOST_MAX];
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	struct status_count codes[PROM_CODES];
	uint64_t le[PROM_LE_N];       /* per bound, not cumulative; above the last: count - sum */
	uint64_t count, sum_us;       /* answered requests: the histogram's */
	uint64_t aborted;             /* client left before the response */
	uint64_t bytes_in, bytes_out;
};

struct prom {
	pthread_mutex_t lock;         /* guards everything below mhd */
	struct mhd_api api;           /* dl NULL until a listener is asked for */
	struct MHD_Daemon *mhd;
	uint16_t port;
	char version[32];
	char target[64];              /* set once per run; "" = no target label */
	char tls_mode[16];            /* how HTTPS is read now (--tls auto may switch); "" = not said */
	size_t max;                   /* series before OTHER */
	size_t n, cap;
	struct prom_series *s;
	uint32_t *slots;              /* open addressing: index + 1, 0 = empty */
	size_t nslots;                /* power of two, >= 2 * (max + 1) */
	long other;                   /* index of the OTHER series, -1 until used */
	struct snap_counters c;       /* summed since start; gauges: the latest */
	struct prom_upstream *up;     /* the upstream families; NULL: out of memory */
};

/* ---- listen address ----------------------------------------------------- */

int prom_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':'), *ps = colon ? colon + 1 : s;
	size_t hl = colon ? (size_t)(colon - s) : 0;
	char *end;

	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {   /* [v6]:port */
		s++;
		hl -= 2;
	} else if (hl && memchr(s, ':', hl)) {
		return -EINVAL;                             /* v6 without brackets */
	}
	errno = 0;
	unsigned long v = strtoul(ps, &end, 10);
	if (errno || end == ps || *end || *ps == '-' || *ps == '+' || v > 65535)
		return -EINVAL;
	if (!hl) {
		s = "127.0.0.1";
		hl = strlen(s);
	}
	if (hl >= hostlen)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 0;
}

/* ---- totals --------------------------------------------------------------- */

static long prom_append(struct prom *p, const char *target, const char *host, const char *method,
			const char *route)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct prom_series *s = realloc(p->s, cap * sizeof(*s));
		if (!s)
			return -1;
		p->s = s;
		p->cap = cap;
	}
	struct prom_series *e = &p->s[p->n];
	memset(e, 0, sizeof(*e));
	snprintf(e->target, sizeof(e->target), "%s", target);
	snprintf(e->host, sizeof(e->host), "%s", host);
	snprintf(e->method, sizeof(e->method), "%s", method);
	snprintf(e->route, sizeof(e->route), "%s", route);
	return (long)p->n++;
}

static void prom_index(struct prom *p, size_t idx)
{
	const struct prom_series *e = &p->s[idx];
	size_t mask = p->nslots - 1, i = ep_hash(e->host, e->method, e->route) & mask;
	while (p->slots[i])
		i = (i + 1) & mask;
	p->slots[i] = (uint32_t)idx + 1;
}

static void prom_series_merge(struct prom_series *dst, const struct prom_series *src)
{
	for (int k = 0; k < PROM_CODES; k++)
		if (src->codes[k].n)
			status_counts_add(dst->codes, PROM_CODES, src->codes[k].code, src->codes[k].n);
	for (size_t k = 0; k < PROM_LE_N; k++)
		dst->le[k] += src->le[k];
	dst->count += src->count;
	dst->sum_us += src->sum_us;
	dst->aborted += src->aborted;
	dst->bytes_in += src->bytes_in;
	dst->bytes_out += src->bytes_out;
}

/*
 * The table is full and a new endpoint comes: the series with the fewest
 * requests since start moves into OTHER (its counters keep growing there,
 * so sums stay monotonic; the old series goes stale), and the newcomer takes
 * its place. The collector only shows rows that earned one (collector/agg.h),
 * so this is rare: a scan's first rows giving way to the endpoints of now.
 */
static long prom_take(struct prom *p, long other, const char *target, const char *host,
		      const char *method, const char *route)
{
	long victim = -1;
	for (size_t i = 0; i < p->n; i++)
		if ((long)i != other && (victim < 0 || p->s[i].count + p->s[i].aborted <
						       p->s[victim].count + p->s[victim].aborted))
			victim = (long)i;
	if (victim < 0)
		return other;
	struct prom_series *e = &p->s[victim];
	prom_series_merge(&p->s[other], e);
	memset(e, 0, sizeof(*e));
	snprintf(e->target, sizeof(e->target), "%s", target);
	snprintf(e->host, sizeof(e->host), "%s", host);
	snprintf(e->method, sizeof(e->method), "%s", method);
	snprintf(e->route, sizeof(e->route), "%s", route);
	memset(p->slots, 0, p->nslots * sizeof(*p->slots));
	for (size_t i = 0; i < p->n; i++)
		prom_index(p, i);
	return victim;
}

/*
 * The series of target + host + method + route: found, created, or past
 * the bound the least used series' place (prom_take). OTHER (host "") is an
 * ordinary entry of the table, so the collector's own OTHER row and prom's
 * overflow land in one series, never two with equal labels. (The hash
 * leaves the target out: a route served by two targets is two entries of
 * one probe chain.)
 */
static long prom_series_of(struct prom *p, const char *target, const char *host,
			   const char *method, const char *route)
{
	size_t mask = p->nslots - 1, i = ep_hash(host, method, route) & mask;
	bool other = !*host && !strcmp(method, AGG_OTHER_METHOD) && !strcmp(route, AGG_OTHER_ROUTE);

	for (; p->slots[i]; i = (i + 1) & mask) {
		const struct prom_series *e = &p->s[p->slots[i] - 1];
		if (!strcmp(e->route, route) && !strcmp(e->method, method) && !strcmp(e->host, host) &&
		    !strcmp(e->target, target))
			return (long)p->slots[i] - 1;
	}
	if (!other && p->n - (p->other >= 0) >= p->max) {
		/* several targets: OTHER is "*", as the collector's own OTHER row */
		long o = prom_series_of(p, *target ? "*" : "", "", AGG_OTHER_METHOD, AGG_OTHER_ROUTE);
		return o < 0 ? -1 : prom_take(p, o, target, host, method, route);
	}
	long idx = prom_append(p, target, host, method, route);
	if (idx < 0)
		return -1;
	p->slots[i] = (uint32_t)idx + 1;
	if (other)
		p->other = idx;
	return idx;
}

static unsigned prom_le_slot(uint64_t high_us)
{
	unsigned k = 0;
	while (k < PROM_LE_N && high_us > prom_le_us[k])
		k++;
	return k;               /* PROM_LE_N: only under +Inf */
}

/* Only the allocated chunks are walked: most endpoints touch a few. */
static void prom_add_hist(struct prom_series *e, const struct hist *h)
{
	for (unsigned ch = hist_next_chunk(h, 0); ch < HIST_NCHUNKS; ch = hist_next_chunk(h, ch + 1)) {
		for (unsigned idx = ch * HIST_CHUNK; idx < (ch + 1) * HIST_CHUNK; idx++) {
			uint64_t n = hist_bucket_count(h, idx);
			unsigned k;
			if (n && (k = prom_le_slot(hist_bucket_high(idx) - 1)) < PROM_LE_N)
				e->le[k] += n;
		}
	}
}

static void prom_add_ep(struct prom_series *e, const struct ep_stats *s)
{
	for (size_t i = 0; i < s->ncodes; i++)
		status_counts_add(e->codes, PROM_CODES, s->codes[i].code, s->codes[i].n);
	prom_add_hist(e, &s->lat);
	e->count += s->requests - s->aborted;   /* aborted ones have no latency */
	e->aborted += s->aborted;
	e->sum_us += s->lat_sum_us;
	e->bytes_in += s->bytes_in;
	e->bytes_out += s->bytes_out;
}

int prom_update(struct prom *p, const struct snapshot *s)
{
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < s->n; i++) {
		const struct ep_stats *e = &s->eps[i];
		/* One target: no name of its own, the run's label (as before
		 * targets). Several: each row its target's, OTHER (summed across
		 * them) "*". */
		const char *target = snapshot_row_target(s, e->target);
		if (!target)
			target = "";
		long idx = prom_series_of(p, target, e->host, e->method, e->route);
		if (idx < 0) {
			rc = -ENOMEM;
			continue;
		}
		prom_add_ep(&p->s[idx], e);
	}
	snap_counters_add(&p->c, &s->c);
	if (p->up)
		prom_upstream_update(p->up, s);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ---- exposition text ------------------------------------------------------- */

/*
 * A label value: the format escapes \ " and newline. Other control bytes
 * and non-ASCII ones (routes are ASCII, but a capture can hold anything)
 * are %XX-encoded like query's JSON, so the output is always valid UTF-8.
 */
void prom_label(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
}

static void prom_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{[target="...",]host="...",method="...",route="..." — the caller
 * closes the brace. */
static void prom_series_open(FILE *f, const char *name, const char *target,
			     const struct prom_series *e)
{
	if (e->target[0])
		target = e->target;
	fprintf(f, "%s{", name);
	if (*target) {
		fputs("target=\"", f);
		prom_label(f, target);
		fputs("\",", f);
	}
	fputs("host=\"", f);
	prom_label(f, e->host);
	fputs("\",method=\"", f);
	prom_label(f, e->method);
	fputs("\",route=\"", f);
	prom_label(f, e->route);
	fputc('"', f);
}

static void prom_render_requests(const struct prom *p, FILE *f)
{
	prom_family(f, "l7top_http_requests_total", "counter",
		    "HTTP requests by method, route and status code (\"other\": codes past the "
		    "per-route table, or no valid status; \"aborted\": the client left before the "
		    "response, NGINX logs 400 or 499).");
	for (size_t i = 0; i < p->n; i++) {
		const struct prom_series *e = &p->s[i];
		for (int k = 0; k < PROM_CODES; k++) {
			if (!e->codes[k].n)
				continue;
			prom_series_open(f, "l7top_http_requests_total", p->target, e);
			if (e->codes[k].code)
				fprintf(f, ",status=\"%u\"} %" PRIu64 "\n", e->codes[k].code, e->codes[k].n);
			else
				fprintf(f, ",status=\"other\"} %" PRIu64 "\n", e->codes[k].n);
		}
		if (e->aborted) {
			prom_series_open(f, "l7top_http_requests_total", p->target, e);
			fprintf(f, ",status=\"aborted\"} %" PRIu64 "\n", e->aborted);
		}
	}
}

static void prom_render_hist(const struct prom *p, FILE *f)
{
	static const char name[] = "l7top_http_request_duration_seconds";

	prom_family(f, name, "histogram",
		    "Time from the first byte of a request to the last byte of its response.");
	for (size_t i = 0; i < p->n; i++) {
		const struct prom_series *e = &p->s[i];
		uint64_t cum = 0;
		for (size_t k = 0; k < PROM_LE_N; k++) {
			cum += e->le[k];
			prom_series_open(f, "l7top_http_request_duration_seconds_bucket", p->target, e);
			fprintf(f, ",le=\"%g\"} %" PRIu64 "\n", (double)prom_le_us[k] / 1e6, cum);
		}
		prom_series_open(f, "l7top_http_request_duration_seconds_bucket", p->target, e);
		fprintf(f, ",le=\"+Inf\"} %" PRIu64 "\n", e->count);
		prom_series_open(f, "l7top_http_request_duration_seconds_sum", p->target, e);
		fprintf(f, "} %.6f\n", (double)e->sum_us / 1e6);
		prom_series_open(f, "l7top_http_request_duration_seconds_count", p->target, e);
		fprintf(f, "} %" PRIu64 "\n", e->count);
	}
}

static void prom_render_bytes(const struct prom *p, FILE *f, bool out)
{
	const char *name = out ? "l7top_http_response_bytes_total" : "l7top_http_request_bytes_total";

	prom_family(f, name, "counter", out
		    ? "Response bytes as they crossed the wire (headers, chunk framing, 1xx)."
		    : "Request bytes as they crossed the wire (headers and body).");
	for (size_t i = 0; i < p->n; i++) {
		prom_series_open(f, name, p->target, &p->s[i]);
		fprintf(f, "} %" PRIu64 "\n", out ? p->s[i].bytes_out : p->s[i].bytes_in);
	}
}

/* Every counter of the snapshot table, as counters since start and gauges. */
static void prom_render_counters(struct prom *p, FILE *f)
{
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		const struct snap_counter_def *d = &snap_counter_defs[i];
		prom_family(f, d->metric, d->kind == SNAP_GAUGE ? "gauge" : "counter", d->help);
		fprintf(f, "%s %" PRIu64 "\n", d->metric, snap_counter_get(&p->c, i));
	}
	prom_family(f, "l7top_build_info", "gauge", "l7top's version; always 1.");
	fputs("l7top_build_info{version=\"", f);
	prom_label(f, p->version);
	fputs("\"} 1\n", f);
	if (*p->tls_mode) {
		prom_family(f, "l7top_tls_mode_info", "gauge",
			    "How HTTPS is read now (keys, calls, keys+calls after --tls auto "
			    "moved new connections to calls); always 1.");
		fputs("l7top_tls_mode_info{mode=\"", f);
		prom_label(f, p->tls_mode);
		fputs("\"} 1\n", f);
	}
}

int prom_render(struct prom *p, FILE *f)
{
	pthread_mutex_lock(&p->lock);
	prom_render_requests(p, f);
	prom_render_hist(p, f);
	prom_render_bytes(p, f, false);
	prom_render_bytes(p, f, true);
	prom_render_counters(p, f);
	prom_upstream_render(p->up, f, prom_le_us, PROM_LE_N);
	pthread_mutex_unlock(&p->lock);
	return fflush(f) || ferror(f) ? -EIO : 0;
}

/* ---- HTTP ------------------------------------------------------------------ */

static const char *const MHD_LIBS[] = { "libmicrohttpd.so.12", "libmicrohttpd.so" };

/* 0, or -ENOENT with err saying what to install. */
static int mhd_load(struct mhd_api *m, char *err, size_t errlen)
{
	char why[256] = "";

	/* The versioned name first; its failure is the one worth telling (a
	 * library there that does not load), not the fallback's absence. */
	for (size_t i = 0; !m->dl && i < sizeof(MHD_LIBS) / sizeof(MHD_LIBS[0]); i++) {
		const char *e;
		if (!(m->dl = dlopen(MHD_LIBS[i], RTLD_NOW | RTLD_LOCAL)) && !why[0] && (e = dlerror()))
			snprintf(why, sizeof(why), "%s", e);
	}
	if (!m->dl) {
		snprintf(err, errlen, "l7top: --prometheus needs libmicrohttpd: apt install "
			 "libmicrohttpd12 (%s)", why[0] ? why : "not found");
		return -ENOENT;
	}
	struct { const char *name; void **fn; } syms[] = {
		{ "MHD_start_daemon", (void **)&m->start_daemon },
		{ "MHD_stop_daemon", (void **)&m->stop_daemon },
		{ "MHD_get_daemon_info", (void **)&m->get_daemon_info },
		{ "MHD_create_response_from_buffer", (void **)&m->create_response_from_buffer },
		{ "MHD_add_response_header", (void **)&m->add_response_header },
		{ "MHD_queue_response", (void **)&m->queue_response },
		{ "MHD_destroy_response", (void **)&m->destroy_response },
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		if (!(*syms[i].fn = dlsym(m->dl, syms[i].name))) {
			snprintf(err, errlen, "l7top: --prometheus: libmicrohttpd lacks %s: "
				 "apt install libmicrohttpd12", syms[i].name);
			dlclose(m->dl);
			*m = (struct mhd_api){ 0 };
			return -ENOENT;
		}
	return 0;
}

static enum MHD_Result prom_reply(const struct prom *p, struct MHD_Connection *conn,
				  unsigned status, const char *type, char *body, size_t len)
{
	const struct mhd_api *m = &p->api;
	struct MHD_Response *r = m->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	m->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = m->queue_response(conn, status, r);
	m->destroy_response(r);
	return ret;
}

static enum MHD_Result prom_reply_text(const struct prom *p, struct MHD_Connection *conn,
				       unsigned status, const char *text)
{
	char *body = strdup(text);
	return body ? prom_reply(p, conn, status, "text/plain; charset=utf-8", body, strlen(body))
		    : MHD_NO;
}

/* Runs in libmicrohttpd's thread. GET and HEAD have no body, so the reply
 * is queued on the first call. */
static enum MHD_Result prom_handle(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **con_cls)
{
	struct prom *p = cls;
	char *body = NULL;
	size_t len = 0;
	(void)version, (void)upload, (void)con_cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return prom_reply_text(p, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (*upload_size)
		return MHD_NO;
	if (strcmp(url, "/metrics"))
		return prom_reply_text(p, conn, MHD_HTTP_NOT_FOUND, "l7top: try /metrics\n");
	FILE *f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	int rc = prom_render(p, f);
	if (fclose(f) || rc) {
		free(body);
		return prom_reply_text(p, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "l7top: out of memory\n");
	}
	return prom_reply(p, conn, MHD_HTTP_OK, PROM_CONTENT_TYPE, body, len);
}

static int prom_resolve(const char *listen, struct addrinfo **ai, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	char host[256], port[8];
	uint16_t pn;

	if (prom_parse_listen(listen, host, sizeof(host), &pn)) {
		snprintf(err, errlen, "l7top: --prometheus '%s': want PORT, :PORT or ADDR:PORT",
			 listen);
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%u", pn);
	int rc = getaddrinfo(host, port, &hints, ai);
	if (rc) {
		snprintf(err, errlen, "l7top: --prometheus '%s': %s", listen, gai_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

static int prom_listen(struct prom *p, const char *listen, char *err, size_t errlen)
{
	struct addrinfo *ai;
	int rc = prom_resolve(listen, &ai, err, errlen);
	if (rc)
		return rc;
	if ((rc = mhd_load(&p->api, err, errlen))) {
		freeaddrinfo(ai);
		return rc;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	errno = 0;
	p->mhd = p->api.start_daemon(flags, 0, NULL, NULL, prom_handle, p,
				  MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)PROM_CONN_LIMIT,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PROM_CONN_TIMEOUT_S,
				  MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!p->mhd) {
		rc = errno ? -errno : -EADDRNOTAVAIL;
		snprintf(err, errlen, "l7top: --prometheus %s: cannot listen: %s", listen,
			 strerror(-rc));
		return rc;
	}
	const union MHD_DaemonInfo *di = p->api.get_daemon_info(p->mhd, MHD_DAEMON_INFO_BIND_PORT);
	p->port = di ? di->port : 0;
	return 0;
}

int prom_open(struct prom **out, const struct prom_config *cfg, char *err, size_t errlen)
{
	struct prom *p = calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "l7top: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	snprintf(p->version, sizeof(p->version), "%s", cfg->version ? cfg->version : "");
	p->max = cfg->max_series ? cfg->max_series : PROM_DEFAULT_SERIES;
	p->other = -1;
	p->nslots = 16;
	while (p->nslots < 2 * (p->max + 1))
		p->nslots <<= 1;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	p->up = prom_upstream_new();
	if (!p->slots || !p->up) {
		snprintf(err, errlen, "l7top: out of memory");
		prom_close(p);
		return -ENOMEM;
	}
	if (cfg->listen && (rc = prom_listen(p, cfg->listen, err, errlen))) {
		prom_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

void prom_set_target(struct prom *p, const char *target)
{
	pthread_mutex_lock(&p->lock);
	if (!p->target[0])
		snprintf(p->target, sizeof(p->target), "%s", target ? target : "");
	pthread_mutex_unlock(&p->lock);
}

uint16_t prom_port(const struct prom *p)
{
	return p->port;
}

void prom_close(struct prom *p)
{
	if (!p)
		return;
	if (p->mhd)
		p->api.stop_daemon(p->mhd);   /* joins the thread: no scrape runs after */
	if (p->api.dl)
		dlclose(p->api.dl);
	pthread_mutex_destroy(&p->lock);
	prom_upstream_free(p->up);
	free(p->s);
	free(p->slots);
	free(p);
}

/* ---- as a sink ------------------------------------------------------------ */

static int prom_sink_push(void *self, struct snapshot *s, const struct run_info *run)
{
	struct prom *p = self;

	if (run && run->show_tls) {
		pthread_mutex_lock(&p->lock);
		snprintf(p->tls_mode, sizeof(p->tls_mode), "%s", tls_mode_name(run->tls_mode));
		pthread_mutex_unlock(&p->lock);
	}
	prom_update(self, s);       /* -ENOMEM: the row is missing from scrapes */
	return 0;
}

static void prom_sink_close(void *self, const struct run_info *run)
{
	(void)run;
	prom_close(self);
}

static const struct sink_ops prom_sink_ops = {
	.name = "prometheus",
	.per_host = true,             /* series keep the host label, as storage does */
	.push = prom_sink_push,
	.close = prom_sink_close,
};

struct sink prom_sink(struct prom *p)
{
	return (struct sink){ .ops = &prom_sink_ops, .self = p };
}
