// SPDX-License-Identifier: MIT
#include "probes/tls.h"
#include "probes/target.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probes/link_batch.h"
#include "probes/tgid_map.h"
#include "probes/tls_calls.h"
#include "probes/tls_keys.h"
#include "tls_calls.skel.h"
#include "tls_keys.skel.h"

_Static_assert(TLS_CAPTURE_BYTES_MAX == TLS_DATA_MAX, "tls.h and tls_calls.h disagree");

/* The OpenSSL functions hooked; index into tls_lib.off. */
enum tls_func { F_READ, F_WRITE, F_READ_EX, F_WRITE_EX, F_SET_FD, F_FREE, F_KDF, F_COUNT };

static const char *const TLS_FUNC_NAMES[F_COUNT] = {
	[F_READ] = "SSL_read",       [F_WRITE] = "SSL_write",
	[F_READ_EX] = "SSL_read_ex", [F_WRITE_EX] = "SSL_write_ex",
	[F_SET_FD] = "SSL_set_fd",   [F_FREE] = "SSL_free",
	[F_KDF] = "EVP_KDF_derive",  /* libcrypto (OpenSSL 3.x), or node's executable */
};

/*
 * One uprobe: which function, which program, entry or return. Attached in
 * this order: SSL_free before SSL_set_fd, so that under --tls auto's
 * switch every connection reported begun is reported ended (one begun in
 * between would leave its stream open, and the next connection given the
 * same SSL* would be read as more of it).
 */
static const struct tls_hook {
	enum tls_func func;
	const char *prog;
	bool retprobe;
} TLS_HOOKS[] = {
	{ F_READ, "ssl_read_enter", false },        { F_READ, "ssl_read_exit", true },
	{ F_WRITE, "ssl_write_enter", false },      { F_WRITE, "ssl_write_exit", true },
	{ F_READ_EX, "ssl_read_ex_enter", false },  { F_READ_EX, "ssl_read_ex_exit", true },
	{ F_WRITE_EX, "ssl_write_ex_enter", false }, { F_WRITE_EX, "ssl_write_ex_exit", true },
	{ F_FREE, "ssl_free", false },
	{ F_SET_FD, "ssl_set_fd", false },
};
#define TLS_NHOOKS (sizeof(TLS_HOOKS) / sizeof(TLS_HOOKS[0]))

/*
 * What one ELF file offers, by (dev, inode): NGINX's workers all map the
 * same libssl and node's binary is ~100 MB, so each file is read once.
 * A file without SSL_read and SSL_write is cached too (ssl = false).
 */
struct tls_lib {
	dev_t dev;
	ino_t ino;
	bool ssl;
	bool kdf;                        /* has EVP_KDF_derive: keys mode can attach */
	uint64_t off[F_COUNT];
	/* Attached to the file itself (pid -1), filtered on tgids in the kernel. */
	struct bpf_link *kdf_link;       /* keys mode: from the first process on */
	struct bpf_link *links[TLS_NHOOKS];  /* calls mode: once a target forked */
	bool calls_wide;                 /* links[] attached */
};

struct tls_proc {
	pid_t pid;
	bool seen;                       /* in the latest sync */
	bool ssl;                        /* probes attached */
	bool keys;                       /* ... in keys mode (else calls) */
	bool switched;                   /* auto: keys for old connections, calls for new */
	char lib[112];
	struct bpf_link *links[TLS_NHOOKS];  /* calls mode, per process (TLS_LINK_PID) */
};

struct tls_probe {
	struct tls_calls_bpf *skel;
	struct tls_keys_bpf *kskel;      /* NULL in calls mode */
	enum tls_mode mode;
	bool small_ring;                 /* the plaintext ring was sized for keys mode */
	bool data_ring;                  /* ... and is mapped (at the first calls probe) */
	bool fork_seen;                  /* a target forked: calls mode goes library-wide */
	bool calls_wide;                 /* ... and has (lib_wide = 1) */
	bool wide_refused;               /* the library refused its uprobes: per process for good */
	bool switched;                   /* auto: new connections by calls (new_only = 1) */
	bool keys_off;                   /* ... and the keys probe is gone: new processes are calls */
	bool was_wide;                   /* calls probes were on the library before the switch */
	struct link_reaper reaper;       /* links the BPF side ignores, destroyed off the loop */
	pid_t early[64];                 /* children forked before that, to check */
	size_t nearly;
	uint64_t early_unchecked;        /* ... beyond early[], or not shown to be read whole */
	unsigned proc_lines;             /* per-process lines written (TLS_PROC_LINES) */
	uint64_t moved_ns;               /* CLOCK_MONOTONIC when the move to the library ended */
	uint64_t unprobed;               /* children seen to make TLS calls before their probes */
	struct tls_keys_state *kstate;
	uint64_t secrets, secrets_unmatched;
	uint64_t handshakes;             /* server hs secrets + TLS 1.2 master secrets */
	uint64_t conn_events;            /* SSL_set_fd calls seen (calls probes) */
	struct ring_buffer *rb;
	const char *ssl_lib;
	char target_name[64];
	FILE *log;
	int64_t clock_off;
	struct tls_proc *procs;
	size_t nprocs, cap_procs;
	struct tls_lib *libs;
	size_t nlibs, cap_libs;
	const struct tls_sink *sink;     /* valid during tls_probe_consume only */
	uint64_t events, data_bytes, bad_records;
};

/* ---- pure helpers ---------------------------------------------------------- */

int tls_event_check(const void *rec, size_t size)
{
	const struct tls_event *e = rec;

	if (size < TLS_EVENT_HDR_SZ)
		return -EINVAL;
	switch (e->kind) {
	case TLS_EV_DATA:
		if (e->data_len > e->len || e->data_len > TLS_DATA_MAX ||
		    size < TLS_EVENT_HDR_SZ + (size_t)e->data_len || e->dir > TLS_DIR_WRITE)
			return -EINVAL;
		return 0;
	case TLS_EV_CLOSE:
	case TLS_EV_CONN:
	case TLS_EV_FORK:
		return 0;
	default:
		return -EINVAL;
	}
}

