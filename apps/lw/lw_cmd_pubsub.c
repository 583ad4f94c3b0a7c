/* SPDX-License-Identifier: MIT */
/*
 * lw pub, sub, req and reply: the message commands, for people poking at a
 * domain and for test scripts. Scripts are why the status lines are exact
 * and come only once the thing they announce is true: "Subscribing on X"
 * is printed after lwd has put the subscription in the subject tree, so a
 * script that waits for that line can publish at once.
 *
 * Receive loops wait in LW_CLI_POLL_MS slices: lw_next() sleeps through
 * signals, and Ctrl-C should still close the connection cleanly (lwd would
 * reclaim it after a kill anyway, but later and with a log line).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lw_cli.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	/* Interrupted by SIGINT: return early, the caller checks lw_cli_stop. */
	nanosleep(&ts, NULL);
}

/* --- pub ------------------------------------------------------------- */

static const char pub_usage[] =
	"usage: lw pub [options] SUBJECT [MSG]\n"
	"\n"
	"Publishes MSG (an empty payload when omitted). In MSG, {{Count}} is\n"
	"replaced by the 1-based message number.\n"
	"\n"
	"Options:\n"
	"  -c, --count N        publish N messages (default 1)\n"
	"  -r, --reply SUBJECT  reply subject\n"
	"  -H, --header K:V     add header K with value V (repeatable)\n"
	"      --sleep-ms N     wait N ms between messages\n"
	"  -d, --domain NAME    domain (default $LW_DOMAIN, else \"default\")\n"
	"  -h, --help           show this help\n";

/* Deliveries per message vary when subscribers come and go mid-run:
 * report the range rather than pretend it was constant. */
struct pub_tally {
	uint64_t sent, deliveries;
	int dmin, dmax;
	size_t bmin, bmax;
};

static void pub_report(const char *subject, const struct pub_tally *t)
{
	char bytes[64], subs[64];

	if (t->bmin == t->bmax)
		snprintf(bytes, sizeof(bytes), "%zu byte%s", t->bmin, t->bmin == 1 ? "" : "s");
	else
		snprintf(bytes, sizeof(bytes), "%zu-%zu bytes", t->bmin, t->bmax);
	if (t->dmin == t->dmax)
		snprintf(subs, sizeof(subs), "%d subscription%s", t->dmin,
			 t->dmin == 1 ? "" : "s");
	else
		snprintf(subs, sizeof(subs), "%d-%d subscriptions, %llu deliveries",
			 t->dmin, t->dmax, (unsigned long long)t->deliveries);
	fprintf(stderr, "Published %llu message%s of %s to \"%s\" (delivered to %s)\n",
		(unsigned long long)t->sent, t->sent == 1 ? "" : "s", bytes, subject, subs);
}

