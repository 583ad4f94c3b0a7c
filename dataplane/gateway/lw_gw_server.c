/* SPDX-License-Identifier: MIT */
/*
 * The gateway thread: listeners, the epoll loop, INFO, timers.
 *
 * One thread serves every TCP client: NATS traffic per client is mostly
 * small messages, and the costly part (matching, copying into the pool,
 * delivering) happens in liblightwire, so a second I/O thread would mostly
 * add locking. Deliveries to TCP clients do not go through this thread at
 * all: the dispatcher thread writes them (see lw_gw_client.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lw_gw_pvt.h"
#include "lw_client_pvt.h" /* lw_dispatch_once */
#include "lw_domain.h"     /* lw_dom_control_lock_path */

#define TICK_MS 100
/* After activity the loop polls (epoll_wait with no timeout, plus the
 * fabric queues) this long before it blocks: an answer usually comes
 * within it, and a halted vCPU takes 30-60 us to wake on these VMs (the
 * largest item of a request's round trip, docs/performance.md). Idle,
 * the thread sleeps in epoll_wait as before. */
#define SPIN_NS 200000ull

uint64_t gw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void gw_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > 1 && getenv("LW_GW_DEBUG") == NULL)
		return;
	fputs(level == 0 ? "lwd: error: gateway: " : "lwd: gateway: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void gw_wake(struct lw_gw *gw)
{
	uint64_t one = 1;

	/* EAGAIN only when the counter is huge: the loop wakes anyway. */
	if (write(gw->wakefd, &one, sizeof(one)) < 0)
		return;
}

/* --- configuration ---------------------------------------------------- */

void lw_gw_config_default(struct lw_gw_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	c->port = 4222;
	c->http_port = 8222;
	c->max_connections = 65536;
	c->max_pending = 64u << 20;
	c->ping_interval_ms = 120000;
	c->max_pings_out = 2;
	c->write_deadline_ms = 10000; /* nats-server's write_deadline */
	c->max_control_line = 4096;
	c->auth_timeout_ms = 2000;
	c->tls_timeout_ms = 2000;
	c->lame_duck_ms = 120000; /* nats-server's lame_duck_duration */
}

static int num(const char *key, const char *val, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v, mul = 1;

	errno = 0;
	v = strtoull(val, &end, 10);
	if (end != val && (*end == 'k' || *end == 'K'))
		mul = 1024, end++;
	else if (end != val && (*end == 'm' || *end == 'M'))
		mul = 1024 * 1024, end++;
	if (end == val || *end != '\0' || errno != 0 || v * mul > max) {
		fprintf(stderr, "lwd: %s: '%s' is not a number up to %u\n", key, val, max);
		return -1;
	}
	*out = (uint32_t)(v * mul);
	return 0;
}

static int path(const char *key, const char *val, char *dst, size_t n)
{
	if (val[0] == '\0' || strlen(val) >= n) {
		fprintf(stderr, "lwd: %s: path empty or too long\n", key);
		return -1;
	}
	snprintf(dst, n, "%s", val);
	return 0;
}

int lw_gw_config_set(struct lw_gw_config *c, const char *key, const char *val)
{
	if (strcmp(key, "nats_host") == 0) {
		struct in_addr a;

		if (inet_pton(AF_INET, val, &a) != 1) {
			fprintf(stderr, "lwd: nats_host: '%s' is not an IPv4 address\n", val);
			return -1;
		}
		snprintf(c->host, sizeof(c->host), "%s", val);
		return 0;
	}
	if (strcmp(key, "users") == 0)
		return path(key, val, c->users, sizeof(c->users));
	if (strcmp(key, "tls_cert") == 0)
		return path(key, val, c->tls_cert, sizeof(c->tls_cert));
	if (strcmp(key, "tls_key") == 0)
		return path(key, val, c->tls_key, sizeof(c->tls_key));
	if (strcmp(key, "tls_ca") == 0)
		return path(key, val, c->tls_ca, sizeof(c->tls_ca));
	if (strcmp(key, "tls_verify") == 0) {
		if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 || strcmp(val, "yes") == 0) {
			c->tls_verify = 1;
		} else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 ||
			   strcmp(val, "no") == 0) {
			c->tls_verify = 0;
		} else {
			fprintf(stderr, "lwd: tls_verify: '%s' is not true or false\n", val);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "tls_timeout_ms") == 0)
		return num(key, val, 600000, &c->tls_timeout_ms);
	if (strcmp(key, "nats_port") == 0)
		return num(key, val, 65535, &c->port);
	if (strcmp(key, "http_port") == 0)
		return num(key, val, 65535, &c->http_port);
	if (strcmp(key, "max_connections") == 0)
		return num(key, val, 1u << 20, &c->max_connections);
	if (strcmp(key, "max_subscriptions") == 0)
		return num(key, val, 1u << 20, &c->max_subscriptions);
	if (strcmp(key, "max_pending") == 0)
		return num(key, val, 1u << 31, &c->max_pending);
	if (strcmp(key, "ping_interval_ms") == 0)
		return num(key, val, 86400000, &c->ping_interval_ms);
	if (strcmp(key, "max_pings_out") == 0)
		return num(key, val, 1000, &c->max_pings_out);
	if (strcmp(key, "write_deadline_ms") == 0)
		return num(key, val, 86400000, &c->write_deadline_ms);
	if (strcmp(key, "max_control_line") == 0)
		return num(key, val, 1u << 20, &c->max_control_line);
	if (strcmp(key, "auth_timeout_ms") == 0)
		return num(key, val, 600000, &c->auth_timeout_ms);
	if (strcmp(key, "lame_duck_ms") == 0)
		return num(key, val, 86400000, &c->lame_duck_ms);
	return 1;
}

