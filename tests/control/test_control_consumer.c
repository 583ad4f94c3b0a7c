/* SPDX-License-Identifier: MIT */
/*
 * lw-control consumers end to end with the real nats.c JetStream API:
 * pull consumers (fetch + ack, redelivery after ack_wait), -NAK and
 * max_deliver with its advisory and dead letters, work-queue retention,
 * replay from a sequence and a time, push consumers, and the same flow
 * from a shared-memory client.
 */
#include <pthread.h>

#include "js_fixture.h"

static void test_pull_consumer(void **state)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	natsMsgList list = { 0 };
	jsErrCode ec = 0;
	jsConsumerInfo *ci = NULL;
	natsStatus s;

	(void)state;
	add_stream("WORK", "work.*", NULL);
	for (int i = 0; i < 7; i++)
		pub("work.a", "job", NULL, NULL);
	jsSubOptions_Init(&so);
	so.Stream = "WORK";
	so.Config.AckWait = 400 * 1000000LL;
	s = js_PullSubscribe(&sub, g_js, "work.a", "worker", NULL, &so, &ec);
	if (s != NATS_OK)
		fprintf(stderr, "js_PullSubscribe: %s (%d) %s\n", natsStatus_GetText(s), ec,
			nats_GetLastError(NULL));
	assert_int_equal(s, NATS_OK);
	s = natsSubscription_Fetch(&list, sub, 5, 2000, &ec);
	assert_int_equal(s, NATS_OK);
	assert_int_equal(list.Count, 5);
	for (int i = 0; i < list.Count; i++) {
		jsMsgMetaData *md = NULL;

		assert_int_equal(natsMsg_GetMetaData(&md, list.Msgs[i]), NATS_OK);
		assert_int_equal(md->Sequence.Stream, (uint64_t)i + 1);
		assert_int_equal(md->NumDelivered, 1);
		assert_string_equal(md->Stream, "WORK");
		assert_string_equal(md->Consumer, "worker");
		jsMsgMetaData_Destroy(md);
		assert_int_equal(natsMsg_Ack(list.Msgs[i], NULL), NATS_OK);
	}
	natsMsgList_Destroy(&list);
	/* Two left, the third fetch slot times out. */
	s = natsSubscription_Fetch(&list, sub, 3, 500, &ec);
	assert_true(s == NATS_OK || s == NATS_TIMEOUT);
	assert_int_equal(list.Count, 2);
	/* Ack only the first: the second is redelivered after ack_wait. */
	assert_int_equal(natsMsg_AckSync(list.Msgs[0], NULL, &ec), NATS_OK);
	natsMsgList_Destroy(&list);
	lw_test_sleep_ms(500);
	s = natsSubscription_Fetch(&list, sub, 1, 2000, &ec);
	assert_int_equal(s, NATS_OK);
	assert_int_equal(list.Count, 1);
	{
		jsMsgMetaData *md = NULL;

		assert_int_equal(natsMsg_GetMetaData(&md, list.Msgs[0]), NATS_OK);
		assert_int_equal(md->Sequence.Stream, 7);
		assert_int_equal(md->NumDelivered, 2);
		jsMsgMetaData_Destroy(md);
	}
	/* num_redelivered counts redelivered messages still unacked, as
	 * nats-server's: 1 now, 0 once it is acked */
	assert_int_equal(js_GetConsumerInfo(&ci, g_js, "WORK", "worker", NULL, &ec), NATS_OK);
	assert_int_equal(ci->NumRedelivered, 1);
	jsConsumerInfo_Destroy(ci);
	assert_int_equal(natsMsg_Ack(list.Msgs[0], NULL), NATS_OK);
	natsMsgList_Destroy(&list);
	lw_test_sleep_ms(50);
	assert_int_equal(js_GetConsumerInfo(&ci, g_js, "WORK", "worker", NULL, &ec), NATS_OK);
	assert_int_equal(ci->NumAckPending, 0);
	assert_int_equal(ci->NumPending, 0);
	assert_int_equal(ci->Delivered.Stream, 7);
	assert_int_equal(ci->AckFloor.Stream, 7);
	assert_int_equal(ci->NumRedelivered, 0);
	jsConsumerInfo_Destroy(ci);
	natsSubscription_Destroy(sub);

	/* Consumer state survives a restart: nothing is delivered again. */
	restart(SIGTERM);
	assert_int_equal(js_GetConsumerInfo(&ci, g_js, "WORK", "worker", NULL, &ec), NATS_OK);
	assert_int_equal(ci->Delivered.Stream, 7);
	assert_int_equal(ci->NumAckPending, 0);
	jsConsumerInfo_Destroy(ci);
	pub("work.a", "late", NULL, NULL);
	sub = NULL;
	assert_int_equal(js_PullSubscribe(&sub, g_js, "work.a", "worker", NULL, &so, &ec), NATS_OK);
	s = natsSubscription_Fetch(&list, sub, 5, 1000, &ec);
	assert_true(s == NATS_OK || s == NATS_TIMEOUT);
	assert_int_equal(list.Count, 1);
	assert_memory_equal(natsMsg_GetData(list.Msgs[0]), "late", 4);
	natsMsg_Ack(list.Msgs[0], NULL);
	natsMsgList_Destroy(&list);
	natsSubscription_Destroy(sub);
}

