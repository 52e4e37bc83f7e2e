/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy2q.h - which backing block each cache block holds, and which
 * block to give up next: 2Q (Johnson and Shasha, VLDB 1994) with
 * promotion on the second touch.
 *
 * A block admitted on a miss enters A1in, a FIFO; touched again while
 * there, it moves to Am, an LRU. Victims come from A1in while it holds
 * more than a quarter of the cache, else from Am's cold end. A block
 * leaving A1in leaves its backing block number in A1out (ghosts, half the
 * cache's count): a miss on a ghost goes straight to Am. A scan touches
 * each block once, so it only ever cycles through A1in and Am (the hot
 * set, up to three quarters of the cache) stays.
 *
 * Not thread-safe: the cache filter calls it under its lock.
 */
#ifndef SLUICE_CACHE_POLICY2Q_H
#define SLUICE_CACHE_POLICY2Q_H

#include <stdbool.h>
#include <stdint.h>

#define Q2_NONE		UINT32_MAX

struct q2;

/* Whether block @idx may be given up now (clean, no I/O in flight). */
typedef bool (*q2_evictable_fn)(void *arg, uint32_t idx);

int q2_create(struct q2 **out, uint32_t nblocks);
void q2_destroy(struct q2 *q);

/* The cache block holding backing block @bblock, or Q2_NONE. */
uint32_t q2_lookup(const struct q2 *q, uint64_t bblock);
/* @idx was hit: A1in moves it to Am, Am to its hot end. */
void q2_touch(struct q2 *q, uint32_t idx);
/*
 * A cache block for a new backing block: a free one, else a victim taken
 * out of its list and the map (its old backing block in *old, or
 * CACHE_NO_BLOCK for a free one). Q2_NONE when nothing may be evicted.
 * The block belongs to the caller until q2_insert() or q2_release().
 */
uint32_t q2_alloc(struct q2 *q, q2_evictable_fn evictable, void *arg, uint64_t *old);
/* Map @idx to @bblock: Am when @bblock was a ghost (or @hot), else A1in. */
void q2_insert(struct q2 *q, uint32_t idx, uint64_t bblock, bool hot);
/* Give @idx back to the free list (a failed fill, an invalidation). */
void q2_release(struct q2 *q, uint32_t idx);
/* Take @idx out of its list and the map (the caller owns it, as after q2_alloc). */
void q2_remove(struct q2 *q, uint32_t idx);
/* The backing block @idx holds, or CACHE_NO_BLOCK. */
uint64_t q2_bblock(const struct q2 *q, uint32_t idx);

/* Counts for tests and stats. */
uint32_t q2_count_a1in(const struct q2 *q);
uint32_t q2_count_am(const struct q2 *q);
uint32_t q2_count_free(const struct q2 *q);
uint64_t q2_evictions(const struct q2 *q);

#endif /* SLUICE_CACHE_POLICY2Q_H */