/* --- listeners -------------------------------------------------------- */

static int listen_on(const char *host, uint32_t port, const char *what)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1;
	int fd;

	inet_pton(AF_INET, host, &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* A restarted lwd must get its ports back at once, though the
	 * connections of the previous one linger in TIME_WAIT (the
	 * reconnect test in test_gw_nats.c depends on it). */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 512) != 0)
		goto fail;
	return fd;
fail:
	fprintf(stderr, "lwd: error: cannot listen for %s on %s:%u: %s "
		"(another server on that port? choose one with --%s, 0 turns it off)\n",
		what, host, port, strerror(errno),
		strcmp(what, "HTTP monitoring") == 0 ? "http-port" : "nats-port");
	if (fd >= 0)
		close(fd);
	return -1;
}

static int ep_add(int epfd, int fd, void *ptr)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ptr };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Is the JetStream API served on this domain now (lw-control listens
 * on $JS.API.INFO)? INFO then says "jetstream":true, as nats-server's
 * does when JetStream is enabled; /healthz?js-enabled-only asks too. */
bool gw_js_served(struct lw_gw *gw)
{
	return gw->lc != NULL && lw_interest(gw->lc, "$JS.API.INFO") > 0;
}

/* INFO for client @p c: what nats.c, nats.go and nats.js look at. */
static void send_info(struct gw_conn *c)
{
	struct lw_gw *gw = c->gw;
	char info[1024];
	struct iovec v;
	int n;

	n = snprintf(info, sizeof(info),
		     "INFO {\"server_id\":\"%s\",\"server_name\":\"%s\",\"version\":\"%s\","
		     "\"proto\":1,\"go\":\"lightwire\",\"host\":\"%s\",\"port\":%u,"
		     "\"headers\":true,\"max_payload\":%zu,\"client_id\":%u,\"client_ip\":\"%s\"%s%s%s%s%s}"
		     "\r\n",
		     gw->server_id, gw->server_name, GW_VERSION, gw->cfg.host, gw->cfg.port,
		     gw->max_payload, c->cid, c->ip, gw_js_served(gw) ? ",\"jetstream\":true" : "",
		     gw->n_users ? ",\"auth_required\":true" : "",
		     /* TLS is required when configured: no clear-text clients,
		      * so never "tls_available" (that means "optional"). */
		     gw->tls_ctx ? ",\"tls_required\":true" : "",
		     gw->tls_ctx && gw->cfg.tls_verify ? ",\"tls_verify\":true" : "",
		     gw->ldm_on ? ",\"ldm\":true" : "");
	v.iov_base = info;
	v.iov_len = (size_t)n;
	gw_outv(c, &v, 1);
}

static void conn_close(struct lw_gw *gw, struct gw_conn *c);

int gw_accept(struct lw_gw *gw, int lfd, struct sockaddr *a, socklen_t *al)
{
	int fd = accept4(lfd, a, al, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0 || (errno != EMFILE && errno != ENFILE))
		return fd;
	/* Out of descriptors: the pending connection stays in the backlog
	 * and a level-triggered listener fires again at once, so lwd would
	 * spin. Give the spare descriptor up to take it and close it. */
	uint64_t now = gw_now_ns();

	if (now - gw->emfile_logged_ns > 10000000000ull || gw->emfile_logged_ns == 0) {
		gw->emfile_logged_ns = now;
		gw_log(1, "out of file descriptors (%s): refusing new connections;"
		       " raise 'ulimit -n' or lower the load", strerror(errno));
	}
	if (gw->spare_fd >= 0) {
		close(gw->spare_fd);
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		gw->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	errno = EAGAIN;
	return -1;
}

static void accept_clients(struct lw_gw *gw)
{
	for (int k = 0; k < 64; k++) {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		struct epoll_event ev;
		struct gw_conn *c;
		int one = 1;
		int fd = gw_accept(gw, gw->lfd, (struct sockaddr *)&a, &al);

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = gw_conn_new(gw, fd);
		if (c == NULL) {
			close(fd);
			continue;
		}
		inet_ntop(AF_INET, &a.sin_addr, c->ip, sizeof(c->ip));
		c->port = ntohs(a.sin_port);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(gw->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = gw->conns;
		if (gw->conns)
			gw->conns->prev = c;
		gw->conns = c;
		gw->nconns++;
		atomic_fetch_add(&gw->total_conns, 1);
		send_info(c);
		if (gw->nconns - gw->nrefused > gw->cfg.max_connections) {
			gw_log(1, "client %u (%s:%d) refused: max_connections %u reached", c->cid,
			       c->ip, c->port, gw->cfg.max_connections);
			/* Not counted from here: a refused client that keeps
			 * its socket open for a while must not hold a slot
			 * (nats-server frees it at once). Its words. */
			c->refused = true;
			gw->nrefused++;
			gw_conn_fatal(c, "maximum connections exceeded");
			continue;
		}
		/* INFO went out in clear; from here on the client speaks TLS.
		 * Only this thread knows c yet, so no lock for out_*. A new
		 * socket takes the short INFO whole; if not, give up rather
		 * than send its rest inside TLS. */
		if (gw->tls_ctx != NULL && (c->out_off != c->out_len || gw_tls_attach(c) != 0))
			conn_close(gw, c);
	}
}

static void conn_close(struct lw_gw *gw, struct gw_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		gw->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	gw->nconns--;
	if (c->refused)
		gw->nrefused--;
	gw_connz_closed(gw, c);
	gw_conn_free(c);
}

static void client_event(struct lw_gw *gw, struct gw_conn *c, uint32_t ev)
{
	int rc = 0;

	if (ev & EPOLLOUT)
		rc = gw_conn_flush(c);
	/* A TLS read (handshake step) may have waited for EPOLLOUT. */
	if (rc == 0 && ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ||
			(c->ssl != NULL && (ev & EPOLLOUT))))
		rc = gw_conn_read(c);
	if (rc == 0 && c->dead)
		rc = -1;
	if (rc != 0)
		conn_close(gw, c);
}

void lw_gw_lame_duck(struct lw_gw *gw)
{
	if (gw == NULL)
		return;
	atomic_store(&gw->ldm, true);
	gw_wake(gw);
}

/* On the gateway thread: close the NATS listener (new clients are refused
 * and try another server), send INFO "ldm":true to everyone connected. */
static void enter_lame_duck(struct lw_gw *gw)
{
	gw->ldm_on = true;
	gw->ldm_end_ns = gw_now_ns() + (uint64_t)gw->cfg.lame_duck_ms * 1000000ull;
	epoll_ctl(gw->epfd, EPOLL_CTL_DEL, gw->lfd, NULL);
	close(gw->lfd);
	gw->lfd = -1;
	gw_log(1, "entering lame duck mode: no new NATS clients; lwd stops in %u ms",
	       gw->cfg.lame_duck_ms);
	for (struct gw_conn *c = gw->conns; c != NULL; c = c->next)
		if (!c->refused) {
			send_info(c);
			gw_conn_flush(c);
		}
}

static void tick(struct lw_gw *gw)
{
	uint64_t now = gw_now_ns();
	bool sweep = atomic_exchange(&gw->sweep, false);
	struct gw_conn *c = gw->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (sweep)
			gw_conn_sweep(c);
		/* Output a deferred batch left behind (its subscription was
		 * closed before the batch's last message came). */
		if (gw_conn_tick(c, now) != 0 || gw_out_deadline(c, now) != 0 ||
		    gw_conn_flush(c) != 0 || c->dead)
			conn_close(gw, c);
	}
	gw_http_sweep(gw, now);
	if (atomic_load(&gw->ldm) && !gw->ldm_on)
		enter_lame_duck(gw);
	if (gw->ldm_on && now >= gw->ldm_end_ns && gw->ldm_end_ns != 0) {
		gw->ldm_end_ns = 0;
		gw_log(1, "lame duck period over: stopping lwd");
		kill(getpid(), SIGTERM);
	}
}

