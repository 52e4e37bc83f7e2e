// SPDX-License-Identifier: GPL-2.0
/*
 * write.c - the cache's write path: write-back takes the write alone
 * (durable on the cache device before the ack), write-through writes the
 * cached blocks beside the backing, write-around invalidates them. A write
 * that finds a block locked waits in its queue's list; a change settles
 * (applies what succeeded, unlocks) when its cache I/O is done.
 */
#include <errno.h>
#include <string.h>

#include "cache/cache.h"
#include "filters/chain.h"

static void park(struct filter *f, struct filter_req *req)
{
	struct cache_queue *cq = filter_queue_priv(f, req->fq);
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;

	r->parked = true;
	cq->parked[cq->nparked++] = req;
	atomic_fetch_add(&c->waiting, 1);
}

/* On @fq's thread: try the parked writes again, in arrival order. */
void cache_retry_parked(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct filter_req *req;
	struct creq *r;
	uint32_t i, n = cq->nparked, keep = 0;
	int v;

	for (i = 0; i < n; i++) {
		req = cq->parked[i];
		r = filter_req_priv(f, req);
		r->parked = false;
		atomic_fetch_sub(&c->waiting, 1);
		cq->nparked = keep;
		v = cache_write_start(f, req);
		/* cache_write_start parked it again at cq->parked[keep] */
		if (r->parked) {
			keep = cq->nparked;
			continue;
		}
		if (v != FILTER_PENDING)
			filter_resume(req, v);
	}
	/* anything parked during the loop by other paths sits after keep */
	cq->nparked = keep;
}

/* A block was unlocked: the waiting writes may go on. */
void cache_unlocked(struct filter *f, struct filter_queue *fq)
{
	struct cache *c = f->priv;
	int i;

	cache_wb_retry_slots(f, fq);
	if (!atomic_load(&c->waiting))
		return;
	cache_retry_parked(f, fq);
	if (!atomic_load(&c->waiting))
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CACHE_QUEUES; i++)
		if (c->fqs[i] && c->fqs[i] != fq)
			filter_queue_wake(c->fqs[i]);
	pthread_mutex_unlock(&c->lock);
}

/* The request's own write to the backing, beside its cache writes. */
static bool backing_write(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct io_uring_sqe *sqe;

	sqe = filter_get_sqe(f, req, COOKIE(0, IO_BACKING));
	if (!sqe)
		return false;
	filter_prep_data(sqe, req, true, FILTER_FILE_BACKING, 0, req->len,
			 req->offset + chain_data_offset(f->chain));
	if (req->flags & FILTER_REQ_FUA)
		sqe->rw_flags = RWF_DSYNC;
	r->inflight++;
	r->has_backing = true;
	return true;
}

/*
 * Under the lock, every block present and unlocked: take each block of
 * the request into the cache as dirty. false (nothing changed) when a
 * partial sub-block is not valid or no block can be had: the write goes
 * through instead.
 */
static bool plan_writeback(struct cache *c, struct filter_req *req, struct creq *r)
{
	uint64_t lo, hi, touch, full;
	unsigned int i;

	for (i = 0; i < r->nblk; i++) {
		blk_range(c, req, i, &lo, &hi);
		blk_masks(c, (r->first + i) * c->bs, lo, hi, &touch, &full);
		if (touch & ~full & ~(r->idx[i] == Q2_NONE ? 0 : c->b[r->idx[i]].valid))
			return false;
	}
	for (i = 0; i < r->nblk; i++) {
		blk_range(c, req, i, &lo, &hi);
		blk_masks(c, (r->first + i) * c->bs, lo, hi, &touch, &full);
		if (r->idx[i] == Q2_NONE) {
			r->idx[i] = cache_block_alloc(c, r->first + i, &r->reused[i]);
			if (r->idx[i] == Q2_NONE) {
				/* full of dirty or busy blocks: through, gracefully */
				cache_undo_locks(c, r);
				for (i = 0; i < r->nblk; i++)
					if (r->fresh[i])
						r->idx[i] = Q2_NONE;
				memset(r->fresh, 0, sizeof(r->fresh));
				memset(r->reused, 0, sizeof(r->reused));
				return false;
			}
			r->fresh[i] = true;
		}
		c->b[r->idx[i]].locked = true;
		r->locked[i] = true;
		r->setv[i] = full;
		r->setd[i] = touch;
		r->touch[i] = touch;
		if (r->reused[i])
			cache_encode_slot(c, r->slot0[i], r->first + i, 0, 0);
		cache_encode_slot(c, r->slot[i], r->first + i, c->b[r->idx[i]].valid | full,
			    c->b[r->idx[i]].dirty | touch);
	}
	return true;
}

