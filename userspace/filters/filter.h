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
 *                     it calls filter_resume() exactly once, later, on the
 *                     queue's thread: from one of its own completions
 *                     (io_done, bg_done), its wake() or another request's
 *                     callback, never from inside the callback that
 *                     returned PENDING
 *   -errno            fail the request with this error; it turns up
 * The queue never blocks on a filter: while a request is pending the queue
 * serves the others.
 *
 * Filters run on the queue's thread; one filter object serves every queue
 * of its disk, so state shared across queues needs its own locking. State
 * of one queue lives in the per-queue scratch (queue_priv_size, set up by
 * queue_init on the queue's thread): filter_queue_priv(f, req->fq).
 *
 * Life cycle, in this order:
 *   init            once, before the disk exists: configuration, own files
 *                   (filter_add_file), geometry (f->data_offset, data_size),
 *                   refused ops (f->refused_ops). No threads: --daemon forks
 *                   after init.
 *   queue_init      on each queue's thread, its ring up: per-queue state, timers
 *   start           once the disk is live (after the fork): threads
 *   ... requests, background I/O (filter_bg_sqe), wakes (filter_queue_wake)
 *   stop            the server is stopping: stop threads, no new work
 *   drain           on each queue's thread: finish or give up what it holds;
 *                   after the chain's drain limit the queue cancels the
 *                   requests still held (cancel, then they fail with
 *                   -ECANCELED) and its background I/O (ASYNC_CANCEL)
 *   queue_fini      on each queue's thread, its ring still up, nothing in flight
 *   teardown        last
 *
 * I/O of a filter's own: filter_get_sqe[s] for a request (the CQE goes to
 * io_done with the request), filter_bg_sqe[s] for none (bg_done). Every
 * SQE must give exactly one CQE (no multishot, no IOSQE_CQE_SKIP_SUCCESS).
 * Fixed files on every queue ring: FILTER_FILE_BACKING, and the filter's
 * own files at the indexes filter_add_file() returned. I/O of a filter to
 * the backing adds chain_data_offset() itself; the queue's does.
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
struct filter_queue;

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

/* Fixed file of the backing on every queue ring (0 is the ublk char device). */
#define FILTER_FILE_BACKING	1

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
	uint32_t buf_size;		/* bytes buf can hold; 0: len */
	/*
	 * >= 0: the data is not in buf but in the fixed buffer at this index
	 * of ring's table (zero copy: the request's own pages, registered for
	 * its whole life). Only data_mover filters see such a request; they
	 * move its data with filter_prep_data(), which reads either.
	 */
	int16_t buf_index;
	/*
	 * >= 0 (with buf_index): the same pages are file range copy_pos.. of
	 * copy_fd, for filter_copy_data() to copy with one syscall and no ring.
	 */
	int copy_fd;
	int64_t copy_pos;
	int result;			/* bytes done or -errno, on the way up */
	struct io_uring *ring;		/* the queue's ring, for filters' own I/O */
	struct filter_queue *fq;	/* the queue; NULL outside a queue */

	/* chain bookkeeping: filters do not touch these */
	struct filter_chain *chain;
	void *owner;			/* the queue that serves the request */
	void **priv;			/* per-filter per-request scratch */
	int16_t pos;			/* filter holding the request */
	uint8_t going_up;
	uint8_t pending;
	uint8_t cancelled;		/* given up at drain: own CQEs not delivered */
	uint8_t zeroes;			/* a WRITE_ZEROES a filter turned into a WRITE */
	uint16_t fio;			/* filters' own I/O of this request in flight */
};

/*
 * One queue as its filters see it. Filters read id and ring; the rest is
 * the queue's.
 */
struct filter_queue {
	uint16_t id;
	struct io_uring *ring;
	struct filter_chain *chain;
	void **priv;			/* per filter: queue_priv_size bytes */
	void *owner;			/* the queue's engine */
	int inited;			/* filters whose queue_init succeeded */
};

