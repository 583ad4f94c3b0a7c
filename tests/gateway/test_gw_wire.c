/* SPDX-License-Identifier: MIT */
/*
 * The gateway on the wire, with a raw socket: INFO, +OK, the -ERR texts
 * and which of them close the connection, stale connections, slow
 * consumers, max connections, the HTTP monitor, and lwd refusing to start
 * on a port in use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gw_test.h"

static struct gw_test g_t;
static char g_buf[1 << 16];

static int group_setup(void **state)
{
	static const char *const extra[] = {
		"--ping-interval-ms", "300", "--max-pings-out", "2",
		"--max-pending", "65536", "--max-connections", "6", "--max-subs", "1024", NULL,
	};

	(void)state;
	return gw_test_start(&g_t, 0, extra);
}

static int group_teardown(void **state)
{
	(void)state;
	return lw_test_daemon_stop(&g_t.d, SIGTERM) == 0 ? 0 : -1;
}

/* Connects and reads INFO. */
static int client(void)
{
	int eof, fd = gw_tcp_connect(g_t.port);

	assert_true(fd >= 0);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
	assert_non_null(strstr(g_buf, "INFO {"));
	return fd;
}

static void expect(int fd, const char *want, int closes)
{
	int eof;

	gw_recv_until(fd, g_buf, sizeof(g_buf), want, 2000, &eof);
	if (strstr(g_buf, want) == NULL)
		fail_msg("wanted '%s', got '%s'", want, g_buf);
	if (closes) {
		gw_recv_until(fd, g_buf, sizeof(g_buf), NULL, 3000, &eof);
		assert_true(eof);
	}
}

/* Reads until every string of @p want (NULL-terminated) has been seen:
 * replies to one batch may arrive in any split and, for MSG, any order
 * against PONG. */
static void expect_all(int fd, const char *const *want)
{
	size_t n = 0;
	int eof = 0;

	g_buf[0] = '\0';
	for (int waited = 0; waited < 2000 && !eof;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int all = 1;

		for (const char *const *w = want; *w != NULL; w++)
			all &= strstr(g_buf, *w) != NULL;
		if (all)
			return;
		if (poll(&p, 1, 20) == 0) {
			waited += 20;
			continue;
		}
		ssize_t k = recv(fd, g_buf + n, sizeof(g_buf) - 1 - n, 0);

		eof = k <= 0;
		n += k > 0 ? (size_t)k : 0;
		g_buf[n] = '\0';
	}
	fail_msg("wanted '%s'..., got '%s'", want[0], g_buf);
}

static void test_info_and_verbose(void **state)
{
	int fd, eof;

	(void)state;
	fd = gw_tcp_connect(g_t.port);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
	for (const char *const *k = (const char *const[]){ "\"server_id\":", "\"server_name\":",
			"\"version\":\"2.10.0\"", "\"proto\":1", "\"go\":", "\"host\":", "\"port\":",
			"\"headers\":true", "\"max_payload\":1048576", "\"client_id\":", NULL };
	     *k != NULL; k++)
		assert_non_null(strstr(g_buf, *k));
	assert_null(strstr(g_buf, "auth_required"));
	/* No lw-control on this domain: no JetStream announced. */
	assert_null(strstr(g_buf, "jetstream"));
	gw_send(fd, "CONNECT {\"verbose\":true,\"pedantic\":true}\r\nSUB a.b 1\r\n"
		    "PUB a.b 2\r\nhi\r\nPING\r\n");
	expect_all(fd, (const char *const[]){ "+OK\r\n+OK\r\n+OK\r\n", "PONG\r\n",
					     "MSG a.b 1 2\r\nhi\r\n", NULL });
	/* pedantic: a wildcard publish subject is refused, connection stays */
	gw_send(fd, "PUB a.* 1\r\nx\r\nPING\r\n");
	expect(fd, "-ERR 'Invalid Publish Subject'\r\nPONG\r\n", 0);
	/* bad subscription subject: -ERR, connection stays */
	gw_send(fd, "SUB a..b 2\r\nPING\r\n");
	expect(fd, "-ERR 'Invalid Subject'\r\nPONG\r\n", 0);
	close(fd);
}

/* Fields a CONNECT leaves out, or no CONNECT at all (a telnet user, as
 * in the protocol docs' first example): verbose and pedantic, as with
 * nats-server, so such a user sees +OK and the -ERR of a bad subject. */
