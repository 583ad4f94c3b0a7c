/* SPDX-License-Identifier: MIT */
/*
 * Small helpers the lw subcommands share: number and policy options, the
 * NATS/1.0 header block of -H options, the {{Count}} body template and the
 * nats-style printing of a received message. None of this is on a timed
 * path; lw bench keeps its loops free of it.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lw_cli.h"

int lw_cli_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (end == s || errno != 0)
		return -1;
	/* Decimal multipliers: "--count 5M" is five million messages. */
	switch (*end) {
	case 'k': case 'K': mul = 1000ull; end++; break;
	case 'm': case 'M': mul = 1000000ull; end++; break;
	case 'g': case 'G': mul = 1000000000ull; end++; break;
	default: break;
	}
	if (*end != '\0' || (mul > 1 && v > ULLONG_MAX / mul))
		return -1;
	*out = v * mul;
	return 0;
}

int lw_cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno != 0)
		return -1;
	/* Byte sizes use binary multipliers, as lwd's options do. */
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (shift && *end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v > (ULLONG_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

int lw_cli_parse_int(const char *s, int *out)
{
	uint64_t v;

	if (lw_cli_parse_u64(s, &v) != 0 || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* Nanoseconds of the unit at @p p (longest match first); 0 when none. */
static uint64_t duration_unit(const char *p, size_t *len)
{
	static const struct { const char *name; uint64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "ms", 1000000 },
		{ "s", 1000000000ull }, { "m", 60000000000ull }, { "h", 3600000000000ull },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);

		if (strncmp(p, units[i].name, n) == 0) {
			*len = n;
			return units[i].ns;
		}
	}
	return 0;
}

int lw_cli_parse_duration(const char *s, uint64_t *out_ns)
{
	const char *p = s;
	uint64_t total = 0;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p != '\0') {
		uint64_t whole = 0, frac = 0, fdiv = 1, unit, v;
		const char *start = p;
		bool dot = false;
		size_t ul = 0;

		for (; isdigit((unsigned char)*p); p++) {
			if (whole > (UINT64_MAX - 9) / 10)
				return -1;
			whole = whole * 10 + (uint64_t)(*p - '0');
		}
		if (*p == '.') {
			dot = true;
			/* Nine fraction digits are enough for any unit down to ns. */
			for (p++; isdigit((unsigned char)*p); p++)
				if (fdiv < 1000000000ull) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					fdiv *= 10;
				}
		}
		if (p == start || (dot && p == start + 1))
			return -1;
		unit = duration_unit(p, &ul);
		if (unit == 0) {
			/* A bare integer, alone, is seconds ("--ack-wait 30"). */
			if (start != s || *p != '\0' || dot)
				return -1;
			unit = 1000000000ull;
		}
		p += ul;
		if (whole > (uint64_t)INT64_MAX / unit)
			return -1;
		/* Units are powers of ten times 1, 60 or 3600: unit / fdiv is exact. */
		v = whole * unit + (unit >= fdiv ? frac * (unit / fdiv) : frac * unit / fdiv);
		if (v > (uint64_t)INT64_MAX - total)
			return -1;
		total += v;
	}
	*out_ns = total;
	return 0;
}

int lw_cli_parse_policy(const char *s, enum lw_slow_policy *out)
{
	if (strcmp(s, "block") == 0)
		*out = LW_SLOW_BLOCK;
	else if (strcmp(s, "drop-oldest") == 0 || strcmp(s, "drop_oldest") == 0)
		*out = LW_SLOW_DROP_OLDEST;
	else if (strcmp(s, "drop-newest") == 0 || strcmp(s, "drop_newest") == 0)
		*out = LW_SLOW_DROP_NEWEST;
	else
		return -1;
	return 0;
}

const char *lw_cli_policy_name(enum lw_slow_policy p)
{
	switch (p) {
	case LW_SLOW_BLOCK: return "block";
	case LW_SLOW_DROP_OLDEST: return "drop-oldest";
	case LW_SLOW_DROP_NEWEST: return "drop-newest";
	}
	return "?";
}

