/* SPDX-License-Identifier: MIT */
/*
 * /connz and /subsz as nats-server answers them: connections open and
 * recently closed (the last GW_CLOSED_MAX, with why they closed), sorted
 * and paged as asked; subscriptions listed, filtered by a subject they
 * would receive, paged.
 *
 * Both are built from snapshots (struct gw_cinfo) taken on the gateway
 * thread, which owns the connections: one code path sorts and prints an
 * open connection and a closed one alike.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lightwire/stats.h>

#include "lw_gw_pvt.h"
#include "lw_gw_sbuf.h"
#include "lw_subject.h" /* lw_subj_validate */

#define LD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

struct gw_csub {
	char *subject, *queue, *sid;
	uint64_t msgs, max;
};

/* One connection as /connz shows it. */
struct gw_cinfo {
	uint32_t cid;
	char ip[64];
	int port;
	time_t start, last, stop;   /* stop: 0 while open */
	uint64_t uptime_ns, idle_ns;
	size_t pending;
	uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
	uint32_t nsubs;
	uint32_t nlist;             /* entries of subs: nsubs, or fewer once closed */
	struct gw_csub *subs;       /* or NULL */
	char name[64], lang[32], version[32], user[64], tls_ver[16], tls_cipher[64];
	const char *reason;         /* closed: nats-server's words */
};

uint32_t gw_subs(const struct lw_gw *gw)
{
	uint32_t n = 0;

	for (const struct gw_conn *c = gw->conns; c != NULL; c = c->next)
		n += c->nsubs;
	return n;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void cinfo_subs_free(struct gw_cinfo *ci)
{
	for (uint32_t i = 0; ci->subs != NULL && i < ci->nlist; i++) {
		free(ci->subs[i].subject);
		free(ci->subs[i].queue);
		free(ci->subs[i].sid);
	}
	free(ci->subs);
	ci->subs = NULL;
}

/* Snapshot of @p c at @p now (@p wall); at most @p max_subs of its
 * subscriptions (copied, the oldest first), none when 0. */
static void cinfo_fill(struct gw_cinfo *ci, struct gw_conn *c, uint64_t now, time_t wall,
		       uint32_t max_subs)
{
	memset(ci, 0, sizeof(*ci));
	ci->cid = c->cid;
	memcpy(ci->ip, c->ip, sizeof(ci->ip));
	ci->port = c->port;
	ci->start = wall - (time_t)((now - c->start_ns) / 1000000000ull);
	ci->last = wall - (time_t)((now - c->last_in_ns) / 1000000000ull);
	ci->uptime_ns = now - c->start_ns;
	ci->idle_ns = now - c->last_in_ns;
	pthread_mutex_lock(&c->mu);
	ci->pending = c->out_len - c->out_off;
	if (c->ssl != NULL) {
		const char *v = gw_tls_version(c);

		/* nats-server says "1.3" where OpenSSL says "TLSv1.3". */
		snprintf(ci->tls_ver, sizeof(ci->tls_ver), "%s", strncmp(v, "TLSv", 4) ? v : v + 4);
		snprintf(ci->tls_cipher, sizeof(ci->tls_cipher), "%s", gw_tls_cipher(c));
	}
	pthread_mutex_unlock(&c->mu);
	ci->in_msgs = LD(c->in_msgs);
	ci->out_msgs = LD(c->out_msgs);
	ci->in_bytes = LD(c->in_bytes);
	ci->out_bytes = LD(c->out_bytes);
	ci->nsubs = c->nsubs;
	memcpy(ci->name, c->name, sizeof(ci->name));
	memcpy(ci->lang, c->lang, sizeof(ci->lang));
	memcpy(ci->version, c->version, sizeof(ci->version));
	memcpy(ci->user, c->user, sizeof(ci->user));
	if (max_subs == 0 || c->nsubs == 0)
		return;
	ci->nlist = c->nsubs < max_subs ? c->nsubs : max_subs;
	ci->subs = calloc(ci->nlist, sizeof(*ci->subs));
	if (ci->subs == NULL) {
		ci->nlist = 0;
		return;
	}
	/* c->subs is newest first: list them in the order they came (the
	 * newest are the ones left out past max_subs). */
	uint32_t k = c->nsubs;

	for (struct gw_sub *s = c->subs; s != NULL && k > 0; s = s->next, k--) {
		if (k > ci->nlist)
			continue;

		struct gw_csub *o = &ci->subs[k - 1];

		o->subject = strdup(s->subject);
		o->queue = dup_or_null(s->queue);
		o->sid = strdup(s->sid);
		o->msgs = LD(s->delivered);
		o->max = LD(s->max);
	}
}

/* nats-server's words for why a connection closed, from the -ERR we
 * sent or what happened to it. */
static const char *closed_reason(const struct gw_conn *c, const struct lw_gw *gw)
{
	static const struct {
		const char *err, *reason;
	} map[] = {
		{ "Authorization Violation", "Authentication Failure" },
		{ "Authentication Timeout", "Authentication Timeout" },
		{ "Stale Connection", "Stale Connection" },
		{ "maximum connections exceeded", "Maximum Connections Exceeded" },
		{ "Maximum Payload Violation", "Maximum Payload Exceeded" },
		{ "Maximum Control Line Exceeded", "Maximum Control Line Exceeded" },
		{ "Headers Not Supported", "Protocol Violation" },
		{ "no responders requires headers support", "Protocol Violation" },
		{ "Slow Consumer (Pending Bytes)", "Slow Consumer (Pending Bytes)" },
		{ "Slow Consumer (Write Deadline)", "Slow Consumer (Write Deadline)" },
		{ "Write Error", "Write Error" },
		{ "TLS Handshake Error", "TLS Handshake Error" },
	};

	if (c->close_reason == NULL)
		return atomic_load(&gw->stop) ? "Server Shutdown" : "Client Closed";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(c->close_reason, map[i].err) == 0)
			return map[i].reason;
	return "Parse Error"; /* the parser's -ERRs */
}

