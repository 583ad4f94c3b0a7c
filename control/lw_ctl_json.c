/* SPDX-License-Identifier: MIT */
/*
 * JSON of the JetStream API: times in Go's RFC 3339 form, error objects
 * from nats-server's errors.json, stream configuration normalised with
 * nats-server's defaults, stream info documents, and the NATS/1.0 header
 * and base64 helpers they need. Cold path: one call per API request.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "lw_ctl.h"

int64_t lw_now_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void lw_ctl_event_id(char *buf)
{
	static const char digits[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[22];

	/* Consumers tell advisories apart by id: random, not a counter, so
	 * two lw-control runs never repeat one. */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t x = (uint64_t)lw_now_wall_ns() ^ ((uint64_t)getpid() << 40);

		for (size_t i = 0; i < sizeof(rnd); i++, x = x * 6364136223846793005ull + 1)
			rnd[i] = (unsigned char)(x >> 56);
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		buf[i] = digits[rnd[i] % 62];
	buf[sizeof(rnd)] = '\0';
}

void lw_fmt_time(int64_t ns, char *buf, size_t cap)
{
	struct tm tm;
	time_t sec;

	if (ns <= 0) {
		snprintf(buf, cap, "0001-01-01T00:00:00Z");
		return;
	}
	sec = (time_t)(ns / 1000000000LL);
	gmtime_r(&sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long long)(ns % 1000000000LL));
}

int lw_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	int64_t frac = 0, scale = 1000000000LL;
	const char *p;
	int off = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	p = s + 19;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if (*p == '+' || *p == '-') {
		int h = 0, m = 0;

		if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2)
			return -1;
		off = (h * 3600 + m * 60) * (*p == '+' ? 1 : -1);
	} else if (*p != 'Z') {
		return -1;
	}
	if (tm.tm_year < 70) {
		*ns = 0;
		return 0;
	}
	*ns = ((int64_t)timegm(&tm) - off) * 1000000000LL + frac;
	return 0;
}

json_t *lw_js_error(const char *type, int code, int err_code, const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	return json_pack("{s:s, s:{s:i, s:i, s:s}}", "type", type, "error", "code", code,
			 "err_code", err_code, "description", desc);
}

void lw_ctl_reply_json(struct lw_ctl *ctl, const char *reply, json_t *body)
{
	char *s;

	if (body == NULL)
		return;
	if (reply != NULL && *reply != '\0') {
		s = json_dumps(body, JSON_COMPACT);
		if (s != NULL) {
			struct lw_pubmsg pm = { .subject = reply, .data = s, .len = strlen(s) };
			int rc = lw_publish_msg(ctl->c, &pm);

			if (rc == LW_ETOOBIG) {
				/* Over the domain's max_payload (a stream's subjects
				 * by the ten thousand): an answer the client can act
				 * on instead of a silent timeout. */
				json_t *t = json_object_get(body, "type");
				json_t *e = lw_js_error(json_is_string(t) ? json_string_value(t) :
							"io.nats.jetstream.api.v1.error_response",
							500, 10023,
							"response of %zu bytes is over the max_payload of"
							" %zu bytes: ask for less (a subject filter, an offset)",
							pm.len, lw_max_payload(ctl->c));
				char *es = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;

				fprintf(stderr, "lw-control: reply to %s: %zu bytes, over max_payload\n",
					reply, pm.len);
				if (es != NULL) {
					pm.data = es;
					pm.len = strlen(es);
					rc = lw_publish_msg(ctl->c, &pm);
					/* what was sent is what the audit shows */
					free(s);
					s = es;
				}
				json_decref(e);
				ctl->api_errors++;
			}
			if (rc < 0 && ctl->verbose)
				fprintf(stderr, "lw-control: reply to %s: %s\n", reply, lw_errmsg());
			if (reply == ctl->audit_reply && ctl->audit_subj != NULL)
				lw_ctl_adv_api(ctl, ctl->audit_subj, ctl->audit_req, ctl->audit_req_len, s);
			free(s);
		}
	}
	if (json_object_get(body, "error") != NULL)
		ctl->api_errors++;
	json_decref(body);
}

