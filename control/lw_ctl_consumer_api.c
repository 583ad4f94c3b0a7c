/* SPDX-License-Identifier: MIT */
/*
 * The CONSUMER.* requests of lw-control: CREATE / DURABLE.CREATE (config
 * normalised with nats-server's defaults and checked against the stream),
 * INFO, DELETE, NAMES, LIST, MSG.NEXT (pull requests), and reopening
 * durables at start. Delivery and acks are in lw_ctl_consumer.c.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_ctl_consumer_pvt.h"
#include "lw_subject.h" /* lw_subj_validate */

/* --- configuration ----------------------------------------------------------------------- */

static json_t *cerr(const char *type, int code, int err_code, const char *d)
{
	return lw_js_error(type, code, err_code, "%s", d);
}

/* "deliver all", "deliver by start sequence", ... as nats-server words it */
static const char *policy_words(const char *dp)
{
	static const struct { const char *p, *w; } t[] = {
		{ "all", "deliver all" }, { "last", "deliver last" }, { "new", "deliver new" },
		{ "by_start_sequence", "deliver by start sequence" },
		{ "by_start_time", "deliver by start time" },
		{ "last_per_subject", "deliver last per subject" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].p, dp))
			return t[i].w;
	return dp;
}

/* Normalises a consumer config; NULL and *err on a bad one. */
static json_t *cfg_normalise(struct lw_stream *s, const json_t *in, const char *type, json_t **err)
{
	json_t *c = json_deep_copy(in), *filters = json_array(), *v;
	const char *dp = cstr(in, "deliver_policy", "all"), *ap = cstr(in, "ack_policy", "none");
	const char *fs = cstr(in, "filter_subject", NULL);
	bool push = cstr(in, "deliver_subject", NULL) != NULL;
	size_t i;

#define FAIL(code, ec, d) do { *err = cerr(type, code, ec, d); json_decref(c); \
		json_decref(filters); return NULL; } while (0)
	if ((*err = lw_cfg_check_types(in, true, type)) != NULL) {
		json_decref(c);
		json_decref(filters);
		return NULL;
	}
	if (strcmp(dp, "all") && strcmp(dp, "last") && strcmp(dp, "new") &&
	    strcmp(dp, "by_start_sequence") && strcmp(dp, "by_start_time") &&
	    strcmp(dp, "last_per_subject"))
		FAIL(400, 10025, "invalid JSON: invalid deliver policy");
	if (strcmp(ap, "none") && strcmp(ap, "all") && strcmp(ap, "explicit"))
		FAIL(400, 10025, "invalid JSON: invalid ack policy");
	if (!strcmp(dp, "by_start_sequence") && cint(in, "opt_start_seq", 0) <= 0)
		FAIL(400, 10094 /* JSConsumerInvalidPolicyErrF */,
		     "consumer delivery policy is deliver by start sequence, but optional start sequence is not set");
	if (!strcmp(dp, "by_start_time") && cstr(in, "opt_start_time", NULL) == NULL)
		FAIL(400, 10094,
		     "consumer delivery policy is deliver by start time, but optional start time is not set");
	if (strcmp(dp, "by_start_sequence") != 0 && cint(in, "opt_start_seq", 0) > 0) {
		char d[200];

		snprintf(d, sizeof(d), "consumer delivery policy is %s, but optional start sequence is also set",
			 policy_words(dp));
		FAIL(400, 10094, d);
	}
	if (strcmp(dp, "by_start_time") != 0 && cstr(in, "opt_start_time", NULL) != NULL) {
		char d[200];

		snprintf(d, sizeof(d), "consumer delivery policy is %s, but optional start time is also set",
			 policy_words(dp));
		FAIL(400, 10094, d);
	}
	if (fs != NULL && *fs != '\0' && json_array_size(json_object_get(in, "filter_subjects")) > 0)
		FAIL(400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified");
	if (fs != NULL)
		json_array_append_new(filters, json_string(fs));
	json_array_foreach(json_object_get(in, "filter_subjects"), i, v) {
		if (!json_is_string(v) || *json_string_value(v) == '\0')
			FAIL(400, 10139, "consumer filter in FilterSubjects cannot be empty");
		json_array_append(filters, v);
	}
	json_array_foreach(filters, i, v) {
		bool ok = false;
		size_t j;
		json_t *ss;

		for (j = 0; j < i; j++)
			if (lw_subjects_overlap(json_string_value(v),
						json_string_value(json_array_get(filters, j))))
				FAIL(400, 10138, "consumer subject filters cannot overlap");

		json_array_foreach(json_object_get(s->cfg, "subjects"), j, ss)
			if (lw_subjects_overlap(json_string_value(v), json_string_value(ss)))
				ok = true;
		if (!ok)
			FAIL(400, 10093,
			     "consumer filter subject is not a valid subset of the interest subjects");
	}
	if (s->lim.retention == LW_RET_WORKQUEUE) {
		if (strcmp(ap, "explicit") != 0 && !push)
			FAIL(400, 10084, "consumer in pull mode requires explicit ack policy on "
			     "workqueue stream");
		if (strcmp(ap, "explicit") != 0)
			FAIL(400, 10098, "workqueue stream requires explicit ack");
		if (strcmp(dp, "all") != 0)
			FAIL(400, 10101, "consumer must be deliver all on workqueue stream");
	}
	if (cint(in, "ack_wait", 0) < 0)
		FAIL(400, 10183, "consumer ack wait needs to be positive");
	if (push) {
		const char *ds = cstr(in, "deliver_subject", "");

		/* a subject the fabric can route (256 bytes at most, no
		 * empty tokens), without wildcards, as nats-server asks */
		if (strpbrk(ds, "*>") != NULL)
			FAIL(400, 10079, "consumer deliver subject has wildcards");
		if (lw_subj_validate(ds, strlen(ds), LW_SUBJ_PUBLISH) != LW_OK)
			FAIL(400, 10112, "invalid push consumer deliver subject");
		/* Deliveries the stream would capture again: nats-server refuses
		 * them too (and here the stream's own subscription would fill). */
		json_array_foreach(json_object_get(s->cfg, "subjects"), i, v)
			if (lw_subjects_overlap(cstr(in, "deliver_subject", ""), json_string_value(v)))
				FAIL(400, 10081, "consumer deliver subject forms a cycle");
	}
	if (push && cint(in, "max_waiting", 0) > 0)
		FAIL(400, 10080, "consumer in push mode can not set max waiting");
	if (cint(in, "idle_heartbeat", 0) > 0 && cint(in, "idle_heartbeat", 0) < 100000000)
		FAIL(400, 10083, "consumer idle heartbeat needs to be >= 100ms");
	if (json_is_true(json_object_get(in, "flow_control"))) {
		if (!push)
			FAIL(400, 10089, "consumer flow control requires a push based consumer");
		if (cint(in, "idle_heartbeat", 0) <= 0)
			FAIL(400, 10108, "consumer with flow control also needs heartbeats");
	}
	if (!push && cint(in, "idle_heartbeat", 0) > 0)
		FAIL(400, 10088, "consumer idle heartbeat requires a push based consumer");
	json_object_set_new(c, "deliver_policy", json_string(dp));
	json_object_set_new(c, "ack_policy", json_string(ap));
	if (strcmp(ap, "none") != 0) {
		const json_t *lim = json_object_get(s->cfg, "consumer_limits");

		if (cint(in, "ack_wait", 0) <= 0)
			json_object_set_new(c, "ack_wait", json_integer(30000000000LL));
		/* as nats-server: the first backoff step is the ack wait */
		if (json_is_integer(json_array_get(json_object_get(in, "backoff"), 0)))
			json_object_set(c, "ack_wait", json_array_get(json_object_get(in, "backoff"), 0));
		if (cint(in, "max_ack_pending", 0) == 0)
			json_object_set_new(c, "max_ack_pending",
					    json_integer(cint(lim, "max_ack_pending", 1000)));
	}
	{
		/* "N%" or "N", 0..100, as nats-server parses it */
		const char *sf = cstr(in, "sample_freq", NULL);
		char *end = NULL;
		long pct = sf != NULL && *sf != '\0' ? strtol(sf, &end, 10) : 0;

		if (sf != NULL && *sf != '\0' &&
		    (end == sf || (*end != '\0' && strcmp(end, "%") != 0) || pct < 0 || pct > 100))
			FAIL(400, 10095, "failed to parse consumer sampling configuration");
	}
	/* pause_until is 2.11's: a 2.10 server ignores it, and so do we
	 * rather than echo a pause that does not happen. */
	json_object_del(c, "pause_until");
	if (cint(in, "max_deliver", 0) <= 0)
		json_object_set_new(c, "max_deliver", json_integer(-1));
	if (!push && cint(in, "max_waiting", 0) <= 0)
		json_object_set_new(c, "max_waiting", json_integer(512));
	if (strcmp(cstr(in, "replay_policy", "instant"), "instant") != 0 &&
	    strcmp(cstr(in, "replay_policy", "instant"), "original") != 0)
		FAIL(400, 10025, "invalid JSON: invalid replay policy");
	json_object_set_new(c, "replay_policy", json_string(cstr(in, "replay_policy", "instant")));
	/* 0 (the stream's) or 1, echoed as given, as nats-server; more
	 * needs a cluster */
	if (cint(in, "num_replicas", 0) > 1)
		FAIL(500, 10074, "replicas > 1 not supported in non-clustered mode");
	json_object_set_new(c, "num_replicas",
			    json_integer(cint(in, "num_replicas", 0) == 1 ? 1 : 0));
	/* as nats-server: a backoff list needs a max_deliver beyond it */
	if (json_array_size(json_object_get(in, "backoff")) > 0 &&
	    (cint(in, "max_deliver", 0) <= 0 ||
	     (size_t)cint(in, "max_deliver", 0) <= json_array_size(json_object_get(in, "backoff"))))
		FAIL(400, 10116, "max deliver is required to be > length of backoff values");
#undef FAIL
	json_decref(filters);
	return c;
}

