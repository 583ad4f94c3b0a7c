/* SPDX-License-Identifier: MIT */
/*
 * The NATS-protocol TCP gateway of lwd: what lwd sees of it.
 * Internal header (not installed). docs/nats.md is the user guide.
 *
 * lwd starts the gateway once its domain is READY and stops it after the
 * domain is shut down (so the gateway's own liblightwire connection never
 * waits for a control worker that is gone).
 */
#ifndef LW_GW_H
#define LW_GW_H

#include <stdint.h>

struct lw_gw_config {
	char host[64];             /* listen address of both listeners */
	uint32_t port;             /* NATS client port; 0 = gateway off */
	uint32_t http_port;        /* monitoring port; 0 = off */
	uint32_t max_connections;  /* TCP clients at once */
	uint32_t max_subscriptions; /* per TCP client; 0 = half the domain's max_subs */
	uint32_t max_pending;      /* bytes queued to one client before "slow consumer" */
	uint32_t ping_interval_ms; /* server PING period */
	uint32_t max_pings_out;    /* unanswered PINGs before "stale connection" */
	uint32_t write_deadline_ms; /* output stuck this long: slow consumer; 0 = never */
	uint32_t max_control_line; /* longest protocol line */
	uint32_t auth_timeout_ms;  /* CONNECT deadline when auth is required */
	char users[256];           /* users file (see docs/nats.md), "" = no auth */
	char tls_cert[256];        /* PEM certificate (chain); with tls_key: TLS required */
	char tls_key[256];         /* PEM private key */
	char tls_ca[256];          /* PEM CA certificates that client certificates must chain to */
	uint32_t tls_verify;       /* 1: clients must present a certificate (needs tls_ca) */
	uint32_t tls_timeout_ms;   /* TLS handshake deadline */
	uint32_t lame_duck_ms;     /* SIGUSR2: time from lame duck to shutdown */
};

struct lw_gw;

/* Defaults (docs/nats.md): 127.0.0.1:4222, HTTP 8222, 65536 connections,
 * 64 MiB pending, PING every 2 min, 2 pings out, 4096-byte lines, no TLS,
 * 2 s TLS handshake deadline. */
void lw_gw_config_default(struct lw_gw_config *c);

/* Applies one lwd option if it is a gateway option.
 * Returns 0 applied, -1 bad value (message on stderr), 1 not a gateway key. */
int lw_gw_config_set(struct lw_gw_config *c, const char *key, const char *val);

/* Reads the users file, loads the TLS certificate and key, binds both
 * listeners now, so a port in use is
 * reported before lwd says "ready"; then starts the gateway thread, which
 * connects to @p domain. NULL on error (message on stderr). */
struct lw_gw *lw_gw_start(const struct lw_gw_config *cfg, const char *domain);

/* Lame duck mode (nats-server's SIGUSR2): stop taking NATS clients, tell
 * the connected ones with INFO "ldm":true (their clients' lame-duck
 * callbacks fire; they may move elsewhere), then SIGTERM lwd after
 * lame_duck_ms. Async-signal-safe: may be called from a handler. */
void lw_gw_lame_duck(struct lw_gw *gw);

/* Closes every TCP client, the listeners and the gateway thread. */
void lw_gw_stop(struct lw_gw *gw);

#endif
