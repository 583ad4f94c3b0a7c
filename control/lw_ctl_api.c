/* SPDX-License-Identifier: MIT */
/*
 * The $JS.API.> request handlers: account INFO and the STREAM.* family;
 * CONSUMER.* goes to lw_ctl_consumer.c. Each request runs on the
 * dispatcher thread under lw_ctl.mu and is answered on its reply subject
 * with the JSON document of nats-server (types io.nats.jetstream.api.v1.*,
 * errors with code / err_code / description from errors.json).
 *
 * An API subject lw-control does not serve is answered with a NATS/1.0 503
 * status, what a client sees from nats-server for a subject nobody serves
 * (nats.c reports it as "no responders").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_ctl.h"

#define T(x) "io.nats.jetstream.api.v1." x

static void set_type(json_t *o, const char *type)
{
	json_object_set_new(o, "type", json_string(type));
}

static json_t *err_typed(json_t *err, const char *type)
{
	set_type(err, type);
	return err;
}

static int64_t req_int(const json_t *r, const char *k, int64_t def)
{
	json_t *v = json_object_get(r, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static const char *req_str(const json_t *r, const char *k)
{
	json_t *v = json_object_get(r, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *account_info(struct lw_ctl *ctl)
{
	uint64_t mem = 0, file = 0;
	int streams = 0, consumers = 0;

	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next) {
		struct lw_store_state st;

		lw_store_get_state(s->st, &st);
		if (strcmp(json_string_value(json_object_get(s->cfg, "storage")), "memory") == 0)
			mem += st.bytes;
		else
			file += st.bytes;
		streams++;
		consumers += lw_consumer_count(s);
	}
	return json_pack("{s:s, s:I, s:I, s:i, s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b},"
			 " s:{s:i, s:I, s:I}}",
			 "type", T("account_info_response"), "memory", (json_int_t)mem,
			 "storage", (json_int_t)file, "streams", streams, "consumers", consumers,
			 "limits", "max_memory", -1, "max_storage", -1, "max_streams", -1,
			 "max_consumers", -1, "max_ack_pending", -1, "memory_max_stream_bytes", -1,
			 "storage_max_stream_bytes", -1, "max_bytes_required", 0,
			 /* the requests before this one, as nats-server counts */
			 "api", "level", 1, "total", (json_int_t)(ctl->api_total - 1),
			 "errors", (json_int_t)ctl->api_errors);
}

static json_t *stream_create(struct lw_ctl *ctl, const char *name, const json_t *req, bool update)
{
	const char *type = update ? T("stream_update_response") : T("stream_create_response");
	struct lw_stream *s = lw_stream_find(ctl, name);
	json_t *err = NULL, *cfg, *resp;

	if (req == NULL)
		return lw_js_error(type, 400, 10025, "invalid JSON: request body required");
	cfg = lw_stream_cfg_normalise(req, name, &err);
	if (cfg == NULL)
		return err_typed(err, type);
	if (update) {
		if (s == NULL) {
			json_decref(cfg);
			return lw_js_error(type, 404, 10059, "stream not found");
		}
		if (!json_equal(json_object_get(cfg, "storage"), json_object_get(s->cfg, "storage"))) {
			json_decref(cfg);
			return lw_js_error(type, 500, 10052,
					   "stream configuration update can not change storage type");
		}
		if (!json_equal(json_object_get(cfg, "retention"), json_object_get(s->cfg, "retention"))) {
			json_decref(cfg);
			return lw_js_error(type, 500, 10052,
					   "stream configuration update can not change retention policy");
		}
		if (s->lim.sealed && !json_is_true(json_object_get(cfg, "sealed"))) {
			json_decref(cfg);
			return lw_js_error(type, 500, 10052,
					   "stream configuration update can not unseal a sealed stream");
		}
		if (lw_stream_overlaps(ctl, json_object_get(cfg, "subjects"), name)) {
			json_decref(cfg);
			return lw_js_error(type, 400, 10065, "subjects overlap with an existing stream");
		}
		if (lw_stream_update(ctl, s, cfg, &err) != 0) {
			json_decref(cfg);
			return err_typed(err, type);
		}
		json_decref(cfg);
		lw_ctl_adv_stream(ctl, name, "modify");
		return lw_stream_info_json(s, type, NULL);
	}
	if (s != NULL) {
		json_t *a = json_deep_copy(cfg), *b = json_deep_copy(s->cfg);
		bool same = json_equal(a, b);

		json_decref(a);
		json_decref(b);
		json_decref(cfg);
		if (!same)
			return lw_js_error(type, 400, 10058,
					   "stream name already in use with a different configuration");
		resp = lw_stream_info_json(s, type, NULL);
		json_object_set_new(resp, "did_create", json_false());
		return resp;
	}
	if (json_is_true(json_object_get(cfg, "sealed"))) {
		json_decref(cfg);
		return lw_js_error(type, 500, 10052,
				   "stream configuration for create can not be sealed");
	}
	if (lw_stream_overlaps(ctl, json_object_get(cfg, "subjects"), NULL)) {
		json_decref(cfg);
		return lw_js_error(type, 400, 10065, "subjects overlap with an existing stream");
	}
	s = lw_stream_create(ctl, name, cfg, lw_now_wall_ns(), false, &err);
	json_decref(cfg);
	if (s == NULL)
		return err_typed(err, type);
	/* first_seq: the first message gets it (a durable purge marker). */
	if (json_integer_value(json_object_get(s->cfg, "first_seq")) > 1)
		lw_store_purge(s->st, (uint64_t)json_integer_value(json_object_get(s->cfg, "first_seq")),
			       NULL);
	if (ctl->verbose)
		fprintf(stderr, "lw-control: stream %s created\n", name);
	lw_ctl_adv_stream(ctl, name, "create");
	resp = lw_stream_info_json(s, type, NULL);
	json_object_set_new(resp, "did_create", json_true());
	return resp;
}

