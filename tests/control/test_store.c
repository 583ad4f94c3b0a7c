/* SPDX-License-Identifier: MIT */
/*
 * The stream store alone: CRC32C vectors, append/read/reopen, segment
 * roll-over and trimming, delete and purge markers surviving a restart, a
 * torn last record truncated, a corrupted record in the middle reported
 * and skipped while the rest is served, and random operations against a
 * trivially correct model (an array of what should be live).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lw_crc32c.h"
#include "lw_store.h"

static char g_dir[128];

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/lw-store-test-%d", (int)getpid());
	return 0;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	(void)state;
	rm_dir(g_dir);
	return 0;
}

static lw_store *open_file(uint64_t seg_bytes, struct lw_store_recovery *rep)
{
	struct lw_store_opts o = { .kind = LW_STORE_FILE, .dir = g_dir,
				   .sync = LW_SYNC_NEVER, .segment_bytes = seg_bytes };
	lw_store *s = lw_store_open(&o, rep);

	assert_non_null(s);
	return s;
}

static void put(lw_store *s, uint64_t want_seq, const char *subj, int i)
{
	char data[64];

	snprintf(data, sizeof(data), "payload-%d", i);
	assert_int_equal(lw_store_append(s, subj, "NATS/1.0\r\nA: b\r\n\r\n", 18, data,
					 strlen(data), 1000 + i),
			 (int64_t)want_seq);
}

static void check(lw_store *s, uint64_t seq, int i)
{
	struct lw_store_rec r;
	char data[64];

	snprintf(data, sizeof(data), "payload-%d", i);
	assert_int_equal(lw_store_get(s, seq, &r), 0);
	assert_int_equal(r.seq, seq);
	assert_int_equal(r.ts, 1000 + i);
	assert_int_equal(r.data_len, strlen(data));
	assert_memory_equal(r.data, data, r.data_len);
	assert_int_equal(r.hdr_len, 18);
	lw_store_rec_free(&r);
}

/* Path of the last (or only) segment file. */
static void last_seg(char *out, size_t cap)
{
	DIR *d = opendir(g_dir);
	struct dirent *de;
	char best[256] = "";

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".seg") && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	assert_true(best[0] != '\0');
	snprintf(out, cap, "%s/%s", g_dir, best);
}

static int count_segs(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".seg") != NULL;
	if (d)
		closedir(d);
	return n;
}

static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(lw_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(lw_crc32c(0, "", 0), 0);
	/* Incremental equals one shot, across the 8-byte stride. */
	const char *t = "The quick brown fox jumps over the lazy dog";
	uint32_t a = lw_crc32c(0, t, strlen(t));
	uint32_t b = lw_crc32c(lw_crc32c(0, t, 13), t + 13, strlen(t) - 13);

	assert_int_equal(a, b);
	assert_int_equal(a, 0x22620404u);
}

static void test_append_reopen(void **state)
{
	struct lw_store_recovery rep;
	struct lw_store_state st;
	lw_store *s;

	(void)state;
	s = open_file(0, &rep);
	assert_int_equal(rep.records, 0);
	for (int i = 1; i <= 100; i++)
		put(s, (uint64_t)i, i % 2 ? "orders.new" : "orders.old", i);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 100);
	assert_int_equal(st.first_seq, 1);
	assert_int_equal(st.last_seq, 100);
	assert_int_equal(st.num_subjects, 2);
	assert_int_equal(lw_store_count(s, 1, "orders.new"), 50);
	assert_int_equal(lw_store_last(s, "orders.new"), 99);
	assert_int_equal(lw_store_next(s, 2, "orders.new"), 3);
	assert_int_equal(lw_store_subject_msgs(s, "orders.old"), 50);
	lw_store_close(s);

	s = open_file(0, &rep);
	assert_int_equal(rep.records, 100);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.corrupt_records, 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 100);
	assert_int_equal(st.first_ts, 1001);
	assert_int_equal(st.last_ts, 1100);
	for (int i = 1; i <= 100; i++)
		check(s, (uint64_t)i, i);
	assert_string_equal(lw_store_subject(s, 4), "orders.old");
	assert_int_equal(lw_store_seq_at_time(s, 1050), 50);
	put(s, 101, "orders.new", 101);
	lw_store_close(s);
	rm_dir(g_dir);
}

