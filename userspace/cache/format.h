/* SPDX-License-Identifier: GPL-2.0 */
/*
 * format.h - the on-device format of a sluice cache (docs/cache.md).
 *
 *   [0, 4 KiB)            superblock: magic, version, the format's random
 *                         generation, the backing's identity and size,
 *                         block and sub-block size, number of blocks
 *   [4 KiB, meta_end)     one 64-byte slot per cache block: the backing
 *                         block it holds, a valid and a dirty bit per
 *                         4 KiB sub-block, a sequence number, the format
 *                         generation and a crc32c
 *   [data_off, ...)       the blocks' data, block_size each
 *
 * A slot never straddles a 512-byte sector, so a torn write of the table
 * loses at most the slot being written (its crc then fails: empty). A
 * slot whose generation differs from the superblock's belongs to an
 * earlier format and reads as empty, so formatting never zeroes the table.
 * Nothing here does I/O beyond pread/pwrite of the given fd; the filter
 * writes slots on its ring with cache_slot_encode().
 */
#ifndef SLUICE_CACHE_FORMAT_H
#define SLUICE_CACHE_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#define CACHE_MAGIC		0x4143454349554c53ull	/* "SLUICECA" */
#define CACHE_VERSION		1
#define CACHE_SB_SIZE		4096
#define CACHE_SLOT_SIZE		64
#define CACHE_SUB_SIZE		4096u	/* one valid/dirty bit covers this much */
#define CACHE_SUBS_MAX		64	/* bits in a slot's bitmaps */
#define CACHE_BLOCK_MAX		(CACHE_SUB_SIZE * CACHE_SUBS_MAX)	/* 256 KiB */
#define CACHE_DATA_ALIGN	(1u << 20)
#define CACHE_NO_BLOCK		UINT64_MAX

struct cache_sb {
	uint64_t gen;			/* random at format: slots of other formats are empty */
	uint32_t block_size;
	uint32_t nblocks;
	uint64_t data_off;		/* bytes: where block 0's data starts */
	uint64_t backing_size;		/* the backing's identity: its size ... */
	uint64_t backing_id;		/* ... and a hash of its path */
	uint64_t disk_size;
	uint32_t flags;			/* CACHE_SB_* */
};

/* The cache device failed I/O: run degraded until it is replaced (zeroed). */
#define CACHE_SB_DEGRADED	(1u << 0)

/* One cache block's persistent state. */
struct cache_slot {
	uint64_t bblock;		/* backing block it holds; CACHE_NO_BLOCK: none */
	uint64_t valid;			/* bit i: sub-block i holds the disk's data */
	uint64_t dirty;			/* bit i: ... newer than the backing's (within valid) */
	uint64_t seq;			/* larger is newer: a duplicate on load keeps it */
};

/* FNV-1a of a string: the backing's identity beside its size. */
uint64_t cache_hash_str(const char *s);

/* Geometry of a cache device of @dev_size bytes; -ENOSPC below 16 blocks, -EINVAL bad size. */
int cache_sb_layout(struct cache_sb *sb, uint64_t dev_size, uint32_t block_size);

/* The superblock to and from its 4 KiB sector. Decode: -ENODATA not ours, -EBADMSG crc, -EPROTO version. */
void cache_sb_encode(const struct cache_sb *sb, void *buf);
int cache_sb_decode(struct cache_sb *sb, const void *buf);

/* Where slot @i lies on the device. */
static inline uint64_t cache_slot_off(uint32_t i)
{
	return CACHE_SB_SIZE + (uint64_t)i * CACHE_SLOT_SIZE;
}

static inline uint64_t cache_data_off(const struct cache_sb *sb, uint32_t i)
{
	return sb->data_off + (uint64_t)i * sb->block_size;
}

/* A slot to and from its 64 bytes; decode returns false for an empty, torn or foreign slot. */
void cache_slot_encode(const struct cache_slot *s, uint64_t gen, void *buf);
bool cache_slot_decode(struct cache_slot *s, uint64_t gen, const void *buf);

/* Write the superblock to @fd and make it durable. 0 or -errno. */
int cache_sb_write(int fd, const struct cache_sb *sb);
/* Read it. 0, -ENODATA (not a cache), -EBADMSG, -EPROTO, -errno. */
int cache_sb_read(int fd, struct cache_sb *sb);
/* Read every slot into @slots (nblocks of them); an unusable slot reads as empty. */
int cache_slots_read(int fd, const struct cache_sb *sb, struct cache_slot *slots);

#endif /* SLUICE_CACHE_FORMAT_H */
