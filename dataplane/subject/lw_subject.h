/* SPDX-License-Identifier: MIT */
/*
 * Subject validation and the shared-memory subscription tree.
 * Internal header (not installed): the client library and lwd use it.
 *
 * The tree lives in one caller-provided region that several processes map
 * at different addresses, so it holds offsets/indices only, never pointers.
 * There is exactly one writer at a time (lwd, under its own lock); readers
 * (publishers in any process) match lock-free under a sequence lock and must
 * survive reading a half-modified tree: every index they follow is bounds
 * checked and every loop is bounded, and the result is thrown away and the
 * match retried when the sequence changed.
 */
#ifndef LW_SUBJECT_H
#define LW_SUBJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lightwire/error.h>

/* How lw_subj_validate treats '*' and '>'. */
enum {
	LW_SUBJ_PUBLISH = 0,   /* refused anywhere */
	LW_SUBJ_SUBSCRIBE = 1, /* '*' as a whole token, '>' as the whole last one */
	LW_SUBJ_LITERAL = 2,   /* plain characters: a publish that routes them
				* as literal tokens (nats-server, non-pedantic) */
};

/* Validates a subject of @p len bytes; @p wildcards is one of LW_SUBJ_*.
 * Rules (NATS): 1..LW_SUBJECT_MAX bytes; tokens split by '.', none empty;
 * no whitespace (space, tab, CR, LF) and no NUL.
 * Returns LW_OK or LW_EBADSUBJECT with lw_errmsg() naming the byte offset
 * and reason. Hot path: no allocation, records the error only on failure. */
int lw_subj_validate(const char *s, size_t len, int wildcards);
/* Does a subscription on @p pat ('*', '>' as NATS) receive a message
 * published to the literal subject @p subj? Token by token, no tree: for
 * filters and listings, not the publish path. */
bool lw_subj_matches(const char *pat, const char *subj);

/* Queue group names: 1..LW_QUEUE_MAX bytes, no whitespace, no '.'-free
 * requirement (NATS allows dots), printable. LW_OK or LW_EBADSUBJECT. */
int lw_queue_validate(const char *q, size_t len);

typedef struct lw_stree lw_stree;

/* Bytes needed for a tree with room for @p max_subs subscriptions
 * (0 when max_subs is 0 or over 2^24). Capacity: max_subs * 8 + 64 trie
 * nodes (one per distinct pattern prefix) and max_subs * 2 + 64 chunks of
 * 56 bytes for the part of tokens beyond 32 bytes; about 900 bytes per
 * subscription in all, most of it untouched until used. */
size_t lw_stree_memsize(uint32_t max_subs);

/* Formats @p mem (of @p size bytes, 64-byte aligned) as an empty tree.
 * Returns the tree or NULL (size too small / bad args). */
lw_stree *lw_stree_init(void *mem, size_t size, uint32_t max_subs);

/* Reinterprets an already formatted region mapped in this process
 * (checks its magic and size). NULL when it is not a tree. The mapping
 * must be writable: matching bumps queue-group round-robin counters. */
lw_stree *lw_stree_attach(void *mem, size_t size);

/* Writer side (single writer; the caller serialises). Adds subscription
 * @p sub_id (< max_subs, unique) on @p subject (wildcards allowed) with
 * optional queue group @p queue (NULL or "" = none).
 * LW_OK, LW_EBADSUBJECT, LW_ENOMEM (no room), LW_EINVAL (id in use/out of range).
 * A failure leaves the tree unchanged. */
int lw_stree_insert(lw_stree *t, const char *subject, size_t len,
		    const char *queue, uint32_t sub_id);

/* Writer side. Removes @p sub_id; frees nodes/groups left empty so they can
 * be reused. LW_OK or LW_ENOTFOUND. */
int lw_stree_remove(lw_stree *t, uint32_t sub_id);

/* Writer side, before lw_stree_insert of @p sub_id: a queue group passes
 * over this member for messages published with origin @p origin (0 =
 * none), as nats-server passes over an echo-off publisher's own member. */
void lw_stree_set_noecho(lw_stree *t, uint32_t sub_id, uint32_t origin);

/* Any process: queue member @p sub_id is picked for at most @p n more
 * messages (UINT32_MAX - 1 at most), then passed over; lwd resets it (no
 * limit) when the id is given to a new subscription. */
void lw_stree_set_quota(lw_stree *t, uint32_t sub_id, uint32_t n);
/* lwd, before lw_stree_insert: no limit. */
void lw_stree_clear_quota(lw_stree *t, uint32_t sub_id);

/* Reader side, lock-free, any process. Writes into @p out the ids of every
 * subscription whose subject matches the literal @p subject (already
 * validated by the caller), each once, with exactly one member chosen
 * round-robin for each matching queue group (a group is identified by its
 * subscription subject + queue name, as in NATS). Returns the count, or
 * LW_ELIMIT when more than @p max_out would be returned.
 * Cost: proportional to the subject's tokens and to the matching entries,
 * not to the number of unrelated subscriptions (picking a queue-group
 * member walks that group's member list). Never blocks; retries
 * internally while a writer is active (spinning, then sched_yield).
 * Defensive errors: LW_EBADSUBJECT when len is 0 or over LW_SUBJECT_MAX,
 * LW_ECORRUPT when the tree is inconsistent while no writer is active
 * (damaged memory). */
int lw_stree_match(lw_stree *t, const char *subject, size_t len,
		   uint32_t *out, uint32_t max_out);

/* lw_stree_match() that also returns the tree sequence the result is
 * valid for and how many queue groups chose a member. While
 * lw_stree_seq() still returns that sequence the tree is unchanged, so a
 * result without queue groups may be reused for the same subject (a group
 * must rotate, so such a result may not). */
int lw_stree_match_seq(lw_stree *t, const char *subject, size_t len,
		       uint32_t *out, uint32_t max_out, uint64_t *seq, int *groups);
/* The same for a message of publisher @p origin (see lw_stree_set_noecho). */
int lw_stree_match_origin(lw_stree *t, const char *subject, size_t len, uint32_t *out,
			  uint32_t max_out, uint64_t *seq, int *groups, uint32_t origin);
/* What a publish to @p subject would reach now, with no side effect: the
 * plain entries and one member of each queue group (its head), without
 * turning the groups' rotation or using a member's quota. */
int lw_stree_interest(lw_stree *t, const char *subject, size_t len, uint32_t *out,
		      uint32_t max_out);
/* Inline: every publish reads it. The sequence word sits at a fixed
 * offset of the tree header (lw_stree_pvt.h asserts it). */
#define LW_STREE_SEQ_OFF 128
static inline uint64_t lw_stree_seq(const lw_stree *t)
{
	/* Acquire: pairs with the writer's release that ended a change. */
	return atomic_load_explicit((const _Atomic uint64_t *)(const void *)
				    ((const char *)t + LW_STREE_SEQ_OFF), memory_order_acquire);
}

/* Number of subscriptions in the tree (reader side, approximate while a
 * writer runs). */
uint32_t lw_stree_count(const lw_stree *t);

#endif
