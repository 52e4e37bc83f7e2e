// SPDX-License-Identifier: GPL-2.0
/*
 * sender.c - the shipping thread: connect, hello, walk the local journal
 * to the replica's next seq, then send batches of records (the last of
 * each asks for an ack) and wait for the ack, for as long as the link
 * holds; on any failure close, back off (100 ms doubling to 5 s) and
 * start over from what the replica says it has.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal/reader.h"
#include "journal/store.h"
#include "lib/clock.h"
#include "lib/crc32c.h"
#include "lib/units.h"
#include "replica/resync.h"
#include "replica/sender.h"

#define CONNECT_MS	2000
#define ACK_MS		10000
#define BACKOFF_MIN_NS	(100 * NSEC_PER_MSEC)
#define BACKOFF_MAX_NS	(5 * NSEC_PER_SEC)
#define BATCH_RECORDS	256		/* in flight before an ack; a power of two */
#define BATCH_BYTES	(4u << 20)
/* write times kept for the lag: more records behind than this read as older */
#define WTIME_RECORDS	4096		/* a power of two */

struct replica_sender {
	struct replica_sender_cfg cfg;
	char target[256], journal[PATH_MAX], backing[PATH_MAX];	/* cfg's strings point here */
	struct link_ctx *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, stopping;
	/* under lock */
	uint64_t written;
	uint64_t pending_since_ns;	/* when the oldest unacknowledged record was written */
	uint64_t down_since_ns;		/* 0 while streaming */
	uint64_t wtime[WTIME_RECORDS];	/* when record seq was written, at seq % WTIME_RECORDS */
	struct link *link;		/* the live one, for stop to shut down */
	/* read anywhere */
	atomic_uint_fast64_t acked, state, sent, reconnects, last_error, resync_blocks;
	/* auto failover: the send time of the last frame acknowledged (0 none yet) */
	atomic_uint_fast64_t lease_from;
	atomic_bool lost;		/* the replica was promoted: fenced for good */
	bool fenced;			/* as last reported by fence_moved(); under lock */
	atomic_uint_fast64_t copy_keep;	/* a full copy runs: keep the records from it */
};

/* Wait on the cond up to @ns; under lock. */
static void nap(struct replica_sender *s, uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += ns % NSEC_PER_SEC;
	ts.tv_sec += ns / NSEC_PER_SEC + ts.tv_nsec / NSEC_PER_SEC;
	ts.tv_nsec %= NSEC_PER_SEC;
	pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

static void changed(struct replica_sender *s)
{
	if (s->cfg.on_change)
		s->cfg.on_change(s->cfg.arg);
}

/*
 * Auto failover: writes fail once the lease ran out. It counts from the
 * send of the last frame the replica answered, not from the answer: the
 * replica heard that frame after we sent it and promotes 2 * lease after
 * it last heard anything, so it cannot promote before we fenced, however
 * late the answer came. Fenced too before the first answer (a replica that
 * may have promoted while we were away) and for good once it was promoted.
 */
static bool fenced_now(struct replica_sender *s)
{
	uint64_t from = atomic_load(&s->lease_from);

	return s->cfg.auto_failover &&
	       (atomic_load(&s->lost) || !from || clock_ns(CLOCK_MONOTONIC) - from >= s->cfg.timeout_ns);
}

static void renew(struct replica_sender *s, uint64_t asked_ns)
{
	if (asked_ns > atomic_load(&s->lease_from))
		atomic_store(&s->lease_from, asked_ns);
}

/* Under lock: did the fence go up or down since last told? Then say so (changed()). */
static bool fence_moved(struct replica_sender *s)
{
	bool f = fenced_now(s);

	if (f == s->fenced)
		return false;
	s->fenced = f;
	return true;
}

/* Under lock, while waiting: a fence that went up or down is told (changed()) at once. */
static void tell_fence(struct replica_sender *s)
{
	if (fence_moved(s)) {
		pthread_mutex_unlock(&s->lock);
		changed(s);
		pthread_mutex_lock(&s->lock);
	}
}

/* Under lock: the state when not streaming, by how long the link is down. */
static void set_down(struct replica_sender *s, int err)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC), st = REPLICA_DOWN;

	if (err)
		atomic_store(&s->last_error, (uint64_t)-err);
	/*
	 * A replica that stopped answering (no ack within the link's timeout,
	 * which sync mode sets to its own) has been unreachable since the
	 * oldest write it did not acknowledge, not since we noticed.
	 */
	if (!s->down_since_ns)
		s->down_since_ns = err == -ETIMEDOUT && s->pending_since_ns ?
				   s->pending_since_ns : now;
	if (atomic_load(&s->state) == REPLICA_FAILED)
		return;
	if (s->cfg.sync && now - s->down_since_ns >= s->cfg.timeout_ns)
		st = REPLICA_DEGRADED;
	atomic_store(&s->state, st);
}

