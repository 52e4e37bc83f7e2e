// SPDX-License-Identifier: GPL-2.0
/*
 * rlog.c - the replica's journal: append, sync, checkpoint, fold for room.
 * The same ring discipline as the journal filter (filters/journal.c), on
 * one thread and without its queues.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/units.h"
#include "replica/rlog.h"

#define CKPT_NS		NSEC_PER_SEC

static void rlog_init_fds(struct rlog *l)
{
	memset(l, 0, sizeof(*l));
	l->jfd = l->tfd = l->basefd = -1;
}

int rlog_open(struct rlog *l, const char *path, const char *target, uint64_t jsize,
	      uint64_t disk_size, uint32_t block_size)
{
	struct journal_geom g = { .backing = target };
	struct journal_scan scan;
	char base[PATH_MAX];
	struct stat st;
	int err;

	rlog_init_fds(l);
	l->tfd = open(target, O_RDWR | O_CLOEXEC);
	if (l->tfd < 0)
		return -errno;
	if (fstat(l->tfd, &st))
		return -errno;
	l->jfd = open(path, O_RDWR | O_CLOEXEC | (disk_size ? O_CREAT : 0), 0600);
	if (l->jfd < 0)
		return -errno;
	/* one writer: a running receiver, or promote */
	if (flock(l->jfd, LOCK_EX | LOCK_NB))
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	if (fstat(l->jfd, &st))
		return -errno;
	if (!st.st_size) {
		if (!disk_size)
			return -ENOENT;
		if (fstat(l->tfd, &st))
			return -errno;
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != disk_size)
			return -EDOM;
		g.disk_size = disk_size;
		g.block_size = block_size;
		err = journal_create(l->jfd, path, jsize, &g, l->tfd, &l->sb);
		if (err)
			return err;
		memset(&scan, 0, sizeof(scan));
		scan.head_off = l->sb.tail_off;
	} else {
		err = journal_sb_read(l->jfd, &l->sb);
		if (err)
			return err;
		g.disk_size = l->sb.disk_size;
		g.block_size = l->sb.block_size;
		err = journal_check_identity(&l->sb, &g);
		if (!err && disk_size && (disk_size != l->sb.disk_size ||
					  block_size != l->sb.block_size))
			err = -EDOM;
		if (err)
			return err;
		err = journal_replay(l->jfd, l->tfd, 0, &l->sb, &scan);
		if (err)
			return err;
		l->replayed = scan.replayed;
	}
	err = journal_base_path(path, base, sizeof(base));
	if (err)
		return err;
	l->basefd = open(base, O_RDWR | O_CLOEXEC);
	if (l->basefd < 0)
		return -errno;
	l->stream = journal_stream(l->sb.uuid);
	l->head = scan.head_off;
	l->next_seq = scan.records ? scan.last_seq + 1 : l->sb.tail_seq;
	l->last_crc = scan.records ? scan.last_crc : l->sb.tail_prev_crc;
	l->synced = l->next_seq - 1;
	l->ckpt_ns = journal_now_ns();
	return 0;
}

/* Where a record of @span bytes fits, or 0 (fold first). */
static uint64_t reserve(struct rlog *l, uint64_t span)
{
	uint64_t end = l->sb.journal_size, tail = l->sb.tail_off;
	bool empty = l->sb.tail_seq == l->next_seq;

	if (empty || l->head > tail) {
		if (l->head + span <= end)
			return l->head;
		if (empty || JOURNAL_RING_START + span <= tail)
			return JOURNAL_RING_START;
		return 0;
	}
	return l->head + span <= tail ? l->head : 0;
}

/* The image durably holds every appended record: say so in the superblock. */
static int checkpoint(struct rlog *l)
{
	int err;

	if (l->sb.ckpt_seq == rlog_applied(l))
		return 0;
	if (fdatasync(l->jfd) || fsync(l->tfd))
		return -errno;
	l->synced = rlog_applied(l);
	l->sb.ckpt_seq = rlog_applied(l);
	l->sb.ckpt_time_ns = journal_now_ns();
	l->sb.gen++;
	err = journal_sb_write(l->jfd, &l->sb);
	if (!err)
		l->ckpt_ns = journal_now_ns();
	return err;
}

