/* SPDX-License-Identifier: MIT */
/*
 * One NATS client connection: CONNECT, PUB/HPUB into the fabric,
 * SUB/UNSUB as liblightwire callback subscriptions, and MSG/HMSG out.
 *
 * Input is parsed on the gateway thread. Output comes from two threads
 * (protocol replies from the gateway thread, messages from the dispatcher
 * thread), so the outbound buffer sits under a mutex; a writer appends,
 * then writes straight to the socket unless a write is already waiting for
 * EPOLLOUT. The buffer is bounded by max_pending: a client that lets it
 * fill is a slow consumer and is cut off, as nats-server does, because the
 * other choice (blocking the dispatcher) would stall every subscriber of
 * the gateway behind one slow socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <jansson.h>

#include "lw_gw_pvt.h"
#include "lw_client_pvt.h" /* lw_sub_pending */
#include "lw_subject.h" /* lw_subj_matches */


#define IN_CHUNK 65536
#define NO_RESPONDERS_HDR "NATS/1.0 503\r\n\r\n"

struct gw_conn *gw_conn_new(struct lw_gw *gw, int fd)
{
	struct gw_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->kind = GW_CLIENT;
	c->gw = gw;
	c->fd = fd;
	if (++gw->next_cid == 0)
		gw->next_cid = 1; /* origin 0 means "not from the gateway" */
	c->cid = gw->next_cid;
	c->start_ns = c->last_in_ns = c->last_ping_ns = gw_now_ns();
	/* nats-server's defaults before and without CONNECT fields: a
	 * telnet user (the protocol docs' first example) sees +OK, and a
	 * subject that is not valid to publish to gets -ERR. Real clients
	 * send both fields as false. */
	c->verbose = c->pedantic = true;
	atomic_init(&c->echo, true);
	atomic_init(&c->headers, false);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

/* --- subscriptions ---------------------------------------------------- */

/* Appends @p s; NULL when @p end would be passed. */
static char *put_str(char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	if (p == NULL || (size_t)(end - p) < n)
		return NULL;
	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, const char *end, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (p == NULL || end - p < n)
		return NULL;
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* "MSG <subject> <sid>[ <reply>] <bytes>\r\n", or HMSG with the header
 * length first. Without printf: it was a sixth of lwd's time at 1.7 M
 * messages/s. Returns the length, 0 when the line does not fit. */
static size_t msg_line(char *b, size_t cap, const char *subj, const char *sid, const char *reply,
		       size_t hlen, size_t dlen)
{
	const char *end = b + cap;
	char *p = put_str(b, end, hlen ? "HMSG " : "MSG ");

	p = put_str(p, end, subj);
	p = put_str(p, end, " ");
	p = put_str(p, end, sid);
	if (reply != NULL) {
		p = put_str(p, end, " ");
		p = put_str(p, end, reply);
	}
	p = put_str(p, end, " ");
	if (hlen) {
		p = put_u64(p, end, hlen);
		p = put_str(p, end, " ");
	}
	p = put_u64(p, end, hlen + dlen);
	p = put_str(p, end, "\r\n");
	return p != NULL ? (size_t)(p - b) : 0;
}

/* Counters that only dispatching threads change, one at a time (under
 * liblightwire's subscription lock): no locked add needed. */
static inline void bump(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* A dispatching thread (the gateway's or the fabric dispatcher): one
 * fabric message for this subscription. */
static void on_msg(lw_sub *ls, lw_msg *m, void *arg)
{
	struct gw_sub *s = arg;
	struct gw_conn *c = s->conn;
	char line[3 * GW_MAX_SUBJECT];
	const char *reply = lw_msg_reply(m);
	const void *hdr = NULL;
	size_t hlen = 0, dlen = lw_msg_len(m), ln;
	uint64_t n, max;

	if (atomic_load_explicit(&s->done, memory_order_relaxed))
		return;
	if (!atomic_load_explicit(&c->echo, memory_order_relaxed) && lw_msg_origin(m) == c->cid)
		return;
	if (s->deny_filter && !gw_perm_not_denied(&c->auth->sub, lw_msg_subject(m), s->queue))
		return;
	n = atomic_fetch_add(&s->delivered, 1) + 1;
	max = atomic_load(&s->max);
	if (max != 0 && n > max)
		return;
	if (max != 0 && n == max) {
		atomic_store(&s->done, true);
		atomic_store(&c->gw->sweep, true);
		gw_wake(c->gw);
	}
	if (atomic_load_explicit(&c->headers, memory_order_relaxed))
		hdr = lw_msg_headers(m, &hlen);
	ln = msg_line(line, sizeof(line), lw_msg_subject(m), s->sid, reply, hlen, dlen);
	if (ln == 0)
		return;
	{
		/* One append: the gateway thread may write +OK/PONG meanwhile. */
		struct iovec v[4] = {
			{ line, ln }, { (void *)hdr, hlen },
			{ (void *)lw_msg_data(m), dlen }, { "\r\n", 2 },
		};
		/* More queued for this subscription: let the last one write. */
		bool more = lw_sub_pending(ls);

		if (gw_outv_defer(c, v, 4, more) != 0)
			return;
	}
	bump(&c->out_msgs, 1);
	bump(&c->out_bytes, hlen + dlen);
	bump(&c->gw->out_msgs, 1);
	bump(&c->gw->out_bytes, hlen + dlen);
}

static char *dupn(struct lw_gw_str s)
{
	char *p = malloc(s.n + 1);

	if (p != NULL) {
		memcpy(p, s.p, s.n);
		p[s.n] = '\0';
	}
	return p;
}

static void sub_free(struct gw_conn *c, struct gw_sub *s)
{
	for (struct gw_sub **pp = &c->subs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			c->nsubs--;
			break;
		}
	}
	/* After lw_unsubscribe returns no callback runs for s any more: the
	 * dispatcher calls back under the lock lw_unsubscribe takes. */
	if (s->ls != NULL)
		lw_unsubscribe(s->ls);
	free(s->sid);
	free(s->subject);
	free(s->queue);
	free(s);
}

static struct gw_sub *sub_find(struct gw_conn *c, struct lw_gw_str sid)
{
	for (struct gw_sub *s = c->subs; s != NULL; s = s->next)
		if (strlen(s->sid) == sid.n && memcmp(s->sid, sid.p, sid.n) == 0)
			return s;
	return NULL;
}

static void do_sub(struct gw_conn *c, const struct lw_gw_cmd *cmd)
{
	struct lw_sub_opts o;
	struct gw_sub *s;
	int rc;

	if (sub_find(c, cmd->sid) != NULL) {
		gw_ok(c); /* nats-server ignores a SUB that reuses a live sid */
		return;
	}
	/* Every MSG line carries the sid: one that could not fit one is
	 * refused now, not its messages dropped later. */
	if (cmd->sid.n > GW_MAX_SUBJECT) {
		gw_send_err(c, "%s", "Invalid Subscription ID (over 1024 bytes)");
		return;
	}
	if (c->gw->max_subs_conn != 0 && c->nsubs >= c->gw->max_subs_conn) {
		/* nats-server's max_subscriptions: refused, connection kept. */
		if (!c->subs_limit_logged)
			gw_log(1, "client %u: SUB refused, max_subscriptions %u reached", c->cid,
			       c->gw->max_subs_conn);
		c->subs_limit_logged = true;
		gw_send_err(c, "%s", "Maximum Subscriptions Exceeded");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->sid = dupn(cmd->sid)) == NULL ||
	    (s->subject = dupn(cmd->subject)) == NULL ||
	    (cmd->queue.n && (s->queue = dupn(cmd->queue)) == NULL)) {
		gw_send_err(c, "%s", "Server Out Of Memory");
		goto fail;
	}
	s->conn = c;
	if (c->auth != NULL && !gw_perm_sub_ok(&c->auth->sub, s->subject, s->queue)) {
		char what[GW_MAX_SUBJECT + 64];

		if (s->queue)
			snprintf(what, sizeof(what), "\"%s\" using queue \"%s\"", s->subject, s->queue);
		else
			snprintf(what, sizeof(what), "\"%s\"", s->subject);
		gw_log(1, "client %u (%s): subscription to %s denied", c->cid, c->user, what);
		gw_send_err(c, "Permissions Violation for Subscription to %s", what);
		goto fail;
	}
	s->deny_filter = c->auth != NULL && c->auth->sub.n_deny > 0 &&
			 (strchr(s->subject, '*') != NULL || strchr(s->subject, '>') != NULL);
	lw_sub_opts_init(&o);
	o.queue = s->queue;
	/* An echo-off client's own messages go to another member of its
	 * group (nats-server's choice), not to it to be dropped. */
	if (s->queue != NULL && !atomic_load(&c->echo))
		o.no_echo_origin = c->cid;
	o.cb = on_msg;
	o.cb_arg = s;
	/* Link first: the callback may run before lw_subscribe returns. */
	s->next = c->subs;
	c->subs = s;
	c->nsubs++;
	rc = lw_subscribe(c->gw->lc, s->subject, &o, &s->ls);
	if (rc != LW_OK) {
		if (rc == LW_EBADSUBJECT)
			gw_send_err(c, "%s", "Invalid Subject");
		else if (rc == LW_ELIMIT)
			gw_send_err(c, "%s", "Maximum Subscriptions Exceeded");
		else if (rc != LW_ECLOSED)
			gw_send_err(c, "Subscription Failed: %s", lw_strerror(rc));
		/* LW_ECLOSED: lwd is stopping and closes every connection
		 * next; an -ERR now would read to clients as a protocol error
		 * (nats.js ends closed() with one) rather than a shutdown. */
		sub_free(c, s);
		return;
	}
	gw_ok(c);
	return;
fail:
	if (s != NULL) {
		free(s->sid);
		free(s->subject);
		free(s->queue);
		free(s);
	}
}

static void do_unsub(struct gw_conn *c, const struct lw_gw_cmd *cmd)
{
	struct gw_sub *s = sub_find(c, cmd->sid);

	gw_ok(c);
	if (s == NULL)
		return;
	if (cmd->max_msgs != 0) {
		atomic_store(&s->max, cmd->max_msgs);
		/* A queue member stops being picked once what it has, and what
		 * waits in its ring, reach max: the rest of a burst goes to
		 * the other members (as nats-server), not to it to be dropped. */
		if (s->queue != NULL && s->ls != NULL) {
			struct lw_sub_stats st;
			uint64_t used = atomic_load(&s->delivered);

			if (lw_sub_stats(s->ls, &st) == LW_OK)
				used += st.depth;
			lw_sub_limit(s->ls, used < cmd->max_msgs ?
					    (uint32_t)(cmd->max_msgs - used < UINT32_MAX - 1 ?
						       cmd->max_msgs - used : UINT32_MAX - 1) : 0);
		}
		/* The callback compares after counting: if it already passed
		 * the new max, nobody else will remove the subscription. */
		if (atomic_load(&s->delivered) < cmd->max_msgs)
			return;
	}
	sub_free(c, s);
}

void gw_conn_sweep(struct gw_conn *c)
{
	struct gw_sub *s = c->subs, *next;

	for (; s != NULL; s = next) {
		next = s->next;
		if (atomic_load(&s->done))
			sub_free(c, s);
	}
}

/* --- publish ---------------------------------------------------------- */

/* No one matched a request: answer on the requester's own subscription
 * for the reply subject with a bare 503 status, as nats-server does. */
static void no_responders(struct gw_conn *c, const char *reply)
{
	char line[3 * GW_MAX_SUBJECT];
	size_t hl = sizeof(NO_RESPONDERS_HDR) - 1, ln;

	for (struct gw_sub *s = c->subs; s != NULL; s = s->next) {
		if (atomic_load(&s->done) || !lw_gw_subj_match(s->subject, reply))
			continue;
		/* "HMSG <reply> <sid> <hl> <hl>": 0 when it does not fit */
		ln = msg_line(line, sizeof(line), reply, s->sid, NULL, hl, 0);
		if (ln == 0)
			return;
		struct iovec v[3] = { { line, ln }, { NO_RESPONDERS_HDR, hl }, { "\r\n", 2 } };

		gw_outv(c, v, 3);
		return;
	}
}

static int copy_subject(char *dst, struct lw_gw_str s)
{
	if (s.n == 0 || s.n > LW_SUBJECT_MAX)
		return -1;
	memcpy(dst, s.p, s.n);
	dst[s.n] = '\0';
	return 0;
}

/* Fills @p m (subject and reply copied into @p subj / @p reply) from a
 * PUB/HPUB. Returns 1 when it is ready to publish, 0 when it was answered
 * here (bad subject, permission denied). */
static int pub_prepare(struct gw_conn *c, const struct lw_gw_cmd *cmd, struct lw_pubmsg *m,
		       char *subj, char *reply)
{
	struct lw_gw *gw = c->gw;

	atomic_fetch_add_explicit(&c->in_msgs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->in_bytes, cmd->total_len, memory_order_relaxed);
	atomic_fetch_add_explicit(&gw->in_msgs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&gw->in_bytes, cmd->total_len, memory_order_relaxed);
	*m = (struct lw_pubmsg){ .subject = subj, .origin = c->cid };
	if (copy_subject(subj, cmd->subject) != 0 ||
	    (cmd->reply.n && copy_subject(reply, cmd->reply) != 0) ||
	    (c->pedantic && lw_subj_validate(subj, cmd->subject.n, LW_SUBJ_PUBLISH) != LW_OK)) {
		/* nats-server checks publish subjects only in pedantic mode
		 * (wildcards are plain tokens otherwise); the fabric cannot
		 * route a malformed one either way. */
		if (c->pedantic)
			gw_send_err(c, "%s", "Invalid Publish Subject");
		else
			gw_ok(c);
		/* Longer than the fabric carries: nobody can receive it, so a
		 * request learns that at once ("no responders") rather than
		 * time out (a nats.js KV put of a 250-byte key, say). */
		if (cmd->subject.n > LW_SUBJECT_MAX) {
			if (!c->long_subj_logged)
				gw_log(1, "client %u: publish to a subject of %zu bytes dropped (at"
				       " most %d)", c->cid, cmd->subject.n, LW_SUBJECT_MAX);
			c->long_subj_logged = true;
			if (cmd->reply.n && c->no_responders && atomic_load(&c->headers) &&
			    copy_subject(reply, cmd->reply) == 0)
				no_responders(c, reply);
		}
		return 0;
	}
	if (c->auth != NULL && !gw_perm_ok(&c->auth->pub, subj)) {
		gw_log(1, "client %u (%s): publish to \"%s\" denied", c->cid, c->user, subj);
		gw_send_err(c, "Permissions Violation for Publish to \"%s\"", subj);
		return 0;
	}
	if (cmd->reply.n)
		m->reply = reply;
	if (cmd->hdr_len) {
		m->hdr = cmd->payload;
		m->hdr_len = cmd->hdr_len;
	}
	m->data = cmd->payload + cmd->hdr_len;
	m->len = cmd->total_len - cmd->hdr_len;
	return 1;
}

/* How many of @p c's own subscriptions without a queue group receive
 * @p subject: with echo off they take it from the fabric and drop it. */
static int own_plain_receivers(const struct gw_conn *c, const char *subject)
{
	int n = 0;

	for (const struct gw_sub *s = c->subs; s != NULL; s = s->next)
		n += s->queue == NULL && lw_subj_matches(s->subject, subject);
	return n;
}

/* What lw_publish_msg said about @p m, told to the client. */
static void pub_result(struct gw_conn *c, const struct lw_pubmsg *m, int rc)
{
	struct lw_gw *gw = c->gw;
	bool wants_503 = m->reply != NULL && c->no_responders && atomic_load(&c->headers);

	if (rc == 0) {
		atomic_fetch_add_explicit(&gw->no_interest, 1, memory_order_relaxed);
		if (wants_503)
			no_responders(c, m->reply);
	} else if (rc > 0 && wants_503 && !atomic_load(&c->echo) &&
		   rc == own_plain_receivers(c, m->subject)) {
		/* Every receiver is this echo-off client's own plain
		 * subscription (a queue group that took it would make rc
		 * larger): nobody will answer, as nats-server says. */
		no_responders(c, m->reply);
	}
	if (rc == LW_EBADSUBJECT) {
		/* A wildcard or malformed subject: as pub_prepare says. */
		if (c->pedantic)
			gw_send_err(c, "%s", "Invalid Publish Subject");
		else
			gw_ok(c);
		return;
	}
	if (rc < 0 && rc != LW_ETIMEDOUT) {
		atomic_fetch_add_explicit(&gw->dropped, 1, memory_order_relaxed);
		gw_log(1, "client %u: publish to '%s' dropped: %s", c->cid, m->subject,
		       lw_errmsg());
	}
	gw_ok(c);
}

static void do_pub(struct gw_conn *c, const struct lw_gw_cmd *cmd)
{
	char subj[LW_SUBJECT_MAX + 1], reply[LW_SUBJECT_MAX + 1];
	struct lw_pubmsg m;

	if (pub_prepare(c, cmd, &m, subj, reply))
		pub_result(c, &m, lw_publish_msg(c->gw->lc, &m));
}

/*
 * PUBs read in one go are published together (lw_publish_burst: one match
 * and one wake-up of each receiver per run instead of per message). Not
 * for a request that may need a "no responders" answer: that needs the
 * count of subscribers of that one message.
 */
#define PUB_BATCH 32

struct pub_batch {
	unsigned n;
	struct lw_pubmsg m[PUB_BATCH];
	char subj[PUB_BATCH][LW_SUBJECT_MAX + 1];
	char reply[PUB_BATCH][LW_SUBJECT_MAX + 1];
};

static void batch_flush(struct gw_conn *c, struct pub_batch *b)
{
	unsigned done = 0;

	unsigned ni = 0;

	while (done < b->n) {
		int rc = lw_publish_burst_ni(c->gw->lc, b->m + done, b->n - done, &ni);

		if (rc < 0) {
			/* The first one failed: say so, go on with the rest. */
			pub_result(c, &b->m[done], rc);
			done++;
			continue;
		}
		for (int i = 0; i < rc; i++)
			gw_ok(c);
		done += (unsigned)rc;
	}
	if (ni > 0)
		atomic_fetch_add_explicit(&c->gw->no_interest, ni, memory_order_relaxed);
	b->n = 0;
}

/* Adds a PUB/HPUB to the batch (flushing first when full), or publishes
 * it alone when it must see its own subscriber count. */
static void batch_pub(struct gw_conn *c, struct pub_batch *b, const struct lw_gw_cmd *cmd)
{
	/* verbose/pedantic clients get +OK/-ERR per command in order: no
	 * batching for them (debugging modes). */
	if ((cmd->reply.n && c->no_responders && atomic_load(&c->headers)) || c->verbose ||
	    c->pedantic) {
		batch_flush(c, b);
		do_pub(c, cmd);
		return;
	}
	if (b->n == PUB_BATCH)
		batch_flush(c, b);
	if (pub_prepare(c, cmd, &b->m[b->n], b->subj[b->n], b->reply[b->n]))
		b->n++;
}

/* --- CONNECT ---------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(json_t *o, const char *k, bool def)
{
	json_t *v = json_object_get(o, k);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

static void copy_field(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* 0, or -1 after a fatal error. */
static int do_connect(struct gw_conn *c, const struct lw_gw_cmd *cmd)
{
	struct lw_gw *gw = c->gw;
	json_error_t jerr;
	json_t *o = json_loadb(cmd->json.p, cmd->json.n, 0, &jerr);
	bool headers;

	if (!json_is_object(o)) {
		json_decref(o);
		gw_conn_fatal(c, "Parser Error");
		return -1;
	}
	if (gw->n_users != 0 && !c->connected) {
		c->auth = gw_auth(gw, jstr(o, "user"), jstr(o, "pass"), jstr(o, "auth_token"));
		if (c->auth == NULL) {
			atomic_fetch_add(&gw->auth_failures, 1);
			gw_log(1, "client %u (%s:%d): authorization failed for user '%s'", c->cid,
			       c->ip, c->port, jstr(o, "user") ? jstr(o, "user") : "");
			json_decref(o);
			gw_conn_fatal(c, "Authorization Violation");
			return -1;
		}
		copy_field(c->user, sizeof(c->user), c->auth->user);
	}
	c->verbose = jbool(o, "verbose", true);
	c->pedantic = jbool(o, "pedantic", true);
	headers = jbool(o, "headers", false);
	c->no_responders = jbool(o, "no_responders", false);
	atomic_store(&c->echo, jbool(o, "echo", true));
	atomic_store(&c->headers, headers);
	copy_field(c->name, sizeof(c->name), jstr(o, "name"));
	copy_field(c->lang, sizeof(c->lang), jstr(o, "lang"));
	copy_field(c->version, sizeof(c->version), jstr(o, "version"));
	json_decref(o);
	if (c->no_responders && !headers) {
		gw_conn_fatal(c, "no responders requires headers support");
		return -1;
	}
	c->connected = true;
	gw_ok(c);
	return 0;
}

/* --- input ------------------------------------------------------------ */


/*
 * Before a PONG or an UNSUB: what this client published to its own
 * subscriptions sits in their rings (the batch was published before this
 * command), and goes out first. nats-server writes those MSGs before the
 * PONG, so a client that publishes, flushes and then looks finds them;
 * without this the PONG overtook them. Bounded: a busy fabric cannot keep
 * the command waiting.
 */
static void deliver_own_first(struct gw_conn *c)
{
	for (int k = 0; k < 64; k++) {
		bool pending = false;

		for (struct gw_sub *s = c->subs; s != NULL && !pending; s = s->next)
			pending = s->ls != NULL && lw_sub_pending(s->ls);
		if (!pending || lw_dispatch_once(c->gw->lc) <= 0)
			break;
	}
}

/* 0 to go on, -1 after a fatal error. */
static int handle(struct gw_conn *c, const struct lw_gw_cmd *cmd)
{
	if (!c->connected && c->gw->n_users != 0 && cmd->op != LW_GW_OP_CONNECT) {
		gw_conn_fatal(c, "Authorization Violation");
		return -1;
	}
	switch (cmd->op) {
	case LW_GW_OP_CONNECT:
		return do_connect(c, cmd);
	case LW_GW_OP_PUB:
		do_pub(c, cmd);
		break;
	case LW_GW_OP_HPUB:
		if (!atomic_load(&c->headers)) {
			/* nats-server refuses HPUB from a client that did not
			 * announce headers: it cannot read them back either. */
			gw_conn_fatal(c, "Headers Not Supported");
			return -1;
		}
		do_pub(c, cmd);
		break;
	case LW_GW_OP_SUB:
		do_sub(c, cmd);
		break;
	case LW_GW_OP_UNSUB:
		deliver_own_first(c);
		do_unsub(c, cmd);
		break;
	case LW_GW_OP_PING:
		deliver_own_first(c);
		gw_out_str(c, "PONG\r\n");
		break;
	case LW_GW_OP_PONG:
		c->pings_out = 0;
		break;
	default:
		break;
	}
	return 0;
}

static int grow_in(struct gw_conn *c, size_t need)
{
	return gw_buf_grow(&c->in, &c->in_cap, need, IN_CHUNK);
}

/* Parses everything complete in the input buffer. 0 or -1 (fatal). */
static int parse_input(struct gw_conn *c)
{
	struct lw_gw *gw = c->gw;
	size_t off = 0, need = 0;
	struct pub_batch batch;

	batch.n = 0;

	for (;;) {
		struct lw_gw_cmd cmd;
		size_t used;
		int rc = lw_gw_parse(c->in + off, c->in_len - off, gw->cfg.max_control_line,
				     gw->max_payload, &cmd, &used);

		if (rc < 0) {
			/* What came before the bad command was accepted. */
			batch_flush(c, &batch);
			gw_log(2, "client %u (%s:%d): protocol error: %s", c->cid, c->ip, c->port,
			       lw_gw_perr_text(rc));
			gw_conn_fatal(c, lw_gw_perr_text(rc));
			return -1;
		}
		if (rc == 0) {
			need = used;
			break;
		}
		off += used;
		/* PUBs wait in the batch (their payloads stay in c->in until the
		 * batch is out); anything else publishes the batch first, so
		 * the client's commands keep their order. */
		if (c->connected && (cmd.op == LW_GW_OP_PUB ||
				     (cmd.op == LW_GW_OP_HPUB && atomic_load(&c->headers)))) {
			batch_pub(c, &batch, &cmd);
			continue;
		}
		batch_flush(c, &batch);
		if (handle(c, &cmd) != 0)
			return -1;
		if (c->draining)
			return -1;
	}
	batch_flush(c, &batch);
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	/* A long payload: make room for all of it at once. */
	if (need > c->in_cap && grow_in(c, need) != 0) {
		gw_conn_fatal(c, "Server Out Of Memory");
		return -1;
	}
	return 0;
}

/* One read from the socket, or from TLS under mu (see lw_gw_tls.c);
 * *more: OpenSSL holds decrypted bytes that epoll cannot announce. */
static ssize_t read_some(struct gw_conn *c, bool *more)
{
	ssize_t n;
	int err;

	*more = false;
	if (c->ssl == NULL)
		return recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	pthread_mutex_lock(&c->mu);
	n = gw_tls_recv(c, c->in + c->in_len, c->in_cap - c->in_len);
	err = errno;
	if (n < 0 && c->tls_rd_wants_wr)
		gw_arm_out(c, true);
	if (n > 0)
		*more = gw_tls_pending(c);
	pthread_mutex_unlock(&c->mu);
	errno = err;
	return n;
}

static int read_input(struct gw_conn *c)
{
	bool more = false;

	/* Bounded per event (epoll is level-triggered and comes back), but
	 * bytes already inside OpenSSL must be taken now: no event would. */
	for (int rounds = 0; rounds < 16 || more; rounds++) {
		ssize_t n;

		if (c->in_cap - c->in_len < 4096 && grow_in(c, c->in_len + IN_CHUNK) != 0)
			return -1;
		n = read_some(c, &more);
		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		if (c->draining) {
			c->in_len = 0; /* discard: we only wait for the end */
			continue;
		}
		c->last_in_ns = gw_now_ns();
		c->in_len += (size_t)n;
		if (parse_input(c) != 0)
			return c->draining ? 0 : -1;
	}
	return 0;
}

int gw_conn_read(struct gw_conn *c)
{
	int rc = read_input(c);

	if (rc == 0 && c->ssl != NULL) {
		/* Output that waited for the handshake or for input to arrive
		 * (a TLS write can need a read) goes now. */
		pthread_mutex_lock(&c->mu);
		if (!c->dead && c->out_off < c->out_len && !c->out_armed)
			rc = gw_write_locked(c);
		pthread_mutex_unlock(&c->mu);
	}
	return rc;
}

/* --- lifetime --------------------------------------------------------- */

void gw_conn_fatal(struct gw_conn *c, const char *err)
{
	gw_send_err(c, "%s", err);
	c->close_reason = err;
	c->draining = true;
	c->drain_deadline_ns = gw_now_ns() + 2000000000ull;
	/* Stop deliveries now; the socket stays until the -ERR is out. */
	while (c->subs != NULL)
		sub_free(c, c->subs);
	gw_conn_flush(c);
}

int gw_conn_tick(struct gw_conn *c, uint64_t now)
{
	struct lw_gw *gw = c->gw;
	uint64_t ping_ns = (uint64_t)gw->cfg.ping_interval_ms * 1000000ull;

	if (c->draining)
		return now >= c->drain_deadline_ns ? -1 : 0;
	if (c->ssl != NULL && !c->connected &&
	    now - c->start_ns >= (uint64_t)gw->cfg.tls_timeout_ms * 1000000ull) {
		bool done;

		pthread_mutex_lock(&c->mu);
		done = gw_tls_established(c);
		pthread_mutex_unlock(&c->mu);
		if (!done) {
			/* No -ERR: the client is not speaking TLS or not at all. */
			gw_log(1, "client %u (%s:%d): TLS handshake timeout, closing", c->cid, c->ip,
			       c->port);
			return -1;
		}
	}
	if (!c->connected && gw->n_users != 0 &&
	    now - c->start_ns >= (uint64_t)gw->cfg.auth_timeout_ms * 1000000ull) {
		gw_conn_fatal(c, "Authentication Timeout");
		return 0;
	}
	if (ping_ns == 0 || now - c->last_ping_ns < ping_ns)
		return 0;
	c->last_ping_ns = now;
	/* Traffic from the client proves it alive as well as a PONG does,
	 * and makes this PING unneeded: nats-server skips it too. */
	if (now - c->last_in_ns < ping_ns) {
		c->pings_out = 0;
		return 0;
	}
	if (c->pings_out >= gw->cfg.max_pings_out) {
		atomic_fetch_add(&gw->stale_conns, 1);
		gw_log(1, "client %u (%s:%d): stale connection (%u PINGs unanswered), closing",
		       c->cid, c->ip, c->port, c->pings_out);
		gw_conn_fatal(c, "Stale Connection");
		return 0;
	}
	c->pings_out++;
	gw_out_str(c, "PING\r\n");
	return 0;
}

void gw_conn_free(struct gw_conn *c)
{
	while (c->subs != NULL)
		sub_free(c, c->subs);
	epoll_ctl(c->gw->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl != NULL)
		gw_tls_conn_free(c);
	gw_close_drained(c->fd);
	pthread_mutex_destroy(&c->mu);
	free(c->in);
	free(c->out);
	free(c);
}
