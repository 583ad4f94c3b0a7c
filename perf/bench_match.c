/* SPDX-License-Identifier: MIT */
/*
 * bench_match: how fast a publisher matches a literal subject against the
 * subscription tree (lw_stree_match), and whether that rate holds when the
 * tree is full of subscriptions unrelated to the subject.
 *
 * The tree is built in malloc'ed memory (64-byte aligned, lw_stree_memsize)
 * with a market-data-like mix of subscriptions, all distinct:
 *   70% md.<venue>.<symbol>.<field>   20 venues x 1000 symbols x 4 fields
 *   10% one '*' in an md subject      md.V.*.F, md.*.S.F or md.V.S.*
 *    5% orders.<region>.>             5000 regions
 *    5% svc.<n>.req in queue group "workers", 10 members per service
 *   10% sys.<host>.<metric>           other literal subjects
 * The small tree (default 100) takes the first entries of each category of
 * the big one, in the same proportions, so it is a subset of it.
 *
 * Two lookup sets (pre-generated, so formatting is not timed):
 *   mixed: random literal subjects of the same families, ~20% misses; the
 *          big tree finds far more of them than the small one.
 *   same:  one instance of each subscription of the small tree; the big tree
 *          sees exactly these plus ~99.9k unrelated subscriptions, so its
 *          ratio to the small tree is the cost of the unrelated ones.
 * Trees and sets alternate in repetitions so machine noise (others compile
 * here) hits both alike; rates are medians over repetitions.
 *
 * usage: bench_match [--count N] [--subs N] [--small N] [--reps N] [--cpu C]
 */
#include <getopt.h>

#include "lw_subject.h"
#include "perf_common.h"

#define SUBJ_LEN 64
#define MAX_OUT 4096
#define LOOKUPS 65536u /* power of two: index by mask */
#define N_VENUE 20u
#define N_SYM 1000u
#define N_FIELD 4u
#define N_WILD (N_VENUE * N_FIELD + N_SYM * N_FIELD + N_VENUE * N_SYM)
#define N_REGION 5000u
#define N_SVC 500u
#define N_MEMBER 10u
#define N_HOST 200u
#define N_METRIC 100u

static const char *const venue[N_VENUE] = {
	"XNAS", "XNYS", "ARCX", "BATS", "BATY", "EDGA", "EDGX", "IEXG", "MEMX", "XASE",
	"XBOS", "XCHI", "XPHL", "XLON", "XPAR", "XETR", "XAMS", "XSWX", "XTSE", "XJPX" };
static const char *const field[N_FIELD] = { "bid", "ask", "trade", "quote" };
static const char *const region[5] = { "eu", "us", "ap", "sa", "af" };

struct sub {
	char subj[SUBJ_LEN];
	int queue;
};

/* Category sizes of a tree of n subscriptions. */
enum { C_LIT, C_WILD, C_ORD, C_QUE, C_OTHER, C_N };
static const uint32_t pct[C_N] = { 70, 10, 5, 5, 10 };
static const uint32_t space[C_N] = {
	N_VENUE * N_SYM * N_FIELD, N_WILD, N_REGION, N_SVC * N_MEMBER, N_HOST * N_METRIC };

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64: fast, good enough, and the same on every machine. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static void sym(char *b, uint32_t i)
{
	b[0] = (char)('A' + i / 676), b[1] = (char)('A' + i / 26 % 26);
	b[2] = (char)('A' + i % 26), b[3] = 0;
}

/* Subscription number @p i of category @p c (distinct for distinct i). */
static void make_sub(struct sub *s, int c, uint32_t i)
{
	char y[4];

	s->queue = 0;
	switch (c) {
	case C_LIT:
		sym(y, i / N_FIELD % N_SYM);
		snprintf(s->subj, SUBJ_LEN, "md.%s.%s.%s", venue[i / N_FIELD / N_SYM], y,
			 field[i % N_FIELD]);
		break;
	case C_WILD:
		if (i < N_VENUE * N_FIELD) {
			snprintf(s->subj, SUBJ_LEN, "md.%s.*.%s", venue[i / N_FIELD],
				 field[i % N_FIELD]);
		} else if ((i -= N_VENUE * N_FIELD) < N_SYM * N_FIELD) {
			sym(y, i / N_FIELD);
			snprintf(s->subj, SUBJ_LEN, "md.*.%s.%s", y, field[i % N_FIELD]);
		} else {
			i -= N_SYM * N_FIELD;
			sym(y, i % N_SYM);
			snprintf(s->subj, SUBJ_LEN, "md.%s.%s.*", venue[i / N_SYM], y);
		}
		break;
	case C_ORD:
		snprintf(s->subj, SUBJ_LEN, "orders.%s-%u.>", region[i % 5], i / 5);
		break;
	case C_QUE:
		snprintf(s->subj, SUBJ_LEN, "svc.s%03u.req", i / N_MEMBER);
		s->queue = 1;
		break;
	default:
		snprintf(s->subj, SUBJ_LEN, "sys.h%03u.m%02u", i / N_METRIC, i % N_METRIC);
	}
}

/* Random distinct picks of each category; small[] takes the first ones. */
static int gen_subs(struct sub *big, uint32_t nbig, struct sub *small, uint32_t nsmall)
{
	uint32_t ob = 0, os = 0;

	for (int c = 0; c < C_N; c++) {
		uint32_t kb = c == C_N - 1 ? nbig - ob : nbig * pct[c] / 100;
		uint32_t ks = c == C_N - 1 ? nsmall - os : nsmall * pct[c] / 100;
		uint32_t *perm = malloc(space[c] * sizeof(uint32_t));

		if (kb > space[c] || !perm) {
			fprintf(stderr, "bench_match: %u subscriptions do not fit the "
				"subject families (at most ~100000)\n", nbig);
			free(perm);
			return -1;
		}
		for (uint32_t i = 0; i < space[c]; i++)
			perm[i] = i;
		for (uint32_t i = 0; i < kb; i++) {	/* partial Fisher-Yates */
			uint32_t j = i + rnd_below(space[c] - i), t = perm[i];

			perm[i] = perm[j], perm[j] = t;
			make_sub(&big[ob + i], c, perm[i]);
		}
		for (uint32_t i = 0; i < ks && i < kb; i++)
			small[os + i] = big[ob + i];
		ob += kb, os += ks < kb ? ks : kb;
		free(perm);
	}
	return 0;
}

/* A literal subject matched by pattern @p p: '*' -> ZZZ (no symbol has that
 * name), '>' -> two tokens. */
static void instance(const char *p, char *out)
{
	size_t o = 0;

	for (const char *s = p; *s && o < SUBJ_LEN - 8; s++) {
		int whole = (s == p || s[-1] == '.') && (s[1] == '.' || s[1] == 0);

		if (*s == '*' && whole)
			memcpy(out + o, "ZZZ", 3), o += 3;
		else if (*s == '>' && whole)
			memcpy(out + o, "new.42", 6), o += 6;
		else
			out[o++] = *s;
	}
	out[o] = 0;
}

/* A random literal subject of the mixed lookup set. */
static void random_subject(char *b)
{
	uint32_t k = rnd_below(100);
	char y[4];

	sym(y, rnd_below(N_SYM));
	if (k < 55)
		snprintf(b, SUBJ_LEN, "md.%s.%s.%s", venue[rnd_below(N_VENUE)], y,
			 field[rnd_below(N_FIELD)]);
	else if (k < 65)
		snprintf(b, SUBJ_LEN, "orders.%s-%u.fill.%u", region[rnd_below(5)],
			 rnd_below(N_REGION / 5), rnd_below(100000));
	else if (k < 70)
		snprintf(b, SUBJ_LEN, "svc.s%03u.req", rnd_below(N_SVC));
	else if (k < 80)
		snprintf(b, SUBJ_LEN, "sys.h%03u.m%02u", rnd_below(N_HOST), rnd_below(N_METRIC));
	else if (k < 90) /* unknown field: only md.V.S.* can match */
		snprintf(b, SUBJ_LEN, "md.%s.%s.vwap", venue[rnd_below(N_VENUE)], y);
	else
		snprintf(b, SUBJ_LEN, "audit.u%u.login", rnd_below(1000000));
}

struct lookups {
	char subj[LOOKUPS][SUBJ_LEN];
	uint32_t len[LOOKUPS];
};

static lw_stree *build(const struct sub *subs, uint32_t n, double *ms, size_t *bytes)
{
	size_t sz = (lw_stree_memsize(n) + 63) & ~(size_t)63;
	void *mem = aligned_alloc(64, sz);
	lw_stree *t = mem ? lw_stree_init(mem, sz, n) : NULL;
	uint32_t *order = malloc(n * sizeof(uint32_t));

	if (!t || !order) {
		fprintf(stderr, "bench_match: cannot make a tree of %u\n", n);
		exit(1);
	}
	/* Insert in random order: subscriptions arrive over time, and the
	 * insertion order decides where nodes land in memory. */
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = rnd_below(i), x = order[i - 1];

		order[i - 1] = order[j], order[j] = x;
	}
	uint64_t t0 = perf_now_ns();

	for (uint32_t k = 0; k < n; k++) {
		const struct sub *s = &subs[order[k]];
		int rc = lw_stree_insert(t, s->subj, strlen(s->subj),
					 s->queue ? "workers" : NULL, order[k]);

		if (rc != LW_OK) {
			fprintf(stderr, "bench_match: insert '%s' failed: %d\n", s->subj, rc);
			exit(1);
		}
	}
	*ms = (double)(perf_now_ns() - t0) / 1e6;
	*bytes = sz;
	free(order);
	return t;
}

