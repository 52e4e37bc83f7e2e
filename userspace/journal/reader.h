/* SPDX-License-Identifier: GPL-2.0 */
/*
 * reader.h - walk a journal's records from its tail, oldest first, and say
 * exactly where and why the walk ended. The file is untrusted input (a
 * journal cut at any byte, a corrupt one, another program's file): every
 * length and offset is checked against the ring before use.
 */
#ifndef SLUICE_JOURNAL_READER_H
#define SLUICE_JOURNAL_READER_H

#include <stdint.h>

#include "journal/format.h"

enum journal_end {
	JOURNAL_END_CLEAN,	/* the next bytes are no record of this journal */
	JOURNAL_END_TORN,	/* the next record is this journal's but incomplete */
	JOURNAL_END_CORRUPT,	/* a bad record with good ones after it */
};

struct journal_reader {
	int fd;
	struct journal_sb sb;
	uint64_t ring_end;		/* the ring's end: the superblock's size or the file's */
	uint64_t pos;			/* where the next record is looked for */
	uint64_t next_seq;
	uint32_t prev_crc;
	uint64_t stream;
	/* the record journal_reader_next() returned */
	struct journal_rec rec;
	uint64_t rec_off;		/* its byte offset in the file */
	uint8_t *data;			/* rec.length bytes */
	uint32_t data_cap;
	/* once next() returned 0 */
	bool ended;
	enum journal_end end;
	uint64_t end_off;		/* byte offset of the first record not taken */
	uint64_t records_end_off;	/* where the last good record ends: the head */
	uint64_t end_seq;		/* the seq it should have had */
	const char *why;		/* for people: what was wrong there */
};

/*
 * Read the superblock of @fd and position at its tail. Returns 0 or what
 * journal_sb_read() returns (r->sb filled as far as it could be read).
 */
int journal_reader_init(struct journal_reader *r, int fd);
/*
 * The next record in r->rec (data in r->data): 1; 0 at the end (r->end,
 * r->end_off, r->why say how); -errno on a read error or -ENOMEM.
 */
int journal_reader_next(struct journal_reader *r);
/* Free the data buffer. Takes a zeroed or failed reader. */
void journal_reader_fini(struct journal_reader *r);

#endif /* SLUICE_JOURNAL_READER_H */
