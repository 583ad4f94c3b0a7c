/* SPDX-License-Identifier: MIT */
/*
 * Streams of lw-control: create / reopen / delete, the publish path
 * (expectations, Nats-Msg-Id de-duplication, limits, append, PubAck) and
 * the time-driven work (max_age, duplicate window, group commit). Dead
 * letters are in lw_ctl_dlq.c.
 *
 * On disk, per stream:  <store-dir>/<name>/meta.json   config + created
 *                       <store-dir>/<name>/msgs/        lw_store segments
 *                       <store-dir>/<name>/consumers/   one JSON per durable
 *
 * Publish path, one message per call on the dispatcher thread: checks ->
 * head removal for discard old -> lw_store_append (into the store's write
 * buffer) -> PubAck queued. At the end of a batch (the subscription's ring
 * is empty, or 256 acks wait, or the 5 ms timer) lw_ctl_flush_acks writes
 * each stream's buffer with one write (and one fdatasync under fsync
 * "always": group commit), then sends the PubAcks and wakes consumers: a
 * burst costs one write and at most one sync, and nothing is acknowledged
 * or delivered before it is in the file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lw_ctl.h"

#define ACK_BATCH 256

struct lw_stream *lw_stream_find(struct lw_ctl *ctl, const char *name)
{
	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

bool lw_subjects_overlap(const char *a, const char *b)
{
	for (;;) {
		const char *ae = strchr(a, '.'), *be = strchr(b, '.');
		size_t al = ae ? (size_t)(ae - a) : strlen(a), bl = be ? (size_t)(be - b) : strlen(b);

		if ((al == 1 && *a == '>') || (bl == 1 && *b == '>'))
			return true;
		if (!(al == 1 && *a == '*') && !(bl == 1 && *b == '*') &&
		    (al != bl || memcmp(a, b, al) != 0))
			return false;
		if (ae == NULL || be == NULL)
			return ae == NULL && be == NULL;
		a = ae + 1;
		b = be + 1;
	}
}

bool lw_stream_overlaps(struct lw_ctl *ctl, const json_t *subjects, const char *skip)
{
	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next) {
		json_t *mine = json_object_get(s->cfg, "subjects");
		size_t i, j;
		json_t *a, *b;

		if (skip != NULL && strcmp(s->name, skip) == 0)
			continue;
		json_array_foreach(subjects, i, a)
			json_array_foreach(mine, j, b)
				if (lw_subjects_overlap(json_string_value(a), json_string_value(b)))
					return true;
	}
	return false;
}

/* --- acks ------------------------------------------------------------------ */

void lw_ctl_queue_ack(struct lw_ctl *ctl, const char *reply, char *body, struct lw_stream *s,
		      uint64_t seq)
{
	if (ctl->n_acks == ctl->cap_acks) {
		size_t nc = ctl->cap_acks ? ctl->cap_acks * 2 : 64;
		struct lw_pending_ack *na = realloc(ctl->acks, nc * sizeof(*na));

		if (na == NULL) {
			free(body);
			return;
		}
		ctl->acks = na;
		ctl->cap_acks = nc;
	}
	ctl->acks[ctl->n_acks] = (struct lw_pending_ack){ .reply = strdup(reply), .body = body,
							   .s = s, .seq = seq };
	ctl->n_acks++;
}

/* The PubAcks still held back for @p s's messages from @p from on become
 * errors: those messages were not stored (their sequences go to the next
 * messages, whose own PubAcks are queued after this and stay good). */
static void fail_pending_acks(struct lw_stream *s, uint64_t from, int err)
{
	struct lw_ctl *ctl = s->ctl;

	for (size_t i = 0; i < ctl->n_acks; i++) {
		struct lw_pending_ack *a = &ctl->acks[i];
		char body[160];

		if (a->s != s || a->seq < from)
			continue;
		snprintf(body, sizeof(body), "{\"error\":{\"code\":503,\"err_code\":10077,"
			 "\"description\":\"store write failed: %s\"}}", strerror(err ? err : EIO));
		free(a->body);
		a->body = strdup(body);
		a->s = NULL; /* settled: a later rollback to a lower sequence skips it */
	}
}

