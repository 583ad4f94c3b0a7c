/* SPDX-License-Identifier: MIT */
/*
 * Message store of one stream: an append-only log of records, each with a
 * sequence number, a timestamp, the subject, NATS headers, the data and a
 * CRC32C, kept either in segment files of a directory or in memory.
 *
 * Not thread safe: lw-control calls it under its state lock.
 *
 * Errors are negative errno values (-EIO, -ENOSPC, -ENOENT, -EBADMSG, ...);
 * lw_errmsg() holds the text of the last one.
 */
#ifndef LW_STORE_H
#define LW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_STORE_SUBJ_MAX 256

typedef struct lw_store lw_store;

enum lw_store_kind {
	LW_STORE_FILE = 0,
	LW_STORE_MEMORY = 1,
};

/** When an append reaches the disk. */
enum lw_store_sync {
	/** fdatasync before lw_store_append() returns: nothing acked is lost. */
	LW_SYNC_ALWAYS = 0,
	/** lw_store_sync() from a timer: a crash of the machine loses at most
	 *  the last interval (a crash of the process alone loses nothing). */
	LW_SYNC_INTERVAL = 1,
	/** Leave it to the kernel's writeback (~30 s on Linux). */
	LW_SYNC_NEVER = 2,
};

struct lw_store_opts {
	enum lw_store_kind kind;
	const char *dir;           /**< LW_STORE_FILE: segment directory (created) */
	enum lw_store_sync sync;
	uint64_t segment_bytes;    /**< roll to a new segment past this; 0 = 16 MiB */
};

/** What recovery found when a file store was opened. */
struct lw_store_recovery {
	uint64_t records;          /**< valid records read */
	uint64_t segments;         /**< segment files */
	uint64_t torn_bytes;       /**< bytes of a torn last record, truncated */
	uint64_t corrupt_records;  /**< bad records inside the log (skipped) */
	uint64_t corrupt_bytes;    /**< bytes skipped because of them */
};

struct lw_store_state {
	uint64_t msgs;
	uint64_t bytes;            /**< sum of lw_store_rec_size() of live messages */
	uint64_t first_seq;        /**< first live sequence (last_seq + 1 when empty) */
	uint64_t last_seq;         /**< last sequence ever assigned */
	int64_t first_ts;          /**< ns since the epoch, 0 when empty */
	int64_t last_ts;
	uint64_t num_deleted;      /**< holes between first_seq and last_seq */
	uint64_t num_subjects;     /**< distinct subjects of live messages */
	uint64_t lost_msgs;        /**< messages lost to corruption */
	uint64_t lost_bytes;
};

/** One message read back; owns a buffer, release with lw_store_rec_free(). */
struct lw_store_rec {
	uint64_t seq;
	int64_t ts;
	char subject[LW_STORE_SUBJ_MAX + 1];
	const void *hdr;
	size_t hdr_len;
	const void *data;
	size_t data_len;
	void *buf_;
};

/**
 * Opens (file: recovers) a store.
 * File recovery reads every segment: a torn last record of the last
 * segment is truncated away; a bad record elsewhere is skipped, counted in
 * @p rep and its sequence numbers reported by lw_store_lost(); the rest is
 * served.
 * @return the store, or NULL with errno set and lw_errmsg() saying why.
 */
lw_store *lw_store_open(const struct lw_store_opts *o, struct lw_store_recovery *rep);

/** Syncs (file) and frees. */
void lw_store_close(lw_store *s);

/** Closes and removes the store's files and directory. */
int lw_store_destroy(lw_store *s);

/**
 * Writes the records appended since the last flush (lw_store_append and
 * removal markers gather in memory: one write per batch). Until then they
 * are in the index but not in the file: lw_store_get of one flushes first,
 * and lw_store_sync / lw_store_sync_begin / lw_store_close flush. On a
 * failed write (disk full) the unwritten messages leave the index again:
 * last_seq goes back to lw_store_unflushed_from() - 1, and their
 * publishers must be told. @return 0 or -errno.
 */
