/* SPDX-License-Identifier: MIT */
/*
 * The subscription tree: the matching cases of the NATS documentation,
 * queue groups (round robin, echo-off members, quotas), capacity reuse,
 * a random model test against a linear reference matcher, and one writer
 * thread racing a matching thread through the sequence lock. Subject
 * validation has its own file (test_subj_validate.c).
 *
 * LW_TEST_SEED=<n> replays the random tests with another seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lightwire/client.h>

#include "lw_subject.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t seed = 0x5eed1234abcdULL;

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: deterministic and per-thread. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static uint32_t rndn(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rnd(s) % n);
}

/* ---- helpers --------------------------------------------------------- */

struct tree {
	lw_stree *t;
	void *mem;
	size_t size;
	uint32_t max_subs;
};

static void tree_new(struct tree *tr, uint32_t max_subs)
{
	tr->max_subs = max_subs;
	tr->size = lw_stree_memsize(max_subs);
	assert_true(tr->size > 0);
	tr->mem = aligned_alloc(64, (tr->size + 63) & ~(size_t)63);
	assert_non_null(tr->mem);
	tr->t = lw_stree_init(tr->mem, tr->size, max_subs);
	assert_non_null(tr->t);
}

static void tree_free(struct tree *tr)
{
	free(tr->mem);
}

static int ins(lw_stree *t, const char *subj, const char *q, uint32_t id)
{
	return lw_stree_insert(t, subj, strlen(subj), q, id);
}

static int match(lw_stree *t, const char *subj, uint32_t *out, uint32_t max)
{
	return lw_stree_match(t, subj, strlen(subj), out, max);
}

static bool has(lw_stree *t, const char *subj, uint32_t id)
{
	uint32_t out[512];
	int n = match(t, subj, out, ARRAY_SIZE(out));

	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		if (out[i] == id)
			return true;
	return false;
}

/* Trivially correct NATS matcher: token by token. */
static bool ref_match(const char *pat, const char *subj)
{
	const char *p = pat, *s = subj;

	for (;;) {
		size_t pl = strcspn(p, "."), sl = strcspn(s, ".");

		if (pl == 1 && p[0] == '>')
			return *s != '\0' || sl > 0;
		if (!(pl == 1 && p[0] == '*') && (pl != sl || memcmp(p, s, pl) != 0))
			return false;
		p += pl;
		s += sl;
		if (*p == '\0' || *s == '\0')
			return *p == '\0' && *s == '\0';
		p++;
		s++;
	}
}

/* ---- matching -------------------------------------------------------- */

static const char *const nats_pats[] = {
	"foo.*", "foo.>", ">", "*", "*.*", "*.bar.*", "time.*.east",
	"time.us.>", "foo.*.>", "*.>", "foo.bar", "foo", "time.us.east",
	"foo.bar.baz",
};