/* A failed write took messages from @p from on out of the store: they
 * were never acknowledged; forget their Nats-Msg-Ids, make consumers read
 * those sequences again (the store gives them to new messages) and turn
 * their held-back PubAcks into errors. */
static void rolled_back(struct lw_stream *s, uint64_t from, int err)
{
	const char *id;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(s->dedup, tmp, id, v)
		if ((uint64_t)json_integer_value(v) >= from)
			json_object_del(s->dedup, id);
	lw_consumers_rewind(s, from);
	fail_pending_acks(s, from, err);
}

/* A full disk fails every publish: one line a second, not one each. */
static void write_failed_log(struct lw_stream *s, int err)
{
	int64_t now = lw_now_wall_ns();

	if (now - s->fail_logged_ns < 1000000000LL) {
		s->fail_unlogged++;
		return;
	}
	if (s->fail_unlogged > 0)
		fprintf(stderr, "lw-control: stream %s: store write failed: %s (and %llu more"
			" failures since the last line)\n", s->name, strerror(err),
			(unsigned long long)s->fail_unlogged);
	else
		fprintf(stderr, "lw-control: stream %s: store write failed: %s\n", s->name,
			strerror(err));
	s->fail_logged_ns = now;
	s->fail_unlogged = 0;
}

/*
 * The end of a batch: writes what the streams gathered (one write per
 * stream), syncs under fsync "always" (group commit), then sends the
 * PubAcks held back meanwhile and lets consumers see the new messages. A
 * publisher is told "stored" only once its message is in the file; one
 * whose write failed (disk full) gets error 10077 instead.
 */
void lw_ctl_flush_acks(struct lw_ctl *ctl)
{
	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next) {
		uint64_t from = lw_store_unflushed_from(s->st), back;
		int rc = 0;

		if (ctl->sync == LW_SYNC_ALWAYS) {
			if (lw_store_dirty(s->st))
				rc = lw_store_sync(s->st);
		} else {
			rc = lw_store_flush(s->st);
		}
		back = lw_store_take_rollback(s->st);
		if (back != 0)
			rolled_back(s, back, -rc);
		/* A failed sync after a good write: nothing is known durable. */
		else if (rc != 0)
			fail_pending_acks(s, from != 0 ? from : 1, -rc);
		if (rc != 0)
			write_failed_log(s, -rc);
	}
	for (size_t i = 0; i < ctl->n_acks; i++) {
		struct lw_pending_ack *a = &ctl->acks[i];

		if (a->reply != NULL && a->body != NULL) {
			struct lw_pubmsg pm = { .subject = a->reply, .data = a->body,
						.len = strlen(a->body) };

			lw_publish_msg(ctl->c, &pm);
		}
		free(a->reply);
		free(a->body);
	}
	ctl->n_acks = 0;
	ctl->unflushed = false;
	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next)
		if (s->notify) {
			s->notify = false;
			lw_consumers_notify(s);
		}
}

/* Sends a PubAck (or queues it for the group commit). */
static void send_ack(struct lw_stream *s, const char *reply, json_t *body)
{
	struct lw_ctl *ctl = s->ctl;

	if (reply == NULL || *reply == '\0' || s->lim.no_ack) {
		json_decref(body);
		return;
	}
	/* nats-server's refused PubAck names the stream, with seq 0 */
	if (json_object_get(body, "error") != NULL && json_object_get(body, "stream") == NULL) {
		json_object_set_new(body, "stream", json_string(s->name));
		json_object_set_new(body, "seq", json_integer(0));
	}
	if (ctl->sync == LW_SYNC_ALWAYS && json_object_get(body, "error") == NULL) {
		lw_ctl_queue_ack(ctl, reply, json_dumps(body, JSON_COMPACT), NULL, 0);
		json_decref(body);
		return;
	}
	lw_ctl_reply_json(ctl, reply, body);
}

