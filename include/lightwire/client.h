/* SPDX-License-Identifier: MIT */
/**
 * @file lightwire/client.h
 * liblightwire: the client side of a Lightwire shared-memory domain.
 *
 * A client maps the domain that `lwd` created and publishes by matching the
 * subject in the shared subject tree and enqueueing a descriptor straight
 * into each subscriber's ring: no broker hop, no copy of the payload after it
 * is in the pool. Client programs never call the DPDK EAL.
 *
 * Threading: one lw_conn may be used from several threads for publishing;
 * each lw_sub must be read (lw_next) by one thread at a time. Callback
 * subscriptions run on one dispatcher thread per connection.
 *
 * All functions return LW_OK / a non-negative count, or a negative
 * lw_status (see lightwire/error.h); lw_errmsg() has the details.
 */
#ifndef LIGHTWIRE_CLIENT_H
#define LIGHTWIRE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lightwire/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest subject (bytes, without the NUL) the fabric routes. */
#define LW_SUBJECT_MAX 256
/** Longest queue-group name (bytes, without the NUL). */
#define LW_QUEUE_MAX 64
/** Default domain name. */
#define LW_DOMAIN_DEFAULT "default"

typedef struct lw_conn lw_conn;
typedef struct lw_sub lw_sub;
typedef struct lw_msg lw_msg;

/** How a receiver waits when its ring is empty. */
enum lw_wait_mode {
	/** Spin for spin_ns, then yield, then sleep on a futex (default). */
	LW_WAIT_BLOCK = 0,
	/** Busy-poll until a message or the timeout: lowest latency, one core. */
	LW_WAIT_SPIN = 1,
};

/** What a publisher does when a subscriber's ring is full. */
enum lw_slow_policy {
	/** Wait for room (backpressure); gives up after block_timeout_ms. */
	LW_SLOW_BLOCK = 0,
	/** Drop the oldest queued message to make room (counted). */
	LW_SLOW_DROP_OLDEST = 1,
	/** Drop the message being published for this subscriber (counted). */
	LW_SLOW_DROP_NEWEST = 2,
};

struct lw_conn_opts {
	const char *domain;       /**< domain name; NULL = $LW_DOMAIN or "default" */
	const char *name;         /**< client name shown in stats; NULL = program */
	enum lw_wait_mode wait;   /**< receive wait strategy */
	uint32_t spin_ns;         /**< LW_WAIT_BLOCK: spin this long first (default 20000) */
	uint32_t request_timeout_ms; /**< control requests to lwd (default 2000) */
	uint32_t block_timeout_ms;   /**< LW_SLOW_BLOCK publisher wait bound (default 5000) */
	/** Accept a whole-token '*' or '>' in publish and reply subjects as a
	 *  literal token (it still matches subscribers' wildcards), as
	 *  nats-server does outside pedantic mode: the JetStream API puts a
	 *  consumer's filter, wildcards and all, in its request subject.
	 *  For gateways; default false: such a publish is LW_EBADSUBJECT. */
	bool literal_wildcards;
};

/** Fills @p o with the defaults documented in struct lw_conn_opts. */
void lw_conn_opts_init(struct lw_conn_opts *o);

/**
 * Connects to a domain served by a running lwd.
 * @param out   receives the connection
 * @param opts  options, or NULL for defaults
 * @return LW_OK; LW_ENOTFOUND no such domain (is lwd running?);
 *   LW_ENODAEMON the domain exists but its lwd is gone; LW_EABI domain made
 *   by another liblightwire ABI; LW_ECORRUPT bad header; LW_ELIMIT client
 *   table full; LW_ETIMEDOUT lwd did not answer; LW_EIO mapping failed;
 *   LW_EINVAL bad options.
 */
int lw_connect(lw_conn **out, const struct lw_conn_opts *opts);

/** Closes subscriptions and disconnects; lwd takes back every loan and
 *  every message of this connection not yet freed, so free messages
 *  (lw_msg_free) before closing: they are invalid afterwards. */
void lw_close(lw_conn *c);

/**
 * Whether lwd still serves this connection, without sending anything: a
 * long-lived client (lw-control is one) polls it to notice that lwd
 * stopped or was restarted, and then connects again.
 *
 * @return LW_OK; LW_ECLOSED the connection was closed or lwd shut the
 *   domain down; LW_ENODAEMON the lwd that made the domain is gone
 *   (killed, or replaced by a new lwd with a new domain).
 */