void gw_connz_closed(struct lw_gw *gw, struct gw_conn *c)
{
	struct gw_cinfo *ci;
	uint32_t slot;

	if (c->refused)
		return; /* never counted as a connection */
	ci = malloc(sizeof(*ci));
	if (ci == NULL)
		return;
	if (gw->closed == NULL) {
		gw->closed = calloc(GW_CLOSED_MAX, sizeof(*gw->closed));
		if (gw->closed == NULL) {
			free(ci);
			return;
		}
	}
	/* bounded: 10,000 closed connections with thousands of
	 * subscriptions each would hold gigabytes */
	cinfo_fill(ci, c, gw_now_ns(), time(NULL), GW_CLOSED_SUBS_MAX);
	ci->stop = time(NULL);
	pthread_mutex_lock(&c->mu);
	ci->reason = c->dead_reason != NULL ? c->dead_reason : closed_reason(c, gw);
	pthread_mutex_unlock(&c->mu);
	/* The oldest goes when the ring is full. */
	slot = (gw->closed_head + gw->closed_n) % GW_CLOSED_MAX;
	if (gw->closed_n == GW_CLOSED_MAX) {
		cinfo_subs_free(gw->closed[slot]);
		free(gw->closed[slot]);
		gw->closed_head = (gw->closed_head + 1) % GW_CLOSED_MAX;
	} else {
		gw->closed_n++;
	}
	gw->closed[slot] = ci;
}

void gw_connz_free(struct lw_gw *gw)
{
	for (uint32_t i = 0; gw->closed != NULL && i < gw->closed_n; i++) {
		struct gw_cinfo *ci = gw->closed[(gw->closed_head + i) % GW_CLOSED_MAX];

		cinfo_subs_free(ci);
		free(ci);
	}
	free(gw->closed);
	gw->closed = NULL;
	gw->closed_n = gw->closed_head = 0;
}

