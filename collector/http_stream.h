/* SPDX-License-Identifier: MIT */
/*
 * http_stream: the HTTP/1.x exchange of one TCP connection. Two llhttp
 * parsers (requests from the client, responses from the server) fed with
 * reassembled bytes; responses are paired to requests in order, which
 * covers keep-alive and pipelining. Pure: bytes in, transactions out.
 *
 * What a transaction measures:
 *  - start: timestamp of the chunk holding the request's first byte;
 *  - end:   timestamp of the chunk holding the final response's last byte;
 *  - bytes_in / bytes_out: whole messages as they crossed the wire, headers
 *    and chunk framing included; an interim 1xx (100-continue) counts in
 *    bytes_out of the request it belongs to and is not a request itself.
 * A response may finish before its request does (NGINX answers `return`
 * locations before reading the body): the transaction is emitted once both
 * have, in request order.
 *
 * Non-HTTP bytes break the connection: counted once in parse_errors, and
 * the stream ignores everything after, never touching other connections.
 */
#ifndef L7TOP_HTTP_STREAM_H
#define L7TOP_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "collector/http_fast.h"

#define HTTP_TARGET_MAX   2048   /* request-target bytes kept (rest counted, not kept) */
#define HTTP_PENDING_MAX  64     /* pipelined requests awaiting answers */
#define HTTP_HOST_MAX     128    /* Host header bytes kept */
#define HTTP_FAST_REST    16     /* messages not tried with http_fast after a refusal */

enum http_dir { HTTP_DIR_REQ = 0, HTTP_DIR_RESP = 1 };

struct http_txn {
	uint64_t start_ns, end_ns;
	uint64_t bytes_in, bytes_out;
	uint16_t status;
	const char *method;          /* static string */
	const char *target;          /* raw request-target, valid during the callback */
	size_t target_len;
	bool path_unknown;           /* h2 headers unreadable: target is H2_ROUTE_UNREADABLE */
	const char *host;            /* Host header as sent ("" if none) */
	size_t host_len;
	/* The client went away before the response began: its request line
	 * (at least) was seen, no status line. status 0, end_ns = start_ns.
	 * NGINX logs these 400 (headers cut short) or 499 (before the answer). */
	bool aborted;
	const char *proto;           /* "http/1.0", "http/1.1", "h2", "h2c" (static) */
	bool grpc;                   /* content-type application/grpc*: route = path as is */
	int grpc_status;             /* grpc-status of the trailers, -1 when none */
};

struct http_counters {
	uint64_t txns;
	uint64_t parse_errors;       /* connections broken by non-HTTP bytes */
	uint64_t unpaired;           /* responses without request, requests never answered */
	uint64_t pending_overflow;   /* connections broken by too deep a pipeline */
	uint64_t gaps;               /* connections broken by lost bytes */
	uint64_t partial;            /* clients that left inside a request line */
	uint64_t h2_reset;           /* h2 streams reset, refused by GOAWAY, or cut by close */
	uint64_t h2_unreadable;      /* h2 streams with headers the HPACK state could not read */
	uint64_t h2_bounds;          /* h2 streams or header blocks over a bound (not tracked) */
};

struct http_sink {
	void (*txn)(void *ctx, const struct http_txn *t);
	/* Optional: a request the connection ended on without any answer, at
	 * http_stream_free() (status 0, end_ns 0; still counted unpaired). */
	void (*noreply)(void *ctx, const struct http_txn *t);
	/* Optional: a request's target (valid during the call) once its
	 * headers are read, an answer's round trip before txn() has it: time
	 * to fetch what naming it will read. http_fast's requests only. */
	void (*request_seen)(void *ctx, const char *target, size_t len);
	void *ctx;
	struct http_counters *cnt;
	struct http_fast_memos *fast;   /* optional: header blocks seen last (http_fast.h) */
};

struct http_pending;

/* A direction's state that every segment reads: flags only (8 bytes). */
struct http_half {
	bool in_msg;                 /* llhttp has some bytes of the current message */
	bool in_body;                /* between headers and message end */
	bool in_chunk_data;          /* inside a chunk's data (not its size line) */
	bool no_fast;                /* llhttp's last message ends the connection: it
				      * alone judges what follows (no http_fast) */
	uint8_t fast_rest;           /* messages left to llhttp after http_fast refused
				      * one: a connection sending chunked bodies (or
				      * other unusual messages) keeps sending them, and
				      * each refusal scanned the headers for nothing */
	bool wait_sync;              /* bytes lost: wait for a message start to resync */
	bool url_done;               /* requests: the one being received has its target */
	bool fast_body;              /* responses: http_fast read the headers, and the
				      * body (msg.fast_left bytes more) is counted here,
				      * llhttp untouched */
};

/* A direction's message as llhttp reads it (http_fast reads whole
 * messages and needs none of this). */
struct http_msg {
	llhttp_t *parser;            /* made when llhttp first reads this direction:
				      * http_fast takes the common messages, and two
				      * parsers in every connection were 1.9 MB of
				      * 10,000 connections; NULL until then */
	uint64_t start_ns;
	uint64_t bytes;
	uint64_t fast_left;          /* fast_body: bytes of the message still to come */
	uint16_t fast_status;        /* fast_body: its status */
};