static uint64_t tls_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The realtime read bracketed by two monotonic ones; the tightest of 5 wins. */
int64_t tls_clock_offset(void)
{
	uint64_t best = UINT64_MAX;
	int64_t off = 0;

	for (int i = 0; i < 5; i++) {
		uint64_t m1 = tls_clock_ns(CLOCK_MONOTONIC);
		uint64_t r = tls_clock_ns(CLOCK_REALTIME);
		uint64_t m2 = tls_clock_ns(CLOCK_MONOTONIC);

		if (m2 - m1 < best) {
			best = m2 - m1;
			off = (int64_t)(r - (m1 + (m2 - m1) / 2));
		}
	}
	return off;
}

uint64_t tls_ktime_to_real(uint64_t ktime_ns, int64_t offset_ns)
{
	return ktime_ns ? ktime_ns + (uint64_t)offset_ns : 0;
}

/* ---- keys mode: records to secrets ------------------------------------------ */

static size_t tls_keys_thr_slot(uint32_t tid)
{
	return (tid * 2654435761u) % TLS_KEYS_TIDS;
}

/* Transcript hashes are uniformly random: their first bytes index well. */
static size_t tls_keys_ap_slot(const uint8_t *h)
{
	uint32_t v;

	memcpy(&v, h, sizeof(v));
	return v % TLS_KEYS_AP;
}

/*
 * Where an "s ap traffic" hash goes: the first free slot of its probe run,
 * else the oldest (a direct-mapped table lost a connection's client secret
 * whenever two handshakes in flight shared a slot).
 */
static size_t tls_keys_ap_insert_slot(struct tls_keys_state *st, const uint8_t *h)
{
	size_t home = tls_keys_ap_slot(h), oldest = home;

	for (size_t i = 0; i < TLS_KEYS_AP_PROBE; i++) {
		size_t slot = (home + i) % TLS_KEYS_AP;
		if (!st->ap[slot].ap_len)
			return slot;
		if (st->ap[slot].seq < st->ap[oldest].seq)
			oldest = slot;
	}
	return oldest;
}

static size_t tls_keys_ap_find(const struct tls_keys_state *st, const uint8_t *h, size_t len)
{
	size_t home = tls_keys_ap_slot(h);

	for (size_t i = 0; i < TLS_KEYS_AP_PROBE; i++) {
		size_t slot = (home + i) % TLS_KEYS_AP;
		if (st->ap[slot].ap_len == len && !memcmp(st->ap[slot].ap, h, len))
			return slot;
	}
	return SIZE_MAX;
}

int tls_keys_decode(struct tls_keys_state *st, const void *rec, size_t size, int64_t ktime_off,
		    struct tls_secret *out)
{
	const struct tls_key_event *e = rec;
	size_t slot;

	if (size != sizeof(*e) || e->kind != TLS_KEY_EV_SECRET || e->secret_kind >= TLS_SECRET_KINDS ||
	    !e->secret_len || e->secret_len > TLS_KEY_SECRET_MAX || e->id_len > TLS_KEY_ID_MAX ||
	    e->id_len < 32)
		return -EINVAL;
	*out = (struct tls_secret){
		.tgid = e->tgid, .tid = e->tid, .ts_ns = tls_ktime_to_real(e->ts, ktime_off),
		.kind = e->secret_kind, .id_kind = TLS_ID_TRANSCRIPT,
		.id = e->id, .id_len = e->id_len, .secret = e->secret, .len = e->secret_len,
	};
	switch (e->secret_kind) {
	case TLS_SECRET_MASTER:
		if (e->id_len != 32 || e->secret_len != 48)
			return -EINVAL;
		out->id_kind = TLS_ID_CLIENT_RANDOM;
		return 1;
	case TLS_SECRET_SERVER_HS:
	case TLS_SECRET_CLIENT_HS:
		/* This thread is now in this connection's handshake. */
		slot = tls_keys_thr_slot(e->tid);
		st->thr[slot].tid = e->tid;
		st->thr[slot].len = (uint8_t)e->id_len;
		memcpy(st->thr[slot].hs, e->id, e->id_len);
		return 1;
	case TLS_SECRET_SERVER_AP:
		slot = tls_keys_thr_slot(e->tid);
		if (!st->thr[slot].len || st->thr[slot].tid != e->tid)
			return 0;
		out->id = st->thr[slot].hs;
		out->id_len = st->thr[slot].len;
		/* For the "c ap traffic" a round trip later: same hash, same connection. */
		slot = tls_keys_ap_insert_slot(st, e->id);
		st->ap[slot].ap_len = (uint8_t)e->id_len;
		st->ap[slot].seq = ++st->ap_seq;
		memcpy(st->ap[slot].ap, e->id, e->id_len);
		st->ap[slot].hs_len = (uint8_t)out->id_len;
		memcpy(st->ap[slot].hs, out->id, out->id_len);
		return 1;
	case TLS_SECRET_CLIENT_AP:
		slot = tls_keys_ap_find(st, e->id, e->id_len);
		if (slot == SIZE_MAX)
			return 0;
		out->id = st->ap[slot].hs;
		out->id_len = st->ap[slot].hs_len;
		st->ap[slot].ap_len = 0;     /* one connection, one c ap traffic */
		return 1;
	}
	return -EINVAL;
}

/* stem "libssl.so": "libssl.so", "libssl.so.3", "libssl.so.1.1" — not libssl3.so (NSS). */
static bool tls_is_lib(const char *path, const char *stem)
{
	const char *base = strrchr(path, '/');
	size_t n = strlen(stem);

	base = base ? base + 1 : path;
	return !strncmp(base, stem, n) && (base[n] == '\0' || base[n] == '.');
}

int tls_maps_find_libssl(FILE *maps, char *path, size_t pathlen, char *range, size_t rangelen)
{
	return tls_maps_find_lib(maps, "libssl.so", path, pathlen, range, rangelen);
}

