/* SPDX-License-Identifier: GPL-2.0 */
/*
 * queue.h - one ublk hardware queue: one thread, one io_uring. The ring
 * carries the queue's uring_cmds (FETCH_REQ once per tag, then
 * COMMIT_AND_FETCH_REQ per request; or, where the driver has batched
 * commands, PREP_IO_CMDS once, one multishot FETCH_IO_CMDS and a
 * COMMIT_IO_CMDS per turn of the loop) and all backing I/O, so one
 * io_uring_enter both commits results and picks up new requests. Requests
 * run through the disk's filter chain; the backing is reached with
 * io_uring read/write/fsync/fallocate on the same ring. How data reaches
 * the request is the disk's copy mode (ublk/copy.h). All that is not ublk
 * (the ring, the chain, backing, filter and background I/O, wake-ups, the
 * drain at stop) is the queue's engine (ublk/engine.h).
 */
#ifndef SLUICE_UBLK_QUEUE_H
#define SLUICE_UBLK_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>

#include "filters/chain.h"
#include "ublk/engine.h"
#include "ublk/uapi_compat.h"

struct ublk_queue_cfg {
	int dev_id;
	unsigned int q_id;
	unsigned int depth;
	uint32_t buf_size;	/* per-tag buffer: the device's max_io_buf_bytes */
	int cdev_fd;		/* /dev/ublkcN */
	int backing_fd;
	bool backing_buffered;	/* page cache (even O_DIRECT tmpfs): copy inline */
	bool backing_in_memory;	/* tmpfs/ramfs: an inline copy never waits for I/O */
	bool read_only;
	bool ioctl_encode;	/* use UBLK_U_IO_* opcodes */
	bool user_copy;		/* UBLK_F_USER_COPY: we copy with pread/pwrite on cdev */
	/* copy mode zero: UBLK_F_AUTO_BUF_REG or UBLK_F_SUPPORT_ZERO_COPY, else 0 */
	uint64_t zero_copy;
	/* UBLK_F_USER_COPY beside auto registration: movers may copy inline too */
	bool zc_user_copy;
	bool batch;		/* UBLK_F_BATCH_IO: PREP once, multishot FETCH, batched COMMIT */
	void *backing_map;	/* copy mode mmap: the backing, shared; else NULL */
	uint64_t backing_map_len;
	struct filter_chain *chain;
};

struct ublk_batch;

struct ublk_queue {
	struct ublk_queue_cfg cfg;
	struct engine eng;		/* ring, requests, filters; eng.err: first fatal error */
	const struct ublksrv_io_desc *iods;
	size_t iods_len;
	unsigned int cmds_inflight;	/* uring_cmds the driver holds */
	struct ublk_batch *batch;	/* cfg.batch: the batched commands (ublk/batch.c) */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool setup_done;		/* under lock: setup finished (err tells) */
	atomic_bool exited;
};

/*
 * Start the queue's thread and wait until it has fetched every tag (or
 * failed). Returns 0 or -errno; on failure the thread is gone.
 */
int ublk_queue_start(struct ublk_queue *q, const struct ublk_queue_cfg *cfg);
/*
 * Make the thread leave now, abandoning the driver's commands: for error
 * paths where the device never started (closing the ring cancels them).
 */
void ublk_queue_kick(struct ublk_queue *q);
/*
 * The server stops: the queue tells its filters to drain and, after the
 * chain's drain limit, gives up what they still hold (engine_drain). The
 * queue keeps serving requests meanwhile. Any thread.
 */
void ublk_queue_drain(struct ublk_queue *q);
/*
 * Wait for the thread, which ends when the driver aborts every tag (the
 * device was stopped), and free what the queue holds. Returns the queue's
 * first fatal error or 0. Takes a never-started queue.
 */
int ublk_queue_join(struct ublk_queue *q);

/* The chain endpoints a queue provides; every disk's chain is built with them. */
#define ublk_queue_sinks engine_sinks

static inline bool ublk_queue_exited(struct ublk_queue *q)
{
	return atomic_load(&q->exited);
}

#endif /* SLUICE_UBLK_QUEUE_H */
