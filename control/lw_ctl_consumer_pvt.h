/* SPDX-License-Identifier: MIT */
/*
 * Consumers of lw-control, shared by lw_ctl_consumer.c (state, delivery,
 * acks, redelivery, persistence) and lw_ctl_consumer_api.c (CONSUMER.*
 * requests, configuration, pull requests). Internal.
 */
#ifndef LW_CTL_CONSUMER_PVT_H
#define LW_CTL_CONSUMER_PVT_H

#include "lw_ctl.h"

#define T(x) "io.nats.jetstream.api.v1." x

enum dp { DP_ALL, DP_LAST, DP_NEW, DP_START_SEQ, DP_START_TIME, DP_LAST_PER_SUBJECT };
enum ap { AP_NONE, AP_ALL, AP_EXPLICIT };

struct pend {
	uint64_t sseq, cseq;
	int64_t deadline;   /* redeliver after this (wall ns) */
	uint32_t deliveries;
};

struct waiting {
	char *reply;
	int64_t batch, max_bytes, expires, hb_ns, next_hb;
	int64_t delivered;
	bool no_wait;
};

struct lw_consumer {
	char name[LW_JS_NAME_MAX + 1];
	json_t *cfg;
	struct lw_stream *s;
	bool durable;
	char *deliver_subject;      /* push when set */
	json_t *filters;            /* array of subject filters (may be empty) */
	enum ap ack;
	int64_t ack_wait, max_deliver, max_ack_pending, max_waiting, inactive_ns;
	json_t *backoff;
	bool headers_only;
	int64_t created_ns, last_active;
	int64_t last_delivered_ns, last_acked_ns; /* info's last_active (0: never) */
	/* push: idle heartbeats and flow control (nats-server's scheme: a
	 * "100 FlowControl Request" with reply $JS.FC.<s>.<c>.<id> once half
	 * the window is in flight; delivery stalls beyond the window until
	 * the client answers, and each answer doubles it up to fc_limit). */
	int64_t hb_ns, last_push;
	bool fc;
	int64_t pbytes, maxpb, fc_limit, fcsz;
	/* replay_policy original: new messages go out spaced as they were
	 * stored, measured from the first one this consumer sent */
	bool replay_orig;
	bool retry;                 /* the fabric refused a delivery: timer retries */
	int64_t rp_wall0, rp_ts0;
	char fcid[LW_SUBJECT_MAX + 1];
	/* state */
	uint64_t next_sseq, dseq, floor_s, floor_c;
	/* The ack floor moves with every ack but is read only by CONSUMER.INFO
	 * and the state file: computing it there (lw_cons_floor) keeps a
	 * scan of the pending list off the ack path. */
	bool floor_stale;
	/* Outstanding, ordered by sseq: p[0..np) inside pbase[0..capp). Acks
	 * mostly take p[0], which moves p forward instead of moving the rest
	 * down (a memmove of the whole list per ack at max_ack_pending). */
	struct pend *p, *pbase;
	size_t np, capp;
	/* No deadline in p is earlier than this: a delivery looks for due
	 * redeliveries only once it has passed, rather than at every message. */
	int64_t due_lb;
	uint64_t *pre;              /* last_per_subject: seqs to deliver first */
	size_t npre, ipre;
	/* num_pending of a filtered consumer, kept up to date by counting
	 * only what changed: matches in [pc_from, pc_last] while the store
	 * removed nothing (pc_kills); else counted again */
	uint64_t pc_n, pc_from, pc_last, pc_kills;
	bool pc_valid;
	struct waiting *w;
	size_t nw, capw;
	bool dirty;
	bool save_failed;  /* the last lw_cons_save failed (logged once) */
	int64_t saved_ns;  /* wall time of the last good save (ephemerals: 1/s) */
	uint64_t bad_logged; /* the last damaged record reported */
	struct lw_consumer *next;
};

static inline int64_t cint(const json_t *o, const char *k, int64_t def)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static inline const char *cstr(const json_t *o, const char *k, const char *def)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : def;
}

struct lw_consumer *lw_cons_find(struct lw_stream *s, const char *name);
/** The consumer's filters accept @p subj. */
bool lw_cons_match(const struct lw_consumer *c, const char *subj);
/** Messages not yet delivered (num_pending). */
uint64_t lw_cons_pending(struct lw_consumer *c);
/** Adds a pull request (its reply copied; heartbeat and expiry timers
 *  armed from @p now): 0, or -1 out of memory. */
int lw_cons_waiting_add(struct lw_consumer *c, const struct waiting *w, int64_t now);

/** Writes the consumer's state file: 0, or -errno (logged once; the
 *  consumer stays dirty, so the timer tries again). */
int lw_cons_save(struct lw_consumer *c);
/** Delivers what the waiting pull requests or the push subject can take. */
void lw_cons_deliver(struct lw_consumer *c);
/* lw_ctl_advisory.c: a consumer advisory of @p kind ("max_deliver",
 * "terminated") on $JS.EVENT.ADVISORY.CONSUMER.<event>.<stream>.<consumer>;
 * @p cseq 0 leaves consumer_seq out. */
void lw_ctl_adv_delivery(struct lw_consumer *c, const char *event, const char *kind,
			 uint64_t sseq, uint64_t cseq, uint32_t deliveries);
/** Answers no_wait pull requests that cannot be served now with 404. */
void lw_cons_end_no_wait(struct lw_consumer *c);
/** Unlinks and frees; @p destroy removes the state file too. */
void lw_cons_delete(struct lw_consumer *c, bool destroy);
struct pend *lw_cons_pend_add(struct lw_consumer *c, uint64_t sseq);
/** The outstanding delivery of stream sequence @p sseq, or NULL. */
struct pend *lw_cons_pend_find(struct lw_consumer *c, uint64_t sseq);
/** Removes @p p (an element of c->p) from the outstanding list. */
void lw_cons_pend_del(struct lw_consumer *c, struct pend *p);
/** The ack floor may have moved: lw_cons_floor computes it when read. */
void lw_cons_floor_moved(struct lw_consumer *c);
/** The durable's state file (or, with @p dir, its directory). */
void lw_cons_path(struct lw_consumer *c, char *buf, size_t cap, bool dir);

/** Sets when @p p is redelivered, keeping due_lb a lower bound. */
static inline void lw_cons_pend_due(struct lw_consumer *c, struct pend *p, int64_t at)
{
	p->deadline = at;
	if (at < c->due_lb)
		c->due_lb = at;
}

/** Brings floor_s / floor_c up to date before they are read. */
void lw_cons_floor(struct lw_consumer *c);
/** Sets the flow-control window of a push consumer to its start value. */
void lw_cons_fc_reset(struct lw_consumer *c);

#endif
