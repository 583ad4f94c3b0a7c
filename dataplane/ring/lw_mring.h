/* SPDX-License-Identifier: MIT */
/*
 * lw_mring: the per-subscription message ring. Same protocol as lw_ring
 * (a sequence number in every cell, after D. Vyukov), but each cell is one
 * whole cache line that carries either a pool slot id or, for a message
 * whose subject and data fit in 44 bytes, the message itself.
 *
 * Why inline: a receiver of a slot must fetch the ring cell and then the
 * slot (two dependent cache-line transfers), and give the slot back to a
 * free ring that both sides touch. Small messages in the cell cost one
 * transfer, which is the physical limit of a hand-off between cores; the
 * 16-byte ping-pong in perf/ measures the difference. Larger messages, and
 * any with a reply subject or headers, go by reference with zero copies.
 */
#ifndef LW_MRING_H
#define LW_MRING_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lw_ring.h"

#define LW_MSG_INLINE_MAX 44
#define LW_MCELL_INLINE UINT32_MAX

struct lw_mcell {
	_Atomic uint64_t seq;
	uint32_t slot;       /* pool slot id, or LW_MCELL_INLINE */
	uint8_t subj_len;    /* inline: subject bytes, then data bytes */
	uint8_t data_len;
	uint16_t pad;
	uint32_t origin;     /* inline: publisher's tag (struct lw_pubmsg) */
	char bytes[LW_MSG_INLINE_MAX];
};

static_assert(sizeof(struct lw_mcell) == 64, "one cell, one cache line");

/* Copies n <= 64 bytes without a variable-length memcpy: gcc turns that
 * into "rep movs", whose start-up cost was the largest item of the
 * 16-byte receive path (perf annotate). Overlapping fixed-size moves. */
static inline void lw_copy_small(void *dst, const void *src, size_t n)
{
	char *d = dst;
	const char *s = src;

	if (n >= 16) {
		for (size_t i = 0; i + 16 <= n; i += 16)
			memcpy(d + i, s + i, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

/* What a publisher puts into a cell. */
struct lw_mdesc {
	uint32_t slot;
	uint8_t subj_len;
	uint8_t data_len;
	uint32_t origin;
	const char *subject; /* inline only */
	const void *data;    /* inline only */
};

struct lw_mring {
	alignas(LW_CACHE_LINE) _Atomic uint64_t tail;
	alignas(LW_CACHE_LINE) _Atomic uint64_t head;
	alignas(LW_CACHE_LINE) uint32_t capacity;
	uint32_t mask;
	alignas(LW_CACHE_LINE) struct lw_mcell cells[];
};

static_assert(offsetof(struct lw_mring, cells) == 3 * LW_CACHE_LINE, "cells");

static inline size_t lw_mring_memsize(uint32_t capacity)
{
	return sizeof(struct lw_mring) + (size_t)capacity * sizeof(struct lw_mcell);
}

int lw_mring_init(struct lw_mring *r, uint32_t capacity);

/* Returns 1, or 0 when full. */
static inline int lw_mring_enqueue(struct lw_mring *r, const struct lw_mdesc *d)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);

	for (;;) {
		struct lw_mcell *c = &r->cells[pos & r->mask];
		/* Acquire pairs with the consumer's release of this cell. */
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
					memory_order_relaxed, memory_order_relaxed)) {
				c->slot = d->slot;
				if (d->slot == LW_MCELL_INLINE) {
					c->subj_len = d->subj_len;
					c->data_len = d->data_len;
					c->origin = d->origin;
					lw_copy_small(c->bytes, d->subject, d->subj_len);
					lw_copy_small(c->bytes + d->subj_len, d->data, d->data_len);
				}
				/* Release publishes the cell contents. */
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

/* Is the next cell filled? Reads only the cell the consumer reads anyway,
 * not the producers' tail line. */
static inline int lw_mring_ready(struct lw_mring *r)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

	return atomic_load_explicit(&r->cells[pos & r->mask].seq, memory_order_relaxed) == pos + 1;
}

/* Copies the next cell into *out. Returns 1, or 0 when empty. */
static inline int lw_mring_dequeue(struct lw_mring *r, struct lw_mcell *out)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

	for (;;) {
		struct lw_mcell *c = &r->cells[pos & r->mask];
		/* Acquire pairs with the producer's release: contents complete. */
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - (pos + 1));

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
					memory_order_relaxed, memory_order_relaxed)) {
				out->slot = c->slot;
				if (c->slot == LW_MCELL_INLINE) {
					out->subj_len = c->subj_len;
					out->data_len = c->data_len;
					out->origin = c->origin;
					/* Whole array: a fixed-size copy is cheaper. */
					memcpy(out->bytes, c->bytes, LW_MSG_INLINE_MAX);
				}
				/* Release: our reads are done before the cell is reused. */
				atomic_store_explicit(&c->seq, pos + r->mask + 1, memory_order_release);
				return 1;
			}
		} else if (dif < 0) {
			return 0;
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

/* Enqueues up to @p n inline messages with the same subject as one claim
 * (one CAS for the burst). Returns how many were enqueued (0..n), fewer
 * when the ring has less room. */
static inline unsigned lw_mring_enqueue_burst(struct lw_mring *r, const struct lw_mdesc *d,
					      unsigned n)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	unsigned k;

	for (;;) {
		/* Free cells from pos on: each must be on its current lap.
		 * A free cell stays free until someone moves tail past it,
		 * which our CAS below rules out. */
		for (k = 0; k < n; k++) {
			uint64_t seq = atomic_load_explicit(&r->cells[(pos + k) & r->mask].seq,
							    memory_order_acquire);
			if (seq != pos + k)
				break;
		}
		if (k == 0) {
			uint64_t seq = atomic_load_explicit(&r->cells[pos & r->mask].seq,
							    memory_order_acquire);

			if ((int64_t)(seq - pos) < 0)
				return 0; /* full */
			pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + k,
				memory_order_relaxed, memory_order_relaxed))
			break;
	}
	for (unsigned i = 0; i < k; i++) {
		struct lw_mcell *c = &r->cells[(pos + i) & r->mask];

		c->slot = d[i].slot;
		if (d[i].slot == LW_MCELL_INLINE) {
			c->subj_len = d[i].subj_len;
			c->data_len = d[i].data_len;
			c->origin = d[i].origin;
			lw_copy_small(c->bytes, d[i].subject, d[i].subj_len);
			lw_copy_small(c->bytes + d[i].subj_len, d[i].data, d[i].data_len);
		}
		atomic_store_explicit(&c->seq, pos + i + 1, memory_order_release);
	}
	return k;
}