int lw_conn_alive(const lw_conn *c);

/**
 * How many subscriptions a publish to @p subject would reach now (a queue
 * group counts once), without publishing and without turning any group's
 * rotation: "is anybody listening?" (lw-control asks it of a push
 * consumer's deliver subject).
 *
 * @return the count (0 = no interest); LW_EBADSUBJECT; LW_ECLOSED when the
 *   connection was closed or lwd shut the domain down (an lwd that was
 *   killed is noticed by lw_conn_alive(), which reads /proc, not here).
 */
int lw_interest(lw_conn *c, const char *subject);

/** Largest payload (headers + data) the domain accepts. */
size_t lw_max_payload(const lw_conn *c);

/** One message to publish. */
struct lw_pubmsg {
	const char *subject;   /**< literal subject (no wildcards, see literal_wildcards) */
	const char *reply;     /**< reply subject or NULL */
	const void *hdr;       /**< NATS/1.0 header block or NULL */
	size_t hdr_len;
	const void *data;
	size_t len;
	/** Opaque tag handed to receivers by lw_msg_origin() (0 = none).
	 *  Gateways use it to recognise their own messages (NATS echo). */
	uint32_t origin;
	/** Literal subject to route by instead of @c subject, or NULL.
	 *  Receivers still see @c subject: this is how a server hands a stored
	 *  message to one requester's inbox under its original subject, as
	 *  nats-server does for JetStream consumers (clients tell their own
	 *  status messages, sent to the inbox itself, from stored ones that
	 *  way). Ignored by lw_publish_burst(). */
	const char *deliver_subject;
};

/**
 * Copies @p len bytes into a pool slot and delivers it to every matching
 * subscription (one member per queue group).
 * @return number of subscriptions it was delivered to (0 = no interest);
 *   LW_EBADSUBJECT; LW_ETOOBIG payload over lw_max_payload();
 *   LW_ENOMEM pool exhausted; LW_ETIMEDOUT a LW_SLOW_BLOCK subscriber stayed
 *   full for block_timeout_ms (other subscribers still got it);
 *   LW_ECLOSED connection closed.
 */
int lw_publish(lw_conn *c, const char *subject, const void *data, size_t len);

/** lw_publish() with reply subject and headers; same returns. */
int lw_publish_msg(lw_conn *c, const struct lw_pubmsg *m);

/**
 * Publishes @p n messages in order, as lw_publish_msg() would one by one,
 * but with one subject match, one epoch entry and one ring claim per run of
 * small messages (subject + data <= 44 bytes, no reply, no headers) to the
 * same subject: the fast path for streams of small messages.
 * @return how many messages were published (0..n); when fewer than n, the
 *   next one failed and lw_errmsg() says why. A negative lw_status when
 *   the first one fails (same codes as lw_publish()).
 */
int lw_publish_burst(lw_conn *c, const struct lw_pubmsg *msgs, unsigned n);

/** A pool slot loaned to the caller to write a payload in place. */
struct lw_loan {
	void *data;        /**< write the payload here */
	size_t capacity;   /**< bytes available at data */
	uint32_t handle;   /**< internal, do not touch */
};

/**
 * Loans a slot of at least @p size bytes.
 * @return LW_OK; LW_ETOOBIG over lw_max_payload(); LW_ENOMEM pool
 *   exhausted; LW_ELIMIT this connection holds held_max messages and loans
 *   already; LW_ECLOSED.
 */
int lw_loan(lw_conn *c, size_t size, struct lw_loan *loan);

/**
 * Publishes the first @p len bytes of a loan, without copying them.
 * The loan is consumed whatever the result.
 * @return as lw_publish(); LW_EINVAL len over capacity or not a live loan.
 */
int lw_publish_loaned(lw_conn *c, struct lw_loan *loan, const char *subject,
		      const char *reply, size_t len);

/** Returns an unpublished loan to the pool. */
void lw_loan_discard(lw_conn *c, struct lw_loan *loan);

typedef void (*lw_msg_cb)(lw_sub *s, lw_msg *m, void *arg);