static void test_match_nats_docs(void **state)
{
	static const char *const subjects[] = {
		"foo", "foo.bar", "foo.baz", "foo.bar.baz", "foo.baz.bar",
		"time.us.east", "time.us.west", "time.us.east.atlanta",
		"time.eu.east", "a", "a.b", "a.b.c", "bar", "x.bar.y",
	};
	struct tree tr;
	(void)state;

	/* The reference matcher itself, against the documented cases. */
	assert_true(ref_match("foo.*", "foo.bar"));
	assert_false(ref_match("foo.*", "foo.bar.baz"));
	assert_false(ref_match("foo.*", "foo"));
	assert_true(ref_match("foo.>", "foo.bar.baz"));
	assert_false(ref_match("foo.>", "foo"));
	assert_true(ref_match(">", "foo"));
	assert_true(ref_match("time.*.east", "time.us.east"));
	assert_false(ref_match("time.*.east", "time.us.east.atlanta"));

	tree_new(&tr, 64);
	for (uint32_t i = 0; i < ARRAY_SIZE(nats_pats); i++)
		assert_int_equal(ins(tr.t, nats_pats[i], NULL, i), LW_OK);
	assert_int_equal(lw_stree_count(tr.t), ARRAY_SIZE(nats_pats));

	assert_true(has(tr.t, "foo.bar", 0));
	assert_false(has(tr.t, "foo.bar.baz", 0));
	assert_true(has(tr.t, "foo.bar.baz", 1));
	assert_false(has(tr.t, "foo", 1));
	assert_true(has(tr.t, "foo", 2));
	assert_true(has(tr.t, "a.b.c", 2));
	assert_true(has(tr.t, "time.us.east", 6));
	assert_false(has(tr.t, "time.us.east.atlanta", 6));
	assert_true(has(tr.t, "time.us.east.atlanta", 7));

	for (size_t s = 0; s < ARRAY_SIZE(subjects); s++) {
		uint32_t out[64], seen[ARRAY_SIZE(nats_pats)] = { 0 };
		int n = match(tr.t, subjects[s], out, ARRAY_SIZE(out));

		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_true(out[i] < ARRAY_SIZE(nats_pats));
			seen[out[i]]++;
		}
		for (size_t p = 0; p < ARRAY_SIZE(nats_pats); p++)
			if (seen[p] != (ref_match(nats_pats[p], subjects[s]) ? 1u : 0u))
				fail_msg("'%s' vs '%s': seen %u times", nats_pats[p],
					 subjects[s], seen[p]);
	}
	tree_free(&tr);
}

static void test_long_tokens(void **state)
{
	char a[300], b[300];
	struct tree tr;
	(void)state;

	/* Tokens spilling out of the node into one and several chunks,
	 * and two that differ only in their last byte. */
	tree_new(&tr, 16);
	memset(a, 'k', 200);
	a[200] = '\0';
	memcpy(b, a, 201);
	b[199] = 'j';
	assert_int_equal(ins(tr.t, a, NULL, 1), LW_OK);
	assert_int_equal(ins(tr.t, b, NULL, 2), LW_OK);
	assert_true(has(tr.t, a, 1));
	assert_false(has(tr.t, a, 2));
	assert_true(has(tr.t, b, 2));
	snprintf(a, sizeof(a), "x.%0100d.y", 7);
	assert_int_equal(ins(tr.t, a, NULL, 3), LW_OK);
	assert_true(has(tr.t, a, 3));
	a[50] = '8';
	assert_false(has(tr.t, a, 3));
	assert_int_equal(lw_stree_remove(tr.t, 1), LW_OK);
	assert_false(has(tr.t, b, 1));
	assert_true(has(tr.t, b, 2));
	tree_free(&tr);
}

static void test_insert_errors(void **state)
{
	struct tree tr;
	char q[LW_QUEUE_MAX + 2];
	(void)state;

	tree_new(&tr, 8);
	assert_int_equal(ins(tr.t, "a.b", NULL, 1), LW_OK);
	assert_int_equal(ins(tr.t, "a.c", NULL, 1), LW_EINVAL);
	assert_int_equal(ins(tr.t, "a.c", NULL, 8), LW_EINVAL);
	assert_int_equal(ins(tr.t, "a..c", NULL, 2), LW_EBADSUBJECT);
	assert_non_null(strstr(lw_errmsg(), "empty token at byte 2"));
	assert_int_equal(ins(tr.t, "a.c", "bad q", 2), LW_EBADSUBJECT);
	memset(q, 'q', sizeof(q));
	q[LW_QUEUE_MAX + 1] = '\0';
	assert_int_equal(ins(tr.t, "a.c", q, 2), LW_EBADSUBJECT);
	assert_int_equal(ins(tr.t, "a.c", "", 2), LW_OK); /* "" = no group */
	assert_int_equal(lw_stree_remove(tr.t, 3), LW_ENOTFOUND);
	assert_int_equal(lw_stree_remove(tr.t, 99), LW_ENOTFOUND);
	assert_int_equal(lw_stree_remove(tr.t, 1), LW_OK);
	assert_int_equal(lw_stree_remove(tr.t, 1), LW_ENOTFOUND);
	assert_int_equal(lw_stree_count(tr.t), 1);
	tree_free(&tr);
}

