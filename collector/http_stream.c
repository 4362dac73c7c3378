// SPDX-License-Identifier: MIT
#include "collector/http_stream.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * One request waiting for its answer: two cache lines, its fields in the
 * first, its target and Host in the second (text) when they fit, as they
 * nearly always do. The request's segment writes both lines and its
 * answer's reads both: at 10,000 connections the entry and the separate
 * target buffer it had were ~5 cache misses per request, and each lookup
 * of a buffer pointer one more.
 */
struct http_pending {
	struct http_pending *next;
	uint64_t start_ns, end_ns;
	uint64_t bytes_in, bytes_out;
	uint16_t status;
	uint8_t method;
	bool http10;                 /* the request line said HTTP/1.0 */
	bool req_done, resp_done;
	bool resp_started;           /* final response's headers seen */
	bool lost;                   /* bytes of it were lost: dropped, already counted */
	/* ---- kept when the entry is reused (pending_take) ---- */
	char *big;                   /* heap text for what does not fit text[], or NULL */
	uint16_t big_cap;
	uint16_t target_len, host_len;   /* the target, then the Host header's bytes */
	char text[66];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct http_pending) == 128, "http_pending is two cache lines");
_Static_assert(HTTP_TARGET_MAX + HTTP_HOST_MAX <= UINT16_MAX, "big_cap is 16 bits");

/* Where e's target (and Host behind it) is. */
static const char *pending_text(const struct http_pending *e)
{
	return (size_t)e->target_len + e->host_len <= sizeof(e->text) ? e->text : e->big;
}

/*
 * Copies n bytes of target, then Host, into e (its own text or its heap
 * buffer, grown). On ENOMEM keeps what fits text[], the target first:
 * shorter, as a realloc that failed left it before.
 */
static void pending_set_text(struct http_pending *e, const char *target, size_t tlen,
			     const char *host, size_t hlen)
{
	char *to = e->text;

	if (tlen + hlen > sizeof(e->text)) {
		if (tlen + hlen > e->big_cap) {
			char *b = malloc(tlen + hlen);
			if (b) {
				free(e->big);
				e->big = b;
				e->big_cap = (uint16_t)(tlen + hlen);
			}
		}
		if (tlen + hlen <= e->big_cap) {
			to = e->big;
		} else {
			tlen = tlen < sizeof(e->text) ? tlen : sizeof(e->text);
			hlen = tlen + hlen <= sizeof(e->text) ? hlen : 0;
		}
	}
	if (tlen)
		memcpy(to, target, tlen);
	if (hlen)
		memcpy(to + tlen, host, hlen);
	e->target_len = (uint16_t)tlen;
	e->host_len = (uint16_t)hlen;
}

_Static_assert((HTTP_TARGET_MAX + HTTP_HOST_MAX) * 2 <= UINT16_MAX, "target_cap is 16 bits");
_Static_assert(HTTP_PENDING_MAX <= UINT8_MAX, "npending is 8 bits");

/* The request being received (its headers are in, not its end), or NULL:
 * always the newest entry, so a flag says it (a pointer more was a cache
 * line more per segment). */
static struct http_pending *cur_req(const struct http_stream *s)
{
	return s->req_open ? s->tail : NULL;
}

static struct http_stream *stream_of(llhttp_t *p)
{
	return p->data;
}

static void pending_free(struct http_pending *e)
{
	free(e->big);
	free(e);
}

/* An answered entry becomes the stream's spare (one at most), its heap
 * text with it. */
static void pending_recycle(struct http_stream *s, struct http_pending *e)
{
	if (s->spare) {
		pending_free(e);
		return;
	}
	s->spare = e;
}

/* An entry zeroed up to its text: the spare if there is one (its heap
 * text kept for reuse), else a new one. NULL on ENOMEM. */
static struct http_pending *pending_take(struct http_stream *s)
{
	struct http_pending *e = s->spare;

	if (e) {
		s->spare = NULL;
		memset(e, 0, offsetof(struct http_pending, big));
		return e;
	}
	e = aligned_alloc(_Alignof(struct http_pending), sizeof(*e));
	if (e)
		memset(e, 0, sizeof(*e));
	return e;
}

