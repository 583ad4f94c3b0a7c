/* SPDX-License-Identifier: MIT */
/*
 * lw stats: the figures of a domain, read straight from shared memory
 * through lw_stats() and lw_stats_subs(). Counters are snapshots taken one
 * after another, not a consistent cut, so "delivered" may run ahead of
 * "published" by a message or two on a busy domain.
 *
 * --json prints one object for scripts; it is written by hand (the
 * strings to escape are names and subjects, and a JSON library would be
 * the tool's only dependency).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "lw_cli.h"

static const char stats_usage[] =
	"usage: lw stats [options]\n"
	"\n"
	"Shows the figures of a domain: daemon, limits, message counters, pool\n"
	"occupancy and clean-up counters. The lw client itself is counted.\n"
	"\n"
	"Options:\n"
	"      --subs           list every subscription too\n"
	"      --json           print one JSON object instead of text\n"
	"  -d, --domain NAME    domain (default $LW_DOMAIN, else \"default\")\n"
	"  -h, --help           show this help\n";

static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			/* Bytes >= 0x80 pass through: subjects are UTF-8. */
			if (*p < 0x20)
				printf("\\u%04x", *p);
			else
				putchar(*p);
		}
	}
	putchar('"');
}

static void json_stats(const struct lw_domain_stats *d, const struct lw_sub_info *subs,
		       int nsubs, bool with_subs)
{
	uint32_t nc = d->nclasses < LW_STATS_CLASSES ? d->nclasses : LW_STATS_CLASSES;

	fputs("{\"name\":", stdout);
	json_str(d->name);
	fputs(",\"path\":", stdout);
	json_str(d->path);
	printf(",\"daemon_pid\":%d,\"abi_version\":%u,\"size_bytes\":%llu", d->daemon_pid,
	       d->abi_version, (unsigned long long)d->size_bytes);
	printf(",\"clients\":%u,\"max_clients\":%u,\"subs\":%u,\"max_subs\":%u", d->clients,
	       d->max_clients, d->subs, d->max_subs);
	printf(",\"ring_size\":%u,\"max_payload\":%u", d->ring_size, d->max_payload);
	printf(",\"published\":%llu,\"no_interest\":%llu,\"delivered\":%llu,\"dropped\":%llu",
	       (unsigned long long)d->published, (unsigned long long)d->no_interest,
	       (unsigned long long)d->delivered, (unsigned long long)d->dropped);
	printf(",\"pool_exhausted\":%llu,\"clients_reclaimed\":%llu,\"slots_reclaimed\":%llu",
	       (unsigned long long)d->pool_exhausted, (unsigned long long)d->clients_reclaimed,
	       (unsigned long long)d->slots_reclaimed);
	{
		static const uint64_t bounds[] = { LW_LAT_BOUNDS_NS };

		/* the sampled delivery latency: bucket upper bounds (the last
		 * has none) and counts, as /metrics shows them */
		fputs(",\"latency\":{\"sample_every\":", stdout);
		printf("%d,\"sum_ns\":%llu,\"buckets\":[", LW_LAT_SAMPLE_EVERY,
		       (unsigned long long)d->lat_sum_ns);
		for (int b = 0; b < LW_LAT_BUCKETS; b++) {
			if (b < LW_LAT_BUCKETS - 1)
				printf("%s{\"le_ns\":%llu,", b ? "," : "",
				       (unsigned long long)bounds[b]);
			else
				fputs(",{\"le_ns\":null,", stdout);
			printf("\"count\":%llu}", (unsigned long long)d->lat_bucket[b]);
		}
		fputs("]}", stdout);
	}
	fputs(",\"pool\":[", stdout);
	for (uint32_t k = 0; k < nc; k++)
		printf("%s{\"class\":%u,\"slot_bytes\":%u,\"free\":%u,\"total\":%u}",
		       k ? "," : "", k, d->cls[k].slot_bytes, d->cls[k].free, d->cls[k].total);
	putchar(']');
	if (with_subs) {
		fputs(",\"subscriptions\":[", stdout);
		for (int i = 0; i < nsubs; i++) {
			const struct lw_sub_info *s = &subs[i];

			printf("%s{\"index\":%u,\"subject\":", i ? "," : "", s->index);
			json_str(s->subject);
			fputs(",\"queue\":", stdout);
			json_str(s->queue);
			fputs(",\"client\":", stdout);
			json_str(s->client);
			printf(",\"pid\":%d,\"policy\":\"%s\",\"delivered\":%llu,\"dropped\":%llu,"
			       "\"blocked\":%llu,\"depth\":%u,\"capacity\":%u}",
			       s->pid, lw_cli_policy_name(s->policy),
			       (unsigned long long)s->st.delivered, (unsigned long long)s->st.dropped,
			       (unsigned long long)s->st.blocked, s->st.depth, s->st.capacity);
		}
		putchar(']');
	}
	fputs("}\n", stdout);
}

static void human_size(char *buf, size_t n, uint64_t b)
{
	if (b >= 1ull << 30)
		snprintf(buf, n, "%.1f GiB", (double)b / (double)(1ull << 30));
	else if (b >= 1ull << 20)
		snprintf(buf, n, "%.1f MiB", (double)b / (double)(1ull << 20));
	else if (b >= 1ull << 10)
		snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
	else
		snprintf(buf, n, "%llu B", (unsigned long long)b);
}