static void test_elimit(void **state)
{
	uint32_t out[8];
	struct tree tr;
	(void)state;

	tree_new(&tr, 16);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(ins(tr.t, "a.b", NULL, i), LW_OK);
	assert_int_equal(ins(tr.t, "a.*", "g", 4), LW_OK);
	assert_int_equal(ins(tr.t, "a.*", "g", 5), LW_OK);
	assert_int_equal(match(tr.t, "a.b", out, 4), LW_ELIMIT);
	assert_int_equal(match(tr.t, "a.b", out, 5), 5);
	assert_int_equal(match(tr.t, "a.c", out, 0), LW_ELIMIT);
	assert_int_equal(match(tr.t, "zzz", out, 0), 0);
	tree_free(&tr);
}

/* ---- queue groups ---------------------------------------------------- */

/* A member set to pass over a publisher's messages (an echo-off NATS
 * connection's own member) is never picked for them: another member is,
 * or, when it is the only one, none; other publishers still reach it. */
static void test_queue_noecho(void **state)
{
	uint32_t out[16], hits[4] = { 0 };
	uint64_t seq;
	int groups;
	struct tree tr;
	(void)state;

	tree_new(&tr, 32);
	lw_stree_set_noecho(tr.t, 1, 77);
	assert_int_equal(ins(tr.t, "jobs", "w", 1), LW_OK);
	assert_int_equal(ins(tr.t, "jobs", NULL, 3), LW_OK);
	/* alone in its group: origin 77 reaches only the plain subscriber */
	assert_int_equal(lw_stree_match_origin(tr.t, "jobs", 4, out, 16, &seq, &groups, 77), 1);
	assert_int_equal(out[0], 3);
	assert_int_equal(groups, 1); /* met a group: not a cacheable result */
	assert_int_equal(lw_stree_match_origin(tr.t, "jobs", 4, out, 16, &seq, &groups, 5), 2);
	/* with a second member, origin 77 always gets that one */
	lw_stree_set_noecho(tr.t, 2, 0);
	assert_int_equal(ins(tr.t, "jobs", "w", 2), LW_OK);
	for (int k = 0; k < 100; k++) {
		int n = lw_stree_match_origin(tr.t, "jobs", 4, out, 16, &seq, &groups, 77);

		assert_int_equal(n, 2);
		for (int i = 0; i < n; i++)
			hits[out[i]]++;
	}
	assert_int_equal(hits[1], 0);
	assert_int_equal(hits[2], 100);
	assert_int_equal(hits[3], 100);
	/* a reused id starts clean */
	assert_int_equal(lw_stree_remove(tr.t, 1), LW_OK);
	lw_stree_set_noecho(tr.t, 1, 0);
	assert_int_equal(ins(tr.t, "jobs", "w", 1), LW_OK);
	memset(hits, 0, sizeof(hits));
	for (int k = 0; k < 100; k++) {
		assert_int_equal(lw_stree_match_origin(tr.t, "jobs", 4, out, 16, &seq, &groups, 77), 2);
		hits[out[0] == 3 ? out[1] : out[0]]++;
	}
	assert_true(hits[1] > 0 && hits[2] > 0);
	tree_free(&tr);
}

/* A member with a quota is picked that many more times, then passed over
 * (the others take its share); with none left, nobody in the group. */
static void test_queue_quota(void **state)
{
	uint32_t out[16], hits[3] = { 0 };
	struct tree tr;
	(void)state;

	tree_new(&tr, 32);
	assert_int_equal(ins(tr.t, "jobs", "w", 1), LW_OK);
	assert_int_equal(ins(tr.t, "jobs", "w", 2), LW_OK);
	lw_stree_set_quota(tr.t, 1, 3);
	for (int k = 0; k < 100; k++) {
		assert_int_equal(match(tr.t, "jobs", out, 16), 1);
		hits[out[0]]++;
	}
	assert_int_equal(hits[1], 3);
	assert_int_equal(hits[2], 97);
	lw_stree_set_quota(tr.t, 2, 0);
	assert_int_equal(match(tr.t, "jobs", out, 16), 0);
	lw_stree_clear_quota(tr.t, 1);
	assert_int_equal(match(tr.t, "jobs", out, 16), 1);
	assert_int_equal(out[0], 1);
	tree_free(&tr);
}