static int hello(struct replica_sender *s, struct link *l, uint64_t *applied, uint16_t *flags)
{
	struct frame f = { .type = FRAME_HELLO };
	uint64_t asked = clock_ns(CLOCK_MONOTONIC);
	int err;

	memcpy(f.hello.disk, s->cfg.disk, FRAME_UUID_LEN);
	if (s->cfg.auto_failover) {
		f.flags = FRAME_F_AUTO;
		f.hello.lease_ms = s->cfg.timeout_ns / NSEC_PER_MSEC ?: 1;
	}
	f.hello.disk_size = s->cfg.disk_size;
	f.hello.block_size = s->cfg.block_size;
	f.hello.generation = s->cfg.generation;
	f.hello.split = s->cfg.split;
	pthread_mutex_lock(&s->lock);
	f.hello.applied = s->written;
	pthread_mutex_unlock(&s->lock);
	err = link_send(l, &f);
	if (!err)
		err = link_recv(l, &f);
	if (err)
		return err;
	if (f.type == FRAME_ERROR)
		return f.error.err;
	if (f.type != FRAME_HELLO || f.hello.role != 1 ||
	    memcmp(f.hello.disk, s->cfg.disk, FRAME_UUID_LEN))
		return -EXDEV;
	if (f.hello.generation > s->cfg.generation)
		return -ESTALE;
	/* the replica answered: it has not promoted, and heard us at @asked or later */
	renew(s, asked);
	*applied = f.hello.applied;
	*flags = f.flags;
	return 0;
}

/*
 * sync: a write waits for the ack at most replica.timeout before degrading;
 * auto: an ack later than the lease finds the disk fenced anyway.
 */
static int ack_timeout_ms(const struct replica_sender *s)
{
	return (s->cfg.sync || s->cfg.auto_failover) &&
	       s->cfg.timeout_ns / NSEC_PER_MSEC < ACK_MS ?
	       (int)(s->cfg.timeout_ns / NSEC_PER_MSEC) : ACK_MS;
}

/*
 * The next frame, waiting up to @timeout_ms for it (0: as long as it
 * takes), then the link's usual timeout again; a peer's ERROR is its errno.
 */
static int recv_within(struct replica_sender *s, struct link *l, int timeout_ms, struct frame *f)
{
	int err = link_set_timeout(l, timeout_ms);

	if (!err)
		err = link_recv(l, f);
	if (!err)
		err = link_set_timeout(l, ack_timeout_ms(s));
	if (!err && f->type == FRAME_ERROR)
		err = f->error.err;
	return err;
}

/*
 * Auto failover in a full copy or a resync: its blocks get no ACK until
 * the end, so one lease after the last answer the disk would be fenced for
 * the rest of the copy (hours for a large disk). Each quarter lease, a
 * PING between two blocks; the replica answers it with ACK 0 (its journal
 * is being replaced: the answer says nothing of records), which renews
 * the lease only.
 */
static int copy_ping(struct replica_sender *s, struct link *l)
{
	struct frame f = { .type = FRAME_PING };
	uint64_t asked = clock_ns(CLOCK_MONOTONIC);
	int err;

	if (!s->cfg.auto_failover || asked - atomic_load(&s->lease_from) < s->cfg.timeout_ns / 4)
		return 0;
	/*
	 * The answer comes after the blocks still in the sockets are written
	 * on the replica: allow that ACK_MS, as a final ACK, not one lease (a
	 * late answer leaves the disk fenced meanwhile; a timeout would
	 * start the copy again).
	 */
	err = link_send(l, &f);
	if (!err)
		err = recv_within(s, l, ACK_MS, &f);
	if (err)
		return err;
	if (f.type != FRAME_ACK || f.ack)
		return -EBADMSG;
	renew(s, asked);
	pthread_mutex_lock(&s->lock);
	fence_moved(s);
	pthread_mutex_unlock(&s->lock);
	changed(s);
	return 0;
}