/*
 * Under the lock: write-through (@around false) or write-around of the
 * blocks present. Write-through rewrites the cached part and marks whole
 * sub-blocks valid; write-around invalidates, unless the block holds
 * dirty data there (then it is written through: the dirty data must not
 * come back later over the new).
 */
static void plan_through(struct cache *c, struct filter_req *req, struct creq *r, bool around)
{
	uint64_t lo, hi, touch, full;
	struct cblock *b;
	unsigned int i;

	for (i = 0; i < r->nblk; i++) {
		if (r->idx[i] == Q2_NONE)
			continue;
		b = &c->b[r->idx[i]];
		blk_range(c, req, i, &lo, &hi);
		blk_masks(c, (r->first + i) * c->bs, lo, hi, &touch, &full);
		if (around && !(b->valid & touch))
			continue;
		b->locked = true;
		r->locked[i] = true;
		r->touch[i] = touch;
		if (around && !(b->dirty & touch)) {
			/* no read may hit the old data from now on */
			b->valid &= ~touch;
			r->inval[i] = true;
			cache_encode_slot(c, r->slot[i], r->first + i, b->valid, b->dirty);
			continue;
		}
		r->setv[i] = full & ~b->valid;
		cache_encode_slot(c, r->slot[i], r->first + i, b->valid | r->setv[i], b->dirty);
	}
}

/*
 * The request's cache I/O, one linked chain per block: [the reused slot
 * forgets its old block] -> data -> slot. Write-back makes each durable
 * (RWF_DSYNC) before the ack; write-through makes the data durable first
 * only when the slot will call it valid. Write-through and write-around
 * write the backing beside it.
 */
static int issue_write(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	uint64_t lo, hi, bstart;
	unsigned int i, n;
	bool wb = r->kind == K_WRITE_WB, slot, dsync;
	struct cio v[3];

	for (i = 0; i < r->nblk; i++) {
		if (!r->locked[i])
			continue;
		blk_range(c, req, i, &lo, &hi);
		bstart = (r->first + i) * c->bs;
		slot = wb || r->setv[i] || r->inval[i];
		dsync = wb || r->setv[i] || (req->flags & FILTER_REQ_FUA);
		n = 0;
		if (r->reused[i])
			v[n++] = (struct cio){ r->slot0[i], CACHE_SLOT_SIZE,
					       cache_slot_off(r->idx[i]), true, COOKIE(i, IO_SLOT0) };
		if (!r->inval[i])
			v[n++] = (struct cio){ (char *)req->buf + (lo - req->offset), hi - lo,
					       cache_data_off(&c->sb, r->idx[i]) + (lo - bstart),
					       dsync, COOKIE(i, IO_DATA), true };
		if (slot)
			v[n++] = (struct cio){ r->slot[i], CACHE_SLOT_SIZE,
					       cache_slot_off(r->idx[i]), wb || r->inval[i],
					       COOKIE(i, IO_SLOT) };
		if (!cache_run_chain(f, req, i, v, n))
			r->failed[i] = true;
	}
	if (!wb && !backing_write(f, req))
		r->berr = -EBUSY;
	if (r->inflight)
		return FILTER_PENDING;
	if (c->in_memory && !r->berr)
		return cache_change_settle(f, req, true);
	pthread_mutex_lock(&c->lock);
	cache_undo_locks(c, r);
	cache_writes_end(c, r);
	pthread_mutex_unlock(&c->lock);
	return -EBUSY;
}

