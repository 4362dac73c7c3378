/* SPDX-License-Identifier: MIT */
/*
 * snapshot: what one interval produced. The only type the TUI, the batch
 * printer and storage see; they never touch packets, BPF or llhttp.
 *
 * Ownership: snapshot_new() allocates with one reference; a consumer that
 * keeps it past the call it got it in (the storage queue) takes another
 * with snapshot_hold(); snapshot_free() drops one, the last one frees. The
 * count is atomic: the writer thread frees what the main loop made.
 */
#ifndef L7TOP_SNAPSHOT_H
#define L7TOP_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/*
 * Targets: each --pid root (its process tree) is one, named "comm[pid]".
 * Rows name theirs by index into snapshot.targets, so the key grows by one
 * byte, not a string. TARGET_ALL marks a row summed across targets (OTHER,
 * or a view that folds them).
 */
#define TARGETS_MAX     16
#define TARGET_NAME_MAX 48  /* "comm[pid]": comm is at most 15 bytes */
#define TARGET_ALL      0xff

/* Protocols, as bits of ep_stats.protos and names in PROTO_NAMES order. */
enum proto_id { PROTO_HTTP10, PROTO_HTTP11, PROTO_H2, PROTO_H2C, PROTO_COUNT };
extern const char *const PROTO_NAMES[PROTO_COUNT];
/* PROTO_* of a name ("h2"), PROTO_COUNT when unknown. */
enum proto_id proto_id(const char *name);
/* The name of gRPC status code c ("UNAVAILABLE"), "?" outside 0..16. */
const char *grpc_code_name(int c);

/* Status classes 1xx..5xx; index = status / 100 - 1. */
#define STATUS_CLASSES 5

/*
 * A client as its packets name it, turned into text only by an output
 * (peer_text): the text ("[v6 address]:port") took 48 bytes in every slow
 * request, top client and connection, 20 do. family 0: unknown (a calls-mode
 * connection whose peer never came); port 0: the address alone (top
 * clients count hosts, not ports; no TCP peer has port 0).
 */
struct peer_addr {
	uint8_t family;          /* 4 or 6; 0 unknown */
	uint8_t pad;
	uint16_t port;
	uint8_t addr[16];        /* network order; v4 in the first 4 bytes */
};

/* "203.0.113.7:51000", "[2001:db8::1]:443", without port "203.0.113.7";
 * "" when unknown. Returns out; n of CLIENT_MAX always fits. */
const char *peer_text(const struct peer_addr *p, char *out, size_t n);
/* Same family and address (ports aside). */
bool peer_same_host(const struct peer_addr *a, const struct peer_addr *b);

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
	struct peer_addr client; /* family 0 when unknown */
};

/* Requests per client address (no port), for "top clients": n is exact
 * from the moment addr took the slot; rank (n plus what the slot's previous
 * owner had, Space-Saving) only decides which slot the next newcomer takes. */
struct client_count {
	struct peer_addr addr;   /* port 0 */
	uint64_t n;
	uint64_t rank;
};

/*
 * Requests per full status code, for exporters that label by code
 * (Prometheus). At most EP_CODES entries: EP_CODES - 1 distinct codes and
 * one of code 0 that counts every other code and statuses outside
 * 100..599, so the counts always add up to requests. (Fixed tables of
 * status_counts_add() keep code 0 in their last slot.)
 */
struct status_count {
	uint16_t code;
	uint64_t n;
};

/*
 * One endpoint's interval. Sized by what it holds: the names are pointers,
 * the per-request lists are arrays of the entries in use (NULL while
 * empty), so a row with one client and one status code costs ~250 bytes
 * plus its histogram chunks and its slowest requests, not the ~1.4 KB of
 * fixed arrays it had.
 *
 * Ownership: the names belong to whoever made the row (the aggregator's
 * row, a snapshot's name storage: snapshot_name(), or static strings) and
 * are never freed through it. The arrays and lat's chunks belong to the
 * struct: copying a struct ep_stats moves them (the source must then be
 * forgotten or zeroed), ep_stats_free() frees them.
 */