/*
 * Failback: the replica wrote after our split (it was the primary then).
 * It lists those ranges (DIVERGE); we send our disk's content of them
 * (BLOCK), read from the backing as it is now: a write racing the read is
 * in a record after the split, which the stream then carries, so the
 * replica ends with it either way.
 */
static int resync(struct replica_sender *s, struct link *l)
{
	struct resync_set set = {};
	uint64_t off, len, n;
	uint8_t *buf = NULL;
	struct frame f;
	uint32_t i, k;
	ssize_t got;
	int fd = -1, err;

	do {
		err = link_recv(l, &f);
		if (err)
			goto out;
		if (f.type == FRAME_ERROR) {
			err = f.error.err;
			goto out;
		}
		if (f.type != FRAME_DIVERGE) {
			err = -EBADMSG;
			goto out;
		}
		for (k = 0; k < f.div.count && !err; k++) {
			frame_range_get(f.div.raw, k, &off, &len);
			if (off > s->cfg.disk_size || len > s->cfg.disk_size - off)
				err = -EDOM;
			else
				err = resync_add(&set, off, len);
		}
		if (err)
			goto out;
	} while (!(f.flags & FRAME_F_LAST));
	if (!s->cfg.backing) {
		err = -ENOENT;
		goto out;
	}
	fd = open(s->cfg.backing, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	buf = malloc(FRAME_BLOCK_MAX);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < set.count; i++) {
		for (off = set.r[i].offset, len = set.r[i].length; len; off += n, len -= n) {
			n = len < FRAME_BLOCK_MAX ? len : FRAME_BLOCK_MAX;
			got = pread(fd, buf, n, (off_t)(s->cfg.data_offset + off));
			if (got != (ssize_t)n) {
				err = got < 0 ? -errno : -EIO;
				goto out;
			}
			err = copy_ping(s, l);
			if (err)
				goto out;
			memset(&f, 0, sizeof(f));
			f.type = FRAME_BLOCK;
			f.blk.offset = off;
			f.blk.length = n;
			f.blk.data = buf;
			f.blk.data_crc = crc32c(0, buf, n);
			f.flags = i + 1 == set.count && len == n ? FRAME_F_LAST : 0;
			err = link_send(l, &f);
			if (err)
				goto out;
			atomic_fetch_add(&s->resync_blocks, n / s->cfg.block_size);
		}
	}
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	resync_free(&set);
	return err;
}

/* Position @r on record @seq: walk from the tail. -ERANGE: it was folded away. */
static int seek(struct journal_reader *r, int fd, uint64_t seq);

/*
 * Every record <= @acked is on the replica: the lag now runs from when the
 * next one was written (the RPO is the age of the oldest write the replica
 * lacks, sent or not). Further behind than the times kept, the previous
 * (older) time stays: the lag reads high, never low. Under lock.
 */
static void pending_from(struct replica_sender *s, uint64_t acked)
{
	if (acked >= s->written)
		s->pending_since_ns = 0;
	else if (s->written - acked <= WTIME_RECORDS)
		s->pending_since_ns = s->wtime[(acked + 1) % WTIME_RECORDS];
	else if (!s->pending_since_ns)
		s->pending_since_ns = s->wtime[(s->written + 1) % WTIME_RECORDS];
}

/* The replica holds every record <= @ack, in answer to a frame sent at @asked. */
static void took_ack(struct replica_sender *s, uint64_t ack, uint64_t asked)
{
	renew(s, asked);
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->acked, ack);
	pending_from(s, ack);
	fence_moved(s);
	pthread_mutex_unlock(&s->lock);
	changed(s);
}

/* An ACK for everything up to @upto at most, asked for at @asked: take it. */
static int take_ack(struct replica_sender *s, struct link *l, uint64_t upto, uint64_t asked)
{
	struct frame f;
	int err;

	err = link_recv(l, &f);
	if (err)
		return err;
	if (f.type == FRAME_ERROR)
		return f.error.err;
	if (f.type != FRAME_ACK || f.ack > upto)
		return -EBADMSG;
	took_ack(s, f.ack, asked);
	return 0;
}