/* A pull consumer on a wildcard subject: nats.c names the filter in the
 * request subject ($JS.API.CONSUMER.CREATE.WILD.w.wild.*.new), which the
 * gateway must route with '*' as a plain token, as nats-server does. */
static void test_wildcard_filter(void **state)
{
	natsSubscription *sub = NULL;
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	natsMsgList list = { 0 };
	jsErrCode ec = 0;
	natsStatus s;

	(void)state;
	add_stream("WILD", "wild.>", NULL);
	pub("wild.eu.new", "1", NULL, NULL);
	pub("wild.eu.old", "2", NULL, NULL);
	pub("wild.us.new", "3", NULL, NULL);
	jsConsumerConfig_Init(&cc);
	cc.Name = "w";
	cc.Durable = "w";
	cc.FilterSubject = "wild.*.new";
	cc.AckPolicy = js_AckExplicit;
	assert_int_equal(js_AddConsumer(&ci, g_js, "WILD", &cc, NULL, &ec), NATS_OK);
	assert_string_equal(ci->Config->FilterSubject, "wild.*.new");
	assert_int_equal(ci->NumPending, 2);
	jsConsumerInfo_Destroy(ci);
	jsSubOptions_Init(&so);
	so.Stream = "WILD";
	assert_int_equal(js_PullSubscribe(&sub, g_js, "wild.*.new", "w", NULL, &so, &ec), NATS_OK);
	s = natsSubscription_Fetch(&list, sub, 5, 1000, &ec);
	assert_true(s == NATS_OK || s == NATS_TIMEOUT);
	assert_int_equal(list.Count, 2);
	assert_string_equal(natsMsg_GetSubject(list.Msgs[0]), "wild.eu.new");
	assert_string_equal(natsMsg_GetSubject(list.Msgs[1]), "wild.us.new");
	for (int i = 0; i < list.Count; i++)
		natsMsg_Ack(list.Msgs[i], NULL);
	natsMsgList_Destroy(&list);
	natsSubscription_Destroy(sub);
}

/* max_deliver: after two unacked deliveries the message is dropped from
 * the consumer and a MAX_DELIVERIES advisory is published; -NAK
 * redelivers at once. */
