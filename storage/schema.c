// SPDX-License-Identifier: MIT
#include "storage/schema.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/hist.h"
#include "collector/snapshot.h"
#include "storage/store.h"

/*
 * Version 1. The comments stay in sqlite_master, so `.schema` in the sqlite3
 * shell shows the same documentation as this file.
 */
static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS sessions (  -- one row per l7top run\n"
	"  id         INTEGER PRIMARY KEY,\n"
	"  started_ms INTEGER NOT NULL, -- unix ms when the run started\n"
	"  ended_ms   INTEGER,          -- unix ms of a clean exit; NULL while running or after a crash\n"
	"  target     TEXT,             -- command line of the first target process\n"
	"  pids       TEXT,             -- target pids, \"1234,1240\"\n"
	"  version    TEXT,             -- l7top version that wrote the session\n"
	"  settings   TEXT              -- free text, \"interval=1s tls=auto ...\"\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS endpoints (  -- every endpoint ever seen, shared by sessions\n"
	"  id     INTEGER PRIMARY KEY,\n"
	"  method TEXT NOT NULL,        -- \"GET\", \"POST\", ...\n"
	"  route  TEXT NOT NULL,        -- folded route (\"/users/:id\"); no query string; non-printable bytes %XX-encoded\n"
	"  UNIQUE (method, route)\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS intervals (  -- one row per session and interval\n"
	"  session_id       INTEGER NOT NULL, -- sessions.id\n"
	"  ts_ms            INTEGER NOT NULL, -- interval start, unix ms\n"
	"  dur_ms           INTEGER NOT NULL, -- interval length, ms\n"
	"  requests         INTEGER NOT NULL, -- requests of all endpoints in the interval\n"
	"  packets          INTEGER, -- segments that reached user space\n"
	"  kernel_drops     INTEGER, -- lost between kernel and l7top (ring full)\n"
	"  parse_errors     INTEGER, -- connections whose bytes were not HTTP/1.x\n"
	"  unpaired         INTEGER, -- responses without request, requests never answered\n"
	"  reasm_gaps       INTEGER, -- byte ranges never seen (capture loss, bound hit)\n"
	"  conn_overflow    INTEGER, -- connections not tracked: table full\n"
	"  ep_overflow      INTEGER, -- requests folded into the OTHER endpoint\n"
	"  pending_overflow INTEGER, -- pipelined requests beyond the per-connection bound\n"
	"  conns_open       INTEGER, -- open connections at the end of the interval\n"
	"  PRIMARY KEY (session_id, ts_ms)\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS endpoint_stats (  -- one row per session, interval and endpoint\n"
	"  session_id  INTEGER NOT NULL, -- sessions.id\n"
	"  ts_ms       INTEGER NOT NULL, -- interval start, unix ms (as intervals.ts_ms)\n"
	"  dur_ms      INTEGER NOT NULL, -- interval length, ms\n"
	"  endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),\n"
	"  requests    INTEGER, -- requests answered in the interval\n"
	"  s1xx        INTEGER, -- responses by status class\n"
	"  s2xx        INTEGER,\n"
	"  s3xx        INTEGER,\n"
	"  s4xx        INTEGER,\n"
	"  s5xx        INTEGER,\n"
	"  bytes_in    INTEGER, -- request bytes as they crossed the wire\n"
	"  bytes_out   INTEGER, -- response bytes incl. headers and chunk framing\n"
	"  lat_sum_us  INTEGER, -- sum of latencies, µs (avg = lat_sum_us / requests)\n"
	"  lat_max_us  INTEGER, -- largest latency, µs\n"
	"  hist        BLOB,    -- latency histogram, µs: merge with hist_merge(), read with hist_quantile()\n"
	"  PRIMARY KEY (session_id, ts_ms, endpoint_id)\n"
	");\n"
	"CREATE INDEX IF NOT EXISTS endpoint_stats_ts ON endpoint_stats(ts_ms);\n"
	"CREATE VIEW IF NOT EXISTS endpoint_stats_v AS  -- endpoint_stats for people; time is UTC\n"
	"  SELECT datetime(s.ts_ms / 1000, 'unixepoch') AS time, e.method, e.route,\n"
	"         s.requests, s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx, s.bytes_in, s.bytes_out,\n"
	"         round(s.lat_sum_us / 1000.0 / nullif(s.requests, 0), 3) AS avg_ms,\n"
	"         round(s.lat_max_us / 1000.0, 3) AS max_ms\n"
	"  FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id;\n";

/*
 * Version 1 → 2: virtual hosts, the request log, rollup and more counters.
 *
 * endpoints gains host and UNIQUE (host, method, route); SQLite cannot change
 * a UNIQUE constraint in place, so the table is rebuilt keeping every id
 * (schema_migrate() turns foreign keys off around the transaction, as the
 * SQLite ALTER TABLE documentation prescribes). endpoint_stats is rebuilt
 * WITHOUT ROWID keyed by time first: range scans, retention and rollup all
 * walk it by ts_ms, and the old table paid for a rowid, its primary-key index
 * and a ts_ms index on every row. The view is dropped first because RENAME
 * re-checks every view that names a table.
 */
static const char schema_v2[] =
	"DROP VIEW IF EXISTS endpoint_stats_v;\n"
	"ALTER TABLE sessions ADD COLUMN capture TEXT;  -- \"plain\", \"tls\", \"plain+tls\", \"pcap\"\n"
	"CREATE TABLE endpoints_v2 (  -- every endpoint ever seen, shared by sessions\n"
	"  id     INTEGER PRIMARY KEY,\n"
	"  host   TEXT NOT NULL DEFAULT '', -- virtual host (Host header, lower-cased, no port); '' without Host; '*' = hosts over the bound\n"
	"  method TEXT NOT NULL,        -- \"GET\", \"POST\", ...\n"
	"  route  TEXT NOT NULL,        -- folded route (\"/users/{id}\"); no query string; non-printable bytes %XX-encoded\n"
	"  UNIQUE (host, method, route)\n"
	");\n"
	"INSERT INTO endpoints_v2 (id, host, method, route) SELECT id, '', method, route FROM endpoints;\n"
	"DROP TABLE endpoints;\n"
	"ALTER TABLE endpoints_v2 RENAME TO endpoints;\n"
	"ALTER TABLE intervals ADD COLUMN conns_new     INTEGER; -- connections opened in the interval\n"
	"ALTER TABLE intervals ADD COLUMN tls_drops     INTEGER; -- TLS events lost: ring buffer full\n"
	"ALTER TABLE intervals ADD COLUMN reqs_skipped  INTEGER; -- request-log rows over the rows-per-interval cap\n"
	"ALTER TABLE intervals ADD COLUMN host_overflow INTEGER; -- requests whose host was folded into '*'\n"
	"CREATE INDEX intervals_ts ON intervals(ts_ms);\n"
	"CREATE INDEX intervals_raw ON intervals(ts_ms) WHERE dur_ms < 60000;  -- rows rollup has yet to merge\n"
	"CREATE TABLE endpoint_stats_v2 (  -- one row per session, interval (or minute) and endpoint\n"
	"  session_id  INTEGER NOT NULL, -- sessions.id\n"
	"  ts_ms       INTEGER NOT NULL, -- interval start, unix ms (as intervals.ts_ms)\n"
	"  dur_ms      INTEGER NOT NULL, -- interval length, ms; 60000 = a per-minute rollup row\n"
	"  endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),\n"
	"  requests    INTEGER, -- requests answered in the interval\n"
	"  s1xx        INTEGER, -- responses by status class\n"
	"  s2xx        INTEGER,\n"
	"  s3xx        INTEGER,\n"
	"  s4xx        INTEGER,\n"
	"  s5xx        INTEGER,\n"
	"  bytes_in    INTEGER, -- request bytes as they crossed the wire\n"
	"  bytes_out   INTEGER, -- response bytes incl. headers and chunk framing\n"
	"  lat_sum_us  INTEGER, -- sum of latencies, µs (avg = lat_sum_us / requests)\n"
	"  lat_max_us  INTEGER, -- largest latency, µs\n"
	"  hist        BLOB,    -- latency histogram, µs: merge with hist_merge(), read with hist_quantile()\n"
	"  p99_us      INTEGER, -- p99 of this row's histogram, µs, for plain SQL (max() of it over rows is an upper estimate)\n"
	"  PRIMARY KEY (ts_ms, session_id, endpoint_id)\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO endpoint_stats_v2 SELECT session_id, ts_ms, dur_ms, endpoint_id, requests,\n"
	"  s1xx, s2xx, s3xx, s4xx, s5xx, bytes_in, bytes_out, lat_sum_us, lat_max_us, hist,\n"
	"  min(hist_quantile(hist, 0.99), lat_max_us) FROM endpoint_stats;\n"
	"DROP TABLE endpoint_stats;\n"
	"ALTER TABLE endpoint_stats_v2 RENAME TO endpoint_stats;\n"
	"CREATE TABLE requests (  -- the request log: errors and slow requests, one row each\n"
	"  id          INTEGER PRIMARY KEY,\n"
	"  session_id  INTEGER NOT NULL, -- sessions.id\n"
	"  ts_ms       INTEGER NOT NULL, -- request start, unix ms\n"
	"  endpoint_id INTEGER NOT NULL REFERENCES endpoints(id), -- host, method and route\n"
	"  path        TEXT,    -- the path as sent, never a query string\n"
	"  status      INTEGER, -- response status code\n"
	"  latency_us  INTEGER, -- request start to response end, µs\n"
	"  bytes_in    INTEGER,\n"
	"  bytes_out   INTEGER,\n"
	"  client      TEXT,    -- \"addr:port\" of the client, '' when unknown\n"
	"  pid         INTEGER  -- server worker pid, 0 when unknown\n"
	");\n"
	"CREATE INDEX requests_ts ON requests(ts_ms);\n"
	"CREATE VIEW endpoint_stats_v AS  -- endpoint_stats for people; time is UTC\n"
	"  SELECT datetime(s.ts_ms / 1000, 'unixepoch') AS time, s.dur_ms, e.host, e.method, e.route,\n"
	"         s.requests, s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx, s.bytes_in, s.bytes_out,\n"
	"         round(s.lat_sum_us / 1000.0 / nullif(s.requests, 0), 3) AS avg_ms,\n"
	"         round(s.p99_us / 1000.0, 3) AS p99_ms,\n"
	"         round(s.lat_max_us / 1000.0, 3) AS max_ms\n"
	"  FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id;\n"
	"CREATE VIEW requests_v AS  -- the request log for people; time is UTC\n"
	"  SELECT strftime('%Y-%m-%dT%H:%M:%fZ', r.ts_ms / 1000.0, 'unixepoch') AS time, e.host,\n"
	"         e.method, e.route, r.path, r.status, round(r.latency_us / 1000.0, 3) AS latency_ms,\n"
	"         r.bytes_in, r.bytes_out, r.client, r.pid, r.session_id\n"
	"  FROM requests r JOIN endpoints e ON e.id = r.endpoint_id;\n";

/* Version 3: what happened during a run, for whoever reads the rows later. */
static const char schema_v3[] =
	"ALTER TABLE sessions ADD COLUMN notes TEXT;  -- events of the run, '; '-separated: DB write"
	" failures and recoveries, target exits and restarts (NULL: none)\n";

/*
 * v3 -> v4: HTTP/2. An endpoint row also names its protocol (rows written
 * before are HTTP/1.x of an unknown minor version: ''), the request log keeps
 * a gRPC status, intervals the h2 counters.
 */
static const char schema_v4[] =
	"DROP VIEW IF EXISTS endpoint_stats_v;\n"
	"DROP VIEW IF EXISTS requests_v;\n"
	"CREATE TABLE endpoints_v3 (  -- every endpoint ever seen, shared by sessions\n"
	"  id       INTEGER PRIMARY KEY,\n"
	"  host     TEXT NOT NULL DEFAULT '', -- virtual host (Host or :authority, lower-cased, no port); '' without; '*' = hosts over the bound\n"
	"  method   TEXT NOT NULL,        -- \"GET\", \"POST\", ...\n"
	"  route    TEXT NOT NULL,        -- folded route (\"/users/{id}\"), a gRPC method as is; no query string; non-printable bytes %XX-encoded\n"
	"  protocol TEXT NOT NULL DEFAULT '', -- \"http/1.0\", \"http/1.1\", \"h2\" (TLS), \"h2c\" (cleartext); '' = HTTP/1.x stored before v3\n"
	"  UNIQUE (host, method, route, protocol)\n"
	");\n"
	"INSERT INTO endpoints_v3 (id, host, method, route) SELECT id, host, method, route FROM endpoints;\n"
	"DROP TABLE endpoints;\n"
	"ALTER TABLE endpoints_v3 RENAME TO endpoints;\n"
	"ALTER TABLE requests ADD COLUMN grpc_status INTEGER; -- gRPC status from the trailers; NULL when not gRPC or none came\n"
	"ALTER TABLE intervals ADD COLUMN h2_unreadable INTEGER; -- h2 streams whose headers the HPACK state could not read\n"
	"ALTER TABLE intervals ADD COLUMN h2_reset      INTEGER; -- h2 streams reset, refused by GOAWAY or cut by a close\n"
	"ALTER TABLE intervals ADD COLUMN h2_bounds     INTEGER; -- h2 streams / header blocks / HPACK tables over a bound\n"
	"CREATE VIEW endpoint_stats_v AS  -- endpoint_stats for people; time is UTC\n"
	"  SELECT datetime(s.ts_ms / 1000, 'unixepoch') AS time, s.dur_ms, e.host, e.method, e.route,\n"
	"         e.protocol, s.requests, s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx, s.bytes_in, s.bytes_out,\n"
	"         round(s.lat_sum_us / 1000.0 / nullif(s.requests, 0), 3) AS avg_ms,\n"
	"         round(s.p99_us / 1000.0, 3) AS p99_ms,\n"
	"         round(s.lat_max_us / 1000.0, 3) AS max_ms\n"
	"  FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id;\n"
	"CREATE VIEW requests_v AS  -- the request log for people; time is UTC\n"
	"  SELECT strftime('%Y-%m-%dT%H:%M:%fZ', r.ts_ms / 1000.0, 'unixepoch') AS time, e.host,\n"
	"         e.method, e.route, e.protocol, r.path, r.status, r.grpc_status,\n"
	"         round(r.latency_us / 1000.0, 3) AS latency_ms,\n"
	"         r.bytes_in, r.bytes_out, r.client, r.pid, r.session_id\n"
	"  FROM requests r JOIN endpoints e ON e.id = r.endpoint_id;\n";

/*
 * Version 4 → 5: requests whose client left before the response (NGINX
 * logs them 400 or 499), clients that left inside a request line, and the
 * route prefixes whose next segment was folded by learning.
 */
static const char schema_v5[] =
	"DROP VIEW IF EXISTS endpoint_stats_v;\n"
	"ALTER TABLE endpoint_stats ADD COLUMN aborted INTEGER NOT NULL DEFAULT 0;"
	" -- requests whose client left before the response (counted in requests, in no status class)\n"
	"ALTER TABLE intervals ADD COLUMN partial_reqs INTEGER; -- clients that sent part of a request line and left\n"
	"CREATE TABLE folds (  -- learned folding: the segment after prefix is a placeholder\n"
	"  prefix     TEXT PRIMARY KEY, -- folded route up to the folded segment, e.g. \"/u/\"\n"
	"  learned_ms INTEGER NOT NULL  -- unix ms when l7top learned it\n"
	");\n"
	"CREATE VIEW endpoint_stats_v AS  -- endpoint_stats for people; time is UTC\n"
	"  SELECT datetime(s.ts_ms / 1000, 'unixepoch') AS time, s.dur_ms, e.host, e.method, e.route,\n"
	"         e.protocol, s.requests, s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx, s.aborted, s.bytes_in,\n"
	"         s.bytes_out,\n"
	"         round(s.lat_sum_us / 1000.0 / nullif(s.requests - s.aborted, 0), 3) AS avg_ms,\n"
	"         round(s.p99_us / 1000.0, 3) AS p99_ms,\n"
	"         round(s.lat_max_us / 1000.0, 3) AS max_ms\n"
	"  FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id;\n";

/* Version 6: the target's own outgoing calls (reverse proxies), per backend
 * and per backend x inbound route; rows stay per interval until retention
 * removes them (rollup does not merge them). */
static const char schema_v6[] =
	"CREATE TABLE upstreams (  -- every backend the target called, shared by sessions\n"
	"  id   INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE  -- \"addr:port\" (\"[v6]:port\"); '*' = backends over the bound\n"
	");\n"
	"CREATE TABLE upstream_stats (  -- one row per session, interval and backend\n"
	"  session_id      INTEGER NOT NULL, -- sessions.id\n"
	"  ts_ms           INTEGER NOT NULL, -- interval start, unix ms (as intervals.ts_ms)\n"
	"  dur_ms          INTEGER NOT NULL,\n"
	"  upstream_id     INTEGER NOT NULL REFERENCES upstreams(id),\n"
	"  requests        INTEGER, -- calls answered\n"
	"  s1xx            INTEGER, -- answers by status class\n"
	"  s2xx            INTEGER,\n"
	"  s3xx            INTEGER,\n"
	"  s4xx            INTEGER,\n"
	"  s5xx            INTEGER,\n"
	"  no_answer       INTEGER, -- calls whose connection the target closed unanswered (NGINX: 504)\n"
	"  connect_failed  INTEGER, -- connects answered by RST (NGINX: 502)\n"
	"  bytes_sent      INTEGER, -- requests as they crossed the wire\n"
	"  bytes_received  INTEGER, -- responses\n"
	"  lat_max_us      INTEGER, -- largest call latency, µs\n"
	"  hist            BLOB,    -- call latency histogram, µs (hist_merge / hist_quantile)\n"
	"  connects        INTEGER, -- new connections whose handshake was seen\n"
	"  connects_unseen INTEGER, -- new connections without a visible handshake\n"
	"  connect_hist    BLOB,    -- SYN -> SYN/ACK, µs\n"
	"  reused          INTEGER, -- calls on a connection that had carried one before\n"
	"  conns_open      INTEGER, -- gauge at the end of the interval\n"
	"  PRIMARY KEY (ts_ms, session_id, upstream_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE upstream_route_stats (  -- calls linked to an inbound route, per interval\n"
	"  session_id    INTEGER NOT NULL,\n"
	"  ts_ms         INTEGER NOT NULL,\n"
	"  dur_ms        INTEGER NOT NULL,\n"
	"  upstream_id   INTEGER NOT NULL REFERENCES upstreams(id),\n"
	"  method        TEXT NOT NULL,   -- of the inbound request (as endpoints.method)\n"
	"  route         TEXT NOT NULL,   -- folded inbound route (as endpoints.route)\n"
	"  calls         INTEGER, -- linked calls, each retry one\n"
	"  s1xx          INTEGER,\n"
	"  s2xx          INTEGER,\n"
	"  s3xx          INTEGER,\n"
	"  s4xx          INTEGER,\n"
	"  s5xx          INTEGER,\n"
	"  no_answer     INTEGER,\n"
	"  lat_max_us    INTEGER,\n"
	"  hist          BLOB,    -- the calls' latency, µs\n"
	"  inbound       INTEGER, -- inbound requests this backend answered last\n"
	"  before_hist   BLOB,    -- inbound start -> first call sent, µs\n"
	"  upstream_hist BLOB,    -- first call sent -> last call answered, µs\n"
	"  after_hist    BLOB,    -- last call answered -> inbound response end, µs\n"
	"  PRIMARY KEY (ts_ms, session_id, upstream_id, method, route)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE upstream_links (  -- the link rule's counts per interval\n"
	"  session_id     INTEGER NOT NULL,\n"
	"  ts_ms          INTEGER NOT NULL,\n"
	"  linked         INTEGER, -- calls linked to an inbound request\n"
	"  by_order       INTEGER, -- of those, decided by order between same-target twins\n"
	"  unlinked       INTEGER, -- calls no inbound request took\n"
	"  inbound_linked INTEGER, -- inbound requests with a linked call\n"
	"  overflow       INTEGER, -- records or rows past a bound\n"
	"  PRIMARY KEY (ts_ms, session_id)\n"
	") WITHOUT ROWID;\n";

/*
 * Version 6 → 7: targets. With several targets (--pid front,back) an
 * endpoint row names its target ("nginx[1234]"); a run watching one keeps
 * '' and shares its rows with every earlier run, as before. The session row
 * names what it watched ("nginx[1234],nginx[5678]"), which is what '' stands
 * for in `query --by-target`. endpoints is rebuilt keeping every id, as in v4.
 */
static const char schema_v7[] =
	"DROP VIEW IF EXISTS endpoint_stats_v;\n"
	"DROP VIEW IF EXISTS requests_v;\n"
	"CREATE TABLE endpoints_v7 (  -- every endpoint ever seen, shared by sessions\n"
	"  id       INTEGER PRIMARY KEY,\n"
	"  host     TEXT NOT NULL DEFAULT '', -- virtual host (Host or :authority, lower-cased, no port); '' without; '*' = hosts over the bound\n"
	"  method   TEXT NOT NULL,        -- \"GET\", \"POST\", ...\n"
	"  route    TEXT NOT NULL,        -- folded route (\"/users/{id}\"), a gRPC method as is; no query string; non-printable bytes %XX-encoded\n"
	"  protocol TEXT NOT NULL DEFAULT '', -- \"http/1.0\", \"http/1.1\", \"h2\" (TLS), \"h2c\" (cleartext); '' = HTTP/1.x stored before v3\n"
	"  target   TEXT NOT NULL DEFAULT '', -- the target serving it, \"nginx[1234]\", when the run watched several; '' = the session's one target; '*' = OTHER across targets\n"
	"  UNIQUE (host, method, route, protocol, target)\n"
	");\n"
	"INSERT INTO endpoints_v7 (id, host, method, route, protocol)"
	" SELECT id, host, method, route, protocol FROM endpoints;\n"
	"DROP TABLE endpoints;\n"
	"ALTER TABLE endpoints_v7 RENAME TO endpoints;\n"
	"ALTER TABLE sessions ADD COLUMN targets TEXT; -- what the run watched: \"nginx[1234]\", \"nginx[1234],nginx[5678]\" (NULL before v7)\n"
	"CREATE VIEW endpoint_stats_v AS  -- endpoint_stats for people; time is UTC\n"
	"  SELECT datetime(s.ts_ms / 1000, 'unixepoch') AS time, s.dur_ms,\n"
	"         CASE e.target WHEN '' THEN coalesce(ss.targets, '') ELSE e.target END AS target,\n"
	"         e.host, e.method, e.route,\n"
	"         e.protocol, s.requests, s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx, s.aborted, s.bytes_in,\n"
	"         s.bytes_out,\n"
	"         round(s.lat_sum_us / 1000.0 / nullif(s.requests - s.aborted, 0), 3) AS avg_ms,\n"
	"         round(s.p99_us / 1000.0, 3) AS p99_ms,\n"
	"         round(s.lat_max_us / 1000.0, 3) AS max_ms\n"
	"  FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id\n"
	"  LEFT JOIN sessions ss ON ss.id = s.session_id;\n"
	"CREATE VIEW requests_v AS  -- the request log for people; time is UTC\n"
	"  SELECT strftime('%Y-%m-%dT%H:%M:%fZ', r.ts_ms / 1000.0, 'unixepoch') AS time,\n"
	"         CASE e.target WHEN '' THEN coalesce(ss.targets, '') ELSE e.target END AS target,\n"
	"         e.host, e.method, e.route, e.protocol, r.path, r.status, r.grpc_status,\n"
	"         round(r.latency_us / 1000.0, 3) AS latency_ms,\n"
	"         r.bytes_in, r.bytes_out, r.client, r.pid, r.session_id\n"
	"  FROM requests r JOIN endpoints e ON e.id = r.endpoint_id\n"
	"  LEFT JOIN sessions ss ON ss.id = r.session_id;\n";

/* steps[v] takes a DB from version v to v + 1. */
static const char *const schema_steps[STORE_SCHEMA_VERSION] = {
	schema_v1,
	schema_v2,
	schema_v3,
	schema_v4,
	schema_v5,
	schema_v6,
	schema_v7,
};

/* ---- SQL functions ---------------------------------------------------- */

static void schema_hist_merge_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	struct hist *h = sqlite3_aggregate_context(ctx, sizeof(*h));   /* zeroed = hist_init */
	if (!h) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	const void *blob = sqlite3_value_blob(argv[0]);
	int len = sqlite3_value_bytes(argv[0]);
	int rc = hist_decode_merge(h, blob, (size_t)len);
	if (rc == -ENOMEM)
		sqlite3_result_error_nomem(ctx);
	else if (rc)
		sqlite3_result_error(ctx, "hist_merge: not an l7top histogram", -1);
}

