/* SPDX-License-Identifier: MIT */
/**
 * @file lightwire/error.h
 * Status codes shared by every Lightwire module.
 *
 * Every public function returns either a non-negative count/LW_OK or one of
 * the negative codes below. lw_strerror() gives the fixed text of a code;
 * lw_errmsg() gives the calling thread's last detailed message, which says
 * where the error started and the context it climbed through
 * (e.g. "subscribe 'a..b': empty token at byte 2").
 */
#ifndef LIGHTWIRE_ERROR_H
#define LIGHTWIRE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum lw_status {
	LW_OK = 0,
	LW_EINVAL = -1,         /**< invalid argument */
	LW_EBADSUBJECT = -2,    /**< subject or queue name is not valid */
	LW_ETOOBIG = -3,        /**< payload, header or subject over the limit */
	LW_ENOMEM = -4,         /**< message pool or table exhausted */
	LW_ENODAEMON = -5,      /**< no lwd is serving the domain */
	LW_EABI = -6,           /**< domain made by another ABI version */
	LW_ETIMEDOUT = -7,      /**< the wait ran out of time */
	LW_ENORESPONDERS = -8,  /**< a request found no subscriber */
	LW_ECLOSED = -9,        /**< connection or subscription is closed */
	LW_ELIMIT = -10,        /**< a configured limit was reached */
	LW_EIO = -11,           /**< system call failed (see lw_errmsg) */
	LW_EAGAIN = -12,        /**< nothing available right now */
	LW_EBUSY = -13,         /**< domain already served by another lwd */
	LW_ECORRUPT = -14,      /**< shared memory header is damaged */
	LW_ENOTFOUND = -15,     /**< no such domain, subscription or entry */
};

/** Fixed text for a status code; never NULL. */
const char *lw_strerror(int status);

/**
 * The calling thread's last error message with context, or "" when the
 * last failing call left none. Valid until the thread's next failing call.
 */
const char *lw_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif
