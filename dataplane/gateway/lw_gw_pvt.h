/* SPDX-License-Identifier: MIT */
/*
 * Gateway internals shared by its source files. Not for direct inclusion.
 *
 * Threads and locks (docs/nats.md has the picture):
 *  - the gateway thread runs one epoll loop: accept, read, parse, publish,
 *    (un)subscribe, write what is pending, timers, and the HTTP monitor;
 *    it alone creates and frees connections and subscriptions;
 *  - the dispatcher thread of the gateway's liblightwire connection runs
 *    the delivery callbacks: it formats MSG/HMSG into a client's outbound
 *    buffer and writes it without blocking.
 * The two meet only at gw_conn.mu (outbound buffer, EPOLLOUT state and, for
 * TLS clients, every call on the SSL object) and at atomics (counters, sub
 * limits, CONNECT flags the callback reads).
 * Lock order: liblightwire's subscription lock (held around callbacks) may
 * be followed by gw_conn.mu, never the reverse: the gateway thread never
 * calls into liblightwire while holding gw_conn.mu.
 */
#ifndef LW_GW_PVT_H
#define LW_GW_PVT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <lightwire/client.h>

#include "lw_gw.h"
#include "lw_gw_proto.h"

#define GW_VERSION "2.10.0"  /* nats-server release whose client protocol we speak */
#define GW_MAX_SUBJECT 1024  /* longer tokens are refused before reaching the fabric */

/* What an epoll event points at. */
enum gw_kind { GW_LISTENER, GW_HTTP_LISTENER, GW_WAKE, GW_CLIENT, GW_HTTP };

/* A rule is a subject pattern, and for subscribe rules optionally a queue
 * group ("orders.* workers", nats-server's form): such a rule speaks only
 * of subscriptions in that group (allow_q / deny_q entry non-NULL). */
struct gw_perms {
	char **allow, **allow_q;
	uint32_t n_allow;
	char **deny, **deny_q;
	uint32_t n_deny;
};

struct gw_user {
	char *user;          /* NULL for a token entry */
	char *secret;        /* password or token */
	struct gw_perms pub, sub;
};

struct gw_conn;
struct ssl_st;      /* OpenSSL's SSL, kept out of this header */
struct ssl_ctx_st;  /* OpenSSL's SSL_CTX */

struct gw_sub {
	struct gw_conn *conn;
	lw_sub *ls;
	char *sid;
	char *subject;
	char *queue;
	_Atomic uint64_t max;        /* UNSUB max; 0 = none */
	_Atomic uint64_t delivered;
	atomic_bool done;            /* max reached: gateway thread removes it */
	/* A wildcard subscription of a user with subscribe deny rules: it
	 * was allowed, but each message is checked against the denials, as
	 * nats-server does ("SUB app.>" must not see "app.secret"). */
	bool deny_filter;
	struct gw_sub *next;
};

struct gw_conn {
	enum gw_kind kind;           /* first: epoll data points here */
	struct lw_gw *gw;
	int fd;
	uint32_t cid;                /* client id, also the fabric origin tag */
	char ip[64];
	int port;
	uint64_t start_ns;

	/* Gateway thread only. */
	char *in;
	size_t in_len, in_cap;
	bool connected;              /* CONNECT seen */
	bool verbose, pedantic, no_responders;
	char name[64], lang[32], version[32], user[64];
	const struct gw_user *auth;  /* NULL: no permissions to check */
	uint32_t pings_out;
	uint64_t last_in_ns, last_ping_ns;
	struct gw_sub *subs;
	uint32_t nsubs;
	bool subs_limit_logged;      /* max_subscriptions refusal logged once */
	bool long_subj_logged;       /* a publish to an overlong subject, logged once */
	bool draining;               /* fatal error sent: flush, then close */
	bool refused;                /* over max_connections: not counted */
	bool wr_shut;
	uint64_t drain_deadline_ns;
	const char *close_reason;
	struct gw_conn *next, *prev;

	/* Read by the callback too. */
	atomic_bool echo;
	atomic_bool headers;

	/* Shared with the dispatcher: under mu. */
	pthread_mutex_t mu;
	char *out;
	size_t out_off, out_len, out_cap;   /* pending bytes are out[off, len) */
	bool out_armed;              /* EPOLLOUT registered */
	uint64_t out_wait_ns;        /* pending output waits since (no progress) */
	bool dead;                   /* slow consumer or write error */
	const char *dead_reason;     /* why dead, in nats-server's words (/connz) */
	struct ssl_st *ssl;          /* TLS client (set once, before any other thread sees c) */
	bool tls_rd_wants_wr;        /* SSL_read waits for the socket to be writable */
	bool tls_wr_wants_rd;        /* SSL_write waits for input */

	_Atomic uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
};

