/* SPDX-License-Identifier: GPL-2.0 */
/*
 * batch.h - the batched ublk commands of a queue (ublk/batch.c), used
 * instead of FETCH_REQ/COMMIT_AND_FETCH_REQ per tag when the device has
 * UBLK_F_BATCH_IO (queue cfg.batch). Everything runs on the queue's thread.
 */
#ifndef SLUICE_UBLK_BATCH_H
#define SLUICE_UBLK_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "ublk/queue.h"

/* After engine_setup: buffers, the buffer ring, PREP_IO_CMDS waited for, the fetch armed. */
int ublk_batch_setup(struct ublk_queue *q);
/* After engine_teardown (the ring, and its buffer ring, are gone). Takes a failed setup. */
void ublk_batch_free(struct ublk_queue *q);

/* @tag's request is done with @result: it goes in the next COMMIT_IO_CMDS. */
void ublk_batch_commit(struct ublk_queue *q, unsigned int tag, int result);
/* Before the engine submits and waits: the commits gathered so far go out. */
void ublk_batch_flush(struct ublk_queue *q);
/* A UDATA_BATCH CQE (cookie, res, flags as the CQE has them). */
void ublk_batch_cqe(struct ublk_queue *q, uint32_t cookie, int res, uint32_t flags);

/* Commits gathered, not yet sent. */
bool ublk_batch_pending(const struct ublk_queue *q);

/* queue.c: start the request the driver delivered on @tag. */
void ublk_queue_handle(struct ublk_queue *q, unsigned int tag);

#endif /* SLUICE_UBLK_BATCH_H */
