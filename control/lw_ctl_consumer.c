/* SPDX-License-Identifier: MIT */
/*
 * Consumers of lw-control: durable and ephemeral, pull (CONSUMER.MSG.NEXT
 * with batch / expires / no_wait / max_bytes / idle_heartbeat) and push
 * (deliver_subject); deliver policies all, last, new, by_start_sequence,
 * by_start_time, last_per_subject; filter_subject(s); ack policies none,
 * all, explicit; ack_wait with redelivery and a backoff list; max_deliver
 * (then a MAX_DELIVERIES advisory); max_ack_pending; ack variants +ACK,
 * -NAK (with {"delay":ns}), +WPI, +TERM on the $JS.ACK reply subject, and
 * a reply to acks sent as requests.
 *
 * A delivered message goes to the pull request's reply subject (or the
 * deliver subject) with reply
 *   $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
 * The fabric routes by subject, so the receiver sees the inbox as the
 * message subject, not the stream subject (nats-server keeps the original
 * subject and routes by sid); the original is in the stored record.
 *
 * Durable state (delivered, ack floor, pending acks; lw_ctl_consumer_state.c)
 * is written to <store>/<stream>/consumers/<name>.json by the timer when it
 * changed: after a crash a consumer may redeliver what was acked in the
 * last tick (at-least-once), never skip.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

#include "lw_ctl_consumer_pvt.h"

/* --- helpers ------------------------------------------------------------------- */


int lw_consumer_count(const struct lw_stream *s)
{
	int n = 0;

	for (const struct lw_consumer *c = s->consumers; c != NULL; c = c->next)
		n++;
	return n;
}

