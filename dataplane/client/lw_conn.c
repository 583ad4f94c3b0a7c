/* SPDX-License-Identifier: MIT */
/*
 * Connection life cycle, the control mailbox to lwd and the held table.
 *
 * A client takes a free client record in the domain itself (CAS), then asks
 * lwd to admit it through the control ring. Control traffic is rare
 * (connect, subscribe, unsubscribe), so it is a plain request/response
 * mailbox with a futex wait; the data path never goes through lwd.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ring.h>

#include "lw_client_pvt.h"

void lw_conn_opts_init(struct lw_conn_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->wait = LW_WAIT_BLOCK;
	o->spin_ns = 20000;
	o->request_timeout_ms = 2000;
	o->block_timeout_ms = 5000;
}

int lw_held_get(lw_conn *c, uint32_t slot_id, uint32_t *idx)
{
	uint64_t top = atomic_load_explicit(&c->held_top, memory_order_acquire);

	for (;;) {
		uint32_t i1 = (uint32_t)top;	/* index + 1, 0 = empty */
		uint64_t next;

		if (i1 == 0)
			return LW_ELIMIT;
		next = ((top >> 32) + 1) << 32 | c->held_next[i1 - 1];
		if (atomic_compare_exchange_weak_explicit(&c->held_top, &top, next,
				memory_order_acquire, memory_order_acquire)) {
			*idx = i1 - 1;
			/* Visible to lwd before the slot can be lost with us. A
			 * placeholder (UINT32_MAX) stores nothing: free entries
			 * are already 0. */
			if (slot_id != UINT32_MAX)
				atomic_store_explicit(&c->held[i1 - 1], slot_id + 1,
						      memory_order_release);
			return LW_OK;
		}
	}
}

void lw_held_put(lw_conn *c, uint32_t idx)
{
	uint64_t top = atomic_load_explicit(&c->held_top, memory_order_relaxed);
	uint64_t next;

	do {
		c->held_next[idx] = (uint32_t)top;
		next = ((top >> 32) + 1) << 32 | (idx + 1);
	} while (!atomic_compare_exchange_weak_explicit(&c->held_top, &top, next,
			memory_order_release, memory_order_relaxed));
}

void lw_held_release(lw_conn *c, uint32_t idx)
{
	uint32_t v = atomic_exchange_explicit(&c->held[idx], 0, memory_order_acq_rel);

	if (v != 0)
		lw_pool_put(&c->dom, v - 1);
	lw_held_put(c, idx);
}

static int wait_resp(lw_conn *c, uint32_t seq)
{
	uint64_t deadline = lw_now_ns() + (uint64_t)c->opts.request_timeout_ms * 1000000ull;
	uint32_t spins = 0;

	for (;;) {
		uint32_t r = atomic_load_explicit(&c->rec->resp_seq, memory_order_acquire);
		uint64_t now;

		if (r == seq)
			return LW_OK;
		if (!lw_domain_ready(c))
			return LW_SET_ERR(LW_ENODAEMON, "lwd of domain '%s' stopped", c->domain);
		if (++spins < 200) {
			lw_cpu_relax();
			continue;
		}
		now = lw_now_ns();
		if (now >= deadline) {
			if (!lw_dom_daemon_alive(c->domain))
				return LW_SET_ERR(LW_ENODAEMON, "lwd of domain '%s' is gone",
						  c->domain);
			return LW_SET_ERR(LW_ETIMEDOUT, "lwd did not answer within %u ms",
					  c->opts.request_timeout_ms);
		}
		if (lw_daemon_gone(c))
			return LW_SET_ERR(LW_ENODAEMON, "lwd of domain '%s' is gone", c->domain);
		/* 10 ms slices so a vanished lwd is noticed. */
		lw_futex_wait(&c->rec->resp_seq, r,
			      (int64_t)(deadline - now < 10000000 ? deadline - now : 10000000));
	}
}

