/* SPDX-License-Identifier: MIT */
/*
 * tls: the loader for probes/tls_calls.bpf.c and probes/tls_keys.bpf.c.
 * Finds OpenSSL in each target process (a mapped libssl.so*, or SSL_read in
 * the executable itself, as in node), attaches the uprobes to that process
 * only, follows the processes the target forks, and hands the ring
 * buffers' records to a sink: decoded plaintext chunks (calls mode) or
 * session secrets (keys mode).
 *
 * Modes, decided per process when it is first seen:
 *  - calls: uprobes on SSL_read/SSL_write(_ex), SSL_set_fd, SSL_free; the
 *    plaintext comes from inside the process, a trap or two per SSL call.
 *  - keys: one entry uprobe on libcrypto's EVP_KDF_derive (OpenSSL 3.x:
 *    the mapped libcrypto.so* matching the libssl, or the executable, as in
 *    node); a few traps per handshake, none per request. The secrets go to
 *    the sink; the caller decrypts the ciphertext the socket filter sees.
 *  - auto: keys where the process's OpenSSL derives through EVP_KDF_derive,
 *    calls elsewhere (OpenSSL 1.1.1, BoringSSL, anything unknown).
 *
 * Only the target pays: every uprobe is attached with the process's PID, so
 * a curl or wrk mapping the same libssl is never trapped.
 *
 * libbpf's own messages follow capture_set_libbpf_log() (libbpf's print
 * callback is process-wide); tls_probe_opts.log gets this module's notes.
 */
#ifndef L7TOP_TLS_H
#define L7TOP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "collector/tls_kinds.h"

struct tls_probe;

/* The largest --capture-bytes (TLS_DATA_MAX of tls_calls.h, asserted in tls.c). */
#define TLS_CAPTURE_BYTES_MAX 16384

struct tls_probe_opts {
	const pid_t *pids;         /* target processes at start (tls_probe_sync_pids later) */
	size_t npids;
	const char *target_name;   /* "nginx[1234]", for notices */
	const char *ssl_lib;       /* --ssl-lib: use this library everywhere; NULL = find it */
	uint32_t capture_bytes;    /* payload bytes per call; 0 = default, at most TLS_DATA_MAX */
	FILE *log;                 /* one line per process attached or not; NULL = none */
	enum tls_mode mode;        /* TLS_MODE_CALLS, _KEYS or _AUTO */
};

/* Plaintext one SSL_read (dir 0, request) or SSL_write (dir 1) moved. */
struct tls_data {
	uint32_t tgid, tid;
	uint64_t conn_id;          /* the SSL* */
	int dir;
	uint64_t ts_ns;            /* unix ns */
	uint32_t len;              /* what the call moved */
	uint32_t caplen;           /* bytes in buf (<= len) */
	const uint8_t *buf;        /* valid during the callback only */
};

/* SSL_set_fd: the connection met its socket. family 0: peer unknown. */
struct tls_conn {
	uint32_t tgid;
	uint64_t conn_id;
	uint64_t ts_ns;
	int fd;
	uint16_t family;           /* IP version, 4 or 6 (as the collector counts it); 0 unknown */
	uint16_t port;             /* host order */
	uint8_t addr[16];          /* network order */
	uint16_t lport;            /* the socket's own port, host order */
	uint8_t laddr[16];         /* ... and address, network order */
	uint32_t netns;            /* inode of its network namespace; 0 unknown */
};

/* A session secret caught at a handshake (keys mode). */
struct tls_secret {
	uint32_t tgid, tid;
	uint64_t ts_ns;            /* unix ns */
	enum tls_secret_kind kind;
	enum tls_id_kind id_kind;
	const uint8_t *id;         /* valid during the callback only */
	size_t id_len;
	const uint8_t *secret;     /* valid during the callback only; never log it */
	size_t len;
};

/* Callbacks; any may be NULL. */
struct tls_sink {
	void (*data)(void *ctx, const struct tls_data *d);
	void (*conn)(void *ctx, const struct tls_conn *c);
	void (*close)(void *ctx, uint32_t tgid, uint64_t conn_id, uint64_t ts_ns);
	/* A target process forked: resync the pids now (new NGINX workers). */
	void (*fork)(void *ctx, uint32_t parent_tgid, uint32_t child_tgid);
	/* Keys mode: one secret; the caller files it and later decrypts. */
	void (*secret)(void *ctx, const struct tls_secret *s);
	void *ctx;
};

