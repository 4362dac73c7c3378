/* SPDX-License-Identifier: MIT */
/*
 * h2_stream: the HTTP/2 exchange of one TCP connection, beside http_stream
 * and producing the same struct http_txn, one per stream. Pure: bytes of
 * each direction in (already in order: reassembled, decrypted, or read in
 * the process), transactions out; no globals, no I/O.
 *
 * Frames are read incrementally (any split of the bytes gives the same
 * result). Header blocks (HEADERS, PUSH_PROMISE, CONTINUATION; padding and
 * priority stripped) go to one libnghttp2 HPACK inflater per direction, fed
 * fragment by fragment as they arrive, so no header block is ever buffered.
 *
 * What a transaction measures:
 *  - start: timestamp of the chunk holding the first byte of the request's
 *    HEADERS frame (of the PUSH_PROMISE for a pushed stream);
 *  - end:   timestamp of the chunk holding the last byte of the response's
 *    END_STREAM frame (its last CONTINUATION when headers end it);
 *  - bytes_in / bytes_out: frame headers + payloads (padding included) of
 *    every frame on the stream in each direction. Connection-level frames
 *    (stream 0: SETTINGS, PING, GOAWAY, WINDOW_UPDATE 0) belong to no stream.
 *
 * A stream reset (RST_STREAM from either side), refused by a GOAWAY, or
 * still open when the connection ends is counted in h2_reset. One whose
 * final response headers had arrived is emitted with that status and the
 * bytes seen, as the server logs it; one without is not a transaction (it
 * also counts in unpaired, as an unanswered HTTP/1.x request does).
 *
 * When the HPACK state is unknown (attached mid-connection, or after a
 * block the inflater refused), the direction is read with an inflater whose
 * table is first filled with placeholder entries: a reference to an entry
 * from before l7top reads as unknown instead of breaking the block, so the
 * fields around it decode exactly, and entries added from then on read
 * exactly (the state rebuilds itself). Such streams are still emitted:
 * their :status when readable, their path when readable, else the route
 * H2_ROUTE_UNREADABLE, the method "?" when unknown; each counts once in
 * h2_unreadable.
 */
#ifndef L7TOP_H2_STREAM_H
#define L7TOP_H2_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "collector/http_stream.h"

#define H2_STREAMS_MAX   512        /* open streams tracked per connection */
#define H2_HBLOCK_MAX    (1u << 20) /* header block bytes decoded per block */
#define H2_TABLE_MAX     65536      /* HPACK dynamic table bytes per direction */
#define H2_CTRL_MAX      512        /* SETTINGS/RST_STREAM/GOAWAY payload bytes read */

#define H2_PREFACE       "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN   24

/* The route of a stream whose :path could not be read. */
#define H2_ROUTE_UNREADABLE "(h2: attached mid-connection)"

struct h2_stream;

/*
 * A reader for one connection. proto is what its transactions say
 * ("h2" over TLS, "h2c" in cleartext; a static string). With
 * expect_preface the client direction starts with the connection preface
 * (which is skipped, and required); without it both directions start at a
 * frame boundary (after an h2c upgrade's 101, or attached mid-connection).
 * mid: the HPACK state of both directions is unknown (see above), and a
 * response on a stream whose request came before l7top is still counted.
 * mem: the HPACK inflaters' allocator (hpack_pool_mem(); NULL: libnghttp2's
 * own), to outlive the reader. NULL when out of memory.
 */
struct h2_stream *h2_stream_new(const char *proto, bool expect_preface, bool mid, nghttp2_mem *mem);
/* Ends the connection: open streams are counted as h2_stream.h says. */
void h2_stream_free(struct h2_stream *s, const struct http_sink *out);
void h2_stream_feed(struct h2_stream *s, enum http_dir dir, const uint8_t *buf, size_t len,
		    uint64_t ts_ns, const struct http_sink *out);
/*
 * len bytes of dir were not captured. Inside a DATA frame payload they are
 * only counted; anywhere else the framing of that direction is lost for
 * good (counted in gaps) and its open streams end as reset ones do.
 */
void h2_stream_gap(struct h2_stream *s, enum http_dir dir, uint64_t len, uint64_t ts_ns,
		   const struct http_sink *out);
/* Bytes of the current DATA frame of dir still to come (skippable). */
uint64_t h2_stream_body_left(const struct h2_stream *s, enum http_dir dir);
/* Streams open now (for tests and bounds). */
size_t h2_stream_open(const struct h2_stream *s);
/* True once both directions ignore everything (framing lost). */
bool h2_stream_dead(const struct h2_stream *s);

/* Does buf start with (a prefix of, when shorter) the client preface? */
bool h2_preface_start(const uint8_t *buf, size_t len);
/*
 * Do the len bytes of buf look like whole HTTP/2 frames starting at a frame
 * boundary (known types, lengths within the default maximum, the last one
 * possibly cut)? How a stream seen mid-connection is recognised.
 */
bool h2_frames_plausible(const uint8_t *buf, size_t len);

#endif
