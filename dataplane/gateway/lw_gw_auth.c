/* SPDX-License-Identifier: MIT */
/*
 * Users and subject permissions of the gateway.
 *
 * The users file has one entry a line, `user:password:publish:subscribe`,
 * or `:token:publish:subscribe` for a token (CONNECT auth_token). Each
 * permission field is a comma-separated list of subject patterns; a
 * leading `!` makes a pattern a deny; an empty field allows everything.
 * A subscribe pattern may name a queue group after a space ("q.x workers"):
 * the rule then speaks of that group only. Deny wins over allow, as in
 * nats-server. Read once at start: a handful
 * of users, so a linear scan per CONNECT is all the lookup needed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_gw_pvt.h"

static int push(char ***v, char ***vq, uint32_t *n, const char *s, size_t len, const char *q,
		size_t qlen)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));
	char **nq;

	if (nv == NULL)
		return -1;
	*v = nv;
	nq = realloc(*vq, (*n + 1) * sizeof(char *));
	if (nq == NULL)
		return -1;
	*vq = nq;
	nv[*n] = strndup(s, len);
	nq[*n] = qlen ? strndup(q, qlen) : NULL;
	if (nv[*n] == NULL || (qlen && nq[*n] == NULL)) {
		free(nv[*n]);
		free(nq[*n]);
		return -1;
	}
	(*n)++;
	return 0;
}

/* One field; @p what names it in errors. A queue group after the subject
 * is taken for subscribe rules only: widening "q.x workers" to "q.x" (or
 * dropping it) would grant what the file does not. */
