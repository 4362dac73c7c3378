// SPDX-License-Identifier: MIT
/*
 * pcapgen: writes a large pcap of keep-alive HTTP/1.1 traffic for the
 * offline collector benchmark (`l7top --read`). Every connection opens with
 * a handshake, then carries requests over mixed routes and statuses, each
 * answered in one segment, and ends with FINs. Timestamps advance 20 µs per
 * packet. DLT_RAW: the file holds IPv4 packets only.
 *
 *   pcapgen OUT.pcap REQUESTS [REQUESTS_PER_CONN]
 */
#include <arpa/inet.h>
#include <stdint.h>
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
	uint64_t ts_us;
};

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

	struct rec_hdr rh = { (uint32_t)(fl->ts_us / 1000000), (uint32_t)(fl->ts_us % 1000000), tot, tot };
	fwrite(&rh, sizeof(rh), 1, f);
	fwrite(pkt, tot, 1, f);
	fl->ts_us += 20;
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

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: pcapgen OUT.pcap REQUESTS [REQUESTS_PER_CONN]\n");
		return 2;
	}
	unsigned long total = strtoul(argv[2], NULL, 10);
	unsigned long per_conn = argc > 3 ? strtoul(argv[3], NULL, 10) : 100;
	FILE *f = fopen(argv[1], "wb");
	if (!f || !per_conn) {
		perror("pcapgen");
		return 1;
	}
	static char iobuf[1 << 20];
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	struct pcap_hdr h = { 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101 /* DLT_RAW */ };
	fwrite(&h, sizeof(h), 1, f);

	struct flow fl = { .cli_ip = 0x0a000002, .srv_ip = 0x0a000001, .ts_us = 1764000000ull * 1000000 };
	char req[256], path[128], resp[256];
	unsigned long done = 0, conn = 0;
	while (done < total) {
		fl.cli_port = (uint16_t)(10000 + conn % 50000);
		fl.cli_ip = 0x0a000002 + (uint32_t)(conn / 50000);
		fl.cseq = (uint32_t)(conn * 7919u);
		fl.sseq = (uint32_t)(conn * 104729u);
		emit(f, &fl, 1, 0x02, "", 0);
		emit(f, &fl, 0, 0x12, "", 0);
		for (unsigned long i = 0; i < per_conn && done < total; i++, done++) {
			unsigned long k = done % 8;
			snprintf(path, sizeof(path), routes[k], done % 1000);
			int n = snprintf(req, sizeof(req),
					 "GET %s HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: pcapgen\r\n"
					 "Accept: */*\r\n\r\n", path);
			emit(f, &fl, 1, 0x18, req, (size_t)n);
			const char *st = statuses[k];
			int body = st[0] == '3' ? 0 : 12;
			n = snprintf(resp, sizeof(resp),
				     "HTTP/1.1 %s\r\nServer: nginx\r\nContent-Type: text/plain\r\n"
				     "Content-Length: %d\r\n\r\n%s", st, body, body ? "hello world\n" : "");
			emit(f, &fl, 0, 0x18, resp, (size_t)n);
		}
		emit(f, &fl, 1, 0x11, "", 0);
		emit(f, &fl, 0, 0x11, "", 0);
		conn++;
	}
	fclose(f);
	fprintf(stderr, "pcapgen: %lu requests on %lu connections\n", done, conn);
	return 0;
}
