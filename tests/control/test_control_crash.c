/* SPDX-License-Identifier: MIT */
/*
 * Crash safety of lw-control (fsync always): a nats.c publisher sends
 * js_Publish in a loop while lw-control is SIGKILLed, three times over.
 * After each restart every message that got a PubAck is in the stream
 * exactly once, at the sequence its PubAck named, in publish order; no
 * message is stored twice. Then the same with lwd SIGKILLed instead:
 * lw-control notices, syncs its stores and waits; once a new lwd serves
 * the domain it reconnects by itself (same process) and the same holds. Last, a full disk (RLIMIT_FSIZE
 * on lw-control): publishes fail with 10077, nothing acknowledged is lost
 * and publishing works again once there is room.
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

#define MAXMSG 200000

static struct gw_test g_t;
static struct ctl_proc g_c;
static natsConnection *g_nc;
static jsCtx *g_js;
static uint64_t g_acked[MAXMSG]; /* message i -> acked sequence (0 = not acked) */
static atomic_int g_next;

static int nats_up(void)
{
	natsOptions *o = NULL;
	jsOptions jo;

	natsOptions_Create(&o);
	natsOptions_SetURL(o, g_t.url);
	natsOptions_SetAllowReconnect(o, false);
	if (natsConnection_Connect(&g_nc, o) != NATS_OK)
		return -1;
	natsOptions_Destroy(o);
	jsOptions_Init(&jo);
	jo.Wait = 1000;
	return natsConnection_JetStream(&g_js, g_nc, &jo) == NATS_OK ? 0 : -1;
}

static int group_setup(void **state)
{
	(void)state;
	if (gw_test_start(&g_t, 2, NULL) != 0)
		return -1;
	snprintf(g_c.domain, sizeof(g_c.domain), "%s", g_t.d.domain);
	snprintf(g_c.dir, sizeof(g_c.dir), "/tmp/lw-control-crash-%d", (int)getpid());
	g_c.fsync = "always";
	ctl_rm_tree(g_c.dir);
	if (ctl_start(&g_c) != 0)
		return -1;
	return nats_up();
}

static int group_teardown(void **state)
{
	(void)state;
	jsCtx_Destroy(g_js);
	natsConnection_Destroy(g_nc);
	nats_Close();
	ctl_stop(&g_c, SIGTERM);
	ctl_rm_tree(g_c.dir);
	return lw_test_daemon_stop(&g_t.d, SIGTERM) == 0 ? 0 : -1;
}

/* Publishes until the first failure (lw-control gone). */
static void *publisher(void *arg)
{
	(void)arg;
	for (;;) {
		int i = atomic_load(&g_next);
		char d[32];
		jsPubAck *pa = NULL;
		jsErrCode ec = 0;

		if (i >= MAXMSG)
			break;
		snprintf(d, sizeof(d), "m-%d", i);
		if (js_Publish(&pa, g_js, "crash.x", d, (int)strlen(d), NULL, &ec) != NATS_OK)
			break;
		g_acked[i] = pa->Sequence;
		jsPubAck_Destroy(pa);
		atomic_store(&g_next, i + 1);
	}
	return NULL;
}

static void verify(void)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	static int seen[MAXMSG];
	int n = atomic_load(&g_next), acked = 0;

	memset(seen, 0, sizeof(seen));
	assert_int_equal(js_GetStreamInfo(&si, g_js, "CRASH", NULL, &ec), NATS_OK);
	for (uint64_t q = si->State.FirstSeq; q <= si->State.LastSeq; q++) {
		natsMsg *m = NULL;
		char d[32];
		int i;

		if (js_GetMsg(&m, g_js, "CRASH", q, NULL, &ec) != NATS_OK)
			continue;
		snprintf(d, sizeof(d), "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
		natsMsg_Destroy(m);
		assert_int_equal(sscanf(d, "m-%d", &i), 1);
		assert_true(i >= 0 && i <= n);
		seen[i]++;
		assert_int_equal(seen[i], 1); /* never stored twice */
		if (g_acked[i] != 0)
			assert_int_equal(g_acked[i], q);
	}
	for (int i = 0; i < n; i++) {
		if (g_acked[i] == 0)
			continue;
		acked++;
		assert_int_equal(seen[i], 1); /* every acked message survived */
		if (i > 0 && g_acked[i - 1] != 0)
			assert_true(g_acked[i] > g_acked[i - 1]);
	}
	fprintf(stderr, "crash round: %d acked, stream holds %llu (last seq %llu)\n", acked,
		(unsigned long long)si->State.Msgs, (unsigned long long)si->State.LastSeq);
	jsStreamInfo_Destroy(si);
}

