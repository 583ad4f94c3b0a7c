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

/** Delivery latency (publish -> the subscriber takes it) is measured on a
 *  sample: one message in LW_LAT_SAMPLE_EVERY per publishing connection
 *  travels by pool slot with its publish time, and every subscriber that
 *  takes it adds the difference to the domain's histogram. */
#define LW_LAT_SAMPLE_EVERY 1024
/** Buckets of that histogram: upper bounds in ns, then one with none. */
#define LW_LAT_BOUNDS_NS \
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, \
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000, \
	250000000, 500000000, 1000000000
#define LW_LAT_BUCKETS 22

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
	/** Sampled delivery latency: how many fell in each bucket (not
	 *  cumulative; the last has no upper bound), and their sum. */
	uint64_t lat_bucket[LW_LAT_BUCKETS];
	uint64_t lat_sum_ns;
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
