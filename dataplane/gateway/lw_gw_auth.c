/* SPDX-License-Identifier: MIT */
/*
 * Users and subject permissions of the gateway.
 *
 * The users file has one entry a line, `user:password:publish:subscribe`,
 * or `:token:publish:subscribe` for a token (CONNECT auth_token). Each
 * permission field is a comma-separated list of subject patterns; a
 * leading `!` makes a pattern a deny; an empty field allows everything.
 * Deny wins over allow, as in nats-server. Read once at start: a handful
 * of users, so a linear scan per CONNECT is all the lookup needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lw_gw_pvt.h"

static int push(char ***v, uint32_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));

	if (nv == NULL)
		return -1;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (nv[*n] == NULL)
		return -1;
	(*n)++;
	return 0;
}

static int parse_perms(struct gw_perms *p, char *field)
{
	char *save = NULL;

	for (char *t = strtok_r(field, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		size_t n = strcspn(t, " \t");

		if (n == 0)
			continue;
		if (t[0] == '!') {
			if (n == 1 || push(&p->deny, &p->n_deny, t + 1, n - 1) != 0)
				return -1;
		} else if (push(&p->allow, &p->n_allow, t, n) != 0) {
			return -1;
		}
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
		if (u->secret == NULL || parse_perms(&u->pub, fld[2]) != 0 ||
		    parse_perms(&u->sub, fld[3]) != 0)
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
	for (uint32_t i = 0; i < p->n_allow; i++)
		free(p->allow[i]);
	for (uint32_t i = 0; i < p->n_deny; i++)
		free(p->deny[i]);
	free(p->allow);
	free(p->deny);
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

int gw_perm_not_denied(const struct gw_perms *p, const char *subject)
{
	for (uint32_t i = 0; i < p->n_deny; i++)
		if (lw_gw_subj_match(p->deny[i], subject))
			return 0;
	return 1;
}

int gw_perm_ok(const struct gw_perms *p, const char *subject)
{
	int ok = p->n_allow == 0;

	for (uint32_t i = 0; i < p->n_allow && !ok; i++)
		ok = lw_gw_subj_match(p->allow[i], subject);
	for (uint32_t i = 0; i < p->n_deny && ok; i++)
		ok = !lw_gw_subj_match(p->deny[i], subject);
	return ok;
}