int tls_maps_find_lib(FILE *maps, const char *stem, char *path, size_t pathlen, char *range,
		      size_t rangelen)
{
	char line[PATH_MAX + 256];
	bool too_long;

	while (target_read_line(line, sizeof(line), maps, &too_long)) {
		char rng[64], *p, *nl;
		int pos = 0;

		if (too_long)
			continue;                /* no mapping line is this long */
		/* start-end perms offset dev inode   path (the path may hold spaces) */
		if (sscanf(line, "%63s %*s %*s %*s %*s %n", rng, &pos) != 1 || !pos)
			continue;
		p = line + pos;
		if ((nl = strchr(p, '\n')))
			*nl = '\0';
		if (*p != '/')
			continue;
		size_t len = strlen(p);
		const char *del = " (deleted)";
		if (len > strlen(del) && !strcmp(p + len - strlen(del), del))
			p[len - strlen(del)] = '\0';
		if (!tls_is_lib(p, stem))
			continue;
		if (strlen(p) >= pathlen || strlen(rng) >= rangelen)
			return -ENAMETOOLONG;
		strcpy(path, p);
		strcpy(range, rng);
		return 0;
	}
	return ferror(maps) ? -EIO : -ENOENT;
}

static void tls_elf_scan(Elf *elf, Elf_Scn *scn, const char *const *names, size_t n,
			 uint64_t *offs)
{
	GElf_Shdr sh;
	Elf_Data *data = elf_getdata(scn, NULL);

	if (!gelf_getshdr(scn, &sh) || !data || !sh.sh_entsize)
		return;
	for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym sym;
		GElf_Shdr text;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!name)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (offs[k] || strcmp(name, names[k]))
				continue;
			/* Virtual address to file offset, through the symbol's section. */
			if (gelf_getshdr(elf_getscn(elf, sym.st_shndx), &text) &&
			    sym.st_value >= text.sh_addr)
				offs[k] = sym.st_value - text.sh_addr + text.sh_offset;
		}
	}
}

int tls_elf_func_offsets(const char *path, const char *const *names, size_t n, uint64_t *offs)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	size_t found = 0;
	int fd;

	memset(offs, 0, n * sizeof(*offs));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EIO;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM))
			tls_elf_scan(elf, scn, names, n, offs);
	}
	elf_end(elf);
	close(fd);
	for (size_t k = 0; k < n; k++)
		found += offs[k] != 0;
	return (int)found;
}

/* ---- libraries and processes ------------------------------------------------ */

/* The cached description of the ELF file at path; NULL on ENOMEM or stat failure. */
static struct tls_lib *tls_lib_get(struct tls_probe *t, const char *path)
{
	struct stat st;
	struct tls_lib *l;

	if (stat(path, &st))
		return NULL;
	for (size_t i = 0; i < t->nlibs; i++)
		if (t->libs[i].dev == st.st_dev && t->libs[i].ino == st.st_ino)
			return &t->libs[i];
	if (t->nlibs == t->cap_libs) {
		size_t cap = t->cap_libs ? t->cap_libs * 2 : 8;
		struct tls_lib *v = realloc(t->libs, cap * sizeof(*v));

		if (!v)
			return NULL;
		t->libs = v;
		t->cap_libs = cap;
	}
	l = &t->libs[t->nlibs++];
	memset(l, 0, sizeof(*l));
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (tls_elf_func_offsets(path, TLS_FUNC_NAMES, F_COUNT, l->off) >= 0) {
		l->ssl = l->off[F_READ] && l->off[F_WRITE];
		l->kdf = l->off[F_KDF] != 0;
	}
	return l;
}

