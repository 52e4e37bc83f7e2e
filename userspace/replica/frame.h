/* SPDX-License-Identifier: GPL-2.0 */
/*
 * frame.h - the replication wire frames (docs/replica.md draws them). The
 * link under them is TLS (replica/link.h); the frames carry their own
 * checksums anyway, so a bug on either side is caught at the frame, not
 * in the image. Little-endian at fixed offsets, as the journal's format.
 *
 *   0   magic "SLRP" (u32)      8   length of the payload (u32)
 *   4   version (u8)           12   payload_crc: crc32c of the payload
 *   5   type (u8)              16   hdr_crc: crc32c of bytes 0..15
 *   6   flags (u16)            20   payload
 *
 * HELLO   both ways once, sender first: the disk (journal uuid, geometry),
 *         the generation, the seq it began at (split), and the last
 *         sequence the receiver applied. A receiver's HELLO with
 *         FRAME_F_RESYNC: failback, DIVERGE frames follow.
 * RECORD  one journal record: seq, time, offset, type, flags, range, data.
 * ACK     receiver to sender: every record <= seq is durable on the replica.
 * ERROR   either way, then the link closes: -errno and a sentence.
 * DIVERGE receiver to sender, failback: byte ranges the receiver wrote
 *         after the split (its losing writes); FRAME_F_LAST on the last.
 * BLOCK   sender to receiver, failback: the sender's disk content of one
 *         piece of those ranges; FRAME_F_LAST on the last. A full copy:
 *         one piece of the disk's data, between two SYNC frames.
 * SYNC    sender to receiver, a full copy: the start (the seq S0 whose
 *         records the copy holds: the stream goes on from S0 + 1), and
 *         with FRAME_F_LAST the end (the count of blocks sent).
 * PING    sender to receiver, idle: answer with an ACK (auto failover's
 *         lease is renewed by ACKs, so an idle link must still carry them).
 *         Also between two BLOCKs of a full copy or a resync: answered
 *         with ACK 0, which renews the lease and says nothing of records.
 * CLOSE   sender to receiver: the primary stops on purpose; no failover.
 */
#ifndef SLUICE_REPLICA_FRAME_H
#define SLUICE_REPLICA_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC		0x50524c53u	/* "SLRP" */
/*
 * 2: HELLO's split, DIVERGE, BLOCK, SYNC; 3: HELLO's lease, PING, CLOSE;
 * 4: PING between BLOCKs (a version 3 receiver refuses it mid-copy)
 */
#define FRAME_VERSION		4
#define FRAME_HDR		20
#define FRAME_UUID_LEN		16
#define FRAME_HELLO_LEN		64
#define FRAME_REC_HDR		40
#define FRAME_DATA_MAX		(8u << 20)	/* as a journal record's data */
#define FRAME_ACK_LEN		8
#define FRAME_MSG_MAX		200
#define FRAME_RANGE_LEN		16		/* offset u64, length u64 */
#define FRAME_RANGES_MAX	1024		/* ranges in one DIVERGE */
#define FRAME_DIVERGE_HDR	8		/* count u32, reserved u32 */
#define FRAME_BLOCK_HDR		16
#define FRAME_BLOCK_MAX		(1u << 20)	/* data bytes of one BLOCK */
#define FRAME_SYNC_LEN		16		/* seq u64, blocks u64 */
#define FRAME_MAX		(FRAME_HDR + FRAME_REC_HDR + FRAME_DATA_MAX)

enum frame_type {
	FRAME_HELLO = 1,
	FRAME_RECORD = 2,
	FRAME_ACK = 3,
	FRAME_ERROR = 4,
	FRAME_DIVERGE = 5,
	FRAME_BLOCK = 6,
	FRAME_SYNC = 7,
	FRAME_PING = 8,
	FRAME_CLOSE = 9,
};

