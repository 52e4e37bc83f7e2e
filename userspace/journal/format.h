/* SPDX-License-Identifier: GPL-2.0 */
/*
 * format.h - the journal's bytes on disk, shared by the journal filter,
 * recovery, `sluice journal` and (unchanged) replication. docs/journal.md
 * draws it. All integers are little-endian at fixed offsets; nothing here
 * depends on a C struct's layout.
 *
 *   0      superblock copy A (4 KiB)   the copy with the higher generation
 *   4096   superblock copy B (4 KiB)   and a good crc wins
 *   8192   the ring of records up to the journal's size, oldest at tail_off
 *
 * A record: a 64-byte header, then `length` bytes of data. Records follow
 * each other; one that does not fit before the end of the file starts at
 * JOURNAL_RING_START instead (the reader tries there when the next bytes
 * are not the record it expects). A record is the next one only if its
 * stream is the journal's, its seq is one more than the last, its
 * prev_crc is the last record's hdr_crc (a hash chain: a stale record of
 * an earlier lap or of a discarded torn tail never passes) and both crcs
 * hold: hdr_crc covers the header, which holds data_crc of the data.
 */
#ifndef SLUICE_JOURNAL_FORMAT_H
#define SLUICE_JOURNAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_MAGIC		0x4c4e524a45434c53ull	/* "SLCEJRNL" */
#define JOURNAL_VERSION		1
#define JOURNAL_SB_SIZE		4096
#define JOURNAL_RING_START	(2 * JOURNAL_SB_SIZE)
#define JOURNAL_PATH_MAX	256
#define JOURNAL_UUID_LEN	16

#define JOURNAL_REC_MAGIC	0x4a52434cu		/* "LCRJ" */
#define JOURNAL_REC_HDR		64
#define JOURNAL_REC_DATA_MAX	(8u << 20)		/* bytes of data in one record */

/* Record types. */
enum journal_rec_type {
	JOURNAL_REC_WRITE = 1,		/* data follows: the bytes written at offset */
	JOURNAL_REC_ZEROES = 2,		/* range bytes at offset read as zeroes now */
	JOURNAL_REC_FLUSH = 3,		/* a FLUSH: every record before it is durable */
	JOURNAL_REC_CHECKPOINT = 4,	/* offset: every record <= it is on the backing */
};

/* Record flags. */
#define JOURNAL_REC_FUA		(1u << 0)	/* a FUA write */
#define JOURNAL_REC_DISCARD	(1u << 1)	/* ZEROES from a DISCARD (else WRITE_ZEROES) */

struct journal_rec {
	uint16_t version;
	uint16_t type;			/* enum journal_rec_type */
	uint32_t flags;
	uint32_t length;		/* data bytes after the header */
	uint64_t seq;			/* 1, 2, ... one order for every queue of the disk */
	uint64_t time_ns;		/* CLOCK_REALTIME when the record was made */
	uint64_t offset;		/* bytes from the start of the disk */
	uint32_t range;			/* bytes the operation covers */
	uint32_t data_crc;		/* crc32c of the data */
	uint64_t stream;		/* the journal's uuid, first 8 bytes */
	uint32_t prev_crc;		/* hdr_crc of the record before (the chain) */
	uint32_t hdr_crc;		/* crc32c of header bytes 0..59 */
};

struct journal_sb {
	uint64_t gen;			/* bumped at every write of the superblock */
	uint32_t version;
	uint8_t uuid[JOURNAL_UUID_LEN];	/* the journal's (and its records') identity */
	uint64_t disk_size;		/* geometry of the disk it journals */
	uint32_t block_size;
	uint64_t journal_size;		/* bytes of the file: the ring ends here */
	uint64_t created_ns;
	uint64_t tail_off;		/* oldest record kept */
	uint64_t tail_seq;		/* its seq; the ring is empty when nothing has it */
	uint32_t tail_prev_crc;		/* hdr_crc of the record before it (folded) */
	uint64_t base_seq;		/* the base image holds every record <= it */
	uint64_t base_time_ns;		/* ... made at this time: the oldest restorable moment */
	uint64_t ckpt_seq;		/* the backing durably holds every record <= it */
	uint64_t ckpt_time_ns;
	char backing[JOURNAL_PATH_MAX];	/* the disk's backing when the journal began */
};

/* The record's stream id: the uuid's first 8 bytes. */
uint64_t journal_stream(const uint8_t uuid[JOURNAL_UUID_LEN]);

/* Bytes the record takes in the ring: header, data, padded to 8. */
static inline uint64_t journal_rec_span(uint32_t length)
{
	return (JOURNAL_REC_HDR + (uint64_t)length + 7) & ~7ull;
}

/* Where a record of @span bytes goes when the ring's head is @pos. */
static inline uint64_t journal_place(uint64_t pos, uint64_t span, uint64_t end)
{
	return pos + span <= end ? pos : JOURNAL_RING_START;
}

/* Encode a superblock into JOURNAL_SB_SIZE bytes (crc included). */
void journal_sb_encode(const struct journal_sb *sb, uint8_t *out);
/*
 * Decode one copy. 0, -ENODATA (no magic: not a journal, or never written),
 * -EBADMSG (bad crc or impossible fields), -EPROTONOSUPPORT (another
 * version: sb->version says which).
 */
int journal_sb_decode(const uint8_t *in, size_t len, struct journal_sb *sb);
/*
 * Read both copies from @fd and pick the newer good one. Same errors as
 * decode (the better of the two copies' errors), or -errno of the read.
 */
int journal_sb_read(int fd, struct journal_sb *sb);
/* Write the copy @sb->gen selects and fdatasync. 0 or -errno. */
int journal_sb_write(int fd, const struct journal_sb *sb);

/*
 * Encode a record header. rec->data_crc must be set (crc32c of the data);
 * hdr_crc is computed and stored in rec too.
 */
void journal_rec_encode(struct journal_rec *rec, uint8_t out[JOURNAL_REC_HDR]);
/*
 * Decode a header: 0, -ENODATA (no record magic), -EBADMSG (bad hdr_crc or
 * impossible fields, given a ring of @ring_bytes).
 */
int journal_rec_decode(const uint8_t in[JOURNAL_REC_HDR], uint64_t ring_bytes,
		       struct journal_rec *rec);

/* Name of a record type for people ("write", "zeroes", ...). */
const char *journal_rec_type_name(uint16_t type);

#endif /* SLUICE_JOURNAL_FORMAT_H */