static bool name_matches_subject(struct lw_stream *s, const char *filter)
{
	json_t *subj = json_object_get(s->cfg, "subjects"), *v;
	size_t i;

	if (filter == NULL || *filter == '\0')
		return true;
	json_array_foreach(subj, i, v)
		if (lw_subjects_overlap(filter, json_string_value(v)))
			return true;
	return false;
}

static int cmp_streams(const void *a, const void *b)
{
	return strcmp((*(struct lw_stream *const *)a)->name, (*(struct lw_stream *const *)b)->name);
}

/* Streams matching the request's "subject" filter, sorted by name. */
static size_t sorted_streams(struct lw_ctl *ctl, const json_t *req, struct lw_stream ***out)
{
	size_t n = 0, k = 0;
	struct lw_stream **v;

	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	for (struct lw_stream *s = ctl->streams; s != NULL && v != NULL; s = s->next)
		if (name_matches_subject(s, req ? req_str(req, "subject") : NULL))
			v[k++] = s;
	if (v != NULL)
		qsort(v, k, sizeof(*v), cmp_streams);
	*out = v;
	return v ? k : 0;
}

static json_t *stream_names(struct lw_ctl *ctl, const json_t *req, bool list)
{
	const char *type = list ? T("stream_list_response") : T("stream_names_response");
	int64_t offset = req ? req_int(req, "offset", 0) : 0, limit = list ? 256 : 1024;
	struct lw_stream **v;
	size_t n = sorted_streams(ctl, req, &v);
	json_t *arr = json_array();

	if (offset < 0)
		offset = 0;
	for (size_t i = (size_t)offset; i < n && (int64_t)(i - (size_t)offset) < limit; i++)
		json_array_append_new(arr, list ? lw_stream_info_json(v[i], NULL, NULL) :
						  json_string(v[i]->name));
	free(v);
	return json_pack("{s:s, s:i, s:I, s:I, s:o}", "type", type, "total", (int)n, "offset",
			 (json_int_t)offset, "limit", (json_int_t)limit, "streams", arr);
}

static json_t *stream_purge(struct lw_ctl *ctl, struct lw_stream *s, const json_t *req)
{
	const char *type = T("stream_purge_response");
	const char *filter = req ? req_str(req, "filter") : NULL;
	int64_t seq = req ? req_int(req, "seq", 0) : 0, keep = req ? req_int(req, "keep", 0) : 0;
	int64_t n;

	/* nats-server's codes and words for both refusals */
	if (s->lim.sealed)
		return lw_js_error(type, 400, 10109, "invalid operation on sealed stream");
	if (s->lim.deny_purge)
		return lw_js_error(type, 500, 10110, "stream purge not permitted");
	if (seq > 0 && keep > 0)
		return lw_js_error(type, 400, 10003, "bad request");
	if (keep > 0) {
		/* Keep the last @keep (matching the filter): purge below the
		 * keep-th newest. */
		struct lw_store_state st;
		uint64_t cnt = 0;

		lw_store_get_state(s->st, &st);
		seq = 0;
		for (uint64_t q = st.last_seq; q >= st.first_seq && q > 0; q--) {
			const char *sj = lw_store_subject(s->st, q);

			if (sj != NULL && lw_subject_matches(filter, sj) && ++cnt == (uint64_t)keep) {
				seq = (int64_t)q;
				break;
			}
		}
		if (seq == 0)
			return json_pack("{s:s, s:b, s:i}", "type", type, "success", 1, "purged", 0);
	}
	n = lw_store_purge(s->st, (uint64_t)seq, filter);
	if (n < 0)
		return lw_js_error(type, 500, 10051, "purge failed: %s", strerror((int)-n));
	lw_consumers_removed(s);
	if (ctl->sync == LW_SYNC_ALWAYS)
		lw_store_sync(s->st);
	return json_pack("{s:s, s:b, s:I}", "type", type, "success", 1, "purged", (json_int_t)n);
}

