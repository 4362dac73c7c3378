// SPDX-License-Identifier: MIT
/*
 * TLS session secrets at the handshake: one entry uprobe on libcrypto's
 * EVP_KDF_derive, attached to the library itself (every process mapping
 * it traps, once per derivation, so only at handshakes) and filtered here
 * on the target's tgids: a child forked by a target is in "tgids" before it
 * runs (tls_calls' fork hook adds it in the kernel), so its first handshake
 * is caught, with no race against user space attaching. The params
 * array is walked by name (see tls_keys.h for what each call gives); every
 * derivation that is not a TLS traffic secret or a TLS 1.2 key expansion is
 * dropped here, so only secrets ever reach the ring.
 *
 * Thin on purpose: no association of TLS 1.3 application secrets to their
 * connection here (user space does it, see tls_keys_decode()), and no
 * wake-up per event: user space drains on a short timer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "tls_keys.h"

/* Wake the reader only once this much waits (~32 secrets). */
const volatile __u64 wake_bytes = 4096;

/*
 * Written by user space when --tls auto lets the keys path go: from then
 * on a derivation is let through untouched. Closing the probe's link takes
 * ~100 ms, on a thread (tls_probe_keys_off), so it may still trap a while.
 */
volatile __u32 keys_off;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);   /* ~6,000 secrets; mapped twice: 2 MB of RSS */
} keys_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} key_drops SEC(".maps");

/* Derivations the target's processes made (each one a trap): --tls auto's measure. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} kdf_hits SEC(".maps");

/*
 * The target's processes. The loader hands in tls_calls' map
 * (bpf_map__reuse_fd), which user space fills and the fork hook extends.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

/*
 * A TLS 1.3 traffic-secret derivation seen at entry, waiting for the "key"
 * expansion that follows it on the same thread (tls13_change_cipher_state
 * derives the secret, then its key and iv, without yielding in between).
 */
struct pending {
	__u32 secret_kind;
	__u32 id_len;
	__u8 id[TLS_KEY_ID_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);            /* pid_tgid */
	__type(value, struct pending);
} pendings SEC(".maps");

/* One OSSL_PARAM's payload, as far as the probe needs it. */
struct pval {
	__u64 ptr;
	__u64 size;
};

/* What one call's params hold, by name; ptr 0 = absent. */
struct kdf_params {
	struct pval key, label, data, secret;
	struct pval seed[3];
	__u32 nseed;
};

/* A param name packed little-endian into a u64 (names here are < 8 chars). */
#define N8(a, b, c, d, e, f, g) \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | \
	 (__u64)(e) << 32 | (__u64)(f) << 40 | (__u64)(g) << 48)
#define NAME_KEY    N8('k', 'e', 'y', 0, 0, 0, 0)
#define NAME_LABEL  N8('l', 'a', 'b', 'e', 'l', 0, 0)
#define NAME_DATA   N8('d', 'a', 't', 'a', 0, 0, 0)
#define NAME_SECRET N8('s', 'e', 'c', 'r', 'e', 't', 0)
#define NAME_SEED   N8('s', 'e', 'e', 'd', 0, 0, 0)

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&key_drops, &zero);

	if (v)
		(*v)++;
}

static __always_inline __u64 wake_flags(void)
{
	return bpf_ringbuf_query(&keys_rb, BPF_RB_AVAIL_DATA) > wake_bytes ? BPF_RB_FORCE_WAKEUP
									   : BPF_RB_NO_WAKEUP;
}

/* Reads params[] by name, at most TLS_KEY_PARAMS_MAX entries, up to the NULL key. */
static __always_inline void params_read(const void *params, struct kdf_params *kp)
{
	for (int i = 0; i < TLS_KEY_PARAMS_MAX; i++) {
		const __u8 *p = (const __u8 *)params + i * OSSL_PARAM_SZ;
		__u64 keyp = 0, name = 0;
		struct pval v = {};

		if (bpf_probe_read_user(&keyp, sizeof(keyp), p + OSSL_PARAM_KEY_OFF) || !keyp)
			break;
		/* Reads at most 7 chars + NUL: longer names never match. */
		if (bpf_probe_read_user_str(&name, sizeof(name), (const void *)keyp) < 0)
			break;
		if (bpf_probe_read_user(&v.ptr, sizeof(v.ptr), p + OSSL_PARAM_DATA_OFF) ||
		    bpf_probe_read_user(&v.size, sizeof(v.size), p + OSSL_PARAM_SIZE_OFF))
			break;
		if (name == NAME_KEY)
			kp->key = v;
		else if (name == NAME_LABEL)
			kp->label = v;
		else if (name == NAME_DATA)
			kp->data = v;
		else if (name == NAME_SECRET)
			kp->secret = v;
		else if (name == NAME_SEED) {
			if (kp->nseed == 0)
				kp->seed[0] = v;
			else if (kp->nseed == 1)
				kp->seed[1] = v;
			else if (kp->nseed == 2)
				kp->seed[2] = v;
			kp->nseed++;
		}
	}
}