/* lw_stree_interest counts what a publish would reach (a group once)
 * and leaves the groups' rotation and the members' quotas alone. */
static void test_interest_no_side_effect(void **state)
{
	uint32_t out[16], hits[3] = { 0 };
	struct tree tr;
	(void)state;

	tree_new(&tr, 32);
	assert_int_equal(lw_stree_interest(tr.t, "jobs", 4, out, 16), 0);
	assert_int_equal(ins(tr.t, "jobs", "w", 1), LW_OK);
	assert_int_equal(ins(tr.t, "jobs", "w", 2), LW_OK);
	assert_int_equal(ins(tr.t, "*", NULL, 3), LW_OK);
	lw_stree_set_quota(tr.t, 1, 1); /* may take one more */
	for (int k = 0; k < 50; k++)
		assert_int_equal(lw_stree_interest(tr.t, "jobs", 4, out, 16), 2);
	assert_int_equal(lw_stree_interest(tr.t, "other", 5, out, 16), 1);
	/* The rotation did not move and member 1 still has its one. */
	for (int k = 0; k < 4; k++) {
		assert_int_equal(match(tr.t, "jobs", out, 16), 2);
		for (int i = 0; i < 2; i++)
			if (out[i] != 3)
				hits[out[i]]++;
	}
	assert_int_equal(hits[1], 1);
	assert_int_equal(hits[2], 3);
	tree_free(&tr);
}

static void test_queue_round_robin(void **state)
{
	uint32_t out[16], hits[4] = { 0 };
	struct tree tr;
	(void)state;

	tree_new(&tr, 32);
	for (uint32_t i = 1; i <= 3; i++)
		assert_int_equal(ins(tr.t, "orders.new", "workers", i), LW_OK);
	for (int k = 0; k < 3000; k++) {
		assert_int_equal(match(tr.t, "orders.new", out, 16), 1);
		assert_in_range(out[0], 1, 3);
		hits[out[0]]++;
	}
	for (int i = 1; i <= 3; i++)
		assert_in_range(hits[i], 999, 1001);

	/* Two groups and plain subscriptions on the same subject, and a
	 * group of the same name on another subject (a different group). */
	assert_int_equal(ins(tr.t, "orders.new", "audit", 4), LW_OK);
	assert_int_equal(ins(tr.t, "orders.new", "audit", 5), LW_OK);
	assert_int_equal(ins(tr.t, "orders.new", NULL, 6), LW_OK);
	assert_int_equal(ins(tr.t, "orders.*", NULL, 7), LW_OK);
	assert_int_equal(ins(tr.t, "orders.*", "workers", 8), LW_OK);
	assert_int_equal(ins(tr.t, "orders.*", "workers", 9), LW_OK);
	for (int k = 0; k < 100; k++) {
		uint32_t g1 = 0, g2 = 0, g3 = 0, p6 = 0, p7 = 0;
		int n = match(tr.t, "orders.new", out, 16);

		assert_int_equal(n, 5);
		for (int i = 0; i < n; i++) {
			g1 += out[i] >= 1 && out[i] <= 3;
			g2 += out[i] == 4 || out[i] == 5;
			g3 += out[i] == 8 || out[i] == 9;
			p6 += out[i] == 6;
			p7 += out[i] == 7;
		}
		assert_true(g1 == 1 && g2 == 1 && g3 == 1 && p6 == 1 && p7 == 1);
	}
	/* Emptying a group removes it; the rest keeps working. */
	assert_int_equal(lw_stree_remove(tr.t, 4), LW_OK);
	assert_int_equal(lw_stree_remove(tr.t, 5), LW_OK);
	assert_int_equal(match(tr.t, "orders.new", out, 16), 4);
	assert_int_equal(lw_stree_remove(tr.t, 2), LW_OK);
	for (int k = 0; k < 10; k++) {
		assert_int_equal(match(tr.t, "orders.old", out, 16), 2);
		assert_int_equal(match(tr.t, "orders.new", out, 16), 4);
		for (int i = 0; i < 4; i++)
			assert_true(out[i] != 2 && out[i] != 4 && out[i] != 5);
	}
	assert_int_equal(ins(tr.t, "orders.new", "audit", 4), LW_OK);
	assert_int_equal(match(tr.t, "orders.new", out, 16), 5);
	tree_free(&tr);
}

