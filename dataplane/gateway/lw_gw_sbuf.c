/* SPDX-License-Identifier: MIT */
/* Text building for the monitoring port (see lw_gw_sbuf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_gw_sbuf.h"

void gw_sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->n;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->n += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->n + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);

		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* Length of the well-formed UTF-8 sequence at @p s (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), 0 if none. */
size_t gw_utf8_len(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

/* A JSON string value. Clients choose their names and subjects, bytes
 * that are not UTF-8 included: such a byte becomes U+FFFD (as
 * nats-server's encoder does), or one client would make /connz invalid
 * JSON for every dashboard. */
void gw_sb_jstr(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	gw_sb_printf(b, "\"");
	while (*s) {
		size_t n = gw_utf8_len(s);

		if (n == 0) {
			gw_sb_printf(b, "\\ufffd");
			s++;
		} else if (n > 1) {
			gw_sb_printf(b, "%.*s", (int)n, (const char *)s);
			s += n;
		} else {
			if (*s == '"' || *s == '\\')
				gw_sb_printf(b, "\\%c", *s);
			else if (*s < 0x20 || *s == 0x7f)
				gw_sb_printf(b, "\\u%04x", *s);
			else
				gw_sb_printf(b, "%c", *s);
			s++;
		}
	}
	gw_sb_printf(b, "\"");
}

void gw_sb_time(struct sbuf *b, time_t t)
{
	struct tm tm;
	char s[40];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gw_sb_printf(b, "\"%s\"", s);
}

void gw_sb_dur(struct sbuf *b, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;

	if (s >= 86400)
		gw_sb_printf(b, "\"%llud%lluh%llum%llus\"", (unsigned long long)(s / 86400),
			  (unsigned long long)(s % 86400 / 3600), (unsigned long long)(s % 3600 / 60),
			  (unsigned long long)(s % 60));
	else if (s >= 3600)
		gw_sb_printf(b, "\"%lluh%llum%llus\"", (unsigned long long)(s / 3600),
			  (unsigned long long)(s % 3600 / 60), (unsigned long long)(s % 60));
	else if (s >= 60)
		gw_sb_printf(b, "\"%llum%llus\"", (unsigned long long)(s / 60),
			  (unsigned long long)(s % 60));
	else
		gw_sb_printf(b, "\"%llus\"", (unsigned long long)s);
}

/* A Prometheus label value: backslash, quote and newline escaped, bytes
 * that are not UTF-8 as U+FFFD (the format is UTF-8). */
void gw_sb_label(struct sbuf *b, const char *str)
{
	const unsigned char *v = (const unsigned char *)str;

	while (*v) {
		size_t n = gw_utf8_len(v);

		if (n == 0)
			gw_sb_printf(b, "\xef\xbf\xbd");
		else if (n > 1)
			gw_sb_printf(b, "%.*s", (int)n, (const char *)v);
		else if (*v == '\\' || *v == '"')
			gw_sb_printf(b, "\\%c", *v);
		else if (*v == '\n')
			gw_sb_printf(b, "\\n");
		else
			gw_sb_printf(b, "%c", *v);
		v += n ? n : 1;
	}
}

const char *gw_q_raw(const char *q, const char *key, size_t *len)
{
	size_t kl = strlen(key);

	for (const char *p = q; p != NULL && *p != '\0'; p = strchr(p, '&'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			*len = strcspn(p + kl + 1, "&");
			return p + kl + 1;
		}
	return NULL;
}

bool gw_q_is(const char *v, size_t n, const char *want)
{
	return v != NULL && n == strlen(want) && memcmp(v, want, n) == 0;
}

int gw_q_bool(const char *q, const char *key)
{
	size_t n = 0;
	const char *v = gw_q_raw(q, key, &n);

	if (v == NULL)
		return -1;
	if (gw_q_is(v, n, "true") || gw_q_is(v, n, "1"))
		return 1;
	if (gw_q_is(v, n, "false") || gw_q_is(v, n, "0"))
		return 0;
	return -2;
}
