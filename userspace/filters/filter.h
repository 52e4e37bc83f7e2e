/* SPDX-License-Identifier: GPL-2.0 */
/*
 * filter.h - the interface every sluice data filter implements.
 *
 * A served disk has an ordered chain of filters chosen by its policy:
 * index 0 is nearest the application, the backing device lies below the
 * last one. A request travels DOWN the chain (read, write, flush and
 * discard callbacks, index 0 first), then to the backing, then UP again
 * (completion callbacks, last filter first). So a write is seen in order
 * crypt -> journal -> cache -> backing, and a read's data comes back
 * cache -> journal -> crypt, which is where decryption happens.
 *
 * Every callback returns a verdict:
 *   FILTER_CONTINUE   pass the request on (down, or up for completion)
 *   FILTER_COMPLETE   (down only) the filter satisfied the request itself,
 *                     e.g. a cache hit; req->result holds the result and the
 *                     request turns up from the filter above this one
 *   FILTER_PENDING    the filter went asynchronous: it owns the request until
 *                     it calls filter_resume() exactly once, later, from one
 *                     of its own completions (io_done) or another request's
 *                     callback, never from inside the callback that returned
 *                     PENDING
 *   -errno            fail the request with this error; it turns up
 * The queue never blocks on a filter: while a request is pending the queue
 * serves the others.
 *
 * Filters run on the queue's thread; one filter object serves every queue
 * of its disk, so state shared across queues needs its own locking, and
 * per-queue state can be indexed by req->queue.
 *
 * A filter sees plain buffers and byte offsets and never includes ublk
 * headers, so each filter can be unit-tested on buffers alone.
 */
#ifndef SLUICE_FILTER_H
#define SLUICE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_uring;
struct io_uring_sqe;
struct filter_chain;

enum filter_op {
	FILTER_OP_READ,
	FILTER_OP_WRITE,
	FILTER_OP_FLUSH,
	FILTER_OP_DISCARD,
	FILTER_OP_WRITE_ZEROES,
};

/* req->flags */
#define FILTER_REQ_FUA		(1u << 0)	/* write must be durable before completion */
#define FILTER_REQ_NOUNMAP	(1u << 1)	/* write-zeroes must keep the blocks allocated */

enum filter_verdict {
	FILTER_CONTINUE = 0,
	FILTER_COMPLETE = 1,
	FILTER_PENDING = 2,
};

/* One block request as the chain sees it. The queue owns the storage. */
struct filter_req {
	enum filter_op op;
	uint32_t flags;
	uint64_t offset;		/* bytes from the start of the disk */
	uint32_t len;			/* bytes; 0 for a flush */
	uint16_t queue;
	uint16_t tag;
	/*
	 * The data: len bytes, aligned to 4096. A filter may transform it in
	 * place (the queue's buffer is a private copy of the application's
	 * data) or point buf at a bounce buffer of its own on the way down
	 * and restore the previous pointer in its completion.
	 */
	void *buf;
	int result;			/* bytes done or -errno, on the way up */
	struct io_uring *ring;		/* the queue's ring, for filters' own I/O */

	/* chain bookkeeping: filters do not touch these */
	struct filter_chain *chain;
	void *owner;			/* the queue that serves the request */
	void **priv;			/* per-filter per-request scratch */
	int16_t pos;			/* filter holding the request */
	uint8_t going_up;
	uint8_t pending;
};

/* What a filter is configured with, from the disk's policy. */
struct filter_config {
	const char *name;		/* the filter's name in the policy */
	const char *args;		/* "key=value,key=value" or "" */
	uint64_t disk_size;		/* bytes */
	uint32_t block_size;		/* logical block size of the disk */
	uint32_t queues;
	uint32_t depth;			/* requests in flight per queue, at most */
};

struct filter_stat {
	const char *name;
	uint64_t value;
};

struct filter;

struct filter_ops {
	/* Required: the name policies use. */
	const char *name;
	/*
	 * Optional: bytes of per-request scratch the chain preallocates for
	 * every (queue, tag), reachable with filter_req_priv(); no allocation
	 * on the data path.
	 */
	size_t req_priv_size;
	/*
	 * Optional: set f->priv from the policy's configuration. Returns 0 or
	 * -errno (-EINVAL for bad arguments); the disk is not created then.
	 */
	int (*init)(struct filter *f, const struct filter_config *cfg);
	/*
	 * Optional, each: the request on its way down. NULL means CONTINUE.
	 * read: a cache may satisfy it (COMPLETE) or redirect it.
	 * write: encryption transforms the data; a journal records it, in
	 *        order, with its offset, and may return PENDING until the
	 *        record is durable (or a replica acknowledged it).
	 * flush: must not complete before everything the filter acknowledged
	 *        is durable.
	 * discard: DISCARD and WRITE_ZEROES (req->op tells which).
	 */
	int (*read)(struct filter *f, struct filter_req *req);
	int (*write)(struct filter *f, struct filter_req *req);
	int (*flush)(struct filter *f, struct filter_req *req);
	int (*discard)(struct filter *f, struct filter_req *req);
	/*
	 * Optional: the request on its way up, req->result set by the layer
	 * below (bytes or -errno). Decryption of read data happens here; a
	 * filter may change req->result. NULL means CONTINUE.
	 */
	int (*completion)(struct filter *f, struct filter_req *req);
	/*
	 * Required when the filter submits io_uring work of its own (see
	 * filter_get_sqe()): the CQE of that work, with the cookie it gave.
	 */
	void (*io_done)(struct filter *f, struct filter_req *req, uint32_t cookie, int res);
	/*
	 * Optional: fill up to max counters; returns how many. Each is a
	 * counter that only grows while the disk is served, named
	 * [A-Za-z0-9_] (at most 31 characters, unique in the filter; others
	 * are not published). The server calls this from its main thread
	 * about every second while the queue threads run requests through
	 * the filter: read what they update with atomics (count.c), never a
	 * lock a queue holds across I/O. @st->name must outlive the call
	 * (a string literal).
	 */
	int (*stats)(struct filter *f, struct filter_stat *st, int max);
	/* Optional: free what init made. Called once, after the last request. */
	void (*teardown)(struct filter *f);
};

struct filter {
	const struct filter_ops *ops;
	void *priv;			/* the filter's own state */
	unsigned int index;		/* position in the chain, 0 = top */
	struct filter_chain *chain;
};

/* Continue a request that a callback left PENDING with a new verdict. */
void filter_resume(struct filter_req *req, int verdict);

/*
 * An SQE on the request's queue ring whose CQE comes back to f->ops->io_done
 * with @cookie; NULL when the ring is full (submit and retry, or fail).
 */
struct io_uring_sqe *filter_get_sqe(struct filter *f, struct filter_req *req, uint32_t cookie);

/* The per-request scratch of req_priv_size bytes, zeroed at setup. */
void *filter_req_priv(struct filter *f, struct filter_req *req);

/*
 * Value of @key in cfg->args ("k=v,k2=v2") copied into buf; -ENOENT when
 * absent, -ENAMETOOLONG when it does not fit.
 */
int filter_config_get(const struct filter_config *cfg, const char *key, char *buf, size_t len);

#endif /* SLUICE_FILTER_H */
