/* SPDX-License-Identifier: MIT */
/*
 * Gateway test helpers: a private lwd with the NATS gateway on ports
 * derived from the test's pid (tests of different runs never collide),
 * and a blocking raw TCP client for wire-level checks.
 */
#ifndef GW_TEST_H
#define GW_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lw_test_env.h"

struct gw_test {
	struct lw_test_daemon d;
	int port, http_port;
	char url[64];
};

/* Starts lwd on domain "gw<slot>_<pid>" with its NATS port at
 * base+2*slot and HTTP one above; @p extra: more lwd arguments
 * (NULL-terminated). Ports stay below Linux's ephemeral range
 * (32768-60999), where any outgoing connection of the machine could hold
 * them; a port that is taken anyway moves the pair elsewhere. */
static inline int gw_test_start(struct gw_test *t, int slot, const char *const *extra)
{
	const char *argv[24];
	char port[16], hport[16], dom[32];
	int n = 0;

	snprintf(dom, sizeof(dom), "gw%d_%d", slot, (int)getpid());
	argv[n++] = "--nats-port";
	argv[n++] = port;
	argv[n++] = "--http-port";
	argv[n++] = hport;
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 22; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	for (int attempt = 0;; attempt++) {
		char log[128], tail[2048];
		off_t before;

		t->port = 20000 + (int)((getpid() + attempt * 613) % 3000) * 4 + 2 * slot;
		t->http_port = t->port + 1;
		snprintf(port, sizeof(port), "%d", t->port);
		snprintf(hport, sizeof(hport), "%d", t->http_port);
		snprintf(t->url, sizeof(t->url), "nats://127.0.0.1:%d", t->port);
		snprintf(log, sizeof(log), "/tmp/lwd-%s.log", dom);
		before = lw_test_log_size(log);
		if (lw_test_daemon_start(&t->d, dom, argv) == 0)
			return 0;
		lw_test_log_tail(log, before, tail, sizeof(tail));
		/* A known race outside the gateway: this test's own lw_connect
		 * polling takes a momentary shared flock on the new lock file,
		 * and an lwd that tries its exclusive flock at that instant
		 * believes another lwd serves the domain ("pid 0": the file is
		 * still empty). Try again then. */
		if (attempt < 4 && (strstr(tail, "already served by another lwd (pid 0") != NULL ||
				    strstr(tail, "cannot listen") != NULL)) {
			fprintf(stderr, "lwd did not start (%s); starting it again\n",
				strstr(tail, "cannot listen") != NULL ? "port taken" : "lock race");
			lw_test_sleep_ms(20);
			continue;
		}
		return -1;
	}
}

static inline int gw_tcp_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	for (int i = 0; i < 200; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		lw_test_sleep_ms(10);
	}
	return -1;
}

static inline void gw_send(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t k = send(fd, s + off, n - off, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		off += (size_t)k;
	}
}

/* Reads until @p want appears, EOF or @p ms pass; returns bytes read into
 * buf (NUL-terminated); *eof = 1 when the server closed. */
static inline size_t gw_recv_until(int fd, char *buf, size_t cap, const char *want, int ms,
				   int *eof)
{
	size_t n = 0;

	*eof = 0;
	buf[0] = '\0';
	for (int waited = 0; waited < ms;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (want != NULL && strstr(buf, want) != NULL)
			break;
		if (poll(&p, 1, 20) == 0) {
			waited += 20;
			continue;
		}
		k = recv(fd, buf + n, cap - 1 - n, 0);
		if (k <= 0) {
			*eof = 1;
			break;
		}
		n += (size_t)k;
		buf[n] = '\0';
		if (n == cap - 1)
			break;
	}
	return n;
}

#endif
