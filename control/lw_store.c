/* SPDX-License-Identifier: MIT */
/*
 * Stream message store: segmented append-only log + in-memory index.
 *
 * Disk layout of a file store (one directory per stream):
 *
 *   <dir>/00000000000000000001.seg   records of seqs 1..k (name = first seq)
 *   <dir>/0000000000000000000k.seg   ...the active segment, appended to
 *
 * A record (little-endian, 8-byte header fields unaligned on disk):
 *
 *   0  u32 magic 'LWR1'       4  u32 total length (header + body + crc)
 *   8  u8  type (1 msg, 2 delete, 3 purge)   9 u8 0   10 u16 subject length
 *   12 u32 header length      16 u64 seq     24 i64 timestamp (ns)
 *   32 u64 first live seq of the stream when written
 *   40 subject | headers | data              end-4: u32 CRC32C of bytes 0..end-4
 *
 * Removal is by marker, never by rewriting: a delete record names one
 * sequence, a purge record the new first sequence, and every message
 * record carries the first live sequence at the time it was written, so
 * limits that drop the head of the log (max_msgs, max_bytes) need no
 * marker of their own. A segment file goes away when it is the oldest and
 * holds no live message: a marker can only name a message of its own or an
 * earlier segment, so deleting from the front never resurrects anything.
 *
 * The index is an array of one entry per sequence from the oldest kept
 * one (seq -> segment, offset, length, time, subject id); subjects are
 * interned so filters, per-subject limits and "last by subject" need no
 * disk read. Workload: appends and reads of recent messages dominate;
 * opening scans every segment once (about disk speed).
 *
 * Recovery of a bad record: if a valid record follows it anywhere in the
 * segment (found by the magic and a good CRC) the bad bytes are skipped,
 * counted as corruption and the sequence numbers they held are reported as
 * lost; if nothing valid follows and it is the last segment, it is a torn
 * write of the last append and the file is truncated there.
 *
 * This file: records, the index, opening and recovery. The write path
 * (write buffer, flush, markers, sync) is lw_store_write.c, reads are
 * lw_store_read.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lw_crc32c.h"
#include "lw_err.h"
#include "lw_store_pvt.h"
#include "lw_subject.h" /* lw_subj_matches */

uint64_t lw_store_rec_size(const lw_store *s, size_t subj_len, size_t hdr_len, size_t data_len)
{
	return lw_store_acct(s->o.kind == LW_STORE_MEMORY, subj_len, hdr_len, data_len);
}

/* --- subject matching and interning -------------------------------- */

bool lw_subject_matches(const char *pat, const char *s)
{
	/* no filter: everything */
	return pat == NULL || *pat == '\0' || lw_subj_matches(pat, s);
}

static uint32_t hash_str(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h | 1;
}

static int htab_grow(lw_store *s)
{
	size_t ncap = s->hcap ? s->hcap * 2 : 64;
	uint32_t *nt = calloc(ncap, sizeof(*nt));

	if (nt == NULL)
		return -ENOMEM;
	for (size_t id = 0; id < s->n_subjs; id++) {
		size_t i = s->subjs[id].hash & (ncap - 1);

		while (nt[i] != 0)
			i = (i + 1) & (ncap - 1);
		nt[i] = (uint32_t)id + 1;
	}
	free(s->htab);
	s->htab = nt;
	s->hcap = ncap;
	return 0;
}