/* A write (first try or a retry after a wait): CONTINUE, COMPLETE, PENDING or -errno. */
int cache_write_start(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	uint64_t lo, hi, touch, full;
	bool seq, cls, present = false, dirty = false, around;
	unsigned int i;
	int err;

	err = cache_req_begin(c, req, r);
	if (err)
		return err;
	cls = cache_class_bypassed(f, req);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < r->nblk; i++) {
		r->idx[i] = q2_lookup(c->q, r->first + i);
		if (r->idx[i] == Q2_NONE)
			continue;
		if (c->b[r->idx[i]].locked) {
			park(f, req);
			pthread_mutex_unlock(&c->lock);
			return FILTER_PENDING;
		}
		blk_range(c, req, i, &lo, &hi);
		blk_masks(c, (r->first + i) * c->bs, lo, hi, &touch, &full);
		present = true;
		dirty |= !!(c->b[r->idx[i]].dirty & touch);
	}
	cache_writes_begin(c, r);
	/* a class the cache bypasses is written like a long stream: around it */
	seq = cache_sequential(c, req) || cls;
	if (seq)
		atomic_fetch_add(&c->bypassed, 1);
	if (cls)
		atomic_fetch_add(&c->bypassed_class, 1);
	atomic_fetch_add(present ? &c->write_hits : &c->write_misses, 1);
	if (c->degraded) {
		/* the cache cannot be written: its copies go, dirty data fails loudly */
		if (dirty) {
			cache_writes_end(c, r);
			pthread_mutex_unlock(&c->lock);
			return -EIO;
		}
		for (i = 0; i < r->nblk; i++) {
			if (r->idx[i] == Q2_NONE)
				continue;
			blk_range(c, req, i, &lo, &hi);
			blk_masks(c, (r->first + i) * c->bs, lo, hi, &touch, &full);
			c->b[r->idx[i]].valid &= ~touch;
		}
		pthread_mutex_unlock(&c->lock);
		return FILTER_CONTINUE;
	}
	/* on hold the dirty data only shrinks: writes go through, so a flush ends */
	if (c->mode == MODE_WRITEBACK && !seq && !cache_held(c) &&
	    plan_writeback(c, req, r)) {
		r->kind = K_WRITE_WB;
		pthread_mutex_unlock(&c->lock);
		return issue_write(f, req);
	}
	around = c->mode == MODE_WRITEAROUND || (c->mode == MODE_WRITEBACK && seq);
	plan_through(c, req, r, around);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < r->nblk; i++)
		if (r->locked[i])
			break;
	if (i == r->nblk)
		return FILTER_CONTINUE;
	r->kind = K_WRITE_WT;
	return issue_write(f, req);
}

/*
 * Under the lock: block i of a fill or write whose cache I/O failed (or
 * whose backing write failed). Returns true when dirty data is at stake.
 */
static bool block_failed(struct cache *c, struct creq *r, unsigned int i)
{
	struct cblock *b = &c->b[r->idx[i]];

	if (b->dirty) {
		/* a fill never touched the dirty sub-blocks; a write may have */
		return r->kind != K_FILL && r->failed[i];
	}
	/* the cache's copy cannot be trusted; the backing has the data */
	b->valid = 0;
	q2_release(c->q, r->idx[i]);
	return false;
}

/*
 * A fill or a write whose cache I/O is done: apply what succeeded, unlock,
 * and return the request's verdict. @inline: called from the request's own
 * callback, so writes waiting for its blocks are woken through the queue's
 * wake (never retried from inside another request's handling).
 */
int cache_change_settle(struct filter *f, struct filter_req *req, bool inline_)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct cblock *b;
	bool lost = false, failed = false;
	unsigned int i;
	int verdict;

	for (i = 0; i < r->nblk; i++)
		failed |= r->locked[i] && r->failed[i];
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < r->nblk; i++) {
		if (!r->locked[i])
			continue;
		b = &c->b[r->idx[i]];
		b->locked = false;
		if (r->failed[i] || r->berr) {
			lost |= block_failed(c, r, i);
			continue;
		}
		cache_dirty_account(c, b->dirty, b->dirty | r->setd[i]);
		b->valid |= r->setv[i];
		b->dirty |= r->setd[i];
		/* the write-back under way carries older data: these stay dirty */
		if (b->wb && r->kind != K_FILL)
			b->redirty |= r->touch[i];
	}
	if (failed)
		c->degraded = true;
	switch (r->kind) {
	case K_FILL:
		verdict = FILTER_CONTINUE;
		break;
	case K_WRITE_WB:
		if (failed && !lost) {
			/* not in the cache after all: to the backing, counted till it is back */
			verdict = FILTER_CONTINUE;
			break;
		}
		req->result = lost ? -EIO : (int)req->len;
		verdict = FILTER_COMPLETE;
		break;
	default:
		req->result = r->berr ? r->berr : lost ? -EIO : (int)req->len;
		verdict = FILTER_COMPLETE;
	}
	if (verdict == FILTER_COMPLETE)
		cache_writes_end(c, r);
	pthread_mutex_unlock(&c->lock);
	if (failed)
		atomic_fetch_add(&c->errors, 1);
	if (inline_ && atomic_load(&c->waiting))
		filter_queue_wake(req->fq);
	return verdict;
}

void cache_change_finish(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	int verdict = cache_change_settle(f, req, false);

	/* a fill is a read on its way up: a staged one has its data to deliver */
	if (r->kind == K_FILL)
		cache_read_resume(f, req, verdict);
	else
		filter_resume(req, verdict);
	cache_unlocked(f, req->fq);
}
