/* SPDX-License-Identifier: MIT */
/*
 * The subscription tree: a trie of subject tokens in one shared region.
 *
 * Workload: every publish in every process matches one literal subject
 * (millions per second), while subscriptions change rarely and only through
 * lwd, which serialises them. So matching is lock-free and read-only except
 * for queue-group round-robin tickets, and all the care goes to making a
 * reader that races the single writer harmless: it reads every shared field
 * with a relaxed atomic load, bounds-checks every index and bounds every
 * loop by a capacity, and a sequence lock tells it to throw the result away
 * and retry when the writer was active.
 *
 * Layout (offsets from the header, no pointers, since each process maps the
 * region at its own address):
 *
 *   +---------------------+ 0
 *   | struct lw_stree     |  geometry, seq (own line), writer state
 *   +---------------------+ off_nodes
 *   | node[node_cap]      |  64 B: links, list heads, first 32 token bytes
 *   +---------------------+ off_chunks
 *   | chunk[chunk_cap]    |  64 B: token bytes 32.. for long tokens
 *   +---------------------+ off_hash
 *   | u64 edge[2^k]       |  (parent, token) -> child, linear probing
 *   +---------------------+ off_entries
 *   | entry[max_subs]     |  one per subscription id, list links
 *   +---------------------+ off_groups
 *   | group[max_subs]     |  queue groups: members, round-robin ticket
 *   +---------------------+ size
 *
 * Literal children are found through the one global edge table keyed by
 * (parent index, token bytes), so each subject token costs O(1) probes
 * however many subscriptions exist; the '*' and '>' children hang off direct
 * links in the node. A node is a distinct pattern prefix, and a pattern
 * token lines up with exactly one subject token, so a match visits each node
 * (and so each subscription and group) at most once: no duplicate removal
 * is needed.
 */
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
#define STREE_VERSION 1u
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
	uint64_t off_nodes, off_chunks, off_hash, off_entries, off_groups, size;
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
static_assert(offsetof(struct lw_stree, seq) == 2 * CACHE_LINE, "seq line");
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

static int layout(uint32_t max_subs, struct layout *l)
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

