// SPDX-License-Identifier: GPL-2.0
/*
 * format.c - the cache device's superblock and slot table (format.h).
 * Fields are little-endian at fixed offsets.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/format.h"
#include "lib/crc32c.h"

/* Superblock field offsets. */
enum {
	SB_MAGIC = 0, SB_VERSION = 8, SB_GEN = 16, SB_BLOCK = 24, SB_NBLOCKS = 28,
	SB_DATA_OFF = 32, SB_BACKING_SIZE = 40, SB_BACKING_ID = 48, SB_DISK_SIZE = 56,
	SB_CRC = 64,
	/* after the first version's crc: flags, and a crc of their own when set */
	SB_FLAGS = 68, SB_FLAGS_CRC = 72, SB_END = 76,
};

/* Slot field offsets; the crc covers bytes 4..63. */
enum {
	SLOT_CRC = 0, SLOT_FLAGS = 4, SLOT_GEN = 8, SLOT_SEQ = 16, SLOT_BBLOCK = 24,
	SLOT_VALID = 32, SLOT_DIRTY = 40,
};

#define SLOT_USED	1u

uint64_t cache_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h;
}

static void put64(void *buf, int off, uint64_t v)
{
	v = htole64(v);
	memcpy((char *)buf + off, &v, 8);
}

static void put32(void *buf, int off, uint32_t v)
{
	v = htole32(v);
	memcpy((char *)buf + off, &v, 4);
}

static uint64_t get64(const void *buf, int off)
{
	uint64_t v;

	memcpy(&v, (const char *)buf + off, 8);
	return le64toh(v);
}

static uint32_t get32(const void *buf, int off)
{
	uint32_t v;

	memcpy(&v, (const char *)buf + off, 4);
	return le32toh(v);
}

int cache_sb_layout(struct cache_sb *sb, uint64_t dev_size, uint32_t block_size)
{
	uint64_t n, data_off;

	if (block_size < CACHE_SUB_SIZE || block_size > CACHE_BLOCK_MAX ||
	    (block_size & (block_size - 1)))
		return -EINVAL;
	/* slots for every block that could fit, then the data aligned */
	n = dev_size / block_size;
	data_off = CACHE_SB_SIZE + n * CACHE_SLOT_SIZE;
	data_off = (data_off + CACHE_DATA_ALIGN - 1) / CACHE_DATA_ALIGN * CACHE_DATA_ALIGN;
	if (data_off >= dev_size)
		return -ENOSPC;
	n = (dev_size - data_off) / block_size;
	if (n < 16)
		return -ENOSPC;
	if (n > UINT32_MAX - 1)
		n = UINT32_MAX - 1;
	sb->block_size = block_size;
	sb->nblocks = n;
	sb->data_off = data_off;
	return 0;
}

void cache_sb_encode(const struct cache_sb *sb, void *buf)
{
	memset(buf, 0, CACHE_SB_SIZE);
	put64(buf, SB_MAGIC, CACHE_MAGIC);
	put64(buf, SB_VERSION, CACHE_VERSION);
	put64(buf, SB_GEN, sb->gen);
	put32(buf, SB_BLOCK, sb->block_size);
	put32(buf, SB_NBLOCKS, sb->nblocks);
	put64(buf, SB_DATA_OFF, sb->data_off);
	put64(buf, SB_BACKING_SIZE, sb->backing_size);
	put64(buf, SB_BACKING_ID, sb->backing_id);
	put64(buf, SB_DISK_SIZE, sb->disk_size);
	put32(buf, SB_CRC, crc32c(0, buf, SB_CRC));
	put32(buf, SB_FLAGS, sb->flags);
	put32(buf, SB_FLAGS_CRC, sb->flags ? crc32c(0, (const char *)buf + SB_FLAGS, 4) : 0);
}

