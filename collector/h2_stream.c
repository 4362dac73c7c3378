// SPDX-License-Identifier: MIT
#include "collector/h2_stream.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum h2_frame_type {
	FT_DATA = 0, FT_HEADERS = 1, FT_PRIORITY = 2, FT_RST_STREAM = 3, FT_SETTINGS = 4,
	FT_PUSH_PROMISE = 5, FT_PING = 6, FT_GOAWAY = 7, FT_WINDOW_UPDATE = 8, FT_CONTINUATION = 9,
};

#define FL_END_STREAM  0x01
#define FL_ACK         0x01
#define FL_END_HEADERS 0x04
#define FL_PADDED      0x08
#define FL_PRIORITY    0x20

#define SETTINGS_HEADER_TABLE_SIZE 1
#define SETTINGS_MAX_FRAME_SIZE    5

#define FRAME_HDR_LEN      9
#define FRAME_DEFAULT_MAX  16384u
#define FRAME_LIMIT        ((1u << 24) - 1)
#define H2_METHOD_MAX      24

struct h2_strm {
	uint32_t id;
	bool req_end, resp_end;
	bool resp_final;             /* the final (non-1xx) response headers are in */
	bool unreadable;             /* counted in h2_unreadable */
	bool grpc;
	uint16_t status;
	int grpc_status;
	uint64_t start_ns, end_ns;
	uint64_t bytes_in, bytes_out;
	char method[H2_METHOD_MAX];
	char host[HTTP_HOST_MAX];
	size_t host_len;
	char *path;                  /* NULL until :path is read, then buf */
	size_t path_len;
	char *buf;                   /* the path's bytes, kept when the stream is reused */
	size_t buf_cap;
};

/* The header block being read in one direction. */
struct h2_block {
	bool open;
	bool for_request;            /* request fields: HEADERS from the client, PUSH_PROMISE */
	bool end_stream;             /* the HEADERS frame carried END_STREAM */
	bool final_fed;              /* the inflater was told the block ended */
	bool ok;                     /* decoded to its end */
	bool failed;                 /* the inflater refused it, or over the bound */
	bool unknown;                /* some field was an entry from before l7top */
	bool has_status;
	uint16_t status;
	uint32_t sid;                /* the frame's stream */
	uint32_t target;             /* the stream the fields describe */
	uint64_t bytes;
};

struct h2_dir {
	nghttp2_hd_inflater *inf;    /* NULL once the HPACK state is unknown */
	bool lost;                   /* its dynamic table is not (all) known: a primed
				      * inflater reads it (see inflater_primed) */
	bool dead;                   /* framing lost: everything after is ignored */
	size_t table_want;           /* SETTINGS_HEADER_TABLE_SIZE the other side sent, */
	bool table_pending;          /* applied when this direction acknowledges it */
	uint32_t max_frame;          /* what this direction's receiver accepts */
	uint32_t preface_left;
	/* the frame being read */
	uint8_t hdr[FRAME_HDR_LEN];
	uint8_t hdr_len;
	bool in_frame;
	uint64_t frame_ts;           /* chunk holding the frame's first byte */
	uint32_t len, off;
	uint8_t type, flags;
	uint32_t sid;
	uint8_t pre[6];              /* HEADERS / PUSH_PROMISE prefix (pad length, priority, id) */
	uint8_t pre_want, pre_have;
	uint32_t frag_end;           /* payload offset where padding starts */
	uint8_t ctl[H2_CTRL_MAX];
	uint32_t ctl_len;
	struct h2_block blk;
};

struct h2_stream {
	const char *proto;
	nghttp2_mem *mem;            /* the inflaters' allocator (NULL: libnghttp2's) */
	bool mid;
	struct h2_dir dir[2];
	struct h2_strm **streams;    /* open streams, unordered */
	struct h2_strm *spare;       /* the last one removed, for the next: a stream
				      * and its path were two mallocs and frees each */
	size_t n, cap;
	size_t hint;                 /* index of the last stream found */
	const struct http_sink *out; /* valid during feed/gap/free */
};