int lw_store_flush(lw_store *s);
/** The lowest sequence a failed flush took back since the last call
 *  (0: none), whoever flushed; clears it. */
uint64_t lw_store_take_rollback(lw_store *s);
/** First message sequence not yet written by lw_store_flush (0: none). */
uint64_t lw_store_unflushed_from(const lw_store *s);

/** Bytes a message of these sizes counts in bytes and against max_bytes:
 *  nats-server's accounting (file: 30 + subject + data, + 4 + headers if
 *  any; memory: 16 + subject + headers + data), not our record's size. */
uint64_t lw_store_rec_size(const lw_store *s, size_t subj_len, size_t hdr_len, size_t data_len);

/**
 * Appends a message with the next sequence number.
 * @return the sequence (> 0); -EINVAL subject too long; -ENOSPC / -EIO
 *   the write or the sync failed (nothing was stored).
 */
int64_t lw_store_append(lw_store *s, const char *subject, const void *hdr, size_t hdr_len,
			const void *data, size_t data_len, int64_t ts);

/** Makes every append so far durable. @return 0; -EIO. */
int lw_store_sync(lw_store *s);

/**
 * For a sync outside the caller's lock: marks the store clean and returns
 * a duplicate of the active segment's descriptor to fdatasync and close,
 * or -1 when there is nothing to sync.
 */
int lw_store_sync_begin(lw_store *s);

/** True when appends since the last sync are not yet on disk. */
bool lw_store_dirty(const lw_store *s);

/**
 * Reads message @p seq.
 * @return 0; -ENOENT not stored (never, deleted, or lost); -EBADMSG the
 *   record no longer matches its CRC; -EIO.
 */
int lw_store_get(lw_store *s, uint64_t seq, struct lw_store_rec *out);
void lw_store_rec_free(struct lw_store_rec *r);

/**
 * First live sequence >= @p from whose subject matches @p filter (NULL or
 * "" = any; wildcards allowed). @return the sequence or 0 when none.
 */
uint64_t lw_store_next(lw_store *s, uint64_t from, const char *filter);

/** Last live sequence whose subject matches @p filter; 0 when none. */
uint64_t lw_store_last(lw_store *s, const char *filter);

/** Live messages >= @p from matching @p filter. */
uint64_t lw_store_count(lw_store *s, uint64_t from, const char *filter);

/** Subject of live message @p seq (NULL when not live). */
const char *lw_store_subject(lw_store *s, uint64_t seq);

/** Timestamp of live message @p seq (0 when not live). */
int64_t lw_store_ts(lw_store *s, uint64_t seq);

/** First live sequence with a timestamp >= @p ts (0 when none). */
uint64_t lw_store_seq_at_time(lw_store *s, int64_t ts);

/** Live messages with subject exactly @p subject. */
uint64_t lw_store_subject_msgs(lw_store *s, const char *subject);

/**
 * Removes one message. @p durable writes a delete marker so the removal
 * survives a restart; without it only a later append (which carries the
 * first sequence) or recovery rules (max_age) make it stick: limits use
 * that for the head of the log.
 * @return 0; -ENOENT not live; -EIO marker not written.
 */
int lw_store_remove(lw_store *s, uint64_t seq, bool durable);

/**
 * Removes every live message with sequence < @p keep_from (0 = all), or,
 * with @p filter, only those whose subject matches it. Durable.
 * @return messages removed, or -EIO.
 */
int64_t lw_store_purge(lw_store *s, uint64_t keep_from, const char *filter);

void lw_store_get_state(lw_store *s, struct lw_store_state *st);
/** Messages removed so far, for any reason: a count over a range of
 *  sequences stays true while this does not change. */
uint64_t lw_store_kills(const lw_store *s);

/** Sequences lost to corruption (sorted); *n receives the count. */
const uint64_t *lw_store_lost(const lw_store *s, size_t *n);

/** NATS subject match of a literal @p subj against @p pattern (* and >). */
bool lw_subject_matches(const char *pattern, const char *subj);

#endif
