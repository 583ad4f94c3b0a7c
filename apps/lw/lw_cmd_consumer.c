/* SPDX-License-Identifier: MIT */
/*
 * lw consumer add|ls|info|next|rm: the consumers of lw-control's streams,
 * driven through its JetStream API ($JS.API.CONSUMER.*) like lw stream
 * (lw_js.c), over the shared-memory domain. Errors print lw-control's
 * description and exit 1; a bad command line exits 2.
 *
 * `next` is a pull client: it subscribes to an inbox of its own, sends a
 * pull request (CONSUMER.MSG.NEXT, {"batch","expires"}) with that inbox as
 * reply subject and prints what arrives. Stored messages come under their
 * stream subject; lw-control's status messages (404 no messages, 408
 * request timeout, 409, 100 heartbeat) under the inbox itself, which is
 * how the two are told apart (as nats clients do). Each message is acked
 * with a request to its $JS.ACK reply subject, so the ack is known to be
 * applied before the command exits. Interactive use, a few messages at a
 * time: nothing here is tuned for rate.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lw_cli.h"

static const char consumer_usage[] =
	"usage: lw consumer <command> [options]\n"
	"\n"
	"Consumers of the streams served by lw-control (see docs/streams.md).\n"
	"\n"
	"Commands:\n"
	"  add STREAM NAME [options]  create a durable consumer (pull unless --target)\n"
	"      --filter SUBJECT       only these subjects (repeatable or comma list)\n"
	"      --ack explicit|all|none             (default explicit)\n"
	"      --deliver all|last|new|last-per-subject|SEQ|TIME\n"
	"                             where to start (default all; TIME is RFC 3339,\n"
	"                             e.g. 2026-01-02T15:04:05Z)\n"
	"      --target SUBJECT       push consumer: deliver to SUBJECT\n"
	"      --ack-wait DUR (default 30s), --max-deliver N, --backoff DUR,DUR...,\n"
	"      --max-ack-pending N, --max-waiting N, --inactive-threshold DUR,\n"
	"      --description TEXT\n"
	"  ls STREAM                  consumers with pending, ack pending, delivered\n"
	"  info STREAM NAME [--json]  configuration and state\n"
	"  next STREAM NAME [-c, --count N] [--no-ack] [--wait DUR]\n"
	"                             pull N messages (default 1), waiting up to DUR\n"
	"                             (default 5s); each is acked unless --no-ack;\n"
	"                             exit 1 when none came\n"
	"  rm STREAM NAME             delete a consumer\n"
	"\n"
	"DUR is seconds or a duration such as 30s, 500ms, 1m30s.\n"
	"Options: -t, --timeout-ms N (default 5000), -d, --domain NAME, -h, --help\n";

/* A duration as Go prints it: "30s", "1m30s", "1h0m5s", "1.5s"; below a
 * second the largest of ms / us / ns that divides it ("250ms"). */
static const char *fmt_dur(long long ns, char *buf, size_t n)
{
	long long s = ns / 1000000000LL, frac = ns % 1000000000LL;
	int o = 0;

	if (ns < 1000000000LL) {
		if (ns > 0 && ns % 1000000LL == 0)
			snprintf(buf, n, "%lldms", ns / 1000000LL);
		else if (ns > 0 && ns % 1000LL == 0)
			snprintf(buf, n, "%lldus", ns / 1000LL);
		else
			snprintf(buf, n, "%lldns", ns);
		return buf;
	}
	if (s >= 3600)
		o += snprintf(buf + o, n - (size_t)o, "%lldh", s / 3600);
	if (s >= 60)
		o += snprintf(buf + o, n - (size_t)o, "%lldm", s / 60 % 60);
	o += snprintf(buf + o, n - (size_t)o, "%lld", s % 60);
	if (frac != 0) {
		int digits = 9;

		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		o += snprintf(buf + o, n - (size_t)o, ".%0*lld", digits, frac);
	}
	snprintf(buf + o, n - (size_t)o, "s");
	return buf;
}