struct ep_stats {
	const char *host;        /* "" when the request had no Host */
	const char *method;
	const char *route;
	const char *proto;       /* part of the key: "h2", "http/1.1"...; "" in a row
				  * folded across protocols (see protos) */
	uint8_t protos;          /* 1 << PROTO_* of every protocol counted in the row */
	uint8_t target;          /* part of the key: index into snapshot.targets, or
				  * TARGET_ALL (summed across targets) */
	uint8_t nslowest;        /* entries of slowest (<= EP_SLOWEST) */
	uint8_t nclients;        /* entries of clients (<= EP_CLIENTS) */
	uint8_t ncodes;          /* entries of codes (<= EP_CODES) */
	uint64_t requests;       /* answered + aborted */
	uint64_t status[STATUS_CLASSES];
	uint64_t aborted;        /* client left before the response (no status, no
				  * latency); NGINX logs these 400 or 499 */
	uint64_t bytes_in;       /* request messages as they crossed the wire */
	uint64_t bytes_out;      /* responses incl. headers, chunk framing, 1xx */
	uint64_t lat_sum_us;
	uint64_t lat_max_us;
	struct hist lat;         /* latency, µs */
	struct req_sample *slowest;      /* slowest first */
	struct client_count *clients;    /* top-k by Space-Saving; n exact */
	struct status_count *codes;      /* per full code; see status_count */
	uint64_t grpc_errors;    /* gRPC calls with a non-zero grpc-status and an HTTP
				  * status below 400 (errors the status classes miss) */
	uint64_t *grpc;          /* GRPC_CODES calls per grpc-status; NULL: no gRPC call */
};

/* Frees what the row owns (arrays, histogram chunks), not its names; the
 * row is left empty of them (counts kept). */
void ep_stats_free(struct ep_stats *e);
/* gRPC calls of the row with grpc-status c (0 when none). */
static inline uint64_t ep_grpc(const struct ep_stats *e, int c)
{
	return e->grpc ? e->grpc[c] : 0;
}

/* A request-log row: an error or a slow request. */
struct req_record {
	struct req_sample s;
	char host[HOST_MAX];
	char method[METHOD_MAX];
	char route[ROUTE_MAX];
	char path[ROUTE_MAX];    /* the path as sent, without query string */
	char proto[PROTO_MAX];
	uint8_t target;          /* as ep_stats.target */
};

/*
 * The counters of what was seen, lost or refused during an interval: every
 * bound in l7top has one here, so nothing is dropped silently. This table is
 * the one place a counter is declared. struct snap_counters, the interval
 * deltas and the sums, the live header, the batch line, the DB columns (and
 * their migration), /metrics and the JSON lines are all generated from it:
 * adding a counter is adding one line, and it shows everywhere.
 *
 * X(field, kind, show, severity, label, unit, metric, help)
 *   field    struct snap_counters member, DB column of intervals, JSON key
 *   kind     SNAP_COUNTER (per interval, summed over time) or SNAP_GAUGE
 *            (a level at the interval's end; the latest one wins)
 *   show     where the headers put it: SNAP_SHOW_ALWAYS / SNAP_SHOW_IF_SET
 *            (loss line; the live header shows IF_SET ones only while not
 *            zero, so rarely hit bounds take no room; the batch line, which
 *            scripts read, has every counter), SNAP_SHOW_TRAFFIC (beside
 *            the request rates)
 *   severity how a non-zero value is drawn: SNAP_SEV_ERROR, SNAP_SEV_WARN,
 *            SNAP_SEV_INFO
 *   label    the header label; counters sharing a label (next to each
 *            other in the table) are shown as one sum
 *   unit     what one count is
 *   metric   Prometheus name (_total for counters)
 *   help     one sentence, for # HELP and the DB column comment
 *
 * The order is the output order (headers, /metrics, JSON).
 */
