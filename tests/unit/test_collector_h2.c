// SPDX-License-Identifier: MIT
/*
 * HTTP/2 through the whole collector: per-connection detection (client
 * preface, mid-connection frames, h2c upgrade after a 101), the protocol
 * carried to the endpoint rows, rows folded across protocols, gRPC routes
 * left unfolded. Fed through collector_stream_data (bytes read inside the
 * server process, the calls-mode path: already in order).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "collector/collector.h"
#include "h2_build.h"

#define MS 1000000ull
#define TGID 4242

static void feed(struct collector *c, uint64_t conn, int dir, const struct wire *w, size_t from,
		 uint64_t ts)
{
	collector_stream_data(c, TGID, conn, dir, w->b + from, (uint32_t)(w->n - from),
			      (uint32_t)(w->n - from), ts);
}

static const struct ep_stats *row(const struct snapshot *s, const char *method, const char *route,
				  const char *proto)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->eps[i].method, method) && !strcmp(s->eps[i].route, route) &&
		    (!proto || !strcmp(s->eps[i].proto, proto)))
			return &s->eps[i];
	return NULL;
}

#define REQ(m, path) (const char *const[]){ ":method", m, ":scheme", "https", ":path", path, \
					    ":authority", "shop.example", NULL }

/* The preface makes it h2; the same route over HTTP/1.1 on another
 * connection is another row, and one row once folded. */
