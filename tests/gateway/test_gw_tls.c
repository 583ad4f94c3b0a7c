/* SPDX-License-Identifier: MIT */
/*
 * TLS on the gateway with the real nats.c client: INFO in clear with
 * tls_required, then the handshake; pub/sub, request/reply and large
 * messages inside TLS (the dispatcher thread writes deliveries while the
 * gateway thread reads, on one SSL object); shared memory to a TLS client;
 * refusals (client without TLS, unknown CA, missing client certificate
 * with --tls-verify, a peer that never starts the handshake); bad options.
 *
 * Certificates are made at test time with the openssl CLI: a throw-away
 * CA, a server certificate for localhost/127.0.0.1 and a client one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <nats/nats.h>
#include <openssl/ssl.h>

#include "gw_test.h"
#include "gw_nats_test.h"

static char g_dir[64];
static char g_ca[96], g_cert[96], g_key[96], g_ccert[96], g_ckey[96], g_other_ca[96];
static struct gw_test g_t;

static int make_certs(void)
{
	char cmd[2048];

	snprintf(g_dir, sizeof(g_dir), "/tmp/gw-tls-%d", (int)getpid());
	snprintf(g_ca, sizeof(g_ca), "%s/ca.pem", g_dir);
	snprintf(g_cert, sizeof(g_cert), "%s/server.pem", g_dir);
	snprintf(g_key, sizeof(g_key), "%s/server-key.pem", g_dir);
	snprintf(g_ccert, sizeof(g_ccert), "%s/client.pem", g_dir);
	snprintf(g_ckey, sizeof(g_ckey), "%s/client-key.pem", g_dir);
	snprintf(g_other_ca, sizeof(g_other_ca), "%s/other-ca.pem", g_dir);
	snprintf(cmd, sizeof(cmd),
		 "set -e; rm -rf %1$s; mkdir -p %1$s; cd %1$s;"
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lw-test-ca"
		 " -keyout ca-key.pem -out ca.pem;"
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lw-other-ca"
		 " -keyout other-ca-key.pem -out other-ca.pem;"
		 "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' >server.ext;"
		 "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server-key.pem"
		 " -out server.csr;"
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial"
		 " -days 2 -extfile server.ext -out server.pem;"
		 "printf 'extendedKeyUsage=clientAuth\\n' >client.ext;"
		 "openssl req -newkey rsa:2048 -nodes -subj /CN=lw-client -keyout client-key.pem"
		 " -out client.csr;"
		 "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial"
		 " -days 2 -extfile client.ext -out client.pem",
		 g_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "openssl could not make the test certificates (scripts/deps.sh "
			"installs openssl)\n");
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	const char *extra[] = { "--tls-cert", g_cert, "--tls-key", g_key,
				"--tls-timeout-ms", "300", NULL };

	(void)state;
	if (make_certs() != 0)
		return -1;
	return gw_test_start(&g_t, 0, extra);
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	nats_Close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", g_dir);
	return lw_test_daemon_stop(&g_t.d, SIGTERM) == 0 ? 0 : -1;
}

/* nats.c connection; @p ca NULL: no TLS on the client side. */
static natsStatus tls_connect(natsConnection **nc, const char *url, const char *ca,
			      const char *cert, const char *key)
{
	natsOptions *o = NULL;
	natsStatus s;

	natsOptions_Create(&o);
	natsOptions_SetURL(o, url);
	natsOptions_SetAllowReconnect(o, false);
	natsOptions_SetTimeout(o, 3000);
	if (ca != NULL) {
		natsOptions_SetSecure(o, true);
		natsOptions_SetExpectedHostname(o, "localhost");
		if (natsOptions_LoadCATrustedCertificates(o, ca) != NATS_OK)
			fprintf(stderr, "cannot load %s\n", ca);
	}
	if (cert != NULL && natsOptions_LoadCertificatesChain(o, cert, key) != NATS_OK)
		fprintf(stderr, "cannot load %s\n", cert);
	s = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	return s;
}

static natsConnection *must_connect(void)
{
	natsConnection *nc = NULL;
	natsStatus s = tls_connect(&nc, g_t.url, g_ca, NULL, NULL);

	if (s != NATS_OK)
		fprintf(stderr, "TLS connect: %s (%s)\n", natsStatus_GetText(s), nats_GetLastError(NULL));
	assert_int_equal(s, NATS_OK);
	return nc;
}

static void test_info_in_clear(void **state)
{
	char buf[2048];
	int eof;
	int fd = gw_tcp_connect(g_t.port);

	(void)state;
	assert_true(fd >= 0);
	gw_recv_until(fd, buf, sizeof(buf), "\r\n", 2000, &eof);
	assert_non_null(strstr(buf, "INFO {"));
	assert_non_null(strstr(buf, "\"tls_required\":true"));
	assert_null(strstr(buf, "\"tls_verify\""));
	/* Protocol in clear is not TLS: the handshake fails, the server hangs up. */
	gw_send(fd, "CONNECT {}\r\nPING\r\n");
	gw_recv_until(fd, buf, sizeof(buf), NULL, 2000, &eof);
	assert_true(eof);
	assert_null(strstr(buf, "PONG"));
	close(fd);
}

