/* SPDX-License-Identifier: MIT */
/*
 * Gateway output: each TCP client's bounded outbound buffer, written
 * without blocking (EPOLLOUT when the socket is full), deferred while more
 * messages for the client are queued, with the producer stall and the
 * slow-consumer cut-off. Called from the gateway thread and the fabric
 * dispatcher thread, always under the client's mutex.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lw_gw_pvt.h"


static void stall(struct gw_conn *c);

/* --- output ----------------------------------------------------------- */

/* Caller holds mu. Sets EPOLLOUT interest to @p on. */
void gw_arm_out(struct gw_conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
				  .data.ptr = c };

	if (c->out_armed == on)
		return;
	c->out_armed = on;
	epoll_ctl(c->gw->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Caller holds mu. Writes what the socket takes; -1 on a dead socket. */
int gw_write_locked(struct gw_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n;

		if (c->ssl != NULL)
			n = gw_tls_send(c, c->out + c->out_off, c->out_len - c->out_off);
		else
			n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* A TLS write that needs input is resumed by the
				 * reader (gw_conn_read); EPOLLOUT would only spin. */
				gw_arm_out(c, !c->tls_wr_wants_rd || c->tls_rd_wants_wr);
				return 0;
			}
			c->dead = true;
			c->dead_reason = "Write Error";
			return -1;
		}
		c->out_off += (size_t)n;
		c->out_wait_ns = gw_now_ns();
	}
	c->out_off = c->out_len = 0;
	/* Nothing left to write; a TLS read may still wait for EPOLLOUT. */
	gw_arm_out(c, c->tls_rd_wants_wr);
	return 0;
}

/* Caller holds mu. Room for @p n more bytes within max_pending. */
static int reserve(struct gw_conn *c, size_t n)
{
	size_t pending = c->out_len - c->out_off;

	if (c->out_off > 0 && c->out_len + n > c->out_cap) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_off = 0;
		c->out_len = pending;
	}
	if (c->out_len + n <= c->out_cap)
		return 0;
	return gw_buf_grow(&c->out, &c->out_cap, c->out_len + n, 4096);
}

static void slow_consumer(struct gw_conn *c, size_t pending)
{
	struct lw_gw *gw = c->gw;

	c->dead = true;
	if (c->dead_reason == NULL)
		c->dead_reason = "Slow Consumer (Pending Bytes)";
	atomic_fetch_add(&gw->slow_consumers, 1);
	gw_log(1, "client %u (%s:%d) is a slow consumer: %zu bytes pending, max_pending %u; "
	       "closing it", c->cid, c->ip, c->port, pending, gw->cfg.max_pending);
	/* Wakes the gateway thread (EPOLLHUP) to free the connection. */
	shutdown(c->fd, SHUT_RDWR);
}

/* Below this many pending bytes a deferred append waits for the end of
 * the batch; above it, it writes at once (big enough to fill a segment
 * train, small enough to keep memory and latency bounded). */
#define DEFER_MAX (64 * 1024)

int gw_out_deadline(struct gw_conn *c, uint64_t now)
{
	uint64_t limit = (uint64_t)c->gw->cfg.write_deadline_ms * 1000000ull;
	int rc = 0;

	if (limit == 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	if (!c->dead && c->out_len > c->out_off && now > c->out_wait_ns &&
	    now - c->out_wait_ns >= limit) {
		gw_log(1, "client %u (%s:%d): no write progress for %u ms (write deadline)",
		       c->cid, c->ip, c->port, c->gw->cfg.write_deadline_ms);
		c->dead_reason = "Slow Consumer (Write Deadline)";
		slow_consumer(c, c->out_len - c->out_off);
		rc = -1;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int gw_outv(struct gw_conn *c, const struct iovec *v, int cnt)
{
	return gw_outv_defer(c, v, cnt, false);
}

/*
 * Caller holds mu; dispatcher thread only. A client whose pending output
 * passed half of max_pending makes the dispatcher write for it and wait,
 * for at most STALL_MS, before queueing more. The dispatcher then drains
 * the fabric ring more slowly, the ring fills and LW_SLOW_BLOCK holds the
 * publisher back: a fast producer is slowed to the consumer's pace (as
 * nats-server stalls producers) instead of the consumer being cut off as
 * soon as a burst outruns it. A consumer that stays stuck is still a slow
 * consumer once max_pending is reached.
 */
#define STALL_MS 10

static void stall(struct gw_conn *c)
{
	size_t high = c->gw->cfg.max_pending / 2;

	for (int ms = 0; ms < STALL_MS && !c->dead && c->out_len - c->out_off > high; ms++) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

		if (gw_write_locked(c) != 0 || c->out_len - c->out_off <= high)
			break;
		pthread_mutex_unlock(&c->mu);
		poll(&pfd, 1, 1);
		pthread_mutex_lock(&c->mu);
	}
}

int gw_outv_defer(struct gw_conn *c, const struct iovec *v, int cnt, bool defer)
{
	size_t n = 0;
	int rc = 0;

	for (int i = 0; i < cnt; i++)
		n += v[i].iov_len;
	pthread_mutex_lock(&c->mu);
	if (defer)
		stall(c);
	if (c->dead) {
		rc = -1;
		goto out;
	}
	if (c->out_len - c->out_off + n > c->gw->cfg.max_pending) {
		slow_consumer(c, c->out_len - c->out_off + n);
		rc = -1;
		goto out;
	}
	if (reserve(c, n) != 0) {
		slow_consumer(c, n);
		rc = -1;
		goto out;
	}
	/* The write deadline counts from when output starts waiting. */
	if (c->out_len == c->out_off)
		c->out_wait_ns = gw_now_ns();
	for (int i = 0; i < cnt; i++) {
		if (v[i].iov_len)
			memcpy(c->out + c->out_len, v[i].iov_base, v[i].iov_len);
		c->out_len += v[i].iov_len;
	}
	/* Deferred: more messages for this client are already queued, so
	 * one send() after the last of them instead of one per message (a
	 * syscall and a loopback segment each: 89% of the gateway's time in
	 * perf before). The last message of a run, or DEFER_MAX bytes,
	 * writes; the gateway's tick flushes anything left behind. */
	if (!c->out_armed && !(defer && c->out_len - c->out_off < DEFER_MAX))
		rc = gw_write_locked(c);
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void gw_out_str(struct gw_conn *c, const char *s)
{
	struct iovec v = { (void *)s, strlen(s) };

	gw_outv(c, &v, 1);
}

void gw_send_err(struct gw_conn *c, const char *fmt, const char *arg)
{
	char line[GW_MAX_SUBJECT + 128];
	int n = snprintf(line, sizeof(line), "-ERR '");

	n += snprintf(line + n, sizeof(line) - (size_t)n, fmt, arg);
	if ((size_t)n > sizeof(line) - 4)
		n = (int)sizeof(line) - 4;
	memcpy(line + n, "'\r\n", 4);
	gw_out_str(c, line);
}

void gw_ok(struct gw_conn *c)
{
	if (c->verbose)
		gw_out_str(c, "+OK\r\n");
}

int gw_conn_flush(struct gw_conn *c)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = c->dead ? -1 : gw_write_locked(c);
	if (rc == 0 && c->draining && c->out_off == c->out_len && !c->wr_shut) {
		/* Everything is out: half-close so the client reads the -ERR
		 * before it sees the end (a close with unread input would reset
		 * the connection and could lose it). */
		if (c->ssl != NULL)
			gw_tls_close_notify(c);
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

