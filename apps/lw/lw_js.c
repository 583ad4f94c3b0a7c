/* SPDX-License-Identifier: MIT */
/*
 * The client side of lw-control's JetStream API ($JS.API.*) that `lw
 * stream` and `lw consumer` share: one request/reply with the JSON error
 * of lw-control printed, the leading options and help of both commands,
 * and small jansson accessors. Requests go over the shared-memory domain
 * with lw_request (no TCP); a handful per command, so a fresh connection
 * for each is fine.
 */
#include <stdlib.h>
#include <string.h>

#include "lw_cli.h"

/* "stream 'S': " or "consumer 'C' of stream 'S': " from an API subject
 * (without $JS.API.), so that "stream not found" says which one; "" for
 * requests about no object (STREAM.LIST). */
static void api_object(const char *api_subj, char *out, size_t cap)
{
	char buf[LW_SUBJECT_MAX + 1], *tok[8];
	int n = 0;

	out[0] = '\0';
	snprintf(buf, sizeof(buf), "%s", api_subj);
	for (char *p = buf, *d; n < 8 && p != NULL; p = d ? d + 1 : NULL) {
		d = strchr(p, '.');
		if (d != NULL)
			*d = '\0';
		tok[n++] = p;
	}
	if (!strcmp(tok[0], "STREAM") && n >= 3 && strcmp(tok[1], "LIST") != 0 &&
	    strcmp(tok[1], "NAMES") != 0) {
		snprintf(out, cap, "stream '%s': ", tok[n - 1]);
	} else if (!strcmp(tok[0], "CONSUMER") && n >= 3) {
		/* CONSUMER.DURABLE.CREATE.S.C and CONSUMER.MSG.NEXT.S.C name
		 * the stream third; the other verbs second */
		int si = !strcmp(tok[1], "DURABLE") || !strcmp(tok[1], "MSG") ? 3 : 2;

		if (si + 1 < n)
			snprintf(out, cap, "consumer '%s' of stream '%s': ", tok[si + 1], tok[si]);
		else if (si < n)
			snprintf(out, cap, "stream '%s': ", tok[si]);
	}
}

json_t *lw_js_api(const struct lw_cli *g, const char *api_subj, json_t *body, int timeout_ms)
{
	char subj[LW_SUBJECT_MAX + 1];
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *resp = NULL, *err;
	json_error_t je;
	lw_conn *c;
	lw_msg *m;
	int rc;

	json_decref(body);
	snprintf(subj, sizeof(subj), "$JS.API.%s", api_subj);
	if (lw_cli_connect(g, LW_WAIT_BLOCK, &c) != LW_OK) {
		free(text);
		return NULL;
	}
	rc = lw_request(c, subj, text ? text : "", text ? strlen(text) : 0, timeout_ms, &m);
	free(text);
	if (rc == LW_ENORESPONDERS) {
		lw_js_no_control();
		lw_close(c);
		return NULL;
	}
	if (rc != LW_OK) {
		lw_cli_fail("request", rc);
		lw_close(c);
		return NULL;
	}
	resp = json_loadb(lw_msg_data(m), lw_msg_len(m), 0, &je);
	lw_msg_free(m);
	lw_close(c);
	if (resp == NULL) {
		fprintf(stderr, "lw: bad reply from lw-control: %s\n", je.text);
		return NULL;
	}
	err = json_object_get(resp, "error");
	if (err != NULL) {
		char what[2 * LW_SUBJECT_MAX + 40];

		api_object(api_subj, what, sizeof(what));
		fprintf(stderr, "lw: %s%s (error %lld)\n", what, lw_js_str(err, "description"),
			lw_js_int(err, "err_code"));
		/* nats-server's words for it suggest a flag rather than
		 * saying what is wrong with the subjects */
		if (strstr(lw_js_str(err, "description"), "overlap with jetstream api") != NULL)
			fprintf(stderr, "lw: (the subjects would capture $JS.API.> requests: "
				"'>' and '$JS.>' cannot be stream subjects)\n");
		json_decref(resp);
		return NULL;
	}
	return resp;
}

int lw_js_show(const struct lw_cli *g, const char *api_subj, json_t *body, int timeout_ms,
	       bool json_out, void (*print)(const json_t *doc), const char *done)
{
	json_t *r = lw_js_api(g, api_subj, body, timeout_ms);

	if (r == NULL)
		return LW_EXIT_FAIL;
	if (json_out)
		lw_js_print_json(r);
	else if (print != NULL)
		print(r);
	else
		printf("%s\n", done);
	json_decref(r);
	return LW_EXIT_OK;
}

void lw_js_no_control(void)
{
	fprintf(stderr, "lw: no lw-control serves this domain (start lw-control)\n");
}

int lw_js_args(const struct lw_cli *g, int *argc, char ***argv, const char *usage,
	       const char *commands, int *timeout_ms)
{
	char **av = *argv;
	int ac = *argc, k = 1;

	while (k < ac && av[k][0] == '-') {
		if (!strcmp(av[k], "-h") || !strcmp(av[k], "--help")) {
			fputs(usage, stdout);
			return LW_EXIT_OK;
		}
		if ((!strcmp(av[k], "-t") || !strcmp(av[k], "--timeout-ms")) && k + 1 < ac &&
		    lw_cli_parse_int(av[k + 1], timeout_ms) == 0) {
			k += 2;
			continue;
		}
		return lw_cli_usage_error(g, "unknown option '%s'", av[k]);
	}
	if (k >= ac)
		return lw_cli_usage_error(g, "missing command (%s)", commands);
	ac -= k;
	av += k;
	for (int i = 1; i < ac; i++) {
		if (!strcmp(av[i], "-h") || !strcmp(av[i], "--help")) {
			fputs(usage, stdout);
			return LW_EXIT_OK;
		}
		/* -t is taken after the command too ("lw stream ls -t 2000"),
		 * as -d is: no command has a -t of its own. */
		if (!strcmp(av[i], "-t") || !strcmp(av[i], "--timeout-ms")) {
			if (i + 1 >= ac || lw_cli_parse_int(av[i + 1], timeout_ms) != 0 ||
			    *timeout_ms <= 0)
				return lw_cli_usage_error(g, "%s: '%s' is not a positive number",
							  av[i], i + 1 < ac ? av[i + 1] : "");
			memmove(&av[i], &av[i + 2], (size_t)(ac - i - 2) * sizeof(*av));
			ac -= 2;
			i--;
		}
	}
	*argc = ac;
	*argv = av;
	return -1;
}

int lw_js_arity_error(const struct lw_cli *g, int argc, char **argv, int want, const char *usage)
{
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return lw_cli_usage_error(g, "unknown option '%s' (usage: %s)", argv[i], usage);
	if (argc > want)
		return lw_cli_usage_error(g, "unexpected argument '%s' (usage: %s)", argv[want],
					  usage);
	return lw_cli_usage_error(g, "%s", usage);
}

long long lw_js_int(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

const char *lw_js_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

void lw_js_print_json(const json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

bool lw_js_valid_name(const char *n)
{
	return *n != '\0' && strpbrk(n, ".*> \t\r\n") == NULL;
}

int lw_js_name_error(const struct lw_cli *g, const char *what, const char *n)
{
	return lw_cli_usage_error(g, "'%s' is not a valid %s name (not empty; no '.', '*', '>' "
				  "or spaces)", n, what);
}
