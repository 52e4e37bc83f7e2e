// SPDX-License-Identifier: GPL-2.0
/*
 * store.c - journal files: creation with a base image, identity, scan,
 * replay after a crash, records applied to an image.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/store.h"
#include "lib/clock.h"
#include "lib/fileio.h"

#define COPY_CHUNK	(1u << 20)

uint64_t journal_now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int journal_base_path(const char *journal, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.base", journal);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int copy_rw(int src, uint64_t src_off, int dst, uint64_t len)
{
	uint64_t done = 0;
	char *buf = malloc(COPY_CHUNK);
	ssize_t n;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		size_t want = len - done < COPY_CHUNK ? len - done : COPY_CHUNK;

		n = pread(src, buf, want, (off_t)(src_off + done));
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0) {
			/* past the end of a short file: the disk reads zeroes */
			memset(buf, 0, want);
			n = want;
		}
		if (pwrite(dst, buf, n, (off_t)done) != n) {
			err = errno ? -errno : -EIO;
			break;
		}
		done += n;
	}
	free(buf);
	return err;
}

int journal_copy_image(int src, uint64_t src_off, int dst, uint64_t len)
{
	struct stat st;
	loff_t in, out;
	ssize_t n;

	struct stat dst_st;

	if (fstat(dst, &dst_st))
		return -errno;
	/* a regular file gets the disk's size; a block device has its own */
	if (S_ISREG(dst_st.st_mode) && ftruncate(dst, (off_t)len))
		return -errno;
	if (!src_off && !fstat(src, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len &&
	    !ioctl(dst, FICLONE, src))
		return 0;
	in = (loff_t)src_off;
	out = 0;
	while ((uint64_t)out < len) {
		n = copy_file_range(src, &in, dst, &out, len - out, 0);
		if (n <= 0)
			break;
	}
	if ((uint64_t)out == len)
		return 0;
	return copy_rw(src, src_off + out, dst, len - out) ?: 0;
}

int journal_apply(int fd, uint64_t data_offset, const struct journal_rec *rec, const void *data)
{
	off_t off = (off_t)(data_offset + rec->offset);
	static const char zero[65536];
	uint32_t done = 0, n;
	ssize_t w;

	switch (rec->type) {
	case JOURNAL_REC_WRITE:
		w = pwrite(fd, data, rec->length, off);
		if (w < 0)
			return -errno;
		return (uint32_t)w == rec->length ? 0 : -EIO;
	case JOURNAL_REC_ZEROES:
		if (!fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, rec->range))
			return 0;
		/* a block device or a file system without zero-range: write them */
		while (done < rec->range) {
			n = rec->range - done < sizeof(zero) ? rec->range - done : sizeof(zero);
			w = pwrite(fd, zero, n, off + done);
			if (w < 0)
				return -errno;
			if ((uint32_t)w != n)
				return -EIO;
			done += n;
		}
		return 0;
	default:
		return 0;
	}
}

int journal_create(int jfd, const char *path, uint64_t jsize, const struct journal_geom *g,
		   int backing_fd, struct journal_sb *sb)
{
	char base[PATH_MAX], real[PATH_MAX];
	int bfd = -1, err;

	if (jsize < JOURNAL_RING_START + (1u << 20) || jsize % 8)
		return -EINVAL;
	err = journal_base_path(path, base, sizeof(base));
	if (err)
		return err;
	if (!realpath(g->backing, real))
		return -errno;
	if (strlen(real) >= JOURNAL_PATH_MAX)
		return -ENAMETOOLONG;
	memset(sb, 0, sizeof(*sb));
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != sizeof(sb->uuid))
		return -errno;
	sb->version = JOURNAL_VERSION;
	sb->disk_size = g->disk_size;
	sb->block_size = g->block_size;
	sb->journal_size = jsize;
	sb->created_ns = journal_now_ns();
	sb->tail_off = JOURNAL_RING_START;
	sb->tail_seq = 1;
	sb->base_seq = 0;
	sb->base_time_ns = sb->created_ns;
	sb->ckpt_seq = 0;
	sb->ckpt_time_ns = sb->created_ns;
	snprintf(sb->backing, sizeof(sb->backing), "%s", real);

	/* the base first: a superblock never names a base that is not there */
	bfd = open(base, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (bfd < 0)
		return -errno;
	err = journal_copy_image(backing_fd, g->data_offset, bfd, g->disk_size);
	if (!err && fsync(bfd))
		err = -errno;
	close(bfd);
	if (!err)
		err = fsync_parent_dir(base);
	if (err)
		return err;
	if (ftruncate(jfd, (off_t)jsize))
		return -errno;
	/*
	 * Reserve the ring now: a record then never waits for the file system
	 * to allocate, nor fails for want of space. Where fallocate is not
	 * supported the file stays sparse.
	 */
	if (fallocate(jfd, 0, 0, (off_t)jsize) && errno != EOPNOTSUPP)
		return -errno;
	/* both copies: generation 1 in B, then 2 in A, so either alone is good */
	sb->gen = 1;
	err = journal_sb_write(jfd, sb);
	if (err)
		return err;
	sb->gen = 2;
	err = journal_sb_write(jfd, sb);
	if (err)
		return err;
	return fsync_parent_dir(path);
}