/* ---- capacity -------------------------------------------------------- */

static void test_remove_frees_capacity(void **state)
{
	enum { N = 32 };
	uint32_t order[N];
	uint64_t rs = seed;
	struct tree tr;
	char s[256];
	(void)state;

	/* Each subscription owns 8 fresh nodes (all max_subs * 8 of them
	 * when full) and two 40-byte tokens' chunks: any leak runs out. */
	tree_new(&tr, N);
	for (int round = 0; round < 300; round++) {
		for (uint32_t i = 0; i < N; i++) {
			snprintf(s, sizeof(s), "r%d_%u.%040u.b.c.%040u.e.f.g", round, i,
				 i, round);
			if (ins(tr.t, s, (i % 3) == 0 ? "q" : NULL, i) != LW_OK)
				fail_msg("round %d sub %u: %s", round, i, lw_errmsg());
			order[i] = i;
		}
		assert_int_equal(lw_stree_count(tr.t), N);
		for (uint32_t i = N - 1; i > 0; i--) {
			uint32_t j = rndn(&rs, i + 1), tmp = order[i];

			order[i] = order[j];
			order[j] = tmp;
		}
		for (uint32_t i = 0; i < N; i++)
			assert_int_equal(lw_stree_remove(tr.t, order[i]), LW_OK);
		assert_int_equal(lw_stree_count(tr.t), 0);
	}
	tree_free(&tr);
}

static void test_enomem(void **state)
{
	char s[LW_SUBJECT_MAX + 1], tok[34];
	uint32_t out[8], n;
	struct tree tr;
	size_t len;
	int rc = LW_OK;
	(void)state;

	/* Out of nodes: 100 tokens in a tree with room for 4 * 8 + 64. */
	tree_new(&tr, 4);
	assert_int_equal(ins(tr.t, "x", NULL, 0), LW_OK);
	len = 0;
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(s + len, sizeof(s) - len, i ? ".a" : "a");
	assert_int_equal(lw_stree_insert(tr.t, s, len, NULL, 1), LW_ENOMEM);
	assert_int_equal(lw_stree_count(tr.t), 1);
	assert_int_equal(match(tr.t, "x", out, 8), 1);
	assert_int_equal(match(tr.t, "a.a", out, 8), 0);
	tree_free(&tr);

	/* Out of chunks: seven 33-byte tokens need 7 chunks a subscription,
	 * the tree has 2 per subscription plus 64. */
	tree_new(&tr, 64);
	for (n = 0; n < 64; n++) {
		len = 0;
		for (int k = 0; k < 7; k++) {
			snprintf(tok, sizeof(tok), "%02u%031d", n, k);
			len += (size_t)snprintf(s + len, sizeof(s) - len, "%s%s",
						k ? "." : "", tok);
		}
		rc = lw_stree_insert(tr.t, s, len, NULL, n);
		if (rc != LW_OK)
			break;
	}
	assert_int_equal(rc, LW_ENOMEM);
	assert_true(n >= 20 && n < 64);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(lw_stree_remove(tr.t, i), LW_OK);
	/* Everything came back: the same subjects fit again. */
	assert_int_equal(lw_stree_insert(tr.t, s, len, NULL, 0), LW_OK);
	tree_free(&tr);
}

