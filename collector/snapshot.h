/* SPDX-License-Identifier: MIT */
/*
 * snapshot: what one interval produced. The only type the TUI, the batch
 * printer and storage see; they never touch packets, BPF or llhttp.
 *
 * Ownership: snapshot_new() allocates, the last consumer calls
 * snapshot_free(). The main loop prints a snapshot and then hands it to the
 * storage queue, which frees it after writing (or on drop).
 */
#ifndef L7TOP_SNAPSHOT_H
#define L7TOP_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "collector/hist.h"
#include "collector/snapshot_upstream.h"

#define METHOD_MAX 24       /* longest method llhttp knows is 22 chars */
#define ROUTE_MAX  256      /* folded routes are cut at 255 bytes */
#define HOST_MAX   128      /* virtual host, lower-cased, no port */
#define CLIENT_MAX 48       /* "[v6 address]:port" */
#define EP_SLOWEST 3        /* slowest requests kept per endpoint and interval */
#define EP_CLIENTS 4        /* top clients per endpoint and interval */
#define EP_CODES   8        /* distinct status codes per endpoint and interval */
#define PROTO_MAX  12       /* "http/1.1", "h2c", ... */
#define GRPC_CODES 17       /* gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED) */

/* Protocols, as bits of ep_stats.protos and names in PROTO_NAMES order. */
enum proto_id { PROTO_HTTP10, PROTO_HTTP11, PROTO_H2, PROTO_H2C, PROTO_COUNT };
extern const char *const PROTO_NAMES[PROTO_COUNT];
/* PROTO_* of a name ("h2"), PROTO_COUNT when unknown. */
enum proto_id proto_id(const char *name);
/* The name of gRPC status code c ("UNAVAILABLE"), "?" outside 0..16. */
const char *grpc_code_name(int c);

/* Status classes 1xx..5xx; index = status / 100 - 1. */
#define STATUS_CLASSES 5

/* One request, kept when it is among an endpoint's slowest, or for the
 * request log (errors and slow requests). No headers, no query string. */
struct req_sample {
	uint64_t ts_ms;          /* request start, unix ms */
	uint64_t lat_us;
	uint64_t bytes_in, bytes_out;
	uint16_t status;
	bool grpc;               /* a gRPC call (content-type application/grpc*) */
	int16_t grpc_status;     /* its grpc-status, -1 when none came */
	uint32_t pid;            /* server process, 0 when unknown (packet path) */
	char client[CLIENT_MAX]; /* "addr:port", "" when unknown */
};

/* Requests per client address (no port), for "top clients": n is exact
 * from the moment addr took the slot; rank (n plus what the slot's previous
 * owner had, Space-Saving) only decides which slot the next newcomer takes. */
struct client_count {
	char addr[CLIENT_MAX];
	uint64_t n;
	uint64_t rank;
};

/*
 * Requests per full status code, for exporters that label by code
 * (Prometheus). A table of EP_CODES slots: the first EP_CODES - 1 hold
 * distinct codes in order of first use (n 0 = free); the last one, code 0,
 * counts every other code and statuses outside 100..599, so the counts
 * always add up to requests.
 */
struct status_count {
	uint16_t code;
	uint64_t n;
};

struct ep_stats {
	char host[HOST_MAX];     /* "" when the request had no Host */
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	char proto[PROTO_MAX];   /* part of the key: "h2", "http/1.1"...; "" in a row
				  * folded across protocols (see protos) */
	uint8_t protos;          /* 1 << PROTO_* of every protocol counted in the row */
	uint64_t requests;       /* answered + aborted */
	uint64_t status[STATUS_CLASSES];
	uint64_t aborted;        /* client left before the response (no status, no
				  * latency); NGINX logs these 400 or 499 */
	uint64_t bytes_in;       /* request messages as they crossed the wire */
	uint64_t bytes_out;      /* responses incl. headers, chunk framing, 1xx */
	uint64_t lat_sum_us;
	uint64_t lat_max_us;
	struct hist lat;         /* latency, µs */
	struct req_sample slowest[EP_SLOWEST];   /* slowest first; ts_ms 0 = unused */
	struct client_count clients[EP_CLIENTS]; /* top-k by Space-Saving; n exact */
	struct status_count codes[EP_CODES];     /* per full code; see status_count */
	uint64_t grpc_errors;    /* gRPC calls with a non-zero grpc-status and an HTTP
				  * status below 400 (errors the status classes miss) */
	uint64_t grpc[GRPC_CODES];               /* gRPC calls per grpc-status */
};

