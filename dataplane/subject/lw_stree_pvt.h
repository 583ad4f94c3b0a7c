/* SPDX-License-Identifier: MIT */
/*
 * Internals of the subscription tree shared by its reader (lw_stree.c)
 * and its writer (lw_stree_write.c): layout, records and token helpers.
 * Not for direct inclusion.
 */
#ifndef LW_STREE_PVT_H
#define LW_STREE_PVT_H

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <assert.h>
#include <limits.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <lightwire/client.h>

#include "lw_err.h"
#include "lw_subject.h"

#define STREE_MAGIC 0x4c57535452454531ULL /* "LWSTREE1" */
#define STREE_VERSION 3u /* 2: noecho array, 3: quota array */
#define CACHE_LINE 64
#define NIL UINT32_MAX
#define ROOT 0u
/* Keeps node_cap and all indices well inside 32 bits. */
#define MAX_SUBS_LIMIT (1u << 24)
#define NODES_PER_SUB 8u
#define CHUNKS_PER_SUB 2u
#define CAP_SLACK 64u
#define INLINE_WORDS 4 /* token bytes 0..31 live in the node */
#define CHUNK_WORDS 7  /* each overflow chunk holds 56 more */
#define EMPTY_SLOT UINT64_MAX
/* Busy-wait this many times on an active writer before yielding the CPU:
 * a tree change is a few hundred nanoseconds, a yield is a system call. */
#define WRITER_STALL_YIELDS 1000000u
#define SPINS_BEFORE_YIELD 128u
/* Internal walk result: the reader saw an inconsistent tree. */
#define TORN INT_MIN

/* Every shared field a reader may load while the writer stores it goes
 * through these, so concurrent access is never a data race. */
#define RD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define WR(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

enum { K_ROOT, K_LIT, K_STAR, K_GT };

/* R = read by matchers, W = writer only. */
struct node {
	uint32_t parent;  /* R; next free node while on the free list */
	uint32_t star;    /* R: child for a '*' token */
	uint32_t gt;      /* R: child for a '>' token, always a leaf */
	uint32_t subs;    /* R: head of the plain entries ending here */
	uint32_t groups;  /* R: head of the queue groups ending here */
	uint32_t more;    /* R: first overflow chunk of the token */
	uint16_t tok_len; /* R */
	uint8_t kind;     /* W */
	uint8_t pad;
	uint32_t nkids;   /* W: literal + '*' + '>' children */
	uint64_t tok[INLINE_WORDS]; /* R: token bytes, zero padded */
};

struct chunk {
	uint32_t next;    /* R; next free chunk while on the free list */
	uint32_t pad;
	uint64_t w[CHUNK_WORDS];
};

/* Indexed by subscription id, so ids need no allocation. */
struct entry {
	uint32_t next;    /* R: next entry of the node's or group's list */
	uint32_t prev;    /* W: makes removal O(1) in long lists */
	uint32_t node;    /* W: where it ends; NIL when the id is free */
	uint32_t group;   /* W: its queue group or NIL */
};

struct group {
	uint32_t next;     /* R: next group of the node; next free group */
	uint32_t members;  /* R: head of the member entries */
	uint32_t nmembers; /* R */
	uint32_t rr;       /* R, and the only field readers write */
	uint32_t prev;     /* W */
	uint32_t node;     /* W */
	uint32_t qlen;     /* W */
	uint32_t pad;
	char qname[LW_QUEUE_MAX]; /* W: readers never need the name */
};

/* Geometry, all derived from max_subs by layout(). */
struct layout {
	uint32_t max_subs, node_cap, chunk_cap, hash_mask;
	uint64_t off_nodes, off_chunks, off_hash, off_entries, off_groups, off_noecho, off_quota;
	uint64_t size;
};

struct lw_stree {
	/* Written once by init, then only read. */
	uint64_t magic;
	uint32_t version;
	uint32_t pad0;
	struct layout g;
	/* Odd while the writer changes the tree. On its own line: every
	 * match loads it twice and should not share with writer state. */
	alignas(CACHE_LINE) _Atomic uint64_t seq;
	/* Writer state; only count is read by others (lw_stree_count). */
	alignas(CACHE_LINE) uint32_t count;
	uint32_t node_free, node_hwm, nodes_used;
	uint32_t chunk_free, chunk_hwm, chunks_used;
	uint32_t group_free, group_hwm;
};