/* --- sorting ---------------------------------------------------------- */

enum sort_key {
	BY_CID, BY_START, BY_SUBS, BY_PENDING, BY_MSGS_TO, BY_MSGS_FROM, BY_BYTES_TO,
	BY_BYTES_FROM, BY_LAST, BY_IDLE, BY_UPTIME, BY_STOP, BY_REASON,
};

static const struct {
	const char *name;
	enum sort_key key;
} sorts[] = {
	{ "cid", BY_CID }, { "start", BY_START }, { "subs", BY_SUBS }, { "pending", BY_PENDING },
	{ "msgs_to", BY_MSGS_TO }, { "msgs_from", BY_MSGS_FROM }, { "bytes_to", BY_BYTES_TO },
	{ "bytes_from", BY_BYTES_FROM }, { "last", BY_LAST }, { "idle", BY_IDLE },
	{ "uptime", BY_UPTIME }, { "stop", BY_STOP }, { "reason", BY_REASON },
	/* lwd measures no RTT: every connection ties, cid order remains */
	{ "rtt", BY_CID },
};

static enum sort_key g_sort; /* qsort has no context argument; gateway thread only */

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* cid and start ascending, the rest descending (biggest first), as
 * nats-server; ties in cid order. */
static int by_key(const void *pa, const void *pb)
{
	const struct gw_cinfo *a = *(struct gw_cinfo *const *)pa, *b = *(struct gw_cinfo *const *)pb;
	int r = 0;

	switch (g_sort) {
	case BY_CID: break;
	case BY_START: r = cmp_u64((uint64_t)a->start, (uint64_t)b->start); break;
	case BY_SUBS: r = -cmp_u64(a->nsubs, b->nsubs); break;
	case BY_PENDING: r = -cmp_u64(a->pending, b->pending); break;
	case BY_MSGS_TO: r = -cmp_u64(a->out_msgs, b->out_msgs); break;
	case BY_MSGS_FROM: r = -cmp_u64(a->in_msgs, b->in_msgs); break;
	case BY_BYTES_TO: r = -cmp_u64(a->out_bytes, b->out_bytes); break;
	case BY_BYTES_FROM: r = -cmp_u64(a->in_bytes, b->in_bytes); break;
	case BY_LAST: r = -cmp_u64((uint64_t)a->last, (uint64_t)b->last); break;
	case BY_IDLE: r = -cmp_u64(a->idle_ns, b->idle_ns); break;
	case BY_UPTIME: r = -cmp_u64(a->uptime_ns, b->uptime_ns); break;
	case BY_STOP: r = -cmp_u64((uint64_t)a->stop, (uint64_t)b->stop); break;
	case BY_REASON: r = strcmp(a->reason ? a->reason : "", b->reason ? b->reason : ""); break;
	}
	return r != 0 ? r : cmp_u64(a->cid, b->cid);
}

/* --- query strings ---------------------------------------------------- */

/* A number parameter: absent -> @p def; not a number -> false. */
static bool q_num(const char *q, const char *key, long def, long *out, struct sbuf *err)
{
	size_t n;
	const char *v = gw_q_raw(q, key, &n);
	char buf[24];
	char *end;

	*out = def;
	if (v == NULL)
		return true;
	if (n == 0 || n >= sizeof(buf))
		goto bad;
	memcpy(buf, v, n);
	buf[n] = '\0';
	*out = strtol(buf, &end, 10);
	if (*end == '\0')
		return true;
bad:
	gw_sb_printf(err, "invalid %s: '%.*s' is not a number\n", key, (int)(n > 64 ? 64 : n), v);
	return false;
}

/* --- /connz ----------------------------------------------------------- */

