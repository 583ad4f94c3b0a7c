/* SPDX-License-Identifier: MIT */
/*
 * bench_ring: hand-off cost of lw_ring against DPDK rte_ring and against the
 * physical limit, between two processes, in the same run.
 *
 * Why: lw_ring exists because rte_ring's head, tail and slots live on
 * separate cache lines (three lines move per hand-off), while lw_ring's
 * consumer polls the cell itself. This program checks that claim the way
 * the fabric uses rings: plain shared memory (mmap MAP_SHARED|MAP_ANONYMOUS,
 * inherited over fork()), one process per CPU, no DPDK EAL (rte_ring_init
 * works on memory we map ourselves, see NOTES.md).
 *
 * Latency: the parent (CPU A) sends one 8-byte value, the child (CPU B)
 * echoes it back; the parent times each round trip with lfence+rdtsc:
 *   limit: a ping line and a pong line with sequence numbers (2-line limit)
 *   lw:    two lw_ring (ping ring, pong ring)
 *   rte:   two rte_ring SP/SC (rte_ring_sp_enqueue / rte_ring_sc_dequeue)
 * The three run interleaved in rounds (a block of each), so they see the
 * same regime mix; each round is classified near/far by its limit block, and
 * ratio_to_limit is the median over rounds of (variant block p50 / limit
 * block p50 of the same round): a same-regime ratio.
 *
 * Throughput: the parent produces 1..N into one ring, the child consumes
 * and checks the order; lw_ring one at a time, rte_ring one at a time and in
 * bursts of 32. Each phase is preceded by a short limit probe for its regime.
 *
 * usage: bench_ring [--count N] [--tput-count N] [--cpus A,B] [--block N]
 *                   [--capacity N] [--timeout S]
 */
#include <getopt.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_ring.h>

#include "lw_ring.h"
#include "perf_common.h"

#define PROBE_COUNT 20000u
#define BURST 32u

/* 128-byte spacing: the adjacent-line prefetcher works on 128-byte pairs. */
struct line {
	alignas(128) _Atomic uint64_t v;
};

/* Start of the shared mapping; the rings follow at 128-byte offsets. */
struct shm {
	struct line ping, pong;		/* the 2-line limit */
	struct line arrive[2];		/* barrier generation per side */
	struct line end_ns;		/* consumer's CLOCK_MONOTONIC at its end */
	struct line failed;		/* set by a side that gives up */
};

struct plan {
	uint64_t warm, rounds, block, tput;
	uint32_t cap;
	int cpu_a, cpu_b;
};

static struct plan plan;
static struct shm *shm;
static struct lw_ring *lw_ping, *lw_pong, *lw_tp;
static struct rte_ring *rte_ping, *rte_pong, *rte_tp1, *rte_tp32;
/* Limit sequence: each process counts in its own copy after fork(). */
static uint64_t lseq;
static uint64_t bgen;

/* Both sides arrive with the next generation and wait for the other. */
static void barrier(int me)
{
	bgen++;
	atomic_store_explicit(&shm->arrive[me].v, bgen, memory_order_release);
	while (atomic_load_explicit(&shm->arrive[!me].v, memory_order_acquire) < bgen)
		if (atomic_load_explicit(&shm->failed.v, memory_order_relaxed))
			exit(1);
}

/* --- latency: the parent's side times, the child's side echoes --------- */

static void limit_ping(uint64_t n, uint64_t *out)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ++lseq, t0 = perf_tsc();

		atomic_store_explicit(&shm->ping.v, s, memory_order_release);
		while (atomic_load_explicit(&shm->pong.v, memory_order_acquire) != s)
			;
		uint64_t t1 = perf_tsc();

		if (out)
			out[i] = t1 - t0;
	}
}

static void limit_echo(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ++lseq;

		while (atomic_load_explicit(&shm->ping.v, memory_order_acquire) != s)
			;
		atomic_store_explicit(&shm->pong.v, s, memory_order_release);
	}
}

/* Returns the number of wrong values that came back. */
static uint64_t lw_ping_rt(uint64_t n, uint64_t *out)
{
	uint64_t bad = 0, back;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = perf_tsc();

		while (!lw_ring_enqueue(lw_ping, i))
			;
		while (!lw_ring_dequeue(lw_pong, &back))
			;
		uint64_t t1 = perf_tsc();

		bad += back != i;
		if (out)
			out[i] = t1 - t0;
	}
	return bad;
}

