/* SPDX-License-Identifier: MIT */
/*
 * http_fast: a quick reader for the commonest HTTP/1.1 messages. A
 * response's header block whole in one chunk: "HTTP/1.1 NNN reason", plain
 * header lines, a Content-Length (its body, in this chunk or later ones, is
 * the caller's to count: http_stream's fast_body). A request whole in one
 * chunk: "METHOD /path[?query] HTTP/1.1", plain header lines, no body. It
 * says how long the headers or the message are and what the collector
 * keeps, or 0 when anything at all is unusual (llhttp then reads it, as
 * before): no Content-Length in a response, a body in a request, chunked,
 * Connection other than keep-alive, Upgrade, a status without a body or an
 * interim one, a byte outside the strict grammar, headers not yet all in the
 * chunk. What it accepts, llhttp accepts the same way, so the two never
 * disagree on a message's end.
 *
 * A memo of the last header block read in each direction makes a repeated
 * one (the same client's request again; NGINX's responses within one
 * second, whose Date is the same) a single memcmp.
 *
 * Why: llhttp walks every header byte through its state machine with a
 * callback per span: for a 46-byte request and a 150-byte response that
 * was over half of the collector's instructions per request.
 */
#ifndef L7TOP_HTTP_FAST_H
#define L7TOP_HTTP_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_FAST_MEMO 512     /* longest header block remembered */

/* What a header block said; offsets count from the message's first byte. */
struct http_fast_msg {
	uint16_t hdr_len;          /* request line or status line to CRLF CRLF */
	uint16_t status;           /* responses */
	uint8_t method;            /* requests: llhttp_method_t */
	uint16_t target_off, target_len;
	uint16_t host_off, host_len;   /* host_len 0: no Host header */
	uint64_t clen;             /* responses: body bytes */
};

struct http_fast_memo {
	struct http_fast_msg m;    /* m.hdr_len 0: nothing remembered */
	uint8_t hdr[HTTP_FAST_MEMO];
};

struct http_fast_memos {
	struct http_fast_memo req, resp;
};

/*
 * A response's header block at p, its body (out->clen bytes) in this chunk
 * or not: the block's length, with *out filled; 0: not read here. memo may
 * be NULL.
 */
size_t http_fast_response_head(struct http_fast_memo *memo, const uint8_t *p, size_t n,
			       struct http_fast_msg *out);
/* Bytes of the request at p (it has no body), with *out filled; 0: not
 * read here. memo may be NULL. */
size_t http_fast_request(struct http_fast_memo *memo, const uint8_t *p, size_t n,
			 struct http_fast_msg *out);

#endif
