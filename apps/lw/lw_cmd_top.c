/* SPDX-License-Identifier: MIT */
/*
 * lw top: the figures of `lw stats`, refreshed in place, with rates.
 *
 * Every interval it samples lw_stats() and lw_stats_subs() (shared memory,
 * cheap) and, when the gateway's monitoring port answers, /varz over a
 * plain HTTP/1.0 GET; rates are the difference between two samples divided
 * by the time between them. The frame is built in memory and written with
 * one write, after "cursor home", each line ending in "erase to end of
 * line" and the frame in "erase below": no flicker and no curses. The
 * live view uses the terminal's alternate screen and non-canonical input
 * (for 'q'), and puts both back on every way out, Ctrl-C included.
 * --once samples twice, one interval apart, and prints one frame without
 * escape codes: the form for scripts and tests.
 *
 * Expected load: one sample a second of a domain with up to a few thousand
 * subscriptions; the work is dominated by copying lw_sub_info (~400 bytes
 * each), far below what a terminal can display anyway.
 *
 * The /varz reader is a minimal JSON walker (dotted paths to scalar
 * values), enough for a handful of nats-server-compatible keys; a JSON
 * library would be the tool's only dependency.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lw_cli.h"

static const char top_usage[] =
	"usage: lw top [options]\n"
	"\n"
	"Shows the figures of a domain refreshed in place: clients, subscriptions,\n"
	"message counters and rates, pool occupancy, each subscription's rate,\n"
	"depth and drops, and the NATS gateway's /varz figures when its monitoring\n"
	"port answers. Quit with q or Ctrl-C.\n"
	"\n"
	"Options:\n"
	"  -i, --interval-ms N  time between refreshes (default 1000, at least 50)\n"
	"      --once           print one frame without escape codes and exit (rates\n"
	"                       over one interval: it takes two samples)\n"
	"      --http HOST:PORT the gateway's monitoring port (default 127.0.0.1:8222)\n"
	"  -d, --domain NAME    domain (default $LW_DOMAIN, else \"default\")\n"
	"  -h, --help           show this help\n";

#define HTTP_TIMEOUT_MS 300
#define HTTP_MAX (256u << 10)

/* /varz keys shown, as dotted paths into its JSON. */
enum { GW_CONNS, GW_IN_MSGS, GW_OUT_MSGS, GW_IN_BYTES, GW_OUT_BYTES, GW_SLOW, GW_NKEYS };
static const char *const gw_keys[GW_NKEYS] = {
	"connections", "in_msgs", "out_msgs", "in_bytes", "out_bytes", "slow_consumers",
};

struct gw_sample {
	bool ok;                 /* /varz answered and parsed */
	bool is_lw;              /* it has the "lightwire" object */
	char err[128];           /* why not, for the frame */
	uint64_t v[GW_NKEYS];
	bool have[GW_NKEYS];
	char domain[64];         /* lightwire.domain */
	char server_name[80];
};

struct sample {
	uint64_t t_ns;
	struct lw_domain_stats d;
	struct lw_sub_info *subs;
	int nsubs;
	struct gw_sample gw;
};

struct top {
	lw_conn *c;
	const char *http_host, *http_port;
	uint32_t interval_ms;
	bool once;
	/* Live view: terminal size, for cutting lines and rows. */
	int cols, rows;
};

/* --- domain ----------------------------------------------------------- */

/* All live subscriptions; the table may grow between the two calls. */
static int fetch_subs(lw_conn *c, uint32_t hint, struct lw_sub_info **out, int *n)
{
	int max = (int)hint + 16;

	for (int tries = 0; tries < 4; tries++) {
		struct lw_sub_info *s = calloc((size_t)max, sizeof(*s));
		int got;

		if (s == NULL)
			return LW_ENOMEM;
		got = lw_stats_subs(c, s, max);
		if (got < 0) {
			free(s);
			return got;
		}
		if (got <= max) {
			*out = s;
			*n = got;
			return LW_OK;
		}
		free(s);
		max = got + 16;
	}
	*out = NULL; /* still growing: show none this time rather than fail */
	*n = 0;
	return LW_OK;
}

