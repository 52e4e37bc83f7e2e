// SPDX-License-Identifier: GPL-2.0
/*
 * writeback.c - the background write-back of dirty blocks, run by every
 * queue of the disk on its own ring.
 */
#include <errno.h>
#include <unistd.h>

#include "cache/cache.h"
#include "filters/chain.h"

/*
 * A write-back, per block: (lock) read the dirty run from the cache
 * (unlock) -> write each dirty run to the backing, RWF_DSYNC -> (lock)
 * slot with the written-back sub-blocks clean, unless a write rewrote them
 * meanwhile (redirty) -> (unlock). Writes to the block wait only while
 * the cache is read and the slot written, never for the backing.
 */

/* Under the lock: the next dirty block nobody holds, locked; Q2_NONE if none. */
static uint32_t wb_pick(struct cache *c)
{
	uint32_t n = c->sb.nblocks, i, idx;
	struct cblock *b;

	if (!atomic_load(&c->dirty_bytes))
		return Q2_NONE;
	for (i = 0; i < n; i++) {
		idx = (c->wb_cursor + i) % n;
		b = &c->b[idx];
		if (b->dirty && !b->locked && !b->wb) {
			c->wb_cursor = (idx + 1) % n;
			b->locked = true;
			b->wb = true;
			b->redirty = 0;
			return idx;
		}
	}
	return Q2_NONE;
}

static void wb_end(struct filter *f, struct filter_queue *fq, unsigned int s);
static void wb_slot(struct filter *f, struct filter_queue *fq, unsigned int s);

/* The dirty runs of @w to the backing, each durable before the slot says clean. */
static void wb_write(struct filter *f, struct filter_queue *fq, unsigned int s)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct wb *w = &cq->wb[s];
	struct io_uring_sqe *sqe;
	unsigned int a, e, from;
	uint64_t off, len;

	/* the data is in hand: writes to the block may go on */
	pthread_mutex_lock(&c->lock);
	c->b[w->idx].locked = false;
	pthread_mutex_unlock(&c->lock);
	w->holds = false;
	cache_unlocked(f, fq);
	for (from = 0; mask_run(w->mask, from, &a, &e); from = e + 1) {
		off = w->bblock * c->bs + (uint64_t)a * CACHE_SUB_SIZE;
		len = (uint64_t)(e - a + 1) * CACHE_SUB_SIZE;
		if (off >= c->disk_size)
			break;
		if (off + len > c->disk_size)
			len = c->disk_size - off;
		sqe = filter_bg_sqe(f, fq, BG_WB(s, WB_WRITE));
		if (!sqe) {
			w->err = true;
			break;
		}
		w->inflight++;
		io_uring_prep_write(sqe, FILTER_FILE_BACKING, (char *)w->buf + a * CACHE_SUB_SIZE,
				    len, off + chain_data_offset(f->chain));
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->rw_flags = RWF_DSYNC;
	}
	if (!w->inflight)
		wb_end(f, fq, s);
}

/*
 * The write-back's own I/O on the cache device (@st: WB_READ of the dirty
 * data, WB_SLOT write of the slot): on the ring, or done here for a cache
 * in memory, going on as its completion would.
 */
static void wb_cache_io(struct filter *f, struct filter_queue *fq, unsigned int s, int st,
			void *buf, uint32_t len, uint64_t off)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct wb *w = &cq->wb[s];
	bool write = st == WB_SLOT;
	struct io_uring_sqe *sqe;
	ssize_t n;

	w->inflight = 1;
	if (c->in_memory) {
		n = write ? pwrite(c->fd, buf, len, off) : pread(c->fd, buf, len, off);
		cache_wb_done(f, fq, s, st, n == (ssize_t)len ? (int)n : -EIO);
		return;
	}
	sqe = filter_bg_sqe(f, fq, BG_WB(s, st));
	if (!sqe) {
		w->inflight = 0;
		w->err = true;
		wb_end(f, fq, s);
		return;
	}
	cache_prep_rw(c, sqe, write, buf, len, off, false);
}

/* Each write-back interval: has the disk been quiet since the last one? */
void cache_wb_tick(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	uint64_t n = atomic_load_explicit(&c->requests, memory_order_relaxed);

	if (n != cq->seen)
		cq->quiet = 0;
	else if (cq->quiet < WB_QUIET_TICKS)
		cq->quiet++;
	cq->seen = n;
}