/* ,"key":"value" when @p v is not empty. */
static void opt_field(struct sbuf *b, const char *key, const char *v)
{
	if (v[0] == '\0')
		return;
	gw_sb_printf(b, ",\"%s\":", key);
	gw_sb_jstr(b, v);
}

/* nats-server's SubDetail object (no accounts here). */
static void sub_detail(struct sbuf *b, const char *subject, const char *queue, const char *sid,
		       unsigned long long msgs, unsigned long long max, uint32_t cid)
{
	gw_sb_printf(b, "{\"subject\":");
	gw_sb_jstr(b, subject);
	if (queue != NULL)
		opt_field(b, "qgroup", queue);
	opt_field(b, "sid", sid);
	gw_sb_printf(b, ",\"msgs\":%llu", msgs);
	if (max != 0)
		gw_sb_printf(b, ",\"max\":%llu", max);
	gw_sb_printf(b, ",\"cid\":%u}", cid);
}

static void print_conn(struct sbuf *b, const struct gw_cinfo *ci, bool subs, bool detail,
		       bool auth)
{
	gw_sb_printf(b, "{\"cid\":%u,\"kind\":\"Client\",\"type\":\"nats\",\"ip\":\"%s\","
		     "\"port\":%d,\"start\":", ci->cid, ci->ip, ci->port);
	gw_sb_time(b, ci->start);
	gw_sb_printf(b, ",\"last_activity\":");
	gw_sb_time(b, ci->last);
	if (ci->stop != 0) {
		gw_sb_printf(b, ",\"stop\":");
		gw_sb_time(b, ci->stop);
		gw_sb_printf(b, ",\"reason\":");
		gw_sb_jstr(b, ci->reason);
	}
	gw_sb_printf(b, ",\"uptime\":");
	gw_sb_dur(b, ci->uptime_ns);
	gw_sb_printf(b, ",\"idle\":");
	gw_sb_dur(b, ci->idle_ns);
	gw_sb_printf(b, ",\"pending_bytes\":%zu,\"in_msgs\":%llu,\"out_msgs\":%llu,"
		     "\"in_bytes\":%llu,\"out_bytes\":%llu,\"subscriptions\":%u", ci->pending,
		     (unsigned long long)ci->in_msgs, (unsigned long long)ci->out_msgs,
		     (unsigned long long)ci->in_bytes, (unsigned long long)ci->out_bytes, ci->nsubs);
	/* left out when the client did not say, as nats-server */
	opt_field(b, "name", ci->name);
	opt_field(b, "lang", ci->lang);
	opt_field(b, "version", ci->version);
	if (ci->tls_ver[0]) {
		opt_field(b, "tls_version", ci->tls_ver);
		opt_field(b, "tls_cipher_suite", ci->tls_cipher);
	}
	if (auth)
		opt_field(b, "authorized_user", ci->user);
	if (subs && ci->subs != NULL) {
		gw_sb_printf(b, detail ? ",\"subscriptions_list_detail\":[" :
					 ",\"subscriptions_list\":[");
		for (uint32_t i = 0; i < ci->nlist; i++) {
			const struct gw_csub *s = &ci->subs[i];

			if (i > 0)
				gw_sb_printf(b, ",");
			if (!detail) {
				gw_sb_jstr(b, s->subject);
				continue;
			}
			sub_detail(b, s->subject, s->queue, s->sid, s->msgs, s->max, ci->cid);
		}
		gw_sb_printf(b, "]");
	}
	gw_sb_printf(b, "}");
}

