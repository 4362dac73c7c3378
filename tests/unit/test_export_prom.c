// SPDX-License-Identifier: MIT
/*
 * prom: the listen-address grammar, per-code counts through agg and the
 * host fold, the exposition text of known snapshots (counters summed over
 * intervals, cumulative buckets, escaping, the OTHER fold), and one real
 * scrape over loopback through libmicrohttpd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/agg.h"
#include "collector/snapshot.h"
#include "export/prom.h"

/* ---- helpers ---------------------------------------------------------------- */

static void add(struct agg *a, const char *host, const char *method, const char *route,
		uint16_t status, uint64_t lat_us, uint64_t in, uint64_t out)
{
	struct agg_sample s = {
		.host = host, .method = method, .route = route,
		.req = { .ts_ms = 1, .lat_us = lat_us, .status = status,
			 .bytes_in = in, .bytes_out = out },
	};
	agg_add(a, &s);
}

static char *render(struct prom *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(prom_render(p, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* The text has this exact line. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("missing line: %s\n--- text ---\n%s", line, text);
}

static int count_substr(const char *text, const char *s)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, s)); p += strlen(s))
		n++;
	return n;
}

static struct prom *state_only(size_t max_series)
{
	struct prom_config cfg = { .version = "9.8.7", .max_series = max_series };
	struct prom *p;
	char err[256];