static_assert(sizeof(struct node) == 64, "a node is one cache line");
static_assert(sizeof(struct chunk) == 64, "a chunk is one cache line");
static_assert(sizeof(struct entry) == 16, "entry size");
static_assert(offsetof(struct group, prev) == 16 && sizeof(struct group) == 96,
	      "a group's reader fields never straddle a line");
static_assert(offsetof(struct lw_stree, seq) == 2 * CACHE_LINE &&
	      offsetof(struct lw_stree, seq) == LW_STREE_SEQ_OFF, "seq line (lw_stree_seq)");
static_assert(offsetof(struct lw_stree, count) == 3 * CACHE_LINE, "writer line");

/* A subject split into tokens, copied with 8 zero bytes after it so tokens
 * can be read a whole word at a time. */
struct subj {
	uint32_t ntok;
	char buf[LW_SUBJECT_MAX + 8];
	struct {
		uint16_t off;
		uint16_t len;
		uint64_t hash;
	} tk[LW_SUBJECT_MAX + 1];
};

#define ALIGN_UP(x, a) (((x) + (uint64_t)(a) - 1) & ~((uint64_t)(a) - 1))

static inline int layout(uint32_t max_subs, struct layout *l)
{
	uint64_t off, slots = 2;

	if (max_subs == 0 || max_subs > MAX_SUBS_LIMIT)
		return -1;
	memset(l, 0, sizeof(*l));
	l->max_subs = max_subs;
	/* A subscription adds at most one node per token; 8 covers real
	 * subjects and a longer one simply gets LW_ENOMEM when it is out. */
	l->node_cap = max_subs * NODES_PER_SUB + CAP_SLACK;
	l->chunk_cap = max_subs * CHUNKS_PER_SUB + CAP_SLACK;
	/* Load factor at most 3/4 even with every node in use. */
	while (slots < (uint64_t)l->node_cap + l->node_cap / 3)
		slots <<= 1;
	l->hash_mask = (uint32_t)(slots - 1);
	off = ALIGN_UP(sizeof(struct lw_stree), CACHE_LINE);
	l->off_nodes = off;
	off += (uint64_t)l->node_cap * sizeof(struct node);
	l->off_chunks = off;
	off += (uint64_t)l->chunk_cap * sizeof(struct chunk);
	l->off_hash = off;
	off += slots * sizeof(uint64_t);
	l->off_entries = off;
	off = ALIGN_UP(off + (uint64_t)max_subs * sizeof(struct entry), CACHE_LINE);
	l->off_groups = off;
	off += (uint64_t)max_subs * sizeof(struct group);
	/* Per entry, apart from the entries (16 bytes, 4 a line, read on
	 * every match): the publisher origin a queue member passes over
	 * (lw_stree_set_noecho), read only when a group is met. */
	off = ALIGN_UP(off, CACHE_LINE);
	l->off_noecho = off;
	off += (uint64_t)max_subs * sizeof(uint32_t);
	/* Likewise the quota of a limited queue member (lw_stree_set_quota),
	 * counted down by publishers: on lines of its own. */
	off = ALIGN_UP(off, CACHE_LINE);
	l->off_quota = off;
	off += (uint64_t)max_subs * sizeof(uint32_t);
	l->size = ALIGN_UP(off, CACHE_LINE);
	return 0;
}

/* The arrays, found from this process's mapping of the region. */
#define AT(t, off, type) ((type *)((char *)(t) + (t)->g.off))
#define nodes_of(t) AT(t, off_nodes, struct node)
#define chunks_of(t) AT(t, off_chunks, struct chunk)
#define hash_of(t) AT(t, off_hash, uint64_t)
#define entries_of(t) AT(t, off_entries, struct entry)
#define groups_of(t) AT(t, off_groups, struct group)
#define noecho_of(t) AT(t, off_noecho, uint32_t)
#define quota_of(t) AT(t, off_quota, uint32_t)

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* ---- tokens ---------------------------------------------------------- */

