/* SPDX-License-Identifier: MIT */
/*
 * bench_limit: the physical limit of a cross-core hand-off on this machine,
 * which every other latency figure of perf/ is divided by.
 *
 * Two threads pinned on CPU A (pinger, times each round trip with
 * lfence+rdtsc) and CPU B (ponger), pure spinning (no pause: we want the
 * floor, not a polite loop):
 *   2line: a ping line written only by A and a pong line written only by B,
 *          each carrying a sequence number. This is the least any ring round
 *          trip can cost, since a ring needs one line per direction.
 *   1line: one line both sides write (A odd, B even values); cheaper, since
 *          the line never has to be shared, but no queue can work that way.
 *
 * The two variants run interleaved in rounds (a block of 2line, then a block
 * of 1line, with the same threads), so both see the same regime mix; each
 * round is classified near/far by the median of its 2line block.
 *
 * usage: bench_limit [--count N] [--cpus A,B] [--block N] [--name PREFIX]
 * prints RESULT <prefix>_2line_rtt / <prefix>_1line_rtt / <prefix>_timer.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

#include "perf_common.h"

/* 128-byte alignment: the adjacent-line prefetcher of x86 cores pulls lines
 * in 128-byte pairs, so 64-byte neighbours would not be truly independent. */
struct line {
	alignas(128) _Atomic uint64_t v;
};

static struct line ping, pong, both;

struct plan {
	uint64_t warm;		/* round trips of each variant before timing */
	uint64_t rounds;	/* timed rounds */
	uint64_t block;		/* round trips per variant per round */
	int cpu_a, cpu_b;
};

static struct plan plan;

/* Sequence numbers continue across blocks, so neither side needs to be told
 * where a block starts: both threads follow the same deterministic schedule,
 * each counting in its own (thread-local) copy. */
static _Thread_local uint64_t seq2, seq1;

static void pong_2line(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ++seq2;

		/* Acquire/release are free on x86 (plain mov) but keep the
		 * compiler from hoisting the load out of the spin. */
		while (atomic_load_explicit(&ping.v, memory_order_acquire) != s)
			;
		atomic_store_explicit(&pong.v, s, memory_order_release);
	}
}

static void pong_1line(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ++seq1;

		while (atomic_load_explicit(&both.v, memory_order_acquire) != 2 * s - 1)
			;
		atomic_store_explicit(&both.v, 2 * s, memory_order_release);
	}
}

static void ping_2line(uint64_t n, uint64_t *out)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ++seq2, t0 = perf_tsc();

		atomic_store_explicit(&ping.v, s, memory_order_release);
		while (atomic_load_explicit(&pong.v, memory_order_acquire) != s)
			;
		uint64_t t1 = perf_tsc();

		if (out)
			out[i] = t1 - t0;
	}
}

static void ping_1line(uint64_t n, uint64_t *out)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ++seq1, t0 = perf_tsc();

		atomic_store_explicit(&both.v, 2 * s - 1, memory_order_release);
		while (atomic_load_explicit(&both.v, memory_order_acquire) != 2 * s)
			;
		uint64_t t1 = perf_tsc();

		if (out)
			out[i] = t1 - t0;
	}
}

/* 0 while the ponger starts, 1 when pinned and ready, 2 when it failed:
 * the pinger must not spin on a ponger that will never answer. */
static _Atomic int ponger_state;

