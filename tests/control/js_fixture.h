/* SPDX-License-Identifier: MIT */
/*
 * Shared fixture of the lw-control end-to-end tests: a private lwd with
 * its NATS gateway, lw-control on a temporary store, one nats.c
 * connection and JetStream context, and small helpers (add a stream,
 * publish with ack, stream info, restart lw-control). Header-only so each
 * test executable stays one file.
 */
#ifndef JS_FIXTURE_H
#define JS_FIXTURE_H

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

static __attribute__((unused)) void nats_up(void)
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

static __attribute__((unused)) void nats_down(void)
{
	jsCtx_Destroy(g_js);
	natsConnection_Destroy(g_nc);
	g_js = NULL;
	g_nc = NULL;
}

static __attribute__((unused)) int group_setup(void **state)
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

static __attribute__((unused)) int group_teardown(void **state)
{
	(void)state;
	nats_down();
	nats_Close();
	ctl_stop(&g_c, SIGTERM);
	ctl_rm_tree(g_c.dir);
	return lw_test_daemon_stop(&g_t.d, SIGTERM) == 0 ? 0 : -1;
}

static __attribute__((unused)) void restart(int sig)
{
	assert_int_equal(ctl_stop(&g_c, sig), sig == SIGKILL ? 128 + SIGKILL : 0);
	assert_int_equal(ctl_start(&g_c), 0);
}

static __attribute__((unused)) void add_stream(const char *name, const char *subj, void (*tweak)(jsStreamConfig *))
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

static __attribute__((unused)) uint64_t pub(const char *subj, const char *data, const char *msg_id, bool *dup)
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

static __attribute__((unused)) jsStreamInfo *info(const char *name)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;

	assert_int_equal(js_GetStreamInfo(&si, g_js, name, NULL, &ec), NATS_OK);
	return si;
}

#endif