/* Gives up on the connection; what was waiting is counted, not emitted. */
static void stream_break(struct http_stream *s, uint64_t *why)
{
	struct http_pending *e, *n;

	if (s->broken)
		return;
	s->broken = true;
	if (s->out && why)
		(*why)++;
	for (e = s->head; e; e = n) {
		n = e->next;
		if (s->out)
			s->out->cnt->unpaired++;
		pending_free(e);
	}
	s->head = s->tail = s->cur_resp = NULL;
	s->req_open = false;
	s->npending = 0;
}

static struct http_half *half_of(llhttp_t *p)
{
	return &stream_of(p)->half[p->type == HTTP_REQUEST ? HTTP_DIR_REQ : HTTP_DIR_RESP];
}

static int on_message_begin(llhttp_t *p)
{
	struct http_stream *s = stream_of(p);
	if (p->type == HTTP_REQUEST) {
		s->target_len = s->host_len = s->field_len = 0;
		s->in_host_value = false;
		s->half[HTTP_DIR_REQ].url_done = false;
	}
	half_of(p)->in_chunk_data = false;
	return 0;
}

static int on_url_complete(llhttp_t *p)
{
	stream_of(p)->half[HTTP_DIR_REQ].url_done = true;
	return 0;
}

/* While llhttp reads a chunk-size line, content_length holds the size built
 * so far: only between a chunk header and the chunk's end is it the count
 * of data bytes still to come. */
static int on_chunk_header(llhttp_t *p)
{
	half_of(p)->in_chunk_data = true;
	return 0;
}

static int on_chunk_complete(llhttp_t *p)
{
	half_of(p)->in_chunk_data = false;
	return 0;
}

/* Appends to the request's buffer at off (target bytes, then Host bytes
 * behind them); false when it could not grow. */
static bool req_buf_put(struct http_stream *s, size_t off, const char *at, size_t len)
{
	if (off + len > s->target_cap) {
		size_t cap = s->target_cap ? s->target_cap * 2 : 64;
		while (cap < off + len)
			cap *= 2;
		char *t = realloc(s->target, cap);
		if (!t)
			return false;
		s->target = t;
		s->target_cap = cap;
	}
	memcpy(s->target + off, at, len);
	return true;
}

/* The request line comes before any header, so the target is whole
 * before the Host bytes are put behind it. */
static void url_append(struct http_stream *s, const char *at, size_t len)
{
	size_t room = HTTP_TARGET_MAX - s->target_len;
	if (len > room)
		len = room;                   /* the rest is counted in bytes, not kept */
	if (len && req_buf_put(s, s->target_len, at, len))
		s->target_len += len;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	url_append(stream_of(p), at, len);
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct http_stream *s = stream_of(p);
	if (p->type != HTTP_REQUEST)
		return 0;
	for (size_t i = 0; i < len && s->field_len <= sizeof(s->field); i++, s->field_len++)
		if (s->field_len < sizeof(s->field))
			s->field[s->field_len] = at[i];
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct http_stream *s = stream_of(p);
	s->in_host_value = p->type == HTTP_REQUEST && s->field_len == 4 &&
			   !strncasecmp(s->field, "host", 4);
	s->field_len = 0;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_stream *s = stream_of(p);
	if (!s->in_host_value)
		return 0;
	size_t room = HTTP_HOST_MAX - s->host_len;
	if (len > room)
		len = room;
	if (len && req_buf_put(s, s->target_len + s->host_len, at, len))
		s->host_len += len;
	return 0;
}

/*
 * A request's headers are in: it joins the queue of requests to answer,
 * with its start and a copy of its target and Host (tlen and hlen bytes,
 * within their maxima): from the stream's buffer (llhttp) or the segment
 * (http_fast).
 */
