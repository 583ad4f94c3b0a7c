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
#include "lw_stree_pvt.h"

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
	uint32_t groups_hit; /* queue groups met (a result with any is not cached) */
	uint32_t origin;     /* the publisher's origin: members with this noecho pass */
	const uint32_t *noecho;
	uint32_t *quota;     /* per member: see member_takes */
	bool peek;           /* lw_stree_interest: no rotation, no quota */
};

static int put(struct walk *w, uint32_t id)
{
	if (w->n == w->max_out)
		return LW_ELIMIT;
	w->out[w->n++] = id;
	return 0;
}

/* Does queue member @p m take this message? Not when it passes over the
 * publisher's origin (echo off), nor when its quota is used up; a limited
 * member that takes it uses one of its quota (0: no limit, 1: used up,
 * else one more than it may still take). A walk that is retried after a
 * tree change may have used one for nothing: the member then takes fewer,
 * never more. */
static inline bool member_takes(struct walk *w, uint32_t m)
{
	uint32_t q;

	if (w->origin != 0 && RD(&w->noecho[m]) == w->origin)
		return false;
	q = __atomic_load_n(&w->quota[m], __ATOMIC_RELAXED);
	while (q != 0) {
		if (q == 1)
			return false;
		if (__atomic_compare_exchange_n(&w->quota[m], &q, q - 1, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return true;
	}
	return true;
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
		if (w->peek) {
			/* A group counts once, whoever would take it. */
			if (m >= max)
				return TORN;
			if (put(w, m) < 0)
				return LW_ELIMIT;
			g = RD(&gr->next);
			continue;
		}
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
		/* Counted even when no member is picked: the result then
		 * depends on the publisher and must not be cached. */
		w->groups_hit++;
		/* Pass over members that do not take this message (the
		 * publisher's own echo-off member, a member whose quota is
		 * used up): the next ones in the list, then from its head;
		 * none left means none takes it. */
		for (uint32_t tried = 1; !member_takes(w, m); tried++) {
			if (tried == cnt) {
				m = NIL;
				break;
			}
			if (++w->steps > max)
				return TORN;
			m = RD(&w->ents[m].next);
			if (m == NIL)
				m = RD(&gr->members);
			if (m >= max)
				return TORN;
		}
		if (m != NIL && put(w, m) < 0)
			return LW_ELIMIT;
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

static int match_walk(lw_stree *t, const char *subject, size_t len, uint32_t *out,
		      uint32_t max_out, uint64_t *seq, int *groups, uint32_t origin, bool peek);

int lw_stree_match(lw_stree *t, const char *subject, size_t len,
		   uint32_t *out, uint32_t max_out)
{
	uint64_t seq;
	int groups;

	return lw_stree_match_seq(t, subject, len, out, max_out, &seq, &groups);
}

int lw_stree_match_seq(lw_stree *t, const char *subject, size_t len,
		       uint32_t *out, uint32_t max_out, uint64_t *seq, int *groups)
{
	return lw_stree_match_origin(t, subject, len, out, max_out, seq, groups, 0);
}

int lw_stree_match_origin(lw_stree *t, const char *subject, size_t len, uint32_t *out,
			  uint32_t max_out, uint64_t *seq, int *groups, uint32_t origin)
{
	return match_walk(t, subject, len, out, max_out, seq, groups, origin, false);
}

int lw_stree_interest(lw_stree *t, const char *subject, size_t len, uint32_t *out,
		      uint32_t max_out)
{
	uint64_t seq;
	int groups;

	return match_walk(t, subject, len, out, max_out, &seq, &groups, 0, true);
}

static int match_walk(lw_stree *t, const char *subject, size_t len, uint32_t *out,
		      uint32_t max_out, uint64_t *seq, int *groups, uint32_t origin, bool peek)
{
	struct subj sj;
	struct walk w = {
		.t = t,
		.nodes = nodes_of(t),
		.ents = entries_of(t),
		.groups = groups_of(t),
		.out = out,
		.max_out = max_out,
		.origin = origin,
		.noecho = noecho_of(t),
		.quota = quota_of(t),
		.peek = peek,
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
	memset(noecho_of(t), 0, (size_t)max_subs * sizeof(uint32_t));
	memset(quota_of(t), 0, (size_t)max_subs * sizeof(uint32_t));
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