int lw_cmd_pub(const struct lw_cli *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "reply", required_argument, NULL, 'r' },
		{ "header", required_argument, NULL, 'H' },
		{ "sleep-ms", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lw_cli_hdr hdr = { 0 };
	struct pub_tally t = { .dmin = -1 };
	const char *subject, *body = "", *reply = NULL;
	uint64_t count = 1;
	int sleep = 0, o, rc = LW_EXIT_OK;
	char *buf = NULL;
	lw_conn *c;

	opterr = 0;
	while ((o = getopt_long(argc, argv, ":c:r:H:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (lw_cli_parse_u64(optarg, &count) != 0 || count == 0)
				rc = lw_cli_usage_error(g, "--count: '%s' is not a positive number",
							optarg);
			break;
		case 'r':
			reply = optarg;
			break;
		case 'H':
			if (lw_cli_hdr_add(&hdr, optarg) != 0)
				rc = lw_cli_usage_error(g, "--header: '%s' is not Key:Value", optarg);
			break;
		case 's':
			if (lw_cli_parse_int(optarg, &sleep) != 0)
				rc = lw_cli_usage_error(g, "--sleep-ms: '%s' is not a number", optarg);
			break;
		case 'h':
			fputs(pub_usage, stdout);
			lw_cli_hdr_free(&hdr);
			return LW_EXIT_OK;
		default:
			rc = lw_cli_bad_option(g, o, argv);
			break;
		}
		if (rc != LW_EXIT_OK)
			goto out;
	}
	if (argc - optind < 1 || argc - optind > 2) {
		rc = lw_cli_usage_error(g, argc - optind < 1 ? "missing SUBJECT" :
					"too many arguments (quote MSG if it has spaces)");
		goto out;
	}
	subject = argv[optind];
	if (argc - optind == 2)
		body = argv[optind + 1];
	if (lw_cli_has_template(body)) {
		buf = malloc(lw_cli_expand_room(body));
		if (buf == NULL) {
			fprintf(stderr, "lw: pub: out of memory\n");
			rc = LW_EXIT_FAIL;
			goto out;
		}
	}
	lw_cli_catch_signals();
	if (lw_cli_connect(g, LW_WAIT_BLOCK, &c) != LW_OK) {
		rc = LW_EXIT_FAIL;
		goto out;
	}
	for (uint64_t i = 1; i <= count && !lw_cli_stop; i++) {
		struct lw_pubmsg m = {
			.subject = subject, .reply = reply,
			.hdr = hdr.buf, .hdr_len = hdr.len,
			.data = buf ? buf : body,
		};
		int n;

		m.len = buf ? lw_cli_expand(buf, lw_cli_expand_room(body), body, i) : strlen(body);
		n = lw_publish_msg(c, &m);
		if (n < 0) {
			rc = lw_cli_fail("publish", n);
			break;
		}
		if (t.dmin < 0 || n < t.dmin)
			t.dmin = n;
		if (n > t.dmax)
			t.dmax = n;
		if (t.sent == 0 || m.len < t.bmin)
			t.bmin = m.len;
		if (m.len > t.bmax)
			t.bmax = m.len;
		t.deliveries += (uint64_t)n;
		t.sent++;
		if (sleep > 0 && i < count)
			sleep_ms(sleep);
	}
	lw_close(c);
	if (t.sent > 0)
		pub_report(subject, &t);
out:
	free(buf);
	lw_cli_hdr_free(&hdr);
	return rc;
}

/* --- sub and reply: the shared receive loop --------------------------- */

struct listen {
	const char *verb;	/* "sub" or "reply", for messages */
	const char *subject;
	const char *queue;
	enum lw_slow_policy policy;
	uint64_t count;		/* stop after this many handled; 0 = never */
	int timeout_ms;		/* fail when idle this long; 0 = never */
	bool raw, headers;
	/* reply only */
	const char *body;	/* NULL: echo the request */
	char *buf;		/* template expansion */
};

/* Answers one request: 1 answered (counts toward --count), 0 skipped (no
 * reply subject), -1 the connection is gone (error printed). */
static int answer(lw_conn *c, const lw_msg *m, struct listen *l, uint64_t n)
{
	const char *to = lw_msg_reply(m);
	struct lw_pubmsg r = { 0 };
	int rc;

	if (to == NULL || to[0] == '\0') {
		fprintf(stderr, "lw: reply: message on \"%s\" has no reply subject, ignored\n",
			lw_msg_subject(m));
		return 0;
	}
	r.subject = to;
	if (l->body == NULL) {
		/* Echo: headers too, as the nats CLI does. */
		r.hdr = lw_msg_headers(m, &r.hdr_len);
		r.data = lw_msg_data(m);
		r.len = lw_msg_len(m);
	} else if (l->buf != NULL) {
		r.data = l->buf;
		r.len = lw_cli_expand(l->buf, lw_cli_expand_room(l->body), l->body, n);
	} else {
		r.data = l->body;
		r.len = strlen(l->body);
	}
	rc = lw_publish_msg(c, &r);
	if (rc == LW_ECLOSED) {
		lw_cli_fail("reply", rc);
		return -1;
	}
	/* 0: the requester gave up and closed its inbox; nothing to say. */
	if (rc < 0)
		lw_cli_fail("reply", rc);
	return 1;
}

static int listen_loop(const struct lw_cli *g, struct listen *l, bool is_reply)
{
	struct lw_sub_opts so;
	uint64_t n = 0, idle_since;
	lw_conn *c;
	lw_sub *s;
	int rc;

	lw_cli_catch_signals();
	if (lw_cli_connect(g, LW_WAIT_BLOCK, &c) != LW_OK)
		return LW_EXIT_FAIL;
	lw_sub_opts_init(&so);
	so.queue = l->queue;
	so.policy = l->policy;
	rc = lw_subscribe(c, l->subject, &so, &s);
	if (rc != LW_OK) {
		lw_close(c);
		return lw_cli_fail("subscribe", rc);
	}
	if (is_reply)
		fprintf(stderr, "Listening on \"%s\"", l->subject);
	else
		fprintf(stderr, "Subscribing on %s", l->subject);
	if (l->queue != NULL)
		fprintf(stderr, " in group \"%s\"", l->queue);
	fputc('\n', stderr);

	rc = LW_EXIT_OK;
	idle_since = lw_cli_now_ns();
	uint64_t seen = 0;

	while (!lw_cli_stop && (l->count == 0 || n < l->count)) {
		int wait = LW_CLI_POLL_MS;
		lw_msg *m;
		int r;

		if (l->timeout_ms > 0) {
			uint64_t idle = (lw_cli_now_ns() - idle_since) / 1000000u;

			if (idle >= (uint64_t)l->timeout_ms) {
				fprintf(stderr, "lw: %s: %s: no message on \"%s\" within %d ms\n",
					l->verb, lw_strerror(LW_ETIMEDOUT), l->subject,
					l->timeout_ms);
				rc = LW_EXIT_FAIL;
				break;
			}
			if ((uint64_t)l->timeout_ms - idle < (uint64_t)wait)
				wait = (int)((uint64_t)l->timeout_ms - idle);
		}
		r = lw_next(s, &m, wait);
		if (r == LW_ETIMEDOUT || r == LW_EAGAIN)
			continue;
		if (r != LW_OK) {
			rc = lw_cli_fail("receive", r);
			break;
		}
		idle_since = lw_cli_now_ns();
		/* numbered as received: in reply mode a message without a
		 * reply subject is shown but not answered (not counted in n) */
		if (lw_cli_print_msg(m, ++seen, l->raw, l->headers) != 0) {
			lw_msg_free(m);
			break;	/* stdout closed: a reader like head(1) is done */
		}
		if (is_reply) {
			r = answer(c, m, l, n + 1);
			lw_msg_free(m);
			if (r < 0) {
				rc = LW_EXIT_FAIL;
				break;
			}
			n += (uint64_t)r;
		} else {
			lw_msg_free(m);
			n++;
		}
	}
	lw_unsubscribe(s);
	lw_close(c);
	return rc;
}

/* Options shared by sub and reply; returns LW_EXIT_OK, LW_EXIT_USAGE, or
 * -1 after printing help. */
static int listen_opts(const struct lw_cli *g, int argc, char **argv, struct listen *l,
		       const char *usage, bool is_reply)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'c' },
		{ "policy", required_argument, NULL, 'p' },
		{ "raw", no_argument, NULL, 'R' },
		{ "headers", no_argument, NULL, 'E' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "echo", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool echo = false;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, ":q:c:t:h", opts, NULL)) != -1) {
		switch (o) {
		case 'q':
			/* A queue name is one token of its own: not empty, no
			 * whitespace (NATS's rule); wildcards are fine. */
			if (*optarg == '\0' || strpbrk(optarg, " \t\r\n") != NULL)
				return lw_cli_usage_error(g, "--queue: '%s' is not a valid queue "
							  "group name (not empty, no spaces)", optarg);
			l->queue = optarg;
			break;
		case 'c':
			if (lw_cli_parse_u64(optarg, &l->count) != 0 || l->count == 0)
				return lw_cli_usage_error(g, "--count: '%s' is not a positive number",
							  optarg);
			break;
		case 'p':
			if (lw_cli_parse_policy(optarg, &l->policy) != 0)
				return lw_cli_usage_error(g, "--policy: '%s' is not block, "
							  "drop-oldest or drop-newest", optarg);
			break;
		case 'R':
			l->raw = true;
			break;
		case 'E':
			l->headers = true;
			break;
		case 't':
			if (lw_cli_parse_int(optarg, &l->timeout_ms) != 0)
				return lw_cli_usage_error(g, "--timeout-ms: '%s' is not a number",
							  optarg);
			break;
		case 'e':
			if (!is_reply)
				return lw_cli_usage_error(g, "unknown option '--echo'");
			echo = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return lw_cli_bad_option(g, o, argv);
		}
	}
	if (argc - optind < 1)
		return lw_cli_usage_error(g, "missing SUBJECT");
	if (argc - optind > (is_reply ? 2 : 1))
		return lw_cli_usage_error(g, "too many arguments");
	l->subject = argv[optind];
	l->body = NULL;
	if (is_reply && argc - optind == 2 && !echo)
		l->body = argv[optind + 1];
	return LW_EXIT_OK;
}