static int request_headers_complete(struct http_stream *s, uint64_t start_ns, uint8_t method,
				    bool http10, const char *target, size_t tlen, const char *host,
				    size_t hlen)
{
	struct http_pending *e;

	if (s->npending >= HTTP_PENDING_MAX) {
		stream_break(s, s->out ? &s->out->cnt->pending_overflow : NULL);
		return -1;
	}
	e = pending_take(s);
	if (!e)
		return -1;
	pending_set_text(e, target, tlen, host, hlen);
	e->start_ns = start_ns;
	e->method = method;
	e->http10 = http10;
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->req_open = true;
	if (!s->cur_resp)
		s->cur_resp = e;
	s->npending++;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct http_stream *s = stream_of(p);
	struct http_half *h = half_of(p);

	h->in_body = true;
	if (p->type == HTTP_REQUEST) {
		s->in_host_value = false;     /* (http_fast never sets it) */
		int rc = request_headers_complete(s, s->msg[HTTP_DIR_REQ].start_ns,
						  (uint8_t)llhttp_get_method(p),
						  p->http_major == 1 && p->http_minor == 0, s->target,
						  s->target_len, s->target + s->target_len,
						  s->host_len);
		if (!rc)
			s->target_len = s->host_len = 0;   /* copied to the entry */
		return rc;
	}
	/* A response cannot start before its request did: one that does
	 * answers a request whose bytes were lost, so it pairs with nothing. */
	if (!s->cur_resp || s->cur_resp->start_ns > s->msg[HTTP_DIR_RESP].start_ns) {
		s->resp_orphan = true;
		if (s->out)
			s->out->cnt->unpaired++;
		return 0;
	}
	s->resp_orphan = false;
	int status = llhttp_get_status_code(p);
	if (status < 100 || status >= 200) {
		s->cur_resp->status = (uint16_t)status;
		s->cur_resp->resp_started = true;
	}
	/* A 2xx to CONNECT opens a tunnel: no body, then another protocol. */
	if (s->cur_resp->method == HTTP_CONNECT && status >= 200 && status < 300)
		return 2;
	/* A response to HEAD has headers that describe a body it never sends. */
	return s->cur_resp->method == HTTP_HEAD ? 1 : 0;
}

/* Pausing here makes llhttp_execute() return at the message's last byte,
 * which is how message sizes and pipelined boundaries are measured. */
static int on_message_complete(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED;
}

static const llhttp_settings_t http_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_url_complete = on_url_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_chunk_header = on_chunk_header,
	.on_chunk_complete = on_chunk_complete,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

void http_stream_init(struct http_stream *s)
{
	memset(s, 0, sizeof(*s));
}

/* dir's llhttp, made at its first use in the state a new one starts in: a
 * message boundary, where http_fast leaves the stream too. NULL on ENOMEM. */
static llhttp_t *half_parser(struct http_stream *s, enum http_dir dir)
{
	struct http_msg *m = &s->msg[dir];

	if (m->parser)
		return m->parser;
	m->parser = malloc(sizeof(*m->parser));
	if (!m->parser)
		return NULL;
	llhttp_init(m->parser, dir == HTTP_DIR_REQ ? HTTP_REQUEST : HTTP_RESPONSE, &http_settings);
	m->parser->data = s;
	return m->parser;
}

/* e as a transaction, its target and Host at text. */
static void txn_of(const struct http_pending *e, const char *text, bool aborted,
		   struct http_txn *out)
{
	struct http_txn t = {
			.aborted = aborted,
			.start_ns = e->start_ns,
			.end_ns = e->end_ns,
			.bytes_in = e->bytes_in,
			.bytes_out = e->bytes_out,
			.status = e->status,
			.method = llhttp_method_name(e->method),
			.target = text ? text : "",
			.target_len = e->target_len,
			.host = text ? text + e->target_len : "",
			.host_len = e->host_len,
			.proto = e->http10 ? "http/1.0" : "http/1.1",
			.grpc_status = -1,
	};
	*out = t;
}

static void emit_text(struct http_stream *s, const struct http_pending *e, const char *text,
		      bool aborted)
{
	struct http_txn t;

	txn_of(e, text, aborted, &t);
	s->out->cnt->txns++;
	s->out->txn(s->out->ctx, &t);
}