#define SNAP_COUNTERS(X) \
	X(kernel_drops, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_ERROR, "drops", "packets", \
	  "l7top_capture_drops_total", \
	  "Packets lost between the kernel and l7top (capture ring full).") \
	X(tls_drops, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_ERROR, "tls drops", "records", \
	  "l7top_tls_ring_drops_total", \
	  "TLS probe records lost between the kernel and l7top (BPF ring buffer full).") \
	X(parse_errors, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_ERROR, "parse errors", \
	  "connections", "l7top_parse_errors_total", \
	  "Connections whose bytes were not HTTP/1.x or HTTP/2.") \
	X(unpaired, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_WARN, "unpaired", "messages", \
	  "l7top_unpaired_total", "Responses without a request and requests never answered.") \
	X(aborted, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_WARN, "aborted", "requests", \
	  "l7top_aborted_requests_total", \
	  "Requests whose client left before the response (NGINX logs these 400 or 499).") \
	X(partial_reqs, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "partial", "clients", \
	  "l7top_partial_requests_total", \
	  "Clients that sent part of a request line and left (NGINX logs these 400).") \
	X(reasm_gaps, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_WARN, "gaps", "byte ranges", \
	  "l7top_reassembly_gaps_total", \
	  "Byte ranges of TCP streams never seen.") \
	X(conn_overflow, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_WARN, "overflow", "connections", \
	  "l7top_conn_overflow_total", \
	  "Connections not followed because the connection table was full.") \
	X(ep_overflow, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_WARN, "overflow", "requests", \
	  "l7top_endpoint_overflow_total", \
	  "Requests counted in the OTHER row because the endpoint cap was reached.") \
	X(pending_overflow, SNAP_COUNTER, SNAP_SHOW_ALWAYS, SNAP_SEV_WARN, "overflow", "requests", \
	  "l7top_pending_overflow_total", "Pipelined requests beyond the per-connection bound.") \
	X(reqs_skipped, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "log skipped", "requests", \
	  "l7top_request_log_skipped_total", \
	  "Request-log rows (errors, slow requests) over the rows-per-interval cap.") \
	X(tls_undecryptable, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "tls undecryptable", \
	  "connections", "l7top_tls_undecryptable_total", \
	  "TLS connections that could not be decrypted (keys mode: secrets never seen).") \
	X(tls_undecryptable_bytes, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, \
	  "tls undecryptable bytes", "bytes", "l7top_tls_undecryptable_bytes_total", \
	  "TCP payload bytes of TLS connections joined after their handshake (keys mode).") \
	X(tls_lost, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_ERROR, "tls lost", "records", \
	  "l7top_tls_records_lost_total", \
	  "TLS records not decrypted (keys mode: no room to wait for keys, gaps, bad tags).") \
	X(tls_cut_unframed, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "tls cut unframed", \
	  "runs", "l7top_tls_cut_unframed_total", \
	  "TLS body records cut in the kernel that did not add up to the body (keys mode): " \
	  "decrypted again after trial, cutting stopped on that connection.") \
	X(tls_handoff_lost, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_ERROR, "tls handoffs lost", \
	  "connections", "l7top_tls_handoffs_lost_total", \
	  "Connections --tls auto gave to the calls probes whose packets came too late to be " \
	  "told apart (more than 4096 waiting): they may be counted twice or as undecryptable.") \
	X(tls_secrets_lost, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "secrets lost", \
	  "secrets", "l7top_tls_secrets_lost_total", \
	  "TLS secrets caught but refused (table full) or expired unused.") \
	X(tls_unprobed, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_ERROR, "tls unprobed", \
	  "processes", "l7top_tls_unprobed_processes_total", \
	  "Forked processes that made TLS calls before l7top could probe them (calls mode).") \
	X(h2_unreadable, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "h2 unreadable headers", \
	  "streams", "l7top_h2_unreadable_headers_total", \
	  "HTTP/2 streams whose headers the HPACK state could not read (attached mid-connection).") \
	X(h2_reset, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "h2 reset", "streams", \
	  "l7top_h2_reset_streams_total", \
	  "HTTP/2 streams reset, refused by GOAWAY, or open when their connection ended.") \
	X(h2_bounds, SNAP_COUNTER, SNAP_SHOW_IF_SET, SNAP_SEV_WARN, "h2 bounds", "streams", \
	  "l7top_h2_bounds_total", "HTTP/2 streams, header blocks or HPACK tables over l7top's bounds.") \
	X(conns_open, SNAP_GAUGE, SNAP_SHOW_TRAFFIC, SNAP_SEV_INFO, "conns", "connections", \
	  "l7top_connections_open", "TCP connections followed at the end of the last interval.") \
	X(conns_new, SNAP_COUNTER, SNAP_SHOW_TRAFFIC, SNAP_SEV_INFO, "new conns", "connections", \
	  "l7top_connections_opened_total", "TCP connections l7top started to follow.") \
	X(packets, SNAP_COUNTER, SNAP_SHOW_TRAFFIC, SNAP_SEV_INFO, "packets", "segments", \
	  "l7top_packets_total", "TCP segments that reached l7top.")

