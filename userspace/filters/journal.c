// SPDX-License-Identifier: GPL-2.0
/*
 * journal.c - continuous data protection: every write, write-zeroes,
 * discard and flush of the disk becomes a record in one ordered log
 * (journal/format.h) before it goes on to the backing (write-ahead).
 * docs/journal.md has the design; in short:
 *
 * - One log for every queue: a record's sequence number and its place in
 *   the ring are taken under j->lock, with the hash chain (prev_crc), so
 *   the order is the order of reservation. The record is written by the
 *   queue with its own I/O (a writev of header and data) to the journal
 *   file, a fixed file on every ring.
 * - Durability: one fdatasync of the journal at a time for the whole disk
 *   covers every record written before it began, on every queue (group
 *   commit). A queue holding a waiter starts it on its ring, or runs it on
 *   its own thread at the end of a pass when all it has started waits for
 *   it (jrn_before_wait); the queues are woken and resume what is durable
 *   now. A commit thread (started in start) takes over when a ring has no
 *   room, and syncs about once a second what nobody waits for.
 *   commit=sync holds every write until its record is durable; async holds
 *   only FLUSH and FUA writes (a FLUSH is a record too: the flush points a
 *   restore can name).
 * - The backing gets a write only once its record is written; a record is
 *   "applied" when the backing write came back. The thread checkpoints
 *   (fdatasync of the backing, then the superblock says ckpt_seq) and folds
 *   records that are both checkpointed and past retention, or in the way of
 *   new ones when the ring is full, into the base image: the window shrinks,
 *   nothing acknowledged is lost, and a write waiting for room waits only
 *   for a checkpoint and a fold, never for another writer.
 * - init replays what the backing may lack after a crash (journal_replay).
 *
 * Args: path=FILE (required), size=SIZE (at creation; default 1GiB),
 * retention=DURATION (default 24h), commit=sync|async (default sync),
 * record_io=inline|uring (how records are written; default inline).
 * replica.* (replica/spec.h): ship the records to a replica with a
 * sender thread (replica/sender.h); in sync mode a write is held until the
 * replica acknowledged its record, as it is held for local durability.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "filters/chain.h"
#include "filters/filter.h"
#include "filters/registry.h"
#include "journal/store.h"
#include "lib/crc32c.h"
#include "lib/units.h"
#include "replica/receiver.h"
#include "replica/spec.h"

#define JRN_QUEUES		64
#define JRN_DEFAULT_SIZE	(1ull << 30)
#define JRN_DEFAULT_RETENTION	(24ull * 3600 * NSEC_PER_SEC)
#define JRN_CKPT_NS		NSEC_PER_SEC	/* checkpoint and retention, at most this often */
#define JRN_WAIT_NS		(100 * NSEC_PER_MSEC)

enum { JRN_IO_REC = 1 };
enum { JRN_BG_COMMIT = 1 };

/* seq flags in the window */
#define JRN_WRITTEN	1u
#define JRN_APPLIED	2u

struct jrn_req {
	uint8_t hdr[JOURNAL_REC_HDR];
	struct iovec iov[2];
	struct journal_rec rec;
	uint64_t seq;			/* 0: none in flight */
	bool durable;			/* held until the record is durable */
	bool writing;
	uint64_t rep_seq;		/* on its way up, held until the replica has it */
};

struct jrn_queue {
	struct filter_req **held;	/* written, waiting to be durable */
	unsigned int nheld;
	struct filter_req **space;	/* waiting for room in the ring or the window */
	unsigned int nspace;
	struct filter_req **after;	/* waiting for an earlier overlapping write */
	unsigned int nafter;
};

/* what a seq's request covers on the disk; end == off for a flush */
struct jrn_range {
	uint64_t off, end;
};

struct jrn {
	char path[PATH_MAX];
	uint64_t retention_ns;
	bool sync;
	unsigned int depth;
	int jfd, bfd, basefd, jfile;
	uint64_t data_offset;
	uint64_t stream;
	struct journal_sb sb;		/* the commit thread's (init's before start) */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	uint64_t head, tail_off, tail_seq, next_seq;
	uint32_t last_crc;
	uint64_t written_upto, durable_upto, applied_upto;
	uint8_t *flags;			/* JRN_* per seq, window of mask + 1 */
	struct jrn_range *ranges;	/* per seq, the same window */
	uint64_t mask;
	unsigned int waiting_after;	/* requests in some queue's after list */
	bool window_full;		/* a request waits for the window to move */
	unsigned int waiters;		/* requests held for durability */
	bool commit_inflight;		/* a queue's fdatasync of the journal runs */
	uint64_t commit_target;		/* ... it makes every record <= this durable */
	bool thread_commit;		/* a queue could not: the thread commits */
	bool inline_io;			/* record_io=inline: pwritev on the queue's thread */
	bool want_space;
	bool stopping, thread_up, failed;
	pthread_t thread;
	struct filter_queue *fqs[JRN_QUEUES];
	struct replica_sender *rep;	/* replication, or NULL */

	atomic_uint_fast64_t records, bytes, fsyncs, fsyncs_inline, flushes, space_waits, folds,
		folded;
	atomic_uint_fast64_t durable_seq, base_time_s, replayed, overlap_waits;
};

/* ------------------------------------------------------------- the ring -- */

