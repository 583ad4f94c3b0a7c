/* SPDX-License-Identifier: MIT */
/*
 * liblightwire internals shared by the client source files.
 * Not for direct inclusion by users.
 */
#ifndef LW_CLIENT_PVT_H
#define LW_CLIENT_PVT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <lightwire/client.h>
#include <lightwire/stats.h>

#include "lw_domain.h"
#include "lw_err.h"
#include "lw_pool.h"

struct lw_msg {
	lw_conn *c;
	lw_sub *sub;
	struct lw_slot *slot;     /* NULL for an inline message */
	uint32_t slot_id;
	uint32_t held_idx;
	/* Inline message copied out of its ring cell: subject NUL data. */
	uint32_t subj_len;
	uint32_t data_len;
	uint32_t origin;
	/* Where the lw_msg lives: a reader thread's inline pool (then
	 * busy says it is handed out) or the held table (held_idx). */
	_Atomic bool *busy;
	char inl[LW_MSG_INLINE_MAX + 1];   /* subject, NUL-terminated */
	char raw[LW_MSG_INLINE_MAX];       /* the cell's bytes: data at subj_len */
};

/* Fills @p m from an inline cell with fixed-size copies only. */
static inline void lw_msg_fill_inline(lw_msg *m, const struct lw_mcell *cell)
{
	m->slot = NULL;
	m->subj_len = cell->subj_len;
	m->data_len = cell->data_len;
	m->origin = cell->origin;
	memcpy(m->raw, cell->bytes, LW_MSG_INLINE_MAX);
	memcpy(m->inl, cell->bytes, LW_MSG_INLINE_MAX);
	m->inl[cell->subj_len] = '\0';
}

/*
 * Per reader thread and connection: lw_msg storage for inline messages.
 * Only the owning thread hands entries out (plain stores), any thread may
 * give one back (release store), so receiving a small message takes no
 * locked instruction. Owned by the connection, freed by lw_close().
 */
#define LW_IPOOL_SIZE 64

struct lw_ipool {
	pthread_t owner;
	struct lw_ipool *next;
	uint32_t hint;
	_Atomic bool busy[LW_IPOOL_SIZE];
	struct lw_msg msgs[LW_IPOOL_SIZE];
};

struct lw_sub {
	lw_conn *c;
	uint32_t idx;
	uint32_t gen;
	struct lw_sub_rec *rec;
	struct lw_mring *ring;
	lw_msg_cb cb;
	void *cb_arg;
	enum lw_slow_policy policy; /* drop-oldest publishers dequeue too */
	atomic_bool closed;
	lw_sub *next;          /* conn's list, under subs_lock */
	/* Inline cells claimed from the ring in one go (lw_mring_claim_inline)
	 * and read in place: cl_out of the cl_n from cl_pos are handed out;
	 * all are released together later. Only the reading thread touches
	 * these. Inline cells hold no slot: a crash loses them, leaks nothing. */
	uint64_t cl_pos;
	uint32_t cl_n, cl_out;
};

static inline bool lw_sub_pending(lw_sub *s)
{
	return s->cl_out < s->cl_n || lw_mring_ready(s->ring);
}

struct lw_conn {
	struct lw_domain dom;
	/* lwd's liveness beyond the header (a SIGKILLed lwd leaves READY):
	 * its start time at connect, the last look, and "gone" once seen. */
	uint64_t daemon_start;
	_Atomic uint64_t alive_checked_ns;
	atomic_bool daemon_gone;
	char domain[LW_NAME_MAX];
	struct lw_conn_opts opts;
	uint32_t idx;
	struct lw_client_rec *rec;
	_Atomic uint32_t *held;   /* this client's held table in the domain */
	uint32_t held_max;
	/* Free held entries: a Treiber stack of indices, tag in the top half
	 * against ABA (several threads may publish and free at once). */
	_Atomic uint64_t held_top;
	uint32_t *held_next;
	struct lw_msg *msgs;      /* one per held entry */
	atomic_bool closed;

	pthread_mutex_t ctl_lock; /* one control request at a time */

