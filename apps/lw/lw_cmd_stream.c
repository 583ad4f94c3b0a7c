/* SPDX-License-Identifier: MIT */
/*
 * lw stream add|ls|info|rm|purge|get|redrive: the persistent streams of
 * lw-control, driven through its JetStream API ($JS.API.STREAM.*, the
 * helpers of lw_js.c) with lw_request, so the CLI needs nothing but the
 * domain. Replies are JSON (jansson); errors
 * print lw-control's description and exit 1. "No responders" means no
 * lw-control serves the domain.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lw_cli.h"

static const char stream_usage[] =
	"usage: lw stream <command> [options]\n"
	"\n"
	"Persistent streams served by lw-control (see docs/streams.md).\n"
	"\n"
	"Commands:\n"
	"  add NAME [options]        create a stream\n"
	"      -s, --subjects LIST   comma-separated subjects (default NAME)\n"
	"      --storage file|memory, --retention limits|interest|workqueue,\n"
	"      --discard old|new, --max-msgs N, --max-bytes SIZE, --max-age DUR,\n"
	"      --max-msg-size SIZE, --max-msgs-per-subject N, --dupe-window DUR\n"
	"  ls                        list streams with their message counts\n"
	"  info NAME [--json]        configuration and state\n"
	"  rm NAME                   delete a stream and its messages\n"
	"  purge NAME [--subject F] [--keep N] [--seq N]\n"
	"                            remove messages (all, or below seq, or all\n"
	"                            but the last N, optionally for a subject)\n"
	"  get NAME SEQ | get NAME --last SUBJECT\n"
	"                            print one stored message\n"
	"  redrive NAME [SEQ]        move dead letters (stream DLQ_NAME) back into\n"
	"                            NAME: all, or the one at DLQ sequence SEQ\n"
	"\n"
	"DUR is seconds or a duration such as 1h, 1m30s, 500ms.\n"
	"Options: -t, --timeout-ms N (default 5000), -d, --domain NAME, -h, --help\n";

static void print_info(const json_t *r)
{
	const json_t *cfg = json_object_get(r, "config"), *st = json_object_get(r, "state");
	json_t *v;
	size_t i;

	printf("Stream %s\n", lw_js_str(cfg, "name"));
	printf("  subjects:     ");
	json_array_foreach(json_object_get(cfg, "subjects"), i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
	printf("\n  storage:      %s, retention %s, discard %s\n", lw_js_str(cfg, "storage"),
	       lw_js_str(cfg, "retention"), lw_js_str(cfg, "discard"));
	printf("  limits:       max_msgs %lld, max_bytes %lld, max_age %llds, "
	       "max_msg_size %lld, per subject %lld\n", lw_js_int(cfg, "max_msgs"),
	       lw_js_int(cfg, "max_bytes"), lw_js_int(cfg, "max_age") / 1000000000LL,
	       lw_js_int(cfg, "max_msg_size"), lw_js_int(cfg, "max_msgs_per_subject"));
	printf("  dupe window:  %llds\n", lw_js_int(cfg, "duplicate_window") / 1000000000LL);
	printf("  created:      %s\n", lw_js_str(r, "created"));
	printf("  messages:     %lld (%lld bytes), first %lld, last %lld, deleted %lld, "
	       "subjects %lld, consumers %lld\n", lw_js_int(st, "messages"),
	       lw_js_int(st, "bytes"), lw_js_int(st, "first_seq"), lw_js_int(st, "last_seq"),
	       lw_js_int(st, "num_deleted"), lw_js_int(st, "num_subjects"),
	       lw_js_int(st, "consumer_count"));
	/* Go's zero time, as nats-server sends it for "never": shown as such */
	printf("  first / last: %s / %s\n",
	       strncmp(lw_js_str(st, "first_ts"), "0001-", 5) ? lw_js_str(st, "first_ts") : "-",
	       strncmp(lw_js_str(st, "last_ts"), "0001-", 5) ? lw_js_str(st, "last_ts") : "-");
	if (json_object_get(st, "lost") != NULL)
		printf("  LOST:         %zu message(s), %lld bytes (corruption, see lw-control's log)\n",
		       json_array_size(json_object_get(json_object_get(st, "lost"), "msgs")),
		       lw_js_int(json_object_get(st, "lost"), "bytes"));
}

