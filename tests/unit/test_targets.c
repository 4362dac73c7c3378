// SPDX-License-Identifier: MIT
/* Targets: a reverse proxy and its backend watched by one collector keep
 * their rows apart (the same route is two rows, one per target, each with
 * its own count); a connection belongs to the target owning its listener
 * (namespace + port) or, read inside a process, its process; snapshots
 * carry the names; folding hosts keeps targets apart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/agg.h"
#include "collector/collector.h"
#include "collector/pkt_decode.h"

#define MS 1000000ull

struct flow {
	uint16_t cport, sport;
	uint32_t cseq, sseq;
};

/* IPv4 127.0.0.2:cport <-> 127.0.0.1:sport. */
static size_t build(uint8_t *pkt, const struct flow *f, int to_server, uint8_t flags,
		    const char *data, size_t len)
{
	uint8_t *t = pkt + 20;
	memset(pkt, 0, 40);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)((40 + len) >> 8);
	pkt[3] = (uint8_t)(40 + len);
	pkt[9] = 6;
	pkt[12] = 127, pkt[15] = to_server ? 2 : 1;
	pkt[16] = 127, pkt[19] = to_server ? 1 : 2;
	uint16_t sp = to_server ? f->cport : f->sport, dp = to_server ? f->sport : f->cport;
	uint32_t seq = to_server ? f->cseq : f->sseq;
	t[0] = (uint8_t)(sp >> 8), t[1] = (uint8_t)sp;
	t[2] = (uint8_t)(dp >> 8), t[3] = (uint8_t)dp;
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
	t[12] = 5 << 4;
	t[13] = flags;
	memcpy(t + 20, data, len);
	return 40 + len;
}

static void seg(struct collector *c, uint32_t netns, struct flow *f, int to_server,
		uint8_t flags, const char *data, uint64_t ts)
{
	uint8_t pkt[2048];
	size_t len = data ? strlen(data) : 0;
	size_t n = build(pkt, f, to_server, flags, data ? data : "", len);
	collector_packet_ns(c, netns, ts, pkt, (uint32_t)n, (uint32_t)n);
	uint32_t adv = (uint32_t)len + ((flags & (TCPF_SYN | TCPF_FIN)) ? 1 : 0);
	if (to_server)
		f->cseq += adv;
	else
		f->sseq += adv;
}

/* One keep-alive connection carrying n GETs of path. */
static void exchange(struct collector *c, uint32_t netns, uint16_t cport, uint16_t sport,
		     const char *path, int n, uint64_t ts)
{
	struct flow f = { cport, sport, 1000, 5000 };
	char req[256];
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path);
	seg(c, netns, &f, 1, TCPF_SYN, NULL, ts);
	seg(c, netns, &f, 0, TCPF_SYN | TCPF_ACK, NULL, ts);
	for (int i = 0; i < n; i++) {
		seg(c, netns, &f, 1, TCPF_ACK | TCPF_PSH, req, ts + (uint64_t)i * MS);
		seg(c, netns, &f, 0, TCPF_ACK | TCPF_PSH, resp, ts + (uint64_t)i * MS + MS / 2);
	}
	seg(c, netns, &f, 1, TCPF_ACK | TCPF_FIN, NULL, ts + (uint64_t)n * MS);
	seg(c, netns, &f, 0, TCPF_ACK | TCPF_FIN, NULL, ts + (uint64_t)n * MS);
}

static const struct ep_stats *find(const struct snapshot *s, unsigned target, const char *route)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->eps[i].target == target && !strcmp(s->eps[i].route, route))
			return &s->eps[i];
	return NULL;
}

static const char NAMES[2][TARGET_NAME_MAX] = { "nginx[100]", "nginx[200]" };

