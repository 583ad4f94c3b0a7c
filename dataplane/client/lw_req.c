/* SPDX-License-Identifier: MIT */
/*
 * Request/reply over a per-connection inbox, as NATS clients do it: one
 * wildcard subscription "_INBOX.<conn>.*" made on the first request, and
 * each request gets a fresh last token so a late reply to an earlier,
 * timed-out request is recognised and dropped.
 *
 * "No responders" needs no round trip: the publisher matched the subject
 * itself, so zero deliveries means nobody could answer.
 */
#include <stdio.h>
#include <string.h>

#include "lw_client_pvt.h"

static int ensure_inbox(lw_conn *c)
{
	struct lw_sub_opts o;
	char subj[LW_SUBJECT_MAX + 1];

	if (c->inbox != NULL)
		return LW_OK;
	lw_sub_opts_init(&o);
	/* A reply that finds the inbox full replaces the oldest stale one. */
	o.policy = LW_SLOW_DROP_OLDEST;
	snprintf(subj, sizeof(subj), "%s.*", c->inbox_prefix);
	return lw_subscribe(c, subj, &o, &c->inbox);
}

int lw_request(lw_conn *c, const char *subject, const void *data, size_t len,
	       int timeout_ms, lw_msg **reply)
{
	char rsubj[LW_SUBJECT_MAX + 1];
	struct lw_pubmsg m = { .subject = subject, .data = data, .len = len };
	uint64_t deadline;
	int rc;

	if (c == NULL || subject == NULL || reply == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_request: NULL argument");
	*reply = NULL;
	pthread_mutex_lock(&c->req_lock);
	rc = ensure_inbox(c);
	if (rc != LW_OK)
		goto out;
	snprintf(rsubj, sizeof(rsubj), "%s.%llu", c->inbox_prefix,
		 (unsigned long long)++c->req_seq);
	m.reply = rsubj;
	rc = lw_publish_msg(c, &m);
	if (rc == 0) {
		rc = LW_SET_ERR(LW_ENORESPONDERS, "no subscriber for request on '%s'", subject);
		goto out;
	}
	if (rc < 0)
		goto out;
	deadline = lw_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
	for (;;) {
		uint64_t now = lw_now_ns();
		int left = timeout_ms < 0 ? -1 :
			   (now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000));
		lw_msg *r;

		if (left == 0 && timeout_ms >= 0) {
			rc = LW_SET_ERR(LW_ETIMEDOUT, "no reply to '%s' within %d ms", subject,
					timeout_ms);
			goto out;
		}
		rc = lw_next(c->inbox, &r, left);
		if (rc != LW_OK) {
			LW_APPEND_ERR("request on '%s'", subject);
			goto out;
		}
		if (strcmp(lw_msg_subject(r), rsubj) == 0) {
			/* A NATS responder behind the gateway may answer with a
			 * bare 503 status: that is "no responders" too. */
			if (lw_msg_status(r) == 503 && lw_msg_len(r) == 0) {
				lw_msg_free(r);
				rc = LW_SET_ERR(LW_ENORESPONDERS, "no responders on '%s'", subject);
				goto out;
			}
			*reply = r;
			rc = LW_OK;
			goto out;
		}
		lw_msg_free(r); /* late answer to an earlier request */
	}
out:
	pthread_mutex_unlock(&c->req_lock);
	return rc;
}

int lw_respond(lw_conn *c, const lw_msg *req, const void *data, size_t len)
{
	const char *r;

	if (c == NULL || req == NULL)
		return LW_SET_ERR(LW_EINVAL, "lw_respond: NULL argument");
	r = lw_msg_reply(req);
	if (r == NULL)
		return LW_SET_ERR(LW_EINVAL, "message on '%s' has no reply subject",
				  lw_msg_subject(req));
	return lw_publish(c, r, data, len);
}
