/* SPDX-License-Identifier: MIT */
/*
 * lw bench: latency and throughput between real processes, the way an
 * application would see them (publisher and subscribers each in their own
 * address space, talking only through the domain).
 *
 * This file is the driver: options, CPU placement, the child processes and
 * the pipe they report through, progress and the result line. The timed
 * loops are in lw_bench_run.c. Children are forked (not exec'd) so they
 * share the configuration; each opens its own connection after the fork,
 * and the parent opens its own only after forking them, so no process ever
 * uses a connection made in another.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lw_bench.h"

static const char bench_usage[] =
	"usage: lw bench pingpong|tput|fanout [options]\n"
	"\n"
	"  pingpong  round-trip latency: a child process echoes each ping\n"
	"  tput      one publisher, one subscriber process: messages per second\n"
	"  fanout    one publisher, N subscriber processes on one subject\n"
	"\n"
	"Options:\n"
	"      --size B         payload bytes, K/M = 1024/1048576 (default 16)\n"
	"      --count N        timed round trips/messages, k/M = 10^3/10^6 (default\n"
	"                       200000 pingpong, 5M tput, 1M fanout)\n"
	"      --duration-s S   stop after S seconds (or --count, if given, first)\n"
	"      --warmup N       untimed round trips/messages first (default 10%\n"
	"                       of count, at least 1000)\n"
	"      --subs N         fanout subscribers (default 4)\n"
	"      --cpus A,B       pin the parent to CPU A, the child to B (default 0,1)\n"
	"      --spin           receivers busy-poll (LW_WAIT_SPIN) instead of blocking\n"
	"      --burst N        tput/fanout: publish with lw_publish_burst, N messages\n"
	"                       per call (default 1: lw_publish)\n"
	"      --csv            print a CSV header and row instead of the RESULT line\n"
	"                       (the human-readable block then goes to stderr)\n"
	"      --label L        name of the result (default lw_<mode>..._<size>B)\n"
	"  -d, --domain NAME    domain (default $LW_DOMAIN, else \"default\")\n"
	"  -h, --help           show this help\n"
	"\n"
	"Output: a human-readable block and one machine line\n"
	"  RESULT <label> key=value ...\n"
	"Progress goes to stderr about once a second when it is a terminal.\n";

int lw_bench_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -errno;
}

int lw_bench_spawn(struct lw_bench *b, int idx, int cpu)
{
	pid_t pid;

	/* Buffered output would be written twice, once by each process. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "lw: bench: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		b->kids[b->nkids++] = pid;
		return 0;
	}
	close(b->pipe_rd);
	/* Ctrl-C is for the parent, which then ends the run in order; the
	 * children go when it tells them, or when it dies. */
	signal(SIGINT, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != b->parent)
		_exit(1);
	if (cpu >= 0 && (pid = lw_bench_pin(cpu)) != 0) {
		struct lw_bench_rec r = { .kind = LW_BENCH_ERROR, .child = idx };

		snprintf(r.err, sizeof(r.err), "cannot pin to CPU %d: %s", cpu, strerror(-pid));
		if (write(b->pipe_wr, &r, sizeof(r)) < 0)
			_exit(1);
		_exit(1);
	}
	_exit(lw_bench_child(b, idx));
}