/* Same route, two targets: two rows. OTHER belongs to none. */
static void test_agg_key_has_target(void **state)
{
	(void)state;
	struct agg *a = agg_new(2);
	struct agg_sample s = { .host = "h", .method = "GET", .route = "/a",
				.req = { .ts_ms = 1, .lat_us = 10, .status = 200 } };
	for (int i = 0; i < 3; i++)
		agg_add(a, &s);
	s.target = 1;
	agg_add(a, &s);
	struct snapshot *snap = agg_snapshot(a, 0, 1000);
	assert_int_equal(snap->n, 2);
	assert_non_null(find(snap, 0, "/a"));
	assert_int_equal(find(snap, 0, "/a")->requests, 3);
	assert_non_null(find(snap, 1, "/a"));
	assert_int_equal(find(snap, 1, "/a")->requests, 1);
	snapshot_free(snap);
	/* the next interval: the same two rows, their targets kept */
	agg_add(a, &s);
	s.target = 0;
	agg_add(a, &s);
	snap = agg_snapshot(a, 1000, 1000);
	assert_int_equal(snap->n, 2);
	assert_int_equal(find(snap, 0, "/a")->requests, 1);
	assert_int_equal(find(snap, 1, "/a")->requests, 1);
	assert_int_equal(agg_endpoints(a), 2);
	snapshot_free(snap);
	agg_free(a);
	s.target = 1;

	/* one row: a newcomer of target 1 evicts target 0's row into OTHER */
	a = agg_new(1);
	s.target = 0;
	for (int i = 0; i < 5; i++)
		agg_add(a, &s);
	snapshot_free(agg_snapshot(a, 0, 1000));
	for (int i = 0; i < 2; i++)
		agg_add(a, &s);
	s.target = 1;
	s.route = "/b";
	agg_add(a, &s);
	snap = agg_snapshot(a, 1000, 1000);
	const struct ep_stats *o = find(snap, TARGET_ALL, AGG_OTHER_ROUTE);
	assert_non_null(o);
	assert_int_equal(o->requests, 2);
	assert_int_equal(agg_held(a), 1);
	assert_string_equal(snapshot_target(snap, TARGET_ALL), "");
	snapshot_free(snap);
	agg_free(a);
}

/*
 * A proxy on 8080 (target 0) passes /api/ to its backend on 9090 (target
 * 1): the backend's inbound is the proxy's outgoing connection, on the
 * backend's listener. Each target counts its own requests only.
 */
static void test_proxy_and_backend_apart(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const uint16_t ports[] = { 8080, 9090 };
	const struct collector_listener ls[] = { { 0, 8080, 0 }, { 0, 9090, 1 } };

	collector_set_ports(c, ports, 2);
	assert_int_equal(collector_set_targets(c, NAMES, 2, ls, 2, NULL, 0), 0);
	exchange(c, 0, 40001, 8080, "/api/users/7", 5, 1 * MS);    /* client -> proxy */
	exchange(c, 0, 40002, 9090, "/api/users/7", 5, 2 * MS);    /* proxy -> backend */
	exchange(c, 0, 40003, 8080, "/static/x.css", 2, 3 * MS);   /* served by the proxy */
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->ntargets, 2);
	assert_string_equal(snapshot_target(s, 0), "nginx[100]");
	assert_string_equal(snapshot_target(s, 1), "nginx[200]");
	assert_int_equal(s->n, 3);
	assert_int_equal(find(s, 0, "/api/users/{id}")->requests, 5);
	assert_int_equal(find(s, 1, "/api/users/{id}")->requests, 5);
	assert_int_equal(find(s, 0, "/static/x.css")->requests, 2);
	assert_null(find(s, 1, "/static/x.css"));
	/* the views' fold sums hosts, never targets */
	struct snapshot *f = snapshot_fold_hosts(s);
	assert_non_null(f);
	assert_int_equal(f->n, 3);
	if (f != s)
		snapshot_free(f);
	snapshot_free(s);
	collector_free(c);
}

/* Two containers both serve port 80: the packet socket's namespace says
 * whose connection it is; a listener of namespace 0 is any namespace's. */