/* Prints the strings of @p arr separated by ", ". */
static void print_list(const json_t *arr)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
}

static void print_info(const json_t *r)
{
	const json_t *cfg = json_object_get(r, "config");
	const json_t *dl = json_object_get(r, "delivered"), *af = json_object_get(r, "ack_floor");
	const char *dp = lw_js_str(cfg, "deliver_policy"), *ap = lw_js_str(cfg, "ack_policy");
	bool push = json_object_get(cfg, "deliver_subject") != NULL;
	json_t *bo = json_object_get(cfg, "backoff"), *v;
	char d[32];
	size_t i;

	printf("Consumer %s on stream %s (%s, %s)\n", lw_js_str(r, "name"),
	       lw_js_str(r, "stream_name"), push ? "push" : "pull",
	       json_object_get(cfg, "durable_name") ? "durable" : "ephemeral");
	if (*lw_js_str(cfg, "description"))
		printf("  description:  %s\n", lw_js_str(cfg, "description"));
	printf("  filter:       ");
	if (*lw_js_str(cfg, "filter_subject"))
		printf("%s", lw_js_str(cfg, "filter_subject"));
	else if (json_array_size(json_object_get(cfg, "filter_subjects")) > 0)
		print_list(json_object_get(cfg, "filter_subjects"));
	else
		printf("(all subjects)");
	printf("\n  deliver:      %s", dp);
	if (!strcmp(dp, "by_start_sequence"))
		printf(" %lld", lw_js_int(cfg, "opt_start_seq"));
	else if (!strcmp(dp, "by_start_time"))
		printf(" %s", lw_js_str(cfg, "opt_start_time"));
	if (push)
		printf(", to %s", lw_js_str(cfg, "deliver_subject"));
	printf("\n  ack:          %s", ap);
	if (strcmp(ap, "none") != 0)
		printf(", wait %s", fmt_dur(lw_js_int(cfg, "ack_wait"), d, sizeof(d)));
	if (lw_js_int(cfg, "max_deliver") > 0)
		printf(", max deliver %lld", lw_js_int(cfg, "max_deliver"));
	else
		printf(", max deliver unlimited");
	printf("\n");
	if (json_array_size(bo) > 0) {
		printf("  backoff:      ");
		json_array_foreach(bo, i, v)
			printf("%s%s", i ? ", " : "",
			       fmt_dur((long long)json_integer_value(v), d, sizeof(d)));
		printf("\n");
	}
	if (lw_js_int(cfg, "max_ack_pending") > 0 || lw_js_int(cfg, "max_waiting") > 0)
		printf("  limits:       max_ack_pending %lld, max_waiting %lld\n",
		       lw_js_int(cfg, "max_ack_pending"), lw_js_int(cfg, "max_waiting"));
	if (lw_js_int(cfg, "inactive_threshold") > 0)
		printf("  inactive:     %s\n",
		       fmt_dur(lw_js_int(cfg, "inactive_threshold"), d, sizeof(d)));
	printf("  created:      %s\n", lw_js_str(r, "created"));
	printf("  delivered:    stream seq %lld, consumer seq %lld\n", lw_js_int(dl, "stream_seq"),
	       lw_js_int(dl, "consumer_seq"));
	printf("  ack floor:    stream seq %lld, consumer seq %lld\n", lw_js_int(af, "stream_seq"),
	       lw_js_int(af, "consumer_seq"));
	printf("  state:        num_pending %lld, num_ack_pending %lld, num_redelivered %lld, "
	       "num_waiting %lld\n", lw_js_int(r, "num_pending"), lw_js_int(r, "num_ack_pending"),
	       lw_js_int(r, "num_redelivered"), lw_js_int(r, "num_waiting"));
}

