/* SPDX-License-Identifier: MIT */
/*
 * bench_js: persisted (JetStream) publish and consume with one nats.c
 * client against any server that serves the JetStream API: Debian's
 * nats-server with -js (file storage) and lw-control behind lwd's gateway.
 * perf/run.sh runs both in the same run and passes --server-label
 * nats-server / lightwire, so the target (persisted publish rate
 * >= 2x nats-server's at the same fsync policy) is a same-run ratio.
 *
 * Every mode first deletes and creates the stream BENCH_JS (file storage,
 * subjects bjs.>, no limits), publishes to bjs.m, and deletes it at the
 * end. A figure is printed only after the stream (or the consumer) was
 * checked to hold exactly what was sent; otherwise the program says FAIL
 * and exits 1, so a server that drops or duplicates cannot look fast.
 *
 *   async  js_PublishAsync of --count messages of --size bytes with at
 *          most --max-pending un-acked (jsOptions.PublishAsync.MaxPending),
 *          an ack handler counting PubAcks and errors, then
 *          js_PublishAsyncComplete. Timed from the first publish to the
 *          last PubAck; 1,000 un-timed messages warm up first (connection,
 *          block files, page cache). Checks STREAM.INFO state.messages =
 *          warm-up + count and zero ack errors.
 *          msgs_s = count / time, MBps = payload bytes / time / 1e6,
 *          pub_msgs_s = count / time of the publish calls alone.
 *   raw    the same publishes without the JetStream API of nats.c: a PUB
 *          with a unique reply subject under one wildcard inbox
 *          subscription (what js_PublishAsync sends on the wire), at most
 *          --max-pending un-answered, each answer checked to be a PubAck.
 *          nats.c's js_PublishAsync costs the client ~3 us per message,
 *          which caps what a 2-CPU machine can show; this mode costs it
 *          less, so it shows more of the servers' own rates.
 *   sync   js_Publish one at a time (each waits for its PubAck), --count
 *          timed after min(count/10, 500) warm-up ones, CLOCK_MONOTONIC:
 *          p50/p90/p99/p99.9/max in microseconds and pubs/s.
 *   fetch  fills the stream with --count messages (async, un-timed), then
 *          a durable pull consumer (js_AddConsumer, no filter unless
 *          --filter, bound with js_PullSubscribe; --ack explicit: every
 *          message natsMsg_Ack'ed; all: the last of each batch) fetches
 *          them in batches of --batch (natsSubscription_Fetch). Timed from
 *          the first fetch to the flush after the last ack. Checks the
 *          stream sequences arrive 1..count in order and that the
 *          consumer's ack floor reaches count (CONSUMER.INFO).
 *
 * The workload is one publisher connection pushing small persisted
 * messages as fast as the server acknowledges them: what an ingest
 * service does. The client is one process; pin it (--cpu or taskset)
 * away from the server. A watchdog (--timeout) bounds every run.
 *
 * usage: bench_js --url URL --mode async|raw|sync|fetch [--size B] [--count N]
 *                 [--max-pending N] [--batch N] [--ack explicit|all]
 *                 [--server-label NAME] [--cpu N] [--timeout S]
 * prints "RESULT js_pub_async_<size>B_<label> ...",
 *        "RESULT js_pub_raw_<size>B_<label> ...",
 *        "RESULT js_pub_sync_<size>B_<label> ...",
 *        "RESULT js_fetch_[filtered_]<size>B_<label> ..." lines for perf/median.py.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <unistd.h>

#include <nats/nats.h>

#include "perf_common.h"

#define STREAM "BENCH_JS"
#define DURABLE "BENCH_JS_PULL"
#define SUBJECT "bjs.m"
#define WARM_ASYNC 1000

#define CHECK(x) do { \
		natsStatus s_ = (x); \
		if (s_ != NATS_OK) { \
			fprintf(stderr, "bench_js: %s:%d: %s: %s\n", __FILE__, __LINE__, #x, \
				natsStatus_GetText(s_)); \
			nats_PrintLastErrorStack(stderr); \
			exit(1); \
		} \
	} while (0)

/* The JetStream calls also return a JetStream error code. */
#define JCHECK(x) do { \
		jsErrCode ec_ = 0; \
		natsStatus s_ = (x); \
		if (s_ != NATS_OK) { \
			fprintf(stderr, "bench_js: %s:%d: %s: %s (jetstream error %d)\n", __FILE__, \
				__LINE__, #x, natsStatus_GetText(s_), (int)ec_); \
			nats_PrintLastErrorStack(stderr); \
			exit(1); \
		} \
	} while (0)

