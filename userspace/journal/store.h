/* SPDX-License-Identifier: GPL-2.0 */
/*
 * store.h - the journal as files: create one (superblock and base image),
 * check that it belongs to the disk at hand, replay it onto a backing after
 * a crash, and apply records to an image. Used by the journal filter's
 * init and by `sluice journal`. Blocking I/O; no logging.
 */
#ifndef SLUICE_JOURNAL_STORE_H
#define SLUICE_JOURNAL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "journal/reader.h"

/* The disk a journal belongs to. */
struct journal_geom {
	uint64_t disk_size;
	uint32_t block_size;
	const char *backing;		/* as given; compared by its real path */
	uint64_t data_offset;		/* where disk offset 0 lies on the backing */
};

/* What a walk of the whole journal found (journal_scan). */
struct journal_scan {
	uint64_t records, writes, zeroes, flushes;
	uint64_t data_bytes;		/* bytes of write data */
	uint64_t first_seq, last_seq;	/* 0 when empty */
	uint64_t first_time_ns, last_time_ns;
	uint64_t head_off;		/* where the next record goes */
	uint32_t last_crc;		/* hdr_crc of the last record (the chain) */
	uint64_t replayed;		/* journal_replay: records put on the backing */
	enum journal_end end;
	uint64_t end_off;
	uint64_t end_seq;
	const char *why;
};

/* "<journal>.base" into buf; -ENAMETOOLONG. */
int journal_base_path(const char *journal, char *buf, size_t len);

/*
 * Copy @len bytes from @src at @src_off to @dst at 0: a reflink (FICLONE)
 * where the file system shares blocks and the whole file is asked for, else
 * copy_file_range, else read and write. 0 or -errno.
 */
int journal_copy_image(int src, uint64_t src_off, int dst, uint64_t len);

/* Put one record on an image whose disk offset 0 is at @data_offset. 0 or -errno. */
int journal_apply(int fd, uint64_t data_offset, const struct journal_rec *rec, const void *data);

/*
 * A new journal in @jfd (empty, opened read-write) of @jsize bytes for disk
 * @g: the superblock (a fresh uuid) and the base image, a copy of the disk
 * as it is now from @backing_fd, at journal_base_path(@path). 0 or -errno.
 */
int journal_create(int jfd, const char *path, uint64_t jsize, const struct journal_geom *g,
		   int backing_fd, struct journal_sb *sb);

/*
 * Does @sb journal disk @g? 0, -EXDEV (another backing), -EDOM (another
 * size or block size).
 */
int journal_check_identity(const struct journal_sb *sb, const struct journal_geom *g);

/* Walk every record of @jfd (journal_reader semantics) into @out. 0 or -errno. */
int journal_scan(int jfd, struct journal_sb *sb, struct journal_scan *out);

/*
 * After a crash: walk the journal, put every complete record after the
 * checkpoint on the backing (@backing_fd at g->data_offset), make it
 * durable and record the new checkpoint. A torn tail is discarded (its
 * offset in out->end_off); a corrupt record with good ones after it
 * refuses the journal (-EBADMSG) and changes nothing. 0 or -errno.
 */
int journal_replay(int jfd, int backing_fd, uint64_t data_offset, struct journal_sb *sb,
		   struct journal_scan *out);

/* Nanoseconds of CLOCK_REALTIME. */
uint64_t journal_now_ns(void);

#endif /* SLUICE_JOURNAL_STORE_H */