/*
 * h encoded as the function's result. Most blobs are a few hundred bytes: try
 * the stack first (SQLite copies it) and only take HIST_ENCODED_MAX from the
 * heap for a histogram too wide for it; rollup merges thousands per step.
 */
static void schema_result_hist(sqlite3_context *ctx, const struct hist *h)
{
	uint8_t small[2048];
	size_t n = hist_encode(h, small, sizeof(small));
	if (n) {
		sqlite3_result_blob(ctx, small, (int)n, SQLITE_TRANSIENT);
		return;
	}
	uint8_t *buf = sqlite3_malloc(HIST_ENCODED_MAX);
	if (!buf)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_blob(ctx, buf, (int)hist_encode(h, buf, HIST_ENCODED_MAX),
				    sqlite3_free);
}

/* SQLite calls this once per group, also after an error, so it always frees. */
static void schema_hist_merge_final(sqlite3_context *ctx)
{
	struct hist *h = sqlite3_aggregate_context(ctx, 0);
	if (!h) {
		sqlite3_result_null(ctx);      /* no non-NULL row in the group */
		return;
	}
	schema_result_hist(ctx, h);
	hist_free(h);
}

/* hist_merge(a, b): the two blobs merged; a NULL side is the other blob. */
static void schema_hist_merge2(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct hist h;
	int rc = 0, n = 0;

	hist_init(&h);
	for (int i = 0; i < argc && !rc; i++) {
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
			continue;
		n++;
		rc = hist_decode_merge(&h, sqlite3_value_blob(argv[i]),
				       (size_t)sqlite3_value_bytes(argv[i]));
	}
	if (rc == -ENOMEM)
		sqlite3_result_error_nomem(ctx);
	else if (rc)
		sqlite3_result_error(ctx, "hist_merge: not an l7top histogram", -1);
	else if (!n)
		sqlite3_result_null(ctx);
	else
		schema_result_hist(ctx, &h);
	hist_free(&h);
}