/* The success PubAck, formatted without jansson: it is the hot path. */
static void send_ack_ok(struct lw_stream *s, const char *reply, uint64_t seq, bool dup)
{
	struct lw_ctl *ctl = s->ctl;
	char body[2 * LW_JS_NAME_MAX + 96], name[2 * LW_JS_NAME_MAX + 1];
	size_t k = 0;

	if (reply == NULL || *reply == '\0' || s->lim.no_ack)
		return;
	/* A name may hold '"' or '\\' (nats-server allows them): escaped,
	 * or the PubAck would not be JSON, or say what the name wrote. */
	for (const char *p = s->name; *p; p++) {
		if (*p == '"' || *p == '\\')
			name[k++] = '\\';
		name[k++] = *p;
	}
	name[k] = '\0';
	snprintf(body, sizeof(body), "{\"stream\":\"%s\",\"seq\":%llu%s}", name,
		 (unsigned long long)seq, dup ? ",\"duplicate\":true" : "");
	/* Sent once the message is written: lw_ctl_flush_acks. */
	lw_ctl_queue_ack(ctl, reply, strdup(body), s, seq);
}

static json_t *pub_err(int code, int err_code, const char *desc)
{
	return json_pack("{s:{s:i, s:i, s:s}}", "error", "code", code, "err_code", err_code,
			 "description", desc);
}

/* --- dedup ------------------------------------------------------------------ */

static void dedup_add(struct lw_stream *s, const char *id, uint64_t seq, int64_t ts)
{
	if (s->dq_len == s->dq_cap) {
		size_t nc = s->dq_cap ? s->dq_cap * 2 : 256;
		struct lw_dedup_ent *nq = malloc(nc * sizeof(*nq));

		if (nq == NULL)
			return;
		for (size_t i = 0; i < s->dq_len; i++)
			nq[i] = s->dq[(s->dq_head + i) % s->dq_cap];
		free(s->dq);
		s->dq = nq;
		s->dq_cap = nc;
		s->dq_head = 0;
	}
	s->dq[(s->dq_head + s->dq_len) % s->dq_cap] =
		(struct lw_dedup_ent){ .ts = ts, .seq = seq, .id = strdup(id) };
	s->dq_len++;
	json_object_set_new(s->dedup, id, json_integer((json_int_t)seq));
}

static void dedup_expire(struct lw_stream *s, int64_t now)
{
	while (s->dq_len > 0) {
		struct lw_dedup_ent *e = &s->dq[s->dq_head];
		json_t *v;

		if (e->ts >= now - s->lim.duplicate_window_ns)
			break;
		v = json_object_get(s->dedup, e->id);
		if (v != NULL && (uint64_t)json_integer_value(v) == e->seq)
			json_object_del(s->dedup, e->id);
		free(e->id);
		s->dq_head = (s->dq_head + 1) % s->dq_cap;
		s->dq_len--;
	}
}

/* Rebuilds the window from the stored headers after a restart. */
static void dedup_rebuild(struct lw_stream *s)
{
	int64_t now = lw_now_wall_ns();
	uint64_t q = lw_store_seq_at_time(s->st, now - s->lim.duplicate_window_ns);

	for (; q != 0; q = lw_store_next(s->st, q + 1, NULL)) {
		struct lw_store_rec r;
		char id[LW_HDR_VALUE_MAX + 1];

		if (lw_store_get(s->st, q, &r) != 0)
			continue;
		if (r.hdr_len > 0 && lw_hdr_get(r.hdr, r.hdr_len, "Nats-Msg-Id", id, sizeof(id)) > 0)
			dedup_add(s, id, q, r.ts);
		lw_store_rec_free(&r);
	}
}

/* --- publish path ---------------------------------------------------------------- */