static json_t *msg_get(struct lw_stream *s, const json_t *req)
{
	const char *type = T("stream_msg_get_response");
	const char *last_by = req ? req_str(req, "last_by_subj") : NULL;
	const char *next_by = req ? req_str(req, "next_by_subj") : NULL;
	int64_t seq = req ? req_int(req, "seq", 0) : 0;
	struct lw_store_rec r;
	uint64_t q = 0;
	char t[40];
	json_t *msg;
	char *data;
	int rc;

	if (req == NULL || (seq <= 0 && last_by == NULL && next_by == NULL))
		return lw_js_error(type, 400, 10003, "bad request");
	if (last_by != NULL)
		q = lw_store_last(s->st, last_by);
	else if (next_by != NULL)
		q = lw_store_next(s->st, seq > 0 ? (uint64_t)seq : 0, next_by);
	else
		q = (uint64_t)seq;
	if (q == 0 || (rc = lw_store_get(s->st, q, &r)) == -ENOENT || (q == 0))
		return lw_js_error(type, 404, 10037, "no message found");
	if (rc != 0)
		return lw_js_error(type, 500, 10051, "%s", lw_errmsg());
	lw_fmt_time(r.ts, t, sizeof(t));
	data = lw_b64_encode(r.data, r.data_len);
	msg = json_pack("{s:s, s:I, s:s, s:s}", "subject", r.subject, "seq", (json_int_t)r.seq,
			"data", data ? data : "", "time", t);
	free(data);
	if (r.hdr_len > 0) {
		char *h = lw_b64_encode(r.hdr, r.hdr_len);

		json_object_set_new(msg, "hdrs", json_string(h ? h : ""));
		free(h);
	}
	lw_store_rec_free(&r);
	return json_pack("{s:s, s:o}", "type", type, "message", msg);
}

static json_t *msg_delete(struct lw_ctl *ctl, struct lw_stream *s, const json_t *req)
{
	const char *type = T("stream_msg_delete_response");
	int64_t seq = req ? req_int(req, "seq", 0) : 0;
	int rc;

	if (s->lim.sealed)
		return lw_js_error(type, 400, 10109, "invalid operation on sealed stream");
	if (s->lim.deny_delete)
		return lw_js_error(type, 500, 10057, "message delete not permitted");
	/* nats-server's three answers: no such sequence, past the end, gone */
	if (seq <= 0)
		return lw_js_error(type, 500, 10057, "no message found");
	rc = lw_store_remove(s->st, (uint64_t)seq, true);
	if (rc == -ENOENT) {
		struct lw_store_state st;

		lw_store_get_state(s->st, &st);
		if ((uint64_t)seq > st.last_seq)
			return lw_js_error(type, 500, 10057, "stream store EOF");
		if ((uint64_t)seq < st.first_seq)
			return lw_js_error(type, 500, 10057, "no message found");
		return lw_js_error(type, 400, 10043, "sequence %lld not found", (long long)seq);
	}
	if (rc != 0)
		return lw_js_error(type, 500, 10057, "%s", strerror(-rc));
	lw_consumers_removed(s);
	if (ctl->sync == LW_SYNC_ALWAYS)
		lw_store_sync(s->st);
	return json_pack("{s:s, s:b}", "type", type, "success", 1);
}