int gw_connz(struct lw_gw *gw, struct sbuf *b, struct sbuf *err, const char *q)
{
	size_t sn = 0, stn = 0, subn = 0, an = 0;
	const char *sort = gw_q_raw(q, "sort", &sn), *state = gw_q_raw(q, "state", &stn);
	const char *subs_v = gw_q_raw(q, "subs", &subn), *auth_v = gw_q_raw(q, "auth", &an);
	bool open = true, closed = false, subs, detail, auth;
	long offset, limit, cid;
	uint64_t now = gw_now_ns();
	time_t wall = time(NULL);
	struct gw_cinfo **v, *own;
	uint32_t total = 0, nopen = 0, from, to;

	if (!q_num(q, "offset", 0, &offset, err) || !q_num(q, "limit", 1024, &limit, err) ||
	    !q_num(q, "cid", 0, &cid, err))
		return 400;
	detail = gw_q_is(subs_v, subn, "detail");
	subs = detail || gw_q_is(subs_v, subn, "1") || gw_q_is(subs_v, subn, "true");
	if (subs_v != NULL && !subs && !gw_q_is(subs_v, subn, "0") && !gw_q_is(subs_v, subn, "false")) {
		gw_sb_printf(err, "invalid subs: '%.*s' (1, true, detail, 0 or false)\n",
			     (int)(subn > 64 ? 64 : subn), subs_v);
		return 400;
	}
	auth = gw_q_bool(q, "auth") == 1;
	if (gw_q_bool(q, "auth") == -2) {
		gw_sb_printf(err, "invalid auth: '%.*s' (1, true, 0 or false)\n",
			     (int)(an > 64 ? 64 : an), auth_v);
		return 400;
	}
	if (state != NULL) {
		open = gw_q_is(state, stn, "open") || gw_q_is(state, stn, "all");
		closed = gw_q_is(state, stn, "closed") || gw_q_is(state, stn, "all");
		if (!open && !closed) {
			gw_sb_printf(err, "invalid state: '%.*s' (open, closed or all)\n",
				     (int)(stn > 64 ? 64 : stn), state);
			return 400;
		}
	}
	g_sort = BY_CID;
	if (sort != NULL) {
		size_t i = 0;

		while (i < sizeof(sorts) / sizeof(sorts[0]) && !gw_q_is(sort, sn, sorts[i].name))
			i++;
		if (i == sizeof(sorts) / sizeof(sorts[0])) {
			gw_sb_printf(err, "invalid sorting option: '%.*s'\n",
				     (int)(sn > 64 ? 64 : sn), sort);
			return 400;
		}
		g_sort = sorts[i].key;
		if ((g_sort == BY_STOP || g_sort == BY_REASON) && open) {
			gw_sb_printf(err, "sort by %s only valid on closed connections\n",
				     sorts[i].name);
			return 400;
		}
	}
	v = calloc((size_t)gw->nconns + gw->closed_n + 1, sizeof(*v));
	own = calloc((size_t)gw->nconns + 1, sizeof(*own));
	if (v == NULL || own == NULL) {
		free(v);
		free(own);
		gw_sb_printf(err, "out of memory\n");
		return 500;
	}
	for (struct gw_conn *c = gw->conns; open && c != NULL; c = c->next)
		if (!c->refused && (cid <= 0 || c->cid == (uint32_t)cid)) {
			cinfo_fill(&own[nopen], c, now, wall, subs ? UINT32_MAX : 0);
			v[total++] = &own[nopen++];
		}
	for (uint32_t i = 0; closed && i < gw->closed_n; i++) {
		struct gw_cinfo *ci = gw->closed[(gw->closed_head + i) % GW_CLOSED_MAX];

		if (cid <= 0 || ci->cid == (uint32_t)cid)
			v[total++] = ci;
	}
	qsort(v, total, sizeof(*v), by_key);
	if (offset < 0)
		offset = 0;
	if (limit <= 0)
		limit = 1024;
	from = offset < (long)total ? (uint32_t)offset : total;
	to = (long)(total - from) > limit ? from + (uint32_t)limit : total;
	gw_sb_printf(b, "{\"server_id\":\"%s\",\"now\":", gw->server_id);
	gw_sb_time(b, wall);
	gw_sb_printf(b, ",\"num_connections\":%u,\"total\":%u,\"offset\":%ld,\"limit\":%ld,"
		     "\"connections\":[", to - from, total, offset, limit);
	for (uint32_t i = from; i < to; i++) {
		if (i > from)
			gw_sb_printf(b, ",");
		print_conn(b, v[i], subs, detail, auth);
	}
	gw_sb_printf(b, "]}\n");
	for (uint32_t i = 0; i < nopen; i++)
		cinfo_subs_free(&own[i]);
	free(own);
	free(v);
	return 200;
}