static void test_connect_defaults(void **state)
{
	int fd, eof;

	(void)state;
	fd = gw_tcp_connect(g_t.port);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
	gw_send(fd, "SUB d.x 1\r\nPUB d.x 2\r\nhi\r\nPING\r\n");
	expect(fd, "+OK\r\n+OK\r\nMSG d.x 1 2\r\nhi\r\nPONG\r\n", 0);
	gw_send(fd, "CONNECT {}\r\nPUB d.* 1\r\nx\r\nPING\r\n");
	expect(fd, "+OK\r\n-ERR 'Invalid Publish Subject'\r\nPONG\r\n", 0);
	/* verbose off, pedantic still on by default */
	gw_send(fd, "CONNECT {\"verbose\":false}\r\nPUB d.* 1\r\nx\r\nPING\r\n");
	expect(fd, "-ERR 'Invalid Publish Subject'\r\nPONG\r\n", 0);
	close(fd);
}

/* A request whose only receiver is the requester's own subscription on
 * an echo:false connection gets nats-server's 503 at once (the echo is
 * dropped, nobody answers); another connection's responder still answers. */
static void test_no_responders_own_echo(void **state)
{
	int fd = client(), other;

	(void)state;
	gw_send(fd, "CONNECT {\"verbose\":false,\"echo\":false,\"headers\":true,"
		    "\"no_responders\":true}\r\nSUB svc.own 1\r\nSUB _INBOX.r.* 2\r\n"
		    "PUB svc.own _INBOX.r.1 2\r\nhi\r\nPING\r\n");
	expect(fd, "HMSG _INBOX.r.1 2 16 16\r\nNATS/1.0 503\r\n\r\n", 0);
	other = client();
	gw_send(other, "CONNECT {\"verbose\":false}\r\nSUB svc.own 9\r\nPING\r\n");
	expect(other, "PONG\r\n", 0);
	gw_send(fd, "PUB svc.own _INBOX.r.2 2\r\nhi\r\nPING\r\n");
	expect(other, "MSG svc.own 9 _INBOX.r.2 2\r\nhi\r\n", 0);
	expect(fd, "PONG\r\n", 0);
	assert_null(strstr(g_buf, "503"));
	close(other);
	close(fd);
}

/* A subject longer than the fabric carries reaches nobody: a request to
 * one gets "no responders" at once instead of timing out. */
static void test_no_responders_long_subject(void **state)
{
	char cmd[600], subj[301];
	int fd = client();

	(void)state;
	memset(subj, 'k', 300);
	subj[300] = '\0';
	snprintf(cmd, sizeof(cmd), "CONNECT {\"verbose\":false,\"headers\":true,"
		 "\"no_responders\":true}\r\nSUB _INBOX.l.* 1\r\nPUB kv.%s _INBOX.l.1 1\r\nx\r\n"
		 "PING\r\n", subj);
	gw_send(fd, cmd);
	expect(fd, "HMSG _INBOX.l.1 1 16 16\r\nNATS/1.0 503\r\n\r\n", 0);
	close(fd);
	/* A long sid (up to 1024 bytes) is written whole in the 503; a longer
	 * one is refused at SUB: no MSG line could carry it. */
	{
		static char big[5000], sid[1501];

		memset(sid, 's', 1500);
		sid[1500] = '\0';
		fd = client();
		snprintf(big, sizeof(big), "CONNECT {\"verbose\":false,\"headers\":true,"
			 "\"no_responders\":true}\r\nSUB _INBOX.m.* %.1000s\r\nSUB x.y %s\r\n"
			 "PUB kv.%s _INBOX.m.1 1\r\nx\r\nPING\r\n", sid, sid, subj);
		gw_send(fd, big);
		snprintf(big, sizeof(big), "HMSG _INBOX.m.1 %.1000s 16 16\r\nNATS/1.0 503\r\n\r\n", sid);
		expect_all(fd, (const char *const[]){ "-ERR 'Invalid Subscription ID (over 1024 bytes)'",
						     big, "PONG\r\n", NULL });
		close(fd);
	}
}

/* Not pedantic: '*' and '>' in a publish subject are plain tokens, as
 * with nats-server (the JetStream API sends a consumer's filter that way:
 * $JS.API.CONSUMER.CREATE.<stream>.<name>.orders.>). They reach
 * subscribers whose wildcards cover them, not literal subscriptions. */
static void test_publish_wildcard_tokens(void **state)
{
	int fd, eof;

	(void)state;
	fd = gw_tcp_connect(g_t.port);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
	gw_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"
		    "SUB w.> 1\r\nSUB w.a 2\r\nSUB w.*.c 3\r\n"
		    "PUB w.> 2\r\ngt\r\nPUB w.*.c 4\r\nstar\r\nPING\r\n");
	expect_all(fd, (const char *const[]){ "MSG w.> 1 2\r\ngt\r\n", "MSG w.*.c 1 4\r\nstar\r\n",
					     "MSG w.*.c 3 4\r\nstar\r\n", "PONG\r\n", NULL });
	/* Only those: a literal subscription does not see them. */
	assert_null(strstr(g_buf, "MSG w.> 2 "));
	assert_null(strstr(g_buf, "MSG w.*.c 2 "));
	assert_null(strstr(g_buf, "MSG w.> 3 "));
	/* Still refused: an empty token. */
	gw_send(fd, "PUB w..x 1\r\nx\r\nPING\r\n");
	expect(fd, "PONG\r\n", 0);
	assert_null(strstr(g_buf, "MSG"));
	close(fd);
}

