/* SPDX-License-Identifier: MIT */
/*
 * NATS protocol parser of the gateway, without sockets: every command split
 * at every byte, bad sizes, oversized payloads and lines, bad arguments,
 * random junk (must end in an error or a bounded "need more", never a
 * crash or an endless wait), and the subject matcher behind permissions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_gw_proto.h"

#define MAXC 4096
#define MAXP 1024

static int parse(const char *s, size_t n, struct lw_gw_cmd *c, size_t *used)
{
	return lw_gw_parse(s, n, MAXC, MAXP, c, used);
}

static int parse_str(const char *s, struct lw_gw_cmd *c, size_t *used)
{
	return parse(s, strlen(s), c, used);
}

static void assert_str(struct lw_gw_str s, const char *want)
{
	assert_int_equal(s.n, strlen(want));
	assert_memory_equal(s.p, want, s.n);
}

static void test_ops(void **state)
{
	struct lw_gw_cmd c;
	size_t used;

	(void)state;
	assert_int_equal(parse_str("PING\r\n", &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_PING);
	assert_int_equal(used, 6);
	assert_int_equal(parse_str("pong\n", &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_PONG);
	assert_int_equal(parse_str("SUB foo.* q 7\r\n", &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_SUB);
	assert_str(c.subject, "foo.*");
	assert_str(c.queue, "q");
	assert_str(c.sid, "7");
	assert_int_equal(parse_str("sub\tfoo\t\t9\r\n", &c, &used), 1);
	assert_int_equal(c.queue.n, 0);
	assert_str(c.sid, "9");
	assert_int_equal(parse_str("UNSUB 9 5\r\n", &c, &used), 1);
	assert_int_equal(c.max_msgs, 5);
	assert_int_equal(parse_str("UNSUB 9\r\n", &c, &used), 1);
	assert_int_equal(c.max_msgs, 0);
	assert_int_equal(parse_str("CONNECT {\"verbose\":false, \"name\":\"a b\"}\r\n", &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_CONNECT);
	assert_str(c.json, "{\"verbose\":false, \"name\":\"a b\"}");
	assert_int_equal(parse_str("PUB a.b r.x 5\r\nhello\r\n", &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_PUB);
	assert_str(c.subject, "a.b");
	assert_str(c.reply, "r.x");
	assert_int_equal(c.total_len, 5);
	assert_memory_equal(c.payload, "hello", 5);
	assert_int_equal(used, strlen("PUB a.b r.x 5\r\nhello\r\n"));
	assert_int_equal(parse_str("HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_HPUB);
	assert_int_equal(c.hdr_len, 12);
	assert_int_equal(c.total_len, 14);
	assert_memory_equal(c.payload + 12, "hi", 2);
	/* zero-length payload, payload holding CRLF itself */
	assert_int_equal(parse_str("PUB a 0\r\n\r\n", &c, &used), 1);
	assert_int_equal(c.total_len, 0);
	assert_int_equal(parse_str("PUB a 2\r\n\r\n\r\n", &c, &used), 1);
	assert_memory_equal(c.payload, "\r\n", 2);
	/* an empty line is ignored, not an error */
	assert_int_equal(parse_str("\r\n", &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_NONE);
}

/* Every prefix of a valid stream needs more; the whole parses the same. */
static void test_split_every_byte(void **state)
{
	static const char *const cmds[] = {
		"PING\r\n",
		"CONNECT {\"echo\":false}\r\n",
		"SUB foo.> grp 12\r\n",
		"UNSUB 12 3\r\n",
		"PUB foo.bar _INBOX.1 11\r\nhello world\r\n",
		"HPUB foo 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n",
		"PUB x 0\r\n\r\n",
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		size_t n = strlen(cmds[k]);
		struct lw_gw_cmd whole, c;
		size_t used;

		assert_int_equal(parse(cmds[k], n, &whole, &used), 1);
		assert_int_equal(used, n);
		for (size_t cut = 0; cut < n; cut++) {
			char *b = malloc(cut + 1); /* exact size: ASan/valgrind see overreads */

			memcpy(b, cmds[k], cut);
			assert_int_equal(parse(b, cut, &c, &used), 0);
			assert_true(used == 0 || used == n);
			free(b);
		}
		/* Two commands back to back: the first one alone is consumed. */
		char two[256];

		snprintf(two, sizeof(two), "%s%s", cmds[k], cmds[k]);
		assert_int_equal(parse(two, 2 * n, &c, &used), 1);
		assert_int_equal(used, n);
		assert_int_equal(c.op, whole.op);
	}
}

