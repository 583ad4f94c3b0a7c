/* SPDX-License-Identifier: MIT */
/*
 * TLS for NATS clients (OpenSSL), as nats-server does it: INFO goes out in
 * clear with "tls_required":true, the client then starts the handshake,
 * and everything after (CONNECT on) is inside TLS.
 *
 * Threads: an SSL object may be used from several threads but never from
 * two at once, and here two threads use it: the gateway thread reads
 * (SSL_read, which also runs the handshake), the dispatcher thread writes
 * deliveries (SSL_write). Every SSL call on a connection is therefore made
 * under its gw_conn.mu, the lock that already serialises its output; the
 * gateway thread takes it only around the SSL call, never while calling
 * liblightwire, so the lock order of lw_gw_pvt.h holds.
 *
 * Non-blocking: SSL_write may be retried with the buffer moved (memmove,
 * realloc) and grown (appends): SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER and
 * SSL_MODE_ENABLE_PARTIAL_WRITE allow exactly that. A read that needs the
 * socket writable (a handshake step) sets tls_rd_wants_wr so the
 * connection keeps EPOLLOUT; a write that needs input waits for the next
 * EPOLLIN, after which the reader flushes. Renegotiation is off, so after
 * the handshake that is rare.
 *
 * Without OpenSSL at build time the options are refused with a clear
 * message instead of being silently ignored.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lw_gw_pvt.h"

#ifdef LW_GW_HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/ssl.h>

/* First OpenSSL error of this thread, for messages. */
static const char *ssl_err(void)
{
	static _Thread_local char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

int gw_tls_init(struct lw_gw *gw)
{
	const struct lw_gw_config *cfg = &gw->cfg;
	SSL_CTX *ctx;

	if (cfg->tls_cert[0] == '\0' && cfg->tls_key[0] == '\0') {
		if (cfg->tls_verify || cfg->tls_ca[0] != '\0') {
			fprintf(stderr, "lwd: error: --tls-ca/--tls-verify need --tls-cert and --tls-key\n");
			return -1;
		}
		return 0;
	}
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
		fprintf(stderr, "lwd: error: TLS needs both --tls-cert and --tls-key\n");
		return -1;
	}
	if (cfg->tls_verify && cfg->tls_ca[0] == '\0') {
		fprintf(stderr, "lwd: error: --tls-verify needs --tls-ca (the CA of client certificates)\n");
		return -1;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		fprintf(stderr, "lwd: error: TLS: %s\n", ssl_err());
		return -1;
	}
	/* nats-server's minimum too. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* A client that closes without close_notify has simply gone away
	 * (as for a plain TCP client), not made a protocol error. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		fprintf(stderr, "lwd: error: TLS certificate %s: %s\n", cfg->tls_cert, ssl_err());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "lwd: error: TLS key %s: %s\n", cfg->tls_key, ssl_err());
		goto fail;
	}
	if (cfg->tls_ca[0] != '\0' && SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
		fprintf(stderr, "lwd: error: TLS CA file %s: %s\n", cfg->tls_ca, ssl_err());
		goto fail;
	}
	if (cfg->tls_verify)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* Without it OpenSSL fails the handshake of a client that resumes a
	 * session while client certificates are verified. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"lwd-nats", 8);
	gw->tls_ctx = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -1;
}

void gw_tls_free(struct lw_gw *gw)
{
	SSL_CTX_free(gw->tls_ctx);
	gw->tls_ctx = NULL;
}

int gw_tls_attach(struct gw_conn *c)
{
	SSL *ssl = SSL_new(c->gw->tls_ctx);

	if (ssl == NULL || SSL_set_fd(ssl, c->fd) != 1) {
		gw_log(1, "client %u (%s:%d): TLS: %s", c->cid, c->ip, c->port, ssl_err());
		SSL_free(ssl);
		return -1;
	}
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	return 0;
}

/* errno for an SSL call that returned @p rc <= 0; sets the want flags. */
static int io_errno(struct gw_conn *c, int rc, bool reading)
{
	int e = SSL_get_error(c->ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (!reading)
			c->tls_wr_wants_rd = true;
		return EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			c->tls_rd_wants_wr = true;
		return EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify: the end of the stream */
	case SSL_ERROR_SYSCALL:
		return errno != 0 ? errno : ECONNRESET;
	default:
		if (!SSL_is_init_finished(c->ssl))
			gw_log(1, "client %u (%s:%d): TLS handshake failed: %s", c->cid, c->ip,
			       c->port, ssl_err());
		else
			gw_log(2, "client %u (%s:%d): TLS: %s", c->cid, c->ip, c->port, ssl_err());
		return EPROTO;
	}
}

ssize_t gw_tls_recv(struct gw_conn *c, void *buf, size_t n)
{
	int rc, e;

	ERR_clear_error();
	c->tls_rd_wants_wr = false;
	rc = SSL_read(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
	if (rc > 0)
		return rc;
	e = io_errno(c, rc, true);
	if (e == 0)
		return 0;
	errno = e;
	return -1;
}

ssize_t gw_tls_send(struct gw_conn *c, const void *buf, size_t n)
{
	int rc, e;

	ERR_clear_error();
	c->tls_wr_wants_rd = false;
	rc = SSL_write(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
	if (rc > 0)
		return rc;
	e = io_errno(c, rc, false);
	errno = e == 0 ? EPIPE : e;
	return -1;
}

bool gw_tls_pending(struct gw_conn *c)
{
	return SSL_pending(c->ssl) > 0;
}

bool gw_tls_established(struct gw_conn *c)
{
	return SSL_is_init_finished(c->ssl);
}

void gw_tls_close_notify(struct gw_conn *c)
{
	if (SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* best effort: the socket is non-blocking */
	}
}

void gw_tls_conn_free(struct gw_conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
}

const char *gw_tls_version(struct gw_conn *c)
{
	return SSL_is_init_finished(c->ssl) ? SSL_get_version(c->ssl) : "";
}

const char *gw_tls_cipher(struct gw_conn *c)
{
	return SSL_is_init_finished(c->ssl) ? SSL_get_cipher_name(c->ssl) : "";
}

#else /* no OpenSSL */

int gw_tls_init(struct lw_gw *gw)
{
	const struct lw_gw_config *cfg = &gw->cfg;

	if (cfg->tls_cert[0] || cfg->tls_key[0] || cfg->tls_ca[0] || cfg->tls_verify) {
		fprintf(stderr, "lwd: error: TLS options given, but lwd was built without OpenSSL "
			"(install libssl-dev and rebuild)\n");
		return -1;
	}
	return 0;
}

void gw_tls_free(struct lw_gw *gw)
{
	(void)gw;
}

/* Never called: no connection gets an SSL object without a context. */
int gw_tls_attach(struct gw_conn *c)
{
	(void)c;
	return -1;
}

ssize_t gw_tls_recv(struct gw_conn *c, void *buf, size_t n)
{
	(void)c, (void)buf, (void)n;
	errno = EPROTO;
	return -1;
}

ssize_t gw_tls_send(struct gw_conn *c, const void *buf, size_t n)
{
	(void)c, (void)buf, (void)n;
	errno = EPROTO;
	return -1;
}

bool gw_tls_pending(struct gw_conn *c)
{
	(void)c;
	return false;
}

bool gw_tls_established(struct gw_conn *c)
{
	(void)c;
	return false;
}

void gw_tls_close_notify(struct gw_conn *c)
{
	(void)c;
}

void gw_tls_conn_free(struct gw_conn *c)
{
	(void)c;
}

const char *gw_tls_version(struct gw_conn *c)
{
	(void)c;
	return "";
}

const char *gw_tls_cipher(struct gw_conn *c)
{
	(void)c;
	return "";
}

#endif
