/* SPDX-License-Identifier: GPL-2.0 */
/*
 * filter_stats_cli.h - how `disks` and `top` show a served disk's filter
 * counters (ublk/filter_stats.h), so the two say it alike.
 */
#ifndef SLUICE_FILTER_STATS_CLI_H
#define SLUICE_FILTER_STATS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/json.h"
#include "ublk/filter_stats.h"

/*
 * The value of a disk's "filter_stats" key: {"time_ns", "filters":
 * [{"index", "name", "counters": {NAME: VALUE, ...}}]}, or null when
 * @fs is NULL (no live server, no file).
 */
void filter_stats_cli_json(struct json_writer *w, const struct filter_stats *fs);

/*
 * One line for a disk's row in `top`: "  filters: NAME COUNTER VALUE ...",
 * each filter's counters that are not zero, cut at 79 columns.
 */
void filter_stats_cli_line(FILE *f, const struct filter_stats *fs);

/*
 * What a disk's counters say needs a person's attention: the replica's lag
 * above the policy's RPO target, the replica down, sync replication
 * degraded, the replica refusing the disk. A mask of them, and each one's
 * sentence, so `top` shows and `serve` logs the same words.
 */
enum filter_alert {
	FILTER_ALERT_REPLICA_DOWN = 1 << 0,
	FILTER_ALERT_REPLICA_DEGRADED = 1 << 1,
	FILTER_ALERT_REPLICA_FAILED = 1 << 2,
	FILTER_ALERT_RPO = 1 << 3,
	FILTER_ALERT_REPLICA_FENCED = 1 << 4,	/* auto failover: writes fail, no lease */
};
#define FILTER_ALERTS_ALL	0x1fu

unsigned int filter_stats_alerts(const struct filter_stats *fs);
/* @alert's sentence (raised when @raised, else cleared) into @buf. */
void filter_stats_alert_text(const struct filter_stats *fs, unsigned int alert, bool raised,
			     char *buf, size_t len);
/* Each raised alert on a line of its own, "  ! SENTENCE", for `top`. */
void filter_stats_cli_alerts(FILE *f, const struct filter_stats *fs);

#endif /* SLUICE_FILTER_STATS_CLI_H */
