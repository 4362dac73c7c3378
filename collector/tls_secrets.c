// SPDX-License-Identifier: MIT
#include "collector/tls_secrets.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define NIL UINT32_MAX

struct entry {
	uint8_t idk, id_len;
	uint8_t id[TLS_ID_MAX];
	uint64_t added_ns;           /* first secret: the ttl runs from here */
	struct tls_secret_set set;
	uint32_t next;               /* hash chain, or free list */
	bool used;
};

/*
 * Entries in one array, chained from a power-of-two bucket array; unused
 * entries form a free list, then the never-used tail. Lookups happen while
 * a connection waits for its keys, so they must not scan the table.
 */
struct tls_secrets {
	struct entry *e;
	uint32_t *bucket;
	uint32_t max, nbuckets, count, free_head;
	uint32_t fresh;              /* e[fresh..max) never used: untouched pages */
	uint64_t ttl_ns;
	struct tls_secrets_stats st;
};

static uint32_t id_hash(const struct tls_secrets *t, unsigned idk, const uint8_t *id, size_t len)
{
	uint32_t h = 2166136261u ^ idk;          /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ id[i]) * 16777619u;
	return h & (t->nbuckets - 1);
}

struct tls_secrets *tls_secrets_new(size_t max, uint64_t ttl_ns)
{
	struct tls_secrets *t = calloc(1, sizeof(*t));
	if (!t || !max || max > (1u << 24))
		goto fail;
	t->max = (uint32_t)max;
	t->nbuckets = 1;
	while (t->nbuckets < t->max)
		t->nbuckets <<= 1;
	t->ttl_ns = ttl_ns;
	/* calloc'd, and entries taken from the top before the free list has
	 * any: a target without TLS keeps 4096 entries (1.3 MB) unmapped. */
	t->e = calloc(max, sizeof(*t->e));
	t->bucket = malloc(t->nbuckets * sizeof(*t->bucket));
	if (!t->e || !t->bucket)
		goto fail;
	for (uint32_t i = 0; i < t->nbuckets; i++)
		t->bucket[i] = NIL;
	t->free_head = NIL;
	return t;
fail:
	tls_secrets_free(t);
	return NULL;
}

void tls_secrets_free(struct tls_secrets *t)
{
	if (!t)
		return;
	if (t->e) {
		OPENSSL_cleanse(t->e, t->fresh * sizeof(*t->e));
		free(t->e);
	}
	free(t->bucket);
	free(t);
}

