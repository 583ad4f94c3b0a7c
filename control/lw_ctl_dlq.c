/* SPDX-License-Identifier: MIT */
/*
 * Dead letters of lw-control: a message a consumer gave up on (max_deliver)
 * is appended to the stream DLQ_<stream> with its headers plus why and
 * when it died (Lw-Dead-*), where it can be read without consuming it;
 * STREAM.REDRIVE (lw stream redrive) moves dead letters back into their
 * stream. See docs/streams.md, "Dead letters".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lw_ctl.h"

#define DLQ_PREFIX "DLQ_"

/* The dead-letter stream of @p s, created on first use. Created without
 * a subscription (nothing publishes to it; this may run on the timer
 * thread, which must not subscribe); it gets one after a restart. */
static struct lw_stream *dlq_of(struct lw_ctl *ctl, struct lw_stream *s, bool create)
{
	char name[LW_JS_NAME_MAX + 8], subj[LW_SUBJECT_MAX + 1];
	struct lw_stream *d;
	json_t *req, *cfg, *err = NULL;

	snprintf(name, sizeof(name), DLQ_PREFIX "%s", s->name);
	if (strlen(name) > LW_JS_NAME_MAX)
		return NULL;
	d = lw_stream_find(ctl, name);
	if (d != NULL || !create)
		return d;
	snprintf(subj, sizeof(subj), "$LW.DLQ.%s", s->name);
	req = json_pack("{s:s, s:[s], s:O, s:s}", "name", name, "subjects", subj, "storage",
			json_object_get(s->cfg, "storage"), "description",
			"dead letters (lw-control)");
	cfg = lw_stream_cfg_normalise(req, name, &err);
	json_decref(req);
	if (cfg != NULL)
		d = lw_stream_create_ex(ctl, name, cfg, lw_now_wall_ns(), false, false, &err);
	json_decref(cfg);
	if (d == NULL) {
		fprintf(stderr, "lw-control: stream %s: cannot create %s: %s\n", s->name, name,
			json_string_value(json_object_get(json_object_get(err, "error"),
							  "description")));
		json_decref(err);
	}
	return d;
}

int lw_stream_dead_letter(struct lw_stream *s, const char *consumer, uint64_t seq,
			  uint32_t deliveries, const char *reason)
{
	struct lw_stream *d = dlq_of(s->ctl, s, true);
	struct lw_store_rec r;
	char t[40], extra[512];
	size_t hl = 0, el;
	char *hdr;
	int64_t q;

	if (d == NULL || lw_store_get(s->st, seq, &r) != 0)
		return -1;
	lw_fmt_time(lw_now_wall_ns(), t, sizeof(t));
	el = (size_t)snprintf(extra, sizeof(extra),
			      "Lw-Dead-Reason: %s\r\nLw-Dead-Time: %s\r\nLw-Dead-Stream: %s\r\n"
			      "Lw-Dead-Stream-Seq: %llu\r\nLw-Dead-Consumer: %s\r\n"
			      "Lw-Dead-Deliveries: %u\r\n", reason, t, s->name,
			      (unsigned long long)seq, consumer, deliveries);
	hdr = malloc(r.hdr_len + el + 16);
	if (hdr == NULL) {
		lw_store_rec_free(&r);
		return -1;
	}
	/* The original block minus its final CRLF, our lines, the CRLF. */
	if (r.hdr_len >= 12) {
		memcpy(hdr, r.hdr, r.hdr_len - 2);
		hl = r.hdr_len - 2;
	} else {
		memcpy(hdr, "NATS/1.0\r\n", 10);
		hl = 10;
	}
	memcpy(hdr + hl, extra, el);
	hl += el;
	memcpy(hdr + hl, "\r\n", 2);
	hl += 2;
	q = lw_store_append(d->st, r.subject, hdr, hl, r.data, r.data_len, lw_now_wall_ns());
	free(hdr);
	lw_store_rec_free(&r);
	if (q < 0)
		return -1;
	if (s->ctl->sync == LW_SYNC_ALWAYS)
		lw_store_sync(d->st);
	/* It died: a work queue or interest stream lets it go. */
	if (s->lim.retention != LW_RET_LIMITS)
		lw_store_remove(s->st, seq, true);
	lw_consumers_notify(d);
	return 0;
}

/* Copies @p hdr without the Lw-Dead-* lines; returns the new length
 * (0 when only the status line would remain). */
static size_t strip_dead(const char *hdr, size_t len, char *out)
{
	const char *p = hdr, *end = hdr + len;
	size_t n = 0, status_len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);

		if (!(ll >= 8 && strncasecmp(p, "Lw-Dead-", 8) == 0)) {
			memcpy(out + n, p, ll);
			n += ll;
		}
		p += ll;
	}
	status_len = 10; /* "NATS/1.0\r\n" */
	return n <= status_len + 2 ? 0 : n;
}

json_t *lw_stream_redrive(struct lw_ctl *ctl, struct lw_stream *s, uint64_t only_seq)
{
	const char *type = "io.lightwire.api.v1.stream_redrive_response";
	struct lw_stream *d = dlq_of(ctl, s, false);
	uint64_t n = 0;

	if (d != NULL) {
		for (uint64_t q = lw_store_next(d->st, only_seq, NULL); q != 0;
		     q = only_seq ? 0 : lw_store_next(d->st, q + 1, NULL)) {
			struct lw_store_rec r;
			char *h;
			size_t hl = 0;

			if (only_seq != 0 && q != only_seq)
				break;
			if (lw_store_get(d->st, q, &r) != 0)
				continue;
			h = malloc(r.hdr_len + 1);
			if (h != NULL && r.hdr_len > 0)
				hl = strip_dead(r.hdr, r.hdr_len, h);
			if (h != NULL && lw_store_append(s->st, r.subject, hl ? h : NULL, hl, r.data,
							 r.data_len, lw_now_wall_ns()) > 0) {
				lw_store_remove(d->st, q, true);
				n++;
			}
			free(h);
			lw_store_rec_free(&r);
		}
		if (ctl->sync == LW_SYNC_ALWAYS) {
			lw_store_sync(s->st);
			lw_store_sync(d->st);
		}
		lw_consumers_notify(s);
	}
	return json_pack("{s:s, s:s, s:I}", "type", type, "stream", s->name, "redriven",
			 (json_int_t)n);
}