/* Copies src, cut to fit dst: paths are shown, never opened, from these. */
static void tls_copy(char *dst, size_t dlen, const char *src)
{
	size_t n = strnlen(src, dlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void tls_comm(pid_t pid, char *out, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	out[0] = '\0';
	if ((f = fopen(path, "re"))) {
		if (fgets(out, (int)len, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
	if (!out[0])
		snprintf(out, len, "?");
}

/*
 * Where pid's OpenSSL lives: the forced library, else its mapped libssl
 * (through /proc/PID/map_files, which reaches the very file mapped even in
 * another mount namespace or after an upgrade deleted it), else its own
 * executable. attach gets the path to open, shown the path for people.
 */
static int tls_locate(const struct tls_probe *t, pid_t pid, char *attach, size_t alen,
		      char *shown, size_t slen)
{
	char maps[64], range[64];
	FILE *f;
	int err;

	if (t->ssl_lib) {
		snprintf(attach, alen, "%s", t->ssl_lib);
		snprintf(shown, slen, "%s", t->ssl_lib);
		return 0;
	}
	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	if (!(f = fopen(maps, "re")))
		return -errno;
	err = tls_maps_find_libssl(f, shown, slen, range, sizeof(range));
	fclose(f);
	if (!err) {
		snprintf(attach, alen, "/proc/%d/map_files/%s", pid, range);
		return 0;
	}
	if (err != -ENOENT)
		return err;
	snprintf(attach, alen, "/proc/%d/exe", pid);
	ssize_t n = readlink(attach, shown, slen - 1);
	if (n < 0)
		return -errno;
	shown[n] = '\0';
	return 0;
}

/*
 * Where pid's EVP_KDF_derive would be, given where its OpenSSL was found
 * (ssl_attach/ssl_shown from tls_locate): for a mapped libssl.so.X, the
 * mapped libcrypto.so.X (any libcrypto.so* if none has that name); for an
 * executable or a --ssl-lib file, that same file (node links OpenSSL in).
 */
static int tls_locate_kdf(pid_t pid, const char *ssl_attach, const char *ssl_shown, char *attach,
			  size_t alen, char *shown, size_t slen)
{
	const char *base = strrchr(ssl_shown, '/');
	char maps[64], range[64], stem[64];
	FILE *f;
	int err;

	base = base ? base + 1 : ssl_shown;
	if (!tls_is_lib(ssl_shown, "libssl.so") || strncmp(ssl_attach, "/proc/", 6)) {
		snprintf(attach, alen, "%s", ssl_attach);
		snprintf(shown, slen, "%s", ssl_shown);
		return 0;
	}
	/* "libssl.so.3" -> "libcrypto.so.3": the pair built together. */
	snprintf(stem, sizeof(stem), "libcrypto%s", base + strlen("libssl"));
	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	if (!(f = fopen(maps, "re")))
		return -errno;
	err = tls_maps_find_lib(f, stem, shown, slen, range, sizeof(range));
	if (err == -ENOENT) {
		rewind(f);
		err = tls_maps_find_lib(f, "libcrypto.so", shown, slen, range, sizeof(range));
	}
	fclose(f);
	if (!err)
		snprintf(attach, alen, "/proc/%d/map_files/%s", pid, range);
	return err;
}

/* p's per-process links into b (destroyed when b is); p leaves pid_linked
 * now, which only matters while lib_wide is 0, and then p is gone. */
static void tls_proc_unlink(struct tls_probe *t, struct tls_proc *p, struct link_batch *b)
{
	__u32 k = (__u32)p->pid;
	bool had = false;

	for (size_t i = 0; i < TLS_NHOOKS; i++) {
		had |= p->links[i] != NULL;
		link_batch_take(b, &p->links[i]);
	}
	if (had)
		bpf_map_delete_elem(bpf_map__fd(t->skel->maps.pid_linked), &k);
}

static void tls_proc_detach(struct tls_probe *t, struct tls_proc *p, struct link_batch *b)
{
	tls_proc_unlink(t, p, b);
	p->ssl = false;
	p->keys = false;
}

/* l's library-wide calls links into b; its key probe stays. */
static void tls_lib_unlink_calls(struct tls_lib *l, struct link_batch *b)
{
	for (size_t i = 0; i < TLS_NHOOKS; i++)
		link_batch_take(b, &l->links[i]);
	l->calls_wide = false;
}

static void tls_lib_unlink(struct tls_lib *l, struct link_batch *b)
{
	tls_lib_unlink_calls(l, b);
	link_batch_take(b, &l->kdf_link);
}

/* What the checks of an early child's inherited breakpoints found. */
#define EARLY_BP_SPENT 1   /* one was gone: the child called that function unseen */

/*
 * Is the uprobe breakpoint (int3) still at lib's offset off in pid? A child
 * inherits its parent's breakpoints; the kernel removes one from the child
 * the first time the child hits it unprobed (per-process links filter it
 * out). 1 = intact, 0 = hit (or never there), -errno.
 */
static int tls_bp_intact(pid_t pid, const struct tls_lib *lib, uint64_t off)
{
	char path[64], line[PATH_MAX + 128];
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	while (ret == -ENOENT && fgets(line, sizeof(line), f)) {
		unsigned long start, end, pgoff, ino;
		unsigned maj, min;
		char perms[8];
		uint8_t b;
		int fd;

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &pgoff, &maj, &min,
			   &ino) != 7 || perms[2] != 'x' || ino != lib->ino ||
		    makedev(maj, min) != lib->dev || off < pgoff || off >= pgoff + (end - start))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || pread(fd, &b, 1, (off_t)(start + off - pgoff)) != 1)
			ret = -errno;
		else
			ret = b == 0xcc;
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
	return ret;
}

static int tls_on_record(void *ctx, void *rec, size_t size);

/*
 * The calls-mode uprobes on pid's process (pid > 0, links into out[]) or on
 * the library file itself (pid -1), cookie saying which. 0 or -errno; on
 * failure nothing stays attached.
 */
static int tls_attach_calls(struct tls_probe *t, const struct tls_lib *lib, const char *attach,
			    pid_t pid, struct bpf_link **out, uint8_t *early_bp)
{
	/* The ring is read from before its first writer exists. */
	if (!t->data_ring) {
		if (ring_buffer__add(t->rb, bpf_map__fd(t->skel->maps.rb), tls_on_record, t))
			return -errno;
		t->data_ring = true;
	}
	for (size_t i = 0; i < TLS_NHOOKS; i++) {
		const struct tls_hook *h = &TLS_HOOKS[i];
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = h->retprobe,
			    .bpf_cookie = pid > 0 ? TLS_LINK_PID : TLS_LINK_LIB);
		struct bpf_program *prog;
		int err;

		if (!lib->off[h->func])
			continue;       /* OpenSSL 1.1.0 has no _ex calls; that is fine */
		/*
		 * Children forked while the uprobes were per process run unprobed
		 * until this library uprobe exists; one whose inherited breakpoint
		 * is spent already called this function unseen. Checked just
		 * before the attach puts the breakpoints back.
		 */
		for (size_t k = 0; early_bp && !h->retprobe && k < t->nearly; k++) {
			int r = tls_bp_intact(t->early[k], lib, lib->off[h->func]);
			early_bp[k] |= r == 0 ? EARLY_BP_SPENT : 0;
		}
		prog = bpf_object__find_program_by_name(t->skel->obj, h->prog);
		out[i] = prog ? bpf_program__attach_uprobe_opts(prog, pid, attach, lib->off[h->func],
								&uo) : NULL;
		if (!out[i]) {
			err = prog ? -errno : -ENOENT;
			for (size_t k = 0; k <= i; k++) {
				bpf_link__destroy(out[k]);
				out[k] = NULL;
			}
			return err ? err : -EINVAL;
		}
	}
	return 0;
}

/* The library-wide calls uprobes on lib, once. */
static int tls_lib_go_wide(struct tls_probe *t, struct tls_lib *lib, const char *attach)
{
	int err;

	if (lib->calls_wide)
		return 0;
	uint8_t bp[sizeof(t->early) / sizeof(t->early[0])] = { 0 };

	err = tls_attach_calls(t, lib, attach, -1, lib->links, bp);
	lib->calls_wide = !err;
	/*
	 * What such children read and wrote until then is lost: counted, never
	 * silent. A spent breakpoint says a child called unseen. One intact
	 * says nothing of the attach itself: the first takes 10-30 ms here, and
	 * a child forked per connection (Python's ForkingMixIn) served its
	 * request and exited inside it. So every child that ran before the
	 * probes were in place is counted, as one whose calls may be missing.
	 */
	for (size_t k = 0; !err && k < t->nearly; k++) {
		bool spent = bp[k] & EARLY_BP_SPENT;

		t->unprobed += spent;
		t->early_unchecked += !spent;
		if (t->log)
			fprintf(t->log, "l7top: tls: process %d %s: what it read and wrote until "
				"they were in place %s\n", t->early[k],
				spent ? "made TLS calls before its probes were in place"
				      : "ran while the probes moved to the library",
				spent ? "is not seen" : "may not be seen");
	}
	if (!err)
		t->nearly = 0;
	return err;
}

/*
 * Keys mode: the one entry uprobe on EVP_KDF_derive, on the library file
 * (pid -1) the first time a process maps it; the probe keeps to the target
 * through "tgids", so forked children are covered before they run. Other
 * processes trap only when they derive keys: at handshakes.
 */
static int tls_proc_attach_keys(struct tls_probe *t, struct tls_proc *p, const char *attach,
				const char *shown, struct tls_lib *lib)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = false);

	if (!lib->kdf_link)
		lib->kdf_link = bpf_program__attach_uprobe_opts(t->kskel->progs.evp_kdf_derive, -1,
								attach, lib->off[F_KDF], &uo);
	if (!lib->kdf_link)
		return -errno ? -errno : -EINVAL;
	p->ssl = true;
	p->keys = true;
	tls_copy(p->lib, sizeof(p->lib), shown);
	return 0;
}