static int connect_fabric(struct lw_gw *gw)
{
	struct lw_conn_opts o;
	int rc = LW_ETIMEDOUT;

	lw_conn_opts_init(&o);
	o.domain = gw->domain;
	o.name = "nats-gateway";
	/* NATS clients may publish to "a.*" or "a.>" (the JetStream API does,
	 * with a consumer's filter in the subject): routed as literal tokens
	 * as nats-server does; pedantic clients are checked in pub_prepare. */
	o.literal_wildcards = true;
	/* lwd's control workers may start just after us: retry a while. */
	for (int i = 0; i < 100 && !atomic_load(&gw->stop); i++) {
		rc = lw_connect(&gw->lc, &o);
		if (rc == LW_OK)
			break;
		usleep(50000);
	}
	if (rc != LW_OK) {
		gw_log(0, "cannot connect to domain '%s': %s", gw->domain, lw_errmsg());
		return -1;
	}
	gw->max_payload = lw_max_payload(gw->lc);
	gw->max_subs_conn = gw->cfg.max_subscriptions;
	if (gw->max_subs_conn == 0) {
		/* Subscriptions are a domain-wide resource (one ring each):
		 * one client must not be able to take them all and leave the
		 * others, lw-control and every request inbox, with none. */
		struct lw_domain_stats ds = { 0 };

		if (lw_stats(gw->lc, &ds) == LW_OK && ds.max_subs > 1)
			gw->max_subs_conn = ds.max_subs / 2;
	}
	lw_conn_self_dispatch(gw->lc);
	return 0;
}

/* The pid of the lw-control serving this domain, or 0. It keeps its pid
 * in the domain's control lock file for as long as it runs (across lwd
 * restarts) and removes the file when it exits; a killed one leaves it,
 * so the pid must still be an lw-control. Read without taking the lock:
 * a flock here could make a starting lw-control's take-over misread. */