static void ingest(struct lw_stream *s, const lw_msg *m)
{
	const char *subj = lw_msg_subject(m), *reply = lw_msg_reply(m);
	size_t hl = 0, dl = lw_msg_len(m);
	const void *hdr = lw_msg_headers(m, &hl);
	struct lw_stream_limits *l = &s->lim;
	struct lw_store_state st;
	char id[LW_HDR_VALUE_MAX + 1] = "", v[LW_HDR_VALUE_MAX + 1], desc[128];
	int64_t now = lw_now_wall_ns(), seq;
	bool have_id = false;
	int rollup = 0; /* 1: Nats-Rollup sub, 2: all */

	lw_store_get_state(s->st, &st);
	/* Timestamps never go backwards in a stream, so time lookups can
	 * bisect: the wall clock can (an NTP step). */
	if (now < st.last_ts)
		now = st.last_ts;
	if (l->sealed) {
		send_ack(s, reply, pub_err(400, 10109, "invalid operation on sealed stream"));
		return;
	}
	if (l->max_msg_size > 0 && (int64_t)(hl + dl) > l->max_msg_size) {
		send_ack(s, reply, pub_err(400, 10054, "message size exceeds maximum allowed"));
		return;
	}
	if (hdr != NULL && hl > 0) {
		/* An expectation or id too long to read is refused, not
		 * ignored: a publish must not skip a check it asked for. */
		static const char *const checked[] = {
			"Nats-Msg-Id", "Nats-Expected-Stream", "Nats-Expected-Last-Sequence",
			"Nats-Expected-Last-Subject-Sequence", "Nats-Expected-Last-Msg-Id",
			"Nats-Rollup",
		};

		for (size_t i = 0; i < sizeof(checked) / sizeof(checked[0]); i++)
			if (lw_hdr_get(hdr, hl, checked[i], v, sizeof(v)) == -2) {
				snprintf(desc, sizeof(desc), "bad request: header %s is longer than "
					 "%d bytes", checked[i], LW_HDR_VALUE_MAX);
				send_ack(s, reply, pub_err(400, 10003, desc));
				return;
			}
		if (lw_hdr_get(hdr, hl, "Nats-Expected-Stream", v, sizeof(v)) > 0 &&
		    strcmp(v, s->name) != 0) {
			send_ack(s, reply, pub_err(400, 10060, "expected stream does not match"));
			return;
		}
		if (lw_hdr_get(hdr, hl, "Nats-Expected-Last-Sequence", v, sizeof(v)) > 0 &&
		    strtoull(v, NULL, 10) != st.last_seq) {
			snprintf(desc, sizeof(desc), "wrong last sequence: %llu",
				 (unsigned long long)st.last_seq);
			send_ack(s, reply, pub_err(400, 10071, desc));
			return;
		}
		if (lw_hdr_get(hdr, hl, "Nats-Expected-Last-Subject-Sequence", v, sizeof(v)) > 0) {
			uint64_t last = lw_store_last(s->st, subj);

			if (strtoull(v, NULL, 10) != last) {
				snprintf(desc, sizeof(desc), "wrong last sequence: %llu",
					 (unsigned long long)last);
				send_ack(s, reply, pub_err(400, 10071, desc));
				return;
			}
		}
		if (lw_hdr_get(hdr, hl, "Nats-Expected-Last-Msg-Id", v, sizeof(v)) >= 0) {
			const char *last_id = s->dq_len ?
				s->dq[(s->dq_head + s->dq_len - 1) % s->dq_cap].id : "";
			bool last_is = s->dq_len &&
				s->dq[(s->dq_head + s->dq_len - 1) % s->dq_cap].seq == st.last_seq;

			if (strcmp(v, last_is ? last_id : "") != 0) {
				snprintf(desc, sizeof(desc), "wrong last msg ID: %s", last_is ? last_id : "");
				send_ack(s, reply, pub_err(400, 10070, desc));
				return;
			}
		}
		have_id = lw_hdr_get(hdr, hl, "Nats-Msg-Id", id, sizeof(id)) > 0;
		/* Nats-Rollup: this message replaces every earlier one on its
		 * subject ("sub", a key-value purge) or in the stream ("all"),
		 * as nats-server does: only where the stream allows it. */
		if (lw_hdr_get(hdr, hl, "Nats-Rollup", v, sizeof(v)) > 0) {
			if (!l->allow_rollup || l->deny_purge) {
				send_ack(s, reply, pub_err(500, 10111, "rollup not permitted"));
				return;
			}
			if (strcasecmp(v, "sub") == 0) {
				rollup = 1;
			} else if (strcasecmp(v, "all") == 0) {
				rollup = 2;
			} else {
				snprintf(desc, sizeof(desc), "rollup value invalid: \"%.64s\"", v);
				send_ack(s, reply, pub_err(500, 10111, desc));
				return;
			}
		}
	}
	if (have_id) {
		json_t *dup;

		dedup_expire(s, now);
		dup = json_object_get(s->dedup, id);
		if (dup != NULL) {
			send_ack_ok(s, reply, (uint64_t)json_integer_value(dup), true);
			return;
		}
	}
	uint64_t rsz = lw_store_rec_size(s->st, strlen(subj), hl, dl);

	/* One message larger than the whole stream may hold: with discard
	 * old it would push out every acknowledged message and still not
	 * fit. Refused instead; nothing stored goes. */
	if (l->max_bytes > 0 && (int64_t)rsz > l->max_bytes) {
		send_ack(s, reply, pub_err(400, 10054, "message size exceeds maximum allowed"));
		return;
	}
	if (l->discard_new) {
		const char *why = NULL;

		if (l->max_msgs > 0 && (int64_t)st.msgs + 1 > l->max_msgs)
			why = "maximum messages exceeded";
		else if (l->max_bytes > 0 && (int64_t)(st.bytes + rsz) > l->max_bytes)
			why = "maximum bytes exceeded";
		else if (l->discard_new_per_subject && l->max_msgs_per_subject > 0 &&
			 (int64_t)lw_store_subject_msgs(s->st, subj) >= l->max_msgs_per_subject)
			why = "maximum messages per subject exceeded";
		if (why != NULL) {
			send_ack(s, reply, pub_err(503, 10077, why));
			return;
		}
	} else {
		while (l->max_msgs > 0 && st.msgs > 0 && (int64_t)st.msgs >= l->max_msgs) {
			lw_store_remove(s->st, st.first_seq, false);
			lw_store_get_state(s->st, &st);
		}
		while (l->max_bytes > 0 && st.msgs > 0 && (int64_t)(st.bytes + rsz) > l->max_bytes) {
			lw_store_remove(s->st, st.first_seq, false);
			lw_store_get_state(s->st, &st);
		}
	}
	if (l->max_msgs_per_subject > 0) {
		while ((int64_t)lw_store_subject_msgs(s->st, subj) >= l->max_msgs_per_subject) {
			uint64_t q = lw_store_next(s->st, 0, subj);

			if (q == 0)
				break;
			lw_store_get_state(s->st, &st);
			lw_store_remove(s->st, q, q != st.first_seq);
		}
	}
	seq = lw_store_append(s->st, subj, hdr, hl, lw_msg_data(m), dl, now);
	if (seq < 0) {
		uint64_t back = lw_store_take_rollback(s->st);

		/* The append's write of the batch before it failed. */
		if (back != 0)
			rolled_back(s, back, (int)-seq);
		snprintf(desc, sizeof(desc), "store write failed: %s", strerror((int)-seq));
		write_failed_log(s, (int)-seq);
		send_ack(s, reply, pub_err(503, 10077, desc));
		return;
	}
	if (rollup != 0) {
		int64_t pr = lw_store_purge(s->st, (uint64_t)seq, rollup == 1 ? subj : NULL);

		if (pr < 0)
			fprintf(stderr, "lw-control: stream %s: rollup before %lld failed: %s\n",
				s->name, (long long)seq, strerror((int)-pr));
		else
			lw_consumers_removed(s);
	}
	if (have_id)
		dedup_add(s, id, (uint64_t)seq, now);
	send_ack_ok(s, reply, (uint64_t)seq, false);
	/* Interest retention keeps a message only while a consumer is to
	 * take it: with none, it is acknowledged (it has its sequence) and
	 * let go at once, as nats-server does. */
	if (l->retention == LW_RET_INTEREST)
		lw_stream_acked(s, (uint64_t)seq);
	s->notify = true;
	s->ctl->unflushed = true;
}

