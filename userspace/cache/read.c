// SPDX-License-Identifier: GPL-2.0
/*
 * read.c - the cache's read path: a hit is read from the cache device
 * (inline when the page cache has it), a partial hit lays the cached
 * sub-blocks over the backing's data, and a miss is admitted (filled) on
 * its way up.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "cache/cache.h"

/*
 * Sub-blocks [s, e] of the request's i-th block, clipped to the request:
 * the disk bytes [*a, *z) and their place in the cache device.
 */
static uint64_t overlay_run(const struct cache *c, const struct filter_req *req,
			    const struct creq *r, unsigned int i, unsigned int s, unsigned int e,
			    uint64_t *a, uint64_t *z)
{
	uint64_t lo, hi, bstart = (r->first + i) * c->bs;

	blk_range(c, req, i, &lo, &hi);
	*a = bstart + (uint64_t)s * CACHE_SUB_SIZE;
	*z = bstart + (uint64_t)(e + 1) * CACHE_SUB_SIZE;
	if (*a < lo)
		*a = lo;
	if (*z > hi)
		*z = hi;
	return cache_data_off(&c->sb, r->idx[i]) + (*a - bstart);
}

/*
 * The cache reads of a hit done here when the page cache has them
 * (RWF_NOWAIT, as the engine reads a buffered backing). false: some were
 * not there, read them on the ring.
 */