static void test_handshake_timeout(void **state)
{
	char buf[2048];
	int eof;
	int fd = gw_tcp_connect(g_t.port);

	(void)state;
	assert_true(fd >= 0);
	/* INFO, then silence: closed after --tls-timeout-ms (300 here). */
	gw_recv_until(fd, buf, sizeof(buf), "\r\n", 2000, &eof);
	assert_non_null(strstr(buf, "tls_required"));
	gw_recv_until(fd, buf, sizeof(buf), NULL, 3000, &eof);
	assert_true(eof);
	close(fd);
}

static void test_pubsub_request_big(void **state)
{
	natsConnection *a = must_connect(), *b = must_connect();
	natsSubscription *s = NULL, *rs = NULL;
	natsMsg *m = NULL;
	size_t big = 1000000;
	char *p = malloc(big);

	(void)state;
	assert_int_equal(natsConnection_SubscribeSync(&s, b, "tls.>"), NATS_OK);
	assert_int_equal(natsConnection_Flush(b), NATS_OK);
	assert_int_equal(natsConnection_PublishString(a, "tls.one", "secret"), NATS_OK);
	expect_next(s, "tls.one", "secret");

	/* Larger than many TLS records and socket buffers: partial writes. */
	for (size_t i = 0; i < big; i++)
		p[i] = (char)(i * 13);
	assert_int_equal(natsConnection_Publish(a, "tls.big", p, (int)big), NATS_OK);
	assert_int_equal(natsSubscription_NextMsg(&m, s, 5000), NATS_OK);
	assert_int_equal(natsMsg_GetDataLength(m), (int)big);
	assert_memory_equal(natsMsg_GetData(m), p, big);
	natsMsg_Destroy(m);

	/* Many deliveries (dispatcher writes) while b also publishes (gateway
	 * thread reads and answers): one SSL object, two threads. */
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(natsConnection_Publish(a, "tls.burst", p, 1000), NATS_OK);
		if (i % 10 == 0)
			assert_int_equal(natsConnection_PublishString(b, "other", "x"), NATS_OK);
	}
	assert_int_equal(natsConnection_Flush(a), NATS_OK);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(natsSubscription_NextMsg(&m, s, 5000), NATS_OK);
		assert_int_equal(natsMsg_GetDataLength(m), 1000);
		natsMsg_Destroy(m);
	}
	free(p);

	/* Request/reply over two TLS connections. */
	assert_int_equal(natsConnection_SubscribeSync(&rs, b, "tls.svc"), NATS_OK);
	assert_int_equal(natsConnection_Flush(b), NATS_OK);
	{
		natsMsg *req = NULL, *reply = NULL;
		natsStatus st;

		assert_int_equal(natsConnection_PublishRequestString(a, "tls.svc", "_INBOX.tls1", "q"),
				 NATS_OK);
		assert_int_equal(natsSubscription_NextMsg(&req, rs, 2000), NATS_OK);
		assert_string_equal(natsMsg_GetReply(req), "_INBOX.tls1");
		natsMsg_Destroy(req);
		/* b answers on a's inbox */
		natsSubscription *ib = NULL;

		assert_int_equal(natsConnection_SubscribeSync(&ib, a, "_INBOX.tls2"), NATS_OK);
		assert_int_equal(natsConnection_Flush(a), NATS_OK);
		assert_int_equal(natsConnection_PublishRequestString(a, "tls.svc", "_INBOX.tls2", "q2"),
				 NATS_OK);
		assert_int_equal(natsSubscription_NextMsg(&req, rs, 2000), NATS_OK);
		assert_int_equal(natsConnection_PublishString(b, natsMsg_GetReply(req), "a2"), NATS_OK);
		natsMsg_Destroy(req);
		assert_int_equal(natsSubscription_NextMsg(&reply, ib, 2000), NATS_OK);
		assert_int_equal(natsMsg_GetDataLength(reply), 2);
		natsMsg_Destroy(reply);
		natsSubscription_Destroy(ib);
		st = natsConnection_RequestString(&reply, a, "nobody.tls", "x", 2000);
		assert_int_equal(st, NATS_NO_RESPONDERS);
	}
	natsSubscription_Destroy(rs);
	natsSubscription_Destroy(s);
	natsConnection_Destroy(a);
	natsConnection_Destroy(b);
}

/* --- a TLS client that stops reading ---------------------------------- */