#define TLS_STATS_PIDS 16

struct tls_stats {
	uint64_t events;           /* records consumed */
	uint64_t data_bytes;       /* plaintext bytes the calls moved */
	uint64_t drops;            /* records the ring could not take (all CPUs) */
	uint64_t bad_records;      /* records too short for what they claim */
	uint64_t secrets;          /* keys mode: secrets handed to the sink */
	uint64_t secret_drops;     /* ... the key ring could not take (all CPUs) */
	uint64_t secrets_unmatched;/* TLS 1.3 application secrets not tied to a handshake */
	uint64_t unprobed;         /* calls mode: forked processes that made TLS calls
				    * before their probes (their first connections are
				    * not read), or could not be checked */
	size_t pids;               /* processes followed */
	size_t pids_ssl;           /* ... of which with OpenSSL attached */
	size_t pids_keys;          /* ... of which in keys mode */
	struct {
		pid_t pid;
		char lib[112];     /* library path, "" when no OpenSSL */
		enum tls_mode mode;  /* TLS_MODE_KEYS, _CALLS, or _NONE without OpenSSL */
	} per_pid[TLS_STATS_PIDS]; /* the first TLS_STATS_PIDS processes */
};

/*
 * Loads the BPF object, attaches the fork hook and the uprobes of every
 * pid in o. Returns 0 or -errno with a one-line reason in err. A target
 * without OpenSSL is not an error: a notice goes to stderr, and the probe
 * stays open (it follows forks and later syncs).
 */
int tls_probe_open(struct tls_probe **out, const struct tls_probe_opts *o, char *err, size_t errlen);
/*
 * The target's processes now: attaches to new ones, detaches from gone
 * ones, and refreshes the fork hook's filter. Returns how many processes
 * got OpenSSL probes in this call, or -errno.
 */
int tls_probe_sync_pids(struct tls_probe *t, const pid_t *pids, size_t n);
/* Pollable: readable when the ring has records (see the wake-up policy). */
int tls_probe_fd(const struct tls_probe *t);
/* Hands every waiting record to sink. Returns the number, or -errno. */
int tls_probe_consume(struct tls_probe *t, const struct tls_sink *sink);
/* What the rings hold now, with the clock offset of the last
 * tls_probe_consume and nothing else: cheap enough to call per packet. */
int tls_probe_consume_pending(struct tls_probe *t, const struct tls_sink *sink);
void tls_probe_stats(const struct tls_probe *t, struct tls_stats *st);
/* Which modes the processes followed run in: TLS_MODE_KEYS, _CALLS,
 * _KEYS_CALLS, or _NONE (no OpenSSL found yet). */
enum tls_mode tls_probe_modes(const struct tls_probe *t);
void tls_probe_close(struct tls_probe *t);

/*
 * --tls auto, per target (one tls_probe): what keys mode costs it.
 * kdf_hits: EVP_KDF_derive traps its processes took; handshakes: TLS 1.3
 * server handshake secrets plus TLS 1.2 key expansions caught (one each
 * per handshake, resumed or not); set_fds: SSL_set_fd calls the calls
 * probes saw (after tls_probe_switch_calls).
 */
void tls_probe_auto_counts(const struct tls_probe *t, uint64_t *kdf_hits, uint64_t *handshakes,
			   uint64_t *set_fds);
/*
 * Switches the keys-mode processes to calls for their new connections:
 * the calls probes read only an SSL* that meets its socket (SSL_set_fd)
 * from now on; older connections stay on the keys path. The keys probe
 * stays until tls_probe_keys_off(), so handshakes in flight finish with
 * their secrets. 0 or -errno (then nothing changed, and keys mode goes on).
 */
int tls_probe_switch_calls(struct tls_probe *t);
/*
 * Takes the switch back while the keys probe is still on: the calls probes
 * leave, every connection stays on the keys path. For servers that never
 * call SSL_set_fd (BIO-based: Node.js, Apache's mod_ssl), whose new
 * connections the calls path could not tell from the old ones.
 */
void tls_probe_switch_undo(struct tls_probe *t);
/* Detaches the keys probe (after tls_probe_switch_calls): no trap per derivation. */
void tls_probe_keys_off(struct tls_probe *t);