static uint64_t ring_reserve(struct jrn *j, uint64_t span)
{
	uint64_t end = j->sb.journal_size;
	bool empty = j->tail_seq == j->next_seq;

	if (empty || j->head > j->tail_off) {
		if (j->head + span <= end)
			return j->head;
		if (empty || JOURNAL_RING_START + span <= j->tail_off)
			return JOURNAL_RING_START;
		return 0;
	}
	return j->head + span <= j->tail_off ? j->head : 0;
}

static void advance(struct jrn *j)
{
	while (j->written_upto + 1 < j->next_seq &&
	       (j->flags[(j->written_upto + 1) & j->mask] & JRN_WRITTEN))
		j->written_upto++;
	while (j->applied_upto < j->written_upto &&
	       (j->flags[(j->applied_upto + 1) & j->mask] & JRN_APPLIED)) {
		j->applied_upto++;
		j->flags[j->applied_upto & j->mask] = 0;
	}
}

static void mark(struct jrn *j, uint64_t seq, uint8_t flag)
{
	j->flags[seq & j->mask] |= flag;
	advance(j);
}

/* ------------------------------------------------- the commit thread's -- */

static int sync_upto(struct jrn *j, uint64_t target)
{
	int err = fdatasync(j->jfd) ? -errno : 0;

	atomic_fetch_add(&j->fsyncs, 1);
	pthread_mutex_lock(&j->lock);
	if (err)
		j->failed = true;
	else if (target > j->durable_upto)
		j->durable_upto = target;
	atomic_store(&j->durable_seq, j->durable_upto);
	pthread_mutex_unlock(&j->lock);
	return err;
}

/* Make everything written so far durable, now, on the caller's thread. */
static void sync_now(struct jrn *j)
{
	uint64_t target;

	pthread_mutex_lock(&j->lock);
	target = j->written_upto;
	pthread_mutex_unlock(&j->lock);
	if (target > atomic_load(&j->durable_seq))
		sync_upto(j, target);
}

/*
 * Checkpoint what reached the backing, and fold into the base the records
 * that are checkpointed and either past retention or, when the ring is
 * short of room, the oldest quarter. Blocking I/O; the queues keep going.
 */
static int fold(struct jrn *j, bool need_space)
{
	struct journal_reader r;
	struct journal_sb sb = j->sb;
	uint64_t applied, now = journal_now_ns(), freed = 0;
	uint64_t ring = sb.journal_size - JOURNAL_RING_START;
	uint64_t tail_off, tail_seq, next_seq, moved = 0;
	uint32_t prev;
	int err = 0;

	pthread_mutex_lock(&j->lock);
	applied = j->applied_upto;
	tail_off = j->tail_off;
	tail_seq = j->tail_seq;
	next_seq = j->next_seq;
	pthread_mutex_unlock(&j->lock);
	prev = sb.tail_prev_crc;

	if (applied > sb.ckpt_seq) {
		if (fsync(j->bfd))
			return -errno;
		sb.ckpt_seq = applied;
		sb.ckpt_time_ns = now;
	}
	memset(&r, 0, sizeof(r));
	r.fd = j->jfd;
	r.sb = sb;
	r.ring_end = sb.journal_size;
	r.pos = tail_off;
	r.next_seq = tail_seq;
	r.prev_crc = prev;
	r.stream = j->stream;
	while (tail_seq < next_seq && tail_seq <= sb.ckpt_seq) {
		err = journal_reader_next(&r);
		if (err <= 0) {
			/* the checkpointed records are all written: a gap is a failure */
			err = err ?: -EIO;
			break;
		}
		if (!(need_space && freed < ring / 4) &&
		    (r.rec.time_ns + j->retention_ns > now ||
		     (j->rep && r.rec.seq >= replica_sender_keep(j->rep)))) {
			/* keep it: give the reader's step back */
			r.pos = r.rec_off;
			r.next_seq--;
			r.prev_crc = prev;
			err = 0;
			break;
		}
		err = journal_apply(j->basefd, 0, &r.rec, r.data);
		if (err)
			break;
		freed += journal_rec_span(r.rec.length);
		prev = r.rec.hdr_crc;
		tail_seq = r.rec.seq + 1;
		sb.base_time_ns = r.rec.time_ns;
		moved++;
		err = 0;
	}
	tail_off = r.pos;
	journal_reader_fini(&r);
	if (err)
		return err;
	if (moved && fdatasync(j->basefd))
		return -errno;
	if (!moved && sb.ckpt_seq == j->sb.ckpt_seq)
		return 0;
	sb.tail_off = tail_off;
	sb.tail_seq = tail_seq;
	sb.tail_prev_crc = prev;
	sb.base_seq = tail_seq - 1;
	sb.gen++;
	err = journal_sb_write(j->jfd, &sb);
	if (err)
		return err;
	j->sb = sb;
	atomic_store(&j->base_time_s, sb.base_time_ns / NSEC_PER_SEC);
	if (moved) {
		atomic_fetch_add(&j->folds, 1);
		atomic_fetch_add(&j->folded, moved);
	}
	pthread_mutex_lock(&j->lock);
	j->tail_off = tail_off;
	j->tail_seq = tail_seq;
	pthread_mutex_unlock(&j->lock);
	return 0;
}

/*
 * Wake every queue but @skip (NULL: all). Under the lock: queue_fini
 * forgets a queue before its eventfd goes.
 */
static void wake_queues_but(struct jrn *j, const struct filter_queue *skip)
{
	int i;

	pthread_mutex_lock(&j->lock);
	for (i = 0; i < JRN_QUEUES; i++)
		if (j->fqs[i] && j->fqs[i] != skip)
			filter_queue_wake(j->fqs[i]);
	pthread_mutex_unlock(&j->lock);
}

