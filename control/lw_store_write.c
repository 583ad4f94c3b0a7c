/* SPDX-License-Identifier: MIT */
/*
 * The store's write path: appends gather in a write buffer and reach the
 * active segment with one write per lw_store_flush (a failed one takes its
 * messages back out of the index), removal and purge markers, syncs.
 * Opening, recovery and the index live in lw_store.c, reads in
 * lw_store_read.c. Not thread safe, like the rest of the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lw_err.h"
#include "lw_store_pvt.h"

/* Writes all of @p b at @p off; on failure cuts the file back to @p off. */
static int pwrite_all(lw_store *s, int fd, const uint8_t *b, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t k = pwrite(fd, b + done, len - done, (off_t)(off + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int rc = k < 0 ? -errno : -EIO;

			/* Leave no partial record behind. */
			if (ftruncate(fd, (off_t)off) != 0)
				(void)0;
			s->rlen = 0;
			return LW_SET_ERR(rc, "store %s: write: %s", s->dir, strerror(-rc));
		}
		done += (size_t)k;
	}
	return 0;
}

/*
 * A failed flush: the buffered messages never reached the file, so they
 * leave the index too (their sequences will be given again) and the
 * caller reports the failure to their publishers. Deletions buffered
 * with them stay done in memory; their messages come back at the next
 * open (nothing accepted is lost, a removal may be undone).
 */
static void unbuffer(lw_store *s)
{
	struct seg *g = &s->segs[s->n_segs - 1];

	g->size -= s->wlen;
	while (s->wfirst != 0 && s->n_ents > 0 && s->last >= s->wfirst) {
		struct ent *e = &s->ents[s->n_ents - 1];

		if (e->flags & E_LIVE) {
			if (--s->subjs[e->subj].live == 0)
				s->live_subjects--;
			s->msgs--;
			s->bytes -= ent_acct(s, e);
			g->live--;
			s->kills++;
		}
		s->n_ents--;
		s->last--;
	}
	if (s->msgs == 0)
		s->first = s->last + 1;
	if (s->wfirst != 0 && (s->rolled_from == 0 || s->wfirst < s->rolled_from))
		s->rolled_from = s->wfirst;
	s->wlen = 0;
	s->wfirst = 0;
}

uint64_t lw_store_take_rollback(lw_store *s)
{
	uint64_t q = s->rolled_from;

	s->rolled_from = 0;
	return q;
}

int lw_store_flush(lw_store *s)
{
	struct seg *g;
	int rc;

	if (s->wlen == 0)
		return 0;
	g = &s->segs[s->n_segs - 1];
	rc = pwrite_all(s, g->fd, s->wbuf, s->wlen, g->size - s->wlen);
	if (rc != 0) {
		unbuffer(s);
		return rc;
	}
	s->wlen = 0;
	s->wfirst = 0;
	s->dirty = true;
	return 0;
}

uint64_t lw_store_unflushed_from(const lw_store *s)
{
	return s->wfirst;
}

/* Small records gather in the write buffer up to this many bytes. */
#define WBUF_MAX (256 * 1024)

/* Appends an encoded record to the active segment (rolling when full):
 * buffered, unless the store syncs every record or the record is big. */
static int write_rec(lw_store *s, const uint8_t *b, size_t len, uint64_t seq, uint64_t *off,
		     uint32_t *seg)
{
	struct seg *g = &s->segs[s->n_segs - 1];
	int rc;

	if (g->size >= s->o.segment_bytes && b[8] == T_MSG) {
		if ((rc = lw_store_flush(s)) != 0)
			return rc;
		if (s->o.sync != LW_SYNC_NEVER)
			fdatasync(g->fd);
		if ((rc = lw_store_seg_create(s, seq)) != 0)
			return rc;
		g = &s->segs[s->n_segs - 1];
	}
	if (s->o.sync == LW_SYNC_ALWAYS || len > WBUF_MAX / 4) {
		if ((rc = lw_store_flush(s)) != 0 || (rc = pwrite_all(s, g->fd, b, len, g->size)) != 0)
			return rc;
		if (s->o.sync == LW_SYNC_ALWAYS && fdatasync(g->fd) != 0) {
			rc = -errno;
			if (ftruncate(g->fd, (off_t)g->size) != 0)
				(void)0;
			return LW_SET_ERR(rc, "store %s: fdatasync: %s", s->dir, strerror(-rc));
		}
		if (s->o.sync != LW_SYNC_ALWAYS)
			s->dirty = true;
	} else {
		if (s->wlen + len > WBUF_MAX && (rc = lw_store_flush(s)) != 0)
			return rc;
		if (s->wlen + len > s->wcap) {
			size_t nc = s->wcap ? s->wcap * 2 : 64 * 1024;
			uint8_t *nb;

			while (nc < s->wlen + len)
				nc *= 2;
			if ((nb = realloc(s->wbuf, nc)) == NULL)
				return -ENOMEM;
			s->wbuf = nb;
			s->wcap = nc;
		}
		memcpy(s->wbuf + s->wlen, b, len);
		s->wlen += len;
		if (s->wfirst == 0 && b[8] == T_MSG)
			s->wfirst = seq;
	}
	*off = g->size;
	*seg = (uint32_t)(s->n_segs - 1 + s->seg_shift);
	g->size += len;
	return 0;
}

