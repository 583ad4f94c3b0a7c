/* SPDX-License-Identifier: MIT */
/*
 * HTTP monitoring of the gateway: /varz, /connz, /subsz, /healthz with
 * nats-server's field names (so existing dashboards and `nats server`
 * tooling read them) and /metrics in Prometheus text format.
 *
 * Served on the gateway thread: requests are rare and small, and reading
 * connection state from the thread that owns it needs no lock. One
 * request per connection (Connection: close), answers built in memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lightwire/stats.h>

#include "lw_gw_pvt.h"
#include "lw_gw_sbuf.h"

#define LD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

/* lwd's CPU use in percent of one core since the previous /varz (since
 * start for the first): nats-server's "cpu" is a recent figure too. */
static double varz_cpu(struct lw_gw *gw, const struct rusage *ru, uint64_t now)
{
	uint64_t cpu = (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000ull +
		       (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000ull;
	uint64_t since = gw->varz_at_ns ? gw->varz_at_ns : gw->start_ns;
	uint64_t was = gw->varz_at_ns ? gw->varz_cpu_ns : 0;
	double pct = now > since ? 100.0 * (double)(cpu - was) / (double)(now - since) : 0.0;

	gw->varz_cpu_ns = cpu;
	gw->varz_at_ns = now;
	return pct;
}

static void varz_http_stats(struct lw_gw *gw, struct sbuf *b)
{
	static const char *const paths[] = GW_HTTP_PATHS;

	gw_sb_printf(b, ",\"http_req_stats\":{");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		gw_sb_printf(b, "%s\"%s\":%llu", i ? "," : "", paths[i],
			     (unsigned long long)gw->http_reqs[i]);
	gw_sb_printf(b, "}");
}

static void varz(struct lw_gw *gw, struct sbuf *b)
{
	struct rusage ru;
	uint64_t now = gw_now_ns();
	struct lw_domain_stats ds = { 0 };

	getrusage(RUSAGE_SELF, &ru);
	if (gw->lc != NULL)
		lw_stats(gw->lc, &ds);
	gw_sb_printf(b, "{\"server_id\":\"%s\",\"server_name\":\"%s\",\"version\":\"%s\",\"proto\":1,"
		  "\"go\":\"lightwire\",\"host\":\"%s\",\"port\":%u,\"auth_required\":%s,"
		  "\"max_connections\":%u,\"max_subscriptions\":%u,\"ping_interval\":%llu,"
		  "\"ping_max\":%u,"
		  "\"http_host\":\"%s\",\"http_port\":%u,\"auth_timeout\":%g,"
		  "\"max_control_line\":%u,\"max_payload\":%zu,\"max_pending\":%u,",
		  gw->server_id, gw->server_name, GW_VERSION, gw->cfg.host, gw->cfg.port,
		  gw->n_users ? "true" : "false", gw->cfg.max_connections, gw->max_subs_conn,
		  (unsigned long long)gw->cfg.ping_interval_ms * 1000000ull, gw->cfg.max_pings_out,
		  gw->cfg.host, gw->cfg.http_port, gw->cfg.auth_timeout_ms / 1000.0,
		  gw->cfg.max_control_line, gw->max_payload, gw->cfg.max_pending);
	gw_sb_printf(b, "\"write_deadline\":%llu,\"tls_required\":%s,\"tls_timeout\":%g,"
		     "\"gomaxprocs\":%ld,\"cpu\":%.1f,",
		     (unsigned long long)gw->cfg.write_deadline_ms * 1000000ull,
		     gw->tls_ctx != NULL ? "true" : "false", gw->cfg.tls_timeout_ms / 1000.0,
		     sysconf(_SC_NPROCESSORS_ONLN), varz_cpu(gw, &ru, now));
	gw_sb_printf(b, "\"start\":");
	gw_sb_time(b, gw->start_wall);
	gw_sb_printf(b, ",\"config_load_time\":");
	gw_sb_time(b, gw->start_wall);
	varz_http_stats(gw, b);
	gw_sb_printf(b, ",\"now\":");
	gw_sb_time(b, time(NULL));
	gw_sb_printf(b, ",\"uptime\":");
	gw_sb_dur(b, now - gw->start_ns);
	gw_sb_printf(b, ",\"mem\":%ld,\"cores\":%ld,\"connections\":%u,\"total_connections\":%llu,"
		  "\"routes\":0,\"remotes\":0,\"leafnodes\":0,"
		  "\"in_msgs\":%llu,\"in_bytes\":%llu,\"out_msgs\":%llu,\"out_bytes\":%llu,"
		  "\"slow_consumers\":%llu,\"stale_connections\":%llu,\"subscriptions\":%u,"
		  "\"lightwire\":{\"domain\":\"%s\",\"shm_clients\":%u,\"shm_subscriptions\":%u,"
		  "\"published\":%llu,\"no_interest\":%llu,\"delivered\":%llu,\"dropped\":%llu,"
		  "\"gateway_no_interest\":%llu,\"gateway_dropped\":%llu,\"auth_failures\":%llu}}\n",
		  ru.ru_maxrss * 1024L, sysconf(_SC_NPROCESSORS_ONLN), gw->nconns - gw->nrefused,
		  LD(gw->total_conns), LD(gw->in_msgs), LD(gw->in_bytes), LD(gw->out_msgs),
		  LD(gw->out_bytes), LD(gw->slow_consumers), LD(gw->stale_conns), gw_subs(gw),
		  gw->domain, ds.clients, ds.subs, (unsigned long long)ds.published,
		  (unsigned long long)ds.no_interest, (unsigned long long)ds.delivered,
		  (unsigned long long)ds.dropped, LD(gw->no_interest), LD(gw->dropped),
		  LD(gw->auth_failures));
}

/* Messages (and bytes where they are counted) in and out of the fabric
 * by transport: "tcp" is the NATS gateway, "shm" shared-memory clients
 * (in: published by them, gateway included, out: enqueued to
 * subscriptions). */
static void metrics_transport(struct lw_gw *gw, struct sbuf *b, const struct lw_domain_stats *ds)
{
	unsigned long long in = LD(gw->in_msgs), pub = ds->published;

	gw_sb_printf(b, "# HELP lightwire_messages_in_total Messages received, by transport\n"
		  "# TYPE lightwire_messages_in_total counter\n"
		  "lightwire_messages_in_total{domain=\"%s\",transport=\"tcp\"} %llu\n"
		  "lightwire_messages_in_total{domain=\"%s\",transport=\"shm\"} %llu\n",
		  gw->domain, in, gw->domain, pub > in ? pub - in : 0);
	gw_sb_printf(b, "# HELP lightwire_messages_out_total Messages delivered, by transport\n"
		  "# TYPE lightwire_messages_out_total counter\n"
		  "lightwire_messages_out_total{domain=\"%s\",transport=\"tcp\"} %llu\n"
		  "lightwire_messages_out_total{domain=\"%s\",transport=\"shm\"} %llu\n",
		  gw->domain, LD(gw->out_msgs), gw->domain, (unsigned long long)ds->delivered);
	gw_sb_printf(b, "# HELP lightwire_bytes_in_total Bytes received, by transport"
		  " (tcp only: shared memory passes payloads by reference)\n"
		  "# TYPE lightwire_bytes_in_total counter\n"
		  "lightwire_bytes_in_total{domain=\"%s\",transport=\"tcp\"} %llu\n"
		  "# HELP lightwire_bytes_out_total Bytes sent, by transport (tcp only)\n"
		  "# TYPE lightwire_bytes_out_total counter\n"
		  "lightwire_bytes_out_total{domain=\"%s\",transport=\"tcp\"} %llu\n",
		  gw->domain, LD(gw->in_bytes), gw->domain, LD(gw->out_bytes));
}

/* The sampled publish -> take latency as a Prometheus histogram; the
 * buckets are read one by one while receivers add, so the count is
 * their sum (the +Inf bucket and _count then agree). */
static void metrics_latency(struct lw_gw *gw, struct sbuf *b, const struct lw_domain_stats *ds)
{
	static const uint64_t bounds[] = { LW_LAT_BOUNDS_NS };
	unsigned long long cum = 0;

	gw_sb_printf(b, "# HELP lightwire_delivery_latency_seconds Publish to the subscriber taking"
		  " the message, sampled (one message in %d per publishing connection)\n"
		  "# TYPE lightwire_delivery_latency_seconds histogram\n", LW_LAT_SAMPLE_EVERY);
	for (int i = 0; i < LW_LAT_BUCKETS; i++) {
		cum += ds->lat_bucket[i];
		if (i < LW_LAT_BUCKETS - 1)
			gw_sb_printf(b, "lightwire_delivery_latency_seconds_bucket{domain=\"%s\","
				  "le=\"%g\"} %llu\n", gw->domain, (double)bounds[i] / 1e9, cum);
		else
			gw_sb_printf(b, "lightwire_delivery_latency_seconds_bucket{domain=\"%s\","
				  "le=\"+Inf\"} %llu\n", gw->domain, cum);
	}
	gw_sb_printf(b, "lightwire_delivery_latency_seconds_sum{domain=\"%s\"} %.9f\n"
		  "lightwire_delivery_latency_seconds_count{domain=\"%s\"} %llu\n", gw->domain,
		  (double)ds->lat_sum_ns / 1e9, gw->domain, cum);
}

/* Every live subscription's ring: how full it is and what it took. */
static void metrics_rings(struct lw_gw *gw, struct sbuf *b, uint32_t max_subs)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "lightwire_subscription_ring_depth", "gauge", "Messages queued in the ring now" },
		{ "lightwire_subscription_ring_capacity", "gauge", "Ring capacity in messages" },
		{ "lightwire_subscription_delivered_total", "counter", "Messages enqueued to it" },
		{ "lightwire_subscription_dropped_total", "counter",
		  "Messages its slow-consumer policy dropped" },
	};
	struct lw_sub_info *v = calloc(max_subs ? max_subs : 1, sizeof(*v));
	int n = v != NULL ? lw_stats_subs(gw->lc, v, (int)max_subs) : 0;

	if (n > (int)max_subs)
		n = (int)max_subs;
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		gw_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name,
			  fam[f].type);
		for (int i = 0; i < n; i++) {
			const struct lw_sub_stats *st = &v[i].st;
			unsigned long long val = f == 0 ? st->depth : f == 1 ? st->capacity :
						 f == 2 ? st->delivered : st->dropped;

			gw_sb_printf(b, "%s{domain=\"%s\",index=\"%u\",subject=\"", fam[f].name,
				  gw->domain, v[i].index);
			gw_sb_label(b, v[i].subject);
			gw_sb_printf(b, "\",queue=\"");
			gw_sb_label(b, v[i].queue);
			gw_sb_printf(b, "\",client=\"");
			gw_sb_label(b, v[i].client);
			gw_sb_printf(b, "\"} %llu\n", val);
		}
	}
	free(v);
}