static size_t b64_decode(const char *in, unsigned char *out)
{
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (; *in && *in != '='; in++) {
		const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *p = strchr(tab, *in);

		if (p == NULL)
			continue;
		acc = (acc << 6) | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n;
}

/* The numeric options of `stream add`: config key and how to read it
 * (counts, sizes such as 64M, durations such as 24h). */
struct num_opt {
	int opt;
	const char *key, *what;
	int (*parse)(const char *, uint64_t *);
};

static const struct num_opt *num_opt(int o)
{
	static const struct num_opt t[] = {
		{ 'm', "max_msgs", "a number", lw_cli_parse_u64 },
		{ 'p', "max_msgs_per_subject", "a number", lw_cli_parse_u64 },
		{ 'a', "max_age", "a duration", lw_cli_parse_duration },
		{ 'w', "duplicate_window", "a duration", lw_cli_parse_duration },
		{ 'b', "max_bytes", "a size", lw_cli_parse_size },
		{ 'z', "max_msg_size", "a size", lw_cli_parse_size },
	};
	size_t i = 0;

	while (i < sizeof(t) / sizeof(t[0]) - 1 && t[i].opt != o)
		i++;
	return &t[i];
}

static int cmd_add(const struct lw_cli *g, int argc, char **argv, int timeout)
{
	static const struct option opts[] = {
		{ "subjects", required_argument, NULL, 's' },
		{ "storage", required_argument, NULL, 'S' },
		{ "retention", required_argument, NULL, 'R' },
		{ "discard", required_argument, NULL, 'D' },
		{ "max-msgs", required_argument, NULL, 'm' },
		{ "max-bytes", required_argument, NULL, 'b' },
		{ "max-age", required_argument, NULL, 'a' },
		{ "max-msg-size", required_argument, NULL, 'z' },
		{ "max-msgs-per-subject", required_argument, NULL, 'p' },
		{ "dupe-window", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *cfg = json_object(), *subjects = json_array();
	char api_subj[LW_SUBJECT_MAX];
	int o;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":s:", opts, NULL)) != -1) {
		uint64_t v;

		switch (o) {
		case 's': {
			char *list = strdup(optarg), *save = NULL;
			size_t before = json_array_size(subjects);

			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(subjects, json_string(t));
			free(list);
			if (json_array_size(subjects) == before) {
				json_decref(cfg);
				json_decref(subjects);
				return lw_cli_usage_error(g, "--subjects: '%s' names no subject", optarg);
			}
			break;
		}
		case 'S': case 'R': case 'D': {
			/* Checked here as the numbers are: a typo gets the
			 * usage exit (2) and the choices, not a server error. */
			static const struct {
				int opt;
				const char *key, *choices[4];
			} e[] = {
				{ 'S', "storage", { "file", "memory" } },
				{ 'R', "retention", { "limits", "interest", "workqueue" } },
				{ 'D', "discard", { "old", "new" } },
			};
			size_t i = 0, j = 0;

			while (e[i].opt != o)
				i++;
			while (e[i].choices[j] != NULL && strcmp(e[i].choices[j], optarg) != 0)
				j++;
			if (e[i].choices[j] == NULL) {
				json_decref(cfg);
				json_decref(subjects);
				return lw_cli_usage_error(g, "--%s: '%s' is not %s or %s%s%s", e[i].key,
							  optarg, e[i].choices[0], e[i].choices[1],
							  e[i].choices[2] ? " or " : "",
							  e[i].choices[2] ? e[i].choices[2] : "");
			}
			json_object_set_new(cfg, e[i].key, json_string(optarg));
			break;
		}
		case 'm': case 'p': case 'a': case 'w': case 'b': case 'z': {
			const struct num_opt *n = num_opt(o);

			if (n->parse(optarg, &v) != 0) {
				json_decref(cfg);
				json_decref(subjects);
				return lw_cli_usage_error(g, "'%s' is not %s", optarg, n->what);
			}
			json_object_set_new(cfg, n->key, json_integer((json_int_t)v));
			break;
		}
		default:
			json_decref(cfg);
			json_decref(subjects);
			return lw_cli_bad_option(g, o, argv);
		}
	}
	if (argc - optind != 1) {
		json_decref(cfg);
		json_decref(subjects);
		return lw_cli_usage_error(g, "stream add: NAME required");
	}
	if (!lw_js_valid_name(argv[optind])) {
		json_decref(cfg);
		json_decref(subjects);
		return lw_js_name_error(g, "stream", argv[optind]);
	}
	json_object_set_new(cfg, "name", json_string(argv[optind]));
	if (json_array_size(subjects) > 0)
		json_object_set_new(cfg, "subjects", subjects);
	else
		json_decref(subjects);
	snprintf(api_subj, sizeof(api_subj), "STREAM.CREATE.%s", argv[optind]);
	return lw_js_show(g, api_subj, cfg, timeout, false, print_info, NULL);
}

