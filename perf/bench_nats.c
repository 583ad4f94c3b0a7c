/* SPDX-License-Identifier: MIT */
/*
 * bench_nats: one nats.c benchmark for any server that speaks the NATS
 * client protocol, so that lwd's gateway and Debian's nats-server are
 * measured by the same client code in the same run (perf/run.sh starts
 * each server in turn and passes --server-label lwd / nats).
 *
 * Why a program of our own rather than the anchor's harness
 * (/work/shared/anchors/02-nats/nats_bench.c): the anchor figures were
 * recorded on another day; the targets (>= 2x nats-server's
 * msgs/s, <= 0.8x its RTT) are only meaningful against a nats-server run
 * next to lwd on the same machine state. The modes copy the anchor's
 * method so the figures stay comparable with RESULTS.md too:
 *
 *   tput  one publisher connection and one subscriber connection (async
 *         callback) in this process; publish for --secs, flush, wait for
 *         the subscriber to drain (stop after 2 s without progress).
 *         pub_msgs_s   = published / publish time
 *         sub_msgs_s   = received / (last receive - first receive)
 *         e2e_msgs_s   = received / (last receive - publish start)
 *         lost         = published - received
 *   req   natsConnection_Request() from connection A to a responder
 *         callback on connection B (SendAsap on both), --count requests
 *         after min(count/10, 5000) warm-up ones, each timed with
 *         CLOCK_MONOTONIC; percentiles in ns and rtt_s (round trips/s).
 *   idle  connect, subscribe to --subject, flush, print "READY", then sit
 *         until SIGINT/SIGTERM or --secs: a real, idle NATS client, used
 *         to measure shared-memory latency while the gateway has a client.
 *
 * The workload is the throughput of small messages through one TCP
 * connection each way and the blocking request/reply round trip: the two
 * things a NATS user notices first. The client is single process; pin it
 * (--cpu or taskset) away from the server.
 *
 * usage: bench_nats --url URL --mode tput|req|idle [--size B] [--secs S]
 *                   [--count N] [--server-label NAME] [--subject S] [--cpu N]
 * prints "RESULT nats_tput_<size>B_<label> ...",
 *        "RESULT nats_req_rtt_<size>B_<label> ...",
 *        "RESULT nats_idle_<label> ..." lines for perf/median.py.
 */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include <nats/nats.h>

#include "perf_common.h"

#define CHECK(x) do { \
		natsStatus s_ = (x); \
		if (s_ != NATS_OK) { \
			fprintf(stderr, "bench_nats: %s:%d: %s: %s\n", __FILE__, __LINE__, #x, \
				natsStatus_GetText(s_)); \
			nats_PrintLastErrorStack(stderr); \
			exit(1); \
		} \
	} while (0)

static const char *url = "nats://127.0.0.1:4222";
static const char *server = "server";

/* The subscriber callback runs on nats.c's delivery thread; main reads. */
static _Atomic int64_t recv_n;
static _Atomic uint64_t first_ns, last_ns;
static _Atomic int64_t async_errs;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_async_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg)
{
	(void)nc, (void)sub, (void)arg;
	fprintf(stderr, "bench_nats: async error: %s\n", natsStatus_GetText(err));
	atomic_fetch_add(&async_errs, 1);
}

static natsConnection *connect_to(bool send_asap, const char *name)
{
	natsOptions *o;
	natsConnection *nc;

	CHECK(natsOptions_Create(&o));
	CHECK(natsOptions_SetURL(o, url));
	CHECK(natsOptions_SetName(o, name));
	CHECK(natsOptions_SetSendAsap(o, send_asap));
	CHECK(natsOptions_SetErrorHandler(o, on_async_err, NULL));
	/* Big enough that the client library never drops in tput: a loss
	 * must be the server's. */
	CHECK(natsOptions_SetMaxPendingMsgs(o, 1 << 20));
	CHECK(natsConnection_Connect(&nc, o));
	natsOptions_Destroy(o);
	return nc;
}

/* --- tput ------------------------------------------------------------- */

static void on_tput_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	uint64_t now = perf_now_ns();

	(void)nc, (void)sub, (void)arg;
	if (atomic_fetch_add_explicit(&recv_n, 1, memory_order_relaxed) == 0)
		atomic_store(&first_ns, now);
	atomic_store_explicit(&last_ns, now, memory_order_relaxed);
	natsMsg_Destroy(msg);
}