/* Copies a 32- or 48-byte value (a hash or a secret); other sizes fail. */
static __always_inline int read_hash(__u8 *dst, const struct pval *v)
{
	if (!v->ptr)
		return -1;
	if (v->size == 32)
		return bpf_probe_read_user(dst, 32, (const void *)v->ptr) ? -1 : 32;
	if (v->size == 48)
		return bpf_probe_read_user(dst, 48, (const void *)v->ptr) ? -1 : 48;
	return -1;
}

static __always_inline struct tls_key_event *reserve(__u32 secret_kind)
{
	struct tls_key_event *e = bpf_ringbuf_reserve(&keys_rb, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		count_drop();
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = TLS_KEY_EV_SECRET;
	e->secret_kind = secret_kind;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->ts = bpf_ktime_get_ns();
	return e;
}

/* TLS 1.3: which traffic secret a 12-byte label derives, or -1. */
static __always_inline int label13_kind(const char l[12])
{
	/* "s hs traffic", "c hs traffic", "s ap traffic", "c ap traffic" */
	if (l[1] != ' ' || l[4] != ' ' || l[5] != 't' || l[6] != 'r' || l[7] != 'a' ||
	    l[8] != 'f' || l[9] != 'f' || l[10] != 'i' || l[11] != 'c')
		return -1;
	if (l[2] == 'h' && l[3] == 's')
		return l[0] == 'c' ? TLS_SECRET_CLIENT_HS : l[0] == 's' ? TLS_SECRET_SERVER_HS : -1;
	if (l[2] == 'a' && l[3] == 'p')
		return l[0] == 'c' ? TLS_SECRET_CLIENT_AP : l[0] == 's' ? TLS_SECRET_SERVER_AP : -1;
	return -1;
}

static __always_inline int derive13(const struct kdf_params *kp)
{
	__u64 id = bpf_get_current_pid_tgid();
	char l[12] = {};

	if (kp->label.size == 3) {
		/* "key": its key param is the secret the pending call derived. */
		struct pending *pd = bpf_map_lookup_elem(&pendings, &id);
		struct tls_key_event *e;
		int n;

		if (!pd || bpf_probe_read_user(l, 3, (const void *)kp->label.ptr) ||
		    l[0] != 'k' || l[1] != 'e' || l[2] != 'y')
			return 0;
		e = reserve(pd->secret_kind);
		if (!e)
			goto out;
		n = read_hash(e->secret, &kp->key);
		if (n < 0 || pd->id_len > TLS_KEY_ID_MAX) {
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
			goto out;
		}
		e->secret_len = n;
		e->id_len = pd->id_len;
		__builtin_memcpy(e->id, pd->id, TLS_KEY_ID_MAX);
		bpf_ringbuf_submit(e, wake_flags());
out:
		bpf_map_delete_elem(&pendings, &id);
		return 0;
	}
	if (kp->label.size == 12 && !bpf_probe_read_user(l, 12, (const void *)kp->label.ptr)) {
		struct pending pd = {};
		int kind = label13_kind(l), n;

		if (kind >= 0 && (n = read_hash(pd.id, &kp->data)) > 0) {
			pd.secret_kind = kind;
			pd.id_len = n;
			bpf_map_update_elem(&pendings, &id, &pd, BPF_ANY);
			return 0;
		}
	}
	/* Any other TLS 1.3 step ("iv", "finished", "traffic upd", ...): a
	 * stale pending must never hand its kind to a later "key". */
	bpf_map_delete_elem(&pendings, &id);
	return 0;
}

static const char KEY_EXPANSION[13] = "key expansion";

static __always_inline int derive12(const struct kdf_params *kp)
{
	char label[13] = {};
	struct tls_key_event *e;

	if (kp->nseed < 3 || kp->seed[0].size != 13 || kp->seed[2].size != 32 ||
	    kp->secret.size != 48 || !kp->seed[0].ptr || !kp->seed[2].ptr)
		return 0;
	if (bpf_probe_read_user(label, 13, (const void *)kp->seed[0].ptr))
		return 0;
	for (int i = 0; i < 13; i++)
		if (label[i] != KEY_EXPANSION[i])
			return 0;
	e = reserve(TLS_SECRET_MASTER);
	if (!e)
		return 0;
	if (bpf_probe_read_user(e->secret, 48, (const void *)kp->secret.ptr) ||
	    bpf_probe_read_user(e->id, 32, (const void *)kp->seed[2].ptr)) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return 0;
	}
	e->secret_len = 48;
	e->id_len = 32;
	bpf_ringbuf_submit(e, wake_flags());
	return 0;
}

static __always_inline int kdf_derive(const void *params)
{
	struct kdf_params kp = {};
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	__u32 zero = 0;
	__u64 *hits;

	if (!params || keys_off || !bpf_map_lookup_elem(&tgids, &tgid))
		return 0;
	hits = bpf_map_lookup_elem(&kdf_hits, &zero);
	if (hits)
		(*hits)++;
	params_read(params, &kp);
	if (kp.label.ptr && kp.key.ptr)
		return derive13(&kp);
	if (kp.secret.ptr && kp.nseed)
		return derive12(&kp);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(evp_kdf_derive, void *kctx, unsigned char *out, size_t outlen, const void *params)
{
	return kdf_derive(params);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
