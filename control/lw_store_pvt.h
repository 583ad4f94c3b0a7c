/* SPDX-License-Identifier: MIT */
/*
 * Internals of the stream store shared by lw_store.c (recovery, write
 * path, removal) and lw_store_read.c (reads and index queries). Not for
 * use outside the store. The record layout is described in lw_store.c.
 */
#ifndef LW_STORE_PVT_H
#define LW_STORE_PVT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lw_store.h"

#define REC_MAGIC 0x3152574Cu /* "LWR1" */
#define REC_HDR 40u
#define REC_OVERHEAD (REC_HDR + 4u)
#define REC_MAX (64u << 20)
#define SEG_DEFAULT (16ull << 20)

enum { T_MSG = 1, T_DEL = 2, T_PURGE = 3 };
enum { E_LIVE = 1, E_LOST = 2, E_HDR = 4 /* the message has headers */ };

struct ent {
	uint64_t off;
	int64_t ts;
	uint8_t *mem;     /* memory store: the encoded record */
	uint32_t len;
	uint32_t seg;     /* index into segs (adjusted when the front goes) */
	uint32_t subj;    /* interned subject id */
	uint32_t flags;
};

struct seg {
	uint64_t first_seq;
	uint64_t size;
	uint64_t live;
	int fd;
};

struct subj {
	char *s;
	uint64_t live;
	uint32_t hash;
};

struct lw_store {
	struct lw_store_opts o;
	char *dir;
	/* index: ents[i] is seq base + i, for base <= seq <= last */
	struct ent *ents;
	size_t n_ents, cap_ents;
	uint64_t base, first, last;
	uint64_t floor;     /* highest first sequence any record declared */
	uint64_t msgs, bytes;
	/* time of the last message stored; kept when that message is
	 * removed, as nats-server's last_ts is (markers carry it) */
	int64_t last_ts;
	uint64_t kills;     /* messages removed so far (any reason) */
	/* segments, oldest first; the last is active */
	struct seg *segs;
	size_t n_segs, cap_segs;
	uint32_t seg_shift; /* segments deleted from the front so far */
	/* subject intern table (open addressing on ids) */
	struct subj *subjs;
	size_t n_subjs, cap_subjs;
	uint32_t *htab;
	size_t hcap;
	uint64_t live_subjects;
	uint64_t *lost;
	size_t n_lost, cap_lost;
	uint64_t lost_bytes;
	/* Records appended since the last lw_store_flush(), in file order at
	 * the end of the active segment (whose size already counts them):
	 * one write per batch instead of one per record. wfirst is the first
	 * message sequence among them (0: none). */
	uint8_t *wbuf;
	size_t wlen, wcap;
	uint64_t wfirst;
	uint64_t rolled_from; /* lowest sequence a failed flush took back (0: none) */
	/* Read-ahead for lw_store_get: one pread serves the records that
	 * follow (a consumer catching up reads in sequence). Segment rseg
	 * (absolute id), file bytes [roff, roff + rlen); records there never
	 * change, rlen = 0 when empty. */
	uint8_t *rbuf;
	uint32_t rseg;
	uint64_t roff;
	size_t rlen;
	uint8_t *scratch;
	size_t scratch_cap;
	bool dirty;
};

static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* The size a message counts for in the stream's bytes and max_bytes:
 * nats-server's formulas rather than our record's 44 bytes of overhead,
 * so that a max_bytes limit holds the same messages on both servers.
 * File store: record length 4, sequence 8, time 8, subject length 2,
 * hash 8, and 4 for the header length when there are headers, plus
 * subject, headers and data. Memory store: 16 plus subject, headers and
 * data. */
static inline uint64_t lw_store_acct(bool mem, size_t subj_len, size_t hdr_len, size_t data_len)
{
	if (mem)
		return 16 + subj_len + hdr_len + data_len;
	return 30 + subj_len + data_len + (hdr_len > 0 ? 4 + hdr_len : 0);
}

static inline uint64_t ent_acct(const lw_store *s, const struct ent *e)
{
	if (s->o.kind == LW_STORE_MEMORY)
		return e->len - REC_OVERHEAD + 16;
	return e->len - REC_OVERHEAD + 30 + ((e->flags & E_HDR) ? 4 : 0);
}

static inline struct ent *ent_of(lw_store *s, uint64_t seq)
{
	if (seq < s->base || seq > s->last || seq - s->base >= s->n_ents)
		return NULL;
	return &s->ents[seq - s->base];
}

static inline struct seg *seg_of(lw_store *s, const struct ent *e)
{
	return &s->segs[e->seg - s->seg_shift];
}

/* True when @p b (of @p avail bytes) starts with a complete valid record. */
bool lw_store_rec_valid(const uint8_t *b, size_t avail, uint32_t *len_out);
/* Points @p r into the valid record @p b. */
void lw_store_decode(const uint8_t *b, uint32_t len, struct lw_store_rec *r);
/* Id of subject @p subj (length @p n), interned when @p add; -1 absent. */
int64_t lw_store_subj_id(lw_store *s, const char *subj, size_t n, bool add);

/* Shared by lw_store.c (open, recovery, index) and lw_store_write.c. */
void lw_store_ent_kill(lw_store *s, uint64_t seq, struct ent *e);
void lw_store_advance_first(lw_store *s);
uint64_t lw_store_kill_below(lw_store *s, uint64_t keep_from);
void lw_store_segs_trim(lw_store *s);
int lw_store_scratch_fit(lw_store *s, size_t n);
size_t lw_store_encode(uint8_t *b, int type, uint64_t seq, int64_t ts, uint64_t first,
		       const char *subj, size_t subj_len, const void *hdr, size_t hdr_len,
		       const void *data, size_t data_len);
int lw_store_apply(lw_store *s, const uint8_t *b, uint32_t len, uint32_t seg, uint64_t off);
int lw_store_seg_create(lw_store *s, uint64_t first);

#endif
