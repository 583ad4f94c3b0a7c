/* SPDX-License-Identifier: MIT */
/*
 * The publish path: subject check -> slot -> match in the shared subject
 * tree -> enqueue a descriptor into each subscriber's ring -> wake sleepers.
 * No broker hop, no lock, no system call unless a receiver sleeps or a
 * LW_SLOW_BLOCK subscriber is full.
 *
 * Subscriptions can be closed while we publish. The tree's sequence lock
 * gives a consistent match; our client record's epoch keeps lwd from
 * recycling a matched subscription's ring until we leave (epoch-based
 * reclamation, see lwd's reaper).
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lw_client_pvt.h"

/*
 * Per-thread match cache. Publishers mostly repeat a few subjects, and the
 * tree changes rarely, so the last subject's match result is kept with the
 * tree sequence it was computed at: while the sequence is unchanged the
 * same subscriptions match (measured: validation + match were a third of
 * the 16-byte publish cost). Results that rotated a queue group are not
 * kept: the next message must go to the next member.
 * Buffers are sized to the domain's subscription capacity the first time
 * (cold), never reallocated on the hot path after.
 */
struct match_cache {
	const void *tree;
	uint64_t created;   /* domain identity: a new domain may map at the same address */
	uint64_t seq;
	int n;              /* cached result, -1 = none */
	uint32_t slen;
	uint32_t cap;
	uint32_t *targets;  /* cached subscription ids */
	uint32_t *owners;   /* scratch: whom to wake */
	/* The subject check of this publish found @c hit equal to subj: the
	 * match that follows need not compare it again. Used once. */
	const char *hit;
	char subj[LW_SUBJECT_MAX + 1]; /* NUL-terminated */
};

/* initial-exec: liblightwire is linked, not dlopen()ed, so its few bytes
 * of TLS fit the static block and each access is one %fs-relative load
 * instead of a __tls_get_addr call (seen in perf on the publish path). */
static _Thread_local struct match_cache tl_mc
	__attribute__((tls_model("initial-exec"))) = { .n = -1 };

/* A thread that published frees its buffers when it ends: threads come
 * and go (a connection's dispatcher, a user's workers), 8 KiB each at the
 * default max_subs. The key's value only marks "this thread has some". */
static pthread_key_t tl_mc_key;
static pthread_once_t tl_mc_once = PTHREAD_ONCE_INIT;

static void tl_mc_free(void *unused)
{
	(void)unused;
	free(tl_mc.targets);
	free(tl_mc.owners);
	tl_mc.targets = tl_mc.owners = NULL;
	tl_mc.cap = 0;
	tl_mc.n = -1;
}

static void tl_mc_key_make(void)
{
	pthread_key_create(&tl_mc_key, tl_mc_free);
}

static int cache_ready(const lw_conn *c)
{
	uint32_t need = c->dom.hdr->cfg.max_subs;

	if (tl_mc.cap < need) {
		uint32_t *t = realloc(tl_mc.targets, need * sizeof(*t));
		uint32_t *o;

		if (tl_mc.cap == 0) {
			pthread_once(&tl_mc_once, tl_mc_key_make);
			pthread_setspecific(tl_mc_key, &tl_mc);
		}
		if (t == NULL)
			return 0;
		tl_mc.targets = t;
		o = realloc(tl_mc.owners, need * sizeof(*o));
		if (o == NULL)
			return 0;
		tl_mc.owners = o;
		tl_mc.cap = need;
		tl_mc.n = -1;
	}
	return 1;
}

static inline bool cache_valid(const lw_conn *c)
{
	return tl_mc.n >= 0 && tl_mc.tree == (const void *)c->dom.tree &&
	       tl_mc.created == c->dom.hdr->created_ns;
}

static inline bool cache_hit(const lw_conn *c, const char *subject, size_t slen)
{
	return cache_valid(c) && tl_mc.slen == slen && memcmp(tl_mc.subj, subject, slen) == 0;
}

/* match() past the cache: walks the tree and caches a result without
 * queue groups. */
