/* SPDX-License-Identifier: MIT */
/*
 * lw-control internals (not installed): the process state, streams and
 * consumers. Every callback of the fabric connection runs on its one
 * dispatcher thread; the timer thread (fsync interval, max_age, ack_wait,
 * pull expiry) is the only other one. Both take lw_ctl.mu around any use
 * of the state below.
 */
#ifndef LW_CTL_H
#define LW_CTL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <lightwire/lightwire.h>

#include "lw_store.h"

#define LW_JS_API "$JS.API."
#define LW_JS_NAME_MAX 64
/* Longest Nats-Msg-Id / Nats-Expected-* value read; longer ones are refused. */
#define LW_HDR_VALUE_MAX 1024

enum lw_retention { LW_RET_LIMITS, LW_RET_INTEREST, LW_RET_WORKQUEUE };

/** The limits a stream enforces on each publish, from its config. */
struct lw_stream_limits {
	int64_t max_msgs, max_bytes, max_age_ns, max_msgs_per_subject;
	int64_t max_msg_size, duplicate_window_ns, max_consumers;
	bool discard_new, discard_new_per_subject, deny_delete, deny_purge, sealed;
	bool no_ack, allow_rollup;
	enum lw_retention retention;
};

struct lw_consumer;

/** A Nats-Msg-Id seen inside the duplicate window. */
struct lw_dedup_ent {
	int64_t ts;
	uint64_t seq;
	char *id;
};

struct lw_stream {
	char name[LW_JS_NAME_MAX + 1];
	json_t *cfg;                 /**< normalised config, as answered */
	struct lw_stream_limits lim;
	int64_t created_ns;
	lw_store *st;
	lw_sub **subs;               /**< one per configured subject */
	size_t n_subs;
	/* dedup: msg id -> index in ring (json object as the hash) */
	json_t *dedup;               /**< id -> seq */
	struct lw_dedup_ent *dq;     /**< FIFO by time for expiry */
	size_t dq_head, dq_len, dq_cap;
	struct lw_consumer *consumers;
	bool notify;                 /**< new messages for consumers at the next flush */
	int64_t fail_logged_ns;      /**< write failures are logged once a second */
	uint64_t fail_unlogged;      /**< ... with how many went unlogged since */
	struct lw_ctl *ctl;
	struct lw_stream *next;
};

/** A PubAck held back until its message is written (and synced under
 *  fsync always): see lw_ctl_flush_acks. */
struct lw_pending_ack {
	char *reply;
	char *body;
	struct lw_stream *s;         /**< stream of a stored message, or NULL */
	uint64_t seq;
};

struct lw_ctl {
	lw_conn *c;
	pthread_mutex_t mu;
	struct lw_stream *streams;
	char *store_dir;
	enum lw_store_sync sync;
	int sync_interval_ms;
	uint64_t segment_bytes;
	lw_sub *api_sub;
	atomic_bool stop;
	/* group commit of PubAcks under fsync always */
	struct lw_pending_ack *acks;
	size_t n_acks, cap_acks;
	bool unflushed;              /**< appended since the last lw_ctl_flush_acks */
	/** Wall-clock ns of the earliest pull-request expiry (0: none): the
	 * main loop wakes for it, so a 408 comes when due, not up to a tick
	 * later (nats.c gives up 10 ms after the expiry it asked for). */
	int64_t next_due;
	uint64_t api_total, api_errors;
	bool verbose;
	char server[80];             /**< "lightwire-<domain>", as lwd's server_name */
	/* The API request being answered, for its audit advisory: set by
	 * lw_ctl_api_cb around a request, read by lw_ctl_reply_json when it
	 * answers that reply subject (not an advisory sent meanwhile). */
	const char *audit_reply, *audit_subj;
	const void *audit_req;
	size_t audit_req_len;
};

/* --- advisories (lw_ctl_advisory.c); each only when someone listens --- */
/** STREAM.CREATED/UPDATED/DELETED; @p action "create", "modify", "delete". */
void lw_ctl_adv_stream(struct lw_ctl *ctl, const char *stream, const char *action);
/** CONSUMER.CREATED/DELETED; @p action "create" or "delete". */
void lw_ctl_adv_consumer(struct lw_ctl *ctl, const char *stream, const char *consumer,
			 const char *action);
/** $JS.EVENT.ADVISORY.API: the request and the answer @p resp. */
void lw_ctl_adv_api(struct lw_ctl *ctl, const char *subject, const void *req, size_t req_len,
		    const char *resp);

/* --- JSON helpers (lw_ctl_json.c) --- */
int64_t lw_now_wall_ns(void);
/** RFC 3339 UTC with nanoseconds; the Go zero time for 0. */
void lw_fmt_time(int64_t ns, char *buf, size_t cap);

/** A unique event id (22 base-62 characters, like nats-server's NUIDs)
 *  for the "id" of advisories; @p buf holds at least 23 bytes. */
