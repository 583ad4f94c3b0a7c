/* SPDX-License-Identifier: MIT */
/*
 * The JetStream advisories of lifecycle and audit, as nats-server
 * publishes them, so tools that watch $JS.EVENT.> (nats events, audit
 * collectors, dashboards) see what happens to streams and consumers:
 *
 *   $JS.EVENT.ADVISORY.STREAM.CREATED|UPDATED|DELETED.<stream>
 *       io.nats.jetstream.advisory.v1.stream_action
 *   $JS.EVENT.ADVISORY.CONSUMER.CREATED|DELETED.<stream>.<consumer>
 *       io.nats.jetstream.advisory.v1.consumer_action
 *   $JS.EVENT.ADVISORY.API
 *       io.nats.jetstream.advisory.v1.api_audit (request and response bodies)
 *   $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES|MSG_TERMINATED.<stream>.<consumer>
 *       max_deliver, terminated (these always: dead letters are news)
 *
 * Each is built only when someone subscribes (lw_interest): the audit
 * copies every API answer, which an idle fabric should not pay for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_ctl.h"
#include "lw_ctl_consumer_pvt.h"

static bool wanted(struct lw_ctl *ctl, const char *subj)
{
	return ctl->c != NULL && lw_interest(ctl->c, subj) > 0;
}

/* type, id and timestamp: the head of every advisory. */
static json_t *head(const char *kind)
{
	char type[80], id[23], ts[40];

	snprintf(type, sizeof(type), "io.nats.jetstream.advisory.v1.%s", kind);
	lw_ctl_event_id(id);
	lw_fmt_time(lw_now_wall_ns(), ts, sizeof(ts));
	return json_pack("{s:s, s:s, s:s}", "type", type, "id", id, "timestamp", ts);
}

static const char *event_of(const char *action)
{
	return !strcmp(action, "create") ? "CREATED" :
	       !strcmp(action, "delete") ? "DELETED" : "UPDATED";
}

void lw_ctl_adv_stream(struct lw_ctl *ctl, const char *stream, const char *action)
{
	char subj[LW_SUBJECT_MAX + 1];
	json_t *a;

	snprintf(subj, sizeof(subj), "$JS.EVENT.ADVISORY.STREAM.%s.%s", event_of(action), stream);
	if (!wanted(ctl, subj))
		return;
	a = head("stream_action");
	json_object_set_new(a, "stream", json_string(stream));
	json_object_set_new(a, "action", json_string(action));
	lw_ctl_reply_json(ctl, subj, a);
}

void lw_ctl_adv_consumer(struct lw_ctl *ctl, const char *stream, const char *consumer,
			 const char *action)
{
	char subj[LW_SUBJECT_MAX + 1];
	json_t *a;

	snprintf(subj, sizeof(subj), "$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", event_of(action),
		 stream, consumer);
	if (!wanted(ctl, subj))
		return;
	a = head("consumer_action");
	json_object_set_new(a, "stream", json_string(stream));
	json_object_set_new(a, "consumer", json_string(consumer));
	json_object_set_new(a, "action", json_string(action));
	lw_ctl_reply_json(ctl, subj, a);
}

void lw_ctl_adv_api(struct lw_ctl *ctl, const char *subject, const void *req, size_t req_len,
		    const char *resp)
{
	static const char subj[] = "$JS.EVENT.ADVISORY.API";
	json_t *a;

	if (!wanted(ctl, subj))
		return;
	a = head("api_audit");
	json_object_set_new(a, "server", json_string(ctl->server));
	/* The client's account: every fabric client shares the global one. */
	json_object_set_new(a, "client", json_pack("{s:s}", "acc", "$G"));
	json_object_set_new(a, "subject", json_string(subject));
	/* Left out if not UTF-8 (json_stringn refuses it). */
	json_object_set_new(a, "request", json_stringn(req ? req : "", req ? req_len : 0));
	json_object_set_new(a, "response", json_string(resp));
	/* Not through lw_ctl_reply_json: it would audit this publish too. */
	char *s = json_dumps(a, JSON_COMPACT);

	if (s != NULL) {
		struct lw_pubmsg pm = { .subject = subj, .data = s, .len = strlen(s) };

		lw_publish_msg(ctl->c, &pm);
		free(s);
	}
	json_decref(a);
}

/* max_deliver / terminated: with the fields of the schema of that kind
 * (consumer_seq a string there; max_deliver has none, @p cseq 0). */
void lw_ctl_adv_delivery(struct lw_consumer *c, const char *event, const char *kind,
			 uint64_t sseq, uint64_t cseq, uint32_t deliveries)
{
	char subj[LW_SUBJECT_MAX + 1];
	json_t *a = head(kind);

	snprintf(subj, sizeof(subj), "$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", event, c->s->name,
		 c->name);
	json_object_set_new(a, "stream", json_string(c->s->name));
	json_object_set_new(a, "consumer", json_string(c->name));
	json_object_set_new(a, "stream_seq", json_integer((json_int_t)sseq));
	json_object_set_new(a, "deliveries", json_integer((json_int_t)deliveries));
	if (cseq != 0) {
		char n[24];

		snprintf(n, sizeof(n), "%llu", (unsigned long long)cseq);
		json_object_set_new(a, "consumer_seq", json_string(n));
	}
	lw_ctl_reply_json(c->s->ctl, subj, a);
}
