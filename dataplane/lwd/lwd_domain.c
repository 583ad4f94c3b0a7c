/* SPDX-License-Identifier: MIT */
/*
 * Creating, recovering and removing the domain (cold, start-up/shut-down).
 *
 * One lwd per domain: an exclusive flock() on the lock file. If we get the
 * lock and a domain file is still there, the lwd that made it died without
 * cleaning up: its clients are told (state DEAD) and the file is replaced.
 * The lock file's content is the domain file's path and lwd's pid, read by
 * clients (lw_dom_attach) and by a refused second lwd for its message.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#include "lw_err.h"
#include "lw_pool.h"
#include "lwd.h"

#define HUGE_SZ (2u << 20)

static const char *hugetlbfs_mount(void)
{
	static char mnt[256];
	char dev[128], dir[256], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	const char *res = NULL;

	if (f == NULL)
		return NULL;
	while (fscanf(f, "%127s %255s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "hugetlbfs") == 0) {
			snprintf(mnt, sizeof(mnt), "%s", dir);
			res = mnt;
			break;
		}
	}
	fclose(f);
	return res;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long n = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

/* Free 2 MiB pages nobody has reserved yet (a mapping reserves its pages
 * at mmap time, before it touches them). */
static long free_hugepages(void)
{
	long n = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") -
		 read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages");

	return n > 0 ? n : 0;
}

static int read_lock_content(int fd, char *path, size_t pathsz, int *pid)
{
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *nl;

	*pid = 0;
	path[0] = '\0';
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (nl == NULL)
		return -1;
	*nl = '\0';
	if ((size_t)(nl - buf) >= pathsz)
		return -1;
	memcpy(path, buf, (size_t)(nl - buf) + 1);
	*pid = atoi(nl + 1);
	return 0;
}

/* A domain file left by a crashed lwd: tell its clients, then remove it. */
static void recover_stale(const char *name, const char *path, int old_pid)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct lw_dom_hdr)) {
		struct lw_dom_hdr *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fd, 0);

		if (h != MAP_FAILED) {
			if (h->magic == LW_DOM_MAGIC)
				atomic_store(&h->state, LW_DOM_DEAD);
			munmap(h, (size_t)st.st_size);
		}
	}
	close(fd);
	unlink(path);
	lwd_log(LWD_INFO, "recovered stale domain '%s' left by lwd pid %d (not running): removed %s",
		name, old_pid, path);
}

static int choose_dir(struct lwd *w, size_t size, char *dir, size_t dirsz)
{
	const char *shm = getenv("LW_SHM_DIR");
	const char *mnt = hugetlbfs_mount();
	long need = (long)(size / HUGE_SZ);
	bool can_huge = mnt != NULL && free_hugepages() >= need;

	if (strcmp(w->cfg.hugepages, "on") == 0 && !can_huge) {
		lwd_log(LWD_ERR, "hugepages=on but %s (need %ld free 2 MiB pages, %ld free)",
			mnt ? "not enough are free" : "no hugetlbfs is mounted", need,
			free_hugepages());
		return LW_ENOMEM;
	}
	w->on_hugepages = can_huge && strcmp(w->cfg.hugepages, "off") != 0;
	snprintf(dir, dirsz, "%s", w->on_hugepages ? mnt : (shm && shm[0] ? shm : "/dev/shm"));
	return LW_OK;
}

static void format(struct lwd *w)
{
	struct lw_domain *d = &w->dom;
	struct lw_dom_hdr *h = d->hdr;
	char rname[RTE_RING_NAMESIZE];

	/* Subscription rings are formatted when a subscription takes them, so
	 * an idle domain does not touch (allocate) ring pages it never uses. */
	for (uint32_t i = 0; i < h->cfg.n_ctl; i++) {
		snprintf(rname, sizeof(rname), "lwctl%u", i);
		/* Multi-producer (any client), single consumer (worker i). */
		rte_ring_init(lw_dom_ctl_ring(d, i), rname, LW_CTL_RING_SIZE, RING_F_SC_DEQ);
	}
	d->tree = lw_stree_init(d->base + h->off_tree, h->tree_size, h->cfg.max_subs);
	lw_pool_format(d);
	atomic_store(&h->epoch, 1);
}

