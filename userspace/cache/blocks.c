// SPDX-License-Identifier: GPL-2.0
/*
 * blocks.c - the cache's block state, under its lock (cache/cache.h):
 * write stamps that keep a fill from admitting data a write replaced,
 * block locks, sequential streams, allocation and eviction, the slots a
 * change writes, the dirty-bytes counter.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "cache/cache.h"

static uint64_t stamp_slot(uint64_t bblock)
{
	return (bblock * 0x9e3779b97f4a7c15ull) >> 52;	/* 12 bits: STAMPS */
}

/* Under the lock: a write to @bblock started or ended; fills older than this are dropped. */
static void stamp(struct cache *c, uint64_t bblock)
{
	c->stamps[stamp_slot(bblock)] = ++c->gen;
}

/*
 * Under the lock: the request's writes start. A fill never admits a block
 * with a write in flight or stamped after the read that brought the data
 * began, so a cache never keeps what a write replaced.
 */
void cache_writes_begin(struct cache *c, struct creq *r)
{
	unsigned int i;

	for (i = 0; i < r->nblk; i++) {
		c->winflight[stamp_slot(r->first + i)]++;
		stamp(c, r->first + i);
	}
	r->counted = true;
}

void cache_writes_end(struct cache *c, struct creq *r)
{
	unsigned int i;

	if (!r->counted)
		return;
	for (i = 0; i < r->nblk; i++) {
		c->winflight[stamp_slot(r->first + i)]--;
		stamp(c, r->first + i);
	}
	r->counted = false;
}

bool cache_fill_allowed(const struct cache *c, uint64_t bblock, uint64_t gen)
{
	uint64_t h = stamp_slot(bblock);

	return !c->winflight[h] && c->stamps[h] <= gen;
}

/* Under the lock: give back every block the request locked. */
void cache_undo_locks(struct cache *c, struct creq *r)
{
	unsigned int i;

	for (i = 0; i < r->nblk; i++) {
		if (!r->locked[i])
			continue;
		c->b[r->idx[i]].locked = false;
		r->locked[i] = false;
		if (r->fresh[i])
			q2_release(c->q, r->idx[i]);
	}
}

/* Under the lock: is the request a stream past the sequential cutoff? */
bool cache_sequential(struct cache *c, const struct filter_req *req)
{
	struct stream *s, *old = &c->streams[0];
	int i;

	c->stream_clock++;
	for (i = 0; i < STREAMS; i++) {
		s = &c->streams[i];
		if (s->len && s->end == req->offset) {
			s->end += req->len;
			s->len += req->len;
			s->used = c->stream_clock;
			return c->cutoff && s->len > c->cutoff;
		}
		if (s->used < old->used)
			old = s;
	}
	*old = (struct stream){ req->offset + req->len, req->len, c->stream_clock };
	return c->cutoff && req->len > c->cutoff;
}

static bool evictable(void *arg, uint32_t idx)
{
	struct cache *c = arg;
	struct cblock *b = &c->b[idx];

	return !b->locked && !b->busy && !b->dirty;
}

/* Under the lock: a block for @bblock, mapped and locked, or Q2_NONE. */
uint32_t cache_block_alloc(struct cache *c, uint64_t bblock, bool *reused)
{
	uint64_t old;
	uint32_t idx;

	idx = q2_alloc(c->q, evictable, c, &old);
	if (idx == Q2_NONE)
		return idx;
	if (old != CACHE_NO_BLOCK)
		atomic_fetch_add(&c->evictions, 1);
	*reused = old != CACHE_NO_BLOCK;
	c->b[idx] = (struct cblock){ .locked = true };
	q2_insert(c->q, idx, bblock, false);
	return idx;
}

void cache_encode_slot(struct cache *c, void *buf, uint64_t bblock, uint64_t valid,
			uint64_t dirty)
{
	struct cache_slot s = { bblock, valid, dirty, c->seq++ };

	cache_slot_encode(&s, c->sb.gen, buf);
}

void cache_dirty_account(struct cache *c, uint64_t before, uint64_t after)
{
	int64_t d = (int64_t)__builtin_popcountll(after) - __builtin_popcountll(before);

	if (d > 0)
		atomic_fetch_add(&c->dirty_bytes, (uint64_t)d * CACHE_SUB_SIZE);
	else if (d < 0)
		atomic_fetch_sub(&c->dirty_bytes, (uint64_t)-d * CACHE_SUB_SIZE);
}


/* A request's scratch, fresh for a new try: its blocks, or -EIO past REQ_BLOCKS. */
int cache_req_begin(struct cache *c, const struct filter_req *req, struct creq *r)
{
	atomic_fetch_add_explicit(&c->requests, 1, memory_order_relaxed);
	memset(r, 0, offsetof(struct creq, slot0));
	r->nblk = req_nblocks(c, req);
	r->first = req->offset / c->bs;
	return r->nblk > REQ_BLOCKS ? -EIO : 0;
}
