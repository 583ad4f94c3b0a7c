/* SPDX-License-Identifier: MIT */
/*
 * lw-control end to end with the real nats.c JetStream API through a
 * private lwd's NATS gateway: js_AddStream (and its errors), js_Publish
 * PubAcks with increasing sequences, Nats-Msg-Id de-duplication and
 * expectations, shared-memory publishers storing into the same stream,
 * stream info / names / get / delete / purge, limits (max_msgs discard
 * old and new, max_msg_size, max_msgs_per_subject), a restart (SIGTERM
 * and SIGKILL) keeping messages, sequences and the dedup window, and pull
 * consumers: fetch + ack, redelivery after ack_wait, max_deliver.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include <nats/nats.h>

#include "ctl_test.h"

static struct gw_test g_t;
static struct ctl_proc g_c;
static natsConnection *g_nc;
static jsCtx *g_js;

static void nats_up(void)
{
	natsOptions *o = NULL;
	jsOptions jo;

	assert_int_equal(natsOptions_Create(&o), NATS_OK);
	natsOptions_SetURL(o, g_t.url);
	natsOptions_SetAllowReconnect(o, false);
	natsOptions_SetTimeout(o, 3000);
	assert_int_equal(natsConnection_Connect(&g_nc, o), NATS_OK);
	natsOptions_Destroy(o);
	jsOptions_Init(&jo);
	jo.Wait = 3000;
	assert_int_equal(natsConnection_JetStream(&g_js, g_nc, &jo), NATS_OK);
}

static void nats_down(void)
{
	jsCtx_Destroy(g_js);
	natsConnection_Destroy(g_nc);
	g_js = NULL;
	g_nc = NULL;
}

static int group_setup(void **state)
{
	(void)state;
	if (gw_test_start(&g_t, 1, NULL) != 0)
		return -1;
	snprintf(g_c.domain, sizeof(g_c.domain), "%s", g_t.d.domain);
	snprintf(g_c.dir, sizeof(g_c.dir), "/tmp/lw-control-test-%d", (int)getpid());
	ctl_rm_tree(g_c.dir);
	if (ctl_start(&g_c) != 0)
		return -1;
	nats_up();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nats_down();
	nats_Close();
	ctl_stop(&g_c, SIGTERM);
	ctl_rm_tree(g_c.dir);
	return lw_test_daemon_stop(&g_t.d, SIGTERM) == 0 ? 0 : -1;
}

static void restart(int sig)
{
	assert_int_equal(ctl_stop(&g_c, sig), sig == SIGKILL ? 128 + SIGKILL : 0);
	assert_int_equal(ctl_start(&g_c), 0);
}

static void add_stream(const char *name, const char *subj, void (*tweak)(jsStreamConfig *))
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	const char *subjects[1] = { subj };

	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	if (tweak)
		tweak(&cfg);
	natsStatus s = js_AddStream(&si, g_js, &cfg, NULL, &ec);

	if (s != NATS_OK)
		fprintf(stderr, "js_AddStream %s: %s (%d) %s\n", name, natsStatus_GetText(s), ec,
			nats_GetLastError(NULL));
	assert_int_equal(s, NATS_OK);
	assert_string_equal(si->Config->Name, name);
	jsStreamInfo_Destroy(si);
}

static uint64_t pub(const char *subj, const char *data, const char *msg_id, bool *dup)
{
	jsPubOptions po;
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	uint64_t seq;

	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	natsStatus s = js_Publish(&pa, g_js, subj, data, (int)strlen(data), &po, &ec);

	if (s != NATS_OK)
		fprintf(stderr, "js_Publish %s: %s (%d) %s\n", subj, natsStatus_GetText(s), ec,
			nats_GetLastError(NULL));
	assert_int_equal(s, NATS_OK);
	seq = pa->Sequence;
	if (dup)
		*dup = pa->Duplicate;
	jsPubAck_Destroy(pa);
	return seq;
}

static jsStreamInfo *info(const char *name)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;

	assert_int_equal(js_GetStreamInfo(&si, g_js, name, NULL, &ec), NATS_OK);
	return si;
}

static void test_stream_create(void **state)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	const char *subjects[1] = { "orders.*" };

	(void)state;
	add_stream("ORDERS", "orders.*", NULL);
	/* The same config again: fine (idempotent). */
	add_stream("ORDERS", "orders.*", NULL);
	si = info("ORDERS");
	assert_int_equal(si->Config->SubjectsLen, 1);
	assert_string_equal(si->Config->Subjects[0], "orders.*");
	assert_int_equal(si->Config->Retention, js_LimitsPolicy);
	assert_int_equal(si->Config->Storage, js_FileStorage);
	assert_int_equal(si->Config->MaxMsgs, -1);
	assert_int_equal(si->Config->Duplicates, 120000000000LL);
	assert_int_equal(si->State.Msgs, 0);
	assert_true(si->Created > 0);
	jsStreamInfo_Destroy(si);

	/* Different config under the same name. */
	jsStreamConfig_Init(&cfg);
	cfg.Name = "ORDERS";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.MaxMsgs = 10;
	assert_int_not_equal(js_AddStream(&si, g_js, &cfg, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10058);
	/* Overlapping subjects. */
	subjects[0] = "orders.new";
	cfg.Name = "OTHER";
	ec = 0;
	assert_int_not_equal(js_AddStream(&si, g_js, &cfg, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10065);
	/* Unknown stream. */
	ec = 0;
	assert_int_equal(js_GetStreamInfo(&si, g_js, "NOPE", NULL, &ec), NATS_NOT_FOUND);

	jsAccountInfo *ai = NULL;

	assert_int_equal(js_GetAccountInfo(&ai, g_js, NULL, &ec), NATS_OK);
	assert_true(ai->Streams >= 1);
	jsAccountInfo_Destroy(ai);
}

static void test_publish_ack_dedup(void **state)
{
	jsPubOptions po;
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	jsStreamInfo *si;
	bool dup = true;

	(void)state;
	add_stream("PUB", "pub.>", NULL);
	for (uint64_t i = 1; i <= 10; i++)
		assert_int_equal(pub("pub.a", "hello", NULL, NULL), i);
	assert_int_equal(pub("pub.b.c", "x", "id-1", &dup), 11);
	assert_false(dup);
	assert_int_equal(pub("pub.b.c", "x", "id-1", &dup), 11);
	assert_true(dup);
	assert_int_equal(pub("pub.b.c", "y", "id-2", &dup), 12);
	assert_false(dup);

	/* Expectations. */
	jsPubOptions_Init(&po);
	po.ExpectLastSeq = 5;
	assert_int_not_equal(js_Publish(&pa, g_js, "pub.a", "z", 1, &po, &ec), NATS_OK);
	assert_int_equal(ec, 10071);
	jsPubOptions_Init(&po);
	po.ExpectLastSeq = 12;
	assert_int_equal(js_Publish(&pa, g_js, "pub.a", "z", 1, &po, &ec), NATS_OK);
	assert_int_equal(pa->Sequence, 13);
	assert_string_equal(pa->Stream, "PUB");
	jsPubAck_Destroy(pa);
	jsPubOptions_Init(&po);
	po.ExpectStream = "OTHER";
	ec = 0;
	assert_int_not_equal(js_Publish(&pa, g_js, "pub.a", "z", 1, &po, &ec), NATS_OK);
	assert_int_equal(ec, 10060);

	si = info("PUB");
	assert_int_equal(si->State.Msgs, 13);
	assert_int_equal(si->State.FirstSeq, 1);
	assert_int_equal(si->State.LastSeq, 13);
	assert_int_equal(si->State.NumSubjects, 2);
	jsStreamInfo_Destroy(si);
}

/* Shared-memory clients store into the same stream: with a reply subject
 * they get the PubAck, without one the message is stored silently. */
static void test_shm_publisher(void **state)
{
	lw_conn *c = lw_test_connect(&g_t.d);
	lw_msg *r = NULL;
	jsStreamInfo *si;

	(void)state;
	assert_non_null(c);
	add_stream("SHM", "shm.>", NULL);
	assert_int_equal(lw_request(c, "shm.one", "abc", 3, 2000, &r), LW_OK);
	assert_int_equal(lw_msg_len(r), strlen("{\"stream\":\"SHM\",\"seq\":1}"));
	assert_memory_equal(lw_msg_data(r), "{\"stream\":\"SHM\",\"seq\":1}", lw_msg_len(r));
	lw_msg_free(r);
	assert_true(lw_publish(c, "shm.two", "def", 3) >= 1);
	assert_true(LW_TEST_WAIT(({ jsStreamInfo *x = info("SHM");
				    int n = (int)x->State.Msgs; jsStreamInfo_Destroy(x); n == 2; }),
				 2000));
	si = info("SHM");
	assert_int_equal(si->State.LastSeq, 2);
	jsStreamInfo_Destroy(si);
	lw_close(c);
}

static void test_get_delete_purge(void **state)
{
	natsMsg *m = NULL;
	jsErrCode ec = 0;
	jsStreamNamesList *names = NULL;
	jsStreamInfo *si;
	bool found = false;

	(void)state;
	add_stream("GET", "get.*", NULL);
	for (int i = 1; i <= 6; i++) {
		char d[16];

		snprintf(d, sizeof(d), "v%d", i);
		pub(i % 2 ? "get.odd" : "get.even", d, NULL, NULL);
	}
	assert_int_equal(js_GetMsg(&m, g_js, "GET", 3, NULL, &ec), NATS_OK);
	assert_string_equal(natsMsg_GetSubject(m), "get.odd");
	assert_int_equal(natsMsg_GetDataLength(m), 2);
	assert_memory_equal(natsMsg_GetData(m), "v3", 2);
	natsMsg_Destroy(m);
	assert_int_equal(js_GetLastMsg(&m, g_js, "GET", "get.even", NULL, &ec), NATS_OK);
	assert_memory_equal(natsMsg_GetData(m), "v6", 2);
	natsMsg_Destroy(m);
	assert_int_equal(js_DeleteMsg(g_js, "GET", 3, NULL, &ec), NATS_OK);
	assert_int_equal(js_GetMsg(&m, g_js, "GET", 3, NULL, &ec), NATS_NOT_FOUND);
	si = info("GET");
	assert_int_equal(si->State.Msgs, 5);
	assert_int_equal(si->State.NumDeleted, 1);
	jsStreamInfo_Destroy(si);

	assert_int_equal(js_StreamNames(&names, g_js, NULL, &ec), NATS_OK);
	for (int i = 0; i < names->Count; i++)
		found |= strcmp(names->List[i], "GET") == 0;
	assert_true(found);
	jsStreamNamesList_Destroy(names);
	{
		jsStreamInfoList *list = NULL;

		found = false;
		assert_int_equal(js_Streams(&list, g_js, NULL, &ec), NATS_OK);
		for (int i = 0; i < list->Count; i++)
			if (strcmp(list->List[i]->Config->Name, "GET") == 0)
				found = list->List[i]->State.Msgs == 5;
		assert_true(found);
		jsStreamInfoList_Destroy(list);
	}

	assert_int_equal(js_PurgeStream(g_js, "GET", NULL, &ec), NATS_OK);
	si = info("GET");
	assert_int_equal(si->State.Msgs, 0);
	assert_int_equal(si->State.FirstSeq, 7);
	jsStreamInfo_Destroy(si);
	assert_int_equal(pub("get.odd", "after", NULL, NULL), 7);
	assert_int_equal(js_DeleteStream(g_js, "GET", NULL, &ec), NATS_OK);
	assert_int_equal(js_GetStreamInfo(&si, g_js, "GET", NULL, &ec), NATS_NOT_FOUND);
}

static void lim_old(jsStreamConfig *c) { c->MaxMsgs = 5; }
static void lim_new(jsStreamConfig *c) { c->MaxMsgs = 3; c->Discard = js_DiscardNew; }
static void lim_size(jsStreamConfig *c) { c->MaxMsgSize = 8; }
static void lim_subj(jsStreamConfig *c) { c->MaxMsgsPerSubject = 1; }

static void test_limits(void **state)
{
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	jsStreamInfo *si;

	(void)state;
	add_stream("LOLD", "lold", lim_old);
	for (int i = 0; i < 10; i++)
		pub("lold", "x", NULL, NULL);
	si = info("LOLD");
	assert_int_equal(si->State.Msgs, 5);
	assert_int_equal(si->State.FirstSeq, 6);
	jsStreamInfo_Destroy(si);

	add_stream("LNEW", "lnew", lim_new);
	for (int i = 0; i < 3; i++)
		pub("lnew", "x", NULL, NULL);
	assert_int_not_equal(js_Publish(&pa, g_js, "lnew", "x", 1, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10077);

	add_stream("LSIZE", "lsize", lim_size);
	pub("lsize", "12345678", NULL, NULL);
	ec = 0;
	assert_int_not_equal(js_Publish(&pa, g_js, "lsize", "123456789", 9, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10054);

	add_stream("KV", "kv.>", lim_subj);
	pub("kv.a", "1", NULL, NULL);
	pub("kv.b", "1", NULL, NULL);
	pub("kv.a", "2", NULL, NULL);
	pub("kv.a", "3", NULL, NULL);
	si = info("KV");
	assert_int_equal(si->State.Msgs, 2);
	assert_int_equal(si->State.NumSubjects, 2);
	jsStreamInfo_Destroy(si);
}

static void test_restart_keeps_messages(void **state)
{
	jsStreamInfo *si;
	natsMsg *m = NULL;
	jsErrCode ec = 0;
	bool dup = false;

	(void)state;
	add_stream("DUR", "dur.*", NULL);
	for (int i = 1; i <= 20; i++)
		pub("dur.x", "keep-me", NULL, NULL);
	pub("dur.y", "with-id", "unique-1", NULL);
	restart(SIGTERM);
	si = info("DUR");
	assert_int_equal(si->State.Msgs, 21);
	assert_int_equal(si->State.LastSeq, 21);
	jsStreamInfo_Destroy(si);
	/* The dedup window survives the restart; sequences go on. */
	assert_int_equal(pub("dur.y", "with-id", "unique-1", &dup), 21);
	assert_true(dup);
	assert_int_equal(pub("dur.x", "more", NULL, NULL), 22);
	/* Killed: what was acked is still there. */
	restart(SIGKILL);
	si = info("DUR");
	assert_int_equal(si->State.Msgs, 22);
	jsStreamInfo_Destroy(si);
	assert_int_equal(js_GetMsg(&m, g_js, "DUR", 22, NULL, &ec), NATS_OK);
	assert_memory_equal(natsMsg_GetData(m), "more", 4);
	natsMsg_Destroy(m);
	/* LOLD (max_msgs 5) still holds only the last five. */
	si = info("LOLD");
	assert_int_equal(si->State.Msgs, 5);
	assert_int_equal(si->State.FirstSeq, 6);
	jsStreamInfo_Destroy(si);
}

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
	assert_int_equal(natsMsg_Ack(list.Msgs[0], NULL), NATS_OK);
	natsMsgList_Destroy(&list);
	lw_test_sleep_ms(50);
	assert_int_equal(js_GetConsumerInfo(&ci, g_js, "WORK", "worker", NULL, &ec), NATS_OK);
	assert_int_equal(ci->NumAckPending, 0);
	assert_int_equal(ci->NumPending, 0);
	assert_int_equal(ci->Delivered.Stream, 7);
	assert_int_equal(ci->AckFloor.Stream, 7);
	assert_int_equal(ci->NumRedelivered, 1);
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

static void mem(jsStreamConfig *c) { c->Storage = js_MemoryStorage; }

/* Memory storage: the stream survives a restart, its messages do not. */
static void test_memory_stream(void **state)
{
	jsStreamInfo *si;

	(void)state;
	add_stream("MEM", "mem.>", mem);
	pub("mem.a", "x", NULL, NULL);
	pub("mem.b", "y", NULL, NULL);
	si = info("MEM");
	assert_int_equal(si->State.Msgs, 2);
	assert_int_equal(si->Config->Storage, js_MemoryStorage);
	jsStreamInfo_Destroy(si);
	restart(SIGTERM);
	si = info("MEM");
	assert_int_equal(si->State.Msgs, 0);
	jsStreamInfo_Destroy(si);
}

/* A record damaged on disk while lw-control was down: reported in the
 * stream state as lost, the rest served, appends go on. */
static void test_corrupt_segment(void **state)
{
	char path[512], buf[65536];
	jsStreamInfo *si;
	natsMsg *m = NULL;
	jsErrCode ec = 0;
	struct dirent *de;
	DIR *d;
	int fd;
	ssize_t n;

	(void)state;
	add_stream("CORR", "corr", NULL);
	for (int i = 1; i <= 10; i++) {
		char v[16];

		snprintf(v, sizeof(v), "c-%02d", i);
		pub("corr", v, NULL, NULL);
	}
	assert_int_equal(ctl_stop(&g_c, SIGTERM), 0);
	snprintf(path, sizeof(path), "%s/CORR/msgs", g_c.dir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".seg"))
			break;
	assert_non_null(de);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", de->d_name);
	closedir(d);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	n = pread(fd, buf, sizeof(buf), 0);
	char *p = memmem(buf, (size_t)n, "c-05", 4);

	assert_non_null(p);
	p[2] = 'X';
	assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
	close(fd);
	assert_int_equal(ctl_start(&g_c), 0);

	si = info("CORR");
	assert_int_equal(si->State.Msgs, 9);
	assert_non_null(si->State.Lost);
	assert_int_equal(si->State.Lost->MsgsLen, 1);
	assert_int_equal(si->State.Lost->Msgs[0], 5);
	jsStreamInfo_Destroy(si);
	assert_int_equal(js_GetMsg(&m, g_js, "CORR", 5, NULL, &ec), NATS_NOT_FOUND);
	assert_int_equal(js_GetMsg(&m, g_js, "CORR", 6, NULL, &ec), NATS_OK);
	assert_memory_equal(natsMsg_GetData(m), "c-06", 4);
	natsMsg_Destroy(m);
	assert_int_equal(pub("corr", "c-11", NULL, NULL), 11);
}

/* STREAM.UPDATE: lowered limits trim at once and stay trimmed after a
 * restart; new subjects are stored. */
static void test_update(void **state)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	const char *subjects[2] = { "upd.a", "upd.b" };

	(void)state;
	add_stream("UPD", "upd.a", NULL);
	for (int i = 0; i < 10; i++)
		pub("upd.a", "x", NULL, NULL);
	jsStreamConfig_Init(&cfg);
	cfg.Name = "UPD";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 2;
	cfg.MaxMsgs = 4;
	assert_int_equal(js_UpdateStream(&si, g_js, &cfg, NULL, &ec), NATS_OK);
	assert_int_equal(si->Config->MaxMsgs, 4);
	assert_int_equal(si->State.Msgs, 4);
	assert_int_equal(si->State.FirstSeq, 7);
	jsStreamInfo_Destroy(si);
	restart(SIGTERM);
	si = info("UPD");
	assert_int_equal(si->State.Msgs, 4);
	assert_int_equal(si->State.FirstSeq, 7);
	jsStreamInfo_Destroy(si);
	assert_int_equal(pub("upd.b", "y", NULL, NULL), 11);
	cfg.Storage = js_MemoryStorage;
	assert_int_not_equal(js_UpdateStream(&si, g_js, &cfg, NULL, &ec), NATS_OK);
	assert_int_equal(ec, 10052);
}

static void interest(jsStreamConfig *c) { c->Retention = js_InterestPolicy; }

/* Interest retention: a message goes once every consumer interested in it
 * acked it. */
static void test_interest(void **state)
{
	natsSubscription *a = NULL, *b = NULL;
	jsSubOptions so;
	natsMsgList list = { 0 };
	jsErrCode ec = 0;
	jsStreamInfo *si;

	(void)state;
	add_stream("INT", "int.*", interest);
	jsSubOptions_Init(&so);
	so.Stream = "INT";
	assert_int_equal(js_PullSubscribe(&a, g_js, "int.x", "ca", NULL, &so, &ec), NATS_OK);
	assert_int_equal(js_PullSubscribe(&b, g_js, "int.x", "cb", NULL, &so, &ec), NATS_OK);
	pub("int.x", "1", NULL, NULL);
	pub("int.x", "2", NULL, NULL);
	assert_int_equal(natsSubscription_Fetch(&list, a, 2, 2000, &ec), NATS_OK);
	assert_int_equal(list.Count, 2);
	for (int i = 0; i < list.Count; i++)
		assert_int_equal(natsMsg_AckSync(list.Msgs[i], NULL, &ec), NATS_OK);
	natsMsgList_Destroy(&list);
	si = info("INT");
	assert_int_equal(si->State.Msgs, 2); /* cb has not acked */
	jsStreamInfo_Destroy(si);
	assert_int_equal(natsSubscription_Fetch(&list, b, 1, 2000, &ec), NATS_OK);
	assert_int_equal(natsMsg_AckSync(list.Msgs[0], NULL, &ec), NATS_OK);
	natsMsgList_Destroy(&list);
	si = info("INT");
	assert_int_equal(si->State.Msgs, 1);
	assert_int_equal(si->State.FirstSeq, 2);
	jsStreamInfo_Destroy(si);
	natsSubscription_Destroy(a);
	natsSubscription_Destroy(b);
}

/* Sends a JetStream API request from a shared-memory client; returns the
 * reply text (static buffer). */
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
	lw_sub_opts_init(&so);
	assert_int_equal(lw_subscribe(c, "shm.inbox.1", &so, &inbox), LW_OK);
	struct lw_pubmsg pm = { .subject = "$JS.API.CONSUMER.MSG.NEXT.SHMC.d",
				.reply = "shm.inbox.1", .data = "2", .len = 1 };

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_create),
		cmocka_unit_test(test_publish_ack_dedup),
		cmocka_unit_test(test_shm_publisher),
		cmocka_unit_test(test_get_delete_purge),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_restart_keeps_messages),
		cmocka_unit_test(test_pull_consumer),
		cmocka_unit_test(test_nak_max_deliver),
		cmocka_unit_test(test_workqueue),
		cmocka_unit_test(test_replay_and_push),
		cmocka_unit_test(test_memory_stream),
		cmocka_unit_test(test_corrupt_segment),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_interest),
		cmocka_unit_test(test_shm_consumer),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