/* Guards against timing a broken tree: an instance of each of the first
 * subscriptions must come back with that id (queue members: some member). */
static void check(lw_stree *t, const struct sub *subs, uint32_t n)
{
	static uint32_t out[MAX_OUT];
	char b[SUBJ_LEN];

	for (uint32_t i = 0; i < n && i < 5000; i++) {
		instance(subs[i].subj, b);
		int r = lw_stree_match(t, b, strlen(b), out, MAX_OUT), found = subs[i].queue && r > 0;

		for (int k = 0; k < r && !found; k++)
			found = out[k] == i;
		if (!found) {
			fprintf(stderr, "bench_match: '%s' does not match subscription %u '%s'\n",
				b, i, subs[i].subj);
			exit(1);
		}
	}
}

struct rate {
	double ns;		/* elapsed */
	uint64_t ids, hits;
};

static void run(lw_stree *t, const struct lookups *L, uint64_t count, struct rate *r)
{
	static uint32_t out[MAX_OUT];
	uint64_t ids = 0, hits = 0, t0 = perf_now_ns();

	for (uint64_t k = 0; k < count; k++) {
		uint32_t i = (uint32_t)k & (LOOKUPS - 1);
		int n = lw_stree_match(t, L->subj[i], L->len[i], out, MAX_OUT);

		if (n < 0) {
			fprintf(stderr, "bench_match: match '%s' failed: %d\n", L->subj[i], n);
			exit(1);
		}
		/* lw_stree_match lives in another translation unit (no LTO),
		 * so the call cannot be optimised away; counting its results
		 * also shows the work each lookup did. */
		ids += (uint64_t)n;
		hits += n > 0;
	}
	r->ns = (double)(perf_now_ns() - t0);
	r->ids = ids, r->hits = hits;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void label_of(char *b, size_t cap, uint32_t n, const char *sfx)
{
	if (n % 1000 == 0)
		snprintf(b, cap, "match_%uk%s", n / 1000, sfx);
	else
		snprintf(b, cap, "match_%u%s", n, sfx);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "subs", required_argument, NULL, 's' },
		{ "small", required_argument, NULL, 'S' },
		{ "reps", required_argument, NULL, 'r' },
		{ "cpu", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t count = 3000000;
	uint32_t nbig = 100000, nsmall = 100;
	int reps = 5, cpu = 0, c;

	while ((c = getopt_long(argc, argv, "n:s:S:r:c:", opts, NULL)) != -1) {
		switch (c) {
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 's': nbig = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'S': nsmall = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'r': reps = atoi(optarg); break;
		case 'c': cpu = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_match [--count N] [--subs N] [--small N] "
				"[--reps N] [--cpu C]\n");
			return 2;
		}
	}
	if (nsmall < 20 || nbig < nsmall || reps < 1 || reps > 99 || count < (uint64_t)reps ||
	    perf_pin(cpu) != 0)
		return 2;

	struct sub *big = calloc(nbig, sizeof(*big)), *small = calloc(nsmall, sizeof(*small));
	struct lookups *mixed = malloc(sizeof(*mixed)), *same = malloc(sizeof(*same));

	if (!big || !small || !mixed || !same || gen_subs(big, nbig, small, nsmall) != 0)
		return 1;
	for (uint32_t i = 0; i < LOOKUPS; i++) {
		random_subject(mixed->subj[i]);
		mixed->len[i] = (uint32_t)strlen(mixed->subj[i]);
		instance(small[rnd_below(nsmall)].subj, same->subj[i]);
		same->len[i] = (uint32_t)strlen(same->subj[i]);
	}

	/* Third tree: the small tree's subscriptions plus nbig - nsmall on
	 * subjects no lookup touches (a different first token, with '*' and
	 * '>' among them): what "unrelated subscriptions" means in the issue. */
	struct sub *unrel = calloc(nbig, sizeof(*unrel));

	if (unrel == NULL)
		return 1;
	memcpy(unrel, small, nsmall * sizeof(*small));
	for (uint32_t i = nsmall; i < nbig; i++) {
		uint32_t k = i - nsmall;

		if (k % 10 == 0)
			snprintf(unrel[i].subj, SUBJ_LEN, "iot.site%05u.*.temp", k / 10);
		else if (k % 10 == 1)
			snprintf(unrel[i].subj, SUBJ_LEN, "iot.site%05u.>", k / 10);
		else
			snprintf(unrel[i].subj, SUBJ_LEN, "iot.site%05u.dev%u.temp", k / 10, k % 10);
	}

	double ms[3];
	size_t bytes[3];
	lw_stree *tree[2] = { build(big, nbig, &ms[0], &bytes[0]),
			      build(small, nsmall, &ms[1], &bytes[1]) };
	lw_stree *tree_u = build(unrel, nbig, &ms[2], &bytes[2]);
	const uint32_t nsub[2] = { nbig, nsmall };

	check(tree[0], big, nbig);
	check(tree[1], small, nsmall);
	check(tree_u, unrel, nbig);
	printf("bench_match: cpu %d, trees of %u and %u subscriptions (%.1f and %.2f MiB, "
	       "built in %.1f and %.2f ms), %llu lookups per measurement in %d "
	       "interleaved repetitions over %u pre-generated subjects\n", cpu, nbig,
	       nsmall, bytes[0] / 1048576.0, bytes[1] / 1048576.0, ms[0], ms[1],
	       (unsigned long long)count, reps, LOOKUPS);

	/* [set][tree][rep]; one warm-up pass per set and tree first. */
	const struct lookups *set[2] = { mixed, same };
	double rate[2][2][100], ratio[2][100];
	struct rate r[2][2];

	for (int s = 0; s < 2; s++)
		for (int k = 0; k < 2; k++)
			run(tree[k], set[s], LOOKUPS, &r[s][k]);
	uint64_t per = count / (uint64_t)reps;

	for (int i = 0; i < reps; i++) {
		for (int s = 0; s < 2; s++) {
			for (int k = 0; k < 2; k++) {
				run(tree[k], set[s], per, &r[s][k]);
				rate[s][k][i] = (double)per * 1e9 / r[s][k].ns;
			}
			ratio[s][i] = rate[s][0][i] / rate[s][1][i];
		}
	}
	for (int s = 0; s < 2; s++) {
		for (int k = 0; k < 2; k++) {
			char label[64];
			double m = median(rate[s][k], reps);

			label_of(label, sizeof(label), nsub[k], s ? "_same" : "");
			printf("RESULT %s subs=%u set=%s lookups=%llu matches_s=%.0f "
			       "ns_per_match=%.1f hit_pct=%.1f ids_per_match=%.3f tree_mib=%.2f "
			       "build_ms=%.2f\n", label, nsub[k], s ? "same" : "mixed",
			       (unsigned long long)per * (unsigned long long)reps, m, 1e9 / m,
			       100.0 * (double)r[s][k].hits / (double)per,
			       (double)r[s][k].ids / (double)per, bytes[k] / 1048576.0, ms[k]);
		}
	}
	double rm = median(ratio[0], reps), rs = median(ratio[1], reps);
	double urate[100], uratio[100];
	struct rate ru;

	/* Same lookups, small tree vs small + unrelated, interleaved. */
	run(tree_u, same, LOOKUPS, &ru);
	for (int i = 0; i < reps; i++) {
		struct rate rsml;

		run(tree_u, same, per, &ru);
		run(tree[1], same, per, &rsml);
		urate[i] = (double)per * 1e9 / ru.ns;
		uratio[i] = urate[i] / ((double)per * 1e9 / rsml.ns);
	}
	printf("RESULT match_%uk_unrelated subs=%u set=same matches_s=%.0f ns_per_match=%.1f "
	       "ids_per_match=%.3f tree_mib=%.2f\n", nbig / 1000, nbig, median(urate, reps),
	       1e9 / median(urate, reps), (double)ru.ids / (double)per, bytes[2] / 1048576.0);
	printf("RESULT match_ratio ratio_100k_vs_100=%.3f same_ratio_100k_vs_100=%.3f "
	       "unrelated_ratio_100k_vs_100=%.3f\n", rm, rs, median(uratio, reps));
	printf("(ratio = matches/s of the %u-subscription tree / the %u one, median of "
	       "same-repetition ratios; 1.0 = unrelated subscriptions cost nothing)\n",
	       nbig, nsmall);
	return 0;
}
