/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve_alerts.h - what `sluice serve` says in its log when a disk's
 * filter counters raise or clear an alert (cmd/filter_stats_cli.h): the
 * replica's lag over the RPO target, the replica down, sync replication
 * degraded, the replica refusing the disk. One line per change, in the
 * words `top` shows, so journald holds when each began and ended.
 */
#ifndef SLUICE_CMD_SERVE_ALERTS_H
#define SLUICE_CMD_SERVE_ALERTS_H

#include "ublk/filter_stats.h"

struct serve_alerts {
	unsigned int raised;		/* enum filter_alert mask, as last logged */
};

/* ublk_server_cfg's on_stats: @arg is a struct serve_alerts. */
void serve_alerts_seen(const struct filter_stats *fs, void *arg);

#endif /* SLUICE_CMD_SERVE_ALERTS_H */