/* --- /varz ------------------------------------------------------------ */

/*
 * A JSON walker that reports each scalar with its dotted path ("a.b");
 * array elements get the array's path. Strings are reported raw (escapes
 * left in place): the keys we read are plain. Returns 0, -1 when malformed.
 */
struct jw {
	const char *p, *end;
	char path[128];
	struct gw_sample *out;
};

static void jw_ws(struct jw *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

static int jw_string(struct jw *w, const char **s, size_t *n)
{
	if (w->p >= w->end || *w->p != '"')
		return -1;
	*s = ++w->p;
	while (w->p < w->end && *w->p != '"')
		w->p += *w->p == '\\' ? 2 : 1;
	if (w->p >= w->end)
		return -1;
	*n = (size_t)(w->p - *s);
	w->p++;
	return 0;
}

static void jw_visit(struct jw *w, const char *s, size_t n, bool str)
{
	struct gw_sample *g = w->out;
	char *dst = NULL;
	size_t cap = 0;

	if (strcmp(w->path, "lightwire.domain") == 0)
		dst = g->domain, cap = sizeof(g->domain);
	else if (strcmp(w->path, "server_name") == 0)
		dst = g->server_name, cap = sizeof(g->server_name);
	if (dst != NULL && str) {
		snprintf(dst, cap, "%.*s", (int)n, s);
		return;
	}
	for (int k = 0; k < GW_NKEYS && !str; k++) {
		if (strcmp(w->path, gw_keys[k]) == 0) {
			g->v[k] = strtoull(s, NULL, 10);
			g->have[k] = true;
		}
	}
}

static int jw_value(struct jw *w, int depth)
{
	const char *s;
	size_t n, plen = strlen(w->path);

	if (depth > 32)
		return -1;
	jw_ws(w);
	if (w->p >= w->end)
		return -1;
	if (*w->p == '{' || *w->p == '[') {
		bool obj = *w->p == '{';
		char close = obj ? '}' : ']';

		w->p++;
		jw_ws(w);
		if (w->p < w->end && *w->p == close) {
			w->p++;
			return 0;
		}
		for (;;) {
			if (obj) {
				jw_ws(w);
				if (jw_string(w, &s, &n) != 0)
					return -1;
				jw_ws(w);
				if (w->p >= w->end || *w->p++ != ':')
					return -1;
				/* "key" at the top, "parent.key" below. */
				snprintf(w->path + plen, sizeof(w->path) - plen, "%s%.*s",
					 plen ? "." : "", (int)n, s);
				if (strcmp(w->path, "lightwire") == 0)
					w->out->is_lw = true;
			}
			if (jw_value(w, depth + 1) != 0)
				return -1;
			w->path[plen] = '\0';
			jw_ws(w);
			if (w->p < w->end && *w->p == ',') {
				w->p++;
				continue;
			}
			if (w->p < w->end && *w->p == close) {
				w->p++;
				return 0;
			}
			return -1;
		}
	}
	if (*w->p == '"') {
		if (jw_string(w, &s, &n) != 0)
			return -1;
		jw_visit(w, s, n, true);
		return 0;
	}
	s = w->p;
	while (w->p < w->end && strchr(",}] \t\r\n", *w->p) == NULL)
		w->p++;
	if (w->p == s)
		return -1;
	jw_visit(w, s, (size_t)(w->p - s), false);
	return 0;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = lw_cli_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now) / 1000000u) + 1;
}

/* Waits for @p ev on @p fd until @p deadline; 0 when ready. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };

	for (;;) {
		int ms = remaining_ms(deadline), r;

		if (ms == 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r < 0 && lw_cli_stop)
			return -EINTR;
	}
}

/* Non-blocking connect to the first address that takes it; fd or -errno. */
static int http_connect(const char *host, const char *port, uint64_t deadline, char *err,
			size_t errn)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *a;
	int rc, fd = -1;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errn, "%s", gai_strerror(rc));
		return -EINVAL;
	}
	rc = -ECONNREFUSED;
	for (a = res; a != NULL; a = a->ai_next) {
		socklen_t sl = sizeof(int);
		int soerr = 0;

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		rc = -errno;
		if (errno == EINPROGRESS) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			if (rc == 0)
				rc = -(soerr ? soerr : ECONNREFUSED);
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errn, "%s", strerror(-rc));
	return fd >= 0 ? fd : rc;
}

