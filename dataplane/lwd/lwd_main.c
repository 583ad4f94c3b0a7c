/* SPDX-License-Identifier: MIT */
/*
 * lwd: the Lightwire daemon. Starts the DPDK EAL as primary process,
 * creates the shared-memory domain and runs one control agent per worker
 * lcore until SIGINT/SIGTERM.
 *
 * Hugepages are optional: without free 2 MiB pages the EAL is started with
 * --no-huge --no-shconf (--in-memory is refused together with --no-huge)
 * and the domain goes to /dev/shm.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "lw_err.h"
#include "lwd.h"

static struct lwd g_lwd;
static int g_log_level = LWD_INFO;

int lwd_log_level(void)
{
	return g_log_level;
}

void lwd_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > g_log_level)
		return;
	fputs(level == LWD_ERR ? "lwd: error: " : "lwd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Bits 1 << signal number; lock-free atomics are async-signal-safe. */
static _Atomic unsigned long g_sig_note;

/* SIGHUP / SIGUSR1 (nats-server: reload, reopen log) do nothing here but
 * must not kill the domain: noted, logged by the worker loop. SIGUSR2 is
 * lame duck mode (lw_gw_lame_duck); without a gateway, a plain stop. */
static void on_other_signal(int sig)
{
	atomic_fetch_or(&g_sig_note, 1ul << sig);
	if (sig == SIGUSR2 && g_lwd.gw != NULL)
		lw_gw_lame_duck(g_lwd.gw);
	else if (sig == SIGUSR2)
		atomic_store(&g_lwd.stop, true);
	if (g_lwd.dom.hdr != NULL) {
		atomic_fetch_add(&g_lwd.dom.hdr->doorbell, 1);
		lw_futex_wake(&g_lwd.dom.hdr->doorbell, INT_MAX);
	}
}

static void lwd_signal_note(void)
{
	unsigned long sig = atomic_exchange(&g_sig_note, 0);

	if (sig & (1ul << SIGHUP))
		lwd_log(LWD_INFO, "SIGHUP: configuration reload is not supported (restart lwd to"
			" change options); ignored");
	if (sig & (1ul << SIGUSR1))
		lwd_log(LWD_INFO, "SIGUSR1: lwd logs to stderr, there is no log file to reopen;"
			" ignored");
	if ((sig & (1ul << SIGUSR2)) && g_lwd.gw == NULL)
		lwd_log(LWD_INFO, "SIGUSR2: lame duck without a NATS gateway: stopping");
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_lwd.stop, true);
	if (g_lwd.dom.hdr != NULL) {
		atomic_fetch_add(&g_lwd.dom.hdr->doorbell, 1);
		lw_futex_wake(&g_lwd.dom.hdr->doorbell, INT_MAX);
	}
}

void lwd_idle(struct lwd *w, struct lwd_idle *st, int work)
{
	struct lw_dom_hdr *h = w->dom.hdr;
	uint32_t bell;
	bool empty = true;

	if (work > 0) {
		st->idle = 0;
		return;
	}
	st->idle++;
	if (st->idle < st->spin_max) {
		__builtin_ia32_pause();
		return;
	}
	if (st->idle < st->spin_max + st->yield_max) {
		sched_yield();
		return;
	}
	/* Sleep: announce it, then re-check, so a client that enqueued just
	 * before sees lwd_sleeping (its fence pairs with this seq_cst add). */
	atomic_fetch_add_explicit(&h->lwd_sleeping, 1, memory_order_seq_cst);
	bell = atomic_load_explicit(&h->doorbell, memory_order_seq_cst);
	for (uint32_t i = 0; i < h->cfg.n_ctl; i++)
		if (rte_ring_count(lw_dom_ctl_ring(&w->dom, i)) != 0)
			empty = false;
	if (empty && !atomic_load(&w->stop))
		lw_futex_wait(&h->doorbell, bell, st->sleep_ns);
	atomic_fetch_sub_explicit(&h->lwd_sleeping, 1, memory_order_relaxed);
}

struct worker_arg {
	struct lwd *w;
	uint32_t id;
};