/* Plain INFO, then a blocking TLS session on a socket with a small
 * receive buffer, so the gateway's writes soon meet a full socket. */
static SSL *raw_tls(int port, SSL_CTX **ctxp, int *fdp)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int rcv = 8192;
	char info[2048];
	size_t n = 0;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* Byte by byte: nothing of the handshake may be read as INFO. */
	while (n < sizeof(info) - 1 && recv(fd, info + n, 1, 0) == 1 && info[n] != '\n')
		n++;
	info[n] = '\0';
	assert_non_null(strstr(info, "tls_required"));
	ctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, g_ca, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	assert_int_equal(SSL_connect(ssl), 1);
	*ctxp = ctx;
	*fdp = fd;
	return ssl;
}

static void tls_send(SSL *ssl, const char *s)
{
	assert_int_equal(SSL_write(ssl, s, (int)strlen(s)), (int)strlen(s));
}

/* Reads until @p want bytes arrived; returns what it read (malloc'd). */
static char *tls_read(SSL *ssl, size_t want)
{
	char *buf = malloc(want + 1);
	size_t n = 0;

	while (n < want) {
		int k = SSL_read(ssl, buf + n, (int)(want - n));

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	assert_int_equal(n, want);
	return buf;
}

/* 20 MB of deliveries to a client that is not reading: the gateway's
 * SSL_write meets a full socket, keeps the rest and resumes on EPOLLOUT,
 * while the same client's input (PUB, PING) is read on the other thread. */
static void test_slow_reader(void **state)
{
	enum { N = 2000, SZ = 10000 };
	static const char line[] = "MSG slow.x 1 10000\r\n";
	size_t per = sizeof(line) - 1 + SZ + 2;
	lw_conn *lc = lw_test_connect(&g_t.d);
	char *payload = malloc(SZ), *got;
	SSL_CTX *ctx;
	int fd;
	SSL *ssl = raw_tls(g_t.port, &ctx, &fd);
	struct timeval tv = { 10, 0 };

	(void)state;
	assert_non_null(lc);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	tls_send(ssl, "CONNECT {\"verbose\":false}\r\nSUB slow.> 1\r\nPING\r\n");
	got = tls_read(ssl, 6);
	assert_string_equal(got, "PONG\r\n");
	free(got);
	for (int i = 0; i < N; i++) {
		int rc;

		memset(payload, 'a' + i % 26, SZ);
		/* The pool holds fewer 10 kB messages than we send: let the
		 * dispatcher catch up (into the gateway's buffer, not the socket). */
		for (int w = 0; (rc = lw_publish(lc, "slow.x", payload, SZ)) == LW_ENOMEM && w < 5000; w++)
			lw_test_sleep_ms(1);
		assert_int_equal(rc, 1);
		if (i % 200 == 0)
			tls_send(ssl, "PUB elsewhere 1\r\nx\r\n");
	}
	tls_send(ssl, "PING\r\n");
	/* Deliveries are asynchronous (docs/nats.md): the PONG may come
	 * between two messages, but exactly once, and every message whole. */
	got = tls_read(ssl, N * per + 6);
	{
		size_t pos = 0;
		int pongs = 0;

		for (int i = 0; i <= N; i++) {
			const char *m;

			if (memcmp(got + pos, "PONG\r\n", 6) == 0) {
				pongs++;
				pos += 6;
			}
			if (i == N)
				break;
			m = got + pos;
			if (memcmp(m, line, sizeof(line) - 1) != 0)
				fprintf(stderr, "message %d of %d: '%.40s'\n", i, N, m);
			assert_memory_equal(m, line, sizeof(line) - 1);
			assert_int_equal(m[sizeof(line) - 1], 'a' + i % 26);
			assert_int_equal(m[sizeof(line) - 1 + SZ - 1], 'a' + i % 26);
			assert_memory_equal(m + per - 2, "\r\n", 2);
			pos += per;
		}
		assert_int_equal(pongs, 1);
		assert_int_equal(pos, (size_t)N * per + 6);
	}
	free(got);
	free(payload);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	lw_close(lc);
}

static void test_shm_to_tls_client(void **state)
{
	natsConnection *nc = must_connect();
	natsSubscription *s = NULL;
	lw_conn *lc = lw_test_connect(&g_t.d);
	struct lw_sub_opts o;
	lw_sub *ls = NULL;
	lw_msg *lm = NULL;

	(void)state;
	assert_non_null(lc);
	assert_int_equal(natsConnection_SubscribeSync(&s, nc, "shm.tls"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	assert_int_equal(lw_publish(lc, "shm.tls", "from-shm", 8), 1);
	expect_next(s, "shm.tls", "from-shm");
	lw_sub_opts_init(&o);
	assert_int_equal(lw_subscribe(lc, "tls.shm", &o, &ls), LW_OK);
	assert_int_equal(natsConnection_PublishString(nc, "tls.shm", "from-tls"), NATS_OK);
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	assert_int_equal(lw_next(ls, &lm, 2000), LW_OK);
	assert_int_equal(lw_msg_len(lm), 8);
	assert_memory_equal(lw_msg_data(lm), "from-tls", 8);
	lw_msg_free(lm);
	lw_unsubscribe(ls);
	lw_close(lc);
	natsSubscription_Destroy(s);
	natsConnection_Destroy(nc);
}

static void test_connz_tls(void **state)
{
	natsConnection *nc = must_connect();
	char buf[8192];
	int eof;
	int fd;

	(void)state;
	assert_int_equal(natsConnection_Flush(nc), NATS_OK);
	fd = gw_tcp_connect(g_t.http_port);
	assert_true(fd >= 0);
	gw_send(fd, "GET /connz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	gw_recv_until(fd, buf, sizeof(buf), NULL, 2000, &eof);
	close(fd);
	assert_non_null(strstr(buf, "\"tls_version\":\"1."));
	assert_non_null(strstr(buf, "\"tls_cipher_suite\":\""));
	natsConnection_Destroy(nc);
}

static void test_refusals(void **state)
{
	natsConnection *nc = NULL;

	(void)state;
	/* A client not set up for TLS: nats.c 3.4 sees tls_required and turns
	 * TLS on by itself, then cannot verify our test CA's certificate. */
	assert_int_equal(tls_connect(&nc, g_t.url, NULL, NULL, NULL), NATS_SSL_ERROR);
	/* A server certificate from a CA the client does not trust. */
	assert_int_not_equal(tls_connect(&nc, g_t.url, g_other_ca, NULL, NULL), NATS_OK);
	/* The gateway is still fine. */
	nc = must_connect();
	natsConnection_Destroy(nc);
}

static void test_client_certificates(void **state)
{
	const char *extra[] = { "--tls-cert", g_cert, "--tls-key", g_key, "--tls-ca", g_ca,
				"--tls-verify", NULL };
	natsConnection *nc = NULL;
	natsSubscription *s = NULL;
	struct gw_test t;
	char buf[2048];
	int eof, fd;

	(void)state;
	assert_int_equal(gw_test_start(&t, 1, extra), 0);
	fd = gw_tcp_connect(t.port);
	gw_recv_until(fd, buf, sizeof(buf), "\r\n", 2000, &eof);
	close(fd);
	assert_non_null(strstr(buf, "\"tls_required\":true,\"tls_verify\":true"));
	/* Without a client certificate: refused in the handshake. */
	assert_int_not_equal(tls_connect(&nc, t.url, g_ca, NULL, NULL), NATS_OK);
	/* With one signed by --tls-ca: in. */
	assert_int_equal(tls_connect(&nc, t.url, g_ca, g_ccert, g_ckey), NATS_OK);
	assert_int_equal(natsConnection_SubscribeSync(&s, nc, "mtls"), NATS_OK);
	assert_int_equal(natsConnection_PublishString(nc, "mtls", "ok"), NATS_OK);
	expect_next(s, "mtls", "ok");
	natsSubscription_Destroy(s);
	natsConnection_Destroy(nc);
	assert_int_equal(lw_test_daemon_stop(&t.d, SIGTERM), 0);
}

/* lwd refuses half a TLS set-up at start (exit 2) instead of running in clear. */
static void test_bad_options(void **state)
{
	const char *only_cert[] = { "--tls-cert", g_cert, NULL };
	const char *verify_no_ca[] = { "--tls-cert", g_cert, "--tls-key", g_key, "--tls-verify", NULL };
	const char *missing[] = { "--tls-cert", "/nonexistent/cert.pem", "--tls-key", g_key, NULL };
	const char *wrong_key[] = { "--tls-cert", g_cert, "--tls-key", g_ckey, NULL };
	const char *const *cases[] = { only_cert, verify_no_ca, missing, wrong_key };
	struct gw_test t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char log[128];

		snprintf(log, sizeof(log), "/tmp/lwd-gw1_%d.log", (int)getpid());
		unlink(log);
		assert_int_equal(gw_test_start(&t, 1, cases[i]), -1);
		/* lw_test_daemon_start reaped it; its log says why. */
		FILE *f = fopen(t.d.log, "r");
		char line[512] = "";
		int found = 0;

		assert_non_null(f);
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "TLS") != NULL || strstr(line, "tls") != NULL)
				found = 1;
		fclose(f);
		unlink(t.d.log);
		assert_true(found);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_in_clear),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_pubsub_request_big),
		cmocka_unit_test(test_shm_to_tls_client),
		cmocka_unit_test(test_slow_reader),
		cmocka_unit_test(test_connz_tls),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_client_certificates),
		cmocka_unit_test(test_bad_options),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