/* Auto failover, idle: the replica must hear from us within the lease; ask for an ACK. */
static int ping(struct replica_sender *s, struct link *l, uint64_t upto, uint64_t *sent)
{
	struct frame f = { .type = FRAME_PING };
	int err;

	*sent = clock_ns(CLOCK_MONOTONIC);
	err = link_send(l, &f);
	return err ? err : take_ack(s, l, upto, *sent);
}

/* A piece of the backing: [off, off + n) of the disk, as one BLOCK. */
static int send_block(struct replica_sender *s, struct link *l, int fd, uint8_t *buf,
		      uint64_t off, uint64_t n)
{
	struct frame f = { .type = FRAME_BLOCK };
	ssize_t got = pread(fd, buf, n, (off_t)(s->cfg.data_offset + off));

	if (got < 0)
		return -errno;
	/* a backing shorter than the disk reads as zeroes past its end */
	memset(buf + got, 0, n - (uint64_t)got);
	f.blk.offset = off;
	f.blk.length = n;
	f.blk.data = buf;
	f.blk.data_crc = crc32c(0, buf, n);
	return link_send(l, &f);
}

/*
 * A full copy (receiver.h): S0 is the journal's checkpoint, read before
 * the copy: the backing holds every record <= S0, and the records after
 * it are kept for the replica (replica_sender_keep) until it has them.
 * Only the backing's data is sent (SEEK_DATA/SEEK_HOLE; the replica zeroed
 * its image): a write racing the read is in a record after S0, which the
 * stream then carries, so the replica ends with it either way. @r ends on
 * S0 + 1.
 */