static int read_rec(int fd, struct lw_bench_rec *r)
{
	size_t got = 0;

	while (got < sizeof(*r)) {
		ssize_t n = read(fd, (char *)r + got, sizeof(*r) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

int lw_bench_collect(struct lw_bench *b, int kind, struct lw_bench_rec *recs, int n,
		     int timeout_ms)
{
	uint64_t deadline = lw_cli_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int got = 0;

	while (got < n) {
		struct pollfd p = { .fd = b->pipe_rd, .events = POLLIN };
		uint64_t now = lw_cli_now_ns();
		struct lw_bench_rec r;
		int rc;

		/* After a Ctrl-C in the timed phase the run still ends in
		 * order and reports: only the start-up can be cut short. */
		if (lw_cli_stop && kind == LW_BENCH_READY) {
			fprintf(stderr, "lw: bench: interrupted\n");
			return -1;
		}
		if (now >= deadline) {
			fprintf(stderr, "lw: bench: %s: %d of %d subscriber processes did not "
				"report within %d ms\n", lw_strerror(LW_ETIMEDOUT), n - got, n,
				timeout_ms);
			return -1;
		}
		rc = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;
		if (read_rec(b->pipe_rd, &r) != 0) {
			fprintf(stderr, "lw: bench: a child process exited without reporting\n");
			return -1;
		}
		if (r.kind == LW_BENCH_ERROR) {
			fprintf(stderr, "lw: bench: child %d: %s\n", r.child, r.err);
			return -1;
		}
		if (r.kind != kind || r.child < 0 || r.child >= n)
			continue;
		recs[r.child] = r;
		got++;
	}
	return 0;
}

void lw_bench_reap(struct lw_bench *b, bool force)
{
	uint64_t deadline = lw_cli_now_ns() + (force ? 2000000000ull : 5000000000ull);
	int left = b->nkids;

	if (force)
		for (int i = 0; i < b->nkids; i++)
			if (b->kids[i] > 0)
				kill(b->kids[i], SIGTERM);
	/* Bounded: a child stuck in the library must not hang the tool. */
	while (left > 0) {
		for (int i = 0; i < b->nkids; i++) {
			if (b->kids[i] > 0 && waitpid(b->kids[i], NULL, WNOHANG) == b->kids[i]) {
				b->kids[i] = 0;
				left--;
			}
		}
		if (left == 0)
			break;
		if (lw_cli_now_ns() > deadline) {
			for (int i = 0; i < b->nkids; i++) {
				if (b->kids[i] > 0) {
					kill(b->kids[i], SIGKILL);
					waitpid(b->kids[i], NULL, 0);
					b->kids[i] = 0;
				}
			}
			break;
		}
		usleep(10000);
	}
	b->nkids = 0;
}

void lw_bench_progress(struct lw_bench *b, uint64_t now, uint64_t *next, uint64_t done,
		       uint64_t total, const char *unit)
{
	if (now < *next)
		return;
	*next = now + 1000000000ull;
	if (!b->progress)
		return;
	if (total != 0)
		fprintf(stderr, "\r%s: %llu/%llu %s   ", b->mode_name, (unsigned long long)done,
			(unsigned long long)total, unit);
	else
		fprintf(stderr, "\r%s: %llu %s   ", b->mode_name, (unsigned long long)done, unit);
}

void lw_bench_progress_clear(struct lw_bench *b)
{
	if (b->progress)
		fprintf(stderr, "\r%60s\r", "");
}

void lw_bench_kv_u64(struct lw_bench_kv *kv, const char *key, uint64_t v)
{
	if (kv->n >= (int)(sizeof(kv->key) / sizeof(kv->key[0])))
		return;
	kv->key[kv->n] = key;
	snprintf(kv->val[kv->n++], sizeof(kv->val[0]), "%llu", (unsigned long long)v);
}

void lw_bench_kv_f(struct lw_bench_kv *kv, const char *key, double v, int prec)
{
	if (kv->n >= (int)(sizeof(kv->key) / sizeof(kv->key[0])))
		return;
	kv->key[kv->n] = key;
	snprintf(kv->val[kv->n++], sizeof(kv->val[0]), "%.*f", prec, v);
}

void lw_bench_emit(const struct lw_bench *b, const struct lw_bench_kv *kv)
{
	if (b->csv) {
		fputs("label", stdout);
		for (int i = 0; i < kv->n; i++)
			printf(",%s", kv->key[i]);
		printf("\n%s", b->label);
		for (int i = 0; i < kv->n; i++)
			printf(",%s", kv->val[i]);
		putchar('\n');
	} else {
		printf("RESULT %s", b->label);
		for (int i = 0; i < kv->n; i++)
			printf(" %s=%s", kv->key[i], kv->val[i]);
		putchar('\n');
	}
	fflush(stdout);
}

static int parse_cpus(const char *s, int *a, int *b)
{
	char *end;
	long x, y;

	errno = 0;
	x = strtol(s, &end, 10);
	if (end == s || *end != ',' || x < 0 || x >= CPU_SETSIZE)
		return -1;
	s = end + 1;
	y = strtol(s, &end, 10);
	if (end == s || *end != '\0' || y < 0 || y >= CPU_SETSIZE || errno != 0)
		return -1;
	*a = (int)x;
	*b = (int)y;
	return 0;
}

/* Checks the requested placement against the CPUs we may use. With one
 * CPU there is no choice: both sides share it, and the report says so. */
static int place(struct lw_bench *b)
{
	if (sched_getaffinity(0, sizeof(b->allowed), &b->allowed) != 0) {
		fprintf(stderr, "lw: bench: sched_getaffinity: %s\n", strerror(errno));
		return LW_EXIT_FAIL;
	}
	b->ncpus = CPU_COUNT(&b->allowed);
	if (b->ncpus <= 1) {
		int only = 0;

		while (only < CPU_SETSIZE && !CPU_ISSET(only, &b->allowed))
			only++;
		fprintf(stderr, "lw: bench: only CPU %d is available: parent and children "
			"share it\n", only);
		b->cpu_a = b->cpu_b = only;
		return LW_EXIT_OK;
	}
	for (int i = 0; i < 2; i++) {
		int cpu = i == 0 ? b->cpu_a : b->cpu_b;

		if (!CPU_ISSET(cpu, &b->allowed)) {
			fprintf(stderr, "lw: bench: CPU %d is not available to this process "
				"(%d CPUs allowed; see --cpus)\n", cpu, b->ncpus);
			return LW_EXIT_FAIL;
		}
	}
	return LW_EXIT_OK;
}

static int bench_opts(struct lw_bench *b, int argc, char **argv, bool *count_set,
		      bool *warmup_set, const char **label)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration-s", required_argument, NULL, 'D' },
		{ "subs", required_argument, NULL, 'n' },
		{ "cpus", required_argument, NULL, 'C' },
		{ "spin", no_argument, NULL, 'S' },
		{ "csv", no_argument, NULL, 'v' },
		{ "label", required_argument, NULL, 'l' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "burst", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct lw_cli *g = b->g;
	uint64_t v;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (lw_cli_parse_size(optarg, &v) != 0 || v > (1u << 30))
				return lw_cli_usage_error(g, "--size: '%s' is not a size", optarg);
			b->size = (size_t)v;
			break;
		case 'c':
			if (lw_cli_parse_u64(optarg, &b->count) != 0 || b->count == 0)
				return lw_cli_usage_error(g, "--count: '%s' is not a positive number",
							  optarg);
			*count_set = true;
			break;
		case 'D': {
			char *end;

			b->duration_s = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(b->duration_s > 0) ||
			    b->duration_s > 86400)
				return lw_cli_usage_error(g, "--duration-s: '%s' is not a duration",
							  optarg);
			break;
		}
		case 'n':
			if (lw_cli_parse_int(optarg, &b->nsubs) != 0 || b->nsubs < 1 ||
			    b->nsubs > LW_BENCH_MAX_SUBS)
				return lw_cli_usage_error(g, "--subs: '%s' is not 1..%d", optarg,
							  LW_BENCH_MAX_SUBS);
			break;
		case 'C':
			if (parse_cpus(optarg, &b->cpu_a, &b->cpu_b) != 0)
				return lw_cli_usage_error(g, "--cpus: '%s' is not A,B", optarg);
			break;
		case 'S':
			b->spin = true;
			break;
		case 'B': {
			int n;

			if (lw_cli_parse_int(optarg, &n) != 0 || n < 1 || n > 1024)
				return lw_cli_usage_error(g, "--burst: '%s' is not 1..1024", optarg);
			b->burst = (uint32_t)n;
			break;
		}
		case 'v':
			b->csv = true;
			break;
		case 'l':
			*label = optarg;
			break;
		case 'w':
			if (lw_cli_parse_u64(optarg, &b->warmup) != 0)
				return lw_cli_usage_error(g, "--warmup: '%s' is not a number", optarg);
			*warmup_set = true;
			break;
		case 'h':
			fputs(bench_usage, stdout);
			return -1;
		default:
			return lw_cli_bad_option(g, o, argv);
		}
	}
	return LW_EXIT_OK;
}