static const char *url = "nats://127.0.0.1:4222";
static const char *server = "server";
static int64_t max_pending = 4096;
static bool memory_storage;	/* --storage memory: diagnosis only */

/* The ack handler runs on nats.c's delivery thread; main reads. */
static _Atomic int64_t acked, ack_errs;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL bench_js (%s, %s): ", server, url);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	(void)js, (void)arg;
	if (pa != NULL) {
		atomic_fetch_add_explicit(&acked, 1, memory_order_relaxed);
	} else if (atomic_fetch_add(&ack_errs, 1) < 5) {
		fprintf(stderr, "bench_js: publish error: %s (jetstream error %d) %s\n",
			pae ? natsStatus_GetText(pae->Err) : "?", pae ? (int)pae->ErrCode : 0,
			pae && pae->ErrText ? pae->ErrText : "");
	}
	natsMsg_Destroy(msg);
}

static void connect_js(natsConnection **nc, jsCtx **js)
{
	natsOptions *o;
	jsOptions jo;

	CHECK(natsOptions_Create(&o));
	CHECK(natsOptions_SetURL(o, url));
	CHECK(natsOptions_SetName(o, "bench_js"));
	CHECK(natsOptions_SetAllowReconnect(o, false));
	/* Fetch batches queue on the subscription: never drop client-side. */
	CHECK(natsOptions_SetMaxPendingMsgs(o, 1 << 20));
	CHECK(natsConnection_Connect(nc, o));
	natsOptions_Destroy(o);
	jsOptions_Init(&jo);
	jo.Wait = 10000;
	jo.PublishAsync.MaxPending = max_pending;
	jo.PublishAsync.AckHandler = on_ack;
	CHECK(natsConnection_JetStream(js, *nc, &jo));
}

/* A fresh, empty stream: deleted first when a previous run left it. */
static void fresh_stream(jsCtx *js)
{
	const char *subjects[1] = { "bjs.>" };
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus s = js_DeleteStream(js, STREAM, NULL, &ec);

	if (s != NATS_OK && s != NATS_NOT_FOUND && ec != JSStreamNotFoundErr)
		fail("delete stream %s: %s (jetstream error %d)", STREAM, natsStatus_GetText(s),
		     (int)ec);
	jsStreamConfig_Init(&cfg);
	cfg.Name = STREAM;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = memory_storage ? js_MemoryStorage : js_FileStorage;
	JCHECK(js_AddStream(&si, js, &cfg, NULL, &ec_));
	jsStreamInfo_Destroy(si);
}

static void drop_stream(jsCtx *js)
{
	if (js_DeleteStream(js, STREAM, NULL, NULL) != NATS_OK)
		fprintf(stderr, "bench_js: warning: could not delete stream %s\n", STREAM);
}

/* STREAM.INFO: the stream must hold exactly `want` messages, 1..want. */
static void check_stream(jsCtx *js, uint64_t want)
{
	jsStreamInfo *si = NULL;

	JCHECK(js_GetStreamInfo(&si, js, STREAM, NULL, &ec_));
	if (si->State.Msgs != want || si->State.LastSeq != want)
		fail("stream %s holds %llu messages (last seq %llu), %llu were acknowledged",
		     STREAM, (unsigned long long)si->State.Msgs,
		     (unsigned long long)si->State.LastSeq, (unsigned long long)want);
	jsStreamInfo_Destroy(si);
}

/* Publishes n messages asynchronously and waits for every PubAck. */
static void publish_async(jsCtx *js, const char *buf, size_t size, long n)
{
	jsPubOptions po;

	for (long i = 0; i < n; i++)
		CHECK(js_PublishAsync(js, SUBJECT, buf, (int)size, NULL));
	jsPubOptions_Init(&po);
	po.MaxWait = 60000;
	CHECK(js_PublishAsyncComplete(js, &po));
}

