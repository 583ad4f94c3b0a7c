/* SPDX-License-Identifier: MIT */
/*
 * End to end through the gateway with the real nats.c client: pub/sub,
 * wildcards, queue groups mixing TCP and shared-memory members,
 * request/reply both ways, headers, no responders, auto-unsubscribe, echo,
 * messages between a liblightwire client and a nats.c client, users
 * with permissions, and a client reconnecting after lwd restarts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include <nats/nats.h>

#include "gw_test.h"
#include "gw_nats_test.h"

static struct gw_test g_t;

static int group_setup(void **state)
{
	(void)state;
	return gw_test_start(&g_t, 0, NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	nats_Close();
	return lw_test_daemon_stop(&g_t.d, SIGTERM) == 0 ? 0 : -1;
}

static natsConnection *nconnect(const char *url, bool echo)
{
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	natsStatus s;

	assert_int_equal(natsOptions_Create(&o), NATS_OK);
	natsOptions_SetURL(o, url);
	natsOptions_SetAllowReconnect(o, false);
	natsOptions_SetTimeout(o, 3000);
	if (!echo)
		natsOptions_SetNoEcho(o, true);
	s = natsConnection_Connect(&nc, o);
	if (s != NATS_OK)
		fprintf(stderr, "connect %s: %s\n", url, natsStatus_GetText(s));
	assert_int_equal(s, NATS_OK);
	natsOptions_Destroy(o);
	return nc;
}

static void expect_nothing(natsSubscription *sub, int ms)
{
	natsMsg *m = NULL;

	assert_int_equal(natsSubscription_NextMsg(&m, sub, ms), NATS_TIMEOUT);
}

static void test_pubsub_wildcards(void **state)
{
	natsConnection *a = nconnect(g_t.url, true), *b = nconnect(g_t.url, true);
	natsSubscription *exact = NULL, *star = NULL, *full = NULL;

	(void)state;
	assert_int_equal(natsConnection_SubscribeSync(&exact, b, "orders.new"), NATS_OK);
	assert_int_equal(natsConnection_SubscribeSync(&star, b, "orders.*"), NATS_OK);
	assert_int_equal(natsConnection_SubscribeSync(&full, b, "orders.>"), NATS_OK);
	assert_int_equal(natsConnection_Flush(b), NATS_OK);
	assert_int_equal(natsConnection_PublishString(a, "orders.new", "n1"), NATS_OK);
	assert_int_equal(natsConnection_PublishString(a, "orders.eu.paid", "p1"), NATS_OK);
	assert_int_equal(natsConnection_Flush(a), NATS_OK);
	expect_next(exact, "orders.new", "n1");
	expect_next(star, "orders.new", "n1");
	expect_next(full, "orders.new", "n1");
	expect_next(full, "orders.eu.paid", "p1");
	expect_nothing(star, 100);
	expect_nothing(exact, 10);
	/* A binary payload with CRLFs inside survives. */
	assert_int_equal(natsConnection_Publish(a, "orders.new", "a\r\nb\0c", 6), NATS_OK);
	natsMsg *m = NULL;

	assert_int_equal(natsSubscription_NextMsg(&m, exact, 2000), NATS_OK);
	assert_int_equal(natsMsg_GetDataLength(m), 6);
	assert_memory_equal(natsMsg_GetData(m), "a\r\nb\0c", 6);
	natsMsg_Destroy(m);
	/* Near max_payload: arrives over many reads, leaves in many writes. */
	{
		size_t big = 1000000;
		char *p = malloc(big);

		for (size_t i = 0; i < big; i++)
			p[i] = (char)(i * 7);
		assert_int_equal(natsConnection_Publish(a, "orders.new", p, (int)big), NATS_OK);
		assert_int_equal(natsSubscription_NextMsg(&m, exact, 3000), NATS_OK);
		assert_int_equal(natsMsg_GetDataLength(m), (int)big);
		assert_memory_equal(natsMsg_GetData(m), p, big);
		natsMsg_Destroy(m);
		free(p);
	}
	natsSubscription_Destroy(exact);
	natsSubscription_Destroy(star);
	natsSubscription_Destroy(full);
	natsConnection_Destroy(a);
	natsConnection_Destroy(b);
}