static void add_stream(const char *name, const char *subject)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	const char *subjects[1] = { subject };

	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	assert_int_equal(js_AddStream(&si, g_js, &cfg, NULL, &ec), NATS_OK);
	jsStreamInfo_Destroy(si);
}

static void test_kill_during_storm(void **state)
{
	(void)state;
	add_stream("CRASH", "crash.*");
	for (int round = 0; round < 3; round++) {
		pthread_t th;
		int before = atomic_load(&g_next);

		pthread_create(&th, NULL, publisher, NULL);
		lw_test_sleep_ms(400 + 150 * round);
		assert_int_equal(ctl_stop(&g_c, SIGKILL), 128 + SIGKILL);
		pthread_join(th, NULL);
		assert_true(atomic_load(&g_next) > before); /* the storm did publish */
		/* The message in flight at the kill was not acked: skip it. */
		atomic_store(&g_next, atomic_load(&g_next) + 1);
		assert_int_equal(ctl_start(&g_c), 0);
		verify();
	}
}

static void test_kill_lwd_during_storm(void **state)
{
	for (int round = 0; round < 2; round++) {
		pthread_t th;
		int before = atomic_load(&g_next), st = 0;

		(void)state;
		pthread_create(&th, NULL, publisher, NULL);
		lw_test_sleep_ms(400);
		assert_int_equal(lw_test_daemon_stop(&g_t.d, SIGKILL), 128 + SIGKILL);
		pthread_join(th, NULL);
		assert_true(atomic_load(&g_next) > before);
		atomic_store(&g_next, atomic_load(&g_next) + 1);
		/* lw-control notices that lwd is gone and waits for a new one. */
		lw_test_sleep_ms(500);
		assert_int_equal(waitpid(g_c.pid, &st, WNOHANG), 0);
		jsCtx_Destroy(g_js);
		natsConnection_Destroy(g_nc);
		assert_int_equal(gw_test_start(&g_t, 2, NULL), 0);
		assert_int_equal(ctl_wait_ready(&g_c), 0);
		assert_int_equal(nats_up(), 0);
		verify();
	}
}

static _Atomic int g_async_pub_errs;

static void on_pub_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js, (void)closure;
	fprintf(stderr, "async publish error: %s\n", pae->ErrText ? pae->ErrText : "?");
	atomic_fetch_add(&g_async_pub_errs, 1);
}

/* A nats.c client that keeps reconnecting buffers JetStream publishes
 * made while lwd is down and sends them as soon as it is back: they
 * must be stored, as nats-server stores them. (They got "no responders"
 * while lw-control had not yet subscribed in the new lwd: the gateway
 * now lets clients in only once lw-control serves the domain.) */
static void test_publish_across_lwd_restart(void **state)
{
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsPubOptions po;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;

	(void)state;
	add_stream("RST", "rst.x");
	jsCtx_Destroy(g_js);
	natsConnection_Destroy(g_nc);
	natsOptions_Create(&o);
	natsOptions_SetURL(o, g_t.url);
	natsOptions_SetMaxReconnect(o, 200);
	natsOptions_SetReconnectWait(o, 50);
	assert_int_equal(natsConnection_Connect(&nc, o), NATS_OK);
	natsOptions_Destroy(o);
	jsOptions_Init(&jo);
	jo.PublishAsync.ErrHandler = on_pub_err;
	assert_int_equal(natsConnection_JetStream(&js, nc, &jo), NATS_OK);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(lw_test_daemon_stop(&g_t.d, SIGTERM), 0);
		for (int i = 0; i < 5; i++)
			assert_int_equal(js_PublishAsync(js, "rst.x", "late", 4, NULL), NATS_OK);
		assert_int_equal(gw_test_start(&g_t, 2, NULL), 0);
		jsPubOptions_Init(&po);
		po.MaxWait = 10000;
		assert_int_equal(js_PublishAsyncComplete(js, &po), NATS_OK);
		assert_int_equal(atomic_load(&g_async_pub_errs), 0);
	}
	si = NULL;
	assert_int_equal(js_GetStreamInfo(&si, js, "RST", NULL, &ec), NATS_OK);
	assert_int_equal(si->State.Msgs, 15);
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	assert_int_equal(nats_up(), 0);
}

