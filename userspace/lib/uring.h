/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uring.h - io_uring helpers shared by the queue and the filters.
 */
#ifndef SLUICE_LIB_URING_H
#define SLUICE_LIB_URING_H

struct io_uring;
struct io_uring_sqe;

/*
 * Take @n SQEs at once or none, like kublk's ublk_queue_alloc_sqes(): when
 * the SQ has less room, submit what is queued first (once), so the n
 * entries are adjacent and a linked chain is never split by a submit.
 * Returns 0 or -EBUSY.
 */
int uring_get_sqes(struct io_uring *ring, struct io_uring_sqe **sqes, unsigned int n);

#endif /* SLUICE_LIB_URING_H */