static int run_tput(size_t size, double secs)
{
	natsConnection *pub = connect_to(false, "bench_nats-pub");
	natsConnection *subc = connect_to(false, "bench_nats-sub");
	natsSubscription *sub;
	char *buf = calloc(1, size ? size : 1);
	int64_t sent = 0, last = -1, recv, dropped = 0;
	uint64_t t0, t1, tflush, lastchange, deadline;

	if (buf == NULL)
		return 1;
	CHECK(natsConnection_Subscribe(&sub, subc, "bench.tput", on_tput_msg, NULL));
	CHECK(natsSubscription_SetPendingLimits(sub, -1, -1));
	/* The subscription must be in the server before the first publish. */
	CHECK(natsConnection_Flush(subc));
	t0 = perf_now_ns();
	deadline = t0 + (uint64_t)(secs * 1e9);
	for (;;) {
		/* Look at the clock every 256 publishes only: a clock read
		 * costs about as much as a buffered publish. */
		for (int k = 0; k < 256; k++)
			CHECK(natsConnection_Publish(pub, "bench.tput", buf, (int)size));
		sent += 256;
		if ((t1 = perf_now_ns()) >= deadline)
			break;
	}
	CHECK(natsConnection_FlushTimeout(pub, 30000));
	tflush = perf_now_ns();
	lastchange = tflush;
	while ((recv = atomic_load(&recv_n)) < sent) {
		if (recv != last) {
			last = recv;
			lastchange = perf_now_ns();
		} else if (perf_now_ns() - lastchange > 2000000000ull) {
			break;
		}
		usleep(1000);
	}
	recv = atomic_load(&recv_n);
	natsSubscription_GetDropped(sub, &dropped);

	double pub_s = (double)(t1 - t0) / 1e9, flush_s = (double)(tflush - t0) / 1e9;
	double sub_s = (double)(atomic_load(&last_ns) - atomic_load(&first_ns)) / 1e9;
	double e2e_s = (double)(atomic_load(&last_ns) - t0) / 1e9;

	if (recv == 0)
		sub_s = e2e_s = 0;
	printf("bench_nats: tput %zu B to %s (%s) for %.1f s: sent %lld, received %lld\n", size,
	       server, url, secs, (long long)sent, (long long)recv);
	printf("RESULT nats_tput_%zuB_%s server=%s size=%zu secs=%.1f sent=%lld recv=%lld lost=%lld "
	       "client_dropped=%lld async_errs=%lld pub_msgs_s=%.0f pub_incl_flush_msgs_s=%.0f "
	       "sub_msgs_s=%.0f e2e_msgs_s=%.0f sub_MBps=%.1f\n",
	       size, server, server, size, secs, (long long)sent, (long long)recv,
	       (long long)(sent - recv), (long long)dropped, (long long)atomic_load(&async_errs),
	       (double)sent / pub_s, (double)sent / flush_s, sub_s > 0 ? (double)recv / sub_s : 0,
	       e2e_s > 0 ? (double)recv / e2e_s : 0,
	       sub_s > 0 ? (double)recv * (double)size / sub_s / 1e6 : 0);
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(pub);
	natsConnection_Destroy(subc);
	free(buf);
	return recv > 0 ? 0 : 1;
}

/* --- req -------------------------------------------------------------- */

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	(void)sub, (void)arg;
	natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
			       natsMsg_GetDataLength(msg));
	natsMsg_Destroy(msg);
}

static int run_req(size_t size, long count)
{
	natsConnection *a = connect_to(true, "bench_nats-requester");
	natsConnection *b = connect_to(true, "bench_nats-responder");
	natsSubscription *rsp;
	long warm = count / 10 < 5000 ? count / 10 : 5000;
	uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)count), w0 = 0, w1;
	char *buf = calloc(1, size ? size : 1);

	if (lat == NULL || buf == NULL)
		return 1;
	CHECK(natsConnection_Subscribe(&rsp, b, "bench.req", on_request, NULL));
	CHECK(natsConnection_Flush(b));
	for (long i = 0; i < warm + count; i++) {
		natsMsg *m = NULL;
		uint64_t t0, t1;

		if (i == warm)
			w0 = perf_now_ns();
		t0 = perf_now_ns();
		CHECK(natsConnection_Request(&m, a, "bench.req", buf, (int)size, 5000));
		t1 = perf_now_ns();
		natsMsg_Destroy(m);
		if (i >= warm)
			lat[i - warm] = t1 - t0;
	}
	w1 = perf_now_ns();
	qsort(lat, (size_t)count, sizeof(*lat), perf_cmp_u64);

	double secs = (double)(w1 - w0) / 1e9;

	printf("bench_nats: %ld requests of %zu B to %s (%s) in %.2f s after %ld warm-up\n", count,
	       size, server, url, secs, warm);
	printf("RESULT nats_req_rtt_%zuB_%s server=%s size=%zu n=%ld p50_ns=%llu p90_ns=%llu "
	       "p99_ns=%llu p999_ns=%llu max_ns=%llu rtt_s=%.0f async_errs=%lld\n",
	       size, server, server, size, count,
	       (unsigned long long)perf_pct(lat, (size_t)count, 50),
	       (unsigned long long)perf_pct(lat, (size_t)count, 90),
	       (unsigned long long)perf_pct(lat, (size_t)count, 99),
	       (unsigned long long)perf_pct(lat, (size_t)count, 99.9),
	       (unsigned long long)lat[count - 1], (double)count / secs,
	       (long long)atomic_load(&async_errs));
	natsSubscription_Unsubscribe(rsp);
	natsSubscription_Destroy(rsp);
	natsConnection_Destroy(a);
	natsConnection_Destroy(b);
	free(buf);
	free(lat);
	return 0;
}