enum snap_kind { SNAP_COUNTER, SNAP_GAUGE };
enum snap_show { SNAP_SHOW_ALWAYS, SNAP_SHOW_IF_SET, SNAP_SHOW_TRAFFIC };
enum snap_severity { SNAP_SEV_INFO, SNAP_SEV_WARN, SNAP_SEV_ERROR };

struct snap_counters {
#define SNAP_FIELD(field, ...) uint64_t field;
	SNAP_COUNTERS(SNAP_FIELD)
#undef SNAP_FIELD
};

enum snap_counter_id {
#define SNAP_ID(field, ...) SNAP_C_##field,
	SNAP_COUNTERS(SNAP_ID)
#undef SNAP_ID
	SNAP_NCOUNTERS
};

/* One row of the table, for the outputs that loop over it. */
struct snap_counter_def {
	const char *name;          /* field, DB column and JSON key */
	enum snap_kind kind;
	enum snap_show show;
	enum snap_severity severity;
	const char *label, *unit, *metric, *help;
	size_t offset;             /* in struct snap_counters */
};

extern const struct snap_counter_def snap_counter_defs[SNAP_NCOUNTERS];

static inline uint64_t snap_counter_get(const struct snap_counters *c, size_t i)
{
	return *(const uint64_t *)(const void *)((const char *)c + snap_counter_defs[i].offset);
}

static inline uint64_t *snap_counter_ref(struct snap_counters *c, size_t i)
{
	return (uint64_t *)(void *)((char *)c + snap_counter_defs[i].offset);
}

/* sum += c: counters added, gauges replaced by c's (the newest) level. */
void snap_counters_add(struct snap_counters *sum, const struct snap_counters *c);
/* The interval's counters from two running totals: now - then for
 * counters, now for gauges. */
void snap_counters_delta(struct snap_counters *out, const struct snap_counters *now,
			 const struct snap_counters *then);
/*
 * The header segments of c, in table order, counters sharing a label summed
 * into one: fn(label, value, first def of the label, ctx). traffic picks the
 * SNAP_SHOW_TRAFFIC ones; otherwise the loss line, where SNAP_SHOW_IF_SET
 * segments come only when not zero unless all is set.
 */
typedef void snap_segment_fn(const char *label, uint64_t value,
			     const struct snap_counter_def *def, void *ctx);
void snap_counters_segments(const struct snap_counters *c, bool traffic, bool all,
			    snap_segment_fn *fn, void *ctx);

struct snap_names;

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
	unsigned refs;             /* see Ownership above */
	size_t nfolds;             /* route prefixes folded by learning this interval */
	char (*folds)[ROUTE_MAX];  /* e.g. "/u/": the segment after it is "{*}" */
	/* The targets watched, by the index rows carry (ep_stats.target). One
	 * target: outputs look as they did before targets existed. */
	size_t ntargets;
	char targets[TARGETS_MAX][TARGET_NAME_MAX];
	struct snap_names *names;  /* storage of the rows' names (snapshot_name) */
	struct snapshot_rows *rows_home;   /* where eps goes back when freed, or NULL */
	size_t eps_cap;            /* rows eps has room for (>= n) */
};