static void wake_queues(struct jrn *j)
{
	wake_queues_but(j, NULL);
}

static void deadline(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += ns % NSEC_PER_SEC;
	ts->tv_sec += ns / NSEC_PER_SEC + ts->tv_nsec / NSEC_PER_SEC;
	ts->tv_nsec %= NSEC_PER_SEC;
}

static void *commit_thread(void *arg)
{
	struct jrn *j = arg;
	uint64_t target, last_fold = 0, now;
	struct timespec ts;
	bool space, waited;

	pthread_mutex_lock(&j->lock);
	while (!j->stopping) {
		now = journal_now_ns();
		/* the queues commit for their waiters; the thread when they could not,
		 * and about once a second for what nobody waits for (async) */
		waited = j->thread_commit ||
			 (now - last_fold >= JRN_CKPT_NS && !j->commit_inflight);
		if (j->written_upto > j->durable_upto && waited) {
			j->thread_commit = false;
			target = j->written_upto;
			pthread_mutex_unlock(&j->lock);
			sync_upto(j, target);
			wake_queues(j);
			pthread_mutex_lock(&j->lock);
			continue;
		}
		if (j->want_space || now - last_fold >= JRN_CKPT_NS) {
			space = j->want_space;
			pthread_mutex_unlock(&j->lock);
			if (fold(j, space)) {
				pthread_mutex_lock(&j->lock);
				j->failed = true;
				pthread_mutex_unlock(&j->lock);
			}
			last_fold = journal_now_ns();
			wake_queues(j);
			pthread_mutex_lock(&j->lock);
			if (space && j->want_space) {
				/* nothing foldable yet (records not on the backing): soon again */
				j->want_space = false;
				deadline(&ts, NSEC_PER_MSEC);
				pthread_cond_timedwait(&j->cond, &j->lock, &ts);
			}
			continue;
		}
		deadline(&ts, JRN_WAIT_NS);
		pthread_cond_timedwait(&j->cond, &j->lock, &ts);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* ---------------------------------------------------------- the queues -- */

static void submit_record(struct filter *f, struct filter_req *req, struct io_uring_sqe *sqe,
			  uint64_t pos)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn *j = f->priv;

	jr->iov[0] = (struct iovec){ jr->hdr, JOURNAL_REC_HDR };
	jr->iov[1] = (struct iovec){ req->buf, jr->rec.length };
	io_uring_prep_writev(sqe, j->jfile, jr->iov, jr->rec.length ? 2 : 1, pos);
	sqe->flags |= IOSQE_FIXED_FILE;
	jr->writing = true;
}

static int written(struct filter *f, struct filter_req *req, int res);

/*
 * record_io=inline: the record goes to the page cache with pwritev on the
 * queue's thread, as the engine copies to a page-cache backing inline
 * (engine_cfg.backing_buffered). io_uring runs a buffered write it cannot
 * do without blocking in io-wq, hashed per inode, so every record of the
 * disk would queue behind one worker: measured 3-5x slower (bench/journal).
 */
static int write_inline(struct filter *f, struct filter_req *req, uint64_t pos)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn *j = f->priv;
	struct iovec iov[2] = {
		{ jr->hdr, JOURNAL_REC_HDR }, { req->buf, jr->rec.length },
	};
	ssize_t n;

	n = pwritev(j->jfd, iov, jr->rec.length ? 2 : 1, (off_t)pos);
	return written(f, req, n < 0 ? -errno : (int)n);
}

/* Reserve the record's place and seq and write it; a verdict. */
static int reserve_and_write(struct filter *f, struct filter_req *req)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn_queue *q = filter_queue_priv(f, req->fq);
	struct jrn *j = f->priv;
	struct io_uring_sqe *sqe;
	uint64_t span = journal_rec_span(jr->rec.length), pos;

	if (span > (j->sb.journal_size - JOURNAL_RING_START) / 2)
		return -ENOSPC;
	pthread_mutex_lock(&j->lock);
	if (j->failed) {
		pthread_mutex_unlock(&j->lock);
		return -EIO;
	}
	/*
	 * A seq's flags share a slot with the seq one window earlier: with
	 * one backing write stalled while thousands of others complete, wait
	 * for it rather than overwrite its slot.
	 */
	if (j->next_seq - j->applied_upto > j->mask) {
		q->space[q->nspace++] = req;
		j->window_full = true;
		pthread_mutex_unlock(&j->lock);
		return FILTER_PENDING;
	}
	pos = ring_reserve(j, span);
	if (!pos) {
		q->space[q->nspace++] = req;
		j->want_space = true;
		pthread_cond_signal(&j->cond);
		pthread_mutex_unlock(&j->lock);
		atomic_fetch_add(&j->space_waits, 1);
		return FILTER_PENDING;
	}
	/* the SQE before the seq: a seq once taken must be written, or the chain breaks */
	sqe = j->inline_io ? NULL : filter_get_sqe(f, req, JRN_IO_REC);
	if (!sqe && !j->inline_io) {
		pthread_mutex_unlock(&j->lock);
		return -EBUSY;
	}
	jr->rec.seq = jr->seq = j->next_seq++;
	j->ranges[jr->seq & j->mask] = (struct jrn_range){ req->offset, req->offset + jr->rec.range };
	jr->rec.time_ns = journal_now_ns();
	jr->rec.stream = j->stream;
	jr->rec.prev_crc = j->last_crc;
	journal_rec_encode(&jr->rec, jr->hdr);
	j->last_crc = jr->rec.hdr_crc;
	j->head = pos + span;
	pthread_mutex_unlock(&j->lock);
	if (!sqe)
		return write_inline(f, req, pos);
	submit_record(f, req, sqe, pos);
	return FILTER_PENDING;
}

