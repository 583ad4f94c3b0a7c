/* SPDX-License-Identifier: MIT */
/*
 * Subject and queue-group name validation (lw_subj_validate,
 * lw_queue_validate): the rule table of publish, subscribe and literal
 * subjects, the error messages that name the offending byte, and the
 * length limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <lightwire/client.h>

#include "lw_subject.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- validation ------------------------------------------------------ */

static void test_validate_table(void **state)
{
	static const struct {
		const char *s;
		int pub, sub; /* expected: 1 valid, 0 refused */
	} cases[] = {
		{ "foo", 1, 1 },         { "foo.bar", 1, 1 },
		{ "foo.bar.baz", 1, 1 }, { "a", 1, 1 },
		{ "FOO-bar_baz.1.2", 1, 1 }, { "$SYS.x", 1, 1 },
		{ "_INBOX.Zx9", 1, 1 },  { "a.b.c.d.e.f.g.h.i", 1, 1 },
		{ "*", 0, 1 },           { ">", 0, 1 },
		{ "foo.*", 0, 1 },       { "foo.>", 0, 1 },
		{ "*.bar", 0, 1 },       { "*.*", 0, 1 },
		{ "foo.*.baz.>", 0, 1 }, { "*.>", 0, 1 },
		{ "", 0, 0 },            { ".", 0, 0 },
		{ "foo.", 0, 0 },        { ".foo", 0, 0 },
		{ "foo..bar", 0, 0 },    { "foo bar", 0, 0 },
		{ "foo\tbar", 0, 0 },    { "foo\n", 0, 0 },
		{ "foo\r.x", 0, 0 },     { "foo.>.bar", 0, 0 },
		{ ">.foo", 0, 0 },       { "foo*", 0, 0 },
		{ "foo.b*r", 0, 0 },     { "foo.>bar", 0, 0 },
		{ "f>", 0, 0 },          { "**", 0, 0 },
		{ "a.>>", 0, 0 },        { " ", 0, 0 },
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = strlen(cases[i].s);
		int p = lw_subj_validate(cases[i].s, len, 0);
		int s = lw_subj_validate(cases[i].s, len, 1);

		if ((p == LW_OK) != cases[i].pub || (s == LW_OK) != cases[i].sub)
			fail_msg("'%s': publish %d subscribe %d", cases[i].s, p, s);
		assert_true(p == LW_OK || p == LW_EBADSUBJECT);
		assert_true(s == LW_OK || s == LW_EBADSUBJECT);
	}
	/* An embedded NUL is refused even when the length covers it. */
	assert_int_equal(lw_subj_validate("fo\0o", 4, 1), LW_EBADSUBJECT);
	assert_non_null(strstr(lw_errmsg(), "NUL at byte 2"));
	assert_int_equal(lw_subj_validate(NULL, 0, 1), LW_EBADSUBJECT);
}

static void test_validate_messages(void **state)
{
	(void)state;
	assert_int_equal(lw_subj_validate("a..b", 4, 1), LW_EBADSUBJECT);
	assert_non_null(strstr(lw_errmsg(), "empty token at byte 2 in 'a..b'"));
	lw_subj_validate("foo.", 4, 1);
	assert_non_null(strstr(lw_errmsg(), "empty token at byte 4"));
	lw_subj_validate(".foo", 4, 1);
	assert_non_null(strstr(lw_errmsg(), "empty token at byte 0"));
	lw_subj_validate("foo bar", 7, 1);
	assert_non_null(strstr(lw_errmsg(), "whitespace at byte 3"));
	lw_subj_validate("a.>.b", 5, 1);
	assert_non_null(strstr(lw_errmsg(), "'>' must be the last token"));
	assert_non_null(strstr(lw_errmsg(), "byte 2"));
	lw_subj_validate("a.*", 3, 0);
	assert_non_null(strstr(lw_errmsg(), "wildcard not allowed when publishing at byte 2"));
	lw_subj_validate("ab.c*d", 6, 1);
	assert_non_null(strstr(lw_errmsg(), "whole token at byte 4"));
	/* Literal mode (a gateway's publishes): wildcard characters are plain,
	 * the structure is still checked. */
	assert_int_equal(lw_subj_validate("a.>.b", 5, LW_SUBJ_LITERAL), LW_OK);
	assert_int_equal(lw_subj_validate("a.*.c*d.>", 9, LW_SUBJ_LITERAL), LW_OK);
	assert_int_equal(lw_subj_validate("a..>", 4, LW_SUBJ_LITERAL), LW_EBADSUBJECT);
	assert_int_equal(lw_subj_validate("a >", 3, LW_SUBJ_LITERAL), LW_EBADSUBJECT);
}