int lw_hdr_get(const void *hdr, size_t len, const char *key, char *buf, size_t cap)
{
	const char *p = hdr, *end = p + len;
	size_t kl = strlen(key);

	if (hdr == NULL)
		return -1;
	/* Skip the status line. */
	p = memchr(p, '\n', len);
	while (p != NULL && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;

		if ((size_t)(le - p) > kl && p[kl] == ':' && strncasecmp(p, key, kl) == 0) {
			const char *v = p + kl + 1;
			size_t n;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			n = (size_t)(le - v);
			while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
				n--;
			if (n + 1 > cap)
				return -2; /* there, but longer than the caller takes */
			memcpy(buf, v, n);
			buf[n] = '\0';
			return (int)n;
		}
		p = eol;
	}
	return -1;
}

char *lw_b64_encode(const void *data, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* --- stream configuration ------------------------------------------------ */

bool lw_ctl_valid_name(const char *n)
{
	json_t *utf8;

	if (*n == '\0' || strlen(n) > LW_JS_NAME_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)n; *p; p++)
		if (*p == '.' || *p == '*' || *p == '>' || *p <= ' ' || *p == 0x7f || *p == '/' ||
		    *p == '\\')
			return false;
	/* UTF-8 names are fine (nats-server takes them); bytes that are
	 * not UTF-8 could not be answered in JSON */
	utf8 = json_string(n);
	json_decref(utf8);
	return utf8 != NULL;
}

static bool valid_subject_pattern(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LW_SUBJECT_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (const char *t = s; *t; t++) {
		if (*t <= ' ' || *t == 0x7f)
			return false;
		if (t[0] == '.' && t[1] == '.')
			return false;
		if ((*t == '*' || *t == '>') && ((t != s && t[-1] != '.') ||
						 (t[1] != '\0' && t[1] != '.')))
			return false;
		if (*t == '>' && t[1] != '\0')
			return false;
	}
	return true;
}

static int64_t get_int(const json_t *o, const char *k, int64_t def)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static const char *get_str(const json_t *o, const char *k, const char *def)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : def;
}

/* The JSON type each field of a config must have: one letter a field
 * ('i' integer, 'b' boolean, 's' string, 'a' array, 'o' object), as the
 * Go structs nats-server unmarshals into. */
static const struct {
	const char *name;
	char type;
} stream_fields[] = {
	{ "name", 's' }, { "description", 's' }, { "subjects", 'a' }, { "retention", 's' },
	{ "max_consumers", 'i' }, { "max_msgs", 'i' }, { "max_bytes", 'i' }, { "max_age", 'i' },
	{ "max_msgs_per_subject", 'i' }, { "max_msg_size", 'i' }, { "discard", 's' },
	{ "storage", 's' }, { "num_replicas", 'i' }, { "duplicate_window", 'i' },
	{ "sealed", 'b' }, { "deny_delete", 'b' }, { "deny_purge", 'b' },
	{ "allow_rollup_hdrs", 'b' }, { "allow_direct", 'b' }, { "mirror_direct", 'b' },
	{ "no_ack", 'b' }, { "discard_new_per_subject", 'b' }, { "first_seq", 'i' },
	{ "template_owner", 's' }, { "compression", 's' }, { "placement", 'o' },
	{ "consumer_limits", 'o' }, { "metadata", 'o' },
}, consumer_fields[] = {
	{ "durable_name", 's' }, { "name", 's' }, { "description", 's' },
	{ "deliver_subject", 's' }, { "deliver_group", 's' }, { "deliver_policy", 's' },
	{ "opt_start_seq", 'i' }, { "opt_start_time", 's' }, { "ack_policy", 's' },
	{ "ack_wait", 'i' }, { "max_deliver", 'i' }, { "backoff", 'a' },
	{ "filter_subject", 's' }, { "filter_subjects", 'a' }, { "replay_policy", 's' },
	{ "rate_limit_bps", 'i' }, { "sample_freq", 's' }, { "max_waiting", 'i' },
	{ "max_ack_pending", 'i' }, { "flow_control", 'b' }, { "idle_heartbeat", 'i' },
	{ "headers_only", 'b' }, { "max_batch", 'i' }, { "max_expires", 'i' },
	{ "max_bytes", 'i' }, { "inactive_threshold", 'i' }, { "num_replicas", 'i' },
	{ "mem_storage", 'b' }, { "metadata", 'o' },
};