/* A PONG answers after the messages the client's own earlier PUBs gave
 * its own subscriptions, as nats-server's: publish, flush, look. */
static void test_pong_after_own_messages(void **state)
{
	int fd = client(), eof;

	(void)state;
	gw_send(fd, "CONNECT {\"verbose\":false}\r\nSUB own.x 1\r\nPING\r\n");
	expect(fd, "PONG\r\n", 0);
	for (int i = 0; i < 50; i++) {
		char *msg;

		gw_send(fd, "PUB own.x 1\r\nz\r\nPING\r\n");
		gw_recv_until(fd, g_buf, sizeof(g_buf), "PONG\r\n", 2000, &eof);
		msg = strstr(g_buf, "MSG own.x 1 1\r\nz\r\n");
		assert_non_null(msg);
		assert_true(msg < strstr(g_buf, "PONG\r\n"));
	}
	/* and an UNSUB in the same write as the PUB comes after it */
	gw_send(fd, "SUB own.y 2\r\nPUB own.y 2\r\nhi\r\nUNSUB 2\r\nPING\r\n");
	expect(fd, "MSG own.y 2 2\r\nhi\r\n", 0);
	close(fd);
}

/* An echo:false client in a queue group that publishes to the group's
 * subject: its messages all go to the other member (nats-server), none
 * is picked for it and dropped. */
static void test_echo_off_queue_member(void **state)
{
	int a, b, eof = 0, got = 0;

	(void)state;
	a = client();
	b = client();
	gw_send(a, "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB eq g 1\r\nPING\r\n");
	expect(a, "PONG\r\n", 0);
	gw_send(b, "CONNECT {\"verbose\":false}\r\nSUB eq g 1\r\nPING\r\n");
	expect(b, "PONG\r\n", 0);
	for (int i = 0; i < 20; i++)
		gw_send(a, "PUB eq 1\r\nm\r\n");
	gw_send(a, "PING\r\n");
	gw_recv_until(a, g_buf, sizeof(g_buf), "PONG\r\n", 2000, &eof);
	assert_null(strstr(g_buf, "MSG eq"));
	for (int tries = 0; tries < 50 && got < 20; tries++) {
		gw_recv_until(b, g_buf, sizeof(g_buf), NULL, 100, &eof);
		for (const char *p = g_buf; (p = strstr(p, "MSG eq 1 1\r\nm\r\n")) != NULL; p++)
			got++;
	}
	assert_int_equal(got, 20);
	close(a);
	close(b);
}

/* A queue member with "UNSUB <sid> 3" in a burst of 100: it gets 3, the
 * other member the 97 others (nats-server's split), none is lost. */
static void test_queue_member_max(void **state)
{
	int a, b, pub, eof = 0, got_a = 0, got_b = 0;

	(void)state;
	a = client();
	b = client();
	pub = client();
	gw_send(a, "CONNECT {\"verbose\":false}\r\nSUB qm g 1\r\nUNSUB 1 3\r\nPING\r\n");
	expect(a, "PONG\r\n", 0);
	gw_send(b, "CONNECT {\"verbose\":false}\r\nSUB qm g 1\r\nPING\r\n");
	expect(b, "PONG\r\n", 0);
	gw_send(pub, "CONNECT {\"verbose\":false}\r\n");
	for (int i = 0; i < 100; i++)
		gw_send(pub, "PUB qm 1\r\nm\r\n");
	gw_send(pub, "PING\r\n");
	expect(pub, "PONG\r\n", 0);
	{
		/* everything each has received, counted whole (a read may
		 * end inside a message) */
		static char ba[8192], bb[8192];
		size_t la = 0, lb = 0;

		for (int tries = 0; tries < 30 && got_a + got_b < 100; tries++) {
			la += gw_recv_until(a, ba + la, sizeof(ba) - la, NULL, 50, &eof);
			lb += gw_recv_until(b, bb + lb, sizeof(bb) - lb, NULL, 50, &eof);
			got_a = got_b = 0;
			for (const char *p = ba; (p = strstr(p, "MSG qm 1 1\r\nm\r\n")) != NULL; p++)
				got_a++;
			for (const char *p = bb; (p = strstr(p, "MSG qm 1 1\r\nm\r\n")) != NULL; p++)
				got_b++;
		}
	}
	assert_int_equal(got_a, 3);
	assert_int_equal(got_b, 97);
	close(a);
	close(b);
	close(pub);
}

