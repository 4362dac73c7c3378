// SPDX-License-Identifier: MIT
/*
 * pcapgen: writes a large pcap of keep-alive HTTP/1.1 traffic for the
 * offline collector benchmark (`l7top --read`). Every connection opens with
 * a handshake, then carries requests over mixed routes and statuses, each
 * answered in one segment, and ends with FINs. Timestamps advance 20 µs per
 * packet. DLT_RAW: the file holds IPv4 packets only.
 *
 *   pcapgen OUT.pcap REQUESTS [REQUESTS_PER_CONN]
 *   pcapgen -e ENDPOINTS -c CONNS [-l] OUT.pcap REQUESTS
 *
 * With -c, CONNS connections are opened first and stay open together: each
 * round sends one request on every connection, then the responses in the
 * reverse order (so latencies spread from 20 µs to 2 x CONNS x 20 µs), and
 * the connections close at the end. With -e, routes are ENDPOINTS leaves of
 * a path tree of fan-out 10 (/alpha/bravo/charlie/delta: letters only and
 * at most 10 values under any parent, so no folding rule merges them); the
 * i-th request of the file goes to leaf i % ENDPOINTS. With -l the paths
 * take the shape of `make bench`'s live tree (bench/run.sh tree_lua):
 * "/ep" then one word per level, as many levels as ENDPOINTS has digits
 * after the first (/ep/alpha for 10, /ep/alpha/alpha/alpha/alpha for
 * 10,000), so a replay costs what the live scale rows cost per path byte.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVER_PORT 8080

struct pcap_hdr {
	uint32_t magic;
	uint16_t major, minor;
	int32_t zone;
	uint32_t sigfigs, snaplen, linktype;
};

struct rec_hdr {
	uint32_t sec, usec, caplen, len;
};

struct flow {
	uint32_t cli_ip, srv_ip;
	uint16_t cli_port;
	uint32_t cseq, sseq;
};

static uint64_t clock_us = 1764000000ull * 1000000;
static int live_tree;     /* -l: paths as the live bench's tree */

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void emit(FILE *f, struct flow *fl, int to_server, uint8_t flags, const char *data, size_t len)
{
	uint8_t pkt[2048];
	uint8_t *ip = pkt, *tcp = pkt + 20;
	uint16_t tot = (uint16_t)(40 + len);
	uint32_t seq = to_server ? fl->cseq : fl->sseq;
	uint32_t ack = to_server ? fl->sseq : fl->cseq;
	uint32_t src = to_server ? fl->cli_ip : fl->srv_ip, dst = to_server ? fl->srv_ip : fl->cli_ip;
	uint16_t sp = to_server ? fl->cli_port : SERVER_PORT, dp = to_server ? SERVER_PORT : fl->cli_port;

	memset(pkt, 0, 40);
	ip[0] = 0x45;
	*(uint16_t *)(ip + 2) = htons(tot);
	ip[8] = 64;
	ip[9] = 6;
	*(uint32_t *)(ip + 12) = htonl(src);
	*(uint32_t *)(ip + 16) = htonl(dst);
	*(uint16_t *)(ip + 10) = htons(ip_checksum(ip, 20));
	*(uint16_t *)(tcp + 0) = htons(sp);
	*(uint16_t *)(tcp + 2) = htons(dp);
	*(uint32_t *)(tcp + 4) = htonl(seq);
	*(uint32_t *)(tcp + 8) = htonl(ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	*(uint16_t *)(tcp + 14) = htons(65535);
	memcpy(pkt + 40, data, len);

	struct rec_hdr rh = { (uint32_t)(clock_us / 1000000), (uint32_t)(clock_us % 1000000), tot, tot };
	fwrite(&rh, sizeof(rh), 1, f);
	fwrite(pkt, tot, 1, f);
	clock_us += 20;
	uint32_t adv = (uint32_t)len + ((flags & 0x03) ? 1 : 0);
	if (to_server)
		fl->cseq += adv;
	else
		fl->sseq += adv;
}

static const char *const routes[] = {
	"/api/users/%lu", "/api/orders", "/static/app.js", "/api/items/%lu/reviews",
	"/health", "/api/search?q=%lu", "/login", "/api/carts/%lu",
};
static const char *const statuses[] = { "200 OK", "200 OK", "200 OK", "404 Not Found",
					"304 Not Modified", "201 Created", "500 Oops", "200 OK" };

/* Leaf i of the fan-out-10 path tree: one word per decimal digit, at
 * least four levels (/alpha/alpha/alpha/bravo for 1). */
static void tree_path(char *out, size_t cap, unsigned long i, unsigned long leaves)
{
	static const char *const words[10] = { "alpha", "bravo", "charlie", "delta", "echo",
					       "foxtrot", "golf", "hotel", "india", "juliet" };
	size_t n = live_tree ? (size_t)snprintf(out, cap, "/ep") : 0;
	unsigned long top = live_tree || leaves > 10000 ? leaves : 10000;
	for (unsigned long span = top; span > 1; span /= 10) {
		unsigned long digit = i / (span / 10) % 10;
		n += (size_t)snprintf(out + n, cap - n, "/%s", words[digit]);
		if (n >= cap)
			break;
	}
}

static void request(FILE *f, struct flow *fl, unsigned long done, unsigned long endpoints)
{
	char req[256], path[128];
	if (endpoints)
		tree_path(path, sizeof(path), done % endpoints, endpoints);
	else
		snprintf(path, sizeof(path), routes[done % 8], done % 1000);
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: pcapgen\r\n"
			 "Accept: */*\r\n\r\n", path);
	emit(f, fl, 1, 0x18, req, (size_t)n);
}

