/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory domain: one file (hugetlbfs or /dev/shm) that lwd
 * creates and every client maps, at whatever address the kernel picks. So
 * everything in it is found by offsets from the base, never by pointers.
 *
 *   +-----------------------+ 0
 *   | struct lw_dom_hdr     |  magic, ABI, size, config, offsets, epoch
 *   +-----------------------+ off_clients
 *   | lw_client_rec[max]    |  per client: liveness, EBR epoch, control
 *   |                       |  mailbox, wake-up futex, counters
 *   +-----------------------+ off_held
 *   | u32 held[max][held]   |  slots each client holds (for reclamation)
 *   +-----------------------+ off_subs
 *   | lw_sub_rec[max_subs]  |  per subscription: state, owner, policy
 *   +-----------------------+ off_rings
 *   | lw_mring[max_subs]    |  one message ring per subscription
 *   +-----------------------+ off_ctl
 *   | rte_ring[n_ctl]       |  control rings: client index doorbells
 *   +-----------------------+ off_tree
 *   | lw_stree              |  subject tree (seqlock, single writer: lwd)
 *   +-----------------------+ off_pool
 *   | pool classes          |  free rings + slots per size class
 *   +-----------------------+ size
 *
 * Internal header: liblightwire and lwd only.
 */
#ifndef LW_DOMAIN_H
#define LW_DOMAIN_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <lightwire/client.h>
#include <lightwire/stats.h>
#include "../ring/lw_ring.h"
#include "../ring/lw_mring.h"
#include "../subject/lw_subject.h"

#define LW_DOM_MAGIC 0x4c57444f4d41494eULL /* "LWDOMAIN" */
/* Bump on any change of a shared structure or of the layout rules. */
#define LW_ABI_VERSION 6u

#define LW_NAME_MAX 32
#define LW_POOL_CLASSES_MAX 8
#define LW_CTL_RINGS_MAX 8
#define LW_CTL_RING_SIZE 1024
#define LW_ERRTEXT_MAX 160
/* Room in front of a loaned payload for subject and reply. */
#define LW_META_ROOM (2 * (LW_SUBJECT_MAX + 1))
#define LW_LOAN_DATA_OFF ((LW_META_ROOM + 7u) & ~7u)

/* Slot ids: class in the top 8 bits, index in the low 24. */
#define LW_SLOT_CLASS_SHIFT 24
#define LW_SLOT_INDEX_MASK 0xffffffu
#define LW_SLOT_NONE 0u /* held-table "empty"; stored ids are +1 */

enum lw_dom_state {
	LW_DOM_INIT = 0,   /* lwd is still formatting it */
	LW_DOM_READY = 1,
	LW_DOM_SHUTDOWN = 2, /* lwd stopped cleanly */
	LW_DOM_DEAD = 3,   /* replaced by a new lwd after a crash */
};

/* Configuration fixed at creation; documented in docs/configuration.md. */
struct lw_dom_config {
	uint32_t max_clients;
	uint32_t max_subs;
	uint32_t ring_size;     /* cells per subscription ring */
	uint32_t held_max;      /* slots one client may hold at once */
	uint32_t max_payload;   /* headers + data */
	uint32_t n_ctl;         /* control rings = lwd worker lcores */
	uint32_t nclasses;
	uint32_t class_size[LW_POOL_CLASSES_MAX];  /* bytes of payload room */
	uint32_t class_count[LW_POOL_CLASSES_MAX];
};

struct lw_pool_class {
	uint32_t slot_bytes;   /* whole slot: header + room, 64-byte multiple */
	uint32_t room;         /* bytes after the header */
	uint32_t count;
	uint32_t pad;
	uint64_t off_free;     /* lw_ring of free slot ids */
	uint64_t off_slots;
};

struct lw_dom_hdr {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t hdr_size;
	uint64_t size;
	char name[LW_NAME_MAX];
	char path[128];
	_Atomic uint32_t state;
	int32_t daemon_pid;
	uint64_t created_ns;
	struct lw_dom_config cfg;

	uint64_t off_clients, off_held, off_subs, off_rings, ring_stride;
	uint64_t off_ctl, ctl_stride, off_tree, tree_size, off_pool;
	struct lw_pool_class cls[LW_POOL_CLASSES_MAX];

