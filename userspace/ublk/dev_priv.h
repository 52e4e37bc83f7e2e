/* SPDX-License-Identifier: GPL-2.0 */
/* dev_priv.h - what dev.c shares with recover.c; not for other users. */
#ifndef SLUICE_UBLK_DEV_PRIV_H
#define SLUICE_UBLK_DEV_PRIV_H

#include "ublk/dev.h"

void ublk_sleep_ms(int ms);
struct ublk_dev *ublk_dev_alloc(struct ublk_ctrl *ctrl, struct backing *b,
				struct filter_chain *chain);
/* Closes the char device if open, frees d. */
void ublk_dev_free(struct ublk_dev *d);
/* Open /dev/ublkcN, waiting briefly for devtmpfs to create it. */
int ublk_dev_open_cdev(uint32_t dev_id, int *fd);
/* Start a thread per queue of d->info; on failure the started ones keep running. */
int ublk_dev_start_queues(struct ublk_dev *d);
/* Wait for the queue threads; kick first to make them leave without the driver. */
int ublk_dev_join_queues(struct ublk_dev *d, bool kick);

#endif /* SLUICE_UBLK_DEV_PRIV_H */
