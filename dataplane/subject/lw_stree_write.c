/* SPDX-License-Identifier: MIT */
/*
 * The subscription tree's writer side: insert and remove. Only lwd calls
 * these, one at a time (it serialises them), so nothing here is on a hot
 * path; what matters is that every store a concurrent reader may see is an
 * atomic one and that the sequence lock brackets each change (see the
 * reader in lw_stree.c).
 */
#include "lw_stree_pvt.h"

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
	rc = lw_subj_validate(subject, len, LW_SUBJ_SUBSCRIBE);
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

void lw_stree_set_noecho(lw_stree *t, uint32_t sub_id, uint32_t origin)
{
	if (sub_id < t->g.max_subs)
		noecho_of(t)[sub_id] = origin;
}

void lw_stree_set_quota(lw_stree *t, uint32_t sub_id, uint32_t n)
{
	if (sub_id < t->g.max_subs)
		__atomic_store_n(&quota_of(t)[sub_id], n >= UINT32_MAX - 1 ? UINT32_MAX : n + 1,
				 __ATOMIC_RELAXED);
}

void lw_stree_clear_quota(lw_stree *t, uint32_t sub_id)
{
	if (sub_id < t->g.max_subs)
		__atomic_store_n(&quota_of(t)[sub_id], 0, __ATOMIC_RELAXED);
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

