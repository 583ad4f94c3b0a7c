/* SPDX-License-Identifier: MIT */
/*
 * lw_ring against a model (a plain FIFO array) with random operation
 * sequences, then with concurrent producers and a consumer checking that
 * every value arrives exactly once and in per-producer order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>

#include "lw_ring.h"

static struct lw_ring *ring_new(uint32_t cap)
{
	struct lw_ring *r = aligned_alloc(64, lw_ring_memsize(cap));

	assert_non_null(r);
	assert_int_equal(lw_ring_init(r, cap), 0);
	return r;
}

static void test_init_rejects_bad_capacity(void **state)
{
	struct lw_ring *r = aligned_alloc(64, lw_ring_memsize(64));

	(void)state;
	assert_int_equal(lw_ring_init(r, 0), -1);
	assert_int_equal(lw_ring_init(r, 1), -1);
	assert_int_equal(lw_ring_init(r, 48), -1);
	assert_int_equal(lw_ring_init(r, 64), 0);
	free(r);
}

static void test_model_random(void **state)
{
	const uint32_t cap = 16;
	struct lw_ring *r = ring_new(cap);
	uint64_t model[16], v, next = 1;
	uint32_t head = 0, count = 0;

	(void)state;
	srand(42);
	for (int op = 0; op < 200000; op++) {
		if (rand() % 2) {
			int ok = lw_ring_enqueue(r, next);

			assert_int_equal(ok, count < cap);
			if (ok) {
				model[(head + count) % cap] = next++;
				count++;
			}
		} else {
			int ok = lw_ring_dequeue(r, &v);

			assert_int_equal(ok, count > 0);
			if (ok) {
				assert_int_equal(v, model[head]);
				head = (head + 1) % cap;
				count--;
			}
		}
		assert_int_equal(lw_ring_count(r), count);
	}
	free(r);
}

#define PRODUCERS 2
#define PER_PRODUCER 200000

struct prod {
	struct lw_ring *r;
	uint64_t id;
};

static void *producer(void *p)
{
	struct prod *pr = p;

	for (uint64_t i = 0; i < PER_PRODUCER; i++)
		while (!lw_ring_enqueue(pr->r, pr->id << 32 | i))
			;
	return NULL;
}

static void test_mpsc_threads(void **state)
{
	struct lw_ring *r = ring_new(64);
	struct prod p[PRODUCERS];
	pthread_t t[PRODUCERS];
	uint64_t expect[PRODUCERS] = { 0 }, v;

	(void)state;
	for (int i = 0; i < PRODUCERS; i++) {
		p[i] = (struct prod){ .r = r, .id = (uint64_t)i };
		pthread_create(&t[i], NULL, producer, &p[i]);
	}
	for (uint64_t n = 0; n < (uint64_t)PRODUCERS * PER_PRODUCER;) {
		if (!lw_ring_dequeue(r, &v))
			continue;
		uint64_t id = v >> 32, seq = v & 0xffffffff;

		assert_true(id < PRODUCERS);
		assert_int_equal(seq, expect[id]);
		expect[id]++;
		n++;
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(lw_ring_dequeue(r, &v), 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_capacity),
		cmocka_unit_test(test_model_random),
		cmocka_unit_test(test_mpsc_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