static void split(struct subj *sj, const char *s, size_t len)
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
static bool tok_equal(const lw_stree *t, const struct node *nd, const char *p,
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
static uint32_t child_lit(const lw_stree *t, uint32_t parent, const char *p,
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

/* ---- reader ---------------------------------------------------------- */

struct walk {
	const lw_stree *t;
	const struct node *nodes;
	const struct entry *ents;
	struct group *groups;
	uint32_t *out;
	uint32_t max_out;
	uint32_t n;      /* ids written to out */
	uint32_t steps;  /* entries followed: at most max_subs when consistent */
	uint32_t gsteps; /* groups followed: likewise */
	uint32_t visits; /* nodes visited: at most node_cap when consistent */
	uint32_t groups_hit; /* queue groups that chose a member */
};

static int put(struct walk *w, uint32_t id)
{
	if (w->n == w->max_out)
		return LW_ELIMIT;
	w->out[w->n++] = id;
	return 0;
}

/* Outputs the plain entries of a node and one member of each group. */
static int emit(struct walk *w, const struct node *nd)
{
	uint32_t max = w->t->g.max_subs;
	uint32_t e = RD(&nd->subs), g = RD(&nd->groups);

	while (e != NIL) {
		if (e >= max || ++w->steps > max)
			return TORN;
		if (put(w, e) < 0)
			return LW_ELIMIT;
		e = RD(&w->ents[e].next);
	}
	while (g != NIL) {
		struct group *gr;
		uint32_t cnt, k, m;

		if (g >= max || ++w->gsteps > max)
			return TORN;
		gr = &w->groups[g];
		cnt = RD(&gr->nmembers);
		m = RD(&gr->members);
		if (cnt == 0 || cnt > max)
			return TORN;
		/* The ticket only has to be unique per match, it orders no
		 * other memory: relaxed. An attempt that is retried has used
		 * a ticket, which only shifts the rotation. */
		k = __atomic_fetch_add(&gr->rr, 1, __ATOMIC_RELAXED) % cnt;
		for (; k > 0; k--) {
			if (m >= max || ++w->steps > max)
				return TORN;
			m = RD(&w->ents[m].next);
		}
		if (m >= max)
			return TORN;
		if (put(w, m) < 0)
			return LW_ELIMIT;
		w->groups_hit++;
		g = RD(&gr->next);
	}
	return 0;
}

/* Depth-first walk with an explicit stack. Each pop pushes at most two
 * entries one token deeper, so the stack holds at most one pending entry
 * per token level plus two: ntok + 1 <= LW_SUBJECT_MAX + 2, whatever the
 * tree holds. */
static int walk(struct walk *w, const struct subj *sj)
{
	const lw_stree *t = w->t;
	struct {
		uint32_t node, tok;
	} stack[LW_SUBJECT_MAX + 3];
	uint32_t sp = 0;
	int rc;

	stack[sp].node = ROOT;
	stack[sp++].tok = 0;
	while (sp > 0) {
		uint32_t n, i, c;
		const struct node *nd;

		sp--;
		n = stack[sp].node;
		i = stack[sp].tok;
		nd = &w->nodes[n];

		if (++w->visits > t->g.node_cap)
			return TORN;
		if (i == sj->ntok) {
			if ((rc = emit(w, nd)) < 0)
				return rc;
			continue;
		}
		/* '>' takes one or more tokens, so it matches here, at any
		 * level with a token left. */
		c = RD(&nd->gt);
		if (c != NIL) {
			if (c >= t->g.node_cap || ++w->visits > t->g.node_cap)
				return TORN;
			if ((rc = emit(w, &w->nodes[c])) < 0)
				return rc;
		}
		if (sp + 2 > sizeof(stack) / sizeof(stack[0]))
			return TORN;
		c = RD(&nd->star);
		if (c != NIL) {
			if (c >= t->g.node_cap)
				return TORN;
			stack[sp].node = c;
			stack[sp++].tok = i + 1;
		}
		c = child_lit(t, n, sj->buf + sj->tk[i].off, sj->tk[i].len,
			      sj->tk[i].hash);
		if (c != NIL) {
			stack[sp].node = c;
			stack[sp++].tok = i + 1;
		}
	}
	return (int)w->n;
}

int lw_stree_match(lw_stree *t, const char *subject, size_t len,
		   uint32_t *out, uint32_t max_out)
{
	uint64_t seq;
	int groups;

	return lw_stree_match_seq(t, subject, len, out, max_out, &seq, &groups);
}

uint64_t lw_stree_seq(const lw_stree *t)
{
	/* Acquire: pairs with the writer's release that ended a change. */
	return atomic_load_explicit(&t->seq, memory_order_acquire);
}

int lw_stree_match_seq(lw_stree *t, const char *subject, size_t len,
		       uint32_t *out, uint32_t max_out, uint64_t *seq, int *groups)
{
	struct subj sj;
	struct walk w = {
		.t = t,
		.nodes = nodes_of(t),
		.ents = entries_of(t),
		.groups = groups_of(t),
		.out = out,
		.max_out = max_out,
	};
	unsigned spins = 0;

	/* The caller validated the subject; this only keeps the copy below
	 * inside its buffer. */
	if (subject == NULL || len == 0 || len > LW_SUBJECT_MAX)
		return LW_SET_ERR(LW_EBADSUBJECT, "cannot match a subject of %zu bytes", len);
	split(&sj, subject, len);
	for (;;) {
		/* Acquire pairs with the release store that ended the last
		 * change: everything that change wrote is visible below. */
		uint64_t s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
		int rc;

		if ((s1 & 1) == 0) {
			w.n = w.steps = w.gsteps = w.visits = w.groups_hit = 0;
			rc = walk(&w, &sj);
			/* Acquire fence pairs with the writer's release fence
			 * in write_begin(): if any load above saw a store of a
			 * change that has begun since s1, the load of seq
			 * below sees that change's odd value (or later). */
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&t->seq, memory_order_relaxed) == s1) {
				if (rc == TORN)
					return LW_SET_ERR(LW_ECORRUPT,
							  "subject tree is inconsistent while no writer is active");
				if (rc == LW_ELIMIT)
					return LW_SET_ERR(LW_ELIMIT,
							  "more than %u subscriptions match '%.*s'",
							  max_out, (int)len, subject);
				*seq = s1;
				*groups = (int)w.groups_hit;
				return rc;
			}
		}
		/* A change is short (microseconds). The writer stalls for good
		 * only if lwd dies inside one: then give up after ~a second of
		 * yielding instead of hanging the publisher. */
		if (++spins < SPINS_BEFORE_YIELD)
			cpu_pause();
		else if (spins < SPINS_BEFORE_YIELD + WRITER_STALL_YIELDS)
			sched_yield();
		else
			return LW_SET_ERR(LW_ETIMEDOUT,
					  "subject tree stayed locked by its writer (lwd died mid-change?)");
	}
}