/* --- async ------------------------------------------------------------ */

static int run_async(jsCtx *js, const char *buf, size_t size, long count)
{
	uint64_t t0, t1, t2;
	int64_t a0;

	publish_async(js, buf, size, WARM_ASYNC);
	a0 = atomic_load(&acked);
	t0 = perf_now_ns();
	for (long i = 0; i < count; i++)
		CHECK(js_PublishAsync(js, SUBJECT, buf, (int)size, NULL));
	t1 = perf_now_ns();
	publish_async(js, buf, size, 0);
	t2 = perf_now_ns();
	if (atomic_load(&ack_errs) != 0 || atomic_load(&acked) - a0 != count)
		fail("%lld PubAcks and %lld errors for %ld publishes",
		     (long long)(atomic_load(&acked) - a0), (long long)atomic_load(&ack_errs), count);
	check_stream(js, (uint64_t)(count + WARM_ASYNC));

	double secs = (double)(t2 - t0) / 1e9;

	printf("bench_js: %ld async persisted publishes of %zu B to %s (%s) in %.3f s, "
	       "max %lld pending, all acknowledged and stored\n", count, size, server, url, secs,
	       (long long)max_pending);
	printf("RESULT js_pub_async_%zuB_%s server=%s size=%zu n=%ld max_pending=%lld secs=%.3f "
	       "msgs_s=%.0f MBps=%.2f pub_msgs_s=%.0f ack_errs=0 stored=%ld\n",
	       size, server, server, size, count, (long long)max_pending, secs,
	       (double)count / secs, (double)count * (double)size / secs / 1e6,
	       (double)count / ((double)(t1 - t0) / 1e9), count + WARM_ASYNC);
	return 0;
}

/* --- raw ------------------------------------------------------------- */

/* Replies of the raw mode; main waits on raw_cv while the window is full. */
static pthread_mutex_t raw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t raw_cv = PTHREAD_COND_INITIALIZER;
static int64_t raw_sent, raw_done;

static void on_raw_ack(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	const char *d = natsMsg_GetData(msg);
	int n = natsMsg_GetDataLength(msg);

	(void)nc, (void)sub, (void)arg;
	/* A PubAck is {"stream":"BENCH_JS","seq":N}; an error has "error". */
	if (n > 10 && memcmp(d, "{\"stream\"", 9) == 0 && memmem(d, (size_t)n, "\"error\"", 7) == NULL)
		atomic_fetch_add_explicit(&acked, 1, memory_order_relaxed);
	else if (atomic_fetch_add(&ack_errs, 1) < 5)
		fprintf(stderr, "bench_js: raw publish answer: %.*s\n", n, d);
	natsMsg_Destroy(msg);
	pthread_mutex_lock(&raw_mu);
	/* Wake the publisher when half the window is free, not per reply. */
	if (++raw_done == raw_sent || raw_sent - raw_done == max_pending / 2)
		pthread_cond_signal(&raw_cv);
	pthread_mutex_unlock(&raw_mu);
}