/* RECORD flags: the sender waits for an ACK after this one. */
#define FRAME_F_ACK_REQ		(1u << 0)
/* the receiver's HELLO: it wrote after the split; DIVERGE frames follow. */
#define FRAME_F_RESYNC		(1u << 1)
/* the last DIVERGE, or the last BLOCK; on SYNC, the copy's end. */
#define FRAME_F_LAST		(1u << 2)
/* the receiver's HELLO: it holds nothing to resume from; send a full copy. */
#define FRAME_F_FULL		(1u << 3)
/* the sender's HELLO: auto failover, with the lease in hello.lease_ms. */
#define FRAME_F_AUTO		(1u << 4)

struct frame_hello {
	uint8_t disk[FRAME_UUID_LEN];	/* the primary journal's uuid: the disk's identity */
	uint64_t disk_size;
	uint32_t block_size;
	uint32_t role;			/* 0 sender, 1 receiver */
	uint64_t generation;		/* bumped at every promote: split brain is a mismatch */
	uint64_t applied;		/* receiver: last record applied; sender: last written */
	uint64_t split;			/* sender: its generation began after this seq (promote) */
	uint32_t lease_ms;		/* sender, FRAME_F_AUTO: fenced after this long unheard */
};

/* DIVERGE: @count ranges at @raw, FRAME_RANGE_LEN bytes each (frame_range_get/put). */
struct frame_diverge {
	uint32_t count;
	const uint8_t *raw;
};

struct frame_block {
	uint64_t offset;
	uint32_t length;
	uint32_t data_crc;
	const uint8_t *data;
};

struct frame_record {
	uint64_t seq;
	uint64_t time_ns;
	uint64_t offset;
	uint16_t type;			/* enum journal_rec_type */
	uint16_t rflags;		/* the journal record's flags (FUA, DISCARD) */
	uint32_t range;
	uint32_t length;		/* data bytes */
	uint32_t data_crc;
	const uint8_t *data;		/* into the decoded buffer */
};

struct frame {
	uint8_t type;
	uint16_t flags;
	union {
		struct frame_hello hello;
		struct frame_record rec;
		struct frame_diverge div;
		struct frame_block blk;
		struct {
			uint64_t seq;		/* the copy holds every record <= it */
			uint64_t blocks;	/* LAST: blocks of the disk's block size sent */
		} sync;
		uint64_t ack;
		struct {
			int32_t err;		/* -errno */
			char msg[FRAME_MSG_MAX + 1];
		} error;
	};
};

/* Range @i of a DIVERGE's raw list; and writing one into such a list. */
void frame_range_get(const uint8_t *raw, uint32_t i, uint64_t *offset, uint64_t *length);
void frame_range_put(uint8_t *raw, uint32_t i, uint64_t offset, uint64_t length);

/*
 * Encode @f into @out (at least frame_size(f) bytes); returns the bytes
 * used. A RECORD's or BLOCK's data is copied from its data pointer, a
 * DIVERGE's ranges from f->div.raw.
 */
size_t frame_encode(const struct frame *f, uint8_t *out);
/* Bytes frame_encode() will write for @f. */
size_t frame_size(const struct frame *f);

/*
 * Check a frame header: the payload length in *payload_len. 0, -EBADMSG
 * (bad magic, crc, type or a length the type cannot have),
 * -EPROTONOSUPPORT (another version).
 */
int frame_decode_header(const uint8_t hdr[FRAME_HDR], uint32_t *payload_len);
/*
 * Decode one whole frame of @len bytes at @buf (header then payload). A
 * RECORD's and a BLOCK's data and a DIVERGE's ranges point into @buf.
 * *used: the frame's bytes. 0, -EAGAIN (@len holds less than the frame:
 * read more), -EBADMSG (any check failed, the data's crc included),
 * -EPROTONOSUPPORT.
 */
int frame_decode(const uint8_t *buf, size_t len, struct frame *f, size_t *used);

#endif /* SLUICE_REPLICA_FRAME_H */