static void text_subs(const struct lw_sub_info *subs, int nsubs)
{
	int sw = 7, qw = 5, cw = 6;

	printf("\nSubscriptions (%d)\n", nsubs);
	if (nsubs == 0)
		return;
	/* Column widths from the data: subjects run from "a" to 256 bytes. */
	for (int i = 0; i < nsubs; i++) {
		int l = (int)strlen(subs[i].subject);

		sw = l > sw ? l : sw;
		l = (int)strlen(subs[i].queue);
		qw = l > qw ? l : qw;
		l = (int)strlen(subs[i].client);
		cw = l > cw ? l : cw;
	}
	printf("  %5s  %-*s  %-*s  %-*s  %7s  %-11s  %12s  %10s  %10s  %s\n", "INDEX", sw,
	       "SUBJECT", qw, "QUEUE", cw, "CLIENT", "PID", "POLICY", "DELIVERED", "DROPPED",
	       "BLOCKED", "DEPTH");
	for (int i = 0; i < nsubs; i++) {
		const struct lw_sub_info *s = &subs[i];

		printf("  %5u  %-*s  %-*s  %-*s  %7d  %-11s  %12llu  %10llu  %10llu  %u/%u\n",
		       s->index, sw, s->subject, qw, s->queue[0] ? s->queue : "-", cw,
		       s->client, s->pid, lw_cli_policy_name(s->policy),
		       (unsigned long long)s->st.delivered, (unsigned long long)s->st.dropped,
		       (unsigned long long)s->st.blocked, s->st.depth, s->st.capacity);
	}
}

static void text_stats(const struct lw_domain_stats *d)
{
	uint32_t nc = d->nclasses < LW_STATS_CLASSES ? d->nclasses : LW_STATS_CLASSES;
	char sz[96];

	human_size(sz, sizeof(sz), d->size_bytes);
	printf("Domain \"%s\"\n", d->name);
	printf("  path:            %s\n", d->path);
	printf("  daemon pid:      %d\n", d->daemon_pid);
	printf("  abi version:     %u\n", d->abi_version);
	printf("  size:            %s (%llu bytes)\n", sz, (unsigned long long)d->size_bytes);
	printf("  clients:         %u / %u\n", d->clients, d->max_clients);
	printf("  subscriptions:   %u / %u\n", d->subs, d->max_subs);
	printf("  ring size:       %u messages\n", d->ring_size);
	printf("  max payload:     %u bytes\n", d->max_payload);
	printf("\nMessages\n");
	printf("  published:       %llu\n", (unsigned long long)d->published);
	printf("  no interest:     %llu\n", (unsigned long long)d->no_interest);
	printf("  delivered:       %llu  (live subscriptions)\n",
	       (unsigned long long)d->delivered);
	printf("  dropped:         %llu  (live subscriptions)\n", (unsigned long long)d->dropped);
	printf("  pool exhausted:  %llu\n", (unsigned long long)d->pool_exhausted);
	lw_cli_latency(sz, sizeof(sz), d);
	printf("  latency:         %s\n", sz);
	printf("\nPool\n");
	printf("  %5s  %10s  %10s  %10s  %6s\n", "CLASS", "SLOT", "FREE", "TOTAL", "USED");
	for (uint32_t k = 0; k < nc; k++) {
		uint32_t t = d->cls[k].total, f = d->cls[k].free;

		human_size(sz, sizeof(sz), d->cls[k].slot_bytes);
		printf("  %5u  %10s  %10u  %10u  %5.1f%%\n", k, sz, f, t,
		       t ? 100.0 * (double)(t - (f < t ? f : t)) / (double)t : 0.0);
	}
	printf("\nReclaimed from dead clients\n");
	printf("  clients:         %llu\n", (unsigned long long)d->clients_reclaimed);
	printf("  slots:           %llu\n", (unsigned long long)d->slots_reclaimed);
}

/* All live subscriptions; the table may grow between the two calls. */
static int fetch_subs(lw_conn *c, uint32_t hint, struct lw_sub_info **out, int *n)
{
	int max = hint > 0 ? (int)hint : 16;

	for (int tries = 0; tries < 4; tries++) {
		struct lw_sub_info *s = calloc((size_t)max, sizeof(*s));
		int got;

		if (s == NULL) {
			fprintf(stderr, "lw: stats: out of memory\n");
			return -1;
		}
		got = lw_stats_subs(c, s, max);
		if (got < 0) {
			free(s);
			lw_cli_fail("stats", got);
			return -1;
		}
		if (got <= max) {
			*out = s;
			*n = got;
			return 0;
		}
		free(s);
		max = got + 16;
	}
	fprintf(stderr, "lw: stats: subscription table keeps changing\n");
	return -1;
}

int lw_cmd_stats(const struct lw_cli *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "subs", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lw_domain_stats d;
	struct lw_sub_info *subs = NULL;
	bool with_subs = false, json = false;
	int nsubs = 0, o, rc;
	lw_conn *c;

	opterr = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			with_subs = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return LW_EXIT_OK;
		default:
			return lw_cli_bad_option(g, o, argv);
		}
	}
	if (optind < argc)
		return lw_cli_usage_error(g, "unexpected argument '%s'", argv[optind]);
	if (lw_cli_connect(g, LW_WAIT_BLOCK, &c) != LW_OK)
		return LW_EXIT_FAIL;
	rc = lw_stats(c, &d);
	if (rc != LW_OK) {
		lw_close(c);
		return lw_cli_fail("stats", rc);
	}
	if (with_subs && fetch_subs(c, d.subs + 8, &subs, &nsubs) != 0) {
		lw_close(c);
		return LW_EXIT_FAIL;
	}
	lw_close(c);
	if (json) {
		json_stats(&d, subs, nsubs, with_subs);
	} else {
		text_stats(&d);
		if (with_subs)
			text_subs(subs, nsubs);
	}
	free(subs);
	return fflush(stdout) == 0 ? LW_EXIT_OK : LW_EXIT_FAIL;
}