static void test_init_attach(void **state)
{
	struct tree tr;
	uint32_t out[8];
	void *copy, *junk;
	(void)state;

	assert_int_equal(lw_stree_memsize(0), 0);
	tree_new(&tr, 16);
	assert_null(lw_stree_init(tr.mem, tr.size - 64, 16));
	assert_null(lw_stree_init(tr.mem, tr.size, 0));
	assert_null(lw_stree_init((char *)tr.mem + 8, tr.size, 1));
	tr.t = lw_stree_init(tr.mem, tr.size, 16);
	assert_int_equal(ins(tr.t, "a.b", NULL, 3), LW_OK);
	assert_int_equal(ins(tr.t, "a.*", "g", 4), LW_OK);
	assert_ptr_equal(lw_stree_attach(tr.mem, tr.size), tr.t);
	assert_ptr_equal(lw_stree_attach(tr.mem, tr.size + 4096), tr.t);
	assert_null(lw_stree_attach(tr.mem, tr.size - 64));
	assert_null(lw_stree_attach(NULL, tr.size));

	/* The same bytes at another address (as another process maps
	 * them) work: the tree holds no pointers. */
	copy = aligned_alloc(64, tr.size);
	assert_non_null(copy);
	memcpy(copy, tr.mem, tr.size);
	memset(tr.mem, 0xa5, tr.size);
	assert_null(lw_stree_attach(tr.mem, tr.size));
	assert_non_null(lw_stree_attach(copy, tr.size));
	assert_int_equal(match(lw_stree_attach(copy, tr.size), "a.b", out, 8), 2);
	free(copy);

	junk = aligned_alloc(64, 1 << 16);
	assert_non_null(junk);
	for (size_t i = 0; i < (1 << 16); i++)
		((unsigned char *)junk)[i] = (unsigned char)rnd(&seed);
	assert_null(lw_stree_attach(junk, 1 << 16));
	memset(junk, 0, 1 << 16);
	assert_null(lw_stree_attach(junk, 1 << 16));
	free(junk);
	tree_free(&tr);
}

/* ---- random model ---------------------------------------------------- */

#define LONG_TOK "L123456789012345678901234567890123456789"

static const char *const alpha[] = { "a", "b", "c", LONG_TOK };

struct ref {
	bool used;
	char pat[256];
	const char *q; /* NULL = plain */
};

/* Appends a token unless the subject would pass LW_SUBJECT_MAX. */
static bool append(char *s, size_t *len, const char *tk, size_t tlen)
{
	size_t need = (*len ? 1 : 0) + tlen;

	if (*len + need > LW_SUBJECT_MAX)
		return false;
	if (*len)
		s[(*len)++] = '.';
	memcpy(s + *len, tk, tlen);
	*len += tlen;
	s[*len] = '\0';
	return true;
}

static void rand_subject(uint64_t *rs, char *s, uint32_t maxtok, bool pattern)
{
	uint32_t n = 1 + rndn(rs, maxtok);
	size_t len = 0;

	for (uint32_t i = 0; i < n; i++) {
		const char *tk = alpha[rndn(rs, ARRAY_SIZE(alpha))];

		if (pattern && rndn(rs, 5) == 0)
			tk = "*";
		if (pattern && i == n - 1 && rndn(rs, 6) == 0)
			tk = ">";
		if (!append(s, &len, tk, strlen(tk))) {
			if (pattern)
				append(s, &len, ">", 1);
			break;
		}
	}
}

/* A literal subject that @p pat matches, so most checks hit something. */
static void literalize(uint64_t *rs, const char *pat, char *s)
{
	size_t len = 0;

	for (const char *p = pat; *p != '\0';) {
		size_t pl = strcspn(p, ".");
		uint32_t n = 1;

		if (pl == 1 && (*p == '*' || *p == '>'))
			n = *p == '>' ? 1 + rndn(rs, 2) : 1;
		for (uint32_t k = 0; k < n; k++) {
			const char *tk = alpha[rndn(rs, ARRAY_SIZE(alpha))];

			bool wild = pl == 1 && (*p == '*' || *p == '>');

			/* Past the length limit the subject is cut short;
			 * it then just may not match, which is checked too. */
			if (!append(s, &len, wild ? tk : p, wild ? strlen(tk) : pl))
				break;
		}
		p += pl;
		if (*p == '.')
			p++;
	}
}

