/* SPDX-License-Identifier: MIT */
/*
 * Internal error helpers (not installed). A failing function records where
 * the error started with LW_SET_ERR and callers add context with
 * LW_APPEND_ERR, so lw_errmsg() reads like a short stack of reasons
 * (the Aeron AERON_SET_ERR / AERON_APPEND_ERR habit).
 */
#ifndef LW_ERR_H
#define LW_ERR_H

#include <lightwire/error.h>

void lw_err_set(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), cold));
void lw_err_append(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), cold));
void lw_err_clear(void);

/* Records the error and evaluates to the status, so callers can write
 * "return LW_SET_ERR(LW_EINVAL, "bad %s", x);". */
#define LW_SET_ERR(status, ...) (lw_err_set((status), __VA_ARGS__), (status))
#define LW_APPEND_ERR(...) lw_err_append(__VA_ARGS__)

#endif
