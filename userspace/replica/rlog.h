/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rlog.h - the replica's own journal: the records it applies, appended in
 * the journal's format (journal/format.h) with the primary's sequence
 * numbers, so `sluice journal list/verify/restore` work on the replica
 * side, and a receiver killed at any moment replays what its image lacks.
 * Write-ahead: a record is in the journal before it is on the image; a
 * record is durable once the journal is synced (rlog_sync). When the ring
 * is full the oldest records are folded into the base image. Blocking I/O,
 * one thread; no logging.
 */
#ifndef SLUICE_REPLICA_RLOG_H
#define SLUICE_REPLICA_RLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "journal/store.h"
#include "replica/frame.h"

struct rlog {
	int jfd, tfd, basefd;
	struct journal_sb sb;
	uint64_t stream;
	uint64_t head;			/* where the next record goes */
	uint64_t next_seq;		/* the seq it must have */
	uint32_t last_crc;
	uint64_t synced;		/* every record <= it is durable in the journal */
	uint64_t ckpt_ns;		/* when the image was last synced */
	uint64_t replayed;		/* records put on the image at open */
	uint64_t folds;
};

/*
 * Open the journal @path of the image @target, replaying onto the image
 * what it lacks; a journal that does not exist yet is created, for a disk
 * of @disk_size and @block_size (0: open only, -ENOENT when there is
 * none). The image must be that large. The journal is locked (flock) while
 * open. 0, -ENOENT, -EBUSY (another process has it open), -EXDEV (the
 * journal is another image's), -EDOM (another size), -EBADMSG (corrupt in
 * the middle), -errno.
 */
int rlog_open(struct rlog *l, const char *path, const char *target, uint64_t jsize,
	      uint64_t disk_size, uint32_t block_size);

/* The last record applied (0: none). */
static inline uint64_t rlog_applied(const struct rlog *l)
{
	return l->next_seq - 1;
}

/*
 * Append @r (seq must be rlog_applied() + 1: -ERANGE) to the journal and
 * put it on the image. 0 or -errno.
 */
int rlog_append(struct rlog *l, const struct frame_record *r);

/*
 * Failback: forget every record after @seq (another history's, the split
 * brain's losing writes): the next append is @seq + 1, and the forgotten
 * records' headers are wiped (one fdatasync each) so no later walk takes
 * one for the chain's next. The image keeps their data: the caller
 * overwrites it (the resync).
 * 0, -ERANGE (@seq is folded into the base, or past the last record),
 * -errno.
 */
int rlog_truncate(struct rlog *l, uint64_t seq);

/*
 * A full copy: the image now holds every record <= @seq (the primary's
 * disk as copied); begin the journal anew from it, its base the image
 * (journal_create's copy) and its first record @seq + 1, so `journal
 * restore` gives any point after @seq and refuses those before. The old
 * records are gone (a new uuid: no later walk takes one for ours). The
 * caller has emptied the journal file before the copy began (a cut then
 * leaves no journal, and a new copy). 0 or -errno.
 */
int rlog_restart(struct rlog *l, const char *path, const char *target, uint64_t seq);

/* Make every appended record durable (and, once a second, checkpoint). 0 or -errno. */
int rlog_sync(struct rlog *l);

/* Checkpoint and close. Takes a zeroed or failed rlog. */
void rlog_close(struct rlog *l);

#endif /* SLUICE_REPLICA_RLOG_H */