static void emit_one(struct http_stream *s, struct http_pending *e, bool aborted)
{
	emit_text(s, e, pending_text(e), aborted);
}

/* Emits, in request order, every transaction whose two halves are done. */
static void emit_ready(struct http_stream *s)
{
	while (s->head && s->head->req_done && s->head->resp_done) {
		struct http_pending *e = s->head;
		s->head = e->next;
		if (!s->head)
			s->tail = NULL;
		s->npending--;
		if (!e->lost)
			emit_one(s, e, false);
		pending_recycle(s, e);
	}
}

/*
 * The client left while a request was still coming in. With its request
 * line seen it is an aborted request of its endpoint (NGINX logs 400);
 * inside the request line there is nothing to name: counted in partial.
 */
static void request_cut(struct http_stream *s, const struct http_sink *out)
{
	const struct http_half *rq = &s->half[HTTP_DIR_REQ];
	const struct http_msg *m = &s->msg[HTTP_DIR_REQ];

	if (!rq->in_msg || cur_req(s) || rq->wait_sync || !(m->bytes || s->target_len))
		return;
	if (!rq->url_done || !m->parser) {
		out->cnt->partial++;
		return;
	}
	struct http_pending e = {
		.start_ns = m->start_ns,
		.end_ns = m->start_ns,
		.bytes_in = m->bytes,
		.method = (uint8_t)llhttp_get_method(m->parser),
		.target_len = s->target_len,
		.host_len = s->host_len,
	};
	emit_text(s, &e, s->target, true);
}

/*
 * The connection is gone. An exchange whose response had begun is counted
 * with what crossed the wire, as the server logs it (the client left, or
 * l7top stops, mid-body); one that never got a status line is aborted when
 * the client had left, else unpaired.
 */
void http_stream_free(struct http_stream *s, const struct http_sink *out)
{
	const struct http_msg *rq = &s->msg[HTTP_DIR_REQ], *rs = &s->msg[HTTP_DIR_RESP];

	s->out = out;
	for (struct http_pending *e = s->head, *n; e; e = n) {
		n = e->next;
		if (e->lost) {
			pending_free(e);
			continue;
		}
		if (out && !s->broken && (e->resp_done || e->resp_started)) {
			if (!e->resp_done)          /* end_ns: its last bytes (cur_resp) */
				e->bytes_out += rs->bytes;
			if (!e->req_done)
				e->bytes_in = e == cur_req(s) ? rq->bytes : e->bytes_in;
			emit_one(s, e, false);
		} else if (out && !s->broken && s->client_gone) {
			if (!e->req_done)
				e->bytes_in = e == cur_req(s) ? rq->bytes : e->bytes_in;
			e->end_ns = e->start_ns;
			e->status = 0;
			emit_one(s, e, true);
		} else if (out) {
			out->cnt->unpaired++;
			if (out->noreply && !s->broken) {
				struct http_txn t;

				txn_of(e, pending_text(e), false, &t);
				t.status = 0;
				t.end_ns = 0;
				if (!e->req_done)
					t.bytes_in = e == cur_req(s) ? rq->bytes : e->bytes_in;
				out->noreply(out->ctx, &t);
			}
		}
		pending_free(e);
	}
	if (out && !s->broken && !s->upgraded && s->client_gone)
		request_cut(s, out);
	s->head = s->tail = s->cur_resp = NULL;
	s->req_open = false;
	if (s->spare)
		pending_free(s->spare);
	s->spare = NULL;
	free(s->target);
	s->target = NULL;
	s->target_cap = 0;
	for (int d = 0; d < 2; d++) {
		free(s->msg[d].parser);
		s->msg[d].parser = NULL;
	}
	s->out = NULL;
}

void http_stream_abandon(struct http_stream *s, const struct http_sink *out)
{
	if (!s->head || s->broken)
		return;
	http_stream_free(s, out);
	http_stream_init(s);
	s->broken = true;
}