static int record(struct filter *f, struct filter_req *req, uint16_t type, uint32_t flags,
		  uint32_t length, uint32_t range)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn *j = f->priv;

	memset(&jr->rec, 0, sizeof(jr->rec));
	jr->rec.version = JOURNAL_VERSION;
	jr->rec.type = type;
	jr->rec.flags = flags;
	jr->rec.length = length;
	jr->rec.offset = req->offset;
	jr->rec.range = range;
	jr->rec.data_crc = length ? crc32c(0, req->buf, length) : 0;
	jr->seq = 0;
	jr->durable = j->sync || type == JOURNAL_REC_FLUSH || (flags & JOURNAL_REC_FUA);
	return reserve_and_write(f, req);
}

static int jrn_write(struct filter *f, struct filter_req *req)
{
	return record(f, req, JOURNAL_REC_WRITE,
		      req->flags & FILTER_REQ_FUA ? JOURNAL_REC_FUA : 0, req->len, req->len);
}

static int jrn_discard(struct filter *f, struct filter_req *req)
{
	return record(f, req, JOURNAL_REC_ZEROES,
		      req->op == FILTER_OP_DISCARD ? JOURNAL_REC_DISCARD : 0, 0, req->len);
}

static int jrn_flush(struct filter *f, struct filter_req *req)
{
	return record(f, req, JOURNAL_REC_FLUSH, 0, 0, 0);
}

static void drop(struct filter_req **list, unsigned int *n, struct filter_req *req)
{
	unsigned int i;

	for (i = 0; i < *n; i++) {
		if (list[i] == req) {
			list[i] = list[--*n];
			return;
		}
	}
}

static void drop_held(struct jrn_queue *q, struct filter_req *req)
{
	drop(q->held, &q->nheld, req);
}

static void hold(struct jrn *j, struct jrn_queue *q, struct filter_req *req)
{
	q->held[q->nheld++] = req;
	j->waiters++;
}

static int commit_start_locked(struct filter *f, struct filter_queue *fq);

/*
 * Under j->lock: is every request @fq has started held here, and a thread
 * there to commit for the ring when a commit cannot wait?
 */
static bool queue_alone(const struct jrn *j, const struct jrn_queue *q,
			const struct filter_queue *fq)
{
	return j->thread_up && !j->stopping && q->nheld >= filter_queue_active(fq);
}

/*
 * Under the lock: is a request with a lower seq than @seq, overlapping
 * [off, end), still on its way to the backing? Two overlapping writes in
 * flight at once may otherwise reach the backing in the other order than
 * the journal's, and the live disk would then differ from a restore (or a
 * replay, or the replica) at the same point.
 */
static bool earlier_overlaps(struct jrn *j, uint64_t seq, uint64_t off, uint64_t end)
{
	uint64_t s;

	for (s = j->applied_upto + 1; s < seq; s++) {
		const struct jrn_range *r = &j->ranges[s & j->mask];

		if (!(j->flags[s & j->mask] & JRN_APPLIED) && r->off < end && off < r->end)
			return true;
	}
	return false;
}

/*
 * Under the lock: @req's record is safe; if an earlier overlapping write is
 * still on its way to the backing, park @req behind it (true).
 */
static bool wait_for_earlier(struct filter *f, struct filter_req *req)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn_queue *q = filter_queue_priv(f, req->fq);
	struct jrn *j = f->priv;

	if (jr->rec.type == JOURNAL_REC_FLUSH ||
	    !earlier_overlaps(j, jr->seq, req->offset, req->offset + jr->rec.range))
		return false;
	q->after[q->nafter++] = req;
	j->waiting_after++;
	atomic_fetch_add(&j->overlap_waits, 1);
	return true;
}

/* The record is safe: may the request go on to the backing now? A verdict. */
static int to_backing(struct filter *f, struct filter_req *req)
{
	struct jrn *j = f->priv;
	bool wait;

	pthread_mutex_lock(&j->lock);
	wait = wait_for_earlier(f, req);
	pthread_mutex_unlock(&j->lock);
	return wait ? FILTER_PENDING : FILTER_CONTINUE;
}

/*
 * sync replication: the request, done here (journal and backing), is held
 * on its way up until the replica acknowledged its record, so the backing
 * write and the replica's round trip overlap. A verdict.
 */
static int replicated(struct filter *f, struct filter_req *req, uint64_t seq)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn_queue *q = filter_queue_priv(f, req->fq);
	struct jrn *j = f->priv;
	int v = replica_sender_verdict(j->rep, seq);

	if (v)
		return v < 0 ? v : FILTER_CONTINUE;
	/* again under the lock: an ack in between wakes the queues after we hold */
	pthread_mutex_lock(&j->lock);
	v = replica_sender_verdict(j->rep, seq);
	if (!v) {
		jr->rep_seq = seq;
		hold(j, q, req);
	}
	pthread_mutex_unlock(&j->lock);
	return v < 0 ? v : v ? FILTER_CONTINUE : FILTER_PENDING;
}