static bool tls_any_lib_wide(const struct tls_probe *t)
{
	for (size_t i = 0; i < t->nlibs; i++)
		if (t->libs[i].calls_wide)
			return true;
	return false;
}

/* The library refused its calls uprobes (err): calls mode stays per process,
 * and a child is probed once l7top sees it. Said once, not tried again. */
static void tls_calls_narrow(struct tls_probe *t, int err)
{
	struct link_batch b = { .n = 0 };

	for (size_t i = 0; i < t->nlibs; i++)
		if (t->libs[i].calls_wide)
			tls_lib_unlink_calls(&t->libs[i], &b);
	link_batch_destroy(&b);
	__atomic_store_n(&t->skel->bss->lib_wide, 0, __ATOMIC_SEQ_CST);
	t->calls_wide = false;
	t->wide_refused = true;
	if (t->log)
		fprintf(t->log, "l7top: tls: cannot attach to the library itself (%s): calls probes "
			"per process, forked processes are probed once l7top sees them\n",
			strerror(-err));
}

/*
 * Attaches p->pid in the probe's mode. Returns 0, -ENOENT (no OpenSSL),
 * -ENOTSUP (--tls keys, but no EVP_KDF_derive) or -errno.
 */
static int tls_proc_attach(struct tls_probe *t, struct tls_proc *p)
{
	char attach[PATH_MAX], shown[PATH_MAX];
	struct tls_lib *lib;
	int err = tls_locate(t, p->pid, attach, sizeof(attach), shown, sizeof(shown));

	if (err)
		return err;
	lib = tls_lib_get(t, attach);
	if (!lib)
		return -errno ? -errno : -ENOMEM;
	if (!lib->ssl)
		return -ENOENT;
	if (t->mode != TLS_MODE_CALLS && !t->keys_off) {
		char kattach[PATH_MAX], kshown[PATH_MAX];
		struct tls_lib *klib = NULL;

		if (!tls_locate_kdf(p->pid, attach, shown, kattach, sizeof(kattach), kshown,
				    sizeof(kshown)))
			klib = tls_lib_get(t, kattach);
		if (klib && klib->kdf) {
			p->switched = t->switched;   /* the library calls probes cover it */
			return tls_proc_attach_keys(t, p, kattach, kshown, klib);
		}
		if (t->mode == TLS_MODE_KEYS)
			return -ENOTSUP;
		/* Finding klib may have moved the cache: look lib up again. */
		if (!(lib = tls_lib_get(t, attach)))
			return -errno ? -errno : -ENOMEM;
	}
	if (t->small_ring && t->log) {
		char comm[32];

		tls_comm(p->pid, comm, sizeof(comm));
		fprintf(t->log, "l7top: tls: %s[%d] has no EVP_KDF_derive: read in calls mode "
			"through a ring sized for keys mode, records it loses are counted as tls "
			"drops (--tls calls sizes the ring for calls)\n", comm, (int)p->pid);
	}
	if (t->calls_wide) {
		err = tls_lib_go_wide(t, lib, attach);
		if (err && !tls_any_lib_wide(t))
			tls_calls_narrow(t, err);   /* wide from the start, refused: per process */
	}
	/* The pid is what keeps every other process mapping libssl untrapped, until a fork. */
	if (!t->calls_wide) {
		__u32 k = (__u32)p->pid;
		__u8 one = 1;

		err = tls_attach_calls(t, lib, attach, p->pid, p->links, NULL);
		if (!err && bpf_map_update_elem(bpf_map__fd(t->skel->maps.pid_linked), &k, &one,
						BPF_ANY))
			err = -errno;   /* the library uprobes would read it twice */
		if (err) {
			struct link_batch b = { .n = 0 };

			tls_proc_unlink(t, p, &b);
			link_batch_destroy(&b);
		}
	}
	if (err)
		return err;
	p->ssl = true;
	tls_copy(p->lib, sizeof(p->lib), shown);
	return 0;
}