static const char *json_kind(const json_t *v)
{
	return json_is_string(v) ? "string" : json_is_boolean(v) ? "bool" :
	       json_is_array(v) ? "array" : json_is_object(v) ? "object" : "number";
}

json_t *lw_cfg_check_types(const json_t *cfg, bool consumer, const char *type)
{
	size_t n = consumer ? sizeof(consumer_fields) / sizeof(consumer_fields[0]) :
			      sizeof(stream_fields) / sizeof(stream_fields[0]);
	const char *go = consumer ? "ConsumerConfig" : "StreamConfig";

	if (!json_is_object(cfg))
		return lw_js_error(type, 400, 10025, "invalid JSON: json: cannot unmarshal %s into "
				   "Go value of type %s", json_kind(cfg), go);
	for (size_t i = 0; i < n; i++) {
		const char *f = consumer ? consumer_fields[i].name : stream_fields[i].name;
		char t = consumer ? consumer_fields[i].type : stream_fields[i].type;
		json_t *v = json_object_get(cfg, f);
		bool ok;

		if (v == NULL || json_is_null(v))
			continue;
		ok = t == 'i' ? json_is_integer(v) : t == 'b' ? json_is_boolean(v) :
		     t == 's' ? json_is_string(v) : t == 'a' ? json_is_array(v) : json_is_object(v);
		if (!ok)
			return lw_js_error(type, 400, 10025, "invalid JSON: json: cannot unmarshal %s "
					   "into Go struct field %s.%s of type %s", json_kind(v), go, f,
					   t == 'i' ? "int64" : t == 'b' ? "bool" : t == 's' ? "string" :
					   t == 'a' ? "[]" : "object");
	}
	return NULL;
}

static bool get_bool(const json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k));
}

#define CFG_ERR(...) (*err = lw_js_error("", __VA_ARGS__), json_decref(c), (json_t *)NULL)