uint32_t lw_stree_count(const lw_stree *t)
{
	return RD(&t->count);
}

/* ---- writer ---------------------------------------------------------- */

static void write_begin(lw_stree *t)
{
	uint64_t s = atomic_load_explicit(&t->seq, memory_order_relaxed);

	atomic_store_explicit(&t->seq, s + 1, memory_order_relaxed);
	/* Release fence after the odd store: every tree store below is
	 * ordered after it, so a reader whose relaxed load sees one of them
	 * and then runs its acquire fence must see seq >= s + 1 and retry.
	 * (A release store of the odd value would not do: it orders what
	 * comes before it, not the stores after it.) */
	atomic_thread_fence(memory_order_release);
}

static void write_end(lw_stree *t)
{
	uint64_t s = atomic_load_explicit(&t->seq, memory_order_relaxed);

	/* Release: the changes happen-before any reader whose acquire load
	 * of seq returns this even value, so that reader sees all of them. */
	atomic_store_explicit(&t->seq, s + 1, memory_order_release);
}

static uint32_t chunks_for(uint32_t len)
{
	uint32_t inl = INLINE_WORDS * 8, per = CHUNK_WORDS * 8;

	return len <= inl ? 0 : (len - inl + per - 1) / per;
}

static uint32_t chunk_alloc(lw_stree *t)
{
	uint32_t c = t->chunk_free;

	if (c != NIL)
		t->chunk_free = chunks_of(t)[c].next;
	else
		c = t->chunk_hwm++;
	assert(c < t->g.chunk_cap);
	t->chunks_used++;
	return c;
}

static void tok_store(lw_stree *t, struct node *nd, const char *p, uint32_t len)
{
	struct chunk *chunks = chunks_of(t);
	uint32_t nw = (len + 7) / 8, k;
	uint32_t *link = &nd->more;

	WR(&nd->tok_len, (uint16_t)len);
	for (k = 0; k < INLINE_WORDS; k++)
		WR(&nd->tok[k], k < nw ? tok_word(p, len, k) : 0);
	WR(link, NIL);
	while (k < nw) {
		uint32_t c = chunk_alloc(t);

		for (uint32_t j = 0; j < CHUNK_WORDS; j++, k++)
			WR(&chunks[c].w[j], k < nw ? tok_word(p, len, k) : 0);
		WR(&chunks[c].next, NIL);
		WR(link, c);
		link = &chunks[c].next;
	}
}

/* Copies a node's token out (writer side, to rehash it on removal). */
static uint32_t tok_load(const lw_stree *t, const struct node *nd, char *buf)
{
	const struct chunk *chunks = chunks_of(t);
	uint32_t len = nd->tok_len, k, c = nd->more;

	for (k = 0; k < INLINE_WORDS && 8 * k < len; k++)
		memcpy(buf + 8 * k, &nd->tok[k], 8);
	for (; 8 * k < len; c = chunks[c].next)
		for (uint32_t j = 0; j < CHUNK_WORDS && 8 * k < len; j++, k++)
			memcpy(buf + 8 * k, &chunks[c].w[j], 8);
	return len;
}

static void hash_add(lw_stree *t, uint32_t child, uint32_t h)
{
	uint64_t *hash = hash_of(t);
	uint32_t mask = t->g.hash_mask, i = h & mask, n = 0;

	/* Never full: edges < node_cap <= 3/4 of the slots. */
	while ((uint32_t)hash[i] != NIL && n++ <= mask)
		i = (i + 1) & mask;
	assert((uint32_t)hash[i] == NIL);
	WR(&hash[i], (uint64_t)h << 32 | child);
}

/* Backward-shift deletion: later entries of the probe run move up into the
 * hole, so no tombstones pile up and lookups stay short forever. A reader
 * racing the shift may miss an edge; the seq check discards that result. */
