/* SPDX-License-Identifier: MIT */
/*
 * Status texts and the per-thread error message. Cold code: only failing
 * calls come here, so plain vsnprintf into a thread-local buffer is fine.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lw_err.h"

#define LW_ERRMSG_MAX 512

static _Thread_local char errmsg[LW_ERRMSG_MAX];

static const char *const texts[] = {
	[0] = "success",
	[1] = "invalid argument",
	[2] = "invalid subject",
	[3] = "too big",
	[4] = "out of memory in the shared-memory domain",
	[5] = "no lwd daemon is serving this domain",
	[6] = "shared-memory ABI version mismatch",
	[7] = "timed out",
	[8] = "no responders",
	[9] = "closed",
	[10] = "limit reached",
	[11] = "system error",
	[12] = "try again",
	[13] = "domain is busy (served by another lwd)",
	[14] = "shared-memory domain is corrupt",
	[15] = "not found",
};

const char *lw_strerror(int status)
{
	int i = status < 0 ? -status : status;

	if ((size_t)i >= sizeof(texts) / sizeof(texts[0]))
		return "unknown error";
	return texts[i];
}

const char *lw_errmsg(void)
{
	return errmsg;
}

void lw_err_set(int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(errmsg, sizeof(errmsg), "%s: ", lw_strerror(status));
	if (n < 0 || n >= (int)sizeof(errmsg))
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg + n, sizeof(errmsg) - (size_t)n, fmt, ap);
	va_end(ap);
}

void lw_err_append(const char *fmt, ...)
{
	size_t n = strlen(errmsg);
	va_list ap;

	if (n + 3 >= sizeof(errmsg))
		return;
	memcpy(errmsg + n, " (", 2);
	n += 2;
	va_start(ap, fmt);
	vsnprintf(errmsg + n, sizeof(errmsg) - n, fmt, ap);
	va_end(ap);
	n = strlen(errmsg);
	if (n + 1 < sizeof(errmsg)) {
		errmsg[n] = ')';
		errmsg[n + 1] = '\0';
	}
}

void lw_err_clear(void)
{
	errmsg[0] = '\0';
}