static void model_check(lw_stree *t, struct ref *ref, uint32_t max, const char *subj)
{
	uint32_t out[512], hits[512] = { 0 };
	uint32_t plain = 0, groups = 0;
	int n = match(t, subj, out, ARRAY_SIZE(out));

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		assert_true(out[i] < max && ref[out[i]].used);
		assert_true(ref_match(ref[out[i]].pat, subj));
		if (hits[out[i]]++)
			fail_msg("id %u twice for '%s'", out[i], subj);
	}
	for (uint32_t id = 0; id < max; id++) {
		uint32_t members = 0;
		bool first = true;

		if (!ref[id].used || !ref_match(ref[id].pat, subj))
			continue;
		if (ref[id].q == NULL) {
			if (!hits[id])
				fail_msg("'%s' (id %u) missing for '%s'", ref[id].pat, id, subj);
			plain++;
			continue;
		}
		/* Count each group once, at its lowest id: exactly one
		 * member of the group must be in the output. */
		for (uint32_t j = 0; j < max; j++) {
			if (!ref[j].used || ref[j].q == NULL || strcmp(ref[j].q, ref[id].q) ||
			    strcmp(ref[j].pat, ref[id].pat))
				continue;
			if (j < id)
				first = false;
			members += hits[j];
		}
		if (first) {
			groups++;
			if (members != 1)
				fail_msg("group '%s' '%s': %u members for '%s'", ref[id].pat,
					 ref[id].q, members, subj);
		}
	}
	assert_int_equal((uint32_t)n, plain + groups);
}

static void random_model(uint32_t max, uint32_t ops, uint32_t maxtok)
{
	static const char *const queues[] = { "q1", "q2" };
	struct ref *ref = calloc(max, sizeof(*ref));
	uint64_t rs = seed ^ max;
	uint32_t live = 0, hits = 0;
	struct tree tr;
	char s[LW_SUBJECT_MAX + 1];

	assert_non_null(ref);
	tree_new(&tr, max);
	for (uint32_t op = 0; op < ops; op++) {
		uint32_t r = rndn(&rs, 100), id = rndn(&rs, max);

		if (r < 40) {
			const char *q = rndn(&rs, 3) == 0 ? queues[rndn(&rs, 2)] : NULL;
			int rc;

			rand_subject(&rs, s, maxtok, true);
			rc = ins(tr.t, s, q, id);
			if (ref[id].used) {
				assert_int_equal(rc, LW_EINVAL);
				continue;
			}
			if (rc != LW_OK)
				fail_msg("insert '%s': %s", s, lw_errmsg());
			ref[id].used = true;
			ref[id].q = q;
			strcpy(ref[id].pat, s);
			live++;
		} else if (r < 70) {
			assert_int_equal(lw_stree_remove(tr.t, id),
					 ref[id].used ? LW_OK : LW_ENOTFOUND);
			live -= ref[id].used;
			ref[id].used = false;
		} else {
			if (ref[id].used && rndn(&rs, 2)) {
				literalize(&rs, ref[id].pat, s);
				hits++;
			} else {
				rand_subject(&rs, s, maxtok + 1, false);
			}
			model_check(tr.t, ref, max, s);
		}
		assert_int_equal(lw_stree_count(tr.t), live);
	}
	assert_true(hits > ops / 20);
	/* Drain, then a tree emptied by removals must behave like new. */
	for (uint32_t id = 0; id < max; id++)
		if (ref[id].used)
			assert_int_equal(lw_stree_remove(tr.t, id), LW_OK);
	assert_int_equal(lw_stree_count(tr.t), 0);
	memset(ref, 0, max * sizeof(*ref));
	assert_int_equal(ins(tr.t, ">", NULL, 1), LW_OK);
	ref[1].used = true;
	strcpy(ref[1].pat, ">");
	model_check(tr.t, ref, max, "a.b.c");
	tree_free(&tr);
	free(ref);
}