static void test_validate_length(void **state)
{
	char s[LW_SUBJECT_MAX + 2];
	(void)state;

	memset(s, 'a', sizeof(s));
	for (size_t i = 1; i < LW_SUBJECT_MAX; i += 2)
		s[i] = '.';
	assert_int_equal(lw_subj_validate(s, LW_SUBJECT_MAX - 1, 0), LW_OK);
	/* 256 bytes ending in "a" is the longest valid subject. */
	s[LW_SUBJECT_MAX - 1] = 'a';
	assert_int_equal(lw_subj_validate(s, LW_SUBJECT_MAX, 0), LW_OK);
	assert_int_equal(lw_subj_validate(s, LW_SUBJECT_MAX + 1, 0), LW_EBADSUBJECT);
	assert_non_null(strstr(lw_errmsg(), "257 bytes"));
	memset(s, 'x', sizeof(s));
	assert_int_equal(lw_subj_validate(s, LW_SUBJECT_MAX, 1), LW_OK);
}

static void test_queue_validate(void **state)
{
	char q[LW_QUEUE_MAX + 1];
	(void)state;

	assert_int_equal(lw_queue_validate("workers", 7), LW_OK);
	assert_int_equal(lw_queue_validate("a.b", 3), LW_OK);
	assert_int_equal(lw_queue_validate("q-1_x", 5), LW_OK);
	assert_int_equal(lw_queue_validate("", 0), LW_EBADSUBJECT);
	assert_int_equal(lw_queue_validate("a b", 3), LW_EBADSUBJECT);
	assert_non_null(strstr(lw_errmsg(), "whitespace at byte 1"));
	assert_int_equal(lw_queue_validate("a\tb", 3), LW_EBADSUBJECT);
	assert_int_equal(lw_queue_validate("a\x01" "b", 3), LW_EBADSUBJECT);
	assert_int_equal(lw_queue_validate("a\0b", 3), LW_EBADSUBJECT);
	memset(q, 'q', sizeof(q));
	assert_int_equal(lw_queue_validate(q, LW_QUEUE_MAX), LW_OK);
	assert_int_equal(lw_queue_validate(q, LW_QUEUE_MAX + 1), LW_EBADSUBJECT);
}

/* The token-by-token matcher of filters and listings (/subsz?test=,
 * stream filters): NATS semantics of '*' and '>'. */
static void test_subj_matches(void **state)
{
	static const struct {
		const char *pat, *subj;
		bool match;
	} cases[] = {
		{ "a.b", "a.b", true }, { "a.b", "a.c", false }, { "a.*", "a.b", true },
		{ "a.*", "a.b.c", false }, { "a.>", "a.b.c", true }, { "a.>", "a", false },
		{ ">", "x", true }, { "*.b", "a.b", true }, { "a.*.c", "a.b.d", false },
		{ "a", "a.b", false }, { "a.b", "a", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (lw_subj_matches(cases[i].pat, cases[i].subj) != cases[i].match)
			fail_msg("'%s' ~ '%s'", cases[i].pat, cases[i].subj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_table),
		cmocka_unit_test(test_validate_messages),
		cmocka_unit_test(test_validate_length),
		cmocka_unit_test(test_queue_validate),
		cmocka_unit_test(test_subj_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