int lw_cmd_bench(const struct lw_cli *g, int argc, char **argv)
{
	struct lw_bench b = {
		.g = g, .size = 16, .nsubs = 4, .cpu_a = 0, .cpu_b = 1, .burst = 1,
		.pipe_rd = -1, .pipe_wr = -1,
	};
	bool count_set = false, warmup_set = false;
	const char *label = NULL;
	int fds[2], rc;

	rc = bench_opts(&b, argc, argv, &count_set, &warmup_set, &label);
	if (rc != LW_EXIT_OK)
		return rc < 0 ? LW_EXIT_OK : rc;
	if (argc - optind != 1)
		return lw_cli_usage_error(g, argc - optind < 1 ?
					  "missing mode: pingpong, tput or fanout" :
					  "too many arguments");
	b.mode_name = argv[optind];
	if (strcmp(b.mode_name, "pingpong") == 0)
		b.mode = LW_BENCH_PINGPONG;
	else if (strcmp(b.mode_name, "tput") == 0)
		b.mode = LW_BENCH_TPUT;
	else if (strcmp(b.mode_name, "fanout") == 0)
		b.mode = LW_BENCH_FANOUT;
	else
		return lw_cli_usage_error(g, "unknown mode '%s' (pingpong, tput, fanout)",
					  b.mode_name);
	if (b.mode != LW_BENCH_FANOUT)
		b.nsubs = 1;

	if (!count_set) {
		if (b.duration_s > 0)
			/* The run ends by time; count only bounds it (and for
			 * pingpong sizes the sample array: 4M rt/s is beyond
			 * what two processes reach). */
			b.count = b.mode == LW_BENCH_PINGPONG ?
				  (uint64_t)(b.duration_s * 4e6) : UINT64_MAX / 4;
		else
			b.count = b.mode == LW_BENCH_PINGPONG ? 200000 :
				  b.mode == LW_BENCH_TPUT ? 5000000 : 1000000;
	}
	if (b.mode == LW_BENCH_PINGPONG && b.count > 32000000) {
		fprintf(stderr, "lw: bench: pingpong keeps at most 32000000 samples; "
			"the run stops there\n");
		b.count = 32000000;
	}
	if (!warmup_set)
		b.warmup = (count_set || b.duration_s == 0) ?
			   (b.count / 10 > 1000 ? b.count / 10 : 1000) : 10000;
	if (label != NULL)
		snprintf(b.label, sizeof(b.label), "%s", label);
	else if (b.mode == LW_BENCH_PINGPONG)
		snprintf(b.label, sizeof(b.label), "lw_pingpong_rtt_%zuB", b.size);
	else if (b.mode == LW_BENCH_TPUT)
		snprintf(b.label, sizeof(b.label), "lw_tput_%zuB", b.size);
	else
		snprintf(b.label, sizeof(b.label), "lw_fanout%d_%zuB", b.nsubs, b.size);
	if (strpbrk(b.label, " \t\n,=") != NULL)
		return lw_cli_usage_error(g, "--label: no spaces, commas or '='");
	b.out = b.csv ? stderr : stdout;
	b.progress = isatty(STDERR_FILENO);
	b.parent = getpid();
	snprintf(b.subj, sizeof(b.subj), "bench.%s.%d",
		 b.mode == LW_BENCH_PINGPONG ? "ping" : b.mode_name, (int)b.parent);
	snprintf(b.subj2, sizeof(b.subj2), "bench.pong.%d", (int)b.parent);

	rc = place(&b);
	if (rc != LW_EXIT_OK)
		return rc;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		fprintf(stderr, "lw: bench: pipe: %s\n", strerror(errno));
		return LW_EXIT_FAIL;
	}
	b.pipe_rd = fds[0];
	b.pipe_wr = fds[1];
	lw_cli_catch_signals();
	if (b.mode == LW_BENCH_PINGPONG)
		rc = lw_bench_pingpong(&b);
	else
		rc = lw_bench_stream(&b);
	close(b.pipe_rd);
	if (b.pipe_wr >= 0)
		close(b.pipe_wr);
	return rc;
}