json_t *lw_stream_cfg_normalise(const json_t *req, const char *name, json_t **err)
{
	static const char *const unsupported[] = { "mirror", "sources", "republish",
						   "subject_transform", NULL };
	const char *rname = get_str(req, "name", name);
	json_t *c = json_object(), *subj = json_object_get(req, "subjects"), *arr;
	int64_t max_age, dup;
	const char *ret, *disc, *stor;

	if ((*err = lw_cfg_check_types(req, false, "")) != NULL) {
		json_decref(c);
		return NULL;
	}
	if (strcmp(rname, name) != 0)
		return CFG_ERR(400, 10056, "stream name in subject does not match request");
	if (strchr(name, '/') || strchr(name, '\\'))
		return CFG_ERR(400, 10128, "Stream name can not contain path separators");
	if (!lw_ctl_valid_name(name))
		return CFG_ERR(400, 10052 /* JSStreamInvalidConfigF */, "invalid stream name");
	for (int i = 0; unsupported[i]; i++) {
		json_t *v = json_object_get(req, unsupported[i]);

		if (v != NULL && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
			return CFG_ERR(500, 10052, "stream configuration for %s is not supported by lw-control",
				       unsupported[i]);
	}
	json_object_set_new(c, "name", json_string(name));
	if (get_str(req, "description", NULL))
		json_object_set_new(c, "description", json_string(get_str(req, "description", "")));
	arr = json_array();
	if (json_is_array(subj) && json_array_size(subj) > 0) {
		size_t i;
		json_t *v;

		json_array_foreach(subj, i, v) {
			if (!json_is_string(v) || !valid_subject_pattern(json_string_value(v))) {
				json_decref(arr);
				return CFG_ERR(500, 10052, "invalid subject");
			}
			if (strncmp(json_string_value(v), "$JS.", 4) == 0 ||
			    strcmp(json_string_value(v), ">") == 0) {
				json_decref(arr);
				return CFG_ERR(400, 10052,
					       "subjects that overlap with jetstream api require no-ack to be true");
			}
			for (size_t j = 0; j < i; j++) {
				const char *a = json_string_value(json_array_get(arr, j));

				if (!strcmp(a, json_string_value(v))) {
					json_decref(arr);
					return CFG_ERR(500, 10052, "duplicate subjects detected");
				}
				if (lw_subjects_overlap(a, json_string_value(v))) {
					char d[2 * LW_SUBJECT_MAX + 40];

					snprintf(d, sizeof(d), "subject \"%s\" overlaps with \"%s\"",
						 json_string_value(v), a);
					json_decref(arr);
					return CFG_ERR(500, 10052, "%s", d);
				}
			}
			json_array_append(arr, v);
		}
	} else {
		json_array_append_new(arr, json_string(name));
	}
	json_object_set_new(c, "subjects", arr);
	ret = get_str(req, "retention", "limits");
	if (strcmp(ret, "limits") && strcmp(ret, "interest") && strcmp(ret, "workqueue"))
		return CFG_ERR(400, 10025, "invalid JSON: invalid retention %s", ret);
	json_object_set_new(c, "retention", json_string(ret));
#define LIMIT(k) do { int64_t v_ = get_int(req, k, -1); \
		json_object_set_new(c, k, json_integer(v_ <= 0 ? -1 : v_)); } while (0)
	LIMIT("max_consumers");
	LIMIT("max_msgs");
	LIMIT("max_bytes");
	max_age = get_int(req, "max_age", 0);
	if (max_age < 0)
		return CFG_ERR(500, 10052, "max age needs to be >= 0");
	/* nats-server's floor: a KV TTL of 700 given in ms where ns are
	 * meant would otherwise expire every value at once. */
	if (max_age > 0 && max_age < 100000000)
		return CFG_ERR(500, 10052, "max age needs to be >= 100ms");
	json_object_set_new(c, "max_age", json_integer(max_age));
	LIMIT("max_msgs_per_subject");
	LIMIT("max_msg_size");
#undef LIMIT
	disc = get_str(req, "discard", "old");
	if (strcmp(disc, "old") && strcmp(disc, "new"))
		return CFG_ERR(400, 10025, "invalid JSON: invalid discard policy %s", disc);
	json_object_set_new(c, "discard", json_string(disc));
	stor = get_str(req, "storage", "file");
	if (strcmp(stor, "file") && strcmp(stor, "memory"))
		return CFG_ERR(400, 10025, "invalid JSON: invalid storage type %s", stor);
	json_object_set_new(c, "storage", json_string(stor));
	if (get_int(req, "num_replicas", 1) > 5)
		return CFG_ERR(500, 10052, "maximum replicas is 5");
	if (get_int(req, "num_replicas", 1) > 1)
		return CFG_ERR(500, 10074, "replicas > 1 not supported in non-clustered mode");
	json_object_set_new(c, "num_replicas", json_integer(1));
	dup = get_int(req, "duplicate_window", 0);
	if (dup > 0 && dup < 100000000)
		return CFG_ERR(500, 10052, "duplicates window needs to be >= 100ms");
	if (dup > 0 && max_age > 0 && dup > max_age)
		return CFG_ERR(500, 10052, "duplicates window can not be larger then max age");
	if (dup <= 0)
		dup = 120000000000LL;
	/* the default window, not one asked for, shrinks to max_age */
	if (max_age > 0 && dup > max_age)
		dup = max_age;
	json_object_set_new(c, "duplicate_window", json_integer(dup));
	json_object_set_new(c, "sealed", json_boolean(get_bool(req, "sealed")));
	json_object_set_new(c, "deny_delete", json_boolean(get_bool(req, "deny_delete")));
	json_object_set_new(c, "deny_purge", json_boolean(get_bool(req, "deny_purge")));
	json_object_set_new(c, "allow_rollup_hdrs", json_boolean(get_bool(req, "allow_rollup_hdrs")));
	json_object_set_new(c, "allow_direct", json_boolean(get_bool(req, "allow_direct")));
	json_object_set_new(c, "mirror_direct", json_false());
	json_object_set_new(c, "no_ack", json_boolean(get_bool(req, "no_ack")));
	json_object_set_new(c, "discard_new_per_subject",
			    json_boolean(get_bool(req, "discard_new_per_subject")));
	/* Accepting s2 and storing plainly would say one thing and do
	 * another: refused, as mirrors and sources are. */
	if (strcmp(get_str(req, "compression", "none"), "none") != 0 &&
	    *get_str(req, "compression", "none") != '\0')
		return CFG_ERR(500, 10052,
			       "stream configuration for compression is not supported by lw-control");
	json_object_set_new(c, "compression", json_string("none"));
	if (get_int(req, "first_seq", 0) < 0)
		return CFG_ERR(500, 10052, "first sequence needs to be >= 0");
	if (get_int(req, "first_seq", 0) > 0)
		json_object_set_new(c, "first_seq", json_integer(get_int(req, "first_seq", 0)));
	{
		/* Defaults for the stream's consumers (lw_ctl_consumer_api). */
		const json_t *cl = json_object_get(req, "consumer_limits");
		json_t *o = json_object();

		if (get_int(cl, "inactive_threshold", 0) > 0)
			json_object_set_new(o, "inactive_threshold",
					    json_integer(get_int(cl, "inactive_threshold", 0)));
		if (get_int(cl, "max_ack_pending", 0) > 0)
			json_object_set_new(o, "max_ack_pending",
					    json_integer(get_int(cl, "max_ack_pending", 0)));
		json_object_set_new(c, "consumer_limits", o);
	}
	if (get_bool(req, "sealed")) {
		/* what sealing means, in the config as nats-server shows it */
		json_object_set_new(c, "discard", json_string("new"));
		json_object_set_new(c, "deny_delete", json_true());
		json_object_set_new(c, "deny_purge", json_true());
		json_object_set_new(c, "allow_rollup_hdrs", json_false());
	}
	if (get_bool(req, "discard_new_per_subject") &&
	    (strcmp(disc, "new") || get_int(req, "max_msgs_per_subject", -1) <= 0))
		return CFG_ERR(500, 10052,
			       "discard new per subject requires discard new policy and max msgs per subject to be set");
	if (json_object_get(req, "metadata") && json_is_object(json_object_get(req, "metadata")))
		json_object_set(c, "metadata", json_object_get(req, "metadata"));
	return c;
}