struct gw_http {
	enum gw_kind kind;
	int fd;
	char req[4096];
	size_t req_len;
	char *resp;
	size_t resp_len, resp_off;
	uint64_t deadline_ns;        /* closed past it, answered or not */
	struct gw_http *prev, *next; /* lw_gw.https */
};

/* A monitor client gets this long for its request and our answer, and
 * this many may be open at once: a client that opens sockets and sends
 * nothing cannot hold lwd's descriptors. */
#define GW_HTTP_TIMEOUT_NS (5ull * 1000000000ull)
#define GW_HTTP_MAX_CONNS 16
/* The paths served, in the order of lw_gw.http_reqs. */
#define GW_HTTP_PATHS { "/", "/varz", "/connz", "/subsz", "/healthz", "/metrics", "/subscriptionsz" }

struct lw_gw {
	struct lw_gw_config cfg;
	char domain[64];
	char server_id[32];
	char server_name[80];
	int epfd, lfd, hfd, wakefd;
	enum gw_kind lkind, hkind, wkind;
	pthread_t thr;
	bool thr_started;
	atomic_bool stop;
	lw_conn *lc;
	size_t max_payload;
	uint32_t max_subs_conn;      /* SUBs one client may hold; 0 = no own limit */
	atomic_bool ldm;             /* lame duck asked for (signal handler) */
	bool ldm_on;                 /* ... and entered by the gateway thread */
	uint64_t ldm_end_ns;         /* then lwd is stopped */
	uint64_t start_ns;
	time_t start_wall;

	struct gw_user *users;
	uint32_t n_users;
	struct ssl_ctx_st *tls_ctx;  /* NULL: plain TCP */

	struct gw_cinfo **closed;    /* ring of the last GW_CLOSED_MAX closed connections */
	uint32_t closed_head, closed_n;
	struct gw_http *https;       /* open monitor connections, gateway thread only */
	uint64_t http_reqs[7];       /* per GW_HTTP_PATHS entry, for /varz http_req_stats */
	uint64_t varz_cpu_ns, varz_at_ns; /* CPU time and clock at the last /varz */
	uint32_t nhttps;
	int spare_fd;                /* given up to accept-and-close at EMFILE */
	uint64_t emfile_logged_ns;
	struct gw_conn *conns;       /* gateway thread only */
	uint32_t nconns;
	uint32_t nrefused;           /* of nconns: refused, closing */
	uint32_t next_cid;
	atomic_bool sweep;           /* a subscription reached its max */

	_Atomic uint64_t total_conns, in_msgs, in_bytes, out_msgs, out_bytes;
	_Atomic uint64_t slow_consumers, stale_conns, auth_failures, no_interest, dropped;
};

/* Closes @p fd after reading a little of what the peer sent and we did
 * not: unread input turns close() into a RST, which clients report as
 * ECONNRESET and which can overtake our last bytes (an -ERR, a 431).
 * Bounded: a peer that keeps sending gets its RST. */