void http_stream_client_reset(struct http_stream *s)
{
	s->client_gone = true;
}

static void request_done(struct http_stream *s, uint64_t bytes)
{
	struct http_pending *e = cur_req(s);
	if (!e)
		return;
	e->bytes_in = bytes;
	e->req_done = true;
	s->req_open = false;
	emit_ready(s);
}

static void response_done(struct http_stream *s, uint64_t bytes, uint64_t ts, int status)
{
	struct http_pending *e = s->cur_resp;

	if (!e || s->resp_orphan) {
		s->resp_orphan = false;
		return;                       /* counted at its headers */
	}
	e->bytes_out += bytes;
	if (status >= 100 && status < 200 && status != 101)
		return;                       /* interim: the final one follows */
	e->status = (uint16_t)status;
	e->end_ns = ts;
	e->resp_done = true;
	s->cur_resp = e->next;
	if (status == 101)
		s->upgraded = true;
	emit_ready(s);
}

static void message_done(struct http_stream *s, enum http_dir dir, uint64_t ts)
{
	struct http_half *h = &s->half[dir];
	struct http_msg *m = &s->msg[dir];
	if (dir == HTTP_DIR_REQ)
		request_done(s, m->bytes);
	else
		response_done(s, m->bytes, ts, llhttp_get_status_code(m->parser));
	/* Flags still say this message's: after a close, llhttp refuses more. */
	h->no_fast = !llhttp_should_keep_alive(m->parser);
	h->in_msg = false;
	h->in_body = false;
	m->bytes = 0;
}

