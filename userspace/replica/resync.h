/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resync.h - failback's resynchronisation set: the byte ranges a side
 * wrote after the split (the seq at which the other side was promoted),
 * read from its own journal's records, merged on block boundaries. Those
 * are the split brain's losing writes; the new primary sends its content
 * of them (BLOCK frames), then its records after the split. The set is
 * kept beside the journal (<journal>.resync) from the moment the losing
 * records are discarded until the blocks are on the image, so a failback
 * cut at any point starts over with the same set. No logging.
 */
#ifndef SLUICE_REPLICA_RESYNC_H
#define SLUICE_REPLICA_RESYNC_H

#include <stddef.h>
#include <stdint.h>

struct resync_range {
	uint64_t offset, length;	/* bytes on the disk */
};

struct resync_set {
	uint64_t split;			/* the records after it were this side's alone */
	uint64_t generation;		/* the new primary's */
	uint64_t last;			/* this side's last record when it was computed */
	uint32_t count, cap;
	struct resync_range *r;
};

/* Add [offset, offset + length); unsorted until resync_merge. 0 or -ENOMEM. */
int resync_add(struct resync_set *s, uint64_t offset, uint64_t length);

/*
 * Widen every range to @block_size boundaries, sort, and merge those that
 * overlap or touch: each block once.
 */
void resync_merge(struct resync_set *s, uint32_t block_size);

/* Bytes the set covers (after resync_merge: each block once). */
uint64_t resync_bytes(const struct resync_set *s);

/*
 * The ranges of every write and zeroes record with seq > @split in the
 * journal @jfd, merged on @block_size. 0, -ERANGE (some of them were
 * folded into the journal's base: the set cannot be known), -EIO (the
 * journal ends before its last record, @last), -errno.
 */
int resync_collect(int jfd, uint64_t split, uint64_t last, uint32_t block_size,
		   struct resync_set *s);

/* "<journal>.resync" into buf; -ENAMETOOLONG. */
int resync_path(const char *journal, char *buf, size_t len);

/* Write @s durably to @path. 0 or -errno. */
int resync_save(const char *path, const struct resync_set *s);

/* Read @path into @s (emptied first). 0, -ENOENT (none), -EBADMSG, -errno. */
int resync_load(const char *path, struct resync_set *s);

/* Remove @path durably (the directory synced). 0 or -errno; none is 0. */
int resync_done(const char *path);

void resync_free(struct resync_set *s);

#endif /* SLUICE_REPLICA_RESYNC_H */
