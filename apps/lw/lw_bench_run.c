/* SPDX-License-Identifier: MIT */
/*
 * The timed loops of lw bench, parent and child side.
 *
 * pingpong  parent publishes on bench.ping.<pid>, the child echoes each
 *           payload to bench.pong.<pid>; every round trip is timed with
 *           clock_gettime(CLOCK_MONOTONIC) (vDSO, no system call; its own
 *           cost is measured and printed) into a preallocated array that
 *           is sorted once at the end for the percentiles.
 * tput      parent publishes sequence-numbered messages as fast as it can
 *           to one LW_SLOW_BLOCK subscriber process, which checks the
 *           sequence and times first to last receive.
 * fanout    the same with N subscriber processes on one subject.
 *
 * Every run ends with an end-marker message (a header, so it works for any
 * payload size, 0 included) queued behind the last data message; children
 * answer it with their figures through the pipe. The loops themselves
 * never allocate, print or make a system call of their own.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lw_bench.h"

/* --- child ------------------------------------------------------------ */

/* Records a library error in @p r as lw_cli_fail() would print it. */
static void child_error(struct lw_bench_rec *r, const char *what, int rc)
{
	const char *text = lw_strerror(rc), *msg = lw_errmsg();
	size_t tl = strlen(text);

	if (strncmp(msg, text, tl) == 0 && msg[tl] == ':' && msg[tl + 1] == ' ')
		msg += tl + 2;
	r->kind = LW_BENCH_ERROR;
	snprintf(r->err, sizeof(r->err), "%s: %s%s%s", what, text, msg[0] ? ": " : "", msg);
}

static bool send_rec(const struct lw_bench *b, const struct lw_bench_rec *r)
{
	return write(b->pipe_wr, r, sizeof(*r)) == (ssize_t)sizeof(*r);
}

/* Receives until the end marker; false with r->err set on failure. */
static bool child_loop(struct lw_bench *b, lw_conn *c, lw_sub *s, struct lw_bench_rec *r)
{
	uint64_t expect = 0;

	for (;;) {
		lw_msg *m;
		int rc = lw_next(s, &m, LW_CLI_POLL_MS);

		if (rc == LW_ETIMEDOUT || rc == LW_EAGAIN) {
			if (lw_cli_stop || getppid() != b->parent) {
				r->kind = LW_BENCH_ERROR;
				snprintf(r->err, sizeof(r->err), "stopped before the end of the run");
				return false;
			}
			continue;
		}
		if (rc != LW_OK) {
			child_error(r, "receive", rc);
			return false;
		}
		if (lw_msg_headers(m, NULL) != NULL) {
			r->t_last = lw_cli_now_ns();
			lw_msg_free(m);
			return true;
		}
		if (b->mode == LW_BENCH_PINGPONG) {
			rc = lw_publish(c, b->subj2, lw_msg_data(m), lw_msg_len(m));
			lw_msg_free(m);
			if (rc < 0) {
				child_error(r, "publish pong", rc);
				return false;
			}
			if (rc == 0) {
				r->kind = LW_BENCH_ERROR;
				snprintf(r->err, sizeof(r->err), "publish pong: nobody subscribes %s",
					 b->subj2);
				return false;
			}
			r->received++;
			continue;
		}
		if (r->received == b->warmup)
			r->t_first = lw_cli_now_ns();
		if (b->size >= 8) {
			uint64_t seq;

			memcpy(&seq, lw_msg_data(m), sizeof(seq));
			if (seq != expect)
				r->seq_errors++;
			expect = seq + 1;
		}
		r->received++;
		lw_msg_free(m);
	}
}

