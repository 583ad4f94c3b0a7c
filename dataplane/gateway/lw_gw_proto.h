/* SPDX-License-Identifier: MIT */
/*
 * NATS client protocol: parsing what a client sends and the fixed texts
 * the server answers with. Pure functions over a byte buffer, no I/O, so
 * the unit tests can feed any split and any junk.
 */
#ifndef LW_GW_PROTO_H
#define LW_GW_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum lw_gw_op {
	LW_GW_OP_NONE = 0,   /* an empty line: ignored */
	LW_GW_OP_CONNECT,
	LW_GW_OP_PUB,
	LW_GW_OP_HPUB,
	LW_GW_OP_SUB,
	LW_GW_OP_UNSUB,
	LW_GW_OP_PING,
	LW_GW_OP_PONG,
	LW_GW_OP_INFO,       /* a client may echo INFO; ignored */
};

/* A byte range inside the caller's buffer (not NUL-terminated). */
struct lw_gw_str {
	const char *p;
	size_t n;
};

struct lw_gw_cmd {
	enum lw_gw_op op;
	struct lw_gw_str subject;   /* PUB, HPUB, SUB */
	struct lw_gw_str reply;     /* PUB, HPUB; n = 0 when absent */
	struct lw_gw_str queue;     /* SUB; n = 0 when absent */
	struct lw_gw_str sid;       /* SUB, UNSUB */
	uint64_t max_msgs;          /* UNSUB; 0 = none */
	struct lw_gw_str json;      /* CONNECT, INFO */
	const char *payload;        /* PUB, HPUB: headers then data */
	size_t hdr_len;             /* HPUB */
	size_t total_len;           /* headers + data */
};

/* Parse results below zero: each is a protocol error that closes the
 * connection after its -ERR (see lw_gw_perr_text). */
enum lw_gw_perr {
	LW_GW_PERR_UNKNOWN_OP = -1,   /* 'Unknown Protocol Operation' */
	LW_GW_PERR_SYNTAX = -2,       /* 'Parser Error' */
	LW_GW_PERR_MAX_PAYLOAD = -3,  /* 'Maximum Payload Violation' */
	LW_GW_PERR_CONTROL_LINE = -4, /* 'Maximum Control Line Exceeded' */
};

/*
 * Parses the first command of @p buf (@p len bytes).
 * @return 1 and *cmd, *used = bytes it spans (the command's pointers point
 *   into @p buf); 0 when more bytes are needed (*used = bytes the complete
 *   command will need when known, else 0); a negative lw_gw_perr.
 * Lines end with "\r\n" or a bare "\n" (as nats-server accepts); a payload
 * must be followed by exactly "\r\n".
 */
int lw_gw_parse(const char *buf, size_t len, size_t max_control, size_t max_payload,
		struct lw_gw_cmd *cmd, size_t *used);

/* The -ERR text of a parse error (without quotes). */
const char *lw_gw_perr_text(int perr);

/* NATS subject pattern match used for permissions and no-responders:
 * pattern tokens `*` (one token) and `>` (one or more, last); a `*` or `>`
 * token of @p subject matches only a wildcard of @p pattern at that place,
 * so a subscription is allowed only when everything it can receive is.
 * @return 1 match, 0 not. */
int lw_gw_subj_match(const char *pattern, const char *subject);

#endif