/* A request-log row: an error or a slow request. */
struct req_record {
	struct req_sample s;
	char host[HOST_MAX];
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	char path[ROUTE_MAX];    /* the path as sent, without query string */
	char proto[PROTO_MAX];
};

/*
 * Counters of what was seen, lost or refused during the interval. Every
 * bound in l7top has a counter here: nothing is dropped silently.
 */
struct snap_counters {
	uint64_t packets;          /* segments that reached user space */
	uint64_t kernel_drops;     /* lost between kernel and l7top (ring full) */
	uint64_t tls_drops;        /* TLS probe records lost (BPF ring buffer full) */
	uint64_t parse_errors;     /* connections whose bytes were not HTTP/1.x */
	uint64_t unpaired;         /* responses without request, requests never answered */
	uint64_t reasm_gaps;       /* byte ranges never seen (capture loss, bound hit) */
	uint64_t conn_overflow;    /* connections not tracked: table full */
	uint64_t ep_overflow;      /* requests folded into the OTHER row */
	uint64_t pending_overflow; /* pipelined requests beyond the per-conn bound */
	uint64_t conns_open;       /* gauge at the end of the interval */
	uint64_t conns_new;
	uint64_t reqs_skipped;     /* request-log rows over the rows-per-interval cap */
	uint64_t tls_undecryptable;/* keys mode: TLS connections that could not be read */
	uint64_t tls_lost;         /* keys mode: records lost (no room to wait, gaps, tags) */
	uint64_t tls_secrets_lost; /* keys mode: secrets refused (table full) or unused */
	uint64_t tls_unprobed;     /* calls mode: forked processes that made TLS calls
				    * before their probes: their first connections unread */
	uint64_t partial_reqs;     /* clients that sent part of a request line and left */
	uint64_t h2_unreadable;    /* h2 streams whose headers the HPACK state could not read */
	uint64_t h2_reset;         /* h2 streams reset, refused by GOAWAY or cut by a close */
	uint64_t h2_bounds;        /* h2 streams / header blocks / tables over a bound */
};

struct snapshot {
	uint64_t ts_ms;            /* interval start, unix ms */
	uint64_t dur_ms;
	struct snap_counters c;
	size_t n;                  /* endpoints with requests this interval */
	struct ep_stats *eps;
	size_t nreqs;              /* request-log rows */
	struct req_record *reqs;
	/* The target's outgoing calls (collector/snapshot_upstream.h). */
	size_t nups;
	struct up_stats *ups;
	size_t nup_routes;
	struct up_route_stats *up_routes;
	struct up_counters upc;
	size_t nfolds;             /* route prefixes folded by learning this interval */
	char (*folds)[ROUTE_MAX];  /* e.g. "/u/": the segment after it is "{*}" */
};

struct snapshot *snapshot_new(size_t n);
void snapshot_free(struct snapshot *s);
/* Totals across endpoints; lat is merged (caller frees it with hist_free). */
void snapshot_total(const struct snapshot *s, struct ep_stats *out);
/* The hash every endpoint table keys by (FNV-1a over host, method, route;
 * host "" where hosts are not split). */
uint32_t ep_hash(const char *host, const char *method, const char *route);
/* Requests that count as errors: 4xx, 5xx and failed gRPC calls. */
uint64_t ep_errors(const struct ep_stats *e);
/* Offers r to an endpoint's slowest list (kept slowest first). */
void ep_slowest_offer(struct req_sample *slowest, const struct req_sample *r);
/* Counts n requests from addr in an approximate top-EP_CLIENTS table. */
void ep_clients_add(struct client_count *c, const char *addr, uint64_t n);
/* Counts n requests answered with code in a table of nslots slots (the
 * layout of struct status_count, any size >= 2). */
void status_counts_add(struct status_count *c, size_t nslots, uint16_t code, uint64_t n);
/* dst += src: counters, histogram, slowest requests and top clients. */
void ep_stats_merge(struct ep_stats *dst, const struct ep_stats *src);
/*
 * The rows of s summed across virtual hosts and protocols, for views that
 * do not split by them (GET /users/{id} is one row whatever carried it). When no endpoint has rows for two hosts this is s itself (no
 * copy): free the result only when it differs from s. Otherwise a new
 * snapshot (host fields empty, request log not copied); NULL on ENOMEM.
 */
struct snapshot *snapshot_fold_hosts(struct snapshot *s);
/* dst gets a deep copy of src's upstream part. 0 or -ENOMEM. */
int snapshot_copy_upstreams(struct snapshot *dst, const struct snapshot *src);

#endif