/*
 * The record of @req is written (@res from its write): mark it, and say
 * what the request does now: CONTINUE, PENDING (held until durable) or
 * -errno.
 */
static int written(struct filter *f, struct filter_req *req, int res)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn_queue *q = filter_queue_priv(f, req->fq);
	struct jrn *j = f->priv;
	bool inline_sync = false, now_durable;

	jr->writing = false;
	pthread_mutex_lock(&j->lock);
	if (res != (int)(JOURNAL_REC_HDR + jr->rec.length)) {
		/* a hole in the log: nothing after it could be replayed */
		j->failed = true;
		mark(j, jr->seq, JRN_WRITTEN | JRN_APPLIED);
		jr->seq = 0;
		pthread_mutex_unlock(&j->lock);
		return res < 0 ? res : -EIO;
	}
	mark(j, jr->seq, JRN_WRITTEN);
	if (j->rep)
		replica_sender_written(j->rep, j->written_upto);
	if (jr->rec.type == JOURNAL_REC_FLUSH)
		mark(j, jr->seq, JRN_APPLIED);	/* nothing of its own goes to the backing */
	atomic_fetch_add(&j->records, 1);
	atomic_fetch_add(&j->bytes, JOURNAL_REC_HDR + jr->rec.length);
	if (jr->rec.type == JOURNAL_REC_FLUSH)
		atomic_fetch_add(&j->flushes, 1);
	now_durable = !jr->durable || jr->seq <= j->durable_upto;
	if (!now_durable) {
		hold(j, q, req);
		/*
		 * While everything the queue does waits for the journal, the
		 * commit waits for the end of the pass (jrn_before_wait).
		 * Otherwise on the ring now; with no room there and no thread
		 * to do it, here.
		 */
		if (!queue_alone(j, q, req->fq))
			inline_sync = commit_start_locked(f, req->fq) &&
				      (!j->thread_up || j->stopping);
	}
	pthread_mutex_unlock(&j->lock);
	if (inline_sync) {
		sync_now(j);
		pthread_mutex_lock(&j->lock);
		now_durable = j->failed || jr->seq <= j->durable_upto;
		if (now_durable) {
			drop_held(q, req);
			j->waiters--;
		}
		pthread_mutex_unlock(&j->lock);
	}
	if (!now_durable)
		return FILTER_PENDING;
	return j->failed ? -EIO : to_backing(f, req);
}

static void jrn_io_done(struct filter *f, struct filter_req *req, uint32_t cookie, int res)
{
	int verdict = written(f, req, res);

	if (verdict != FILTER_PENDING)
		filter_resume(req, verdict);
}

/*
 * Group commit on the queue's own ring: one fdatasync of the journal at a
 * time for the whole disk, covering every record written before it began;
 * whichever queue has a waiter when none runs starts the next. Under
 * j->lock. 0, or -EBUSY when the ring has no room (the thread commits).
 */