int cache_sb_decode(struct cache_sb *sb, const void *buf)
{
	if (get64(buf, SB_MAGIC) != CACHE_MAGIC)
		return -ENODATA;
	if (get32(buf, SB_CRC) != crc32c(0, buf, SB_CRC))
		return -EBADMSG;
	if (get64(buf, SB_VERSION) != CACHE_VERSION)
		return -EPROTO;
	sb->gen = get64(buf, SB_GEN);
	sb->block_size = get32(buf, SB_BLOCK);
	sb->nblocks = get32(buf, SB_NBLOCKS);
	sb->data_off = get64(buf, SB_DATA_OFF);
	sb->backing_size = get64(buf, SB_BACKING_SIZE);
	sb->backing_id = get64(buf, SB_BACKING_ID);
	sb->disk_size = get64(buf, SB_DISK_SIZE);
	/* a superblock written before flags existed has zeroes there */
	sb->flags = get32(buf, SB_FLAGS);
	if (sb->flags && get32(buf, SB_FLAGS_CRC) != crc32c(0, (const char *)buf + SB_FLAGS, 4))
		return -EBADMSG;
	if (sb->block_size < CACHE_SUB_SIZE || sb->block_size > CACHE_BLOCK_MAX ||
	    (sb->block_size & (sb->block_size - 1)) || !sb->nblocks ||
	    sb->data_off < cache_slot_off(sb->nblocks))
		return -EBADMSG;
	return 0;
}

void cache_slot_encode(const struct cache_slot *s, uint64_t gen, void *buf)
{
	memset(buf, 0, CACHE_SLOT_SIZE);
	put32(buf, SLOT_FLAGS, s->bblock == CACHE_NO_BLOCK ? 0 : SLOT_USED);
	put64(buf, SLOT_GEN, gen);
	put64(buf, SLOT_SEQ, s->seq);
	put64(buf, SLOT_BBLOCK, s->bblock);
	put64(buf, SLOT_VALID, s->valid);
	put64(buf, SLOT_DIRTY, s->dirty & s->valid);
	put32(buf, SLOT_CRC, crc32c(0, (const char *)buf + 4, CACHE_SLOT_SIZE - 4));
}

bool cache_slot_decode(struct cache_slot *s, uint64_t gen, const void *buf)
{
	memset(s, 0, sizeof(*s));
	s->bblock = CACHE_NO_BLOCK;
	if (get32(buf, SLOT_CRC) != crc32c(0, (const char *)buf + 4, CACHE_SLOT_SIZE - 4))
		return false;
	if (get64(buf, SLOT_GEN) != gen || !(get32(buf, SLOT_FLAGS) & SLOT_USED))
		return false;
	s->seq = get64(buf, SLOT_SEQ);
	s->bblock = get64(buf, SLOT_BBLOCK);
	s->valid = get64(buf, SLOT_VALID);
	s->dirty = get64(buf, SLOT_DIRTY) & s->valid;
	return true;
}

int cache_sb_write(int fd, const struct cache_sb *sb)
{
	char buf[CACHE_SB_SIZE];

	cache_sb_encode(sb, buf);
	if (pwrite(fd, buf, sizeof(buf), 0) != sizeof(buf))
		return -errno ?: -EIO;
	return fdatasync(fd) ? -errno : 0;
}

int cache_sb_read(int fd, struct cache_sb *sb)
{
	char buf[CACHE_SB_SIZE];
	ssize_t n;

	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	if (n != sizeof(buf))
		return -ENODATA;
	return cache_sb_decode(sb, buf);
}

int cache_slots_read(int fd, const struct cache_sb *sb, struct cache_slot *slots)
{
	enum { CHUNK = 1 << 20 };
	uint64_t total = (uint64_t)sb->nblocks * CACHE_SLOT_SIZE, done = 0;
	char *buf;
	ssize_t n;
	uint32_t i;

	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	while (done < total) {
		size_t want = total - done < CHUNK ? total - done : CHUNK;

		n = pread(fd, buf, want, CACHE_SB_SIZE + done);
		if (n < 0) {
			free(buf);
			return -errno;
		}
		/* past the end of a sparse file: zeroes, empty slots */
		if ((size_t)n < want)
			memset(buf + n, 0, want - n);
		for (i = 0; i < want / CACHE_SLOT_SIZE; i++)
			cache_slot_decode(&slots[done / CACHE_SLOT_SIZE + i], sb->gen,
					  buf + (size_t)i * CACHE_SLOT_SIZE);
		done += want;
	}
	free(buf);
	return 0;
}