struct lw_sub_opts {
	const char *queue;          /**< queue group, NULL for none */
	enum lw_slow_policy policy; /**< default LW_SLOW_BLOCK */
	lw_msg_cb cb;               /**< callback dispatch; NULL = use lw_next() */
	void *cb_arg;
	/** With a queue group: messages published with this lw_pubmsg.origin
	 *  go to another member (none: nobody in the group gets them), as
	 *  nats-server passes over the member of an echo-off publisher.
	 *  0 (default) = none. */
	uint32_t no_echo_origin;
};

/** Fills @p o with defaults (no queue, LW_SLOW_BLOCK, no callback). */
void lw_sub_opts_init(struct lw_sub_opts *o);

/**
 * Subscribes to @p subject (`*` one token, `>` the rest).
 * With a callback, messages are handed to it on the connection's dispatcher
 * thread and freed when it returns.
 * @return LW_OK; LW_EBADSUBJECT; LW_ELIMIT subscription table full;
 *   LW_ETIMEDOUT / LW_ENODAEMON lwd did not answer; LW_ECLOSED.
 */
int lw_subscribe(lw_conn *c, const char *subject,
		 const struct lw_sub_opts *opts, lw_sub **out);

/** Stops delivery and frees @p s (queued messages are dropped). */
int lw_unsubscribe(lw_sub *s);

/**
 * Takes the next message of a pull subscription.
 * @param timeout_ms 0 polls, -1 waits forever
 * @return LW_OK; LW_EAGAIN nothing (timeout_ms 0); LW_ETIMEDOUT;
 *   LW_ELIMIT too many messages held (free some); LW_ECLOSED closed, or
 *   lwd stopped; LW_ENODAEMON lwd was killed (noticed within ~100 ms of
 *   waiting, once what was queued is taken); LW_EINVAL callback
 *   subscription.
 */
int lw_next(lw_sub *s, lw_msg **out, int timeout_ms);

/** Releases a message from lw_next() or lw_request(). */
void lw_msg_free(lw_msg *m);

const char *lw_msg_subject(const lw_msg *m);
/** Reply subject, or NULL. */
const char *lw_msg_reply(const lw_msg *m);
const void *lw_msg_data(const lw_msg *m);
size_t lw_msg_len(const lw_msg *m);
/** Raw NATS/1.0 header block (NULL when none). */
const void *lw_msg_headers(const lw_msg *m, size_t *len);
/**
 * Value of header @p key (case-insensitive), copied NUL-terminated into
 * @p buf. @return value length; LW_ENOTFOUND; LW_ETOOBIG buf too small.
 */
int lw_msg_header(const lw_msg *m, const char *key, char *buf, size_t bufsz);
/** The publisher's struct lw_pubmsg origin tag (0 when none). */
uint32_t lw_msg_origin(const lw_msg *m);
/** Status code of a NATS/1.0 status header line (e.g. 503), or 0. */
int lw_msg_status(const lw_msg *m);

/**
 * Sends a request and waits for the first reply on this connection's
 * inbox. Requests on one connection are served one at a time (a second
 * thread waits for the first's reply or timeout); use a connection per
 * thread for concurrent requests.
 * @return LW_OK with *reply set (free it); LW_ENORESPONDERS nobody is
 *   subscribed; LW_ETIMEDOUT; errors of lw_publish().
 */
int lw_request(lw_conn *c, const char *subject, const void *data, size_t len,
	       int timeout_ms, lw_msg **reply);

/** Publishes @p data to the reply subject of @p req. @return as lw_publish(),
 *  LW_EINVAL when the request has no reply subject. */
int lw_respond(lw_conn *c, const lw_msg *req, const void *data, size_t len);

/** Delivery counters of a subscription. */
struct lw_sub_stats {
	uint64_t delivered;   /**< messages enqueued to it */
	uint64_t dropped;     /**< messages dropped by its slow-consumer policy */
	uint64_t blocked;     /**< times a publisher had to wait for room */
	uint32_t depth;       /**< messages queued now */
	uint32_t capacity;    /**< ring capacity */
};

/** @return LW_OK; LW_ECLOSED. */
int lw_sub_stats(const lw_sub *s, struct lw_sub_stats *st);

/**
 * A queue member takes at most @p n more messages: after that its group
 * passes over it (the others get them) until it is closed. For NATS's
 * "UNSUB <sid> <max>" on a queue member: what the member would only drop
 * goes to the group instead. No effect on a subscription without a queue.
 * @return LW_OK; LW_ECLOSED.
 */
int lw_sub_limit(lw_sub *s, uint32_t n);

#ifdef __cplusplus
}
#endif
#endif