static void stream_msg_cb(lw_sub *sub, lw_msg *m, void *arg)
{
	struct lw_stream *s = arg;
	struct lw_ctl *ctl = s->ctl;
	struct lw_sub_stats ss;

	pthread_mutex_lock(&ctl->mu);
	lw_consumers_retry(s);
	ingest(s, m);
	if ((ctl->n_acks > 0 || ctl->unflushed) &&
	    (ctl->n_acks >= ACK_BATCH || lw_sub_stats(sub, &ss) != LW_OK || ss.depth == 0))
		lw_ctl_flush_acks(ctl);
	pthread_mutex_unlock(&ctl->mu);
}

/* --- lifecycle ----------------------------------------------------------------- */

static int write_file_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	size_t n = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
		int e = errno ? errno : EIO;

		close(fd);
		unlink(tmp);
		return -e;
	}
	close(fd);
	if (rename(tmp, path) != 0)
		return -errno;
	return 0;
}

static int save_meta(struct lw_ctl *ctl, struct lw_stream *s)
{
	char path[PATH_MAX];
	json_t *meta = json_pack("{s:O, s:I}", "config", s->cfg, "created_ns",
				 (json_int_t)s->created_ns);
	char *text = json_dumps(meta, JSON_INDENT(2));
	int rc;

	snprintf(path, sizeof(path), "%s/%s/meta.json", ctl->store_dir, s->name);
	rc = text ? write_file_atomic(path, text) : -ENOMEM;
	free(text);
	json_decref(meta);
	return rc;
}

