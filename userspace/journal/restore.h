/* SPDX-License-Identifier: GPL-2.0 */
/*
 * restore.h - the disk as it was at a point of its journal: the base image
 * plus every record up to and including that point.
 */
#ifndef SLUICE_JOURNAL_RESTORE_H
#define SLUICE_JOURNAL_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "journal/store.h"

struct journal_point {
	bool by_time;
	uint64_t seq;			/* the last record to include */
	uint64_t time_ns;		/* or: every record made at or before this */
};

struct journal_restore_info {
	uint64_t base_seq, base_time_ns;	/* the oldest restorable point */
	uint64_t last_seq, last_time_ns;	/* the newest */
	uint64_t seq, time_ns;			/* the point restored */
	uint64_t applied;			/* records put on the base */
	struct journal_scan scan;
};

typedef void (*journal_progress_fn)(void *arg, uint64_t done, uint64_t total);

/*
 * Which seq @p names in the journal @jfd (info->seq). 0, -ERANGE (before the
 * oldest restorable point or after the newest: info says the window),
 * -EBADMSG (the point lies after a corrupt record: info->scan says where),
 * or the superblock's errors.
 */
int journal_resolve(int jfd, const struct journal_point *p, struct journal_restore_info *info);

/*
 * Restore @p into @outfd: a copy of the base @basefd (disk_size bytes), then
 * the records up to the point, then fsync. Resolve first: nothing is
 * written to @outfd when the point is not restorable. 0 or -errno.
 */
int journal_restore(int jfd, int basefd, int outfd, const struct journal_point *p,
		    struct journal_restore_info *info, journal_progress_fn progress, void *arg);

#endif /* SLUICE_JOURNAL_RESTORE_H */