/*
 * Claims up to @p n consecutive filled INLINE cells from the head without
 * copying or releasing them; stops before a cell that carries a slot (the
 * caller takes that one with lw_mring_dequeue, which records it as held).
 * Returns how many, with the first position in *pos. The caller reads the
 * cells in place and gives them back later with lw_mring_release().
 *
 * Why later: releasing writes the cell's line, which the producer's next
 * write wants back; a receiver that releases right away and then
 * publishes an answer stalls its first locked instruction until that
 * write has moved the line (one more cross-core transfer on a ping-pong's
 * critical path). Releasing when the ring is next found empty takes it off.
 */
static inline unsigned lw_mring_claim_inline(struct lw_mring *r, unsigned n, uint64_t *pos_out,
					     int single_consumer)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	unsigned k;

	for (;;) {
		for (k = 0; k < n; k++) {
			const struct lw_mcell *c = &r->cells[(pos + k) & r->mask];

			/* Acquire pairs with the producer's release. */
			if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + k + 1 ||
			    c->slot != LW_MCELL_INLINE)
				break;
		}
		if (k == 0)
			return 0;
		/* Nobody else dequeues (no drop-oldest publisher): a plain
		 * store, no locked instruction. Relaxed like the CAS: the cell
		 * seq, not head, hands the cells back to producers. */
		if (single_consumer) {
			atomic_store_explicit(&r->head, pos + k, memory_order_relaxed);
			break;
		}
		if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + k,
				memory_order_relaxed, memory_order_relaxed))
			break;
	}
	*pos_out = pos;
	return k;
}

/* Gives back @p n cells claimed with lw_mring_claim_inline() from @p pos. */
static inline void lw_mring_release(struct lw_mring *r, uint64_t pos, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		/* Release: our reads of the cell happen before its reuse. */
		atomic_store_explicit(&r->cells[(pos + i) & r->mask].seq, pos + i + r->mask + 1,
				      memory_order_release);
}

static inline uint32_t lw_mring_count(const struct lw_mring *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	return t > h ? (uint32_t)(t - h) : 0;
}

#endif
