// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ublk/copy.h"
#include "ublk/dev.h"
#include "ublk/dev_priv.h"

void ublk_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

uint64_t ublk_dev_wanted_flags(uint64_t features)
{
	uint64_t want = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE |
			UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_BATCH_IO;

	/* REISSUE only means something on top of USER_RECOVERY. */
	if (!(features & UBLK_F_USER_RECOVERY))
		want &= ~UBLK_F_USER_RECOVERY_REISSUE;
	return want & features;
}

static int ilog2_u32(uint32_t v)
{
	int n = 0;

	while (v >>= 1)
		n++;
	return n;
}

static void fill_params(struct ublk_params *p, const struct ublk_dev_cfg *cfg, uint32_t buf_size,
			unsigned int refused)
{
	int shift = ilog2_u32(cfg->block_size);

	memset(p, 0, sizeof(*p));
	p->types = UBLK_PARAM_TYPE_BASIC;
	/* Without a volatile cache and FUA the block layer never sends FLUSH or FUA. */
	p->basic.attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA;
	if (cfg->read_only)
		p->basic.attrs |= UBLK_ATTR_READ_ONLY;
	p->basic.logical_bs_shift = shift;
	p->basic.physical_bs_shift = shift > 12 ? shift : 12;
	p->basic.io_min_shift = shift;
	p->basic.io_opt_shift = 12;
	p->basic.max_sectors = buf_size >> 9;
	p->basic.dev_sectors = cfg->size >> 9;
	if (cfg->read_only)
		return;
	p->types |= UBLK_PARAM_TYPE_DISCARD;
	p->discard.discard_granularity = cfg->block_size > 4096 ? cfg->block_size : 4096;
	p->discard.max_discard_sectors = UINT32_MAX >> 9;
	/* The zeroes fallback writes from the request buffer: keep it within. */
	p->discard.max_write_zeroes_sectors = buf_size >> 9;
	p->discard.max_discard_segments = 1;
	/* What a filter refuses is not advertised (chain_refused_ops). */
	if (refused & (1u << FILTER_OP_DISCARD))
		p->discard.max_discard_sectors = 0;
	if (refused & (1u << FILTER_OP_WRITE_ZEROES))
		p->discard.max_write_zeroes_sectors = 0;
	if (!p->discard.max_discard_sectors && !p->discard.max_write_zeroes_sectors)
		p->types &= ~UBLK_PARAM_TYPE_DISCARD;
}

int ublk_dev_open_cdev(uint32_t dev_id, int *fd)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/dev/ublkc%u", dev_id);
	/* devtmpfs creates the node as the device is added; udev may chown it later. */
	for (i = 0; i < 200; i++) {
		*fd = open(path, O_RDWR | O_CLOEXEC);
		if (*fd >= 0)
			return 0;
		if (errno != ENOENT)
			return -errno;
		ublk_sleep_ms(10);
	}
	return -ENOENT;
}

int ublk_dev_start_queues(struct ublk_dev *d)
{
	struct ublk_queue_cfg qc = {
		.dev_id = d->info.dev_id,
		.depth = d->info.queue_depth,
		.buf_size = d->info.max_io_buf_bytes,
		.cdev_fd = d->cdev_fd,
		.backing_fd = d->backing->fd,
		.backing_buffered = d->backing->page_cache,
		.backing_in_memory = d->backing->in_memory,
		.read_only = d->backing->read_only,
		.ioctl_encode = d->info.flags & UBLK_F_CMD_IOCTL_ENCODE,
		.user_copy = (d->info.flags & UBLK_F_USER_COPY) &&
			     !ublk_copy_zero_flag(d->info.flags),
		.zero_copy = ublk_copy_zero_flag(d->info.flags),
		.zc_user_copy = (d->info.flags & UBLK_F_USER_COPY) &&
				ublk_copy_zero_flag(d->info.flags) == UBLK_F_AUTO_BUF_REG,
		.batch = d->info.flags & UBLK_F_BATCH_IO,
		.chain = d->chain,
	};
	uint32_t i;
	int err;

	if (d->info.nr_hw_queues > UBLK_QUEUES_MAX)
		return -E2BIG;
	/* The mapping is only reachable through user copy. */
	if (qc.user_copy && d->backing->map) {
		qc.backing_map = d->backing->map;
		qc.backing_map_len = d->backing->map_len;
	}
	for (i = 0; i < d->info.nr_hw_queues; i++) {
		qc.q_id = i;
		err = ublk_queue_start(&d->queues[i], &qc);
		if (err)
			return err;
		d->nr_queues = i + 1;
	}
	return 0;
}

/* Ends the queue threads: the kick makes them leave without the driver's say. */
int ublk_dev_join_queues(struct ublk_dev *d, bool kick)
{
	uint32_t i;
	int err = 0, e;

	if (kick)
		for (i = 0; i < d->nr_queues; i++)
			ublk_queue_kick(&d->queues[i]);
	for (i = 0; i < d->nr_queues; i++) {
		e = ublk_queue_join(&d->queues[i]);
		if (e && !err)
			err = e;
	}
	d->nr_queues = 0;
	return err;
}

void ublk_dev_free(struct ublk_dev *d)
{
	if (d->cdev_fd >= 0)
		close(d->cdev_fd);
	free(d);
}