/* nats-server's operator signals (reload, log reopen, lame duck) do not
 * stop lw-control: logged and ignored, the streams stay served. */
static void test_other_signals_ignored(void **state)
{
	int st = 0;

	(void)state;
	kill(g_c.pid, SIGHUP);
	kill(g_c.pid, SIGUSR1);
	kill(g_c.pid, SIGUSR2);
	lw_test_sleep_ms(300);
	assert_int_equal(waitpid(g_c.pid, &st, WNOHANG), 0);
	assert_int_equal(ctl_wait_ready(&g_c), 0);
}

/* A second lw-control on the same domain and store takes over: the first
 * syncs and exits 0, the second serves everything acknowledged before;
 * never two writers on one store. */
static void test_takeover(void **state)
{
	struct ctl_proc second = g_c;
	int st = 0;

	(void)state;
	second.pid = 0;
	assert_int_equal(ctl_start(&second), 0);
	assert_int_equal(waitpid(g_c.pid, &st, 0), g_c.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	g_c = second;
	/* ctl_start saw the old one answer: wait for the new one's API */
	assert_int_equal(ctl_wait_ready(&g_c), 0);
	verify();
	{
		FILE *f = fopen(g_c.log, "r");
		char line[512];
		int said = 0;

		assert_non_null(f);
		while (fgets(line, sizeof(line), f) != NULL)
			said |= strstr(line, "stopping it to take over") != NULL;
		fclose(f);
		assert_true(said);
	}
}

static void lock_paths(const struct ctl_proc *p, char *shm, size_t shm_len, char *store,
		       size_t store_len)
{
	const char *dir = getenv("LW_SHM_DIR");

	snprintf(shm, shm_len, "%s/lightwire-%s.control.lock", dir && *dir ? dir : "/dev/shm",
		 p->domain);
	snprintf(store, store_len, "%s/lw-control.lock", p->dir);
}

/* lw-control removes its lock files when it stops and when it fails to
 * start: stopped runs leave nothing behind in /dev/shm. */
static void test_lock_files_removed(void **state)
{
	char shm[256], store[256], buf[32] = "";
	struct ctl_proc orphan = g_c;
	FILE *f;

	(void)state;
	lock_paths(&g_c, shm, sizeof(shm), store, sizeof(store));
	/* held while it runs, with the owner's pid in it */
	f = fopen(shm, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_int_equal(atoi(buf), (int)g_c.pid);
	assert_int_equal(access(store, F_OK), 0);
	assert_int_equal(ctl_stop(&g_c, SIGTERM), 0);
	assert_int_not_equal(access(shm, F_OK), 0);
	assert_int_not_equal(access(store, F_OK), 0);

	/* a domain no lwd serves: exit 1, nothing left */
	orphan.pid = 0;
	orphan.log[0] = '\0';
	snprintf(orphan.domain, sizeof(orphan.domain), "nolwd%d", (int)getpid());
	assert_int_not_equal(ctl_start(&orphan), 0);
	if (orphan.pid > 0) {
		int st = 0;

		assert_int_equal(waitpid(orphan.pid, &st, 0), orphan.pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 1);
	}
	lock_paths(&orphan, shm, sizeof(shm), store, sizeof(store));
	assert_int_not_equal(access(shm, F_OK), 0);
	assert_int_not_equal(access(store, F_OK), 0);
	unlink(orphan.log);

	assert_int_equal(ctl_start(&g_c), 0);
	verify();
}

static void test_disk_full(void **state)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	const char *subjects[1] = { "full" };
	static char data[1024];
	uint64_t acked = 0;
	int errors = 0;

	(void)state;
	jsStreamConfig_Init(&cfg);
	cfg.Name = "FULL";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	assert_int_equal(js_AddStream(&si, g_js, &cfg, NULL, &ec), NATS_OK);
	jsStreamInfo_Destroy(si);
	assert_int_equal(ctl_stop(&g_c, SIGTERM), 0);
	g_c.fsize_limit = 64 * 1024;
	assert_int_equal(ctl_start(&g_c), 0);
	memset(data, 'd', sizeof(data));
	for (int i = 0; i < 200 && errors < 5; i++) {
		jsPubAck *pa = NULL;

		ec = 0;
		if (js_Publish(&pa, g_js, "full", data, sizeof(data), NULL, &ec) == NATS_OK) {
			assert_int_equal(errors, 0); /* no success after the disk filled */
			assert_int_equal(pa->Sequence, acked + 1);
			acked = pa->Sequence;
			jsPubAck_Destroy(pa);
		} else {
			assert_int_equal(ec, 10077);
			errors++;
		}
	}
	assert_true(acked > 10 && acked < 64);
	assert_int_equal(errors, 5);
	assert_int_equal(ctl_stop(&g_c, SIGTERM), 0);
	g_c.fsize_limit = 0;
	assert_int_equal(ctl_start(&g_c), 0);
	assert_int_equal(js_GetStreamInfo(&si, g_js, "FULL", NULL, &ec), NATS_OK);
	assert_int_equal(si->State.Msgs, acked);
	assert_int_equal(si->State.LastSeq, acked);
	jsStreamInfo_Destroy(si);
	{
		jsPubAck *pa = NULL;

		assert_int_equal(js_Publish(&pa, g_js, "full", data, sizeof(data), NULL, &ec), NATS_OK);
		assert_int_equal(pa->Sequence, acked + 1);
		jsPubAck_Destroy(pa);
	}
}

static _Atomic uint64_t g_async_acked[512];
static _Atomic int g_async_nacked, g_async_nerr;

static void on_async_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js, (void)closure;
	if (pa != NULL) {
		int k = atomic_fetch_add(&g_async_nacked, 1);

		if (k < 512)
			atomic_store(&g_async_acked[k], pa->Sequence);
	} else if (pae != NULL) {
		atomic_fetch_add(&g_async_nerr, 1);
	}
	natsMsg_Destroy(msg);
}