static void test_listener_by_namespace(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const uint16_t ports[] = { 80 };
	const struct collector_listener ls[] = { { 4026532300u, 80, 1 }, { 4026532200u, 80, 0 },
						 { 0, 443, 1 } };

	collector_set_ports(c, ports, 1);
	collector_set_targets(c, NAMES, 2, ls, 3, NULL, 0);
	assert_int_equal(collector_target_of(c, 4026532200u, 80), 0);
	assert_int_equal(collector_target_of(c, 4026532300u, 80), 1);
	assert_int_equal(collector_target_of(c, 7, 443), 1);
	assert_int_equal(collector_target_of(c, 7, 8443), 0);   /* no listener: target 0 */
	assert_int_equal(collector_target_of(c, 0, 80), 0);     /* unknown namespace: the first */
	exchange(c, 4026532300u, 40001, 80, "/b", 3, 1 * MS);
	exchange(c, 4026532200u, 40001, 80, "/a", 2, 10 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(find(s, 1, "/b")->requests, 3);
	assert_int_equal(find(s, 0, "/a")->requests, 2);
	assert_null(find(s, 0, "/b"));
	snapshot_free(s);
	collector_free(c);
}

/*
 * The same 4-tuple (127.0.0.2:40001 -> 127.0.0.1:80) in two namespaces at
 * once: two connections, not one with both streams' bytes. A third
 * namespace's socket that sees port 80 only on its end of a veth (no
 * listener of its own there) is ignored: the listener's namespace sees it.
 */
static void test_same_tuple_two_namespaces(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const uint16_t ports[] = { 80 };
	const struct collector_listener ls[] = { { 11, 80, 0 }, { 22, 80, 1 } };
	struct flow a = { 40001, 80, 1000, 5000 }, b = { 40001, 80, 9000, 7000 };
	const char *ra = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", *rb = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	collector_set_ports(c, ports, 1);
	collector_set_targets(c, NAMES, 2, ls, 2, NULL, 0);
	seg(c, 11, &a, 1, TCPF_SYN, NULL, 1 * MS);
	seg(c, 22, &b, 1, TCPF_SYN, NULL, 1 * MS);
	seg(c, 11, &a, 0, TCPF_SYN | TCPF_ACK, NULL, 2 * MS);
	seg(c, 22, &b, 0, TCPF_SYN | TCPF_ACK, NULL, 2 * MS);
	for (int i = 0; i < 3; i++) {
		struct flow copy = b;                    /* the veth copy, seen from namespace 33 */
		seg(c, 33, &copy, 1, TCPF_ACK | TCPF_PSH, rb, (3 + 2 * (uint64_t)i) * MS);
		seg(c, 11, &a, 1, TCPF_ACK | TCPF_PSH, ra, (3 + 2 * (uint64_t)i) * MS);
		seg(c, 22, &b, 1, TCPF_ACK | TCPF_PSH, rb, (3 + 2 * (uint64_t)i) * MS);
		seg(c, 11, &a, 0, TCPF_ACK | TCPF_PSH, resp, (4 + 2 * (uint64_t)i) * MS);
		seg(c, 22, &b, 0, TCPF_ACK | TCPF_PSH, resp, (4 + 2 * (uint64_t)i) * MS);
	}
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->c.conns_new, 2);
	assert_int_equal(s->c.parse_errors, 0);
	assert_non_null(find(s, 0, "/a"));
	assert_int_equal(find(s, 0, "/a")->requests, 3);
	assert_non_null(find(s, 1, "/b"));
	assert_int_equal(find(s, 1, "/b")->requests, 3);
	assert_int_equal(s->n, 2);
	snapshot_free(s);
	collector_free(c);
}

/*
 * --tls auto's calls path names a connection by its tuple and its socket's
 * namespace (SSL_set_fd); the wire connection's key holds its listener's.
 * It must find it: a connection the calls probes read gets no keys-mode
 * session (else it would be counted twice, or undecryptable). The control
 * connection, named by neither path, is counted undecryptable.
 */