struct lw_consumer *lw_cons_find(struct lw_stream *s, const char *name)
{
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

bool lw_cons_match(const struct lw_consumer *c, const char *subj)
{
	size_t i;
	json_t *v;

	if (json_array_size(c->filters) == 0)
		return true;
	json_array_foreach(c->filters, i, v)
		if (lw_subject_matches(json_string_value(v), subj))
			return true;
	return false;
}

/* Next live stream sequence >= from that passes the filters. */
static uint64_t cnext(struct lw_consumer *c, uint64_t from)
{
	lw_store *st = c->s->st;

	if (json_array_size(c->filters) <= 1)
		return lw_store_next(st, from, json_array_size(c->filters) ?
				     json_string_value(json_array_get(c->filters, 0)) : NULL);
	for (uint64_t q = lw_store_next(st, from, NULL); q != 0; q = lw_store_next(st, q + 1, NULL))
		if (lw_cons_match(c, lw_store_subject(st, q)))
			return q;
	return 0;
}

/* Matching live messages in [from, to]. */
static uint64_t count_range(struct lw_consumer *c, uint64_t from, uint64_t to)
{
	uint64_t n = 0;

	for (uint64_t q = from; q <= to; q++) {
		const char *subj = lw_store_subject(c->s->st, q);

		if (subj != NULL && lw_cons_match(c, subj))
			n++;
	}
	return n;
}

/* Asked at every delivery (the ack subject carries it): without a filter
 * the store answers from its counters; with one, a full count each time
 * made a fetch through a long stream quadratic. */
uint64_t lw_cons_pending(struct lw_consumer *c)
{
	struct lw_store_state ss;
	uint64_t from;

	if (json_array_size(c->filters) == 0)
		return lw_store_count(c->s->st, c->next_sseq, NULL) + (c->npre - c->ipre);
	lw_store_get_state(c->s->st, &ss);
	from = c->next_sseq > ss.first_seq ? c->next_sseq : ss.first_seq;
	if (!c->pc_valid || c->pc_kills != lw_store_kills(c->s->st) || from < c->pc_from ||
	    ss.last_seq < c->pc_last) {
		c->pc_n = count_range(c, from, ss.last_seq);
	} else {
		c->pc_n -= count_range(c, c->pc_from, from - 1);
		c->pc_n += count_range(c, c->pc_last + 1, ss.last_seq);
	}
	c->pc_from = from;
	c->pc_last = ss.last_seq;
	c->pc_kills = lw_store_kills(c->s->st);
	c->pc_valid = true;
	return c->pc_n + (c->npre - c->ipre);
}


static int64_t ack_wait_for(struct lw_consumer *c, uint32_t deliveries)
{
	size_t n = json_array_size(c->backoff);

	if (n > 0) {
		size_t i = deliveries > 0 ? deliveries - 1 : 0;

		return (int64_t)json_integer_value(json_array_get(c->backoff, i < n ? i : n - 1));
	}
	return c->ack_wait;
}

void lw_cons_status(struct lw_ctl *ctl, const char *to, const char *hdr)
{
	struct lw_pubmsg pm = { .subject = to, .hdr = hdr, .hdr_len = strlen(hdr) };

	lw_publish_msg(ctl->c, &pm);
}

static void waiting_del(struct lw_consumer *c, size_t i)
{
	free(c->w[i].reply);
	memmove(c->w + i, c->w + i + 1, (c->nw - i - 1) * sizeof(*c->w));
	c->nw--;
	c->dirty = true; /* the state file lists the waiting requests */
}


/* --- delivery ------------------------------------------------------------------------------- */

static void advisory_max_deliver(struct lw_consumer *c, struct pend *p)
{
	lw_ctl_adv_delivery(c, "MAX_DELIVERIES", "max_deliver", p->sseq, 0, p->deliveries);
	lw_stream_dead_letter(c->s, c->name, p->sseq, p->deliveries, "max_deliver");
}

/* Ends pull request @p i with status @p status ("408 Request Timeout"),
 * telling the client what it did not get (Nats-Pending-Messages / -Bytes:
 * nats.js and nats.c account their outstanding pulls by them, and a fetch
 * ends at once instead of at its own expiry). */
static void end_request(struct lw_consumer *c, size_t i, const char *status)
{
	const struct waiting *w = &c->w[i];
	char h[192];

	snprintf(h, sizeof(h), "NATS/1.0 %s\r\nNats-Pending-Messages: %lld\r\n"
		 "Nats-Pending-Bytes: %lld\r\n\r\n", status, (long long)w->batch,
		 (long long)(w->max_bytes > 0 ? w->max_bytes : 0));
	lw_cons_status(c->s->ctl, w->reply, h);
	waiting_del(c, i);
}

/* A headers_only delivery's header block, as nats-server's: the stored
 * headers (or a new block) plus the payload's size in Nats-Msg-Size.
 * malloc()ed, length in *@p len; NULL when out of memory. */
static char *size_only_headers(const struct lw_store_rec *r, size_t *len)
{
	size_t keep = r->hdr_len >= 4 ? r->hdr_len - 2 : 0; /* up to the blank line */
	char *h = malloc(keep + 64);

	if (h == NULL)
		return NULL;
	if (keep == 0) {
		memcpy(h, "NATS/1.0\r\n", 10);
		keep = 10;
	} else {
		memcpy(h, r->hdr, keep);
	}
	*len = keep + (size_t)snprintf(h + keep, 64, "Nats-Msg-Size: %zu\r\n\r\n",
				       (size_t)r->data_len);
	return h;
}

static char *put_u64(char *p, uint64_t v)
{
	char t[20];
	int n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = t[--n];
	return p;
}

/* $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
 * into @p out (LW_JS_NAME_MAX names and five 20-digit numbers fit in
 * a subject: asserted below). Built by hand: it is formed for every message
 * delivered, and snprintf was 12 % of a pull batch's cost. */
_Static_assert(8 + 2 * LW_JS_NAME_MAX + 6 + 5 * 20 + 1 <= LW_SUBJECT_MAX,
	       "an ack subject fits a subject");

static void ack_subject(char *out, const struct lw_consumer *c, uint32_t deliveries, uint64_t sseq,
			uint64_t ts, uint64_t pending)
{
	size_t ls = strlen(c->s->name), lc = strlen(c->name);
	char *p = out;

	memcpy(p, "$JS.ACK.", 8);
	p += 8;
	memcpy(p, c->s->name, ls);
	p += ls;
	*p++ = '.';
	memcpy(p, c->name, lc);
	p += lc;
	*p++ = '.';
	p = put_u64(p, deliveries);
	*p++ = '.';
	p = put_u64(p, sseq);
	*p++ = '.';
	p = put_u64(p, c->dseq);
	*p++ = '.';
	p = put_u64(p, ts);
	*p++ = '.';
	p = put_u64(p, pending);
	*p = '\0';
}

/* Sends stream message @p sseq to @p to; returns bytes sent, -1 when it
 * is gone, -2 when a pull request's inbox has no subscriber, -3 when a
 * push consumer's deliver subject has none or the fabric refused it for
 * now (pool exhausted, receiver's ring full past the block timeout): not
 * sent, nothing recorded, the timer tries again; -4 when it is larger
 * than @p max_bytes (> 0), what a pull request has left. */
static int64_t send_one(struct lw_consumer *c, const char *to, uint64_t sseq, uint32_t deliveries,
			uint64_t pending, int64_t max_bytes)
{
	int rc;
	struct lw_store_rec r;
	char ack[LW_SUBJECT_MAX * 2];
	struct lw_pubmsg pm = { 0 };
	int64_t now = lw_now_wall_ns();
	char *hdr_buf = NULL;
	int64_t wire;

	if ((rc = lw_store_get(c->s->st, sseq, &r)) != 0) {
		/* Passed over: a record that fails its CRC cannot be sent.
		 * Said once per consumer and sequence, not in silence. */
		if (rc == -EBADMSG && c->bad_logged != sseq) {
			fprintf(stderr, "lw-control: consumer %s > %s: %s: passed over\n", c->s->name,
				c->name, lw_errmsg());
			c->bad_logged = sseq;
		}
		return -1;
	}
	c->dseq++;
	ack_subject(ack, c, deliveries, sseq, (uint64_t)r.ts, pending);
	/* A pull request's max_bytes counts as nats-server's does: subject,
	 * reply subject, headers and data. */
	wire = (int64_t)(strlen(r.subject) + strlen(ack) + r.hdr_len +
			 (c->headers_only ? 0 : r.data_len));
	if (max_bytes > 0 && wire > max_bytes) {
		c->dseq--;
		lw_store_rec_free(&r);
		return -4;
	}
	/* Routed to the requester's inbox or the deliver subject, seen under
	 * the stored subject: clients tell their status messages (subject ==
	 * inbox) from messages that way, as with nats-server. */
	pm.subject = r.subject;
	pm.deliver_subject = to;
	pm.reply = ack;
	pm.hdr = r.hdr;
	pm.hdr_len = r.hdr_len;
	pm.data = r.data;
	pm.len = r.data_len;
	if (c->headers_only) {
		hdr_buf = size_only_headers(&r, &pm.hdr_len);
		if (hdr_buf == NULL) {
			c->dseq--;
			lw_store_rec_free(&r);
			return -3;
		}
		pm.hdr = hdr_buf;
		pm.data = NULL;
		pm.len = 0;
	}
	rc = lw_publish_msg(c->s->ctl->c, &pm);
	free(hdr_buf);
	if (rc <= 0) {
		/* Not delivered: nobody listens (a pull request's client went
		 * away; a push consumer's subscriber is not there yet, as
		 * nats-server, deliver only once someone is), or the fabric
		 * refused it for now. */
		c->dseq--;
		lw_store_rec_free(&r);
		return rc == 0 && c->deliver_subject == NULL ? -2 : -3;
	}
	lw_store_rec_free(&r);
	if (c->ack != AP_NONE) {
		struct pend *p = lw_cons_pend_find(c, sseq);

		if (p == NULL)
			p = lw_cons_pend_add(c, sseq);
		if (p != NULL) {
			p->cseq = c->dseq;
			p->deliveries = deliveries;
			lw_cons_pend_due(c, p, now + ack_wait_for(c, deliveries));
		}
	}
	c->dirty = true;
	c->last_active = now;
	c->last_delivered_ns = now;
	/* pull: what counts against max_bytes; push: what flow control
	 * counts (headers and data) */
	return c->deliver_subject == NULL ? wire : (int64_t)(pm.len + pm.hdr_len);
}

/* nats-server's window: 32 MiB at most, starting at 1/16 of it. */
#define FC_LIMIT (32LL << 20)

void lw_cons_fc_reset(struct lw_consumer *c)
{
	c->fc_limit = FC_LIMIT;
	c->maxpb = c->fc ? FC_LIMIT / 16 : 0;
	c->pbytes = 0;
	c->fcsz = 0;
	c->fcid[0] = '\0';
}

/* After a push delivery of @p sz bytes: asks for flow control once half
 * the window is in flight and none is outstanding. */
static void fc_account(struct lw_consumer *c, int64_t sz)
{
	struct lw_pubmsg pm = { .hdr = "NATS/1.0 100 FlowControl Request\r\n\r\n", .hdr_len = 36 };
	static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	unsigned r = (unsigned)random();
	char id[5];

	c->pbytes += sz;
	if (c->fcid[0] != '\0') {
		/* Bytes sent after the request are settled by the next one. */
		if (c->pbytes - c->fcsz >= c->maxpb)
			c->fcsz += sz;
		return;
	}
	if (c->pbytes <= c->maxpb / 2)
		return;
	for (int i = 0; i < 4; i++, r /= 36)
		id[i] = digits[r % 36];
	id[4] = '\0';
	snprintf(c->fcid, sizeof(c->fcid), "$JS.FC.%s.%s.%s", c->s->name, c->name, id);
	c->fcsz = c->pbytes;
	pm.subject = c->deliver_subject;
	pm.reply = c->fcid;
	lw_publish_msg(c->s->ctl->c, &pm);
}

/* The client answered flow-control request @p subj. */
static void cons_fc_reply(struct lw_consumer *c, const char *subj)
{
	if (c->fcid[0] == '\0' || strcmp(subj, c->fcid) != 0)
		return;
	if (c->maxpb < c->fc_limit)
		c->maxpb = c->maxpb * 2 < c->fc_limit ? c->maxpb * 2 : c->fc_limit;
	c->pbytes = c->pbytes > c->fcsz ? c->pbytes - c->fcsz : 0;
	c->fcsz = 0;
	c->fcid[0] = '\0';
	lw_cons_deliver(c);
}

/* An idle heartbeat's status line and the last sequences sent, which
 * ordered consumers check for gaps (push and pull alike, as nats-server);
 * without the blank line that ends the headers. */
static int heartbeat_hdr(const struct lw_consumer *c, char *h, size_t cap)
{
	return snprintf(h, cap, "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: %llu\r\n"
			"Nats-Last-Stream: %llu\r\n", (unsigned long long)c->dseq,
			(unsigned long long)(c->next_sseq > 0 ? c->next_sseq - 1 : 0));
}

static void push_heartbeat(struct lw_consumer *c, int64_t now)
{
	char h[LW_SUBJECT_MAX + 160];
	struct lw_pubmsg pm = { .subject = c->deliver_subject, .hdr = h };
	int n = heartbeat_hdr(c, h, sizeof(h));

	/* Tells the client delivery waits for its flow-control answer (it
	 * may have missed the request). */
	if (c->fcid[0] != '\0')
		n += snprintf(h + n, sizeof(h) - (size_t)n, "Nats-Consumer-Stalled: %s\r\n", c->fcid);
	n += snprintf(h + n, sizeof(h) - (size_t)n, "\r\n");
	pm.hdr_len = (size_t)n;
	lw_publish_msg(c->s->ctl->c, &pm);
	c->last_push = now;
}

/* replay_policy original: may stream message @p q go out at @p now? The
 * timer (every 20 ms) tries again when it is early. */
static bool replay_due(struct lw_consumer *c, uint64_t q, int64_t now)
{
	struct lw_store_rec r;
	int64_t ts;

	if (!c->replay_orig || lw_store_get(c->s->st, q, &r) != 0)
		return true;
	ts = r.ts;
	lw_store_rec_free(&r);
	if (c->rp_ts0 == 0 || ts < c->rp_ts0) {
		c->rp_ts0 = ts;
		c->rp_wall0 = now;
		return true;
	}
	return now - c->rp_wall0 >= ts - c->rp_ts0;
}

/* Picks the next message to deliver: a due redelivery first, then the
 * last_per_subject list, then new ones. *redeliver tells which. */
static uint64_t pick(struct lw_consumer *c, int64_t now, bool *redeliver, uint32_t *deliveries)
{
	int64_t lb = INT64_MAX;

	for (size_t i = 0; i < c->np && now >= c->due_lb; i++) {
		struct pend *p = &c->p[i];

		if (p->deadline > now) {
			if (p->deadline < lb)
				lb = p->deadline;
			continue;
		}
		if (lw_store_subject(c->s->st, p->sseq) == NULL) {
			lw_cons_pend_del(c, p);
			i--;
			continue;
		}
		if (c->max_deliver > 0 && (int64_t)p->deliveries >= c->max_deliver) {
			advisory_max_deliver(c, p);
			lw_cons_pend_del(c, p);
			i--;
			lw_cons_floor_moved(c);
			continue;
		}
		*redeliver = true;
		*deliveries = p->deliveries + 1;
		return p->sseq;
	}
	/* Nothing due: every deadline left was seen (or none was due yet). */
	if (now >= c->due_lb)
		c->due_lb = lb;
	*redeliver = false;
	*deliveries = 1;
	if (c->ack != AP_NONE && c->max_ack_pending > 0 && (int64_t)c->np >= c->max_ack_pending)
		return 0;
	while (c->ipre < c->npre) {
		uint64_t q = c->pre[c->ipre];

		if (lw_store_subject(c->s->st, q) != NULL) {
			if (!replay_due(c, q, now))
				return 0;
			c->ipre++;
			return q;
		}
		c->ipre++;
	}
	{
		uint64_t q = cnext(c, c->next_sseq);

		return q != 0 && replay_due(c, q, now) ? q : 0;
	}
}

void lw_cons_deliver(struct lw_consumer *c)
{
	int64_t now = lw_now_wall_ns();

	for (int guard = 0; guard < 100000; guard++) {
		const char *to;
		bool redeliver;
		uint32_t deliveries;
		uint64_t q;
		int64_t sent;

		if (c->deliver_subject != NULL) {
			/* Stalled until the client answers flow control. */
			if (c->fc && c->pbytes > c->maxpb)
				return;
			to = c->deliver_subject;
		} else if (c->nw > 0)
			to = c->w[0].reply;
		else
			return;
		uint64_t next0 = c->next_sseq;
		size_t ipre0 = c->ipre;

		q = pick(c, now, &redeliver, &deliveries);
		if (q == 0) {
			/* A no_wait request that waited (it had an expiry) ends
			 * once it got what there was. */
			if (c->deliver_subject == NULL)
				lw_cons_end_no_wait(c);
			return;
		}
		if (!redeliver && q >= c->next_sseq)
			c->next_sseq = q + 1;
		sent = send_one(c, to, q, deliveries, lw_cons_pending(c),
				c->deliver_subject == NULL ? c->w[0].max_bytes : 0);
		if (sent == -4) {
			/* The next message does not fit what the pull request
			 * has left: it ends with nats-server's 409, and the
			 * message stays for the next request. */
			c->next_sseq = next0;
			c->ipre = ipre0;
			end_request(c, 0, "409 Message Size Exceeds MaxBytes");
			continue;
		}
		if (sent == -2) {
			/* Nobody listens on that pull request's inbox any more
			 * (the client went away): drop the request, keep the
			 * message for the next one, as nats-server does. */
			c->next_sseq = next0;
			c->ipre = ipre0;
			waiting_del(c, 0);
			continue;
		}
		if (sent == -3) {
			/* Try again from the timer rather than lose it. */
			c->next_sseq = next0;
			c->ipre = ipre0;
			c->retry = true;
			return;
		}
		if (c->deliver_subject != NULL && sent >= 0) {
			c->last_push = now;
			if (c->fc)
				fc_account(c, sent);
		}
		if (c->ack == AP_NONE) {
			lw_cons_floor_moved(c);
			lw_stream_acked(c->s, q);
		}
		if (c->deliver_subject == NULL && sent >= 0) {
			struct waiting *w = &c->w[0];

			bool bytes_done = false;

			w->delivered++;
			if (w->max_bytes > 0) {
				w->max_bytes -= sent;
				bytes_done = w->max_bytes <= 0;
			}
			if (--w->batch <= 0 || bytes_done)
				waiting_del(c, 0);
		}
	}
}

/* Ends pull requests that cannot be served now (no_wait). */
void lw_cons_end_no_wait(struct lw_consumer *c)
{
	for (size_t i = 0; i < c->nw; i++) {
		if (!c->w[i].no_wait)
			continue;
		/* as nats-server: 404 when nothing came, 408 (with what the
		 * request had left) when part of the batch did; with an
		 * expiry and nothing there, it waits (up to its expiry) for
		 * the first messages instead */
		if (c->w[i].delivered > 0) {
			end_request(c, i, "408 Request Timeout");
		} else if (c->w[i].expires > 0) {
			continue;
		} else {
			lw_cons_status(c->s->ctl, c->w[i].reply, "NATS/1.0 404 No Messages\r\n\r\n");
			waiting_del(c, i);
		}
		i--;
	}
}

bool lw_consumers_all_acked(struct lw_stream *s, uint64_t seq)
{
	const char *subj = lw_store_subject(s->st, seq);

	if (subj == NULL)
		return false;
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next) {
		if (!lw_cons_match(c, subj))
			continue;
		if (seq >= c->next_sseq || lw_cons_pend_find(c, seq) != NULL)
			return false;
		for (size_t i = c->ipre; i < c->npre; i++)
			if (c->pre[i] == seq)
				return false;
	}
	return true;
}

