/* SPDX-License-Identifier: MIT */
/*
 * The receive side: subscriptions, lw_next() with its wait strategy, the
 * callback dispatcher, and message accessors.
 *
 * Waiting: spin (LW_WAIT_SPIN forever, LW_WAIT_BLOCK for spin_ns), then a
 * few yields, then sleep on the client record's futex. Publishers wake the
 * futex only when waiters > 0, so a busy receiver costs them nothing.
 */
#include <ctype.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lw_client_pvt.h"

void lw_sub_opts_init(struct lw_sub_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->policy = LW_SLOW_BLOCK;
}

int lw_subscribe(lw_conn *c, const char *subject, const struct lw_sub_opts *opts,
		 lw_sub **out)
{
	struct lw_ctl_req req = { .op = LW_CTL_SUBSCRIBE };
	struct lw_sub_opts def;
	struct lw_ctl_resp resp;
	size_t n, qn = 0;
	lw_sub *s;
	int rc;

	if (c == NULL || subject == NULL || out == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_subscribe: NULL argument");
	*out = NULL;
	if (opts == NULL) {
		lw_sub_opts_init(&def);
		opts = &def;
	}
	if (atomic_load(&c->closed) || !lw_domain_ready(c))
		return LW_SET_ERR(LW_ECLOSED, "connection to '%s' is closed", c->domain);
	n = strnlen(subject, LW_SUBJECT_MAX + 1);
	if (n > LW_SUBJECT_MAX)
		return LW_SET_ERR(LW_EBADSUBJECT, "subject longer than %d bytes", LW_SUBJECT_MAX);
	rc = lw_subj_validate(subject, n, LW_SUBJ_SUBSCRIBE);
	if (rc != LW_OK) {
		LW_APPEND_ERR("subscribe");
		return rc;
	}
	if (opts->queue != NULL && opts->queue[0] != '\0') {
		qn = strnlen(opts->queue, LW_QUEUE_MAX + 1);
		rc = lw_queue_validate(opts->queue, qn);
		if (rc != LW_OK)
			return rc;
	}
	if ((unsigned)opts->policy > LW_SLOW_DROP_NEWEST)
		return LW_SET_ERR(LW_EINVAL, "unknown slow-consumer policy %d", opts->policy);
	memcpy(req.subject, subject, n);
	if (qn)
		memcpy(req.queue, opts->queue, qn);
	req.policy = (uint32_t)opts->policy;
	req.noecho = qn ? opts->no_echo_origin : 0;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return LW_SET_ERR(LW_ENOMEM, "lw_subscribe");
	rc = lw_ctl_call(c, &req, &resp);
	if (rc != LW_OK) {
		free(s);
		LW_APPEND_ERR("subscribe '%s'", subject);
		return rc;
	}
	s->c = c;
	s->idx = resp.sub;
	s->gen = resp.sub_gen;
	s->rec = lw_dom_sub(&c->dom, s->idx);
	s->ring = lw_dom_sub_ring(&c->dom, s->idx);
	s->cb = opts->cb;
	s->cb_arg = opts->cb_arg;
	s->policy = opts->policy;
	lw_subs_lock(c);
	s->next = c->subs;
	c->subs = s;
	c->subs_gen++;
	if (s->cb != NULL)
		c->n_cb_subs++;
	pthread_mutex_unlock(&c->subs_lock);
	if (s->cb != NULL) {
		rc = lw_dispatcher_start(c);
		if (rc != LW_OK) {
			lw_unsubscribe(s);
			return rc;
		}
	}
	*out = s;
	return LW_OK;
}

int lw_sub_close(lw_sub *s, bool tell_lwd)
{
	lw_conn *c = s->c;
	struct lw_ctl_req req = { .op = LW_CTL_UNSUBSCRIBE, .sub = s->idx, .sub_gen = s->gen };
	struct lw_ctl_resp resp;
	int rc = LW_OK;

	lw_subs_lock(c);
	for (lw_sub **pp = &c->subs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	if (s->cb != NULL)
		c->n_cb_subs--;
	c->subs_gen++;
	atomic_store(&s->closed, true);
	pthread_mutex_unlock(&c->subs_lock);
	/* lwd drains what is still queued once no publisher can reach it. */
	if (tell_lwd && lw_domain_ready(c))
		rc = lw_ctl_call(c, &req, &resp);
	free(s);
	return rc;
}

int lw_sub_limit(lw_sub *s, uint32_t n)
{
	if (s == NULL || atomic_load(&s->closed))
		return LW_SET_ERR(LW_ECLOSED, "lw_sub_limit: subscription closed");
	lw_stree_set_quota(s->c->dom.tree, s->idx, n);
	return LW_OK;
}

int lw_unsubscribe(lw_sub *s)
{
	if (s == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_unsubscribe: NULL");
	return lw_sub_close(s, true);
}

/* This thread's inline pool on @p c (a small per-thread cache in front of
 * the connection's list, so the lookup is a compare on the hot path). */
static struct lw_ipool *ipool_of(lw_conn *c)
{
	static _Thread_local struct {
		uint64_t id;
		struct lw_ipool *p;
	} cache[4] __attribute__((tls_model("initial-exec")));
	static _Thread_local unsigned victim __attribute__((tls_model("initial-exec")));
	pthread_t self;
	struct lw_ipool *p;

	for (unsigned i = 0; i < 4; i++)
		if (cache[i].id == c->id)
			return cache[i].p;
	self = pthread_self();
	pthread_mutex_lock(&c->ipool_lock);
	for (p = c->ipools; p != NULL; p = p->next)
		if (pthread_equal(p->owner, self))
			break;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p != NULL) {
			p->owner = self;
			p->next = c->ipools;
			c->ipools = p;
		}
	}
	pthread_mutex_unlock(&c->ipool_lock);
	if (p != NULL) {
		victim = (victim + 1) % 4;
		cache[victim].id = c->id;
		cache[victim].p = p;
	}
	return p;
}

/* A free lw_msg of this thread's pool, or NULL when all are out. */
static inline lw_msg *ipool_get(lw_conn *c)
{
	struct lw_ipool *p = ipool_of(c);

	if (p == NULL)
		return NULL;
	for (uint32_t k = 0; k < LW_IPOOL_SIZE; k++) {
		uint32_t i = (p->hint + k) % LW_IPOOL_SIZE;

		/* Acquire pairs with lw_msg_free's release: the last user is
		 * done with the entry. Only this thread sets busy. */
		if (!atomic_load_explicit(&p->busy[i], memory_order_acquire)) {
			atomic_store_explicit(&p->busy[i], true, memory_order_relaxed);
			p->hint = i + 1;
			p->msgs[i].busy = &p->busy[i];
			return &p->msgs[i];
		}
	}
	return NULL;
}

#define CLAIM_MAX 32

/* lw_sub_try's body: inlined into lw_next's first polls, where a busy
 * receiver finds its message (a call and a frame less per message). */
static inline __attribute__((always_inline)) int sub_try(lw_sub *s, lw_msg **out)
{
	lw_conn *c = s->c;
	struct lw_mcell one;
	uint32_t hidx;
	lw_msg *m;

	if (s->cl_out == s->cl_n) {
		/* Everything claimed was handed out: give the cells back now,
		 * while there is nothing to answer (see lw_mring_claim_inline). */
		if (s->cl_n) {
			lw_mring_release(s->ring, s->cl_pos, s->cl_n);
			s->cl_n = s->cl_out = 0;
		}
		/* Look at the cell itself, not the producers' tail line. */
		if (!lw_mring_ready(s->ring))
			return LW_EAGAIN;
		s->cl_n = lw_mring_claim_inline(s->ring, CLAIM_MAX, &s->cl_pos,
						s->policy != LW_SLOW_DROP_OLDEST);
	}
	if (s->cl_out < s->cl_n) {
		m = ipool_get(c);
		if (m == NULL) {
			if (lw_held_get(c, UINT32_MAX, &hidx) != LW_OK)
				return LW_SET_ERR(LW_ELIMIT, "%u messages held: lw_msg_free() some",
						  c->held_max);
			m = &c->msgs[hidx];
			m->busy = NULL;
			m->held_idx = hidx;
		}
		m->c = c;
		m->sub = s;
		lw_msg_fill_inline(m, &s->ring->cells[(s->cl_pos + s->cl_out) & s->ring->mask]);
		s->cl_out++;
		*out = m;
		return LW_OK;
	}
	/* A slot: take a held entry first so it never leaves the ring without
	 * a place that records it. UINT32_MAX + 1 wraps to 0: holds nothing. */
	if (lw_held_get(c, UINT32_MAX, &hidx) != LW_OK)
		return LW_SET_ERR(LW_ELIMIT, "%u messages held: lw_msg_free() some", c->held_max);
	if (!lw_mring_dequeue(s->ring, &one)) {
		lw_held_put(c, hidx);
		return LW_EAGAIN;
	}
	m = &c->msgs[hidx];
	m->c = c;
	m->sub = s;
	m->busy = NULL;
	m->held_idx = hidx;
	if (one.slot == LW_MCELL_INLINE) {
		/* Raced with a drop-oldest publisher to a fresh inline cell. */
		lw_msg_fill_inline(m, &one);
	} else {
		atomic_store_explicit(&c->held[hidx], one.slot + 1, memory_order_release);
		m->slot_id = one.slot;
		m->slot = lw_slot_ptr(&c->dom, one.slot);
		if (__builtin_expect(m->slot->pub_ts != 0, 0))
			lw_lat_record(c->dom.hdr, m->slot->pub_ts);
	}
	*out = m;
	return LW_OK;
}

int lw_sub_try(lw_sub *s, lw_msg **out)
{
	return sub_try(s, out);
}

/* Nothing more can come: closed, lwd stopped, or lwd gone (checked only
 * here, on the way to sleep: what is already queued is still taken). */
static int sub_gone(const lw_sub *s)
{
	return atomic_load_explicit(&s->closed, memory_order_relaxed) ||
	       !lw_domain_ready(s->c) ||
	       atomic_load_explicit(&s->rec->state, memory_order_relaxed) != LW_SUB_ACTIVE ||
	       lw_daemon_gone(s->c);
}

static int sub_gone_err(const lw_sub *s)
{
	if (atomic_load_explicit(&s->c->daemon_gone, memory_order_relaxed))
		return LW_SET_ERR(LW_ENODAEMON, "lwd of domain '%s' is gone", s->c->domain);
	return LW_SET_ERR(LW_ECLOSED, "subscription is closed");
}

/* Sleeps until a publisher bumps our wake word or the deadline; the
 * waiters/fence/re-check order pairs with lw_deliver's exit barrier. */
static void sleep_for_message(lw_conn *c, lw_sub *s, uint64_t deadline)
{
	uint32_t seq;
	uint64_t now = lw_now_ns();
	int64_t t = 100000000; /* 100 ms slices: notice closing and lwd death */

	if (deadline != UINT64_MAX)
		t = deadline > now ? (int64_t)(deadline - now) : 0;
	if (t > 100000000)
		t = 100000000;
	seq = lw_sleep_enter(c->rec);
	if (!lw_sub_pending(s) && !sub_gone(s))
		lw_futex_wait(&c->rec->wake_seq, seq, t);
	lw_sleep_exit(c->rec);
}

int lw_next(lw_sub *s, lw_msg **out, int timeout_ms)
{
	uint64_t start, deadline, spin_end;
	uint32_t yields = 0;
	lw_conn *c;
	int rc;

	if (s == NULL || out == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_next: NULL argument");
	if (s->cb != NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_next on a callback subscription");
	c = s->c;
	/* A short spin before reading the clock: a busy receiver usually
	 * finds the next message within a few polls. */
	for (int i = 0; i < 64; i++) {
		rc = sub_try(s, out);
		if (rc != LW_EAGAIN)
			return rc;
		if (timeout_ms == 0)
			break;
		lw_cpu_relax();
	}
	if (sub_gone(s))
		return sub_gone_err(s);
	if (timeout_ms == 0)
		return LW_EAGAIN;
	start = lw_now_ns();
	deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * 1000000ull;
	spin_end = c->opts.wait == LW_WAIT_SPIN ? deadline : start + c->opts.spin_ns;
	for (uint32_t i = 0;; i++) {
		rc = lw_sub_try(s, out);
		if (rc != LW_EAGAIN)
			return rc;
		if ((i & 255) == 0) {
			uint64_t now = lw_now_ns();

			if (sub_gone(s))
				return sub_gone_err(s);
			if (now >= deadline)
				return LW_SET_ERR(LW_ETIMEDOUT, "no message within %d ms",
						  timeout_ms);
			if (now >= spin_end) {
				if (yields++ < 16)
					sched_yield();
				else
					sleep_for_message(c, s, deadline);
				continue;
			}
		}
		lw_cpu_relax();
	}
}

void lw_msg_free(lw_msg *m)
{
	if (m == NULL || m->c == NULL)
		return;
	lw_conn *c = m->c;

	m->c = NULL;
	if (m->busy != NULL)
		/* Release pairs with ipool_get's acquire. */
		atomic_store_explicit(m->busy, false, memory_order_release);
	else if (m->slot == NULL)
		lw_held_put(c, m->held_idx); /* inline: the entry holds no slot */
	else
		lw_held_release(c, m->held_idx);
}

const char *lw_msg_subject(const lw_msg *m)
{
	return m->slot ? lw_slot_subject(m->slot) : m->inl;
}

const char *lw_msg_reply(const lw_msg *m)
{
	return m->slot ? lw_slot_reply(m->slot) : NULL;
}

const void *lw_msg_data(const lw_msg *m)
{
	return m->slot ? lw_slot_data(m->slot) : m->raw + m->subj_len;
}

uint32_t lw_msg_origin(const lw_msg *m)
{
	return m->slot ? m->slot->origin : m->origin;
}

size_t lw_msg_len(const lw_msg *m)
{
	return m->slot ? m->slot->data_len : m->data_len;
}

const void *lw_msg_headers(const lw_msg *m, size_t *len)
{
	size_t n = m->slot ? m->slot->hdr_len : 0;

	if (len != NULL)
		*len = n;
	return n ? lw_slot_hdr(m->slot) : NULL;
}

int lw_msg_status(const lw_msg *m)
{
	const char *h;
	size_t n;
	int code = 0;

	if (m->slot == NULL)
		return 0;
	h = lw_slot_hdr(m->slot);
	n = m->slot->hdr_len;
	/* "NATS/1.0 503\r\n" or "NATS/1.0 503 No Responders\r\n" */
	if (n < 12 || memcmp(h, "NATS/1.0 ", 9) != 0)
		return 0;
	for (size_t i = 9; i < n && i < 12; i++) {
		if (!isdigit((unsigned char)h[i]))
			return 0;
		code = code * 10 + (h[i] - '0');
	}
	return code;
}

int lw_msg_header(const lw_msg *m, const char *key, char *buf, size_t bufsz)
{
	const char *h, *end, *p;
	size_t klen = strlen(key);

	if (m->slot == NULL || m->slot->hdr_len == 0)
		return LW_ENOTFOUND;
	h = lw_slot_hdr(m->slot);
	end = h + m->slot->hdr_len;

	p = memchr(h, '\n', (size_t)(end - h)); /* skip the NATS/1.0 line */
	while (p != NULL && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *colon;

		if (eol == NULL)
			eol = end;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon != NULL && (size_t)(colon - line) == klen &&
		    strncasecmp(line, key, klen) == 0) {
			const char *v = colon + 1, *ve = eol;
			size_t vlen;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			vlen = (size_t)(ve - v);
			if (vlen + 1 > bufsz)
				return LW_SET_ERR(LW_ETOOBIG, "header %s needs %zu bytes", key,
						  vlen + 1);
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			return (int)vlen;
		}
		p = eol < end ? eol : NULL;
	}
	return LW_ENOTFOUND;
}

int lw_sub_stats(const lw_sub *s, struct lw_sub_stats *st)
{
	if (s == NULL || st == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_sub_stats: NULL argument");
	/* Every enqueue claims one ring position: the tail is the count. */
	st->delivered = atomic_load_explicit(&s->ring->tail, memory_order_relaxed);
	st->dropped = atomic_load_explicit(&s->rec->dropped, memory_order_relaxed);
	st->blocked = atomic_load_explicit(&s->rec->blocked, memory_order_relaxed);
	st->depth = lw_mring_count(s->ring) + (s->cl_n - s->cl_out);
	st->capacity = s->c->dom.hdr->cfg.ring_size;
	return LW_OK;
}

/* --- callback dispatch ------------------------------------------------ */

/* One pass over the callback subscriptions; returns messages handled.
 * Bounded per subscription so one busy subject cannot starve the rest. */
static int dispatch_round(lw_conn *c)
{
	int work = 0;

	pthread_mutex_lock(&c->subs_lock);
	for (lw_sub *s = c->subs; s != NULL; s = s->next) {
		uint32_t gen = c->subs_gen;

		if (s->cb == NULL)
			continue;
		for (int k = 0; k < 64; k++) {
			lw_msg *m;

			if (lw_sub_try(s, &m) != LW_OK)
				break;
			s->cb(s, m, s->cb_arg);
			lw_msg_free(m);
			work++;
			/* The callback may have (un)subscribed, freeing s: the
			 * list changed, so leave the walk and start again. */
			if (gen != c->subs_gen || atomic_load(&c->dispatcher_stop))
				goto out;
		}
	}
out:
	pthread_mutex_unlock(&c->subs_lock);
	return work;
}

int lw_dispatch_once(lw_conn *c)
{
	return dispatch_round(c);
}

void lw_conn_self_dispatch(lw_conn *c)
{
	c->no_self_wake = c->idx;
}

static int cb_queues_empty(lw_conn *c)
{
	int empty = 1;

	pthread_mutex_lock(&c->subs_lock);
	for (lw_sub *s = c->subs; s != NULL && empty; s = s->next)
		if (s->cb != NULL && lw_sub_pending(s))
			empty = 0;
	pthread_mutex_unlock(&c->subs_lock);
	return empty;
}

/* Runs this thread on one CPU only? Then spinning only delays the thread
 * that would bring the next message (lwd's gateway and lw-control pinned
 * together, say): yield instead. */
static bool on_one_cpu(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1;
}

static void *dispatcher_main(void *arg)
{
	lw_conn *c = arg;
	uint64_t idle_since = 0;
	const bool solo = on_one_cpu();

	while (!atomic_load(&c->dispatcher_stop)) {
		int work = dispatch_round(c);

		/* Let a waiting (un)subscribe have the lock first; bounded. */
		for (int i = 0; i < 1000 && atomic_load_explicit(&c->subs_waiting,
							       memory_order_relaxed); i++)
			sched_yield();
		if (work > 0) {
			idle_since = 0;
			continue;
		}
		if (!lw_domain_ready(c))
			break;
		if (idle_since == 0)
			idle_since = lw_now_ns();
		if (c->opts.wait == LW_WAIT_SPIN || lw_now_ns() - idle_since < c->opts.spin_ns) {
			if (solo)
				sched_yield();
			else
				lw_cpu_relax();
			continue;
		}
		uint32_t seq;

		seq = lw_sleep_enter(c->rec);
		if (cb_queues_empty(c) && !atomic_load(&c->dispatcher_stop))
			lw_futex_wait(&c->rec->wake_seq, seq, 100000000);
		lw_sleep_exit(c->rec);
	}
	return NULL;
}

int lw_dispatcher_start(lw_conn *c)
{
	int rc = LW_OK;

	lw_subs_lock(c);
	if (!c->dispatcher_running) {
		atomic_store(&c->dispatcher_stop, false);
		if (pthread_create(&c->dispatcher, NULL, dispatcher_main, c) != 0)
			rc = LW_SET_ERR(LW_EIO, "cannot start the dispatcher thread");
		else
			c->dispatcher_running = true;
	}
	pthread_mutex_unlock(&c->subs_lock);
	return rc;
}

void lw_dispatcher_stop(lw_conn *c)
{
	if (!c->dispatcher_running)
		return;
	atomic_store(&c->dispatcher_stop, true);
	atomic_fetch_add(&c->rec->wake_seq, 1);
	lw_futex_wake(&c->rec->wake_seq, INT_MAX);
	if (!pthread_equal(pthread_self(), c->dispatcher))
		pthread_join(c->dispatcher, NULL);
	c->dispatcher_running = false;
}