int journal_check_identity(const struct journal_sb *sb, const struct journal_geom *g)
{
	char real[PATH_MAX];

	if (!realpath(g->backing, real))
		return -errno;
	if (strcmp(real, sb->backing))
		return -EXDEV;
	if (sb->disk_size != g->disk_size || sb->block_size != g->block_size)
		return -EDOM;
	return 0;
}

static void scan_add(struct journal_scan *s, const struct journal_reader *r)
{
	const struct journal_rec *rec = &r->rec;

	if (!s->records) {
		s->first_seq = rec->seq;
		s->first_time_ns = rec->time_ns;
	}
	s->records++;
	s->last_seq = rec->seq;
	s->last_time_ns = rec->time_ns;
	s->last_crc = rec->hdr_crc;
	if (rec->type == JOURNAL_REC_WRITE) {
		s->writes++;
		s->data_bytes += rec->length;
	} else if (rec->type == JOURNAL_REC_ZEROES) {
		s->zeroes++;
	} else if (rec->type == JOURNAL_REC_FLUSH) {
		s->flushes++;
	}
}

static void scan_end(struct journal_scan *s, const struct journal_reader *r)
{
	s->head_off = r->records_end_off;
	s->end = r->end;
	s->end_off = r->end_off;
	s->end_seq = r->end_seq;
	s->why = r->why;
	if (!s->records)
		s->last_crc = r->sb.tail_prev_crc;
}

/* One walk for scan and replay; @backing_fd < 0: do not replay. */
static int walk(int jfd, int backing_fd, uint64_t data_offset, struct journal_sb *sb,
		struct journal_scan *out)
{
	struct journal_reader r;
	int err;

	memset(out, 0, sizeof(*out));
	err = journal_reader_init(&r, jfd);
	if (err)
		goto out;
	while ((err = journal_reader_next(&r)) > 0) {
		scan_add(out, &r);
		if (backing_fd >= 0 && r.rec.seq > r.sb.ckpt_seq &&
		    r.rec.type != JOURNAL_REC_FLUSH) {
			err = journal_apply(backing_fd, data_offset, &r.rec, r.data);
			if (err)
				goto out;
			out->replayed++;
		}
	}
	if (err)
		goto out;
	scan_end(out, &r);
out:
	*sb = r.sb;
	journal_reader_fini(&r);
	return err;
}

int journal_scan(int jfd, struct journal_sb *sb, struct journal_scan *out)
{
	return walk(jfd, -1, 0, sb, out);
}

int journal_replay(int jfd, int backing_fd, uint64_t data_offset, struct journal_sb *sb,
		   struct journal_scan *out)
{
	int err;

	/* look before touching: a journal corrupt in the middle changes nothing */
	err = journal_scan(jfd, sb, out);
	if (err)
		return err;
	if (out->end == JOURNAL_END_CORRUPT)
		return -EBADMSG;
	err = walk(jfd, backing_fd, data_offset, sb, out);
	if (err)
		return err;
	if (!out->replayed)
		return 0;
	if (fsync(backing_fd))
		return -errno;
	sb->ckpt_seq = out->last_seq;
	sb->ckpt_time_ns = journal_now_ns();
	sb->gen++;
	return journal_sb_write(jfd, sb);
}
