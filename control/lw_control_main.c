/* SPDX-License-Identifier: MIT */
/*
 * lw-control: the control-plane process. A liblightwire client of one
 * domain that serves the JetStream API ($JS.API.>), stores what is
 * published to its streams' subjects and answers PubAcks; NATS clients
 * reach it through lwd's gateway like shared-memory clients do.
 *
 * Threads: the connection's dispatcher runs every callback (API, stream
 * subjects, acks); this main thread is the timer (group commit, fsync
 * interval, max_age, ack_wait, pull expiry) and signal handling.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lw_ctl.h"
#include "lw_domain.h" /* lw_dom_daemon_alive: a privileged local client */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* SIGHUP / SIGUSR1 / SIGUSR2 are nats-server's reload, log reopen and
 * lame duck; an operator's habit (logrotate's kill -USR1) must not take
 * the streams down: noted, logged by the main loop, ignored. */
static _Atomic unsigned long g_sig_note; /* bits 1 << signal */

static void on_other_signal(int sig)
{
	atomic_fetch_or(&g_sig_note, 1ul << sig);
}

static void signal_note(void)
{
	unsigned long sig = atomic_exchange(&g_sig_note, 0);
	static const int sigs[] = { SIGHUP, SIGUSR1, SIGUSR2 };
	static const char *const names[] = { "SIGHUP", "SIGUSR1", "SIGUSR2" };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sig & (1ul << sigs[i]))
			fprintf(stderr, "lw-control: %s ignored (no reload, log reopen or lame duck"
				" here; SIGTERM stops)\n", names[i]);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lw-control [options]\n"
		"  -d, --domain NAME        domain to serve (default $LW_DOMAIN or \"default\")\n"
		"  -s, --store-dir DIR      stream storage (default /var/lib/lightwire when\n"
		"                           writable, else ./lw-store)\n"
		"  -f, --fsync POLICY       always | interval | never (default interval)\n"
		"  -i, --sync-interval-ms N fsync period for 'interval' (default 1000)\n"
		"      --segment-bytes N    roll segment files past N bytes (default 16M)\n"
		"  -v, --verbose            log every API request\n"
		"  -h, --help\n");
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	else if (*end == 'g' || *end == 'G')
		v <<= 30;
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mkdir_p(const char *path)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/*
 * One lw-control per domain and per store directory, each guarded by a
 * flock'd file holding the owner's pid. A new lw-control takes over from
 * a running one (SIGTERM, then waits up to 10 s for it to sync and exit):
 * restarting lw-control while the old one still runs - say after lwd was
 * restarted, which the old one survives - must never leave two writers
 * on one store or two answers to every API request.
 *
 * The owner removes its lock files when it exits (release_locks), still
 * holding the lock, so that stopped and failed runs leave nothing in
 * /dev/shm. A lock is therefore only good if the file locked is still
 * the one at the path: a taker that waited on a file its owner removed
 * opens the path again.
 */
static struct {
	char path[PATH_MAX];
	int fd;
} g_locks[2];
static int g_n_locks;

static void release_locks(void)
{
	for (int i = 0; i < g_n_locks; i++) {
		unlink(g_locks[i].path);
		close(g_locks[i].fd);
	}
	g_n_locks = 0;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Takes the lock at @p path (stopping its owner); 0 or -1. */
static int take_over(const char *path, const char *what)
{
	char buf[32] = "";
	pid_t pid = 0;
	int fd = -1;

	for (int round = 0; round < 20; round++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "lw-control: error: %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			if (pid == 0) {
				if (pread(fd, buf, sizeof(buf) - 1, 0) < 0)
					buf[0] = '\0';
				pid = (pid_t)atoi(buf);
				fprintf(stderr,
					"lw-control: %s is served by lw-control pid %d: stopping it to take over\n",
					what, (int)pid);
				if (pid > 1 && pid != getpid())
					kill(pid, SIGTERM);
			}
			for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; i++) {
				struct timespec ts = { 0, 100 * 1000000L };

				if (i == 100) {
					fprintf(stderr,
						"lw-control: error: lw-control pid %d did not stop\n",
						(int)pid);
					close(fd);
					return -1;
				}
				nanosleep(&ts, NULL);
			}
		}
		if (same_file(fd, path))
			break;
		close(fd); /* its owner removed it on exit: take the new one */
		fd = -1;
	}
	if (fd < 0) {
		fprintf(stderr, "lw-control: error: %s keeps changing under us\n", path);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, strlen(buf), 0) < 0)
		(void)0; /* the pid is informative; the lock is what counts */
	snprintf(g_locks[g_n_locks].path, sizeof(g_locks[g_n_locks].path), "%s", path);
	g_locks[g_n_locks++].fd = fd;
	return 0;
}