static int worker_main(void *p)
{
	struct worker_arg *a = p;
	struct lwd *w = a->w;
	/* Control traffic is rare: spin briefly, then sleep up to the reaper
	 * period so an idle lwd costs ~nothing (no core eaten). */
	struct lwd_idle idle = {
		.spin_max = 2000, .yield_max = 50,
		.sleep_ns = (int64_t)w->cfg.reap_ms * 1000000,
	};

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		int work = lwd_ctl_do_work(w, a->id);

		if (a->id == 0) {
			work += lwd_reaper_do_work(w, lw_now_ns());
			lwd_signal_note();
		}
		lwd_idle(w, &idle, work);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lwd [options]\n"
		"  -d, --domain NAME       domain name (default: $LW_DOMAIN or 'default')\n"
		"  -c, --config FILE       read 'key = value' options from FILE first\n"
		"  -l, --lcores LIST       EAL lcores, one control worker each (default: the CPU lwd starts on)\n"
		"      --hugepages MODE    auto|on|off: domain and EAL on 2 MiB pages (default auto)\n"
		"      --max-clients N     client connections (default 64)\n"
		"      --max-subs N        subscriptions (default 4096)\n"
		"      --ring-size N       messages queued per subscription, power of 2 (default 1024)\n"
		"      --held-max N        messages/loans one client may hold (default 1024)\n"
		"      --max-payload BYTES headers+data per message (default 1M)\n"
		"      --mem-mb N          EAL memory without hugepages (default 64)\n"
		"      --reap-ms N         dead-client scan period (default 50)\n"
		"      --eal 'ARGS'        extra DPDK EAL arguments\n"
		"      --log-level LEVEL   error|info|debug (default info)\n"
		"NATS gateway (docs/nats.md):\n"
		"      --nats-host ADDR    listen address (default 127.0.0.1)\n"
		"      --nats-port N       NATS client port, 0 = gateway off (default 4222)\n"
		"      --http-port N       monitoring port, 0 = off (default 8222)\n"
		"      --max-connections N TCP clients (default 65536)\n"
		"      --max-subscriptions N  SUBs one TCP client may hold (default: half of --max-subs)\n"
		"      --max-pending BYTES queued to one client before it is a slow consumer (default 64M)\n"
		"      --ping-interval-ms N server PING period (default 120000)\n"
		"      --max-pings-out N   unanswered PINGs before a stale connection (default 2)\n"
		"      --write-deadline-ms N  a client whose output makes no progress this long\n"
		"                          is cut off as a slow consumer (default 10000; 0: never)\n"
		"      --max-control-line BYTES longest protocol line (default 4096)\n"
		"      --auth-timeout-ms N CONNECT deadline when auth is required (default 2000)\n"
		"      --lame-duck-ms N    after SIGUSR2 (lame duck: no new clients), stop after N ms\n"
		"                          (default 120000)\n"
		"      --users FILE        user:password:publish:subscribe lines; enables auth\n"
		"      --tls-cert FILE     PEM certificate (chain); with --tls-key, clients must use TLS\n"
		"      --tls-key FILE      PEM private key of --tls-cert\n"
		"      --tls-ca FILE       PEM CA certificates for client certificates\n"
		"      --tls-verify        clients must present a certificate signed by --tls-ca\n"
		"      --tls-timeout-ms N  TLS handshake deadline (default 2000)\n"
		"  -h, --help\n"
		"Every option can also be given in the config file with '_' for '-'.\n"
		"See docs/configuration.md.\n");
}

static int build_eal_args(struct lwd *w, char **argv, int max, char *store, size_t storesz)
{
	int argc = 0;
	size_t used = 0;
	long free_pages = 0;
	FILE *f;

#define PUSH(s) do { \
		size_t l_ = strlen(s) + 1; \
		if (argc >= max - 1 || used + l_ > storesz) return -1; \
		memcpy(store + used, (s), l_); argv[argc++] = store + used; used += l_; \
	} while (0)
	char tmp[128];

	PUSH("lwd");
	PUSH("-l");
	if (w->cfg.lcores[0] == '\0') {
		int cpu = sched_getcpu();

		snprintf(tmp, sizeof(tmp), "%d", cpu < 0 ? 0 : cpu);
		PUSH(tmp);
	} else {
		PUSH(w->cfg.lcores);
	}
	PUSH("--no-pci");
	PUSH("--no-telemetry");
	snprintf(tmp, sizeof(tmp), "--file-prefix=lwd-%s", w->cfg.domain);
	PUSH(tmp);
	PUSH("--log-level=lib.eal:error");
	f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
	if (f != NULL) {
		if (fscanf(f, "%ld", &free_pages) != 1)
			free_pages = 0;
		fclose(f);
	}
	if (strcmp(w->cfg.hugepages, "off") != 0 && free_pages > 0) {
		PUSH("--in-memory");
	} else {
		PUSH("--no-huge");
		PUSH("--no-shconf");
		snprintf(tmp, sizeof(tmp), "%u", w->cfg.mem_mb);
		PUSH("-m");
		PUSH(tmp);
	}
	if (w->cfg.eal_extra[0] != '\0') {
		char buf[256];
		char *save = NULL;

		snprintf(buf, sizeof(buf), "%s", w->cfg.eal_extra);
		for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
			PUSH(t);
	}
