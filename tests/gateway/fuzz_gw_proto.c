/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the NATS protocol parser (lw_gw_parse) and the
 * subject matcher behind permissions. tests/gateway/run_fuzz.sh builds it
 * with clang -fsanitize=fuzzer,address,undefined and runs it for a bounded
 * time as the meson test 'gw_fuzz'.
 *
 * The input is one byte stream as a client would send it. Checks:
 *  - no read outside the input: the stream is copied into a buffer of
 *    exactly its size, so AddressSanitizer sees any over-read, and every
 *    pointer of a parsed command must lie inside the bytes it consumed;
 *  - a consistent result: 1 with 0 < used <= len, 0 with a "need" hint of
 *    0 or more than len, or one of the four parse errors;
 *  - splits do not change the parse: the stream fed in random pieces
 *    through a connection-like buffer (keep the unparsed tail, parse again
 *    when more arrives, as lw_gw_client.c does) yields the same commands
 *    and ends in the same state as the whole stream parsed at once;
 *  - all of that under the real limits and under small ones derived from
 *    the input, so the control-line and payload limits are hit often.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_gw_proto.h"

#define MAX_CMDS 4096

/* What one parse step produced, copied out so that buffers may move. */
struct rec {
	int rc;              /* 1, or the terminal 0 / error */
	int op;
	size_t used;
	uint64_t max_msgs;
	size_t hdr_len, total_len;
	uint32_t hash;       /* of every field's bytes */
};

struct run {
	struct rec r[MAX_CMDS];
	size_t n;
	size_t left;         /* unparsed bytes at the end (rc 0), else 0 */
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_gw_proto: invariant broken: %s\n", what);
	abort();
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h ^ (uint32_t)n;
}

/* The range [p, p+n) lies inside [lo, hi]. */
static void inside(const char *lo, const char *hi, const char *p, size_t n, const char *what)
{
	if (n == 0)
		return;
	if (p == NULL || p < lo || p > hi || n > (size_t)(hi - p))
		fail(what);
}

/* One lw_gw_parse call with every per-call invariant checked. */
static int parse_checked(const char *buf, size_t len, size_t maxc, size_t maxp,
			 struct rec *out)
{
	struct lw_gw_cmd c;
	size_t used = 12345;
	int rc = lw_gw_parse(buf, len, maxc, maxp, &c, &used);
	uint32_t h = 2166136261u;

	memset(out, 0, sizeof(*out));
	out->rc = rc;
	if (rc < 0) {
		if (rc < LW_GW_PERR_CONTROL_LINE)
			fail("unknown error code");
		if (lw_gw_perr_text(rc) == NULL)
			fail("error without text");
		return rc;
	}
	if (rc == 0) {
		if (used != 0 && used <= len)
			fail("need-more hint not beyond the input");
		if (used > maxc + 2 + maxp + 2)
			fail("need-more hint beyond the limits");
		return rc;
	}
	if (rc != 1)
		fail("result not in {1, 0, error}");
	if (used == 0 || used > len)
		fail("used out of range");
	if (c.op < LW_GW_OP_NONE || c.op > LW_GW_OP_INFO)
		fail("bad op");
	inside(buf, buf + used, c.subject.p, c.subject.n, "subject");
	inside(buf, buf + used, c.reply.p, c.reply.n, "reply");
	inside(buf, buf + used, c.queue.p, c.queue.n, "queue");
	inside(buf, buf + used, c.sid.p, c.sid.n, "sid");
	inside(buf, buf + used, c.json.p, c.json.n, "json");
	if (c.op == LW_GW_OP_PUB || c.op == LW_GW_OP_HPUB) {
		if (c.subject.n == 0)
			fail("PUB without subject");
		if (c.hdr_len > c.total_len || c.total_len > maxp)
			fail("PUB sizes");
		if (c.op == LW_GW_OP_PUB && c.hdr_len != 0)
			fail("PUB with headers");
		inside(buf, buf + used, c.payload, c.total_len, "payload");
		if (c.total_len == 0 && (c.payload < buf || c.payload > buf + used))
			fail("empty payload pointer");
		/* The payload is followed by exactly CRLF, the end of the command. */
		if (c.payload + c.total_len + 2 != buf + used ||
		    memcmp(c.payload + c.total_len, "\r\n", 2) != 0)
			fail("payload terminator");
		h = fnv(h, c.payload, c.total_len);
	}
	if ((c.op == LW_GW_OP_SUB || c.op == LW_GW_OP_UNSUB) && c.sid.n == 0)
		fail("SUB/UNSUB without sid");
	if (c.op == LW_GW_OP_SUB && c.subject.n == 0)
		fail("SUB without subject");
	h = fnv(h, c.subject.p, c.subject.n);
	h = fnv(h, c.reply.p, c.reply.n);
	h = fnv(h, c.queue.p, c.queue.n);
	h = fnv(h, c.sid.p, c.sid.n);
	h = fnv(h, c.json.p, c.json.n);
	out->op = (int)c.op;
	out->used = used;
	out->max_msgs = c.max_msgs;
	out->hdr_len = c.hdr_len;
	out->total_len = c.total_len;
	out->hash = h;
	return 1;
}

/* The whole stream at once: parse until an error or "need more". */
static void parse_whole(const char *buf, size_t len, size_t maxc, size_t maxp, struct run *o)
{
	size_t off = 0;

	o->n = 0;
	for (;;) {
		struct rec *r = &o->r[o->n < MAX_CMDS ? o->n : MAX_CMDS - 1];
		int rc = parse_checked(buf + off, len - off, maxc, maxp, r);

		if (o->n < MAX_CMDS)
			o->n++;
		if (rc != 1) {
			/* After an error the connection closes: no tail. */
			o->left = rc == 0 ? len - off : 0;
			return;
		}
		off += r->used;
	}
}

