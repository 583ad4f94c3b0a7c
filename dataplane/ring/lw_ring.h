/* SPDX-License-Identifier: MIT */
/*
 * lw_ring: bounded multi-producer/multi-consumer ring of 64-bit values that
 * lives in shared memory (offsets only, no pointers), after D. Vyukov's
 * bounded MPMC queue: every cell carries its own sequence number.
 *
 * Why not rte_ring for subscriptions: rte_ring keeps head, tail and slots on
 * separate cache lines, so one hand-off moves three lines between cores; in
 * the same run on this VM its single-object ping-pong costs ~1.7x the
 * two-line physical limit (perf/bench_ring). Here the consumer polls the
 * cell itself, so a hand-off moves one line, and a producer that dies
 * between claiming and filling a cell stalls only that ring, not the other
 * producers (an rte_ring MP producer waits for earlier producers' tails).
 * rte_ring is still used where latency does not matter (lwd control ring).
 *
 * Many producers (publishers of any process), one regular consumer (the
 * subscriber); producers may also dequeue to apply drop-oldest.
 */
#ifndef LW_RING_H
#define LW_RING_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LW_CACHE_LINE 64

struct lw_ring_cell {
	_Atomic uint64_t seq;
	uint64_t val;
};

struct lw_ring {
	/* Producer line: claimed by CAS, read only by producers. */
	alignas(LW_CACHE_LINE) _Atomic uint64_t tail;
	/* Consumer line, apart so producers and the consumer do not share. */
	alignas(LW_CACHE_LINE) _Atomic uint64_t head;
	alignas(LW_CACHE_LINE) uint32_t capacity;
	uint32_t mask;
	alignas(LW_CACHE_LINE) struct lw_ring_cell cells[];
};

static_assert(offsetof(struct lw_ring, head) == LW_CACHE_LINE, "head line");
static_assert(offsetof(struct lw_ring, cells) == 3 * LW_CACHE_LINE, "cells");

/* Bytes for a ring of @p capacity cells (a power of two >= 2). */
static inline size_t lw_ring_memsize(uint32_t capacity)
{
	return sizeof(struct lw_ring) + (size_t)capacity * sizeof(struct lw_ring_cell);
}

/* Formats memory as an empty ring. Returns 0 or -1 if capacity is bad. */
int lw_ring_init(struct lw_ring *r, uint32_t capacity);

/* Enqueue one value. Returns 1, or 0 when full. */
static inline int lw_ring_enqueue(struct lw_ring *r, uint64_t v)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);

	for (;;) {
		struct lw_ring_cell *c = &r->cells[pos & r->mask];
		/* Acquire pairs with the consumer's release of the cell, so the
		 * consumer has finished reading val before we overwrite it. */
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
					memory_order_relaxed, memory_order_relaxed)) {
				c->val = v;
				/* Release publishes val to the consumer's acquire. */
				atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
				return 1;
			}
		} else if (dif < 0) {
			return 0;
		} else {
			pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
		}
	}
}

/* Dequeue one value into *v. Returns 1, or 0 when empty. */
static inline int lw_ring_dequeue(struct lw_ring *r, uint64_t *v)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

	for (;;) {
		struct lw_ring_cell *c = &r->cells[pos & r->mask];
		/* Acquire pairs with the producer's release: val is complete. */
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - (pos + 1));

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
					memory_order_relaxed, memory_order_relaxed)) {
				*v = c->val;
				/* Release: our read of val happens before a producer
				 * reuses the cell one lap later. */
				atomic_store_explicit(&c->seq, pos + r->mask + 1,
						      memory_order_release);
				return 1;
			}
		} else if (dif < 0) {
			return 0;
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

/* Messages queued now (a snapshot; exact when nobody is operating). */
static inline uint32_t lw_ring_count(const struct lw_ring *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	return t > h ? (uint32_t)(t - h) : 0;
}

#endif