int lw_bench_child(struct lw_bench *b, int idx)
{
	struct lw_bench_rec r = { .child = idx };
	struct lw_conn_opts co;
	struct lw_sub_opts so;
	struct lw_sub_stats st;
	lw_conn *c;
	lw_sub *s;
	int rc;

	lw_conn_opts_init(&co);
	co.domain = b->g->domain;
	co.name = b->mode == LW_BENCH_PINGPONG ? "lw-bench-pong" : "lw-bench-sub";
	co.wait = b->spin ? LW_WAIT_SPIN : LW_WAIT_BLOCK;
	rc = lw_connect(&c, &co);
	if (rc != LW_OK) {
		child_error(&r, "connect", rc);
		send_rec(b, &r);
		return 1;
	}
	lw_sub_opts_init(&so);
	so.policy = LW_SLOW_BLOCK;	/* nothing may be lost: we count */
	rc = lw_subscribe(c, b->subj, &so, &s);
	if (rc != LW_OK) {
		child_error(&r, "subscribe", rc);
		send_rec(b, &r);
		lw_close(c);
		return 1;
	}
	r.kind = LW_BENCH_READY;
	if (send_rec(b, &r) && child_loop(b, c, s, &r)) {
		r.timed = r.received > b->warmup ? r.received - b->warmup : 0;
		if (lw_sub_stats(s, &st) == LW_OK) {
			r.dropped = st.dropped;
			r.blocked = st.blocked;
		}
		r.kind = LW_BENCH_RESULT;
	}
	if (r.kind != LW_BENCH_READY && !send_rec(b, &r))
		r.kind = LW_BENCH_ERROR;
	lw_unsubscribe(s);
	lw_close(c);
	return r.kind == LW_BENCH_RESULT ? 0 : 1;
}

/* --- shared parent helpers ----------------------------------------------- */

static void cpu_model(char *buf, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];

	snprintf(buf, n, "unknown CPU");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon++;
		while (*colon == ' ')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, n, "%s", colon);
		break;
	}
	fclose(f);
}

/* What a clock_gettime() pair costs, so readers can judge small figures. */
static uint64_t timer_cost_ns(void)
{
	uint64_t t0 = lw_cli_now_ns(), t1 = t0;

	for (int i = 0; i < 1000; i++)
		t1 = lw_cli_now_ns();
	return (t1 - t0) / 1000;
}

static void describe(struct lw_bench *b, lw_conn *c, const char *what, const char *placement)
{
	struct lw_domain_stats d;
	struct utsname u;
	char model[128];

	cpu_model(model, sizeof(model));
	if (uname(&u) != 0)
		snprintf(u.release, sizeof(u.release), "?");
	fprintf(b->out, "lw bench %s: %zu B payload, %s\n", b->mode_name, b->size, what);
	fprintf(b->out, "  machine    %s; %d CPUs usable (%ld online); Linux %s\n", model,
		b->ncpus, sysconf(_SC_NPROCESSORS_ONLN), u.release);
	if (lw_stats(c, &d) == LW_OK)
		fprintf(b->out, "  domain     \"%s\": max payload %u B, ring %u messages\n",
			d.name, d.max_payload, d.ring_size);
	fprintf(b->out, "  placement  %s\n", placement);
	if (b->spin)
		fprintf(b->out, "  wait       spin: receivers busy-poll (LW_WAIT_SPIN)\n");
	else
		fprintf(b->out, "  wait       block: receivers spin 20 us, yield, then sleep on a "
			"futex (LW_WAIT_BLOCK)\n");
	fprintf(b->out, "  timer      clock_gettime(CLOCK_MONOTONIC), %llu ns per call\n",
		(unsigned long long)timer_cost_ns());
	if (b->duration_s > 0)
		fprintf(b->out, "  limit      %.1f s (or the count, whichever comes first)\n",
			b->duration_s);
	fflush(b->out);
}

/* The parent side of setting up: its connection, on its CPU, after the
 * children are forked and subscribed. */
