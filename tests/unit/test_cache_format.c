// SPDX-License-Identifier: GPL-2.0
/*
 * The cache device's format and its 2Q policy: superblock (with its
 * degraded flag) and slots round-trip, a torn or foreign slot reads as empty, the table persists
 * and reloads through a file; 2Q keeps a hot set through a scan larger
 * than the cache (plain LRU would lose it) and admits a ghost straight
 * into Am.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache/format.h"
#include "cache/policy2q.h"

static void test_superblock_roundtrip(void **state)
{
	struct cache_sb sb = { .gen = 42, .backing_size = 1 << 30, .backing_id = 7,
			       .disk_size = 1 << 30 }, out;
	char buf[CACHE_SB_SIZE];

	assert_int_equal(cache_sb_layout(&sb, 64 << 20, 64 << 10), 0);
	assert_int_equal(sb.data_off % CACHE_DATA_ALIGN, 0);
	assert_true(sb.data_off >= cache_slot_off(sb.nblocks));
	assert_true(sb.data_off + (uint64_t)sb.nblocks * sb.block_size <= 64 << 20);
	cache_sb_encode(&sb, buf);
	memset(&out, 0, sizeof(out));
	assert_int_equal(cache_sb_decode(&out, buf), 0);
	assert_memory_equal(&sb, &out, sizeof(sb));
	/* the degraded flag persists, under a crc of its own */
	sb.flags = CACHE_SB_DEGRADED;
	cache_sb_encode(&sb, buf);
	assert_int_equal(cache_sb_decode(&out, buf), 0);
	assert_int_equal(out.flags, CACHE_SB_DEGRADED);
	buf[68] ^= 2;
	assert_int_equal(cache_sb_decode(&out, buf), -EBADMSG);
	/* a superblock from before the flags (zeroes there) is read as it was */
	sb.flags = 0;
	cache_sb_encode(&sb, buf);
	assert_int_equal(cache_sb_decode(&out, buf), 0);
	assert_int_equal(out.flags, 0);
	buf[20] ^= 1;
	assert_int_equal(cache_sb_decode(&out, buf), -EBADMSG);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(cache_sb_decode(&out, buf), -ENODATA);
	/* too small, or a block size that is no power of two */
	assert_int_equal(cache_sb_layout(&sb, 1 << 20, 64 << 10), -ENOSPC);
	assert_int_equal(cache_sb_layout(&sb, 64 << 20, 48 << 10), -EINVAL);
}

static void test_slot_bitmaps_roundtrip_torn_and_foreign(void **state)
{
	struct cache_slot s = { .bblock = 12345, .valid = 0xf0f0, .dirty = 0x3030, .seq = 9 };
	struct cache_slot out;
	uint8_t buf[CACHE_SLOT_SIZE];

	cache_slot_encode(&s, 77, buf);
	assert_true(cache_slot_decode(&out, 77, buf));
	assert_memory_equal(&s, &out, sizeof(s));
	/* a dirty bit outside valid is dropped: dirty means newer valid data */
	s.dirty = 0x10010;
	cache_slot_encode(&s, 77, buf);
	assert_true(cache_slot_decode(&out, 77, buf));
	assert_int_equal(out.dirty, 0x10);
	/* another format's slot, a torn slot, an empty slot */
	assert_false(cache_slot_decode(&out, 78, buf));
	assert_int_equal(out.bblock, CACHE_NO_BLOCK);
	buf[40] ^= 0x80;
	assert_false(cache_slot_decode(&out, 77, buf));
	s.bblock = CACHE_NO_BLOCK;
	cache_slot_encode(&s, 77, buf);
	assert_false(cache_slot_decode(&out, 77, buf));
	/* slots never straddle a sector */
	assert_int_equal(512 % CACHE_SLOT_SIZE, 0);
	assert_int_equal(CACHE_SB_SIZE % 512, 0);
}

