/* SPDX-License-Identifier: MIT */
/*
 * Subject and queue-group name validation (NATS rules).
 *
 * Every publish validates its subject before matching it, so the valid path
 * is one pass over at most LW_SUBJECT_MAX bytes with no allocation and no
 * call out; only a failure formats a message, naming the byte offset and
 * the reason so a user can find the bad spot in a long subject:
 * "empty token at byte 2 in 'a..b'".
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lightwire/client.h>

#include "lw_err.h"
#include "lw_subject.h"

/* Longest excerpt of the offending subject copied into the message: the
 * per-thread message buffer is 512 bytes and must keep room for context
 * appended by callers. */
#define SHOW_MAX 96

static inline int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

__attribute__((cold, noinline))
static int bad(const char *what, const char *s, size_t len, size_t at,
	       const char *why)
{
	int show = len > SHOW_MAX ? SHOW_MAX : (int)len;

	return LW_SET_ERR(LW_EBADSUBJECT, "%s at byte %zu in %s'%.*s%s'", why,
			  at, what, show, s, len > SHOW_MAX ? "..." : "");
}

/* What a subject byte is to the validator. Most bytes are PLAIN, so the
 * common path is one table load and one compare per byte (the per-byte
 * chain of six compares this replaced was 8 % of lw-control's time
 * delivering pull batches, with their long $JS.ACK reply subjects). */
enum { PLAIN, DOT, WILD, REFUSED };

static const unsigned char byte_class[256] = {
	['\0'] = REFUSED, [' '] = REFUSED, ['\t'] = REFUSED, ['\r'] = REFUSED, ['\n'] = REFUSED,
	['.'] = DOT, ['*'] = WILD, ['>'] = WILD,
};

int lw_subj_validate(const char *s, size_t len, int wildcards)
{
	size_t start = 0, i = 0;

	if (s == NULL || len == 0)
		return LW_SET_ERR(LW_EBADSUBJECT, "empty subject");
	if (len > LW_SUBJECT_MAX)
		return LW_SET_ERR(LW_EBADSUBJECT,
				  "subject is %zu bytes, the limit is %d", len,
				  LW_SUBJECT_MAX);

	for (;;) {
		size_t wild = SIZE_MAX; /* first '*' or '>' of this token */

		for (; i < len; i++) {
			unsigned char k = byte_class[(unsigned char)s[i]];

			if (k == PLAIN)
				continue;
			if (k == DOT)
				break;
			if (k == REFUSED)
				return bad("", s, len, i, s[i] == '\0' ? "NUL" : "whitespace");
			if (wild == SIZE_MAX)
				wild = i;
		}
		/* s[start..i) is a token, ended by a '.' or by the end */
		if (i == start)
			return bad("", s, len, start, "empty token");
		if (wild != SIZE_MAX && wildcards != LW_SUBJ_LITERAL) {
			if (i - start > 1) {
				/* A wildcard character inside a longer token
				 * is refused rather than taken literally:
				 * "foo*" is far more likely a typo for "foo.*"
				 * than a real name. */
				return bad("", s, len, wild, "wildcard must be a whole token");
			}
			if (wildcards == LW_SUBJ_PUBLISH)
				return bad("", s, len, start,
					   "wildcard not allowed when publishing");
			if (s[start] == '>' && i != len)
				return bad("", s, len, start, "'>' must be the last token");
		}
		if (i == len)
			return LW_OK;
		start = ++i;
	}
}

int lw_queue_validate(const char *q, size_t len)
{
	if (q == NULL || len == 0)
		return LW_SET_ERR(LW_EBADSUBJECT, "empty queue group name");
	if (len > LW_QUEUE_MAX)
		return LW_SET_ERR(LW_EBADSUBJECT,
				  "queue group name is %zu bytes, the limit is %d",
				  len, LW_QUEUE_MAX);
	/* Printable ASCII (dots allowed, as in NATS); bytes >= 0x80 pass so
	 * that UTF-8 names work. Control characters and DEL are refused. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)q[i];

		if (c == '\0')
			return bad("queue group ", q, len, i, "NUL");
		if (is_space(c))
			return bad("queue group ", q, len, i, "whitespace");
		if (c < 0x20 || c == 0x7f)
			return bad("queue group ", q, len, i,
				   "control character");
	}
	return LW_OK;
}

bool lw_subj_matches(const char *pat, const char *s)
{
	for (;;) {
		const char *pe = strchr(pat, '.'), *se = strchr(s, '.');
		size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
		size_t sl = se ? (size_t)(se - s) : strlen(s);

		if (pl == 1 && pat[0] == '>')
			return sl > 0;
		if (!(pl == 1 && pat[0] == '*') && (pl != sl || memcmp(pat, s, pl) != 0))
			return false;
		if (pe == NULL || se == NULL)
			return pe == NULL && se == NULL;
		pat = pe + 1;
		s = se + 1;
	}
}