static int full_copy(struct replica_sender *s, struct link *l, struct journal_reader *r,
		     int jfd)
{
	uint64_t bs = s->cfg.block_size, size = s->cfg.disk_size, base = s->cfg.data_offset;
	uint64_t off, end, n, blocks = 0, asked;
	struct frame f = { .type = FRAME_SYNC };
	struct journal_sb sb;
	uint8_t *buf = NULL;
	off_t d, h;
	int fd = -1, err, tries;

	/* a fold between reading the checkpoint and keeping it: read again */
	for (tries = 0;; tries++) {
		err = journal_sb_read(jfd, &sb);
		if (err)
			return err;
		atomic_store(&s->copy_keep, sb.ckpt_seq + 1);
		journal_reader_fini(r);
		err = seek(r, jfd, sb.ckpt_seq + 1);
		if (err != -ERANGE || tries == 8)
			break;
	}
	if (err)
		goto out;
	if (!s->cfg.backing) {
		err = -ENOENT;
		goto out;
	}
	fd = open(s->cfg.backing, O_RDONLY | O_CLOEXEC);
	buf = malloc(FRAME_BLOCK_MAX);
	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	f.sync.seq = sb.ckpt_seq;
	err = link_send(l, &f);
	for (off = 0; !err && off < size; off = end) {
		d = lseek(fd, (off_t)(base + off), SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;
		h = d < 0 ? -1 : lseek(fd, d, SEEK_HOLE);
		/* no SEEK_DATA here (EINVAL): all of it is data */
		if (d < 0 || h < 0) {
			d = (off_t)(base + off);
			h = (off_t)(base + size);
		}
		off = ((uint64_t)d - base) / bs * bs;
		end = ((uint64_t)h - base + bs - 1) / bs * bs;
		end = end < size ? end : size;
		for (; !err && off < end; off += n) {
			n = end - off < FRAME_BLOCK_MAX ? end - off : FRAME_BLOCK_MAX;
			err = copy_ping(s, l);
			if (!err)
				err = send_block(s, l, fd, buf, off, n);
			if (!err) {
				blocks += n / bs;
				atomic_fetch_add(&s->resync_blocks, n / bs);
			}
		}
	}
	if (err)
		goto out;
	f.flags = FRAME_F_LAST;
	f.sync.blocks = blocks;
	asked = clock_ns(CLOCK_MONOTONIC);
	err = link_send(l, &f);
	/*
	 * The replica now syncs its image and copies it into its journal's
	 * base (a reflink, or a copy as long as the disk takes): async, no ack
	 * timeout for that one, or a large disk would be copied forever. sync
	 * keeps its timeout: a write held past it must be released (degraded).
	 */
	if (!err)
		err = recv_within(s, l, s->cfg.sync ? ack_timeout_ms(s) : 0, &f);
	if (err)
		goto out;
	if (f.type != FRAME_ACK || f.ack != sb.ckpt_seq) {
		err = -EBADMSG;
		goto out;
	}
	took_ack(s, f.ack, asked);
out:
	atomic_store(&s->copy_keep, 0);
	free(buf);
	if (fd >= 0)
		close(fd);
	return err;
}

static int seek(struct journal_reader *r, int fd, uint64_t seq)
{
	int err;

	err = journal_reader_init(r, fd);
	if (err)
		return err;
	if (r->sb.tail_seq > seq)
		return -ERANGE;
	while (r->next_seq < seq) {
		err = journal_reader_next(r);
		if (err < 0)
			return err;
		if (!err)
			return -ERANGE;
	}
	return 0;
}

/* Read the next record, which the journal has written; -EAGAIN: not there yet. */
static int next_record(struct journal_reader *r, int fd)
{
	struct journal_sb sb;
	int err;

	err = journal_reader_next(r);
	if (err)
		return err < 0 ? err : 0;
	/* the walk ended: overwritten after a fold (out of the window), or not yet seen */
	if (!journal_sb_read(fd, &sb) && sb.tail_seq > r->next_seq)
		return -ERANGE;
	r->ended = false;
	return -EAGAIN;
}

static int ship(struct replica_sender *s, struct link *l, struct journal_reader *r, int fd)
{
	uint64_t target, n, bytes, asked = 0, last = clock_ns(CLOCK_MONOTONIC);
	uint64_t quiet = s->cfg.timeout_ns / 4;	/* auto: the longest the link stays idle */
	bool idle;
	struct frame f;
	int err;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		for (;;) {
			idle = !s->stopping && s->written < r->next_seq;
			if (!idle || (s->cfg.auto_failover && clock_ns(CLOCK_MONOTONIC) - last >= quiet))
				break;
			nap(s, quiet < 100 * NSEC_PER_MSEC ? quiet : 100 * NSEC_PER_MSEC);
			tell_fence(s);
		}
		target = s->written;
		pthread_mutex_unlock(&s->lock);
		if (s->stopping)
			return 0;
		if (idle) {
			err = ping(s, l, r->next_seq - 1, &last);
			if (err)
				return err;
			continue;
		}
		for (n = bytes = 0; r->next_seq <= target && n < BATCH_RECORDS &&
				    bytes < BATCH_BYTES; n++) {
			err = next_record(r, fd);
			if (err == -EAGAIN)
				break;
			if (err)
				return err;
			memset(&f, 0, sizeof(f));
			f.type = FRAME_RECORD;
			f.rec.seq = r->rec.seq;
			f.rec.time_ns = r->rec.time_ns;
			f.rec.offset = r->rec.offset;
			f.rec.type = r->rec.type;
			f.rec.rflags = r->rec.flags;
			f.rec.range = r->rec.range;
			f.rec.length = r->rec.length;
			f.rec.data_crc = r->rec.data_crc;
			f.rec.data = r->data;
			if (r->next_seq > target || n + 1 == BATCH_RECORDS ||
			    bytes + r->rec.length >= BATCH_BYTES)
				f.flags = FRAME_F_ACK_REQ;
			err = link_send(l, &f);
			if (err)
				return err;
			bytes += r->rec.length;
			atomic_fetch_add(&s->sent, 1);
			last = clock_ns(CLOCK_MONOTONIC);
			if (f.flags & FRAME_F_ACK_REQ) {
				asked = last;
				n++;
				break;
			}
		}
		if (!n) {
			/* written but not readable yet: the page cache will have it */
			usleep(1000);
			continue;
		}
		if (!(f.flags & FRAME_F_ACK_REQ)) {
			/* the batch was cut by a record not yet readable: ask now */
			continue;
		}
		err = take_ack(s, l, r->next_seq - 1, asked);
		if (err)
			return err;
	}
}