/* Fold the oldest quarter of the ring (at least one record) into the base. */
static int fold(struct rlog *l)
{
	uint64_t want = (l->sb.journal_size - JOURNAL_RING_START) / 4, freed = 0;
	struct journal_sb sb;
	struct journal_reader r;
	int err;

	err = checkpoint(l);
	if (err)
		return err;
	sb = l->sb;
	memset(&r, 0, sizeof(r));
	r.fd = l->jfd;
	r.sb = sb;
	r.ring_end = sb.journal_size;
	r.pos = sb.tail_off;
	r.next_seq = sb.tail_seq;
	r.prev_crc = sb.tail_prev_crc;
	r.stream = l->stream;
	while (sb.tail_seq < l->next_seq && freed < want) {
		err = journal_reader_next(&r);
		if (err <= 0) {
			err = err ?: -EIO;
			break;
		}
		err = journal_apply(l->basefd, 0, &r.rec, r.data);
		if (err)
			break;
		freed += journal_rec_span(r.rec.length);
		sb.tail_prev_crc = r.rec.hdr_crc;
		sb.tail_seq = r.rec.seq + 1;
		sb.base_time_ns = r.rec.time_ns;
	}
	sb.tail_off = r.pos;
	journal_reader_fini(&r);
	if (err)
		return err;
	if (fdatasync(l->basefd))
		return -errno;
	sb.base_seq = sb.tail_seq - 1;
	sb.gen++;
	err = journal_sb_write(l->jfd, &sb);
	if (err)
		return err;
	l->sb = sb;
	l->folds++;
	return 0;
}

int rlog_append(struct rlog *l, const struct frame_record *r)
{
	struct journal_rec rec = {
		.version = JOURNAL_VERSION, .type = r->type, .flags = r->rflags,
		.length = r->length, .seq = r->seq, .time_ns = r->time_ns,
		.offset = r->offset, .range = r->range, .data_crc = r->data_crc,
	};
	uint8_t hdr[JOURNAL_REC_HDR];
	uint64_t span = journal_rec_span(r->length), pos;
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)r->data, r->length } };
	ssize_t n;
	int err;

	if (r->seq != l->next_seq)
		return -ERANGE;
	/* a flush covers nothing: its offset is whatever the request carried */
	if (r->type != JOURNAL_REC_FLUSH &&
	    (r->offset > l->sb.disk_size || r->range > l->sb.disk_size - r->offset))
		return -EDOM;
	if (span > (l->sb.journal_size - JOURNAL_RING_START) / 2)
		return -ENOSPC;
	while (!(pos = reserve(l, span))) {
		err = fold(l);
		if (err)
			return err;
	}
	rec.stream = l->stream;
	rec.prev_crc = l->last_crc;
	journal_rec_encode(&rec, hdr);
	n = pwritev(l->jfd, iov, r->length ? 2 : 1, (off_t)pos);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr) + r->length)
		return -EIO;
	/* write-ahead: on the image only once it is in the journal */
	err = journal_apply(l->tfd, 0, &rec, r->data);
	if (err)
		return err;
	l->last_crc = rec.hdr_crc;
	l->head = pos + span;
	l->next_seq++;
	return 0;
}

