/* SPDX-License-Identifier: MIT */
/*
 * End-to-end publish/subscribe through liblightwire against a real lwd:
 * subjects and wildcards, queue groups, request/reply, headers, loans,
 * callbacks, errors, processes, and subscription churn under load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "lw_test_env.h"

static struct lw_test_daemon g_d;

static int group_setup(void **state)
{
	(void)state;
	return lw_test_daemon_start(&g_d, NULL, NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	return lw_test_daemon_stop(&g_d, SIGTERM) == 0 ? 0 : -1;
}

static lw_sub *sub(lw_conn *c, const char *subject, const char *queue)
{
	struct lw_sub_opts o;
	lw_sub *s = NULL;

	lw_sub_opts_init(&o);
	o.queue = queue;
	assert_int_equal(lw_subscribe(c, subject, &o, &s), LW_OK);
	return s;
}

/* Next message's payload as a string ("" on timeout). */
static void expect_msg(lw_sub *s, const char *subject, const char *payload)
{
	lw_msg *m = NULL;

	assert_int_equal(lw_next(s, &m, 2000), LW_OK);
	assert_string_equal(lw_msg_subject(m), subject);
	assert_int_equal(lw_msg_len(m), strlen(payload));
	assert_memory_equal(lw_msg_data(m), payload, strlen(payload));
	lw_msg_free(m);
}

static void expect_none(lw_sub *s)
{
	lw_msg *m = NULL;

	assert_int_equal(lw_next(s, &m, 0), LW_EAGAIN);
}

static void test_pubsub_basic(void **state)
{
	lw_conn *a = lw_test_connect(&g_d), *b = lw_test_connect(&g_d);
	lw_sub *s;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	s = sub(b, "orders.new", NULL);
	assert_int_equal(lw_publish(a, "orders.new", "hello", 5), 1);
	assert_int_equal(lw_publish(a, "orders.old", "nobody", 6), 0);
	expect_msg(s, "orders.new", "hello");
	expect_none(s);
	/* empty payload is a message too */
	assert_int_equal(lw_publish(a, "orders.new", NULL, 0), 1);
	expect_msg(s, "orders.new", "");
	assert_int_equal(lw_unsubscribe(s), LW_OK);
	assert_int_equal(lw_publish(a, "orders.new", "gone", 4), 0);
	lw_close(a);
	lw_close(b);
}

static uint64_t lat_samples(lw_conn *c, uint64_t *sum_ns)
{
	struct lw_domain_stats st;
	uint64_t n = 0;

	assert_int_equal(lw_stats(c, &st), LW_OK);
	for (int b = 0; b < LW_LAT_BUCKETS; b++)
		n += st.lat_bucket[b];
	*sum_ns = st.lat_sum_ns;
	return n;
}

/* One publish in LW_LAT_SAMPLE_EVERY per connection carries its publish
 * time (by slot, even when small): each take of it adds to the domain's
 * latency histogram, and every message still arrives whole and in order,
 * one by one or in bursts. */
static void test_latency_sample(void **state)
{
	lw_conn *a = lw_test_connect(&g_d), *b = lw_test_connect(&g_d);
	struct lw_sub_opts o;
	uint64_t n0, n1, sum0, sum1;
	struct lw_pubmsg pm[16];
	char buf[16][16];
	lw_sub *s;
	lw_msg *m;

	(void)state;
	lw_sub_opts_init(&o);
	o.policy = LW_SLOW_BLOCK;
	assert_int_equal(lw_subscribe(b, "lat.x", &o, &s), LW_OK);
	n0 = lat_samples(a, &sum0);
	for (int i = 0; i < 3 * LW_LAT_SAMPLE_EVERY; i++) {
		if (i % 2 == 0) {
			snprintf(buf[0], sizeof(buf[0]), "%d", i);
			assert_int_equal(lw_publish(a, "lat.x", buf[0], strlen(buf[0])), 1);
		} else {
			int k = 0;

			for (; k < 16 && i < 3 * LW_LAT_SAMPLE_EVERY; k++, i++) {
				snprintf(buf[k], sizeof(buf[k]), "%d", i);
				pm[k] = (struct lw_pubmsg){ .subject = "lat.x", .data = buf[k],
							    .len = strlen(buf[k]) };
			}
			i--;
			assert_int_equal(lw_publish_burst(a, pm, (unsigned)k), k);
		}
		/* take as we go: the ring holds 1024 */
		for (struct lw_sub_stats ss; lw_sub_stats(s, &ss) == LW_OK && ss.depth > 0;) {
			static int want;
			char w[16];

			assert_int_equal(lw_next(s, &m, 1000), LW_OK);
			snprintf(w, sizeof(w), "%d", want++);
			assert_int_equal(lw_msg_len(m), strlen(w));
			assert_memory_equal(lw_msg_data(m), w, strlen(w));
			lw_msg_free(m);
		}
	}
	n1 = lat_samples(a, &sum1);
	assert_in_range(n1 - n0, 2, 4);
	assert_true(sum1 > sum0);
	lw_close(a);
	lw_close(b);
}

