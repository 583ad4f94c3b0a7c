/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: start a private lwd (its own domain name, so tests never
 * meet each other or a user's daemon), wait for it, stop it.
 * Header-only so every test executable stays one file.
 */
#ifndef LW_TEST_ENV_H
#define LW_TEST_ENV_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lightwire/lightwire.h>

struct lw_test_daemon {
	pid_t pid;
	char domain[32];
	char log[128];
};

static inline void lw_test_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Reads what @p log gained from offset @p from on (its last @p cap - 1
 * bytes at most) into @p tail: a daemon that did not start says why
 * there, and CI keeps only the test's own output. */
static inline void lw_test_log_tail(const char *log, off_t from, char *tail, size_t cap)
{
	struct stat st;
	FILE *f = fopen(log, "r");
	size_t k;

	tail[0] = '\0';
	if (f == NULL)
		return;
	if (fstat(fileno(f), &st) == 0 && st.st_size - from > (off_t)cap - 1)
		from = st.st_size - (off_t)cap + 1;
	fseeko(f, from, SEEK_SET);
	k = fread(tail, 1, cap - 1, f);
	tail[k] = '\0';
	fclose(f);
}

/* Does a line of file @p path (a daemon's log) contain @p what? */
static inline bool lw_test_file_has(const char *path, const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static inline off_t lw_test_log_size(const char *log)
{
	struct stat st;

	return stat(log, &st) == 0 ? st.st_size : 0;
}

/* Starts lwd with extra arguments (NULL-terminated); stderr goes to a log
 * file so a failing test can show it. Returns 0 when a client connects. */
static inline int lw_test_daemon_start(struct lw_test_daemon *d, const char *domain,
					const char *const *extra)
{
	const char *bin = getenv("LWD");
	const char *argv[32];
	char tail[2048];
	off_t before;
	int argc = 0;

	if (bin == NULL)
		bin = "lwd";
	if (domain == d->domain)
		; /* restart on the same domain */
	else if (domain != NULL)
		snprintf(d->domain, sizeof(d->domain), "%s", domain);
	else
		snprintf(d->domain, sizeof(d->domain), "t%d", (int)getpid());
	snprintf(d->log, sizeof(d->log), "/tmp/lwd-%s.log", d->domain);
	argv[argc++] = bin;
	argv[argc++] = "--domain";
	argv[argc++] = d->domain;
	argv[argc++] = "--reap-ms";
	argv[argc++] = "10";
	/* No NATS gateway: several test daemons run at once. */
	argv[argc++] = "--nats-port";
	argv[argc++] = "0";
	argv[argc++] = "--http-port";
	argv[argc++] = "0";
	for (int i = 0; extra != NULL && extra[i] != NULL && argc < 30; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	before = lw_test_log_size(d->log);
	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execvp(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct lw_conn_opts o;
		lw_conn *c;
		int st;

		lw_conn_opts_init(&o);
		o.domain = d->domain;
		if (lw_connect(&c, &o) == LW_OK) {
			lw_close(c);
			return 0;
		}
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			break;
		}
		lw_test_sleep_ms(10);
	}
	lw_test_log_tail(d->log, before, tail, sizeof(tail));
	fprintf(stderr, "lwd %s; %s says:\n%s\n", d->pid == 0 ? "exited at start" : "did not answer",
		d->log, tail);
	return -1;
}

/* Sends @p sig and waits; returns lwd's exit status (or 128+signal). */
static inline int lw_test_daemon_stop(struct lw_test_daemon *d, int sig)
{
	int st = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	waitpid(d->pid, &st, 0);
	d->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline lw_conn *lw_test_connect(const struct lw_test_daemon *d)
{
	struct lw_conn_opts o;
	lw_conn *c = NULL;

	lw_conn_opts_init(&o);
	o.domain = d->domain;
	if (lw_connect(&c, &o) != LW_OK) {
		fprintf(stderr, "connect: %s\n", lw_errmsg());
		return NULL;
	}
	return c;
}

/* Polls @p cond (an expression) for up to @p ms milliseconds. */
#define LW_TEST_WAIT(cond, ms) ({ \
	int ok_ = 0; \
	for (int w_ = 0; w_ < (ms); w_ += 5) { \
		if (cond) { ok_ = 1; break; } \
		lw_test_sleep_ms(5); \
	} \
	ok_ || (cond); })

#endif