struct snapshot *snapshot_new(size_t n);
/*
 * One spare row array, shared by a maker of snapshots (agg) and the
 * snapshots it made, whichever thread frees them. 10,000 rows are 2.8 MB:
 * a new array every interval came in fresh pages (mmap), 684 page faults
 * and their zeroing, 5 % of l7top's samples in a profile at 10,000
 * endpoints; the array the writer thread freed last is reused instead
 * (page faults in 6 s 9,017 -> 5,245; CPU a request within the noise).
 * Refcounted: it lives as long as its maker or any snapshot of it. NULL
 * on ENOMEM.
 */
struct snapshot_rows *snapshot_rows_new(void);
/* Drops a reference; the last frees the spare array with it. */
void snapshot_rows_put(struct snapshot_rows *r);
/* snapshot_new(n), its rows taken from r's spare array when it has room
 * (r NULL: snapshot_new). */
struct snapshot *snapshot_new_rows(struct snapshot_rows *r, size_t n);
/* A copy of str in s's name storage, valid as long as s; NULL on ENOMEM.
 * What a row's names point to when the snapshot owns them. */
const char *snapshot_name(struct snapshot *s, const char *str);
/* Heap bytes s holds, its rows' arrays, histograms and names included
 * (what a queue of snapshots is bounded by, beside their number). */
size_t snapshot_bytes(const struct snapshot *s);
/* Takes one more reference; returns s. */
struct snapshot *snapshot_hold(struct snapshot *s);
/* Drops one reference; the last frees. NULL is fine. */
void snapshot_free(struct snapshot *s);
/* The name of row target t ("nginx[1234]"); "" for TARGET_ALL or unknown. */
const char *snapshot_target(const struct snapshot *s, unsigned t);
/* The target as the outputs that name it per row write it: NULL with one
 * target (they look as before targets), the name with several, "*" for a
 * row summed across them (OTHER). */
const char *snapshot_row_target(const struct snapshot *s, unsigned t);
/* Totals across endpoints: the counters, and lat merged (caller frees it with
 * hist_free); not the slowest, clients or codes lists. */
void snapshot_total(const struct snapshot *s, struct ep_stats *out);
/* The hash every endpoint table keys by (word_hash.h over host, method,
 * route; host "" where hosts are not split). */
uint32_t ep_hash(const char *host, const char *method, const char *route);
/* Requests that count as errors: 4xx, 5xx and failed gRPC calls. */
uint64_t ep_errors(const struct ep_stats *e);
/* Offers r to an endpoint's slowest list (kept slowest first). */
void ep_slowest_offer(struct ep_stats *e, const struct req_sample *r);
/* Counts n requests from addr in the row's approximate top-EP_CLIENTS. */
void ep_clients_add(struct ep_stats *e, const struct peer_addr *addr, uint64_t n);
/* Counts n requests answered with code in the row's codes. */
void ep_codes_add(struct ep_stats *e, uint16_t code, uint64_t n);
/* Counts n gRPC calls with grpc-status c (0..GRPC_CODES-1). */
void ep_grpc_add(struct ep_stats *e, int c, uint64_t n);
/* Counts n requests answered with code in a fixed table of nslots slots
 * (any size >= 2; the last slot, code 0, takes the rest). */
void status_counts_add(struct status_count *c, size_t nslots, uint16_t code, uint64_t n);
/* dst += src: counters, histogram, slowest requests and top clients. */
void ep_stats_merge(struct ep_stats *dst, const struct ep_stats *src);
/*
 * The rows of s summed across virtual hosts and protocols, for views that
 * do not split by them (GET /users/{id} is one row whatever carried it);
 * targets stay apart. When no endpoint has rows for two hosts this is s itself (no
 * copy): free the result only when it differs from s. Otherwise a new
 * snapshot (host fields empty, request log not copied); NULL on ENOMEM.
 */
struct snapshot *snapshot_fold_hosts(struct snapshot *s);
/* dst gets a deep copy of src's upstream part. 0 or -ENOMEM. */
int snapshot_copy_upstreams(struct snapshot *dst, const struct snapshot *src);

#endif