static int parse_perms(struct gw_perms *p, char *field, bool sub, const char *path, int ln)
{
	char *save = NULL;

	for (char *t = strtok_r(field, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		const char *q;
		size_t n, qn;
		bool deny;

		while (*t == ' ' || *t == '\t')
			t++;
		n = strcspn(t, " \t");
		if (n == 0)
			continue;
		q = t + n;
		q += strspn(q, " \t");
		qn = strcspn(q, " \t");
		if (qn > 0 && q[qn + strspn(q + qn, " \t")] != '\0') {
			fprintf(stderr, "lwd: users: %s:%d: '%s': a rule is a subject and at most a"
				" queue group\n", path, ln, t);
			return -1;
		}
		if (qn > 0 && !sub) {
			fprintf(stderr, "lwd: users: %s:%d: '%s': a queue group only goes with a"
				" subscribe rule\n", path, ln, t);
			return -1;
		}
		deny = t[0] == '!';
		if (deny && n == 1) {
			fprintf(stderr, "lwd: users: %s:%d: '!' without a subject\n", path, ln);
			return -1;
		}
		if (deny ? push(&p->deny, &p->deny_q, &p->n_deny, t + 1, n - 1, q, qn) :
			   push(&p->allow, &p->allow_q, &p->n_allow, t, n, q, qn))
			return -1;
	}
	return 0;
}

int gw_users_load(struct lw_gw *gw, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	int ln = 0;

	if (f == NULL) {
		fprintf(stderr, "lwd: users: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fld[4] = { NULL, NULL, "", "" };
		char *p = line;
		struct gw_user *u, *nu;
		int nf = 0;

		ln++;
		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		for (; nf < 4 && p != NULL; nf++) {
			char *colon = nf < 3 ? strchr(p, ':') : NULL;

			fld[nf] = p;
			if (colon != NULL)
				*colon = '\0';
			p = colon ? colon + 1 : NULL;
		}
		if (nf < 2 || fld[1][0] == '\0') {
			fprintf(stderr, "lwd: users: %s:%d: expected user:password:publish:subscribe\n",
				path, ln);
			goto fail;
		}
		nu = realloc(gw->users, (gw->n_users + 1) * sizeof(*nu));
		if (nu == NULL)
			goto fail;
		gw->users = nu;
		u = &gw->users[gw->n_users++];
		memset(u, 0, sizeof(*u));
		u->user = fld[0][0] ? strdup(fld[0]) : NULL;
		u->secret = strdup(fld[1]);
		if (u->secret == NULL || parse_perms(&u->pub, fld[2], false, path, ln) != 0 ||
		    parse_perms(&u->sub, fld[3], true, path, ln) != 0)
			goto fail;
	}
	fclose(f);
	if (gw->n_users == 0) {
		fprintf(stderr, "lwd: users: %s has no entries\n", path);
		return -1;
	}
	return 0;
fail:
	fclose(f);
	return -1;
}

static void perms_free(struct gw_perms *p)
{
	for (uint32_t i = 0; i < p->n_allow; i++) {
		free(p->allow[i]);
		free(p->allow_q[i]);
	}
	for (uint32_t i = 0; i < p->n_deny; i++) {
		free(p->deny[i]);
		free(p->deny_q[i]);
	}
	free(p->allow);
	free(p->allow_q);
	free(p->deny);
	free(p->deny_q);
}

void gw_users_free(struct lw_gw *gw)
{
	for (uint32_t i = 0; i < gw->n_users; i++) {
		free(gw->users[i].user);
		free(gw->users[i].secret);
		perms_free(&gw->users[i].pub);
		perms_free(&gw->users[i].sub);
	}
	free(gw->users);
	gw->users = NULL;
	gw->n_users = 0;
}

/* Compares in time independent of where the strings differ. */
static int secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

const struct gw_user *gw_auth(const struct lw_gw *gw, const char *user, const char *pass,
			      const char *token)
{
	for (uint32_t i = 0; i < gw->n_users; i++) {
		const struct gw_user *u = &gw->users[i];

		if (u->user == NULL) {
			if (token != NULL && secret_eq(token, u->secret))
				return u;
		} else if (user != NULL && pass != NULL && strcmp(user, u->user) == 0 &&
			   secret_eq(pass, u->secret)) {
			return u;
		}
	}
	return NULL;
}

static bool queue_matches(const char *queue, const char *rule);

int gw_perm_not_denied(const struct gw_perms *p, const char *subject, const char *queue)
{
	/* Deliveries of an allowed wildcard subscription: a deny rule that
	 * names a group cuts into the subscriptions of that group only. */
	for (uint32_t i = 0; i < p->n_deny; i++)
		if ((p->deny_q[i] == NULL || (queue != NULL && queue_matches(queue, p->deny_q[i]))) &&
		    lw_gw_subj_match(p->deny[i], subject))
			return 0;
	return 1;
}

int gw_perm_ok(const struct gw_perms *p, const char *subject)
{
	return gw_perm_sub_ok(p, subject, NULL);
}

/* A queue rule's group may itself be a pattern ("v1.*"); the literal
 * name is tried first, as nats-server does, since '*' is a valid name. */
static bool queue_matches(const char *queue, const char *rule)
{
	return strcmp(queue, rule) == 0 ||
	       ((strchr(rule, '*') != NULL || strchr(rule, '>') != NULL) &&
		lw_gw_subj_match(rule, queue));
}

/* Of the rules @p v / @p vq (n of them) that match @p subject: *plain
 * says whether a plain one did, the result whether a queue one did, and
 * *qhit whether one of those names @p queue. */
static bool rules_match(char *const *v, char *const *vq, uint32_t n, const char *subject,
			const char *queue, bool *plain, bool *qhit)
{
	bool qany = false;

	*plain = *qhit = false;
	for (uint32_t i = 0; i < n; i++) {
		if (!lw_gw_subj_match(v[i], subject))
			continue;
		if (vq[i] == NULL) {
			*plain = true;
		} else {
			qany = true;
			if (queue != NULL && queue_matches(queue, vq[i]))
				*qhit = true;
		}
	}
	return qany;
}

/* nats-server's canSubscribe: among allow rules, a queue subscription
 * that queue rules match is decided by them alone, a plain one only by
 * plain rules. A deny, plain or naming the group, always wins (stricter
 * than nats-server in one odd case: a plain deny and a deny of another
 * group on the same subject). */
int gw_perm_sub_ok(const struct gw_perms *p, const char *subject, const char *queue)
{
	bool plain, qhit, ok = true;

	if (p->n_allow > 0) {
		bool qrules = rules_match(p->allow, p->allow_q, p->n_allow, subject, queue, &plain,
					  &qhit);

		ok = plain;
		if (queue != NULL && qrules)
			ok = qhit;
	}
	if (ok && p->n_deny > 0) {
		rules_match(p->deny, p->deny_q, p->n_deny, subject, queue, &plain, &qhit);
		ok = !plain && !qhit;
	}
	return ok;
}