static void stream_free(struct lw_stream *s)
{
	for (size_t i = 0; i < s->n_subs; i++)
		if (s->subs[i] != NULL)
			lw_unsubscribe(s->subs[i]);
	free(s->subs);
	for (size_t i = 0; i < s->dq_len; i++)
		free(s->dq[(s->dq_head + i) % s->dq_cap].id);
	free(s->dq);
	json_decref(s->dedup);
	json_decref(s->cfg);
	free(s);
}

/* Drops the head beyond max_msgs / max_bytes and what max_age let go.
 * Head removal carries no marker (the next append records the first
 * sequence), so a restart applies it again from the config. */
static void trim(struct lw_stream *s, bool per_subject)
{
	struct lw_store_state st;

	lw_store_get_state(s->st, &st);
	while (s->lim.max_msgs > 0 && (int64_t)st.msgs > s->lim.max_msgs) {
		lw_store_remove(s->st, st.first_seq, false);
		lw_store_get_state(s->st, &st);
	}
	while (s->lim.max_bytes > 0 && (int64_t)st.bytes > s->lim.max_bytes && st.msgs > 0) {
		lw_store_remove(s->st, st.first_seq, false);
		lw_store_get_state(s->st, &st);
	}
	if (per_subject && s->lim.max_msgs_per_subject > 0) {
		/* A limit lowered by an update: keep the newest of each
		 * subject, as nats-server does (with markers: these are not
		 * the head of the log). */
		json_t *seen = json_object();

		for (uint64_t q = st.last_seq; q >= st.first_seq && q > 0; q--) {
			const char *sj = lw_store_subject(s->st, q);
			json_int_t n;

			if (sj == NULL)
				continue;
			n = json_integer_value(json_object_get(seen, sj)) + 1;
			json_object_set_new(seen, sj, json_integer(n));
			if (n > s->lim.max_msgs_per_subject)
				lw_store_remove(s->st, q, true);
		}
		json_decref(seen);
	}
	lw_stream_expire(s, lw_now_wall_ns());
}

static void rm_tree(const char *path);

/* Removes what a refused create of stream @p name wrote. */
static void drop_dir(const struct lw_ctl *ctl, const char *name)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s", ctl->store_dir, name);
	rm_tree(dir);
}

struct lw_stream *lw_stream_create(struct lw_ctl *ctl, const char *name, json_t *cfg,
				   int64_t created_ns, bool load, json_t **err)
{
	return lw_stream_create_ex(ctl, name, cfg, created_ns, load, !load, err);
}