/* GET @p path over HTTP/1.0; the body (NUL-terminated, malloc'd) or NULL
 * with @p err set. */
static char *http_get(const char *host, const char *port, const char *path, char *err,
		      size_t errn)
{
	uint64_t deadline = lw_cli_now_ns() + HTTP_TIMEOUT_MS * 1000000ull;
	char req[512], *buf = NULL, *body;
	size_t len = 0, cap = 0, off = 0;
	int fd, n, rc;

	fd = http_connect(host, port, deadline, err, errn);
	if (fd < 0)
		return NULL;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: lw-top\r\n\r\n",
		     path, host, port);
	while (off < (size_t)n) {
		ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
				goto fail_rc;
			continue;
		}
		if (w < 0) {
			rc = -errno;
			goto fail_rc;
		}
		off += (size_t)w;
	}
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			char *p;

			cap = cap ? cap * 2 : 16384;
			if (cap > HTTP_MAX + 1) {
				snprintf(err, errn, "response larger than %u bytes", HTTP_MAX);
				goto fail;
			}
			p = realloc(buf, cap);
			if (p == NULL) {
				snprintf(err, errn, "out of memory");
				goto fail;
			}
			buf = p;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r == 0)
			break;
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((rc = wait_fd(fd, POLLIN, deadline)) != 0)
				goto fail_rc;
			continue;
		}
		if (r < 0) {
			rc = -errno;
			goto fail_rc;
		}
		len += (size_t)r;
	}
	close(fd);
	if (buf == NULL) {
		snprintf(err, errn, "empty response");
		return NULL;
	}
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strlen(buf) < 12 || strncmp(buf + 9, "200", 3) != 0) {
		snprintf(err, errn, "HTTP status '%.*s'", (int)strcspn(buf, "\r\n"), buf);
		free(buf);
		return NULL;
	}
	body = strstr(buf, "\r\n\r\n");
	if (body == NULL) {
		snprintf(err, errn, "malformed HTTP response");
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, len - (size_t)(body + 4 - buf) + 1);
	return buf;
fail_rc:
	snprintf(err, errn, "%s", rc == -ETIMEDOUT ? "no answer within 300 ms" : strerror(-rc));
fail:
	close(fd);
	free(buf);
	return NULL;
}

static void sample_free(struct sample *s)
{
	free(s->subs);
	s->subs = NULL;
	s->nsubs = 0;
}

static void sample_gw(const struct top *t, struct gw_sample *g)
{
	char *body;
	struct jw w;

	memset(g, 0, sizeof(*g));
	body = http_get(t->http_host, t->http_port, "/varz", g->err, sizeof(g->err));
	if (body == NULL)
		return;
	w = (struct jw){ .p = body, .end = body + strlen(body), .out = g };
	if (jw_value(&w, 0) != 0) {
		memset(g, 0, sizeof(*g));
		snprintf(g->err, sizeof(g->err), "/varz is not the JSON expected");
	} else {
		g->ok = true;
	}
	free(body);
}

/*
 * lw_stats() reads the mapping, which outlives lwd: a daemon that stopped
 * (its process gone, or its domain file removed at shutdown) would show
 * frozen figures forever. Returns true when it looks gone.
 */
static bool daemon_gone(const struct lw_domain_stats *d)
{
	struct stat st;

	if (d->daemon_pid > 0 && kill(d->daemon_pid, 0) != 0 && errno == ESRCH)
		return true;
	return d->path[0] != '\0' && stat(d->path, &st) != 0 && errno == ENOENT;
}

