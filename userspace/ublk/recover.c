// SPDX-License-Identifier: GPL-2.0
/*
 * recover.c - re-attach a new server to a ublk disk whose server died.
 * The driver kept the disk (UBLK_F_USER_RECOVERY) and quiesced it; requests
 * the old server held are requeued (UBLK_F_USER_RECOVERY_REISSUE) and reach
 * the new server once END_USER_RECOVERY has seen every tag fetched again.
 */
#include <errno.h>
#include <unistd.h>

#include "ublk/dev.h"
#include "ublk/dev_priv.h"

int ublk_dev_recover(struct ublk_dev **out, struct ublk_ctrl *ctrl, struct backing *b,
		     struct filter_chain *chain, uint32_t dev_id, int wait_ms,
		     const char **stage)
{
	struct ublk_dev *d;
	int err, waited = 0;

	*stage = "memory";
	d = ublk_dev_alloc(ctrl, b, chain);
	if (!d)
		return -ENOMEM;
	*stage = "info";
	err = ublk_ctrl_get_dev_info(ctrl, dev_id, &d->info);
	if (err)
		goto out_free;
	*stage = "recovery";
	if (!(d->info.flags & UBLK_F_USER_RECOVERY)) {
		err = -EOPNOTSUPP;
		goto out_free;
	}
	for (;;) {
		err = ublk_ctrl_start_user_recovery(ctrl, dev_id);
		if (err != -EBUSY || waited >= wait_ms)
			break;
		ublk_sleep_ms(50);
		waited += 50;
	}
	if (err)
		goto out_free;

	*stage = "open";
	err = ublk_dev_open_cdev(dev_id, &d->cdev_fd);
	if (err)
		goto out_free;
	*stage = "queues";
	if (chain)
		chain->dev_id = dev_id;
	err = ublk_dev_start_queues(d);
	if (err)
		goto out_join;
	*stage = "end-recovery";
	err = ublk_ctrl_end_user_recovery(ctrl, dev_id, getpid());
	if (err)
		goto out_join;
	d->started = true;
	*out = d;
	return 0;

out_join:
	ublk_dev_join_queues(d, true);
out_free:
	ublk_dev_free(d);
	return err;
}