void lw_stream_limits_from(const json_t *cfg, struct lw_stream_limits *l)
{
	const char *ret = get_str(cfg, "retention", "limits");

	memset(l, 0, sizeof(*l));
	l->max_msgs = get_int(cfg, "max_msgs", -1);
	l->max_bytes = get_int(cfg, "max_bytes", -1);
	l->max_age_ns = get_int(cfg, "max_age", 0);
	l->max_msgs_per_subject = get_int(cfg, "max_msgs_per_subject", -1);
	l->max_msg_size = get_int(cfg, "max_msg_size", -1);
	l->max_consumers = get_int(cfg, "max_consumers", -1);
	l->duplicate_window_ns = get_int(cfg, "duplicate_window", 120000000000LL);
	l->discard_new = strcmp(get_str(cfg, "discard", "old"), "new") == 0;
	l->discard_new_per_subject = get_bool(cfg, "discard_new_per_subject");
	l->deny_delete = get_bool(cfg, "deny_delete");
	l->deny_purge = get_bool(cfg, "deny_purge");
	l->sealed = get_bool(cfg, "sealed");
	l->no_ack = get_bool(cfg, "no_ack");
	l->allow_rollup = get_bool(cfg, "allow_rollup_hdrs");
	l->retention = !strcmp(ret, "workqueue") ? LW_RET_WORKQUEUE :
		       !strcmp(ret, "interest") ? LW_RET_INTEREST : LW_RET_LIMITS;
}

