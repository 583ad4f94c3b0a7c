/* SPDX-License-Identifier: MIT */
/*
 * Domain layout, naming and the client-side attach. Cold code: runs at
 * connect and at lwd start-up only.
 *
 * Liveness of lwd is an exclusive flock() on a small lock file, not a pid:
 * the kernel drops it when lwd dies however it dies, and pids get reused.
 * The lock file also records where the domain file is (hugetlbfs or
 * /dev/shm), so clients need no configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#include "lw_domain.h"
#include "lw_err.h"

#define ALIGN_UP(x, a) (((x) + (uint64_t)(a) - 1) & ~((uint64_t)(a) - 1))

void lw_dom_config_default(struct lw_dom_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_clients = 64;
	cfg->max_subs = 4096;
	cfg->ring_size = 1024;
	cfg->held_max = 1024;
	cfg->max_payload = 1024 * 1024;
	cfg->n_ctl = 1;
	cfg->nclasses = 4;
	cfg->class_size[0] = 256 - 32;
	cfg->class_count[0] = 16384;
	/* 8 KiB, not 4: a page-sized payload plus its subject and headers
	 * must not fall into the 64 KiB class (16 x the memory, and only
	 * 256 of them: a burst of 4 KiB messages exhausted it). */
	cfg->class_size[1] = 8192 - 32;
	cfg->class_count[1] = 2048;
	cfg->class_size[2] = 65536 - 32;
	cfg->class_count[2] = 256;
	cfg->class_size[3] = 0; /* 0 = max_payload + subject room */
	cfg->class_count[3] = 16;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 2;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

/* Size 0 means "the largest message": max_payload plus subject room. Fixed
 * classes at least that big are dropped, so a small max_payload with the
 * default classes just works instead of failing on class order. */
static void trim_classes(struct lw_dom_config *cfg)
{
	uint64_t top = (uint64_t)cfg->max_payload + LW_LOAN_DATA_OFF;
	uint32_t n = 0, top_count = 0;

	for (uint32_t c = 0; c < cfg->nclasses && c < LW_POOL_CLASSES_MAX; c++) {
		if (cfg->class_size[c] == 0 || cfg->class_size[c] >= top) {
			if (cfg->class_count[c] > top_count)
				top_count = cfg->class_count[c];
			continue;
		}
		cfg->class_size[n] = cfg->class_size[c];
		cfg->class_count[n] = cfg->class_count[c];
		n++;
	}
	if (top_count > 0 && n < LW_POOL_CLASSES_MAX) {
		cfg->class_size[n] = 0;
		cfg->class_count[n] = top_count;
		n++;
	}
	for (uint32_t c = n; c < LW_POOL_CLASSES_MAX; c++)
		cfg->class_size[c] = cfg->class_count[c] = 0;
	cfg->nclasses = n;
}