static void apply_cfg(struct lw_consumer *c, json_t *cfg)
{
	const char *ap = cstr(cfg, "ack_policy", "none"), *fs = cstr(cfg, "filter_subject", NULL);
	size_t i;
	json_t *v;

	json_decref(c->cfg);
	c->cfg = json_incref(cfg);
	c->ack = !strcmp(ap, "explicit") ? AP_EXPLICIT : !strcmp(ap, "all") ? AP_ALL : AP_NONE;
	c->ack_wait = cint(cfg, "ack_wait", 30000000000LL);
	c->max_deliver = cint(cfg, "max_deliver", -1);
	c->max_ack_pending = cint(cfg, "max_ack_pending", -1);
	c->max_waiting = cint(cfg, "max_waiting", 512);
	c->inactive_ns = cint(cfg, "inactive_threshold", c->durable ? 0 : 5000000000LL);
	c->headers_only = json_is_true(json_object_get(cfg, "headers_only"));
	json_decref(c->backoff);
	c->backoff = json_incref(json_object_get(cfg, "backoff"));
	json_decref(c->filters);
	c->filters = json_array();
	if (fs != NULL)
		json_array_append_new(c->filters, json_string(fs));
	json_array_foreach(json_object_get(cfg, "filter_subjects"), i, v)
		json_array_append(c->filters, v);
	free(c->deliver_subject);
	c->deliver_subject = cstr(cfg, "deliver_subject", NULL) ?
			     strdup(cstr(cfg, "deliver_subject", NULL)) : NULL;
	c->hb_ns = cint(cfg, "idle_heartbeat", 0);
	c->pc_valid = false;
	c->replay_orig = strcmp(cstr(cfg, "replay_policy", "instant"), "original") == 0;
	c->rp_ts0 = 0;
	if (c->fc != json_is_true(json_object_get(cfg, "flow_control"))) {
		c->fc = !c->fc;
		lw_cons_fc_reset(c);
	}
}