/* Creates w->dom_path with @p size bytes and maps it into w->dom. */
static int map_file(struct lwd *w, size_t size)
{
	int fd = open(w->dom_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);

	if (fd < 0) {
		lwd_log(LWD_ERR, "cannot create %s: %s", w->dom_path, strerror(errno));
		return LW_EIO;
	}
	fchmod(fd, 0660);
	if (ftruncate(fd, (off_t)size) != 0) {
		lwd_log(LWD_ERR, "cannot size %s to %zu bytes: %s", w->dom_path, size,
			strerror(errno));
		close(fd);
		unlink(w->dom_path);
		return LW_ENOMEM;
	}
	/* tmpfs allocates pages on first touch: a full /dev/shm would then be
	 * a SIGBUS in lwd or in a client. Reserve the space now and fail
	 * with a clear message instead. (hugetlbfs reserves at mmap.) */
	if (!w->on_hugepages) {
		int e = posix_fallocate(fd, 0, (off_t)size);

		if (e != 0 && e != EOPNOTSUPP && e != EINVAL) {
			lwd_log(LWD_ERR, "cannot reserve %zu MiB for %s: %s (is its file system"
				" full? see df; or lower --max-subs/--ring-size/pool sizes)",
				size >> 20, w->dom_path, strerror(e));
			close(fd);
			unlink(w->dom_path);
			return LW_ENOMEM;
		}
	}
	w->dom.base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w->dom.base == MAP_FAILED) {
		int e = errno;

		w->dom.base = NULL;
		close(fd);
		unlink(w->dom_path);
		if (!(e == ENOMEM && w->on_hugepages))
			lwd_log(LWD_ERR, "cannot map %s (%zu bytes): %s", w->dom_path, size,
				strerror(e));
		return LW_ENOMEM;
	}
	w->dom.fd = fd;
	w->dom.size = size;
	return LW_OK;
}

