/* SPDX-License-Identifier: MIT */
/*
 * Reclamation: dead clients and closed subscriptions.
 *
 * A client is dead when its pid no longer runs the process that connected
 * (start time from /proc differs: pids are reused). Its subscriptions are
 * retired and every slot in its held table is given back.
 *
 * A retired subscription is out of the subject tree, but a publisher that
 * matched it just before may still enqueue into its ring. Each publisher
 * advertises the global epoch it entered with; once every live client is
 * outside (0) or entered after the retirement, nobody can reach the ring,
 * and lwd drains it and frees the record (epoch-based reclamation).
 * Work per call is bounded by the table sizes.
 */
#include <stdio.h>

#include "lw_err.h"
#include "lw_pool.h"
#include "lwd.h"

void lwd_sub_retire(struct lwd *w, uint32_t i)
{
	struct lw_sub_rec *s = lw_dom_sub(&w->dom, i);

	atomic_store_explicit(&s->state, LW_SUB_CLOSING, memory_order_release);
	lw_stree_remove(w->dom.tree, i);
	/* seq_cst: the unlink above is ordered before the new epoch, which
	 * publishers load before they match. */
	s->retire_epoch = atomic_fetch_add_explicit(&w->dom.hdr->epoch, 1,
						     memory_order_seq_cst) + 1;
	w->retired[w->n_retired++] = i;
}

void lwd_client_reclaim(struct lwd *w, uint32_t ci, bool crashed)
{
	struct lw_domain *d = &w->dom;
	struct lw_client_rec *r = lw_dom_client(d, ci);
	_Atomic uint32_t *held = lw_dom_held(d, ci);
	uint32_t slots = 0;

	atomic_store(&r->state, LW_CLI_RECLAIM);
	for (uint32_t i = 0; i < d->hdr->cfg.max_subs; i++) {
		struct lw_sub_rec *s = lw_dom_sub(d, i);

		if (s->owner == ci && atomic_load(&s->state) == LW_SUB_ACTIVE)
			lwd_sub_retire(w, i);
	}
	for (uint32_t k = 0; k < d->hdr->cfg.held_max; k++) {
		uint32_t v = atomic_exchange(&held[k], 0);

		if (v != 0 && lw_slot_id_valid(d, v - 1)) {
			lw_pool_put(d, v - 1);
			slots++;
		}
	}
	atomic_fetch_add(&d->hdr->msgs_published, atomic_load(&r->published));
	atomic_store(&r->epoch, 0);
	atomic_store(&r->published, 0);
	if (crashed) {
		atomic_fetch_add(&d->hdr->clients_reclaimed, 1);
		atomic_fetch_add(&d->hdr->slots_reclaimed, slots);
		lwd_log(LWD_INFO, "client %u (pid %d '%s') died: reclaimed its subscriptions and %u slots",
			ci, r->pid, r->name, slots);
	} else {
		lwd_log(LWD_DEBUG, "client %u (pid %d) disconnected, %u slots returned", ci, r->pid,
			slots);
	}
	r->pid = 0;
	atomic_store_explicit(&r->state, LW_CLI_FREE, memory_order_release);
}

/* Can no publisher still reach something retired at epoch @p e? */
static bool grace_passed(struct lwd *w, uint64_t e)
{
	for (uint32_t i = 0; i < w->dom.hdr->cfg.max_clients; i++) {
		struct lw_client_rec *r = lw_dom_client(&w->dom, i);
		uint64_t ce;

		if (atomic_load_explicit(&r->state, memory_order_acquire) != LW_CLI_ACTIVE)
			continue;
		/* epoch << 16 | threads inside (see lw_epoch_enter) */
		ce = atomic_load_explicit(&r->epoch, memory_order_seq_cst);
		if (ce != 0 && (ce >> 16) < e)
			return false;
	}
	return true;
}

static int free_retired(struct lwd *w)
{
	struct lw_domain *d = &w->dom;
	int work = 0;
	uint32_t k = 0;

	while (k < w->n_retired) {
		uint32_t i = w->retired[k];
		struct lw_sub_rec *s = lw_dom_sub(d, i);
		struct lw_mring *ring = lw_dom_sub_ring(d, i);
		struct lw_mcell v;

		if (!grace_passed(w, s->retire_epoch)) {
			k++;
			continue;
		}
		for (uint32_t n = 0; n < d->hdr->cfg.ring_size && lw_mring_dequeue(ring, &v); n++)
			if (v.slot != LW_MCELL_INLINE && lw_slot_id_valid(d, v.slot))
				lw_pool_put(d, v.slot);
		atomic_store_explicit(&s->state, LW_SUB_FREE, memory_order_release);
		w->sub_free[w->n_sub_free++] = i;
		w->retired[k] = w->retired[--w->n_retired];
		work++;
	}
	return work;
}

static bool client_dead(const struct lw_client_rec *r)
{
	uint64_t st;

	if (r->pid <= 0)
		return true;
	/* Unknown (lwd is out of descriptors): alive until a scan can tell;
	 * reclaiming on it took every client away, the gateway's included. */
	st = lw_proc_start_time(r->pid);
	return st != LW_PROC_UNKNOWN && st != r->start_time;
}

int lwd_reaper_do_work(struct lwd *w, uint64_t now)
{
	struct lw_domain *d = &w->dom;
	int work = 0;

	pthread_mutex_lock(&w->lock);
	if (w->n_retired)
		work += free_retired(w);
	if (now >= w->next_reap_ns) {
		w->next_reap_ns = now + (uint64_t)w->cfg.reap_ms * 1000000ull;
		for (uint32_t i = 0; i < d->hdr->cfg.max_clients; i++) {
			struct lw_client_rec *r = lw_dom_client(d, i);
			uint32_t st = atomic_load(&r->state);

			/* A CLAIMED record with pid 0 is being filled in right now. */
			if (st == LW_CLI_CLAIMED && r->pid == 0)
				continue;
			if ((st == LW_CLI_ACTIVE || st == LW_CLI_CLAIMED) && client_dead(r)) {
				if (st == LW_CLI_CLAIMED) {
					/* Died while connecting; it holds nothing yet. */
					r->pid = 0;
					atomic_store(&r->state, LW_CLI_FREE);
				} else {
					lwd_client_reclaim(w, i, true);
				}
				work++;
			}
		}
		if (w->n_retired)
			work += free_retired(w);
	}
	pthread_mutex_unlock(&w->lock);
	return work;
}