/*
 * Writing back competes with the requests for the backing and the cache
 * device, so under load it waits until the dirty data would crowd out
 * clean blocks; a flush on hold or a quiet disk takes it all.
 */
static bool wb_wanted(struct cache *c, const struct cache_queue *cq)
{
	uint64_t size = (uint64_t)c->sb.nblocks * c->bs;

	if (cq->quiet >= WB_QUIET_TICKS || cache_held(c))
		return true;
	return atomic_load(&c->dirty_bytes) / WB_BUSY_DIRTY_NUM > size / WB_BUSY_DIRTY_DEN;
}

void cache_wb_start(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct wb *w;
	unsigned int s, first, last;
	uint32_t idx;
	bool wanted = wb_wanted(c, cq);

	for (s = 0; s < WB_SLOTS; s++) {
		w = &cq->wb[s];
		if (w->busy && w->wait_slot)
			wb_slot(f, fq, s);
		if (w->busy || cq->draining || !wanted)
			continue;
		pthread_mutex_lock(&c->lock);
		idx = c->degraded ? Q2_NONE : wb_pick(c);
		if (idx != Q2_NONE) {
			w->idx = idx;
			w->bblock = q2_bblock(c->q, idx);
			w->mask = c->b[idx].dirty;
		}
		pthread_mutex_unlock(&c->lock);
		if (idx == Q2_NONE)
			continue;
		w->busy = true;
		w->holds = true;
		w->err = false;
		w->wait_slot = false;
		first = __builtin_ctzll(w->mask);
		last = 63 - __builtin_clzll(w->mask);
		wb_cache_io(f, fq, s, WB_READ, (char *)w->buf + first * CACHE_SUB_SIZE,
			    (last - first + 1) * CACHE_SUB_SIZE,
			    cache_data_off(&c->sb, idx) + first * CACHE_SUB_SIZE);
	}
}

/* The backing has the data durably: the slot may say clean (lazily: no sync). */
static void wb_slot(struct filter *f, struct filter_queue *fq, unsigned int s)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct wb *w = &cq->wb[s];
	struct cblock *b = &c->b[w->idx];

	pthread_mutex_lock(&c->lock);
	if (b->locked) {
		/* a write holds it: its unlock (or the next tick) brings us back */
		pthread_mutex_unlock(&c->lock);
		w->wait_slot = true;
		return;
	}
	b->locked = true;
	w->holds = true;
	w->wait_slot = false;
	cache_encode_slot(c, w->slot, w->bblock, b->valid, b->dirty & ~(w->mask & ~b->redirty));
	pthread_mutex_unlock(&c->lock);
	wb_cache_io(f, fq, s, WB_SLOT, w->slot, CACHE_SLOT_SIZE, cache_slot_off(w->idx));
}

static void wb_end(struct filter *f, struct filter_queue *fq, unsigned int s)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct wb *w = &cq->wb[s];
	struct cblock *b = &c->b[w->idx];
	uint64_t clean;

	pthread_mutex_lock(&c->lock);
	if (!w->err) {
		clean = w->mask & ~b->redirty;
		cache_dirty_account(c, b->dirty, b->dirty & ~clean);
		b->dirty &= ~clean;
		atomic_fetch_add(&c->written_back,
				 (uint64_t)__builtin_popcountll(clean) * CACHE_SUB_SIZE);
	}
	b->wb = false;
	b->redirty = 0;
	if (w->holds)
		b->locked = false;
	pthread_mutex_unlock(&c->lock);
	w->holds = false;
	w->busy = false;
	cache_unlocked(f, fq);
	cache_wb_start(f, fq);
}

void cache_wb_done(struct filter *f, struct filter_queue *fq, unsigned int s, int st, int res)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct wb *w = &cq->wb[s];

	w->inflight--;
	if (res < 0) {
		w->err = true;
		atomic_fetch_add(&c->errors, 1);
	}
	if (w->inflight)
		return;
	if (w->err || st == WB_SLOT)
		wb_end(f, fq, s);
	else if (st == WB_READ)
		wb_write(f, fq, s);
	else
		wb_slot(f, fq, s);
}

/* A block was unlocked: write-backs waiting to write its slot go on. */
void cache_wb_retry_slots(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	unsigned int i;

	for (i = 0; i < WB_SLOTS; i++)
		if (cq->wb[i].busy && cq->wb[i].wait_slot && !cq->in_unlocked) {
			cq->in_unlocked = true;
			wb_slot(f, fq, i);
			cq->in_unlocked = false;
		}
}