/* The method of a stream whose :method could not be read. */
static const char *const METHOD_UNKNOWN = "?";

/* ---- streams ---- */

static struct h2_strm *strm_find(struct h2_stream *s, uint32_t id)
{
	if (s->hint < s->n && s->streams[s->hint]->id == id)
		return s->streams[s->hint];
	for (size_t i = 0; i < s->n; i++)
		if (s->streams[i]->id == id) {
			s->hint = i;
			return s->streams[i];
		}
	return NULL;
}

static struct h2_strm *strm_new(struct h2_stream *s, uint32_t id, uint64_t ts)
{
	if (s->n >= H2_STREAMS_MAX) {
		s->out->cnt->h2_bounds++;
		return NULL;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct h2_strm **v = realloc(s->streams, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->streams = v;
		s->cap = cap;
	}
	struct h2_strm *st = s->spare;
	if (st) {
		char *buf = st->buf;
		size_t cap = st->buf_cap;

		s->spare = NULL;
		memset(st, 0, sizeof(*st));
		st->buf = buf;
		st->buf_cap = cap;
	} else if (!(st = calloc(1, sizeof(*st)))) {
		return NULL;
	}
	st->id = id;
	st->start_ns = st->end_ns = ts;
	st->grpc_status = -1;
	s->streams[s->n++] = st;
	return st;
}

static void strm_free(struct h2_strm *st)
{
	if (st) {
		free(st->buf);
		free(st);
	}
}

static void strm_remove(struct h2_stream *s, struct h2_strm *st)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->streams[i] == st) {
			s->streams[i] = s->streams[--s->n];
			break;
		}
	if (!s->spare) {
		s->spare = st;
		return;
	}
	strm_free(st);
}

static void strm_emit(struct h2_stream *s, struct h2_strm *st)
{
	struct http_txn t = {
		.start_ns = st->start_ns,
		.end_ns = st->end_ns,
		.bytes_in = st->bytes_in,
		.bytes_out = st->bytes_out,
		.status = st->status,
		.method = st->method[0] ? st->method : METHOD_UNKNOWN,
		.target = st->path ? st->path : H2_ROUTE_UNREADABLE,
		.target_len = st->path ? st->path_len : strlen(H2_ROUTE_UNREADABLE),
		.path_unknown = !st->path,
		.host = st->host,
		.host_len = st->host_len,
		.proto = s->proto,
		.grpc = st->grpc,
		.grpc_status = st->grpc_status,
	};
	s->out->cnt->txns++;
	s->out->txn(s->out->ctx, &t);
	strm_remove(s, st);
}

/*
 * A stream ends without both END_STREAMs: a complete response is a
 * transaction all the same (the server may stop reading an upload);
 * otherwise it is counted reset, and emitted only if its final headers
 * were in.
 */
static void strm_cut(struct h2_stream *s, struct h2_strm *st)
{
	if (st->resp_end) {
		strm_emit(s, st);
		return;
	}
	s->out->cnt->h2_reset++;
	if (st->resp_final) {
		strm_emit(s, st);
		return;
	}
	s->out->cnt->unpaired++;
	strm_remove(s, st);
}

static void strm_end(struct h2_stream *s, enum http_dir dir, struct h2_strm *st, uint64_t ts)
{
	if (dir == HTTP_DIR_REQ) {
		st->req_end = true;
	} else {
		st->resp_end = true;
		st->end_ns = ts;
	}
	if (st->req_end && st->resp_end)
		strm_emit(s, st);
}

/* ---- header fields ---- */

static void field_copy(char *dst, size_t cap, size_t *dst_len, const uint8_t *v, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	if (dst_len)
		*dst_len = n;
}