static pid_t control_pid(const struct lw_gw *gw)
{
	char lp[256], txt[32], comm[32];
	pid_t pid;
	ssize_t n;
	int fd;

	if (lw_dom_control_lock_path(gw->domain, lp, sizeof(lp)) != LW_OK)
		return 0;
	fd = open(lp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = pread(fd, txt, sizeof(txt) - 1, 0);
	close(fd);
	txt[n > 0 ? n : 0] = '\0';
	pid = (pid_t)atoi(txt);
	if (pid <= 0)
		return 0;
	snprintf(lp, sizeof(lp), "/proc/%d/comm", (int)pid);
	fd = open(lp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	comm[n > 0 ? n : 0] = '\0';
	return strncmp(comm, "lw-control", 10) == 0 ? pid : 0;
}

bool gw_control_stopped(const struct lw_gw *gw, int *pid_out)
{
	char path[64], buf[256], *p;
	pid_t pid = control_pid(gw);
	ssize_t n;
	int fd;

	*pid_out = (int)pid;
	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')' */
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/*
 * After an lwd restart, NATS clients reconnect at once and send what they
 * buffered meanwhile; lw-control needs a moment to see the new lwd and
 * subscribe its streams ($JS.API.> last). A JetStream publish in that gap
 * would get "no responders" where nats-server would have stored it. So
 * while a running lw-control has not subscribed yet, new connections wait
 * in the listen backlog (clients see a slow INFO, not a refusal), up to
 * CONTROL_WAIT_MS. Without lw-control nothing waits.
 */
#define CONTROL_WAIT_MS 3000

static void wait_for_control(struct lw_gw *gw)
{
	uint64_t t0 = gw_now_ns();

	if (control_pid(gw) == 0)
		return;
	while (!atomic_load(&gw->stop) && !gw_js_served(gw)) {
		if (gw_now_ns() - t0 > CONTROL_WAIT_MS * 1000000ull) {
			gw_log(1, "lw-control runs but does not serve the domain yet: taking NATS"
			       " clients without it");
			return;
		}
		usleep(5000);
	}
	gw_log(1, "waited %llu ms for lw-control before taking NATS clients",
	       (unsigned long long)((gw_now_ns() - t0) / 1000000ull));
}

static void *gw_main(void *arg)
{
	struct lw_gw *gw = arg;
	uint64_t last_tick = 0;
	struct epoll_event evs[64];

	if (connect_fabric(gw) != 0) {
		/* A gateway that cannot reach its fabric is useless: stop lwd
		 * loudly rather than accept clients and lose their messages. */
		kill(getpid(), SIGTERM);
		return NULL;
	}
	wait_for_control(gw);
	ep_add(gw->epfd, gw->lfd, &gw->lkind);
	if (gw->hfd >= 0)
		ep_add(gw->epfd, gw->hfd, &gw->hkind);
	gw_log(1, "listening for NATS clients on %s:%u%s%s", gw->cfg.host, gw->cfg.port,
	       gw->n_users ? " (auth required)" : "",
	       gw->tls_ctx ? (gw->cfg.tls_verify ? " (TLS with client certificates)" : " (TLS)") : "");
	if (gw->hfd >= 0)
		gw_log(1, "monitoring on http://%s:%u/ (varz, connz, subsz, healthz, metrics)",
		       gw->cfg.host, gw->cfg.http_port);
	uint64_t busy = 0;

	while (!atomic_load(&gw->stop)) {
		int n = epoll_wait(gw->epfd, evs, 64,
				   gw_now_ns() - busy < SPIN_NS ? 0 : TICK_MS);
		uint64_t now;
		int work = 0;

		for (int i = 0; i < n; i++) {
			enum gw_kind *k = evs[i].data.ptr;

			switch (*k) {
			case GW_LISTENER:
				accept_clients(gw);
				break;
			case GW_HTTP_LISTENER:
				gw_http_accept(gw);
				break;
			case GW_WAKE: {
				uint64_t v;

				if (read(gw->wakefd, &v, sizeof(v)) < 0)
					break;
				break;
			}
			case GW_CLIENT:
				client_event(gw, (struct gw_conn *)k, evs[i].events);
				break;
			case GW_HTTP:
				gw_http_event(gw, (struct gw_http *)k, evs[i].events);
				break;
			}
		}
		/* Messages our reads just published to TCP subscribers (and any
		 * from shared-memory publishers): written from this thread; our
		 * publishes do not wake the dispatcher thread (self-dispatch).
		 * What a bounded number of passes leaves keeps us polling. */
		for (int k = 0, w = 1; k < 16 && w > 0; k++) {
			w = lw_dispatch_once(gw->lc);
			work += w;
		}
		now = gw_now_ns();
		if (n > 0 || work > 0)
			busy = now;
		else if (now - busy < SPIN_NS)
			/* Polling, but a thread sharing this CPU (lw-control,
			 * the dispatcher) goes first: it is what we wait for. */
			sched_yield();
		if (atomic_load(&gw->sweep) || now - last_tick >= TICK_MS * 1000000ull ||
		    (atomic_load(&gw->ldm) && !gw->ldm_on)) {
			last_tick = now;
			tick(gw);
		}
	}
	while (gw->conns != NULL)
		conn_close(gw, gw->conns);
	gw_http_sweep(gw, UINT64_MAX);
	return NULL;
}

struct lw_gw *lw_gw_start(const struct lw_gw_config *cfg, const char *domain)
{
	struct lw_gw *gw = calloc(1, sizeof(*gw));
	unsigned char rnd[8] = { 0 };

	if (gw == NULL)
		return NULL;
	gw->cfg = *cfg;
	gw->lfd = gw->hfd = gw->wakefd = gw->epfd = -1;
	gw->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	gw->lkind = GW_LISTENER;
	gw->hkind = GW_HTTP_LISTENER;
	gw->wkind = GW_WAKE;
	snprintf(gw->domain, sizeof(gw->domain), "%s", domain);
	snprintf(gw->server_name, sizeof(gw->server_name), "lightwire-%s", domain);
	if (getrandom(rnd, sizeof(rnd), 0) < 0)
		rnd[0] = (unsigned char)getpid();
	snprintf(gw->server_id, sizeof(gw->server_id), "LW%02X%02X%02X%02X%02X%02X%02X%02X",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	gw->start_ns = gw_now_ns();
	gw->start_wall = time(NULL);
	gw->max_payload = 1 << 20;
	if (cfg->users[0] != '\0' && gw_users_load(gw, cfg->users) != 0)
		goto fail;
	if (gw_tls_init(gw) != 0)
		goto fail;
	gw->lfd = listen_on(cfg->host, cfg->port, "NATS clients");
	if (gw->lfd < 0)
		goto fail;
	if (cfg->http_port != 0) {
		gw->hfd = listen_on(cfg->host, cfg->http_port, "HTTP monitoring");
		if (gw->hfd < 0)
			goto fail;
	}
	gw->epfd = epoll_create1(EPOLL_CLOEXEC);
	gw->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (gw->epfd < 0 || gw->wakefd < 0 || ep_add(gw->epfd, gw->wakefd, &gw->wkind) != 0) {
		fprintf(stderr, "lwd: error: gateway: epoll: %s\n", strerror(errno));
		goto fail;
	}
	if (pthread_create(&gw->thr, NULL, gw_main, gw) != 0) {
		fprintf(stderr, "lwd: error: gateway: cannot start its thread\n");
		goto fail;
	}
	gw->thr_started = true;
	return gw;
fail:
	lw_gw_stop(gw);
	return NULL;
}

void lw_gw_stop(struct lw_gw *gw)
{
	if (gw == NULL)
		return;
	atomic_store(&gw->stop, true);
	if (gw->thr_started) {
		gw_wake(gw);
		pthread_join(gw->thr, NULL);
	}
	if (gw->lc != NULL)
		lw_close(gw->lc);
	if (gw->lfd >= 0)
		close(gw->lfd);
	if (gw->hfd >= 0)
		close(gw->hfd);
	if (gw->wakefd >= 0)
		close(gw->wakefd);
	if (gw->epfd >= 0)
		close(gw->epfd);
	if (gw->spare_fd >= 0)
		close(gw->spare_fd);
	gw_users_free(gw);
	gw_tls_free(gw);
	gw_connz_free(gw);
	free(gw);
}