void tls_secret_set_wipe(struct tls_secret_set *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* Index of the entry for (idk, id), NIL if none; *prevp gets the chain
 * predecessor (NIL when it is the bucket head) for unlinking. */
static uint32_t find(const struct tls_secrets *t, unsigned idk, const uint8_t *id, size_t len,
		     uint32_t *prevp)
{
	uint32_t prev = NIL;
	for (uint32_t i = t->bucket[id_hash(t, idk, id, len)]; i != NIL; prev = i, i = t->e[i].next) {
		const struct entry *e = &t->e[i];
		if (e->idk == idk && e->id_len == len && !memcmp(e->id, id, len)) {
			if (prevp)
				*prevp = prev;
			return i;
		}
	}
	return NIL;
}

/* Unlinks, wipes and frees entry i. */
static void drop(struct tls_secrets *t, uint32_t i, uint32_t prev)
{
	struct entry *e = &t->e[i];
	uint32_t b = id_hash(t, e->idk, e->id, e->id_len);
	if (prev == NIL)
		t->bucket[b] = e->next;
	else
		t->e[prev].next = e->next;
	OPENSSL_cleanse(e, sizeof(*e));
	e->next = t->free_head;
	t->free_head = i;
	t->count--;
}

static uint32_t insert(struct tls_secrets *t, unsigned idk, const uint8_t *id, size_t len, uint64_t now)
{
	uint32_t i = t->free_head;
	if (i != NIL)
		t->free_head = t->e[i].next;
	else if (t->fresh < t->max)
		i = t->fresh++;
	else
		return NIL;
	struct entry *e = &t->e[i];
	e->used = true;
	e->idk = (uint8_t)idk;
	e->id_len = (uint8_t)len;
	memcpy(e->id, id, len);
	e->added_ns = now;
	uint32_t b = id_hash(t, idk, id, len);
	e->next = t->bucket[b];
	t->bucket[b] = i;
	t->count++;
	return i;
}

int tls_secrets_add(struct tls_secrets *t, enum tls_id_kind idk, const uint8_t *id, size_t id_len,
		    enum tls_secret_kind kind, const uint8_t *secret, size_t len, uint64_t now_ns)
{
	if (!id_len || id_len > TLS_ID_MAX || !len || len > TLS_SECRET_MAX ||
	    (unsigned)kind >= TLS_SECRET_KINDS || (unsigned)idk > TLS_ID_TRANSCRIPT)
		return -EINVAL;
	uint32_t i = find(t, idk, id, id_len, NULL);
	if (i == NIL && t->count == t->max)
		tls_secrets_expire(t, now_ns);     /* make room only when needed */
	if (i == NIL)
		i = insert(t, idk, id, id_len, now_ns);
	if (i == NIL) {
		t->st.full++;
		return -ENOSPC;
	}
	struct tls_secret_set *s = &t->e[i].set;
	memcpy(s->val[kind], secret, len);
	s->len[kind] = (uint8_t)len;
	s->have |= TLS_SECRET_BIT(kind);
	t->st.added++;
	return 0;
}

unsigned tls_secrets_take(struct tls_secrets *t, enum tls_id_kind idk, const uint8_t *id, size_t id_len,
			  unsigned want, struct tls_secret_set *out)
{
	uint32_t prev;
	uint32_t i = id_len && id_len <= TLS_ID_MAX ? find(t, idk, id, id_len, &prev) : NIL;
	if (i == NIL)
		return out->have;
	const struct tls_secret_set *s = &t->e[i].set;
	for (unsigned k = 0; k < TLS_SECRET_KINDS; k++) {
		unsigned bit = TLS_SECRET_BIT(k);
		if ((s->have & bit) && !(out->have & bit)) {
			memcpy(out->val[k], s->val[k], s->len[k]);
			out->len[k] = s->len[k];
			out->have |= bit;
		}
	}
	if (want && (s->have & want) == want) {
		t->st.used++;
		drop(t, i, prev);
	}
	return out->have;
}

void tls_secrets_expire(struct tls_secrets *t, uint64_t now_ns)
{
	for (uint32_t b = 0; b < t->nbuckets; b++) {
		uint32_t prev = NIL, i = t->bucket[b];
		while (i != NIL) {
			uint32_t next = t->e[i].next;
			if (now_ns >= t->e[i].added_ns && now_ns - t->e[i].added_ns > t->ttl_ns) {
				t->st.expired++;
				drop(t, i, prev);
			} else {
				prev = i;
			}
			i = next;
		}
	}
}

size_t tls_secrets_count(const struct tls_secrets *t)
{
	return t->count;
}

void tls_secrets_get_stats(const struct tls_secrets *t, struct tls_secrets_stats *st)
{
	*st = t->st;
}

/* ------------------------------------------------------------ key log */

static const char *const KEYLOG_LABELS[TLS_SECRET_KINDS] = {
	[TLS_SECRET_CLIENT_HS] = "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	[TLS_SECRET_SERVER_HS] = "SERVER_HANDSHAKE_TRAFFIC_SECRET",
	[TLS_SECRET_CLIENT_AP] = "CLIENT_TRAFFIC_SECRET_0",
	[TLS_SECRET_SERVER_AP] = "SERVER_TRAFFIC_SECRET_0",
	[TLS_SECRET_MASTER] = "CLIENT_RANDOM",
};

const char *tls_keylog_label(enum tls_secret_kind kind)
{
	return (unsigned)kind < TLS_SECRET_KINDS ? KEYLOG_LABELS[kind] : "";
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one whitespace-delimited hex field at *p into out (at most max
 * bytes); advances *p. Returns the byte count or -1. */
static int hex_field(const char **p, const char *end, uint8_t *out, size_t max)
{
	const char *s = *p;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	size_t n = 0;
	while (s + 1 < end && hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
		if (n == max)
			return -1;
		out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
		s += 2;
	}
	if (s < end && *s != ' ' && *s != '\t' && *s != '\r')
		return -1;                 /* odd digit count or junk */
	*p = s;
	return n ? (int)n : -1;
}

/* One line, without its '\n'. 1 added, 0 skipped, -1 malformed, -ENOSPC. */
static int keylog_line(struct tls_secrets *t, const char *s, const char *end, uint64_t now)
{
	uint8_t cr[TLS_ID_MAX], secret[TLS_SECRET_MAX];
	const char *sp = memchr(s, ' ', (size_t)(end - s));

	if (s == end || *s == '#' || *s == '\r')
		return 0;
	if (!sp)
		return -1;
	for (enum tls_secret_kind k = 0; k < TLS_SECRET_KINDS; k++) {
		if (strlen(KEYLOG_LABELS[k]) != (size_t)(sp - s) ||
		    memcmp(s, KEYLOG_LABELS[k], (size_t)(sp - s)))
			continue;
		const char *p = sp;
		int crn = hex_field(&p, end, cr, sizeof(cr));
		int sn = crn == 32 ? hex_field(&p, end, secret, sizeof(secret)) : -1;
		int rc = sn > 0 ? tls_secrets_add(t, TLS_ID_CLIENT_RANDOM, cr, 32, k,
						   secret, (size_t)sn, now) : -1;
		OPENSSL_cleanse(secret, sizeof(secret));
		return rc == 0 ? 1 : rc;
	}
	return 0;                          /* EXPORTER_SECRET, EARLY_*: not needed */
}

int tls_keylog_parse(struct tls_secrets *t, const char *buf, size_t len, uint64_t now_ns, size_t *bad)
{
	const char *s = buf, *end = buf + len;
	int added = 0, full = 0;
	size_t nbad = 0;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		int rc = keylog_line(t, s, le, now_ns);
		if (rc > 0)
			added++;
		else if (rc == -ENOSPC)
			full = 1;
		else if (rc < 0)
			nbad++;
		s = nl ? nl + 1 : end;
	}
	if (bad)
		*bad = nbad;
	return full ? -ENOSPC : added;
}