static int parent_start(struct lw_bench *b, lw_conn **c, int nready)
{
	struct lw_bench_rec recs[LW_BENCH_MAX_SUBS];
	struct lw_conn_opts o;
	int rc;

	/* Only the children may hold the write end now: EOF means they died. */
	close(b->pipe_wr);
	b->pipe_wr = -1;
	if (b->cpu_a >= 0 && (rc = lw_bench_pin(b->cpu_a)) != 0) {
		fprintf(stderr, "lw: bench: cannot pin to CPU %d: %s\n", b->cpu_a, strerror(-rc));
		return -1;
	}
	lw_conn_opts_init(&o);
	o.domain = b->g->domain;
	o.name = "lw-bench";
	o.wait = b->spin ? LW_WAIT_SPIN : LW_WAIT_BLOCK;
	rc = lw_connect(c, &o);
	if (rc != LW_OK) {
		lw_cli_fail("bench: connect", rc);
		return -1;
	}
	if (b->size > lw_max_payload(*c)) {
		fprintf(stderr, "lw: bench: --size %zu is over the domain's max payload %zu\n",
			b->size, lw_max_payload(*c));
		lw_close(*c);
		return -1;
	}
	if (lw_bench_collect(b, LW_BENCH_READY, recs, nready, 10000) != 0) {
		lw_close(*c);
		return -1;
	}
	return 0;
}

static int end_run(lw_conn *c, struct lw_bench *b)
{
	static const char hdr[] = LW_BENCH_END_HDR;
	struct lw_pubmsg m = { .subject = b->subj, .hdr = hdr, .hdr_len = sizeof(hdr) - 1 };
	int rc = lw_publish_msg(c, &m);

	if (rc < 0)
		return lw_cli_fail("bench: publish end marker", rc);
	return LW_EXIT_OK;
}

/* --- pingpong ----------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static uint32_t pct(const uint32_t *s, uint64_t n, double p)
{
	uint64_t k = (uint64_t)(p * (double)n + 0.999999);

	return s[k == 0 ? 0 : (k > n ? n - 1 : k - 1)];
}

/* One round trip; returns its time in ns or 0 on error (printed). */
static inline uint64_t round_trip(lw_conn *c, lw_sub *pong, struct lw_bench *b, char *buf,
				  uint64_t seq)
{
	uint64_t t0, t1, got;
	lw_msg *m;
	int rc;

	if (b->size >= 8)
		memcpy(buf, &seq, sizeof(seq));
	t0 = lw_cli_now_ns();
	rc = lw_publish(c, b->subj, buf, b->size);
	if (rc != 1) {
		lw_cli_fail("bench: publish ping", rc == 0 ? LW_ENOTFOUND : rc);
		return 0;
	}
	rc = lw_next(pong, &m, LW_BENCH_RECV_TIMEOUT_MS);
	t1 = lw_cli_now_ns();
	if (rc != LW_OK) {
		lw_cli_fail("bench: receive pong", rc);
		return 0;
	}
	if (b->size >= 8) {
		memcpy(&got, lw_msg_data(m), sizeof(got));
		if (got != seq || lw_msg_len(m) != b->size) {
			fprintf(stderr, "lw: bench: pong %llu answers ping %llu\n",
				(unsigned long long)got, (unsigned long long)seq);
			lw_msg_free(m);
			return 0;
		}
	}
	lw_msg_free(m);
	return t1 - t0 > 0 ? t1 - t0 : 1;
}

static void pingpong_report(struct lw_bench *b, uint32_t *s, uint64_t n, uint64_t elapsed)
{
	struct lw_bench_kv kv = { 0 };
	double sum = 0, rt_s = (double)n * 1e9 / (double)elapsed;

	for (uint64_t i = 0; i < n; i++)
		sum += s[i];
	qsort(s, n, sizeof(*s), cmp_u32);
	fprintf(b->out, "  round trips %llu in %.3f s: %.0f rt/s\n", (unsigned long long)n,
		(double)elapsed / 1e9, rt_s);
	fprintf(b->out, "  rtt (ns)   min %u  p50 %u  p90 %u  p99 %u  p99.9 %u  max %u  "
		"mean %.0f\n", s[0], pct(s, n, 0.5), pct(s, n, 0.9), pct(s, n, 0.99),
		pct(s, n, 0.999), s[n - 1], sum / (double)n);
	fflush(b->out);
	lw_bench_kv_u64(&kv, "size", b->size);
	lw_bench_kv_u64(&kv, "count", n);
	lw_bench_kv_u64(&kv, "min_ns", s[0]);
	lw_bench_kv_u64(&kv, "p50_ns", pct(s, n, 0.5));
	lw_bench_kv_u64(&kv, "p90_ns", pct(s, n, 0.9));
	lw_bench_kv_u64(&kv, "p99_ns", pct(s, n, 0.99));
	lw_bench_kv_u64(&kv, "p999_ns", pct(s, n, 0.999));
	lw_bench_kv_u64(&kv, "max_ns", s[n - 1]);
	lw_bench_kv_f(&kv, "mean_ns", sum / (double)n, 0);
	lw_bench_kv_f(&kv, "rt_s", rt_s, 0);
	lw_bench_kv_u64(&kv, "spin", b->spin);
	lw_bench_kv_u64(&kv, "burst", b->burst);
	lw_bench_emit(b, &kv);
}