static void metrics(struct lw_gw *gw, struct sbuf *b)
{
	struct lw_domain_stats ds = { 0 };
	const struct {
		const char *name, *type, *help;
		unsigned long long v;
	} m[] = {
		{ "gnatsd_varz_connections", "gauge", "Current TCP client connections", gw->nconns - gw->nrefused },
		{ "gnatsd_varz_total_connections", "gauge", "TCP connections accepted",
		  LD(gw->total_conns) },
		{ "gnatsd_varz_subscriptions", "gauge", "Subscriptions of TCP clients", gw_subs(gw) },
		{ "gnatsd_varz_in_msgs", "gauge", "Messages received from TCP clients",
		  LD(gw->in_msgs) },
		{ "gnatsd_varz_in_bytes", "gauge", "Bytes received from TCP clients",
		  LD(gw->in_bytes) },
		{ "gnatsd_varz_out_msgs", "gauge", "Messages sent to TCP clients", LD(gw->out_msgs) },
		{ "gnatsd_varz_out_bytes", "gauge", "Bytes sent to TCP clients", LD(gw->out_bytes) },
		{ "gnatsd_varz_slow_consumers", "gauge", "Clients cut off as slow consumers",
		  LD(gw->slow_consumers) },
		{ "gnatsd_varz_stale_connections", "gauge", "Clients closed as stale",
		  LD(gw->stale_conns) },
		{ "lightwire_gateway_auth_failures_total", "counter", "Failed CONNECT authorizations",
		  LD(gw->auth_failures) },
		{ "lightwire_gateway_no_interest_total", "counter",
		  "TCP publishes that matched no subscription", LD(gw->no_interest) },
		{ "lightwire_gateway_dropped_total", "counter",
		  "TCP publishes the fabric refused (pool exhausted, ...)", LD(gw->dropped) },
	};

	/* gnatsd_varz_*: prometheus-nats-exporter's names, and its type
	 * (it exports every varz number as a gauge; a counter would need the
	 * _total suffix that dashboards built on the exporter do not use). */
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		gw_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s{server_id=\"%s\"} %llu\n", m[i].name,
			  m[i].help, m[i].name, m[i].type, m[i].name, gw->server_id, m[i].v);
	if (gw->lc != NULL && lw_stats(gw->lc, &ds) == LW_OK) {
		gw_sb_printf(b, "# HELP lightwire_domain_published_total Messages published in the domain\n"
			  "# TYPE lightwire_domain_published_total counter\n"
			  "lightwire_domain_published_total{domain=\"%s\"} %llu\n", gw->domain,
			  (unsigned long long)ds.published);
		gw_sb_printf(b, "# HELP lightwire_domain_subscriptions Live subscriptions in the domain\n"
			  "# TYPE lightwire_domain_subscriptions gauge\n"
			  "lightwire_domain_subscriptions{domain=\"%s\"} %u\n", gw->domain, ds.subs);
		gw_sb_printf(b, "# HELP lightwire_domain_clients Connected shared-memory clients\n"
			  "# TYPE lightwire_domain_clients gauge\n"
			  "lightwire_domain_clients{domain=\"%s\"} %u\n", gw->domain, ds.clients);
		gw_sb_printf(b, "# HELP lightwire_domain_dropped_total Messages dropped by slow-consumer policies\n"
			  "# TYPE lightwire_domain_dropped_total counter\n"
			  "lightwire_domain_dropped_total{domain=\"%s\"} %llu\n", gw->domain,
			  (unsigned long long)ds.dropped);
		metrics_transport(gw, b, &ds);
		metrics_latency(gw, b, &ds);
		metrics_rings(gw, b, ds.max_subs);
	}
}