static void *ponger(void *arg)
{
	uint64_t *ok = arg;

	if (perf_pin(plan.cpu_b) != 0) {
		atomic_store(&ponger_state, 2);
		return NULL;
	}
	atomic_store(&ponger_state, 1);
	pong_2line(plan.warm);
	pong_1line(plan.warm);
	for (uint64_t r = 0; r < plan.rounds; r++) {
		pong_2line(plan.block);
		pong_1line(plan.block);
	}
	*ok = 1;
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_limit [--count N] [--cpus A,B] [--block N] "
		"[--name PREFIX]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "block", required_argument, NULL, 'b' },
		{ "name", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t count = 1000000, block = 0;
	const char *name = "limit";
	int c;

	plan.cpu_a = 0, plan.cpu_b = 1;
	while ((c = getopt_long(argc, argv, "n:c:b:N:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'b': block = strtoull(optarg, NULL, 0); break;
		case 'N': name = optarg; break;
		case 'c':
			if (perf_parse_cpus(optarg, &plan.cpu_a, &plan.cpu_b) != 0)
				usage();
			break;
		default: usage();
		}
	}
	if (count < 100)
		usage();
	plan.block = block ? block : perf_block_size(count);
	plan.rounds = count / plan.block;
	if (plan.rounds == 0)
		usage();
	count = plan.rounds * plan.block;
	plan.warm = count / 10 < 100000 ? count / 10 : 100000;

	uint64_t *s2 = malloc(count * sizeof(uint64_t)), *s1 = malloc(count * sizeof(uint64_t));
	bool *near = calloc(plan.rounds, sizeof(bool));
	uint64_t *scratch = malloc(plan.block * sizeof(uint64_t));

	if (!s2 || !s1 || !near || !scratch) {
		fprintf(stderr, "bench_limit: out of memory\n");
		return 1;
	}
	if (perf_pin(plan.cpu_a) != 0)
		return 1;
	double npt = perf_ns_per_tick(), tov = perf_timer_overhead_ns(npt);

	printf("bench_limit: cpus %d,%d, %llu round trips per variant in %llu rounds "
	       "of %llu, warm-up %llu, %.4f ns/tick, timer overhead %.1f ns (included)\n",
	       plan.cpu_a, plan.cpu_b, (unsigned long long)count,
	       (unsigned long long)plan.rounds, (unsigned long long)plan.block,
	       (unsigned long long)plan.warm, npt, tov);
	printf("RESULT %s_timer overhead_ns=%.1f ns_per_tick=%.5f\n", name, tov, npt);

	uint64_t ok = 0;
	pthread_t th;

	if (pthread_create(&th, NULL, ponger, &ok) != 0) {
		fprintf(stderr, "bench_limit: pthread_create failed\n");
		return 1;
	}
	while (atomic_load(&ponger_state) == 0)
		;
	if (atomic_load(&ponger_state) != 1) {
		pthread_join(th, NULL);
		return 1;
	}
	ping_2line(plan.warm, NULL);
	ping_1line(plan.warm, NULL);
	for (uint64_t r = 0; r < plan.rounds; r++) {
		ping_2line(plan.block, s2 + r * plan.block);
		ping_1line(plan.block, s1 + r * plan.block);
	}
	pthread_join(th, NULL);
	if (!ok) {
		fprintf(stderr, "bench_limit: ponger failed\n");
		return 1;
	}

	printf("%s round p50 (2line, ns, time order):", name);
	for (uint64_t r = 0; r < plan.rounds; r++) {
		double m = perf_median_ns(s2 + r * plan.block, plan.block, npt, scratch);

		near[r] = m < PERF_NEAR_THRESH_NS;
		printf(" %.0f", m);
	}
	printf("\n");

	struct perf_lat l2, l1;
	char label[128], extra[64];

	if (perf_summarise(s2, count, plan.block, near, npt, &l2) != 0 ||
	    perf_summarise(s1, count, plan.block, near, npt, &l1) != 0) {
		fprintf(stderr, "bench_limit: out of memory\n");
		return 1;
	}
	snprintf(label, sizeof(label), "%s_2line_rtt", name);
	perf_print_lat(label, &l2, NULL);
	snprintf(label, sizeof(label), "%s_1line_rtt", name);
	snprintf(extra, sizeof(extra), "ratio_to_2line=%.3f", l1.p50 / l2.p50);
	perf_print_lat(label, &l1, extra);
	free(s1), free(s2), free(near), free(scratch);
	return 0;
}