/* The stream sequence reported as delivered: the one before the next to
 * go out, as nats-server counts it. While a last_per_subject consumer
 * works through its list that is the list's previous entry (before the
 * first: one less than it), not the stream's end: ordered consumers
 * (KV watchers) skip anything at or below what the server says it
 * delivered. */
static uint64_t delivered_sseq(const struct lw_consumer *c)
{
	if (c->ipre < c->npre)
		return c->ipre > 0 ? c->pre[c->ipre - 1] : c->pre[0] - 1;
	return c->next_sseq > 0 ? c->next_sseq - 1 : 0;
}

/* Where a new consumer starts, from its deliver policy. */
static void set_start(struct lw_consumer *c)
{
	const char *dp = cstr(c->cfg, "deliver_policy", "all");
	lw_store *st = c->s->st;
	struct lw_store_state ss;
	const char *f = json_array_size(c->filters) == 1 ?
			json_string_value(json_array_get(c->filters, 0)) : NULL;

	lw_store_get_state(st, &ss);
	c->next_sseq = ss.first_seq;
	if (!strcmp(dp, "new")) {
		c->next_sseq = ss.last_seq + 1;
	} else if (!strcmp(dp, "last")) {
		uint64_t q = lw_store_last(st, f);

		c->next_sseq = q ? q : ss.last_seq + 1;
	} else if (!strcmp(dp, "by_start_sequence")) {
		c->next_sseq = (uint64_t)cint(c->cfg, "opt_start_seq", 1);
	} else if (!strcmp(dp, "by_start_time")) {
		int64_t t = 0;
		uint64_t q;

		lw_parse_time(cstr(c->cfg, "opt_start_time", ""), &t);
		q = lw_store_seq_at_time(st, t);
		c->next_sseq = q ? q : ss.last_seq + 1;
	} else if (!strcmp(dp, "last_per_subject")) {
		/* The last message of each subject, in stream order, then new. */
		json_t *seen = json_object();

		for (uint64_t q = ss.last_seq; q >= ss.first_seq && q > 0; q--) {
			const char *sj = lw_store_subject(st, q);

			if (sj == NULL || !lw_cons_match(c, sj) || json_object_get(seen, sj))
				continue;
			json_object_set_new(seen, sj, json_true());
			uint64_t *np = realloc(c->pre, (c->npre + 1) * sizeof(*np));

			if (np == NULL)
				break;
			c->pre = np;
			c->pre[c->npre++] = q;
		}
		json_decref(seen);
		for (size_t i = 0; i < c->npre / 2; i++) {
			uint64_t t = c->pre[i];

			c->pre[i] = c->pre[c->npre - 1 - i];
			c->pre[c->npre - 1 - i] = t;
		}
		c->next_sseq = ss.last_seq + 1;
	}
	c->floor_s = delivered_sseq(c);
}

/* nats-server's num_redelivered: messages still awaiting an ack that
 * went out more than once (not a running total: it falls as they are
 * acked). */
static uint64_t redelivered_pending(const struct lw_consumer *c)
{
	uint64_t n = 0;

	for (size_t i = 0; i < c->np; i++)
		n += c->p[i].deliveries > 1;
	return n;
}