void lw_ctl_event_id(char *buf);
/** Parses RFC 3339 (UTC 'Z' or an offset); returns 0 on success. */
int lw_parse_time(const char *s, int64_t *ns);
/** {"code":..,"err_code":..,"description":..} under "error", with @p type. */
json_t *lw_js_error(const char *type, int code, int err_code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** Sends @p body (stolen) to @p reply; nothing when reply is NULL. */
void lw_ctl_reply_json(struct lw_ctl *ctl, const char *reply, json_t *body);
/** Value of a NATS/1.0 header in a raw block, NUL-terminated into @p buf. */
int lw_hdr_get(const void *hdr, size_t len, const char *key, char *buf, size_t cap);
/* ... its length, -1 when absent, -2 when longer than @p cap - 1. */
/** A stream or consumer name: 1-64 bytes of UTF-8 without '.', '*', '>',
 *  whitespace, control bytes or path separators (it is a subject token
 *  and a file name). */
bool lw_ctl_valid_name(const char *n);
/** NULL when every known field of a stream (or @p consumer) config has
 *  its JSON type, else nats-server's unmarshal error, typed @p type. */
json_t *lw_cfg_check_types(const json_t *cfg, bool consumer, const char *type);
/** Builds the normalised stream config from a request; NULL + *err. */
json_t *lw_stream_cfg_normalise(const json_t *req, const char *name, json_t **err);
void lw_stream_limits_from(const json_t *cfg, struct lw_stream_limits *l);
json_t *lw_stream_info_json(struct lw_stream *s, const char *type, const json_t *req);
char *lw_b64_encode(const void *p, size_t n);

/* --- streams (lw_ctl_stream.c) --- */
struct lw_stream *lw_stream_find(struct lw_ctl *ctl, const char *name);
/** Creates and subscribes (or, with @p load, reopens without subscribing)
 *  a stream; NULL + *err (JSON). */
struct lw_stream *lw_stream_create(struct lw_ctl *ctl, const char *name, json_t *cfg,
				   int64_t created_ns, bool load, json_t **err);
/** lw_stream_create with the choice to subscribe now (never from the timer). */
struct lw_stream *lw_stream_create_ex(struct lw_ctl *ctl, const char *name, json_t *cfg,
				      int64_t created_ns, bool load, bool subscribe, json_t **err);
int lw_stream_delete(struct lw_ctl *ctl, struct lw_stream *s);
/**
 * Moves message @p seq of @p s, which @p consumer gave up on, to the
 * stream DLQ_<name> (created on first use) with its headers plus
 * Lw-Dead-Reason / -Time / -Stream / -Stream-Seq / -Consumer / -Deliveries.
 * @return 0, or -1 (logged) when it could not be stored.
 */
int lw_stream_dead_letter(struct lw_stream *s, const char *consumer, uint64_t seq,
			  uint32_t deliveries, const char *reason);
/** Re-publishes dead letters of @p s (all, or DLQ sequence @p only_seq)
 *  into it and removes them from DLQ_<name>; the API answer. */
json_t *lw_stream_redrive(struct lw_ctl *ctl, struct lw_stream *s, uint64_t only_seq);
/** Applies a new normalised config (subjects, limits). */
int lw_stream_update(struct lw_ctl *ctl, struct lw_stream *s, json_t *cfg, json_t **err);
/** Reopens every stream of the store dir, without subscribing. */
int lw_streams_load(struct lw_ctl *ctl);
/**
 * Subscribes a stream to its subjects. Never call it holding lw_ctl.mu
 * from the timer: the client library's subscription lock is taken before
 * mu by the dispatcher (callbacks), so the order must be the same here.
 */
int lw_stream_subscribe(struct lw_ctl *ctl, struct lw_stream *s, json_t **err);
/** True when one of @p subjects overlaps a subject of another stream. */
bool lw_stream_overlaps(struct lw_ctl *ctl, const json_t *subjects, const char *skip);
bool lw_subjects_overlap(const char *a, const char *b);
/** Removes what max_age / the dedup window let go; from the timer. */
void lw_stream_expire(struct lw_stream *s, int64_t now);
void lw_ctl_flush_acks(struct lw_ctl *ctl);
void lw_ctl_queue_ack(struct lw_ctl *ctl, const char *reply, char *body, struct lw_stream *s,
		      uint64_t seq);
/** Removes message @p seq because a consumer acked it (workqueue/interest). */
void lw_stream_acked(struct lw_stream *s, uint64_t seq);
/** Interest retention, after a consumer went: removes what no consumer
 *  left is to take. */
void lw_stream_interest_sweep(struct lw_stream *s);

/* --- API (lw_ctl_api.c) --- */
void lw_ctl_api_cb(lw_sub *sub, lw_msg *m, void *arg);

/* --- consumers (lw_ctl_consumer.c) --- */
void lw_consumer_api(struct lw_ctl *ctl, const char *op, const char *rest, lw_msg *m);
void lw_consumers_load(struct lw_stream *s);
void lw_consumers_free(struct lw_stream *s, bool destroy);
/** A message was stored: serve waiting pull requests. */
void lw_consumers_notify(struct lw_stream *s);
/** Push consumers that found nobody on their deliver subject try again
 *  (before a new message is stored: the subscriber that a client made
 *  before publishing is there by now, and limits may drop the old one). */
void lw_consumers_retry(struct lw_stream *s);
/** Messages from @p from on left the store unwritten (disk full):
 *  consumers take those sequences again. */
void lw_consumers_rewind(struct lw_stream *s, uint64_t from);
/** After a purge or a delete: acks pending for messages that are gone are
 *  dropped (they held max_ack_pending), and consumers behind the stream's
 *  new first message move up to it, as nats-server's do. */
void lw_consumers_removed(struct lw_stream *s);
void lw_consumers_tick(struct lw_stream *s, int64_t now);
void lw_ctl_ack_cb(lw_sub *sub, lw_msg *m, void *arg);
/** Publishes a NATS/1.0 status message (no payload) to @p to. */
void lw_cons_status(struct lw_ctl *ctl, const char *to, const char *hdr);
/** The fabric went away (lwd restart): drops waiting pull requests and
 *  resets push flow control; delivery resumes on the next connection. */
void lw_consumers_disconnected(struct lw_stream *s);
int lw_consumer_count(const struct lw_stream *s);
/** Interest retention: every consumer interested in @p seq has acked it. */
bool lw_consumers_all_acked(struct lw_stream *s, uint64_t seq);

#endif