json_t *lw_stream_info_json(struct lw_stream *s, const char *type, const json_t *req)
{
	struct lw_store_state st;
	char t0[40], t1[40], tc[40], tn[40];
	json_t *o, *state;
	const char *filter = req ? get_str(req, "subjects_filter", NULL) : NULL;

	lw_store_get_state(s->st, &st);
	lw_fmt_time(st.msgs ? st.first_ts : 0, t0, sizeof(t0));
	lw_fmt_time(st.last_ts, t1, sizeof(t1));
	lw_fmt_time(s->created_ns, tc, sizeof(tc));
	lw_fmt_time(lw_now_wall_ns(), tn, sizeof(tn));
	/* As nats-server's: a stream that never held a message starts at 0,
	 * and the counts that are 0 are left out. */
	state = json_pack("{s:I, s:I, s:I, s:s, s:I, s:s, s:i}",
			  "messages", (json_int_t)st.msgs, "bytes", (json_int_t)st.bytes,
			  "first_seq", (json_int_t)(st.last_seq == 0 ? 0 : st.first_seq),
			  "first_ts", t0, "last_seq", (json_int_t)st.last_seq, "last_ts", t1,
			  "consumer_count", lw_consumer_count(s));
	if (st.num_deleted > 0)
		json_object_set_new(state, "num_deleted", json_integer((json_int_t)st.num_deleted));
	if (st.num_subjects > 0)
		json_object_set_new(state, "num_subjects", json_integer((json_int_t)st.num_subjects));
	if (st.lost_msgs > 0) {
		size_t n;
		const uint64_t *lost = lw_store_lost(s->st, &n);
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_integer((json_int_t)lost[i]));
		json_object_set_new(state, "lost", json_pack("{s:o, s:I}", "msgs", arr, "bytes",
							     (json_int_t)st.lost_bytes));
	}
	if (req != NULL && get_bool(req, "deleted_details") && st.num_deleted > 0) {
		json_t *arr = json_array();

		for (uint64_t q = st.first_seq; q <= st.last_seq; q++)
			if (lw_store_subject(s->st, q) == NULL)
				json_array_append_new(arr, json_integer((json_int_t)q));
		json_object_set_new(state, "deleted", arr);
	}
	if (filter != NULL && *filter != '\0') {
		json_t *subs = json_object();

		for (uint64_t q = lw_store_next(s->st, 0, filter); q != 0;
		     q = lw_store_next(s->st, q + 1, filter)) {
			const char *sj = lw_store_subject(s->st, q);
			json_t *v = json_object_get(subs, sj);

			json_object_set_new(subs, sj, json_integer(v ? json_integer_value(v) + 1 : 1));
		}
		/* left out when nothing matches, as nats-server */
		if (json_object_size(subs) > 0)
			json_object_set_new(state, "subjects", subs);
		else
			json_decref(subs);
	}
	size_t nsubj = json_object_size(json_object_get(state, "subjects"));

	o = json_pack("{s:O, s:s, s:o, s:s}", "config", s->cfg, "created", tc, "state", state,
		      "ts", tn);
	if (o != NULL && type != NULL)
		json_object_set_new(o, "type", json_string(type));
	/* STREAM.INFO pages its subjects as nats-server's does (all of them
	 * in one page here; "limit" is nats-server's page size) */
	if (o != NULL && type != NULL && strstr(type, "stream_info_response") != NULL) {
		json_object_set_new(o, "total", json_integer((json_int_t)nsubj));
		json_object_set_new(o, "offset", json_integer(0));
		json_object_set_new(o, "limit", json_integer(filter != NULL && *filter ? 100000 : 0));
	}
	return o;
}