/* --deliver: sets deliver_policy (and its start option); -1 when bad. */
static int set_deliver(json_t *cfg, const char *s)
{
	static const char *const plain[][2] = {
		{ "all", "all" }, { "last", "last" }, { "new", "new" },
		{ "last-per-subject", "last_per_subject" }, { "last_per_subject", "last_per_subject" },
	};
	int y, mo, dd, h, mi, sec, used = 0;
	const char *p;
	uint64_t seq;

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(s, plain[i][0])) {
			json_object_set_new(cfg, "deliver_policy", json_string(plain[i][1]));
			return 0;
		}
	if (lw_cli_parse_u64(s, &seq) == 0) {
		if (seq == 0 || seq > INT64_MAX)
			return -1;
		json_object_set_new(cfg, "deliver_policy", json_string("by_start_sequence"));
		json_object_set_new(cfg, "opt_start_seq", json_integer((json_int_t)seq));
		return 0;
	}
	/* RFC 3339, as lw-control reads it: date T time [.fraction] Z|+hh:mm. */
	if (strlen(s) < 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &dd, &h, &mi, &sec,
				     &used) != 6 || used != 19 || mo < 1 || mo > 12 || dd < 1 ||
	    dd > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") != 0 &&
	    !((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
	      sscanf(p + 1, "%2d:%2d", &h, &mi) == 2))
		return -1;
	json_object_set_new(cfg, "deliver_policy", json_string("by_start_time"));
	json_object_set_new(cfg, "opt_start_time", json_string(s));
	return 0;
}

/* Appends each comma-separated item of @p list to @p arr: as a string, or
 * as nanoseconds when @p durations. -1 on an empty item or a bad duration. */
static int append_list(json_t *arr, const char *list, bool durations)
{
	char *copy = strdup(list), *save = NULL;
	int rc = copy != NULL && *list != '\0' ? 0 : -1;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t != NULL && rc == 0;
	     t = strtok_r(NULL, ",", &save)) {
		uint64_t ns;

		if (!durations)
			json_array_append_new(arr, json_string(t));
		else if (lw_cli_parse_duration(t, &ns) == 0 && ns > 0)
			json_array_append_new(arr, json_integer((json_int_t)ns));
		else
			rc = -1;
	}
	free(copy);
	return rc;
}

/* One option of `add` into @p cfg; an exit code when it is bad, else -1. */
static int add_option(const struct lw_cli *g, json_t *cfg, int o, const char *arg, char **argv)
{
	static const char *const acks[] = { "explicit", "all", "none" };
	uint64_t v;

	switch (o) {
	case 'f':
		if (append_list(json_object_get(cfg, "filter_subjects"), arg, false) != 0)
			return lw_cli_usage_error(g, "--filter: empty subject in '%s'", arg);
		return -1;
	case 'a':
		for (size_t i = 0; i < sizeof(acks) / sizeof(acks[0]); i++)
			if (!strcmp(arg, acks[i])) {
				json_object_set_new(cfg, "ack_policy", json_string(arg));
				return -1;
			}
		return lw_cli_usage_error(g, "--ack: '%s' is not explicit, all or none", arg);
	case 'D':
		if (set_deliver(cfg, arg) != 0)
			return lw_cli_usage_error(g, "--deliver: '%s' is not all, last, new, "
						  "last-per-subject, a sequence or an RFC 3339 time",
						  arg);
		return -1;
	case 'T':
		if (!*arg || strpbrk(arg, "*> \t\r\n") != NULL)
			return lw_cli_usage_error(g, "--target: '%s' is not a literal subject", arg);
		json_object_set_new(cfg, "deliver_subject", json_string(arg));
		return -1;
	case 'W': case 'I':
		if (lw_cli_parse_duration(arg, &v) != 0 || (o == 'W' && v == 0))
			return lw_cli_usage_error(g, "%s: '%s' is not a %sduration",
						  o == 'W' ? "--ack-wait" : "--inactive-threshold",
						  arg, o == 'W' ? "positive " : "");
		json_object_set_new(cfg, o == 'W' ? "ack_wait" : "inactive_threshold",
				    json_integer((json_int_t)v));
		return -1;
	case 'B':
		if (append_list(json_object_get(cfg, "backoff"), arg, true) != 0)
			return lw_cli_usage_error(g, "--backoff: '%s' is not a list of positive "
						  "durations", arg);
		return -1;
	case 'm': case 'p': case 'w':
		if (lw_cli_parse_u64(arg, &v) != 0 || v == 0 || v > INT64_MAX)
			return lw_cli_usage_error(g, "--%s: '%s' is not a positive number",
						  o == 'm' ? "max-deliver" : o == 'p' ? "max-ack-pending" :
						  "max-waiting", arg);
		json_object_set_new(cfg, o == 'm' ? "max_deliver" : o == 'p' ? "max_ack_pending" :
				    "max_waiting", json_integer((json_int_t)v));
		return -1;
	case 'd':
		json_object_set_new(cfg, "description", json_string(arg));
		return -1;
	default:
		return lw_cli_bad_option(g, o, argv);
	}
}