static struct tls_proc *tls_proc_find(struct tls_probe *t, pid_t pid)
{
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

/* Per-process lines a run writes: a server that forks a child per
 * connection would otherwise write one per connection. */
#define TLS_PROC_LINES 64

static void tls_log_proc(struct tls_probe *t, const struct tls_proc *p, int err)
{
	char comm[32];

	if (!t->log || t->proc_lines > TLS_PROC_LINES)
		return;
	if (++t->proc_lines > TLS_PROC_LINES) {
		fprintf(t->log, "l7top: tls: %d processes listed: later ones are probed the same "
			"way without a line each\n", TLS_PROC_LINES);
		return;
	}
	tls_comm(p->pid, comm, sizeof(comm));
	if (p->ssl)
		fprintf(t->log, "l7top: tls: probes on %s[%d] in %s, mode %s\n", comm, p->pid,
			p->lib, p->keys ? "keys" : "calls");
	else
		fprintf(t->log, "l7top: tls: no OpenSSL probes on %s[%d]: %s\n", comm, p->pid,
			err == -ENOENT	  ? "no libssl mapped, no SSL_read in the executable"
			: err == -ENOTSUP ? "no EVP_KDF_derive (OpenSSL 3.x) for --tls keys"
					  : strerror(-err));
}


/*
 * A target forked: from now on calls mode uses the library-wide uprobes
 * (see tls_calls.bpf.c), so children are read from their first call. The
 * library links come first, then lib_wide flips both sets at once, then
 * the per-process links go. On failure the per-process ones stay.
 */
static void tls_calls_go_wide(struct tls_probe *t)
{
	char attach[PATH_MAX], shown[PATH_MAX];
	int err = 0;

	for (size_t i = 0; i < t->nprocs && !err; i++) {
		struct tls_proc *p = &t->procs[i];
		struct tls_lib *lib;

		if (!p->ssl || p->keys)
			continue;
		err = tls_locate(t, p->pid, attach, sizeof(attach), shown, sizeof(shown));
		lib = err ? NULL : tls_lib_get(t, attach);
		err = lib ? tls_lib_go_wide(t, lib, attach) : 0;   /* gone meanwhile: skip */
	}
	if (err) {
		tls_calls_narrow(t, err);
		return;
	}
	__atomic_store_n(&t->skel->bss->lib_wide, 1, __ATOMIC_SEQ_CST);
	t->calls_wide = true;
	t->moved_ns = tls_clock_ns(CLOCK_MONOTONIC);
	struct link_batch b = { .n = 0 };
	for (size_t i = 0; i < t->nprocs; i++)
		tls_proc_unlink(t, &t->procs[i], &b);
	link_reaper_start(&t->reaper, &b);   /* lib_wide: the BPF side ignores them */
	if (t->log)
		fprintf(t->log, "l7top: tls: %s forks: calls probes now on the library, "
			"filtered on its processes in the kernel\n", t->target_name);
}

/*
 * Calls mode on a server of several processes (a master and its workers,
 * a prefork pool) starts on the library itself. Such a server forks a
 * child that serves at once (Apache prefork as load grows, NGINX at a
 * reload), and per-process uprobes leave that child unprobed for the
 * 6-12 ms that moving them to the library takes: under Apache prefork its
 * first requests were lost in most runs, not always seen as such. Other
 * processes mapping the same library trap at their SSL calls too, filtered
 * out in the kernel by tgid.
 */
static void tls_calls_wide_from_start(struct tls_probe *t, size_t npids)
{
	if (t->mode != TLS_MODE_CALLS || npids < 2)
		return;
	__atomic_store_n(&t->skel->bss->lib_wide, 1, __ATOMIC_SEQ_CST);
	t->calls_wide = true;
	if (t->log)
		fprintf(t->log, "l7top: tls: %s runs %zu processes: calls probes on the library, "
			"filtered on its processes in the kernel\n", t->target_name, npids);
}

/* A target forked and calls mode is still per process: move it now. */
static void tls_follow_forks(struct tls_probe *t)
{
	if (t->fork_seen && !t->calls_wide && !t->wide_refused && tls_probe_modes(t) != TLS_MODE_KEYS &&
	    tls_probe_modes(t) != TLS_MODE_NONE)
		tls_calls_go_wide(t);
}

int tls_probe_sync_pids(struct tls_probe *t, const pid_t *pids, size_t n)
{
	int attached = 0;

	tls_follow_forks(t);

	for (size_t i = 0; i < t->nprocs; i++)
		t->procs[i].seen = false;
	for (size_t i = 0; i < n; i++) {
		struct tls_proc *p = tls_proc_find(t, pids[i]);

		if (p) {
			p->seen = true;
			continue;
		}
		if (t->nprocs == t->cap_procs) {
			size_t cap = t->cap_procs ? t->cap_procs * 2 : 16;
			struct tls_proc *v = realloc(t->procs, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			t->procs = v;
			t->cap_procs = cap;
		}
		p = &t->procs[t->nprocs++];
		memset(p, 0, sizeof(*p));
		p->pid = pids[i];
		p->seen = true;
		int err = tls_proc_attach(t, p);
		attached += !err;
		tls_log_proc(t, p, err);
	}
	/* Gone processes: their uprobes went with their mm; free the links. */
	struct link_batch gone = { .n = 0 };
	for (size_t i = 0; i < t->nprocs;) {
		if (t->procs[i].seen) {
			i++;
			continue;
		}
		tls_proc_detach(t, &t->procs[i], &gone);
		t->procs[i] = t->procs[--t->nprocs];
	}
	link_reaper_start(&t->reaper, &gone);
	/* the fork hook's filter: what we follow, and children it added since the scan */
	int err = tgid_map_sync(bpf_map__fd(t->skel->maps.tgids), pids, n);
	return err ? err : attached;
}

/* ---- ring buffer ---------------------------------------------------------- */

/*
 * A child forked while the calls probes moved to the library, its fork
 * read only after: it ran while they were going in (the first attach
 * takes 10-30 ms), and its breakpoints, put back since, say nothing of
 * what it called meanwhile. Counted as not checked, never silent.
 */
static void tls_fork_in_move(struct tls_probe *t, const struct tls_event *e)
{
	if (!t->calls_wide || e->ts >= t->moved_ns)
		return;
	t->early_unchecked++;
	if (t->log)
		fprintf(t->log, "l7top: tls: process %u forked while the probes moved to the library: "
			"what it read and wrote until they were in place may not be seen\n", e->tid);
}

static int tls_on_record(void *ctx, void *rec, size_t size)
{
	struct tls_probe *t = ctx;
	const struct tls_sink *s = t->sink;
	const struct tls_event *e = rec;

	t->events++;
	if (tls_event_check(rec, size)) {
		t->bad_records++;
		return 0;
	}
	switch (e->kind) {
	case TLS_EV_DATA: {
		struct tls_data d = {
			.tgid = e->tgid, .tid = e->tid, .conn_id = e->conn_id, .dir = (int)e->dir,
			.ts_ns = tls_ktime_to_real(e->ts, t->clock_off),
			.len = e->len, .caplen = e->data_len, .buf = e->data,
		};
		t->data_bytes += e->len;
		if (s->data)
			s->data(s->ctx, &d);
		break;
	}
	case TLS_EV_CONN: {
		t->conn_events++;
		struct tls_conn c = {
			.tgid = e->tgid, .conn_id = e->conn_id,
			.ts_ns = tls_ktime_to_real(e->ts, t->clock_off),
			.fd = e->fd, .port = e->port,
			.family = e->family == AF_INET ? 4 : e->family == AF_INET6 ? 6 : 0,
		};
		memcpy(c.addr, e->addr, sizeof(c.addr));
		memcpy(c.laddr, e->laddr, sizeof(c.laddr));
		c.lport = e->lport;
		c.netns = e->netns;
		if (s->conn)
			s->conn(s->ctx, &c);
		break;
	}
	case TLS_EV_CLOSE:
		if (s->close)
			s->close(s->ctx, e->tgid, e->conn_id, tls_ktime_to_real(e->ts, t->clock_off));
		break;
	case TLS_EV_FORK:
		t->fork_seen = true;
		/* Keys mode needs none of this: its probe filters on tgids from the start. */
		if (t->calls_wide || tls_probe_modes(t) == TLS_MODE_KEYS)
			tls_fork_in_move(t, e);
		else if (t->nearly < sizeof(t->early) / sizeof(t->early[0]))
			t->early[t->nearly++] = (pid_t)e->tid;
		else
			t->early_unchecked++;
		if (s->fork)
			s->fork(s->ctx, e->tgid, e->tid);
		break;
	}
	return 0;
}

/* Keys ring: fixed-size records, checked and decoded by tls_keys_decode(). */
static int tls_on_key_record(void *ctx, void *rec, size_t size)
{
	struct tls_probe *t = ctx;
	const struct tls_sink *s = t->sink;
	struct tls_secret sec;
	int rc;

	t->events++;
	rc = tls_keys_decode(t->kstate, rec, size, t->clock_off, &sec);
	if (rc < 0) {
		t->bad_records++;
		return 0;
	}
	if (rc == 0) {
		t->secrets_unmatched++;
		return 0;
	}
	t->secrets++;
	t->handshakes += sec.kind == TLS_SECRET_SERVER_HS || sec.kind == TLS_SECRET_MASTER;
	if (s->secret)
		s->secret(s->ctx, &sec);
	return 0;
}

int tls_probe_consume(struct tls_probe *t, const struct tls_sink *sink)
{
	int n;

	/* Measured per batch: a stepped wall clock is followed within one drain. */
	t->clock_off = tls_clock_offset();
	t->sink = sink;
	n = ring_buffer__consume(t->rb);
	t->sink = NULL;
	/*
	 * The child is running already: move the calls probes to the library
	 * before the caller's /proc rescan, which takes milliseconds on a busy
	 * host (the fork hook put the child in tgids in the kernel).
	 */
	tls_follow_forks(t);
	return n;
}

int tls_probe_consume_pending(struct tls_probe *t, const struct tls_sink *sink)
{
	int n;

	t->sink = sink;
	n = ring_buffer__consume(t->rb);   /* empty rings: two loads each */
	t->sink = NULL;
	return n;
}

int tls_probe_fd(const struct tls_probe *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

/* The sum over CPUs of a per-CPU __u64 counter map. */
static uint64_t tls_drops(const struct bpf_map *map)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*v)) : NULL;
	__u32 zero = 0;
	uint64_t sum = 0;