static void lw_echo(uint64_t n)
{
	uint64_t v;

	for (uint64_t i = 0; i < n; i++) {
		while (!lw_ring_dequeue(lw_ping, &v))
			;
		while (!lw_ring_enqueue(lw_pong, v))
			;
	}
}

static uint64_t rte_ping_rt(uint64_t n, uint64_t *out)
{
	uint64_t bad = 0;
	void *back;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = perf_tsc();

		while (rte_ring_sp_enqueue(rte_ping, (void *)(uintptr_t)i) != 0)
			;
		while (rte_ring_sc_dequeue(rte_pong, &back) != 0)
			;
		uint64_t t1 = perf_tsc();

		bad += (uintptr_t)back != i;
		if (out)
			out[i] = t1 - t0;
	}
	return bad;
}

static void rte_echo(uint64_t n)
{
	void *v;

	for (uint64_t i = 0; i < n; i++) {
		while (rte_ring_sc_dequeue(rte_ping, &v) != 0)
			;
		while (rte_ring_sp_enqueue(rte_pong, v) != 0)
			;
	}
}

/* --- throughput: the parent produces 1..N, the child consumes ---------- */

enum { TP_LW, TP_RTE1, TP_RTE32, TP_N };
static const char *const tp_label[TP_N] = {
	"ring_lw_tput", "ring_rte_tput", "ring_rte_tput_burst32" };

static void produce(int kind, uint64_t n)
{
	void *objs[BURST];

	for (uint64_t i = 1; i <= n;) {
		if (kind == TP_LW) {
			i += (uint64_t)lw_ring_enqueue(lw_tp, i);
		} else if (kind == TP_RTE1) {
			i += rte_ring_sp_enqueue(rte_tp1, (void *)(uintptr_t)i) == 0;
		} else {
			unsigned k = n - i + 1 < BURST ? (unsigned)(n - i + 1) : BURST;

			for (unsigned j = 0; j < k; j++)
				objs[j] = (void *)(uintptr_t)(i + j);
			i += rte_ring_sp_enqueue_burst(rte_tp32, objs, k, NULL);
		}
	}
}

/* Returns the number of values out of order. */
static uint64_t consume(int kind, uint64_t n)
{
	uint64_t bad = 0, v;
	void *objs[BURST];

	for (uint64_t want = 1; want <= n;) {
		if (kind == TP_LW) {
			if (lw_ring_dequeue(lw_tp, &v))
				bad += v != want++;
		} else if (kind == TP_RTE1) {
			if (rte_ring_sc_dequeue(rte_tp1, objs) == 0)
				bad += (uintptr_t)objs[0] != want++;
		} else {
			unsigned k = rte_ring_sc_dequeue_burst(rte_tp32, objs, BURST, NULL);

			for (unsigned j = 0; j < k; j++)
				bad += (uintptr_t)objs[j] != want++;
		}
	}
	return bad;
}

/* --- the two processes -------------------------------------------------- */

static int child_main(void)
{
	uint64_t bad = 0;

	if (perf_pin(plan.cpu_b) != 0) {
		atomic_store_explicit(&shm->failed.v, 1, memory_order_relaxed);
		return 1;
	}
	barrier(1);
	limit_echo(plan.warm), lw_echo(plan.warm), rte_echo(plan.warm);
	for (uint64_t r = 0; r < plan.rounds; r++)
		limit_echo(plan.block), lw_echo(plan.block), rte_echo(plan.block);
	for (int k = 0; k < TP_N; k++) {
		barrier(1);
		limit_echo(PROBE_COUNT);
		barrier(1);
		bad += consume(k, plan.tput);
		atomic_store_explicit(&shm->end_ns.v, perf_now_ns(), memory_order_release);
		barrier(1);
	}
	if (bad)
		fprintf(stderr, "bench_ring: consumer saw %llu values out of order\n",
			(unsigned long long)bad);
	return bad != 0;
}

/* Limit probe in the parent: "near"/"far" and its p50. */
static const char *probe(uint64_t *buf, uint64_t *scratch, double npt, double *p50)
{
	limit_ping(PROBE_COUNT, buf);
	*p50 = perf_median_ns(buf, PROBE_COUNT, npt, scratch);
	return *p50 < PERF_NEAR_THRESH_NS ? "near" : "far";
}

