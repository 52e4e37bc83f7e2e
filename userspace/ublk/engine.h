/* SPDX-License-Identifier: GPL-2.0 */
/*
 * engine.h - the part of a queue that is not ublk: one io_uring, the disk's
 * filter chain, the backing I/O, the filters' own and background I/O, the
 * wake-up eventfd and the drain at stop. The ublk queue (queue.c) drives it
 * with its uring_cmds; unit tests drive it over a plain file. Everything
 * runs on the engine's thread except engine_init/destroy and engine_ask().
 *
 * Fixed files on the ring: 0 the ublk char device (empty without ublk),
 * 1 the backing (FILTER_FILE_BACKING), then the filters' own files.
 */
#ifndef SLUICE_UBLK_ENGINE_H
#define SLUICE_UBLK_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>

#include "filters/chain.h"
#include "lib/udata.h"

#define ENGINE_FILE_CDEV	0
#define ENGINE_BG_SLOTS		256	/* background I/O in flight per queue, at most */
#define ENGINE_RETRY_MS		100	/* drain passes after the limit */

/* What another thread asks of the engine (engine_ask). */
#define ENGINE_ASK_WAKE		(1u << 0)	/* call the filters' wake() */
#define ENGINE_ASK_DRAIN	(1u << 1)	/* begin the drain */
#define ENGINE_ASK_KICK		(1u << 2)	/* leave now (error paths) */

struct engine;

/*
 * How a READ's or WRITE's data reaches the backing (ublk/copy.h, zero):
 * through the tag's buffer, or as the request's own pages, the fixed
 * buffer at index tag of the ring's table, registered by the driver
 * (AUTO) or by the engine around each backing I/O (REGISTER, with
 * ops->buf_cmd).
 */
enum engine_zc {
	ENGINE_ZC_NONE,
	ENGINE_ZC_AUTO,
	ENGINE_ZC_REGISTER,
};

/* UDATA_BUF cookies: which of the two a CQE is. */
#define ENGINE_ZC_REG		0
#define ENGINE_ZC_UNREG		1

struct engine_io {
	void *buf;
	struct filter_req req;
	uint32_t done;		/* bytes the backing did so far */
	uint8_t zero_stage;	/* WRITE_ZEROES fallback: zero-range, punch, write */
	bool active;		/* a request is being served on this tag */
	/* zero copy */
	bool zero_fill;		/* a read past the end: the rest from /dev/zero */
	uint8_t zc_wait;	/* CQEs of the backing I/O still to come */
	int zc_res;		/* the read's or write's result */
	int zc_reg_err;		/* the registration failed */
};

struct engine_ops {
	/* The request is finished (req->result final): hand it back. */
	void (*done)(struct engine *e, struct engine_io *io);
	/* A CQE of a kind the engine does not serve (UDATA_CMD, UDATA_BATCH). */
	void (*cqe)(struct engine *e, const struct udata *d, int res, uint32_t flags);
	/* Optional: just before each submit and wait (batched commits go out). */
	void (*flush)(struct engine *e);
	/*
	 * Required for ENGINE_ZC_REGISTER: make @sqe the command that registers
	 * (or unregisters) the request's pages of @tag at index @tag.
	 */
	void (*buf_cmd)(struct engine *e, struct io_uring_sqe *sqe, unsigned int tag,
			bool unregister);
};

struct engine_cfg {
	int dev_id;		/* for the USDT probes */
	unsigned int q_id;
	unsigned int depth;
	uint32_t buf_size;	/* per-tag buffer */
	int cdev_fd;		/* -1 without ublk */
	int backing_fd;
	bool backing_buffered;	/* page cache (even O_DIRECT tmpfs): copy inline */
	bool backing_in_memory;	/* tmpfs/ramfs: an inline copy never waits for I/O */
	enum engine_zc zc;	/* not NONE: no filter sees the data; AUTO: movers may */
	bool zc_user_copy;	/* AUTO, and cdev_fd reaches the request's pages too */
	struct filter_chain *chain;
	const struct engine_ops *ops;
	void *owner;		/* the engine's user */
};

struct engine_bg {
	uint64_t cookie;
	struct __kernel_timespec ts;	/* filter_bg_timer: read at submission */
	int16_t filter;			/* -1: free */
};

struct engine {
	struct engine_cfg cfg;
	struct io_uring ring;
	bool ring_ok;
	struct filter_queue fq;
	struct engine_io *ios;
	void *bufs;
	size_t bufs_len;
	uint64_t data_offset;		/* chain_data_offset(): added to every backing I/O */
	unsigned int reqs_active;	/* requests started, not yet done */
	unsigned int bg_inflight;
	struct engine_bg bg[ENGINE_BG_SLOTS];
	int wake_fd;
	int zero_fd;			/* zero copy: /dev/zero, else -1 */
	atomic_uint asks;		/* ENGINE_ASK_* from other threads */
	bool kicked;
	bool draining;
	bool giving_up;			/* the drain limit passed */
	struct __kernel_timespec drain_ts;
	int err;			/* first fatal error, -errno */
};

/* Any thread, before the engine's thread runs: the wake-up eventfd. 0 or -errno. */
int engine_init(struct engine *e, const struct engine_cfg *cfg);
/* Close the eventfd once the engine's thread is gone. Takes a failed init. */
void engine_destroy(struct engine *e);
/*
 * On the engine's thread: buffers, ring, fixed files, the chain's
 * per-request and per-queue state (queue_init). Returns 0 or -errno; call
 * engine_teardown either way.
 */
int engine_setup(struct engine *e);
/* On the engine's thread: queue_fini with the ring up, then the ring goes. */
void engine_teardown(struct engine *e);

/* Submit, wait for one CQE at least, handle every CQE there is. 0 or -errno. */
int engine_wait(struct engine *e);
/* Requests or background I/O in flight. */
bool engine_busy(const struct engine *e);

/* Start the request on @tag (op, flags, offset, len, buf set) down the chain. */
void engine_submit(struct engine *e, unsigned int tag);
/* Count a request as started without running the chain (the owner serves it). */
void engine_req_begin(struct engine *e, unsigned int tag);
/* The request is done (req->result set): the owner's done() gets it. */
void engine_req_done(struct filter_req *req);

/* On the engine's thread: tell the filters to drain and arm the drain limit. */
void engine_drain(struct engine *e);
/* Any thread: ask for ENGINE_ASK_* at the engine's next turn. */
void engine_ask(struct engine *e, unsigned int what);

/* The chain endpoints an engine provides; every disk's chain is built with them. */
extern const struct chain_sinks engine_sinks;

#endif /* SLUICE_UBLK_ENGINE_H */