static __attribute__((noinline)) int match_tree(lw_conn *c, const char *subject, size_t slen,
						int *groups_out, const struct lw_mdesc *d)
{
	uint64_t seq;
	int n, groups;
	/* The publisher's origin: a queue group passes over a member that
	 * does not take its messages (lw_sub_opts.no_echo_origin). */
	uint32_t origin = d->slot != LW_MCELL_INLINE ? lw_slot_ptr(&c->dom, d->slot)->origin :
						       d->origin;

	tl_mc.hit = NULL;
	if (!cache_ready(c))
		return LW_SET_ERR(LW_ENOMEM, "match buffer");
	n = lw_stree_match_origin(c->dom.tree, subject, slen, tl_mc.targets, tl_mc.cap, &seq,
				  &groups, origin);
	*groups_out = groups;
	if (n >= 0 && groups == 0) {
		tl_mc.tree = c->dom.tree;
		tl_mc.created = c->dom.hdr->created_ns;
		tl_mc.seq = seq;
		tl_mc.slen = (uint32_t)slen;
		memcpy(tl_mc.subj, subject, slen);
		tl_mc.subj[slen] = '\0';
		tl_mc.n = n;
	} else {
		tl_mc.n = -1;
	}
	return n;
}

/* Matching subscription ids of @p subject into tl_mc.targets; count or
 * a negative lw_status. Caller is inside its epoch. The cache hit is
 * inline: it is every publish of a steady publisher. */
static inline int match(lw_conn *c, const char *subject, size_t slen, int *groups_out,
			const struct lw_mdesc *d)
{
	*groups_out = 0;
	if ((tl_mc.hit == subject || cache_hit(c, subject, slen)) &&
	    lw_stree_seq(c->dom.tree) == tl_mc.seq) {
		tl_mc.hit = NULL;
		return tl_mc.n;
	}
	return match_tree(c, subject, slen, groups_out, d);
}

/* A statistic, on the publish path: a plain load and store instead of a
 * locked add (one locked instruction is ~10 ns here, a fifth of a
 * ping-pong's software cost). Exact for one publishing thread per
 * connection; concurrent publishers on one connection may undercount
 * (docs: lw_domain_stats.published). */