static void expect_err(const char *s, int err)
{
	struct lw_gw_cmd c;
	size_t used;

	assert_int_equal(parse_str(s, &c, &used), err);
}

static void test_errors(void **state)
{
	(void)state;
	expect_err("FOO bar\r\n", LW_GW_PERR_UNKNOWN_OP);
	expect_err("PINGX\r\n", LW_GW_PERR_UNKNOWN_OP);
	expect_err("+OK\r\n", LW_GW_PERR_UNKNOWN_OP);
	expect_err(" PING\r\n", LW_GW_PERR_UNKNOWN_OP);
	expect_err("PING extra\r\n", LW_GW_PERR_SYNTAX);
	expect_err("PUB\r\n", LW_GW_PERR_SYNTAX);
	expect_err("PUB foo\r\n", LW_GW_PERR_SYNTAX);
	expect_err("PUB foo -1\r\n", LW_GW_PERR_SYNTAX);
	expect_err("PUB foo 1x\r\n", LW_GW_PERR_SYNTAX);
	expect_err("PUB foo a b 1\r\n", LW_GW_PERR_SYNTAX);
	expect_err("PUB foo 2000\r\n", LW_GW_PERR_MAX_PAYLOAD);
	expect_err("PUB foo 99999999999999\r\n", LW_GW_PERR_MAX_PAYLOAD);
	expect_err("PUB foo 99999999999999999999999\r\n", LW_GW_PERR_SYNTAX);
	expect_err("PUB foo 3\r\nabcXY", LW_GW_PERR_SYNTAX);   /* no CRLF after payload */
	expect_err("PUB foo 3\r\nabcd\r\n", LW_GW_PERR_SYNTAX); /* payload longer than said */
	expect_err("HPUB foo 10\r\n", LW_GW_PERR_SYNTAX);
	expect_err("HPUB foo 10 5\r\n", LW_GW_PERR_SYNTAX);     /* headers over total */
	expect_err("HPUB foo 1 2000\r\n", LW_GW_PERR_MAX_PAYLOAD);
	expect_err("SUB foo\r\n", LW_GW_PERR_SYNTAX);
	expect_err("SUB a b c d\r\n", LW_GW_PERR_SYNTAX);
	expect_err("UNSUB\r\n", LW_GW_PERR_SYNTAX);
	expect_err("UNSUB 1 x\r\n", LW_GW_PERR_SYNTAX);
	/* Junk fails before any newline arrives. */
	expect_err("\x01\x02\x03", LW_GW_PERR_UNKNOWN_OP);
	expect_err("GET / HTTP/1.1", LW_GW_PERR_UNKNOWN_OP);
	expect_err("PUBX", LW_GW_PERR_UNKNOWN_OP);
	assert_string_equal(lw_gw_perr_text(LW_GW_PERR_MAX_PAYLOAD), "Maximum Payload Violation");
	assert_string_equal(lw_gw_perr_text(LW_GW_PERR_UNKNOWN_OP), "Unknown Protocol Operation");
}

static void test_control_line(void **state)
{
	size_t n = MAXC + 100;
	char *b = malloc(n + 3);
	struct lw_gw_cmd c;
	size_t used;

	(void)state;
	memcpy(b, "SUB ", 4);
	memset(b + 4, 'a', n - 4);
	/* Without a newline: waits up to the limit, then refuses. */
	assert_int_equal(parse(b, MAXC - 10, &c, &used), 0);
	assert_int_equal(parse(b, n, &c, &used), LW_GW_PERR_CONTROL_LINE);
	memcpy(b + n, " 1\n", 3);
	assert_int_equal(parse(b, n + 3, &c, &used), LW_GW_PERR_CONTROL_LINE);
	free(b);
}