/*
 * Subscribes to every stream's subjects, then $JS.ACK.>, $JS.FC.> and
 * last $JS.API.>: a client that sees the API up can publish to every
 * stream that existed before. Subscribing takes the library's
 * subscription lock, which the dispatcher holds while a callback waits
 * for ctl->mu: so not under mu (nothing else changes the stream list
 * until the API is up).
 */
static int serve(struct lw_ctl *ctl)
{
	static const char *const own[] = { "$JS.ACK.>", "$JS.FC.>", "$JS.API.>" };
	struct lw_sub_opts so;

	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next) {
		json_t *err = NULL;

		/* One stream the fabric cannot take (lwd restarted with a
		 * smaller --max-subs, say) must not keep the others from
		 * being served: it stays on disk, its API answers, and its
		 * subjects have no responder until lw-control restarts. */
		if (lw_stream_subscribe(ctl, s, &err) != 0) {
			fprintf(stderr, "lw-control: error: stream %s is not served: %s\n", s->name,
				json_string_value(json_object_get(json_object_get(err, "error"),
								  "description")));
			json_decref(err);
		}
	}
	lw_sub_opts_init(&so);
	so.cb_arg = ctl;
	for (int i = 0; i < 3; i++) {
		lw_sub *sub;

		/* acks and flow-control answers share one callback */
		so.cb = i < 2 ? lw_ctl_ack_cb : lw_ctl_api_cb;
		if (lw_subscribe(ctl->c, own[i], &so, &sub) != LW_OK) {
			fprintf(stderr, "lw-control: error: subscribe %s: %s\n", own[i], lw_errmsg());
			return -1;
		}
		if (i == 2)
			ctl->api_sub = sub;
	}
	return 0;
}

/*
 * lwd went away: the fabric and every subscription with it. The stores
 * stay open (synced now); pull requests waiting on the old fabric are
 * dropped (their clients reconnect and ask again). Connects again once
 * a new lwd serves the domain and subscribes everything anew. Returns
 * -1 when stopped by a signal first.
 */