bool http_message_start(enum http_dir dir, const uint8_t *p, size_t n)
{
	if (dir == HTTP_DIR_RESP)
		return n >= 7 && !memcmp(p, "HTTP/1.", 7);
	size_t i = 0;
	while (i < n && i < 16 && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	return i >= 3 && i < n && p[i] == ' ';
}

/* Marks e as answered by lost bytes: it leaves the queue uncounted as a
 * transaction (the gap was counted). */
static void pending_lose(struct http_stream *s, struct http_pending *e)
{
	e->lost = true;
	e->resp_done = true;
	if (s->cur_resp == e)
		s->cur_resp = e->next;
	if (cur_req(s) == e) {
		s->req_open = false;
		e->req_done = true;
	}
}

/*
 * Which waiting request does a response starting at ts answer, after lost
 * bytes? The newest that had started by then: a client that waits for each
 * answer (nearly all do) has sent nothing newer, and every older one had
 * its answer in the lost bytes. False when no known request fits.
 */
static bool resync_response(struct http_stream *s, uint64_t ts)
{
	struct http_pending *e = s->cur_resp;
	if (!e || e->start_ns > ts)
		return false;
	while (e->next && e->next->start_ns <= ts) {
		struct http_pending *old = e;
		e = e->next;
		pending_lose(s, old);
		if (s->out)
			s->out->cnt->unpaired++;
	}
	s->cur_resp = e;
	emit_ready(s);
	return true;
}

/*
 * After lost bytes, requests resume at the next chunk that starts with a
 * request line; responses at the next that starts with a status line once
 * a request is waiting for one. Returns whether buf is to be parsed.
 */
static bool resync(struct http_stream *s, enum http_dir dir, const uint8_t *buf, size_t len,
		   uint64_t ts)
{
	if (!http_message_start(dir, buf, len))
		return false;
	if (dir == HTTP_DIR_RESP && !resync_response(s, ts))
		return false;
	struct http_half *h = &s->half[dir];
	if (s->msg[dir].parser)
		llhttp_reset(s->msg[dir].parser);
	h->in_msg = h->in_body = h->fast_body = false;
	s->msg[dir].bytes = 0;
	if (dir == HTTP_DIR_REQ) {
		s->target_len = s->host_len = s->field_len = 0;
		s->in_host_value = false;
	}
	h->in_chunk_data = false;
	h->no_fast = false;
	s->half[dir].wait_sync = false;
	return true;
}

/* After a refusal, the next HTTP_FAST_REST messages go straight to llhttp. */
static bool fast_resting(struct http_half *h)
{
	if (!h->fast_rest)
		return false;
	h->fast_rest--;
	return true;
}

/* The last bytes of a body fast_body counted: the response is done. */
static void fast_body_done(struct http_stream *s, struct http_half *h, uint64_t ts)
{
	struct http_msg *m = &s->msg[HTTP_DIR_RESP];

	h->fast_body = h->in_msg = h->in_body = false;
	response_done(s, m->bytes, ts, m->fast_status);
	m->bytes = 0;
}

/* n body bytes (at most fast_left) of a fast_body response, seen or not. */
static void fast_body_count(struct http_stream *s, struct http_half *h, uint64_t n, uint64_t ts)
{
	struct http_msg *m = &s->msg[HTTP_DIR_RESP];

	m->bytes += n;
	m->fast_left -= n;
	if (!m->fast_left)
		fast_body_done(s, h, ts);
}

/*
 * A plain response read by http_fast instead of llhttp, where llhttp
 * stands between messages expecting another and the response answers the
 * waiting request the usual way (not HEAD's or CONNECT's, nor one that
 * starts before its request). False: llhttp reads it. A body that goes on
 * past this chunk is counted by fast_body: a download's head and body
 * gaps went through llhttp, a quarter of l7top's CPU on 100 KB files.
 */
static bool response_fast(struct http_stream *s, struct http_half *h, const char **p,
			  const char *end, uint64_t ts)
{
	struct http_pending *e = s->cur_resp;
	struct http_fast_msg m;
	size_t n, avail = (size_t)(end - *p);

	/* The answer reads e's fields now and its text (the route) soon: at
	 * 10,000 connections both lines are out of cache, so the second one's
	 * fetch starts beside the first one's instead of after the parse. */
	if (e)
		__builtin_prefetch(e->text);
	if (h->no_fast || !e || e->start_ns > ts || e->method == HTTP_HEAD ||
	    e->method == HTTP_CONNECT || fast_resting(h))
		return false;
	n = http_fast_response_head(s->out->fast ? &s->out->fast->resp : NULL, (const uint8_t *)*p,
				    avail, &m);
	if (!n) {
		h->fast_rest = HTTP_FAST_REST;
		return false;
	}
	h->in_chunk_data = false;
	s->resp_orphan = false;
	e->resp_started = true;
	if (m.clen <= avail - n) {
		n += (size_t)m.clen;
		*p += n;
		response_done(s, n, ts, m.status);
		return true;
	}
	/* as llhttp's on_headers_complete: an answer cut short keeps its status */
	e->status = m.status;
	h->in_msg = h->in_body = h->fast_body = true;
	s->msg[HTTP_DIR_RESP].start_ns = ts;
	s->msg[HTTP_DIR_RESP].bytes = avail;
	s->msg[HTTP_DIR_RESP].fast_left = n + m.clen - avail;
	s->msg[HTTP_DIR_RESP].fast_status = m.status;
	*p = end;
	return true;
}

/*
 * A whole plain request read by http_fast: what llhttp's callbacks would
 * have done, from message begin to message complete. False: llhttp reads it.
 */
static bool request_fast(struct http_stream *s, struct http_half *h, const char **p,
			 const char *end, uint64_t ts)
{
	struct http_fast_msg m;
	size_t n;

	if (h->no_fast || fast_resting(h))
		return false;
	n = http_fast_request(s->out->fast ? &s->out->fast->req : NULL, (const uint8_t *)*p,
			      (size_t)(end - *p), &m);
	if (!n) {
		h->fast_rest = HTTP_FAST_REST;
		return false;
	}
	/* field_len and in_host_value are 0 and false between messages
	 * (llhttp's callbacks end each header so): not written here, where
	 * every request would touch one more cache line */
	h->in_chunk_data = false;
	s->half[HTTP_DIR_REQ].url_done = true;
	/* target and Host straight from the segment into the entry, cut as
	 * url_append() and on_header_value() cut them */
	size_t tl = m.target_len < HTTP_TARGET_MAX ? m.target_len : HTTP_TARGET_MAX;
	size_t hl = m.host_len < HTTP_HOST_MAX ? m.host_len : HTTP_HOST_MAX;
	const char *msg = *p;
	*p += n;
	if (s->out->request_seen)
		s->out->request_seen(s->out->ctx, msg + m.target_off, tl);
	if (request_headers_complete(s, ts, m.method, false, msg + m.target_off, tl,
				     msg + m.host_off, hl)) {
		if (!s->broken)
			stream_break(s, &s->out->cnt->parse_errors);
		return true;
	}
	request_done(s, n);
	return true;
}

void http_stream_feed(struct http_stream *s, enum http_dir dir, const uint8_t *buf, size_t len,
		      uint64_t ts_ns, const struct http_sink *out)
{
	struct http_half *h = &s->half[dir];
	struct http_msg *m = &s->msg[dir];
	const char *p = (const char *)buf, *end = p + len;

	s->out = out;
	if (s->half[dir].wait_sync && !resync(s, dir, buf, len, ts_ns))
		goto done;
	while (p < end && !s->broken && !s->upgraded) {
		if (h->fast_body) {
			size_t n = (size_t)(end - p) < m->fast_left ? (size_t)(end - p) : m->fast_left;
			p += n;
			fast_body_count(s, h, n, ts_ns);
			continue;
		}
		if (!h->in_msg) {
			if (dir == HTTP_DIR_RESP ? response_fast(s, h, &p, end, ts_ns) :
			    request_fast(s, h, &p, end, ts_ns))
				continue;
			h->in_msg = true;
			m->start_ns = ts_ns;
			m->bytes = 0;
		}
		llhttp_t *lp = half_parser(s, dir);
		if (!lp) {
			stream_break(s, &out->cnt->parse_errors);   /* out of memory: counted */
			break;
		}
		llhttp_errno_t err = llhttp_execute(lp, p, (size_t)(end - p));
		if (err == HPE_OK) {
			m->bytes += (size_t)(end - p);
			break;
		}
		if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
			if (!s->broken)
				stream_break(s, &out->cnt->parse_errors);
			break;
		}
		if (err == HPE_PAUSED_UPGRADE) {
			/* on_message_complete already ran (and paused) for this
			 * message. A request's "Upgrade:" is only an offer (curl
			 * --http2 sends one to every server): HTTP/1.x goes on unless
			 * it was CONNECT or the server answers 101, which the response
			 * side sees. */
			if (dir == HTTP_DIR_REQ && llhttp_get_method(lp) != HTTP_CONNECT) {
				p = llhttp_get_error_pos(lp);
				llhttp_resume_after_upgrade(lp);
				continue;
			}
			s->upgraded = true;
			s->upgrade_tail = (size_t)(end - llhttp_get_error_pos(lp));
			break;
		}
		const char *stop = llhttp_get_error_pos(lp);
		m->bytes += (size_t)(stop - p);
		p = stop;
		llhttp_resume(lp);
		message_done(s, dir, ts_ns);
		if (s->upgraded)
			s->upgrade_tail = (size_t)(end - p);
	}
done:
	/* The response being answered ends here if the connection ends next
	 * (http_stream_free), as servers log one cut short. */
	if (dir == HTTP_DIR_RESP && s->cur_resp && !s->upgraded && !s->broken)
		s->cur_resp->end_ns = ts_ns;
	s->out = NULL;
}