struct lw_stream *lw_stream_create_ex(struct lw_ctl *ctl, const char *name, json_t *cfg,
				      int64_t created_ns, bool load, bool subscribe, json_t **err)
{
	struct lw_stream *s = calloc(1, sizeof(*s));
	struct lw_store_opts so = { 0 };
	struct lw_store_recovery rep;
	char dir[PATH_MAX];
	int rc;

	if (s == NULL)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->ctl = ctl;
	s->cfg = json_incref(cfg);
	s->created_ns = created_ns;
	s->dedup = json_object();
	lw_stream_limits_from(cfg, &s->lim);
	snprintf(dir, sizeof(dir), "%s/%s", ctl->store_dir, name);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		*err = lw_js_error("", 500, 10049, "cannot create %s: %s", dir, strerror(errno));
		stream_free(s);
		return NULL;
	}
	snprintf(dir, sizeof(dir), "%s/%s/msgs", ctl->store_dir, name);
	so.kind = strcmp(json_string_value(json_object_get(cfg, "storage")), "memory") == 0 ?
		  LW_STORE_MEMORY : LW_STORE_FILE;
	so.dir = dir;
	/* Under "always" the stream syncs once per batch of acks (group
	 * commit) instead of once per append: same guarantee for PubAcks. */
	so.sync = ctl->sync == LW_SYNC_ALWAYS ? LW_SYNC_INTERVAL : ctl->sync;
	so.segment_bytes = ctl->segment_bytes;
	s->st = lw_store_open(&so, &rep);
	if (s->st == NULL) {
		*err = lw_js_error("", 500, 10049, "cannot open the store of %s: %s", name,
				   lw_errmsg());
		stream_free(s);
		return NULL;
	}
	if (load && (rep.torn_bytes || rep.corrupt_records))
		fprintf(stderr, "lw-control: stream %s: %llu records, %llu torn bytes truncated, "
			"%llu corrupt records skipped\n", name, (unsigned long long)rep.records,
			(unsigned long long)rep.torn_bytes, (unsigned long long)rep.corrupt_records);
	if (!load && (rc = save_meta(ctl, s)) != 0) {
		*err = lw_js_error("", 500, 10049, "cannot write the config of %s: %s", name,
				   strerror(-rc));
		lw_store_destroy(s->st);
		stream_free(s);
		drop_dir(ctl, name);
		return NULL;
	}
	if (load) {
		trim(s, false);
		dedup_rebuild(s);
	}
	/* Reopened streams subscribe later, outside the state lock (see
	 * lw_stream_subscribe). */
	if (subscribe && lw_stream_subscribe(ctl, s, err) != 0) {
		lw_store_destroy(s->st);
		stream_free(s);
		/* a refused create leaves nothing that the next start would
		 * load */
		if (!load)
			drop_dir(ctl, name);
		return NULL;
	}
	s->next = ctl->streams;
	ctl->streams = s;
	lw_consumers_load(s);
	return s;
}

int lw_stream_subscribe(struct lw_ctl *ctl, struct lw_stream *s, json_t **err)
{
	json_t *subj = json_object_get(s->cfg, "subjects"), *v;
	size_t i;

	if (s->subs != NULL)
		return 0;
	s->subs = calloc(json_array_size(subj) + 1, sizeof(*s->subs));
	if (s->subs == NULL)
		return -1;
	json_array_foreach(subj, i, v) {
		struct lw_sub_opts o;

		lw_sub_opts_init(&o);
		o.cb = stream_msg_cb;
		o.cb_arg = s;
		if (lw_subscribe(ctl->c, json_string_value(v), &o, &s->subs[i]) != LW_OK) {
			*err = lw_js_error("", 500, 10049, "cannot subscribe to %s: %s",
					   json_string_value(v), lw_errmsg());
			for (size_t k = 0; k < s->n_subs; k++)
				lw_unsubscribe(s->subs[k]);
			free(s->subs);
			s->subs = NULL;
			s->n_subs = 0;
			return -1;
		}
		s->n_subs++;
	}
	return 0;
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			char p[PATH_MAX];

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
			if (de->d_type == DT_DIR)
				rm_tree(p);
			else
				unlink(p);
		}
		closedir(d);
		rmdir(path);
	}
}