static void *publish_once(void *arg)
{
	assert_true(lw_publish(arg, "tls.none", "x", 1) >= 0);
	return NULL;
}

/* A thread that publishes gets match buffers of its own (8 KiB at the
 * default max_subs); they go when the thread ends. 64 short-lived
 * publishing threads must not leave 512 KiB behind. */
static void test_thread_buffers_freed(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	struct mallinfo2 before, after;
	pthread_t t[64];

	(void)state;
	mallopt(M_ARENA_MAX, 1); /* every thread's malloc in the arena mallinfo2 counts */
	pthread_create(&t[0], NULL, publish_once, c); /* warm up what stays */
	pthread_join(t[0], NULL);
	before = mallinfo2();
	for (int i = 0; i < 64; i++) {
		pthread_create(&t[i], NULL, publish_once, c);
		pthread_join(t[i], NULL);
	}
	after = mallinfo2();
	if (after.uordblks > before.uordblks + 64 * 1024)
		fail_msg("%zu bytes more in use after 64 threads", after.uordblks - before.uordblks);
	lw_close(c);
}

static void test_wildcards(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *star, *gt, *all, *exact;

	(void)state;
	star = sub(c, "md.*.px", NULL);
	gt = sub(c, "md.>", NULL);
	all = sub(c, ">", NULL);
	exact = sub(c, "md.nyse.px", NULL);
	assert_int_equal(lw_publish(c, "md.nyse.px", "1", 1), 4);
	expect_msg(star, "md.nyse.px", "1");
	expect_msg(gt, "md.nyse.px", "1");
	expect_msg(all, "md.nyse.px", "1");
	expect_msg(exact, "md.nyse.px", "1");
	/* '*' is exactly one token; '>' needs at least one */
	assert_int_equal(lw_publish(c, "md.nyse.px.extra", "2", 1), 2);
	expect_msg(gt, "md.nyse.px.extra", "2");
	expect_msg(all, "md.nyse.px.extra", "2");
	expect_none(star);
	assert_int_equal(lw_publish(c, "md", "3", 1), 1);
	expect_msg(all, "md", "3");
	expect_none(gt);
	lw_close(c);
}

static void test_queue_group(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *q[3], *plain;
	int got[3] = { 0 }, total = 0;
	lw_msg *m;

	(void)state;
	for (int i = 0; i < 3; i++)
		q[i] = sub(c, "work.*", "workers");
	plain = sub(c, "work.*", NULL);
	for (int i = 0; i < 300; i++) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "%d", i);

		/* one queue member + the plain subscriber */
		assert_int_equal(lw_publish(c, "work.job", buf, (size_t)n), 2);
	}
	for (int i = 0; i < 3; i++) {
		while (lw_next(q[i], &m, 0) == LW_OK) {
			got[i]++;
			lw_msg_free(m);
		}
		total += got[i];
		/* round robin spreads evenly */
		assert_in_range(got[i], 90, 110);
	}
	assert_int_equal(total, 300);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(lw_next(plain, &m, 1000), LW_OK);
		lw_msg_free(m);
	}
	/* a burst still picks a member per message */
	struct lw_pubmsg pm[30];

	for (int i = 0; i < 30; i++)
		pm[i] = (struct lw_pubmsg){ .subject = "work.burst", .data = "b", .len = 1 };
	assert_int_equal(lw_publish_burst(c, pm, 30), 30);
	for (int i = 0; i < 3; i++) {
		int n = 0;

		while (lw_next(q[i], &m, 0) == LW_OK) {
			n++;
			lw_msg_free(m);
		}
		assert_int_equal(n, 10);
	}
	lw_close(c);
}