/* nv's name is the string literal lit (its length known at compile time) */
#define name_is(nv, lit) ((nv)->namelen == sizeof(lit) - 1 && !memcmp((nv)->name, lit, sizeof(lit) - 1))

static int parse_small_uint(const uint8_t *v, size_t n)
{
	int x = 0;
	if (!n || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

static void request_field(struct h2_strm *st, const nghttp2_nv *nv)
{
	if (name_is(nv, ":method")) {
		field_copy(st->method, sizeof(st->method), NULL, nv->value, nv->valuelen);
	} else if (name_is(nv, ":path")) {
		size_t n = nv->valuelen < HTTP_TARGET_MAX ? nv->valuelen : HTTP_TARGET_MAX;
		if (n + 1 > st->buf_cap) {
			char *p = realloc(st->buf, n + 1);
			if (!p)
				return;              /* the path stays as it was: unread, or the last */
			st->buf = p;
			st->buf_cap = n + 1;
		}
		memcpy(st->buf, nv->value, n);
		st->buf[n] = '\0';
		st->path = st->buf;
		st->path_len = n;
	} else if (name_is(nv, ":authority") || (name_is(nv, "host") && !st->host_len)) {
		field_copy(st->host, sizeof(st->host), &st->host_len, nv->value, nv->valuelen);
	} else if (name_is(nv, "content-type")) {
		st->grpc = nv->valuelen >= 16 && !memcmp(nv->value, "application/grpc", 16);
	}
}

static void response_field(struct h2_block *b, struct h2_strm *st, const nghttp2_nv *nv)
{
	if (name_is(nv, ":status")) {
		int v = parse_small_uint(nv->value, nv->valuelen);
		b->has_status = v >= 0;
		b->status = v >= 0 ? (uint16_t)v : 0;
	} else if (name_is(nv, "grpc-status") && st) {
		st->grpc_status = parse_small_uint(nv->value, nv->valuelen);
	} else if (name_is(nv, "content-type") && st && nv->valuelen >= 16 &&
		   !memcmp(nv->value, "application/grpc", 16)) {
		st->grpc = true;
	}
}

/* ---- header blocks ---- */

static nghttp2_hd_inflater *inflater_new(nghttp2_mem *mem)
{
	nghttp2_hd_inflater *inf = NULL;
	if (nghttp2_hd_inflate_new2(&inf, mem))
		return NULL;
	/* the peer may raise the table later; a larger one is refused */
	nghttp2_hd_inflate_change_table_size(inf, 4096);
	return inf;
}

/*
 * An inflater for a direction whose dynamic table is unknown (joined
 * mid-connection, or after a block it refused). Its table is filled first
 * with H2_PLACEHOLDERS entries named PLACEHOLDER_MARK + a number, made by
 * libnghttp2's own deflater: a reference to an entry from before l7top
 * decodes to one of them instead of failing, so the fields after it still
 * decode, and l7top knows which fields it could not read. Entries the peer
 * adds from now on take the newest indices in both tables, as they do in
 * the peer's, so references to them read exactly: the state rebuilds
 * itself as the connection goes on. NULL when out of memory.
 */
#define H2_PLACEHOLDERS  128
#define PLACEHOLDER_MARK ":?"

static nghttp2_hd_inflater *inflater_primed(nghttp2_mem *mem)
{
	nghttp2_hd_inflater *inf = NULL;
	nghttp2_hd_deflater *def = NULL;
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char names[H2_PLACEHOLDERS][6];
	nghttp2_nv nv[H2_PLACEHOLDERS];
	uint8_t blk[H2_PLACEHOLDERS * 8 + 16];
	int ok = 0;

	if (nghttp2_hd_inflate_new2(&inf, mem) || nghttp2_hd_deflate_new(&def, H2_TABLE_MAX))
		goto out;
	nghttp2_hd_inflate_change_table_size(inf, H2_TABLE_MAX);
	nghttp2_hd_deflate_change_table_size(def, H2_TABLE_MAX);
	for (int i = 0; i < H2_PLACEHOLDERS; i++) {
		/* oldest first: the last one is the newest, index 62 */
		snprintf(names[i], sizeof(names[i]), PLACEHOLDER_MARK "%c%c",
			 digits[i / 36], digits[i % 36]);
		nv[i] = (nghttp2_nv){ (uint8_t *)names[i], (uint8_t *)"", strlen(names[i]), 0,
				      NGHTTP2_NV_FLAG_NONE };
	}
	ssize_t n = nghttp2_hd_deflate_hd(def, blk, sizeof(blk), nv, H2_PLACEHOLDERS);
	const uint8_t *in = blk;
	while (n >= 0) {
		nghttp2_nv got;
		int flags = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(inf, &got, &flags, in, (size_t)n, 1);
		if (rv < 0)
			goto out;
		in += rv;
		n -= rv;
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(inf);
			ok = 1;
			break;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
			break;                   /* no end: not expected from a whole block */
	}
out:
	nghttp2_hd_deflate_del(def);
	if (!ok && inf) {
		nghttp2_hd_inflate_del(inf);
		inf = NULL;
	}
	return inf;
}

static bool is_placeholder(const nghttp2_nv *nv)
{
	return nv->namelen >= 2 && !memcmp(nv->name, PLACEHOLDER_MARK, 2);
}

/* The HPACK state of dir is unknown from now on: the next block starts a
 * primed inflater. */
static void dir_hpack_lost(struct h2_dir *d)
{
	if (d->inf) {
		nghttp2_hd_inflate_del(d->inf);
		d->inf = NULL;
	}
	d->lost = true;
}

static void block_start(struct h2_dir *d, nghttp2_mem *mem, bool for_request, uint32_t target)
{
	struct h2_block *b = &d->blk;
	memset(b, 0, sizeof(*b));
	b->open = true;
	b->for_request = for_request;
	b->sid = d->sid;
	b->target = target;
	b->end_stream = d->type == FT_HEADERS && (d->flags & FL_END_STREAM);
	if (!d->inf && d->lost)
		d->inf = inflater_primed(mem);
	if (!d->inf)
		b->failed = true;
}

static void block_field(struct h2_stream *s, struct h2_dir *d, const nghttp2_nv *nv)
{
	struct h2_block *b = &d->blk;
	if (is_placeholder(nv)) {
		b->unknown = true;           /* an entry from before l7top: unread */
		return;
	}
	struct h2_strm *st = strm_find(s, b->target);
	if (b->for_request) {
		if (st)
			request_field(st, nv);
	} else {
		response_field(b, st, nv);
	}
}

static void block_fail(struct h2_dir *d)
{
	d->blk.failed = true;
	dir_hpack_lost(d);
}

/* Decodes the next bytes of the open block; final when they end it. */
static void block_feed(struct h2_stream *s, struct h2_dir *d, const uint8_t *in, size_t n,
		       bool final)
{
	struct h2_block *b = &d->blk;
	nghttp2_hd_inflater *inf = d->inf;

	if (final)
		b->final_fed = true;
	if (b->failed || !inf)
		return;
	b->bytes += n;
	if (b->bytes > H2_HBLOCK_MAX) {
		s->out->cnt->h2_bounds++;
		block_fail(d);
		return;
	}
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, in, n, final);
		if (rv < 0) {
			block_fail(d);
			return;
		}
		in += rv;
		n -= (size_t)rv;
		if (flags & NGHTTP2_HD_INFLATE_EMIT)
			block_field(s, d, &nv);
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(inf);
			b->ok = true;
			return;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
			return;
	}
}