/* --- /subsz ----------------------------------------------------------- */


int gw_subsz(struct lw_gw *gw, struct sbuf *b, struct sbuf *err, const char *q)
{
	size_t subn = 0, tn = 0;
	const char *subs_v = gw_q_raw(q, "subs", &subn), *test = gw_q_raw(q, "test", &tn);
	struct lw_domain_stats ds = { 0 };
	char tsubj[LW_SUBJECT_MAX + 1] = "";
	long offset, limit;
	bool subs;

	if (!q_num(q, "offset", 0, &offset, err) || !q_num(q, "limit", 1024, &limit, err))
		return 400;
	subs = gw_q_is(subs_v, subn, "1") || gw_q_is(subs_v, subn, "true") ||
	       gw_q_is(subs_v, subn, "detail");
	if (subs_v != NULL && !subs && !gw_q_is(subs_v, subn, "0") && !gw_q_is(subs_v, subn, "false")) {
		gw_sb_printf(err, "invalid subs: '%.*s' (1, true, 0 or false)\n",
			     (int)(subn > 64 ? 64 : subn), subs_v);
		return 400;
	}
	if (test != NULL && tn > 0) {
		/* a subject one could publish to: no wildcards (empty: no
		 * filter, as nats-server) */
		if (tn == 0 || tn > LW_SUBJECT_MAX ||
		    (memcpy(tsubj, test, tn), tsubj[tn] = '\0',
		     lw_subj_validate(tsubj, tn, LW_SUBJ_PUBLISH) != LW_OK)) {
			gw_sb_printf(err, "invalid test subject: '%.*s'\n",
				     (int)(tn > 64 ? 64 : tn), test);
			return 400;
		}
		subs = true; /* test lists what matches, as nats-server */
	}
	if (offset < 0)
		offset = 0;
	if (limit <= 0)
		limit = 1024;
	if (gw->lc != NULL)
		lw_stats(gw->lc, &ds);
	/* The fabric's subscriptions (shared-memory and gateway ones alike)
	 * are what a publisher is matched against; the list shows the TCP
	 * clients' ones, which have sids. */
	gw_sb_printf(b, "{\"server_id\":\"%s\",\"now\":", gw->server_id);
	gw_sb_time(b, time(NULL));
	gw_sb_printf(b, ",\"num_subscriptions\":%u,\"num_cache\":0,\"num_inserts\":0,"
		     "\"num_removes\":0,\"num_matches\":%llu,\"cache_hit_rate\":0.0,\"max_fanout\":0,"
		     "\"avg_fanout\":0.0,\"gateway_subscriptions\":%u", ds.subs,
		     (unsigned long long)ds.published, gw_subs(gw));
	if (subs) {
		long k = 0, shown = 0;

		gw_sb_printf(b, ",\"subscriptions_list\":[");
		for (struct gw_conn *c = gw->conns; c != NULL; c = c->next)
			for (struct gw_sub *s = c->subs; s != NULL; s = s->next) {
				if (tsubj[0] && !lw_subj_matches(s->subject, tsubj))
					continue;
				if (k++ < offset || shown >= limit)
					continue;
				if (shown++)
					gw_sb_printf(b, ",");
				sub_detail(b, s->subject, s->queue, s->sid, LD(s->delivered),
					   LD(s->max), c->cid);
			}
		gw_sb_printf(b, "],\"total\":%ld,\"offset\":%ld,\"limit\":%ld", k, offset, limit);
	}
	gw_sb_printf(b, "}\n");
	return 200;
}