struct resp_arg {
	lw_conn *c;
	lw_sub *s;
	int served;
};

static void *responder2(void *p)
{
	struct resp_arg *a = p;
	lw_msg *m;

	while (lw_next(a->s, &m, 3000) == LW_OK) {
		char out[64];
		int n = snprintf(out, sizeof(out), "re:%.*s", (int)lw_msg_len(m),
				 (const char *)lw_msg_data(m));

		if (lw_respond(a->c, m, out, (size_t)n) == 1)
			a->served++;
		lw_msg_free(m);
		if (a->served == 50)
			break;
	}
	return NULL;
}

static void test_request_reply(void **state)
{
	lw_conn *cli = lw_test_connect(&g_d), *srv = lw_test_connect(&g_d);
	struct resp_arg ra = { .c = srv };
	pthread_t t;
	lw_msg *r;

	(void)state;
	ra.s = sub(srv, "svc.echo", NULL);
	pthread_create(&t, NULL, responder2, &ra);
	for (int i = 0; i < 50; i++) {
		char q[16], want[32];
		int n = snprintf(q, sizeof(q), "q%d", i);

		snprintf(want, sizeof(want), "re:q%d", i);
		assert_int_equal(lw_request(cli, "svc.echo", q, (size_t)n, 2000, &r), LW_OK);
		assert_int_equal(lw_msg_len(r), strlen(want));
		assert_memory_equal(lw_msg_data(r), want, strlen(want));
		lw_msg_free(r);
	}
	pthread_join(t, NULL);
	assert_int_equal(ra.served, 50);
	/* nobody listens: an immediate, distinct error, not a timeout */
	assert_int_equal(lw_request(cli, "svc.none", "x", 1, 2000, &r), LW_ENORESPONDERS);
	assert_null(r);
	/* a subscriber that never answers: timeout */
	lw_sub *mute = sub(srv, "svc.mute", NULL);

	assert_int_equal(lw_request(cli, "svc.mute", "x", 1, 50, &r), LW_ETIMEDOUT);
	lw_unsubscribe(mute);
	lw_close(cli);
	lw_close(srv);
}

static void test_headers(void **state)
{
	static const char hdr[] = "NATS/1.0\r\nTrace-Id: abc123\r\nX-Kind:  order \r\n\r\n";
	lw_conn *c = lw_test_connect(&g_d);
	struct lw_pubmsg pm = {
		.subject = "h.test", .reply = "h.reply", .hdr = hdr, .hdr_len = sizeof(hdr) - 1,
		.data = "body", .len = 4,
	};
	lw_sub *s = sub(c, "h.test", NULL);
	char v[32];
	size_t hl;
	lw_msg *m;

	(void)state;
	assert_int_equal(lw_publish_msg(c, &pm), 1);
	assert_int_equal(lw_next(s, &m, 1000), LW_OK);
	assert_string_equal(lw_msg_reply(m), "h.reply");
	assert_memory_equal(lw_msg_headers(m, &hl), hdr, sizeof(hdr) - 1);
	assert_int_equal(hl, sizeof(hdr) - 1);
	assert_int_equal(lw_msg_header(m, "trace-id", v, sizeof(v)), 6);
	assert_string_equal(v, "abc123");
	assert_int_equal(lw_msg_header(m, "X-Kind", v, sizeof(v)), 5);
	assert_string_equal(v, "order");
	assert_int_equal(lw_msg_header(m, "Missing", v, sizeof(v)), LW_ENOTFOUND);
	assert_int_equal(lw_msg_header(m, "Trace-Id", v, 3), LW_ETOOBIG);
	assert_int_equal(lw_msg_status(m), 0);
	assert_memory_equal(lw_msg_data(m), "body", 4);
	lw_msg_free(m);
	/* headers must be a NATS/1.0 block */
	pm.hdr = "junk";
	pm.hdr_len = 4;
	assert_int_equal(lw_publish_msg(c, &pm), LW_EINVAL);
	lw_close(c);
}

/* deliver_subject routes by one subject while receivers see another: a
 * server handing a stored message to one requester's inbox. */