/* One connection: hello, seek, ship until it fails. */
static int session(struct replica_sender *s, int fd)
{
	struct journal_reader r = {};
	struct link *l = NULL;
	uint64_t applied = 0;
	uint16_t flags = 0;
	int err;

	err = link_connect(s->ctx, s->cfg.target, CONNECT_MS, &l);
	if (err)
		return err;
	link_set_timeout(l, ack_timeout_ms(s));
	pthread_mutex_lock(&s->lock);
	s->link = s->stopping ? NULL : l;
	pthread_mutex_unlock(&s->lock);
	if (!s->link) {
		err = 0;
		goto out;
	}
	err = hello(s, l, &applied, &flags);
	if (err)
		goto out;
	pthread_mutex_lock(&s->lock);
	if (applied > s->written && !(flags & FRAME_F_FULL)) {
		/* the replica has records we never wrote: another history */
		pthread_mutex_unlock(&s->lock);
		err = -ESTALE;
		goto out;
	}
	atomic_store(&s->acked, applied <= s->written ? applied : 0);
	pending_from(s, atomic_load(&s->acked));
	s->down_since_ns = 0;
	atomic_store(&s->state, REPLICA_STREAMING);
	pthread_mutex_unlock(&s->lock);
	changed(s);
	/* before any resync: our records after the split must still be there */
	err = seek(&r, fd, applied + 1);
	/* nothing to resume from (the replica says so, or it is out of our window) */
	if (!(flags & FRAME_F_RESYNC) && ((flags & FRAME_F_FULL) || err == -ERANGE))
		err = full_copy(s, l, &r, fd);
	else if (!err && (flags & FRAME_F_RESYNC))
		err = resync(s, l);
	if (err)
		goto out;
	err = ship(s, l, &r, fd);
	/* our journal folded past the replica mid-stream: the next session copies it whole */
	if (err == -ERANGE)
		err = -EAGAIN;
	/* stopped on purpose: the replica must not take it for the primary's death */
	if (!err && s->cfg.auto_failover)
		link_send(l, &(struct frame){ .type = FRAME_CLOSE });
out:
	journal_reader_fini(&r);
	pthread_mutex_lock(&s->lock);
	s->link = NULL;
	pthread_mutex_unlock(&s->lock);
	/* outside the lock: a close_notify may wait for the send timeout */
	link_close(l);
	return err;
}

static void *sender_thread(void *arg)
{
	struct replica_sender *s = arg;
	uint64_t backoff = BACKOFF_MIN_NS, start;
	int fd, err;

	fd = open(s->cfg.journal, O_RDONLY | O_CLOEXEC);
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		pthread_mutex_unlock(&s->lock);
		start = clock_ns(CLOCK_MONOTONIC);
		err = fd < 0 ? -errno : session(s, fd);
		pthread_mutex_lock(&s->lock);
		if (s->stopping)
			break;
		if (err == -EXDEV || err == -ESTALE || err == -ERANGE || err == -EDOM) {
			/* the replica refused us for good: say so, and wait for a restart */
			if (err == -ESTALE)
				atomic_store(&s->lost, true);
			fence_moved(s);
			atomic_store(&s->state, REPLICA_FAILED);
			set_down(s, err);
			pthread_mutex_unlock(&s->lock);
			changed(s);
			pthread_mutex_lock(&s->lock);
			while (!s->stopping)
				nap(s, NSEC_PER_SEC);
			break;
		}
		set_down(s, err);
		fence_moved(s);
		atomic_fetch_add(&s->reconnects, 1);
		if (clock_ns(CLOCK_MONOTONIC) - start > BACKOFF_MAX_NS)
			backoff = BACKOFF_MIN_NS;
		pthread_mutex_unlock(&s->lock);
		changed(s);
		pthread_mutex_lock(&s->lock);
		/* nap in short steps: sync mode turns degraded at its timeout */
		for (start = clock_ns(CLOCK_MONOTONIC); !s->stopping && clock_ns(CLOCK_MONOTONIC) - start < backoff;) {
			nap(s, 50 * NSEC_PER_MSEC);
			tell_fence(s);
			if (atomic_load(&s->state) == REPLICA_DOWN) {
				set_down(s, 0);
				if (atomic_load(&s->state) == REPLICA_DEGRADED) {
					pthread_mutex_unlock(&s->lock);
					changed(s);
					pthread_mutex_lock(&s->lock);
				}
			}
		}
		backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
	}
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		close(fd);
	return NULL;
}

