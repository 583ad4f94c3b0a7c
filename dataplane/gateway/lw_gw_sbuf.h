/* SPDX-License-Identifier: MIT */
/*
 * Text building for the monitoring port: a growing buffer, JSON strings
 * and times as nats-server writes them, Prometheus label values, query
 * strings. Shared by lw_gw_http.c and lw_gw_connz.c.
 */
#ifndef LW_GW_SBUF_H
#define LW_GW_SBUF_H

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
/* The value of @p key in query string @p q, or @p def. */
long gw_q_long(const char *q, const char *key, long def);

#endif
