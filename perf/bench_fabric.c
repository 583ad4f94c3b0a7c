/* SPDX-License-Identifier: MIT */
/*
 * bench_fabric: the full Lightwire publish -> subscribe round trip between
 * two processes, against the physical limit, interleaved in one run.
 *
 * Why a second ping-pong next to `lw bench pingpong`: the CLI times with
 * clock_gettime and goes through the shared library, which is what users
 * see; the target is a ratio to the two-cache-line limit measured
 * in the same run. Here both are timed the same way (lfence+rdtsc on the
 * parent), in alternating blocks, so each block of the fabric is compared
 * with a limit block of the same regime (the VM flips between a near and a
 * far cross-core latency), and the ratio is the median of per-round ratios.
 *
 * Fabric: the parent publishes 16 bytes on "bf.ping.<pid>" (lw_publish),
 * the child receives with lw_next in LW_WAIT_SPIN mode and publishes the
 * same bytes on "bf.pong.<pid>"; the parent receives. Both link the static
 * liblightwire. Needs a running lwd (--domain NAME or $LW_DOMAIN).
 *
 * usage: bench_fabric [--domain D] [--count N] [--block N] [--cpus A,B] [--size B]
 */
#include <getopt.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lightwire/lightwire.h>

#include "perf_common.h"

struct line {
	alignas(128) _Atomic uint64_t v;
};

struct shm {
	struct line ping, pong;
	struct line ready;	/* child subscribed */
	struct line failed;
};

static struct shm *shm;
static uint64_t lseq;
static const char *domain;
static size_t size = 16;
static char ping_subj[64], pong_subj[64];

static lw_conn *connect_spin(void)
{
	struct lw_conn_opts o;
	lw_conn *c;

	lw_conn_opts_init(&o);
	o.domain = domain;
	o.wait = LW_WAIT_SPIN;
	if (lw_connect(&c, &o) != LW_OK) {
		fprintf(stderr, "bench_fabric: connect: %s\n", lw_errmsg());
		return NULL;
	}
	return c;
}

static void limit_ping(uint64_t n, uint64_t *out)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = ++lseq, t0 = perf_tsc();

		atomic_store_explicit(&shm->ping.v, s, memory_order_release);
		while (atomic_load_explicit(&shm->pong.v, memory_order_acquire) != s)
			;
		out[i] = perf_tsc() - t0;
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

/* Returns the number of failures. */
static uint64_t fabric_ping(lw_conn *c, lw_sub *pong, uint64_t n, uint64_t *out)
{
	char buf[256] = { 0 };
	uint64_t bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0, t1;
		lw_msg *m;

		memcpy(buf, &i, sizeof(i));
		t0 = perf_tsc();
		if (lw_publish(c, ping_subj, buf, size) != 1 || lw_next(pong, &m, 5000) != LW_OK)
			return n;
		t1 = perf_tsc();
		if (memcmp(lw_msg_data(m), &i, sizeof(i)) != 0)
			bad++;
		lw_msg_free(m);
		out[i] = t1 - t0;
	}
	return bad;
}

static int fabric_echo(lw_conn *c, lw_sub *ping, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		lw_msg *m;

		if (lw_next(ping, &m, 5000) != LW_OK)
			return -1;
		if (lw_publish(c, pong_subj, lw_msg_data(m), lw_msg_len(m)) != 1)
			return -1;
		lw_msg_free(m);
	}
	return 0;
}

