// SPDX-License-Identifier: GPL-2.0
/*
 * ctrl.c - ublk control commands. Each command is one uring_cmd on the
 * control ring, waited for before the next: control is rare and several
 * commands (START_DEV, DEL_DEV, END_USER_RECOVERY) block in the driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ublk/ctrl.h"

/*
 * The features every ublk driver has had since 6.0, when GET_FEATURES is
 * missing. Not UBLK_F_SUPPORT_ZERO_COPY: those drivers cleared it at
 * ADD_DEV; it means something from 6.15, whose GET_FEATURES says so.
 */
#define UBLK_LEGACY_FEATURES	(UBLK_F_URING_CMD_COMP_IN_TASK | UBLK_F_NEED_GET_DATA | \
				 UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE)

struct ctrl_cmd {
	unsigned int legacy_op;
	unsigned int ioctl_op;
	uint32_t dev_id;
	uint64_t data0;
	void *buf;
	uint16_t len;
};

static int ctrl_submit(struct ublk_ctrl *c, const struct ctrl_cmd *cmd)
{
	struct ublksrv_ctrl_cmd *uc;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int err;

	sqe = io_uring_get_sqe(&c->ring);
	if (!sqe)
		return -EBUSY;
	/* uring_cmd rejects stray bits in the SQE: clear all 128 bytes. */
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = c->fd;
	sqe->cmd_op = c->ioctl_encode ? cmd->ioctl_op : cmd->legacy_op;
	uc = (struct ublksrv_ctrl_cmd *)sqe->cmd;
	uc->dev_id = cmd->dev_id;
	uc->queue_id = (uint16_t)-1;
	uc->addr = (uint64_t)(uintptr_t)cmd->buf;
	uc->len = cmd->len;
	uc->data[0] = cmd->data0;

	err = io_uring_submit(&c->ring);
	if (err < 0)
		return err;
	do {
		err = io_uring_wait_cqe(&c->ring, &cqe);
	} while (err == -EINTR);
	if (err)
		return err;
	err = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	return err < 0 ? err : 0;
}

static int probe_features(struct ublk_ctrl *c)
{
	struct ctrl_cmd cmd = {
		.ioctl_op = UBLK_U_CMD_GET_FEATURES,
		.legacy_op = UBLK_U_CMD_GET_FEATURES,
		.dev_id = UBLK_DEV_ANY,
		.buf = &c->features,
		.len = sizeof(c->features),
	};
	int err;

	c->ioctl_encode = true;
	err = ctrl_submit(c, &cmd);
	if (!err) {
		c->features_probed = true;
		c->ioctl_encode = c->features & UBLK_F_CMD_IOCTL_ENCODE;
		return 0;
	}
	/*
	 * Before 6.5 the driver rejects the unknown opcode, with -EINVAL or the
	 * kernel-internal ENOTSUPP (524) that 6.1 returns; only a refusal of
	 * the caller is a real error.
	 */
	if (err == -EPERM || err == -EACCES)
		return err;
	c->features = UBLK_LEGACY_FEATURES;
	c->ioctl_encode = false;
	return 0;
}

int ublk_ctrl_open(struct ublk_ctrl **out)
{
	struct ublk_ctrl *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = open(UBLK_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (c->fd < 0) {
		err = -errno;
		goto out_free;
	}
	err = io_uring_queue_init(4, &c->ring, IORING_SETUP_SQE128);
	if (err)
		goto out_close;
	err = probe_features(c);
	if (err)
		goto out_ring;
	*out = c;
	return 0;

out_ring:
	io_uring_queue_exit(&c->ring);
out_close:
	close(c->fd);
out_free:
	free(c);
	return err;
}

void ublk_ctrl_close(struct ublk_ctrl *c)
{
	if (!c)
		return;
	io_uring_queue_exit(&c->ring);
	close(c->fd);
	free(c);
}

int ublk_ctrl_add_dev(struct ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_ADD_DEV,
		.ioctl_op = UBLK_U_CMD_ADD_DEV,
		.dev_id = info->dev_id,
		.buf = info,
		.len = sizeof(*info),
	};

	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_set_params(struct ublk_ctrl *c, uint32_t dev_id, struct ublk_params *p)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_SET_PARAMS,
		.ioctl_op = UBLK_U_CMD_SET_PARAMS,
		.dev_id = dev_id,
		.buf = p,
		.len = sizeof(*p),
	};

	p->len = sizeof(*p);
	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_get_params(struct ublk_ctrl *c, uint32_t dev_id, struct ublk_params *p)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_GET_PARAMS,
		.ioctl_op = UBLK_U_CMD_GET_PARAMS,
		.dev_id = dev_id,
		.buf = p,
		.len = sizeof(*p),
	};

	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_start_dev(struct ublk_ctrl *c, uint32_t dev_id, int server_pid)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_START_DEV,
		.ioctl_op = UBLK_U_CMD_START_DEV,
		.dev_id = dev_id,
		.data0 = server_pid,
	};

	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_stop_dev(struct ublk_ctrl *c, uint32_t dev_id)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_STOP_DEV,
		.ioctl_op = UBLK_U_CMD_STOP_DEV,
		.dev_id = dev_id,
	};

	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_del_dev(struct ublk_ctrl *c, uint32_t dev_id)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_DEL_DEV,
		.ioctl_op = UBLK_U_CMD_DEL_DEV,
		.dev_id = dev_id,
	};

	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_get_dev_info(struct ublk_ctrl *c, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_GET_DEV_INFO,
		.ioctl_op = UBLK_U_CMD_GET_DEV_INFO,
		.dev_id = dev_id,
		.buf = info,
		.len = sizeof(*info),
	};

	memset(info, 0, sizeof(*info));
	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_start_user_recovery(struct ublk_ctrl *c, uint32_t dev_id)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_START_USER_RECOVERY,
		.ioctl_op = UBLK_U_CMD_START_USER_RECOVERY,
		.dev_id = dev_id,
	};

	return ctrl_submit(c, &cmd);
}

int ublk_ctrl_end_user_recovery(struct ublk_ctrl *c, uint32_t dev_id, int server_pid)
{
	struct ctrl_cmd cmd = {
		.legacy_op = UBLK_CMD_END_USER_RECOVERY,
		.ioctl_op = UBLK_U_CMD_END_USER_RECOVERY,
		.dev_id = dev_id,
		.data0 = server_pid,
	};

	return ctrl_submit(c, &cmd);
}

const char *ublk_dev_state_name(unsigned int state)
{
	switch (state) {
	case UBLK_S_DEV_DEAD:
		return "dead";
	case UBLK_S_DEV_LIVE:
		return "live";
	case UBLK_S_DEV_QUIESCED:
		return "quiesced";
	case UBLK_S_DEV_FAIL_IO:
		return "fail_io";
	}
	return "unknown";
}