/* The same with async publishes, many in one batch: when writing the
 * batch fails, every PubAck held back for it must turn into an error
 * (one held across the failure went out as success, for a message that
 * was never written). Every acknowledged message is there after a
 * restart, at its sequence. */
static void test_disk_full_async(void **state)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsPubOptions po;
	jsErrCode ec = 0;
	static char data[1024];

	(void)state;
	add_stream("FULLA", "fulla");
	assert_int_equal(ctl_stop(&g_c, SIGTERM), 0);
	g_c.fsize_limit = 64 * 1024;
	assert_int_equal(ctl_start(&g_c), 0);
	assert_int_equal(natsConnection_ConnectTo(&nc, g_t.url), NATS_OK);
	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = on_async_ack;
	assert_int_equal(natsConnection_JetStream(&js, nc, &jo), NATS_OK);
	memset(data, 'a', sizeof(data));
	for (int i = 0; i < 300; i++)
		assert_int_equal(js_PublishAsync(js, "fulla", data, sizeof(data), NULL), NATS_OK);
	jsPubOptions_Init(&po);
	po.MaxWait = 20000;
	assert_int_equal(js_PublishAsyncComplete(js, &po), NATS_OK);
	assert_true(atomic_load(&g_async_nacked) > 0 && atomic_load(&g_async_nacked) < 64);
	assert_int_equal(atomic_load(&g_async_nacked) + atomic_load(&g_async_nerr), 300);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	assert_int_equal(ctl_stop(&g_c, SIGTERM), 0);
	g_c.fsize_limit = 0;
	assert_int_equal(ctl_start(&g_c), 0);
	for (int k = 0; k < atomic_load(&g_async_nacked); k++) {
		natsMsg *m = NULL;

		assert_int_equal(js_GetMsg(&m, g_js, "FULLA", atomic_load(&g_async_acked[k]), NULL,
					   &ec), NATS_OK);
		assert_int_equal(natsMsg_GetDataLength(m), (int)sizeof(data));
		natsMsg_Destroy(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_during_storm),
		cmocka_unit_test(test_kill_lwd_during_storm),
		cmocka_unit_test(test_publish_across_lwd_restart),
		cmocka_unit_test(test_other_signals_ignored),
		cmocka_unit_test(test_takeover),
		cmocka_unit_test(test_lock_files_removed),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_disk_full_async),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