static int commit_start_locked(struct filter *f, struct filter_queue *fq)
{
	struct jrn *j = f->priv;
	struct io_uring_sqe *sqe;

	if (j->commit_inflight || j->written_upto <= j->durable_upto)
		return 0;
	sqe = filter_bg_sqe(f, fq, JRN_BG_COMMIT);
	if (!sqe) {
		j->thread_commit = true;
		pthread_cond_signal(&j->cond);
		return -EBUSY;
	}
	io_uring_prep_fsync(sqe, j->jfile, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	j->commit_inflight = true;
	j->commit_target = j->written_upto;
	return 0;
}

/* A commit of @fq's ended with @res: what it made durable, and the next one. Under j->lock. */
static void commit_done_locked(struct filter *f, struct filter_queue *fq, int res)
{
	struct jrn *j = f->priv;

	j->commit_inflight = false;
	if (res < 0 && res != -ECANCELED) {
		j->failed = true;
	} else if (res >= 0) {
		atomic_fetch_add(&j->fsyncs, 1);
		if (j->commit_target > j->durable_upto)
			j->durable_upto = j->commit_target;
		atomic_store(&j->durable_seq, j->durable_upto);
	}
	if (j->waiters && res != -ECANCELED)
		commit_start_locked(f, fq);
}

static void jrn_bg_done(struct filter *f, struct filter_queue *fq, uint64_t cookie, int res)
{
	struct jrn *j = f->priv;

	pthread_mutex_lock(&j->lock);
	commit_done_locked(f, fq, res);
	pthread_mutex_unlock(&j->lock);
	wake_queues(j);
}

/* Under j->lock: does a request @q holds wait for a record not yet durable? */
static bool held_not_durable(struct filter *f, struct jrn *j, struct jrn_queue *q)
{
	unsigned int i;

	for (i = 0; i < q->nheld; i++) {
		struct jrn_req *jr = filter_req_priv(f, q->held[i]);

		if (!jr->rep_seq && jr->seq > j->durable_upto)
			return true;
	}
	return false;
}

static void jrn_wake(struct filter *f, struct filter_queue *fq);

/*
 * The end of a pass of @fq's thread. When every request the queue has
 * started is held here, the thread has nothing to do but wait for the
 * commit, so it runs the fdatasync itself: one commit for every record of
 * the pass, without the trip through an io_uring worker (io_uring runs
 * every fsync in one) and back. At QD1 that trip is most of a sync write's
 * time beyond the record's own write. Otherwise the commit goes on the ring,
 * where the thread goes on serving the queue's other requests meanwhile.
 */
static void jrn_before_wait(struct filter *f, struct filter_queue *fq)
{
	struct jrn_queue *q = filter_queue_priv(f, fq);
	struct jrn *j = f->priv;
	int res;

	if (!q->nheld)
		return;
	pthread_mutex_lock(&j->lock);
	if (j->commit_inflight || !held_not_durable(f, j, q)) {
		pthread_mutex_unlock(&j->lock);
		return;
	}
	if (!queue_alone(j, q, fq)) {
		if (commit_start_locked(f, fq) && (!j->thread_up || j->stopping)) {
			pthread_mutex_unlock(&j->lock);
			sync_now(j);
			jrn_wake(f, fq);
			return;
		}
		pthread_mutex_unlock(&j->lock);
		return;
	}
	/* a record before ours, another queue's, is still being written: its commit wakes us */
	if (j->written_upto <= j->durable_upto) {
		pthread_mutex_unlock(&j->lock);
		return;
	}
	j->commit_inflight = true;
	j->commit_target = j->written_upto;
	pthread_mutex_unlock(&j->lock);
	res = fdatasync(j->jfd) ? -errno : 0;
	if (!res)
		atomic_fetch_add(&j->fsyncs_inline, 1);
	pthread_mutex_lock(&j->lock);
	commit_done_locked(f, fq, res);
	pthread_mutex_unlock(&j->lock);
	/* our own held requests are resumed right here, not by a wake of our ring */
	wake_queues_but(j, fq);
	jrn_wake(f, fq);
}

static int jrn_completion(struct filter *f, struct filter_req *req)
{
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn *j = f->priv;
	uint64_t seq = jr->seq;

	bool wake = false;

	if (!seq)
		return FILTER_CONTINUE;
	if (jr->rec.type != JOURNAL_REC_FLUSH) {
		pthread_mutex_lock(&j->lock);
		mark(j, jr->seq, JRN_APPLIED);
		/* every queue retries at the wake-up, so one flag for all is enough */
		wake = j->waiting_after || (j->window_full && j->next_seq - j->applied_upto <= j->mask);
		if (wake)
			j->window_full = false;
		pthread_mutex_unlock(&j->lock);
	}
	jr->seq = 0;
	if (wake)
		wake_queues(j);
	if (!j->rep || req->result < 0)
		return FILTER_CONTINUE;
	return replicated(f, req, seq);
}

static void jrn_wake(struct filter *f, struct filter_queue *fq)
{
	struct jrn_queue *q = filter_queue_priv(f, fq);
	struct jrn *j = f->priv;
	struct filter_req *ready[q->nheld + q->nafter + 1], *retry[q->nspace + 1], *req;
	int verdicts[q->nheld + q->nafter + 1];
	unsigned int i, k, nready = 0, nretry;
	struct jrn_req *jr;
	int verdict;
	bool failed;

	pthread_mutex_lock(&j->lock);
	failed = j->failed;
	for (i = k = 0; i < q->nheld; i++) {
		req = q->held[i];
		jr = filter_req_priv(f, req);
		if (failed)
			verdict = -EIO;
		else if (jr->rep_seq)
			verdict = replica_sender_verdict(j->rep, jr->rep_seq);
		else
			verdict = jr->seq <= j->durable_upto;
		if (!verdict) {
			q->held[k++] = req;
			continue;
		}
		/* durable now, on its way down: after any earlier overlapping write */
		if (verdict > 0 && !jr->rep_seq && wait_for_earlier(f, req))
			continue;
		jr->rep_seq = 0;
		verdicts[nready] = verdict < 0 ? verdict : FILTER_CONTINUE;
		ready[nready++] = req;
	}
	j->waiters -= q->nheld - k;
	q->nheld = k;
	for (i = k = 0; i < q->nafter; i++) {
		req = q->after[i];
		jr = filter_req_priv(f, req);
		if (!failed && earlier_overlaps(j, jr->seq, req->offset,
						req->offset + jr->rec.range)) {
			q->after[k++] = req;
			continue;
		}
		verdicts[nready] = failed ? -EIO : FILTER_CONTINUE;
		ready[nready++] = req;
	}
	j->waiting_after -= q->nafter - k;
	q->nafter = k;
	nretry = q->nspace;
	memcpy(retry, q->space, nretry * sizeof(*retry));
	q->nspace = 0;
	pthread_mutex_unlock(&j->lock);

	for (i = 0; i < nready; i++)
		filter_resume(ready[i], verdicts[i]);
	for (i = 0; i < nretry; i++) {
		verdict = reserve_and_write(f, retry[i]);
		if (verdict != FILTER_PENDING)
			filter_resume(retry[i], verdict);
	}
}

static int jrn_queue_init(struct filter *f, struct filter_queue *fq)
{
	struct jrn_queue *q = filter_queue_priv(f, fq);
	struct jrn *j = f->priv;

	if (fq->id >= JRN_QUEUES)
		return -E2BIG;
	q->held = calloc(j->depth, sizeof(*q->held));
	q->space = calloc(j->depth, sizeof(*q->space));
	q->after = calloc(j->depth, sizeof(*q->after));
	if (!q->held || !q->space || !q->after) {
		free(q->held);
		free(q->space);
		free(q->after);
		return -ENOMEM;
	}
	pthread_mutex_lock(&j->lock);
	j->fqs[fq->id] = fq;
	pthread_mutex_unlock(&j->lock);
	return 0;
}

static void jrn_queue_fini(struct filter *f, struct filter_queue *fq)
{
	struct jrn_queue *q = filter_queue_priv(f, fq);
	struct jrn *j = f->priv;

	pthread_mutex_lock(&j->lock);
	j->fqs[fq->id] = NULL;
	pthread_mutex_unlock(&j->lock);
	free(q->held);
	free(q->space);
	free(q->after);
	q->held = q->space = q->after = NULL;
}

/* The commit thread is gone: make what is held durable here, fold for room. */
static void jrn_drain(struct filter *f, struct filter_queue *fq)
{
	struct jrn_queue *q = filter_queue_priv(f, fq);
	struct jrn *j = f->priv;

	sync_now(j);
	if (q->nspace && fold(j, true)) {
		pthread_mutex_lock(&j->lock);
		j->failed = true;
		pthread_mutex_unlock(&j->lock);
	}
	jrn_wake(f, fq);
}

static void jrn_cancel(struct filter *f, struct filter_req *req)
{
	struct jrn_queue *q = filter_queue_priv(f, req->fq);
	struct jrn_req *jr = filter_req_priv(f, req);
	struct jrn *j = f->priv;
	unsigned int before;

	pthread_mutex_lock(&j->lock);
	before = q->nheld;
	drop(q->held, &q->nheld, req);
	j->waiters -= before - q->nheld;
	drop(q->space, &q->nspace, req);
	before = q->nafter;
	drop(q->after, &q->nafter, req);
	j->waiting_after -= before - q->nafter;
	pthread_mutex_unlock(&j->lock);
	if (jr->writing)
		filter_cancel_sqe(f, req, JRN_IO_REC);
}

static int jrn_start(struct filter *f)
{
	struct jrn *j = f->priv;
	int err;

	j->stopping = false;
	err = pthread_create(&j->thread, NULL, commit_thread, j);
	if (err)
		return -err;
	pthread_setname_np(j->thread, "sluice-journal");
	pthread_mutex_lock(&j->lock);
	j->thread_up = true;
	pthread_mutex_unlock(&j->lock);
	return j->rep ? replica_sender_start(j->rep, j->written_upto) : 0;
}

static void jrn_stop(struct filter *f)
{
	struct jrn *j = f->priv;

	/* writes held for the replica are then released (or failed) as at its timeout */
	replica_sender_stop(j->rep);
	pthread_mutex_lock(&j->lock);
	j->stopping = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	pthread_mutex_lock(&j->lock);
	j->thread_up = false;
	pthread_mutex_unlock(&j->lock);
}

static int jrn_stats(struct filter *f, struct filter_stat *st, int max)
{
	struct jrn *j = f->priv;
	const struct {
		const char *name;
		atomic_uint_fast64_t *v;
	} c[] = {
		{ "records", &j->records },
		{ "bytes", &j->bytes },
		{ "fsyncs", &j->fsyncs },
		{ "fsyncs_inline", &j->fsyncs_inline },
		{ "flushes", &j->flushes },
		{ "durable_seq", &j->durable_seq },
		{ "space_waits", &j->space_waits },
		{ "folds", &j->folds },
		{ "folded_records", &j->folded },
		{ "restorable_since_s", &j->base_time_s },
		{ "replayed", &j->replayed },
		{ "overlap_waits", &j->overlap_waits },
	};
	int n;

	for (n = 0; n < max && n < (int)(sizeof(c) / sizeof(c[0])); n++)
		st[n] = (struct filter_stat){ c[n].name, atomic_load(c[n].v) };
	if (j->rep)
		n += replica_stats(j->rep, st + n, max - n);
	return n;
}

static void jrn_free(struct jrn *j)
{
	if (!j)
		return;
	replica_sender_free(j->rep);
	if (j->jfd >= 0)
		close(j->jfd);
	if (j->bfd >= 0)
		close(j->bfd);
	if (j->basefd >= 0)
		close(j->basefd);
	free(j->flags);
	free(j->ranges);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static int parse_args(struct jrn *j, const struct filter_config *cfg, uint64_t *size)
{
	char buf[64];
	int err;

	err = filter_config_get(cfg, "path", j->path, sizeof(j->path));
	if (err || !j->path[0])
		return -EINVAL;
	*size = JRN_DEFAULT_SIZE;
	if (!filter_config_get(cfg, "size", buf, sizeof(buf)) &&
	    (units_parse_abs(UNIT_SIZE, buf, size) || *size % 8))
		return -EINVAL;
	j->retention_ns = JRN_DEFAULT_RETENTION;
	if (!filter_config_get(cfg, "retention", buf, sizeof(buf)) &&
	    (units_parse_abs(UNIT_DURATION, buf, &j->retention_ns) || !j->retention_ns))
		return -EINVAL;
	j->inline_io = true;
	if (!filter_config_get(cfg, "record_io", buf, sizeof(buf))) {
		if (!strcmp(buf, "uring"))
			j->inline_io = false;
		else if (strcmp(buf, "inline"))
			return -EINVAL;
	}
	j->sync = true;
	if (!filter_config_get(cfg, "commit", buf, sizeof(buf))) {
		if (!strcmp(buf, "async"))
			j->sync = false;
		else if (strcmp(buf, "sync"))
			return -EINVAL;
	}
	return 0;
}

/* Open or create the journal, check it is this disk's, replay what the backing lacks. */
static int open_journal(struct jrn *j, const struct filter_config *cfg, uint64_t size)
{
	const struct journal_geom g = {
		.disk_size = cfg->disk_size, .block_size = cfg->block_size,
		.backing = cfg->backing, .data_offset = j->data_offset,
	};
	struct journal_scan scan;
	char base[PATH_MAX];
	struct stat st;
	int err;

	j->jfd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->jfd < 0)
		return -errno;
	j->bfd = open(cfg->backing, O_RDWR | O_CLOEXEC);
	if (j->bfd < 0)
		return -errno;
	if (fstat(j->jfd, &st))
		return -errno;
	if (!st.st_size) {
		err = journal_create(j->jfd, j->path, size, &g, j->bfd, &j->sb);
		if (err)
			return err;
		memset(&scan, 0, sizeof(scan));
		scan.head_off = j->sb.tail_off;
	} else {
		err = journal_sb_read(j->jfd, &j->sb);
		if (err)
			return err;
		err = journal_check_identity(&j->sb, &g);
		if (err)
			return err;
		err = journal_replay(j->jfd, j->bfd, j->data_offset, &j->sb, &scan);
		if (err)
			return err;
		atomic_store(&j->replayed, scan.replayed);
	}
	err = journal_base_path(j->path, base, sizeof(base));
	if (err)
		return err;
	j->basefd = open(base, O_RDWR | O_CLOEXEC);
	if (j->basefd < 0)
		return -errno;
	j->stream = journal_stream(j->sb.uuid);
	j->head = scan.head_off;
	j->tail_off = j->sb.tail_off;
	j->tail_seq = j->sb.tail_seq;
	j->next_seq = scan.records ? scan.last_seq + 1 : j->sb.tail_seq;
	j->last_crc = scan.records ? scan.last_crc : j->sb.tail_prev_crc;
	j->written_upto = j->durable_upto = j->applied_upto = j->next_seq - 1;
	atomic_store(&j->durable_seq, j->durable_upto);
	atomic_store(&j->base_time_s, j->sb.base_time_ns / NSEC_PER_SEC);
	return 0;
}

static void rep_changed(void *arg)
{
	wake_queues(arg);
}

/* replica.* asks for replication: a sender over this journal (started in start). */
static int new_sender(struct jrn *j, const struct filter_config *cfg)
{
	struct replica_spec sp;
	int err;

	err = replica_spec_parse(cfg, &sp);
	if (err <= 0)
		return err;
	sp.cfg.journal = j->path;
	memcpy(sp.cfg.disk, j->sb.uuid, FRAME_UUID_LEN);
	/* a promoted replica's journal: the disk's identity, its generation and split */
	err = receiver_promoted(j->path, sp.cfg.disk, &sp.cfg.generation, &sp.cfg.split);
	if (err && err != -ENOENT)
		return err;
	sp.cfg.backing = cfg->backing;
	sp.cfg.data_offset = j->data_offset;
	sp.cfg.disk_size = j->sb.disk_size;
	sp.cfg.block_size = j->sb.block_size;
	sp.cfg.on_change = rep_changed;
	sp.cfg.arg = j;
	return replica_sender_new(&sp.cfg, &j->rep);
}

static int jrn_init(struct filter *f, const struct filter_config *cfg)
{
	struct jrn *j;
	uint64_t size, win = 64;
	int err;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->jfd = j->bfd = j->basefd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	err = parse_args(j, cfg, &size);
	if (err)
		goto fail;
	if (!cfg->backing) {
		err = -EINVAL;
		goto fail;
	}
	j->depth = cfg->depth ? cfg->depth : 1;
	/* every request in flight holds at most one seq: the window covers them all */
	while (win < 4ull * (cfg->queues ? cfg->queues : 1) * j->depth)
		win <<= 1;
	j->flags = calloc(win, 1);
	j->ranges = calloc(win, sizeof(*j->ranges));
	if (!j->flags || !j->ranges) {
		err = -ENOMEM;
		goto fail;
	}
	j->mask = win - 1;
	/* the filters above are set up: their offsets are where disk offset 0 lies */
	j->data_offset = chain_data_offset(f->chain);
	err = open_journal(j, cfg, size);
	if (err)
		goto fail;
	err = filter_add_file(f, j->jfd);
	if (err < 0)
		goto fail;
	j->jfile = err;
	err = new_sender(j, cfg);
	if (err)
		goto fail;
	f->priv = j;
	return 0;
fail:
	jrn_free(j);
	return err;
}

/* A last checkpoint: the next start has nothing to replay. */
static void jrn_teardown(struct filter *f)
{
	struct jrn *j = f->priv;

	if (!j)
		return;
	if (!j->failed)
		fold(j, false);
	jrn_free(j);
	f->priv = NULL;
}

const struct filter_ops journal_filter_ops = {
	.name = "journal",
	.req_priv_size = sizeof(struct jrn_req),
	.queue_priv_size = sizeof(struct jrn_queue),
	.init = jrn_init,
	.queue_init = jrn_queue_init,
	.queue_fini = jrn_queue_fini,
	.start = jrn_start,
	.stop = jrn_stop,
	.write = jrn_write,
	.flush = jrn_flush,
	.discard = jrn_discard,
	.completion = jrn_completion,
	.io_done = jrn_io_done,
	.bg_done = jrn_bg_done,
	.wake = jrn_wake,
	.before_wait = jrn_before_wait,
	.drain = jrn_drain,
	.cancel = jrn_cancel,
	.stats = jrn_stats,
	.teardown = jrn_teardown,
};