static int cmd_purge(const struct lw_cli *g, int argc, char **argv, int timeout)
{
	static const struct option opts[] = {
		{ "subject", required_argument, NULL, 's' },
		{ "keep", required_argument, NULL, 'k' },
		{ "seq", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *req = json_object(), *r;
	char api_subj[LW_SUBJECT_MAX];
	int o;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":s:", opts, NULL)) != -1) {
		uint64_t v;

		if (o == 's') {
			json_object_set_new(req, "filter", json_string(optarg));
		} else if ((o == 'k' || o == 'q') && lw_cli_parse_u64(optarg, &v) == 0) {
			json_object_set_new(req, o == 'k' ? "keep" : "seq", json_integer((json_int_t)v));
		} else {
			json_decref(req);
			return o == 'k' || o == 'q' ? lw_cli_usage_error(g, "--%s: '%s' is not a number",
									 o == 'k' ? "keep" : "seq", optarg)
						    : lw_cli_bad_option(g, o, argv);
		}
	}
	if (argc - optind != 1) {
		json_decref(req);
		return lw_cli_usage_error(g, "stream purge: NAME required");
	}
	if (!lw_js_valid_name(argv[optind])) {
		json_decref(req);
		return lw_js_name_error(g, "stream", argv[optind]);
	}
	snprintf(api_subj, sizeof(api_subj), "STREAM.PURGE.%s", argv[optind]);
	r = lw_js_api(g, api_subj, req, timeout);
	if (r == NULL)
		return LW_EXIT_FAIL;
	printf("Purged %lld message(s) from %s\n", lw_js_int(r, "purged"), argv[optind]);
	json_decref(r);
	return LW_EXIT_OK;
}

static int cmd_get(const struct lw_cli *g, int argc, char **argv, int timeout)
{
	char api_subj[LW_SUBJECT_MAX];
	json_t *req, *r, *msg;
	unsigned char *buf;
	const char *b64;
	uint64_t seq;
	size_t n;

	if (argc == 4 && strcmp(argv[2], "--last") == 0) {
		req = json_pack("{s:s}", "last_by_subj", argv[3]);
	} else if (argc == 3 && lw_cli_parse_u64(argv[2], &seq) == 0 && seq > 0) {
		req = json_pack("{s:I}", "seq", (json_int_t)seq);
	} else {
		return lw_cli_usage_error(g, "stream get NAME SEQ | stream get NAME --last SUBJECT");
	}
	snprintf(api_subj, sizeof(api_subj), "STREAM.MSG.GET.%s", argv[1]);
	r = lw_js_api(g, api_subj, req, timeout);
	if (r == NULL)
		return LW_EXIT_FAIL;
	msg = json_object_get(r, "message");
	printf("Message %lld on %s at %s\n", lw_js_int(msg, "seq"), lw_js_str(msg, "subject"),
	       lw_js_str(msg, "time"));
	b64 = lw_js_str(msg, "hdrs");
	buf = malloc(strlen(b64) + strlen(lw_js_str(msg, "data")) + 4);
	if (buf != NULL && *b64) {
		/* one header per line, as lw sub --headers shows them */
		n = b64_decode(b64, buf);
		lw_cli_print_headers((const char *)buf, n);
		fputc('\n', stdout); /* then the payload, as lw sub --headers */
	}
	if (buf != NULL) {
		n = b64_decode(lw_js_str(msg, "data"), buf);
		fwrite(buf, 1, n, stdout);
		fputc('\n', stdout);
	}
	free(buf);
	json_decref(r);
	return LW_EXIT_OK;
}