static void schema_hist_quantile(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	double q = sqlite3_value_double(argv[1]);
	if (!(q > 0 && q <= 1)) {
		sqlite3_result_error(ctx, "hist_quantile: q must be in (0, 1]", -1);
		return;
	}
	struct hist h;
	hist_init(&h);
	int rc = hist_decode_merge(&h, sqlite3_value_blob(argv[0]),
				   (size_t)sqlite3_value_bytes(argv[0]));
	if (rc == -ENOMEM)
		sqlite3_result_error_nomem(ctx);
	else if (rc)
		sqlite3_result_error(ctx, "hist_quantile: not an l7top histogram", -1);
	else
		sqlite3_result_int64(ctx, (sqlite3_int64)hist_percentile(&h, q));
	hist_free(&h);
}

int schema_register_functions(sqlite3 *db)
{
	const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;

	if (sqlite3_create_function(db, "hist_merge", 1, flags, NULL, NULL,
				    schema_hist_merge_step, schema_hist_merge_final) ||
	    sqlite3_create_function(db, "hist_merge", 2, flags, NULL,
				    schema_hist_merge2, NULL, NULL) ||
	    sqlite3_create_function(db, "hist_quantile", 2, flags, NULL,
				    schema_hist_quantile, NULL, NULL))
		return -EIO;
	return 0;
}