static void http_get(const char *path, const char *want);

static void test_fatal_errors(void **state)
{
	static const struct {
		const char *send, *err;
	} cases[] = {
		{ "HELLO\r\n", "-ERR 'Unknown Protocol Operation'" },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "-ERR 'Unknown Protocol Operation'" },
		{ "PUB foo 99999999\r\n", "-ERR 'Maximum Payload Violation'" },
		{ "PUB foo 3\r\nabcdef\r\n", "-ERR 'Parser Error'" },
		{ "PUB foo bar\r\n", "-ERR 'Parser Error'" },
		{ "CONNECT {not json\r\n", "-ERR 'Parser Error'" },
		{ "CONNECT {\"no_responders\":true}\r\n", "-ERR 'no responders requires headers support'" },
		{ "PUB foo 1\r\nx\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n", "-ERR 'Headers Not Supported'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = client();

		gw_send(fd, cases[i].send);
		expect(fd, cases[i].err, 1);
		close(fd);
	}
	/* A line past max_control_line (4096) without newline. */
	{
		char big[6000];
		int fd = client();

		memset(big, 'a', sizeof(big) - 1);
		memcpy(big, "SUB ", 4);
		big[sizeof(big) - 1] = '\0';
		gw_send(fd, big);
		expect(fd, "-ERR 'Maximum Control Line Exceeded'", 1);
		close(fd);
	}
}

static void test_stale_connection(void **state)
{
	int fd = client();

	(void)state;
	gw_send(fd, "CONNECT {}\r\n");
	/* never answer: PING, PING, then the server gives up */
	expect(fd, "PING\r\n", 0);
	expect(fd, "-ERR 'Stale Connection'", 1);
	close(fd);
	/* answering keeps it alive */
	fd = client();
	for (int i = 0; i < 6; i++) {
		expect(fd, "PING\r\n", 0);
		gw_send(fd, "PONG\r\n");
	}
	gw_send(fd, "PING\r\n");
	expect(fd, "PONG\r\n", 0);
	close(fd);
	/* a client that keeps sending is alive: no PINGs for it (as
	 * nats-server), however long past the interval */
	fd = client();
	gw_send(fd, "CONNECT {\"verbose\":false}\r\n");
	for (int i = 0; i < 12; i++) {
		int eof = 0;

		gw_send(fd, "PUB busy.x 1\r\nz\r\n");
		gw_recv_until(fd, g_buf, sizeof(g_buf), "PING\r\n", 100, &eof);
		assert_null(strstr(g_buf, "PING"));
	}
	close(fd);
}

/* A client with a 4 KiB receive buffer subscribed to @p subject, which
 * will not read: the gateway's output to it piles up at once. */
static int stalled_reader(int port, const char *subject)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), rcv = 4096, eof = 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char cmd[128];

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(cmd, sizeof(cmd), "CONNECT {}\r\nSUB %s 1\r\nPING\r\n", subject);
	gw_send(fd, cmd);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "PONG", 2000, &eof);
	return fd;
}

static void test_slow_consumer(void **state)
{
	int fd, eof = 0;
	lw_conn *lc = lw_test_connect(&g_t.d);
	char payload[3000];

	(void)state;
	fd = stalled_reader(g_t.port, "slow");
	memset(payload, 'x', sizeof(payload));
	/* Never read: 15 MB is more than the socket buffers plus 64 KiB of
	 * max_pending, so the gateway must cut the client off. */
	for (int i = 0; i < 5000; i++)
		lw_publish(lc, "slow", payload, sizeof(payload));
	/* The client sees the end of the stream after what was in flight. */
	for (uint64_t end = (uint64_t)time(NULL) + 10; (uint64_t)time(NULL) < end;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 100) == 1 && recv(fd, g_buf, sizeof(g_buf), 0) <= 0) {
			eof = 1;
			break;
		}
	}
	assert_true(eof);
	/* and its subscription left the fabric */
	assert_true(LW_TEST_WAIT(lw_publish(lc, "slow", "x", 1) == 0, 3000));
	lw_close(lc);
	close(fd);
	/* counted in /varz */
	fd = gw_tcp_connect(g_t.http_port);
	gw_send(fd, "GET /varz HTTP/1.0\r\n\r\n");
	gw_recv_until(fd, g_buf, sizeof(g_buf), NULL, 2000, &eof);
	assert_non_null(strstr(g_buf, "\"slow_consumers\":1"));
	close(fd);
	/* and /connz says why it closed */
	http_get("/connz?state=closed", "\"reason\":\"Slow Consumer (Pending Bytes)\"");
}

/* A reader that stops reading is cut off after write_deadline_ms even
 * when its pending output stays under max_pending (nats-server's write
 * deadline), so it cannot hold memory for ever. */