int lw_cmd_stream(const struct lw_cli *g, int argc, char **argv)
{
	int timeout = 5000;
	const char *sub;
	char api_subj[LW_SUBJECT_MAX];
	bool json_out = false;
	json_t *r;
	int k;

	k = lw_js_args(g, &argc, &argv, stream_usage, "add, ls, info, rm, purge, get, redrive",
		       &timeout);
	if (k >= 0)
		return k;
	sub = argv[0];
	/* NAME first after the command, for all but add and purge (after
	 * their options) and ls (none): checked before it becomes a token
	 * of an API subject ("A.B" would name stream B). */
	if (strcmp(sub, "add") && strcmp(sub, "purge") && strcmp(sub, "ls") && argc >= 2 &&
	    !lw_js_valid_name(argv[1]))
		return lw_js_name_error(g, "stream", argv[1]);
	if (!strcmp(sub, "add"))
		return cmd_add(g, argc, argv, timeout);
	if (!strcmp(sub, "purge"))
		return cmd_purge(g, argc, argv, timeout);
	if (!strcmp(sub, "get")) {
		if (argc < 3)
			return lw_js_arity_error(g, argc, argv, 3,
						 "stream get NAME SEQ | stream get NAME --last SUBJECT");
		return cmd_get(g, argc, argv, timeout);
	}
	if (!strcmp(sub, "redrive")) {
		uint64_t seq = 0;

		if (argc < 2 || argc > 3 || (argc == 3 && lw_cli_parse_u64(argv[2], &seq) != 0))
			return lw_js_arity_error(g, argc, argv, 3, "stream redrive NAME [SEQ]");
		snprintf(api_subj, sizeof(api_subj), "STREAM.REDRIVE.%s", argv[1]);
		r = lw_js_api(g, api_subj, seq ? json_pack("{s:I}", "seq", (json_int_t)seq) : NULL,
			      timeout);
		if (r == NULL)
			return LW_EXIT_FAIL;
		printf("Redriven %lld message(s) into %s\n", lw_js_int(r, "redriven"), argv[1]);
		json_decref(r);
		return LW_EXIT_OK;
	}
	if (!strcmp(sub, "ls")) {
		json_t *v;
		size_t i;

		if (argc != 1)
			return lw_js_arity_error(g, argc, argv, 1, "stream ls (no arguments)");
		r = lw_js_api(g, "STREAM.LIST", NULL, timeout);
		if (r == NULL)
			return LW_EXIT_FAIL;
		printf("%-24s %12s %14s %10s  %s\n", "STREAM", "MESSAGES", "BYTES", "LAST SEQ",
		       "SUBJECTS");
		json_array_foreach(json_object_get(r, "streams"), i, v) {
			const json_t *cfg = json_object_get(v, "config"), *st = json_object_get(v, "state");
			json_t *s;
			size_t j;

			printf("%-24s %12lld %14lld %10lld  ", lw_js_str(cfg, "name"),
			       lw_js_int(st, "messages"), lw_js_int(st, "bytes"),
			       lw_js_int(st, "last_seq"));
			json_array_foreach(json_object_get(cfg, "subjects"), j, s)
				printf("%s%s", j ? "," : "", json_string_value(s));
			printf("\n");
		}
		json_decref(r);
		return LW_EXIT_OK;
	}
	if (!strcmp(sub, "info") || !strcmp(sub, "rm")) {
		bool info = !strcmp(sub, "info");
		char done[LW_SUBJECT_MAX + 32];

		if (argc == 3 && info && !strcmp(argv[2], "--json"))
			json_out = true;
		else if (argc != 2)
			return lw_js_arity_error(g, argc, argv, 2,
						 info ? "stream info NAME [--json]" : "stream rm NAME");
		snprintf(api_subj, sizeof(api_subj), "STREAM.%s.%s", info ? "INFO" : "DELETE",
			 argv[1]);
		snprintf(done, sizeof(done), "Deleted stream %s", argv[1]);
		return lw_js_show(g, api_subj, NULL, timeout, json_out, info ? print_info : NULL,
				  done);
	}
	return lw_cli_usage_error(g, "unknown stream command '%s'", sub);
}