/* --- sub ------------------------------------------------------------- */

static const char sub_usage[] =
	"usage: lw sub [options] SUBJECT\n"
	"\n"
	"Subscribes to SUBJECT (wildcards: * one token, > the rest) and prints\n"
	"each message. \"Subscribing on SUBJECT\" goes to stderr once the\n"
	"subscription is active.\n"
	"\n"
	"Options:\n"
	"  -q, --queue NAME     join queue group NAME\n"
	"  -c, --count N        exit after N messages\n"
	"      --policy P       slow-consumer policy: block (default),\n"
	"                       drop-oldest, drop-newest\n"
	"      --raw            print only the payloads, one per line\n"
	"      --headers        print the headers of each message\n"
	"  -t, --timeout-ms N   fail (exit 1) when no message comes for N ms\n"
	"  -d, --domain NAME    domain (default $LW_DOMAIN, else \"default\")\n"
	"  -h, --help           show this help\n";

int lw_cmd_sub(const struct lw_cli *g, int argc, char **argv)
{
	struct listen l = { .verb = "sub", .policy = LW_SLOW_BLOCK };
	int rc = listen_opts(g, argc, argv, &l, sub_usage, false);

	if (rc != LW_EXIT_OK)
		return rc < 0 ? LW_EXIT_OK : rc;
	return listen_loop(g, &l, false);
}