void lw_consumers_disconnected(struct lw_stream *s)
{
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next) {
		while (c->nw > 0)
			waiting_del(c, c->nw - 1);
		if (c->fc)
			lw_cons_fc_reset(c);
	}
}

void lw_consumers_retry(struct lw_stream *s)
{
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next)
		if (c->retry && c->deliver_subject != NULL) {
			c->retry = false;
			lw_cons_deliver(c);
		}
}

void lw_consumers_rewind(struct lw_stream *s, uint64_t from)
{
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next) {
		if (c->next_sseq > from)
			c->next_sseq = from;
		while (c->np > 0 && c->p[c->np - 1].sseq >= from)
			c->np--;
		c->pc_valid = false;
	}
}

void lw_consumers_removed(struct lw_stream *s)
{
	struct lw_store_state ss;

	lw_store_get_state(s->st, &ss);
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next) {
		size_t k = 0;

		for (size_t i = 0; i < c->np; i++)
			if (lw_store_subject(s->st, c->p[i].sseq) != NULL)
				c->p[k++] = c->p[i];
		if (k != c->np) {
			c->np = k;
			c->dirty = true;
		}
		if (c->next_sseq < ss.first_seq && c->ipre >= c->npre) {
			c->next_sseq = ss.first_seq;
			c->dirty = true;
		}
		c->pc_valid = false;
		lw_cons_floor_moved(c);
	}
	lw_consumers_notify(s);
}

