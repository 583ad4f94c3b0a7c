/* SPDX-License-Identifier: MIT */
/*
 * A consumer's state in lw-control: the list of deliveries awaiting an ack
 * (ordered by stream sequence; acks mostly take its head), the ack floor
 * (computed when read), the pull requests waiting, and the state file
 * <store>/<stream>/consumers/<name>.json, written by the timer when it
 * changed (see lw_ctl_consumer.c for what a crash may redeliver).
 * Ephemerals have one too: lw-control restarts without its NATS clients
 * noticing (lwd keeps their connections), so a consumer that vanished
 * with the restart would leave a KV watcher or an ordered consumer
 * waiting for missed heartbeats (nats.js: about 90 s) before it makes a
 * new one. Restored, it goes on where it was, and still goes away once
 * its client is gone (inactive_threshold, counted from the restart).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lw_ctl_consumer_pvt.h"

struct pend *lw_cons_pend_find(struct lw_consumer *c, uint64_t sseq)
{
	size_t lo = 0, hi = c->np;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->p[mid].sseq < sseq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->np && c->p[lo].sseq == sseq ? &c->p[lo] : NULL;
}

void lw_cons_pend_del(struct lw_consumer *c, struct pend *p)
{
	size_t i = (size_t)(p - c->p);

	if (i == 0)
		c->p++;
	else
		memmove(p, p + 1, (c->np - i - 1) * sizeof(*p));
	if (--c->np == 0)
		c->p = c->pbase;
}

struct pend *lw_cons_pend_add(struct lw_consumer *c, uint64_t sseq)
{
	size_t i = c->np, head = c->pbase != NULL ? (size_t)(c->p - c->pbase) : 0;

	if (head + c->np == c->capp) {
		if (head > 0 && c->np <= c->capp / 2) {
			/* Room freed at the front by acks: slide down. */
			memmove(c->pbase, c->p, c->np * sizeof(*c->p));
			c->p = c->pbase;
		} else {
			size_t nc = c->capp ? c->capp * 2 : 64;
			struct pend *nb = realloc(c->pbase, nc * sizeof(*nb));

			if (nb == NULL)
				return NULL;
			c->pbase = nb;
			c->p = nb + head;
			c->capp = nc;
		}
	}
	while (i > 0 && c->p[i - 1].sseq > sseq)
		i--;
	memmove(c->p + i + 1, c->p + i, (c->np - i) * sizeof(*c->p));
	c->np++;
	memset(&c->p[i], 0, sizeof(c->p[i]));
	c->p[i].sseq = sseq;
	return &c->p[i];
}

void lw_cons_floor_moved(struct lw_consumer *c)
{
	c->floor_stale = true;
}

void lw_cons_floor(struct lw_consumer *c)
{
	if (!c->floor_stale)
		return;
	c->floor_stale = false;
	if (c->np == 0) {
		c->floor_s = c->next_sseq > 0 ? c->next_sseq - 1 : 0;
		c->floor_c = c->dseq;
	} else {
		uint64_t mc = c->p[0].cseq;

		for (size_t i = 1; i < c->np; i++)
			if (c->p[i].cseq < mc)
				mc = c->p[i].cseq;
		c->floor_s = c->p[0].sseq - 1;
		c->floor_c = mc - 1;
	}
}

/* --- pull requests waiting ------------------------------------------------------------- */

int lw_cons_waiting_add(struct lw_consumer *c, const struct waiting *w, int64_t now)
{
	struct lw_ctl *ctl = c->s->ctl;
	struct waiting *nw;

	if (c->nw == c->capw) {
		size_t nc = c->capw ? c->capw * 2 : 8;

		nw = realloc(c->w, nc * sizeof(*nw));
		if (nw == NULL)
			return -1;
		c->w = nw;
		c->capw = nc;
	}
	nw = &c->w[c->nw];
	*nw = *w;
	nw->reply = strdup(w->reply);
	if (nw->reply == NULL)
		return -1;
	if (nw->hb_ns > 0)
		nw->next_hb = now + nw->hb_ns;
	if (nw->expires > 0 && (ctl->next_due == 0 || nw->expires < ctl->next_due))
		ctl->next_due = nw->expires;
	c->nw++;
	c->dirty = true;
	return 0;
}

/* --- persistence ----------------------------------------------------------------------- */

void lw_cons_path(struct lw_consumer *c, char *buf, size_t cap, bool dir)
{
	if (dir)
		snprintf(buf, cap, "%s/%s/consumers", c->s->ctl->store_dir, c->s->name);
	else
		snprintf(buf, cap, "%s/%s/consumers/%s.json", c->s->ctl->store_dir, c->s->name,
			 c->name);
}

int lw_cons_save(struct lw_consumer *c)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	json_t *pend = json_array(), *wait = json_array(), *o;
	char *text;
	int fd, err = 0;

	lw_cons_floor(c);
	for (size_t i = 0; i < c->np; i++)
		json_array_append_new(pend, json_pack("[I, I, i]", (json_int_t)c->p[i].sseq,
						       (json_int_t)c->p[i].cseq,
						       (int)c->p[i].deliveries));
	for (size_t i = 0; i < c->nw; i++)
		json_array_append_new(wait, json_pack("[s, I, I, I, I, I, b]", c->w[i].reply,
						       (json_int_t)c->w[i].batch,
						       (json_int_t)c->w[i].max_bytes,
						       (json_int_t)c->w[i].expires,
						       (json_int_t)c->w[i].hb_ns,
						       (json_int_t)c->w[i].delivered,
						       (int)c->w[i].no_wait));
	o = json_pack("{s:O, s:I, s:{s:I, s:I, s:I, s:I, s:o, s:o}}", "config", c->cfg,
		      "created_ns", (json_int_t)c->created_ns, "state", "next",
		      (json_int_t)c->next_sseq, "dseq", (json_int_t)c->dseq, "floor_s",
		      (json_int_t)c->floor_s, "floor_c", (json_int_t)c->floor_c, "pending", pend,
		      "waiting", wait);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	lw_cons_path(c, path, sizeof(path), true);
	mkdir(path, 0755);
	lw_cons_path(c, path, sizeof(path), false);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = text != NULL ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	if (fd < 0) {
		err = text != NULL ? errno : ENOMEM;
	} else {
		ssize_t k = write(fd, text, strlen(text));

		if (k != (ssize_t)strlen(text))
			err = k < 0 ? errno : ENOSPC;
		/* Only "always" pays a sync per state change; otherwise a
		 * machine crash may redeliver, never skip (see the header). */
		else if (c->s->ctl->sync == LW_SYNC_ALWAYS && c->durable && fdatasync(fd) != 0)
			err = errno;
		close(fd);
		if (err == 0 && rename(tmp, path) != 0)
			err = errno;
		if (err != 0)
			unlink(tmp);
	}
	free(text);
	if (err != 0) {
		/* Kept dirty: the timer tries again. Said once per failure. */
		if (!c->save_failed)
			fprintf(stderr, "lw-control: consumer %s > %s: cannot save its state: %s"
				" (trying again)\n", c->s->name, c->name, strerror(err));
		c->save_failed = true;
		c->dirty = true;
		return -err;
	}
	if (c->save_failed)
		fprintf(stderr, "lw-control: consumer %s > %s: state saved again\n", c->s->name,
			c->name);
	c->save_failed = false;
	c->dirty = false;
	c->saved_ns = lw_now_wall_ns();
	return 0;
}
