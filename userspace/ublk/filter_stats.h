/* SPDX-License-Identifier: GPL-2.0 */
/*
 * filter_stats.h - a served disk's filter counters, published by its server
 * for everyone else: one small text file per disk, <dir>/ublk<ID>.stats,
 * beside the disk's state file (lib/disk_state.h, same directory). The
 * server rewrites it about every second from its chain's stats callbacks
 * and removes it at stop; `disks`, `top` and the exporter read it here.
 *
 * Format, "key=value" lines; keys a reader does not know are skipped:
 *   id=3
 *   pid=4242
 *   time_ns=1733461234000000000        (CLOCK_REALTIME of the snapshot)
 *   filter=0 count reads=12 writes=3 bytes_read=49152 ...
 * one filter= line per filter, in chain order (index 0 first, each index
 * once), then the filter's name and its counters. Names are
 * [A-Za-z0-9_], shorter than FILTER_STATS_NAME_MAX; values are decimal.
 *
 * The file of a server that died stays behind (kill -9): its pid tells, and
 * filter_stats_read() refuses it as not live.
 */
#ifndef SLUICE_UBLK_FILTER_STATS_H
#define SLUICE_UBLK_FILTER_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "filters/chain.h"

#define FILTER_STATS_NAME_MAX		32
#define FILTER_STATS_COUNTERS_MAX	32
#define FILTER_STATS_PERIOD_NS		1000000000ull

struct filter_stats_counter {
	char name[FILTER_STATS_NAME_MAX];
	uint64_t value;
};

struct filter_stats_filter {
	unsigned int index;		/* position in the chain, 0 = top */
	char name[FILTER_STATS_NAME_MAX];
	unsigned int n;
	struct filter_stats_counter c[FILTER_STATS_COUNTERS_MAX];
};

struct filter_stats {
	uint32_t id;			/* the disk, /dev/ublkb<id> */
	pid_t pid;			/* the server that wrote it */
	uint64_t time_ns;		/* CLOCK_REALTIME of the snapshot */
	unsigned int n;
	struct filter_stats_filter f[CHAIN_MAX_FILTERS];
};

/*
 * Snapshot @c's counters (chain_filter_stats() of every filter) into @fs,
 * stamped with @id, @pid and the time. Safe while the queues serve I/O when
 * every stats callback is (filter.h). A counter whose name the format
 * cannot carry (see above), or that repeats an earlier name of its filter,
 * is left out. @c may be NULL (no chain: no filters). 0 or -EINVAL when a
 * filter's own name cannot be carried.
 */
int filter_stats_take(struct filter_stats *fs, struct filter_chain *c, uint32_t id, pid_t pid);

/* Format into buf; returns the length or -ENAMETOOLONG. */
int filter_stats_format(const struct filter_stats *fs, char *buf, size_t len);
/* Parse one file's text: 0, or -EINVAL when malformed. */
int filter_stats_parse(const char *text, struct filter_stats *fs);

/* Replace the file of disk fs->id in @dir (not fsynced: /run, statistics). */
int filter_stats_write(const char *dir, const struct filter_stats *fs);
/*
 * The live counters of disk @id: -ENOENT without a file, -EINVAL when it is
 * malformed or names another disk, -ESRCH when the server that wrote it is
 * gone (lib/disk_state.h: state_server_running()).
 */
int filter_stats_read(const char *dir, uint32_t id, struct filter_stats *fs);
/*
 * The live counters of every disk with a state file in @dir, ascending by
 * id, into a malloc'ed array (free() it); disks without live counters are
 * left out. 0 or -errno of listing the directory.
 */
int filter_stats_read_all(const char *dir, struct filter_stats **out, size_t *n);
/* 0 also when it was already gone. */
int filter_stats_remove(const char *dir, uint32_t id);

/* @f's counter @name, or NULL. */
const struct filter_stats_counter *filter_stats_counter(const struct filter_stats_filter *f,
							 const char *name);

/*
 * The server's periodic call (cheap to call more often): when the monotonic
 * clock has reached *due_ns (0 the first time: at once), take and write the
 * counters of @c as disk @id of this process, and set *due_ns one
 * FILTER_STATS_PERIOD_NS later. 0 or -errno of the write; *due_ns moves on
 * either way, so a failing write is retried a period later, not at once.
 * @seen (may be NULL) is then given the snapshot, written or not.
 */
int filter_stats_publish(const char *dir, uint32_t id, struct filter_chain *c, uint64_t *due_ns,
			 void (*seen)(const struct filter_stats *fs, void *arg), void *arg);

#endif /* SLUICE_UBLK_FILTER_STATS_H */