int replica_sender_new(const struct replica_sender_cfg *cfg, struct replica_sender **out)
{
	struct replica_sender *s;
	pthread_condattr_t ca;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (snprintf(s->target, sizeof(s->target), "%s", cfg->target) >= (int)sizeof(s->target) ||
	    snprintf(s->journal, sizeof(s->journal), "%s", cfg->journal) >=
		    (int)sizeof(s->journal) ||
	    snprintf(s->backing, sizeof(s->backing), "%s", cfg->backing ? cfg->backing : "") >=
		    (int)sizeof(s->backing)) {
		free(s);
		return -ENAMETOOLONG;
	}
	s->cfg.target = s->target;
	s->cfg.journal = s->journal;
	s->cfg.backing = cfg->backing ? s->backing : NULL;
	s->cfg.creds = (struct link_creds){};	/* used once, below */
	err = link_ctx_new(&cfg->creds, false, &s->ctx);
	if (err) {
		free(s);
		return err;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = s;
	return 0;
}

int replica_sender_start(struct replica_sender *s, uint64_t written)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	unsigned int i;
	int err;

	s->written = written;
	/* records of an earlier run read as written now: their lag starts here */
	for (i = 0; i < WTIME_RECORDS; i++)
		s->wtime[i] = now;
	s->stopping = false;
	s->down_since_ns = now;
	err = pthread_create(&s->thread, NULL, sender_thread, s);
	if (err)
		return -err;
	pthread_setname_np(s->thread, "sluice-replica");
	s->started = true;
	return 0;
}

void replica_sender_written(struct replica_sender *s, uint64_t seq)
{
	pthread_mutex_lock(&s->lock);
	if (seq > s->written) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC), q = s->written + 1;

		if (seq - s->written > WTIME_RECORDS)
			q = seq - WTIME_RECORDS + 1;
		for (; q <= seq; q++)
			s->wtime[q % WTIME_RECORDS] = now;
		if (s->written == atomic_load(&s->acked) && !s->pending_since_ns)
			s->pending_since_ns = now;
		s->written = seq;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

int replica_sender_verdict(struct replica_sender *s, uint64_t seq)
{
	uint64_t st;

	if (fenced_now(s))
		return -EIO;
	if (!s->cfg.sync || atomic_load(&s->acked) >= seq)
		return 1;
	st = atomic_load(&s->state);
	/* auto: a write the replica lacks must not be acknowledged, it may promote */
	if (st == REPLICA_DEGRADED || st == REPLICA_FAILED || !s->started)
		return s->cfg.fail_when_down || s->cfg.auto_failover ? -EIO : 1;
	return 0;
}

uint64_t replica_sender_keep(struct replica_sender *s)
{
	uint64_t copy = atomic_load(&s->copy_keep);

	return copy ? copy : atomic_load(&s->acked) + 1;
}

void replica_sender_stats(struct replica_sender *s, struct replica_sender_stats *st)
{
	pthread_mutex_lock(&s->lock);
	st->acked = atomic_load(&s->acked);
	st->lag_records = s->written > st->acked ? s->written - st->acked : 0;
	st->lag_ms = st->lag_records && s->pending_since_ns ?
		     (clock_ns(CLOCK_MONOTONIC) - s->pending_since_ns) / NSEC_PER_MSEC : 0;
	pthread_mutex_unlock(&s->lock);
	st->state = atomic_load(&s->state);
	st->sent = atomic_load(&s->sent);
	st->reconnects = atomic_load(&s->reconnects);
	st->last_error = atomic_load(&s->last_error);
	st->rpo_ms = s->cfg.rpo_ns / NSEC_PER_MSEC;
	st->rpo_exceeded = st->rpo_ms && st->lag_ms > st->rpo_ms;
	st->writes_failing = s->cfg.sync && (s->cfg.fail_when_down || s->cfg.auto_failover) &&
			     (st->state == REPLICA_DEGRADED || st->state == REPLICA_FAILED);
	st->fenced = fenced_now(s);
	st->lease_ms = s->cfg.auto_failover ? s->cfg.timeout_ns / NSEC_PER_MSEC : 0;
	st->resync_blocks = atomic_load(&s->resync_blocks);
}

void replica_sender_stop(struct replica_sender *s)
{
	if (!s || !s->started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* auto: let the batch in flight end and the CLOSE go, within the lease */
	if (s->cfg.auto_failover) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += s->cfg.timeout_ns / NSEC_PER_SEC + 1;
		if (!pthread_timedjoin_np(s->thread, NULL, &ts)) {
			s->started = false;
			return;
		}
	}
	pthread_mutex_lock(&s->lock);
	/* a receive waiting for an ack returns now, not at its timeout */
	if (s->link)
		link_shutdown(s->link);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->started = false;
}

void replica_sender_free(struct replica_sender *s)
{
	if (!s)
		return;
	replica_sender_stop(s);
	link_ctx_free(s->ctx);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
