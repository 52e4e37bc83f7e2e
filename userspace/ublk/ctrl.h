/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ctrl.h - ublk control commands through /dev/ublk-control: uring_cmds on a
 * small SQE128 ring, one at a time. GET_FEATURES is asked first; when the
 * driver offers the ioctl encoding it is used for every command, else the
 * legacy opcodes (6.1 and 6.2 know only those).
 */
#ifndef SLUICE_UBLK_CTRL_H
#define SLUICE_UBLK_CTRL_H

#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>

#include "ublk/uapi_compat.h"

#define UBLK_CONTROL_PATH	"/dev/ublk-control"
#define UBLK_DEV_ANY		((uint32_t)-1)

struct ublk_ctrl {
	int fd;
	struct io_uring ring;
	uint64_t features;	/* UBLK_F_* the driver supports */
	bool ioctl_encode;
	bool features_probed;	/* GET_FEATURES answered (else features is a guess) */
};

/*
 * Open /dev/ublk-control and probe the driver's features. -ENOENT when the
 * driver is not loaded, -EACCES without privileges.
 */
int ublk_ctrl_open(struct ublk_ctrl **out);
/* Takes NULL. */
void ublk_ctrl_close(struct ublk_ctrl *c);

/*
 * ADD_DEV: info->dev_id is the wanted id or UBLK_DEV_ANY; on success info
 * holds what the driver made of it (id, flags). -EEXIST for a taken id,
 * -EACCES or -ENOSPC when the driver's device limit (ublks_max) is reached.
 */
int ublk_ctrl_add_dev(struct ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info);
int ublk_ctrl_set_params(struct ublk_ctrl *c, uint32_t dev_id, struct ublk_params *p);
/* START_DEV: blocks until every queue fetched every tag. */
int ublk_ctrl_start_dev(struct ublk_ctrl *c, uint32_t dev_id, int server_pid);
int ublk_ctrl_stop_dev(struct ublk_ctrl *c, uint32_t dev_id);
/* DEL_DEV: blocks until /dev/ublkcN is closed by everyone. */
int ublk_ctrl_del_dev(struct ublk_ctrl *c, uint32_t dev_id);
/* -ENODEV when there is no such device. */
int ublk_ctrl_get_dev_info(struct ublk_ctrl *c, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info);
int ublk_ctrl_get_params(struct ublk_ctrl *c, uint32_t dev_id, struct ublk_params *p);
/* -EBUSY while the dead server's /dev/ublkcN is still being released. */
int ublk_ctrl_start_user_recovery(struct ublk_ctrl *c, uint32_t dev_id);
/* Blocks until every queue of the new server fetched every tag. */
int ublk_ctrl_end_user_recovery(struct ublk_ctrl *c, uint32_t dev_id, int server_pid);

/* Human name of a UBLK_S_DEV_* state: "dead", "live", "quiesced", "fail_io". */
const char *ublk_dev_state_name(unsigned int state);

#endif /* SLUICE_UBLK_CTRL_H */