static lw_sub *lwsub(lw_conn *c, const char *subject, const char *queue)
{
	struct lw_sub_opts o;
	lw_sub *s = NULL;

	lw_sub_opts_init(&o);
	o.queue = queue;
	assert_int_equal(lw_subscribe(c, subject, &o, &s), LW_OK);
	return s;
}

/* Shared memory -> TCP and TCP -> shared memory, with reply and headers. */
static void test_shm_and_tcp(void **state)
{
	lw_conn *lc = lw_test_connect(&g_t.d);
	natsConnection *nc = nconnect(g_t.url, true);
	natsSubscription *ns = NULL;
	natsMsg *m = NULL;
	lw_msg *lm = NULL;
	lw_sub *ls;
	const char *v = NULL;
	char buf[64];

	(void)state;
	assert_non_null(lc);
	assert_int_equal(natsConnection_SubscribeSync(&ns, nc, "to.tcp.>"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	ls = lwsub(lc, "to.shm.*", NULL);

	/* lw -> nats.c, with a reply subject and a header block */
	static const char hdr[] = "NATS/1.0\r\nX-Kind: shm\r\n\r\n";
	struct lw_pubmsg pm = { .subject = "to.tcp.a", .reply = "back.here", .hdr = hdr,
				.hdr_len = sizeof(hdr) - 1, .data = "from-shm", .len = 8 };

	assert_int_equal(lw_publish_msg(lc, &pm), 1);
	assert_int_equal(natsSubscription_NextMsg(&m, ns, 2000), NATS_OK);
	assert_string_equal(natsMsg_GetSubject(m), "to.tcp.a");
	assert_string_equal(natsMsg_GetReply(m), "back.here");
	assert_int_equal(natsMsg_GetDataLength(m), 8);
	assert_memory_equal(natsMsg_GetData(m), "from-shm", 8);
	assert_int_equal(natsMsgHeader_Get(m, "X-Kind", &v), NATS_OK);
	assert_string_equal(v, "shm");
	natsMsg_Destroy(m);

	/* nats.c -> lw, with a header */
	assert_int_equal(natsMsg_Create(&m, "to.shm.b", "reply.x", "from-tcp", 8), NATS_OK);
	assert_int_equal(natsMsgHeader_Set(m, "X-Kind", "tcp"), NATS_OK);
	assert_int_equal(natsConnection_PublishMsg(nc, m), NATS_OK);
	natsMsg_Destroy(m);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	assert_int_equal(lw_next(ls, &lm, 2000), LW_OK);
	assert_string_equal(lw_msg_subject(lm), "to.shm.b");
	assert_string_equal(lw_msg_reply(lm), "reply.x");
	assert_int_equal(lw_msg_len(lm), 8);
	assert_memory_equal(lw_msg_data(lm), "from-tcp", 8);
	assert_int_equal(lw_msg_header(lm, "X-Kind", buf, sizeof(buf)), 3);
	assert_string_equal(buf, "tcp");
	lw_msg_free(lm);

	/* plain publish without reply/headers */
	assert_int_equal(natsConnection_PublishString(nc, "to.shm.c", "plain"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	assert_int_equal(lw_next(ls, &lm, 2000), LW_OK);
	assert_string_equal(lw_msg_subject(lm), "to.shm.c");
	assert_null(lw_msg_reply(lm));
	lw_msg_free(lm);

	lw_unsubscribe(ls);
	natsSubscription_Destroy(ns);
	natsConnection_Destroy(nc);
	lw_close(lc);
}

static void test_queue_groups_mixed(void **state)
{
	natsConnection *pub = nconnect(g_t.url, true), *n1 = nconnect(g_t.url, true);
	natsSubscription *q1 = NULL, *q2 = NULL, *plain = NULL;
	lw_conn *lc = lw_test_connect(&g_t.d);
	int got1 = 0, got2 = 0, got3 = 0, gotp = 0;
	lw_sub *lq;
	lw_msg *lm;
	natsMsg *m;

	(void)state;
	assert_int_equal(natsConnection_QueueSubscribeSync(&q1, n1, "work.*", "workers"), NATS_OK);
	assert_int_equal(natsConnection_QueueSubscribeSync(&q2, n1, "work.*", "workers"), NATS_OK);
	assert_int_equal(natsConnection_SubscribeSync(&plain, n1, "work.*"), NATS_OK);
	assert_int_equal(natsConnection_Flush(n1), NATS_OK);
	lq = lwsub(lc, "work.*", "workers");
	for (int i = 0; i < 30; i++)
		assert_int_equal(natsConnection_PublishString(pub, "work.item", "x"), NATS_OK);
	assert_int_equal(natsConnection_Flush(pub), NATS_OK);
	while (natsSubscription_NextMsg(&m, plain, 1000) == NATS_OK) {
		gotp++;
		natsMsg_Destroy(m);
		if (gotp == 30)
			break;
	}
	lw_test_sleep_ms(200);
	while (natsSubscription_NextMsg(&m, q1, 50) == NATS_OK) {
		got1++;
		natsMsg_Destroy(m);
	}
	while (natsSubscription_NextMsg(&m, q2, 50) == NATS_OK) {
		got2++;
		natsMsg_Destroy(m);
	}
	while (lw_next(lq, &lm, 0) == LW_OK) {
		got3++;
		lw_msg_free(lm);
	}
	/* Every message once to the group, spread over TCP and shm members. */
	assert_int_equal(gotp, 30);
	assert_int_equal(got1 + got2 + got3, 30);
	assert_true(got1 > 0 && got2 > 0 && got3 > 0);
	lw_unsubscribe(lq);
	lw_close(lc);
	natsSubscription_Destroy(q1);
	natsSubscription_Destroy(q2);
	natsSubscription_Destroy(plain);
	natsConnection_Destroy(n1);
	natsConnection_Destroy(pub);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	char out[128];

	(void)sub;
	(void)arg;
	snprintf(out, sizeof(out), "re:%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
	natsConnection_PublishString(nc, natsMsg_GetReply(m), out);
	natsMsg_Destroy(m);
}

static atomic_bool g_stop_responder;

static void *shm_responder(void *arg)
{
	lw_conn *c = arg;
	lw_sub *s = lwsub(c, "svc.shm", NULL);

	while (!atomic_load(&g_stop_responder)) {
		lw_msg *m;

		if (lw_next(s, &m, 50) != LW_OK)
			continue;
		lw_respond(c, m, "shm-answer", 10);
		lw_msg_free(m);
	}
	lw_unsubscribe(s);
	return NULL;
}

static void test_request_reply(void **state)
{
	natsConnection *srv = nconnect(g_t.url, true), *cli = nconnect(g_t.url, true);
	natsSubscription *rs = NULL;
	lw_conn *lc = lw_test_connect(&g_t.d), *lc2 = lw_test_connect(&g_t.d);
	natsMsg *reply = NULL;
	lw_msg *lr = NULL;
	pthread_t th;

	(void)state;
	/* nats.c requester, nats.c responder */
	assert_int_equal(natsConnection_Subscribe(&rs, srv, "svc.tcp", on_request, NULL), NATS_OK);
	assert_int_equal(natsConnection_Flush(srv), NATS_OK);
	assert_int_equal(natsConnection_RequestString(&reply, cli, "svc.tcp", "q1", 2000), NATS_OK);
	assert_int_equal(natsMsg_GetDataLength(reply), 5);
	assert_memory_equal(natsMsg_GetData(reply), "re:q1", 5);
	natsMsg_Destroy(reply);

	/* liblightwire requester, nats.c responder */
	assert_int_equal(lw_request(lc, "svc.tcp", "q2", 2, 2000, &lr), LW_OK);
	assert_int_equal(lw_msg_len(lr), 5);
	assert_memory_equal(lw_msg_data(lr), "re:q2", 5);
	lw_msg_free(lr);

	/* nats.c requester, liblightwire responder */
	atomic_store(&g_stop_responder, false);
	pthread_create(&th, NULL, shm_responder, lc2);
	lw_test_sleep_ms(100);
	assert_int_equal(natsConnection_RequestString(&reply, cli, "svc.shm", "q3", 2000), NATS_OK);
	assert_int_equal(natsMsg_GetDataLength(reply), 10);
	assert_memory_equal(natsMsg_GetData(reply), "shm-answer", 10);
	natsMsg_Destroy(reply);
	atomic_store(&g_stop_responder, true);
	pthread_join(th, NULL);

	natsSubscription_Destroy(rs);
	natsConnection_Destroy(srv);
	natsConnection_Destroy(cli);
	lw_close(lc);
	lw_close(lc2);
}

static void test_no_responders(void **state)
{
	natsConnection *cli = nconnect(g_t.url, true);
	natsMsg *reply = NULL;
	lw_conn *lc = lw_test_connect(&g_t.d);
	lw_msg *lr = NULL;

	(void)state;
	assert_int_equal(natsConnection_RequestString(&reply, cli, "nobody.home", "x", 2000),
			 NATS_NO_RESPONDERS);
	assert_null(reply);
	/* Still usable afterwards, and a shared-memory requester agrees. */
	assert_int_equal(natsConnection_RequestString(&reply, cli, "nobody.home", "x", 2000),
			 NATS_NO_RESPONDERS);
	assert_int_equal(lw_request(lc, "nobody.home", "x", 1, 500, &lr), LW_ENORESPONDERS);
	lw_close(lc);
	natsConnection_Destroy(cli);
}

static void test_headers_nats(void **state)
{
	natsConnection *a = nconnect(g_t.url, true);
	natsSubscription *s = NULL;
	natsMsg *m = NULL, *got = NULL;
	const char **vals = NULL;
	int nvals = 0;

	(void)state;
	assert_int_equal(natsConnection_SubscribeSync(&s, a, "hdr.test"), NATS_OK);
	assert_int_equal(natsMsg_Create(&m, "hdr.test", NULL, "body", 4), NATS_OK);
	natsMsgHeader_Set(m, "Trace-Id", "abc123");
	natsMsgHeader_Add(m, "Multi", "one");
	natsMsgHeader_Add(m, "Multi", "two");
	assert_int_equal(natsConnection_PublishMsg(a, m), NATS_OK);
	natsMsg_Destroy(m);
	assert_int_equal(natsSubscription_NextMsg(&got, s, 2000), NATS_OK);
	const char *v = NULL;

	assert_int_equal(natsMsgHeader_Get(got, "Trace-Id", &v), NATS_OK);
	assert_string_equal(v, "abc123");
	assert_int_equal(natsMsgHeader_Values(got, "Multi", &vals, &nvals), NATS_OK);
	assert_int_equal(nvals, 2);
	free((void *)vals);
	assert_int_equal(natsMsg_GetDataLength(got), 4);
	natsMsg_Destroy(got);
	natsSubscription_Destroy(s);
	natsConnection_Destroy(a);
}

static void test_auto_unsubscribe(void **state)
{
	natsConnection *a = nconnect(g_t.url, true);
	natsSubscription *s = NULL;

	(void)state;
	assert_int_equal(natsConnection_SubscribeSync(&s, a, "limited"), NATS_OK);
	assert_int_equal(natsSubscription_AutoUnsubscribe(s, 3), NATS_OK);
	assert_int_equal(natsConnection_Flush(a), NATS_OK);
	for (int i = 0; i < 6; i++)
		assert_int_equal(natsConnection_PublishString(a, "limited", "m"), NATS_OK);
	assert_int_equal(natsConnection_Flush(a), NATS_OK);
	for (int i = 0; i < 3; i++)
		expect_next(s, "limited", "m");
	natsMsg *m = NULL;

	/* nats.c reports the subscription gone after its max */
	assert_int_not_equal(natsSubscription_NextMsg(&m, s, 300), NATS_OK);
	natsSubscription_Destroy(s);
	/* and the gateway dropped it from the fabric: no interest left */
	lw_conn *lc = lw_test_connect(&g_t.d);

	assert_true(LW_TEST_WAIT(lw_publish(lc, "limited", "x", 1) == 0, 2000));
	lw_close(lc);
	natsConnection_Destroy(a);
}

static void test_no_echo(void **state)
{
	natsConnection *quiet = nconnect(g_t.url, false), *other = nconnect(g_t.url, true);
	natsSubscription *qs = NULL, *os = NULL;

	(void)state;
	assert_int_equal(natsConnection_SubscribeSync(&qs, quiet, "echo.t"), NATS_OK);
	assert_int_equal(natsConnection_SubscribeSync(&os, other, "echo.t"), NATS_OK);
	assert_int_equal(natsConnection_Flush(quiet), NATS_OK);
	assert_int_equal(natsConnection_Flush(other), NATS_OK);
	assert_int_equal(natsConnection_PublishString(quiet, "echo.t", "mine"), NATS_OK);
	assert_int_equal(natsConnection_Flush(quiet), NATS_OK);
	expect_next(os, "echo.t", "mine");
	expect_nothing(qs, 200);
	/* others' messages still reach the no-echo client */
	assert_int_equal(natsConnection_PublishString(other, "echo.t", "yours"), NATS_OK);
	assert_int_equal(natsConnection_Flush(other), NATS_OK);
	expect_next(qs, "echo.t", "yours");
	natsSubscription_Destroy(qs);
	natsSubscription_Destroy(os);
	natsConnection_Destroy(quiet);
	natsConnection_Destroy(other);
}

/* --- users and permissions (a second lwd with a users file) ----------- */

static _Atomic int g_async_err;
static char g_last_err[256];

static void on_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg)
{
	const char *txt = NULL;

	(void)sub;
	(void)arg;
	natsConnection_GetLastError(nc, &txt);
	if (txt != NULL)
		snprintf(g_last_err, sizeof(g_last_err), "%s", txt);
	atomic_store(&g_async_err, (int)err);
}

static natsStatus auth_connect(natsConnection **nc, const char *url, const char *user,
			       const char *pass, const char *token)
{
	natsOptions *o = NULL;
	natsStatus s;

	natsOptions_Create(&o);
	natsOptions_SetURL(o, url);
	natsOptions_SetAllowReconnect(o, false);
	natsOptions_SetTimeout(o, 3000);
	natsOptions_SetErrorHandler(o, on_err, NULL);
	if (user != NULL)
		natsOptions_SetUserInfo(o, user, pass);
	if (token != NULL)
		natsOptions_SetToken(o, token);
	s = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	return s;
}

/* A SUB (in @p queue, or plain) that the permissions refuse: nats.c's
 * error handler gets NATS_NOT_PERMITTED with nats-server's text. */
static void expect_sub_denied(natsConnection *nc, const char *subj, const char *queue,
			      const char *text)
{
	natsSubscription *s = NULL;

	atomic_store(&g_async_err, 0);
	if (queue != NULL)
		assert_int_equal(natsConnection_QueueSubscribeSync(&s, nc, subj, queue), NATS_OK);
	else
		assert_int_equal(natsConnection_SubscribeSync(&s, nc, subj), NATS_OK);
	natsConnection_Flush(nc);
	assert_true(LW_TEST_WAIT(atomic_load(&g_async_err) == NATS_NOT_PERMITTED, 2000));
	assert_non_null(strstr(g_last_err, text));
	natsSubscription_Destroy(s);
}

static void test_auth_permissions(void **state)
{
	char path[64];
	const char *extra[] = { "--users", path, NULL };
	struct gw_test t;
	natsConnection *nc = NULL, *admin = NULL;
	natsSubscription *spy = NULL;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/gw-users-%d", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# user:password:publish:subscribe\n"
		   "admin:adminpw::\n"
		   "app:apppw:app.>,!app.secret:app.>,_INBOX.>,!app.hidden\n"
		   ":sekrit-token:tok.>:tok.>\n"
		   "q:qpw::q.x workers,!q.y spies,q.y,q.z v1.*,_INBOX.>\n"
		   "w:wpw::w.>,!w.x spies\n");
	fclose(f);
	assert_int_equal(gw_test_start(&t, 1, extra), 0);

	/* wrong password, no credentials */
	assert_int_not_equal(auth_connect(&nc, t.url, "app", "wrong", NULL), NATS_OK);
	assert_int_not_equal(auth_connect(&nc, t.url, NULL, NULL, NULL), NATS_OK);
	assert_int_equal(auth_connect(&nc, t.url, NULL, NULL, "sekrit-token"), NATS_OK);
	natsConnection_Destroy(nc);
	nc = NULL;

	assert_int_equal(auth_connect(&admin, t.url, "admin", "adminpw", NULL), NATS_OK);
	assert_int_equal(natsConnection_SubscribeSync(&spy, admin, "app.>"), NATS_OK);
	assert_int_equal(natsConnection_Flush(admin), NATS_OK);
	assert_int_equal(auth_connect(&nc, t.url, "app", "apppw", NULL), NATS_OK);

	/* allowed publish goes through */
	assert_int_equal(natsConnection_PublishString(nc, "app.ok", "1"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	expect_next(spy, "app.ok", "1");

	/* denied publish: -ERR, nothing delivered, connection stays */
	atomic_store(&g_async_err, 0);
	assert_int_equal(natsConnection_PublishString(nc, "app.secret", "2"), NATS_OK);
	natsConnection_Flush(nc);
	assert_true(LW_TEST_WAIT(atomic_load(&g_async_err) == NATS_NOT_PERMITTED, 2000));
	assert_non_null(strstr(g_last_err, "Permissions Violation for Publish to \"app.secret\""));
	expect_nothing(spy, 200);
	assert_false(natsConnection_IsClosed(nc));

	/* denied subscription */
	expect_sub_denied(nc, "other.>", NULL,
			  "Permissions Violation for Subscription to \"other.>\"");
	/* a subscription wider than allowed is refused too */
	expect_sub_denied(nc, ">", NULL, "Permissions Violation for Subscription");

	/* a wildcard subscription is allowed but never sees a denied
	 * subject (nats-server filters those at delivery) */
	{
		natsSubscription *w = NULL;

		assert_int_equal(natsConnection_SubscribeSync(&w, nc, "app.*"), NATS_OK);
		assert_int_equal(natsConnection_Flush(nc), NATS_OK);
		assert_int_equal(natsConnection_PublishString(admin, "app.hidden", "h"), NATS_OK);
		assert_int_equal(natsConnection_PublishString(admin, "app.shown", "s"), NATS_OK);
		assert_int_equal(natsConnection_Flush(admin), NATS_OK);
		expect_next(w, "app.shown", "s");
		expect_nothing(w, 200);
		natsSubscription_Destroy(w);
		expect_next(spy, "app.hidden", "h");
		expect_next(spy, "app.shown", "s");
	}

	/* queue-group rules (nats-server's "subject queue" form): q.x only
	 * in group "workers", never plainly nor in another group; q.y in
	 * any group but "spies"; q.z in groups matching v1.* */
	{
		natsConnection *qc = NULL;
		static const struct { const char *subj, *queue; } cases[] = {
			{ "q.x", NULL }, { "q.x", "others" }, { "q.y", "spies" }, { "q.z", "v2.a" },
			{ "q.z", NULL },
		}, allowed[] = { { "q.x", "workers" }, { "q.y", "any" }, { "q.z", "v1.b" } };
		natsSubscription *ok[3] = { NULL };

		assert_int_equal(auth_connect(&qc, t.url, "q", "qpw", NULL), NATS_OK);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			expect_sub_denied(qc, cases[i].subj, cases[i].queue,
					  "Permissions Violation for Subscription");
		atomic_store(&g_async_err, 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(natsConnection_QueueSubscribeSync(&ok[i], qc, allowed[i].subj,
									   allowed[i].queue), NATS_OK);
		assert_int_equal(natsConnection_Flush(qc), NATS_OK);
		for (int i = 0; i < 3; i++)
			assert_int_equal(natsConnection_PublishString(admin, allowed[i].subj, "m"),
					 NATS_OK);
		assert_int_equal(natsConnection_Flush(admin), NATS_OK);
		for (int i = 0; i < 3; i++) {
			expect_next(ok[i], allowed[i].subj, "m");
			natsSubscription_Destroy(ok[i]);
		}
		assert_int_equal(atomic_load(&g_async_err), 0);
		natsConnection_Destroy(qc);
		qc = NULL;
		/* a deny naming a group also cuts into that group's wildcard
		 * subscriptions (and only that group's) */
		assert_int_equal(auth_connect(&qc, t.url, "w", "wpw", NULL), NATS_OK);
		assert_int_equal(natsConnection_QueueSubscribeSync(&ok[0], qc, "w.*", "spies"), NATS_OK);
		assert_int_equal(natsConnection_QueueSubscribeSync(&ok[1], qc, "w.*", "others"), NATS_OK);
		assert_int_equal(natsConnection_Flush(qc), NATS_OK);
		assert_int_equal(natsConnection_PublishString(admin, "w.x", "hidden"), NATS_OK);
		assert_int_equal(natsConnection_PublishString(admin, "w.y", "shown"), NATS_OK);
		assert_int_equal(natsConnection_Flush(admin), NATS_OK);
		expect_next(ok[0], "w.y", "shown");
		expect_nothing(ok[0], 200);
		expect_next(ok[1], "w.x", "hidden");
		expect_next(ok[1], "w.y", "shown");
		natsSubscription_Destroy(ok[0]);
		natsSubscription_Destroy(ok[1]);
		natsConnection_Destroy(qc);
	}

	/* requests with inbox replies still work under the permissions */
	assert_int_equal(natsConnection_PublishString(nc, "app.still.ok", "3"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	expect_next(spy, "app.still.ok", "3");

	natsSubscription_Destroy(spy);
	natsConnection_Destroy(nc);
	natsConnection_Destroy(admin);
	assert_int_equal(lw_test_daemon_stop(&t.d, SIGTERM), 0);
	unlink(path);
}

/* --- lwd restarts under a connected client ---------------------------- */

static atomic_int g_disconnects, g_reconnects;

static void on_disconnected(natsConnection *nc, void *arg)
{
	(void)nc;
	(void)arg;
	atomic_fetch_add(&g_disconnects, 1);
}

static void on_reconnected(natsConnection *nc, void *arg)
{
	(void)nc;
	(void)arg;
	atomic_fetch_add(&g_reconnects, 1);
}

/* SIGTERM lwd, start it again on the same domain and ports: the client
 * reconnects by itself (the listeners rebind at once: SO_REUSEADDR), its
 * subscription is re-created in the new fabric, and what it published
 * while lwd was away is delivered after the reconnect. */
static void test_reconnect_after_restart(void **state)
{
	struct gw_test t;
	natsConnection *nc = NULL;
	natsSubscription *s = NULL;
	natsOptions *o = NULL;
	lw_conn *lc;

	(void)state;
	atomic_store(&g_disconnects, 0);
	atomic_store(&g_reconnects, 0);
	assert_int_equal(gw_test_start(&t, 1, NULL), 0);
	assert_int_equal(natsOptions_Create(&o), NATS_OK);
	natsOptions_SetURL(o, t.url);
	natsOptions_SetTimeout(o, 3000);
	natsOptions_SetAllowReconnect(o, true);
	natsOptions_SetMaxReconnect(o, 200);
	natsOptions_SetReconnectWait(o, 50);
	natsOptions_SetReconnectJitter(o, 0, 0);
	natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
	natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
	assert_int_equal(natsConnection_Connect(&nc, o), NATS_OK);
	natsOptions_Destroy(o);
	assert_int_equal(natsConnection_SubscribeSync(&s, nc, "rc.>"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	assert_int_equal(natsConnection_PublishString(nc, "rc.before", "1"), NATS_OK);
	expect_next(s, "rc.before", "1");

	assert_int_equal(lw_test_daemon_stop(&t.d, SIGTERM), 0);
	assert_true(LW_TEST_WAIT(atomic_load(&g_disconnects) >= 1, 3000));
	/* Buffered by nats.c while there is no server. */
	assert_int_equal(natsConnection_PublishString(nc, "rc.while", "2"), NATS_OK);

	assert_int_equal(gw_test_start(&t, 1, NULL), 0);
	assert_true(LW_TEST_WAIT(atomic_load(&g_reconnects) >= 1, 5000));
	assert_int_equal(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
	expect_next(s, "rc.while", "2");
	assert_int_equal(natsConnection_PublishString(nc, "rc.after", "3"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	expect_next(s, "rc.after", "3");
	/* The new fabric has the re-sent subscription: shared memory reaches it. */
	lc = lw_test_connect(&t.d);
	assert_non_null(lc);
	assert_int_equal(lw_publish(lc, "rc.shm", "4", 1), 1);
	expect_next(s, "rc.shm", "4");
	lw_close(lc);

	natsSubscription_Destroy(s);
	natsConnection_Destroy(nc);
	assert_int_equal(lw_test_daemon_stop(&t.d, SIGTERM), 0);
}

/* --- signals: SIGHUP / SIGUSR1 ignored, SIGUSR2 lame duck ------------- */

static atomic_int g_lame_duck;

static void on_lame_duck(natsConnection *nc, void *arg)
{
	(void)nc, (void)arg;
	atomic_fetch_add(&g_lame_duck, 1);
}

/* nats-server's operator signals must not kill the domain: SIGHUP and
 * SIGUSR1 (reload, log reopen) are logged and ignored; SIGUSR2 is lame
 * duck mode: connected clients get INFO "ldm":true (nats.c's lame-duck
 * callback) and keep working, new ones are refused, and lwd stops by
 * itself after --lame-duck-ms, cleanly. */
static void test_signals_lame_duck(void **state)
{
	const char *extra[] = { "--lame-duck-ms", "1500", NULL };
	struct gw_test t;
	natsConnection *nc = NULL, *late = NULL;
	natsSubscription *s = NULL;
	natsOptions *o = NULL;
	char log[128];
	int st = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(gw_test_start(&t, 1, extra), 0);
	pid = t.d.pid;
	snprintf(log, sizeof(log), "/tmp/lwd-%s.log", t.d.domain);
	natsOptions_Create(&o);
	natsOptions_SetURL(o, t.url);
	natsOptions_SetAllowReconnect(o, false);
	natsOptions_SetLameDuckModeCB(o, on_lame_duck, NULL);
	assert_int_equal(natsConnection_Connect(&nc, o), NATS_OK);
	natsOptions_Destroy(o);
	assert_int_equal(natsConnection_SubscribeSync(&s, nc, "sig.>"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);

	kill(pid, SIGHUP);
	kill(pid, SIGUSR1);
	assert_true(LW_TEST_WAIT(lw_test_file_has(log, "SIGUSR1: lwd logs to stderr"), 2000));
	assert_true(lw_test_file_has(log, "SIGHUP: configuration reload is not supported"));
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
	assert_int_equal(natsConnection_PublishString(nc, "sig.a", "1"), NATS_OK);
	expect_next(s, "sig.a", "1");

	kill(pid, SIGUSR2);
	assert_true(LW_TEST_WAIT(atomic_load(&g_lame_duck) == 1, 2000));
	assert_true(lw_test_file_has(log, "entering lame duck mode"));
	assert_int_not_equal(natsConnection_ConnectTo(&late, t.url), NATS_OK);
	assert_int_equal(natsConnection_PublishString(nc, "sig.b", "2"), NATS_OK);
	expect_next(s, "sig.b", "2");
	assert_true(LW_TEST_WAIT(waitpid(pid, &st, WNOHANG) == pid, 5000));
	t.d.pid = 0;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(lw_test_file_has(log, "lame duck period over"));
	natsSubscription_Destroy(s);
	natsConnection_Destroy(nc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pubsub_wildcards),
		cmocka_unit_test(test_shm_and_tcp),
		cmocka_unit_test(test_queue_groups_mixed),
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_no_responders),
		cmocka_unit_test(test_headers_nats),
		cmocka_unit_test(test_auto_unsubscribe),
		cmocka_unit_test(test_no_echo),
		cmocka_unit_test(test_auth_permissions),
		cmocka_unit_test(test_reconnect_after_restart),
		cmocka_unit_test(test_signals_lame_duck),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