/* ---- pure helpers, exposed for the unit tests --------------------------- */

struct tls_event;

/*
 * Checks that a ring record of size bytes holds a whole event: the header,
 * a known kind, and for DATA data_len <= len, data_len <= TLS_DATA_MAX and
 * size >= header + data_len. Returns 0 or -EINVAL.
 */
int tls_event_check(const void *rec, size_t size);
/* CLOCK_REALTIME minus CLOCK_MONOTONIC in ns, from the tightest of a few reads. */
int64_t tls_clock_offset(void);
/* A bpf_ktime_get_ns() value to unix ns (0 stays 0: "unknown"). */
uint64_t tls_ktime_to_real(uint64_t ktime_ns, int64_t offset_ns);
/*
 * Finds the first mapping in a /proc/PID/maps stream whose file name is
 * stem or stem followed by '.' ("libssl.so" finds libssl.so.3, not
 * libssl3.so; "libcrypto.so.3" finds only that). Writes its path (without
 * a " (deleted)" suffix) and its "start-end" range, as used by
 * /proc/PID/map_files. Returns 0, -ENOENT, or -errno.
 */
int tls_maps_find_lib(FILE *maps, const char *stem, char *path, size_t pathlen, char *range,
		      size_t rangelen);
/*
 * Finds the first mapping of a libssl.so* in a /proc/PID/maps stream.
 * Writes its path (without a " (deleted)" suffix) and its "start-end"
 * range, as used by /proc/PID/map_files. Returns 0, -ENOENT, or -errno.
 */
int tls_maps_find_libssl(FILE *maps, char *path, size_t pathlen, char *range, size_t rangelen);
/*
 * File offsets, as a uprobe wants them, of the function symbols names[0..n)
 * in the ELF file at path (.symtab and .dynsym); offs[i] = 0 when names[i]
 * is absent. Returns how many were found, or -errno.
 */
int tls_elf_func_offsets(const char *path, const char *const *names, size_t n, uint64_t *offs);

/*
 * Keys mode, user side: turns key-ring records into secrets. TLS 1.3
 * handshake secrets and TLS 1.2 master secrets pass as they are; the
 * application secrets arrive with the transcript hash up to the server
 * Finished, which the wire alone does not give the collector, so they are
 * tied to their connection's handshake hash here:
 *  - "s ap traffic" is derived by the server in the same handshake step,
 *    on the same thread, as that connection's "s hs traffic" (the server
 *    writes ServerHello..Finished in one flight): the thread's latest
 *    handshake hash is its connection's;
 *  - "c ap traffic" comes a round trip later, possibly after other
 *    handshakes on that thread, but it carries the same hash as its
 *    "s ap traffic" (OpenSSL keeps server_finished_hash for it): it is
 *    looked up by that hash.
 * Bounded: TLS_KEYS_TIDS threads, TLS_KEYS_AP application hashes in flight
 * (open addressing over TLS_KEYS_AP_PROBE slots; when all are taken the
 * oldest entry gives way and its c ap secret goes unmatched, counted).
 */
#define TLS_KEYS_AP_PROBE 16
#define TLS_KEYS_TIDS 256
#define TLS_KEYS_AP   1024

struct tls_keys_state {
	struct {
		uint32_t tid;
		uint8_t len;       /* 0 = empty */
		uint8_t hs[48];
	} thr[TLS_KEYS_TIDS];
	struct {
		uint8_t ap_len;    /* 0 = empty */
		uint8_t hs_len;
		uint64_t seq;      /* insertion order, to evict the oldest */
		uint8_t ap[48];
		uint8_t hs[48];
	} ap[TLS_KEYS_AP];
	uint64_t ap_seq;
};

/*
 * Decodes one record of size bytes. Returns 1 with *out filled (pointers
 * into rec or st, valid until the next call), 0 when the record is valid
 * but gives nothing to hand on (an application secret whose handshake is
 * unknown), -EINVAL for a malformed record (wrong size, kind, lengths).
 * ktime_off: tls_clock_offset(), for out->ts_ns.
 */
int tls_keys_decode(struct tls_keys_state *st, const void *rec, size_t size, int64_t ktime_off,
		    struct tls_secret *out);

#endif
