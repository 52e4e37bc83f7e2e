/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sender.h - the primary side of replication: a thread the journal filter
 * starts, which reads records back from the local journal, from the one
 * after the replica's last acknowledged, and ships them over the link.
 * The application never waits for it in async mode: a slow or cut link
 * only lets records pile up in the journal (which keeps, by retention,
 * what the replica has not acknowledged). In sync mode the journal holds
 * each write until replica_sender_verdict() releases it. A dropped link
 * reconnects with backoff and resumes after the replica's last applied
 * seq, which the replica states in its hello. No logging: the state and
 * the last error are in the stats.
 */
#ifndef SLUICE_REPLICA_SENDER_H
#define SLUICE_REPLICA_SENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/link.h"

enum replica_state {
	REPLICA_DOWN = 0,		/* not connected (connecting, or backing off) */
	REPLICA_STREAMING = 1,		/* connected; lag says how far behind */
	REPLICA_DEGRADED = 2,		/* sync mode, unreachable past the timeout */
	REPLICA_FAILED = 3,		/* the replica refused us: no retry will help */
};

struct replica_sender_cfg {
	const char *target;		/* HOST:PORT */
	struct link_creds creds;
	bool sync;			/* hold writes until the replica has them */
	bool fail_when_down;		/* sync, past the timeout: fail writes (else async) */
	uint64_t timeout_ns;		/* sync: unreachable this long, then; auto: the lease */
	/*
	 * failover auto: the replica promotes itself after 2 * timeout_ns
	 * without word from us, so writes fail (EIO, the fence) from
	 * timeout_ns after the send of the last frame the replica acknowledged:
	 * the disk never has two writers. The lease is renewed by ACKs only.
	 */
	bool auto_failover;
	uint64_t rpo_ns;		/* the lag the policy tolerates; 0 none */
	const char *journal;		/* the local journal */
	uint8_t disk[FRAME_UUID_LEN];	/* its uuid: the disk's identity */
	uint64_t disk_size;
	uint32_t block_size;
	uint64_t generation;
	uint64_t split;			/* a promoted replica's: its lineage began after it */
	const char *backing;		/* the disk's backing: failback reads the resync's blocks */
	uint64_t data_offset;		/* where disk offset 0 lies on it */
	/* called from the thread when the acked seq or the state moved */
	void (*on_change)(void *arg);
	void *arg;
};

struct replica_sender_stats {
	uint64_t acked;			/* every record <= it is durable on the replica */
	uint64_t lag_records;		/* written here, not yet acknowledged */
	uint64_t lag_ms;		/* age of the oldest of them: the live RPO */
	uint64_t state;			/* enum replica_state */
	uint64_t sent, reconnects;
	uint64_t resync_blocks;		/* failback: blocks sent for the replica's own writes */
	uint64_t last_error;		/* errno of the last failure, positive; 0 none */
	uint64_t rpo_ms;		/* the target (0 none) ... */
	uint64_t rpo_exceeded;		/* ... and 1 while lag_ms is above it */
	uint64_t writes_failing;	/* 1 while writes fail with EIO (sync, when_down fail) */
	uint64_t fenced;		/* auto: 1 while writes fail for want of the lease */
	uint64_t lease_ms;		/* auto: the lease (timeout); 0 manual */
};

struct replica_sender;

/* Check the credentials and make the sender (not started). 0 or link_ctx_new's -errno. */
int replica_sender_new(const struct replica_sender_cfg *cfg, struct replica_sender **out);
/* Start shipping; @written: every record <= it is in the journal now. 0 or -errno. */
int replica_sender_start(struct replica_sender *s, uint64_t written);
/* The journal wrote every record <= @seq (made at @time_ns): ship it. */
void replica_sender_written(struct replica_sender *s, uint64_t seq);
/*
 * May a write whose record is @seq complete? 1 yes, 0 not yet (sync: the
 * replica has not acknowledged it), -EIO (sync, unreachable past the
 * timeout, fail_when_down; or auto failover, fenced). Otherwise always 1
 * in async mode.
 */
int replica_sender_verdict(struct replica_sender *s, uint64_t seq);
/* The oldest seq the journal must keep for the replica (fold nothing at or after it). */
uint64_t replica_sender_keep(struct replica_sender *s);
void replica_sender_stats(struct replica_sender *s, struct replica_sender_stats *st);
/*
 * Stop the thread (held writes are then released as the timeout would).
 * Auto failover: the replica is told (CLOSE) so that it does not promote;
 * this waits for the batch in flight, at most the lease.
 */
void replica_sender_stop(struct replica_sender *s);
void replica_sender_free(struct replica_sender *s);

#endif /* SLUICE_REPLICA_SENDER_H */