static void test_write_deadline(void **state)
{
	const char *extra[] = { "--write-deadline-ms", "300", NULL };
	struct gw_test t;
	int fd, eof = 0;
	lw_conn *lc;
	char payload[3000];

	(void)state;
	assert_int_equal(gw_test_start(&t, 1, extra), 0);
	lc = lw_test_connect(&t.d);
	assert_non_null(lc);
	fd = stalled_reader(t.port, "stuck");
	memset(payload, 'x', sizeof(payload));
	/* ~6 MB: more than the socket buffers, far under the 64 MB default
	 * max_pending; then nothing more is read. */
	for (int i = 0; i < 2000; i++)
		lw_publish(lc, "stuck", payload, sizeof(payload));
	/* Without reading (that would be progress): the gateway drops the
	 * client, and with it its subscription, well before 5 s. */
	assert_true(LW_TEST_WAIT(lw_publish(lc, "stuck", "x", 1) == 0, 5000));
	lw_close(lc);
	close(fd);
	fd = gw_tcp_connect(t.http_port);
	gw_send(fd, "GET /varz HTTP/1.0\r\n\r\n");
	gw_recv_until(fd, g_buf, sizeof(g_buf), NULL, 2000, &eof);
	assert_non_null(strstr(g_buf, "\"slow_consumers\":1"));
	close(fd);
	fd = gw_tcp_connect(t.http_port);
	gw_send(fd, "GET /connz?state=closed HTTP/1.0\r\n\r\n");
	gw_recv_until(fd, g_buf, sizeof(g_buf), NULL, 2000, &eof);
	assert_non_null(strstr(g_buf, "\"reason\":\"Slow Consumer (Write Deadline)\""));
	close(fd);
	assert_int_equal(lw_test_daemon_stop(&t.d, SIGTERM), 0);
}

#define GW_TEST_HTTP_IDLE 80

static int http_has(const char *path, const char *want)
{
	char req[128];
	int eof, fd = gw_tcp_connect(g_t.http_port);

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	gw_send(fd, req);
	gw_recv_until(fd, g_buf, sizeof(g_buf), NULL, 2000, &eof);
	close(fd);
	return strstr(g_buf, want) != NULL;
}

static void http_get(const char *path, const char *want)
{
	if (!http_has(path, want))
		fail_msg("%s: wanted '%s' in '%s'", path, want, g_buf);
}

