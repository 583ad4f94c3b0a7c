/* SPDX-License-Identifier: MIT */
/*
 * NATS client protocol parser. Stateless: the connection keeps unparsed
 * bytes in its input buffer and calls lw_gw_parse() again when more
 * arrive, so a command split at any byte parses the same as a whole one,
 * and the only state to get wrong is the buffer. Re-reading a partial
 * control line costs at most max_control_line bytes per read, which is
 * nothing beside the read itself.
 *
 * Junk fails fast: bytes that cannot begin any operation are refused
 * before a newline arrives, so a peer sending binary never makes us buffer
 * max_control_line bytes first.
 */
#include <string.h>
#include <strings.h>

#include "lw_gw_proto.h"

#define MAX_ARGS 6

static const struct {
	const char *name;
	enum lw_gw_op op;
} ops[] = {
	{ "PUB", LW_GW_OP_PUB },     { "HPUB", LW_GW_OP_HPUB },
	{ "SUB", LW_GW_OP_SUB },     { "UNSUB", LW_GW_OP_UNSUB },
	{ "PING", LW_GW_OP_PING },   { "PONG", LW_GW_OP_PONG },
	{ "CONNECT", LW_GW_OP_CONNECT }, { "INFO", LW_GW_OP_INFO },
};

static int is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of the operation name at the start of @p p (@p n bytes). */
static size_t op_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && !is_ws(p[i]) && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

/* 1 when @p p[0..n) is (a prefix of, when @p partial) an operation name. */
static int op_known(const char *p, size_t n, int partial, enum lw_gw_op *op)
{
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		size_t l = strlen(ops[k].name);

		if (n > l || (!partial && n != l))
			continue;
		if (strncasecmp(p, ops[k].name, n) == 0) {
			*op = ops[k].op;
			return 1;
		}
	}
	return 0;
}

/* Decimal size; -1 when empty, not all digits or absurdly long. */
static long long parse_size(struct lw_gw_str s)
{
	long long v = 0;

	if (s.n == 0 || s.n > 15)
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}

static int split(const char *p, size_t n, struct lw_gw_str *a, int max)
{
	int na = 0;
	size_t i = 0;

	for (;;) {
		while (i < n && is_ws(p[i]))
			i++;
		if (i == n)
			return na;
		if (na == max)
			return max + 1;
		a[na].p = p + i;
		while (i < n && !is_ws(p[i]))
			i++;
		a[na].n = (size_t)(p + i - a[na].p);
		na++;
	}
}

static struct lw_gw_str trim(const char *p, size_t n)
{
	while (n && is_ws(*p))
		p++, n--;
	while (n && is_ws(p[n - 1]))
		n--;
	return (struct lw_gw_str){ p, n };
}

/* PUB/HPUB arguments, then the payload if it is all here. */
static int parse_pub(const char *buf, size_t len, size_t line_used, struct lw_gw_str *a,
		     int na, size_t max_payload, struct lw_gw_cmd *cmd, size_t *used)
{
	int hpub = cmd->op == LW_GW_OP_HPUB;
	int nsize = hpub ? 2 : 1;
	long long total, hdr = 0;
	size_t need;

	if (na != 1 + nsize && na != 2 + nsize)
		return LW_GW_PERR_SYNTAX;
	cmd->subject = a[0];
	if (na == 2 + nsize)
		cmd->reply = a[1];
	total = parse_size(a[na - 1]);
	if (hpub)
		hdr = parse_size(a[na - 2]);
	if (total < 0 || hdr < 0 || hdr > total)
		return LW_GW_PERR_SYNTAX;
	if ((unsigned long long)total > max_payload)
		return LW_GW_PERR_MAX_PAYLOAD;
	cmd->hdr_len = (size_t)hdr;
	cmd->total_len = (size_t)total;
	need = line_used + (size_t)total + 2;
	if (len < need) {
		*used = need;
		return 0;
	}
	if (buf[need - 2] != '\r' || buf[need - 1] != '\n')
		return LW_GW_PERR_SYNTAX;
	cmd->payload = buf + line_used;
	*used = need;
	return 1;
}

int lw_gw_parse(const char *buf, size_t len, size_t max_control, size_t max_payload,
		struct lw_gw_cmd *cmd, size_t *used)
{
	size_t scan = len < max_control + 2 ? len : max_control + 2;
	const char *nl = memchr(buf, '\n', scan);
	struct lw_gw_str a[MAX_ARGS];
	size_t line, end, ol;
	int na;