static void test_table_persists_and_reloads(void **state)
{
	char path[] = "/tmp/sluice-cachefmt-XXXXXX";
	struct cache_sb sb = { .gen = 5 }, rd;
	struct cache_slot s, *slots;
	uint8_t buf[CACHE_SLOT_SIZE];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 32 << 20), 0);
	assert_int_equal(cache_sb_layout(&sb, 32 << 20, 64 << 10), 0);
	assert_int_equal(cache_sb_read(fd, &rd), -ENODATA);
	assert_int_equal(cache_sb_write(fd, &sb), 0);
	assert_int_equal(cache_sb_read(fd, &rd), 0);
	assert_int_equal(rd.nblocks, sb.nblocks);
	s = (struct cache_slot){ .bblock = 3, .valid = ~0ull, .dirty = 1, .seq = 1 };
	cache_slot_encode(&s, sb.gen, buf);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), cache_slot_off(7)), sizeof(buf));
	/* a slot of an earlier format at 8: not ours */
	cache_slot_encode(&s, sb.gen + 1, buf);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), cache_slot_off(8)), sizeof(buf));
	slots = calloc(sb.nblocks, sizeof(*slots));
	assert_non_null(slots);
	assert_int_equal(cache_slots_read(fd, &rd, slots), 0);
	assert_int_equal(slots[7].bblock, 3);
	assert_int_equal(slots[7].valid, ~0ull);
	assert_int_equal(slots[7].dirty, 1);
	assert_int_equal(slots[8].bblock, CACHE_NO_BLOCK);
	assert_int_equal(slots[0].bblock, CACHE_NO_BLOCK);
	free(slots);
	close(fd);
}

static bool always(void *arg, uint32_t idx)
{
	return true;
}

static bool none(void *arg, uint32_t idx)
{
	return false;
}

static bool never_block_5(void *arg, uint32_t idx)
{
	return idx != 5;
}

/* A miss as the filter does it: a block for @bb, mapped. */
static void q2_miss(struct q2 *q, uint64_t bb, q2_evictable_fn ev)
{
	uint64_t old;
	uint32_t i = q2_alloc(q, ev, NULL, &old);

	assert_int_not_equal(i, Q2_NONE);
	q2_insert(q, i, bb, false);
}

static void q2_access(struct q2 *q, uint64_t bb)
{
	uint32_t i = q2_lookup(q, bb);

	if (i == Q2_NONE)
		q2_miss(q, bb, always);
	else
		q2_touch(q, i);
}

static void test_2q_hot_set_survives_a_scan(void **state)
{
	struct q2 *q;
	uint64_t bb;
	int round, kept = 0;

	assert_int_equal(q2_create(&q, 100), 0);
	/* a hot set of 60 blocks, touched twice: in Am */
	for (round = 0; round < 2; round++)
		for (bb = 0; bb < 60; bb++)
			q2_access(q, bb);
	assert_int_equal(q2_count_am(q), 60);
	/* a scan of 1000 other blocks, ten times the cache */
	for (bb = 1000; bb < 2000; bb++)
		q2_access(q, bb);
	for (bb = 0; bb < 60; bb++)
		kept += q2_lookup(q, bb) != Q2_NONE;
	assert_int_equal(kept, 60);
	assert_true(q2_evictions(q) >= 960);
	q2_destroy(q);
}

static void test_2q_ghost_goes_to_am_and_busy_blocks_stay(void **state)
{
	struct q2 *q;
	uint64_t bb, old;
	uint32_t i;

	assert_int_equal(q2_create(&q, 16), 0);
	for (bb = 0; bb < 16; bb++)
		q2_miss(q, bb, always);
	assert_int_equal(q2_count_free(q), 0);
	/* block 0 (cache block 0, oldest in A1in) leaves for the ghosts */
	i = q2_alloc(q, always, NULL, &old);
	assert_int_equal(old, 0);
	q2_insert(q, i, 100, false);
	assert_int_equal(q2_lookup(q, 0), Q2_NONE);
	/* a miss on the ghost: straight to Am */
	q2_miss(q, 0, always);
	assert_int_equal(q2_count_am(q), 1);
	/* a block that may not be evicted (dirty, in flight) is passed over */
	for (bb = 200; bb < 240; bb++) {
		i = q2_alloc(q, never_block_5, NULL, &old);
		assert_int_not_equal(i, 5);
		q2_insert(q, i, bb, false);
	}
	assert_int_equal(q2_lookup(q, 5), 5);
	/* nothing evictable: none */
	assert_int_equal(q2_alloc(q, none, NULL, &old), Q2_NONE);
	q2_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_superblock_roundtrip),
		cmocka_unit_test(test_slot_bitmaps_roundtrip_torn_and_foreign),
		cmocka_unit_test(test_table_persists_and_reloads),
		cmocka_unit_test(test_2q_hot_set_survives_a_scan),
		cmocka_unit_test(test_2q_ghost_goes_to_am_and_busy_blocks_stay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