static bool overlay_inline(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	unsigned int i, s, e, from;
	struct iovec iov;
	uint64_t a, z, off;

	/*
	 * Zero copy: on the ring. A cache in memory could copy a hit with
	 * filter_copy_data(), but on 7.3 under TCG bench/cache's 64 KiB hits
	 * then ran at 0.44 of dm-cache, 0.85-1.01 on the ring in the runs
	 * around it: the queue's thread makes every copy itself.
	 */
	if (req->buf_index >= 0)
		return false;
	for (i = 0; i < r->nblk; i++) {
		for (from = 0; mask_run(r->vmask[i], from, &s, &e); from = e + 1) {
			off = overlay_run(c, req, r, i, s, e, &a, &z);
			iov = (struct iovec){ (char *)req->buf + (a - req->offset), z - a };
			if (preadv2(c->fd, &iov, 1, off, c->in_memory ? 0 : RWF_NOWAIT) !=
			    (ssize_t)(z - a))
				return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------ staging -- */

static uint64_t stage_off(const struct cache *c, const struct filter_req *req)
{
	return ((uint64_t)req->fq->id * c->depth + req->tag) * STAGE_SIZE;
}

/*
 * Zero copy (the data in the request's pages): a read to be admitted reads
 * through its tag's stage slot (cache.h).
 */
static void stage_take(struct filter *f, struct filter_req *req, struct creq *r)
{
	struct cache *c = f->priv;

	if (req->buf_index < 0 || !r->admit)
		return;
	if (c->stage_fd < 0 || req->len > STAGE_SIZE || req->tag >= c->depth) {
		r->admit = false;
		return;
	}
	r->stage = true;
	r->own_buf = req->buf;
	r->own_index = req->buf_index;
	req->buf = c->stage + stage_off(c, req);
	req->buf_index = -1;
}

/* The request's own buffer back. */
static void stage_restore(struct filter_req *req, struct creq *r)
{
	req->buf = r->own_buf;
	req->buf_index = r->own_index;
	r->stage = false;
}

/*
 * A read turns up with @verdict: a staged one first has its data read from
 * the stage into the request's pages (FILTER_PENDING until then).
 */
int cache_read_up(struct filter *f, struct filter_req *req, int verdict)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqe;
	uint64_t off;

	if (!r->stage)
		return verdict;
	off = stage_off(c, req);
	stage_restore(req, r);
	if (verdict < 0 || req->result <= 0)
		return verdict;
	sqe = filter_get_sqe(f, req, COOKIE(0, IO_STAGE));
	if (!sqe) {
		req->result = -EIO;
		return verdict;
	}
	filter_prep_data(sqe, req, false, c->stage_file, 0, req->len, off);
	r->inflight++;
	r->up = verdict;
	return FILTER_PENDING;
}

void cache_stage_done(struct filter *f, struct filter_req *req, int res)
{
	struct creq *r = filter_req_priv(f, req);

	if (res != (int)req->len)
		req->result = res < 0 ? res : -EIO;
	filter_resume(req, r->up);
}

/* Given up at the drain: the request's own buffer back. */
void cache_stage_drop(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);

	if (r->stage)
		stage_restore(req, r);
}

void cache_read_resume(struct filter *f, struct filter_req *req, int verdict)
{
	verdict = cache_read_up(f, req, verdict);
	if (verdict != FILTER_PENDING)
		filter_resume(req, verdict);
}

/* ------------------------------------------------------------ overlays -- */

/* Issue the next cache reads of the overlay; the number in flight. */
int cache_overlay_issue(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqe;
	unsigned int i, s, e;
	uint64_t a, z, off;

	while (r->cur_blk < r->nblk && r->inflight < OVERLAY_BATCH) {
		i = r->cur_blk;
		if (!mask_run(r->vmask[i], r->cur_sub, &s, &e)) {
			r->cur_blk++;
			r->cur_sub = 0;
			continue;
		}
		r->cur_sub = e + 1;
		if (r->cur_sub >= CACHE_SUBS_MAX) {
			r->cur_blk++;
			r->cur_sub = 0;
		}
		off = overlay_run(c, req, r, i, s, e, &a, &z);
		sqe = filter_get_sqe(f, req, COOKIE(i, IO_CREAD));
		if (!sqe) {
			r->berr = -EBUSY;
			break;
		}
		r->inflight++;
		cache_prep_data(c, sqe, req, false, (char *)req->buf + (a - req->offset), z - a,
				off, false);
	}
	return r->inflight;
}

/* Under no lock: drop the pins of a read. */
static void read_unpin(struct cache *c, struct creq *r)
{
	unsigned int i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < r->nblk; i++)
		if (r->vmask[i])
			c->b[r->idx[i]].busy--;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The cache reads of a (partial) hit: 1 done inline, 0 under way on the
 * ring, -EIO when none could start. The pins go once the reads are done.
 */
static int overlay_start(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;

	if (overlay_inline(f, req)) {
		read_unpin(c, r);
		return 1;
	}
	if (!cache_overlay_issue(f, req)) {
		read_unpin(c, r);
		return -EIO;
	}
	return 0;
}

int cache_read_start(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	uint64_t lo, hi, touch, full, any = 0;
	bool all = true, seq, cls;
	unsigned int i;
	int err;

	err = cache_req_begin(c, req, r);
	if (err)
		return err;
	cls = cache_class_bypassed(f, req);
	pthread_mutex_lock(&c->lock);
	/* a class the cache bypasses is read like a long stream: hits, no admission */
	seq = cache_sequential(c, req) || cls;
	for (i = 0; i < r->nblk; i++) {
		blk_range(c, req, i, &lo, &hi);
		blk_masks(c, (r->first + i) * c->bs, lo, hi, &touch, &full);
		r->idx[i] = q2_lookup(c->q, r->first + i);
		if (r->idx[i] != Q2_NONE)
			r->vmask[i] = c->b[r->idx[i]].valid & touch;
		if (r->vmask[i] != touch)
			all = false;
		any |= r->vmask[i];
	}
	r->gen = c->gen;
	r->admit = !seq && !c->degraded;
	if (!any) {
		r->kind = K_READ_MISS;
		pthread_mutex_unlock(&c->lock);
		stage_take(f, req, r);
		atomic_fetch_add(&c->read_misses, 1);
		if (seq)
			atomic_fetch_add(&c->bypassed, 1);
		if (cls)
			atomic_fetch_add(&c->bypassed_class, 1);
		return FILTER_CONTINUE;
	}
	for (i = 0; i < r->nblk; i++) {
		if (!r->vmask[i])
			continue;
		c->b[r->idx[i]].busy++;
		q2_touch(c->q, r->idx[i]);
	}
	pthread_mutex_unlock(&c->lock);
	if (!all) {
		/* the backing first, the cache's sub-blocks over it in completion */
		r->kind = K_READ_MIXED;
		atomic_fetch_add(&c->read_misses, 1);
		stage_take(f, req, r);
		return FILTER_CONTINUE;
	}
	r->kind = K_READ_HIT;
	atomic_fetch_add(&c->read_hits, 1);
	err = overlay_start(f, req);
	if (err <= 0)
		return err ?: FILTER_PENDING;
	req->result = req->len;
	return FILTER_COMPLETE;
}

/* A miss came back from the backing: write what it brought into the cache. */
int cache_fill_start(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	uint64_t lo, hi, touch, full, bb, a, z;
	unsigned int i, n, s, e;
	bool filled = false;
	struct cblock *b;
	struct cio v[3];

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < r->nblk && !c->degraded; i++) {
		bb = r->first + i;
		blk_range(c, req, i, &lo, &hi);
		blk_masks(c, bb * c->bs, lo, hi, &touch, &full);
		if (!full || !cache_fill_allowed(c, bb, r->gen))
			continue;
		r->idx[i] = q2_lookup(c->q, bb);
		if (r->idx[i] != Q2_NONE) {
			b = &c->b[r->idx[i]];
			if (b->locked || !(full & ~b->valid))
				continue;
			b->locked = true;
		} else {
			r->idx[i] = cache_block_alloc(c, bb, &r->reused[i]);
			if (r->idx[i] == Q2_NONE)
				continue;
			r->fresh[i] = true;
		}
		b = &c->b[r->idx[i]];
		r->locked[i] = true;
		r->setv[i] = full & ~b->valid;
		/* the slot forgets the evicted block before its data is overwritten */
		if (r->reused[i])
			cache_encode_slot(c, r->slot0[i], bb, 0, 0);
		cache_encode_slot(c, r->slot[i], bb, b->valid | r->setv[i], b->dirty);
		/*
		 * One write from the first new sub-block to the last: what lies
		 * between is valid and clean (no write since the read began), so
		 * it is rewritten with the same data.
		 */
		s = __builtin_ctzll(r->setv[i]);
		e = 63 - __builtin_clzll(r->setv[i]);
		a = bb * c->bs + (uint64_t)s * CACHE_SUB_SIZE;
		z = bb * c->bs + (uint64_t)(e + 1) * CACHE_SUB_SIZE;
		if (z > hi)
			z = hi;
		n = 0;
		if (r->reused[i])
			v[n++] = (struct cio){ r->slot0[i], CACHE_SLOT_SIZE,
					       cache_slot_off(r->idx[i]), true, COOKIE(i, IO_SLOT0) };
		v[n++] = (struct cio){ (char *)req->buf + (a - req->offset), z - a,
				       cache_data_off(&c->sb, r->idx[i]) + (a - bb * c->bs), true,
				       COOKIE(i, IO_DATA), true };
		v[n++] = (struct cio){ r->slot[i], CACHE_SLOT_SIZE, cache_slot_off(r->idx[i]), false,
				       COOKIE(i, IO_SLOT) };
		if (!cache_run_chain(f, req, i, v, n)) {
			b->locked = false;
			r->locked[i] = false;
			if (r->fresh[i])
				q2_release(c->q, r->idx[i]);
			continue;
		}
		filled = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (!filled)
		return FILTER_CONTINUE;
	r->kind = K_FILL;
	atomic_fetch_add(&c->fills, 1);
	if (r->inflight)
		return FILTER_PENDING;
	/* done inline: settle now; a write waiting for these blocks is woken */
	return cache_change_settle(f, req, true);
}

void cache_read_finish(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	bool dirty = false, failed = r->berr != 0;
	unsigned int i;

	for (i = 0; i < r->nblk; i++)
		failed |= r->failed[i];
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < r->nblk; i++) {
		if (!r->vmask[i])
			continue;
		c->b[r->idx[i]].busy--;
		dirty |= !!(c->b[r->idx[i]].dirty & r->vmask[i]);
	}
	if (failed)
		c->degraded = true;
	pthread_mutex_unlock(&c->lock);
	if (failed) {
		atomic_fetch_add(&c->errors, 1);
		/* a clean hit is read again from the backing; dirty data is lost loudly */
		if (r->kind == K_READ_HIT && !dirty) {
			cache_read_resume(f, req, FILTER_CONTINUE);
			return;
		}
		req->result = -EIO;
		cache_read_resume(f, req, r->kind == K_READ_HIT ? FILTER_COMPLETE : FILTER_CONTINUE);
		return;
	}
	if (r->kind == K_READ_HIT) {
		req->result = req->len;
		cache_read_resume(f, req, FILTER_COMPLETE);
		return;
	}
	/* a partial hit: the buffer is whole now, its missing sub-blocks are admitted */
	if (r->admit && cache_fill_start(f, req) == FILTER_PENDING)
		return;
	cache_read_resume(f, req, FILTER_CONTINUE);
}

/* A read back from the backing: admit a miss, lay a partial hit's cached sub-blocks over it. */
static int read_completion(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	int err;

	if (r->kind == K_READ_MISS) {
		if (req->result != (int)req->len || !r->admit)
			return FILTER_CONTINUE;
		return cache_fill_start(f, req);
	}
	if (r->kind != K_READ_MIXED)
		return FILTER_CONTINUE;
	if (req->result < 0) {
		read_unpin(c, r);
		return FILTER_CONTINUE;
	}
	err = overlay_start(f, req);
	if (err <= 0)
		return err ?: FILTER_PENDING;
	return r->admit ? cache_fill_start(f, req) : FILTER_CONTINUE;
}

int cache_read_completion(struct filter *f, struct filter_req *req)
{
	int verdict = read_completion(f, req);

	return verdict == FILTER_PENDING ? verdict : cache_read_up(f, req, verdict);
}