int64_t lw_store_append(lw_store *s, const char *subject, const void *hdr, size_t hdr_len,
			const void *data, size_t data_len, int64_t ts)
{
	size_t sl = strlen(subject), len = REC_OVERHEAD + sl + hdr_len + data_len;
	uint64_t seq = s->last + 1, off = 0;
	uint32_t seg = 0;
	int rc;

	if (sl == 0 || sl > LW_STORE_SUBJ_MAX)
		return LW_SET_ERR(-EINVAL, "store: subject length %zu", sl);
	if (len > REC_MAX)
		return LW_SET_ERR(-EINVAL, "store: record of %zu bytes", len);
	if ((rc = lw_store_scratch_fit(s, len)) != 0)
		return rc;
	/* The record carries the first live sequence after it is added. */
	lw_store_encode(s->scratch, T_MSG, seq, ts, s->msgs == 0 ? seq : s->first, subject, sl, hdr,
	       hdr_len, data, data_len);
	if (s->o.kind == LW_STORE_FILE) {
		if ((rc = write_rec(s, s->scratch, len, seq, &off, &seg)) != 0)
			return rc;
		rc = lw_store_apply(s, s->scratch, (uint32_t)len, seg, off);
	} else {
		uint8_t *m = malloc(len);

		if (m == NULL)
			return -ENOMEM;
		memcpy(m, s->scratch, len);
		rc = lw_store_apply(s, m, (uint32_t)len, 0, 0);
		if (rc == 0)
			s->ents[seq - s->base].mem = m;
		else
			free(m);
	}
	if (rc != 0)
		return rc;
	return (int64_t)seq;
}

static int write_marker(lw_store *s, int type, uint64_t seq, uint64_t first)
{
	uint8_t b[REC_OVERHEAD];
	uint64_t off;
	uint32_t seg;

	if (s->o.kind != LW_STORE_FILE)
		return 0;
	/* The marker's time is the last message's: once the segments that
	 * held it are gone, the marker still tells last_ts. */
	lw_store_encode(b, type, seq, s->last_ts, first, NULL, 0, NULL, 0, NULL, 0);
	return write_rec(s, b, sizeof(b), seq, &off, &seg);
}

int lw_store_sync(lw_store *s)
{
	int rc;

	if (s->o.kind != LW_STORE_FILE)
		return 0;
	if ((rc = lw_store_flush(s)) != 0)
		return rc;
	if (!s->dirty)
		return 0;
	s->dirty = false;
	if (fdatasync(s->segs[s->n_segs - 1].fd) != 0)
		return LW_SET_ERR(-errno, "store %s: fdatasync: %s", s->dir, strerror(errno));
	return 0;
}

int lw_store_sync_begin(lw_store *s)
{
	if (s->o.kind != LW_STORE_FILE || lw_store_flush(s) != 0 || !s->dirty)
		return -1;
	s->dirty = false;
	return fcntl(s->segs[s->n_segs - 1].fd, F_DUPFD_CLOEXEC, 0);
}

bool lw_store_dirty(const lw_store *s)
{
	return s->dirty || s->wlen > 0;
}

int lw_store_remove(lw_store *s, uint64_t seq, bool durable)
{
	struct ent *e = ent_of(s, seq);
	int rc;

	if (e == NULL || !(e->flags & E_LIVE))
		return -ENOENT;
	if (durable && (rc = write_marker(s, T_DEL, seq, s->first)) != 0)
		return rc;
	lw_store_ent_kill(s, seq, e);
	lw_store_advance_first(s);
	lw_store_segs_trim(s);
	return 0;
}

int64_t lw_store_purge(lw_store *s, uint64_t keep_from, const char *filter)
{
	uint64_t n = 0;
	int rc;

	bool filtered = filter != NULL && *filter != '\0' && strcmp(filter, ">") != 0;

	/* Unfiltered, a sequence past the end moves the next one there. */
	if (keep_from == 0 || (filtered && keep_from > s->last + 1))
		keep_from = s->last + 1;
	if (filtered) {
		for (uint64_t q = s->first; q < keep_from; q++) {
			struct ent *e = ent_of(s, q);

			if (e == NULL || !(e->flags & E_LIVE) ||
			    !lw_subject_matches(filter, s->subjs[e->subj].s))
				continue;
			if ((rc = lw_store_remove(s, q, true)) != 0)
				return rc;
			n++;
		}
		return (int64_t)n;
	}
	if ((rc = write_marker(s, T_PURGE, keep_from, keep_from)) != 0)
		return rc;
	n = lw_store_kill_below(s, keep_from);
	lw_store_segs_trim(s);
	return (int64_t)n;
}