/* Word @p k of a token of @p len bytes at @p p, bytes past the token zeroed
 * (in memory order, so writer and readers agree on any endianness). The
 * caller guarantees 8 readable bytes at p + 8k. */
static inline uint64_t tok_word(const char *p, uint32_t len, uint32_t k)
{
	uint32_t left = len - 8 * k;
	uint64_t w;

	memcpy(&w, p + 8 * k, sizeof(w));
	if (left < 8) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		w &= (UINT64_C(1) << (8 * left)) - 1;
#else
		w &= ~(~UINT64_C(0) >> (8 * left));
#endif
	}
	return w;
}

static inline uint64_t tok_hash(const char *p, uint32_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;

	for (uint32_t k = 0; 8 * k < len; k++) {
		h ^= tok_word(p, len, k);
		h *= 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	return h;
}

/* The token hash is computed once per subject; only this cheap mix is
 * paid for each (parent, token) probe. */
static inline uint32_t edge_hash(uint64_t th, uint32_t parent)
{
	uint64_t h = th ^ ((uint64_t)parent * 0x94d049bb133111ebULL);

	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return (uint32_t)h;
}

static inline void split(struct subj *sj, const char *s, size_t len)
{
	uint32_t n = 0, start = 0;

	memcpy(sj->buf, s, len);
	memset(sj->buf + len, 0, 8);
	for (;;) {
		const char *dot = memchr(sj->buf + start, '.', len - start);
		uint32_t end = dot ? (uint32_t)(dot - sj->buf) : (uint32_t)len;

		sj->tk[n].off = (uint16_t)start;
		sj->tk[n].len = (uint16_t)(end - start);
		sj->tk[n].hash = tok_hash(sj->buf + start, end - start);
		n++;
		if (dot == NULL)
			break;
		start = end + 1;
	}
	sj->ntok = n;
}

static inline int tok_kind(const struct subj *sj, uint32_t i)
{
	if (sj->tk[i].len == 1) {
		char c = sj->buf[sj->tk[i].off];

		if (c == '*')
			return K_STAR;
		if (c == '>')
			return K_GT;
	}
	return K_LIT;
}

/* Does node @p nd hold the token? A torn read just compares unequal. */
static inline bool tok_equal(const lw_stree *t, const struct node *nd, const char *p,
		      uint32_t len)
{
	const struct chunk *chunks = chunks_of(t);
	uint32_t nw = (len + 7) / 8, k, c;

	if (RD(&nd->tok_len) != len)
		return false;
	for (k = 0; k < nw && k < INLINE_WORDS; k++)
		if (RD(&nd->tok[k]) != tok_word(p, len, k))
			return false;
	c = RD(&nd->more);
	while (k < nw) {
		if (c >= t->g.chunk_cap)
			return false;
		for (uint32_t j = 0; j < CHUNK_WORDS && k < nw; j++, k++)
			if (RD(&chunks[c].w[j]) != tok_word(p, len, k))
				return false;
		c = RD(&chunks[c].next);
	}
	return true;
}

/* Literal child of @p parent for the token, or NIL. Used by both sides. */
static inline uint32_t child_lit(const lw_stree *t, uint32_t parent, const char *p,
			  uint32_t len, uint64_t th)
{
	const struct node *nodes = nodes_of(t);
	const uint64_t *hash = hash_of(t);
	uint32_t mask = t->g.hash_mask;
	uint32_t h = edge_hash(th, parent);
	uint32_t i = h & mask;

	for (uint32_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
		uint64_t slot = RD(&hash[i]);
		uint32_t child = (uint32_t)slot;

		if (child == NIL)
			return NIL;
		if ((uint32_t)(slot >> 32) == h && child < t->g.node_cap &&
		    RD(&nodes[child].parent) == parent &&
		    tok_equal(t, &nodes[child], p, len))
			return child;
	}
	return NIL;
}


#endif