static void test_deliver_subject(void **state)
{
	static const char big[200] = "payload that does not fit a ring cell inline";
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *inbox = sub(c, "_INBOX.ds.1", NULL), *orig = sub(c, "ds.orders.>", NULL);
	struct lw_pubmsg pm = {
		.subject = "ds.orders.new", .deliver_subject = "_INBOX.ds.1", .data = "x", .len = 1,
	};
	lw_msg *m;

	(void)state;
	/* inline-sized and slot-sized messages, with and without a reply */
	assert_int_equal(lw_publish_msg(c, &pm), 1);
	pm.data = big;
	pm.len = sizeof(big);
	pm.reply = "$JS.ACK.X.Y.1.1.1.0.0";
	assert_int_equal(lw_publish_msg(c, &pm), 1);
	assert_int_equal(lw_next(inbox, &m, 1000), LW_OK);
	assert_string_equal(lw_msg_subject(m), "ds.orders.new");
	assert_int_equal(lw_msg_len(m), 1);
	lw_msg_free(m);
	assert_int_equal(lw_next(inbox, &m, 1000), LW_OK);
	assert_string_equal(lw_msg_subject(m), "ds.orders.new");
	assert_string_equal(lw_msg_reply(m), "$JS.ACK.X.Y.1.1.1.0.0");
	assert_memory_equal(lw_msg_data(m), big, sizeof(big));
	lw_msg_free(m);
	/* routed by the deliver subject only: the subject's own subscribers
	 * see nothing */
	assert_int_equal(lw_next(orig, &m, 50), LW_ETIMEDOUT);
	pm.deliver_subject = "_INBOX.*";
	assert_int_equal(lw_publish_msg(c, &pm), LW_EBADSUBJECT);
	lw_close(c);
}

static void test_loan_zero_copy(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *s1 = sub(c, "loan.x", NULL), *s2 = sub(c, "loan.>", NULL);
	struct lw_loan l;
	lw_msg *m1, *m2;

	(void)state;
	assert_int_equal(lw_loan(c, 1000, &l), LW_OK);
	assert_true(l.capacity >= 1000);
	memset(l.data, 'z', 1000);
	void *written = l.data;

	assert_int_equal(lw_publish_loaned(c, &l, "loan.x", NULL, 1000), 2);
	assert_int_equal(lw_next(s1, &m1, 1000), LW_OK);
	assert_int_equal(lw_next(s2, &m2, 1000), LW_OK);
	/* both receivers read the very bytes the publisher wrote */
	assert_ptr_equal(lw_msg_data(m1), written);
	assert_ptr_equal(lw_msg_data(m2), written);
	assert_int_equal(lw_msg_len(m1), 1000);
	lw_msg_free(m1);
	lw_msg_free(m2);
	/* a consumed loan cannot be published twice */
	assert_int_equal(lw_publish_loaned(c, &l, "loan.x", NULL, 10), LW_EINVAL);
	/* over capacity is refused and the loan returned */
	assert_int_equal(lw_loan(c, 10, &l), LW_OK);
	assert_int_equal(lw_publish_loaned(c, &l, "loan.x", NULL, l.capacity + 1), LW_EINVAL);
	assert_int_equal(lw_loan(c, 10, &l), LW_OK);
	lw_loan_discard(c, &l);
	assert_int_equal(lw_loan(c, lw_max_payload(c) + 1, &l), LW_ETOOBIG);
	lw_close(c);
}

static void cb(lw_sub *s, lw_msg *m, void *arg)
{
	atomic_int *n = arg;

	(void)s;
	if (lw_msg_len(m) == 2 && memcmp(lw_msg_data(m), "cb", 2) == 0)
		atomic_fetch_add(n, 1);
}

static void test_callback(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	struct lw_sub_opts o;
	atomic_int n = 0;
	lw_sub *s;
	lw_msg *m;

	(void)state;
	lw_sub_opts_init(&o);
	o.cb = cb;
	o.cb_arg = &n;
	assert_int_equal(lw_subscribe(c, "cb.test", &o, &s), LW_OK);
	for (int i = 0; i < 100; i++)
		assert_int_equal(lw_publish(c, "cb.test", "cb", 2), 1);
	assert_true(LW_TEST_WAIT(atomic_load(&n) == 100, 3000));
	assert_int_equal(lw_next(s, &m, 0), LW_EINVAL);
	lw_close(c);
}