/* --- idle ------------------------------------------------------------- */

static void on_idle_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	(void)nc, (void)sub, (void)arg;
	atomic_fetch_add(&recv_n, 1);
	natsMsg_Destroy(msg);
}

static int run_idle(const char *subject, double secs)
{
	natsConnection *nc = connect_to(false, "bench_nats-idle");
	natsSubscription *sub;
	struct sigaction sa;
	uint64_t t0 = perf_now_ns();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	CHECK(natsConnection_Subscribe(&sub, nc, subject, on_idle_msg, NULL));
	CHECK(natsConnection_Flush(nc));
	printf("READY subscribed to %s on %s (%s)\n", subject, server, url);
	fflush(stdout);
	while (!stop && (secs <= 0 || (double)(perf_now_ns() - t0) / 1e9 < secs))
		usleep(20000);
	printf("RESULT nats_idle_%s server=%s secs=%.1f received=%lld async_errs=%lld\n", server,
	       server, (double)(perf_now_ns() - t0) / 1e9, (long long)atomic_load(&recv_n),
	       (long long)atomic_load(&async_errs));
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_nats --url URL --mode tput|req|idle [options]\n"
		"  -u, --url URL            NATS server (default nats://127.0.0.1:4222)\n"
		"  -m, --mode MODE          tput | req | idle\n"
		"  -s, --size B             payload bytes (default 16)\n"
		"  -t, --secs S             tput: publish time (default 3); idle: 0 = until a signal\n"
		"  -n, --count N            req: timed requests (default 20000)\n"
		"  -l, --server-label NAME  server kind in the RESULT label (default 'server')\n"
		"      --subject S          idle: subject to subscribe to (default bench.idle.>)\n"
		"  -c, --cpu N              pin the process (all nats.c threads) to CPU N\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "mode", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "secs", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "server-label", required_argument, NULL, 'l' },
		{ "subject", required_argument, NULL, 'S' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL, *subject = "bench.idle.>";
	size_t size = 16;
	double secs = -1;
	long count = 20000;
	int cpu = -1, o, rc;

	while ((o = getopt_long(argc, argv, "u:m:s:t:n:l:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'u': url = optarg; break;
		case 'm': mode = optarg; break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 't': secs = atof(optarg); break;
		case 'n': count = strtol(optarg, NULL, 0); break;
		case 'l': server = optarg; break;
		case 'S': subject = optarg; break;
		case 'c': cpu = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (mode == NULL || optind < argc || count <= 0 || size > (1u << 20)) {
		usage(stderr);
		return 2;
	}
	/* Before nats_Open: the library's threads inherit the affinity. */
	if (cpu >= 0 && perf_pin(cpu) != 0)
		return 1;
	CHECK(nats_Open(-1));
	printf("bench_nats: nats.c %s, mode %s, server %s at %s, ", nats_GetVersion(), mode, server,
	       url);
	if (cpu >= 0)
		printf("pinned to CPU %d\n", cpu);
	else
		printf("affinity as inherited\n");
	if (strcmp(mode, "tput") == 0) {
		rc = run_tput(size, secs < 0 ? 3.0 : secs);
	} else if (strcmp(mode, "req") == 0) {
		rc = run_req(size, count);
	} else if (strcmp(mode, "idle") == 0) {
		rc = run_idle(subject, secs < 0 ? 0 : secs);
	} else {
		usage(stderr);
		return 2;
	}
	fflush(stdout);
	nats_CloseAndWait(2000);
	return rc;
}