static const uint8_t TLS_CLI[16] = { 127, 0, 0, 2 }, TLS_SRV[16] = { 127, 0, 0, 1 };

static void tls_conn_packets(struct collector *c, uint16_t cport, uint32_t isn)
{
	struct flow f = { cport, 443, isn, 5000 };

	seg(c, 11, &f, 1, TCPF_SYN, NULL, 1 * MS);
	seg(c, 11, &f, 0, TCPF_SYN | TCPF_ACK, NULL, 1 * MS);
	/* TLS records by their first bytes (seg() sends strings: no NULs) */
	seg(c, 11, &f, 1, TCPF_ACK | TCPF_PSH, "\x16\x03\x01" "hello", 2 * MS);
	seg(c, 11, &f, 0, TCPF_ACK | TCPF_PSH, "\x16\x03\x03" "hi", 3 * MS);
	seg(c, 11, &f, 0, TCPF_ACK | TCPF_PSH, "\x17\x03\x03" "data", 4 * MS);
}

static uint64_t tls_counted(struct collector *c, uint16_t cport, bool named)
{
	struct snap_counters t;

	if (named)
		collector_tls_calls_conn(c, 11, 4, TLS_CLI, cport, TLS_SRV, 443);
	tls_conn_packets(c, cport, 1000);
	collector_flush(c);
	collector_totals(c, &t);
	return t.tls_undecryptable + t.tls_lost;
}

/* A collector on :443 in netns 11, decrypting. */
static struct collector *keys_collector(uint32_t idle_timeout_s)
{
	struct collector_config cfg = { .tls_decrypt = true, .idle_timeout_s = idle_timeout_s };
	const uint16_t ports[] = { 443 };
	const struct collector_listener ls[] = { { 11, 443, 0 } };
	struct collector *c = collector_new(&cfg);

	collector_set_ports(c, ports, 1);
	collector_set_targets(c, NAMES, 1, ls, 1, NULL, 0);
	return c;
}

/* The same after --tls auto's key probe left. */
static struct collector *keys_gone_collector(uint32_t idle_timeout_s)
{
	struct collector *c = keys_collector(idle_timeout_s);

	collector_tls_keys_gone(c);
	return c;
}

static void test_calls_path_finds_namespaced_conn(void **state)
{
	(void)state;
	struct collector *c = keys_gone_collector(0);

	assert_int_equal(tls_counted(c, 40001, true), 0);
	collector_free(c);
	c = keys_gone_collector(0);
	assert_true(tls_counted(c, 40002, false) > 0);
	collector_free(c);

	/* its SSL_set_fd read after its ClientHello: the calls path's after all */
	struct snap_counters t;
	c = keys_gone_collector(0);
	tls_conn_packets(c, 40003, 1000);
	collector_tls_calls_conn(c, 11, 4, TLS_CLI, 40003, TLS_SRV, 443);
	collector_flush(c);
	collector_totals(c, &t);
	assert_int_equal(t.tls_undecryptable + t.tls_lost, 0);
	collector_free(c);
}

/*
 * The TLS ring runs ahead of the capture: under Connection: close thousands
 * of SSL_set_fd may come before their connections' first packets, and a
 * port may come back while the connection that had it lingers closed. Each
 * connection takes its own tuple once; past the table's 4096 the oldest is
 * dropped and counted, never silently.
 */