/* ---- identify / migrate ----------------------------------------------- */

/* Runs a query returning one integer (a PRAGMA, a count). SQLite rc. */
static int schema_get_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

int schema_identify(sqlite3 *db, const char *path, int *version, char *err, size_t errlen)
{
	int app = 0, ver = 0, objects = 0;

	if (schema_get_int(db, "PRAGMA application_id", &app) ||
	    schema_get_int(db, "PRAGMA user_version", &ver) ||
	    schema_get_int(db, "SELECT count(*) FROM sqlite_master", &objects)) {
		snprintf(err, errlen, "l7top: DB %s is not an l7top database (%s)", path,
			 sqlite3_errmsg(db));
		return -EINVAL;
	}
	if (app == 0 && ver == 0 && objects == 0) {
		*version = 0;                  /* new or empty file: ours to create */
		return 0;
	}
	if ((uint32_t)app != SCHEMA_APP_ID || ver < 1) {
		snprintf(err, errlen, "l7top: DB %s is not an l7top database "
			 "(SQLite with application_id %#x, user_version %d, %d objects)",
			 path, (unsigned)app, ver, objects);
		return -EINVAL;
	}
	if (ver > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "l7top: DB %s has schema version %d, newer than this "
			 "l7top supports (%d): use a newer l7top", path, ver, STORE_SCHEMA_VERSION);
		return -ENOTSUP;
	}
	*version = ver;
	return 0;
}