	pthread_mutex_t subs_lock; /* recursive: callbacks may unsubscribe */
	lw_sub *subs;
	uint32_t n_cb_subs;
	uint32_t subs_gen;        /* bumped on every list change */
	_Atomic uint32_t subs_waiting; /* threads other than the dispatcher
				       * waiting for subs_lock */
	pthread_t dispatcher;
	bool dispatcher_running;
	/* Owner index not to wake on our own publishes: a server thread that
	 * publishes and then runs lw_dispatch_once itself (lwd's gateway)
	 * sets it to idx; UINT32_MAX otherwise. */
	uint32_t no_self_wake;
	atomic_bool dispatcher_stop;

	pthread_mutex_t ipool_lock;  /* list of reader threads' pools (cold) */
	struct lw_ipool *ipools;
	uint64_t id;                 /* tells a new conn at the same address apart */

	/* Publishes since the last one sampled for latency (lw_lat_stamp);
	 * a plain counter: threads sharing the connection only shift it. */
	uint32_t lat_tick;

	pthread_mutex_t req_lock; /* one outstanding request at a time */
	lw_sub *inbox;
	char inbox_prefix[48];
	uint64_t req_seq;
};

/* Held table (lw_conn.c). */
int lw_held_get(lw_conn *c, uint32_t slot_id, uint32_t *idx);
void lw_held_put(lw_conn *c, uint32_t idx);
/* Drops the reference a held entry stands for: clear first, then put. */
void lw_held_release(lw_conn *c, uint32_t idx);

/* Control request to lwd; fills c->rec->resp. Caller holds nothing. */
int lw_ctl_call(lw_conn *c, const struct lw_ctl_req *req, struct lw_ctl_resp *resp);

/* Publish a slot already holding its message (lw_pub.c). Consumes the
 * held entry @p held_idx whatever happens. */
int lw_deliver(lw_conn *c, uint32_t slot_id, uint32_t held_idx);

/*
 * Epoch-based reclamation, one word per client: the global epoch at the
 * oldest entry still inside (top 48 bits) and how many threads of this
 * connection are inside a publish (low 16). Several threads may publish on
 * one connection, so a plain "my epoch" store would let one thread's exit
 * hide another that is still inside; with the count the word drops to 0
 * only when the last one leaves, and a newcomer keeps the older epoch,
 * which only makes lwd wait longer. The CAS is seq_cst: it orders our
 * entry before the tree reads (and our ring stores before the waiters
 * loads on exit) against lwd's epoch advance and receivers' sleep.
 */
#define LW_EPOCH_SHIFT 16
#define LW_EPOCH_COUNT_MASK 0xffffull

static inline void lw_epoch_enter(lw_conn *c)
{
	uint64_t old = atomic_load_explicit(&c->rec->epoch, memory_order_relaxed), nw;

	do {
		if ((old & LW_EPOCH_COUNT_MASK) == 0)
			nw = atomic_load_explicit(&c->dom.hdr->epoch, memory_order_relaxed)
			     << LW_EPOCH_SHIFT | 1;
		else
			nw = old + 1;
	} while (!atomic_compare_exchange_weak_explicit(&c->rec->epoch, &old, nw,
			memory_order_seq_cst, memory_order_relaxed));
}

static inline void lw_epoch_exit(lw_conn *c)
{
	uint64_t old = atomic_load_explicit(&c->rec->epoch, memory_order_relaxed), nw;

	do {
		nw = (old & LW_EPOCH_COUNT_MASK) == 1 ? 0 : old - 1;
	} while (!atomic_compare_exchange_weak_explicit(&c->rec->epoch, &old, nw,
			memory_order_seq_cst, memory_order_relaxed));
}

/* Wakes receivers of client @p owner if any sleep. Only the publisher
 * that moves wake_seq past the value they sleep on makes the syscall: a
 * burst to a receiver that has not run yet costs one wake, not one per
 * message (a PubAck stream paid ~12% of its CPU here). */