static int cmd_add(const struct lw_cli *g, int argc, char **argv, int timeout)
{
	static const struct option opts[] = {
		{ "filter", required_argument, NULL, 'f' },
		{ "ack", required_argument, NULL, 'a' },
		{ "deliver", required_argument, NULL, 'D' },
		{ "target", required_argument, NULL, 'T' },
		{ "ack-wait", required_argument, NULL, 'W' },
		{ "max-deliver", required_argument, NULL, 'm' },
		{ "backoff", required_argument, NULL, 'B' },
		{ "max-ack-pending", required_argument, NULL, 'p' },
		{ "max-waiting", required_argument, NULL, 'w' },
		{ "inactive-threshold", required_argument, NULL, 'I' },
		{ "description", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *cfg = json_pack("{s:s, s:[], s:[]}", "ack_policy", "explicit", "filter_subjects",
				"backoff");
	json_t *filters;
	char api_subj[LW_SUBJECT_MAX + 1];
	int o, rc;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		rc = add_option(g, cfg, o, optarg, argv);
		if (rc >= 0) {
			json_decref(cfg);
			return rc;
		}
	}
	if (argc - optind != 2) {
		json_decref(cfg);
		return lw_cli_usage_error(g, "consumer add: STREAM NAME required");
	}
	for (int i = optind; i < argc; i++)
		if (!lw_js_valid_name(argv[i])) {
			json_decref(cfg);
			return lw_cli_usage_error(g, "consumer add: '%s' is not a valid name (no '.', "
						  "'*', '>' or spaces)", argv[i]);
		}
	/* One filter goes in filter_subject, as older servers expect. */
	filters = json_object_get(cfg, "filter_subjects");
	if (json_array_size(filters) == 1)
		json_object_set(cfg, "filter_subject", json_array_get(filters, 0));
	if (json_array_size(filters) <= 1)
		json_object_del(cfg, "filter_subjects");
	if (json_array_size(json_object_get(cfg, "backoff")) == 0)
		json_object_del(cfg, "backoff");
	json_object_set_new(cfg, "durable_name", json_string(argv[optind + 1]));
	snprintf(api_subj, sizeof(api_subj), "CONSUMER.CREATE.%s.%s", argv[optind],
		 argv[optind + 1]);
	/* action create: an existing consumer with another config is an error,
	 * not a silent update. */
	return lw_js_show(g, api_subj, json_pack("{s:s, s:o, s:s}", "stream_name", argv[optind],
						 "config", cfg, "action", "create"),
			  timeout, false, print_info, NULL);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(lw_js_str(*(json_t *const *)a, "name"), lw_js_str(*(json_t *const *)b, "name"));
}

static int cmd_ls(const struct lw_cli *g, const char *stream, int timeout)
{
	char api_subj[LW_SUBJECT_MAX + 1];
	json_t *all = json_array(), *v;
	json_t **sorted;
	size_t i, n;

	snprintf(api_subj, sizeof(api_subj), "CONSUMER.LIST.%s", stream);
	/* Pages of `limit` from `offset` until `total` (lw-control answers all
	 * in one page today). A page for another offset than asked means the
	 * server ignores offset: stop rather than list some twice. */
	for (;;) {
		size_t off = json_array_size(all);
		json_t *r = lw_js_api(g, api_subj, json_pack("{s:I}", "offset", (json_int_t)off),
				      timeout);
		json_t *page;
		bool more;

		if (r == NULL) {
			json_decref(all);
			return LW_EXIT_FAIL;
		}
		page = json_object_get(r, "consumers");
		if (lw_js_int(r, "offset") != (long long)off) {
			json_decref(r);
			break;
		}
		json_array_extend(all, page);
		more = json_array_size(page) > 0 &&
		       (long long)json_array_size(all) < lw_js_int(r, "total");
		json_decref(r);
		if (!more)
			break;
	}
	n = json_array_size(all);
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (sorted == NULL) {
		json_decref(all);
		fprintf(stderr, "lw: out of memory\n");
		return LW_EXIT_FAIL;
	}
	json_array_foreach(all, i, v)
		sorted[i] = v;
	qsort(sorted, n, sizeof(*sorted), by_name);
	printf("%-24s %12s %12s %14s  %s\n", "CONSUMER", "NUM PENDING", "ACK PENDING",
	       "DELIVERED SEQ", "TYPE");
	for (i = 0; i < n; i++) {
		const json_t *cfg = json_object_get(sorted[i], "config");

		printf("%-24s %12lld %12lld %14lld  %s\n", lw_js_str(sorted[i], "name"),
		       lw_js_int(sorted[i], "num_pending"), lw_js_int(sorted[i], "num_ack_pending"),
		       lw_js_int(json_object_get(sorted[i], "delivered"), "stream_seq"),
		       json_object_get(cfg, "deliver_subject") ? "push" : "pull");
	}
	free(sorted);
	json_decref(all);
	return LW_EXIT_OK;
}

/* --- next ---------------------------------------------------------------------------------- */

/* What a delivery's reply subject says about it. */
struct delivery {
	uint64_t delivered, sseq, cseq, pending;
	long long ts_ns;
};

/* $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>, or
 * the newer form with <domain>.<account hash> after ACK (and a token at
 * the end). False when @p reply is neither. */
static bool parse_ack_subject(const char *reply, struct delivery *d)
{
	char buf[LW_SUBJECT_MAX + 1], *save = NULL;
	const char *tok[16];
	size_t n = 0, b;

	if (reply == NULL || strncmp(reply, "$JS.ACK.", 8) != 0)
		return false;
	snprintf(buf, sizeof(buf), "%s", reply);
	for (char *t = strtok_r(buf, ".", &save); t != NULL && n < 16; t = strtok_r(NULL, ".", &save))
		tok[n++] = t;
	if (n == 9)
		b = 4;
	else if (n >= 11)
		b = 6;
	else
		return false;
	d->delivered = strtoull(tok[b], NULL, 10);
	d->sseq = strtoull(tok[b + 1], NULL, 10);
	d->cseq = strtoull(tok[b + 2], NULL, 10);
	d->ts_ns = strtoll(tok[b + 3], NULL, 10);
	d->pending = strtoull(tok[b + 4], NULL, 10);
	return true;
}

/* Prints one delivery: a header line, the message's headers, its data.
 * Returns 0, or -1 when stdout fails. */
static int print_delivery(const lw_msg *m, uint64_t n, const struct delivery *d)
{
	size_t hlen = 0;
	const void *h = lw_msg_headers(m, &hlen);
	time_t secs = (time_t)(d->ts_ns / 1000000000LL);
	char when[40] = "?";
	struct tm tm;

	if (gmtime_r(&secs, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("[#%llu] Received on \"%s\": stream seq %llu, delivered %llu, consumer seq %llu, "
	       "pending %llu, at %s.%09lldZ\n", (unsigned long long)n, lw_msg_subject(m),
	       (unsigned long long)d->sseq, (unsigned long long)d->delivered,
	       (unsigned long long)d->cseq, (unsigned long long)d->pending, when,
	       d->ts_ns % 1000000000LL);
	if (h != NULL) {
		lw_cli_print_headers(h, hlen);
		putchar('\n');
	}
	fwrite(lw_msg_data(m), 1, lw_msg_len(m), stdout);
	printf("\n\n");
	return fflush(stdout) != 0 || ferror(stdout) ? -1 : 0;
}

/* "NATS/1.0 409 Exceeded MaxWaiting" -> "409 Exceeded MaxWaiting". */
static void status_text(const lw_msg *m, char *buf, size_t n)
{
	size_t hlen = 0;
	const char *h = lw_msg_headers(m, &hlen);
	size_t len = 0;

	if (h == NULL || hlen <= 9 || memcmp(h, "NATS/1.0 ", 9) != 0) {
		snprintf(buf, n, "status %d", lw_msg_status(m));
		return;
	}
	while (9 + len < hlen && h[9 + len] != '\r' && h[9 + len] != '\n')
		len++;
	snprintf(buf, n, "%.*s", (int)len, h + 9);
}

struct pull {
	lw_conn *c;
	lw_sub *sub;
	char inbox[96];
	char next_subj[LW_SUBJECT_MAX + 1];
	uint64_t count, received;
	bool ack;		/* ack each message */
	int timeout;		/* for acks, ms */
	const char *end;	/* why it stopped early: a status text, or NULL */
	int code;		/* the status code that ended it, 0 when none */
	char status[96];
};

/* How long past the request's expiry to wait for lw-control's 408. */
#define PULL_GRACE_NS 2000000000ull

/*
 * Sends a pull request for @p batch messages expiring @p expires_ns from
 * now, and takes what answers it. Returns LW_EXIT_OK to go on (the batch
 * came in full), 1 (LW_EXIT_FAIL) after printing an error, or -1 when the
 * pull is over (a status, no answer by @p deadline, a signal).
 */
static int pull_batch(struct pull *p, uint64_t batch, uint64_t expires_ns, uint64_t deadline)
{
	char body[96];
	struct lw_pubmsg pm = { .subject = p->next_subj, .reply = p->inbox, .data = body };
	uint64_t got = 0;
	int rc;

	pm.len = (size_t)snprintf(body, sizeof(body), "{\"batch\":%llu,\"expires\":%llu}",
				  (unsigned long long)batch, (unsigned long long)expires_ns);
	rc = lw_publish_msg(p->c, &pm);
	if (rc == 0) {
		lw_js_no_control();
		return LW_EXIT_FAIL;
	}
	if (rc < 0)
		return lw_cli_fail("pull request", rc);
	while (got < batch) {
		struct delivery d;
		lw_msg *m;

		if (lw_cli_stop) {
			p->end = "interrupted";
			return -1;
		}
		if (lw_cli_now_ns() > deadline + PULL_GRACE_NS) {
			p->end = "no answer from lw-control";
			return -1;
		}
		rc = lw_next(p->sub, &m, LW_CLI_POLL_MS);
		if (rc == LW_ETIMEDOUT)
			continue;
		if (rc != LW_OK)
			return lw_cli_fail("receive", rc);
		if (strcmp(lw_msg_subject(m), p->inbox) == 0) {
			int code = lw_msg_status(m);

			status_text(m, p->status, sizeof(p->status));
			lw_msg_free(m);
			if (code == 100)	/* idle heartbeat */
				continue;
			p->code = code;
			p->end = p->status;
			return -1;
		}
		if (!parse_ack_subject(lw_msg_reply(m), &d))
			memset(&d, 0, sizeof(d));
		got++;
		p->received++;
		if (print_delivery(m, p->received, &d) != 0) {
			lw_msg_free(m);
			fprintf(stderr, "lw: cannot write to stdout\n");
			return LW_EXIT_FAIL;
		}
		if (p->ack && lw_msg_reply(m) != NULL) {
			lw_msg *r = NULL;

			/* As a request: lw-control answers once the ack is applied. */
			rc = lw_request(p->c, lw_msg_reply(m), "+ACK", 4, p->timeout, &r);
			lw_msg_free(r);
			if (rc != LW_OK) {
				lw_msg_free(m);
				return lw_cli_fail("ack", rc);
			}
		}
		lw_msg_free(m);
	}
	return LW_EXIT_OK;
}

static int cmd_next(const struct lw_cli *g, int argc, char **argv, int timeout)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "no-ack", no_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct pull p = { .count = 1, .ack = true, .timeout = timeout };
	uint64_t wait_ns = 5000000000ull, deadline, chunk;
	char api_subj[LW_SUBJECT_MAX + 1];
	struct lw_sub_opts so;
	struct lw_sub_stats ss;
	const json_t *cfg;
	json_t *info;
	int o, rc = LW_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":c:", opts, NULL)) != -1) {
		if (o == 'c' && (lw_cli_parse_u64(optarg, &p.count) != 0 || p.count == 0))
			return lw_cli_usage_error(g, "--count: '%s' is not a positive number", optarg);
		if (o == 'w' && (lw_cli_parse_duration(optarg, &wait_ns) != 0 || wait_ns == 0))
			return lw_cli_usage_error(g, "--wait: '%s' is not a positive duration", optarg);
		if (o == 'n')
			p.ack = false;
		else if (o != 'c' && o != 'w')
			return lw_cli_bad_option(g, o, argv);
	}
	if (argc - optind != 2 || !lw_js_valid_name(argv[optind]) || !lw_js_valid_name(argv[optind + 1]))
		return lw_cli_usage_error(g, "consumer next: STREAM NAME required");
	/* A pull request for a missing consumer only gets "404 No Messages":
	 * ask first, for a precise error and to refuse push consumers. */
	snprintf(api_subj, sizeof(api_subj), "CONSUMER.INFO.%s.%s", argv[optind],
		 argv[optind + 1]);
	info = lw_js_api(g, api_subj, NULL, timeout);
	if (info == NULL)
		return LW_EXIT_FAIL;
	cfg = json_object_get(info, "config");
	if (json_object_get(cfg, "deliver_subject") != NULL) {
		fprintf(stderr, "lw: consumer %s is a push consumer delivering to %s: "
			"use lw sub %s\n", argv[optind + 1], lw_js_str(cfg, "deliver_subject"),
			lw_js_str(cfg, "deliver_subject"));
		json_decref(info);
		return LW_EXIT_FAIL;
	}
	if (!strcmp(lw_js_str(cfg, "ack_policy"), "none"))
		p.ack = false;	/* nothing to ack */
	json_decref(info);

	lw_cli_catch_signals();
	if (lw_cli_connect(g, LW_WAIT_BLOCK, &p.c) != LW_OK)
		return LW_EXIT_FAIL;
	/* Five tokens: never under the connection's own request inbox
	 * (_INBOX.<id>.<id>.*), which the acks use. */
	snprintf(p.inbox, sizeof(p.inbox), "_INBOX.lw-consumer.%ld.%llx.next", (long)getpid(),
		 (unsigned long long)lw_cli_now_ns());
	snprintf(p.next_subj, sizeof(p.next_subj), "$JS.API.CONSUMER.MSG.NEXT.%s.%s",
		 argv[optind], argv[optind + 1]);
	lw_sub_opts_init(&so);
	rc = lw_subscribe(p.c, p.inbox, &so, &p.sub);
	if (rc != LW_OK) {
		lw_cli_fail("subscribe", rc);
		lw_close(p.c);
		return LW_EXIT_FAIL;
	}
	/* A batch never overfills the inbox: lw-control would block on it
	 * while this process waits for an ack reply from lw-control. */
	chunk = lw_sub_stats(p.sub, &ss) == LW_OK && ss.capacity >= 2 ? ss.capacity / 2 : 1;
	if (chunk > 256)
		chunk = 256;
	deadline = lw_cli_now_ns() + wait_ns;
	rc = LW_EXIT_OK;
	while (rc == LW_EXIT_OK && p.received < p.count) {
		uint64_t now = lw_cli_now_ns(), left = p.count - p.received;

		if (now >= deadline) {
			p.end = "wait over";
			break;
		}
		rc = pull_batch(&p, left < chunk ? left : chunk, deadline - now, deadline);
	}
	lw_unsubscribe(p.sub);
	lw_close(p.c);
	if (rc == LW_EXIT_FAIL)
		return LW_EXIT_FAIL;
	if (p.received == 0 && p.code != 0 && p.code != 404 && p.code != 408) {
		/* 409: too many pull requests waiting, or the like. */
		fprintf(stderr, "lw: consumer %s of %s refused the pull request: %s\n",
			argv[optind + 1], argv[optind], p.status);
		return LW_EXIT_FAIL;
	}
	if (p.received == 0) {
		fprintf(stderr, "lw: no messages from consumer %s of %s (%s)\n", argv[optind + 1],
			argv[optind], p.end ? p.end : "?");
		return LW_EXIT_FAIL;
	}
	fprintf(stderr, "Received %llu message(s)%s%s%s\n", (unsigned long long)p.received,
		p.ack ? ", acknowledged" : "", p.received < p.count ? "; stopped: " : "",
		p.received < p.count && p.end ? p.end : "");
	return LW_EXIT_OK;
}