/* Found by fuzz_gw_proto: a split must not change the answer. */
static void test_split_limits(void **state)
{
	char b[MAXC + 2];
	struct lw_gw_cmd c;
	size_t used;

	(void)state;
	/* A line of exactly max_control bytes split between "\r" and "\n"
	 * waits for the "\n" instead of failing the limit. */
	memcpy(b, "SUB ", 4);
	memset(b + 4, 'a', MAXC - 6);
	memcpy(b + MAXC - 2, " 1\r\n", 4);
	assert_int_equal(parse(b, MAXC + 1, &c, &used), 0);
	assert_int_equal(parse(b, MAXC + 2, &c, &used), 1);
	assert_int_equal(c.op, LW_GW_OP_SUB);
	b[MAXC] = 'x';
	assert_int_equal(parse(b, MAXC + 1, &c, &used), LW_GW_PERR_CONTROL_LINE);
	/* Junk is refused as junk whatever its length or split. */
	assert_int_equal(lw_gw_parse("y\x06\0\0", 4, 2, 10, &c, &used), LW_GW_PERR_UNKNOWN_OP);
	assert_int_equal(lw_gw_parse("y", 1, 2, 10, &c, &used), LW_GW_PERR_UNKNOWN_OP);
	assert_int_equal(lw_gw_parse("\rx", 2, 4, 10, &c, &used), LW_GW_PERR_UNKNOWN_OP);
	assert_int_equal(lw_gw_parse("\rx\n", 3, 4, 10, &c, &used), LW_GW_PERR_UNKNOWN_OP);
	/* An operation name longer than a tiny limit: its name decides first. */
	assert_int_equal(lw_gw_parse("SUB", 3, 2, 10, &c, &used), 0);
	assert_int_equal(lw_gw_parse("SUBz", 4, 2, 10, &c, &used), LW_GW_PERR_UNKNOWN_OP);
	assert_int_equal(lw_gw_parse("SUB ", 4, 2, 10, &c, &used), LW_GW_PERR_CONTROL_LINE);
}

/* Random bytes and random mutations of valid commands: the parser must
 * give an answer at once and never report more consumed than given. */
static void test_junk(void **state)
{
	static const char valid[] = "PUB foo.bar r 5\r\nhello\r\nSUB a.* 1\r\nPING\r\n";
	char buf[512];

	(void)state;
	srand(12345);
	for (int iter = 0; iter < 200000; iter++) {
		size_t n = (size_t)(rand() % (int)sizeof(buf));
		struct lw_gw_cmd c;
		size_t used, off = 0;
		int rc;

		if (iter & 1) {
			for (size_t i = 0; i < n; i++)
				buf[i] = (char)(rand() & 0xff);
		} else {
			n = sizeof(valid) - 1;
			memcpy(buf, valid, n);
			for (int m = rand() % 4; m >= 0; m--)
				buf[rand() % (int)n] = (char)(rand() & 0xff);
		}
		for (int guard = 0; guard < 1000; guard++) {
			rc = parse(buf + off, n - off, &c, &used);
			if (rc != 1)
				break;
			assert_true(used > 0 && used <= n - off);
			off += used;
		}
		assert_true(rc <= 0);
		if (rc == 0)
			assert_true(used == 0 || used > n - off);
	}
}

static void test_subj_match(void **state)
{
	(void)state;
	assert_true(lw_gw_subj_match("foo.bar", "foo.bar"));
	assert_false(lw_gw_subj_match("foo.bar", "foo.baz"));
	assert_false(lw_gw_subj_match("foo.bar", "foo"));
	assert_false(lw_gw_subj_match("foo", "foo.bar"));
	assert_true(lw_gw_subj_match("foo.*", "foo.bar"));
	assert_false(lw_gw_subj_match("foo.*", "foo.bar.baz"));
	assert_true(lw_gw_subj_match("foo.>", "foo.bar.baz"));
	assert_false(lw_gw_subj_match("foo.>", "foo"));
	assert_true(lw_gw_subj_match(">", "a"));
	assert_true(lw_gw_subj_match("*.b", "a.b"));
	/* A wildcard subscription is covered only by a wildcard pattern. */
	assert_true(lw_gw_subj_match("foo.*", "foo.*"));
	assert_true(lw_gw_subj_match("foo.>", "foo.*"));
	assert_true(lw_gw_subj_match("foo.>", "foo.>"));
	assert_false(lw_gw_subj_match("foo.*", "foo.>"));
	assert_false(lw_gw_subj_match("foo.bar", "foo.*"));
	assert_false(lw_gw_subj_match("foo.bar", ">"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_split_every_byte),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_control_line),
		cmocka_unit_test(test_split_limits),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_subj_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