	if (!v)
		return 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(map), &zero, v))
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

void tls_probe_stats(const struct tls_probe *t, struct tls_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->events = t->events;
	st->data_bytes = t->data_bytes;
	st->bad_records = t->bad_records;
	st->drops = tls_drops(t->skel->maps.drops);
	st->secrets = t->secrets;
	st->secrets_unmatched = t->secrets_unmatched;
	st->unprobed = t->unprobed + t->early_unchecked;
	st->secret_drops = t->kskel ? tls_drops(t->kskel->maps.key_drops) : 0;
	st->drops += st->secret_drops;
	st->pids = t->nprocs;
	for (size_t i = 0; i < t->nprocs; i++) {
		const struct tls_proc *p = &t->procs[i];

		st->pids_ssl += p->ssl;
		st->pids_keys += p->keys;
		if (i < TLS_STATS_PIDS) {
			st->per_pid[i].pid = p->pid;
			tls_copy(st->per_pid[i].lib, sizeof(st->per_pid[i].lib), p->ssl ? p->lib : "");
			st->per_pid[i].mode = !p->ssl ? TLS_MODE_NONE
					    : p->keys ? TLS_MODE_KEYS : TLS_MODE_CALLS;
		}
	}
}

enum tls_mode tls_probe_modes(const struct tls_probe *t)
{
	bool keys = false, calls = false;

	for (size_t i = 0; t && i < t->nprocs; i++) {
		keys |= t->procs[i].ssl && t->procs[i].keys;
		calls |= t->procs[i].ssl && (!t->procs[i].keys || t->procs[i].switched);
	}
	return keys && calls ? TLS_MODE_KEYS_CALLS : keys ? TLS_MODE_KEYS
	       : calls ? TLS_MODE_CALLS : TLS_MODE_NONE;
}

/* ---- --tls auto ------------------------------------------------------------- */

void tls_probe_auto_counts(const struct tls_probe *t, uint64_t *kdf_hits, uint64_t *handshakes,
			   uint64_t *set_fds)
{
	*kdf_hits = t->kskel ? tls_drops(t->kskel->maps.kdf_hits) : 0;
	*handshakes = t->handshakes;
	*set_fds = t->conn_events;
}

/*
 * Library-wide calls probes (filtered on tgids in the kernel, so forks are
 * covered) with new_only set first: the first SSL_set_fd after the flip
 * is the first connection read by calls.
 */
int tls_probe_switch_calls(struct tls_probe *t)
{
	char attach[PATH_MAX], shown[PATH_MAX];
	int err = 0;

	t->was_wide = t->calls_wide;
	__atomic_store_n(&t->skel->bss->new_only, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < t->nprocs && !err; i++) {
		struct tls_proc *p = &t->procs[i];
		struct tls_lib *lib;

		if (!p->ssl || !p->keys)
			continue;
		err = tls_locate(t, p->pid, attach, sizeof(attach), shown, sizeof(shown));
		lib = err ? NULL : tls_lib_get(t, attach);
		err = lib ? tls_lib_go_wide(t, lib, attach) : 0;   /* gone meanwhile: skip */
	}
	if (err) {
		struct link_batch b = { .n = 0 };

		for (size_t i = 0; i < t->nlibs; i++)
			if (t->libs[i].calls_wide && !t->calls_wide)
				tls_lib_unlink_calls(&t->libs[i], &b);
		link_batch_destroy(&b);
		__atomic_store_n(&t->skel->bss->new_only, 0, __ATOMIC_SEQ_CST);
		return err;
	}
	__atomic_store_n(&t->skel->bss->lib_wide, 1, __ATOMIC_SEQ_CST);
	t->calls_wide = true;
	t->switched = true;
	struct link_batch b = { .n = 0 };
	for (size_t i = 0; i < t->nprocs; i++) {
		if (!t->procs[i].keys)
			tls_proc_unlink(t, &t->procs[i], &b);   /* the library probes read them now */
		t->procs[i].switched = t->procs[i].ssl && t->procs[i].keys;
	}
	link_reaper_start(&t->reaper, &b);
	return 0;
}