/* Undo a half-made new disk; the first error is what the caller reports. */
static void dev_abort_new(struct ublk_dev *d)
{
	if (d->started)
		ublk_ctrl_stop_dev(d->ctrl, d->info.dev_id);
	ublk_dev_join_queues(d, true);
	if (d->cdev_fd >= 0)
		close(d->cdev_fd);
	d->cdev_fd = -1;
	if (d->added)
		ublk_ctrl_del_dev(d->ctrl, d->info.dev_id);
	ublk_dev_free(d);
}

struct ublk_dev *ublk_dev_alloc(struct ublk_ctrl *ctrl, struct backing *b,
				  struct filter_chain *chain)
{
	struct ublk_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ctrl = ctrl;
	d->backing = b;
	d->chain = chain;
	d->cdev_fd = -1;
	return d;
}

int ublk_dev_create(struct ublk_dev **out, struct ublk_ctrl *ctrl, struct backing *b,
		    struct filter_chain *chain, const struct ublk_dev_cfg *cfg,
		    const char **stage)
{
	struct ublk_params params;
	struct ublk_dev *d;
	int err;

	*stage = "memory";
	d = ublk_dev_alloc(ctrl, b, chain);
	if (!d)
		return -ENOMEM;
	if (cfg->queues > UBLK_QUEUES_MAX) {
		*stage = "add";
		err = -E2BIG;
		goto out_abort;
	}
	d->info.nr_hw_queues = cfg->queues;
	d->info.queue_depth = cfg->depth;
	d->info.max_io_buf_bytes = UBLK_IO_BUF_SIZE;
	d->info.dev_id = cfg->dev_id;
	d->info.ublksrv_pid = getpid();
	d->info.flags = ublk_dev_wanted_flags(ctrl->features);
	if (cfg->user_copy)
		d->info.flags |= UBLK_F_USER_COPY & ctrl->features;
	d->info.flags |= cfg->zero_copy & ctrl->features;
	/*
	 * A data mover may copy a zero copy request's data right where it is
	 * (an in-memory cache): user copy beside auto registration, which
	 * 7.3's driver takes together.
	 */
	if (cfg->zero_copy == UBLK_F_AUTO_BUF_REG && chain_data_mover(d->chain))
		d->info.flags |= UBLK_F_USER_COPY & ctrl->features;

	*stage = "add";
	err = ublk_ctrl_add_dev(ctrl, &d->info);
	if (err)
		goto out_abort;
	d->added = true;
	/* a driver that drops zero copy at ADD_DEV (before 6.15) gets no disk from it */
	if (cfg->zero_copy && !(d->info.flags & cfg->zero_copy)) {
		err = -EOPNOTSUPP;
		goto out_abort;
	}

	*stage = "params";
	fill_params(&params, cfg, d->info.max_io_buf_bytes, chain ? chain_refused_ops(chain) : 0);
	err = ublk_ctrl_set_params(ctrl, d->info.dev_id, &params);
	if (err)
		goto out_abort;

	*stage = "open";
	err = ublk_dev_open_cdev(d->info.dev_id, &d->cdev_fd);
	if (err)
		goto out_abort;

	*stage = "queues";
	if (chain)
		chain->dev_id = d->info.dev_id;
	err = ublk_dev_start_queues(d);
	if (err)
		goto out_abort;

	*stage = "start";
	err = ublk_ctrl_start_dev(ctrl, d->info.dev_id, getpid());
	if (err)
		goto out_abort;
	d->started = true;
	*out = d;
	return 0;

out_abort:
	dev_abort_new(d);
	return err;
}

bool ublk_dev_queue_exited(struct ublk_dev *d)
{
	uint32_t i;

	for (i = 0; i < d->nr_queues; i++)
		if (ublk_queue_exited(&d->queues[i]))
			return true;
	return false;
}

/* Write back what the page cache holds for the disk while the server still serves it. */
static void flush_blockdev(uint32_t dev_id)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkb%u", dev_id);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	fsync(fd);
	close(fd);
}

int ublk_dev_stop(struct ublk_dev *d)
{
	uint32_t i;
	int err, e;

	flush_blockdev(d->info.dev_id);
	/* Filters finish or give up what they hold, so STOP_DEV's drain ends. */
	for (i = 0; i < d->nr_queues; i++)
		ublk_queue_drain(&d->queues[i]);
	err = ublk_ctrl_stop_dev(d->ctrl, d->info.dev_id);
	/* If STOP failed the driver still holds our commands: leave anyway. */
	e = ublk_dev_join_queues(d, err != 0);
	if (e && !err)
		err = e;
	if (fdatasync(d->backing->fd) && !err && errno != EINVAL)
		err = -errno;
	close(d->cdev_fd);
	d->cdev_fd = -1;
	e = ublk_ctrl_del_dev(d->ctrl, d->info.dev_id);
	if (e && !err)
		err = e;
	ublk_dev_free(d);
	return err;
}

int ublk_dev_remove_orphan(struct ublk_ctrl *ctrl, uint32_t dev_id)
{
	int err = ublk_ctrl_stop_dev(ctrl, dev_id);

	if (err && err != -ENODEV)
		return err;
	return ublk_ctrl_del_dev(ctrl, dev_id);
}