static int run_raw(natsConnection *nc, jsCtx *js, const char *buf, size_t size, long count)
{
	natsInbox *inbox = NULL;
	natsSubscription *sub = NULL;
	char wild[128], reply[160];
	uint64_t t0, t1;
	int rc = 0;

	publish_async(js, buf, size, WARM_ASYNC);
	atomic_store(&acked, 0);
	CHECK(natsInbox_Create(&inbox));
	snprintf(wild, sizeof(wild), "%s.*", (const char *)inbox);
	CHECK(natsConnection_Subscribe(&sub, nc, wild, on_raw_ack, NULL));
	CHECK(natsSubscription_SetPendingLimits(sub, -1, -1));
	CHECK(natsConnection_Flush(nc));
	t0 = perf_now_ns();
	for (long i = 0; i < count; i++) {
		pthread_mutex_lock(&raw_mu);
		while (raw_sent - raw_done >= max_pending)
			pthread_cond_wait(&raw_cv, &raw_mu);
		raw_sent++;
		pthread_mutex_unlock(&raw_mu);
		snprintf(reply, sizeof(reply), "%s.%ld", (const char *)inbox, i);
		CHECK(natsConnection_PublishRequest(nc, SUBJECT, reply, buf, (int)size));
	}
	CHECK(natsConnection_Flush(nc));
	pthread_mutex_lock(&raw_mu);
	while (raw_done < raw_sent && rc == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 30;
		rc = pthread_cond_timedwait(&raw_cv, &raw_mu, &ts);
	}
	pthread_mutex_unlock(&raw_mu);
	t1 = perf_now_ns();
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsInbox_Destroy(inbox);
	if (atomic_load(&ack_errs) != 0 || atomic_load(&acked) != count)
		fail("%lld PubAcks and %lld errors for %ld raw publishes",
		     (long long)atomic_load(&acked), (long long)atomic_load(&ack_errs), count);
	check_stream(js, (uint64_t)(count + WARM_ASYNC));

	double secs = (double)(t1 - t0) / 1e9;

	printf("bench_js: %ld raw persisted publishes (PUB with a reply inbox) of %zu B to %s (%s) "
	       "in %.3f s, max %lld pending, all acknowledged and stored\n", count, size, server,
	       url, secs, (long long)max_pending);
	printf("RESULT js_pub_raw_%zuB_%s server=%s size=%zu n=%ld max_pending=%lld secs=%.3f "
	       "msgs_s=%.0f MBps=%.2f ack_errs=0 stored=%ld\n",
	       size, server, server, size, count, (long long)max_pending, secs,
	       (double)count / secs, (double)count * (double)size / secs / 1e6, count + WARM_ASYNC);
	return 0;
}

/* --- sync ------------------------------------------------------------- */

static int run_sync(jsCtx *js, const char *buf, size_t size, long count)
{
	long warm = count / 10 < 500 ? count / 10 : 500;
	uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)count), w0 = 0, w1;

	if (lat == NULL)
		return 1;
	for (long i = 0; i < warm + count; i++) {
		jsPubAck *pa = NULL;
		uint64_t t0, t1;

		if (i == warm)
			w0 = perf_now_ns();
		t0 = perf_now_ns();
		JCHECK(js_Publish(&pa, js, SUBJECT, buf, (int)size, NULL, &ec_));
		t1 = perf_now_ns();
		if (pa->Sequence != (uint64_t)i + 1)
			fail("PubAck %ld has sequence %llu", i + 1,
			     (unsigned long long)pa->Sequence);
		jsPubAck_Destroy(pa);
		if (i >= warm)
			lat[i - warm] = t1 - t0;
	}
	w1 = perf_now_ns();
	check_stream(js, (uint64_t)(warm + count));
	qsort(lat, (size_t)count, sizeof(*lat), perf_cmp_u64);

	double secs = (double)(w1 - w0) / 1e9;

	printf("bench_js: %ld sync persisted publishes of %zu B to %s (%s) in %.3f s after %ld "
	       "warm-up, all stored\n", count, size, server, url, secs, warm);
	printf("RESULT js_pub_sync_%zuB_%s server=%s size=%zu n=%ld p50_us=%.1f p90_us=%.1f "
	       "p99_us=%.1f p999_us=%.1f max_us=%.1f pubs_s=%.0f\n",
	       size, server, server, size, count,
	       (double)perf_pct(lat, (size_t)count, 50) / 1e3,
	       (double)perf_pct(lat, (size_t)count, 90) / 1e3,
	       (double)perf_pct(lat, (size_t)count, 99) / 1e3,
	       (double)perf_pct(lat, (size_t)count, 99.9) / 1e3,
	       (double)lat[count - 1] / 1e3, (double)count / secs);
	free(lat);
	return 0;
}

/* --- fetch ------------------------------------------------------------ */