static void hash_del(lw_stree *t, uint32_t child)
{
	const struct node *nd = &nodes_of(t)[child];
	uint64_t *hash = hash_of(t);
	uint32_t mask = t->g.hash_mask, len, h, i, j, n;
	char buf[LW_SUBJECT_MAX + 8];

	len = tok_load(t, nd, buf);
	h = edge_hash(tok_hash(buf, len), nd->parent);
	for (i = h & mask, n = 0; (uint32_t)hash[i] != child; i = (i + 1) & mask)
		if (hash[i] == EMPTY_SLOT || ++n > mask) {
			assert(!"tree edge missing from the edge table");
			return;
		}
	/* Ends at the empty slot that closes the run (there always is one). */
	for (n = 0, j = i; n <= mask; n++) {
		uint64_t s;
		uint32_t home;

		j = (j + 1) & mask;
		s = hash[j];
		if ((uint32_t)s == NIL)
			break;
		/* s may fill the hole unless its home lies cyclically in
		 * (i, j]: then probing for it never passes i. */
		home = (uint32_t)(s >> 32) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			WR(&hash[i], s);
			i = j;
		}
	}
	WR(&hash[i], EMPTY_SLOT);
}

/* Child of @p parent for token @p i, or NIL (writer side). */
static uint32_t child_of(lw_stree *t, uint32_t parent, const struct subj *sj,
			 uint32_t i)
{
	const struct node *pn = &nodes_of(t)[parent];

	switch (tok_kind(sj, i)) {
	case K_STAR:
		return pn->star;
	case K_GT:
		return pn->gt;
	default:
		return child_lit(t, parent, sj->buf + sj->tk[i].off,
				 sj->tk[i].len, sj->tk[i].hash);
	}
}

static uint32_t node_add(lw_stree *t, uint32_t parent, const struct subj *sj,
			 uint32_t i)
{
	struct node *nodes = nodes_of(t), *nd, *pn = &nodes[parent];
	uint32_t n = t->node_free;
	int kind = tok_kind(sj, i);

	if (n != NIL)
		t->node_free = nodes[n].parent;
	else
		n = t->node_hwm++;
	assert(n < t->g.node_cap);
	t->nodes_used++;
	nd = &nodes[n];
	/* Filled before it is linked in, so most racing readers see a
	 * whole node; the seq check covers the rest. */
	WR(&nd->parent, parent);
	WR(&nd->star, NIL);
	WR(&nd->gt, NIL);
	WR(&nd->subs, NIL);
	WR(&nd->groups, NIL);
	tok_store(t, nd, sj->buf + sj->tk[i].off, sj->tk[i].len);
	nd->kind = (uint8_t)kind;
	nd->nkids = 0;
	pn->nkids++;
	if (kind == K_STAR)
		WR(&pn->star, n);
	else if (kind == K_GT)
		WR(&pn->gt, n);
	else
		hash_add(t, n, edge_hash(sj->tk[i].hash, parent));
	return n;
}

static void node_free(lw_stree *t, uint32_t n)
{
	struct node *nd = &nodes_of(t)[n];
	struct chunk *chunks = chunks_of(t);
	uint32_t c = nd->more;

	for (uint32_t k = 0; k < chunks_for(nd->tok_len); k++) {
		uint32_t next = chunks[c].next;

		WR(&chunks[c].next, t->chunk_free);
		t->chunk_free = c;
		t->chunks_used--;
		c = next;
	}
	WR(&nd->parent, t->node_free);
	t->node_free = n;
	t->nodes_used--;
}

/* Frees @p n and its ancestors while they end no subscription and have no
 * children left. */
static void prune(lw_stree *t, uint32_t n)
{
	struct node *nodes = nodes_of(t);

	while (n != ROOT) {
		struct node *nd = &nodes[n];
		uint32_t p = nd->parent;

		if (nd->subs != NIL || nd->groups != NIL || nd->nkids != 0)
			return;
		if (nd->kind == K_STAR)
			WR(&nodes[p].star, NIL);
		else if (nd->kind == K_GT)
			WR(&nodes[p].gt, NIL);
		else
			hash_del(t, n);
		nodes[p].nkids--;
		node_free(t, n);
		n = p;
	}
}

static void list_push(lw_stree *t, uint32_t *head, uint32_t id)
{
	struct entry *ents = entries_of(t);
	uint32_t old = *head;

	WR(&ents[id].next, old);
	ents[id].prev = NIL;
	if (old != NIL)
		ents[old].prev = id;
	WR(head, id);
}

static void list_unlink(lw_stree *t, uint32_t *head, uint32_t id)
{
	struct entry *ents = entries_of(t);
	uint32_t next = ents[id].next, prev = ents[id].prev;

	if (prev == NIL)
		WR(head, next);
	else
		WR(&ents[prev].next, next);
	if (next != NIL)
		ents[next].prev = prev;
	WR(&ents[id].next, NIL);
}