static int reconnect(struct lw_ctl *ctl, const struct lw_conn_opts *co, const char *domain)
{
	fprintf(stderr, "lw-control: lwd of domain '%s' is gone; waiting for it to return\n",
		domain);
	pthread_mutex_lock(&ctl->mu);
	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next)
		lw_store_sync(s->st);
	pthread_mutex_unlock(&ctl->mu);
	/* Joins the dispatcher: no callback runs past this point. */
	lw_close(ctl->c);
	pthread_mutex_lock(&ctl->mu);
	ctl->c = NULL;
	ctl->api_sub = NULL;
	for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next) {
		free(s->subs);
		s->subs = NULL;
		s->n_subs = 0;
		lw_consumers_disconnected(s);
	}
	pthread_mutex_unlock(&ctl->mu);
	/* Poll often: NATS clients wait for us before they are let in
	 * after an lwd restart (the gateway's wait_for_control). */
	for (bool first = true; !g_stop; first = false) {
		struct timespec ts = { 0, 20 * 1000000L };
		lw_conn *c;

		if (!first)
			nanosleep(&ts, NULL);
		if (!lw_dom_daemon_alive(domain) || lw_connect(&c, co) != LW_OK)
			continue;
		pthread_mutex_lock(&ctl->mu);
		ctl->c = c;
		pthread_mutex_unlock(&ctl->mu);
		if (serve(ctl) == 0) {
			fprintf(stderr, "lw-control: reconnected to domain '%s'\n", domain);
			return 0;
		}
		/* lwd went away again while we subscribed: start over */
		lw_close(c);
		pthread_mutex_lock(&ctl->mu);
		ctl->c = NULL;
		for (struct lw_stream *s = ctl->streams; s != NULL; s = s->next) {
			free(s->subs);
			s->subs = NULL;
			s->n_subs = 0;
		}
		pthread_mutex_unlock(&ctl->mu);
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "store-dir", required_argument, NULL, 's' },
		{ "fsync", required_argument, NULL, 'f' },
		{ "sync-interval-ms", required_argument, NULL, 'i' },
		{ "segment-bytes", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lw_ctl ctl = { .sync = LW_SYNC_INTERVAL, .sync_interval_ms = 1000 };
	struct lw_conn_opts co;
	const char *domain = NULL, *dir = NULL;
	int64_t last_sync, last_tick, last_alive;
	int opt, rc, n;

	while ((opt = getopt_long(argc, argv, "d:s:f:i:vh", lopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			domain = optarg;
			break;
		case 's':
			dir = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "always") == 0)
				ctl.sync = LW_SYNC_ALWAYS;
			else if (strcmp(optarg, "interval") == 0)
				ctl.sync = LW_SYNC_INTERVAL;
			else if (strcmp(optarg, "never") == 0)
				ctl.sync = LW_SYNC_NEVER;
			else {
				fprintf(stderr, "lw-control: error: --fsync: always, interval or never\n");
				return 2;
			}
			break;
		case 'i':
			ctl.sync_interval_ms = atoi(optarg);
			if (ctl.sync_interval_ms <= 0) {
				fprintf(stderr, "lw-control: error: --sync-interval-ms must be > 0\n");
				return 2;
			}
			break;
		case 'B':
			ctl.segment_bytes = parse_size(optarg);
			break;
		case 'v':
			ctl.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL)
		dir = access("/var/lib/lightwire", W_OK) == 0 ? "/var/lib/lightwire" : "./lw-store";
	if (mkdir_p(dir) != 0) {
		fprintf(stderr, "lw-control: error: cannot create store dir %s: %s\n", dir,
			strerror(errno));
		return 2;
	}
	ctl.store_dir = realpath(dir, NULL);
	if (ctl.store_dir == NULL) {
		fprintf(stderr, "lw-control: error: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	if (lw_dom_name(domain, &domain) != LW_OK) {
		fprintf(stderr, "lw-control: error: %s\n", lw_errmsg());
		return 2;
	}
	{
		char lp[PATH_MAX], what[300];

		atexit(release_locks);
		snprintf(lp, sizeof(lp), "%s/lw-control.lock", ctl.store_dir);
		snprintf(what, sizeof(what), "store %s", ctl.store_dir);
		if (take_over(lp, what) < 0)
			return 2;
		if (lw_dom_control_lock_path(domain, lp, sizeof(lp)) == LW_OK) {
			snprintf(what, sizeof(what), "domain '%s'", domain);
			if (take_over(lp, what) < 0)
				return 2;
		}
	}
	pthread_mutex_init(&ctl.mu, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit shows as EFBIG on write, handled like ENOSPC. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_other_signal);
	signal(SIGUSR1, on_other_signal);
	signal(SIGUSR2, on_other_signal);

	lw_conn_opts_init(&co);
	co.domain = domain;
	co.name = "lw-control";
	/* A receiver whose ring stays full holds up every stream while we
	 * wait (the state lock is held): give up soon; deliveries retry
	 * from the timer, a lost reply is retried by its client. */
	co.block_timeout_ms = 200;
	rc = lw_connect(&ctl.c, &co);
	if (rc != LW_OK) {
		fprintf(stderr, "lw-control: error: cannot connect to the domain: %s\n", lw_errmsg());
		return 1;
	}
	{
		struct lw_domain_stats st;

		/* The name lwd's gateway gives itself (INFO server_name). */
		if (lw_stats(ctl.c, &st) == LW_OK)
			snprintf(ctl.server, sizeof(ctl.server), "lightwire-%s", st.name);
		else
			snprintf(ctl.server, sizeof(ctl.server), "lightwire");
	}
	/* Streams first, then the API: a client that sees the API up can
	 * publish to every stream that existed before the restart. The
	 * dispatcher may already run stream callbacks: hold the lock. */
	n = lw_streams_load(&ctl);
	if (n < 0) {
		fprintf(stderr, "lw-control: error: store dir %s: %s\n", ctl.store_dir, strerror(-n));
		lw_close(ctl.c);
		return 1;
	}
	if (serve(&ctl) != 0) {
		lw_close(ctl.c);
		return 1;
	}
	fprintf(stderr, "lw-control: serving $JS.API.> with %d stream(s) from %s (fsync %s)\n", n,
		ctl.store_dir, ctl.sync == LW_SYNC_ALWAYS ? "always" :
			       ctl.sync == LW_SYNC_INTERVAL ? "interval" : "never");

	last_sync = last_tick = last_alive = mono_ms();
	long nap_ms = 5;
	int64_t due = 0; /* ctl.next_due as the last pass left it */

	while (!g_stop) {
		struct timespec ts = { 0, nap_ms * 1000000L };
		int fds[64], n_fds = 0;
		int64_t now;

		signal_note();
		/* Not past the earliest pull-request expiry (one that came in
		 * meanwhile waits at most one usual nap). */
		if (due > 0) {
			int64_t left = due - lw_now_wall_ns();

			if (left < ts.tv_nsec)
				ts.tv_nsec = left > 0 ? left : 0;
		}
		nanosleep(&ts, NULL);
		now = mono_ms();
		pthread_mutex_lock(&ctl.mu);
		/* 5 ms naps while batches come (the group commit's bound),
		 * 20 ms when idle (the tick's period): an idle lw-control
		 * wakes 50 times a second, not 200. */
		nap_ms = ctl.n_acks > 0 || ctl.unflushed ? 5 : 20;
		/* The batch a quiet stream callback left (and the group
		 * commit's 5 ms bound). */
		lw_ctl_flush_acks(&ctl);
		if (ctl.sync == LW_SYNC_INTERVAL && now - last_sync >= ctl.sync_interval_ms) {
			/* fdatasync outside the lock (on duplicated descriptors)
			 * so publishes and API calls do not wait for the disk. */
			for (struct lw_stream *s = ctl.streams; s != NULL && n_fds < 64; s = s->next) {
				int fd = lw_store_sync_begin(s->st);

				if (fd >= 0)
					fds[n_fds++] = fd;
			}
			last_sync = now;
		}
		if (now - last_tick >= 20 ||
		    (ctl.next_due > 0 && lw_now_wall_ns() >= ctl.next_due)) {
			int64_t wall = lw_now_wall_ns();

			ctl.next_due = 0; /* the consumers' tick sets it anew */
			for (struct lw_stream *s = ctl.streams; s != NULL; s = s->next) {
				lw_stream_expire(s, wall);
				lw_consumers_tick(s, wall);
			}
			last_tick = now;
		}
		due = ctl.next_due;
		pthread_mutex_unlock(&ctl.mu);
		for (int i = 0; i < n_fds; i++) {
			fdatasync(fds[i]);
			close(fds[i]);
		}
		n_fds = 0;
		/* Without lwd the fabric is gone: wait for a new lwd and
		 * serve it (the streams stay open meanwhile). */
		if (now - last_alive >= 50) {
			last_alive = now;
			if ((!lw_dom_daemon_alive(domain) || lw_conn_alive(ctl.c) != LW_OK) &&
			    reconnect(&ctl, &co, domain) != 0)
				break;
		}
	}
	/* lw_close joins the dispatcher (callbacks finish) and frees every
	 * subscription; then the stores are synced and closed. */
	/* Answer what is held back before the fabric goes. */
	pthread_mutex_lock(&ctl.mu);
	if (ctl.c != NULL)
		lw_ctl_flush_acks(&ctl);
	pthread_mutex_unlock(&ctl.mu);
	if (ctl.c != NULL)
		lw_close(ctl.c);
	pthread_mutex_lock(&ctl.mu);
	while (ctl.streams != NULL) {
		struct lw_stream *s = ctl.streams;

		ctl.streams = s->next;
		s->n_subs = 0;
		lw_consumers_free(s, false);
		lw_store_close(s->st);
		json_decref(s->cfg);
		json_decref(s->dedup);
		for (size_t i = 0; i < s->dq_len; i++)
			free(s->dq[(s->dq_head + i) % s->dq_cap].id);
		free(s->dq);
		free(s->subs);
		free(s);
	}
	pthread_mutex_unlock(&ctl.mu);
	for (size_t i = 0; i < ctl.n_acks; i++) {
		free(ctl.acks[i].reply);
		free(ctl.acks[i].body);
	}
	free(ctl.acks);
	free(ctl.store_dir);
	fprintf(stderr, "lw-control: stopped\n");
	return 0;
}