static void block_apply_response(struct h2_block *b, struct h2_strm *st)
{
	if (st->resp_final)
		return;                      /* trailers: grpc-status was taken */
	if (b->has_status && b->status < 200)
		return;                      /* interim (100, 103) */
	st->resp_final = true;
	st->status = b->has_status ? b->status : 0;
}

static void block_end(struct h2_stream *s, enum http_dir dir, uint64_t ts)
{
	struct h2_dir *d = &s->dir[dir];
	struct h2_block *b = &d->blk;

	if (!b->open)
		return;
	b->open = false;
	struct h2_strm *st = strm_find(s, b->target);
	if (!st)
		return;
	if ((!b->ok || b->unknown) && !st->unreadable) {
		st->unreadable = true;
		s->out->cnt->h2_unreadable++;
	}
	if (!b->for_request)
		block_apply_response(b, st);
	if (b->end_stream)
		strm_end(s, dir, st, ts);
}

/* ---- frames ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The stream a HEADERS frame opens or continues; NULL when untracked. */
static struct h2_strm *headers_stream(struct h2_stream *s, enum http_dir dir, uint32_t sid,
				      uint64_t ts)
{
	struct h2_strm *st = strm_find(s, sid);
	if (st || !sid)
		return st;
	if (dir == HTTP_DIR_REQ)
		return strm_new(s, sid, ts);
	/* An answer to a request sent before l7top attached: counted under
	 * the unreadable row, its latency from the response on. */
	if (!s->mid || !(sid & 1))
		return NULL;
	st = strm_new(s, sid, ts);
	if (st) {
		st->req_end = true;
		st->unreadable = true;
		s->out->cnt->h2_unreadable++;
	}
	return st;
}