static void test_calls_path_ahead_of_capture(void **state)
{
	(void)state;
	struct collector *c = keys_gone_collector(0);
	struct snap_counters t;

	for (uint16_t i = 0; i < 3000; i++)
		collector_tls_calls_conn(c, 11, 4, TLS_CLI, (uint16_t)(20000 + i), TLS_SRV, 443);
	for (uint16_t i = 0; i < 3000; i++)
		tls_conn_packets(c, (uint16_t)(20000 + i), 1000);
	/* the port again, named while its closed connection lingers */
	collector_tls_calls_conn(c, 11, 4, TLS_CLI, 20000, TLS_SRV, 443);
	tls_conn_packets(c, 20000, 90000);
	collector_flush(c);
	collector_totals(c, &t);
	assert_int_equal(t.tls_undecryptable + t.tls_lost, 0);
	assert_int_equal(t.tls_handoff_lost, 0);

	for (uint16_t i = 0; i < 4097; i++)
		collector_tls_calls_conn(c, 11, 4, TLS_CLI, (uint16_t)(30000 + i), TLS_SRV, 443);
	for (uint16_t i = 1; i < 4097; i++)
		tls_conn_packets(c, (uint16_t)(30000 + i), 1000);
	tls_conn_packets(c, 30000, 1000);      /* its tuple made room for the last */
	collector_flush(c);
	collector_totals(c, &t);
	assert_int_equal(t.tls_handoff_lost, 1);
	assert_int_equal(t.tls_undecryptable, 1);

	/* Once the port left the capture, no packet will come: nothing waits. */
	const uint16_t left[] = { 443 };
	collector_tls_ports_left(c, left, 1);
	for (uint16_t i = 0; i < 5000; i++)
		collector_tls_calls_conn(c, 11, 4, TLS_CLI, (uint16_t)(40000 + i), TLS_SRV, 443);
	collector_totals(c, &t);
	assert_int_equal(t.tls_handoff_lost, 1);
	/*
	 * Yet a hello the capture caught just before the port left is still
	 * read after it (seen live, one connection in five runs under load):
	 * its SSL_set_fd was set aside above, its FIN never comes. The calls
	 * probes read it; it is not counted unread.
	 */
	tls_conn_packets(c, 40000, 1000);
	collector_flush(c);
	collector_totals(c, &t);
	assert_int_equal(t.tls_undecryptable, 1);
	collector_free(c);
}

/*
 * After --tls auto's switch a TLS port leaves the capture only while no
 * connection keyed here is open on it: not one the calls path took, and
 * not after a keyed one was let go idle while still open (it may speak
 * again).
 */
static void test_keyed_ports(void **state)
{
	(void)state;
	struct collector *c = keys_gone_collector(1);
	uint16_t out[4];

	collector_tls_calls_conn(c, 11, 4, TLS_CLI, 40001, TLS_SRV, 443);
	tls_conn_packets(c, 40001, 1000);
	assert_int_equal(collector_tls_keyed_ports(c, out, 4), 0);
	/* Named by neither path, but begun after the keys probe left: no
	 * secret will ever come for it, so it holds no port (live, each new
	 * connection began so until the port came back: every packet copied) */
	tls_conn_packets(c, 40002, 1000);
	assert_int_equal(collector_tls_keyed_ports(c, out, 4), 0);
	collector_free(c);

	c = keys_collector(1);
	tls_conn_packets(c, 40003, 1000);      /* begun while keys were caught */
	collector_tls_keys_gone(c);
	assert_int_equal(collector_tls_keyed_ports(c, out, 4), 1);
	assert_int_equal(out[0], 443);
	collector_expire(c, 10000 * MS);       /* idle: let go */
	assert_int_equal(collector_tls_keyed_ports(c, out, 4), 1);
	assert_int_equal(out[0], 443);
	collector_free(c);
}

/* One GET /x and its 200 on SSL* 9 of process tgid, as the calls probes report them. */
static void stream_exchange(struct collector *c, uint32_t tgid)
{
	const char *req = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	collector_stream_data(c, tgid, 9, 0, (const uint8_t *)req, (uint32_t)strlen(req),
			      (uint32_t)strlen(req), 1 * MS);
	collector_stream_data(c, tgid, 9, 1, (const uint8_t *)resp, (uint32_t)strlen(resp),
			      (uint32_t)strlen(resp), 2 * MS);
}

/* TLS read inside a process: the process says the target. */
static void test_process_stream_target(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const struct collector_pid pids[] = { { 201, 1 }, { 100, 0 }, { 200, 1 } };

	collector_set_targets(c, NAMES, 2, NULL, 0, pids, 3);
	stream_exchange(c, 201);
	stream_exchange(c, 100);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(find(s, 1, "/x")->requests, 1);
	assert_int_equal(find(s, 0, "/x")->requests, 1);
	snapshot_free(s);
	collector_free(c);
}