static int run_fetch(natsConnection *nc, jsCtx *js, const char *buf, size_t size, long count,
		     int batch, bool ack_all, const char *filter)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	uint64_t t0, t1, deadline;
	long got = 0;
	int64_t fetches = 0;

	publish_async(js, buf, size, count);
	if (atomic_load(&ack_errs) != 0 || atomic_load(&acked) != count)
		fail("filling: %lld PubAcks and %lld errors for %ld publishes",
		     (long long)atomic_load(&acked), (long long)atomic_load(&ack_errs), count);
	check_stream(js, (uint64_t)count);

	/* The durable is created first, then bound to: js_PullSubscribe
	 * alone would make its subject the consumer's filter_subject. */
	jsConsumerConfig_Init(&cc);
	cc.Durable = DURABLE;
	cc.AckPolicy = ack_all ? js_AckAll : js_AckExplicit;
	cc.MaxAckPending = (int64_t)batch * 16;
	cc.FilterSubject = filter;
	JCHECK(js_AddConsumer(&ci, js, STREAM, &cc, NULL, &ec_));
	jsConsumerInfo_Destroy(ci);
	ci = NULL;
	jsSubOptions_Init(&so);
	so.Stream = STREAM;
	so.Consumer = DURABLE;
	JCHECK(js_PullSubscribe(&sub, js, filter ? filter : "bjs.>", DURABLE, NULL, &so, &ec_));
	t0 = perf_now_ns();
	while (got < count) {
		natsMsgList list = { 0 };
		jsErrCode ec = 0;
		natsStatus s = natsSubscription_Fetch(&list, sub, batch, 5000, &ec);

		if (s != NATS_OK)
			fail("fetch after %ld of %ld messages: %s (jetstream error %d)", got, count,
			     natsStatus_GetText(s), (int)ec);
		fetches++;
		for (int i = 0; i < list.Count; i++) {
			natsMsg *m = list.Msgs[i];

			/* The stream sequence is in the reply subject: check
			 * the first and last of each batch (parsing it costs
			 * an allocation, not worth it for every message). */
			if (i == 0 || i == list.Count - 1) {
				jsMsgMetaData *md = NULL;

				CHECK(natsMsg_GetMetaData(&md, m));
				if (md->Sequence.Stream != (uint64_t)(got + i + 1))
					fail("message %ld has stream sequence %llu", got + i + 1,
					     (unsigned long long)md->Sequence.Stream);
				jsMsgMetaData_Destroy(md);
			}
			if (natsMsg_GetDataLength(m) != (int)size)
				fail("message %ld has %d bytes, not %zu", got + i + 1,
				     natsMsg_GetDataLength(m), size);
			if (!ack_all || i == list.Count - 1)
				CHECK(natsMsg_Ack(m, NULL));
		}
		got += list.Count;
		natsMsgList_Destroy(&list);
	}
	CHECK(natsConnection_Flush(nc));
	t1 = perf_now_ns();
	/* Acks are fire-and-forget: give the server a moment to apply the
	 * last ones before checking the floor. */
	deadline = perf_now_ns() + 5000000000ull;
	for (;;) {
		JCHECK(js_GetConsumerInfo(&ci, js, STREAM, DURABLE, NULL, &ec_));
		if (ci->AckFloor.Stream >= (uint64_t)count || perf_now_ns() > deadline)
			break;
		jsConsumerInfo_Destroy(ci);
		usleep(10000);
	}
	if (ci->AckFloor.Stream != (uint64_t)count || ci->Delivered.Stream != (uint64_t)count ||
	    ci->NumAckPending != 0)
		fail("consumer: delivered %llu, ack floor %llu, %lld ack pending; want %ld, %ld, 0",
		     (unsigned long long)ci->Delivered.Stream,
		     (unsigned long long)ci->AckFloor.Stream, (long long)ci->NumAckPending, count,
		     count);
	jsConsumerInfo_Destroy(ci);
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);

	double secs = (double)(t1 - t0) / 1e9;

	printf("bench_js: fetched and acked (%s) %ld messages of %zu B from %s (%s) in %.3f s, "
	       "%lld fetches of up to %d\n", ack_all ? "ack all" : "ack explicit", count, size,
	       server, url, secs, (long long)fetches, batch);
	printf("RESULT js_fetch_%s%zuB_%s server=%s size=%zu n=%ld batch=%d ack=%s filter=%s "
	       "secs=%.3f msgs_s=%.0f MBps=%.2f fetches=%lld\n",
	       filter ? "filtered_" : "", size, server, server, size, count, batch, ack_all ? "all" : "explicit",
	       filter ? filter : "none", secs,
	       (double)count / secs, (double)count * (double)size / secs / 1e6,
	       (long long)fetches);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_js --url URL --mode async|raw|sync|fetch [options]\n"
		"  -u, --url URL            NATS server with JetStream (default nats://127.0.0.1:4222)\n"
		"  -m, --mode MODE          async | raw | sync | fetch\n"
		"  -s, --size B             payload bytes (default 16)\n"
		"  -n, --count N            messages (default 100000; sync: 5000)\n"
		"  -p, --max-pending N      async: un-acked publishes at most (default 4096)\n"
		"  -b, --batch N            fetch: messages per fetch (default 256)\n"
		"  -a, --ack POLICY         fetch: explicit (every message) | all (default explicit)\n"
		"  -f, --filter SUBJECT     fetch: the consumer's filter_subject (default none)\n"
		"  -S, --storage file|memory the stream's storage (default file; memory only\n"
		"                           to see what the disk path costs: label NAME-mem)\n"
		"  -l, --server-label NAME  server kind in the RESULT label (default 'server')\n"
		"  -c, --cpu N              pin the process (all nats.c threads) to CPU N\n"
		"  -T, --timeout S          kill the run after S seconds (default 120)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "mode", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "max-pending", required_argument, NULL, 'p' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ack", required_argument, NULL, 'a' },
		{ "filter", required_argument, NULL, 'f' },
		{ "storage", required_argument, NULL, 'S' },
		{ "server-label", required_argument, NULL, 'l' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL, *ack = "explicit", *filter = NULL;
	size_t size = 16;
	long count = -1;
	int batch = 256, cpu = -1, timeout = 120, o, rc;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	char *buf;

	while ((o = getopt_long(argc, argv, "u:m:s:n:p:b:a:f:S:l:c:T:h", opts, NULL)) != -1) {
		switch (o) {
		case 'u': url = optarg; break;
		case 'm': mode = optarg; break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 'n': count = strtol(optarg, NULL, 0); break;
		case 'p': max_pending = strtoll(optarg, NULL, 0); break;
		case 'b': batch = atoi(optarg); break;
		case 'a': ack = optarg; break;
		case 'f': filter = optarg; break;
		case 'S': memory_storage = strcmp(optarg, "memory") == 0; break;
		case 'l': server = optarg; break;
		case 'c': cpu = atoi(optarg); break;
		case 'T': timeout = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (memory_storage) {
		static char label[128];

		snprintf(label, sizeof(label), "%s-mem", server);
		server = label;
	}
	if (count < 0)
		count = mode != NULL && strcmp(mode, "sync") == 0 ? 5000 : 100000;
	if (mode == NULL || (strcmp(mode, "async") != 0 && strcmp(mode, "sync") != 0 &&
			     strcmp(mode, "raw") != 0 &&
			     strcmp(mode, "fetch") != 0) || optind < argc || count <= 0 || size > (1u << 20) || max_pending <= 0 ||
	    batch <= 0 || (strcmp(ack, "explicit") != 0 && strcmp(ack, "all") != 0)) {
		usage(stderr);
		return 2;
	}
	/* The default action of SIGALRM ends the process: a stuck server
	 * cannot hold perf/run.sh. */
	if (timeout > 0)
		alarm((unsigned)timeout);
	/* Before nats_Open: the library's threads inherit the affinity. */
	if (cpu >= 0 && perf_pin(cpu) != 0)
		return 1;
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 1;
	memset(buf, 'x', size ? size : 1);
	CHECK(nats_Open(-1));
	printf("bench_js: nats.c %s, mode %s, server %s at %s, ", nats_GetVersion(), mode, server,
	       url);
	if (cpu >= 0)
		printf("pinned to CPU %d\n", cpu);
	else
		printf("affinity as inherited\n");
	connect_js(&nc, &js);
	fresh_stream(js);
	if (strcmp(mode, "async") == 0) {
		rc = run_async(js, buf, size, count);
	} else if (strcmp(mode, "raw") == 0) {
		rc = run_raw(nc, js, buf, size, count);
	} else if (strcmp(mode, "sync") == 0) {
		rc = run_sync(js, buf, size, count);
	} else {
		rc = run_fetch(nc, js, buf, size, count, batch, strcmp(ack, "all") == 0, filter);
	}
	fflush(stdout);
	drop_stream(js);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	free(buf);
	nats_CloseAndWait(2000);
	return rc;
}