void tls_probe_switch_undo(struct tls_probe *t)
{
	if (!t->was_wide) {
		struct link_batch b = { .n = 0 };

		for (size_t i = 0; i < t->nlibs; i++)
			tls_lib_unlink_calls(&t->libs[i], &b);
		link_batch_destroy(&b);
		t->calls_wide = false;
		__atomic_store_n(&t->skel->bss->lib_wide, 0, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&t->skel->bss->new_only, 0, __ATOMIC_SEQ_CST);
	t->switched = false;
	for (size_t i = 0; i < t->nprocs; i++)
		t->procs[i].switched = false;
}

/* The probe reports nothing once keys_off is set, so its links close on the
 * reaper: on the loop their ~100 ms each held every ring unread. */
void tls_probe_keys_off(struct tls_probe *t)
{
	struct link_batch b = { .n = 0 };

	t->keys_off = true;
	if (t->kskel)
		__atomic_store_n(&t->kskel->bss->keys_off, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < t->nlibs; i++)
		link_batch_take(&b, &t->libs[i].kdf_link);
	link_reaper_start(&t->reaper, &b);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* The fork hook (tp_btf: no tracefs needed): every mode follows new processes. */
static int tls_attach_fork(struct tls_probe *t)
{
	t->skel->links.on_fork = bpf_program__attach(t->skel->progs.on_fork);
	return t->skel->links.on_fork ? 0 : -errno;
}

/* Keys mode: the EVP_KDF_derive program, its ring joined to the calls ring. */
static int tls_open_keys(struct tls_probe *t, char *err, size_t errlen)
{
	int ret;

	t->kstate = calloc(1, sizeof(*t->kstate));
	if (!t->kstate) {
		snprintf(err, errlen, "l7top: out of memory");
		return -ENOMEM;
	}
	t->kskel = tls_keys_bpf__open();
	if (!t->kskel) {
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot open the TLS key probe: %s", strerror(-ret));
		return ret;
	}
	/* One tgid filter for both objects: the fork hook keeps it. */
	ret = bpf_map__reuse_fd(t->kskel->maps.tgids, bpf_map__fd(t->skel->maps.tgids));
	if (!ret)
		ret = tls_keys_bpf__load(t->kskel);
	if (ret) {
		snprintf(err, errlen, "l7top: cannot load the TLS key probe: %s", strerror(-ret));
		return ret;
	}
	if (ring_buffer__add(t->rb, bpf_map__fd(t->kskel->maps.keys_rb), tls_on_key_record, t)) {
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot open the TLS key ring: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int tls_probe_open(struct tls_probe **out, const struct tls_probe_opts *o, char *err, size_t errlen)
{
	struct tls_probe *t;
	int ret;

	*out = NULL;
	if (o->capture_bytes > TLS_DATA_MAX) {
		snprintf(err, errlen, "l7top: --capture-bytes is at most %d", TLS_DATA_MAX);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "l7top: out of memory");
		return -ENOMEM;
	}
	t->ssl_lib = o->ssl_lib;
	t->log = o->log;
	t->mode = o->mode;
	tls_copy(t->target_name, sizeof(t->target_name),
		 o->target_name ? o->target_name : "the target");
	t->skel = tls_calls_bpf__open();
	if (!t->skel) {
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot open the TLS probes: %s", strerror(-ret));
		goto fail;
	}
	t->skel->rodata->capture_bytes = o->capture_bytes ? o->capture_bytes : TLS_CAPTURE_DEFAULT;
	/*
	 * The calls ring, once mapped (at the first calls probe, twice over), is
	 * RSS for its whole size. Keys mode never maps it. auto keeps a quarter
	 * of calls mode's: it switches where handshakes are many and requests
	 * per connection few (Connection: close), and what a burst overflows is
	 * counted as tls drops.
	 */
	t->small_ring = t->mode == TLS_MODE_KEYS;
	if (t->small_ring)
		bpf_map__set_max_entries(t->skel->maps.rb, 64 * 1024);
	else if (t->mode == TLS_MODE_AUTO)
		bpf_map__set_max_entries(t->skel->maps.rb, 2 * 1024 * 1024);
	ret = tls_calls_bpf__load(t->skel);
	if (ret) {
		snprintf(err, errlen, "l7top: cannot load the TLS probes: %s", strerror(-ret));
		goto fail;
	}
	ret = tls_attach_fork(t);
	if (ret) {
		snprintf(err, errlen, "l7top: cannot attach the fork hook (tp_btf/sched_process_fork): %s",
			 strerror(-ret));
		goto fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.forks), tls_on_record, t, NULL);
	if (!t->rb) {
		ret = -errno;
		snprintf(err, errlen, "l7top: cannot open the TLS ring buffer: %s", strerror(-ret));
		goto fail;
	}
	if (t->mode != TLS_MODE_CALLS && (ret = tls_open_keys(t, err, errlen)))
		goto fail;
	tls_calls_wide_from_start(t, o->npids);
	ret = tls_probe_sync_pids(t, o->pids, o->npids);
	if (ret < 0) {
		snprintf(err, errlen, "l7top: cannot follow %s: %s", t->target_name, strerror(-ret));
		goto fail;
	}
	if (ret == 0)
		fprintf(stderr, "l7top: no OpenSSL in %s: watching plaintext only\n", t->target_name);
	*out = t;
	return 0;
fail:
	tls_probe_close(t);
	return ret;
}

void tls_probe_close(struct tls_probe *t)
{
	if (!t)
		return;
	struct link_batch b = { .n = 0 };
	link_reaper_wait(&t->reaper);
	for (size_t i = 0; i < t->nprocs; i++)
		tls_proc_detach(t, &t->procs[i], &b);
	for (size_t i = 0; i < t->nlibs; i++)
		tls_lib_unlink(&t->libs[i], &b);
	link_batch_destroy(&b);
	ring_buffer__free(t->rb);
	tls_keys_bpf__destroy(t->kskel);
	tls_calls_bpf__destroy(t->skel);
	free(t->kstate);
	free(t->procs);
	free(t->libs);
	free(t);
}
