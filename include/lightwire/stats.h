/* SPDX-License-Identifier: MIT */
/**
 * @file lightwire/stats.h
 * Read-only figures of a domain: what `lw stats` prints. Read straight
 * from shared memory, so cheap enough to poll; counters are monotonic
 * snapshots, not a consistent cut.
 */
#ifndef LIGHTWIRE_STATS_H
#define LIGHTWIRE_STATS_H

#include <stdint.h>

#include <lightwire/client.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LW_STATS_CLASSES 8

struct lw_domain_stats {
	char name[32];
	char path[128];          /**< domain file */
	int daemon_pid;
	uint32_t abi_version;
	uint64_t size_bytes;
	uint32_t clients, max_clients;
	uint32_t subs, max_subs;
	uint32_t ring_size;
	uint32_t max_payload;
	/** Messages published in the domain (live connections + closed ones).
	 *  Counted without a locked instruction: exact when each connection
	 *  publishes from one thread, may undercount when several threads
	 *  publish on one connection at the same moment. */
	uint64_t published;
	uint64_t no_interest;    /**< published with no subscriber */
	uint64_t delivered;      /**< sum over live subscriptions */
	uint64_t dropped;        /**< sum over live subscriptions */
	uint64_t pool_exhausted; /**< publishes refused for lack of slots */
	uint64_t clients_reclaimed; /**< dead clients cleaned up by lwd */
	uint64_t slots_reclaimed;   /**< slots given back for dead clients */
	uint32_t nclasses;
	struct {
		uint32_t slot_bytes;
		uint32_t total;
		uint32_t free;
	} cls[LW_STATS_CLASSES];
};

struct lw_sub_info {
	uint32_t index;
	char subject[LW_SUBJECT_MAX + 1];
	char queue[LW_QUEUE_MAX + 1];
	char client[32];
	int pid;
	enum lw_slow_policy policy;
	struct lw_sub_stats st;
};

/** @return LW_OK; LW_ECLOSED. */
int lw_stats(lw_conn *c, struct lw_domain_stats *out);

/**
 * Fills up to @p max entries, one per live subscription of the domain.
 * @return the number of live subscriptions (may exceed @p max); LW_ECLOSED.
 */
int lw_stats_subs(lw_conn *c, struct lw_sub_info *out, int max);

#ifdef __cplusplus
}
#endif
#endif
