/* SPDX-License-Identifier: MIT */
/*
 * The message pool on a domain laid out in private memory: size classes,
 * fallback to larger classes, exhaustion, and reference counts under
 * fan-out (a slot returns exactly when its last reader lets go).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lw_pool.h"

static struct lw_domain dom;
static struct lw_dom_hdr hdr;

static int setup(void **state)
{
	struct lw_dom_config cfg;
	size_t size;

	(void)state;
	lw_dom_config_default(&cfg);
	cfg.nclasses = 3;
	cfg.class_size[0] = 224;
	cfg.class_count[0] = 8;
	cfg.class_size[1] = 4064;
	cfg.class_count[1] = 4;
	cfg.class_size[2] = 0;
	cfg.class_count[2] = 2;
	cfg.max_payload = 8192;
	memset(&hdr, 0, sizeof(hdr));
	size = lw_dom_layout(&cfg, &hdr);
	assert_true(size > 0);
	dom.base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(dom.base != MAP_FAILED);
	dom.size = size;
	dom.hdr = (struct lw_dom_hdr *)dom.base;
	*dom.hdr = hdr;
	lw_pool_format(&dom);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(dom.base, dom.size);
	return 0;
}

static void test_layout_rejects_bad_config(void **state)
{
	struct lw_dom_config cfg;
	struct lw_dom_hdr h;

	(void)state;
	lw_dom_config_default(&cfg);
	cfg.ring_size = 1000;
	assert_int_equal(lw_dom_layout(&cfg, &h), 0);
	assert_non_null(strstr(lw_errmsg(), "power of two"));
	lw_dom_config_default(&cfg);
	cfg.class_size[1] = 100; /* not larger than class 0 */
	assert_int_equal(lw_dom_layout(&cfg, &h), 0);
	lw_dom_config_default(&cfg);
	cfg.nclasses = 1;
	cfg.class_size[0] = 1000; /* cannot hold max_payload */
	assert_int_equal(lw_dom_layout(&cfg, &h), 0);
	assert_non_null(strstr(lw_errmsg(), "max_payload"));
}

static void test_classes_and_fallback(void **state)
{
	uint32_t small[8], id = 0;

	(void)state;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(lw_pool_alloc(&dom, 100, &small[i]), LW_OK);
		assert_int_equal(small[i] >> LW_SLOT_CLASS_SHIFT, 0);
	}
	/* class 0 empty: a small message takes a class-1 slot */
	assert_int_equal(lw_pool_alloc(&dom, 100, &id), LW_OK);
	assert_int_equal(id >> LW_SLOT_CLASS_SHIFT, 1);
	lw_pool_put(&dom, id);
	/* too big for every class */
	assert_int_equal(lw_pool_alloc(&dom, 1u << 20, &id), LW_ETOOBIG);
	for (int i = 0; i < 8; i++)
		lw_pool_put(&dom, small[i]);
	assert_int_equal(lw_pool_free_count(&dom, 0), 8);
	assert_int_equal(lw_pool_free_count(&dom, 1), 4);
}

static void test_exhaustion(void **state)
{
	uint32_t ids[2] = { 0, 0 }, id = 0;

	(void)state;
	assert_int_equal(lw_pool_alloc(&dom, 5000, &ids[0]), LW_OK);
	assert_int_equal(lw_pool_alloc(&dom, 5000, &ids[1]), LW_OK);
	assert_int_equal(lw_pool_alloc(&dom, 5000, &id), LW_ENOMEM);
	lw_pool_put(&dom, ids[0]);
	assert_int_equal(lw_pool_alloc(&dom, 5000, &id), LW_OK);
	assert_int_equal(id, ids[0]);
	lw_pool_put(&dom, id);
	lw_pool_put(&dom, ids[1]);
	assert_int_equal(lw_pool_free_count(&dom, 2), 2);
}

/* Publisher reference + N subscriber references, released in random
 * order: the slot is free after the last one and not before. */
static void test_fanout_refcount(void **state)
{
	(void)state;
	srand(7);
	for (int round = 0; round < 1000; round++) {
		uint32_t n = (uint32_t)(rand() % 16), id = 0;

		assert_int_equal(lw_pool_alloc(&dom, 64, &id), LW_OK);
		atomic_fetch_add(&lw_slot_ptr(&dom, id)->refcnt, n);
		for (uint32_t k = 0; k < n + 1; k++) {
			assert_int_equal(lw_pool_free_count(&dom, 0), 7);
			lw_pool_put(&dom, id);
		}
		assert_int_equal(lw_pool_free_count(&dom, 0), 8);
		assert_int_equal(atomic_load(&lw_slot_ptr(&dom, id)->refcnt), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_rejects_bad_config),
		cmocka_unit_test(test_classes_and_fallback),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_fanout_refcount),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