/* Pull requests still waiting: one past its expiry is not counted in
 * the up to 20 ms before the timer ends it (a client's fetch has
 * returned by then), as nats-server does not count it. */
static size_t live_waiting(const struct lw_consumer *c)
{
	int64_t now = lw_now_wall_ns();
	size_t n = 0;

	for (size_t i = 0; i < c->nw; i++)
		n += c->w[i].expires == 0 || c->w[i].expires > now;
	return n;
}

static json_t *info(struct lw_consumer *c, const char *type)
{
	char tc[40], tn[40];
	json_t *o;

	lw_cons_floor(c);
	lw_fmt_time(c->created_ns, tc, sizeof(tc));
	lw_fmt_time(lw_now_wall_ns(), tn, sizeof(tn));
	o = json_pack("{s:s, s:s, s:s, s:O, s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:I, s:I, s:s}",
		      "stream_name", c->s->name, "name", c->name, "created", tc, "config", c->cfg,
		      "delivered", "consumer_seq", (json_int_t)c->dseq, "stream_seq",
		      (json_int_t)delivered_sseq(c),
		      "ack_floor", "consumer_seq", (json_int_t)c->floor_c, "stream_seq",
		      (json_int_t)c->floor_s,
		      "num_ack_pending", (json_int_t)c->np, "num_redelivered",
		      (json_int_t)redelivered_pending(c), "num_waiting", (json_int_t)live_waiting(c),
		      "num_pending", (json_int_t)lw_cons_pending(c), "ts", tn);
	/* nats-server 2.10's last_active: when the last message went out,
	 * when the last ack came; left out before the first */
	if (c->last_delivered_ns > 0) {
		lw_fmt_time(c->last_delivered_ns, tn, sizeof(tn));
		json_object_set_new(json_object_get(o, "delivered"), "last_active", json_string(tn));
	}
	if (c->last_acked_ns > 0) {
		lw_fmt_time(c->last_acked_ns, tn, sizeof(tn));
		json_object_set_new(json_object_get(o, "ack_floor"), "last_active", json_string(tn));
	}
	/* A push consumer with a subscriber on its deliver subject is bound:
	 * nats.c and nats.js then refuse a second, non-queue subscriber to
	 * the same durable (which would get every message again). */
	if (c->deliver_subject != NULL && c->s->ctl->c != NULL &&
	    lw_interest(c->s->ctl->c, c->deliver_subject) > 0)
		json_object_set_new(o, "push_bound", json_true());
	if (type != NULL)
		json_object_set_new(o, "type", json_string(type));
	return o;
}

static int cmp_consumers(const void *a, const void *b)
{
	return strcmp((*(struct lw_consumer *const *)a)->name,
		      (*(struct lw_consumer *const *)b)->name);
}

/* CONSUMER.NAMES / LIST: sorted by name and paged as nats-server's (1024
 * names or 256 infos from "offset"), so that a stream with thousands of
 * consumers answers in pages a client asks for one by one rather than in
 * one reply over max_payload. */
static json_t *consumer_names(struct lw_stream *s, const json_t *req, const char *type, bool list)
{
	json_t *off = req ? json_object_get(req, "offset") : NULL, *arr = json_array();
	json_int_t offset = json_is_integer(off) ? json_integer_value(off) : 0;
	json_int_t limit = list ? 256 : 1024;
	struct lw_consumer **v;
	size_t n = 0, k = 0;

	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL) {
		json_decref(arr);
		return lw_js_error(type, 503, 10023, "insufficient resources");
	}
	for (struct lw_consumer *c = s->consumers; c != NULL; c = c->next)
		v[k++] = c;
	qsort(v, n, sizeof(*v), cmp_consumers);
	if (offset < 0)
		offset = 0;
	for (size_t i = (size_t)offset; i < n && (json_int_t)(i - (size_t)offset) < limit; i++)
		json_array_append_new(arr, list ? info(v[i], NULL) : json_string(v[i]->name));
	free(v);
	return json_pack("{s:s, s:I, s:I, s:I, s:o}", "type", type, "total", (json_int_t)n,
			 "offset", offset, "limit", limit, "consumers", arr);
}

static struct lw_consumer *consumer_new(struct lw_stream *s, const char *name, json_t *cfg,
					bool durable, int64_t created)
{
	struct lw_consumer *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->s = s;
	c->durable = durable;
	c->created_ns = created;
	c->last_active = lw_now_wall_ns();
	/* The idle heartbeat counts from now, as nats-server's timer: one
	 * sent before the first delivery tells a KV history reader "all
	 * seen" while nothing was. */
	c->last_push = c->last_active;
	apply_cfg(c, cfg);
	c->next = s->consumers;
	s->consumers = c;
	return c;
}

/* A work queue hands each message to one consumer: a new one must take
 * a part of the stream no other consumer takes (nats-server's rule and
 * errors). NULL when @p cfg may join. */