/* --- reply ----------------------------------------------------------- */

static const char reply_usage[] =
	"usage: lw reply [options] SUBJECT [MSG]\n"
	"\n"
	"Answers requests on SUBJECT with MSG ({{Count}} is replaced by the\n"
	"request number), or with the request itself when MSG is omitted or\n"
	"--echo is given. \"Listening on \\\"SUBJECT\\\"\" goes to stderr once\n"
	"the subscription is active; each request is printed to stdout.\n"
	"\n"
	"Options:\n"
	"  -q, --queue NAME     join queue group NAME (share the load)\n"
	"  -c, --count N        exit after answering N requests\n"
	"      --echo           answer with the request's payload and headers\n"
	"      --raw            print only the request payloads\n"
	"      --headers        print the request headers\n"
	"  -t, --timeout-ms N   fail (exit 1) when no request comes for N ms\n"
	"  -d, --domain NAME    domain (default $LW_DOMAIN, else \"default\")\n"
	"  -h, --help           show this help\n";

int lw_cmd_reply(const struct lw_cli *g, int argc, char **argv)
{
	struct listen l = { .verb = "reply", .policy = LW_SLOW_BLOCK };
	int rc = listen_opts(g, argc, argv, &l, reply_usage, true);

	if (rc != LW_EXIT_OK)
		return rc < 0 ? LW_EXIT_OK : rc;
	if (l.body != NULL && lw_cli_has_template(l.body)) {
		l.buf = malloc(lw_cli_expand_room(l.body));
		if (l.buf == NULL) {
			fprintf(stderr, "lw: reply: out of memory\n");
			return LW_EXIT_FAIL;
		}
	}
	rc = listen_loop(g, &l, true);
	free(l.buf);
	return rc;
}