/*
 * What a segment read by http_fast touches fills the first cache line
 * (HTTP_STREAM_HOT_BYTES), packed without holes: at 10,000 connections
 * each line a segment touches is a miss. What llhttp, Host parsing,
 * upgrades and the end need comes after.
 */
struct http_stream {
	struct http_half half[2];
	const struct http_sink *out; /* valid during feed/eof only */
	/* requests in arrival order; cur_resp is the oldest without a final
	 * response (its end_ns holds the time of the last response bytes
	 * until it has one) */
	struct http_pending *head, *tail, *cur_resp;
	struct http_pending *spare;  /* the last answered entry, for the next request:
				      * keep-alive costs no allocation per request */
	uint8_t npending;            /* <= HTTP_PENDING_MAX */
	bool req_open;               /* tail is the request being received: its headers
				      * are in, not yet its end (cur_req() in the .c) */
	bool broken;                 /* parse error or overflow: ignore the rest */
	bool resp_orphan;            /* the response being parsed answers no known request */
	bool upgraded;               /* 101 / CONNECT: no longer HTTP/1.x */
	/* ---- llhttp's ---- */
	struct http_msg msg[2];
	/* request target and Host header being parsed, in one buffer: the
	 * target's target_len bytes, then the host's host_len (copied to the
	 * request's entry at its headers' end) */
	char *target;
	uint16_t target_len;         /* <= HTTP_TARGET_MAX */
	uint16_t host_len;           /* <= HTTP_HOST_MAX */
	uint16_t target_cap;         /* a power of two <= 2 x (both maxima) */
	char field[4];               /* header name prefix, to spot "Host" */
	uint8_t field_len;           /* <= sizeof(field) + 1 */
	bool in_host_value;
	bool client_gone;            /* FIN or RST from the client */
	size_t upgrade_tail;         /* bytes of the chunk that upgraded, after the 101 /
				      * CONNECT message: the next protocol's. Set by the
				      * feed that sets upgraded, and only meaningful then */
};

#define HTTP_STREAM_HOT_BYTES offsetof(struct http_stream, msg)

void http_stream_init(struct http_stream *s);
/* Cache hint, from the stream's hot line: fetches the request entry the
 * next segment reads (the one awaiting its answer, else the spare the
 * next request takes). At 10,000 connections it is a miss of its own,
 * after the connection's. */
void http_stream_prefetch(const struct http_stream *s);
/* Frees everything. An exchange whose response had begun is emitted with
 * the bytes seen (as servers log a client that left mid-body). Requests
 * without a status line: emitted as aborted when the client had gone
 * (http_stream_eof() of the request side, http_stream_client_reset()),
 * including one whose headers were cut short (its request line is enough
 * to name it; a client that left inside the request line counts in
 * partial); else counted unpaired. */
void http_stream_free(struct http_stream *s, const struct http_sink *out);
void http_stream_feed(struct http_stream *s, enum http_dir dir, const uint8_t *buf, size_t len,
		      uint64_t ts_ns, const struct http_sink *out);
/* The direction ended (FIN): completes a response delimited by close. */
void http_stream_eof(struct http_stream *s, enum http_dir dir, uint64_t ts_ns,
		     const struct http_sink *out);
/* The client reset the connection (RST): it is gone, as after a FIN. */
void http_stream_client_reset(struct http_stream *s);
/*
 * len bytes of the direction were not captured (a snap length, a capture
 * cap, a lost segment). Inside a body of known length they are skipped and
 * the message is still measured exactly. Anywhere else the framing is
 * lost: the message in flight is dropped (counted in gaps), the direction
 * resyncs at the next chunk that starts a message, and a resynced response
 * pairs with the newest request that had started before it (the older
 * ones' answers were in the lost bytes: counted unpaired).
 */
void http_stream_gap(struct http_stream *s, enum http_dir dir, uint64_t len, uint64_t ts_ns,
		     const struct http_sink *out);
/*
 * Bytes of the current message body still to come in dir when their count
 * is known (the rest of a Content-Length body or of one chunk), else 0.
 * Those bytes only need counting, so the capture may skip them.
 */
uint64_t http_stream_body_left(const struct http_stream *s, enum http_dir dir);
/* A body framed by Content-Length (not chunks), with bytes left: the one
 * kind the socket filter can cut on its own. */
bool http_stream_body_sized(const struct http_stream *s, enum http_dir dir);
/* The same for a Content-Length body only (0 inside a chunked one): what
 * is left of the whole message, not of one chunk. */
uint64_t http_stream_sized_left(const struct http_stream *s, enum http_dir dir);
/*
 * The client gave up on the connection (closed or reset it with requests
 * outstanding): they are decided now, as http_stream_free() decides them
 * (noreply for the unanswered), and every later byte is ignored: an answer
 * sent after the client left never reached it. A stream with nothing
 * outstanding is left as it is.
 */
void http_stream_abandon(struct http_stream *s, const struct http_sink *out);
/* Does buf start an HTTP/1.x message of this direction (a request line's
 * method and space, or "HTTP/1.")? Where a stream may join or resync. */
bool http_message_start(enum http_dir dir, const uint8_t *buf, size_t len);

#endif