/* Appends gather in memory until lw_store_flush; a flush the disk refuses
 * (a file-size limit, as a full disk) takes those messages out of the
 * index again, keeps everything written before, and the store goes on
 * once there is room. */
static void test_flush_failure(void **state)
{
	struct lw_store_recovery rep;
	struct lw_store_state st;
	struct rlimit old, lim;
	struct stat sb;
	char seg[512];
	lw_store *s;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	s = open_file(0, &rep);
	for (int i = 1; i <= 10; i++)
		put(s, (uint64_t)i, "disk.x", i);
	assert_int_equal(lw_store_unflushed_from(s), 1);
	assert_int_equal(lw_store_flush(s), 0);
	assert_int_equal(lw_store_unflushed_from(s), 0);
	last_seg(seg, sizeof(seg));
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 11; i <= 60; i++)
		put(s, (uint64_t)i, i % 2 ? "disk.x" : "disk.y", i);
	assert_int_equal(lw_store_unflushed_from(s), 11);
	/* a read of a buffered message writes first: here it fails */
	{
		struct lw_store_rec r;

		assert_int_equal(lw_store_get(s, 30, &r), -EFBIG);
	}
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 10);
	assert_int_equal(st.last_seq, 10);
	assert_int_equal(st.num_subjects, 1);
	assert_int_equal(lw_store_unflushed_from(s), 0);
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(lim.rlim_cur - 100, (rlim_t)sb.st_size); /* no partial record */
	check(s, 10, 10);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	put(s, 11, "disk.x", 111);
	assert_int_equal(lw_store_sync(s), 0);
	lw_store_close(s);
	s = open_file(0, &rep);
	assert_int_equal(rep.records, 11);
	assert_int_equal(rep.torn_bytes, 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 11);
	assert_int_equal(st.lost_msgs, 0);
	check(s, 11, 111);
	lw_store_close(s);
	rm_dir(g_dir);
}

static void test_torn_tail(void **state)
{
	struct lw_store_recovery rep;
	struct lw_store_state st;
	struct stat sb;
	char seg[512];
	lw_store *s;
	off_t full;
	int fd;

	(void)state;
	s = open_file(0, NULL);
	for (int i = 1; i <= 10; i++)
		put(s, (uint64_t)i, "a.b", i);
	lw_store_close(s);
	last_seg(seg, sizeof(seg));
	assert_int_equal(stat(seg, &sb), 0);
	full = sb.st_size;
	/* Cut the last record in half: the torn write of a crash. */
	assert_int_equal(truncate(seg, full - 20), 0);
	s = open_file(0, &rep);
	assert_true(rep.torn_bytes > 0);
	assert_int_equal(rep.corrupt_records, 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 9);
	assert_int_equal(st.last_seq, 9);
	assert_int_equal(lw_store_get(s, 10, &(struct lw_store_rec){ 0 }), -ENOENT);
	/* The file was truncated to the last good record; appends go on. */
	assert_int_equal(stat(seg, &sb), 0);
	assert_true(sb.st_size < full - 20);
	put(s, 10, "a.b", 10);
	lw_store_close(s);

	/* Garbage after the last record (a zero-filled tail) is torn too. */
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 16);
	close(fd);
	s = open_file(0, &rep);
	assert_int_equal(rep.torn_bytes, 16);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 10);
	check(s, 10, 10);
	lw_store_close(s);
	rm_dir(g_dir);
}

