/* SPDX-License-Identifier: MIT */
/*
 * lwd configuration: defaults, "key = value" files and command-line
 * options share one table of names, so every option works in both places
 * and docs/configuration.md lists one set.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwd.h"

void lwd_config_default(struct lwd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->domain, sizeof(c->domain), "%s", LW_DOMAIN_DEFAULT);
	snprintf(c->hugepages, sizeof(c->hugepages), "auto");
	c->mem_mb = 64;
	c->reap_ms = 50;
	c->verbose = LWD_INFO;
	lw_dom_config_default(&c->dom);
	lw_gw_config_default(&c->gw);
}

static int parse_u32(const char *key, const char *val, uint32_t *out)
{
	char *end;
	unsigned long long v;
	unsigned long long mul = 1;

	errno = 0;
	v = strtoull(val, &end, 0);
	if (end == val || errno != 0)
		goto bad;
	if (*end == 'k' || *end == 'K')
		mul = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024, end++;
	if (*end == 'i' && (end[1] == 'B' || end[1] == 'b'))
		end += 2;
	else if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0')
		goto bad;
	if (v * mul > UINT32_MAX || (v != 0 && v * mul / v != mul)) {
		fprintf(stderr, "lwd: %s: '%s' is out of range (at most %u)\n", key, val,
			UINT32_MAX);
		return -1;
	}
	*out = (uint32_t)(v * mul);
	return 0;
bad:
	fprintf(stderr, "lwd: %s: '%s' is not a number (suffixes K, M allowed)\n", key, val);
	return -1;
}

int lwd_config_set(struct lwd_config *c, const char *key, const char *val)
{
	if (strcmp(key, "domain") == 0) {
		const char *n;

		if (lw_dom_name(val, &n) != LW_OK || strcmp(n, val) != 0) {
			fprintf(stderr, "lwd: domain: %s\n", lw_errmsg());
			return -1;
		}
		snprintf(c->domain, sizeof(c->domain), "%s", val);
		return 0;
	}
	if (strcmp(key, "lcores") == 0) {
		if (strlen(val) >= sizeof(c->lcores) || strspn(val, "0123456789,-") != strlen(val)) {
			fprintf(stderr, "lwd: lcores: '%s' is not a list like 0 or 0-1 or 0,2\n", val);
			return -1;
		}
		snprintf(c->lcores, sizeof(c->lcores), "%s", val);
		return 0;
	}
	if (strcmp(key, "hugepages") == 0) {
		if (strcmp(val, "auto") && strcmp(val, "on") && strcmp(val, "off")) {
			fprintf(stderr, "lwd: hugepages: '%s' is not auto, on or off\n", val);
			return -1;
		}
		snprintf(c->hugepages, sizeof(c->hugepages), "%s", val);
		return 0;
	}
	if (strcmp(key, "eal") == 0) {
		snprintf(c->eal_extra, sizeof(c->eal_extra), "%s", val);
		return 0;
	}
	if (strcmp(key, "log_level") == 0) {
		if (strcmp(val, "error") == 0)
			c->verbose = LWD_ERR;
		else if (strcmp(val, "info") == 0)
			c->verbose = LWD_INFO;
		else if (strcmp(val, "debug") == 0)
			c->verbose = LWD_DEBUG;
		else {
			fprintf(stderr, "lwd: log_level: '%s' is not error, info or debug\n", val);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "max_clients") == 0)
		return parse_u32(key, val, &c->dom.max_clients);
	if (strcmp(key, "max_subs") == 0)
		return parse_u32(key, val, &c->dom.max_subs);
	if (strcmp(key, "ring_size") == 0)
		return parse_u32(key, val, &c->dom.ring_size);
	if (strcmp(key, "held_max") == 0)
		return parse_u32(key, val, &c->dom.held_max);
	if (strcmp(key, "max_payload") == 0)
		return parse_u32(key, val, &c->dom.max_payload);
	if (strcmp(key, "mem_mb") == 0)
		return parse_u32(key, val, &c->mem_mb);
	if (strcmp(key, "reap_ms") == 0) {
		/* 0 would be a busy loop: the reap period is lwd's idle sleep */
		if (parse_u32(key, val, &c->reap_ms) != 0)
			return -1;
		if (c->reap_ms == 0) {
			fprintf(stderr, "lwd: reap_ms: must be at least 1 (ms)\n");
			return -1;
		}
		return 0;
	}
	for (int k = 0; k < LW_POOL_CLASSES_MAX; k++) {
		char name[32];

		snprintf(name, sizeof(name), "pool_class%d_count", k);
		if (strcmp(key, name) == 0) {
			if (parse_u32(key, val, &c->dom.class_count[k]))
				return -1;
			if ((uint32_t)k >= c->dom.nclasses)
				c->dom.nclasses = (uint32_t)k + 1;
			return 0;
		}
		snprintf(name, sizeof(name), "pool_class%d_size", k);
		if (strcmp(key, name) == 0) {
			if (parse_u32(key, val, &c->dom.class_size[k]))
				return -1;
			if ((uint32_t)k >= c->dom.nclasses)
				c->dom.nclasses = (uint32_t)k + 1;
			return 0;
		}
	}
	/* Gateway options are the gateway's to parse (1: not one of them). */
	int rc = lw_gw_config_set(&c->gw, key, val);

	if (rc <= 0)
		return rc;
	fprintf(stderr, "lwd: unknown option '%s' (see lwd --help)\n", key);
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int lwd_config_file(struct lwd_config *c, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int ln = 0, rc = 0;

	if (f == NULL) {
		fprintf(stderr, "lwd: cannot open config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *eq, *key, *val, *hash;

		ln++;
		hash = strchr(p, '#');
		if (hash != NULL)
			*hash = '\0';
		p = trim(p);
		if (*p == '\0')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL) {
			fprintf(stderr, "lwd: %s:%d: expected 'key = value'\n", path, ln);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(p);
		val = trim(eq + 1);
		for (char *k = key; *k; k++)
			if (*k == '-')
				*k = '_';
		if (lwd_config_set(c, key, val) != 0) {
			fprintf(stderr, "lwd: in %s line %d\n", path, ln);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}
