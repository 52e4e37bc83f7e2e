/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dev.h - one served ublk disk: the control-plane life cycle (add, set
 * parameters, start queues, start; or recover; then stop and delete) around
 * the queues that do the I/O. The caller opens the backing and builds the
 * filter chain; the disk borrows both.
 */
#ifndef SLUICE_UBLK_DEV_H
#define SLUICE_UBLK_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "filters/chain.h"
#include "ublk/backing.h"
#include "ublk/ctrl.h"
#include "ublk/queue.h"

#define UBLK_IO_BUF_SIZE	(512u << 10)	/* per-request buffer, max request size */
#define UBLK_QUEUES_MAX		64

struct ublk_dev_cfg {
	uint64_t size;		/* bytes, a multiple of block_size */
	uint32_t queues;
	uint32_t depth;
	uint32_t block_size;	/* 512 or 4096 */
	bool read_only;
	bool user_copy;		/* ask for UBLK_F_USER_COPY (copy.h: user, mmap) */
	uint64_t zero_copy;	/* copy.h zero: the flag to ask for, ublk_copy_zero_flag() */
	uint32_t dev_id;	/* UBLK_DEV_ANY for the driver's choice */
};

struct ublk_dev {
	struct ublk_ctrl *ctrl;
	struct backing *backing;
	struct filter_chain *chain;
	struct ublksrv_ctrl_dev_info info;
	struct ublk_queue queues[UBLK_QUEUES_MAX];
	uint32_t nr_queues;	/* started */
	int cdev_fd;
	bool added;		/* ADD_DEV done: DEL_DEV on failure */
	bool started;		/* START_DEV or END_USER_RECOVERY done */
};

/* The UBLK_F_* sluice asks for, among those the driver offers. */
uint64_t ublk_dev_wanted_flags(uint64_t features);

/*
 * Create and start a new disk. On failure nothing is left behind: the
 * device is deleted again. Returns 0 or -errno; *stage names the step that
 * failed ("add", "params", "open", "queues", "start") for the message.
 */
int ublk_dev_create(struct ublk_dev **out, struct ublk_ctrl *ctrl, struct backing *b,
		    struct filter_chain *chain, const struct ublk_dev_cfg *cfg,
		    const char **stage);

/*
 * Re-attach to disk @dev_id whose server died (UBLK_F_USER_RECOVERY):
 * START_USER_RECOVERY (retried while the driver still releases the old
 * server, up to @wait_ms), fetch on every queue, END_USER_RECOVERY. In-flight
 * I/O of the dead server is reissued (UBLK_F_USER_RECOVERY_REISSUE). On
 * failure the device is left as it was, recoverable. -EOPNOTSUPP when the
 * device was created without recovery.
 */
int ublk_dev_recover(struct ublk_dev **out, struct ublk_ctrl *ctrl, struct backing *b,
		     struct filter_chain *chain, uint32_t dev_id, int wait_ms,
		     const char **stage);

/* True once a queue thread ended on its own (device deleted under us). */
bool ublk_dev_queue_exited(struct ublk_dev *d);

/*
 * Graceful stop: flush the block device's dirty pages, tell the queues to
 * drain (filters finish or give up what they hold), STOP_DEV (the driver
 * drains in-flight requests, which the queues still serve), wait for the
 * queues, fdatasync the backing, DEL_DEV. Frees d. Returns the first error.
 */
int ublk_dev_stop(struct ublk_dev *d);

/* Delete a disk that has no server (it died): STOP_DEV then DEL_DEV. */
int ublk_dev_remove_orphan(struct ublk_ctrl *ctrl, uint32_t dev_id);

#endif /* SLUICE_UBLK_DEV_H */