static void frame_prefix_done(struct h2_stream *s, enum http_dir dir);

static void frame_begin(struct h2_stream *s, enum http_dir dir)
{
	struct h2_dir *d = &s->dir[dir];
	struct h2_strm *st;

	if (d->blk.open && (d->type != FT_CONTINUATION || d->sid != d->blk.sid)) {
		/* a block cut short: the inflater is in the middle of it */
		block_fail(d);
		block_end(s, dir, d->frame_ts);
	}
	st = d->type == FT_HEADERS ? headers_stream(s, dir, d->sid, d->frame_ts)
				   : strm_find(s, d->sid);
	if (st && d->sid) {
		if (dir == HTTP_DIR_REQ)
			st->bytes_in += FRAME_HDR_LEN + d->len;
		else
			st->bytes_out += FRAME_HDR_LEN + d->len;
	}
	d->pre_have = 0;
	d->pre_want = 0;
	d->ctl_len = 0;
	d->frag_end = d->len;
	if (d->type == FT_HEADERS)
		d->pre_want = (d->flags & FL_PADDED ? 1 : 0) + (d->flags & FL_PRIORITY ? 5 : 0);
	else if (d->type == FT_PUSH_PROMISE)
		d->pre_want = (d->flags & FL_PADDED ? 1 : 0) + 4;
	if (d->pre_want > d->len) {
		d->dead = true;              /* not HTTP/2 as the RFC writes it */
		return;
	}
	if (!d->pre_want && (d->type == FT_HEADERS || d->type == FT_CONTINUATION))
		frame_prefix_done(s, dir);
}

/* Prefix read: padding known, and the block (HEADERS, PUSH_PROMISE) opens. */
static void frame_prefix_done(struct h2_stream *s, enum http_dir dir)
{
	struct h2_dir *d = &s->dir[dir];
	uint32_t pad = d->flags & FL_PADDED ? d->pre[0] : 0;

	if (pad > d->len - d->pre_want) {
		d->dead = true;
		return;
	}
	d->frag_end = d->len - pad;
	if (d->type == FT_HEADERS) {
		block_start(d, s->mem, dir == HTTP_DIR_REQ, d->sid);
	} else if (d->type == FT_PUSH_PROMISE) {
		uint32_t promised = be32(d->pre + d->pre_want - 4) & 0x7fffffff;
		struct h2_strm *st = strm_find(s, promised);
		if (!st && (st = strm_new(s, promised, d->frame_ts)))
			st->req_end = true;  /* a pushed stream has no request frames */
		block_start(d, s->mem, true, promised);
	}
}