int lw_stream_delete(struct lw_ctl *ctl, struct lw_stream *s)
{
	char dir[PATH_MAX];

	/* Held-back PubAcks point at their stream: answer them first. */
	lw_ctl_flush_acks(ctl);
	for (struct lw_stream **pp = &ctl->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	lw_consumers_free(s, true);
	lw_store_destroy(s->st);
	snprintf(dir, sizeof(dir), "%s/%s", ctl->store_dir, s->name);
	rm_tree(dir);
	stream_free(s);
	return 0;
}

int lw_streams_load(struct lw_ctl *ctl)
{
	DIR *d = opendir(ctl->store_dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		json_t *meta, *err = NULL;
		json_error_t je;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/meta.json", ctl->store_dir, de->d_name);
		meta = json_load_file(path, 0, &je);
		if (meta == NULL || !json_is_object(json_object_get(meta, "config"))) {
			struct stat sb;
			char dir[PATH_MAX];

			/* A stream directory whose config is unreadable: its
			 * messages are still there; say so rather than serve
			 * one stream fewer without a word. */
			snprintf(dir, sizeof(dir), "%s/%s", ctl->store_dir, de->d_name);
			if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
				fprintf(stderr, "lw-control: stream %s not loaded: %s: %s (its"
					" messages are kept in %s/msgs; adding the stream again"
					" with its config serves them)\n", de->d_name, path,
					meta == NULL ? je.text : "no \"config\" object", dir);
			json_decref(meta);
			continue;
		}
		if (lw_stream_create(ctl, de->d_name, json_object_get(meta, "config"),
				     json_integer_value(json_object_get(meta, "created_ns")), true,
				     &err) != NULL) {
			n++;
		} else {
			fprintf(stderr, "lw-control: stream %s not loaded: %s\n", de->d_name,
				json_string_value(json_object_get(json_object_get(err, "error"),
								  "description")));
			json_decref(err);
		}
		json_decref(meta);
	}
	closedir(d);
	return n;
}

/* --- time-driven work ------------------------------------------------------------ */

void lw_stream_expire(struct lw_stream *s, int64_t now)
{
	if (s->lim.max_age_ns > 0) {
		struct lw_store_state st;

		lw_store_get_state(s->st, &st);
		while (st.msgs > 0 && st.first_ts < now - s->lim.max_age_ns) {
			lw_store_remove(s->st, st.first_seq, false);
			lw_store_get_state(s->st, &st);
		}
	}
	dedup_expire(s, now);
}

void lw_stream_acked(struct lw_stream *s, uint64_t seq)
{
	if (s->lim.retention == LW_RET_LIMITS)
		return;
	/* Work queue: the one consumer's ack removes it. Interest: the last
	 * of the consumers whose filter matches it does. */
	if (s->lim.retention == LW_RET_INTEREST && !lw_consumers_all_acked(s, seq))
		return;
	lw_store_remove(s->st, seq, true);
}

void lw_stream_interest_sweep(struct lw_stream *s)
{
	struct lw_store_state st;

	if (s->lim.retention != LW_RET_INTEREST)
		return;
	lw_store_get_state(s->st, &st);
	for (uint64_t q = st.first_seq; q <= st.last_seq && q > 0; q++)
		if (lw_store_subject(s->st, q) != NULL)
			lw_stream_acked(s, q);
}

int lw_stream_update(struct lw_ctl *ctl, struct lw_stream *s, json_t *cfg, json_t **err)
{
	json_t *old_subj = json_object_get(s->cfg, "subjects"), *subj = json_object_get(cfg, "subjects");
	lw_sub **subs = NULL;
	size_t i, n = 0;
	json_t *v;

	if (!json_equal(old_subj, subj)) {
		subs = calloc(json_array_size(subj), sizeof(*subs));
		json_array_foreach(subj, i, v) {
			struct lw_sub_opts o;

			lw_sub_opts_init(&o);
			o.cb = stream_msg_cb;
			o.cb_arg = s;
			if (subs == NULL ||
			    lw_subscribe(ctl->c, json_string_value(v), &o, &subs[i]) != LW_OK) {
				*err = lw_js_error("", 500, 10049, "cannot subscribe to %s",
						   json_string_value(v));
				for (size_t k = 0; k < n; k++)
					lw_unsubscribe(subs[k]);
				free(subs);
				return -1;
			}
			n++;
		}
		for (i = 0; i < s->n_subs; i++)
			lw_unsubscribe(s->subs[i]);
		free(s->subs);
		s->subs = subs;
		s->n_subs = n;
	}
	int64_t old_per_subj = s->lim.max_msgs_per_subject;

	json_decref(s->cfg);
	s->cfg = json_incref(cfg);
	lw_stream_limits_from(cfg, &s->lim);
	save_meta(ctl, s);
	/* Lowered limits apply at once. */
	trim(s, s->lim.max_msgs_per_subject > 0 &&
		(old_per_subj <= 0 || s->lim.max_msgs_per_subject < old_per_subj));
	lw_consumers_removed(s);
	return 0;
}
