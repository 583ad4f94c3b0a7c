/* SPDX-License-Identifier: MIT */
/*
 * lw-control streams end to end with the real nats.c JetStream API through
 * a private lwd's NATS gateway: js_AddStream (and its errors), js_Publish
 * PubAcks with increasing sequences, Nats-Msg-Id de-duplication and
 * expectations, shared-memory publishers storing into the same stream,
 * stream info / names / get / delete / purge / update, limits, retention,
 * memory storage, a corrupted segment, and restarts (SIGTERM and SIGKILL)
 * keeping messages, sequences and the dedup window.
 */
#include "js_fixture.h"

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
	/* an expectation too long to read is refused, never skipped; a long
	 * message id (up to 1 KiB) still de-duplicates */
	{
		static char lng[1100];

		memset(lng, 'W', sizeof(lng) - 1);
		jsPubOptions_Init(&po);
		po.ExpectStream = lng;
		ec = 0;
		assert_int_not_equal(js_Publish(&pa, g_js, "pub.a", "z", 1, &po, &ec), NATS_OK);
		assert_int_equal(ec, 10003);
		lng[1000] = '\0';
		jsPubOptions_Init(&po);
		po.MsgId = lng;
		assert_int_equal(js_Publish(&pa, g_js, "pub.a", "z", 1, &po, &ec), NATS_OK);
		assert_false(pa->Duplicate);
		jsPubAck_Destroy(pa);
		assert_int_equal(js_Publish(&pa, g_js, "pub.a", "z", 1, &po, &ec), NATS_OK);
		assert_true(pa->Duplicate);
		jsPubAck_Destroy(pa);
	}

	si = info("PUB");
	assert_int_equal(si->State.Msgs, 14);
	assert_int_equal(si->State.FirstSeq, 1);
	assert_int_equal(si->State.LastSeq, 14);
	assert_int_equal(si->State.NumSubjects, 2);
	jsStreamInfo_Destroy(si);
}

/* lw-control watches lwd without publishing: a '>' tap (a monitor, a
 * debugging user) sees only what clients send, as with nats-server. */
static void test_idle_control_is_silent(void **state)
{
	lw_conn *c = lw_test_connect(&g_t.d);
	lw_sub *s = NULL;
	lw_msg *m = NULL;

	(void)state;
	assert_non_null(c);
	assert_int_equal(lw_subscribe(c, "_LW.>", NULL, &s), LW_OK);
	/* three of lw-control's 200 ms liveness checks */
	int rc = lw_next(s, &m, 700);

	if (rc == LW_OK)
		fail_msg("lw-control published '%s'", lw_msg_subject(m));
	assert_int_equal(rc, LW_ETIMEDOUT);
	lw_close(c);
}

/* A stream whose meta.json is damaged is not served, and lw-control says
 * so at start (it served one stream fewer without a word). */