/* xorshift: split points from the input's hash, so a crash reproduces. */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* The stream in pieces through a connection-like buffer. */
static void parse_split(const char *data, size_t len, size_t maxc, size_t maxp, uint32_t seed,
			int bytewise, struct run *o)
{
	char *in = NULL;
	size_t in_len = 0, pos = 0;

	o->n = 0;
	o->left = 0;
	while (pos < len) {
		size_t chunk = bytewise ? 1 : 1 + rnd(&seed) % 64;
		char *p;

		if (chunk > len - pos)
			chunk = len - pos;
		/* Exact size every time, so an over-read of the tail is seen. */
		p = malloc(in_len + chunk);
		if (p == NULL)
			abort();
		if (in_len)
			memcpy(p, in, in_len);
		memcpy(p + in_len, data + pos, chunk);
		free(in);
		in = p;
		in_len += chunk;
		pos += chunk;
		for (size_t off = 0;;) {
			struct rec *r = &o->r[o->n < MAX_CMDS ? o->n : MAX_CMDS - 1];
			int rc = parse_checked(in + off, in_len - off, maxc, maxp, r);

			if (rc < 0) {
				if (o->n < MAX_CMDS)
					o->n++;
				o->left = 0;
				free(in);
				return;
			}
			if (rc == 0) {
				memmove(in, in + off, in_len - off);
				in_len -= off;
				break;
			}
			if (o->n < MAX_CMDS)
				o->n++;
			off += r->used;
		}
	}
	/* End of input with the tail still waiting for more. */
	{
		struct rec *r = &o->r[o->n < MAX_CMDS ? o->n : MAX_CMDS - 1];

		parse_checked(in ? in : "", in_len, maxc, maxp, r);
		if (o->n < MAX_CMDS)
			o->n++;
		o->left = in_len;
	}
	free(in);
}

/* What differs, for the report of a broken split invariant. */
static void dump(const char *name, const struct run *r)
{
	fprintf(stderr, "%s: %zu steps, tail %zu:", name, r->n, r->left);
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, " [rc %d op %d used %zu]", r->r[i].rc, r->r[i].op, r->r[i].used);
	fputc('\n', stderr);
}

static size_t g_maxc, g_maxp;

static void same(const struct run *a, const struct run *b)
{
	size_t i;

	for (i = 0; i < a->n && i < b->n; i++) {
		const struct rec *x = &a->r[i], *y = &b->r[i];

		if (x->rc != y->rc)
			break;
		if (x->rc != 1)
			continue;
		if (x->op != y->op || x->used != y->used || x->max_msgs != y->max_msgs ||
		    x->hdr_len != y->hdr_len || x->total_len != y->total_len || x->hash != y->hash)
			break;
	}
	if (i == a->n && a->n == b->n && a->left == b->left)
		return;
	fprintf(stderr, "max_control %zu, max_payload %zu, first difference at step %zu\n",
		g_maxc, g_maxp, i);
	dump("whole", a);
	dump("split", b);
	fail("a split changed the parse");
}

static struct run g_whole, g_split;

static void check_limits(const char *buf, size_t len, size_t maxc, size_t maxp, uint32_t seed)
{
	g_maxc = maxc;
	g_maxp = maxp;
	parse_whole(buf, len, maxc, maxp, &g_whole);
	parse_split(buf, len, maxc, maxp, seed, 0, &g_split);
	same(&g_whole, &g_split);
	/* Byte by byte is the worst split; keep it to small inputs (quadratic). */
	if (len <= 512) {
		parse_split(buf, len, maxc, maxp, seed, 1, &g_split);
		same(&g_whole, &g_split);
	}
}

/* The matcher: NUL-terminated pattern and subject from the input. */
static void check_match(const uint8_t *data, size_t size)
{
	char *pat, *sub;
	const uint8_t *nul = memchr(data, 0, size);
	size_t pn = nul ? (size_t)(nul - data) : size / 2;
	size_t sn = nul ? size - pn - 1 : size - pn;
	int wild = 0;

	if (pn > 300 || sn > 300)
		return;
	pat = malloc(pn + 1);
	sub = malloc(sn + 1);
	if (pat == NULL || sub == NULL)
		abort();
	memcpy(pat, data, pn);
	pat[pn] = '\0';
	memcpy(sub, data + size - sn, sn);
	sub[sn] = '\0';
	(void)lw_gw_subj_match(pat, sub);
	/* A literal subject (no `*` or `>` token) matches itself. */
	for (const char *t = sub;;) {
		const char *e = strchr(t, '.');
		size_t tl = e ? (size_t)(e - t) : strlen(t);

		if (tl == 1 && (*t == '*' || *t == '>'))
			wild = 1;
		if (e == NULL)
			break;
		t = e + 1;
	}
	if (!wild && strlen(sub) == sn && lw_gw_subj_match(sub, sub) != 1)
		fail("literal subject does not match itself");
	free(pat);
	free(sub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t h = fnv(2166136261u, data, size);
	char *buf = malloc(size ? size : 1);

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	/* The gateway's defaults (4096-byte lines, 1 MiB payloads)... */
	check_limits(buf, size, 4096, 1 << 20, h);
	/* ...and small limits so both are reached by short inputs. */
	check_limits(buf, size, 1 + h % 40, (h >> 8) % 100, h | 1);
	free(buf);
	check_match(data, size);
	return 0;
}
