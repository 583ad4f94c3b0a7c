/* SPDX-License-Identifier: MIT */
/* Pool formatting and accounting; the hot path is inline in lw_pool.h. */
#include "lw_pool.h"

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 2;

	while (p < v)
		p <<= 1;
	return p;
}

void lw_pool_format(const struct lw_domain *d)
{
	for (uint32_t c = 0; c < d->hdr->cfg.nclasses; c++) {
		const struct lw_pool_class *pc = &d->hdr->cls[c];
		struct lw_ring *r = lw_pool_free_ring(d, c);

		lw_ring_init(r, pow2_at_least(pc->count));
		for (uint32_t i = 0; i < pc->count; i++) {
			uint32_t id = (c << LW_SLOT_CLASS_SHIFT) | i;

			atomic_store_explicit(&lw_slot_ptr(d, id)->refcnt, 0, memory_order_relaxed);
			lw_ring_enqueue(r, id);
		}
	}
}

uint32_t lw_pool_free_count(const struct lw_domain *d, uint32_t c)
{
	return lw_ring_count(lw_pool_free_ring(d, c));
}
