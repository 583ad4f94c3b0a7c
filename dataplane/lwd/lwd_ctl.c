/* SPDX-License-Identifier: MIT */
/*
 * Control requests: connect, subscribe, unsubscribe, disconnect.
 *
 * A client writes its request into its own mailbox (client record) and
 * enqueues its index on a control ring; the worker that owns the ring
 * answers in the same mailbox. The index on the ring is only a doorbell:
 * req_seq/resp_seq say whether there is something to answer, so a doubled
 * or stale doorbell is harmless.
 */
#include <stdio.h>
#include <string.h>

#include <rte_ring.h>

#include "lw_err.h"
#include "lw_pool.h"
#include "lwd.h"

#define CTL_BURST 32

static int do_connect(struct lwd *w, uint32_t ci, struct lw_client_rec *r)
{
	if (atomic_load(&r->state) != LW_CLI_CLAIMED)
		return LW_SET_ERR(LW_EINVAL, "client record %u was not claimed", ci);
	uint64_t st = lw_proc_start_time(r->pid);

	if (st == LW_PROC_UNKNOWN)
		return LW_SET_ERR(LW_EIO, "cannot read /proc/%d/stat now (lwd out of descriptors?)",
				  r->pid);
	if (st != r->start_time)
		return LW_SET_ERR(LW_EINVAL, "client pid %d is not running", r->pid);
	r->gen++;
	atomic_store(&r->epoch, 0);
	atomic_store(&r->waiters, 0);
	atomic_store(&r->published, 0);
	memset((void *)lw_dom_held(&w->dom, ci), 0, sizeof(uint32_t) * w->dom.hdr->cfg.held_max);
	atomic_store_explicit(&r->state, LW_CLI_ACTIVE, memory_order_release);
	lwd_log(LWD_DEBUG, "client %u connected: pid %d '%s'", ci, r->pid, r->name);
	return LW_OK;
}

static int do_subscribe(struct lwd *w, uint32_t ci, struct lw_client_rec *r,
			struct lw_ctl_resp *resp)
{
	struct lw_ctl_req *q = &r->req;
	struct lw_sub_rec *s;
	size_t n, qn;
	uint32_t i;
	int rc;

	q->subject[LW_SUBJECT_MAX] = '\0';
	q->queue[LW_QUEUE_MAX] = '\0';
	n = strlen(q->subject);
	qn = strlen(q->queue);
	/* Clients validate too; lwd must not trust a buggy or hostile one. */
	rc = lw_subj_validate(q->subject, n, LW_SUBJ_SUBSCRIBE);
	if (rc == LW_OK && qn)
		rc = lw_queue_validate(q->queue, qn);
	if (rc != LW_OK)
		return rc;
	if (q->policy > LW_SLOW_DROP_NEWEST)
		return LW_SET_ERR(LW_EINVAL, "unknown slow-consumer policy %u", q->policy);
	if (w->n_sub_free == 0)
		return LW_SET_ERR(LW_ELIMIT, "all %u subscriptions of the domain are in use"
				  " (lwd --max-subs)", w->dom.hdr->cfg.max_subs);
	i = w->sub_free[--w->n_sub_free];
	s = lw_dom_sub(&w->dom, i);
	s->gen++;
	s->owner = ci;
	s->policy = q->policy;
	memcpy(s->subject, q->subject, n + 1);
	memcpy(s->queue, q->queue, qn + 1);
	atomic_store(&s->dropped, 0);
	atomic_store(&s->blocked, 0);
	lw_mring_init(lw_dom_sub_ring(&w->dom, i), w->dom.hdr->cfg.ring_size);
	/* ACTIVE before it is in the tree: a publisher that finds it there
	 * must see a usable record and an empty ring. */
	atomic_store_explicit(&s->state, LW_SUB_ACTIVE, memory_order_release);
	/* Always: the id may have been another subscription's. */
	lw_stree_set_noecho(w->dom.tree, i, qn ? q->noecho : 0);
	lw_stree_clear_quota(w->dom.tree, i);
	rc = lw_stree_insert(w->dom.tree, s->subject, n, qn ? s->queue : NULL, i);
	if (rc != LW_OK) {
		atomic_store(&s->state, LW_SUB_FREE);
		w->sub_free[w->n_sub_free++] = i;
		return rc;
	}
	resp->sub = i;
	resp->sub_gen = s->gen;
	lwd_log(LWD_DEBUG, "client %u subscribed '%s'%s%s as %u", ci, s->subject,
		qn ? " queue " : "", s->queue, i);
	return LW_OK;
}

static int do_unsubscribe(struct lwd *w, uint32_t ci, struct lw_client_rec *r)
{
	uint32_t i = r->req.sub;
	struct lw_sub_rec *s;

	if (i >= w->dom.hdr->cfg.max_subs)
		return LW_SET_ERR(LW_ENOTFOUND, "no subscription %u", i);
	s = lw_dom_sub(&w->dom, i);
	if (atomic_load(&s->state) != LW_SUB_ACTIVE || s->owner != ci || s->gen != r->req.sub_gen)
		return LW_SET_ERR(LW_ENOTFOUND, "subscription %u is not yours or already closed", i);
	lwd_sub_retire(w, i);
	return LW_OK;
}

static void serve(struct lwd *w, uint32_t ci)
{
	struct lw_client_rec *r;
	struct lw_ctl_resp resp;
	uint32_t seq;
	int rc;

	if (ci >= w->dom.hdr->cfg.max_clients)
		return;
	r = lw_dom_client(&w->dom, ci);
	seq = atomic_load_explicit(&r->req_seq, memory_order_acquire);
	if (seq == atomic_load_explicit(&r->resp_seq, memory_order_relaxed))
		return; /* stale doorbell */
	memset(&resp, 0, sizeof(resp));
	lw_err_clear();
	pthread_mutex_lock(&w->lock);
	if (r->req.op != LW_CTL_CONNECT && atomic_load(&r->state) != LW_CLI_ACTIVE) {
		rc = LW_SET_ERR(LW_ECLOSED, "client %u is not connected", ci);
	} else {
		switch (r->req.op) {
		case LW_CTL_CONNECT:
			rc = do_connect(w, ci, r);
			break;
		case LW_CTL_SUBSCRIBE:
			rc = do_subscribe(w, ci, r, &resp);
			break;
		case LW_CTL_UNSUBSCRIBE:
			rc = do_unsubscribe(w, ci, r);
			break;
		case LW_CTL_DISCONNECT:
			lwd_client_reclaim(w, ci, false);
			rc = LW_OK;
			break;
		default:
			rc = LW_SET_ERR(LW_EINVAL, "unknown control request %u", r->req.op);
		}
	}
	pthread_mutex_unlock(&w->lock);
	resp.status = rc;
	if (rc != LW_OK)
		snprintf(resp.err, sizeof(resp.err), "%s", lw_errmsg());
	r->resp = resp;
	/* Release: the client reads resp after it sees resp_seq. */
	atomic_store_explicit(&r->resp_seq, seq, memory_order_release);
	lw_futex_wake(&r->resp_seq, 1 << 30);
}

int lwd_ctl_do_work(struct lwd *w, uint32_t ring)
{
	void *objs[CTL_BURST];
	unsigned int n;

	n = rte_ring_sc_dequeue_burst(lw_dom_ctl_ring(&w->dom, ring), objs, CTL_BURST, NULL);
	for (unsigned int k = 0; k < n; k++)
		serve(w, (uint32_t)(uintptr_t)objs[k]);
	return (int)n;
}
