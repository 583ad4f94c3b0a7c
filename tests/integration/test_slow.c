/* SPDX-License-Identifier: MIT */
/*
 * Slow-consumer policies, against an lwd with 8-message rings so a ring
 * fills quickly: drop-newest keeps the first 8, drop-oldest the last 8,
 * block makes the publisher wait (and time out when nobody reads), and
 * every drop is counted. Memory never grows: the pool comes back whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include "lw_test_env.h"

static struct lw_test_daemon g_d;

static int group_setup(void **state)
{
	static const char *const extra[] = { "--ring-size", "8", NULL };

	(void)state;
	return lw_test_daemon_start(&g_d, NULL, extra);
}

static int group_teardown(void **state)
{
	(void)state;
	return lw_test_daemon_stop(&g_d, SIGINT) == 0 ? 0 : -1;
}

static lw_sub *sub_policy(lw_conn *c, const char *subject, enum lw_slow_policy p)
{
	struct lw_sub_opts o;
	lw_sub *s = NULL;

	lw_sub_opts_init(&o);
	o.policy = p;
	assert_int_equal(lw_subscribe(c, subject, &o, &s), LW_OK);
	return s;
}

static void publish_seq(lw_conn *c, const char *subject, uint32_t from, uint32_t n, int expect)
{
	for (uint32_t i = from; i < from + n; i++)
		assert_int_equal(lw_publish(c, subject, &i, sizeof(i)), expect);
}

static void drain_expect(lw_sub *s, uint32_t first, uint32_t n)
{
	lw_msg *m;
	uint32_t v;

	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(lw_next(s, &m, 1000), LW_OK);
		memcpy(&v, lw_msg_data(m), sizeof(v));
		assert_int_equal(v, first + i);
		lw_msg_free(m);
	}
	assert_int_equal(lw_next(s, &m, 0), LW_EAGAIN);
}

static void test_drop_newest(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *s = sub_policy(c, "slow.new", LW_SLOW_DROP_NEWEST);
	struct lw_sub_stats st;

	(void)state;
	publish_seq(c, "slow.new", 0, 8, 1);
	/* full: the new message is dropped for this subscriber */
	publish_seq(c, "slow.new", 8, 12, 0);
	assert_int_equal(lw_sub_stats(s, &st), LW_OK);
	assert_int_equal(st.dropped, 12);
	assert_int_equal(st.delivered, 8);
	assert_int_equal(st.depth, 8);
	assert_int_equal(st.capacity, 8);
	drain_expect(s, 0, 8);
	lw_close(c);
}

static void test_drop_oldest(void **state)
{
	lw_conn *c = lw_test_connect(&g_d);
	lw_sub *s = sub_policy(c, "slow.old", LW_SLOW_DROP_OLDEST);
	struct lw_sub_stats st;

	(void)state;
	publish_seq(c, "slow.old", 0, 20, 1);
	assert_int_equal(lw_sub_stats(s, &st), LW_OK);
	assert_int_equal(st.dropped, 12);
	assert_int_equal(st.delivered, 20);
	drain_expect(s, 12, 8);
	lw_close(c);
}

static void test_block_timeout(void **state)
{
	struct lw_conn_opts o;
	lw_conn *c, *r = lw_test_connect(&g_d);
	lw_sub *s = sub_policy(r, "slow.block", LW_SLOW_BLOCK);
	lw_sub *fast = sub_policy(r, "slow.block", LW_SLOW_DROP_NEWEST);
	struct lw_sub_stats st;
	uint32_t v = 99;
	lw_msg *m;

	(void)state;
	lw_conn_opts_init(&o);
	o.domain = g_d.domain;
	o.block_timeout_ms = 100;
	assert_int_equal(lw_connect(&c, &o), LW_OK);
	publish_seq(c, "slow.block", 0, 8, 2);
	/* the blocking subscriber stays full: the publisher gives up, but
	 * the other subscriber still gets the message */
	assert_int_equal(lw_publish(c, "slow.block", &v, sizeof(v)), LW_ETIMEDOUT);
	assert_int_equal(lw_sub_stats(s, &st), LW_OK);
	assert_true(st.blocked >= 1);
	assert_int_equal(st.delivered, 8);
	drain_expect(s, 0, 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(lw_next(fast, &m, 0), LW_OK);
		lw_msg_free(m);
	}
	lw_close(c);
	lw_close(r);
}

struct reader {
	lw_sub *s;
	uint32_t n;
	uint32_t bad;
};

static void *read_all(void *p)
{
	struct reader *rd = p;
	lw_msg *m;
	uint32_t v;

	for (uint32_t i = 0; i < rd->n; i++) {
		if (lw_next(rd->s, &m, 5000) != LW_OK) {
			rd->bad++;
			break;
		}
		memcpy(&v, lw_msg_data(m), sizeof(v));
		if (v != i)
			rd->bad++;
		lw_msg_free(m);
	}
	return NULL;
}

/* Backpressure: with a reader, a blocking subscription loses nothing even
 * though its ring holds only 8. */
static void test_block_lossless(void **state)
{
	lw_conn *c = lw_test_connect(&g_d), *r = lw_test_connect(&g_d);
	struct reader rd = { .s = sub_policy(r, "slow.bp", LW_SLOW_BLOCK), .n = 20000 };
	struct lw_domain_stats st0, st1;
	struct lw_sub_stats ss;
	pthread_t t;

	(void)state;
	assert_int_equal(lw_stats(c, &st0), LW_OK);
	pthread_create(&t, NULL, read_all, &rd);
	publish_seq(c, "slow.bp", 0, rd.n, 1);
	pthread_join(t, NULL);
	assert_int_equal(rd.bad, 0);
	assert_int_equal(lw_sub_stats(rd.s, &ss), LW_OK);
	assert_int_equal(ss.dropped, 0);
	assert_int_equal(ss.delivered, rd.n);
	lw_close(r);
	assert_true(LW_TEST_WAIT(lw_stats(c, &st1) == LW_OK &&
				 st1.cls[0].free == st0.cls[0].free, 2000));
	lw_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_newest),
		cmocka_unit_test(test_drop_oldest),
		cmocka_unit_test(test_block_timeout),
		cmocka_unit_test(test_block_lossless),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