int lwd_domain_create(struct lwd *w)
{
	struct lw_dom_hdr layout;
	char dir[256], old[256], content[320];
	const char *name = w->cfg.domain;
	size_t size;
	int rc, old_pid, n;

	memset(&layout, 0, sizeof(layout));
	w->cfg.dom.n_ctl = w->n_workers;
	size = lw_dom_layout(&w->cfg.dom, &layout);
	if (size == 0) {
		lwd_log(LWD_ERR, "bad configuration: %s", lw_errmsg());
		return LW_EINVAL;
	}
	if (lw_dom_lock_path(name, w->lock_path, sizeof(w->lock_path)) != LW_OK)
		return LW_EINVAL;
	w->lock_fd = open(w->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (w->lock_fd < 0) {
		lwd_log(LWD_ERR, "cannot open lock file %s: %s", w->lock_path, strerror(errno));
		return LW_EIO;
	}
	/* Clients take a shared lock for an instant to see whether an lwd
	 * is alive; do not mistake one of those for another lwd. */
	for (int i = 0; i < 50 && flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0; i++) {
		struct timespec ts = { 0, 4000000 };

		nanosleep(&ts, NULL);
	}
	if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		read_lock_content(w->lock_fd, old, sizeof(old), &old_pid);
		lwd_log(LWD_ERR, "domain '%s' is already served by another lwd (pid %d, lock %s)",
			name, old_pid, w->lock_path);
		close(w->lock_fd);
		w->lock_fd = -1;
		return LW_EBUSY;
	}
	fchmod(w->lock_fd, 0660);
	if (read_lock_content(w->lock_fd, old, sizeof(old), &old_pid) == 0 && old[0] != '\0')
		recover_stale(name, old, old_pid);
	if (choose_dir(w, size, dir, sizeof(dir)) != LW_OK)
		return LW_ENOMEM;
	n = snprintf(w->dom_path, sizeof(w->dom_path), "%s/lightwire-%s.dom", dir, name);
	if (n < 0 || (size_t)n >= sizeof(w->dom_path) || (size_t)n >= sizeof(layout.path))
		return LW_EINVAL;
	/* Not in the lock file (e.g. it was deleted by hand) but still there. */
	if (access(w->dom_path, F_OK) == 0)
		recover_stale(name, w->dom_path, old_pid);

	rc = map_file(w, size);
	if (rc == LW_ENOMEM && w->on_hugepages && strcmp(w->cfg.hugepages, "auto") == 0) {
		/* Another process took the pages between our count and our
		 * mmap: auto means "use them if we can", so fall back. */
		const char *shm = getenv("LW_SHM_DIR");

		lwd_log(LWD_INFO, "hugepages ran out while mapping the domain: using shared memory");
		w->on_hugepages = false;
		snprintf(w->dom_path, sizeof(w->dom_path), "%s/lightwire-%s.dom",
			 shm && shm[0] ? shm : "/dev/shm", name);
		if (access(w->dom_path, F_OK) == 0)
			recover_stale(name, w->dom_path, old_pid);
		rc = map_file(w, size);
	}
	if (rc != LW_OK)
		return rc;
	w->dom.hdr = (struct lw_dom_hdr *)w->dom.base;
	/* Place the pages on the NUMA node of the main lcore before the
	 * first touch, which is what allocates them. */
	w->numa_node = -1;
	if (numa_available() >= 0) {
		int cpu = sched_getcpu();

		w->numa_node = cpu >= 0 ? numa_node_of_cpu(cpu) : 0;
		if (w->numa_node >= 0)
			numa_tonode_memory(w->dom.base, size, w->numa_node);
	}
	*w->dom.hdr = layout;
	w->dom.hdr->magic = LW_DOM_MAGIC;
	w->dom.hdr->abi_version = LW_ABI_VERSION;
	snprintf(w->dom.hdr->name, sizeof(w->dom.hdr->name), "%s", name);
	/* Fits: checked against sizeof(layout.path) above. */
	memcpy(w->dom.hdr->path, w->dom_path, strlen(w->dom_path) + 1);
	w->dom.hdr->daemon_pid = getpid();
	w->dom.hdr->created_ns = lw_now_ns();
	format(w);
	if (w->dom.tree == NULL) {
		lwd_log(LWD_ERR, "subject tree does not fit its region");
		return LW_EINVAL;
	}
	/* Release: everything above is visible to a client that sees READY. */
	atomic_store_explicit(&w->dom.hdr->state, LW_DOM_READY, memory_order_release);

	n = snprintf(content, sizeof(content), "%s\n%d\n", w->dom_path, (int)getpid());
	if (ftruncate(w->lock_fd, 0) != 0 || pwrite(w->lock_fd, content, (size_t)n, 0) != n) {
		lwd_log(LWD_ERR, "cannot write lock file %s: %s", w->lock_path, strerror(errno));
		return LW_EIO;
	}
	return LW_OK;
}

void lwd_domain_destroy(struct lwd *w)
{
	struct lw_domain *d = &w->dom;

	if (d->hdr != NULL) {
		atomic_store_explicit(&d->hdr->state, LW_DOM_SHUTDOWN, memory_order_release);
		/* Wake every sleeper so blocked calls return LW_ECLOSED now. */
		for (uint32_t i = 0; i < d->hdr->cfg.max_clients; i++) {
			struct lw_client_rec *r = lw_dom_client(d, i);

			atomic_fetch_add(&r->wake_seq, 1);
			lw_futex_wake(&r->wake_seq, INT_MAX);
			lw_futex_wake(&r->resp_seq, INT_MAX);
		}
		unlink(w->dom_path);
		d->hdr = NULL; /* before the mapping goes: signal handlers look */
		munmap(d->base, d->size);
		close(d->fd);
	}
	if (w->lock_fd >= 0) {
		if (ftruncate(w->lock_fd, 0) != 0)
			lwd_log(LWD_ERR, "cannot clear %s", w->lock_path);
		unlink(w->lock_path);
		close(w->lock_fd);
		w->lock_fd = -1;
	}
}