static const char *reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* The whole answer, headers then @p body (dropped for HEAD). */
static void respond_head(struct gw_http *h, int code, const char *ctype, struct sbuf *body,
			 bool head)
{
	struct sbuf r = { 0 };

	gw_sb_printf(&r, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		  "%sConnection: close\r\n\r\n", code, reason(code), ctype, body->n,
		  code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (body->n && !head)
		gw_sb_printf(&r, "%.*s", (int)body->n, body->p);
	free(body->p);
	h->resp = r.p;
	h->resp_len = r.oom ? 0 : r.n;
	h->resp_off = 0;
}

static void respond(struct gw_http *h, int code, const char *ctype, struct sbuf *body)
{
	respond_head(h, code, ctype, body, false);
}

/* An error answer with a one-line text body. */
static void respond_err(struct gw_http *h, int code, const char *text)
{
	struct sbuf b = { 0 };

	gw_sb_printf(&b, "%s\n", text);
	respond(h, code, "text/plain", &b);
}

static void route(struct lw_gw *gw, struct gw_http *h)
{
	char path[256] = "", method[8] = "";
	struct sbuf b = { 0 };
	bool head;
	char *q;

	/* A request line is printable: NUL or other control bytes before
	 * its end mean this is not HTTP. */
	for (size_t i = 0; i < h->req_len && h->req[i] != '\n'; i++)
		if ((unsigned char)h->req[i] < 0x20 && h->req[i] != '\r') {
			respond_err(h, 400, "Bad Request");
			return;
		}
	if (sscanf(h->req, "%7s %255s", method, path) != 2 || path[0] != '/') {
		respond_err(h, 400, "Bad Request");
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond_err(h, 405, "only GET and HEAD");
		return;
	}
	q = strchr(path, '?');
	if (q != NULL)
		*q++ = '\0';
	{
		static const char *const paths[] = GW_HTTP_PATHS;

		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			if (strcmp(path, paths[i]) == 0)
				gw->http_reqs[i]++;
	}
	if (strcmp(path, "/varz") == 0) {
		varz(gw, &b);
	} else if (strcmp(path, "/connz") == 0 || strcmp(path, "/subsz") == 0 ||
		   strcmp(path, "/subscriptionsz") == 0) {
		struct sbuf err = { 0 };
		int code = path[1] == 'c' ? gw_connz(gw, &b, &err, q) : gw_subsz(gw, &b, &err, q);

		if (code != 200) {
			free(b.p);
			respond_head(h, code, "text/plain", &err, head);
			return;
		}
		free(err.p);
	} else if (strcmp(path, "/healthz") == 0) {
		/* js-enabled-only / js-server-only: healthy only with
		 * JetStream, which lw-control provides */
		int a = gw_q_bool(q, "js-enabled-only"), s2 = gw_q_bool(q, "js-server-only");
		bool js = a == 1 || s2 == 1;

		if (a == -2 || s2 == -2) {
			respond_err(h, 400, "invalid js-enabled-only / js-server-only (true, false, 1 or 0)");
			return;
		}

		if (js && !gw_js_served(gw)) {
			gw_sb_printf(&b, "{\"status\":\"unavailable\",\"error\":"
				     "\"JetStream not enabled (no lw-control serves this domain)\"}\n");
			respond_head(h, 503, "application/json", &b, head);
			return;
		}
		if (js) {
			int pid;

			if (gw_control_stopped(gw, &pid)) {
				gw_sb_printf(&b, "{\"status\":\"unavailable\",\"error\":"
					     "\"JetStream not responding (lw-control, pid %d, is"
					     " stopped)\"}\n", pid);
				respond_head(h, 503, "application/json", &b, head);
				return;
			}
		}
		gw_sb_printf(&b, "{\"status\":\"ok\"}\n");
	} else if (strcmp(path, "/metrics") == 0) {
		metrics(gw, &b);
		respond_head(h, 200, "text/plain; version=0.0.4", &b, head);
		return;
	} else if (strcmp(path, "/") == 0) {
		gw_sb_printf(&b, "{\"endpoints\":[\"/varz\",\"/connz\",\"/subsz\",\"/healthz\","
			  "\"/metrics\"]}\n");
	} else {
		gw_sb_printf(&b, "not found\n");
		respond_head(h, 404, "text/plain", &b, head);
		return;
	}
	respond_head(h, 200, "application/json", &b, head);
}

static void http_free(struct lw_gw *gw, struct gw_http *h)
{
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		gw->https = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	gw->nhttps--;
	epoll_ctl(gw->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	shutdown(h->fd, SHUT_WR);
	gw_close_drained(h->fd);
	free(h->resp);
	free(h);
}

void gw_http_sweep(struct lw_gw *gw, uint64_t now)
{
	struct gw_http *h = gw->https, *next;

	for (; h != NULL; h = next) {
		next = h->next;
		if (now >= h->deadline_ns)
			http_free(gw, h);
	}
}

void gw_http_accept(struct lw_gw *gw)
{
	for (int k = 0; k < 16; k++) {
		int fd = gw_accept(gw, gw->hfd, NULL, NULL);
		struct epoll_event ev = { .events = EPOLLIN };
		struct gw_http *h;

		if (fd < 0)
			return;
		if (gw->nhttps >= GW_HTTP_MAX_CONNS) {
			/* Full: the oldest that has not sent its whole request
			 * makes room (sockets held open without a request
			 * cannot keep the monitor from everyone); when all are
			 * being answered, the new one waits for none. */
			struct gw_http *old = NULL;

			for (struct gw_http *x = gw->https; x != NULL; x = x->next)
				if (x->resp == NULL)
					old = x; /* the list is newest first */
			if (old == NULL) {
				close(fd);
				continue;
			}
			http_free(gw, old);
		}
		h = calloc(1, sizeof(*h));
		if (h == NULL) {
			close(fd);
			continue;
		}
		h->kind = GW_HTTP;
		h->fd = fd;
		h->deadline_ns = gw_now_ns() + GW_HTTP_TIMEOUT_NS;
		ev.data.ptr = h;
		if (epoll_ctl(gw->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(h);
			continue;
		}
		h->next = gw->https;
		if (gw->https != NULL)
			gw->https->prev = h;
		gw->https = h;
		gw->nhttps++;
	}
}

int gw_http_event(struct lw_gw *gw, struct gw_http *h, uint32_t events)
{
	if (h->resp == NULL) {
		ssize_t n = recv(h->fd, h->req + h->req_len, sizeof(h->req) - 1 - h->req_len, 0);

		if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
			http_free(gw, h);
			return -1;
		}
		if (n > 0)
			h->req_len += (size_t)n;
		h->req[h->req_len] = '\0';
		/* memmem: a NUL byte must not hide the end of the request */
		if (memmem(h->req, h->req_len, "\r\n\r\n", 4) == NULL &&
		    memmem(h->req, h->req_len, "\n\n", 2) == NULL) {
			if (h->req_len >= sizeof(h->req) - 1)
				respond_err(h, 431, "request too long for a monitor");
			else if (memchr(h->req, '\0', h->req_len) != NULL)
				respond_err(h, 400, "Bad Request");
			else
				return 0;
		} else {
			route(gw, h);
		}
		if (h->resp_len == 0) {
			http_free(gw, h);
			return -1;
		}
	}
	(void)events;
	while (h->resp_off < h->resp_len) {
		ssize_t n = send(h->fd, h->resp + h->resp_off, h->resp_len - h->resp_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = h };

			epoll_ctl(gw->epfd, EPOLL_CTL_MOD, h->fd, &ev);
			return 0;
		}
		if (n <= 0)
			break;
		h->resp_off += (size_t)n;
	}
	http_free(gw, h);
	return -1;
}