	/* lwd sleeps on this futex word when idle; clients bump it after
	 * posting a control request while lwd_sleeping is set. */
	alignas(64) _Atomic uint32_t doorbell;
	_Atomic uint32_t lwd_sleeping;
	/* Epoch-based reclamation of subscription slots: see lw_epoch_*. */
	alignas(64) _Atomic uint64_t epoch;
	/* Domain-wide counters (relaxed; lw stats). */
	alignas(64) _Atomic uint64_t msgs_published;
	_Atomic uint64_t msgs_no_interest;
	_Atomic uint64_t pool_exhausted;
	_Atomic uint64_t clients_reclaimed;
	_Atomic uint64_t slots_reclaimed;
	/* Publish -> take latency of sampled messages (lw_lat_*): counts per
	 * bucket of LW_LAT_BOUNDS_NS, and their sum. Written by receivers
	 * with relaxed adds, one message in LW_LAT_SAMPLE_EVERY. */
	alignas(64) _Atomic uint64_t lat_bucket[LW_LAT_BUCKETS];
	_Atomic uint64_t lat_sum_ns;
};

enum lw_client_state {
	LW_CLI_FREE = 0,
	LW_CLI_CLAIMED = 1,  /* a process took the slot, lwd not yet told */
	LW_CLI_ACTIVE = 2,
	LW_CLI_RECLAIM = 3,  /* lwd is cleaning up after it */
};

enum lw_ctl_op {
	LW_CTL_CONNECT = 1,
	LW_CTL_SUBSCRIBE = 2,
	LW_CTL_UNSUBSCRIBE = 3,
	LW_CTL_DISCONNECT = 4,
};

struct lw_ctl_req {
	uint32_t op;
	uint32_t sub;            /* UNSUBSCRIBE: index */
	uint32_t sub_gen;
	uint32_t policy;
	uint32_t noecho;         /* SUBSCRIBE: lw_sub_opts.no_echo_origin */
	char subject[LW_SUBJECT_MAX + 1];
	char queue[LW_QUEUE_MAX + 1];
};

struct lw_ctl_resp {
	int32_t status;
	uint32_t sub;
	uint32_t sub_gen;
	char err[LW_ERRTEXT_MAX];
};

struct lw_client_rec {
	/* Line 0: identity, written at connect/reclaim only. */
	alignas(64) _Atomic uint32_t state;
	int32_t pid;
	uint64_t start_time;   /* /proc/<pid>/stat field 22, pid-reuse guard */
	uint32_t gen;
	char name[LW_NAME_MAX];
	/* EBR: non-zero while the client is inside a publish (see lw_epoch). */
	alignas(64) _Atomic uint64_t epoch;
	/* Receivers of this client sleep on wake_seq when waiters > 0;
	 * sleep_seq is the newest wake_seq value one of them sleeps on, so
	 * only the first publisher after it pays the futex wake. */
	alignas(64) _Atomic uint32_t wake_seq;
	_Atomic uint32_t waiters;
	_Atomic uint32_t sleep_seq;
	/* Control mailbox: the client writes req then bumps req_seq; lwd
	 * answers in resp and sets resp_seq = req_seq (futex word). */
	alignas(64) _Atomic uint32_t req_seq;
	_Atomic uint32_t resp_seq;
	struct lw_ctl_req req;
	struct lw_ctl_resp resp;
	alignas(64) _Atomic uint64_t published;
};

enum lw_sub_state {
	LW_SUB_FREE = 0,
	LW_SUB_ACTIVE = 1,
	LW_SUB_CLOSING = 2,  /* out of the tree, waiting for a grace period */
};

struct lw_sub_rec {
	alignas(64) _Atomic uint32_t state;
	uint32_t gen;
	uint32_t owner;        /* client index */
	uint32_t policy;       /* enum lw_slow_policy */
	uint64_t retire_epoch; /* lwd-private while CLOSING */
	char subject[LW_SUBJECT_MAX + 1];
	char queue[LW_QUEUE_MAX + 1];
	/* Publishers bump these; apart from the read-mostly part. (Delivered
	 * is the ring's tail: every enqueue claims one position.) */
	alignas(64) _Atomic uint64_t dropped;
	_Atomic uint64_t blocked;
};

/* Header of a pool slot. Kept to 32 bytes so a small message's header,
 * subject and payload share one cache line with its reader. */
struct lw_slot {
	_Atomic uint32_t refcnt;
	uint32_t owner;        /* client that allocated it (diagnostics) */
	uint32_t data_len;
	uint16_t subj_len;
	uint16_t reply_len;
	uint32_t hdr_len;
	uint32_t data_off;     /* from bytes[]: packed, or LW_LOAN_DATA_OFF */
	uint32_t origin;       /* publisher's tag (struct lw_pubmsg) */
	/* Publish time of a sampled message (lw_lat_stamp), 0 for others:
	 * receivers add publish -> take to the domain's latency histogram. */
	uint32_t pub_ts;
	/* bytes: subject NUL reply NUL headers ... data at data_off */
	char bytes[];
};