int lw_cmd_consumer(const struct lw_cli *g, int argc, char **argv)
{
	char api_subj[LW_SUBJECT_MAX + 1], done[2 * LW_SUBJECT_MAX + 40];
	int timeout = 5000, k;
	bool info, json_out = false;
	const char *sub;

	k = lw_js_args(g, &argc, &argv, consumer_usage, "add, ls, info, next, rm", &timeout);
	if (k >= 0)
		return k;
	sub = argv[0];
	if (!strcmp(sub, "add"))
		return cmd_add(g, argc, argv, timeout);
	if (!strcmp(sub, "next"))
		return cmd_next(g, argc, argv, timeout);
	if (!strcmp(sub, "ls")) {
		if (argc != 2)
			return lw_js_arity_error(g, argc, argv, 2, "consumer ls STREAM");
		if (!lw_js_valid_name(argv[1]))
			return lw_cli_usage_error(g, "'%s': stream names cannot hold '.', '*', '>' "
						  "or spaces", argv[1]);
		return cmd_ls(g, argv[1], timeout);
	}
	if (strcmp(sub, "info") != 0 && strcmp(sub, "rm") != 0)
		return lw_cli_usage_error(g, "unknown consumer command '%s'", sub);
	info = !strcmp(sub, "info");
	if (argc == 4 && info && !strcmp(argv[3], "--json"))
		json_out = true;
	else if (argc != 3)
		return lw_js_arity_error(g, argc, argv, 3,
					 info ? "consumer info STREAM NAME [--json]" : "consumer rm STREAM NAME");
	if (!lw_js_valid_name(argv[1]) || !lw_js_valid_name(argv[2]))
		return lw_cli_usage_error(g, "'%s' / '%s': names cannot hold '.', '*', '>' or spaces",
					  argv[1], argv[2]);
	snprintf(api_subj, sizeof(api_subj), "CONSUMER.%s.%s.%s", info ? "INFO" : "DELETE",
		 argv[1], argv[2]);
	snprintf(done, sizeof(done), "Deleted consumer %s of stream %s", argv[2], argv[1]);
	return lw_js_show(g, api_subj, NULL, timeout, json_out, info ? print_info : NULL, done);
}
