/* SPDX-License-Identifier: MIT */
/*
 * lw-control test helpers: start lw-control on a test lwd's domain with a
 * private store directory, wait until it answers $JS.API.INFO, stop it
 * (SIGTERM or SIGKILL), remove its store.
 */
#ifndef CTL_TEST_H
#define CTL_TEST_H

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "gw_test.h"

struct ctl_proc {
	pid_t pid;
	char domain[32];
	char dir[128];
	char log[160];
	const char *fsync;
	long fsize_limit; /* > 0: RLIMIT_FSIZE of lw-control (a full disk) */
};

static inline int ctl_wait_ready(struct ctl_proc *p);

static inline int ctl_start(struct ctl_proc *p)
{
	const char *bin = getenv("LW_CONTROL");

	if (bin == NULL)
		bin = "lw-control";
	if (p->log[0] == '\0')
		snprintf(p->log, sizeof(p->log), "/tmp/lw-control-%s.log", p->domain);
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		if (p->fsize_limit > 0) {
			struct rlimit rl = { (rlim_t)p->fsize_limit, (rlim_t)p->fsize_limit };

			setrlimit(RLIMIT_FSIZE, &rl);
		}
		execlp(bin, bin, "--domain", p->domain, "--store-dir", p->dir, "--fsync",
		       p->fsync ? p->fsync : "interval", (char *)NULL);
		_exit(127);
	}
	return ctl_wait_ready(p);
}

/* lw-control answers $JS.API.INFO on p's domain (it is up, or back after
 * an lwd restart); -1 when it exited or did not answer within ~10 s. */
static inline int ctl_wait_ready(struct ctl_proc *p)
{
	lw_conn *c;
	struct lw_conn_opts o;

	lw_conn_opts_init(&o);
	o.domain = p->domain;
	if (lw_connect(&c, &o) != LW_OK)
		return -1;
	for (int i = 0; i < 500; i++) {
		lw_msg *r = NULL;
		int st;

		if (lw_request(c, "$JS.API.INFO", "", 0, 200, &r) == LW_OK) {
			int ok = lw_msg_len(r) > 0;

			lw_msg_free(r);
			if (ok) {
				lw_close(c);
				return 0;
			}
		}
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			break;
		}
		lw_test_sleep_ms(10);
	}
	lw_close(c);
	{
		char tail[2048];

		lw_test_log_tail(p->log, 0, tail, sizeof(tail));
		fprintf(stderr, "lw-control did not start; %s says:\n%s\n", p->log, tail);
	}
	return -1;
}

static inline int ctl_stop(struct ctl_proc *p, int sig)
{
	int st = 0;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	/* Let lwd's reaper drop a killed client's subscriptions. */
	lw_test_sleep_ms(100);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline void ctl_rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char p[1024];
		size_t a = strlen(path), b = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || a + b + 2 > sizeof(p))
			continue;
		memcpy(p, path, a);
		p[a] = '/';
		memcpy(p + a + 1, de->d_name, b + 1);
		ctl_rm_tree(p);
	}
	closedir(d);
	rmdir(path);
}

#endif