void http_stream_eof(struct http_stream *s, enum http_dir dir, uint64_t ts_ns,
		     const struct http_sink *out)
{
	struct http_half *h = &s->half[dir];
	llhttp_t *lp = s->msg[dir].parser;

	if (dir == HTTP_DIR_REQ)
		s->client_gone = true;
	/* A fast_body response ends at its Content-Length: the close came
	 * before it, so it was cut short (llhttp refuses the EOF as well). */
	if (s->broken || s->upgraded || !h->in_msg || h->fast_body || !lp)
		return;
	s->out = out;
	/* Only a response delimited by the close completes here; a request cut
	 * short stays unanswered and is counted when the stream is freed. */
	if (llhttp_finish(lp) == HPE_PAUSED) {
		llhttp_resume(lp);
		message_done(s, dir, ts_ns);
	}
	s->out = NULL;
}

/* In a body whose remaining length llhttp knows: Content-Length, or the
 * data of one chunk (not its size line). */
static bool body_known(const struct http_stream *s, enum http_dir dir)
{
	const struct http_half *h = &s->half[dir];

	if (!h->in_body)                     /* first: the parser is another cache line */
		return false;
	if (h->fast_body)
		return true;
	const llhttp_t *p = s->msg[dir].parser;
	if (!p)
		return false;
	if (p->flags & F_CHUNKED)
		return h->in_chunk_data;
	return p->flags & F_CONTENT_LENGTH;
}