static void test_errors(void **state)
{
	static char big[2 << 20];
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *s = NULL;
	lw_msg *m;

	(void)state;
	assert_int_equal(lw_publish(c, "a..b", "x", 1), LW_EBADSUBJECT);
	assert_non_null(strstr(lw_errmsg(), "empty"));
	assert_int_equal(lw_publish(c, "a.*", "x", 1), LW_EBADSUBJECT);
	assert_int_equal(lw_publish(c, "a.>", "x", 1), LW_EBADSUBJECT);
	assert_int_equal(lw_publish(c, "", "x", 1), LW_EBADSUBJECT);
	assert_int_equal(lw_publish(c, "a b", "x", 1), LW_EBADSUBJECT);
	assert_int_equal(lw_subscribe(c, "a.>.b", NULL, &s), LW_EBADSUBJECT);
	assert_int_equal(lw_subscribe(c, "a*.b", NULL, &s), LW_EBADSUBJECT);
	assert_null(s);
	assert_int_equal(lw_publish(c, "ok.big", big, lw_max_payload(c) + 1), LW_ETOOBIG);
	assert_non_null(strstr(lw_errmsg(), "max_payload"));
	/* exactly max_payload goes through, all of it */
	s = sub(c, "ok.big", NULL);
	assert_int_equal(lw_publish(c, "ok.big", big, lw_max_payload(c)), 1);
	assert_int_equal(lw_next(s, &m, 1000), LW_OK);
	assert_int_equal(lw_msg_len(m), lw_max_payload(c));
	lw_msg_free(m);
	assert_int_equal(lw_next(s, &m, 30), LW_ETIMEDOUT);
	assert_string_equal(lw_strerror(LW_ENORESPONDERS), "no responders");
	lw_close(c);
}

/* Past the domain's subscriptions: LW_ELIMIT naming the limit and the
 * flag that raises it, said once; closing gives them all back. */
static void test_subscription_limit(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	struct lw_domain_stats st;
	char subj[32];
	lw_sub *s;
	int rc = LW_OK, n = 0;

	(void)state;
	for (; n < 100000 && rc == LW_OK; n++) {
		snprintf(subj, sizeof(subj), "lim.%d", n);
		rc = lw_subscribe(c, subj, NULL, &s);
	}
	assert_int_equal(rc, LW_ELIMIT);
	assert_non_null(strstr(lw_errmsg(), "subscriptions of the domain are in use (lwd --max-subs)"));
	assert_null(strstr(lw_errmsg(), "limit reached: limit reached"));
	lw_close(c);
	c = lw_test_connect(&g_d);
	assert_true(LW_TEST_WAIT(lw_stats(c, &st) == LW_OK && st.subs == 0, 3000));
	assert_int_equal(lw_subscribe(c, "lim.again", NULL, &s), LW_OK);
	lw_close(c);
}

/* literal_wildcards (what lwd's NATS gateway sets): "a.>" and "a.*" are
 * published as plain tokens and reach the wildcard subscriptions that
 * cover them, never a literal one. */
static void test_literal_wildcards(void **state)
{
	struct lw_conn_opts o;
	lw_conn *c;
	lw_sub *gt, *star, *lit;
	lw_msg *m;

	(void)state;
	lw_conn_opts_init(&o);
	o.domain = g_d.domain;
	o.literal_wildcards = true;
	assert_int_equal(lw_connect(&c, &o), LW_OK);
	gt = sub(c, "lit.>", NULL);
	star = sub(c, "lit.*", NULL);
	lit = sub(c, "lit.x", NULL);
	assert_int_equal(lw_publish(c, "lit.>", "g", 1), 2);
	assert_int_equal(lw_publish(c, "lit.*", "s", 1), 2);
	assert_int_equal(lw_publish(c, "lit.>.deeper", "d", 1), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(lw_next(gt, &m, 1000), LW_OK);
		lw_msg_free(m);
	}
	assert_int_equal(lw_next(star, &m, 1000), LW_OK);
	assert_string_equal(lw_msg_subject(m), "lit.>");
	lw_msg_free(m);
	assert_int_equal(lw_next(star, &m, 1000), LW_OK);
	assert_string_equal(lw_msg_subject(m), "lit.*");
	lw_msg_free(m);
	assert_int_equal(lw_next(lit, &m, 30), LW_ETIMEDOUT);
	/* The structure is still checked. */
	assert_int_equal(lw_publish(c, "lit..>", "x", 1), LW_EBADSUBJECT);
	/* A connection without the option, in the same thread, right after
	 * the literal one published "lit.*": still refused. */
	{
		lw_conn *strict = lw_test_connect(&g_d);

		assert_int_equal(lw_publish(c, "lit.*", "s", 1), 2);
		assert_int_equal(lw_publish(strict, "lit.*", "s", 1), LW_EBADSUBJECT);
		lw_close(strict);
	}
	lw_close(c);
}