static void test_damaged_meta_reported(void **state)
{
	char path[300];
	FILE *f;

	(void)state;
	add_stream("BADM", "badm.>", NULL);
	assert_true(pub("badm.a", "kept", NULL, NULL) >= 1);
	snprintf(path, sizeof(path), "%s/BADM/meta.json", g_c.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{not json", f);
	fclose(f);
	restart(SIGTERM);
	assert_true(lw_test_file_has(g_c.log, "stream BADM not loaded"));
	assert_true(lw_test_file_has(g_c.log, "its messages are kept in"));
	/* the rest is served */
	assert_true(pub("keep.c", "still", NULL, NULL) >= 1);
}

/* A create the fabric refuses (more subjects than lwd has subscriptions,
 * 4096 by default)
 * leaves nothing on disk, and lw-control starts again serving the rest. */
static void test_refused_create_leaves_nothing(void **state)
{
	static char bufs[4200][16];
	const char *subjects[4200];
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	char path[300];

	(void)state;
	add_stream("KEEP", "keep.>", NULL);
	assert_true(pub("keep.a", "important", NULL, NULL) >= 1);
	for (int i = 0; i < 4200; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "wide.s%d", i);
		subjects[i] = bufs[i];
	}
	jsStreamConfig_Init(&cfg);
	cfg.Name = "WIDE";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 4200;
	assert_int_not_equal(js_AddStream(&si, g_js, &cfg, NULL, &ec), NATS_OK);
	snprintf(path, sizeof(path), "%s/WIDE", g_c.dir);
	assert_int_not_equal(access(path, F_OK), 0);
	restart(SIGTERM);
	si = info("KEEP");
	assert_int_equal(si->State.Msgs, 1);
	jsStreamInfo_Destroy(si);
	assert_true(pub("keep.b", "still", NULL, NULL) >= 2);
}

static void healthz_js(char *buf, size_t cap)
{
	int eof, fd = gw_tcp_connect(g_t.http_port);

	gw_send(fd, "GET /healthz?js-enabled-only=true HTTP/1.0\r\n\r\n");
	gw_recv_until(fd, buf, cap, NULL, 2000, &eof);
	close(fd);
}

/* With lw-control serving the domain, lwd's health check for JetStream
 * passes (without it: 503, see gw_wire); with lw-control stopped
 * (SIGSTOP: its subscriptions stay, nothing answers) it fails. */
static void test_healthz_jetstream(void **state)
{
	char buf[2048];

	(void)state;
	healthz_js(buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(buf, "{\"status\":\"ok\"}"));
	kill(g_c.pid, SIGSTOP);
	lw_test_sleep_ms(50); /* stopped once the signal is taken */
	healthz_js(buf, sizeof(buf));
	kill(g_c.pid, SIGCONT);
	assert_non_null(strstr(buf, "HTTP/1.1 503"));
	assert_non_null(strstr(buf, "is stopped"));
	healthz_js(buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
}

/* Shared-memory clients store into the same stream: with a reply subject
 * they get the PubAck, without one the message is stored silently. */
static void allow_direct(jsStreamConfig *cfg)
{
	cfg->AllowDirect = true;
}

static void test_shm_publisher(void **state)
{
	lw_conn *c = lw_test_connect(&g_t.d);
	lw_msg *r = NULL;
	jsStreamInfo *si;

	(void)state;
	assert_non_null(c);
	add_stream("SHM", "shm.>", allow_direct);
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
	/* A header block without its closing blank line is served by
	 * DIRECT.GET as a well-formed block, its own headers then ours. */
	{
		static const char h[] = "NATS/1.0\r\nK: v\r\n";
		struct lw_pubmsg pm = { .subject = "shm.h", .hdr = h, .hdr_len = sizeof(h) - 1,
					.data = "d", .len = 1 };
		char v[64];
		size_t hl;
		const char *hb;

		assert_true(lw_publish_msg(c, &pm) >= 1);
		assert_true(LW_TEST_WAIT(({ jsStreamInfo *x = info("SHM");
					    int n = (int)x->State.Msgs; jsStreamInfo_Destroy(x); n == 3; }),
					 2000));
		/* Not for a stream without allow_direct, nor one that is not
		 * there: no responders, as from nats-server. */
		add_stream("SHMND", "shmnd.>", NULL);
		assert_int_equal(lw_request(c, "$JS.API.DIRECT.GET.SHMND", "{\"seq\":1}", 9, 2000, &r),
				 LW_ENORESPONDERS);
		assert_int_equal(lw_request(c, "$JS.API.DIRECT.GET.NONE", "{\"seq\":1}", 9, 2000, &r),
				 LW_ENORESPONDERS);
		assert_int_equal(lw_request(c, "$JS.API.DIRECT.GET.SHM", "{\"seq\":3}", 9, 2000, &r),
				 LW_OK);
		hb = lw_msg_headers(r, &hl);
		assert_non_null(hb);
		if (memmem(hb, hl, "K: v\r\nNats-Stream: SHM\r\n", 24) == NULL)
			fail_msg("headers: %.*s", (int)hl, hb);
		assert_memory_equal(hb + hl - 4, "\r\n\r\n", 4);
		assert_int_equal(lw_msg_header(r, "K", v, sizeof(v)), 1);
		lw_msg_free(r);
	}
	/* A name with a quote (allowed, as by nats-server) stays a string in
	 * the PubAck instead of writing JSON of its own. */
	{
		static const char want[] = "{\"stream\":\"Q\\\"x\",\"seq\":1}";
		static const char body[] = "{\"name\":\"Q\\\"x\",\"subjects\":[\"qx.>\"]}";

		assert_int_equal(lw_request(c, "$JS.API.STREAM.CREATE.Q\"x", body, strlen(body), 2000,
					    &r), LW_OK);
		assert_non_null(memmem(lw_msg_data(r), lw_msg_len(r), "\"did_create\":true", 17));
		lw_msg_free(r);
		assert_int_equal(lw_request(c, "qx.a", "v", 1, 2000, &r), LW_OK);
		assert_int_equal(lw_msg_len(r), strlen(want));
		assert_memory_equal(lw_msg_data(r), want, strlen(want));
		lw_msg_free(r);
	}
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

static void lim_bytes(jsStreamConfig *c) { c->MaxBytes = 1000; }

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

	/* one message bigger than max_bytes: refused, what is stored stays */
	add_stream("LBIG", "lbig", lim_bytes);
	for (int i = 0; i < 5; i++)
		pub("lbig", "small", NULL, NULL);
	{
		static char big[5000];

		memset(big, 'B', sizeof(big));
		ec = 0;
		assert_int_not_equal(js_Publish(&pa, g_js, "lbig", big, sizeof(big), NULL, &ec),
				     NATS_OK);
		assert_int_equal(ec, 10054);
	}
	si = info("LBIG");
	assert_int_equal(si->State.Msgs, 5);
	jsStreamInfo_Destroy(si);

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
	/* nats-server's memory-store size: 16 + subject + data */
	assert_int_equal(si->State.Bytes, 2 * (16 + 5 + 1));
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

/* nats.c's key-value API on a lw-control bucket: put/get (direct get),
 * watch from the current value, history, keys, delete. */
static void test_kv(void **state)
{
	kvStore *kv = NULL;
	kvConfig kc;
	kvEntry *e = NULL;
	kvWatcher *w = NULL;
	kvEntryList hist = { 0 };
	kvKeysList keys = { 0 };
	uint64_t rev = 0;

	(void)state;
	kvConfig_Init(&kc);
	kc.Bucket = "ckv";
	kc.History = 3;
	assert_int_equal(js_CreateKeyValue(&kv, g_js, &kc), NATS_OK);
	assert_int_equal(kvStore_PutString(&rev, kv, "a", "one"), NATS_OK);
	assert_int_equal(rev, 1);
	assert_int_equal(kvStore_PutString(&rev, kv, "a", "two"), NATS_OK);
	assert_int_equal(rev, 2);
	assert_int_equal(kvStore_Get(&e, kv, "a"), NATS_OK);
	assert_string_equal(kvEntry_ValueString(e), "two");
	assert_int_equal(kvEntry_Revision(e), 2);
	kvEntry_Destroy(e);
	e = NULL;
	assert_int_equal(kvStore_Get(&e, kv, "missing"), NATS_NOT_FOUND);
	/* watch: the current value, the end-of-initial-values marker (NULL),
	 * then a value put afterwards */
	assert_int_equal(kvStore_Watch(&w, kv, "a", NULL), NATS_OK);
	assert_int_equal(kvWatcher_Next(&e, w, 2000), NATS_OK);
	assert_string_equal(kvEntry_ValueString(e), "two");
	kvEntry_Destroy(e);
	e = NULL;
	assert_int_equal(kvWatcher_Next(&e, w, 2000), NATS_OK);
	assert_null(e);
	assert_int_equal(kvStore_PutString(&rev, kv, "a", "three"), NATS_OK);
	assert_int_equal(kvWatcher_Next(&e, w, 2000), NATS_OK);
	assert_string_equal(kvEntry_ValueString(e), "three");
	kvEntry_Destroy(e);
	e = NULL;
	kvWatcher_Destroy(w);
	assert_int_equal(kvStore_History(&hist, kv, "a", NULL), NATS_OK);
	assert_int_equal(hist.Count, 3);
	kvEntryList_Destroy(&hist);
	assert_int_equal(kvStore_Keys(&keys, kv, NULL), NATS_OK);
	assert_int_equal(keys.Count, 1);
	assert_string_equal(keys.Keys[0], "a");
	kvKeysList_Destroy(&keys);
	assert_int_equal(kvStore_Delete(kv, "a"), NATS_OK);
	assert_int_equal(kvStore_Get(&e, kv, "a"), NATS_NOT_FOUND);
	kvStore_Destroy(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_create),
		cmocka_unit_test(test_publish_ack_dedup),
		cmocka_unit_test(test_idle_control_is_silent),
		cmocka_unit_test(test_healthz_jetstream),
		cmocka_unit_test(test_refused_create_leaves_nothing),
		cmocka_unit_test(test_damaged_meta_reported),
		cmocka_unit_test(test_shm_publisher),
		cmocka_unit_test(test_get_delete_purge),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_restart_keeps_messages),
		cmocka_unit_test(test_memory_stream),
		cmocka_unit_test(test_corrupt_segment),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_interest),
		cmocka_unit_test(test_kv),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