/* Zeros stand in for body bytes that were not captured: llhttp only counts
 * body bytes down (no on_body callback is set), so this is cheap and keeps
 * the message's framing and byte count exact. */
static const uint8_t zeros[16384];

void http_stream_gap(struct http_stream *s, enum http_dir dir, uint64_t len, uint64_t ts_ns,
		     const struct http_sink *out)
{
	struct http_half *h = &s->half[dir];
	llhttp_t *p = s->msg[dir].parser;    /* there when body_known() */

	if (s->broken || s->upgraded || s->half[dir].wait_sync)
		return;
	if (h->fast_body && s->msg[dir].fast_left >= len) {
		s->out = out;
		fast_body_count(s, h, len, ts_ns);
		if (h->fast_body && s->cur_resp)
			s->cur_resp->end_ns = ts_ns;   /* its last bytes, as a feed's */
		s->out = NULL;
		return;
	}
	/* Inside a Content-Length body or one chunk's data, the length is known. */
	if (!h->fast_body && body_known(s, dir) && p->content_length >= len) {
		while (len && !s->broken && h->in_body) {
			size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
			http_stream_feed(s, dir, zeros, n, ts_ns, out);
			len -= n;
		}
		return;
	}
	/*
	 * Framing lost. Only the message in flight in this direction is
	 * damaged: requests already in keep their place in the queue (their
	 * answers still come), and this direction waits for a message start.
	 */
	s->out = out;
	out->cnt->gaps++;
	struct http_pending *rq = cur_req(s);
	if (dir == HTTP_DIR_REQ && rq && !rq->req_done)
		pending_lose(s, rq);
	else if (dir == HTTP_DIR_RESP && s->cur_resp && h->in_msg && !s->resp_orphan)
		pending_lose(s, s->cur_resp);
	s->resp_orphan = dir == HTTP_DIR_RESP ? false : s->resp_orphan;
	s->half[dir].wait_sync = true;
	emit_ready(s);
	s->out = NULL;
}

/* A Content-Length body, not a chunk of a chunked one. */
static bool body_sized(const struct http_stream *s, enum http_dir dir)
{
	const llhttp_t *p = s->msg[dir].parser;

	return s->half[dir].fast_body || !p || !(p->flags & F_CHUNKED);
}

uint64_t http_stream_sized_left(const struct http_stream *s, enum http_dir dir)
{
	return body_sized(s, dir) ? http_stream_body_left(s, dir) : 0;
}

void http_stream_prefetch(const struct http_stream *s)
{
	const struct http_pending *e = s->cur_resp ? s->cur_resp : s->spare;

	if (e) {
		__builtin_prefetch(e, 1);
		__builtin_prefetch((const char *)e + 64, 1);
	}
}

uint64_t http_stream_body_left(const struct http_stream *s, enum http_dir dir)
{
	if (s->broken || s->upgraded || s->half[dir].wait_sync || !body_known(s, dir))
		return 0;
	return s->half[dir].fast_body ? s->msg[dir].fast_left : s->msg[dir].parser->content_length;
}

bool http_stream_body_sized(const struct http_stream *s, enum http_dir dir)
{
	return http_stream_body_left(s, dir) && body_sized(s, dir);
}