static void test_corrupt_middle(void **state)
{
	struct lw_store_recovery rep;
	struct lw_store_state st;
	struct lw_store_rec r;
	const uint64_t *lost;
	char seg[512], buf[8192];
	size_t nlost;
	lw_store *s;
	ssize_t n;
	int fd;

	(void)state;
	s = open_file(0, NULL);
	for (int i = 1; i <= 10; i++)
		put(s, (uint64_t)i, "a.b", i);
	lw_store_close(s);
	last_seg(seg, sizeof(seg));
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	n = pread(fd, buf, sizeof(buf), 0);
	assert_true(n > 0);
	/* Flip a byte of the data of message 5. */
	char *p = memmem(buf, (size_t)n, "payload-5", 9);

	assert_non_null(p);
	p[3] ^= 0x40;
	assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
	close(fd);

	s = open_file(0, &rep);
	assert_int_equal(rep.corrupt_records, 1);
	assert_int_equal(rep.torn_bytes, 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 9);
	assert_int_equal(st.lost_msgs, 1);
	lost = lw_store_lost(s, &nlost);
	assert_int_equal(nlost, 1);
	assert_int_equal(lost[0], 5);
	assert_int_equal(lw_store_get(s, 5, &r), -ENOENT);
	for (int i = 1; i <= 10; i++)
		if (i != 5)
			check(s, (uint64_t)i, i);
	put(s, 11, "a.b", 11);
	lw_store_close(s);

	/* Corruption found on read after open: reported, not served. */
	s = open_file(0, NULL);
	fd = open(seg, O_RDWR);
	n = pread(fd, buf, sizeof(buf), 0);
	p = memmem(buf, (size_t)n, "payload-7", 9);
	assert_non_null(p);
	p[2] ^= 1;
	assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
	close(fd);
	assert_int_equal(lw_store_get(s, 7, &r), -EBADMSG);
	check(s, 8, 8);
	lw_store_close(s);
	rm_dir(g_dir);
}

static void test_segments_markers(void **state)
{
	struct lw_store_recovery rep;
	struct lw_store_state st;
	lw_store *s;

	(void)state;
	s = open_file(1000, NULL);
	for (int i = 1; i <= 200; i++)
		put(s, (uint64_t)i, i % 3 ? "x.y" : "x.z", i);
	assert_true(count_segs() > 10);
	int before = count_segs();

	assert_int_equal(lw_store_purge(s, 101, NULL), 100);
	assert_true(count_segs() < before);
	assert_int_equal(lw_store_remove(s, 150, true), 0);
	assert_int_equal(lw_store_remove(s, 150, true), -ENOENT);
	/* A non-durable head removal sticks through the next append. */
	assert_int_equal(lw_store_remove(s, 101, false), 0);
	put(s, 201, "x.y", 201);
	assert_int_equal(lw_store_purge(s, 0, "x.z"), 32); /* 150 was deleted */
	lw_store_get_state(s, &st);
	uint64_t msgs = st.msgs;

	assert_int_equal(st.first_seq, 103); /* 102 was x.z */
	lw_store_close(s);

	s = open_file(1000, &rep);
	assert_int_equal(rep.corrupt_records, 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, msgs);
	assert_int_equal(st.first_seq, 103); /* 102 was x.z */
	assert_int_equal(st.last_seq, 201);
	assert_int_equal(st.lost_msgs, 0);
	assert_int_equal(lw_store_get(s, 150, &(struct lw_store_rec){ 0 }), -ENOENT);
	assert_int_equal(lw_store_count(s, 0, "x.z"), 0);
	check(s, 200, 200);
	/* Purge everything: the sequence still goes on after a restart,
	 * and last_ts stays the last message's, as nats-server's does. */
	assert_true(lw_store_purge(s, 0, NULL) > 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.last_ts, 1201);
	lw_store_close(s);
	s = open_file(1000, NULL);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 0);
	assert_int_equal(st.first_seq, 202);
	assert_int_equal(st.last_seq, 201);
	assert_int_equal(st.last_ts, 1201);
	put(s, 202, "x.y", 202);
	/* A purge to a sequence past the end moves the next sequence there
	 * (nats-server's Compact; STREAM.PURGE seq, first_seq), also after
	 * a restart and with messages after it. */
	assert_int_equal(lw_store_purge(s, 500, NULL), 1);
	lw_store_get_state(s, &st);
	assert_int_equal(st.first_seq, 500);
	assert_int_equal(st.last_seq, 499);
	put(s, 500, "x.y", 500);
	lw_store_close(s);
	s = open_file(1000, &rep);
	assert_int_equal(rep.corrupt_records, 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 1);
	assert_int_equal(st.first_seq, 500);
	check(s, 500, 500);
	put(s, 501, "x.y", 501);
	assert_int_equal(lw_store_purge(s, 700, NULL), 2);
	lw_store_close(s);
	s = open_file(1000, NULL);
	lw_store_get_state(s, &st);
	assert_int_equal(st.first_seq, 700);
	assert_int_equal(st.last_seq, 699);
	put(s, 700, "x.y", 700);
	lw_store_close(s);
	rm_dir(g_dir);
}