int lw_bench_pingpong(struct lw_bench *b)
{
	struct lw_bench_rec res[1];
	char placement[160], what[128];
	uint64_t seq = 0, n = 0, start = 0, now = 0, next = 0, deadline = UINT64_MAX;
	struct lw_sub_opts so;
	uint32_t *samples;
	char *buf;
	lw_sub *pong;
	lw_conn *c;
	int rc = LW_EXIT_FAIL;

	samples = malloc(b->count * sizeof(*samples));
	buf = calloc(1, b->size + 8);
	if (samples == NULL || buf == NULL) {
		fprintf(stderr, "lw: bench: no memory for %llu samples\n",
			(unsigned long long)b->count);
		goto out_free;
	}
	/* Touch every page now, not in the timed loop. */
	memset(samples, 0, b->count * sizeof(*samples));
	if (lw_bench_spawn(b, 0, b->cpu_b) != 0)
		goto out_free;
	if (parent_start(b, &c, 1) != 0) {
		lw_bench_reap(b, true);
		goto out_free;
	}
	lw_sub_opts_init(&so);
	rc = lw_subscribe(c, b->subj2, &so, &pong);
	if (rc != LW_OK) {
		rc = lw_cli_fail("bench: subscribe", rc);
		goto out_close;
	}
	rc = LW_EXIT_FAIL;
	snprintf(placement, sizeof(placement), "parent (ping) on CPU %d, child (echo) on CPU %d%s",
		 b->cpu_a, b->cpu_b, b->ncpus <= 1 ? " (only one CPU: shared)" : "");
	if (b->duration_s > 0)
		snprintf(what, sizeof(what), "%llu warm-up round trips, then %.1f s (at most "
			 "%llu), 2 processes", (unsigned long long)b->warmup, b->duration_s,
			 (unsigned long long)b->count);
	else
		snprintf(what, sizeof(what), "%llu round trips after %llu warm-up, 2 processes",
			 (unsigned long long)b->count, (unsigned long long)b->warmup);
	describe(b, c, what, placement);

	for (uint64_t i = 0; i < b->warmup && !lw_cli_stop; i++)
		if (round_trip(c, pong, b, buf, seq++) == 0)
			goto out_end;
	start = lw_cli_now_ns();
	if (b->duration_s > 0)
		deadline = start + (uint64_t)(b->duration_s * 1e9);
	now = start;
	while (n < b->count && now < deadline && !lw_cli_stop) {
		uint64_t t = round_trip(c, pong, b, buf, seq++);

		if (t == 0)
			goto out_end;
		samples[n++] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
		/* Outside the timed section; every 64 round trips keeps a
		 * --duration-s run within ~100 us of its end. */
		if ((n & 63) == 0) {
			now = lw_cli_now_ns();
			lw_bench_progress(b, now, &next, n, b->duration_s > 0 ? 0 : b->count, "rt");
		}
	}
	now = lw_cli_now_ns();
	lw_bench_progress_clear(b);
	if (n == 0) {
		fprintf(stderr, "lw: bench: interrupted before any timed round trip\n");
		goto out_end;
	}
	if (lw_cli_stop)
		fprintf(b->out, "  (interrupted: %llu round trips measured)\n",
			(unsigned long long)n);
	else if (n == b->count && b->duration_s > 0 && now < deadline)
		fprintf(b->out, "  (stopped at --count / sample buffer size)\n");
	rc = LW_EXIT_OK;
out_end:
	if (end_run(c, b) != LW_EXIT_OK ||
	    lw_bench_collect(b, LW_BENCH_RESULT, res, 1, LW_BENCH_RECV_TIMEOUT_MS) != 0)
		rc = LW_EXIT_FAIL;
	lw_unsubscribe(pong);
out_close:
	lw_close(c);
	lw_bench_reap(b, rc != LW_EXIT_OK);
	if (rc == LW_EXIT_OK)
		pingpong_report(b, samples, n, now - start);
out_free:
	free(buf);
	free(samples);
	return rc;
}