/* What a filter is configured with, from the disk's policy. */
struct filter_config {
	const char *name;		/* the filter's name in the policy */
	const char *args;		/* "key=value,key=value" or "" */
	uint64_t disk_size;		/* bytes */
	uint32_t block_size;		/* logical block size of the disk */
	uint32_t queues;
	uint32_t depth;			/* requests in flight per queue, at most */
	const char *backing;		/* path of the backing, for headers and checks */
	uint64_t backing_size;		/* bytes */
	bool recovering;		/* serve --recover: the server died; replay/check */
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
	 * Optional: the filter never reads or writes a request's data
	 * (req->buf): it counts, delays or fails requests. A disk whose
	 * filters all say so may move its data with zero copy, the backing
	 * I/O on the request's own pages, and req->buf then does not hold
	 * the data.
	 */
	bool data_blind;
	/*
	 * Optional: the filter moves a request's data between files (the
	 * backing, its own) only with filter_prep_data(), never reading or
	 * changing the bytes itself: a cache. A disk whose other filters are
	 * data_blind may then use zero copy where the driver registers each
	 * request's pages for its whole life (UBLK_F_AUTO_BUF_REG, 6.16+), and
	 * a cache hit is one copy in the kernel, the cache file straight into
	 * the application's pages.
	 */
	bool data_mover;
	/*
	 * Optional: bytes of per-request scratch the chain preallocates for
	 * every (queue, tag), reachable with filter_req_priv(); no allocation
	 * on the data path.
	 */
	size_t req_priv_size;
	/*
	 * Optional: bytes of per-queue scratch, zeroed, reachable with
	 * filter_queue_priv() from queue_init to queue_fini.
	 */
	size_t queue_priv_size;
	/*
	 * Optional: set f->priv from the policy's configuration. Returns 0 or
	 * -errno (-EINVAL for bad arguments); the disk is not created then.
	 * May also set f->data_offset, f->data_size, f->refused_ops and add
	 * its own files (filter_add_file). No threads here (see start).
	 */
	int (*init)(struct filter *f, const struct filter_config *cfg);
	/*
	 * Optional: on each queue's thread, its ring up, before its first
	 * request: per-queue state (a cipher context, a cursor), timers.
	 * Returns 0 or -errno (the disk is not created). queue_fini undoes
	 * it on the same thread, the ring still up, nothing in flight.
	 */
	int (*queue_init)(struct filter *f, struct filter_queue *fq);
	void (*queue_fini)(struct filter *f, struct filter_queue *fq);
	/*
	 * Optional: the disk is live (after --daemon forked: threads started
	 * here survive). Returns 0 or -errno; the server stops the disk then.
	 * stop: the server is stopping, before the queues drain; called only
	 * after a successful start.
	 */
	int (*start)(struct filter *f);
	void (*stop)(struct filter *f);
	/*
	 * Optional, each: the request on its way down. NULL means CONTINUE.
	 * read: a cache may satisfy it (COMPLETE) or redirect it.
	 * write: encryption transforms the data; a journal records it, in
	 *        order, with its offset, and may return PENDING until the
	 *        record is durable (or a replica acknowledged it).
	 * flush: must not complete before everything the filter acknowledged
	 *        is durable.
	 * discard: DISCARD and WRITE_ZEROES (req->op tells which). A filter
	 *        that must not pass WRITE_ZEROES down as it is either refuses
	 *        it (f->refused_ops) or calls filter_zeroes_to_write() and
	 *        CONTINUEs: the filters below and the backing see a WRITE of
	 *        zeroes.
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
	 * Required when the filter submits background I/O (filter_bg_sqe()):
	 * its CQE, with the cookie it gave; -ECANCELED when the drain
	 * cancelled it.
	 */
	void (*bg_done)(struct filter *f, struct filter_queue *fq, uint64_t cookie, int res);
	/*
	 * Optional: on the queue's thread after filter_queue_wake() from any
	 * thread: resume the requests it holds that are ready.
	 */
	void (*wake)(struct filter *f, struct filter_queue *fq);
	/*
	 * Optional: on the queue's thread each time it is about to wait for
	 * completions (every CQE so far handled, the SQEs not yet submitted):
	 * work that is best decided once per pass, such as a commit that can
	 * cover every record the pass wrote.
	 */
	void (*before_wait)(struct filter *f, struct filter_queue *fq);
	/*
	 * Optional: the queue is draining (the server stops): finish or give
	 * up what the filter holds, start no new background work.
	 */
	void (*drain)(struct filter *f, struct filter_queue *fq);
	/*
	 * Optional: the drain limit passed and @req, held by this filter, is
	 * given up: forget it and cancel its own I/O (filter_cancel_sqe). Do
	 * not resume it: once its own I/O is back (not delivered to io_done)
	 * the queue fails it with -ECANCELED, up through the filters above.
	 */
	void (*cancel)(struct filter *f, struct filter_req *req);
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
	/*
	 * Optional: a command from the CLI (ublk/control.h: 'sluice cache
	 * flush' asks the cache to "hold"), one word. Called from the
	 * server's main thread like stats, while the queues run: change
	 * what they read with atomics. 0 or -errno (-EINVAL: unknown word).
	 */
	int (*control)(struct filter *f, const char *cmd);
	/* Optional: free what init made (close its files). Called once, last. */
	void (*teardown)(struct filter *f);
};

struct filter {
	const struct filter_ops *ops;
	void *priv;			/* the filter's own state */
	unsigned int index;		/* position in the chain, 0 = top */
	struct filter_chain *chain;
	/* set in init, read by chain_geometry() and chain_refused_ops() */
	uint64_t data_offset;		/* bytes of the backing it keeps at the start */
	uint64_t data_size;		/* bytes it serves at most above that; 0: all */
	unsigned int refused_ops;	/* 1u << FILTER_OP_*: failed -EOPNOTSUPP, not advertised */
};