/* --- req ------------------------------------------------------------- */

static const char req_usage[] =
	"usage: lw req [options] SUBJECT [MSG]\n"
	"\n"
	"Sends MSG (empty when omitted) as a request and prints the first reply.\n"
	"\n"
	"Options:\n"
	"  -t, --timeout-ms N   wait at most N ms for the reply (default 2000)\n"
	"      --raw            print only the reply payload\n"
	"      --headers        print the reply headers\n"
	"  -d, --domain NAME    domain (default $LW_DOMAIN, else \"default\")\n"
	"  -h, --help           show this help\n";

/* Go-style durations, as the nats CLI prints its round-trip times. */
static void print_rtt(uint64_t ns)
{
	if (ns < 1000)
		fprintf(stderr, "Received with rtt %lluns\n", (unsigned long long)ns);
	else if (ns < 1000000)
		fprintf(stderr, "Received with rtt %.1fµs\n", (double)ns / 1e3);
	else if (ns < 1000000000)
		fprintf(stderr, "Received with rtt %.3fms\n", (double)ns / 1e6);
	else
		fprintf(stderr, "Received with rtt %.3fs\n", (double)ns / 1e9);
}

int lw_cmd_req(const struct lw_cli *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "raw", no_argument, NULL, 'R' },
		{ "headers", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *subject, *body = "";
	bool raw = false, headers = false;
	int timeout = 2000, o, rc;
	uint64_t t0, t1;
	lw_conn *c;
	lw_msg *m;

	opterr = 0;
	while ((o = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			if (lw_cli_parse_int(optarg, &timeout) != 0)
				return lw_cli_usage_error(g, "--timeout-ms: '%s' is not a number",
							  optarg);
			break;
		case 'R':
			raw = true;
			break;
		case 'E':
			headers = true;
			break;
		case 'h':
			fputs(req_usage, stdout);
			return LW_EXIT_OK;
		default:
			return lw_cli_bad_option(g, o, argv);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return lw_cli_usage_error(g, argc - optind < 1 ? "missing SUBJECT" :
					  "too many arguments (quote MSG if it has spaces)");
	subject = argv[optind];
	if (argc - optind == 2)
		body = argv[optind + 1];
	if (lw_cli_connect(g, LW_WAIT_BLOCK, &c) != LW_OK)
		return LW_EXIT_FAIL;
	t0 = lw_cli_now_ns();
	rc = lw_request(c, subject, body, strlen(body), timeout, &m);
	t1 = lw_cli_now_ns();
	if (rc != LW_OK) {
		lw_cli_fail("request", rc);
		lw_close(c);
		return LW_EXIT_FAIL;
	}
	if (!raw)
		print_rtt(t1 - t0);
	/* Same layout as lw sub --raw / the nats CLI: headers, then payload. */
	if (headers && !raw) {
		size_t hl;
		const char *h = lw_msg_headers(m, &hl);

		if (h != NULL) {
			lw_cli_print_headers(h, hl);
			putchar('\n');
		}
	}
	fwrite(lw_msg_data(m), 1, lw_msg_len(m), stdout);
	putchar('\n');
	lw_msg_free(m);
	lw_close(c);
	return fflush(stdout) == 0 ? LW_EXIT_OK : LW_EXIT_FAIL;
}