static int parent_main(pid_t child, double npt)
{
	uint64_t n = plan.rounds * plan.block, bad = 0;
	uint64_t *lat[3], *scratch = malloc(n * sizeof(uint64_t));
	uint64_t *pbuf = malloc(2 * PROBE_COUNT * sizeof(uint64_t));
	double *ratio[3];
	bool *near = calloc(plan.rounds, sizeof(bool));
	static const char *const label[3] = {
		"ring_limit_rtt", "ring_lw_rtt", "ring_rte_rtt" };

	for (int v = 0; v < 3; v++) {
		lat[v] = malloc(n * sizeof(uint64_t));
		ratio[v] = malloc(plan.rounds * sizeof(double));
		if (!lat[v] || !ratio[v] || !scratch || !pbuf || !near) {
			fprintf(stderr, "bench_ring: out of memory\n");
			kill(child, SIGKILL);
			return 1;
		}
	}
	barrier(0);
	limit_ping(plan.warm, NULL);
	bad += lw_ping_rt(plan.warm, NULL) + rte_ping_rt(plan.warm, NULL);
	for (uint64_t r = 0; r < plan.rounds; r++) {
		uint64_t o = r * plan.block;

		limit_ping(plan.block, lat[0] + o);
		bad += lw_ping_rt(plan.block, lat[1] + o);
		bad += rte_ping_rt(plan.block, lat[2] + o);
	}

	/* Throughput phases, each after a regime probe. */
	double items_s[TP_N], pp50[TP_N];
	const char *preg[TP_N];

	for (int k = 0; k < TP_N; k++) {
		barrier(0);
		preg[k] = probe(pbuf, pbuf + PROBE_COUNT, npt, &pp50[k]);
		barrier(0);
		uint64_t t0 = perf_now_ns();

		produce(k, plan.tput);
		barrier(0);
		uint64_t t1 = atomic_load_explicit(&shm->end_ns.v, memory_order_acquire);

		items_s[k] = (double)plan.tput * 1e9 / (double)(t1 - t0);
	}

	int st;

	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_ring: child failed\n");
		return 1;
	}
	if (bad) {
		fprintf(stderr, "bench_ring: %llu wrong values echoed\n", (unsigned long long)bad);
		return 1;
	}

	/* Per round: classify by the limit block, ratio of block medians. */
	printf("ring round p50 (limit / lw / rte, ns, time order):");
	for (uint64_t r = 0; r < plan.rounds; r++) {
		double m[3];

		for (int v = 0; v < 3; v++)
			m[v] = perf_median_ns(lat[v] + r * plan.block, plan.block, npt, scratch);
		near[r] = m[0] < PERF_NEAR_THRESH_NS;
		for (int v = 0; v < 3; v++)
			ratio[v][r] = m[v] / m[0];
		printf(" %.0f/%.0f/%.0f", m[0], m[1], m[2]);
	}
	printf("\n");
	for (int v = 0; v < 3; v++) {
		struct perf_lat l;
		char extra[64];

		/* Median of the per-round ratios (sorted as integers x1e6). */
		for (uint64_t r = 0; r < plan.rounds; r++)
			scratch[r] = (uint64_t)(ratio[v][r] * 1e6);
		qsort(scratch, plan.rounds, sizeof(uint64_t), perf_cmp_u64);
		snprintf(extra, sizeof(extra), "ratio_to_limit=%.3f",
			 (double)perf_pct(scratch, plan.rounds, 50) / 1e6);
		if (perf_summarise(lat[v], n, plan.block, near, npt, &l) != 0)
			return 1;
		perf_print_lat(label[v], &l, extra);
	}
	for (int k = 0; k < TP_N; k++) {
		printf("RESULT %s items_s=%.0f ns_per_item=%.2f capacity=%u regime=%s "
		       "probe_p50_ns=%.1f", tp_label[k], items_s[k], 1e9 / items_s[k],
		       plan.cap, preg[k], pp50[k]);
		if (k == TP_LW)
			printf(" ratio_to_rte=%.3f ratio_to_rte_burst32=%.3f",
			       items_s[k] / items_s[TP_RTE1], items_s[k] / items_s[TP_RTE32]);
		printf("\n");
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_ring [--count N] [--tput-count N] [--cpus A,B] "
		"[--block N] [--capacity N] [--timeout S]\n");
	exit(2);
}

/* Carves a 128-byte aligned piece of @p size bytes from the mapping. */
static void *carve(char **p, size_t size)
{
	void *r = *p;

	*p += (size + 127) & ~(size_t)127;
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "tput-count", required_argument, NULL, 't' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "block", required_argument, NULL, 'b' },
		{ "capacity", required_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t count = 300000, block = 0;
	unsigned timeout = 300;
	int c;

	plan.cpu_a = 0, plan.cpu_b = 1, plan.tput = 5000000, plan.cap = 1024;
	while ((c = getopt_long(argc, argv, "n:t:c:b:C:T:", opts, NULL)) != -1) {
		switch (c) {
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 't': plan.tput = strtoull(optarg, NULL, 0); break;
		case 'b': block = strtoull(optarg, NULL, 0); break;
		case 'C': plan.cap = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'T': timeout = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c':
			if (perf_parse_cpus(optarg, &plan.cpu_a, &plan.cpu_b) != 0)
				usage();
			break;
		default: usage();
		}
	}
	plan.block = block ? block : perf_block_size(count);
	plan.rounds = plan.block ? count / plan.block : 0;
	if (plan.rounds == 0 || plan.tput == 0 || plan.cap < 2 ||
	    (plan.cap & (plan.cap - 1)) != 0)
		usage();
	plan.warm = count / 10 < 100000 ? count / 10 : 100000;

	ssize_t rsz = rte_ring_get_memsize(plan.cap);
	size_t lsz = lw_ring_memsize(plan.cap);
	size_t total = sizeof(struct shm) + 3 * (lsz + 128) + 4 * ((size_t)rsz + 128);
	char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (rsz < 0 || p == MAP_FAILED) {
		fprintf(stderr, "bench_ring: cannot map %zu bytes\n", total);
		return 1;
	}
	shm = carve(&p, sizeof(*shm));
	lw_ping = carve(&p, lsz), lw_pong = carve(&p, lsz), lw_tp = carve(&p, lsz);
	rte_ping = carve(&p, rsz), rte_pong = carve(&p, rsz);
	rte_tp1 = carve(&p, rsz), rte_tp32 = carve(&p, rsz);
	if (lw_ring_init(lw_ping, plan.cap) || lw_ring_init(lw_pong, plan.cap) ||
	    lw_ring_init(lw_tp, plan.cap) ||
	    rte_ring_init(rte_ping, "pp_ping", plan.cap, RING_F_SP_ENQ | RING_F_SC_DEQ) ||
	    rte_ring_init(rte_pong, "pp_pong", plan.cap, RING_F_SP_ENQ | RING_F_SC_DEQ) ||
	    rte_ring_init(rte_tp1, "tp1", plan.cap, RING_F_SP_ENQ | RING_F_SC_DEQ) ||
	    rte_ring_init(rte_tp32, "tp32", plan.cap, RING_F_SP_ENQ | RING_F_SC_DEQ)) {
		fprintf(stderr, "bench_ring: ring init failed\n");
		return 1;
	}
	if (perf_pin(plan.cpu_a) != 0)
		return 1;
	double npt = perf_ns_per_tick();

	printf("bench_ring: cpus %d,%d, %llu round trips per variant in %llu rounds of "
	       "%llu (warm-up %llu), %llu items per throughput phase, capacity %u, "
	       "%.4f ns/tick, timer overhead %.1f ns (included in RTTs)\n",
	       plan.cpu_a, plan.cpu_b, (unsigned long long)(plan.rounds * plan.block),
	       (unsigned long long)plan.rounds, (unsigned long long)plan.block,
	       (unsigned long long)plan.warm, (unsigned long long)plan.tput, plan.cap, npt,
	       perf_timer_overhead_ns(npt));
	fflush(stdout);

	pid_t child = fork();

	if (child < 0) {
		perror("bench_ring: fork");
		return 1;
	}
	if (child == 0) {
		/* Never outlive the parent: its spin loops are ours to end. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(child_main());
	}
	/* A child that dies leaves the parent spinning: the alarm's default
	 * action ends the run with a failure instead of a hang. */
	alarm(timeout);
	return parent_main(child, npt);
}