/* Continue a request that a callback left PENDING with a new verdict. */
void filter_resume(struct filter_req *req, int verdict);

/*
 * An SQE on the request's queue ring whose CQE comes back to f->ops->io_done
 * with @cookie; NULL when the ring is full (after one submit to make room).
 */
struct io_uring_sqe *filter_get_sqe(struct filter *f, struct filter_req *req, uint32_t cookie);
/*
 * n SQEs at once or none, adjacent in the SQ, so a linked chain (write then
 * fsync) is never split by a submit; sqes[i] carries cookies[i]. Returns 0
 * or -EBUSY (not n free entries even after a submit).
 */
int filter_get_sqes(struct filter *f, struct filter_req *req, struct io_uring_sqe **sqes,
		    const uint32_t *cookies, unsigned int n);
/*
 * Make @sqe read (or write) @len bytes of the request's data, from byte @at
 * of it, at @off of the fixed file @file: on req->buf, or on the registered
 * buffer when req->buf_index >= 0. Sets IOSQE_FIXED_FILE; no rw_flags.
 */
void filter_prep_data(struct io_uring_sqe *sqe, const struct filter_req *req, bool write,
		      int file, uint32_t at, uint32_t len, uint64_t off);
/*
 * Copy @len bytes of the request's data, from byte @at of it, into @buf
 * (@to_req false) or from @buf into it (@to_req true), right here: a
 * memcpy on req->buf, or a pread/pwrite of req->copy_fd under zero copy.
 * -EOPNOTSUPP: the data is reachable through the ring only (use
 * filter_prep_data()); else 0 or -errno.
 */
int filter_copy_data(const struct filter_req *req, bool to_req, void *buf, uint32_t at,
		     uint32_t len);
/* An ASYNC_CANCEL SQE for this request's own I/O with @cookie (in cancel). */
int filter_cancel_sqe(struct filter *f, struct filter_req *req, uint32_t cookie);

/*
 * Background I/O on the queue's ring, tied to no request: the CQE comes
 * back to f->ops->bg_done with @cookie. The queue does not leave its loop
 * while any is in flight. NULL (or -EBUSY) when the ring or the queue's
 * table of background I/O is full, or after the drain limit passed.
 */
struct io_uring_sqe *filter_bg_sqe(struct filter *f, struct filter_queue *fq, uint64_t cookie);
int filter_bg_sqes(struct filter *f, struct filter_queue *fq, struct io_uring_sqe **sqes,
		   const uint64_t *cookies, unsigned int n);
/* A background timer: bg_done(cookie, -ETIME) after @ns nanoseconds. 0 or -errno. */
int filter_bg_timer(struct filter *f, struct filter_queue *fq, uint64_t ns, uint64_t cookie);
/*
 * Cancel this filter's background I/O with @cookie on @fq (ASYNC_CANCEL):
 * bg_done comes back with -ECANCELED, or its result if it won the race.
 * Returns how many were asked to cancel, or -EBUSY.
 */
int filter_bg_cancel(struct filter *f, struct filter_queue *fq, uint64_t cookie);

/*
 * Wake @fq's thread from any thread: it calls every filter's wake(). Safe
 * from other threads and signal handlers; wakes coalesce.
 */
void filter_queue_wake(struct filter_queue *fq);

/* How many requests @fq has started and not yet completed (its thread only). */
unsigned int filter_queue_active(const struct filter_queue *fq);

/* The per-request scratch of req_priv_size bytes, zeroed at setup. */
void *filter_req_priv(struct filter *f, struct filter_req *req);
/* The per-queue scratch of queue_priv_size bytes, zeroed at setup. */
void *filter_queue_priv(struct filter *f, struct filter_queue *fq);

/*
 * In init: make @fd a fixed file on every queue ring. Returns its index
 * (for sqe->fd with IOSQE_FIXED_FILE) or -E2BIG. The filter keeps the fd
 * and closes it in teardown.
 */
int filter_add_file(struct filter *f, int fd);

/*
 * In discard, for a WRITE_ZEROES: zero req->buf and turn the request into
 * a WRITE for the filters below and the backing (encrypted zeroes, never
 * a hole that decrypts to garbage); its data is then req->buf, zero copy
 * or not (buf_index -1). The application still sees its
 * WRITE_ZEROES succeed (result 0). -EINVAL when the buffer cannot hold it.
 */
int filter_zeroes_to_write(struct filter_req *req);

/*
 * Value of @key in cfg->args ("k=v,k2=v2") copied into buf; -ENOENT when
 * absent, -ENAMETOOLONG when it does not fit.
 */
int filter_config_get(const struct filter_config *cfg, const char *key, char *buf, size_t len);

#endif /* SLUICE_FILTER_H */
