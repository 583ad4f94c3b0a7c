/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the tests that drive the gateway with the real nats.c
 * client (test_gw_nats.c, test_gw_tls.c). Include after cmocka.h.
 */
#ifndef GW_NATS_TEST_H
#define GW_NATS_TEST_H

#include <string.h>

#include <nats/nats.h>

/* The next message on @p sub, within 2 s, has this subject and payload. */
static inline void expect_next(natsSubscription *sub, const char *subject, const char *data)
{
	natsMsg *m = NULL;

	assert_int_equal(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
	assert_string_equal(natsMsg_GetSubject(m), subject);
	assert_int_equal(natsMsg_GetDataLength(m), (int)strlen(data));
	assert_memory_equal(natsMsg_GetData(m), data, strlen(data));
	natsMsg_Destroy(m);
}

#endif