static int child_main(int cpu, uint64_t warm, uint64_t rounds, uint64_t block)
{
	lw_conn *c;
	lw_sub *ping;

	if (perf_pin(cpu) != 0 || (c = connect_spin()) == NULL ||
	    lw_subscribe(c, ping_subj, NULL, &ping) != LW_OK) {
		atomic_store(&shm->failed.v, 1);
		return 1;
	}
	atomic_store(&shm->ready.v, 1);
	limit_echo(warm);
	if (fabric_echo(c, ping, warm) != 0)
		goto fail;
	for (uint64_t r = 0; r < rounds; r++) {
		limit_echo(block);
		if (fabric_echo(c, ping, block) != 0)
			goto fail;
	}
	lw_close(c);
	return 0;
fail:
	fprintf(stderr, "bench_fabric: child: %s\n", lw_errmsg());
	atomic_store(&shm->failed.v, 1);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "block", required_argument, NULL, 'b' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t count = 500000, block = 0, warm, rounds;
	int cpu_a = 0, cpu_b = 1, o, st;

	while ((o = getopt_long(argc, argv, "d:n:b:c:s:", opts, NULL)) != -1) {
		switch (o) {
		case 'd': domain = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'b': block = strtoull(optarg, NULL, 0); break;
		case 'c':
			if (perf_parse_cpus(optarg, &cpu_a, &cpu_b) != 0)
				return 2;
			break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: bench_fabric [--domain D] [--count N] [--block N] "
				"[--cpus A,B] [--size B (8..256)]\n");
			return 2;
		}
	}
	if (block == 0)
		block = count >= 2000 ? count / 20 : count; /* 20 rounds */
	if (block == 0 || count < block || size < 8 || size > 256)
		return 2;
	rounds = count / block;
	warm = block;
	snprintf(ping_subj, sizeof(ping_subj), "bf.ping.%d", (int)getpid());
	snprintf(pong_subj, sizeof(pong_subj), "bf.pong.%d", (int)getpid());
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return 1;

	double npt = perf_ns_per_tick();
	pid_t child = fork();

	if (child == 0)
		_exit(child_main(cpu_b, warm, rounds, block));

	uint64_t n = rounds * block, bad = 0;
	uint64_t *lat[2] = { malloc(n * 8), malloc(n * 8) }, *tmp = malloc(n * 8);
	uint64_t *wbuf = malloc(warm * 8);
	double *ratio = malloc(rounds * sizeof(double));
	bool *near = calloc(rounds, sizeof(bool));
	lw_conn *c;
	lw_sub *pong;

	if (!lat[0] || !lat[1] || !tmp || !wbuf || !ratio || !near || perf_pin(cpu_a) != 0 ||
	    (c = connect_spin()) == NULL || lw_subscribe(c, pong_subj, NULL, &pong) != LW_OK)
		goto fail;
	while (!atomic_load(&shm->ready.v))
		if (atomic_load(&shm->failed.v))
			goto fail;
	/* The child's subscription is in the tree once its subscribe call
	 * returned, which happened before it set ready. */
	limit_ping(warm, wbuf);
	bad += fabric_ping(c, pong, warm, wbuf);
	for (uint64_t r = 0; r < rounds && !bad; r++) {
		limit_ping(block, lat[0] + r * block);
		bad += fabric_ping(c, pong, block, lat[1] + r * block);
	}
	lw_close(c);
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || bad) {
		fprintf(stderr, "bench_fabric: %s\n", bad ? "wrong or missing echoes" : "child failed");
		return 1;
	}

	printf("bench_fabric: cpus %d,%d, %zu B, %llu round trips each in %llu alternating "
	       "rounds, rdtsc-timed\nround p50 (limit / fabric, ns):", cpu_a, cpu_b, size,
	       (unsigned long long)n, (unsigned long long)rounds);
	for (uint64_t r = 0; r < rounds; r++) {
		double l = perf_median_ns(lat[0] + r * block, block, npt, tmp);
		double f = perf_median_ns(lat[1] + r * block, block, npt, tmp);

		ratio[r] = f / l;
		/* A round's regime is its limit block's. */
		near[r] = l < PERF_NEAR_THRESH_NS;
		printf(" %.0f/%.0f", l, f);
	}
	printf("\n");
	for (uint64_t r = 0; r < rounds; r++)
		tmp[r] = (uint64_t)(ratio[r] * 1e6);
	qsort(tmp, rounds, sizeof(uint64_t), perf_cmp_u64);
	double rmed = (double)perf_pct(tmp, rounds, 50) / 1e6;

	for (int v = 0; v < 2; v++) {
		struct perf_lat l;
		char extra[64];

		if (perf_summarise(lat[v], n, block, near, npt, &l) != 0)
			goto fail;
		snprintf(extra, sizeof(extra), v ? "size=%zu ratio_to_limit=%.3f" : "size=%zu",
			 size, rmed);
		perf_print_lat(v ? "fabric_pingpong_rtt" : "fabric_limit_rtt", &l, extra);
	}
	return 0;
fail:
	fprintf(stderr, "bench_fabric: %s\n", lw_errmsg());
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	return 1;
}
