/* SPDX-License-Identifier: GPL-2.0 */
/*
 * filter_stats_cli.h - how `disks` and `top` show a served disk's filter
 * counters (ublk/filter_stats.h), so the two say it alike.
 */
#ifndef SLUICE_FILTER_STATS_CLI_H
#define SLUICE_FILTER_STATS_CLI_H

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

#endif /* SLUICE_FILTER_STATS_CLI_H */