static json_t *wq_partition_check(struct lw_stream *s, const json_t *cfg, const char *type)
{
	json_t *mine = json_array(), *v, *w;
	size_t i, j;

	if (cstr(cfg, "filter_subject", NULL) != NULL)
		json_array_append_new(mine, json_string(cstr(cfg, "filter_subject", NULL)));
	json_array_foreach(json_object_get(cfg, "filter_subjects"), i, v)
		json_array_append(mine, v);
	if (json_array_size(mine) == 0) {
		json_decref(mine);
		return cerr(type, 400, 10099,
			    "multiple non-filtered consumers not allowed on workqueue stream");
	}
	for (struct lw_consumer *o = s->consumers; o != NULL; o = o->next) {
		bool clash = json_array_size(o->filters) == 0;

		json_array_foreach(o->filters, i, v)
			json_array_foreach(mine, j, w)
				clash |= lw_subjects_overlap(json_string_value(v), json_string_value(w));
		if (clash) {
			json_decref(mine);
			return cerr(type, 400, 10100, "filtered consumer not unique on workqueue stream");
		}
	}
	json_decref(mine);
	return NULL;
}

static json_t *create(struct lw_ctl *ctl, struct lw_stream *s, const char *sname,
		      const char *subj_name, const char *subj_filter, bool durable_api,
		      const json_t *req)
{
	const char *type = T("consumer_create_response");
	json_t *in = json_object_get(req, "config"), *cfg, *err = NULL;
	const char *durable = cstr(in, "durable_name", NULL), *name = cstr(in, "name", NULL);
	const char *action = cstr(req, "action", "");
	char gen[32];
	struct lw_consumer *c;

	(void)ctl;
	if (!json_is_object(in))
		return cerr(type, 400, 10025, "invalid JSON: consumer config required");
	if (cstr(req, "stream_name", sname) && strcmp(cstr(req, "stream_name", sname), sname) != 0)
		return cerr(type, 400, 10056, "stream name in subject does not match request");
	if (durable_api) {
		if (durable == NULL)
			return cerr(type, 400, 10018, "consumer expected to be durable but a durable name was not set");
		if (strcmp(durable, subj_name) != 0)
			return cerr(type, 400, 10017, "consumer name in subject does not match durable name in request");
	}
	if (subj_name != NULL && !durable_api) {
		if ((durable && strcmp(durable, subj_name)) || (name && strcmp(name, subj_name)))
			return cerr(type, 400, 10017, "consumer name in subject does not match durable name in request");
		if (subj_filter != NULL &&
		    strcmp(cstr(in, "filter_subject", ""), subj_filter) != 0)
			return cerr(type, 400, 10131,
				    "Consumer create request did not match filtered subject from create subject");
	}
	/* The old ephemeral subject (no name in it) with a durable name:
	 * nats-server refuses it rather than make a durable. */
	if (subj_name == NULL && durable != NULL)
		return cerr(type, 400, 10020,
			    "consumer expected to be ephemeral but a durable name was set in request");
	if (subj_name == NULL)
		subj_name = name;
	if (subj_name == NULL) {
		snprintf(gen, sizeof(gen), "%016llx%08x",
			 (unsigned long long)lw_now_wall_ns(), (unsigned)rand());
		subj_name = gen;
	}
	if (!lw_ctl_valid_name(subj_name))
		return cerr(type, 400, 10103, "durable name can not contain '.', '*', '>'");
	cfg = cfg_normalise(s, in, type, &err);
	if (cfg == NULL)
		return err;
	if (durable != NULL)
		json_object_set_new(cfg, "durable_name", json_string(subj_name));
	json_object_set_new(cfg, "name", json_string(subj_name));
	/* an ephemeral's default, shown in its config as nats-server does */
	if (durable == NULL && !durable_api && cint(cfg, "inactive_threshold", 0) <= 0)
		json_object_set_new(cfg, "inactive_threshold",
				    json_integer(cint(json_object_get(s->cfg, "consumer_limits"),
						      "inactive_threshold", 5000000000LL)));
	c = lw_cons_find(s, subj_name);
	if (c != NULL) {
		bool same = json_equal(cfg, c->cfg);

		if (!same && !strcmp(action, "create")) {
			json_decref(cfg);
			return cerr(type, 400, 10148, "consumer already exists");
		}
		if (!same) {
			/* nats-server's words for what may not change */
			static const char *const fixed[] = { "deliver_policy", "ack_policy" };

			for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
				if (!json_equal(json_object_get(cfg, fixed[i]),
						json_object_get(c->cfg, fixed[i]))) {
					json_decref(cfg);
					return cerr(type, 400, 10012, i == 0 ?
						    "deliver policy can not be updated" :
						    "ack policy can not be updated");
				}
			apply_cfg(c, cfg);
			c->dirty = true;
			lw_cons_save(c);
		}
		json_decref(cfg);
		return info(c, type);
	}
	if (!strcmp(action, "update")) {
		json_decref(cfg);
		return cerr(type, 404, 10149, "consumer does not exist");
	}
	if (s->lim.max_consumers > 0 && lw_consumer_count(s) >= s->lim.max_consumers) {
		json_decref(cfg);
		return cerr(type, 400, 10026, "maximum consumers limit reached");
	}
	if (s->lim.retention == LW_RET_WORKQUEUE && s->consumers != NULL) {
		json_t *e = wq_partition_check(s, cfg, type);

		if (e != NULL) {
			json_decref(cfg);
			return e;
		}
	}
	c = consumer_new(s, subj_name, cfg, durable != NULL || durable_api,
			 lw_now_wall_ns());
	json_decref(cfg);
	if (c == NULL)
		return cerr(type, 500, 10012, "out of memory");
	set_start(c);
	c->floor_c = 0;
	/* A durable is confirmed only once it is on disk (a full disk would
	 * lose it at the next restart); an ephemeral's file is a nicety for
	 * lw-control restarts, tried again by the timer. */
	{
		int e = c->durable ? lw_cons_save(c) : 0;

		if (!c->durable)
			c->dirty = true; /* an ephemeral's first save: the next tick */
		if (e != 0) {
			char d[160];

			lw_cons_delete(c, false);
			snprintf(d, sizeof(d), "insufficient resources: cannot save the consumer: %s",
				 strerror(-e));
			return cerr(type, 500, 10023, d);
		}
	}
	lw_ctl_adv_consumer(ctl, s->name, c->name, "create");
	/* A push consumer starts delivering after its create response is
	 * out (lw_consumer_api): clients drop deliveries of a consumer they
	 * have not heard of yet (nats.js ordered consumers then reset). */
	return info(c, type);
}

