/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udata.h - the one layout of io_uring user_data in a ublk queue's ring.
 *
 * A queue's ring carries the ublk uring_cmds (FETCH, COMMIT_AND_FETCH) for
 * a tag, the backing I/O of a tag, I/O that a filter submitted on its own
 * for a tag, background I/O of a filter (no tag), and the queue's own
 * housekeeping (wake-up poll, drain timer, cancellations). Every CQE must
 * say which, for which tag, and (for filters) which filter and which of its
 * operations. Nothing else in sluice may pack or unpack user_data.
 *
 *   bits  0..15  tag           (ublk tags are below UBLK_MAX_QUEUE_DEPTH;
 *                              0 for kinds without a tag)
 *   bits 16..23  filter index  (position in the chain; FILTER and BG only)
 *   bits 24..31  kind
 *   bits 32..63  cookie        (the filter's number for FILTER; the queue's
 *                              background slot for BG)
 */
#ifndef SLUICE_UDATA_H
#define SLUICE_UDATA_H

#include <assert.h>
#include <stdint.h>

enum udata_kind {
	UDATA_CMD	= 1,	/* ublk uring_cmd of a tag */
	UDATA_BACKING	= 2,	/* backing I/O of a tag */
	UDATA_FILTER	= 3,	/* a filter's own I/O for a tag */
	UDATA_WAKE	= 4,	/* the queue's wake-up eventfd (tag 0) */
	UDATA_BG	= 5,	/* a filter's background I/O: no tag, cookie = slot */
	UDATA_DRAIN	= 6,	/* the queue's drain timer */
	UDATA_CANCEL	= 7,	/* an ASYNC_CANCEL's own CQE: nothing to do */
	UDATA_BUF	= 8,	/* zero copy: a tag's buffer (un)registration, cookie
				 * ENGINE_ZC_REG or ENGINE_ZC_UNREG */
	UDATA_BATCH	= 9,	/* a queue's batched ublk command (no tag), cookie
				 * its kind and buffer (ublk/queue.c) */
};

/* Kinds whose tag field names a request. */
static inline int udata_has_tag(unsigned int kind)
{
	return kind == UDATA_CMD || kind == UDATA_BACKING || kind == UDATA_FILTER ||
	       kind == UDATA_BUF;
}

#define UDATA_TAG_BITS		16
#define UDATA_FILTER_BITS	8
#define UDATA_KIND_BITS		8
#define UDATA_COOKIE_BITS	32

struct udata {
	uint16_t tag;
	uint8_t filter;
	uint8_t kind;
	uint32_t cookie;
};

static inline uint64_t udata_encode(unsigned int kind, unsigned int tag, unsigned int filter,
				    uint64_t cookie)
{
	assert(tag < (1u << UDATA_TAG_BITS));
	assert(filter < (1u << UDATA_FILTER_BITS));
	assert(kind < (1u << UDATA_KIND_BITS));
	assert(cookie < (1ull << UDATA_COOKIE_BITS));
	return (uint64_t)tag | (uint64_t)filter << 16 | (uint64_t)kind << 24 | cookie << 32;
}

static inline struct udata udata_decode(uint64_t v)
{
	struct udata d = {
		.tag = v & 0xffff,
		.filter = (v >> 16) & 0xff,
		.kind = (v >> 24) & 0xff,
		.cookie = v >> 32,
	};

	return d;
}

#endif /* SLUICE_UDATA_H */
