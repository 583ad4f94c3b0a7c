/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the perf/ programs (header-only, x86-64): TSC timing,
 * CPU pinning, percentiles, near/far regime classification and the
 * `RESULT <label> key=value ...` lines that perf/median.py collects.
 *
 * Why the regime machinery: on the 2-vCPU KVM machines we measure on, the
 * host moves the vCPUs between physical cores, and the cross-core latency
 * flips between a "near" (~120-150 ns cache-line round trip) and a "far"
 * (~450-550 ns) regime, on a time scale of seconds, within a run as well as
 * between runs. A latency percentile alone is therefore meaningless; every
 * latency program cuts its samples into blocks in time order, classifies
 * each block by the 2-cache-line limit measured in (or next to) that block,
 * and reports near-only and far-only medians beside the overall figures.
 */
#ifndef LW_PERF_COMMON_H
#define LW_PERF_COMMON_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

/* The 2-line round trip is ~150 ns near and ~500 ns far: 300 ns separates
 * them with margin on both sides (the anchors use the same threshold). */
#define PERF_NEAR_THRESH_NS 300.0

/* lfence before rdtsc keeps earlier loads from being timed late; lfence
 * after keeps later loads from starting early. Costs ~20 ns per call here,
 * which every TSC-timed sample includes (printed as timer_overhead). */
static inline uint64_t perf_tsc(void)
{
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
}

static inline uint64_t perf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds per TSC tick, measured against CLOCK_MONOTONIC over ~100 ms
 * (the TSC is constant and nonstop on these machines). */
static inline double perf_ns_per_tick(void)
{
	uint64_t n0 = perf_now_ns(), t0 = perf_tsc(), n1;

	do
		n1 = perf_now_ns();
	while (n1 - n0 < 100000000u);
	return (double)(n1 - n0) / (double)(perf_tsc() - t0);
}

/* Pins the calling thread (or single-threaded process). A benchmark that
 * cannot be placed where asked must fail, not measure something else. */
static inline int perf_pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s) != 0) {
		fprintf(stderr, "cannot pin to CPU %d: %s\n", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

/* Parses "A,B" into two CPU numbers; -1 on error. */
static inline int perf_parse_cpus(const char *s, int *a, int *b)
{
	return sscanf(s, "%d,%d", a, b) == 2 && *a >= 0 && *b >= 0 && *a != *b ? 0 : -1;
}

static int perf_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static inline uint64_t perf_pct(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (n == 0)
		return 0;
	if (i > 0)
		i--;
	return sorted[i < n ? i : n - 1];
}

/* Median (in ns) of @p n samples in ticks, without touching @p v. */
static inline double perf_median_ns(const uint64_t *v, size_t n, double ns_per_tick,
				    uint64_t *scratch)
{
	memcpy(scratch, v, n * sizeof(*v));
	qsort(scratch, n, sizeof(*v), perf_cmp_u64);
	return (double)perf_pct(scratch, n, 50) * ns_per_tick;
}

struct perf_lat {
	size_t n;
	double p50, p90, p99, p999, max;
	/* Regime: blocks classified near/far; p50 over the near (far) blocks'
	 * samples, negative when there was no such block. */
	size_t blocks, near_blocks;
	double near_p50, far_p50;
};

/*
 * Summarises @p n samples (ticks, time order) cut into blocks of @p block.
 * @p near[b] says whether block b ran in the near regime (the caller
 * classifies: by the block's own median or by a limit probe of the same
 * round). Allocates scratch; returns -1 when out of memory.
 */
static inline int perf_summarise(const uint64_t *v, size_t n, size_t block,
				 const bool *near, double ns_per_tick, struct perf_lat *out)
{
	uint64_t *all = malloc(n * sizeof(*v)), *nr = malloc(n * sizeof(*v));
	uint64_t *fr = malloc(n * sizeof(*v));
	size_t nn = 0, nf = 0;

	if (!all || !nr || !fr) {
		free(all), free(nr), free(fr);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->blocks = block ? n / block : 0;
	for (size_t b = 0; b < out->blocks; b++) {
		const uint64_t *s = v + b * block;

		if (near[b]) {
			memcpy(nr + nn, s, block * sizeof(*v)), nn += block;
			out->near_blocks++;
		} else {
			memcpy(fr + nf, s, block * sizeof(*v)), nf += block;
		}
	}
	memcpy(all, v, n * sizeof(*v));
	qsort(all, n, sizeof(*v), perf_cmp_u64);
	qsort(nr, nn, sizeof(*v), perf_cmp_u64);
	qsort(fr, nf, sizeof(*v), perf_cmp_u64);
	out->n = n;
	out->p50 = (double)perf_pct(all, n, 50) * ns_per_tick;
	out->p90 = (double)perf_pct(all, n, 90) * ns_per_tick;
	out->p99 = (double)perf_pct(all, n, 99) * ns_per_tick;
	out->p999 = (double)perf_pct(all, n, 99.9) * ns_per_tick;
	out->max = n ? (double)all[n - 1] * ns_per_tick : 0;
	out->near_p50 = nn ? (double)perf_pct(nr, nn, 50) * ns_per_tick : -1;
	out->far_p50 = nf ? (double)perf_pct(fr, nf, 50) * ns_per_tick : -1;
	free(all), free(nr), free(fr);
	return 0;
}

static inline const char *perf_regime(const struct perf_lat *l)
{
	/* Majority of blocks; a tie counts as near (the faster figure is the
	 * one a reader would doubt, so it must carry the evidence). */
	return 2 * l->near_blocks >= l->blocks ? "near" : "far";
}

/* Prints one human line and the RESULT line (ns, one decimal). @p extra is
 * appended verbatim (e.g. "ratio_to_limit=1.62"), may be NULL. */
static inline void perf_print_lat(const char *label, const struct perf_lat *l,
				  const char *extra)
{
	printf("%-22s n=%zu p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f ns; "
	       "%zu/%zu blocks near", label, l->n, l->p50, l->p90, l->p99, l->p999,
	       l->max, l->near_blocks, l->blocks);
	if (l->near_p50 >= 0)
		printf(", near p50=%.1f", l->near_p50);
	if (l->far_p50 >= 0)
		printf(", far p50=%.1f", l->far_p50);
	printf("\nRESULT %s n=%zu p50_ns=%.1f p90_ns=%.1f p99_ns=%.1f p999_ns=%.1f "
	       "max_ns=%.1f regime=%s near_blocks=%zu blocks=%zu", label, l->n,
	       l->p50, l->p90, l->p99, l->p999, l->max, perf_regime(l),
	       l->near_blocks, l->blocks);
	if (l->near_p50 >= 0)
		printf(" near_p50_ns=%.1f", l->near_p50);
	if (l->far_p50 >= 0)
		printf(" far_p50_ns=%.1f", l->far_p50);
	printf("%s%s\n", extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

/* p50 of back-to-back perf_tsc() pairs: the cost included in each sample. */
static inline double perf_timer_overhead_ns(double ns_per_tick)
{
	enum { N = 20000 };
	static uint64_t d[N];

	for (int i = 0; i < N; i++) {
		uint64_t a = perf_tsc();

		d[i] = perf_tsc() - a;
	}
	qsort(d, N, sizeof(d[0]), perf_cmp_u64);
	return (double)perf_pct(d, N, 50) * ns_per_tick;
}

/* Samples per regime block: ~20 blocks, at least 1000 samples each. */
static inline size_t perf_block_size(size_t count)
{
	size_t b = count / 20;

	return b < 1000 ? (count < 1000 ? count : 1000) : b;
}

#endif