static void test_max_connections(void **state)
{
	int fds[6], fd;

	(void)state;
	for (int i = 0; i < 6; i++)
		fds[i] = client();
	fd = gw_tcp_connect(g_t.port);
	expect(fd, "-ERR 'maximum connections exceeded'", 1);
	/* a refused client that holds its socket open holds no slot: once
	 * one of the six goes, the next is admitted at once */
	close(fds[0]);
	fds[0] = -1;
	for (int i = 0; i < 100; i++) {
		int r = gw_tcp_connect(g_t.port), eof = 0;

		gw_recv_until(r, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
		gw_send(r, "CONNECT {\"verbose\":false}\r\nPING\r\n");
		gw_recv_until(r, g_buf, sizeof(g_buf), "\r\n", 2000, &eof);
		if (strstr(g_buf, "PONG") != NULL) {
			fds[0] = r;
			break;
		}
		close(r);
		lw_test_sleep_ms(10);
	}
	assert_int_not_equal(fds[0], -1);
	close(fd);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	/* The gateway sees the closes a moment later: the next test may
	 * connect only once they are counted (as with nats-server). */
	for (int i = 0; i < 100 && !http_has("/varz", "\"connections\":0,"); i++)
		lw_test_sleep_ms(20);
}

static void test_monitoring(void **state)
{
	int fd = client();

	(void)state;
	gw_send(fd, "CONNECT {\"name\":\"mon\\\"itor\",\"lang\":\"raw\"}\r\nSUB m.> 1\r\nPING\r\n");
	expect(fd, "PONG", 0);
	http_get("/healthz", "{\"status\":\"ok\"}");
	http_get("/varz", "\"server_id\":");
	http_get("/varz", "\"connections\":1");
	http_get("/varz", "\"write_deadline\":10000000000,");
	http_get("/varz", "\"http_req_stats\":{\"/\":");
	http_get("/varz", "\"cpu\":");
	http_get("/connz", "\"num_connections\":1");
	http_get("/connz", "\"name\":\"mon\\\"itor\"");
	http_get("/connz?subs=1", "\"subscriptions_list\":[\"m.>\"]");
	/* ?subs=detail: nats-server's subscription objects */
	gw_send(fd, "SUB m.q grp 2\r\nUNSUB 2 5\r\nPING\r\n");
	expect(fd, "PONG", 0);
	http_get("/connz?subs=detail", "\"subscriptions_list_detail\":[");
	http_get("/connz?subs=detail", "{\"subject\":\"m.q\",\"qgroup\":\"grp\",\"sid\":\"2\",\"msgs\":0,\"max\":5,");
	http_get("/connz?subs=detail", "{\"subject\":\"m.>\",\"sid\":\"1\",\"msgs\":0,");
	gw_send(fd, "UNSUB 2\r\nPING\r\n");
	expect(fd, "PONG", 0);
	http_get("/connz", "\"limit\":1024,");
	/* Paging as nats-server: a second client, in cid order. */
	{
		int fd2 = client();

		gw_send(fd2, "CONNECT {\"name\":\"second\"}\r\nPING\r\n");
		expect(fd2, "PONG", 0);
		http_get("/connz?limit=1", "\"num_connections\":1,\"total\":2,\"offset\":0,\"limit\":1,");
		http_get("/connz?limit=1", "\"name\":\"mon\\\"itor\"");
		http_get("/connz?offset=1&limit=1", "\"name\":\"second\"");
		http_get("/connz?offset=5", "\"num_connections\":0,\"total\":2,");
		close(fd2);
	}
	http_get("/subsz", "\"num_subscriptions\":");
	http_get("/subsz", "\"avg_fanout\":0.0");
	/* subsz: the list, a subject's receivers, bad parameters */
	http_get("/subsz?subs=1", "\"subscriptions_list\":[{\"subject\":\"m.>\",\"sid\":\"1\",");
	http_get("/subsz?subs=1&test=m.x", "\"total\":1,");
	http_get("/subsz?subs=1&test=n.x", "\"subscriptions_list\":[],\"total\":0,");
	http_get("/subsz?test=m.*", "HTTP/1.1 400");
	/* no lw-control on this domain: not healthy for a JetStream check */
	http_get("/healthz?js-enabled-only=true", "HTTP/1.1 503");
	http_get("/healthz?js-enabled-only=true", "\"status\":\"unavailable\"");
	http_get("/healthz?js-enabled-only=false", "{\"status\":\"ok\"}");
	http_get("/healthz?js-enabled-only=bogus", "HTTP/1.1 400");
	http_get("/connz?auth=bogus", "HTTP/1.1 400");
	http_get("/subsz?subs=1&test=", "\"subscriptions_list\":[{");
	http_get("/subsz?offset=abc", "HTTP/1.1 400");
	/* connz: sorting, bad parameters, closed connections and why */
	{
		int busy = client();

		gw_send(busy, "CONNECT {\"name\":\"busy\",\"verbose\":false}\r\n"
			      "PUB z 1\r\na\r\nPUB z 1\r\nb\r\nPING\r\n");
		for (int i = 0; i < 20; i++) {
			char sub[32];

			snprintf(sub, sizeof(sub), "SUB bs.%d %d\r\n", i, 100 + i);
			gw_send(busy, sub);
		}
		expect(busy, "PONG", 0);
		http_get("/connz?sort=msgs_from", "\"connections\":[{\"cid\":");
		assert_true(strstr(g_buf, "\"name\":\"busy\"") < strstr(g_buf, "\"name\":\"mon"));
		http_get("/connz?sort=bogus", "HTTP/1.1 400");
		http_get("/connz?sort=stop", "HTTP/1.1 400"); /* open ones have no stop */
		http_get("/connz?limit=abc", "HTTP/1.1 400");
		http_get("/connz?state=bogus", "HTTP/1.1 400");
		close(busy);
		for (int i = 0; i < 100 && !http_has("/connz?state=closed", "\"name\":\"busy\""); i++)
			lw_test_sleep_ms(20);
		http_get("/connz?state=closed", "\"reason\":\"Client Closed\"");
		http_get("/connz?state=closed", "\"stop\":");
		/* a closed one keeps its count and its first 16 subscriptions */
		http_get("/connz?state=closed&subs=1", "\"subscriptions\":20,");
		{
			int listed = 0;

			for (const char *p = g_buf; (p = strstr(p, "\"bs.")) != NULL; p++)
				listed++;
			assert_int_equal(listed, 16);
		}
		http_get("/connz?state=closed&sort=stop", "\"name\":\"busy\"");
		http_get("/connz?state=all", "\"name\":\"mon\\\"itor\"");
		http_get("/connz?state=all", "\"name\":\"busy\"");
		assert_false(http_has("/connz", "\"name\":\"busy\""));
	}
	http_get("/metrics", "# TYPE gnatsd_varz_connections gauge");
	/* the ring of this client's subscription, the transports, and the
	 * latency histogram: buckets cumulative, +Inf equal to _count */
	http_get("/metrics", "lightwire_subscription_ring_depth{domain=");
	http_get("/metrics", "subject=\"m.>\",queue=\"\",client=\"nats-gateway\"} 0");
	http_get("/metrics", "lightwire_messages_in_total{domain=");
	http_get("/metrics", "# TYPE lightwire_delivery_latency_seconds histogram");
	{
		unsigned long long prev = 0, v, inf = 1, count = 0;
		char *p = g_buf;

		while ((p = strstr(p, "lightwire_delivery_latency_seconds_bucket{")) != NULL) {
			p = strchr(p, '}');
			assert_int_equal(sscanf(p + 1, "%llu", &v), 1);
			assert_true(v >= prev);
			prev = v;
			if (strncmp(p - 6, "\"+Inf\"", 6) == 0)
				inf = v;
		}
		p = strstr(g_buf, "lightwire_delivery_latency_seconds_count{");
		assert_non_null(p);
		assert_int_equal(sscanf(strchr(p, '}') + 1, "%llu", &count), 1);
		assert_int_equal(inf, count);
	}
	http_get("/nope", "404");
	close(fd);
}

/* Raw bytes of a monitor request and what came back. */
static void http_raw(const char *req, size_t len, const char *want, const char *absent)
{
	int eof, fd = gw_tcp_connect(g_t.http_port);

	assert_int_equal(write(fd, req, len), (ssize_t)len);
	gw_recv_until(fd, g_buf, sizeof(g_buf), NULL, 3000, &eof);
	close(fd);
	if (strstr(g_buf, want) == NULL)
		fail_msg("wanted '%s', got '%s'", want, g_buf);
	if (absent != NULL && strstr(g_buf, absent) != NULL)
		fail_msg("did not want '%s' in '%s'", absent, g_buf);
}

/* The monitor port answers what is not a GET with HTTP's codes, and a
 * client that opens sockets and sends nothing holds none for long nor
 * takes the NATS port down with it. */
static void test_monitoring_bad_requests(void **state)
{
	static char big[6000];
	int idle[GW_TEST_HTTP_IDLE], fd, eof;

	(void)state;
	http_raw("\x00\x01garbage\r\n\r\n", 14, "HTTP/1.1 400 Bad Request", NULL);
	http_raw("POST /varz HTTP/1.1\r\n\r\n", strlen("POST /varz HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed", NULL);
	http_raw("HEAD /varz HTTP/1.1\r\n\r\n", strlen("HEAD /varz HTTP/1.1\r\n\r\n"), "HTTP/1.1 200 OK", "server_id");
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	http_raw(big, sizeof(big), "HTTP/1.1 431", NULL);
	/* more idle sockets than the monitor keeps */
	for (int i = 0; i < GW_TEST_HTTP_IDLE; i++) {
		idle[i] = gw_tcp_connect(g_t.http_port);
		gw_send(idle[i], "GET /varz HTTP/1.1\r\n"); /* never ends */
	}
	fd = client();
	gw_send(fd, "PING\r\n");
	expect(fd, "PONG\r\n", 0);
	close(fd);
	/* and a real request is answered at once: an idle one makes room */
	http_get("/healthz", "{\"status\":\"ok\"}");
	/* the newest, never pushed out, is closed at its deadline (5 s) */
	{
		time_t t0 = time(NULL);

		gw_recv_until(idle[GW_TEST_HTTP_IDLE - 1], g_buf, sizeof(g_buf), NULL, 8000, &eof);
		assert_true(eof);
		assert_true(time(NULL) - t0 >= 3);
	}
	for (int i = 0; i < GW_TEST_HTTP_IDLE; i++)
		close(idle[i]);
	http_get("/healthz", "{\"status\":\"ok\"}");
	/* publishes nobody takes are counted, batched ones too */
	{
		unsigned long long before = 0, after = 0;
		const char *p;

		http_get("/metrics", "lightwire_gateway_no_interest_total{");
		p = strstr(g_buf, "lightwire_gateway_no_interest_total{");
		assert_int_equal(sscanf(strchr(p, '}') + 1, "%llu", &before), 1);
		fd = client();
		gw_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"
			    "PUB nobody.here 1\r\nx\r\nPUB nobody.here 1\r\ny\r\n"
			    "PUB nobody.there 1\r\nz\r\nPING\r\n");
		expect(fd, "PONG\r\n", 0);
		close(fd);
		http_get("/metrics", "lightwire_gateway_no_interest_total{");
		p = strstr(g_buf, "lightwire_gateway_no_interest_total{");
		assert_int_equal(sscanf(strchr(p, '}') + 1, "%llu", &after), 1);
		assert_int_equal(after - before, 3);
	}
	/* a subject that is not UTF-8 stays valid JSON in /connz */
	fd = client();
	gw_send(fd, "SUB u.\xff\xc3\xa9 1\r\nPING\r\n");
	expect(fd, "PONG\r\n", 0);
	http_get("/connz?subs=1", "\"subscriptions_list\":[\"u.\\ufffd\xc3\xa9\"]");
	assert_null(strchr(g_buf, 0xff));
	close(fd);
}

/* More SUBs than one client may hold (half the domain's 1024 by default):
 * the ones past it are refused with nats-server's -ERR, the connection
 * stays, another client can still subscribe meanwhile (one greedy client
 * must not leave every other one, and its request inbox, without), and
 * closing it gives every subscription back. */
static void test_max_subscriptions(void **state)
{
	static char cmds[1100 * 24];
	size_t n = 0;
	int fd, fd2, eof;

	(void)state;
	assert_true(http_has("/varz", "\"max_subscriptions\":512,"));
	fd = gw_tcp_connect(g_t.port);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
	n += (size_t)snprintf(cmds + n, sizeof(cmds) - n, "CONNECT {\"verbose\":false}\r\n");
	for (int i = 0; i < 1100; i++)
		n += (size_t)snprintf(cmds + n, sizeof(cmds) - n, "SUB ms.%d %d\r\n", i, i + 1);
	gw_send(fd, cmds);
	gw_send(fd, "PING\r\n");
	expect(fd, "-ERR 'Maximum Subscriptions Exceeded'", 0);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "PONG\r\n", 5000, &eof);
	assert_false(eof);
	assert_non_null(strstr(g_buf, "PONG\r\n"));
	/* The first 512 are live: a message on one of them arrives. */
	gw_send(fd, "PUB ms.511 1\r\na\r\nPUB ms.512 1\r\nb\r\nPING\r\n");
	gw_recv_until(fd, g_buf, sizeof(g_buf), "PONG\r\n", 5000, &eof);
	assert_non_null(strstr(g_buf, "MSG ms.511 512 1\r\na\r\n"));
	assert_null(strstr(g_buf, "MSG ms.512"));
	/* Another client, while the first holds its share. */
	fd2 = gw_tcp_connect(g_t.port);
	gw_recv_until(fd2, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
	gw_send(fd2, "CONNECT {\"verbose\":false}\r\nSUB other.x 1\r\nPUB other.x 2\r\nok\r\n"
		     "PING\r\n");
	expect(fd2, "MSG other.x 1 2\r\nok\r\n", 0);
	close(fd2);
	close(fd);
	/* All given back: a new client subscribes and gets its message. */
	for (int i = 0; i < 100 && !http_has("/varz", "\"connections\":0,"); i++)
		lw_test_sleep_ms(20);
	fd = gw_tcp_connect(g_t.port);
	gw_recv_until(fd, g_buf, sizeof(g_buf), "}\r\n", 2000, &eof);
	gw_send(fd, "CONNECT {\"verbose\":false}\r\nSUB back.x 1\r\nPUB back.x 2\r\nok\r\nPING\r\n");
	expect(fd, "MSG back.x 1 2\r\nok\r\n", 0);
	close(fd);
}

static void test_port_in_use(void **state)
{
	struct lw_test_daemon d = { 0 };
	char port[16], dom[32];
	const char *extra[] = { "--nats-port", port, NULL };

	(void)state;
	/* g_t's lwd holds its port: a second lwd on it must stop, loudly. */
	snprintf(port, sizeof(port), "%d", g_t.port);
	snprintf(dom, sizeof(dom), "gwbusy%d", (int)getpid());
	snprintf(d.domain, sizeof(d.domain), "%s", dom);
	assert_int_not_equal(lw_test_daemon_start(&d, dom, extra), 0);
	FILE *f = fopen(d.log, "r");
	char line[512];
	int found = 0, ready = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "cannot listen for NATS clients") != NULL)
			found = 1;
		/* Scripts wait for "ready": a daemon about to exit must not
		 * say it. */
		if (strstr(line, "' ready") != NULL)
			ready = 1;
	}
	fclose(f);
	unlink(d.log);
	assert_true(found);
	assert_false(ready);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_and_verbose),
		cmocka_unit_test(test_connect_defaults),
		cmocka_unit_test(test_no_responders_own_echo),
		cmocka_unit_test(test_no_responders_long_subject),
		cmocka_unit_test(test_publish_wildcard_tokens),
		cmocka_unit_test(test_monitoring_bad_requests),
		cmocka_unit_test(test_max_subscriptions),
		cmocka_unit_test(test_pong_after_own_messages),
		cmocka_unit_test(test_echo_off_queue_member),
		cmocka_unit_test(test_queue_member_max),
		cmocka_unit_test(test_fatal_errors),
		cmocka_unit_test(test_stale_connection),
		cmocka_unit_test(test_slow_consumer),
		cmocka_unit_test(test_write_deadline),
		cmocka_unit_test(test_max_connections),
		cmocka_unit_test(test_monitoring),
		cmocka_unit_test(test_port_in_use),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
