/* SPDX-License-Identifier: MIT */
/*
 * lwd internals. lwd is the DPDK primary process that creates a domain and
 * serves its control requests; it is never on the publish path.
 */
#ifndef LWD_H
#define LWD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "lw_domain.h"
#include "lw_gw.h"

struct lwd_config {
	char domain[LW_NAME_MAX];
	char lcores[64];        /* EAL -l list; first is the main lcore */
	char hugepages[8];      /* auto | on | off */
	char eal_extra[256];    /* extra EAL arguments, space separated */
	uint32_t mem_mb;        /* EAL memory with --no-huge */
	uint32_t reap_ms;       /* dead-client scan period */
	int verbose;
	struct lw_dom_config dom;
	struct lw_gw_config gw;  /* NATS gateway (docs/nats.md) */
};

struct lwd {
	struct lwd_config cfg;
	struct lw_domain dom;
	int lock_fd;
	char lock_path[256];
	char dom_path[256];
	bool on_hugepages;
	int numa_node;
	uint32_t n_workers;

	/* Tree writes, subscription table and retire list: control requests
	 * are rare, so one mutex over all workers is enough. */
	pthread_mutex_t lock;
	uint32_t *sub_free;
	uint32_t n_sub_free;
	uint32_t *retired;
	uint32_t n_retired;
	uint64_t next_reap_ns;

	atomic_bool stop;
	struct lw_gw *gw;        /* NULL when nats_port is 0 */
};

/* Defaults of docs/configuration.md. */
void lwd_config_default(struct lwd_config *cfg);
/* Parses "key = value" lines; returns 0 or -1 with a message on stderr. */
int lwd_config_file(struct lwd_config *cfg, const char *path);
/* Applies one option by name; 0, or -1 with a message on stderr. */
int lwd_config_set(struct lwd_config *cfg, const char *key, const char *val);

/* Takes the domain lock, recovers a stale domain, creates and formats a
 * new one. 0, or a negative lw_status with a message on stderr. */
int lwd_domain_create(struct lwd *w);
/* Marks the domain shut down, wakes every client, removes the files. */
void lwd_domain_destroy(struct lwd *w);

/* Serves up to a bounded number of requests from control ring @p ring.
 * Returns the number served (the agent's work count). */
int lwd_ctl_do_work(struct lwd *w, uint32_t ring);
/* Reaps dead clients and frees retired subscriptions once no publisher
 * can still reach them. Returns work done. Worker 0 only. */
int lwd_reaper_do_work(struct lwd *w, uint64_t now_ns);
/* Retires subscription @p i (caller holds w->lock). */
void lwd_sub_retire(struct lwd *w, uint32_t i);
/* Reclaims everything client @p i holds (caller holds w->lock). */
void lwd_client_reclaim(struct lwd *w, uint32_t i, bool crashed);

/* Idle strategy of a worker: spin, then yield, then sleep on the doorbell. */
struct lwd_idle {
	uint32_t spin_max;
	uint32_t yield_max;
	int64_t sleep_ns;
	uint32_t idle;
};

void lwd_idle(struct lwd *w, struct lwd_idle *st, int work);

int lwd_log_level(void);
void lwd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define LWD_ERR 0
#define LWD_INFO 1
#define LWD_DEBUG 2

#endif