size_t lw_dom_layout(const struct lw_dom_config *cfg, struct lw_dom_hdr *h)
{
	uint64_t off;
	ssize_t ctl;

	if (cfg->max_clients < 1 || cfg->max_clients > 4096)
		return lw_err_set(LW_EINVAL, "max_clients %u not in 1..4096", cfg->max_clients), 0;
	if (cfg->max_subs < 1 || cfg->max_subs > (1u << 20))
		return lw_err_set(LW_EINVAL, "max_subs %u not in 1..1048576", cfg->max_subs), 0;
	if (cfg->ring_size < 2 || cfg->ring_size > (1u << 24) ||
	    (cfg->ring_size & (cfg->ring_size - 1)))
		return lw_err_set(LW_EINVAL, "ring_size %u is not a power of two in 2..16M",
				  cfg->ring_size), 0;
	if (cfg->held_max < 16 || cfg->held_max > (1u << 20))
		return lw_err_set(LW_EINVAL, "held_max %u not in 16..1048576", cfg->held_max), 0;
	if (cfg->max_payload < 64 || cfg->max_payload > (64u << 20))
		return lw_err_set(LW_EINVAL, "max_payload %u not in 64..64MiB", cfg->max_payload), 0;
	if (cfg->n_ctl < 1 || cfg->n_ctl > LW_CTL_RINGS_MAX)
		return lw_err_set(LW_EINVAL, "control rings %u not in 1..%d", cfg->n_ctl,
				  LW_CTL_RINGS_MAX), 0;
	if (cfg->nclasses < 1 || cfg->nclasses > LW_POOL_CLASSES_MAX)
		return lw_err_set(LW_EINVAL, "size classes %u not in 1..%d", cfg->nclasses,
				  LW_POOL_CLASSES_MAX), 0;

	h->cfg = *cfg;
	trim_classes(&h->cfg);
	cfg = &h->cfg;
	if (cfg->nclasses == 0)
		return lw_err_set(LW_EINVAL, "no pool size class left"), 0;
	h->hdr_size = sizeof(*h);
	off = ALIGN_UP(sizeof(*h), 4096);
	h->off_clients = off;
	off += ALIGN_UP((uint64_t)cfg->max_clients * sizeof(struct lw_client_rec), 64);
	h->off_held = off;
	off += ALIGN_UP((uint64_t)cfg->max_clients * cfg->held_max * sizeof(uint32_t), 64);
	h->off_subs = off;
	off += ALIGN_UP((uint64_t)cfg->max_subs * sizeof(struct lw_sub_rec), 64);
	h->ring_stride = ALIGN_UP(lw_mring_memsize(cfg->ring_size), 64);
	h->off_rings = off;
	off += h->ring_stride * cfg->max_subs;
	ctl = rte_ring_get_memsize(LW_CTL_RING_SIZE);
	if (ctl < 0)
		return lw_err_set(LW_EINVAL, "rte_ring_get_memsize failed"), 0;
	h->ctl_stride = ALIGN_UP((uint64_t)ctl, 64);
	h->off_ctl = off;
	off += h->ctl_stride * cfg->n_ctl;
	off = ALIGN_UP(off, 4096);
	h->off_tree = off;
	h->tree_size = ALIGN_UP(lw_stree_memsize(cfg->max_subs), 4096);
	off += h->tree_size;
	h->off_pool = off;
	for (uint32_t c = 0; c < cfg->nclasses; c++) {
		struct lw_pool_class *pc = &h->cls[c];
		uint64_t room = cfg->class_size[c];

		if (room == 0)
			room = (uint64_t)cfg->max_payload + LW_LOAN_DATA_OFF;
		if (c > 0 && room <= h->cls[c - 1].room)
			return lw_err_set(LW_EINVAL, "size class %u (%lu B) not larger than the one before",
					  c, (unsigned long)room), 0;
		if (cfg->class_count[c] < 1 || cfg->class_count[c] > LW_SLOT_INDEX_MASK)
			return lw_err_set(LW_EINVAL, "size class %u count %u not in 1..16M", c,
					  cfg->class_count[c]), 0;
		pc->slot_bytes = (uint32_t)ALIGN_UP(sizeof(struct lw_slot) + room, 64);
		pc->room = pc->slot_bytes - (uint32_t)sizeof(struct lw_slot);
		pc->count = cfg->class_count[c];
		pc->off_free = off;
		off += ALIGN_UP(lw_ring_memsize(pow2_at_least(pc->count)), 64);
		pc->off_slots = off;
		off += (uint64_t)pc->slot_bytes * pc->count;
	}
	if (h->cls[cfg->nclasses - 1].room < (uint64_t)cfg->max_payload + LW_LOAN_DATA_OFF)
		return lw_err_set(LW_EINVAL,
				  "largest size class (%u B) cannot hold max_payload %u plus subjects",
				  h->cls[cfg->nclasses - 1].room, cfg->max_payload), 0;
	off = ALIGN_UP(off, 2u << 20); /* whole huge pages */
	h->size = off;
	return off;
}

