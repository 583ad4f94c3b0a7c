/* SPDX-License-Identifier: MIT */
/*
 * lw: the Lightwire command-line tool. This file picks the subcommand,
 * takes the options every subcommand shares (--domain) out of argv, and
 * owns the conventions all of them follow:
 *
 *   exit 0  success (also after SIGINT/SIGTERM for the long-running ones)
 *   exit 1  the command failed: "lw: <what>: <status text>: <details>"
 *   exit 2  bad command line: "lw <cmd>: <what is wrong>"
 *
 * The output is modelled on the nats CLI so that people (and scripts)
 * used to it feel at home: status lines on stderr, data on stdout.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lw_cli.h"

volatile sig_atomic_t lw_cli_stop;

struct cmd {
	const char *name;
	int (*run)(const struct lw_cli *g, int argc, char **argv);
	const char *summary;
};

static const struct cmd cmds[] = {
	{ "pub", lw_cmd_pub, "publish a message" },
	{ "sub", lw_cmd_sub, "subscribe and print messages" },
	{ "req", lw_cmd_req, "send a request and print the reply" },
	{ "reply", lw_cmd_reply, "answer requests" },
	{ "stats", lw_cmd_stats, "show domain and subscription figures" },
	{ "top", lw_cmd_top, "show the figures live, with rates" },
	{ "bench", lw_cmd_bench, "measure latency and throughput between processes" },
	{ "stream", lw_cmd_stream, "persistent streams of lw-control (add, ls, info, rm, purge, get, redrive)" },
	{ "consumer", lw_cmd_consumer, "consumers of lw-control's streams (add, ls, info, next, rm)" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lw [-d DOMAIN] <command> [options] [args]\n"
		"\n"
		"Lightwire command-line tool.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f,
		"  version  print the version\n"
		"  help     help on a command (same as lw <command> --help)\n"
		"\n"
		"Options for every command:\n"
		"  -d, --domain NAME  domain to use (default: $LW_DOMAIN, else \"%s\")\n"
		"  -h, --help         show help\n"
		"\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n",
		LW_DOMAIN_DEFAULT);
}

int lw_cli_fail(const char *what, int rc)
{
	const char *text = lw_strerror(rc);
	const char *msg = lw_errmsg();
	size_t tl = strlen(text);

	/* The library's message already starts with the status text
	 * ("no responders: no subscriber for ..."): print it once. */
	if (strncmp(msg, text, tl) == 0 && msg[tl] == ':' && msg[tl + 1] == ' ')
		msg += tl + 2;
	if (msg[0] != '\0')
		fprintf(stderr, "lw: %s: %s: %s\n", what, text, msg);
	else
		fprintf(stderr, "lw: %s: %s\n", what, text);
	return LW_EXIT_FAIL;
}

int lw_cli_usage_error(const struct lw_cli *g, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lw %s: ", g->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'lw %s --help'.\n", g->cmd);
	return LW_EXIT_USAGE;
}

int lw_cli_bad_option(const struct lw_cli *g, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':') {
		if (optopt != 0 && strncmp(arg, "--", 2) != 0)
			return lw_cli_usage_error(g, "option '-%c' needs a value", optopt);
		return lw_cli_usage_error(g, "option '%s' needs a value", arg);
	}
	/* optopt is only set for an unknown short option. */
	if (optopt != 0)
		return lw_cli_usage_error(g, "unknown option '-%c'", optopt);
	return lw_cli_usage_error(g, "unknown option '%s'", arg);
}

int lw_cli_connect(const struct lw_cli *g, enum lw_wait_mode wait, lw_conn **out)
{
	struct lw_conn_opts o;
	char name[32];
	int rc;

	lw_conn_opts_init(&o);
	snprintf(name, sizeof(name), "lw-%s", g->cmd);
	o.domain = g->domain;
	o.name = name;
	o.wait = wait;
	rc = lw_connect(out, &o);
	if (rc != LW_OK)
		lw_cli_fail("connect", rc);
	return rc;
}

static void on_signal(int sig)
{
	(void)sig;
	lw_cli_stop = 1;
}

void lw_cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking read or sleep should return early. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

uint64_t lw_cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

/*
 * Takes -d/--domain out of argv wherever it appears (before a "--"), so
 * "lw -d x pub a" and "lw pub a -d x" mean the same and no subcommand has
 * to know about it. Returns the new argc, or -1 on a missing value.
 */
static int take_common(int argc, char **argv, struct lw_cli *g)
{
	int out = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "-d") == 0 || strcmp(a, "--domain") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lw: option '%s' needs a domain name\n", a);
				return -1;
			}
			g->domain = argv[++i];
			continue;
		}
		if (strncmp(a, "--domain=", 9) == 0) {
			g->domain = a + 9;
			continue;
		}
		if (strncmp(a, "-d", 2) == 0 && a[2] != '\0') {
			g->domain = a + 2;
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	if (g->domain != NULL && g->domain[0] == '\0') {
		fprintf(stderr, "lw: empty domain name\n");
		return -1;
	}
	return out;
}

int main(int argc, char **argv)
{
	struct lw_cli g = { .domain = NULL, .cmd = "" };
	const struct cmd *c;

	argc = take_common(argc, argv, &g);
	if (argc < 0)
		return LW_EXIT_USAGE;
	if (argc < 2) {
		usage(stderr);
		return LW_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return LW_EXIT_OK;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "-V") == 0) {
		printf("lw %s (liblightwire %s)\n", LW_VERSION, LW_VERSION);
		return LW_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0) {
		char *hv[] = { NULL, "--help", NULL };

		if (argc < 3) {
			usage(stdout);
			return LW_EXIT_OK;
		}
		c = find_cmd(argv[2]);
		if (c == NULL) {
			fprintf(stderr, "lw: unknown command '%s'\n", argv[2]);
			return LW_EXIT_USAGE;
		}
		hv[0] = argv[2];
		g.cmd = c->name;
		optind = 0;
		return c->run(&g, 2, hv);
	}
	c = find_cmd(argv[1]);
	if (c == NULL) {
		fprintf(stderr, "lw: unknown command '%s' (see lw --help)\n", argv[1]);
		return LW_EXIT_USAGE;
	}
	g.cmd = c->name;
	/* Subcommands parse with getopt_long from a fresh state. */
	optind = 0;
	return c->run(&g, argc - 1, argv + 1);
}