static void test_preface_and_protocol_rows(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	nghttp2_hd_deflater *cd, *sd;
	struct wire cli = { 0 }, srv = { 0 };
	assert_int_equal(nghttp2_hd_deflate_new(&cd, 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&sd, 4096), 0);
	wire_put(&cli, H2_PREFACE, H2_PREFACE_LEN);
	frame(&cli, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	headers(&cli, cd, 1, true, REQ("GET", "/users/5"));
	headers(&cli, cd, 3, true, (const char *const[]){ ":method", "POST", ":scheme", "https",
		":path", "/shop.v1.Cart/Add2", ":authority", "shop.example", "content-type",
		"application/grpc", NULL });
	frame(&srv, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	headers(&srv, sd, 1, true, (const char *const[]){ ":status", "200", NULL });
	headers(&srv, sd, 3, false, (const char *const[]){ ":status", "200", NULL });
	data(&srv, 3, false, 5);
	headers(&srv, sd, 3, true, (const char *const[]){ "grpc-status", "14", NULL });
	feed(c, 1, 0, &cli, 0, 1 * MS);
	feed(c, 1, 1, &srv, 0, 2 * MS);
	const char *req = "GET /users/6 HTTP/1.1\r\nHost: shop.example\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	collector_stream_data(c, TGID, 2, 0, (const uint8_t *)req, (uint32_t)strlen(req),
			      (uint32_t)strlen(req), 3 * MS);
	collector_stream_data(c, TGID, 2, 1, (const uint8_t *)resp, (uint32_t)strlen(resp),
			      (uint32_t)strlen(resp), 4 * MS);

	struct snapshot *s = collector_snapshot(c, 0, 1000);
	assert_int_equal(s->n, 3);
	const struct ep_stats *h2 = row(s, "GET", "/users/{id}", "h2");
	const struct ep_stats *h1 = row(s, "GET", "/users/{id}", "http/1.1");
	const struct ep_stats *g = row(s, "POST", "/shop.v1.Cart/Add2", "h2");
	assert_non_null(h2);
	assert_non_null(h1);
	assert_non_null(g);                        /* gRPC: the path as is, never folded */
	assert_int_equal(ep_grpc(g, 14), 1);
	assert_int_equal(g->grpc_errors, 1);
	assert_int_equal(ep_errors(g), 1);         /* HTTP 200, an error all the same */
	assert_int_equal(g->status[1], 1);
	assert_string_equal(h2->host, "shop.example");
	assert_int_equal(s->c.parse_errors, 0);
	struct snapshot *f = snapshot_fold_hosts(s);
	assert_ptr_not_equal(f, s);
	const struct ep_stats *both = row(f, "GET", "/users/{id}", NULL);
	assert_int_equal(both->requests, 2);
	assert_string_equal(both->proto, "");      /* several: see protos */
	assert_int_equal(both->protos, (1u << PROTO_H2) | (1u << PROTO_HTTP11));
	snapshot_free(f);
	snapshot_free(s);
	collector_free(c);
	nghttp2_hd_deflate_del(cd);
	nghttp2_hd_deflate_del(sd);
	free(cli.b);
	free(srv.b);
}

/* Joining an open connection: the first bytes are frames, not a preface.
 * A chunk in the middle of a frame is waited past, not misread. */
static void test_mid_connection_detected(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	nghttp2_hd_deflater *cd, *sd;
	struct wire old = { 0 }, cli = { 0 }, srv = { 0 };
	assert_int_equal(nghttp2_hd_deflate_new(&cd, 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&sd, 4096), 0);
	headers(&old, cd, 1, true, REQ("GET", "/users/1"));       /* before l7top */
	headers(&old, sd, 1, true, (const char *const[]){ ":status", "200", "x-a", "b", NULL });
	headers(&cli, cd, 3, true, REQ("GET", "/users/2"));
	headers(&srv, sd, 3, true, (const char *const[]){ ":status", "404", "x-a", "b", NULL });
	collector_stream_data(c, TGID, 7, 0, cli.b + 3, 5, 5, 1 * MS);   /* mid-frame: waited past */
	feed(c, 7, 0, &cli, 0, 2 * MS);
	feed(c, 7, 1, &srv, 0, 3 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	const struct ep_stats *e = row(s, "GET", "/users/{id}", "h2");
	assert_non_null(e);
	assert_int_equal(e->requests, 1);
	assert_int_equal(e->status[3], 1);
	assert_string_equal(e->host, "");          /* :authority was in the unknown table */
	assert_int_equal(s->c.h2_unreadable, 1);
	assert_int_equal(s->c.parse_errors, 0);
	snapshot_free(s);
	collector_free(c);
	nghttp2_hd_deflate_del(cd);
	nghttp2_hd_deflate_del(sd);
	free(old.b);
	free(cli.b);
	free(srv.b);
}

/* Upgrade: h2c. The 101 ends HTTP/1.x (the upgrade request counts as its
 * 101); the server's SETTINGS in the same chunk and everything after are
 * frames, read from a fresh HPACK state. */
static void test_h2c_upgrade(void **state)
{
	(void)state;
	struct collector_config cfg = { 0 };
	struct collector *c = collector_new(&cfg);
	nghttp2_hd_deflater *cd, *sd;
	struct wire cli = { 0 }, srv = { 0 };
	assert_int_equal(nghttp2_hd_deflate_new(&cd, 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&sd, 4096), 0);
	const char *up = "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
			 "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
	const char *sw = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
	wire_put(&cli, up, strlen(up));
	size_t c0 = cli.n;
	wire_put(&cli, H2_PREFACE, H2_PREFACE_LEN);
	frame(&cli, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	headers(&cli, cd, 3, true, REQ("GET", "/after"));
	wire_put(&srv, sw, strlen(sw));
	frame(&srv, NGHTTP2_SETTINGS, 0, 0, NULL, 0);            /* same chunk as the 101 */
	size_t s0 = srv.n;
	headers(&srv, sd, 3, true, (const char *const[]){ ":status", "200", NULL });
	collector_stream_data(c, TGID, 9, 0, cli.b, (uint32_t)c0, (uint32_t)c0, 1 * MS);
	collector_stream_data(c, TGID, 9, 1, srv.b, (uint32_t)s0, (uint32_t)s0, 2 * MS);
	feed(c, 9, 0, &cli, c0, 3 * MS);
	feed(c, 9, 1, &srv, s0, 4 * MS);
	struct snapshot *s = collector_snapshot(c, 0, 1000);
	const struct ep_stats *a = row(s, "GET", "/after", "h2");
	const struct ep_stats *u = row(s, "GET", "/", "http/1.1");
	assert_non_null(a);
	assert_int_equal(a->status[1], 1);
	assert_non_null(u);
	assert_int_equal(u->status[0], 1);         /* the 101 */
	assert_int_equal(s->c.parse_errors, 0);
	assert_int_equal(s->c.h2_unreadable, 0);
	snapshot_free(s);
	collector_free(c);
	nghttp2_hd_deflate_del(cd);
	nghttp2_hd_deflate_del(sd);
	free(cli.b);
	free(srv.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preface_and_protocol_rows),
		cmocka_unit_test(test_mid_connection_detected),
		cmocka_unit_test(test_h2c_upgrade),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