static void frame_payload(struct h2_stream *s, enum http_dir dir, const uint8_t *p, uint32_t n)
{
	struct h2_dir *d = &s->dir[dir];

	if (d->type == FT_SETTINGS || d->type == FT_RST_STREAM || d->type == FT_GOAWAY) {
		uint32_t room = H2_CTRL_MAX - d->ctl_len;
		uint32_t k = n < room ? n : room;
		memcpy(d->ctl + d->ctl_len, p, k);
		d->ctl_len += k;
		return;
	}
	if (d->type != FT_HEADERS && d->type != FT_PUSH_PROMISE && d->type != FT_CONTINUATION)
		return;
	uint32_t off = d->off;
	while (n && d->pre_have < d->pre_want) {
		d->pre[d->pre_have++] = *p++;
		n--;
		off++;
		if (d->pre_have == d->pre_want)
			frame_prefix_done(s, dir);
	}
	if (d->dead || !d->blk.open || off >= d->frag_end)
		return;
	uint32_t k = n < d->frag_end - off ? n : d->frag_end - off;
	bool last = off + k == d->frag_end && (d->flags & FL_END_HEADERS);
	block_feed(s, d, p, k, last);
}

/*
 * SETTINGS govern what their sender receives: the other direction. A new
 * SETTINGS_HEADER_TABLE_SIZE binds the other side's encoder once it has
 * acknowledged it (its blocks before the ACK still use the old size), so it
 * reaches that direction's inflater at the ACK, which comes in that
 * direction, never inside one of its header blocks.
 */
static void settings_apply(struct h2_stream *s, enum http_dir dir)
{
	struct h2_dir *d = &s->dir[dir];
	struct h2_dir *other = &s->dir[!dir];

	if (d->flags & FL_ACK) {
		if (d->table_pending && d->inf && !d->lost)
			nghttp2_hd_inflate_change_table_size(d->inf, d->table_want);
		d->table_pending = false;
		return;
	}
	for (uint32_t i = 0; i + 6 <= d->ctl_len; i += 6) {
		uint16_t id = (uint16_t)(d->ctl[i] << 8 | d->ctl[i + 1]);
		uint32_t v = be32(d->ctl + i + 2);
		if (id == SETTINGS_HEADER_TABLE_SIZE) {
			if (v > H2_TABLE_MAX) {
				s->out->cnt->h2_bounds++;
				v = H2_TABLE_MAX;   /* a table used beyond it is refused */
			}
			other->table_want = v;
			other->table_pending = true;
		} else if (id == SETTINGS_MAX_FRAME_SIZE && v >= FRAME_DEFAULT_MAX && v <= FRAME_LIMIT) {
			other->max_frame = v;
		}
	}
}

/* GOAWAY: the sender will not process streams the other side opened
 * after last_id; those end as refused. */
static void goaway_apply(struct h2_stream *s, enum http_dir dir)
{
	struct h2_dir *d = &s->dir[dir];
	if (d->ctl_len < 8)
		return;
	uint32_t last = be32(d->ctl) & 0x7fffffff;
	/* client-opened streams are odd, pushed ones even */
	uint32_t parity = dir == HTTP_DIR_RESP ? 1 : 0;
	for (size_t i = 0; i < s->n;) {
		struct h2_strm *st = s->streams[i];
		if ((st->id & 1) == parity && st->id > last)
			strm_cut(s, st);     /* swaps the last one in at i */
		else
			i++;
	}
}