/* --- tput and fanout -------------------------------------------------- */

/* Subscriber CPUs: with room for one each, beside the publisher; else
 * none, since pinning four spinning processes onto one CPU would measure
 * the scheduler, not the fabric. */
static void stream_placement(struct lw_bench *b, int *cpu, char *desc, size_t n)
{
	if (b->mode == LW_BENCH_TPUT) {
		cpu[0] = b->cpu_b;
		snprintf(desc, n, "publisher on CPU %d, subscriber on CPU %d%s", b->cpu_a,
			 b->cpu_b, b->ncpus <= 1 ? " (only one CPU: shared)" : "");
		return;
	}
	if (b->ncpus >= b->nsubs + 1) {
		int c = b->cpu_b;

		for (int i = 0; i < b->nsubs; i++) {
			while (c == b->cpu_a || !CPU_ISSET(c, &b->allowed))
				c = (c + 1) % CPU_SETSIZE;
			cpu[i] = c;
			c = (c + 1) % CPU_SETSIZE;
		}
		snprintf(desc, n, "publisher on CPU %d, %d subscribers on CPUs %d..%d "
			 "(one each, skipping %d)", b->cpu_a, b->nsubs, cpu[0],
			 cpu[b->nsubs - 1], b->cpu_a);
		return;
	}
	for (int i = 0; i < b->nsubs; i++)
		cpu[i] = -1;
	snprintf(desc, n, "publisher on CPU %d; %d subscribers NOT pinned (only %d CPUs: "
		 "they share them with the publisher)%s", b->cpu_a, b->nsubs, b->ncpus,
		 b->spin ? "; with --spin this measures the scheduler more than the fabric" : "");
}