static int take_sample(const struct top *t, struct sample *s)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->t_ns = lw_cli_now_ns();
	rc = lw_stats(t->c, &s->d);
	if (rc == LW_OK)
		rc = fetch_subs(t->c, s->d.subs, &s->subs, &s->nsubs);
	if (rc != LW_OK)
		return rc;
	if (daemon_gone(&s->d)) {
		sample_free(s);
		return LW_ECLOSED;
	}
	sample_gw(t, &s->gw);
	return LW_OK;
}

/* --- frame ------------------------------------------------------------ */

/* 1234 -> "1234", 12345 -> "12.3k", 12345678 -> "12.3M". */
static const char *si(char *buf, size_t n, double v)
{
	if (v < 0)
		snprintf(buf, n, "-");
	else if (v >= 1e9)
		snprintf(buf, n, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, n, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, n, "%.1fk", v / 1e3);
	else
		snprintf(buf, n, "%.0f", v);
	return buf;
}

/* Per-second rate of a counter between two samples; -1 = not known
 * (first frame, or the counter went down: a sum over live subscriptions
 * drops when one closes). */
static double rate(const struct sample *p, const struct sample *c, uint64_t a, uint64_t b)
{
	if (p == NULL || b < a || c->t_ns <= p->t_ns)
		return -1;
	return (double)(b - a) * 1e9 / (double)(c->t_ns - p->t_ns);
}

/* The same subscription in the previous sample: same slot, subject,
 * client and pid (a slot is reused once a subscription is gone). */
static const struct lw_sub_info *prev_sub(const struct sample *p, const struct lw_sub_info *s)
{
	if (p == NULL)
		return NULL;
	for (int i = 0; i < p->nsubs; i++) {
		const struct lw_sub_info *q = &p->subs[i];

		if (q->index == s->index && q->pid == s->pid && strcmp(q->subject, s->subject) == 0 &&
		    strcmp(q->client, s->client) == 0)
			return q->st.delivered <= s->st.delivered ? q : NULL;
	}
	return NULL;
}

struct row {
	const struct lw_sub_info *s;
	double rate;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->rate != y->rate)
		return x->rate < y->rate ? 1 : -1;
	return (x->s->index > y->s->index) - (x->s->index < y->s->index);
}

static void frame_subs(FILE *f, const struct sample *p, const struct sample *c)
{
	struct row *rows = calloc((size_t)c->nsubs + 1, sizeof(*rows));
	int sw = 7, qw = 5, cw = 6;
	char r[32], d[32];

	fprintf(f, "\nSubscriptions (%d)%s\n", c->nsubs,
		c->nsubs ? ", busiest first" : "");
	if (rows == NULL || c->nsubs == 0) {
		free(rows);
		return;
	}
	for (int i = 0; i < c->nsubs; i++) {
		const struct lw_sub_info *s = &c->subs[i], *q = prev_sub(p, s);
		int l;

		rows[i].s = s;
		rows[i].rate = q ? rate(p, c, q->st.delivered, s->st.delivered) : -1;
		l = (int)strlen(s->subject);
		sw = l > sw ? l : sw;
		l = (int)strlen(s->queue);
		qw = l > qw ? l : qw;
		l = (int)strlen(s->client);
		cw = l > cw ? l : cw;
	}
	qsort(rows, (size_t)c->nsubs, sizeof(*rows), row_cmp);
	fprintf(f, "  %9s  %12s  %11s  %10s  %-*s  %-*s  %-*s  %7s\n", "MSGS/S", "DELIVERED",
		"DEPTH/CAP", "DROPPED", sw, "SUBJECT", qw, "QUEUE", cw, "CLIENT", "PID");
	for (int i = 0; i < c->nsubs; i++) {
		const struct lw_sub_info *s = rows[i].s;

		snprintf(d, sizeof(d), "%u/%u", s->st.depth, s->st.capacity);
		fprintf(f, "  %9s  %12llu  %11s  %10llu  %-*s  %-*s  %-*s  %7d\n",
			si(r, sizeof(r), rows[i].rate), (unsigned long long)s->st.delivered, d,
			(unsigned long long)s->st.dropped, sw, s->subject, qw,
			s->queue[0] ? s->queue : "-", cw, s->client, s->pid);
	}
	free(rows);
}