static void test_nak_max_deliver(void **state)
{
	natsSubscription *sub = NULL, *adv = NULL;
	jsSubOptions so;
	natsMsgList list = { 0 };
	jsErrCode ec = 0;
	natsMsg *m = NULL;
	natsStatus s;

	(void)state;
	add_stream("MAXD", "maxd", NULL);
	pub("maxd", "poison", NULL, NULL);
	assert_int_equal(natsConnection_SubscribeSync(&adv, g_nc,
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.MAXD.>"), NATS_OK);
	natsConnection_Flush(g_nc);
	jsSubOptions_Init(&so);
	so.Stream = "MAXD";
	so.Config.AckWait = 200 * 1000000LL;
	so.Config.MaxDeliver = 3;
	assert_int_equal(js_PullSubscribe(&sub, g_js, "maxd", "md", NULL, &so, &ec), NATS_OK);
	assert_int_equal(natsSubscription_Fetch(&list, sub, 1, 2000, &ec), NATS_OK);
	assert_int_equal(list.Count, 1);
	/* -NAK: back at once, second delivery. */
	assert_int_equal(natsMsg_Nak(list.Msgs[0], NULL), NATS_OK);
	natsMsgList_Destroy(&list);
	assert_int_equal(natsSubscription_Fetch(&list, sub, 1, 2000, &ec), NATS_OK);
	{
		jsMsgMetaData *md = NULL;

		natsMsg_GetMetaData(&md, list.Msgs[0]);
		assert_int_equal(md->NumDelivered, 2);
		jsMsgMetaData_Destroy(md);
	}
	natsMsgList_Destroy(&list);
	/* Not acked: third delivery after ack_wait, then no more. */
	assert_int_equal(natsSubscription_Fetch(&list, sub, 1, 2000, &ec), NATS_OK);
	natsMsgList_Destroy(&list);
	lw_test_sleep_ms(300);
	s = natsSubscription_Fetch(&list, sub, 1, 600, &ec);
	assert_int_equal(s, NATS_TIMEOUT);
	natsMsgList_Destroy(&list);
	assert_int_equal(natsSubscription_NextMsg(&m, adv, 2000), NATS_OK);
	assert_non_null(strstr(natsMsg_GetData(m), "\"stream_seq\":1"));
	assert_non_null(strstr(natsMsg_GetData(m), "max_deliver"));
	natsMsg_Destroy(m);
	natsSubscription_Destroy(adv);

	/* The dead letter: in DLQ_MAXD with why, when and where from,
	 * readable without consuming it. */
	const char *v = NULL;
	jsStreamInfo *si = info("DLQ_MAXD");

	assert_int_equal(si->State.Msgs, 1);
	jsStreamInfo_Destroy(si);
	assert_int_equal(js_GetMsg(&m, g_js, "DLQ_MAXD", 1, NULL, &ec), NATS_OK);
	assert_memory_equal(natsMsg_GetData(m), "poison", 6);
	assert_int_equal(natsMsgHeader_Get(m, "Lw-Dead-Reason", &v), NATS_OK);
	assert_string_equal(v, "max_deliver");
	assert_int_equal(natsMsgHeader_Get(m, "Lw-Dead-Stream-Seq", &v), NATS_OK);
	assert_string_equal(v, "1");
	assert_int_equal(natsMsgHeader_Get(m, "Lw-Dead-Consumer", &v), NATS_OK);
	assert_string_equal(v, "md");
	assert_int_equal(natsMsgHeader_Get(m, "Lw-Dead-Deliveries", &v), NATS_OK);
	assert_string_equal(v, "3");
	assert_int_equal(natsMsgHeader_Get(m, "Lw-Dead-Time", &v), NATS_OK);
	natsMsg_Destroy(m);

	/* Redrive: back into MAXD as a new message, delivered again. */
	{
		lw_conn *c = lw_test_connect(&g_t.d);
		lw_msg *r = NULL;

		assert_int_equal(lw_request(c, "$JS.API.STREAM.REDRIVE.MAXD", "", 0, 2000, &r), LW_OK);
		assert_non_null(memmem(lw_msg_data(r), lw_msg_len(r), "\"redriven\":1", 12));
		lw_msg_free(r);
		lw_close(c);
	}
	si = info("DLQ_MAXD");
	assert_int_equal(si->State.Msgs, 0);
	jsStreamInfo_Destroy(si);
	assert_int_equal(natsSubscription_Fetch(&list, sub, 1, 2000, &ec), NATS_OK);
	{
		jsMsgMetaData *md = NULL;

		natsMsg_GetMetaData(&md, list.Msgs[0]);
		assert_int_equal(md->Sequence.Stream, 2);
		assert_int_equal(md->NumDelivered, 1);
		jsMsgMetaData_Destroy(md);
	}
	assert_memory_equal(natsMsg_GetData(list.Msgs[0]), "poison", 6);
	assert_int_equal(natsMsgHeader_Get(list.Msgs[0], "Lw-Dead-Reason", &v), NATS_NOT_FOUND);
	natsMsg_Ack(list.Msgs[0], NULL);
	natsMsgList_Destroy(&list);
	natsSubscription_Destroy(sub);
}

static void wq(jsStreamConfig *c) { c->Retention = js_WorkQueuePolicy; }

/* Work-queue retention: an acked message leaves the stream. */
static void test_workqueue(void **state)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	natsMsgList list = { 0 };
	jsErrCode ec = 0;
	jsStreamInfo *si;

	(void)state;
	add_stream("WQ", "wq.*", wq);
	for (int i = 0; i < 4; i++)
		pub("wq.job", "task", NULL, NULL);
	jsSubOptions_Init(&so);
	so.Stream = "WQ";
	assert_int_equal(js_PullSubscribe(&sub, g_js, "wq.job", "wqw", NULL, &so, &ec), NATS_OK);
	assert_int_equal(natsSubscription_Fetch(&list, sub, 3, 2000, &ec), NATS_OK);
	assert_int_equal(list.Count, 3);
	for (int i = 0; i < list.Count; i++)
		assert_int_equal(natsMsg_AckSync(list.Msgs[i], NULL, &ec), NATS_OK);
	natsMsgList_Destroy(&list);
	si = info("WQ");
	assert_int_equal(si->State.Msgs, 1);
	assert_int_equal(si->State.FirstSeq, 4);
	jsStreamInfo_Destroy(si);
	natsSubscription_Destroy(sub);
}

/* Replay from a sequence and from a time; a push consumer. */
static void test_replay_and_push(void **state)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	natsMsgList list = { 0 };
	jsErrCode ec = 0;
	natsMsg *m = NULL;

	(void)state;
	add_stream("REPLAY", "replay.*", NULL);
	for (int i = 1; i <= 5; i++)
		pub("replay.a", "old", NULL, NULL);
	/* New messages, until one has a stored time (the server's clock: vCPU
	 * clocks may differ) later than the one before it and a fraction of a
	 * second >= 0.1: nats.c 3.4 encodes opt_start_time's nanoseconds
	 * without zero padding (".029" becomes ".29"), nats-server would read
	 * it wrong the same way. */
	uint64_t start = 0, last = 0;
	int64_t tstart = 0, tprev = 0;

	for (int n = 0; n < 200 && (n < 3 || start == 0); n++) {
		natsMsg *gm = NULL;
		int64_t t;

		lw_test_sleep_ms(15);
		last = pub("replay.a", "new", NULL, NULL);
		assert_int_equal(js_GetMsg(&gm, g_js, "REPLAY", last, NULL, &ec), NATS_OK);
		t = natsMsg_GetTime(gm);
		natsMsg_Destroy(gm);
		if (start == 0 && tprev > 0 && t > tprev && t % 1000000000LL >= 100000000LL) {
			start = last;
			tstart = t;
		}
		tprev = t;
	}
	assert_true(start > 5);

	jsSubOptions_Init(&so);
	so.Stream = "REPLAY";
	so.Config.DeliverPolicy = js_DeliverByStartSequence;
	so.Config.OptStartSeq = 4;
	assert_int_equal(js_PullSubscribe(&sub, g_js, "replay.a", "from4", NULL, &so, &ec), NATS_OK);
	assert_int_equal(natsSubscription_Fetch(&list, sub, 256, 500, &ec), NATS_OK);
	assert_int_equal(list.Count, (int)(last - 3));
	{
		jsMsgMetaData *md = NULL;

		natsMsg_GetMetaData(&md, list.Msgs[0]);
		assert_int_equal(md->Sequence.Stream, 4);
		jsMsgMetaData_Destroy(md);
	}
	natsMsgList_Destroy(&list);
	natsSubscription_Destroy(sub);

	jsSubOptions_Init(&so);
	so.Stream = "REPLAY";
	so.Config.DeliverPolicy = js_DeliverByStartTime;
	so.Config.OptStartTime = tstart;
	sub = NULL;
	assert_int_equal(js_PullSubscribe(&sub, g_js, "replay.a", "fromt", NULL, &so, &ec), NATS_OK);
	{
		natsStatus fs = natsSubscription_Fetch(&list, sub, 256, 500, &ec);

		if (fs != NATS_OK)
			fprintf(stderr, "fetch: %s, %d msgs, %s\n", natsStatus_GetText(fs), list.Count,
				nats_GetLastError(NULL));
		assert_int_equal(fs, NATS_OK);
	}
	assert_int_equal(list.Count, (int)(last - start + 1));
	{
		jsMsgMetaData *md = NULL;

		natsMsg_GetMetaData(&md, list.Msgs[0]);
		assert_int_equal(md->Sequence.Stream, start);
		jsMsgMetaData_Destroy(md);
	}
	assert_memory_equal(natsMsg_GetData(list.Msgs[0]), "new", 3);
	natsMsgList_Destroy(&list);
	natsSubscription_Destroy(sub);

	/* Push: nats.c creates a consumer with a deliver subject. */
	jsSubOptions_Init(&so);
	so.Stream = "REPLAY";
	so.Config.DeliverPolicy = js_DeliverLast;
	sub = NULL;
	assert_int_equal(js_SubscribeSync(&sub, g_js, "replay.a", NULL, &so, &ec), NATS_OK);
	assert_int_equal(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
	{
		jsMsgMetaData *md = NULL;

		natsMsg_GetMetaData(&md, m);
		assert_int_equal(md->Sequence.Stream, last);
		jsMsgMetaData_Destroy(md);
	}
	natsMsg_Ack(m, NULL);
	natsMsg_Destroy(m);
	pub("replay.a", "live", NULL, NULL);
	assert_int_equal(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
	assert_memory_equal(natsMsg_GetData(m), "live", 4);
	natsMsg_Ack(m, NULL);
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
}

/* Push flow control and idle heartbeats: without answers delivery stalls
 * at the window (heartbeats then name the pending request), an answer
 * resumes it; nats.c's own push subscription answers by itself. */
#define FC_MSGS 3000
#define FC_SIZE 1024

static void test_push_flow_control(void **state)
{
	static char body[FC_SIZE];
	natsSubscription *raw = NULL, *sub = NULL;
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode ec = 0;
	natsMsg *m = NULL;
	char fc_reply[256] = "";
	int data = 0, stalled_hb = 0;

	(void)state;
	memset(body, 'f', sizeof(body));
	add_stream("FCS", "fcs.>", NULL);
	for (int i = 0; i < FC_MSGS; i++)
		assert_int_equal(natsConnection_Publish(g_nc, "fcs.data", body, FC_SIZE), NATS_OK);
	for (int i = 0; i < 200; i++) {
		jsStreamInfo *si = info("FCS");
		uint64_t n = si->State.Msgs;

		jsStreamInfo_Destroy(si);
		if (n == FC_MSGS)
			break;
		lw_test_sleep_ms(20);
	}
	/* flow control needs heartbeats, and a push consumer; a deliver
	 * subject inside the stream's subjects would loop */
	jsConsumerConfig_Init(&cc);
	cc.Durable = "fcloop";
	cc.DeliverSubject = "fcs.out";
	assert_int_not_equal(js_AddConsumer(&ci, g_js, "FCS", &cc, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10081);
	jsConsumerConfig_Init(&cc);
	cc.Durable = "fcbad";
	cc.DeliverSubject = "fcout.bad";
	cc.FlowControl = true;
	assert_int_not_equal(js_AddConsumer(&ci, g_js, "FCS", &cc, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10108);
	cc.DeliverSubject = NULL;
	cc.Heartbeat = 200000000;
	assert_int_not_equal(js_AddConsumer(&ci, g_js, "FCS", &cc, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10089);

	assert_int_equal(natsConnection_SubscribeSync(&raw, g_nc, "fcout.raw"), NATS_OK);
	natsSubscription_SetPendingLimits(raw, -1, -1);
	jsConsumerConfig_Init(&cc);
	cc.Durable = "fcraw";
	cc.DeliverSubject = "fcout.raw";
	cc.AckPolicy = js_AckNone;
	cc.FlowControl = true;
	cc.Heartbeat = 200000000; /* 200 ms */
	assert_int_equal(js_AddConsumer(&ci, g_js, "FCS", &cc, NULL, &ec), NATS_OK);
	jsConsumerInfo_Destroy(ci);
	/* Not answering: delivery stops short of the stream, and an idle
	 * heartbeat says which request it waits for. */
	while (stalled_hb == 0 && natsSubscription_NextMsg(&m, raw, 1500) == NATS_OK) {
		const char *st = NULL, *desc = NULL, *stalled = NULL;

		natsMsgHeader_Get(m, "Status", &st);
		natsMsgHeader_Get(m, "Description", &desc);
		if (st == NULL) {
			assert_string_equal(natsMsg_GetSubject(m), "fcs.data");
			data++;
		} else if (strcmp(st, "100") == 0 && natsMsg_GetReply(m) != NULL) {
			assert_string_equal(desc, "FlowControl Request");
			assert_int_equal(strncmp(natsMsg_GetReply(m), "$JS.FC.FCS.fcraw.", 17), 0);
			snprintf(fc_reply, sizeof(fc_reply), "%s", natsMsg_GetReply(m));
		} else if (strcmp(st, "100") == 0 &&
			   natsMsgHeader_Get(m, "Nats-Consumer-Stalled", &stalled) == NATS_OK) {
			assert_string_equal(desc, "Idle Heartbeat");
			assert_string_equal(stalled, fc_reply);
			stalled_hb++;
		}
		natsMsg_Destroy(m);
	}
	assert_int_equal(stalled_hb, 1);
	assert_true(fc_reply[0] != '\0');
	assert_true(data > 500);
	assert_true(data < FC_MSGS);
	/* Answering (as clients do) lets the rest through. */
	assert_int_equal(natsConnection_Publish(g_nc, fc_reply, NULL, 0), NATS_OK);
	while (data < FC_MSGS && natsSubscription_NextMsg(&m, raw, 2000) == NATS_OK) {
		const char *st = NULL;

		if (natsMsgHeader_Get(m, "Status", &st) != NATS_OK)
			data++;
		else if (natsMsg_GetReply(m) != NULL)
			natsConnection_Publish(g_nc, natsMsg_GetReply(m), NULL, 0);
		natsMsg_Destroy(m);
	}
	assert_int_equal(data, FC_MSGS);
	natsSubscription_Destroy(raw);

	/* nats.c's push subscription with flow control and heartbeats */
	jsSubOptions_Init(&so);
	so.Stream = "FCS";
	so.Config.FlowControl = true;
	so.Config.Heartbeat = 200000000;
	so.Config.AckPolicy = js_AckNone;
	assert_int_equal(js_SubscribeSync(&sub, g_js, "fcs.data", NULL, &so, &ec), NATS_OK);
	natsSubscription_SetPendingLimits(sub, -1, -1);
	data = 0;
	while (data < FC_MSGS && natsSubscription_NextMsg(&m, sub, 2000) == NATS_OK) {
		data++;
		natsMsg_Destroy(m);
	}
	assert_int_equal(data, FC_MSGS);
	/* then idle heartbeats only, which nats.c does not hand to the user */
	assert_int_equal(natsSubscription_NextMsg(&m, sub, 500), NATS_TIMEOUT);
	natsSubscription_Destroy(sub);
}

static const char *shm_api(lw_conn *c, const char *subj, const char *body)
{
	static char out[4096];
	lw_msg *r = NULL;

	assert_int_equal(lw_request(c, subj, body, strlen(body), 2000, &r), LW_OK);
	snprintf(out, sizeof(out), "%.*s", (int)lw_msg_len(r), (const char *)lw_msg_data(r));
	lw_msg_free(r);
	return out;
}

/* The whole JetStream flow from a shared-memory client, no NATS client:
 * create a stream and a durable, publish with PubAcks, pull with a bare
 * number as the request body, ack on the $JS.ACK reply subject. */
static void test_shm_consumer(void **state)
{
	lw_conn *c = lw_test_connect(&g_t.d);
	struct lw_sub_opts so;
	lw_sub *inbox = NULL;
	lw_msg *m = NULL;

	(void)state;
	assert_non_null(c);
	assert_non_null(strstr(shm_api(c, "$JS.API.STREAM.CREATE.SHMC",
				       "{\"name\":\"SHMC\",\"subjects\":[\"shmc.>\"]}"),
			       "\"did_create\":true"));
	assert_non_null(strstr(shm_api(c, "$JS.API.CONSUMER.DURABLE.CREATE.SHMC.d",
				       "{\"stream_name\":\"SHMC\",\"config\":{\"durable_name\":\"d\","
				       "\"ack_policy\":\"explicit\"}}"),
			       "\"num_pending\":0"));
	for (int i = 1; i <= 3; i++) {
		char want[64];

		snprintf(want, sizeof(want), "{\"stream\":\"SHMC\",\"seq\":%d}", i);
		assert_string_equal(shm_api(c, "shmc.job", "work"), want);
	}
	/* A pull request whose inbox nobody listens on (its client is gone)
	 * takes nothing: message 1 stays first, delivered once, below. */
	struct lw_pubmsg pm = { .subject = "$JS.API.CONSUMER.MSG.NEXT.SHMC.d",
				.reply = "shm.inbox.gone", .data = "2", .len = 1 };

	assert_true(lw_publish_msg(c, &pm) >= 1);
	assert_true(LW_TEST_WAIT(strstr(shm_api(c, "$JS.API.CONSUMER.INFO.SHMC.d", ""),
					"\"num_waiting\":0") != NULL, 2000));
	lw_sub_opts_init(&so);
	assert_int_equal(lw_subscribe(c, "shm.inbox.1", &so, &inbox), LW_OK);
	pm.reply = "shm.inbox.1";
	assert_true(lw_publish_msg(c, &pm) >= 1);
	for (int i = 1; i <= 2; i++) {
		char prefix[64];

		assert_int_equal(lw_next(inbox, &m, 2000), LW_OK);
		snprintf(prefix, sizeof(prefix), "$JS.ACK.SHMC.d.1.%d.%d.", i, i);
		assert_non_null(lw_msg_reply(m));
		assert_memory_equal(lw_msg_reply(m), prefix, strlen(prefix));
		assert_memory_equal(lw_msg_data(m), "work", 4);
		assert_true(lw_publish(c, lw_msg_reply(m), "+ACK", 4) >= 1);
		lw_msg_free(m);
	}
	assert_true(LW_TEST_WAIT(strstr(shm_api(c, "$JS.API.CONSUMER.INFO.SHMC.d", ""),
					"\"num_ack_pending\":0") != NULL, 2000));
	assert_non_null(strstr(shm_api(c, "$JS.API.CONSUMER.INFO.SHMC.d", ""), "\"num_pending\":1"));
	lw_unsubscribe(inbox);
	lw_close(c);
}

/* A push consumer whose subscriber is not there yet keeps its backlog
 * through an lw-control restart and delivers it as soon as the
 * subscriber comes, without waiting for a new message to be stored. */
static void test_push_backlog_after_restart(void **state)
{
	lw_conn *c = lw_test_connect(&g_t.d);
	struct lw_sub_opts so;
	lw_sub *out = NULL;
	lw_msg *m = NULL;

	(void)state;
	assert_non_null(c);
	assert_non_null(strstr(shm_api(c, "$JS.API.STREAM.CREATE.PBL",
				       "{\"name\":\"PBL\",\"subjects\":[\"pbl.*\"]}"),
			       "\"did_create\":true"));
	assert_non_null(strstr(shm_api(c, "$JS.API.CONSUMER.DURABLE.CREATE.PBL.p",
				       "{\"stream_name\":\"PBL\",\"config\":{\"durable_name\":\"p\","
				       "\"deliver_subject\":\"pblout.x\",\"ack_policy\":\"none\"}}"),
			       "\"num_pending\":0"));
	assert_string_equal(shm_api(c, "pbl.a", "one"), "{\"stream\":\"PBL\",\"seq\":1}");
	assert_string_equal(shm_api(c, "pbl.a", "two"), "{\"stream\":\"PBL\",\"seq\":2}");
	restart(SIGTERM);
	lw_sub_opts_init(&so);
	assert_int_equal(lw_subscribe(c, "pblout.x", &so, &out), LW_OK);
	assert_int_equal(lw_next(out, &m, 3000), LW_OK);
	assert_memory_equal(lw_msg_data(m), "one", 3);
	lw_msg_free(m);
	assert_int_equal(lw_next(out, &m, 3000), LW_OK);
	assert_memory_equal(lw_msg_data(m), "two", 3);
	lw_msg_free(m);
	lw_unsubscribe(out);
	lw_close(c);
}


/* An ephemeral push consumer (what a KV watcher or an ordered consumer
 * makes) outlives a restart of lw-control alone: NATS connections stay up
 * through it, so its client would otherwise wait for missed heartbeats
 * (nats.js: ~90 s) with nothing arriving. It goes on with the next
 * consumer sequence. */
static void test_ephemeral_after_restart(void **state)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsConsumerInfo *ci = NULL;
	jsErrCode ec = 0;
	natsMsg *m = NULL;
	char name[64];

	(void)state;
	add_stream("EPH", "eph.>", NULL);
	jsSubOptions_Init(&so);
	so.Stream = "EPH";
	so.Config.AckPolicy = js_AckNone;
	assert_int_equal(js_SubscribeSync(&sub, g_js, "eph.>", NULL, &so, &ec), NATS_OK);
	assert_int_equal(natsSubscription_GetConsumerInfo(&ci, sub, NULL, &ec), NATS_OK);
	snprintf(name, sizeof(name), "%s", ci->Name);
	jsConsumerInfo_Destroy(ci);
	pub("eph.a", "1", NULL, NULL);
	assert_int_equal(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
	natsMsg_Destroy(m);
	restart(SIGTERM);
	ci = NULL;
	assert_int_equal(js_GetConsumerInfo(&ci, g_js, "EPH", name, NULL, &ec), NATS_OK);
	assert_null(ci->Config->Durable);
	jsConsumerInfo_Destroy(ci);
	pub("eph.b", "2", NULL, NULL);
	assert_int_equal(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
	{
		jsMsgMetaData *md = NULL;

		assert_int_equal(natsMsg_GetMetaData(&md, m), NATS_OK);
		assert_int_equal(md->Sequence.Stream, 2);
		assert_int_equal(md->Sequence.Consumer, 2);
		jsMsgMetaData_Destroy(md);
	}
	assert_memory_equal(natsMsg_GetData(m), "2", 1);
	natsMsg_Destroy(m);
	/* Its client gone, it is removed after inactive_threshold (5 s)
	 * as before: restored ephemerals do not pile up. */
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	restart(SIGTERM);
	for (int i = 0; i < 80; i++) {
		ci = NULL;
		if (js_GetConsumerInfo(&ci, g_js, "EPH", name, NULL, &ec) != NATS_OK)
			break;
		jsConsumerInfo_Destroy(ci);
		lw_test_sleep_ms(100);
	}
	assert_int_equal(ec, 10014);
}

struct fetch_arg {
	natsSubscription *sub;
	int count;
};

static void *fetch_one(void *p)
{
	struct fetch_arg *a = p;
	natsMsgList l = { 0 };
	jsErrCode ec = 0;

	natsSubscription_Fetch(&l, a->sub, 1, 8000, &ec);
	a->count = l.Count;
	for (int i = 0; i < l.Count; i++)
		natsMsg_Ack(l.Msgs[i], NULL);
	natsMsgList_Destroy(&l);
	return NULL;
}

/* A pull request waiting when lw-control restarts (lwd, and so the
 * client's inbox, stay) is still served after it: the fetch gets the
 * message published after the restart, as a consume() keeps going,
 * instead of waiting out its expiry or missed heartbeats. */
static void test_pull_waiting_after_restart(void **state)
{
	struct fetch_arg a = { 0 };
	jsSubOptions so;
	jsErrCode ec = 0;
	pthread_t t;

	(void)state;
	add_stream("PWR", "pwr.*", NULL);
	jsSubOptions_Init(&so);
	so.Stream = "PWR";
	assert_int_equal(js_PullSubscribe(&a.sub, g_js, "pwr.*", "pw", NULL, &so, &ec), NATS_OK);
	a.count = -1;
	pthread_create(&t, NULL, fetch_one, &a);
	lw_test_sleep_ms(300);
	restart(SIGTERM);
	pub("pwr.a", "after", NULL, NULL);
	pthread_join(t, NULL);
	assert_int_equal(a.count, 1);
	natsSubscription_Destroy(a.sub);
}

static int64_t fetch_ms(natsSubscription *sub, int64_t expires_ms, bool no_wait, int *count)
{
	jsFetchRequest r;
	natsMsgList l = { 0 };
	int64_t t0 = nats_Now();

	jsFetchRequest_Init(&r);
	r.Batch = 10;
	r.Expires = expires_ms * 1000000LL;
	r.NoWait = no_wait;
	natsSubscription_FetchRequest(&l, sub, &r);
	*count = l.Count;
	for (int i = 0; i < l.Count; i++)
		natsMsg_Ack(l.Msgs[i], NULL);
	natsMsgList_Destroy(&l);
	return nats_Now() - t0;
}

/* nats.c asks for an expiry 10 ms shorter than its own deadline and
 * tells the statuses of its fetches apart by inbox only: a 408 that
 * comes later than that lands in the next fetch, which then ends at
 * once with nothing. Fetch after fetch must each wait their expiry. */
static void test_fetch_expiry_on_time(void **state)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode ec = 0;
	int n = -1;

	(void)state;
	add_stream("EXPT", "expt.*", NULL);
	jsSubOptions_Init(&so);
	so.Stream = "EXPT";
	assert_int_equal(js_PullSubscribe(&sub, g_js, "expt.*", "ex", NULL, &so, &ec), NATS_OK);
	for (int round = 0; round < 3; round++) {
		assert_true(fetch_ms(sub, 300, true, &n) >= 250);
		assert_int_equal(n, 0);
		pub("expt.a", "x", NULL, NULL);
		fetch_ms(sub, 1000, false, &n);
		assert_int_equal(n, 1);
	}
	natsSubscription_Destroy(sub);
}

/* A push durable with a subscriber is bound (push_bound in its info):
 * nats.c refuses a second plain subscriber, which would otherwise get
 * every message again; once the first leaves, a new one may bind. */
static void test_push_bound(void **state)
{
	natsSubscription *a = NULL, *b = NULL;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode ec = 0;
	natsMsg *m = NULL;

	(void)state;
	jsConsumerConfig cc;

	add_stream("BOUND", "bound.>", NULL);
	/* Made here, not by js_SubscribeSync: nats.c deletes a consumer it
	 * made itself when its subscription goes. */
	jsConsumerConfig_Init(&cc);
	cc.Durable = "pb";
	cc.DeliverSubject = "pbout.deliver";
	cc.AckPolicy = js_AckExplicit;
	assert_int_equal(js_AddConsumer(&ci, g_js, "BOUND", &cc, NULL, &ec), NATS_OK);
	assert_false(ci->PushBound);
	jsConsumerInfo_Destroy(ci);
	jsSubOptions_Init(&so);
	so.Stream = "BOUND";
	so.Consumer = "pb";
	assert_int_equal(js_SubscribeSync(&a, g_js, "bound.x", NULL, &so, &ec), NATS_OK);
	assert_int_equal(js_GetConsumerInfo(&ci, g_js, "BOUND", "pb", NULL, &ec), NATS_OK);
	assert_true(ci->PushBound);
	jsConsumerInfo_Destroy(ci);
	assert_int_not_equal(js_SubscribeSync(&b, g_js, "bound.x", NULL, &so, &ec), NATS_OK);
	assert_null(b);
	pub("bound.x", "one", NULL, NULL);
	assert_int_equal(natsSubscription_NextMsg(&m, a, 2000), NATS_OK);
	natsMsg_Ack(m, NULL);
	natsMsg_Destroy(m);
	/* Unsubscribe without deleting the durable: unbound, bindable. */
	assert_int_equal(natsSubscription_Drain(a), NATS_OK);
	assert_int_equal(natsSubscription_WaitForDrainCompletion(a, 2000), NATS_OK);
	natsSubscription_Destroy(a);
	assert_int_equal(js_GetConsumerInfo(&ci, g_js, "BOUND", "pb", NULL, &ec), NATS_OK);
	assert_false(ci->PushBound);
	jsConsumerInfo_Destroy(ci);
	assert_int_equal(js_SubscribeSync(&b, g_js, "bound.x", NULL, &so, &ec), NATS_OK);
	natsSubscription_Destroy(b);
}


/* Names in API subjects longer than any name lw-control keeps (64) are
 * not cut to a 64-byte prefix that names another stream or consumer. */
static void test_long_names_not_cut(void **state)
{
	char s64[65], c64[65], subj[300];
	lw_conn *c = lw_test_connect(&g_t.d);

	(void)state;
	assert_non_null(c);
	memset(s64, 'A', 64);
	s64[64] = '\0';
	memset(c64, 'c', 64);
	c64[64] = '\0';
	snprintf(subj, sizeof(subj), "$JS.API.STREAM.CREATE.%s", s64);
	assert_non_null(strstr(shm_api(c, subj, "{\"subjects\":[\"trunc.>\"]}"),
			       "\"did_create\":true"));
	char body[200];

	snprintf(body, sizeof(body), "{\"config\":{\"durable_name\":\"%s\",\"ack_policy\":"
		 "\"explicit\"}}", c64);
	snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.DURABLE.CREATE.%s.%s", s64, c64);
	assert_non_null(strstr(shm_api(c, subj, body), "\"num_pending\":0"));
	snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.DURABLE.CREATE.%sXX.dur", s64);
	assert_non_null(strstr(shm_api(c, subj, "{\"config\":{\"durable_name\":\"dur\","
					       "\"ack_policy\":\"explicit\"}}"),
			       "\"err_code\":10059"));
	snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.INFO.%s.%sXX", s64, c64);
	assert_non_null(strstr(shm_api(c, subj, ""), "\"err_code\":10014"));
	snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.DELETE.%s.%sXX", s64, c64);
	assert_non_null(strstr(shm_api(c, subj, ""), "\"err_code\":10014"));
	snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.INFO.%s.%s", s64, c64);
	assert_non_null(strstr(shm_api(c, subj, ""), "\"num_pending\":0"));
	/* a deliver subject the fabric cannot route (over 256 bytes) */
	{
		char ds[300], big[400];

		memset(ds, 'x', sizeof(ds) - 1);
		ds[sizeof(ds) - 1] = '\0';
		snprintf(big, sizeof(big), "{\"config\":{\"ack_policy\":\"none\","
			 "\"deliver_subject\":\"%s\"}}", ds);
		snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.CREATE.%s", s64);
		assert_non_null(strstr(shm_api(c, subj, big), "\"err_code\":10112"));
	}
	lw_close(c);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pull_consumer),
		cmocka_unit_test(test_wildcard_filter),
		cmocka_unit_test(test_nak_max_deliver),
		cmocka_unit_test(test_workqueue),
		cmocka_unit_test(test_replay_and_push),
		cmocka_unit_test(test_push_flow_control),
		cmocka_unit_test(test_shm_consumer),
		cmocka_unit_test(test_push_backlog_after_restart),
		cmocka_unit_test(test_ephemeral_after_restart),
		cmocka_unit_test(test_fetch_expiry_on_time),
		cmocka_unit_test(test_pull_waiting_after_restart),
		cmocka_unit_test(test_push_bound),
		cmocka_unit_test(test_long_names_not_cut),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