static void stream_report(struct lw_bench *b, const struct lw_bench_rec *r, uint64_t sent,
			  uint64_t timed, uint64_t elapsed, uint64_t pool_full)
{
	struct lw_bench_kv kv = { 0 };
	uint64_t recv = 0, rtimed = 0, dropped = 0, blocked = 0, seqerr = 0;
	uint64_t first = UINT64_MAX, last = 0;
	double pub = (double)timed * 1e9 / (double)elapsed, sub, mb;
	uint64_t lost;

	for (int i = 0; i < b->nsubs; i++) {
		recv += r[i].received;
		rtimed += r[i].timed;
		dropped += r[i].dropped;
		blocked += r[i].blocked;
		seqerr += r[i].seq_errors;
		first = r[i].t_first && r[i].t_first < first ? r[i].t_first : first;
		last = r[i].t_last > last ? r[i].t_last : last;
	}
	lost = sent * (uint64_t)b->nsubs > recv ? sent * (uint64_t)b->nsubs - recv : 0;
	sub = last > first ? (double)rtimed * 1e9 / (double)(last - first) : 0;
	mb = sub * (double)b->size / 1e6;
	fprintf(b->out, "  published  %llu messages (%llu timed) in %.3f s: %.0f msgs/s\n",
		(unsigned long long)sent, (unsigned long long)timed, (double)elapsed / 1e9, pub);
	if (b->mode == LW_BENCH_TPUT)
		fprintf(b->out, "  received   %llu messages: %.0f msgs/s, %.1f MB/s "
			"(first to last receive; MB = 10^6 B)\n", (unsigned long long)recv, sub, mb);
	else
		for (int i = 0; i < b->nsubs; i++)
			fprintf(b->out, "  sub %-2d     %llu messages: %.0f msgs/s\n", i,
				(unsigned long long)r[i].received,
				r[i].t_last > r[i].t_first ?
				(double)r[i].timed * 1e9 / (double)(r[i].t_last - r[i].t_first) : 0);
	if (b->mode == LW_BENCH_FANOUT)
		fprintf(b->out, "  delivered  %llu messages in all: %.0f msgs/s, %.1f MB/s\n",
			(unsigned long long)recv, sub, mb);
	fprintf(b->out, "  lost %llu, dropped %llu, sequence errors %llu, publisher "
		"waited for room %llu times\n", (unsigned long long)lost,
		(unsigned long long)dropped, (unsigned long long)seqerr,
		(unsigned long long)blocked);
	if (pool_full > 0)
		fprintf(b->out, "  pool       %llu publishes found no free slot and were retried "
			"(size class smaller than the ring; see lw stats)\n",
			(unsigned long long)pool_full);
	fflush(b->out);
	lw_bench_kv_u64(&kv, "size", b->size);
	lw_bench_kv_u64(&kv, "count", timed);
	if (b->mode == LW_BENCH_FANOUT)
		lw_bench_kv_u64(&kv, "subs", (uint64_t)b->nsubs);
	lw_bench_kv_f(&kv, "pub_msgs_s", pub, 0);
	lw_bench_kv_f(&kv, b->mode == LW_BENCH_TPUT ? "sub_msgs_s" : "delivered_msgs_s", sub, 0);
	lw_bench_kv_f(&kv, "mb_s", mb, 1);
	lw_bench_kv_u64(&kv, "lost", lost);
	lw_bench_kv_u64(&kv, "dropped", dropped);
	lw_bench_kv_u64(&kv, "blocked", blocked);
	lw_bench_kv_u64(&kv, "seq_errors", seqerr);
	lw_bench_kv_u64(&kv, "pool_full", pool_full);
	lw_bench_kv_u64(&kv, "spin", b->spin);
	lw_bench_kv_u64(&kv, "burst", b->burst);
	lw_bench_emit(b, &kv);
}

/* One wait for a free pool slot; -1 once the pool stayed empty for
 * LW_BENCH_RECV_TIMEOUT_MS (a subscriber is stuck, not slow). */
static int pool_wait(uint64_t *waits, uint64_t *since)
{
	uint64_t now = lw_cli_now_ns();

	if (*since == 0)
		*since = now;
	else if (now - *since > LW_BENCH_RECV_TIMEOUT_MS * 1000000ull)
		return -1;
	(*waits)++;
	sched_yield();
	return 0;
}