static int hdr_append(struct lw_cli_hdr *h, const char *s, size_t n)
{
	if (h->len + n + 2 > h->cap) {
		size_t cap = (h->cap ? h->cap * 2 : 256) + n;
		char *b = realloc(h->buf, cap);

		if (b == NULL)
			return -1;
		h->buf = b;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	return 0;
}

int lw_cli_hdr_add(struct lw_cli_hdr *h, const char *kv)
{
	const char *colon = strchr(kv, ':');
	const char *v;
	size_t klen;

	if (colon == NULL || colon == kv || strpbrk(kv, "\r\n") != NULL)
		return -1;
	klen = (size_t)(colon - kv);
	for (size_t i = 0; i < klen; i++)
		if (isspace((unsigned char)kv[i]))
			return -1;
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	/* The block always ends with the empty line; drop it before adding
	 * a field and put it back after. */
	if (h->len == 0) {
		if (hdr_append(h, "NATS/1.0\r\n", 10) != 0)
			return -1;
	} else {
		h->len -= 2;
	}
	if (hdr_append(h, kv, klen) != 0 || hdr_append(h, ": ", 2) != 0 ||
	    hdr_append(h, v, strlen(v)) != 0 || hdr_append(h, "\r\n\r\n", 4) != 0)
		return -1;
	return 0;
}

void lw_cli_hdr_free(struct lw_cli_hdr *h)
{
	free(h->buf);
	h->buf = NULL;
	h->len = h->cap = 0;
}

/* Length of the template starting at @p s, or 0 when there is none. */
static size_t template_at(const char *s)
{
	const char *p = s;

	if (p[0] != '{' || p[1] != '{')
		return 0;
	p += 2;
	while (*p == ' ')
		p++;
	if (*p == '.')
		p++;
	if (strncmp(p, "Count", 5) != 0)
		return 0;
	p += 5;
	while (*p == ' ')
		p++;
	if (p[0] != '}' || p[1] != '}')
		return 0;
	return (size_t)(p + 2 - s);
}

bool lw_cli_has_template(const char *s)
{
	for (const char *p = strstr(s, "{{"); p != NULL; p = strstr(p + 1, "{{"))
		if (template_at(p) != 0)
			return true;
	return false;
}

size_t lw_cli_expand_room(const char *tmpl)
{
	/* Each template is at least 9 bytes and a count at most 20 digits. */
	return strlen(tmpl) * 3 + 1;
}

size_t lw_cli_expand(char *dst, size_t cap, const char *tmpl, uint64_t n)
{
	char num[24];
	int nl = snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
	size_t o = 0;

	for (const char *p = tmpl; *p != '\0' && o < cap;) {
		size_t t = template_at(p);

		if (t == 0) {
			dst[o++] = *p++;
			continue;
		}
		for (int i = 0; i < nl && o < cap; i++)
			dst[o++] = num[i];
		p += t;
	}
	return o;
}

void lw_cli_print_headers(const char *h, size_t n)
{
	const char *end = h + n;
	bool first = true;

	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h));
		const char *next = eol ? eol + 1 : end;
		size_t len = (size_t)((eol ? eol : end) - h);

		if (len > 0 && h[len - 1] == '\r')
			len--;
		if (first) {
			/* "NATS/1.0 503 No Responders" */
			if (len > 9 && memcmp(h, "NATS/1.0 ", 9) == 0)
				printf("Status: %.*s\n", (int)(len - 9), h + 9);
		} else if (len > 0) {
			printf("%.*s\n", (int)len, h);
		}
		first = false;
		h = next;
	}
}

int lw_cli_print_msg(const lw_msg *m, uint64_t n, bool raw, bool headers)
{
	const char *reply = lw_msg_reply(m);
	size_t hlen = 0;
	const void *h = lw_msg_headers(m, &hlen);

	if (!raw) {
		printf("[#%llu] Received on \"%s\"", (unsigned long long)n, lw_msg_subject(m));
		if (reply != NULL && reply[0] != '\0')
			printf(" with reply \"%s\"", reply);
		putchar('\n');
		if (headers && h != NULL) {
			lw_cli_print_headers(h, hlen);
			putchar('\n');
		}
	}
	fwrite(lw_msg_data(m), 1, lw_msg_len(m), stdout);
	putchar('\n');
	if (!raw)
		putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout))
		return -1;
	return 0;
}

/* A bucket's upper bound in a short unit ("250 ns", "2.5 us", "1 ms"). */
static void lat_bound(char *buf, size_t n, int b)
{
	static const uint64_t bounds[] = { LW_LAT_BOUNDS_NS };

	if (b >= LW_LAT_BUCKETS - 1)
		snprintf(buf, n, "> 1 s");
	else if (bounds[b] < 1000)
		snprintf(buf, n, "<= %llu ns", (unsigned long long)bounds[b]);
	else if (bounds[b] < 1000000)
		snprintf(buf, n, "<= %g us", (double)bounds[b] / 1e3);
	else if (bounds[b] < 1000000000)
		snprintf(buf, n, "<= %g ms", (double)bounds[b] / 1e6);
	else
		snprintf(buf, n, "<= %g s", (double)bounds[b] / 1e9);
}

void lw_cli_latency(char *buf, size_t n, const struct lw_domain_stats *d)
{
	uint64_t total = 0, cum = 0;
	int p50 = -1, p99 = -1;
	char a[24], b[24];

	for (int i = 0; i < LW_LAT_BUCKETS; i++)
		total += d->lat_bucket[i];
	if (total == 0) {
		snprintf(buf, n, "no samples yet (1 publish in %d is timed)", LW_LAT_SAMPLE_EVERY);
		return;
	}
	for (int i = 0; i < LW_LAT_BUCKETS; i++) {
		cum += d->lat_bucket[i];
		if (p50 < 0 && cum * 2 >= total)
			p50 = i;
		if (p99 < 0 && cum * 100 >= total * 99)
			p99 = i;
	}
	lat_bound(a, sizeof(a), p50);
	lat_bound(b, sizeof(b), p99);
	snprintf(buf, n, "p50 %s, p99 %s (%llu samples, publish -> take)", a, b,
		 (unsigned long long)total);
}