/* A child forked from a target's process is that target's from its fork,
 * before any rescan lists it (it was the first target's until then). */
static void test_forked_child_target(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const struct collector_pid pids[] = { { 100, 0 }, { 200, 1 } };

	collector_set_targets(c, NAMES, 2, NULL, 0, pids, 2);
	assert_int_equal(collector_pid_forked(c, 200, 150), 0);
	assert_int_equal(collector_pid_forked(c, 200, 150), 0);   /* known: no second entry */
	assert_int_equal(collector_pid_forked(c, 999, 151), 0);   /* not a target's parent */
	stream_exchange(c, 150);
	stream_exchange(c, 151);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(find(s, 1, "/x")->requests, 1);   /* 150, forked from 200 */
	assert_int_equal(find(s, 0, "/x")->requests, 1);   /* 151: unknown, the first */
	snapshot_free(s);
	collector_free(c);
}

/*
 * An SSL* freed unseen (its report lost; --tls auto's switch attached
 * SSL_free after SSL_set_fd until e1af206) is reused by the process's next
 * connection: its SSL_set_fd begins a new stream, not more of the old one,
 * whose last response said Connection: close (seen live: the next
 * connection's request was parsed as the old one's and lost).
 */
static void test_stream_reused_ssl(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	const uint8_t peer[16] = { 127, 0, 0, 1 };
	const char *req = "GET /close HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";

	for (int i = 0; i < 3; i++) {
		uint64_t t = (uint64_t)(10 * i) * MS;
		collector_stream_peer(c, 100, 0x5640, 4, peer, (uint16_t)(40000 + i), t + 1 * MS);
		collector_stream_data(c, 100, 0x5640, 0, (const uint8_t *)req, (uint32_t)strlen(req),
				      (uint32_t)strlen(req), t + 2 * MS);
		collector_stream_data(c, 100, 0x5640, 1, (const uint8_t *)resp, (uint32_t)strlen(resp),
				      (uint32_t)strlen(resp), t + 3 * MS);
	}
	collector_stream_close(c, 100, 0x5640, 40 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(find(s, 0, "/close")->requests, 3);
	assert_int_equal(s->c.parse_errors + s->c.unpaired, 0);
	snapshot_free(s);
	collector_free(c);
}

/* Bounds: names past TARGETS_MAX and listeners past the table are counted. */
static void test_bounds_counted(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	static char names[TARGETS_MAX + 2][TARGET_NAME_MAX];
	static struct collector_listener ls[COLLECTOR_MAX_LISTENERS + 3];
	for (size_t i = 0; i < COLLECTOR_MAX_LISTENERS + 3; i++)
		ls[i] = (struct collector_listener){ 0, (uint16_t)(1000 + i), (uint8_t)(i % 4) };
	assert_int_equal(collector_set_targets(c, (const char(*)[TARGET_NAME_MAX])names,
					       TARGETS_MAX + 2, ls, COLLECTOR_MAX_LISTENERS + 3,
					       NULL, 0), 5);
	assert_int_equal(collector_target_of(c, 0, 1003), 3);
	collector_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agg_key_has_target),
		cmocka_unit_test(test_proxy_and_backend_apart),
		cmocka_unit_test(test_listener_by_namespace),
		cmocka_unit_test(test_same_tuple_two_namespaces),
		cmocka_unit_test(test_calls_path_finds_namespaced_conn),
		cmocka_unit_test(test_calls_path_ahead_of_capture),
		cmocka_unit_test(test_keyed_ports),
		cmocka_unit_test(test_process_stream_target),
		cmocka_unit_test(test_forked_child_target),
		cmocka_unit_test(test_stream_reused_ssl),
		cmocka_unit_test(test_bounds_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