static json_t *stream_api(struct lw_ctl *ctl, const char *op, const json_t *req)
{
	static const struct { const char *prefix, *type; } named[] = {
		{ "STREAM.INFO.", T("stream_info_response") },
		{ "STREAM.DELETE.", T("stream_delete_response") },
		{ "STREAM.PURGE.", T("stream_purge_response") },
		{ "STREAM.MSG.GET.", T("stream_msg_get_response") },
		{ "STREAM.MSG.DELETE.", T("stream_msg_delete_response") },
	};

	if (strncmp(op, "STREAM.CREATE.", 14) == 0)
		return stream_create(ctl, op + 14, req, false);
	if (strncmp(op, "STREAM.UPDATE.", 14) == 0)
		return stream_create(ctl, op + 14, req, true);
	/* Lightwire extension: dead letters back into their stream. */
	if (strncmp(op, "STREAM.REDRIVE.", 15) == 0) {
		struct lw_stream *s = lw_stream_find(ctl, op + 15);

		if (s == NULL)
			return lw_js_error("io.lightwire.api.v1.stream_redrive_response", 404, 10059,
					   "stream not found");
		return lw_stream_redrive(ctl, s, req ? (uint64_t)req_int(req, "seq", 0) : 0);
	}
	if (strcmp(op, "STREAM.NAMES") == 0)
		return stream_names(ctl, req, false);
	if (strcmp(op, "STREAM.LIST") == 0)
		return stream_names(ctl, req, true);
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t pl = strlen(named[i].prefix);
		struct lw_stream *s;

		if (strncmp(op, named[i].prefix, pl) != 0)
			continue;
		s = lw_stream_find(ctl, op + pl);
		if (s == NULL)
			return lw_js_error(named[i].type, 404, 10059, "stream not found");
		switch (i) {
		case 0:
			return lw_stream_info_json(s, named[i].type, req);
		case 1:
			lw_stream_delete(ctl, s);
			lw_ctl_adv_stream(ctl, op + pl, "delete");
			return json_pack("{s:s, s:b}", "type", named[i].type, "success", 1);
		case 2:
			return stream_purge(ctl, s, req);
		case 3:
			return msg_get(s, req);
		default:
			return msg_delete(ctl, s, req);
		}
	}
	return NULL;
}

/*
 * $JS.API.DIRECT.GET.<stream> (body: seq / last_by_subj / next_by_subj)
 * and $JS.API.DIRECT.GET.<stream>.<subject> (the last message on it):
 * answered with the stored message itself, its headers followed by
 * Nats-Stream, Nats-Subject, Nats-Sequence and Nats-Time-Stamp, or a
 * status (404 Message Not Found, 408 Bad Request) as nats-server does.
 * A stream that does not allow direct gets (or does not exist) is not
 * served: nats-server has no responder there, so the client gets 503 "no
 * responders" (nats.js, nats.c: an error), not a 404 read as "no value".
 */
static void no_responders(struct lw_ctl *ctl, const char *reply);

static void direct_get(struct lw_ctl *ctl, const char *arg, const char *reply, const void *body,
		       size_t len)
{
	const char *status = "408 Bad Request";
	json_t *req = NULL;
	char name[LW_JS_NAME_MAX + 1], t[40], *hdr;
	const char *dot = strchr(arg, '.'), *last_by, *next_by;
	size_t nl = dot ? (size_t)(dot - arg) : strlen(arg), hl;
	struct lw_pubmsg pm = { .subject = reply };
	struct lw_stream *s;
	struct lw_store_rec r;
	int64_t seq;
	uint64_t q;

	if (reply == NULL)
		return;
	if (nl == 0 || nl > LW_JS_NAME_MAX)
		goto bad;
	memcpy(name, arg, nl);
	name[nl] = '\0';
	s = lw_stream_find(ctl, name);
	if (s == NULL || !json_is_true(json_object_get(s->cfg, "allow_direct"))) {
		no_responders(ctl, reply);
		return;
	}
	/* nats-server's statuses: no body (when the subject names none)
	 * "Empty Request", a body that is not JSON "Malformed Request",
	 * nothing asked "Empty Request", two things asked "Bad Request". */
	if (dot != NULL) {
		if (len > 0)
			goto bad;
	} else if (len == 0) {
		status = "408 Empty Request";
		goto bad;
	} else if ((req = json_loadb(body, len, 0, NULL)) == NULL || !json_is_object(req)) {
		status = "408 Malformed Request";
		goto bad;
	}
	last_by = dot ? dot + 1 : req_str(req, "last_by_subj");
	next_by = req ? req_str(req, "next_by_subj") : NULL;
	seq = req ? req_int(req, "seq", 0) : 0;
	if (last_by != NULL && (next_by != NULL || seq > 0))
		goto bad;
	if (last_by != NULL)
		q = lw_store_last(s->st, last_by);
	else if (next_by != NULL)
		q = lw_store_next(s->st, seq > 0 ? (uint64_t)seq : 0, next_by);
	else if (seq > 0)
		q = (uint64_t)seq;
	else {
		status = "408 Empty Request";
		goto bad;
	}
	if (q == 0 || lw_store_get(s->st, q, &r) != 0)
		goto not_found;
	lw_fmt_time(r.ts, t, sizeof(t));
	hl = r.hdr_len + strlen(r.subject) + strlen(name) + 160;
	hdr = malloc(hl);
	if (hdr != NULL) {
		/* The stored block without its line ends at the end (a
		 * publisher may have left out the blank line, or ended lines
		 * with a bare LF), then ours, each on a line of its own. */
		size_t keep = r.hdr_len;

		while (keep > 0 && (((const char *)r.hdr)[keep - 1] == '\r' ||
				    ((const char *)r.hdr)[keep - 1] == '\n'))
			keep--;
		if (keep >= 8) {
			memcpy(hdr, r.hdr, keep);
			memcpy(hdr + keep, "\r\n", 2);
			keep += 2;
		} else {
			keep = (size_t)snprintf(hdr, hl, "NATS/1.0\r\n");
		}
		pm.hdr_len = keep + (size_t)snprintf(hdr + keep, hl - keep,
						     "Nats-Stream: %s\r\nNats-Subject: %s\r\n"
						     "Nats-Sequence: %llu\r\nNats-Time-Stamp: %s\r\n\r\n",
						     name, r.subject, (unsigned long long)r.seq, t);
		pm.hdr = hdr;
		pm.data = r.data;
		pm.len = r.data_len;
		lw_publish_msg(ctl->c, &pm);
		free(hdr);
	}
	lw_store_rec_free(&r);
	json_decref(req);
	return;
not_found:
	json_decref(req);
	lw_cons_status(ctl, reply, "NATS/1.0 404 Message Not Found\r\n\r\n");
	return;
bad:
	json_decref(req);
	{
		char h[64];

		snprintf(h, sizeof(h), "NATS/1.0 %s\r\n\r\n", status);
		lw_cons_status(ctl, reply, h);
	}
}