void lw_consumers_load(struct lw_stream *s)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s/consumers", s->ctl->store_dir, s->name);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX + 300], name[LW_JS_NAME_MAX + 1];
		json_error_t je;
		json_t *o, *st, *v;
		struct lw_consumer *c;
		size_t n = strlen(de->d_name), i;

		if (n < 6 || n - 5 > LW_JS_NAME_MAX || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		memcpy(name, de->d_name, n - 5);
		name[n - 5] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		o = json_load_file(path, 0, &je);
		if (o == NULL || !json_is_object(json_object_get(o, "config"))) {
			fprintf(stderr, "lw-control: consumer %s > %s not loaded: %s: %s\n", s->name,
				name, path, o == NULL ? je.text : "no \"config\" object");
			json_decref(o);
			continue;
		}
		/* An ephemeral's config has no durable_name (create). */
		c = consumer_new(s, name, json_object_get(o, "config"),
				 json_object_get(json_object_get(o, "config"), "durable_name") != NULL,
				 cint(o, "created_ns", 0));
		st = json_object_get(o, "state");
		if (c != NULL) {
			c->next_sseq = (uint64_t)cint(st, "next", 1);
			c->dseq = (uint64_t)cint(st, "dseq", 0);
			c->floor_s = (uint64_t)cint(st, "floor_s", 0);
			c->floor_c = (uint64_t)cint(st, "floor_c", 0);
			json_array_foreach(json_object_get(st, "pending"), i, v) {
				struct pend *p = lw_cons_pend_add(c, (uint64_t)json_integer_value(json_array_get(v, 0)));

				if (p == NULL)
					break;
				p->cseq = (uint64_t)json_integer_value(json_array_get(v, 1));
				p->deliveries = (uint32_t)json_integer_value(json_array_get(v, 2));
				/* Unacked at the restart: redeliver at once. */
				lw_cons_pend_due(c, p, 0);
			}
			/* Pull requests that were waiting: their clients still
			 * wait too when only lw-control restarted (lwd kept
			 * their inboxes); without them a consume() would stall
			 * until it missed its heartbeats. Expired ones, and ones
			 * nobody listens for any more, are dropped. */
			json_array_foreach(json_object_get(st, "waiting"), i, v) {
				struct waiting w = {
					.reply = (char *)json_string_value(json_array_get(v, 0)),
					.batch = json_integer_value(json_array_get(v, 1)),
					.max_bytes = json_integer_value(json_array_get(v, 2)),
					.expires = json_integer_value(json_array_get(v, 3)),
					.hb_ns = json_integer_value(json_array_get(v, 4)),
					.delivered = json_integer_value(json_array_get(v, 5)),
					.no_wait = json_is_true(json_array_get(v, 6)),
				};
				int64_t now = lw_now_wall_ns();

				if (w.reply == NULL || w.batch <= 0 || (w.expires > 0 && w.expires <= now) ||
				    (s->ctl->c != NULL && lw_interest(s->ctl->c, w.reply) <= 0))
					continue;
				lw_cons_waiting_add(c, &w, now);
			}
			if (c->nw > 0)
				c->retry = true; /* serve them at the next tick */
			/* A push consumer's backlog may have been waiting for
			 * its subscriber: try at the next tick (and every tick
			 * while nobody listens), not only when a new message
			 * is stored. */
			if (c->deliver_subject != NULL)
				c->retry = true;
		}
		json_decref(o);
	}
	closedir(d);
}

/* --- pull requests ---------------------------------------------------------------------- */