static void frame_gw(FILE *f, const struct top *t, const struct sample *p, const struct sample *c)
{
	static const char *const names[GW_NKEYS] = {
		"connections", "in msgs", "out msgs", "in bytes", "out bytes", "slow consumers",
	};
	const struct gw_sample *g = &c->gw, *pg = p && p->gw.ok ? &p->gw : NULL;
	char a[32];

	fprintf(f, "\nNATS gateway (http://%s:%s/varz)", t->http_host, t->http_port);
	if (!g->ok) {
		fprintf(f, ": not reachable (%s)\n", g->err);
		return;
	}
	if (!g->is_lw) {
		fprintf(f, ": not a Lightwire gateway (server \"%s\"): figures not shown\n",
			g->server_name);
		return;
	}
	if (strcmp(g->domain, c->d.name) != 0) {
		fprintf(f, ": serves domain \"%s\", not \"%s\": figures not shown "
			"(see --http)\n", g->domain, c->d.name);
		return;
	}
	fprintf(f, "\n  %-16s %14s  %12s\n", "", "TOTAL", "PER SECOND");
	for (int k = 0; k < GW_NKEYS; k++) {
		double rt = -1;

		if (!g->have[k])
			continue;
		if (pg != NULL && pg->have[k] && k != GW_CONNS)
			rt = rate(p, c, pg->v[k], g->v[k]);
		if (k == GW_CONNS)
			fprintf(f, "  %-16s %14llu\n", names[k], (unsigned long long)g->v[k]);
		else
			fprintf(f, "  %-16s %14llu  %12s\n", names[k], (unsigned long long)g->v[k],
				si(a, sizeof(a), rt));
	}
}

static void frame(FILE *f, const struct top *t, const struct sample *p, const struct sample *c)
{
	static const char *const names[] = {
		"published", "no interest", "delivered", "dropped", "pool exhausted",
	};
	const struct lw_domain_stats *d = &c->d, *pd = p ? &p->d : NULL;
	const uint64_t now[] = { d->published, d->no_interest, d->delivered, d->dropped,
				 d->pool_exhausted };
	const uint64_t was[] = { pd ? pd->published : 0, pd ? pd->no_interest : 0,
				 pd ? pd->delivered : 0, pd ? pd->dropped : 0,
				 pd ? pd->pool_exhausted : 0 };
	uint32_t nc = d->nclasses < LW_STATS_CLASSES ? d->nclasses : LW_STATS_CLASSES;
	char tbuf[32], r[32], sz[32];
	time_t wall = time(NULL);
	struct tm tm;

	localtime_r(&wall, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fprintf(f, "lw top - domain \"%s\", lwd pid %d - %s, %s %g s%s\n", d->name,
		d->daemon_pid, tbuf, t->once ? "rates over" : "every", t->interval_ms / 1000.0,
		t->once ? "" : " (q quits)");
	fprintf(f, "  clients %u/%u   subscriptions %u/%u   ring %u   max payload %u B\n",
		d->clients, d->max_clients, d->subs, d->max_subs, d->ring_size, d->max_payload);
	fprintf(f, "\nMessages %9s %14s  %12s\n", "", "TOTAL", "PER SECOND");
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		fprintf(f, "  %-16s %14llu  %12s\n", names[k], (unsigned long long)now[k],
			si(r, sizeof(r), rate(p, c, was[k], now[k])));
	fprintf(f, "  (delivered and dropped: sums over live subscriptions)\n");
	{
		char lat[96];

		lw_cli_latency(lat, sizeof(lat), d);
		fprintf(f, "  latency: %s\n", lat);
	}
	fprintf(f, "\nPool %13s %10s  %10s  %6s\n", "SLOT", "FREE", "TOTAL", "USED");
	for (uint32_t k = 0; k < nc; k++) {
		uint32_t tot = d->cls[k].total, fr = d->cls[k].free < tot ? d->cls[k].free : tot;
		uint32_t b = d->cls[k].slot_bytes;

		if (b >= 1u << 20)
			snprintf(sz, sizeof(sz), "%u MiB", b >> 20);
		else if (b >= 1u << 10)
			snprintf(sz, sizeof(sz), "%u KiB", b >> 10);
		else
			snprintf(sz, sizeof(sz), "%u B", b);
		fprintf(f, "  class %u %10s %10u  %10u  %5.1f%%\n", k, sz, fr, tot,
			tot ? 100.0 * (double)(tot - fr) / (double)tot : 0.0);
	}
	frame_gw(f, t, p, c);
	frame_subs(f, p, c);
}

/* --- terminal --------------------------------------------------------- */

static struct termios saved_tio;
static bool tio_saved, screen_on;
static bool keys;		/* stdin is a terminal we read keys from */
static volatile sig_atomic_t winched; /* SIGWINCH: the terminal was resized */

static void on_winch(int sig)
{
	(void)sig;
	winched = 1;
}

/* Reads the terminal's size; true when it changed. */
static bool term_size(struct top *t)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0 || ws.ws_row == 0 ||
	    (ws.ws_col == t->cols && ws.ws_row == t->rows))
		return false;
	t->cols = ws.ws_col;
	t->rows = ws.ws_row;
	return true;
}

