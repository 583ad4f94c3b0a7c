/* SPDX-License-Identifier: MIT */
/*
 * Read side of the stream store: one message by sequence (CRC checked on
 * every read), and the index queries consumers and the API make (next /
 * last / count matching a filter, subject, time, state). These never touch
 * the disk except lw_store_get's one pread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lw_err.h"
#include "lw_store_pvt.h"

#define RA_BYTES (64 * 1024)

/* The record of @p e into @p b, through the read-ahead buffer when it is
 * small: a fetch of 256 messages costs a few preads, not 256. */
static int read_at(lw_store *s, const struct ent *e, uint8_t *b)
{
	int fd = seg_of(s, e)->fd;
	ssize_t n;

	if (s->rlen > 0 && e->seg == s->rseg && e->off >= s->roff &&
	    e->off + e->len <= s->roff + s->rlen) {
		memcpy(b, s->rbuf + (e->off - s->roff), e->len);
		return 0;
	}
	if (e->len > RA_BYTES / 4)
		return pread(fd, b, e->len, (off_t)e->off) == (ssize_t)e->len ? 0 : -1;
	if (s->rbuf == NULL && (s->rbuf = malloc(RA_BYTES)) == NULL)
		return pread(fd, b, e->len, (off_t)e->off) == (ssize_t)e->len ? 0 : -1;
	s->rlen = 0;
	n = pread(fd, s->rbuf, RA_BYTES, (off_t)e->off);
	if (n < (ssize_t)e->len)
		return -1;
	s->rseg = e->seg;
	s->roff = e->off;
	s->rlen = (size_t)n;
	memcpy(b, s->rbuf, e->len);
	return 0;
}

int lw_store_get(lw_store *s, uint64_t seq, struct lw_store_rec *out)
{
	struct ent *e = ent_of(s, seq);
	uint8_t *b;
	uint32_t len;

	memset(out, 0, sizeof(*out));
	if (e == NULL || !(e->flags & E_LIVE))
		return -ENOENT;
	/* Nobody reads what is not in the file yet (a consumer would see a
	 * message whose write might still fail). */
	if (s->wfirst != 0 && seq >= s->wfirst) {
		int rc = lw_store_flush(s);

		if (rc != 0)
			return rc;
	}
	b = malloc(e->len);
	if (b == NULL)
		return -ENOMEM;
	if (e->mem != NULL) {
		memcpy(b, e->mem, e->len);
	} else if (read_at(s, e, b) != 0) {
		free(b);
		return LW_SET_ERR(-EIO, "store %s: read seq %" PRIu64, s->dir, seq);
	}
	if (!lw_store_rec_valid(b, e->len, &len) || get64(b + 16) != seq) {
		free(b);
		return LW_SET_ERR(-EBADMSG, "store %s: seq %" PRIu64 " fails its CRC", s->dir, seq);
	}
	lw_store_decode(b, len, out);
	out->buf_ = b;
	return 0;
}

void lw_store_rec_free(struct lw_store_rec *r)
{
	free(r->buf_);
	r->buf_ = NULL;
}

static bool ent_match(lw_store *s, const struct ent *e, const char *filter)
{
	if (!(e->flags & E_LIVE))
		return false;
	return filter == NULL || *filter == '\0' || lw_subject_matches(filter, s->subjs[e->subj].s);
}

uint64_t lw_store_next(lw_store *s, uint64_t from, const char *filter)
{
	if (from < s->first)
		from = s->first;
	for (uint64_t q = from; q <= s->last; q++) {
		struct ent *e = ent_of(s, q);

		if (e != NULL && ent_match(s, e, filter))
			return q;
	}
	return 0;
}

uint64_t lw_store_last(lw_store *s, const char *filter)
{
	for (uint64_t q = s->last; q >= s->first && q > 0; q--) {
		struct ent *e = ent_of(s, q);

		if (e != NULL && ent_match(s, e, filter))
			return q;
	}
	return 0;
}

uint64_t lw_store_count(lw_store *s, uint64_t from, const char *filter)
{
	uint64_t n = 0;

	if (filter == NULL || *filter == '\0') {
		if (from <= s->first)
			return s->msgs;
		/* No holes: a subtraction (consumers ask this per delivery). */
		if (s->msgs == s->last - s->first + 1)
			return from > s->last ? 0 : s->last - from + 1;
	}
	if (from < s->first)
		from = s->first;
	for (uint64_t q = from; q <= s->last; q++) {
		struct ent *e = ent_of(s, q);

		if (e != NULL && ent_match(s, e, filter))
			n++;
	}
	return n;
}

const char *lw_store_subject(lw_store *s, uint64_t seq)
{
	struct ent *e = ent_of(s, seq);

	return e != NULL && (e->flags & E_LIVE) ? s->subjs[e->subj].s : NULL;
}

int64_t lw_store_ts(lw_store *s, uint64_t seq)
{
	struct ent *e = ent_of(s, seq);

	return e != NULL && (e->flags & E_LIVE) ? e->ts : 0;
}

uint64_t lw_store_seq_at_time(lw_store *s, int64_t ts)
{
	/* Timestamps are non-decreasing in practice: binary search, then
	 * step to the first live entry. */
	uint64_t lo = s->first, hi = s->last + 1;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct ent *e = ent_of(s, mid);

		if (e != NULL && e->ts != 0 && e->ts < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lw_store_next(s, lo, NULL);
}

uint64_t lw_store_subject_msgs(lw_store *s, const char *subject)
{
	int64_t id = lw_store_subj_id(s, subject, strlen(subject), false);

	return id < 0 ? 0 : s->subjs[id].live;
}

uint64_t lw_store_kills(const lw_store *s)
{
	return s->kills;
}

void lw_store_get_state(lw_store *s, struct lw_store_state *st)
{
	memset(st, 0, sizeof(*st));
	st->msgs = s->msgs;
	st->bytes = s->bytes;
	st->last_seq = s->last;
	st->first_seq = s->msgs ? s->first : s->last + 1;
	if (s->msgs) {
		st->first_ts = lw_store_ts(s, s->first);
		st->num_deleted = s->last - s->first + 1 - s->msgs;
	}
	st->last_ts = s->last ? s->last_ts : 0;
	st->num_subjects = s->live_subjects;
	st->lost_msgs = s->n_lost;
	st->lost_bytes = s->lost_bytes;
}

const uint64_t *lw_store_lost(const lw_store *s, size_t *n)
{
	*n = s->n_lost;
	return s->lost;
}