#undef PUSH
	argv[argc] = NULL;
	return argc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "lcores", required_argument, NULL, 'l' },
		{ "hugepages", required_argument, NULL, 1 },
		{ "max-clients", required_argument, NULL, 1 },
		{ "max-subs", required_argument, NULL, 1 },
		{ "ring-size", required_argument, NULL, 1 },
		{ "held-max", required_argument, NULL, 1 },
		{ "max-payload", required_argument, NULL, 1 },
		{ "mem-mb", required_argument, NULL, 1 },
		{ "reap-ms", required_argument, NULL, 1 },
		{ "eal", required_argument, NULL, 1 },
		{ "log-level", required_argument, NULL, 1 },
		{ "nats-host", required_argument, NULL, 1 },
		{ "nats-port", required_argument, NULL, 1 },
		{ "http-port", required_argument, NULL, 1 },
		{ "max-connections", required_argument, NULL, 1 },
		{ "max-subscriptions", required_argument, NULL, 1 },
		{ "max-pending", required_argument, NULL, 1 },
		{ "ping-interval-ms", required_argument, NULL, 1 },
		{ "max-pings-out", required_argument, NULL, 1 },
		{ "write-deadline-ms", required_argument, NULL, 1 },
		{ "max-control-line", required_argument, NULL, 1 },
		{ "auth-timeout-ms", required_argument, NULL, 1 },
		{ "lame-duck-ms", required_argument, NULL, 1 },
		{ "users", required_argument, NULL, 1 },
		{ "tls-cert", required_argument, NULL, 1 },
		{ "tls-key", required_argument, NULL, 1 },
		{ "tls-ca", required_argument, NULL, 1 },
		{ "tls-verify", no_argument, NULL, 1 },
		{ "tls-timeout-ms", required_argument, NULL, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lwd *w = &g_lwd;
	struct worker_arg args[RTE_MAX_LCORE];
	char *eal_argv[64], eal_store[1024];
	unsigned int lcore;
	int eal_argc, c, idx, rc;

	lwd_config_default(&w->cfg);
	w->lock_fd = -1;
	/* The config file first, so flags override it wherever they stand. */
	for (int i = 1; i < argc - 1; i++)
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
			if (lwd_config_file(&w->cfg, argv[i + 1]) != 0)
				return 2;
	while ((c = getopt_long(argc, argv, "d:c:l:h", opts, &idx)) != -1) {
		char key[32];

		switch (c) {
		case 'd':
			if (lwd_config_set(&w->cfg, "domain", optarg))
				return 2;
			break;
		case 'c':
			break;
		case 'l':
			if (lwd_config_set(&w->cfg, "lcores", optarg))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 1:
			snprintf(key, sizeof(key), "%s", opts[idx].name);
			for (char *k = key; *k; k++)
				if (*k == '-')
					*k = '_';
			/* A flag without a value (--tls-verify) sets "true". */
			if (lwd_config_set(&w->cfg, key, optarg != NULL ? optarg : "true"))
				return 2;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lwd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	g_log_level = w->cfg.verbose;
	if (getenv("LW_DOMAIN") != NULL && strcmp(w->cfg.domain, LW_DOMAIN_DEFAULT) == 0) {
		const char *n;

		if (lw_dom_name(NULL, &n) == LW_OK)
			snprintf(w->cfg.domain, sizeof(w->cfg.domain), "%s", n);
	}
	/* Refuse a second lwd before touching the EAL. */
	if (lw_dom_daemon_alive(w->cfg.domain)) {
		w->n_workers = 1;
		rc = lwd_domain_create(w); /* prints who holds it */
		return rc == LW_EBUSY ? 3 : 2;
	}

	eal_argc = build_eal_args(w, eal_argv, 64, eal_store, sizeof(eal_store));
	if (eal_argc < 0) {
		lwd_log(LWD_ERR, "EAL arguments too long");
		return 2;
	}
	if (lwd_log_level() >= LWD_DEBUG) {
		fprintf(stderr, "lwd: EAL:");
		for (int i = 0; i < eal_argc; i++)
			fprintf(stderr, " %s", eal_argv[i]);
		fputc('\n', stderr);
	}
	bool eal_huge = true;

	for (int i = 0; i < eal_argc; i++)
		if (strcmp(eal_argv[i], "--no-huge") == 0)
			eal_huge = false;
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		/* The EAL cannot be initialised twice in one process: with
		 * hugepages=auto, start again without them (only when it did
		 * try them: a bad --lcores is not a hugepage problem). */
		if (eal_huge && strcmp(w->cfg.hugepages, "auto") == 0 &&
		    getenv("LWD_NO_HUGE_RETRY") == NULL) {
			char *nargv[argc + 3];

			lwd_log(LWD_INFO, "EAL failed with hugepages (%s): restarting without",
				rte_strerror(rte_errno));
			for (int i = 0; i < argc; i++)
				nargv[i] = argv[i];
			nargv[argc] = (char *)"--hugepages";
			nargv[argc + 1] = (char *)"off";
			nargv[argc + 2] = NULL;
			setenv("LWD_NO_HUGE_RETRY", "1", 1);
			execv("/proc/self/exe", nargv);
		}
		lwd_log(LWD_ERR, "DPDK EAL initialisation failed: %s (check --lcores '%s' and"
			" --eal '%s'; the EAL's own message is above)", rte_strerror(rte_errno),
			w->cfg.lcores, w->cfg.eal_extra);
		return 2;
	}
	w->n_workers = rte_lcore_count();
	if (w->n_workers > LW_CTL_RINGS_MAX)
		w->n_workers = LW_CTL_RINGS_MAX;
	pthread_mutex_init(&w->lock, NULL);
	rc = lwd_domain_create(w);
	if (rc != LW_OK) {
		lwd_domain_destroy(w);
		rte_eal_cleanup();
		return rc == LW_EBUSY ? 3 : 2;
	}
	w->sub_free = calloc(w->dom.hdr->cfg.max_subs, sizeof(uint32_t));
	w->retired = calloc(w->dom.hdr->cfg.max_subs, sizeof(uint32_t));
	if (w->sub_free == NULL || w->retired == NULL) {
		lwd_log(LWD_ERR, "out of memory");
		lwd_domain_destroy(w);
		return 2;
	}
	for (uint32_t i = w->dom.hdr->cfg.max_subs; i-- > 0;)
		w->sub_free[w->n_sub_free++] = i;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, on_other_signal);
	signal(SIGUSR1, on_other_signal);
	signal(SIGUSR2, on_other_signal);
	if (w->cfg.gw.port != 0) {
		/* Binds now, before "ready": a port in use stops lwd with a
		 * clear error, and a script waiting for "ready" never sees
		 * it from a daemon that is about to exit. */
		w->gw = lw_gw_start(&w->cfg.gw, w->cfg.domain);
		if (w->gw == NULL) {
			lwd_domain_destroy(w);
			rte_eal_cleanup();
			return 2;
		}
	}

	lwd_log(LWD_INFO, "domain '%s' ready: %s (%zu MiB on %s, NUMA node %d), %u worker lcore(s), "
		"max_payload %u, pid %d",
		w->cfg.domain, w->dom_path, w->dom.size >> 20,
		w->on_hugepages ? "hugepages" : "shared memory", w->numa_node, w->n_workers,
		w->dom.hdr->cfg.max_payload, (int)getpid());

	idx = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if ((uint32_t)++idx >= w->n_workers)
			break;
		args[idx] = (struct worker_arg){ .w = w, .id = (uint32_t)idx };
		rte_eal_remote_launch(worker_main, &args[idx], lcore);
	}
	args[0] = (struct worker_arg){ .w = w, .id = 0 };
	worker_main(&args[0]);
	rte_eal_mp_wait_lcore();

	/* The handlers touch the domain and the gateway, which go now: the
	 * operator signals do nothing any more, a second SIGTERM/SIGINT
	 * kills at once (what a second Ctrl-C is for). */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	lwd_log(LWD_INFO, "shutting down domain '%s'", w->cfg.domain);
	lwd_domain_destroy(w);
	/* After the domain is shut down: the gateway's unsubscribes then skip
	 * the control round trips no worker would answer any more. */
	{
		struct lw_gw *gw = w->gw;

		w->gw = NULL;
		lw_gw_stop(gw);
	}
	free(w->sub_free);
	free(w->retired);
	rte_eal_cleanup();
	return 0;
}