static void frame_end(struct h2_stream *s, enum http_dir dir, uint64_t ts)
{
	struct h2_dir *d = &s->dir[dir];
	struct h2_strm *st;

	d->in_frame = false;
	d->hdr_len = 0;
	/* a stream cut short ends at its last response bytes seen */
	if (dir == HTTP_DIR_RESP && d->sid && (st = strm_find(s, d->sid)))
		st->end_ns = ts;
	switch (d->type) {
	case FT_HEADERS:
	case FT_PUSH_PROMISE:
	case FT_CONTINUATION:
		if (!d->blk.open || !(d->flags & FL_END_HEADERS))
			break;
		if (!d->blk.final_fed)
			block_feed(s, d, NULL, 0, true);
		block_end(s, dir, ts);
		break;
	case FT_DATA:
		if ((d->flags & FL_END_STREAM) && (st = strm_find(s, d->sid)))
			strm_end(s, dir, st, ts);
		break;
	case FT_RST_STREAM:
		if ((st = strm_find(s, d->sid)))
			strm_cut(s, st);
		break;
	case FT_SETTINGS:
		settings_apply(s, dir);
		break;
	case FT_GOAWAY:
		goaway_apply(s, dir);
		break;
	default:
		break;                       /* PRIORITY, PING, WINDOW_UPDATE, unknown */
	}
}

static void frame_header_done(struct h2_stream *s, enum http_dir dir)
{
	struct h2_dir *d = &s->dir[dir];
	d->len = (uint32_t)d->hdr[0] << 16 | (uint32_t)d->hdr[1] << 8 | d->hdr[2];
	d->type = d->hdr[3];
	d->flags = d->hdr[4];
	d->sid = be32(d->hdr + 5) & 0x7fffffff;
	d->off = 0;
	d->in_frame = true;
	if (d->len > d->max_frame) {
		d->dead = true;              /* over what the receiver accepts: not h2 */
		return;
	}
	frame_begin(s, dir);
}

/* Drops every open stream: the framing is gone, their ends will not be seen. */
static void streams_lost(struct h2_stream *s)
{
	while (s->n) {
		s->out->cnt->unpaired++;
		strm_remove(s, s->streams[0]);
	}
}

static void dir_kill(struct h2_stream *s, uint64_t *why)
{
	if (s->dir[0].dead && s->dir[1].dead)
		return;
	s->dir[0].dead = s->dir[1].dead = true;
	(*why)++;
	streams_lost(s);
}

static size_t feed_preface(struct h2_stream *s, struct h2_dir *d, const uint8_t *p, size_t n)
{
	size_t at = H2_PREFACE_LEN - d->preface_left;
	size_t k = n < d->preface_left ? n : d->preface_left;
	if (memcmp(p, H2_PREFACE + at, k)) {
		dir_kill(s, &s->out->cnt->parse_errors);
		return n;
	}
	d->preface_left -= (uint32_t)k;
	return k;
}

void h2_stream_feed(struct h2_stream *s, enum http_dir dir, const uint8_t *buf, size_t len,
		    uint64_t ts_ns, const struct http_sink *out)
{
	struct h2_dir *d = &s->dir[dir];

	s->out = out;
	while (len && !d->dead) {
		if (d->preface_left) {
			size_t k = feed_preface(s, d, buf, len);
			buf += k;
			len -= k;
			continue;
		}
		if (!d->in_frame) {
			size_t k = FRAME_HDR_LEN - d->hdr_len;
			if (k > len)
				k = len;
			if (!d->hdr_len)
				d->frame_ts = ts_ns;
			memcpy(d->hdr + d->hdr_len, buf, k);
			d->hdr_len = (uint8_t)(d->hdr_len + k);
			buf += k;
			len -= k;
			if (d->hdr_len == FRAME_HDR_LEN)
				frame_header_done(s, dir);
		} else {
			uint32_t k = d->len - d->off;
			if (k > len)
				k = (uint32_t)len;
			frame_payload(s, dir, buf, k);
			d->off += k;
			buf += k;
			len -= k;
		}
		if (d->in_frame && d->off == d->len && !d->dead)
			frame_end(s, dir, ts_ns);
		if (d->dead)
			dir_kill(s, &out->cnt->parse_errors);
	}
	s->out = NULL;
}