static inline void gw_close_drained(int fd)
{
	char sink[8192];

	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

/* lw_gw_client.c: one TCP client. */
struct gw_conn *gw_conn_new(struct lw_gw *gw, int fd);
/* Handles readable input; returns -1 when the connection must be freed. */
int gw_conn_read(struct gw_conn *c);

/* Grows *@p buf (capacity *@p cap) to hold @p need bytes, doubling from
 * @p first; keeps its contents. 0, or -1 when out of memory (nothing
 * changed). For the connections' input and output buffers. */
static inline int gw_buf_grow(char **buf, size_t *cap, size_t need, size_t first)
{
	size_t n = *cap ? *cap : first;
	char *p;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return 0;
	p = realloc(*buf, n);
	if (p == NULL)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}
/* Writes pending output (EPOLLOUT). -1: free the connection. */
int gw_conn_flush(struct gw_conn *c);
/* Timers: PING, stale, auth timeout, drain deadline. -1: free it. */
int gw_conn_tick(struct gw_conn *c, uint64_t now);
/* Removes subscriptions that reached their UNSUB max. */
void gw_conn_sweep(struct gw_conn *c);
/* Unsubscribes everything, closes the socket, frees. */
void gw_conn_free(struct gw_conn *c);
/* Queues a fatal -ERR and starts draining the connection. */
void gw_conn_fatal(struct gw_conn *c, const char *err);
/* Appends bytes to the outbound buffer and writes without blocking
 * (any thread). Returns 0, or -1 when the client is dead/slow. */
struct iovec;
int gw_outv(struct gw_conn *c, const struct iovec *v, int cnt);
/* Queue a protocol line / "-ERR '<fmt % arg>'" / "+OK" (verbose only). */
void gw_out_str(struct gw_conn *c, const char *s);
void gw_send_err(struct gw_conn *c, const char *fmt, const char *arg);
void gw_ok(struct gw_conn *c);
/* Caller holds mu: EPOLLOUT interest on/off; write what the socket takes
 * (-1 on a dead socket). */
void gw_arm_out(struct gw_conn *c, bool on);
int gw_write_locked(struct gw_conn *c);
/** Gateway thread, each tick: a client whose pending output has not moved
 *  for write_deadline_ms is a slow consumer (nats-server's write deadline:
 *  a reader that stopped must not hold max_pending for ever); -1 then. */
int gw_out_deadline(struct gw_conn *c, uint64_t now);
/* gw_outv that, with @p defer, only appends while the batch is small:
 * the caller knows more output for this client follows at once. */
int gw_outv_defer(struct gw_conn *c, const struct iovec *v, int cnt, bool defer);

/* lw_gw_auth.c */
int gw_users_load(struct lw_gw *gw, const char *path);
void gw_users_free(struct lw_gw *gw);
/* The user that CONNECT's credentials name, or NULL. */
const struct gw_user *gw_auth(const struct lw_gw *gw, const char *user, const char *pass,
			      const char *token);
/* 1 when @p subject may be published under @p p. */
int gw_perm_ok(const struct gw_perms *p, const char *subject);
/* 1 when a subscription to @p subject in @p queue (NULL: none) is allowed,
 * with nats-server's rules for queue-group entries. */
int gw_perm_sub_ok(const struct gw_perms *p, const char *subject, const char *queue);
/** True when no deny rule of @p p matches the (literal) @p subject for a
 *  subscription in @p queue (NULL: none). */
int gw_perm_not_denied(const struct gw_perms *p, const char *subject, const char *queue);

/* lw_gw_tls.c: TLS through OpenSSL. The I/O calls behave as recv/send
 * (-1 with errno EAGAIN when they must wait) and need c->mu held. */
int gw_tls_init(struct lw_gw *gw);          /* no-op without --tls-cert; -1 on error (stderr) */
void gw_tls_free(struct lw_gw *gw);
int gw_tls_attach(struct gw_conn *c);       /* after the clear INFO; -1 on error */
ssize_t gw_tls_recv(struct gw_conn *c, void *buf, size_t n);
ssize_t gw_tls_send(struct gw_conn *c, const void *buf, size_t n);
bool gw_tls_pending(struct gw_conn *c);     /* decrypted bytes wait inside OpenSSL */
bool gw_tls_established(struct gw_conn *c); /* handshake done */
void gw_tls_close_notify(struct gw_conn *c);
void gw_tls_conn_free(struct gw_conn *c);
const char *gw_tls_version(struct gw_conn *c);
const char *gw_tls_cipher(struct gw_conn *c);

/* lw_gw_http.c: monitoring endpoints. */
void gw_http_accept(struct lw_gw *gw);

/* lw_gw_connz.c: /connz and /subsz. Closed connections are kept for
 * /connz?state=closed, as many as nats-server keeps by default. */
#define GW_CLOSED_MAX 10000
#define GW_CLOSED_SUBS_MAX 16   /* subscriptions kept of each */
struct sbuf;
struct gw_cinfo;
/* The answer into @p b, or an error text into @p err; the HTTP status. */
int gw_connz(struct lw_gw *gw, struct sbuf *b, struct sbuf *err, const char *q);
int gw_subsz(struct lw_gw *gw, struct sbuf *b, struct sbuf *err, const char *q);
/* lw-control serves the JetStream API on this domain now. */
bool gw_js_served(struct lw_gw *gw);
/* Is the lw-control serving this domain stopped (SIGSTOP, a debugger)? Its
 * subscriptions are still there, but nothing answers. *pid_out: its pid. */
bool gw_control_stopped(const struct lw_gw *gw, int *pid_out);
/* Subscriptions of TCP clients. */
uint32_t gw_subs(const struct lw_gw *gw);
/* Keeps what /connz shows of @p c, about to be freed. */
void gw_connz_closed(struct lw_gw *gw, struct gw_conn *c);
void gw_connz_free(struct lw_gw *gw);
/* Closes monitor connections past their deadline (all with UINT64_MAX). */
void gw_http_sweep(struct lw_gw *gw, uint64_t now);
/* accept4 (non-blocking) that, out of descriptors, takes the pending
 * connection and closes it instead of leaving the listener firing. */
int gw_accept(struct lw_gw *gw, int lfd, struct sockaddr *a, socklen_t *al);
/* Serves an HTTP event; returns -1 when it is done and freed. */
int gw_http_event(struct lw_gw *gw, struct gw_http *h, uint32_t events);

/* lw_gw_server.c */
uint64_t gw_now_ns(void);
void gw_log(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_wake(struct lw_gw *gw);

#endif