/* Id of @p subj (length @p n), interned when @p add; -1 when absent. */
int64_t lw_store_subj_id(lw_store *s, const char *subj, size_t n, bool add)
{
	uint32_t h = hash_str(subj, n);
	size_t i;

	if (s->hcap != 0) {
		for (i = h & (s->hcap - 1); s->htab[i] != 0; i = (i + 1) & (s->hcap - 1)) {
			struct subj *e = &s->subjs[s->htab[i] - 1];

			if (e->hash == h && strlen(e->s) == n && memcmp(e->s, subj, n) == 0)
				return s->htab[i] - 1;
		}
	}
	if (!add)
		return -1;
	if ((s->n_subjs + 1) * 2 > s->hcap && htab_grow(s) != 0)
		return -ENOMEM;
	if (s->n_subjs == s->cap_subjs) {
		size_t nc = s->cap_subjs ? s->cap_subjs * 2 : 32;
		struct subj *ns = realloc(s->subjs, nc * sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		s->subjs = ns;
		s->cap_subjs = nc;
	}
	struct subj *e = &s->subjs[s->n_subjs];

	e->s = strndup(subj, n);
	if (e->s == NULL)
		return -ENOMEM;
	e->live = 0;
	e->hash = h;
	for (i = h & (s->hcap - 1); s->htab[i] != 0; i = (i + 1) & (s->hcap - 1))
		;
	s->htab[i] = (uint32_t)s->n_subjs + 1;
	return (int64_t)s->n_subjs++;
}

/* --- index ------------------------------------------------------------ */

/* Makes room for entry @p seq (== last + 1), compacting the dead front. */
static int ent_push(lw_store *s, uint64_t seq, struct ent **out)
{
	if (s->n_ents == 0)
		s->base = seq;
	if (s->first > s->base && s->first - s->base > s->n_ents / 2 && s->first - s->base > 1024) {
		size_t drop = s->first - s->base;

		if (drop > s->n_ents)
			drop = s->n_ents;
		memmove(s->ents, s->ents + drop, (s->n_ents - drop) * sizeof(*s->ents));
		s->n_ents -= drop;
		s->base += drop;
	}
	if (seq != s->base + s->n_ents)
		return -EINVAL;
	if (s->n_ents == s->cap_ents) {
		size_t nc = s->cap_ents ? s->cap_ents * 2 : 1024;
		struct ent *ne = realloc(s->ents, nc * sizeof(*ne));

		if (ne == NULL)
			return -ENOMEM;
		s->ents = ne;
		s->cap_ents = nc;
	}
	*out = &s->ents[s->n_ents++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static void seg_path(const lw_store *s, uint64_t first, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%020" PRIu64 ".seg", s->dir, first);
}

/* Deletes the oldest segments that hold nothing live (never the active). */
void lw_store_segs_trim(lw_store *s)
{
	while (s->o.kind == LW_STORE_FILE && s->n_segs > 1 && s->segs[0].live == 0) {
		char p[PATH_MAX];

		seg_path(s, s->segs[0].first_seq, p, sizeof(p));
		close(s->segs[0].fd);
		unlink(p);
		memmove(s->segs, s->segs + 1, (s->n_segs - 1) * sizeof(*s->segs));
		s->n_segs--;
		s->seg_shift++;
	}
}

void lw_store_ent_kill(lw_store *s, uint64_t seq, struct ent *e)
{
	(void)seq;
	if (!(e->flags & E_LIVE))
		return;
	e->flags &= ~(uint32_t)E_LIVE;
	s->kills++;
	s->msgs--;
	s->bytes -= ent_acct(s, e);
	if (--s->subjs[e->subj].live == 0)
		s->live_subjects--;
	if (s->o.kind == LW_STORE_FILE)
		seg_of(s, e)->live--;
	free(e->mem);
	e->mem = NULL;
}

/* Moves first past dead entries. */
void lw_store_advance_first(lw_store *s)
{
	while (s->first <= s->last) {
		struct ent *e = ent_of(s, s->first);

		if (e != NULL && (e->flags & E_LIVE))
			break;
		s->first++;
	}
}

/* Kills everything below @p keep_from. */
uint64_t lw_store_kill_below(lw_store *s, uint64_t keep_from)
{
	uint64_t n = 0;

	for (uint64_t q = s->first; q < keep_from && q <= s->last; q++) {
		struct ent *e = ent_of(s, q);

		if (e != NULL && (e->flags & E_LIVE)) {
			lw_store_ent_kill(s, q, e);
			n++;
		}
	}
	if (keep_from > s->first)
		s->first = keep_from;
	lw_store_advance_first(s);
	if (keep_from > s->last + 1) {
		/* Past the end (a purge to a later sequence, first_seq): the
		 * next message gets keep_from, as in nats-server's Compact.
		 * Every entry is dead now; the index restarts there. */
		s->last = keep_from - 1;
		s->first = keep_from;
		s->n_ents = 0;
		s->base = keep_from;
	}
	return n;
}

static void lost_add(lw_store *s, uint64_t seq)
{
	if (s->n_lost == s->cap_lost) {
		size_t nc = s->cap_lost ? s->cap_lost * 2 : 16;
		uint64_t *nl = realloc(s->lost, nc * sizeof(*nl));

		if (nl == NULL)
			return;
		s->lost = nl;
		s->cap_lost = nc;
	}
	s->lost[s->n_lost++] = seq;
}

/* --- records ------------------------------------------------------------ */

int lw_store_scratch_fit(lw_store *s, size_t n)
{
	if (n <= s->scratch_cap)
		return 0;
	uint8_t *p = realloc(s->scratch, n);

	if (p == NULL)
		return -ENOMEM;
	s->scratch = p;
	s->scratch_cap = n;
	return 0;
}

size_t lw_store_encode(uint8_t *b, int type, uint64_t seq, int64_t ts, uint64_t first,
		       const char *subj, size_t sl, const void *hdr, size_t hl,
		       const void *data, size_t dl)
{
	size_t len = REC_OVERHEAD + sl + hl + dl;

	put32(b, REC_MAGIC);
	put32(b + 4, (uint32_t)len);
	b[8] = (uint8_t)type;
	b[9] = 0;
	b[10] = (uint8_t)(sl & 0xff);
	b[11] = (uint8_t)(sl >> 8);
	put32(b + 12, (uint32_t)hl);
	put64(b + 16, seq);
	put64(b + 24, (uint64_t)ts);
	put64(b + 32, first);
	if (sl)
		memcpy(b + REC_HDR, subj, sl);
	if (hl)
		memcpy(b + REC_HDR + sl, hdr, hl);
	if (dl)
		memcpy(b + REC_HDR + sl + hl, data, dl);
	put32(b + len - 4, lw_crc32c(0, b, len - 4));
	return len;
}

/* True when @p b (of @p avail bytes) starts with a complete valid record. */
bool lw_store_rec_valid(const uint8_t *b, size_t avail, uint32_t *len_out)
{
	uint32_t len;

	if (avail < REC_OVERHEAD || get32(b) != REC_MAGIC)
		return false;
	len = get32(b + 4);
	if (len < REC_OVERHEAD || len > avail || len > REC_MAX)
		return false;
	if (b[8] < T_MSG || b[8] > T_PURGE)
		return false;
	if ((uint64_t)get16(b + 10) + get32(b + 12) > len - REC_OVERHEAD)
		return false;
	if (lw_crc32c(0, b, len - 4) != get32(b + len - 4))
		return false;
	*len_out = len;
	return true;
}

void lw_store_decode(const uint8_t *b, uint32_t len, struct lw_store_rec *r)
{
	size_t sl = get16(b + 10), hl = get32(b + 12);

	r->seq = get64(b + 16);
	r->ts = (int64_t)get64(b + 24);
	memcpy(r->subject, b + REC_HDR, sl > LW_STORE_SUBJ_MAX ? LW_STORE_SUBJ_MAX : sl);
	r->subject[sl > LW_STORE_SUBJ_MAX ? LW_STORE_SUBJ_MAX : sl] = '\0';
	r->hdr = hl ? b + REC_HDR + sl : NULL;
	r->hdr_len = hl;
	r->data = b + REC_HDR + sl + hl;
	r->data_len = len - REC_OVERHEAD - sl - hl;
}

/* Applies one valid record to the index (recovery and memory store). */
int lw_store_apply(lw_store *s, const uint8_t *b, uint32_t len, uint32_t seg, uint64_t off)
{
	uint64_t seq = get64(b + 16), first = get64(b + 32);

	switch (b[8]) {
	case T_MSG: {
		struct ent *e;
		int64_t id;
		int rc;

		if (seq <= s->last)
			return -EBADMSG; /* sequence went backwards: ignore */
		if (first > s->floor)
			s->floor = first;
		/* Sequences between the last one and this are lost. */
		for (uint64_t q = s->last + 1; q < seq; q++) {
			if ((rc = ent_push(s, q, &e)) != 0)
				return rc;
			e->flags = E_LOST;
			lost_add(s, q);
		}
		if ((rc = ent_push(s, seq, &e)) != 0)
			return rc;
		id = lw_store_subj_id(s, (const char *)b + REC_HDR, get16(b + 10), true);
		if (id < 0)
			return (int)id;
		e->off = off;
		e->len = len;
		e->seg = seg;
		e->ts = (int64_t)get64(b + 24);
		e->subj = (uint32_t)id;
		e->flags = E_LIVE | (get32(b + 12) > 0 ? E_HDR : 0);
		if (s->subjs[id].live++ == 0)
			s->live_subjects++;
		s->msgs++;
		s->bytes += ent_acct(s, e);
		if (s->o.kind == LW_STORE_FILE)
			s->segs[seg - s->seg_shift].live++;
		if (s->msgs == 1 && s->first < seq)
			s->first = seq;
		s->last = seq;
		s->last_ts = e->ts;
		lw_store_kill_below(s, first);
		lw_store_advance_first(s);
		break;
	}
	case T_DEL: {
		struct ent *e = ent_of(s, seq);

		if ((int64_t)get64(b + 24) > s->last_ts)
			s->last_ts = (int64_t)get64(b + 24);

		if (e != NULL)
			lw_store_ent_kill(s, seq, e);
		lw_store_advance_first(s);
		break;
	}
	case T_PURGE:
		if ((int64_t)get64(b + 24) > s->last_ts)
			s->last_ts = (int64_t)get64(b + 24);
		if (first > s->floor)
			s->floor = first;
		lw_store_kill_below(s, first);
		break;
	}
	return 0;
}

/* --- open / recover ---------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int seg_add(lw_store *s, uint64_t first, int fd, uint64_t size)
{
	if (s->n_segs == s->cap_segs) {
		size_t nc = s->cap_segs ? s->cap_segs * 2 : 8;
		struct seg *ns = realloc(s->segs, nc * sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		s->segs = ns;
		s->cap_segs = nc;
	}
	s->segs[s->n_segs++] = (struct seg){ .first_seq = first, .size = size, .fd = fd };
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return -errno;
	fsync(fd);
	close(fd);
	return 0;
}

int lw_store_seg_create(lw_store *s, uint64_t first)
{
	char p[PATH_MAX];
	int fd;

	seg_path(s, first, p, sizeof(p));
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return LW_SET_ERR(-errno, "store: create %s: %s", p, strerror(errno));
	if (ftruncate(fd, 0) != 0) {
		close(fd);
		return -errno;
	}
	if (seg_add(s, first, fd, 0) != 0) {
		close(fd);
		return -ENOMEM;
	}
	if (s->o.sync != LW_SYNC_NEVER)
		fsync_dir(s->dir);
	return 0;
}

/* Scans one segment into the index. */
static int recover_seg(lw_store *s, size_t si, bool is_last, struct lw_store_recovery *rep)
{
	struct seg *g = &s->segs[si];
	uint8_t *b = NULL;
	uint64_t off = 0;
	struct stat st;
	int rc = 0;

	if (fstat(g->fd, &st) != 0)
		return -errno;
	g->size = (uint64_t)st.st_size;
	if (g->size > 0) {
		b = malloc(g->size);
		if (b == NULL)
			return -ENOMEM;
		if (pread(g->fd, b, g->size, 0) != (ssize_t)g->size) {
			free(b);
			return LW_SET_ERR(-EIO, "store: read segment %" PRIu64, g->first_seq);
		}
	}
	/* The oldest segment's name is where the log starts: a record with a
	 * later sequence means the ones between were lost. */
	if (si == 0) {
		s->last = g->first_seq - 1;
		s->first = g->first_seq;
	}
	while (off < g->size) {
		uint32_t len;
		uint64_t nxt;

		if (lw_store_rec_valid(b + off, g->size - off, &len)) {
			rc = lw_store_apply(s, b + off, len, (uint32_t)(si + s->seg_shift), off);
			if (rc == -EBADMSG)
				rc = 0;
			else if (rc != 0)
				break;
			rep->records++;
			off += len;
			continue;
		}
		for (nxt = off + 1; nxt + REC_OVERHEAD <= g->size; nxt++)
			if (get32(b + nxt) == REC_MAGIC && lw_store_rec_valid(b + nxt, g->size - nxt, &len))
				break;
		if (nxt + REC_OVERHEAD <= g->size) {
			fprintf(stderr, "lw-control: store %s: segment %" PRIu64
				": bad record at offset %" PRIu64 " (%" PRIu64 " bytes skipped)\n",
				s->dir, g->first_seq, off, nxt - off);
			rep->corrupt_records++;
			rep->corrupt_bytes += nxt - off;
			s->lost_bytes += nxt - off;
			off = nxt;
			continue;
		}
		if (is_last) {
			fprintf(stderr, "lw-control: store %s: torn last record at offset %" PRIu64
				" (%" PRIu64 " bytes truncated)\n", s->dir, off, g->size - off);
			rep->torn_bytes += g->size - off;
			if (ftruncate(g->fd, (off_t)off) != 0)
				rc = -errno;
			else
				fdatasync(g->fd);
			g->size = off;
		} else {
			fprintf(stderr, "lw-control: store %s: segment %" PRIu64
				": bad tail at offset %" PRIu64 " (%" PRIu64 " bytes)\n",
				s->dir, g->first_seq, off, g->size - off);
			rep->corrupt_records++;
			rep->corrupt_bytes += g->size - off;
			s->lost_bytes += g->size - off;
		}
		break;
	}
	free(b);
	return rc;
}

static int recover(lw_store *s, struct lw_store_recovery *rep)
{
	DIR *d = opendir(s->dir);
	uint64_t *firsts = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return LW_SET_ERR(-errno, "store: open %s: %s", s->dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		uint64_t first;
		char tail[8];

		if (sscanf(de->d_name, "%20" SCNu64 "%7s", &first, tail) != 2 ||
		    strcmp(tail, ".seg") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nf = realloc(firsts, cap * sizeof(*nf));

			if (nf == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			firsts = nf;
		}
		firsts[n++] = first;
	}
	qsort(firsts, n, sizeof(*firsts), cmp_u64);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char p[PATH_MAX];
		int fd;

		seg_path(s, firsts[i], p, sizeof(p));
		fd = open(p, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			rc = LW_SET_ERR(-errno, "store: open %s: %s", p, strerror(errno));
			break;
		}
		if ((rc = seg_add(s, firsts[i], fd, 0)) != 0) {
			close(fd);
			break;
		}
		/* Sequences a missing tail of the previous segment held. */
		if (i > 0 && firsts[i] > s->last + 1) {
			for (uint64_t q = s->last + 1; q < firsts[i]; q++) {
				struct ent *e;

				if ((rc = ent_push(s, q, &e)) != 0)
					break;
				e->flags = E_LOST;
				lost_add(s, q);
			}
			s->last = firsts[i] - 1;
		}
		rc = recover_seg(s, i, i + 1 == n, rep);
	}
	rep->segments = n;
out:
	closedir(d);
	free(firsts);
	return rc;
}

lw_store *lw_store_open(const struct lw_store_opts *o, struct lw_store_recovery *rep)
{
	struct lw_store_recovery dummy;
	lw_store *s;
	int rc = 0;

	if (rep == NULL)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	s->o = *o;
	if (s->o.segment_bytes == 0)
		s->o.segment_bytes = SEG_DEFAULT;
	s->first = 1;
	if (o->kind == LW_STORE_FILE) {
		if (o->dir == NULL || (s->dir = strdup(o->dir)) == NULL) {
			rc = -EINVAL;
			goto fail;
		}
		s->o.dir = s->dir;
		if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
			rc = LW_SET_ERR(-errno, "store: mkdir %s: %s", s->dir, strerror(errno));
			goto fail;
		}
		if ((rc = recover(s, rep)) != 0)
			goto fail;
		if (s->n_segs == 0 && (rc = lw_store_seg_create(s, s->last + 1)) != 0)
			goto fail;
		/* Lost sequences that a later purge or limit made irrelevant
		 * are not reported. */
		size_t k = 0;

		for (size_t i = 0; i < s->n_lost; i++)
			if (s->lost[i] >= s->floor)
				s->lost[k++] = s->lost[i];
		s->n_lost = k;
		lw_store_advance_first(s);
		lw_store_segs_trim(s);
	}
	return s;
fail:
	lw_store_close(s);
	errno = -rc;
	return NULL;
}

void lw_store_close(lw_store *s)
{
	if (s == NULL)
		return;
	if (s->dirty || s->wlen > 0)
		lw_store_sync(s);
	for (size_t i = 0; i < s->n_segs; i++)
		close(s->segs[i].fd);
	free(s->wbuf);
	free(s->rbuf);
	for (size_t i = 0; i < s->n_ents; i++)
		free(s->ents[i].mem);
	for (size_t i = 0; i < s->n_subjs; i++)
		free(s->subjs[i].s);
	free(s->subjs);
	free(s->htab);
	free(s->ents);
	free(s->segs);
	free(s->lost);
	free(s->scratch);
	free(s->dir);
	free(s);
}

int lw_store_destroy(lw_store *s)
{
	char dir[PATH_MAX];

	if (s->o.kind != LW_STORE_FILE || s->dir == NULL) {
		lw_store_close(s);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", s->dir);
	for (size_t i = 0; i < s->n_segs; i++) {
		char p[PATH_MAX];

		seg_path(s, s->segs[i].first_seq, p, sizeof(p));
		unlink(p);
	}
	s->dirty = false;
	s->wlen = 0;
	lw_store_close(s);
	return rmdir(dir) == 0 ? 0 : -errno;
}