/* Sequence-numbered messages from a child process arrive complete and in
 * order. */
static void test_cross_process(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *s = sub(c, "xp.data", NULL);
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	if (pid == 0) {
		lw_conn *p = lw_test_connect(&g_d);

		if (p == NULL)
			_exit(1);
		for (uint32_t i = 0; i < 20000; i++)
			if (lw_publish(p, "xp.data", &i, sizeof(i)) != 1)
				_exit(2);
		lw_close(p);
		_exit(0);
	}
	for (uint32_t i = 0; i < 20000; i++) {
		lw_msg *m;
		uint32_t v;

		assert_int_equal(lw_next(s, &m, 5000), LW_OK);
		memcpy(&v, lw_msg_data(m), sizeof(v));
		assert_int_equal(v, i);
		lw_msg_free(m);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	lw_close(c);
}

struct churn {
	lw_conn *c;
	atomic_bool stop;
	atomic_long published;
};

static void *churn_pub(void *p)
{
	struct churn *ch = p;

	while (!atomic_load(&ch->stop)) {
		int rc = lw_publish(ch->c, "churn.x", "payload", 7);

		if (rc < 0 && rc != LW_ETIMEDOUT)
			break;
		atomic_fetch_add(&ch->published, 1);
	}
	return NULL;
}

/* Subscribing and unsubscribing while two threads publish on one
 * connection: no crash, no message to a closed subscription's reuse, and
 * every slot comes back. */
static void test_churn(void **state)
{
	struct churn ch = { .c = lw_test_connect(&g_d) };
	lw_conn *c = lw_test_connect(&g_d);
	struct lw_domain_stats st0, st1;
	pthread_t t, t2;

	(void)state;
	assert_int_equal(lw_stats(c, &st0), LW_OK);
	pthread_create(&t, NULL, churn_pub, &ch);
	pthread_create(&t2, NULL, churn_pub, &ch);
	for (int i = 0; i < 300; i++) {
		struct lw_sub_opts o;
		lw_sub *s, *other;
		lw_msg *m;

		lw_sub_opts_init(&o);
		o.policy = LW_SLOW_DROP_NEWEST;
		assert_int_equal(lw_subscribe(c, i % 2 ? "churn.*" : "churn.x", &o, &s), LW_OK);
		assert_int_equal(lw_subscribe(c, "churn.other", &o, &other), LW_OK);
		for (int k = 0; k < 5; k++) {
			if (lw_next(s, &m, 1) == LW_OK) {
				assert_string_equal(lw_msg_subject(m), "churn.x");
				lw_msg_free(m);
			}
		}
		/* only churn.x is published: a reused record must not leak it */
		expect_none(other);
		assert_int_equal(lw_unsubscribe(s), LW_OK);
		assert_int_equal(lw_unsubscribe(other), LW_OK);
	}
	atomic_store(&ch.stop, true);
	pthread_join(t, NULL);
	pthread_join(t2, NULL);
	assert_true(atomic_load(&ch.published) > 0);
	lw_close(ch.c);
	/* lwd frees retired subscriptions after a grace period */
	assert_true(LW_TEST_WAIT(lw_stats(c, &st1) == LW_OK && st1.subs == st0.subs &&
				 st1.cls[0].free == st0.cls[0].free, 3000));
	lw_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pubsub_basic),
		cmocka_unit_test(test_latency_sample),
		cmocka_unit_test(test_thread_buffers_freed),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_queue_group),
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_deliver_subject),
		cmocka_unit_test(test_loan_zero_copy),
		cmocka_unit_test(test_callback),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_literal_wildcards),
		cmocka_unit_test(test_subscription_limit),
		cmocka_unit_test(test_cross_process),
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
