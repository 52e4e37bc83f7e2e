/* SPDX-License-Identifier: GPL-2.0 */
/*
 * receiver.h - the replica side of replication: one disk's records, from
 * one sender at a time, applied in sequence order to the image through the
 * replica's own journal (replica/rlog.h) and acknowledged once durable.
 * The replica serves one disk: the first sender's disk identity (its
 * journal's uuid) and generation are kept beside the journal
 * (<journal>.replica) and a sender of any other disk is refused. No
 * logging: the session says what happened; the CLI says it.
 */
#ifndef SLUICE_REPLICA_RECEIVER_H
#define SLUICE_REPLICA_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/link.h"
#include "replica/rlog.h"

struct receiver_cfg {
	const char *target;		/* the image records are applied to */
	const char *journal;		/* the replica's journal */
	uint64_t journal_size;		/* when it is created */
};

struct receiver {
	struct receiver_cfg cfg;
	struct rlog log;
	bool log_open;
	bool have_id;
	uint8_t disk[FRAME_UUID_LEN];
	uint64_t generation;
	bool promoted;			/* promote made this a primary, after seq split */
	uint64_t split;
	/*
	 * Auto failover: the primary's lease, from its hello (0: manual), kept
	 * in the identity file; and when a frame of it was last heard
	 * (CLOCK_MONOTONIC; at open if none since).
	 */
	uint64_t lease_ns;
	uint64_t heard_ns;
};

/* What one session did, for the CLI's log line. */
struct receiver_session {
	uint64_t resumed_at;		/* the last applied seq told to the sender */
	uint64_t first_seq, last_seq;	/* records applied in this session */
	uint64_t records, acks;
	uint64_t data_bytes;		/* bytes of the records' writes and zeroes */
	/* failback: this side's records after split were discarded, these blocks resent */
	bool failback;
	uint64_t split, discarded_last;	/* records split+1..discarded_last were ours */
	uint64_t resync_bytes, resync_ranges;
	uint32_t block_size;
	/* a full copy: the disk's data blocks, then records from full_seq + 1 */
	bool full;
	uint64_t full_seq, full_blocks;
	uint64_t replayed;		/* records replayed onto the image at open */
	uint64_t expected, got;		/* -ERANGE: the seq expected and the one sent */
	uint8_t peer_disk[FRAME_UUID_LEN];	/* -EXDEV: the disk the sender has */
	int peer_err;			/* the sender's ERROR frame, if it sent one */
	bool closed;			/* the sender said CLOSE: stopped on purpose */
	char peer_msg[FRAME_MSG_MAX + 1];
};

/*
 * Load the identity file and open the journal if there is one (replaying
 * what the image lacks). 0, or rlog_open's and the identity file's -errno
 * (-EBADMSG: an identity file that is not ours).
 */
int receiver_open(struct receiver *r, const struct receiver_cfg *cfg);

/*
 * Serve one connection until it ends. -EPIPE: the sender went away (the
 * normal end); -EXDEV: another disk's sender (refused, told so);
 * -ESTALE: a sender of an older generation (this replica was promoted);
 * -EDOM: another geometry; -ERANGE: a record out of sequence (s->expected,
 * s->got); -EPROTO: the sender's resync did not cover the set, or its full
 * copy's end did not match its blocks; -ECONNABORTED: the
 * sender sent an ERROR (s->peer_*); -errno of the journal or image. The journal is synced before it returns.
 */
int receiver_session(struct receiver *r, struct link *l, struct receiver_session *s);

/*
 * Failback, in the greeting: a sender of a newer generation (or the disk's
 * first, to its old primary's journal) whose split is before our last
 * record: the records after the split are the split brain's losing writes.
 * Their ranges (replica/resync.h) are saved, the records discarded from
 * the journal (rlog_truncate), the ranges sent (DIVERGE) and the sender's
 * content of them written to the image (BLOCK); then its records after the
 * split stream as usual. s->failback and s->resync_* say what moved.
 */

/*
 * A full copy, when there is nothing to resume from: this replica holds
 * nothing (no identity file, an empty journal), or its records after the
 * split were folded (failback), or a copy is pending (<journal>.sync): its
 * HELLO says FRAME_F_FULL. The sender also starts one when our last record
 * is older than its journal's oldest. SYNC(S0) opens it: the marker is
 * saved, the journal emptied, the image zeroed; the BLOCKs of the disk's
 * data follow, SYNC(LAST, count) closes it; the journal begins anew at
 * S0 + 1 (rlog_restart), the marker goes, and ACK(S0) says so. Cut before
 * that, the next session copies again; promote refuses meanwhile.
 */

/* receiver_session() in two steps, for a caller that says where it resumes. */
int receiver_greet(struct receiver *r, struct link *l, struct receiver_session *s);
int receiver_stream(struct receiver *r, struct link *l, struct receiver_session *s);

/*
 * Failover: make the replica's image the disk (every record of its journal
 * replayed and synced) and raise its generation, so the old primary, still
 * of the old generation, is refused from now on (-ESTALE: a split brain is
 * refused, never merged). @cfg's journal must not be open elsewhere
 * (-EBUSY: a receiver runs). *seq: the last record the image holds.
 * The split (*seq) is kept in the identity file: a sender serving this
 * journal (the journal filter) announces it, and the old primary coming
 * back as the replica resynchronises from it (failback). 0, -ENOENT
 * (nothing was ever replicated here), -EAGAIN (a failback's resync is
 * unfinished, or a full copy: the image is no consistent disk), or
 * receiver_open's errors.
 */
int receiver_promote(const struct receiver_cfg *cfg, uint64_t *generation, uint64_t *seq);

/*
 * Auto failover: has the primary been silent strictly longer than twice
 * its lease at @now (clock_ns(CLOCK_MONOTONIC))? It fenced its writes after one
 * lease (replica/sender.h), so promoting now cannot make two writers. A
 * CLOSE (a primary stopped on purpose) disarms it until the next hello.
 */
bool receiver_failover_due(const struct receiver *r, uint64_t now);

/* Checkpoint and close. Takes a zeroed or failed receiver. */
void receiver_close(struct receiver *r);

/*
 * The identity a promoted replica's journal serves with: the disk, the
 * generation promote raised, and the split (the seq promote found). 0,
 * -ENOENT (not promoted: no identity file, or a replica's), -EBADMSG.
 */
int receiver_promoted(const char *journal, uint8_t disk[FRAME_UUID_LEN], uint64_t *generation,
		      uint64_t *split);

/* "<journal>.sync": present while a full copy is unfinished. */
int receiver_sync_path(const char *journal, char *buf, size_t len);

/* The identity file's path: "<journal>.replica". */
int receiver_id_path(const char *journal, char *buf, size_t len);

#endif /* SLUICE_REPLICA_RECEIVER_H */