static void term_restore(void)
{
	if (screen_on) {
		/* Show the cursor, leave the alternate screen. */
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
		screen_on = false;
	}
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
		tio_saved = false;
	}
}

static void term_setup(struct top *t)
{
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios raw = saved_tio;

		/* Keys without Enter and without echo; ISIG stays, so Ctrl-C is
		 * still SIGINT and ends us through lw_cli_stop. */
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0)
			tio_saved = keys = true;
	}
	fputs("\033[?1049h\033[?25l", stdout);
	screen_on = true;
	term_size(t);
	/* No SA_RESTART: a resize ends the wait between frames, and the next
	 * frame is drawn to the new size at once. */
	struct sigaction sa = { .sa_handler = on_winch };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);
}

/* Writes the frame: as is (--once, or stdout not a terminal), or in place,
 * each line cut to the width and the whole to the height of the terminal. */
static int emit(const struct top *t, const char *buf, size_t len)
{
	if (!screen_on) {
		fwrite(buf, 1, len, stdout);
		if (!t->once)
			fputc('\n', stdout);
		return fflush(stdout) == 0 ? 0 : -1;
	}

	int row = 0, max_rows = t->rows > 1 ? t->rows : 1 << 30;
	const char *p = buf, *end = buf + len;

	fputs("\033[H", stdout);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (row == max_rows - 1 && nl != NULL && nl + 1 < end) {
			fputs("  ... (more rows than the terminal has)\033[K", stdout);
			break;
		}
		if (t->cols > 0 && l > (size_t)t->cols)
			l = (size_t)t->cols;
		fwrite(p, 1, l, stdout);
		fputs("\033[K", stdout);
		if (nl == NULL)
			break;
		if (++row < max_rows)
			fputc('\n', stdout);
		p = nl + 1;
	}
	fputs("\033[J", stdout);
	return fflush(stdout) == 0 ? 0 : -1;
}

/* Sleeps up to @p ms; returns true when the user asked to quit. */
static bool wait_key(uint32_t ms)
{
	uint64_t deadline = lw_cli_now_ns() + (uint64_t)ms * 1000000ull;

	while (!lw_cli_stop) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int left = remaining_ms(deadline), r;
		char ch;

		if (left == 0 || winched)
			return false;
		r = poll(&p, keys ? 1 : 0, left);
		if (r <= 0)
			continue;
		if (!(p.revents & POLLIN) || read(STDIN_FILENO, &ch, 1) != 1) {
			keys = false; /* hung up: sleep out the intervals from now on */
			continue;
		}
		if (ch == 'q' || ch == 'Q')
			return true;
	}
	return true;
}