static uint32_t group_find(lw_stree *t, uint32_t n, const char *q, size_t qlen)
{
	struct group *groups = groups_of(t);

	for (uint32_t g = nodes_of(t)[n].groups; g != NIL; g = groups[g].next)
		if (groups[g].qlen == qlen && memcmp(groups[g].qname, q, qlen) == 0)
			return g;
	return NIL;
}

static uint32_t group_add(lw_stree *t, uint32_t n, const char *q, size_t qlen)
{
	struct group *groups = groups_of(t), *gr;
	struct node *nd = &nodes_of(t)[n];
	uint32_t g = t->group_free, old = nd->groups;

	if (g != NIL)
		t->group_free = groups[g].next;
	else
		g = t->group_hwm++;
	/* Live groups never outnumber live subscriptions (each has a
	 * member), and this one's first member is not linked yet. */
	assert(g < t->g.max_subs);
	gr = &groups[g];
	WR(&gr->members, NIL);
	WR(&gr->nmembers, 0);
	WR(&gr->rr, 0);
	gr->prev = NIL;
	gr->node = n;
	gr->qlen = (uint32_t)qlen;
	memcpy(gr->qname, q, qlen);
	WR(&gr->next, old);
	if (old != NIL)
		groups[old].prev = g;
	WR(&nd->groups, g);
	return g;
}

static void group_del(lw_stree *t, uint32_t g)
{
	struct group *groups = groups_of(t), *gr = &groups[g];
	struct node *nd = &nodes_of(t)[gr->node];

	if (gr->prev == NIL)
		WR(&nd->groups, gr->next);
	else
		WR(&groups[gr->prev].next, gr->next);
	if (gr->next != NIL)
		groups[gr->next].prev = gr->prev;
	WR(&gr->next, t->group_free);
	t->group_free = g;
}

int lw_stree_insert(lw_stree *t, const char *subject, size_t len,
		    const char *queue, uint32_t sub_id)
{
	struct entry *e;
	struct subj sj;
	uint32_t n = ROOT, i, need_nodes, need_chunks = 0, g = NIL;
	size_t qlen = queue != NULL ? strlen(queue) : 0;
	int rc;

	assert(t != NULL);
	rc = lw_subj_validate(subject, len, 1);
	if (rc == LW_OK && qlen > 0)
		rc = lw_queue_validate(queue, qlen);
	if (rc < 0) {
		LW_APPEND_ERR("subscription %u", sub_id);
		return rc;
	}
	if (sub_id >= t->g.max_subs)
		return LW_SET_ERR(LW_EINVAL, "subscription id %u out of range (max_subs %u)",
				  sub_id, t->g.max_subs);
	e = &entries_of(t)[sub_id];
	if (e->node != NIL)
		return LW_SET_ERR(LW_EINVAL, "subscription id %u is already in the tree",
				  sub_id);

	/* Plan first, so a full tree refuses with nothing changed. */
	split(&sj, subject, len);
	for (i = 0; i < sj.ntok; i++) {
		uint32_t c = child_of(t, n, &sj, i);

		if (c == NIL)
			break;
		n = c;
	}
	need_nodes = sj.ntok - i;
	for (uint32_t k = i; k < sj.ntok; k++)
		need_chunks += chunks_for(sj.tk[k].len);
	if (t->nodes_used + need_nodes > t->g.node_cap ||
	    t->chunks_used + need_chunks > t->g.chunk_cap)
		return LW_SET_ERR(LW_ENOMEM,
				  "subject tree is full: '%.*s' needs %u nodes and %u chunks,"
				  " %u of %u and %u of %u are in use",
				  (int)len, subject, need_nodes, need_chunks, t->nodes_used,
				  t->g.node_cap, t->chunks_used, t->g.chunk_cap);
	if (qlen > 0 && need_nodes == 0)
		g = group_find(t, n, queue, qlen);

	write_begin(t);
	for (; i < sj.ntok; i++)
		n = node_add(t, n, &sj, i);
	e->node = n;
	e->group = NIL;
	if (qlen > 0) {
		struct group *gr;

		if (g == NIL)
			g = group_add(t, n, queue, qlen);
		gr = &groups_of(t)[g];
		e->group = g;
		list_push(t, &gr->members, sub_id);
		WR(&gr->nmembers, gr->nmembers + 1);
	} else {
		list_push(t, &nodes_of(t)[n].subs, sub_id);
	}
	WR(&t->count, t->count + 1);
	write_end(t);
	return LW_OK;
}