void h2_stream_gap(struct h2_stream *s, enum http_dir dir, uint64_t len, uint64_t ts_ns,
		   const struct http_sink *out)
{
	struct h2_dir *d = &s->dir[dir];

	if (d->dead || !len)
		return;
	s->out = out;
	if (d->in_frame && d->type == FT_DATA && len <= d->len - d->off) {
		d->off += (uint32_t)len;
		if (d->off == d->len)
			frame_end(s, dir, ts_ns);
	} else {
		dir_kill(s, &out->cnt->gaps);
	}
	s->out = NULL;
}

uint64_t h2_stream_body_left(const struct h2_stream *s, enum http_dir dir)
{
	const struct h2_dir *d = &s->dir[dir];
	if (d->dead || !d->in_frame || d->type != FT_DATA)
		return 0;
	return d->len - d->off;
}

struct h2_stream *h2_stream_new(const char *proto, bool expect_preface, bool mid, nghttp2_mem *mem)
{
	struct h2_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->proto = proto;
	s->mem = mem;
	s->mid = mid;
	for (int i = 0; i < 2; i++) {
		s->dir[i].max_frame = FRAME_DEFAULT_MAX;
		s->dir[i].lost = mid;
		s->dir[i].inf = mid ? inflater_primed(mem) : inflater_new(mem);
		if (!s->dir[i].inf) {
			h2_stream_free(s, NULL);
			return NULL;
		}
	}
	if (expect_preface)
		s->dir[HTTP_DIR_REQ].preface_left = H2_PREFACE_LEN;
	return s;
}

void h2_stream_free(struct h2_stream *s, const struct http_sink *out)
{
	if (!s)
		return;
	s->out = out;
	while (s->n) {
		if (out)
			strm_cut(s, s->streams[0]);
		else
			strm_remove(s, s->streams[0]);
	}
	for (int i = 0; i < 2; i++) {
		if (s->dir[i].inf)
			nghttp2_hd_inflate_del(s->dir[i].inf);
	}
	strm_free(s->spare);
	free(s->streams);
	free(s);
}

size_t h2_stream_open(const struct h2_stream *s)
{
	return s->n;
}

bool h2_stream_dead(const struct h2_stream *s)
{
	return s->dir[0].dead && s->dir[1].dead;
}

bool h2_preface_start(const uint8_t *buf, size_t len)
{
	size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
	return n && !memcmp(buf, H2_PREFACE, n);
}

/* Is this frame header one a peer would send? */
static bool frame_header_plausible(const uint8_t *h)
{
	uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
	uint32_t sid = be32(h + 5) & 0x7fffffff;

	if (len > FRAME_DEFAULT_MAX || h[3] > FT_CONTINUATION || (h[5] & 0x80))
		return false;
	switch (h[3]) {
	case FT_SETTINGS:
		return !sid && len % 6 == 0;
	case FT_PING:
		return !sid && len == 8;
	case FT_GOAWAY:
		return !sid && len >= 8;
	case FT_WINDOW_UPDATE:
		return len == 4;
	case FT_RST_STREAM:
		return sid && len == 4;
	case FT_PRIORITY:
		return sid && len == 5;
	default:
		return sid != 0;             /* DATA, HEADERS, PUSH_PROMISE, CONTINUATION */
	}
}

bool h2_frames_plausible(const uint8_t *buf, size_t len)
{
	size_t off = 0;
	if (len < FRAME_HDR_LEN)
		return false;
	while (off + FRAME_HDR_LEN <= len) {
		const uint8_t *h = buf + off;
		if (!frame_header_plausible(h))
			return false;
		off += FRAME_HDR_LEN + ((uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2]);
	}
	return true;
}