	memset(cmd, 0, sizeof(*cmd));
	*used = 0;
	ol = op_len(buf, nl ? (size_t)(nl - buf) : len);
	/*
	 * The checks run in the same order with and without the newline, and
	 * judge only what the bytes so far already decide, so a command split
	 * anywhere gets the answer the whole command gets (the fuzz target
	 * tests/gateway/fuzz_gw_proto.c holds us to that): first the name,
	 * then the length.
	 */
	if (nl == NULL) {
		/* Fail junk now: the name so far must begin some operation.
		 * A lone "\r" may still become an empty line. */
		if (ol == 0 && len > 0 && !(len == 1 && buf[0] == '\r'))
			return LW_GW_PERR_UNKNOWN_OP;
		if (ol > 0 && !op_known(buf, ol, ol == len, &cmd->op))
			return LW_GW_PERR_UNKNOWN_OP;
		/* The length counts once the name is complete (a name still
		 * growing is at most 7 bytes and may yet turn out unknown).
		 * A trailing "\r" is not part of the line if "\n" follows. */
		if (ol < len && len - (buf[len - 1] == '\r') > max_control)
			return LW_GW_PERR_CONTROL_LINE;
		return 0;
	}
	line = (size_t)(nl - buf);
	end = line && buf[line - 1] == '\r' ? line - 1 : line;
	if (end == 0) {
		*used = line + 1;
		cmd->op = LW_GW_OP_NONE;
		return 1;
	}
	if (ol > end || !op_known(buf, ol, 0, &cmd->op))
		return LW_GW_PERR_UNKNOWN_OP;
	if (end > max_control)
		return LW_GW_PERR_CONTROL_LINE;
	switch (cmd->op) {
	case LW_GW_OP_CONNECT:
	case LW_GW_OP_INFO:
		cmd->json = trim(buf + ol, end - ol);
		break;
	case LW_GW_OP_PING:
	case LW_GW_OP_PONG:
		if (trim(buf + ol, end - ol).n != 0)
			return LW_GW_PERR_SYNTAX;
		break;
	case LW_GW_OP_PUB:
	case LW_GW_OP_HPUB:
		na = split(buf + ol, end - ol, a, MAX_ARGS);
		return parse_pub(buf, len, line + 1, a, na, max_payload, cmd, used);
	case LW_GW_OP_SUB:
		na = split(buf + ol, end - ol, a, MAX_ARGS);
		if (na != 2 && na != 3)
			return LW_GW_PERR_SYNTAX;
		cmd->subject = a[0];
		if (na == 3)
			cmd->queue = a[1];
		cmd->sid = a[na - 1];
		break;
	case LW_GW_OP_UNSUB:
		na = split(buf + ol, end - ol, a, MAX_ARGS);
		if (na != 1 && na != 2)
			return LW_GW_PERR_SYNTAX;
		cmd->sid = a[0];
		if (na == 2) {
			long long m = parse_size(a[1]);

			if (m < 0)
				return LW_GW_PERR_SYNTAX;
			cmd->max_msgs = (uint64_t)m;
		}
		break;
	default:
		return LW_GW_PERR_UNKNOWN_OP;
	}
	*used = line + 1;
	return 1;
}

const char *lw_gw_perr_text(int perr)
{
	switch (perr) {
	case LW_GW_PERR_MAX_PAYLOAD:
		return "Maximum Payload Violation";
	case LW_GW_PERR_CONTROL_LINE:
		return "Maximum Control Line Exceeded";
	case LW_GW_PERR_SYNTAX:
		return "Parser Error";
	default:
		return "Unknown Protocol Operation";
	}
}

/* Next token of a subject: [*p, returned end). */
static const char *tok_end(const char *p)
{
	const char *d = strchr(p, '.');

	return d ? d : p + strlen(p);
}

static int tok_is(const char *p, const char *e, char c)
{
	return e - p == 1 && *p == c;
}

int lw_gw_subj_match(const char *pat, const char *sub)
{
	for (;;) {
		const char *pe = tok_end(pat), *se = tok_end(sub);

		if (tok_is(pat, pe, '>'))
			return se > sub; /* covers this token and all after it */
		if (tok_is(pat, pe, '*')) {
			if (tok_is(sub, se, '>'))
				return 0;
		} else if (tok_is(sub, se, '*') || tok_is(sub, se, '>') || pe - pat != se - sub ||
			   memcmp(pat, sub, (size_t)(pe - pat)) != 0) {
			return 0;
		}
		if (*pe == '\0' || *se == '\0')
			return *pe == '\0' && *se == '\0';
		pat = pe + 1;
		sub = se + 1;
	}
}