int lw_stree_remove(lw_stree *t, uint32_t sub_id)
{
	struct entry *e;
	uint32_t n, g;

	assert(t != NULL);
	if (sub_id >= t->g.max_subs || entries_of(t)[sub_id].node == NIL)
		return LW_SET_ERR(LW_ENOTFOUND, "subscription %u is not in the tree", sub_id);
	e = &entries_of(t)[sub_id];
	n = e->node;
	g = e->group;

	write_begin(t);
	if (g != NIL) {
		struct group *gr = &groups_of(t)[g];

		list_unlink(t, &gr->members, sub_id);
		WR(&gr->nmembers, gr->nmembers - 1);
		if (gr->nmembers == 0)
			group_del(t, g);
	} else {
		list_unlink(t, &nodes_of(t)[n].subs, sub_id);
	}
	e->node = NIL;
	e->group = NIL;
	WR(&t->count, t->count - 1);
	prune(t, n);
	write_end(t);
	return LW_OK;
}

/* ---- set-up ---------------------------------------------------------- */

size_t lw_stree_memsize(uint32_t max_subs)
{
	struct layout l;

	if (layout(max_subs, &l) < 0)
		return 0;
	return (size_t)l.size;
}

lw_stree *lw_stree_init(void *mem, size_t size, uint32_t max_subs)
{
	lw_stree *t = mem;
	struct node *root;
	struct layout l;

	if (mem == NULL || ((uintptr_t)mem & (CACHE_LINE - 1)) != 0) {
		lw_err_set(LW_EINVAL, "subject tree memory must be 64-byte aligned");
		return NULL;
	}
	if (layout(max_subs, &l) < 0) {
		lw_err_set(LW_EINVAL, "max_subs %u is not in 1..%u", max_subs,
				  MAX_SUBS_LIMIT);
		return NULL;
	}
	if (size < l.size) {
		lw_err_set(LW_EINVAL, "subject tree for %u subscriptions needs %llu bytes, got %zu",
				  max_subs, (unsigned long long)l.size, size);
		return NULL;
	}

	/* No reader can see the region yet, so plain stores are fine until
	 * the magic is published. Nodes, chunks and groups are handed out
	 * from high-water marks, so their (possibly huge) arrays are not
	 * touched here. */
	memset(t, 0, sizeof(*t));
	t->version = STREE_VERSION;
	t->g = l;
	atomic_store_explicit(&t->seq, 0, memory_order_relaxed);
	t->node_free = t->chunk_free = t->group_free = NIL;
	t->node_hwm = t->nodes_used = 1;
	memset(hash_of(t), 0xff, ((size_t)l.hash_mask + 1) * sizeof(uint64_t));
	memset(entries_of(t), 0xff, (size_t)max_subs * sizeof(struct entry));
	root = &nodes_of(t)[ROOT];
	memset(root, 0, sizeof(*root));
	root->parent = root->star = root->gt = root->subs = root->groups = NIL;
	root->more = NIL;
	root->kind = K_ROOT;
	/* Release: a process that sees the magic (acquire in attach) sees
	 * the formatted tree. */
	__atomic_store_n(&t->magic, STREE_MAGIC, __ATOMIC_RELEASE);
	return t;
}

lw_stree *lw_stree_attach(void *mem, size_t size)
{
	lw_stree *t = mem;
	struct layout l;

	if (mem == NULL || ((uintptr_t)mem & (CACHE_LINE - 1)) != 0 ||
	    size < sizeof(*t)) {
		lw_err_set(LW_EINVAL, "no room for a subject tree at %p (%zu bytes)",
				  mem, size);
		return NULL;
	}
	if (__atomic_load_n(&t->magic, __ATOMIC_ACQUIRE) != STREE_MAGIC ||
	    t->version != STREE_VERSION) {
		lw_err_set(LW_ECORRUPT, "no subject tree (magic/version) at %p", mem);
		return NULL;
	}
	/* Every offset and capacity must be the one max_subs implies, so a
	 * damaged header cannot send readers outside the region. */
	if (layout(t->g.max_subs, &l) < 0 || l.size > size ||
	    memcmp(&l, &t->g, sizeof(l)) != 0) {
		lw_err_set(LW_ECORRUPT, "subject tree geometry is damaged or does not fit %zu bytes",
				  size);
		return NULL;
	}
	return t;
}