	assert_int_equal(prom_open(&p, &cfg, err, sizeof(err)), 0);
	return p;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_parse_listen(void **state)
{
	char host[64];
	uint16_t port;
	(void)state;

	assert_int_equal(prom_parse_listen("9100", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9100);
	assert_int_equal(prom_parse_listen(":9101", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9101);
	assert_int_equal(prom_parse_listen("0.0.0.0:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 80);
	assert_int_equal(prom_parse_listen("[::1]:9100", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(prom_parse_listen("localhost:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 0);

	const char *bad[] = { "", ":", "x", "9100x", "65536", "-1", "+5", "1.2.3.4:",
			      "::1:9100", "1.2.3.4:99999", "[::1]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (prom_parse_listen(bad[i], host, sizeof(host), &port) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(prom_parse_listen("127.0.0.1:80", host, 4, &port), -EINVAL);
}

/* Codes per endpoint: in order of first use, the rest in the code-0 slot. */
static void test_status_counts(void **state)
{
	struct status_count c[EP_CODES] = { 0 };
	uint64_t sum = 0;
	(void)state;

	for (uint16_t code = 200; code < 210; code++)
		status_counts_add(c, EP_CODES, code, code - 199u);
	status_counts_add(c, EP_CODES, 200, 10);
	status_counts_add(c, EP_CODES, 0, 1);      /* no valid status */
	status_counts_add(c, EP_CODES, 600, 1);
	for (int i = 0; i < EP_CODES - 1; i++)
		assert_int_equal(c[i].code, 200 + i);
	assert_int_equal(c[0].n, 11);
	assert_int_equal(c[EP_CODES - 1].code, 0);
	assert_int_equal(c[EP_CODES - 1].n, 8 + 9 + 10 + 2);
	for (int i = 0; i < EP_CODES; i++)
		sum += c[i].n;
	assert_int_equal(sum, 55 + 10 + 2);
}

/* agg fills codes; the interval restart clears them; the host fold sums them. */
static void test_agg_codes(void **state)
{
	struct agg *a = agg_new(10);
	(void)state;

	add(a, "a.example", "GET", "/x", 200, 10, 1, 1);
	add(a, "b.example", "GET", "/x", 200, 10, 1, 1);
	add(a, "b.example", "GET", "/x", 404, 10, 1, 1);
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	struct snapshot *m = snapshot_fold_hosts(s);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->eps[0].codes[0].code, 200);
	assert_int_equal(m->eps[0].codes[0].n, 2);
	assert_int_equal(m->eps[0].codes[1].code, 404);
	assert_int_equal(m->eps[0].codes[1].n, 1);
	snapshot_free(m);
	snapshot_free(s);

	add(a, "a.example", "GET", "/x", 503, 10, 1, 1);
	s = agg_snapshot(a, 1000, 1000);
	assert_int_equal(s->n, 1);
	assert_int_equal(s->eps[0].codes[0].code, 503);
	assert_int_equal(s->eps[0].codes[0].n, 1);
	assert_int_equal(s->eps[0].ncodes, 1);
	snapshot_free(s);
	agg_free(a);
}

/* Two intervals: counters are sums since start, buckets are cumulative. */
static void test_render(void **state)
{
	struct agg *a = agg_new(100);
	struct prom *p = state_only(0);
	(void)state;

	for (int i = 0; i < 2; i++) {
		add(a, "", "GET", "/users/:id", 200, 100, 50, 500);       /* le 0.0005 */
		add(a, "", "GET", "/users/:id", 200, 700, 50, 500);       /* le 0.001 */
		add(a, "", "GET", "/users/:id", 404, 3000, 50, 100);      /* le 0.005 */
		add(a, "", "POST", "/upload", 500, 20000000, 10000, 20);  /* +Inf only */
		struct snapshot *s = agg_snapshot(a, 1000u * (unsigned)i, 1000);
		s->c.kernel_drops = 3;
		s->c.parse_errors = 1;
		s->c.tls_drops = 2;
		s->c.tls_undecryptable = 1;
		s->c.tls_lost = 4;
		s->c.tls_secrets_lost = 5;
		s->c.conns_open = 5u + (unsigned)i;
		assert_int_equal(prom_update(p, s), 0);
		snapshot_free(s);
	}
	char *t = render(p);

	has_line(t, "# TYPE l7top_http_requests_total counter");
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"GET\",route=\"/users/:id\",status=\"200\"} 4");
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"GET\",route=\"/users/:id\",status=\"404\"} 2");
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"POST\",route=\"/upload\",status=\"500\"} 2");
	has_line(t, "# TYPE l7top_http_request_duration_seconds histogram");
	const char *b = "l7top_http_request_duration_seconds_bucket{host=\"\",method=\"GET\",route=\"/users/:id\",";
	char line[256];
	const struct { const char *le; int n; } want[] = {
		{ "0.0005", 2 }, { "0.001", 4 }, { "0.0025", 4 }, { "0.005", 6 }, { "10", 6 },
		{ "+Inf", 6 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(line, sizeof(line), "%sle=\"%s\"} %d", b, want[i].le, want[i].n);
		has_line(t, line);
	}
	has_line(t, "l7top_http_request_duration_seconds_bucket{host=\"\",method=\"POST\",route=\"/upload\",le=\"10\"} 0");
	has_line(t, "l7top_http_request_duration_seconds_bucket{host=\"\",method=\"POST\",route=\"/upload\",le=\"+Inf\"} 2");
	has_line(t, "l7top_http_request_duration_seconds_sum{host=\"\",method=\"GET\",route=\"/users/:id\"} 0.007600");
	has_line(t, "l7top_http_request_duration_seconds_count{host=\"\",method=\"GET\",route=\"/users/:id\"} 6");
	has_line(t, "l7top_http_request_bytes_total{host=\"\",method=\"POST\",route=\"/upload\"} 20000");
	has_line(t, "l7top_http_response_bytes_total{host=\"\",method=\"GET\",route=\"/users/:id\"} 2200");
	has_line(t, "l7top_capture_drops_total 6");
	has_line(t, "l7top_parse_errors_total 2");
	has_line(t, "l7top_tls_ring_drops_total 4");
	has_line(t, "l7top_tls_undecryptable_total 2");
	has_line(t, "l7top_tls_records_lost_total 8");
	has_line(t, "l7top_tls_secrets_lost_total 10");
	has_line(t, "l7top_connections_open 6");
	has_line(t, "l7top_build_info{version=\"9.8.7\"} 1");
	/* One TYPE per family, each family's samples together. */
	assert_int_equal(count_substr(t, "# TYPE l7top_http_request_duration_seconds "), 1);
	assert_int_equal(count_substr(t, "# TYPE l7top_http_requests_total "), 1);
	free(t);
	prom_close(p);
	agg_free(a);
}

static void test_escaping(void **state)
{
	struct agg *a = agg_new(100);
	struct prom *p = state_only(0);
	(void)state;

	add(a, "", "GET", "/q/say\"hi\"\\x\nz\t\x01\xff", 200, 10, 1, 1);
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	assert_int_equal(prom_update(p, s), 0);
	snapshot_free(s);
	char *t = render(p);
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"GET\","
		    "route=\"/q/say\\\"hi\\\"\\\\x\\nz%09%01%FF\",status=\"200\"} 1");
	free(t);
	prom_close(p);
	agg_free(a);
}

/* Past max_series, a new route takes the place of the least used series,
 * which moves into OTHER with the collector's own OTHER row: one series,
 * nothing lost, sums monotonic. */
static void test_other_fold(void **state)
{
	struct agg *a = agg_new(4);
	struct prom *p = state_only(2);
	(void)state;

	/* agg: /e takes /a's row (/a -> OTHER, /e held back); prom: /d takes /b's */
	const char *routes[] = { "/a", "/b", "/c", "/d", "/e" };
	for (size_t i = 0; i < 5; i++)
		add(a, "", "GET", routes[i], 200, 10, 1, 1);
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	assert_int_equal(s->n, 4);
	assert_int_equal(prom_update(p, s), 0);
	snapshot_free(s);
	char *t = render(p);
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"GET\",route=\"/c\",status=\"200\"} 1");
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"GET\",route=\"/d\",status=\"200\"} 1");
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"*\",route=\"OTHER\",status=\"200\"} 2");
	assert_int_equal(count_substr(t, "l7top_http_requests_total{"), 3);
	free(t);

	/* A real endpoint that comes later, with traffic, gets its series. */
	for (int i = 0; i < 5; i++)
		add(a, "", "GET", "/late", 200, 10, 1, 1);
	s = agg_snapshot(a, 1000, 1000);
	assert_int_equal(prom_update(p, s), 0);
	snapshot_free(s);
	t = render(p);
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"GET\",route=\"/late\",status=\"200\"} 5");
	has_line(t, "l7top_http_requests_total{host=\"\",method=\"*\",route=\"OTHER\",status=\"200\"} 3");
	assert_int_equal(count_substr(t, "l7top_http_requests_total{"), 3);
	free(t);
	prom_close(p);
	agg_free(a);
}

/* Hosts stay apart (the fleet's rules sum them by label); the target label
 * is set once and every HTTP series carries it; the loss counters do not. */
static void test_hosts_and_target(void **state)
{
	struct agg *a = agg_new(100);
	struct prom *p = state_only(0);
	(void)state;

	add(a, "a.example", "GET", "/x", 200, 100, 1, 1);
	add(a, "b.example", "GET", "/x", 200, 100, 1, 1);
	add(a, "b.example", "GET", "/x", 500, 100, 1, 1);
	prom_set_target(p, "nginx[42]");
	prom_set_target(p, "nginx[43]");      /* ignored: one constant per run */
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	assert_int_equal(prom_update(p, s), 0);
	snapshot_free(s);
	char *t = render(p);
	has_line(t, "l7top_http_requests_total{target=\"nginx[42]\",host=\"a.example\","
		    "method=\"GET\",route=\"/x\",status=\"200\"} 1");
	has_line(t, "l7top_http_requests_total{target=\"nginx[42]\",host=\"b.example\","
		    "method=\"GET\",route=\"/x\",status=\"500\"} 1");
	has_line(t, "l7top_http_request_duration_seconds_count{target=\"nginx[42]\","
		    "host=\"b.example\",method=\"GET\",route=\"/x\"} 2");
	has_line(t, "l7top_capture_drops_total 0");
	assert_int_equal(count_substr(t, "nginx[43]"), 0);
	free(t);
	prom_close(p);
	agg_free(a);
}

/* The le bounds are fixed: an empty l7top and a busy one serve the same
 * list, so sum by (le) across a fleet never meets a bucket only some hosts
 * have. */
static void test_fixed_bounds(void **state)
{
	static const char *want = "0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 "
				  "1 2.5 5 10 +Inf ";
	const uint64_t lat[] = { 1, 90, 1500, 40000, 3000000, 60000000 };
	(void)state;

	for (int busy = 0; busy < 2; busy++) {
		struct agg *a = agg_new(100);
		struct prom *p = state_only(0);
		char got[256] = "";
		for (size_t i = 0; i < (busy ? sizeof(lat) / sizeof(lat[0]) : 1); i++)
			add(a, "", "GET", "/x", 200, busy ? lat[i] : 5, 1, 1);
		struct snapshot *s = agg_snapshot(a, 0, 1000);
		assert_int_equal(prom_update(p, s), 0);
		snapshot_free(s);
		char *t = render(p);
		for (const char *q = t; (q = strstr(q, "_bucket{")); q++) {
			const char *le = strstr(q, "le=\"") + 4;
			strncat(got, le, strcspn(le, "\""));
			strcat(got, " ");
		}
		assert_string_equal(got, want);
		free(t);
		prom_close(p);
		agg_free(a);
	}
}

/* ---- HTTP ---------------------------------------------------------------------- */

static char *http_get(uint16_t port, const char *req)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	assert_non_null(buf);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((n = read(fd, buf + len, cap - len - 1)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* Upstream families: linked calls by upstream, route and class, summed
 * over intervals; a histogram per upstream; connect failures. */
static void test_upstreams(void **state)
{
	struct prom *p = state_only(0);

	(void)state;
	for (int round = 0; round < 2; round++) {
		struct snapshot *s = snapshot_new(0);
		s->ups = calloc(1, sizeof(*s->ups));
		s->nups = 1;
		snprintf(s->ups[0].upstream, UP_NAME_MAX, "127.0.0.1:9001");
		hist_init(&s->ups[0].lat);
		hist_init(&s->ups[0].connect);
		hist_add(&s->ups[0].lat, 3000);
		hist_add(&s->ups[0].lat, 40000);
		s->ups[0].connect_failed = 1;
		s->up_routes = calloc(1, sizeof(*s->up_routes));
		s->nup_routes = 1;
		struct up_route_stats *r = &s->up_routes[0];
		snprintf(r->upstream, UP_NAME_MAX, "127.0.0.1:9001");
		snprintf(r->method, sizeof(r->method), "GET");
		snprintf(r->route, sizeof(r->route), "/a\"b");
		r->status[1] = 5;
		r->no_answer = 1;
		hist_init(&r->lat);
		hist_init(&r->before);
		hist_init(&r->upstream_time);
		hist_init(&r->after);
		assert_int_equal(prom_update(p, s), 0);
		snapshot_free(s);
	}
	char *text = render(p);
	has_line(text, "l7top_upstream_requests_total{upstream=\"127.0.0.1:9001\",method=\"GET\","
		       "route=\"/a\\\"b\",code=\"2xx\"} 10");
	has_line(text, "l7top_upstream_requests_total{upstream=\"127.0.0.1:9001\",method=\"GET\","
		       "route=\"/a\\\"b\",code=\"none\"} 2");
	has_line(text, "l7top_upstream_request_duration_seconds_bucket{upstream=\"127.0.0.1:9001\","
		       "le=\"0.005\"} 2");
	has_line(text, "l7top_upstream_request_duration_seconds_bucket{upstream=\"127.0.0.1:9001\","
		       "le=\"+Inf\"} 4");
	has_line(text, "l7top_upstream_request_duration_seconds_count{upstream=\"127.0.0.1:9001\"} 4");
	has_line(text, "l7top_upstream_connect_failures_total{upstream=\"127.0.0.1:9001\"} 2");
	free(text);
	prom_close(p);
}

static void test_http(void **state)
{
	struct prom_config cfg = { .listen = "127.0.0.1:0", .version = "1.2.3" };
	struct prom *p;
	char err[256];
	(void)state;

	assert_int_equal(prom_open(&p, &cfg, err, sizeof(err)), 0);
	assert_int_not_equal(prom_port(p), 0);
	char *r = http_get(prom_port(p), "GET /metrics HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.0 200") ? r : strstr(r, "HTTP/1.1 200"));
	assert_non_null(strstr(r, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "\nl7top_build_info{version=\"1.2.3\"} 1\n"));
	free(r);
	r = http_get(prom_port(p), "GET /other HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 404 "));
	free(r);
	r = http_get(prom_port(p), "DELETE /metrics HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 405 "));
	free(r);

	/* The same port twice: a clear error, not a crash. */
	char busy[32];
	struct prom *q;
	snprintf(busy, sizeof(busy), "127.0.0.1:%u", prom_port(p));
	cfg.listen = busy;
	assert_int_equal(prom_open(&q, &cfg, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "cannot listen"));
	cfg.listen = "nonsense";
	assert_int_equal(prom_open(&q, &cfg, err, sizeof(err)), -EINVAL);
	prom_close(p);
}

/* Several targets: each series is its target's (a proxy and its backend
 * serving one route are two series), OTHER is target "*"; label escaped. */
static void test_several_targets(void **state)
{
	struct agg *a = agg_new(2);
	struct prom *p = state_only(0);
	struct agg_sample smp = { .host = "h", .method = "GET", .route = "/api",
				  .req = { .ts_ms = 1, .lat_us = 100, .status = 200 } };
	(void)state;

	for (int i = 0; i < 3; i++)
		agg_add(a, &smp);
	smp.target = 1;
	agg_add(a, &smp);
	prom_set_target(p, "nginx[1],py\"[2]");
	struct snapshot *s = agg_snapshot(a, 0, 1000);
	s->ntargets = 2;
	snprintf(s->targets[0], TARGET_NAME_MAX, "nginx[1]");
	snprintf(s->targets[1], TARGET_NAME_MAX, "py\"[2]");
	assert_int_equal(prom_update(p, s), 0);
	snapshot_free(s);
	/* a third endpoint past the collector's cap of 2 evicts target 1's
	 * row: what it had this interval goes to OTHER */
	agg_add(a, &smp);
	smp.route = "/b";
	for (int i = 0; i < 2; i++)
		agg_add(a, &smp);
	s = agg_snapshot(a, 1000, 1000);
	s->ntargets = 2;
	snprintf(s->targets[0], TARGET_NAME_MAX, "nginx[1]");
	snprintf(s->targets[1], TARGET_NAME_MAX, "py\"[2]");
	assert_int_equal(prom_update(p, s), 0);
	snapshot_free(s);
	char *t = render(p);
	has_line(t, "l7top_http_requests_total{target=\"nginx[1]\",host=\"h\","
		    "method=\"GET\",route=\"/api\",status=\"200\"} 3");
	has_line(t, "l7top_http_requests_total{target=\"py\\\"[2]\",host=\"h\","
		    "method=\"GET\",route=\"/api\",status=\"200\"} 1");
	has_line(t, "l7top_http_requests_total{target=\"*\",host=\"\",method=\"*\","
		    "route=\"OTHER\",status=\"200\"} 1");
	free(t);
	prom_close(p);
	agg_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_status_counts),
		cmocka_unit_test(test_agg_codes),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_other_fold),
		cmocka_unit_test(test_hosts_and_target),
		cmocka_unit_test(test_several_targets),
		cmocka_unit_test(test_fixed_bounds),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_upstreams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