static void response(FILE *f, struct flow *fl, unsigned long done)
{
	char resp[256];
	const char *st = statuses[done % 8];
	int body = st[0] == '3' ? 0 : 12;
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 %s\r\nServer: nginx\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %d\r\n\r\n%s", st, body, body ? "hello world\n" : "");
	emit(f, fl, 0, 0x18, resp, (size_t)n);
}

static void flow_init(struct flow *fl, unsigned long conn)
{
	fl->srv_ip = 0x0a000001;
	fl->cli_port = (uint16_t)(10000 + conn % 50000);
	fl->cli_ip = 0x0a000002 + (uint32_t)(conn / 50000);
	fl->cseq = (uint32_t)(conn * 7919u);
	fl->sseq = (uint32_t)(conn * 104729u);
}

/* -c: every connection open at once, requests in rounds (see the top). */
static unsigned long write_open_conns(FILE *f, unsigned long total, unsigned long nconns,
				      unsigned long endpoints)
{
	struct flow *fl = calloc(nconns, sizeof(*fl));
	unsigned long done = 0;
	if (!fl)
		return 0;
	for (unsigned long c = 0; c < nconns; c++) {
		flow_init(&fl[c], c);
		emit(f, &fl[c], 1, 0x02, "", 0);
		emit(f, &fl[c], 0, 0x12, "", 0);
	}
	while (done < total) {
		unsigned long n = total - done < nconns ? total - done : nconns;
		for (unsigned long c = 0; c < n; c++)
			request(f, &fl[c], done + c, endpoints);
		for (unsigned long c = n; c-- > 0;)
			response(f, &fl[c], done + c);
		done += n;
	}
	for (unsigned long c = 0; c < nconns; c++) {
		emit(f, &fl[c], 1, 0x11, "", 0);
		emit(f, &fl[c], 0, 0x11, "", 0);
	}
	free(fl);
	return done;
}

static unsigned long write_serial_conns(FILE *f, unsigned long total, unsigned long per_conn,
					unsigned long endpoints, unsigned long *conns)
{
	struct flow fl = { 0 };
	unsigned long done = 0, conn = 0;
	while (done < total) {
		flow_init(&fl, conn);
		emit(f, &fl, 1, 0x02, "", 0);
		emit(f, &fl, 0, 0x12, "", 0);
		for (unsigned long i = 0; i < per_conn && done < total; i++, done++) {
			request(f, &fl, done, endpoints);
			response(f, &fl, done);
		}
		emit(f, &fl, 1, 0x11, "", 0);
		emit(f, &fl, 0, 0x11, "", 0);
		conn++;
	}
	*conns = conn;
	return done;
}

int main(int argc, char **argv)
{
	unsigned long endpoints = 0, open_conns = 0;
	int opt;
	while ((opt = getopt(argc, argv, "e:c:l")) != -1) {
		if (opt == 'e')
			endpoints = strtoul(optarg, NULL, 10);
		else if (opt == 'c')
			open_conns = strtoul(optarg, NULL, 10);
		else if (opt == 'l')
			live_tree = 1;
		else
			return 2;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 3) {
		fprintf(stderr, "usage: pcapgen [-e ENDPOINTS] [-c CONNS] [-l] OUT.pcap REQUESTS "
			"[REQUESTS_PER_CONN]\n");
		return 2;
	}
	unsigned long total = strtoul(argv[2], NULL, 10);
	unsigned long per_conn = argc > 3 ? strtoul(argv[3], NULL, 10) : 100;
	FILE *f = fopen(argv[1], "wb");
	if (!f || !per_conn || open_conns > 50000ul * 200) {
		perror("pcapgen");
		return 1;
	}
	static char iobuf[1 << 20];
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	struct pcap_hdr h = { 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101 /* DLT_RAW */ };
	fwrite(&h, sizeof(h), 1, f);

	unsigned long done, conns = open_conns;
	if (open_conns)
		done = write_open_conns(f, total, open_conns, endpoints);
	else
		done = write_serial_conns(f, total, per_conn, endpoints, &conns);
	if (fclose(f) || (total && !done)) {
		perror("pcapgen");
		return 1;
	}
	fprintf(stderr, "pcapgen: %lu requests on %lu connections\n", done, conns);
	return 0;
}