int rlog_truncate(struct rlog *l, uint64_t seq)
{
	static const uint8_t wipe[JOURNAL_REC_HDR];
	uint64_t head, n = rlog_applied(l) - seq, i, *offs = NULL;
	struct journal_reader r;
	uint32_t crc;
	ssize_t w;
	int err;

	if (seq == rlog_applied(l))
		return 0;
	if (seq > rlog_applied(l) || seq + 1 < l->sb.tail_seq)
		return -ERANGE;
	offs = calloc(n, sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	memset(&r, 0, sizeof(r));
	r.fd = l->jfd;
	r.sb = l->sb;
	r.ring_end = l->sb.journal_size;
	r.pos = l->sb.tail_off;
	r.next_seq = l->sb.tail_seq;
	r.prev_crc = l->sb.tail_prev_crc;
	r.stream = l->stream;
	head = r.pos;
	crc = r.prev_crc;
	while (r.next_seq <= seq + n) {
		err = journal_reader_next(&r);
		if (err <= 0) {
			err = err ?: -EIO;
			goto out;
		}
		if (r.rec.seq == seq) {
			head = r.pos;
			crc = r.prev_crc;
		} else if (r.rec.seq > seq) {
			offs[r.rec.seq - seq - 1] = r.rec_off;
		}
	}
	/*
	 * The superblock first: cut here, a restart replays the forgotten
	 * records onto the image, which already has them, and the resync that
	 * is pending overwrites them.
	 */
	l->sb.ckpt_seq = l->sb.ckpt_seq < seq ? l->sb.ckpt_seq : seq;
	l->sb.gen++;
	err = journal_sb_write(l->jfd, &l->sb);
	if (err)
		goto out;
	/*
	 * Wipe every forgotten record, not only the first: records of the same
	 * size land where the old ones were, and an old one right after the
	 * last new one has the seq the walk expects next (a broken chain: it
	 * would read as corruption). Last first, each durable before the one
	 * before it: cut midway, a walk still reaches every one left.
	 */
	for (i = n; i-- > 0;) {
		w = pwrite(l->jfd, wipe, sizeof(wipe), (off_t)offs[i]);
		if (w != sizeof(wipe)) {
			err = w < 0 ? -errno : -EIO;
			goto out;
		}
		if (fdatasync(l->jfd)) {
			err = -errno;
			goto out;
		}
	}
	l->head = head;
	l->last_crc = crc;
	l->next_seq = seq + 1;
	l->synced = seq;
	err = 0;
out:
	journal_reader_fini(&r);
	free(offs);
	return err;
}

int rlog_restart(struct rlog *l, const char *path, const char *target, uint64_t seq)
{
	struct journal_geom g = {
		.backing = target, .disk_size = l->sb.disk_size, .block_size = l->sb.block_size,
	};
	char base[PATH_MAX];
	struct journal_sb sb;
	int err, fd;

	if (ftruncate(l->jfd, 0))
		return -errno;
	err = journal_create(l->jfd, path, l->sb.journal_size, &g, l->tfd, &sb);
	if (err)
		return err;
	sb.tail_seq = seq + 1;
	sb.base_seq = sb.ckpt_seq = seq;
	sb.base_time_ns = sb.ckpt_time_ns = journal_now_ns();
	sb.gen++;
	err = journal_sb_write(l->jfd, &sb);
	if (err)
		return err;
	/* journal_create made the base anew: the old descriptor is the old file's */
	err = journal_base_path(path, base, sizeof(base));
	if (err)
		return err;
	fd = open(base, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (l->basefd >= 0)
		close(l->basefd);
	l->basefd = fd;
	l->sb = sb;
	l->stream = journal_stream(sb.uuid);
	l->head = sb.tail_off;
	l->next_seq = seq + 1;
	l->last_crc = sb.tail_prev_crc;
	l->synced = seq;
	l->ckpt_ns = journal_now_ns();
	return 0;
}

int rlog_sync(struct rlog *l)
{
	if (journal_now_ns() - l->ckpt_ns >= CKPT_NS)
		return checkpoint(l);
	if (l->synced == rlog_applied(l))
		return 0;
	if (fdatasync(l->jfd))
		return -errno;
	l->synced = rlog_applied(l);
	return 0;
}

void rlog_close(struct rlog *l)
{
	if (l->jfd >= 0 && l->tfd >= 0 && l->basefd >= 0)
		checkpoint(l);
	if (l->jfd >= 0)
		close(l->jfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->basefd >= 0)
		close(l->basefd);
	rlog_init_fds(l);
}