static_assert(sizeof(struct lw_slot) == 32, "slot header is 32 bytes");

/* A mapped domain in this process. */
struct lw_domain {
	struct lw_dom_hdr *hdr;
	uint8_t *base;
	size_t size;
	int fd;
	lw_stree *tree;
};

static inline void *lw_dom_at(const struct lw_domain *d, uint64_t off)
{
	return d->base + off;
}

static inline struct lw_client_rec *lw_dom_client(const struct lw_domain *d, uint32_t i)
{
	return (struct lw_client_rec *)(d->base + d->hdr->off_clients) + i;
}

static inline _Atomic uint32_t *lw_dom_held(const struct lw_domain *d, uint32_t client)
{
	return (_Atomic uint32_t *)(d->base + d->hdr->off_held) +
	       (size_t)client * d->hdr->cfg.held_max;
}

static inline struct lw_sub_rec *lw_dom_sub(const struct lw_domain *d, uint32_t i)
{
	return (struct lw_sub_rec *)(d->base + d->hdr->off_subs) + i;
}

static inline struct lw_mring *lw_dom_sub_ring(const struct lw_domain *d, uint32_t i)
{
	return (struct lw_mring *)(d->base + d->hdr->off_rings + (uint64_t)i * d->hdr->ring_stride);
}

static inline void *lw_dom_ctl_ring(const struct lw_domain *d, uint32_t i)
{
	return d->base + d->hdr->off_ctl + (uint64_t)i * d->hdr->ctl_stride;
}

/* Fills @p cfg with the defaults of docs/configuration.md. */
void lw_dom_config_default(struct lw_dom_config *cfg);

/* Size and offsets of a domain with @p cfg; fills hdr's layout fields.
 * Returns the total size, or 0 with lw_errmsg() when cfg is invalid. */
size_t lw_dom_layout(const struct lw_dom_config *cfg, struct lw_dom_hdr *hdr);

/* Path of the lock file lwd holds for domain @p name (always in /dev/shm
 * or $LW_SHM_DIR): it also records where the domain file is. */
int lw_dom_lock_path(const char *name, char *buf, size_t bufsz);
/* Path of the lock file lw-control holds for domain @p name (its pid in
 * it): lightwire-<name>.control.lock beside the domain's own lock. */
int lw_dom_control_lock_path(const char *name, char *buf, size_t bufsz);

/* Domain name from @p name, else $LW_DOMAIN, else "default"; checks it. */
int lw_dom_name(const char *name, const char **out);

/* Client side: maps domain @p name read-write after checking magic, ABI,
 * size and that an lwd holds the lock.  LW_OK, LW_ENOTFOUND, LW_ENODAEMON,
 * LW_EABI, LW_ECORRUPT, LW_EIO. */
int lw_dom_attach(const char *name, struct lw_domain *d);
void lw_dom_detach(struct lw_domain *d);

/* Is the lwd of @p name alive (holds the lock)? 1 yes, 0 no. */
int lw_dom_daemon_alive(const char *name);

/* Start time of @p pid from /proc (0 when it does not exist). */
/* The start time of process @p pid (from /proc), 0 when it is gone or a
 * zombie, LW_PROC_UNKNOWN when /proc could not be read just now (out of
 * descriptors, say): that is no reason to think it dead. */
#define LW_PROC_UNKNOWN UINT64_MAX
uint64_t lw_proc_start_time(int pid);

/* Futex helpers on shared (non-private) words. */
int lw_futex_wait(_Atomic uint32_t *w, uint32_t expect, int64_t timeout_ns);
void lw_futex_wake(_Atomic uint32_t *w, int n);

uint64_t lw_now_ns(void);

/* A sampled message's publish time for lw_slot.pub_ts: CLOCK_MONOTONIC
 * in 16 ns units, 32 bits (wraps after 68 s; later takes are not
 * measured right), never 0 (0 means "not sampled"). */
static inline uint32_t lw_lat_stamp(void)
{
	uint32_t t = (uint32_t)(lw_now_ns() >> 4);

	return t != 0 ? t : 1;
}

/* Adds now - @p pub_ts to the domain's latency histogram. */
void lw_lat_record(struct lw_dom_hdr *h, uint32_t pub_ts);

#endif