int lw_ctl_call(lw_conn *c, const struct lw_ctl_req *req, struct lw_ctl_resp *resp)
{
	struct lw_dom_hdr *h = c->dom.hdr;
	void *ring = lw_dom_ctl_ring(&c->dom, c->idx % h->cfg.n_ctl);
	uint32_t seq;
	int rc;

	pthread_mutex_lock(&c->ctl_lock);
	c->rec->req = *req;
	seq = atomic_load_explicit(&c->rec->req_seq, memory_order_relaxed) + 1;
	/* Release: lwd reads req after it sees the new req_seq. */
	atomic_store_explicit(&c->rec->req_seq, seq, memory_order_release);
	if (rte_ring_mp_enqueue(ring, (void *)(uintptr_t)c->idx) != 0) {
		pthread_mutex_unlock(&c->ctl_lock);
		return LW_SET_ERR(LW_EAGAIN, "lwd control ring is full");
	}
	/* Pairs with lwd's seq_cst store of lwd_sleeping before it re-checks
	 * its rings: one of us sees the other (no lost wake-up). */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&h->lwd_sleeping, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&h->doorbell, 1, memory_order_release);
		lw_futex_wake(&h->doorbell, INT_MAX);
	}
	rc = wait_resp(c, seq);
	if (rc == LW_OK) {
		*resp = c->rec->resp;
		if (resp->status != LW_OK) {
			/* lwd's message already starts with the status text
			 * ("limit reached: ..."): say it once. */
			const char *e = resp->err, *st = lw_strerror(resp->status);
			size_t sl = strlen(st);

			if (strncmp(e, st, sl) == 0 && e[sl] == ':' && e[sl + 1] == ' ')
				e += sl + 2;
			rc = LW_SET_ERR(resp->status, "%s", e);
		}
	}
	pthread_mutex_unlock(&c->ctl_lock);
	return rc;
}

static int claim_record(lw_conn *c, const char *name)
{
	struct lw_dom_hdr *h = c->dom.hdr;
	int pid = getpid();
	uint64_t st = lw_proc_start_time(pid);

	if (st == LW_PROC_UNKNOWN || st == 0)
		return LW_SET_ERR(LW_EIO, "cannot read /proc/self/stat (out of descriptors?): lwd "
				  "could not tell whether this process is alive");

	for (uint32_t i = 0; i < h->cfg.max_clients; i++) {
		struct lw_client_rec *r = lw_dom_client(&c->dom, i);
		uint32_t expect = LW_CLI_FREE;

		if (!atomic_compare_exchange_strong(&r->state, &expect, LW_CLI_CLAIMED))
			continue;
		r->pid = pid;
		r->start_time = st;
		snprintf(r->name, sizeof(r->name), "%s", name);
		c->idx = i;
		c->rec = r;
		return LW_OK;
	}
	return LW_SET_ERR(LW_ELIMIT, "all %u client records of domain '%s' are in use"
			  " (lwd --max-clients)", h->cfg.max_clients, c->domain);
}

static int held_init(lw_conn *c)
{
	c->held_max = c->dom.hdr->cfg.held_max;
	c->held = lw_dom_held(&c->dom, c->idx);
	c->held_next = calloc(c->held_max, sizeof(*c->held_next));
	c->msgs = calloc(c->held_max, sizeof(*c->msgs));
	if (c->held_next == NULL || c->msgs == NULL)
		return LW_SET_ERR(LW_ENOMEM, "held table of %u entries", c->held_max);
	atomic_store(&c->held_top, 0);
	for (uint32_t i = c->held_max; i-- > 0;)
		lw_held_put(c, i);
	return LW_OK;
}

static void conn_free(lw_conn *c)
{
	while (c->ipools != NULL) {
		struct lw_ipool *p = c->ipools;

		c->ipools = p->next;
		free(p);
	}
	pthread_mutex_destroy(&c->ipool_lock);
	free(c->held_next);
	free(c->msgs);
	lw_dom_detach(&c->dom);
	pthread_mutex_destroy(&c->ctl_lock);
	pthread_mutex_destroy(&c->subs_lock);
	pthread_mutex_destroy(&c->req_lock);
	free(c);
}

