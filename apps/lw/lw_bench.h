/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the lw bench driver (lw_cmd_bench.c: options,
 * CPU placement, child processes, reporting) and its run loops
 * (lw_bench_run.c: pingpong, tput, fanout). Not installed.
 */
#ifndef LW_BENCH_H
#define LW_BENCH_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "lw_cli.h"

#define LW_BENCH_MAX_SUBS 64
/* A receive that takes this long means the peer is gone or stuck. */
#define LW_BENCH_RECV_TIMEOUT_MS 5000
/* Header that marks the end-of-run message (any size, even 0 bytes). */
#define LW_BENCH_END_HDR "NATS/1.0\r\nLw-Bench: end\r\n\r\n"

enum lw_bench_mode { LW_BENCH_PINGPONG, LW_BENCH_TPUT, LW_BENCH_FANOUT };

struct lw_bench {
	const struct lw_cli *g;
	enum lw_bench_mode mode;
	const char *mode_name;
	size_t size;
	uint64_t count;		/* timed messages / round trips (upper bound with duration) */
	uint64_t warmup;	/* untimed messages / round trips first */
	double duration_s;	/* 0: run to count */
	int nsubs;		/* fanout subscribers */
	int cpu_a, cpu_b;	/* parent, child (-1: unpinned) */
	bool spin, csv, progress;
	uint32_t burst;		/* tput/fanout: lw_publish_burst of this many (1 = lw_publish) */
	char label[96];
	char subj[64];		/* ping / data subject */
	char subj2[64];		/* pong subject */
	FILE *out;		/* the human-readable block: stdout, stderr with --csv */

	/* Machine. */
	int ncpus;		/* CPUs this process may run on */
	cpu_set_t allowed;

	/* Children: one pipe they all report through. */
	pid_t parent;
	int pipe_rd, pipe_wr;
	pid_t kids[LW_BENCH_MAX_SUBS];
	int nkids;
};

/* What a child reports; writes under PIPE_BUF are atomic, so children
 * can share one pipe. */
enum { LW_BENCH_READY = 1, LW_BENCH_RESULT = 2, LW_BENCH_ERROR = 3 };

struct lw_bench_rec {
	int32_t kind;
	int32_t child;
	uint64_t received;	/* data messages, warm-up included */
	uint64_t timed;		/* data messages after the warm-up */
	uint64_t t_first;	/* CLOCK_MONOTONIC ns of the first timed message */
	uint64_t t_last;	/* ... of the end marker, right behind the last one */
	uint64_t seq_errors;	/* messages whose sequence number was not the next */
	uint64_t dropped, blocked;
	char err[256];
};

/* Driver services (lw_cmd_bench.c). */
int lw_bench_pin(int cpu);
/* Forks child @p idx pinned to @p cpu (-1: not pinned); it runs
 * lw_bench_child() and never returns here. */
int lw_bench_spawn(struct lw_bench *b, int idx, int cpu);
/* Collects @p n records of @p kind (indexed by child) within @p timeout_ms;
 * prints the reason and returns -1 on error, timeout or SIGINT. */
int lw_bench_collect(struct lw_bench *b, int kind, struct lw_bench_rec *recs, int n,
		     int timeout_ms);
/* Waits for the children; @p force terminates them first. */
void lw_bench_reap(struct lw_bench *b, bool force);
/* Progress line on stderr (a tty only), at most about once a second. */
void lw_bench_progress(struct lw_bench *b, uint64_t now, uint64_t *next, uint64_t done,
		       uint64_t total, const char *unit);
void lw_bench_progress_clear(struct lw_bench *b);

/* The machine line: RESULT <label> k=v ... or a CSV header and row. */
struct lw_bench_kv {
	int n;
	const char *key[24];
	char val[24][32];
};
void lw_bench_kv_u64(struct lw_bench_kv *kv, const char *key, uint64_t v);
void lw_bench_kv_f(struct lw_bench_kv *kv, const char *key, double v, int prec);
void lw_bench_emit(const struct lw_bench *b, const struct lw_bench_kv *kv);

/* Run loops (lw_bench_run.c); return an exit code. */
int lw_bench_pingpong(struct lw_bench *b);
int lw_bench_stream(struct lw_bench *b);	/* tput and fanout */
/* Body of a child process; returns its exit status. */
int lw_bench_child(struct lw_bench *b, int idx);

#endif