int lw_dom_name(const char *name, const char **out)
{
	if (name == NULL || name[0] == '\0')
		name = getenv("LW_DOMAIN");
	if (name == NULL || name[0] == '\0')
		name = LW_DOMAIN_DEFAULT;
	size_t n = strlen(name);

	if (n >= LW_NAME_MAX)
		return LW_SET_ERR(LW_EINVAL, "domain name '%s' longer than %d bytes", name,
				  LW_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
			return LW_SET_ERR(LW_EINVAL,
					  "domain name '%s': only letters, digits, '-' and '_'", name);
	*out = name;
	return LW_OK;
}

/* <LW_SHM_DIR or /dev/shm>/lightwire-<name><suffix> */
static int shm_file_path(const char *name, const char *suffix, char *buf, size_t bufsz)
{
	const char *dir = getenv("LW_SHM_DIR");
	int n;

	if (dir == NULL || dir[0] == '\0')
		dir = "/dev/shm";
	n = snprintf(buf, bufsz, "%s/lightwire-%s%s", dir, name, suffix);
	if (n < 0 || (size_t)n >= bufsz)
		return LW_SET_ERR(LW_EINVAL, "lock path too long");
	return LW_OK;
}

int lw_dom_lock_path(const char *name, char *buf, size_t bufsz)
{
	return shm_file_path(name, ".lock", buf, bufsz);
}

int lw_dom_control_lock_path(const char *name, char *buf, size_t bufsz)
{
	return shm_file_path(name, ".control.lock", buf, bufsz);
}

int lw_dom_daemon_alive(const char *name)
{
	char path[256];
	int fd, alive;

	if (lw_dom_lock_path(name, path, sizeof(path)) != LW_OK)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* lwd holds LOCK_EX for its whole life: a shared lock succeeds only
	 * when nobody does. */
	alive = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return alive;
}

int lw_dom_attach(const char *name, struct lw_domain *d)
{
	char lock[256], path[256];
	struct stat st;
	ssize_t n;
	int fd, rc;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	rc = lw_dom_lock_path(name, lock, sizeof(lock));
	if (rc != LW_OK)
		return rc;
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return LW_SET_ERR(LW_ENOTFOUND,
					  "domain '%s' does not exist (no %s): start lwd first",
					  name, lock);
		return LW_SET_ERR(LW_EIO, "open %s: %s", lock, strerror(errno));
	}
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return LW_SET_ERR(LW_ENODAEMON,
				  "domain '%s' exists but its lwd is not running (lock %s is free)",
				  name, lock);
	}
	n = pread(fd, path, sizeof(path) - 1, 0);
	close(fd);
	if (n <= 0)
		return LW_SET_ERR(LW_ENODAEMON, "domain '%s': lwd has not published the domain path yet",
				  name);
	path[n] = '\0';
	path[strcspn(path, "\n")] = '\0';

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return LW_SET_ERR(errno == EACCES ? LW_EIO : LW_ENODAEMON, "open domain file %s: %s",
				  path, strerror(errno));
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct lw_dom_hdr)) {
		close(fd);
		return LW_SET_ERR(LW_ECORRUPT, "domain file %s is too small to be a domain", path);
	}
	d->base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (d->base == MAP_FAILED) {
		d->base = NULL;
		close(fd);
		return LW_SET_ERR(LW_EIO, "mmap %s: %s", path, strerror(errno));
	}
	d->fd = fd;
	d->size = (size_t)st.st_size;
	d->hdr = (struct lw_dom_hdr *)d->base;
	if (d->hdr->magic != LW_DOM_MAGIC) {
		rc = LW_SET_ERR(LW_ECORRUPT, "%s is not a Lightwire domain (bad magic)", path);
		goto fail;
	}
	if (d->hdr->abi_version != LW_ABI_VERSION) {
		rc = LW_SET_ERR(LW_EABI,
				"domain '%s' was made with ABI version %u, this liblightwire speaks %u:"
				" use matching lwd and library versions",
				name, d->hdr->abi_version, LW_ABI_VERSION);
		goto fail;
	}
	if (d->hdr->hdr_size != sizeof(struct lw_dom_hdr) || d->hdr->size != d->size) {
		rc = LW_SET_ERR(LW_ECORRUPT, "domain '%s' header size/length mismatch", name);
		goto fail;
	}
	if (atomic_load_explicit(&d->hdr->state, memory_order_acquire) != LW_DOM_READY) {
		rc = LW_SET_ERR(LW_ENODAEMON, "domain '%s' is not ready (state %u)", name,
				d->hdr->state);
		goto fail;
	}
	d->tree = lw_stree_attach(d->base + d->hdr->off_tree, d->hdr->tree_size);
	if (d->tree == NULL) {
		rc = LW_SET_ERR(LW_ECORRUPT, "domain '%s': subject tree is damaged", name);
		goto fail;
	}
	return LW_OK;
fail:
	lw_dom_detach(d);
	return rc;
}

void lw_dom_detach(struct lw_domain *d)
{
	if (d->base != NULL)
		munmap(d->base, d->size);
	if (d->fd >= 0)
		close(d->fd);
	d->base = NULL;
	d->hdr = NULL;
	d->fd = -1;
}

uint64_t lw_proc_start_time(int pid)
{
	char path[64], buf[1024];
	unsigned long long st = 0;
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	/* Gone is ENOENT (or ESRCH); anything else (out of descriptors,
	 * out of memory) says nothing about the process. */
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : LW_PROC_UNKNOWN;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int e = errno;

		close(fd);
		return e == ESRCH ? 0 : LW_PROC_UNKNOWN;
	}
	close(fd);
	if (n == 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and ')' : fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	/* field 3 (state) starts at p+2; starttime is field 22. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &st) != 1)
		return 0;
	/* A zombie is dead for our purposes. */
	if (p[2] == 'Z' || p[2] == 'X')
		return 0;
	return st ? st : 1;
}

int lw_futex_wait(_Atomic uint32_t *w, uint32_t expect, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	/* Not FUTEX_PRIVATE: the word is in memory shared between processes. */
	if (syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, expect, tsp, NULL, 0) != 0)
		return -errno;
	return 0;
}

void lw_futex_wake(_Atomic uint32_t *w, int n)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, n, NULL, NULL, 0);
}

uint64_t lw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void lw_lat_record(struct lw_dom_hdr *h, uint32_t pub_ts)
{
	static const uint64_t bounds[] = { LW_LAT_BOUNDS_NS };
	uint32_t now = (uint32_t)(lw_now_ns() >> 4);
	uint64_t ns = (uint64_t)(uint32_t)(now - pub_ts) << 4;
	size_t b = 0;

	_Static_assert(sizeof(bounds) / sizeof(bounds[0]) == LW_LAT_BUCKETS - 1, "buckets");
	while (b < LW_LAT_BUCKETS - 1 && ns > bounds[b])
		b++;
	atomic_fetch_add_explicit(&h->lat_bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->lat_sum_ns, ns, memory_order_relaxed);
}