static void test_random_model(void **state)
{
	(void)state;
	random_model(256, 30000, 4);
}

/* Few subscriptions with deep patterns fill the edge table to about half,
 * so probe runs are long and removals shift entries back often. */
static void test_random_model_dense(void **state)
{
	(void)state;
	random_model(16, 30000, 9);
}

/* ---- one writer racing one reader ------------------------------------ */

struct race {
	lw_stree *t;
	atomic_bool stop;
	uint64_t writes;
	int err; /* cmocka asserts only work on the test's own thread */
};

static void *race_writer(void *arg)
{
	static const char *const pats[] = {
		"x.y.z", "x.y.*", "x.>", "x.*.z", "*.y.z", ">", "x.y", "x.y.z.w",
		"a.b", "x.y.z." LONG_TOK, "x." LONG_TOK ".z", "*.*.*", "x.*.>",
	};
	struct race *r = arg;
	uint64_t rs = seed ^ 0xabcdef;
	bool used[256] = { false };
	char s[256];

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		uint32_t id = 1 + rndn(&rs, 255);

		int rc;

		if (used[id]) {
			rc = lw_stree_remove(r->t, id);
		} else {
			/* Half the subjects are unique so nodes keep being
			 * created and freed along the reader's path. */
			if (rndn(&rs, 2))
				snprintf(s, sizeof(s), "%s", pats[rndn(&rs, ARRAY_SIZE(pats))]);
			else
				snprintf(s, sizeof(s), "x.y.u%u.%s", rndn(&rs, 50),
					 rndn(&rs, 2) ? "z" : "*");
			rc = ins(r->t, s, rndn(&rs, 3) ? NULL : "g", id);
		}
		if (rc != LW_OK) {
			r->err = rc;
			break;
		}
		used[id] = !used[id];
		r->writes++;
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_concurrent_reader(void **state)
{
	struct race r = { .writes = 0 };
	uint32_t out[256], seen[256] = { 0 };
	uint64_t iters, total = 0;
	struct tree tr;
	pthread_t th;
	double t0;
	(void)state;

	tree_new(&tr, 256);
	r.t = tr.t;
	atomic_init(&r.stop, false);
	assert_int_equal(ins(tr.t, "x.y.z", NULL, 0), LW_OK);
	assert_int_equal(pthread_create(&th, NULL, race_writer, &r), 0);
	t0 = now();
	for (iters = 1; iters <= 200000; iters++) {
		int n = match(tr.t, "x.y.z", out, ARRAY_SIZE(out));
		bool zero = false;

		assert_true(n >= 1);
		for (int i = 0; i < n; i++) {
			assert_true(out[i] < 256);
			if (seen[out[i]] == iters)
				fail_msg("id %u twice", out[i]);
			seen[out[i]] = (uint32_t)iters;
			zero |= out[i] == 0;
		}
		assert_true(zero);
		total += (uint64_t)n;
		if ((iters & 1023) == 0 && now() - t0 > 5.0)
			break;
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	print_message("    %llu matches (%llu ids) against %llu writes in %.2f s\n",
		      (unsigned long long)iters - 1, (unsigned long long)total,
		      (unsigned long long)r.writes, now() - t0);
	assert_int_equal(r.err, LW_OK);
	assert_true(r.writes > 0);
	tree_free(&tr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_nats_docs),
		cmocka_unit_test(test_long_tokens),
		cmocka_unit_test(test_insert_errors),
		cmocka_unit_test(test_elimit),
		cmocka_unit_test(test_interest_no_side_effect),
		cmocka_unit_test(test_queue_round_robin),
		cmocka_unit_test(test_queue_noecho),
		cmocka_unit_test(test_queue_quota),
		cmocka_unit_test(test_remove_frees_capacity),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_init_attach),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_random_model_dense),
		cmocka_unit_test(test_concurrent_reader),
	};
	const char *env = getenv("LW_TEST_SEED");

	if (env != NULL)
		seed = strtoull(env, NULL, 0) | 1;
	print_message("seed %llu (LW_TEST_SEED to replay)\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