int lw_bench_stream(struct lw_bench *b)
{
	struct lw_bench_rec res[LW_BENCH_MAX_SUBS];
	int cpus[LW_BENCH_MAX_SUBS], rc = LW_EXIT_FAIL;
	uint64_t total = b->warmup + b->count, seq, start = 0, now = 0, next = 0;
	uint64_t deadline = UINT64_MAX, pool_full = 0, pool_since = 0;
	char placement[200], what[128];
	struct lw_pubmsg *bmsg;
	char *buf, *bbuf;
	lw_conn *c;

	if (b->count > UINT64_MAX / 8)
		total = UINT64_MAX / 4;
	buf = calloc(1, b->size + 8);
	bbuf = calloc(b->burst, b->size + 8);
	bmsg = calloc(b->burst, sizeof(*bmsg));
	if (buf == NULL || bbuf == NULL || bmsg == NULL) {
		free(buf);
		free(bbuf);
		free(bmsg);
		return LW_EXIT_FAIL;
	}
	stream_placement(b, cpus, placement, sizeof(placement));
	for (int i = 0; i < b->nsubs; i++) {
		if (lw_bench_spawn(b, i, cpus[i]) != 0) {
			lw_bench_reap(b, true);
			free(buf), free(bbuf), free(bmsg);
			return LW_EXIT_FAIL;
		}
	}
	if (parent_start(b, &c, b->nsubs) != 0) {
		lw_bench_reap(b, true);
		free(buf), free(bbuf), free(bmsg);
		return LW_EXIT_FAIL;
	}
	if (b->duration_s > 0 && b->count >= UINT64_MAX / 8)
		snprintf(what, sizeof(what), "%llu warm-up messages, then for %.1f s, %d "
			 "subscriber process%s", (unsigned long long)b->warmup, b->duration_s,
			 b->nsubs, b->nsubs == 1 ? "" : "es");
	else
		snprintf(what, sizeof(what), "%llu messages after %llu warm-up, %d subscriber "
			 "process%s", (unsigned long long)b->count, (unsigned long long)b->warmup,
			 b->nsubs, b->nsubs == 1 ? "" : "es");
	describe(b, c, what, placement);

	for (seq = 0; seq < total;) {
		uint64_t k = 1;
		int n;

		if (seq >= b->warmup && start == 0) {
			start = lw_cli_now_ns();
			if (b->duration_s > 0)
				deadline = start + (uint64_t)(b->duration_s * 1e9);
		}
		if (b->burst > 1) {
			/* lw_publish_burst: one match and one ring claim per
			 * run; returns messages published, not deliveries. */
			k = total - seq < b->burst ? total - seq : b->burst;
			for (uint64_t i = 0; i < k; i++) {
				uint64_t v = seq + i;

				if (b->size >= 8)
					memcpy(bbuf + i * b->size, &v, sizeof(v));
				bmsg[i] = (struct lw_pubmsg){ .subject = b->subj,
					.data = bbuf + i * b->size, .len = b->size };
			}
			n = lw_publish_burst(c, bmsg, (unsigned)k);
			if (n > 0) {
				pool_since = 0;
				seq += (uint64_t)n;
				if ((seq & ~1023ull) != ((seq - (uint64_t)n) & ~1023ull))
					goto tick;
				continue;
			}
			if (n == LW_ENOMEM && pool_wait(&pool_full, &pool_since) == 0)
				continue;
			lw_cli_fail("bench: publish burst", n == 0 ? LW_EAGAIN : n);
			goto out_end;
		}
		if (b->size >= 8)
			memcpy(buf, &seq, sizeof(seq));
		n = lw_publish(c, b->subj, buf, b->size);
		if (__builtin_expect(n != b->nsubs, 0)) {
			/* Pool empty: the subscribers hold every slot of this
			 * size class (a class can have fewer slots than a ring
			 * has entries). That is backpressure too; wait as a
			 * LW_SLOW_BLOCK publisher would, and report it. */
			if (n == LW_ENOMEM && pool_wait(&pool_full, &pool_since) == 0)
				continue;
			if (n < 0) {
				lw_cli_fail("bench: publish", n);
				goto out_end;
			}
			/* No retry: the children report READY only after lwd
			 * has put their subscriptions in the subject tree. */
			fprintf(stderr, "lw: bench: message %llu reached %d of %d subscribers\n",
				(unsigned long long)seq, n, b->nsubs);
			goto out_end;
		}
		pool_since = 0;
		seq++;
		if ((seq & 1023) == 0) {
tick:
			now = lw_cli_now_ns();
			if (now >= deadline || lw_cli_stop)
				break;
			lw_bench_progress(b, now, &next, seq,
					  b->count >= UINT64_MAX / 8 ? 0 : total, "msgs");
		}
	}
	now = lw_cli_now_ns();
	lw_bench_progress_clear(b);
	if (seq <= b->warmup) {
		fprintf(stderr, "lw: bench: interrupted during the warm-up\n");
		goto out_end;
	}
	if (lw_cli_stop)
		fprintf(b->out, "  (interrupted)\n");
	rc = LW_EXIT_OK;
out_end:
	if (end_run(c, b) != LW_EXIT_OK ||
	    lw_bench_collect(b, LW_BENCH_RESULT, res, b->nsubs, 30000) != 0)
		rc = LW_EXIT_FAIL;
	lw_close(c);
	lw_bench_reap(b, rc != LW_EXIT_OK);
	if (rc == LW_EXIT_OK)
		stream_report(b, res, seq, seq - b->warmup, now - start, pool_full);
	free(buf);
	free(bbuf);
	free(bmsg);
	return rc;
}