/* Go's time.Duration text for whole units, as in nats-server's 409s. */
static void go_duration(int64_t ns, char *out, size_t cap)
{
	if (ns % 1000000000 == 0)
		snprintf(out, cap, "%llds", (long long)(ns / 1000000000));
	else if (ns % 1000000 == 0)
		snprintf(out, cap, "%lldms", (long long)(ns / 1000000));
	else if (ns % 1000 == 0)
		snprintf(out, cap, "%lld\u00b5s", (long long)(ns / 1000));
	else
		snprintf(out, cap, "%lldns", (long long)ns);
}

/* The consumer's limits on one pull request (max_batch, max_expires,
 * max_bytes) and the heartbeat's bounds, answered with nats-server's
 * statuses; true when @p w was refused. */
static bool refuse_request(struct lw_ctl *ctl, struct lw_consumer *c, const struct waiting *w,
			   const char *reply)
{
	int64_t mb = cint(c->cfg, "max_batch", 0), me = cint(c->cfg, "max_expires", 0);
	int64_t mx = cint(c->cfg, "max_bytes", 0);
	char st[160], d[40];

	if (mb > 0 && w->batch > mb) {
		snprintf(st, sizeof(st), "NATS/1.0 409 Exceeded MaxRequestBatch of %lld\r\n\r\n",
			 (long long)mb);
	} else if (me > 0 && w->expires > me) {
		go_duration(me, d, sizeof(d));
		snprintf(st, sizeof(st), "NATS/1.0 409 Exceeded MaxRequestExpires of %s\r\n\r\n", d);
	} else if (mx > 0 && w->max_bytes > mx) {
		snprintf(st, sizeof(st), "NATS/1.0 409 Exceeded MaxRequestMaxBytes of %lld\r\n\r\n",
			 (long long)mx);
	} else if (w->hb_ns > 0 && w->expires <= 0) {
		snprintf(st, sizeof(st),
			 "NATS/1.0 400 Bad Request - heartbeat requires request expiration\r\n\r\n");
	} else if (w->hb_ns > 0 && w->hb_ns > w->expires / 2) {
		snprintf(st, sizeof(st), "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n");
	} else {
		return false;
	}
	lw_cons_status(ctl, reply, st);
	return true;
}

static void next_request(struct lw_ctl *ctl, struct lw_consumer *c, lw_msg *m)
{
	const char *reply = lw_msg_reply(m);
	size_t len = lw_msg_len(m);
	struct waiting w = { .batch = 1 };
	int64_t now = lw_now_wall_ns();

	if (reply == NULL)
		return;
	if (c->deliver_subject != NULL) {
		lw_cons_status(ctl, reply, "NATS/1.0 409 Consumer is push based\r\n\r\n");
		return;
	}
	if (len > 0) {
		json_error_t je;
		json_t *r = json_loadb(lw_msg_data(m), len, JSON_DECODE_ANY, &je);

		if (json_is_integer(r)) {
			w.batch = json_integer_value(r);
		} else if (json_is_object(r)) {
			w.batch = cint(r, "batch", 1);
			w.expires = cint(r, "expires", 0);
			w.no_wait = json_is_true(json_object_get(r, "no_wait"));
			w.max_bytes = cint(r, "max_bytes", 0);
			w.hb_ns = cint(r, "idle_heartbeat", 0);
		} else {
			/* as nats-server: a request it cannot read is answered,
			 * not taken for a batch of one */
			char st[300];

			snprintf(st, sizeof(st), "NATS/1.0 400 Bad Request - %s\r\n\r\n",
				 r == NULL ? je.text : "request is not a number or an object");
			json_decref(r);
			lw_cons_status(ctl, reply, st);
			return;
		}
		json_decref(r);
	}
	if (w.batch <= 0)
		w.batch = 1;
	if (refuse_request(ctl, c, &w, reply))
		return;
	if (w.expires > 0)
		w.expires += now;
	if (c->max_waiting > 0 && (int64_t)c->nw >= c->max_waiting) {
		lw_cons_status(ctl, reply, "NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n");
		return;
	}
	w.reply = (char *)reply;
	if (lw_cons_waiting_add(c, &w, now) != 0)
		return;
	c->last_active = now;
	lw_cons_deliver(c);
	lw_cons_end_no_wait(c);
}