static int parse_http(const char *s, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon = strrchr(s, ':');

	if (colon == NULL || colon == s || colon[1] == '\0' ||
	    (size_t)(colon - s) >= hn || strlen(colon + 1) >= pn ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strtol(colon + 1, NULL, 10) < 1 || strtol(colon + 1, NULL, 10) > 65535)
		return -1;
	/* [::1]:8222: the address without its brackets */
	if (s[0] == '[' && colon[-1] == ']') {
		snprintf(host, hn, "%.*s", (int)(colon - s - 2), s + 1);
		snprintf(port, pn, "%s", colon + 1);
		return 0;
	}
	snprintf(host, hn, "%.*s", (int)(colon - s), s);
	snprintf(port, pn, "%s", colon + 1);
	return 0;
}

int lw_cmd_top(const struct lw_cli *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, 'o' },
		{ "http", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct top t = { .interval_ms = 1000 };
	struct sample s[2] = { 0 };
	char host[256] = "127.0.0.1", port[16] = "8222", *buf = NULL;
	size_t len = 0;
	int o, iv, rc = LW_EXIT_OK, cur = 0;
	bool have_prev = false;

	opterr = 0;
	while ((o = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			if (lw_cli_parse_int(optarg, &iv) != 0 || iv < 50)
				return lw_cli_usage_error(g, "--interval-ms wants a number of "
							  "milliseconds >= 50, not '%s'", optarg);
			t.interval_ms = (uint32_t)iv;
			break;
		case 'o':
			t.once = true;
			break;
		case 'H':
			if (parse_http(optarg, host, sizeof(host), port, sizeof(port)) != 0)
				return lw_cli_usage_error(g, "--http wants HOST:PORT, not '%s'",
							  optarg);
			break;
		case 'h':
			fputs(top_usage, stdout);
			return LW_EXIT_OK;
		default:
			return lw_cli_bad_option(g, o, argv);
		}
	}
	if (optind < argc)
		return lw_cli_usage_error(g, "unexpected argument '%s'", argv[optind]);
	t.http_host = host;
	t.http_port = port;
	lw_cli_catch_signals();
	if (lw_cli_connect(g, LW_WAIT_BLOCK, &t.c) != LW_OK)
		return LW_EXIT_FAIL;
	if (!t.once && isatty(STDOUT_FILENO))
		term_setup(&t);
	for (;;) {
		FILE *f;
		int src = take_sample(&t, &s[cur]);

		if (src == LW_ECLOSED) {
			term_restore();
			fprintf(stderr, "lw: top: lwd of domain \"%s\" (pid %d) has stopped\n",
				s[cur].d.name, s[cur].d.daemon_pid);
			rc = LW_EXIT_FAIL;
			break;
		}
		if (src != LW_OK) {
			term_restore();
			rc = lw_cli_fail("top", src);
			break;
		}
		/* --once: the first sample only starts the rates. */
		if (!(t.once && !have_prev)) {
			f = open_memstream(&buf, &len);
			if (f == NULL) {
				term_restore();
				fprintf(stderr, "lw: top: out of memory\n");
				rc = LW_EXIT_FAIL;
				break;
			}
			frame(f, &t, have_prev ? &s[cur ^ 1] : NULL, &s[cur]);
			fclose(f);
			winched = 0;
			if (screen_on && term_size(&t))
				fputs("\033[2J", stdout); /* resized: nothing old stays */
			o = emit(&t, buf, len);
			free(buf);
			buf = NULL;
			if (o != 0) {
				term_restore();
				fprintf(stderr, "lw: top: cannot write the frame: %s\n",
					strerror(errno));
				rc = LW_EXIT_FAIL;
				break;
			}
			if (t.once)
				break;
		}
		if (have_prev)
			sample_free(&s[cur ^ 1]);
		have_prev = true;
		cur ^= 1;
		if (wait_key(t.interval_ms))
			break;
	}
	sample_free(&s[0]);
	sample_free(&s[1]);
	term_restore();
	lw_close(t.c);
	return rc;
}
