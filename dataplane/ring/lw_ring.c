/* SPDX-License-Identifier: MIT */
/* Ring set-up; the hot path is inline in lw_ring.h. */
#include "lw_ring.h"
#include "lw_mring.h"

int lw_ring_init(struct lw_ring *r, uint32_t capacity)
{
	if (capacity < 2 || (capacity & (capacity - 1)) != 0)
		return -1;
	atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	r->capacity = capacity;
	r->mask = capacity - 1;
	/* Cell i is free for the producer whose position is i. */
	for (uint32_t i = 0; i < capacity; i++) {
		r->cells[i].val = 0;
		atomic_store_explicit(&r->cells[i].seq, i, memory_order_relaxed);
	}
	atomic_thread_fence(memory_order_release);
	return 0;
}

int lw_mring_init(struct lw_mring *r, uint32_t capacity)
{
	if (capacity < 2 || (capacity & (capacity - 1)) != 0)
		return -1;
	atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	r->capacity = capacity;
	r->mask = capacity - 1;
	for (uint32_t i = 0; i < capacity; i++) {
		r->cells[i].slot = 0;
		atomic_store_explicit(&r->cells[i].seq, i, memory_order_relaxed);
	}
	atomic_thread_fence(memory_order_release);
	return 0;
}