/* Applies the steps from the version found inside the write transaction. */
static int schema_apply(sqlite3 *db)
{
	int ver = 0, rc;

	rc = schema_get_int(db, "PRAGMA user_version", &ver);
	if (rc)
		return rc;
	if (ver < 0 || ver > STORE_SCHEMA_VERSION)
		return SQLITE_MISMATCH;
	for (; ver < STORE_SCHEMA_VERSION; ver++) {
		rc = sqlite3_exec(db, schema_steps[ver], NULL, NULL, NULL);
		if (rc)
			return rc;
	}
	/* PRAGMAs take no parameters; both values are our own integers. */
	char *sql = sqlite3_mprintf("PRAGMA application_id = %d; PRAGMA user_version = %d;",
				    (int)SCHEMA_APP_ID, STORE_SCHEMA_VERSION);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	return rc;
}

/*
 * Foreign keys are switched off around the transaction (the PRAGMA is a no-op
 * inside one): the v2 step drops and re-creates endpoints, which the other
 * tables reference, keeping every id. The step uses hist_quantile(), so the
 * functions are registered here too (registering twice is harmless).
 */
int schema_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int fk = 0, from = 0;

	schema_get_int(db, "PRAGMA foreign_keys", &fk);
	schema_get_int(db, "PRAGMA user_version", &from);
	int rc = schema_register_functions(db) ? SQLITE_ERROR : SQLITE_OK;
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = schema_apply(db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (from > 0)
			snprintf(err, errlen, "l7top: cannot migrate %s from schema version %d to %d"
				 " (left unchanged): %s", path, from, STORE_SCHEMA_VERSION,
				 rc == SQLITE_MISMATCH ? "unexpected schema version" : sqlite3_errmsg(db));
		else
			snprintf(err, errlen, "l7top: cannot create the schema in %s: %s", path,
				 rc == SQLITE_MISMATCH ? "unexpected schema version" : sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (fk)
		sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : -EIO;
}

/* Whether intervals has a column called name. SQLite rc in *rc. */
static bool schema_has_column(sqlite3 *db, const char *name, int *rc)
{
	sqlite3_stmt *st;
	bool found = false;

	*rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('intervals') WHERE name = ?1",
				 -1, &st, NULL);
	if (*rc)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	*rc = sqlite3_step(st);
	found = *rc == SQLITE_ROW;
	*rc = *rc == SQLITE_ROW || *rc == SQLITE_DONE ? SQLITE_OK : *rc;
	sqlite3_finalize(st);
	return found;
}

/* Under a write lock, so two l7tops starting at once add each column once. */
int schema_add_counter_columns(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	for (size_t i = 0; rc == SQLITE_OK && i < SNAP_NCOUNTERS; i++) {
		const char *name = snap_counter_defs[i].name;
		if (schema_has_column(db, name, &rc) || rc)
			continue;
		/* The name is the table's own identifier, never input. */
		char *sql = sqlite3_mprintf("ALTER TABLE intervals ADD COLUMN %s INTEGER", name);
		rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
		sqlite3_free(sql);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "l7top: cannot add the counter columns to %s: %s", path,
		 sqlite3_errmsg(db));
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}