void lw_consumer_api(struct lw_ctl *ctl, const char *op, const char *rest, lw_msg *m)
{
	const char *reply = lw_msg_reply(m);
	char sname[LW_JS_NAME_MAX + 1] = "", cname[LW_JS_NAME_MAX + 1] = "", verb[32] = "";
	const char *filter = NULL, *p, *type = T("consumer_info_response");
	json_t *req = NULL, *resp = NULL;
	struct lw_stream *s;
	struct lw_consumer *c;
	bool durable_api = false, stream_too_long = false, consumer_too_long = false;

	(void)op;
	/* rest: VERB.<stream>[.<consumer>[.<filter>]] or DURABLE.CREATE.<s>.<c> or MSG.NEXT.<s>.<c> */
	if (strncmp(rest, "DURABLE.CREATE.", 15) == 0) {
		durable_api = true;
		snprintf(verb, sizeof(verb), "CREATE");
		p = rest + 15;
	} else if (strncmp(rest, "MSG.NEXT.", 9) == 0) {
		snprintf(verb, sizeof(verb), "NEXT");
		p = rest + 9;
	} else {
		const char *dot = strchr(rest, '.');

		if (dot == NULL || (size_t)(dot - rest) >= sizeof(verb)) {
			lw_cons_status(ctl, reply ? reply : "", "NATS/1.0 503\r\n\r\n");
			return;
		}
		memcpy(verb, rest, (size_t)(dot - rest));
		verb[dot - rest] = '\0';
		p = dot + 1;
	}
	{
		const char *d1 = strchr(p, '.');
		size_t n1 = d1 ? (size_t)(d1 - p) : strlen(p);

		/* Names longer than any that exists are not cut to a prefix
		 * that may name another stream or consumer. */
		if (n1 > LW_JS_NAME_MAX) {
			stream_too_long = true;
			n1 = 0;
		}
		memcpy(sname, p, n1);
		sname[n1] = '\0';
		if (d1 != NULL) {
			const char *d2 = strchr(d1 + 1, '.');
			size_t n2 = d2 ? (size_t)(d2 - d1 - 1) : strlen(d1 + 1);

			if (n2 > LW_JS_NAME_MAX) {
				consumer_too_long = true;
				n2 = 0;
			}
			memcpy(cname, d1 + 1, n2);
			cname[n2] = '\0';
			if (d2 != NULL)
				filter = d2 + 1;
		}
	}
	if (!strcmp(verb, "CREATE"))
		type = T("consumer_create_response");
	else if (!strcmp(verb, "DELETE"))
		type = T("consumer_delete_response");
	else if (!strcmp(verb, "NAMES"))
		type = T("consumer_names_response");
	else if (!strcmp(verb, "LIST"))
		type = T("consumer_list_response");
	s = stream_too_long ? NULL : lw_stream_find(ctl, sname);
	if (s != NULL && consumer_too_long) {
		if (!strcmp(verb, "NEXT"))
			lw_cons_status(ctl, reply ? reply : "", "NATS/1.0 404 No Messages\r\n\r\n");
		else if (!strcmp(verb, "CREATE"))
			lw_ctl_reply_json(ctl, reply, cerr(type, 400, 10102, "consumer name is too "
							   "long, maximum allowed is 64"));
		else
			lw_ctl_reply_json(ctl, reply, cerr(type, 404, 10014, "consumer not found"));
		return;
	}
	if (s == NULL) {
		if (!strcmp(verb, "NEXT"))
			lw_cons_status(ctl, reply ? reply : "", "NATS/1.0 404 No Messages\r\n\r\n");
		else
			lw_ctl_reply_json(ctl, reply, cerr(type, 404, 10059, "stream not found"));
		return;
	}
	if (lw_msg_len(m) > 0 && strcmp(verb, "NEXT") != 0) {
		json_error_t je;

		req = json_loadb(lw_msg_data(m), lw_msg_len(m), 0, &je);
		if (req == NULL) {
			lw_ctl_reply_json(ctl, reply, lw_js_error(type, 400, 10025, "invalid JSON: %s",
								  je.text));
			return;
		}
	}
	if (!strcmp(verb, "CREATE")) {
		resp = req ? create(ctl, s, sname, cname[0] ? cname : NULL, filter, durable_api, req)
			   : cerr(type, 400, 10025, "invalid JSON: request body required");
	} else if (!strcmp(verb, "NAMES") || !strcmp(verb, "LIST")) {
		resp = consumer_names(s, req, type, !strcmp(verb, "LIST"));
	} else if ((c = lw_cons_find(s, cname)) == NULL) {
		if (!strcmp(verb, "NEXT"))
			lw_cons_status(ctl, reply ? reply : "", "NATS/1.0 404 No Messages\r\n\r\n");
		else
			resp = cerr(type, 404, 10014, "consumer not found");
	} else if (!strcmp(verb, "INFO")) {
		resp = info(c, type);
	} else if (!strcmp(verb, "DELETE")) {
		lw_cons_delete(c, true);
		resp = json_pack("{s:s, s:b}", "type", type, "success", 1);
	} else if (!strcmp(verb, "NEXT")) {
		next_request(ctl, c, m);
	} else if (!strcmp(verb, "PAUSE") || !strcmp(verb, "UNPIN")) {
		/* nats-server 2.11's; a bare 503 would read to nats.js as
		 * "JetStream not enabled" */
		resp = cerr(T("consumer_pause_response"), 400, 10003,
			    "consumer pause and priority groups are not supported by lw-control");
	} else {
		lw_cons_status(ctl, reply ? reply : "", "NATS/1.0 503\r\n\r\n");
	}
	json_decref(req);
	if (resp != NULL)
		lw_ctl_reply_json(ctl, reply, resp);
	if (!strcmp(verb, "CREATE"))
		lw_consumers_notify(s);
}
