/* SPDX-License-Identifier: MIT */
/*
 * Message pool: fixed-size slots in size classes, each class with a ring of
 * free slot ids. A slot is reference counted: a publisher sets the count to
 * the number of subscribers it found plus its own reference, so one payload
 * fans out with zero copies and returns to its free ring when the last
 * reader lets go.
 *
 * Who holds a reference is recorded in the holder's held table (see
 * lw_domain.h), so lwd can give back what a crashed process held. The rule
 * is "clear the held entry, then drop the reference": a process killed in
 * between leaks one slot instead of freeing it twice.
 */
#ifndef LW_POOL_H
#define LW_POOL_H

#include "lw_domain.h"

static inline int lw_slot_id_valid(const struct lw_domain *d, uint32_t id)
{
	uint32_t c = id >> LW_SLOT_CLASS_SHIFT;

	return c < d->hdr->cfg.nclasses && (id & LW_SLOT_INDEX_MASK) < d->hdr->cls[c].count;
}

static inline struct lw_slot *lw_slot_ptr(const struct lw_domain *d, uint32_t id)
{
	const struct lw_pool_class *pc = &d->hdr->cls[id >> LW_SLOT_CLASS_SHIFT];

	return (struct lw_slot *)(d->base + pc->off_slots +
				  (uint64_t)(id & LW_SLOT_INDEX_MASK) * pc->slot_bytes);
}

static inline struct lw_ring *lw_pool_free_ring(const struct lw_domain *d, uint32_t c)
{
	return (struct lw_ring *)(d->base + d->hdr->cls[c].off_free);
}

/* Takes a slot with at least @p room bytes after its header, refcount 1.
 * Falls back to larger classes when a class is empty.
 * LW_OK, LW_ETOOBIG (no class that large), LW_ENOMEM (all empty). */
static inline int lw_pool_alloc(const struct lw_domain *d, size_t room, uint32_t *id)
{
	const struct lw_dom_hdr *h = d->hdr;
	uint32_t c = 0;
	uint64_t v;

	while (c < h->cfg.nclasses && h->cls[c].room < room)
		c++;
	if (c == h->cfg.nclasses)
		return LW_ETOOBIG;
	for (; c < h->cfg.nclasses; c++) {
		if (lw_ring_dequeue(lw_pool_free_ring(d, c), &v)) {
			*id = (uint32_t)v;
			/* Relaxed: the slot reaches other processes only through a
			 * ring enqueue, whose release orders this store. */
			atomic_store_explicit(&lw_slot_ptr(d, *id)->refcnt, 1, memory_order_relaxed);
			return LW_OK;
		}
	}
	return LW_ENOMEM;
}

/* Drops one reference; the last one returns the slot to its free ring. */
static inline void lw_pool_put(const struct lw_domain *d, uint32_t id)
{
	struct lw_slot *s = lw_slot_ptr(d, id);

	/* acq_rel: every reader's use of the payload happens before the slot
	 * is handed to the next publisher. */
	if (atomic_fetch_sub_explicit(&s->refcnt, 1, memory_order_acq_rel) == 1)
		lw_ring_enqueue(lw_pool_free_ring(d, id >> LW_SLOT_CLASS_SHIFT), id);
}

static inline const char *lw_slot_subject(const struct lw_slot *s)
{
	return s->bytes;
}

static inline const char *lw_slot_reply(const struct lw_slot *s)
{
	return s->reply_len ? s->bytes + s->subj_len + 1 : NULL;
}

static inline const char *lw_slot_hdr(const struct lw_slot *s)
{
	return s->bytes + s->subj_len + 1 + s->reply_len + 1;
}

static inline const char *lw_slot_data(const struct lw_slot *s)
{
	return s->bytes + s->data_off;
}

/* lwd: formats every class (free rings filled with all slot ids). */
void lw_pool_format(const struct lw_domain *d);

/* Free slots in class @p c (a snapshot). */
uint32_t lw_pool_free_count(const struct lw_domain *d, uint32_t c);

#endif