static void test_memory(void **state)
{
	struct lw_store_opts o = { .kind = LW_STORE_MEMORY };
	struct lw_store_state st;
	lw_store *s = lw_store_open(&o, NULL);

	(void)state;
	assert_non_null(s);
	for (int i = 1; i <= 50; i++)
		put(s, (uint64_t)i, "m.n", i);
	check(s, 25, 25);
	assert_int_equal(lw_store_remove(s, 1, false), 0);
	assert_int_equal(lw_store_purge(s, 10, NULL), 8);
	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, 41);
	assert_int_equal(st.first_seq, 10);
	/* Removing the last message keeps its time as last_ts. */
	assert_int_equal(lw_store_remove(s, 50, false), 0);
	lw_store_get_state(s, &st);
	assert_int_equal(st.last_seq, 50);
	assert_int_equal(st.last_ts, 1050);
	assert_int_equal(lw_store_purge(s, 80, NULL), 40);
	put(s, 80, "m.n", 80);
	check(s, 80, 80);
	lw_store_close(s);
}

/* Random appends, deletes, purges and reopens against a model. */
static void test_model(void **state)
{
	enum { N = 3000 };
	static char live[N + 2];
	uint64_t last = 0;
	lw_store *s;

	(void)state;
	srand(7);
	memset(live, 0, sizeof(live));
	s = open_file(4096, NULL);
	for (int op = 0; op < 4000 && last < N; op++) {
		int r = rand() % 100;

		if (r < 70) {
			put(s, last + 1, (rand() % 2) ? "r.a" : "r.b", (int)last + 1);
			live[++last] = 1;
		} else if (r < 90 && last > 0) {
			uint64_t q = 1 + (uint64_t)rand() % last;

			assert_int_equal(lw_store_remove(s, q, true), live[q] ? 0 : -ENOENT);
			live[q] = 0;
		} else if (r < 93 && last > 0) {
			uint64_t k = 1 + (uint64_t)rand() % last;
			int64_t want = 0;

			for (uint64_t q = 1; q < k; q++)
				want += live[q], live[q] = 0;
			assert_int_equal(lw_store_purge(s, k, NULL), want);
		} else if (r < 96) {
			lw_store_close(s);
			s = open_file(4096, NULL);
		}
	}
	lw_store_close(s);
	s = open_file(4096, NULL);
	uint64_t n = 0;

	for (uint64_t q = 1; q <= last; q++) {
		struct lw_store_rec rec;

		if (live[q]) {
			check(s, q, (int)q);
			n++;
		} else {
			assert_int_equal(lw_store_get(s, q, &rec), -ENOENT);
		}
	}
	struct lw_store_state st;

	lw_store_get_state(s, &st);
	assert_int_equal(st.msgs, n);
	assert_int_equal(st.last_seq, last);
	lw_store_close(s);
	rm_dir(g_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test_teardown(test_append_reopen, teardown),
		cmocka_unit_test_teardown(test_flush_failure, teardown),
		cmocka_unit_test_teardown(test_torn_tail, teardown),
		cmocka_unit_test_teardown(test_corrupt_middle, teardown),
		cmocka_unit_test_teardown(test_segments_markers, teardown),
		cmocka_unit_test(test_memory),
		cmocka_unit_test_teardown(test_model, teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