void lw_consumers_notify(struct lw_stream *s)
{
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next)
		if (c->nw > 0 || c->deliver_subject != NULL)
			lw_cons_deliver(c);
}

static void consumer_free(struct lw_consumer *c)
{
	for (size_t i = 0; i < c->nw; i++)
		free(c->w[i].reply);
	free(c->w);
	free(c->pbase);
	free(c->pre);
	free(c->deliver_subject);
	json_decref(c->filters);
	json_decref(c->backoff);
	json_decref(c->cfg);
	free(c);
}

void lw_cons_delete(struct lw_consumer *c, bool destroy)
{
	struct lw_stream *s = c->s;

	for (struct lw_consumer **pp = &s->consumers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (destroy) {
		char path[PATH_MAX];

		/* Pull requests still waiting learn why nothing will come. */
		for (size_t i = 0; i < c->nw; i++)
			lw_cons_status(s->ctl, c->w[i].reply, "NATS/1.0 409 Consumer Deleted\r\n\r\n");

		lw_cons_path(c, path, sizeof(path), false);
		unlink(path);
		lw_ctl_adv_consumer(s->ctl, s->name, c->name, "delete");
	}
	consumer_free(c);
	if (destroy)
		lw_stream_interest_sweep(s);
}

void lw_consumers_free(struct lw_stream *s, bool destroy)
{
	while (s->consumers != NULL) {
		if (!destroy && s->consumers->dirty)
			lw_cons_save(s->consumers);
		lw_cons_delete(s->consumers, destroy);
	}
}

void lw_consumers_tick(struct lw_stream *s, int64_t now)
{
	struct lw_consumer *c, *next;

	for (c = s->consumers; c != NULL; c = next) {
		next = c->next;
		for (size_t i = 0; i < c->nw; i++) {
			struct waiting *w = &c->w[i];

			if (w->expires > 0 && now >= w->expires) {
				end_request(c, i, "408 Request Timeout");
				i--;
				continue;
			}
			if (w->expires > 0 && (s->ctl->next_due == 0 || w->expires < s->ctl->next_due))
				s->ctl->next_due = w->expires;
			if (w->hb_ns > 0 && now >= w->next_hb) {
				char h[160];
				int n = heartbeat_hdr(c, h, sizeof(h) - 2);

				snprintf(h + n, sizeof(h) - (size_t)n, "\r\n");
				lw_cons_status(s->ctl, w->reply, h);
				w->next_hb = now + w->hb_ns;
			}
		}
		/* Redeliveries (and replay_policy original messages, and
		 * deliveries that found nobody listening) that came due;
		 * before the heartbeat, which says nothing is waiting. */
		if ((c->np > 0 || c->replay_orig || c->retry) &&
		    (c->nw > 0 || c->deliver_subject != NULL)) {
			c->retry = false;
			lw_cons_deliver(c);
		} else if (c->np > 0 && now >= c->due_lb)
			for (size_t i = 0; i < c->np; i++)
				if (c->max_deliver > 0 && c->p[i].deadline <= now &&
				    (int64_t)c->p[i].deliveries >= c->max_deliver) {
					advisory_max_deliver(c, &c->p[i]);
					lw_cons_pend_del(c, &c->p[i]);
					lw_cons_floor_moved(c);
					c->dirty = true;
					i--;
				}
		if (c->deliver_subject != NULL && c->hb_ns > 0 && now - c->last_push >= c->hb_ns)
			push_heartbeat(c, now);
		/* An ephemeral's file only serves an lw-control restart: once a
		 * second is enough (a KV watcher changes with every message). */
		if (c->dirty && (c->durable || now - c->saved_ns >= 1000000000LL))
			lw_cons_save(c);
		if (c->inactive_ns > 0 && c->nw == 0 &&
		    now - c->last_active > c->inactive_ns) {
			/* A push consumer lives while its deliver subject has
			 * interest: probe with an idle heartbeat (clients skip
			 * those), which reaches no one once the subscriber left. */
			if (c->deliver_subject != NULL) {
				struct lw_pubmsg pm = { .subject = c->deliver_subject,
					.hdr = "NATS/1.0 100 Idle Heartbeat\r\n\r\n", .hdr_len = 31 };

				if (lw_publish_msg(s->ctl->c, &pm) > 0) {
					c->last_active = now;
					continue;
				}
			}
			lw_cons_delete(c, true);
		}
	}
}

/* --- acks --------------------------------------------------------------------------------- */

void lw_ctl_ack_cb(lw_sub *sub, lw_msg *m, void *arg)
{
	struct lw_ctl *ctl = arg;
	const char *subj = lw_msg_subject(m), *tok[16];
	char buf[LW_SUBJECT_MAX + 1];
	const char *body = lw_msg_data(m);
	size_t len = lw_msg_len(m), nt = 0;
	struct lw_stream *s;
	struct lw_consumer *c;
	uint64_t sseq;

	(void)sub;
	/* Split on '.' by hand: one of these arrives per message a consumer
	 * delivers, and snprintf + strtok were 12 % of a pull batch's cost.
	 * Subjects have no empty tokens (the fabric refuses them). */
	{
		size_t n = strnlen(subj, LW_SUBJECT_MAX);
		char *t = buf;

		memcpy(buf, subj, n);
		buf[n] = '\0';
		tok[nt++] = t;
		for (char *d = memchr(t, '.', n); d != NULL && nt < 16;
		     d = memchr(d + 1, '.', (size_t)(buf + n - (d + 1)))) {
			*d = '\0';
			tok[nt++] = d + 1;
		}
	}
	if (nt == 5 && strcmp(tok[1], "FC") == 0) {
		/* $JS.FC.<stream>.<consumer>.<id>: a flow-control answer */
		pthread_mutex_lock(&ctl->mu);
		s = lw_stream_find(ctl, tok[2]);
		c = s ? lw_cons_find(s, tok[3]) : NULL;
		if (c != NULL)
			cons_fc_reply(c, subj);
		pthread_mutex_unlock(&ctl->mu);
		return;
	}
	if (nt != 9)
		return;
	pthread_mutex_lock(&ctl->mu);
	s = lw_stream_find(ctl, tok[2]);
	c = s ? lw_cons_find(s, tok[3]) : NULL;
	sseq = strtoull(tok[5], NULL, 10);
	if (c != NULL) {
		struct pend *p = lw_cons_pend_find(c, sseq);
		int64_t now = lw_now_wall_ns();

		c->last_active = now;
		if (len == 0 || (len >= 4 && memcmp(body, "+ACK", 4) == 0) ||
		    (len >= 4 && memcmp(body, "+NXT", 4) == 0)) {
			c->last_acked_ns = now;
			if (c->ack == AP_ALL) {
				while (c->np > 0 && c->p[0].sseq <= sseq) {
					uint64_t q = c->p[0].sseq;

					lw_cons_pend_del(c, &c->p[0]);
					lw_stream_acked(s, q);
				}
			} else if (p != NULL) {
				lw_cons_pend_del(c, p);
				lw_stream_acked(s, sseq);
			}
		} else if (len >= 4 && memcmp(body, "-NAK", 4) == 0) {
			if (p != NULL) {
				int64_t delay = 0;

				if (len > 5) {
					json_t *j = json_loadb(body + 5, len - 5, 0, NULL);

					delay = cint(j, "delay", 0);
					json_decref(j);
				}
				lw_cons_pend_due(c, p, now + delay);
			}
		} else if (len >= 4 && memcmp(body, "+WPI", 4) == 0) {
			if (p != NULL)
				p->deadline = now + ack_wait_for(c, p->deliveries);
		} else if (len >= 5 && memcmp(body, "+TERM", 5) == 0) {
			/* As nats-server: the message is done for this consumer,
			 * and a MSG_TERMINATED advisory says so. */
			if (p != NULL) {
				lw_ctl_adv_delivery(c, "MSG_TERMINATED", "terminated", sseq,
					 strtoull(tok[6], NULL, 10), p->deliveries);
				lw_cons_pend_del(c, p);
				/* done with, as an ack: a work queue or an
				 * interest stream lets it go */
				lw_stream_acked(s, sseq);
			}
		}
		lw_cons_floor_moved(c);
		c->dirty = true;
		if (c->nw > 0 || c->deliver_subject != NULL)
			lw_cons_deliver(c);
	}
	if (lw_msg_reply(m) != NULL)
		lw_respond(ctl->c, m, "", 0);
	pthread_mutex_unlock(&ctl->mu);
}