static inline void count_published(lw_conn *c, uint64_t n)
{
	atomic_store_explicit(&c->rec->published,
			      atomic_load_explicit(&c->rec->published, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static void backoff(uint32_t *spins)
{
	struct timespec ts = { 0, 50000 };

	if (++*spins < 256)
		lw_cpu_relax();
	else if (*spins < 512)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

/* Ring full on a LW_SLOW_BLOCK subscription: wait for room. */
static int enqueue_blocking(lw_conn *c, struct lw_sub_rec *sr, struct lw_mring *r,
			    const struct lw_mdesc *d)
{
	uint64_t deadline = lw_now_ns() + (uint64_t)c->opts.block_timeout_ms * 1000000ull;
	uint32_t spins = 0;

	atomic_fetch_add_explicit(&sr->blocked, 1, memory_order_relaxed);
	for (;;) {
		/* The owner may be asleep with a full ring: make sure it wakes. */
		atomic_thread_fence(memory_order_seq_cst);
		lw_wake_client(c, sr->owner);
		backoff(&spins);
		if (lw_mring_enqueue(r, d))
			return LW_OK;
		if (atomic_load_explicit(&sr->state, memory_order_relaxed) != LW_SUB_ACTIVE ||
		    !lw_domain_ready(c))
			return LW_ECLOSED;
		if ((spins & 63) == 0 && lw_now_ns() > deadline)
			return LW_ETIMEDOUT;
	}
}

/* The ring was full: the subscription's slow-consumer policy decides. */
static __attribute__((noinline)) int enqueue_full(lw_conn *c, struct lw_sub_rec *sr,
						  struct lw_mring *r, const struct lw_mdesc *d)
{
	struct lw_mcell old;

	switch (sr->policy) {
	case LW_SLOW_DROP_OLDEST:
		/* Bounded: other publishers may refill the room we make. */
		for (int i = 0; i < 8; i++) {
			if (lw_mring_dequeue(r, &old)) {
				if (old.slot != LW_MCELL_INLINE)
					lw_pool_put(&c->dom, old.slot);
				atomic_fetch_add_explicit(&sr->dropped, 1, memory_order_relaxed);
			}
			if (lw_mring_enqueue(r, d))
				return LW_OK;
		}
		break;
	case LW_SLOW_BLOCK:
		return enqueue_blocking(c, sr, r, d);
	default:
		break;
	}
	atomic_fetch_add_explicit(&sr->dropped, 1, memory_order_relaxed);
	return LW_EAGAIN;
}

static inline int enqueue_one(lw_conn *c, struct lw_sub_rec *sr, struct lw_mring *r,
			      const struct lw_mdesc *d)
{
	if (__builtin_expect(lw_mring_enqueue(r, d), 1))
		return LW_OK;
	return enqueue_full(c, sr, r, d);
}

/* Leaves the epoch, then wakes the owners (UINT32_MAX: none) of the
 * rings just filled. The exit CAS is also the full barrier between our
 * ring stores and the waiters loads (receivers do the mirror image:
 * waiters++, then re-check the ring). */
static inline void leave_and_wake(lw_conn *c, const uint32_t *own, int n)
{
	lw_epoch_exit(c);
	for (int i = 0; i < n; i++)
		if (own[i] < c->dom.hdr->cfg.max_clients && own[i] != c->no_self_wake)
			lw_wake_client(c, own[i]);
}

/*
 * Routes one message. @p d carries either a slot (held by us at
 * @p held_idx: its reference is dropped here whatever happens) or, with
 * d->slot == LW_MCELL_INLINE, the bytes themselves (held_idx unused).
 */
static inline __attribute__((always_inline)) int deliver_body(lw_conn *c,
	const struct lw_mdesc *d, const char *subject, size_t slen, uint32_t held_idx)
{
	const struct lw_domain *dom = &c->dom;
	const bool by_ref = d->slot != LW_MCELL_INLINE;
	uint32_t *t, *own;
	int n, groups, delivered = 0, status = LW_OK;

	/* Enter (seq_cst): lwd, scanning epochs after it unlinked a
	 * subscription and advanced the epoch, either sees us or we see the
	 * tree without that subscription. */
	lw_epoch_enter(c);
	n = match(c, subject, slen, &groups, d);
	t = tl_mc.targets;
	own = tl_mc.owners;
	if (n < 0) {
		lw_epoch_exit(c);
		if (by_ref)
			lw_held_release(c, held_idx);
		return LW_SET_ERR(n, "matching '%.*s'", (int)slen, subject);
	}
	/* All references first: a fast reader may free before we finish. */
	if (by_ref)
		atomic_fetch_add_explicit(&lw_slot_ptr(dom, d->slot)->refcnt, (uint32_t)n,
					  memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		struct lw_sub_rec *sr = lw_dom_sub(dom, t[i]);
		int rc;

		if (atomic_load_explicit(&sr->state, memory_order_acquire) != LW_SUB_ACTIVE)
			rc = LW_ECLOSED;
		else
			rc = enqueue_one(c, sr, lw_dom_sub_ring(dom, t[i]), d);
		if (rc != LW_OK) {
			if (by_ref)
				lw_pool_put(dom, d->slot);
			if (rc == LW_ETIMEDOUT)
				status = LW_SET_ERR(LW_ETIMEDOUT,
						    "subscriber '%s' stayed full for %u ms",
						    sr->subject, c->opts.block_timeout_ms);
			own[i] = UINT32_MAX;
			continue;
		}
		own[i] = sr->owner;
		delivered++;
	}
	leave_and_wake(c, own, n);
	if (by_ref)
		lw_held_release(c, held_idx);
	count_published(c, 1);
	if (n == 0)
		atomic_fetch_add_explicit(&dom->hdr->msgs_no_interest, 1, memory_order_relaxed);
	return status != LW_OK ? status : delivered;
}

/* deliver_body out of line, for the slot paths; a plain message's path
 * inlines it, where the compiler drops every slot branch. */
static int deliver(lw_conn *c, const struct lw_mdesc *d, const char *subject, size_t slen,
		   uint32_t held_idx)
{
	return deliver_body(c, d, subject, slen, held_idx);
}

int lw_deliver(lw_conn *c, uint32_t id, uint32_t held_idx)
{
	struct lw_slot *s = lw_slot_ptr(&c->dom, id);
	struct lw_mdesc d = { .slot = id };

	return deliver(c, &d, lw_slot_subject(s), s->subj_len, held_idx);
}

static __attribute__((noinline)) int validate_subject(const lw_conn *c, const char *what,
							const char *subj, size_t *len)
{
	size_t n;
	int rc;

	tl_mc.hit = NULL;
	n = strnlen(subj, LW_SUBJECT_MAX + 1);
	if (n > LW_SUBJECT_MAX)
		return LW_SET_ERR(LW_EBADSUBJECT, "%s subject longer than %d bytes", what,
				  LW_SUBJECT_MAX);
	rc = lw_subj_validate(subj, n, c->opts.literal_wildcards ? LW_SUBJ_LITERAL :
								   LW_SUBJ_PUBLISH);
	if (rc != LW_OK) {
		LW_APPEND_ERR("%s subject", what);
		return rc;
	}
	*len = n;
	return LW_OK;
}

/* The cached subject was valid when it was matched: one strncmp up to
 * its NUL replaces strnlen + validation + compare on the common path. */
static inline int check_subject(const lw_conn *c, const char *what, const char *subj,
				size_t *len)
{
	if (cache_valid(c) && strncmp(subj, tl_mc.subj, tl_mc.slen + 1) == 0) {
		tl_mc.hit = subj;
		*len = tl_mc.slen;
		return LW_OK;
	}
	return validate_subject(c, what, subj, len);
}

static int take_slot(lw_conn *c, size_t room, uint32_t *id, uint32_t *hidx)
{
	int rc = lw_pool_alloc(&c->dom, room, id);

	if (rc == LW_ENOMEM) {
		atomic_fetch_add_explicit(&c->dom.hdr->pool_exhausted, 1, memory_order_relaxed);
		return LW_SET_ERR(LW_ENOMEM, "no free slot of %zu bytes in domain '%s'"
				  " (slow subscribers hold them? see lw stats)", room, c->domain);
	}
	if (rc != LW_OK)
		return LW_SET_ERR(rc, "no size class holds %zu bytes", room);
	rc = lw_held_get(c, *id, hidx);
	if (rc != LW_OK) {
		lw_pool_put(&c->dom, *id);
		return LW_SET_ERR(rc, "this connection holds %u slots already: free messages",
				  c->held_max);
	}
	lw_slot_ptr(&c->dom, *id)->pub_ts = 0;
	return LW_OK;
}

#define BURST_MAX 32

static bool inline_fit(const struct lw_pubmsg *m, size_t slen)
{
	return (m->reply == NULL || m->reply[0] == '\0') && m->hdr_len == 0 &&
	       slen + m->len <= LW_MSG_INLINE_MAX;
}

/* Is this publish (of @p n messages) the one in LW_LAT_SAMPLE_EVERY that
 * carries its publish time? A sampled message goes by slot (the cell has
 * no room for the time). One increment and a well-predicted branch. */
static inline bool lat_sample(lw_conn *c, unsigned n)
{
	c->lat_tick += n;
	if (__builtin_expect(c->lat_tick < LW_LAT_SAMPLE_EVERY, 1))
		return false;
	c->lat_tick = 0;
	return true;
}

/* Checks the parts of @p m other than its subject (of @p slen bytes,
 * already valid) and copies it into a new slot held at *hidx; @p sampled:
 * stamp its publish time. */
static int slot_prepare(lw_conn *c, const struct lw_pubmsg *m, size_t slen, uint32_t *id,
			uint32_t *hidx, bool sampled)
{
	size_t rlen = 0, room;
	struct lw_slot *s;
	int rc;

	if ((m->len && m->data == NULL) || (m->hdr_len && m->hdr == NULL))
		return LW_SET_ERR(LW_EINVAL, "lw_publish: NULL data or headers");
	if (m->reply != NULL && m->reply[0] != '\0') {
		rc = check_subject(c, "reply", m->reply, &rlen);
		if (rc != LW_OK)
			return rc;
	}
	if (m->hdr_len + m->len > c->dom.hdr->cfg.max_payload)
		return LW_SET_ERR(LW_ETOOBIG, "payload of %zu bytes exceeds max_payload %u",
				  m->hdr_len + m->len, c->dom.hdr->cfg.max_payload);
	if (m->hdr_len && (m->hdr_len < 10 || memcmp(m->hdr, "NATS/1.0", 8) != 0))
		return LW_SET_ERR(LW_EINVAL, "headers must start with \"NATS/1.0\"");
	room = slen + 1 + rlen + 1 + m->hdr_len + m->len;
	rc = take_slot(c, room, id, hidx);
	if (rc != LW_OK)
		return rc;
	s = lw_slot_ptr(&c->dom, *id);
	s->owner = c->idx;
	s->subj_len = (uint16_t)slen;
	s->reply_len = (uint16_t)rlen;
	s->hdr_len = (uint32_t)m->hdr_len;
	s->data_len = (uint32_t)m->len;
	s->data_off = (uint32_t)(slen + 1 + rlen + 1 + m->hdr_len);
	s->origin = m->origin;
	if (sampled)
		s->pub_ts = lw_lat_stamp();
	memcpy(s->bytes, m->subject, slen + 1);
	s->bytes[slen + 1 + rlen] = '\0';
	if (rlen)
		memcpy(s->bytes + slen + 1, m->reply, rlen);
	if (m->hdr_len)
		memcpy(s->bytes + slen + 1 + rlen + 1, m->hdr, m->hdr_len);
	if (m->len)
		memcpy(s->bytes + s->data_off, m->data, m->len);
	return LW_OK;
}

/* The body of lw_publish_msg, inlined into lw_publish too, where the
 * compiler drops what a plain message cannot have (reply, headers,
 * deliver subject): the 16-byte publish is the benchmark of the hot path. */
static inline __attribute__((always_inline)) int publish_one(lw_conn *c,
							     const struct lw_pubmsg *m)
{
	const char *route;
	uint32_t id, hidx;
	size_t slen, rlen;
	int rc;

	if (c == NULL || m == NULL || m->subject == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_publish: NULL argument");
	/* Read once, before any call: in lw_publish these are constants
	 * the compiler folds (m's address escapes to slot_prepare, so it
	 * would reload them after every call otherwise). */
	const struct lw_pubmsg v = *m;

	if (atomic_load_explicit(&c->closed, memory_order_relaxed) || !lw_domain_ready(c))
		return LW_SET_ERR(LW_ECLOSED, "connection to '%s' is closed", c->domain);
	rc = check_subject(c, "publish", v.subject, &slen);
	if (rc != LW_OK)
		return rc;
	route = v.subject;
	rlen = slen;
	if (v.deliver_subject != NULL) {
		route = v.deliver_subject;
		rc = check_subject(c, "deliver", route, &rlen);
		if (rc != LW_OK)
			return rc;
	}
	bool sampled = lat_sample(c, 1);

	if (!sampled && inline_fit(&v, slen)) {
		struct lw_mdesc d = {
			.slot = LW_MCELL_INLINE, .subj_len = (uint8_t)slen,
			.data_len = (uint8_t)v.len, .subject = v.subject, .data = v.data,
			.origin = v.origin,
		};

		if (v.len && v.data == NULL)
			return LW_SET_ERR(LW_EINVAL, "lw_publish: NULL data");
		return deliver_body(c, &d, route, rlen, 0);
	}
	rc = slot_prepare(c, m, slen, &id, &hidx, sampled);
	if (rc != LW_OK)
		return rc;
	if (route != v.subject) {
		struct lw_mdesc d = { .slot = id };

		return deliver(c, &d, route, rlen, hidx);
	}
	return lw_deliver(c, id, hidx);
}

int lw_publish_msg(lw_conn *c, const struct lw_pubmsg *m)
{
	return publish_one(c, m);
}

/*
 * A run of messages to one subject: one match, one epoch, one ring claim
 * per target (more only when a ring fills). @p d holds the run's cells:
 * all inline, or all slots held at @p hidx (their references are dropped
 * here). With a queue group only the first message goes (each message
 * picks its own member): *taken says how many did. Returns the number of
 * subscriptions reached or a negative lw_status.
 */
static int deliver_run(lw_conn *c, const struct lw_mdesc *d, const uint32_t *hidx,
		       const char *subject, size_t slen, unsigned run, unsigned *taken)
{
	const struct lw_domain *dom = &c->dom;
	const bool by_ref = d[0].slot != LW_MCELL_INLINE;
	uint32_t *t, *own;
	int n, groups, reached = 0, status = LW_OK;

	*taken = 0;
	lw_epoch_enter(c);
	n = match(c, subject, slen, &groups, d);
	t = tl_mc.targets;
	own = tl_mc.owners;
	if (n < 0) {
		lw_epoch_exit(c);
		return LW_SET_ERR(n, "matching '%s'", subject);
	}
	if (groups > 0)
		run = 1;
	*taken = run;
	/* All references first: a fast reader may free before we finish. */
	if (by_ref)
		for (unsigned i = 0; i < run; i++)
			atomic_fetch_add_explicit(&lw_slot_ptr(dom, d[i].slot)->refcnt,
						  (uint32_t)n, memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		struct lw_sub_rec *sr = lw_dom_sub(dom, t[i]);
		struct lw_mring *r = lw_dom_sub_ring(dom, t[i]);
		unsigned k = 0, ok = 0;

		own[i] = UINT32_MAX;
		if (atomic_load_explicit(&sr->state, memory_order_acquire) != LW_SUB_ACTIVE) {
			for (; by_ref && k < run; k++)
				lw_pool_put(dom, d[k].slot);
			continue;
		}
		while (k < run) {
			unsigned got = lw_mring_enqueue_burst(r, &d[k], run - k);
			int rc;

			if (got > 0) {
				k += got;
				ok += got;
				continue;
			}
			/* Full: the subscription's policy decides, per message. */
			rc = enqueue_one(c, sr, r, &d[k]);
			if (rc == LW_OK) {
				ok++;
				k++;
				continue;
			}
			if (by_ref)
				lw_pool_put(dom, d[k].slot);
			k++;
			if (rc == LW_ETIMEDOUT || rc == LW_ECLOSED) {
				if (rc == LW_ETIMEDOUT)
					status = LW_SET_ERR(LW_ETIMEDOUT,
							    "subscriber '%s' stayed full for %u ms",
							    sr->subject, c->opts.block_timeout_ms);
				for (; by_ref && k < run; k++)
					lw_pool_put(dom, d[k].slot);
				break;
			}
		}
		if (ok > 0) {
			own[i] = sr->owner;
			reached++;
		}
	}
	leave_and_wake(c, own, n);
	if (by_ref)
		for (unsigned i = 0; i < run; i++)
			lw_held_release(c, hidx[i]);
	count_published(c, run);
	if (n == 0)
		atomic_fetch_add_explicit(&dom->hdr->msgs_no_interest, run, memory_order_relaxed);
	return status != LW_OK ? status : reached;
}

/* Messages p[0..] to the same subject as p[0] that travel the same way
 * (inline or by slot): at most BURST_MAX. */
static unsigned same_run(const struct lw_pubmsg *p, unsigned left, size_t slen, bool inl)
{
	unsigned run = 1;

	while (run < left && run < BURST_MAX && p[run].subject != NULL &&
	       strncmp(p[run].subject, p->subject, slen + 1) == 0 &&
	       inline_fit(&p[run], slen) == inl)
		run++;
	return run;
}

int lw_publish_burst(lw_conn *c, const struct lw_pubmsg *m, unsigned n)
{
	return lw_publish_burst_ni(c, m, n, NULL);
}

int lw_publish_burst_ni(lw_conn *c, const struct lw_pubmsg *m, unsigned n, unsigned *no_interest)
{
	struct lw_mdesc d[BURST_MAX];
	uint32_t hidx[BURST_MAX];
	unsigned done = 0;
	int rc = LW_OK;

	if (c == NULL || (m == NULL && n > 0))
		return LW_SET_ERR(LW_EINVAL, "lw_publish_burst: NULL argument");
	if (atomic_load_explicit(&c->closed, memory_order_relaxed) || !lw_domain_ready(c))
		return LW_SET_ERR(LW_ECLOSED, "connection to '%s' is closed", c->domain);
	while (done < n) {
		const struct lw_pubmsg *p = &m[done];
		unsigned run, ready = 0, taken = 0;
		size_t slen;
		bool inl;

		if (p->subject == NULL) {
			rc = LW_SET_ERR(LW_EINVAL, "lw_publish_burst: message %u: NULL subject", done);
			break;
		}
		rc = check_subject(c, "publish", p->subject, &slen);
		if (rc != LW_OK)
			break;
		inl = inline_fit(p, slen);
		run = same_run(p, n - done, slen, inl);
		/* The sampled message travels alone, by slot. */
		bool sampled = lat_sample(c, run);

		if (sampled) {
			inl = false;
			run = 1;
		}
		for (; ready < run; ready++) {
			const struct lw_pubmsg *q = &p[ready];

			if (inl) {
				if (q->len && q->data == NULL) {
					rc = LW_SET_ERR(LW_EINVAL, "lw_publish_burst: NULL data");
					break;
				}
				d[ready] = (struct lw_mdesc){
					.slot = LW_MCELL_INLINE, .subj_len = (uint8_t)slen,
					.data_len = (uint8_t)q->len, .origin = q->origin,
					.subject = p->subject, .data = q->data,
				};
				continue;
			}
			/* By slot: a message that cannot be prepared ends the
			 * run; it is reported when it comes first. */
			rc = slot_prepare(c, q, slen, &d[ready].slot, &hidx[ready], sampled);
			if (rc != LW_OK)
				break;
		}
		if (ready == 0)
			break;
		rc = deliver_run(c, d, hidx, p->subject, slen, ready, &taken);
		/* Prepared but not sent (a queue group took one at a time). */
		for (unsigned i = taken; !inl && i < ready; i++)
			lw_held_release(c, hidx[i]);
		if (rc < 0 && rc != LW_ETIMEDOUT)
			break;
		if (rc == 0 && no_interest != NULL)
			*no_interest += taken;
		done += taken;
		rc = LW_OK;
	}
	if (done == 0 && rc < 0)
		return rc;
	return (int)done;
}

int lw_publish(lw_conn *c, const char *subject, const void *data, size_t len)
{
	struct lw_pubmsg m = { .subject = subject, .data = data, .len = len };

	return publish_one(c, &m);
}

int lw_loan(lw_conn *c, size_t size, struct lw_loan *loan)
{
	uint32_t id, hidx;
	struct lw_slot *s;
	int rc;

	if (c == NULL || loan == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_loan: NULL argument");
	if (atomic_load_explicit(&c->closed, memory_order_relaxed) || !lw_domain_ready(c))
		return LW_SET_ERR(LW_ECLOSED, "connection to '%s' is closed", c->domain);
	if (size > c->dom.hdr->cfg.max_payload)
		return LW_SET_ERR(LW_ETOOBIG, "loan of %zu bytes exceeds max_payload %u", size,
				  c->dom.hdr->cfg.max_payload);
	rc = take_slot(c, LW_LOAN_DATA_OFF + size, &id, &hidx);
	if (rc != LW_OK)
		return rc;
	s = lw_slot_ptr(&c->dom, id);
	s->owner = c->idx;
	loan->data = s->bytes + LW_LOAN_DATA_OFF;
	loan->capacity = c->dom.hdr->cls[id >> LW_SLOT_CLASS_SHIFT].room - LW_LOAN_DATA_OFF;
	if (loan->capacity > c->dom.hdr->cfg.max_payload)
		loan->capacity = c->dom.hdr->cfg.max_payload;
	loan->handle = hidx + 1;
	return LW_OK;
}

/* The held entry behind a loan handle, checked: LW_OK or LW_EINVAL. */
static int loan_entry(lw_conn *c, const struct lw_loan *loan, uint32_t *hidx, uint32_t *id)
{
	uint32_t v;

	if (loan->handle == 0 || loan->handle > c->held_max)
		return LW_SET_ERR(LW_EINVAL, "not a live loan");
	*hidx = loan->handle - 1;
	v = atomic_load_explicit(&c->held[*hidx], memory_order_relaxed);
	if (v == 0 || !lw_slot_id_valid(&c->dom, v - 1) ||
	    lw_slot_ptr(&c->dom, v - 1)->bytes + LW_LOAN_DATA_OFF != (char *)loan->data)
		return LW_SET_ERR(LW_EINVAL, "not a live loan");
	*id = v - 1;
	return LW_OK;
}

void lw_loan_discard(lw_conn *c, struct lw_loan *loan)
{
	uint32_t hidx, id;

	if (c == NULL || loan == NULL || loan_entry(c, loan, &hidx, &id) != LW_OK)
		return;
	lw_held_release(c, hidx);
	loan->handle = 0;
	loan->data = NULL;
}

int lw_publish_loaned(lw_conn *c, struct lw_loan *loan, const char *subject,
		      const char *reply, size_t len)
{
	size_t slen, rlen = 0;
	uint32_t hidx, id;
	struct lw_slot *s;
	int rc;

	if (c == NULL || loan == NULL || subject == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_publish_loaned: NULL argument");
	rc = loan_entry(c, loan, &hidx, &id);
	if (rc != LW_OK)
		return rc;
	loan->handle = 0;
	rc = check_subject(c, "publish", subject, &slen);
	if (rc == LW_OK && reply != NULL && reply[0] != '\0')
		rc = check_subject(c, "reply", reply, &rlen);
	if (rc == LW_OK && len > loan->capacity)
		rc = LW_SET_ERR(LW_EINVAL, "length %zu over the loan's capacity %zu", len,
				loan->capacity);
	if (rc == LW_OK && !lw_domain_ready(c))
		rc = LW_SET_ERR(LW_ECLOSED, "connection to '%s' is closed", c->domain);
	if (rc != LW_OK) {
		lw_held_release(c, hidx);
		return rc;
	}
	s = lw_slot_ptr(&c->dom, id);
	s->subj_len = (uint16_t)slen;
	s->reply_len = (uint16_t)rlen;
	s->hdr_len = 0;
	s->data_len = (uint32_t)len;
	s->data_off = LW_LOAN_DATA_OFF;
	s->origin = 0;
	if (lat_sample(c, 1))
		s->pub_ts = lw_lat_stamp();
	memcpy(s->bytes, subject, slen + 1);
	s->bytes[slen + 1 + rlen] = '\0';
	if (rlen)
		memcpy(s->bytes + slen + 1, reply, rlen);
	loan->data = NULL;
	return lw_deliver(c, id, hidx);
}

int lw_interest(lw_conn *c, const char *subject)
{
	size_t slen;
	int rc;

	if (c == NULL || subject == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_interest: NULL argument");
	if (atomic_load_explicit(&c->closed, memory_order_relaxed) || !lw_domain_ready(c))
		return LW_SET_ERR(LW_ECLOSED, "connection to '%s' is closed", c->domain);
	rc = validate_subject(c, "interest", subject, &slen);
	if (rc != LW_OK)
		return rc;
	if (!cache_ready(c))
		return LW_SET_ERR(LW_ENOMEM, "match buffer");
	/* The tree is read under its sequence lock; no ring is touched, so
	 * no epoch is needed. */
	return lw_stree_interest(c->dom.tree, subject, slen, tl_mc.targets, tl_mc.cap);
}