static void no_responders(struct lw_ctl *ctl, const char *reply)
{
	static const char h[] = "NATS/1.0 503\r\n\r\n";
	struct lw_pubmsg pm = { .subject = reply, .hdr = h, .hdr_len = sizeof(h) - 1 };

	if (reply != NULL)
		lw_publish_msg(ctl->c, &pm);
}

void lw_ctl_api_cb(lw_sub *sub, lw_msg *m, void *arg)
{
	struct lw_ctl *ctl = arg;
	const char *subj = lw_msg_subject(m), *reply = lw_msg_reply(m);
	const char *op = subj + strlen(LW_JS_API);
	json_t *req = NULL, *resp = NULL;
	size_t len = lw_msg_len(m);

	(void)sub;
	if (strncmp(subj, LW_JS_API, strlen(LW_JS_API)) != 0)
		return;
	pthread_mutex_lock(&ctl->mu);
	ctl->api_total++;
	/* Audited as nats-server does: the API proper, not the pulls and
	 * direct gets that go through the same subjects. */
	if (reply != NULL && strncmp(op, "CONSUMER.MSG.NEXT.", 18) != 0 &&
	    strncmp(op, "DIRECT.GET.", 11) != 0) {
		ctl->audit_reply = reply;
		ctl->audit_subj = subj;
		ctl->audit_req = lw_msg_data(m);
		ctl->audit_req_len = len;
	}
	/* CONSUMER.* parses its own body (MSG.NEXT may be a bare number),
	 * DIRECT.GET too (its errors are statuses, not JSON). */
	if (strncmp(op, "CONSUMER.", 9) == 0) {
		lw_consumer_api(ctl, op, op + 9, m);
		goto out;
	}
	if (strncmp(op, "DIRECT.GET.", 11) == 0) {
		direct_get(ctl, op + 11, reply, lw_msg_data(m), len);
		goto out;
	}
	if (len > 0) {
		json_error_t je;

		req = json_loadb(lw_msg_data(m), len, 0, &je);
		if (req == NULL) {
			lw_ctl_reply_json(ctl, reply, lw_js_error(T("error_response"), 400, 10025,
								  "invalid JSON: %s", je.text));
			goto out;
		}
	}
	if (ctl->verbose)
		fprintf(stderr, "lw-control: API %s\n", op);
	if (strcmp(op, "INFO") == 0)
		resp = account_info(ctl);
	else if (strncmp(op, "STREAM.", 7) == 0)
		resp = stream_api(ctl, op, req);
	if (resp == NULL)
		no_responders(ctl, reply);
	else
		lw_ctl_reply_json(ctl, reply, resp);
out:
	ctl->audit_reply = ctl->audit_subj = NULL;
	json_decref(req);
	pthread_mutex_unlock(&ctl->mu);
}
