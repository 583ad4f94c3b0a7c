/* SPDX-License-Identifier: MIT */
/*
 * Text building for the monitoring port: a growing buffer, JSON strings
 * and times as nats-server writes them, Prometheus label values, query
 * strings. Shared by lw_gw_http.c and lw_gw_connz.c.
 */
#ifndef LW_GW_SBUF_H
#define LW_GW_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sbuf {
	char *p;
	size_t n, cap;
	int oom;     /* an append failed: the text is incomplete */
};

void gw_sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Length of the well-formed UTF-8 sequence at @p s, 0 if none. */
size_t gw_utf8_len(const unsigned char *s);
/* A JSON string value; bytes that are not UTF-8 become U+FFFD. */
void gw_sb_jstr(struct sbuf *b, const char *str);
/* RFC 3339 UTC time, quoted. */
void gw_sb_time(struct sbuf *b, time_t t);
/* A Go-style duration ("1h2m3s"), quoted. */
void gw_sb_dur(struct sbuf *b, uint64_t ns);
/* A Prometheus label value (escaped, UTF-8). */
void gw_sb_label(struct sbuf *b, const char *str);
/* The raw value of @p key in query string @p q (@p len bytes, not
 * NUL-terminated), or NULL. */
const char *gw_q_raw(const char *q, const char *key, size_t *len);
/* Is the value @p v of @p n bytes exactly @p want? */
bool gw_q_is(const char *v, size_t n, const char *want);
/* A boolean parameter: -1 absent, 0 or 1 (false/0, true/1), -2 neither. */
int gw_q_bool(const char *q, const char *key);

#endif