static inline void lw_wake_client(lw_conn *c, uint32_t owner)
{
	struct lw_client_rec *r = lw_dom_client(&c->dom, owner);

	/* Acquire: a sleeper's sleep_seq is written before its waiters++. */
	if (atomic_load_explicit(&r->waiters, memory_order_acquire)) {
		uint32_t s = atomic_load_explicit(&r->sleep_seq, memory_order_relaxed), w = s;

		if (atomic_compare_exchange_strong_explicit(&r->wake_seq, &w, s + 1,
							    memory_order_release,
							    memory_order_relaxed))
			lw_futex_wake(&r->wake_seq, 1 << 30);
	}
}

/* Before sleeping on wake_seq: returns the value to sleep on, announced
 * in sleep_seq (kept at the newest such value) before waiters counts us;
 * the caller re-checks for work, then lw_futex_wait(&wake_seq, value) and
 * lw_sleep_exit. A wake_seq already past that value means a wake is out:
 * the futex does not sleep. */
static inline uint32_t lw_sleep_enter(struct lw_client_rec *r)
{
	uint32_t seq = atomic_load_explicit(&r->wake_seq, memory_order_seq_cst);
	uint32_t cur = atomic_load_explicit(&r->sleep_seq, memory_order_relaxed);

	while ((int32_t)(seq - cur) > 0 &&
	       !atomic_compare_exchange_weak_explicit(&r->sleep_seq, &cur, seq, memory_order_relaxed,
						      memory_order_relaxed))
		;
	atomic_fetch_add_explicit(&r->waiters, 1, memory_order_seq_cst);
	return seq;
}

static inline void lw_sleep_exit(struct lw_client_rec *r)
{
	atomic_fetch_sub_explicit(&r->waiters, 1, memory_order_relaxed);
}

/* subs_lock for threads other than the dispatcher: announces itself so
 * the dispatcher, which re-takes the lock after every round, steps aside
 * (a mutex is not fair: under a heavy stream a subscribe or unsubscribe
 * could otherwise wait for as long as the stream lasts). */
static inline void lw_subs_lock(lw_conn *c)
{
	atomic_fetch_add_explicit(&c->subs_waiting, 1, memory_order_relaxed);
	pthread_mutex_lock(&c->subs_lock);
	atomic_fetch_sub_explicit(&c->subs_waiting, 1, memory_order_relaxed);
}

/* Dispatcher thread for callback subscriptions (lw_sub.c). */
int lw_dispatcher_start(lw_conn *c);
void lw_dispatcher_stop(lw_conn *c);
/** One pass of the callback dispatcher in the calling thread: runs the
 *  callbacks of messages already queued. A server thread that just
 *  published (lwd's gateway) delivers to its own subscribers this way
 *  without waking the dispatcher thread. Returns messages handled. */
int lw_dispatch_once(lw_conn *c);
/** This connection's publishes do not wake its own dispatcher thread:
 *  the publishing thread dispatches them itself with lw_dispatch_once
 *  (saves a futex wake and two context switches per batch). Publish from
 *  that one thread only. */
void lw_conn_self_dispatch(lw_conn *c);

/* lw_publish_burst() that also adds to *@p no_interest the messages that
 * matched no subscription (the gateway's no_interest counter). */
int lw_publish_burst_ni(lw_conn *c, const struct lw_pubmsg *m, unsigned n, unsigned *no_interest);

/* Takes one message from @p s without waiting: LW_OK / LW_EAGAIN / LW_ELIMIT. */
int lw_sub_try(lw_sub *s, lw_msg **out);

/* Frees a lw_sub after lwd dropped it (or the conn is closing). */
int lw_sub_close(lw_sub *s, bool tell_lwd);

/* True once lwd is known gone although its header still says READY
 * (SIGKILL, crash): /proc is read at most every 100 ms per connection, on
 * wait paths only. */
bool lw_daemon_gone(lw_conn *c);

static inline bool lw_domain_ready(const lw_conn *c)
{
	return atomic_load_explicit(&c->dom.hdr->state, memory_order_relaxed) == LW_DOM_READY;
}

static inline void lw_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif
