/* SPDX-License-Identifier: MIT */
/*
 * Failure handling of the domain and its daemon: a client killed while
 * holding loans, messages and subscriptions; a second lwd on the same
 * domain; a client of another ABI version; a domain left behind by a
 * killed lwd; clean shutdown waking blocked receivers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "lw_test_env.h"
#include "lw_domain.h"

/* Each test runs its own lwd under its own domain name; the teardown
 * stops it even when an assertion ended the test early. */
static struct lw_test_daemon d;
static int test_no;

static int setup(void **state)
{
	(void)state;
	d.pid = 0;
	snprintf(d.domain, sizeof(d.domain), "t%d_%d", (int)getpid(), ++test_no);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (d.pid > 0)
		lw_test_daemon_stop(&d, SIGKILL);
	return 0;
}

static void pool_free_totals(lw_conn *c, uint64_t *free_total, uint64_t *total)
{
	struct lw_domain_stats st;

	assert_int_equal(lw_stats(c, &st), LW_OK);
	*free_total = *total = 0;
	for (uint32_t k = 0; k < st.nclasses; k++) {
		*free_total += st.cls[k].free;
		*total += st.cls[k].total;
	}
}

static void test_killed_client_reclaimed(void **state)
{
	struct lw_domain_stats st;
	uint64_t fr, tot;
	lw_conn *c;
	int pfd[2];
	pid_t pid;
	char ok;

	(void)state;
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	c = lw_test_connect(&d);
	assert_non_null(c);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		lw_conn *k = lw_test_connect(&d);
		struct lw_loan l;
		lw_sub *s1, *s2;
		lw_msg *m;

		if (k == NULL || lw_subscribe(k, "victim.a", NULL, &s1) != LW_OK ||
		    lw_subscribe(k, "victim.>", NULL, &s2) != LW_OK)
			_exit(1);
		for (int i = 0; i < 10; i++)
			if (lw_loan(k, 100 + i * 1000, &l) != LW_OK)
				_exit(2);
		/* 200 B: travels in pool slots, not inline in the ring */
		static const char big[200];

		for (int i = 0; i < 20; i++)
			lw_publish(k, "victim.a", big, sizeof(big));
		/* take 5 and never free them */
		for (int i = 0; i < 5; i++)
			if (lw_next(s1, &m, 1000) != LW_OK)
				_exit(3);
		if (write(pfd[1], "k", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &ok, 1), 1);
	close(pfd[0]);
	assert_int_equal(lw_stats(c, &st), LW_OK);
	assert_int_equal(st.clients, 2);
	assert_int_equal(st.subs, 2);
	pool_free_totals(c, &fr, &tot);
	assert_true(fr < tot);
	/* messages to the dead client's subjects pile up until lwd notices */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_true(LW_TEST_WAIT(lw_stats(c, &st) == LW_OK && st.clients_reclaimed == 1 &&
				 st.subs == 0 && st.clients == 1, 3000));
	/* every slot is back: 10 loans, 5 held messages, 35 queued refs */
	assert_true(LW_TEST_WAIT((pool_free_totals(c, &fr, &tot), fr == tot), 3000));
	assert_true(st.slots_reclaimed >= 15);
	assert_int_equal(lw_publish(c, "victim.a", "x", 1), 0);
	lw_close(c);
	assert_int_equal(lw_test_daemon_stop(&d, SIGTERM), 0);
}

static void test_second_daemon_refused(void **state)
{
	char cmd[512], line[512];
	int found = 0;
	FILE *f;

	(void)state;
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	/* same domain: refused with exit code 3 and a clear message */
	snprintf(cmd, sizeof(cmd), "%s --domain %s 2>&1; echo exit=$?",
		 getenv("LWD") ? getenv("LWD") : "lwd", d.domain);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "already served by another lwd") != NULL)
			found |= 1;
		if (strstr(line, "exit=3") != NULL)
			found |= 2;
	}
	pclose(f);
	assert_int_equal(found, 3);
	/* the first one is unharmed */
	lw_conn *c = lw_test_connect(&d);

	assert_non_null(c);
	lw_close(c);
	assert_int_equal(lw_test_daemon_stop(&d, SIGTERM), 0);
}

/* Rewrites the ABI version in a live domain, as a newer lwd would have
 * made it, and checks that a client refuses it cleanly. */
static void test_abi_mismatch(void **state)
{
	struct lw_domain_stats st;
	struct lw_dom_hdr *h;
	struct stat sb;
	lw_conn *c;
	int fd;

	(void)state;
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	c = lw_test_connect(&d);
	assert_int_equal(lw_stats(c, &st), LW_OK);
	lw_close(c);
	fd = open(st.path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	h = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(h != MAP_FAILED);
	h->abi_version = LW_ABI_VERSION + 1;
	assert_null(lw_test_connect(&d));
	{
		struct lw_conn_opts o;

		lw_conn_opts_init(&o);
		o.domain = d.domain;
		assert_int_equal(lw_connect(&c, &o), LW_EABI);
		assert_non_null(strstr(lw_errmsg(), "ABI version"));
	}
	/* garbage header: corrupt, not a crash */
	h->abi_version = LW_ABI_VERSION;
	h->magic = 0x1234;
	{
		struct lw_conn_opts o;

		lw_conn_opts_init(&o);
		o.domain = d.domain;
		assert_int_equal(lw_connect(&c, &o), LW_ECORRUPT);
	}
	h->magic = LW_DOM_MAGIC;
	c = lw_test_connect(&d);
	assert_non_null(c);
	lw_close(c);
	munmap(h, (size_t)sb.st_size);
	close(fd);
	assert_int_equal(lw_test_daemon_stop(&d, SIGTERM), 0);
}

static void test_stale_domain_recovered(void **state)
{
	struct lw_domain_stats st;
	struct lw_conn_opts o;
	lw_conn *c, *old;

	(void)state;
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	c = lw_test_connect(&d);
	assert_int_equal(lw_stats(c, &st), LW_OK);
	assert_int_equal(lw_conn_alive(c), LW_OK);
	/* lwd dies without cleaning up */
	assert_int_equal(lw_test_daemon_stop(&d, SIGKILL), 128 + SIGKILL);
	assert_int_equal(access(st.path, F_OK), 0);
	/* a connected client notices instead of hanging */
	lw_sub *s = NULL;

	assert_int_equal(lw_conn_alive(c), LW_ENODAEMON);
	assert_true(lw_subscribe(c, "after.death", NULL, &s) < 0);
	/* a new client is told there is no daemon */
	lw_conn_opts_init(&o);
	o.domain = d.domain;
	assert_int_equal(lw_connect(&old, &o), LW_ENODAEMON);
	/* a new lwd takes over and says so; the old connection still knows
	 * it is not served (the new lwd marks the stale domain dead) */
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	assert_int_not_equal(lw_conn_alive(c), LW_OK);
	lw_close(c);
	c = lw_test_connect(&d);
	assert_int_equal(lw_conn_alive(c), LW_OK);
	assert_non_null(c);
	assert_int_equal(lw_publish(c, "x", "y", 1), 0);
	lw_close(c);
	assert_int_equal(lw_test_daemon_stop(&d, SIGTERM), 0);
	assert_true(lw_test_file_has(d.log, "recovered stale domain"));
	/* clean shutdown removed the files */
	assert_int_not_equal(access(st.path, F_OK), 0);
}

/* Out of descriptors, /proc cannot be read: that says nothing about the
 * process, and lwd's reaper must not take it for dead (it took every
 * client away, its own gateway's included). Gone is 0. */
static void test_proc_unknown_is_not_dead(void **state)
{
	struct rlimit was, low;
	uint64_t st;
	int fds[64], n = 0;

	(void)state;
	assert_true(lw_proc_start_time(getpid()) != 0);
	assert_int_equal(lw_proc_start_time(0x3ffffff0), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	/* fill the table up to a low limit */
	low = was;
	low.rlim_cur = 32;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64) {
		int fd = open("/dev/null", O_RDONLY);

		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	st = lw_proc_start_time(getpid());
	for (int i = 0; i < n; i++)
		close(fds[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
	assert_true(st == LW_PROC_UNKNOWN);
}

static void *blocked_next(void *p)
{
	lw_sub *s = p;
	lw_msg *m;

	return (void *)(intptr_t)lw_next(s, &m, 10000);
}

static void test_shutdown_wakes_receivers(void **state)
{
	struct lw_conn_opts o;
	pthread_t t;
	void *rc;
	lw_conn *c;
	lw_sub *s;

	(void)state;
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	c = lw_test_connect(&d);
	assert_int_equal(lw_subscribe(c, "idle", NULL, &s), LW_OK);
	pthread_create(&t, NULL, blocked_next, s);
	lw_test_sleep_ms(100);
	assert_int_equal(lw_test_daemon_stop(&d, SIGINT), 0);
	pthread_join(t, &rc);
	assert_int_equal((int)(intptr_t)rc, LW_ECLOSED);
	assert_int_equal(lw_publish(c, "idle", "x", 1), LW_ECLOSED);
	assert_int_equal(lw_conn_alive(c), LW_ECLOSED);
	lw_close(c);
	lw_conn_opts_init(&o);
	o.domain = d.domain;
	assert_int_equal(lw_connect(&c, &o), LW_ENOTFOUND);
}

/* A SIGKILLed lwd leaves its header READY: a receiver waiting in lw_next
 * learns it is gone (LW_ENODAEMON) instead of waiting for ever, and a
 * control call does not sit out its whole request timeout. */
static void test_kill_wakes_receivers(void **state)
{
	struct lw_conn_opts o;
	pthread_t t;
	void *rc;
	lw_conn *c;
	lw_sub *s, *s2 = NULL;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	lw_conn_opts_init(&o);
	o.domain = d.domain;
	o.request_timeout_ms = 10000;
	assert_int_equal(lw_connect(&c, &o), LW_OK);
	assert_int_equal(lw_subscribe(c, "idle", NULL, &s), LW_OK);
	pthread_create(&t, NULL, blocked_next, s);
	lw_test_sleep_ms(100);
	assert_int_equal(lw_test_daemon_stop(&d, SIGKILL), 128 + SIGKILL);
	pthread_join(t, &rc);
	assert_int_equal((int)(intptr_t)rc, LW_ENODAEMON);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lw_subscribe(c, "after", NULL, &s2), LW_ENODAEMON);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5); /* not the 10 s timeout */
	lw_close(c);
	/* a new lwd recovers the stale domain; its clean stop removes it */
	assert_int_equal(lw_test_daemon_start(&d, d.domain, NULL), 0);
	assert_int_equal(lw_test_daemon_stop(&d, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_killed_client_reclaimed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_daemon_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abi_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_domain_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_wakes_receivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_wakes_receivers, setup, teardown),
		cmocka_unit_test(test_proc_unknown_is_not_dead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
