/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of the `lw` command-line tool: the subcommands and the
 * small helpers they share (errors, option values, connection, signals,
 * header blocks, message printing). Not installed.
 */
#ifndef LW_CLI_H
#define LW_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <lightwire/lightwire.h>

/* Exit codes of every subcommand. */
enum {
	LW_EXIT_OK = 0,
	LW_EXIT_FAIL = 1,	/* the command ran and failed */
	LW_EXIT_USAGE = 2,	/* bad command line */
};

/* Options common to every subcommand, taken out of argv by lw_main.c. */
struct lw_cli {
	const char *domain;	/* --domain; NULL lets the library use $LW_DOMAIN */
	const char *cmd;	/* subcommand name */
};

/* Subcommands: argv[0] is the subcommand name; they return an exit code. */
int lw_cmd_pub(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_sub(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_req(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_reply(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_stats(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_top(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_bench(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_stream(const struct lw_cli *g, int argc, char **argv);
int lw_cmd_consumer(const struct lw_cli *g, int argc, char **argv);

/* Set by SIGINT/SIGTERM once lw_cli_catch_signals() ran. */
extern volatile sig_atomic_t lw_cli_stop;

/* How long a receive loop waits at most before it looks at lw_cli_stop:
 * lw_next() sleeps through signals, so this bounds the exit latency. */
#define LW_CLI_POLL_MS 100

/* Prints "lw: <what>: <lw_strerror(rc)>: <lw_errmsg()>" to stderr and
 * returns LW_EXIT_FAIL. */
int lw_cli_fail(const char *what, int rc);

/* Prints "lw <cmd>: <message>" and a hint to stderr; returns LW_EXIT_USAGE. */
int lw_cli_usage_error(const struct lw_cli *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reports what getopt_long (called with a ':'-prefixed optstring and
 * opterr = 0) complained about: @p c is '?' or ':'. Returns LW_EXIT_USAGE. */
int lw_cli_bad_option(const struct lw_cli *g, int c, char **argv);

/* Connects with the common options, naming the client "lw-<cmd>".
 * Prints the error itself; returns LW_OK or the lw_status. */
int lw_cli_connect(const struct lw_cli *g, enum lw_wait_mode wait, lw_conn **out);

/* Decimal (or 0x) integers with optional k/M/G (x1000) suffix; -1 on error. */
int lw_cli_parse_u64(const char *s, uint64_t *out);
/* Byte sizes: decimal with optional K/M/G (x1024) and B/iB suffix. */
int lw_cli_parse_size(const char *s, uint64_t *out);
/* lw_cli_parse_u64() bounded to [0, INT_MAX]. */
int lw_cli_parse_int(const char *s, int *out);
/* Durations as Go writes them, in nanoseconds: one or more of NUMBER UNIT
 * ("1m30s", "1.5s", "500ms"; units h, m, s, ms, us, ns); a bare integer
 * is seconds. At most INT64_MAX ns; -1 on error. */
int lw_cli_parse_duration(const char *s, uint64_t *out_ns);

/* Installs SIGINT/SIGTERM handlers that set lw_cli_stop (no SA_RESTART)
 * and ignores SIGPIPE so a closed stdout is an error we can clean up after. */
void lw_cli_catch_signals(void);

uint64_t lw_cli_now_ns(void);

/* The sampled delivery latency of @p d in words: "p50 <= 1 us, p99 <= 25 us
 * (N samples, publish -> take)", or that there is none yet. */
void lw_cli_latency(char *buf, size_t n, const struct lw_domain_stats *d);

/* A NATS/1.0 header block built from -H Key:Value options. */
struct lw_cli_hdr {
	char *buf;
	size_t len;	/* 0 until the first header is added */
	size_t cap;
};

/* Adds "Key:Value" (the value may start with spaces); -1 when malformed. */
int lw_cli_hdr_add(struct lw_cli_hdr *h, const char *kv);
void lw_cli_hdr_free(struct lw_cli_hdr *h);

/* True when @p s contains the {{Count}} template (also {{.Count}} and
 * {{ Count }}, the spellings the nats CLI has used). */
bool lw_cli_has_template(const char *s);
/* Copies @p tmpl into @p dst (at most @p cap bytes, no NUL added) with each
 * template replaced by @p n; returns the length. */
size_t lw_cli_expand(char *dst, size_t cap, const char *tmpl, uint64_t n);
/* Room lw_cli_expand() may need for @p tmpl. */
size_t lw_cli_expand_room(const char *tmpl);

/* Prints one received message to stdout as `lw sub` does: nats-style
 * "[#n] Received on ..." block, or the bare payload with @p raw. Flushes
 * stdout so a reader of a pipe sees each message at once. Returns 0, or
 * -1 when stdout is gone (EPIPE) or failing. */
int lw_cli_print_msg(const lw_msg *m, uint64_t n, bool raw, bool headers);

/* Prints the fields of a header block to stdout, one "Key: Value" per
 * line, without the NATS/1.0 line unless it carries a status code. */
void lw_cli_print_headers(const char *h, size_t n);

/* Parses block|drop-oldest|drop-newest; -1 when unknown. */
int lw_cli_parse_policy(const char *s, enum lw_slow_policy *out);
const char *lw_cli_policy_name(enum lw_slow_policy p);

/* --- lw-control's JetStream API (lw_js.c), for lw stream and lw consumer --- */

/* Sends @p body (consumed; NULL = empty) as a request to
 * $JS.API.<api_subj> and returns the reply document, or NULL after
 * printing why: no lw-control, a transport error, or lw-control's
 * error description ("lw: stream not found (error 10059)"). */
json_t *lw_js_api(const struct lw_cli *g, const char *api_subj, json_t *body, int timeout_ms);

/* lw_js_api(), then shows the answer on stdout: the document itself with
 * @p json_out, else print(answer) when @p print is set, else the line
 * @p done ("Deleted ..."). Returns the exit code. */
int lw_js_show(const struct lw_cli *g, const char *api_subj, json_t *body, int timeout_ms,
	       bool json_out, void (*print)(const json_t *doc), const char *done);

/* Prints that no lw-control serves the domain (a request found no
 * responder). */
void lw_js_no_control(void);

/* Leading options of `lw stream` / `lw consumer` (-t/--timeout-ms N,
 * -h/--help) and then the subcommand: on return -1, *argv[0] is the
 * subcommand; otherwise an exit code (help printed, or a usage error
 * naming @p commands). -h anywhere prints @p usage. */
int lw_js_args(const struct lw_cli *g, int *argc, char ***argv, const char *usage,
	       const char *commands, int *timeout_ms);

/* Field @p k of object @p o: 0 / "" when missing (o may be NULL). */
/** The usage error of a command that takes @p want words (with its own):
 *  names the unknown option or extra word, else repeats @p usage. */
int lw_js_arity_error(const struct lw_cli *g, int argc, char **argv, int want, const char *usage);
long long lw_js_int(const json_t *o, const char *k);
/* Stream and consumer names become subject tokens: not empty, no '.',
 * '*', '>' or whitespace. */
bool lw_js_valid_name(const char *n);
/* The usage error (exit 2) for a @p what ("stream", "consumer") name that
 * is not valid. */
int lw_js_name_error(const struct lw_cli *g, const char *what, const char *n);
const char *lw_js_str(const json_t *o, const char *k);

/* The document indented, on stdout (--json). */
void lw_js_print_json(const json_t *doc);

#endif