int lw_connect(lw_conn **out, const struct lw_conn_opts *opts)
{
	struct lw_ctl_req req = { .op = LW_CTL_CONNECT };
	struct lw_ctl_resp resp;
	pthread_mutexattr_t ma;
	const char *dname;
	lw_conn *c;
	int rc;

	if (out == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_connect: out is NULL");
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return LW_SET_ERR(LW_ENOMEM, "lw_connect");
	c->no_self_wake = UINT32_MAX;
	if (opts != NULL)
		c->opts = *opts;
	else
		lw_conn_opts_init(&c->opts);
	if (c->opts.request_timeout_ms == 0)
		c->opts.request_timeout_ms = 2000;
	pthread_mutex_init(&c->ctl_lock, NULL);
	pthread_mutex_init(&c->req_lock, NULL);
	pthread_mutex_init(&c->ipool_lock, NULL);
	{
		static _Atomic uint64_t next_id = 1;

		c->id = atomic_fetch_add(&next_id, 1);
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->subs_lock, &ma);
	pthread_mutexattr_destroy(&ma);
	c->dom.fd = -1;

	rc = lw_dom_name(c->opts.domain, &dname);
	if (rc != LW_OK)
		goto fail;
	snprintf(c->domain, sizeof(c->domain), "%s", dname);
	c->opts.domain = c->domain;
	rc = lw_dom_attach(c->domain, &c->dom);
	if (rc != LW_OK)
		goto fail;
	rc = claim_record(c, c->opts.name ? c->opts.name : program_invocation_short_name);
	if (rc != LW_OK)
		goto fail;
	rc = held_init(c);
	if (rc == LW_OK)
		rc = lw_ctl_call(c, &req, &resp);
	if (rc != LW_OK) {
		/* lwd never admitted us; if it is alive it reclaims a CLAIMED
		 * record whose process died, so only free it ourselves when
		 * it did not answer at all. */
		if (rc == LW_ENODAEMON || rc == LW_ETIMEDOUT)
			atomic_store(&c->rec->state, LW_CLI_FREE);
		goto fail;
	}
	snprintf(c->inbox_prefix, sizeof(c->inbox_prefix), "_INBOX.%s%u%x.%x", c->domain,
		 c->idx, c->rec->gen, (unsigned)(lw_now_ns() & 0xffffff));
	c->daemon_start = c->dom.hdr->daemon_pid > 0 ? lw_proc_start_time(c->dom.hdr->daemon_pid) : 0;
	if (c->daemon_start == LW_PROC_UNKNOWN)
		c->daemon_start = 0;
	atomic_store(&c->alive_checked_ns, lw_now_ns());
	*out = c;
	return LW_OK;
fail:
	LW_APPEND_ERR("connecting to domain '%s'", c->domain[0] ? c->domain :
			  opts != NULL && opts->domain != NULL ? opts->domain : "default");
	conn_free(c);
	return rc;
}

void lw_close(lw_conn *c)
{
	struct lw_ctl_req req = { .op = LW_CTL_DISCONNECT };
	struct lw_ctl_resp resp;

	if (c == NULL)
		return;
	lw_dispatcher_stop(c);
	lw_subs_lock(c);
	while (c->subs != NULL)
		lw_sub_close(c->subs, false);
	pthread_mutex_unlock(&c->subs_lock);
	atomic_store(&c->closed, true);
	/* lwd drops our subscriptions and every slot still in our held table
	 * (messages the user did not free, loans) as it would for a crash. */
	if (lw_domain_ready(c))
		lw_ctl_call(c, &req, &resp);
	conn_free(c);
}

bool lw_daemon_gone(lw_conn *c)
{
	uint64_t now, last, st;
	pid_t pid;

	if (atomic_load_explicit(&c->daemon_gone, memory_order_relaxed))
		return true;
	now = lw_now_ns();
	last = atomic_load_explicit(&c->alive_checked_ns, memory_order_relaxed);
	if (now - last < 100000000ull ||
	    !atomic_compare_exchange_strong(&c->alive_checked_ns, &last, now))
		return false;
	pid = (pid_t)c->dom.hdr->daemon_pid;
	/* lwd's /proc entry was not visible at connect (hidepid, another
	 * pid namespace): nothing here can tell, the header decides. */
	if (pid <= 0 || c->daemon_start == 0)
		return false;
	st = lw_proc_start_time(pid);
	/* gone, a zombie, or the pid taken by another process since */
	if (st == 0 || (st != LW_PROC_UNKNOWN && st != c->daemon_start)) {
		atomic_store(&c->daemon_gone, true);
		return true;
	}
	return false;
}

int lw_conn_alive(const lw_conn *c)
{
	pid_t pid;

	if (c == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_conn_alive: NULL argument");
	if (atomic_load_explicit(&c->closed, memory_order_relaxed) || !lw_domain_ready(c))
		return LW_SET_ERR(LW_ECLOSED, "connection to '%s' is closed", c->domain);
	/* A SIGKILLed lwd leaves the header READY; its pid tells, a zombie
	 * (not yet reaped by its parent) counting as gone. */
	pid = (pid_t)c->dom.hdr->daemon_pid;
	if (pid > 0 && lw_proc_start_time(pid) == 0)
		return LW_SET_ERR(LW_ENODAEMON, "lwd (pid %d) of '%s' is gone", (int)pid, c->domain);
	return LW_OK;
}

size_t lw_max_payload(const lw_conn *c)
{
	return c->dom.hdr->cfg.max_payload;
}

int lw_stats(lw_conn *c, struct lw_domain_stats *o)
{
	const struct lw_dom_hdr *h;

	if (c == NULL || o == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_stats: NULL argument");
	h = c->dom.hdr;
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", h->name);
	snprintf(o->path, sizeof(o->path), "%s", h->path);
	o->daemon_pid = h->daemon_pid;
	o->abi_version = h->abi_version;
	o->size_bytes = h->size;
	o->max_clients = h->cfg.max_clients;
	o->max_subs = h->cfg.max_subs;
	o->ring_size = h->cfg.ring_size;
	o->max_payload = h->cfg.max_payload;
	o->published = atomic_load_explicit(&h->msgs_published, memory_order_relaxed);
	o->no_interest = atomic_load_explicit(&h->msgs_no_interest, memory_order_relaxed);
	o->pool_exhausted = atomic_load_explicit(&h->pool_exhausted, memory_order_relaxed);
	o->clients_reclaimed = atomic_load_explicit(&h->clients_reclaimed, memory_order_relaxed);
	o->slots_reclaimed = atomic_load_explicit(&h->slots_reclaimed, memory_order_relaxed);
	for (int b = 0; b < LW_LAT_BUCKETS; b++)
		o->lat_bucket[b] = atomic_load_explicit(&h->lat_bucket[b], memory_order_relaxed);
	o->lat_sum_ns = atomic_load_explicit(&h->lat_sum_ns, memory_order_relaxed);
	for (uint32_t i = 0; i < h->cfg.max_clients; i++) {
		struct lw_client_rec *r = lw_dom_client(&c->dom, i);

		if (atomic_load(&r->state) != LW_CLI_ACTIVE)
			continue;
		o->clients++;
		/* Live connections' counts; lwd adds a connection's to the
		 * domain total when it goes away. */
		o->published += atomic_load_explicit(&r->published, memory_order_relaxed);
	}
	for (uint32_t i = 0; i < h->cfg.max_subs; i++) {
		struct lw_sub_rec *s = lw_dom_sub(&c->dom, i);

		if (atomic_load(&s->state) != LW_SUB_ACTIVE)
			continue;
		o->subs++;
		o->delivered += atomic_load_explicit(&lw_dom_sub_ring(&c->dom, i)->tail,
						     memory_order_relaxed);
		o->dropped += atomic_load_explicit(&s->dropped, memory_order_relaxed);
	}
	o->nclasses = h->cfg.nclasses;
	for (uint32_t k = 0; k < h->cfg.nclasses && k < LW_STATS_CLASSES; k++) {
		o->cls[k].slot_bytes = h->cls[k].slot_bytes;
		o->cls[k].total = h->cls[k].count;
		o->cls[k].free = lw_pool_free_count(&c->dom, k);
	}
	return LW_OK;
}

int lw_stats_subs(lw_conn *c, struct lw_sub_info *out, int max)
{
	const struct lw_dom_hdr *h;
	int n = 0;

	if (c == NULL || (out == NULL && max > 0))
		return LW_SET_ERR(LW_EINVAL, "lw_stats_subs: NULL argument");
	h = c->dom.hdr;
	for (uint32_t i = 0; i < h->cfg.max_subs; i++) {
		struct lw_sub_rec *s = lw_dom_sub(&c->dom, i);
		struct lw_client_rec *cr;
		struct lw_sub_info *o;

		if (atomic_load(&s->state) != LW_SUB_ACTIVE)
			continue;
		if (n >= max) {
			n++;
			continue;
		}
		o = &out[n++];
		memset(o, 0, sizeof(*o));
		o->index = i;
		memcpy(o->subject, s->subject, sizeof(o->subject));
		o->subject[LW_SUBJECT_MAX] = '\0';
		memcpy(o->queue, s->queue, sizeof(o->queue));
		o->queue[LW_QUEUE_MAX] = '\0';
		o->policy = (enum lw_slow_policy)s->policy;
		if (s->owner < h->cfg.max_clients) {
			cr = lw_dom_client(&c->dom, s->owner);
			memcpy(o->client, cr->name, sizeof(o->client));
			o->client[sizeof(o->client) - 1] = '\0';
			o->pid = cr->pid;
		}
		o->st.delivered = atomic_load_explicit(&lw_dom_sub_ring(&c->dom, i)->tail,
						       memory_order_relaxed);
		o->st.dropped = atomic_load_explicit(&s->dropped, memory_order_relaxed);
		o->st.blocked = atomic_load_explicit(&s->blocked, memory_order_relaxed);
		o->st.depth = lw_mring_count(lw_dom_sub_ring(&c->dom, i));
		o->st.capacity = h->cfg.ring_size;
	}
	return n;
}
