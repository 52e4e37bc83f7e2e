// SPDX-License-Identifier: GPL-2.0
/*
 * cache.c - the cache filter: a fast device (a file or a block device) in
 * front of the backing, write-through, write-back or write-around, with
 * persistent metadata (cache/format.h) and 2Q eviction (cache/policy2q.h).
 * docs/cache.md says why it is built this way; in short:
 *
 * - Reads: sub-blocks valid in the cache come from it; a read that misses
 *   entirely goes down and is admitted on its way up (the cache write
 *   finishes before the read does); a partial hit reads the backing and
 *   lays the cached sub-blocks over it.
 * - Writes in write-back: data, then the block's slot, each RWF_DSYNC, on
 *   the cache device, then the ack; a sub-block the write covers only in
 *   part must be valid already (no read-modify-write), or the write goes
 *   through. Write-through writes the cache's present blocks and the
 *   backing in parallel; write-around writes the backing and invalidates
 *   (slot RWF_DSYNC) what it overwrote.
 * - A block changes state (fill, write, invalidation, write-back) under its
 *   lock bit; a write that finds a locked block waits in its queue's list
 *   and is retried when a block unlocks. Reads never wait: in-flight reads
 *   of a block pin it (busy) against eviction.
 * - Dirty blocks are written back by every queue in the background.
 * - A cache I/O error sets the cache degraded: no more admissions, writes
 *   go to the backing, and a write or read that needs dirty data it cannot
 *   trust fails with -EIO rather than return stale data.
 *
 * One mutex guards the metadata; it is never held across I/O.
 *
 * Args: device=PATH (required), mode=writethrough|writeback|writearound,
 * size=SIZE (a file is grown to it), block_size=SIZE (32KiB..256KiB),
 * sequential_cutoff=SIZE (0: off), writeback_interval=DURATION (how often
 * each queue looks for dirty blocks when it has none in hand; 20ms).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <liburing.h>

#include "cache/format.h"
#include "cache/policy2q.h"
#include "filters/chain.h"
#include "filters/filter.h"
#include "filters/registry.h"
#include "lib/units.h"

#define CACHE_QUEUES		64
#define REQ_BLOCKS		17	/* 512 KiB requests over 32 KiB blocks, unaligned */
#define BLOCK_MIN		(32u << 10)
#define OVERLAY_BATCH		16	/* cache reads of one request in flight */
#define WB_SLOTS		4	/* write-backs in flight per queue */
#define WB_INTERVAL_NS		(20 * 1000000ull)
#define STREAMS			16
#define STAMPS			4096
#define DEFAULT_CUTOFF		(4u << 20)	/* bcache's sequential_cutoff */

enum cache_mode { MODE_WRITETHROUGH, MODE_WRITEBACK, MODE_WRITEAROUND };

/* what a request is doing, in its scratch */
enum { K_NONE, K_READ_MISS, K_READ_MIXED, K_READ_HIT, K_FILL, K_WRITE_WB, K_WRITE_WT,
       K_FLUSH };

/* the io of a request's own I/O, in its cookie's low bits; the block's index above */
enum { IO_SLOT0, IO_DATA, IO_SLOT, IO_BACKING, IO_CREAD, IO_FSYNC };
#define COOKIE(i, io)	((uint32_t)(i) << 4 | (io))

/* background cookies */
#define BG_TIMER	1
#define BG_WB(slot, st)	(0x100 | (uint64_t)(slot) << 4 | (st))
enum { WB_READ = 1, WB_WRITE, WB_SLOT };

struct cblock {
	uint64_t valid, dirty;
	uint64_t redirty;		/* written while a write-back of it is under way */
	uint32_t busy;			/* cache reads in flight */
	bool locked;			/* a state change in flight */
	bool wb;			/* a write-back under way (it holds the lock only
					 * to read the cache and to write the slot) */
};

struct stream {
	uint64_t end, len;
	uint64_t used;
};

struct cache {
	pthread_mutex_t lock;
	int fd;
	int file;			/* fixed-file index */
	struct cache_sb sb;
	enum cache_mode mode;
	uint64_t cutoff;
	uint64_t wb_interval_ns;
	uint64_t disk_size;
	uint32_t bs;			/* block size */
	struct q2 *q;
	struct cblock *b;
	uint64_t seq;			/* next slot sequence number */
	bool degraded;
	bool in_memory;			/* tmpfs/ramfs: cache I/O is a copy, done inline */
	uint64_t gen;			/* write stamps: a fill of older data is dropped */
	uint64_t stamps[STAMPS];
	uint32_t winflight[STAMPS];	/* writes in flight per stamp slot */
	struct stream streams[STREAMS];
	uint64_t stream_clock;
	uint32_t wb_cursor;
	struct filter_queue *fqs[CACHE_QUEUES];
	atomic_uint waiting;		/* requests parked on any queue */
	/* stats */
	atomic_uint_fast64_t read_hits, read_misses, write_hits, write_misses;
	atomic_uint_fast64_t dirty_bytes, written_back, bypassed, fills, errors;
	atomic_uint_fast64_t evictions;
};

struct creq {
	uint8_t kind;
	uint8_t nblk;
	bool parked;
	bool admit;
	bool has_backing;		/* its own write to the backing */
	int berr;			/* the backing's result, -errno */
	uint16_t inflight;
	uint64_t first;			/* first backing block */
	uint64_t gen;			/* stamp when a read missed */
	uint32_t idx[REQ_BLOCKS];	/* Q2_NONE: not in the cache */
	uint64_t vmask[REQ_BLOCKS];	/* reads: sub-blocks from the cache */
	uint64_t setv[REQ_BLOCKS], setd[REQ_BLOCKS], touch[REQ_BLOCKS];
	bool counted;			/* in c->winflight until writes_end() */
	/* per block: locked by this request, newly mapped, mapped over an evicted
	 * block (its slot is rewritten first), write-around invalidation only,
	 * its cache I/O failed */
	bool locked[REQ_BLOCKS], fresh[REQ_BLOCKS], reused[REQ_BLOCKS], inval[REQ_BLOCKS];
	bool failed[REQ_BLOCKS];
	uint8_t cur_blk, cur_sub;	/* overlay cursor */
	uint8_t slot0[REQ_BLOCKS][CACHE_SLOT_SIZE];
	uint8_t slot[REQ_BLOCKS][CACHE_SLOT_SIZE];
};

struct wb {
	void *buf;
	uint32_t idx;
	uint64_t bblock;
	uint64_t mask;			/* the dirty sub-blocks being written back */
	uint16_t inflight;
	bool busy, err;
	bool holds;			/* it holds the block's lock */
	bool wait_slot;			/* the backing has it; waiting for the lock */
	uint8_t slot[CACHE_SLOT_SIZE];
};

struct cache_queue {
	struct filter_req **parked;
	uint32_t nparked, maxparked;
	struct wb wb[WB_SLOTS];
	bool draining;
	bool timer;
	bool in_unlocked;		/* unlocked() is retrying a write-back's slot */
};

static int handle_write(struct filter *f, struct filter_req *req);
static int settle_change(struct filter *f, struct filter_req *req, bool inline_);
static void wb_slot(struct filter *f, struct filter_queue *fq, unsigned int s);

/* ------------------------------------------------------------ geometry -- */

static uint64_t bits(unsigned int a, unsigned int b)
{
	unsigned int n = b - a + 1;

	return (n >= 64 ? ~0ull : ((1ull << n) - 1)) << a;
}

/* The part of the request in its i-th block: [lo, hi) in disk bytes. */
static void blk_range(const struct cache *c, const struct filter_req *req, unsigned int i,
		      uint64_t *lo, uint64_t *hi)
{
	uint64_t start = (req->offset / c->bs + i) * c->bs, end = start + c->bs;
	uint64_t rend = req->offset + req->len;

	*lo = req->offset > start ? req->offset : start;
	*hi = rend < end ? rend : end;
}

/* Sub-blocks of the block at @bstart that [lo, hi) touches, and those it covers whole. */
static void blk_masks(const struct cache *c, uint64_t bstart, uint64_t lo, uint64_t hi,
		      uint64_t *touch, uint64_t *full)
{
	unsigned int s0 = (lo - bstart) / CACHE_SUB_SIZE, s1 = (hi - 1 - bstart) / CACHE_SUB_SIZE;
	unsigned int s;

	*touch = bits(s0, s1);
	*full = 0;
	for (s = s0; s <= s1; s++) {
		uint64_t a = bstart + (uint64_t)s * CACHE_SUB_SIZE, z = a + CACHE_SUB_SIZE;

		if (z > c->disk_size)
			z = c->disk_size;
		if (lo <= a && hi >= z)
			*full |= 1ull << s;
	}
}

static unsigned int req_nblocks(const struct cache *c, const struct filter_req *req)
{
	return (req->offset + req->len - 1) / c->bs - req->offset / c->bs + 1;
}

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
static void writes_begin(struct cache *c, struct creq *r)
{
	unsigned int i;

	for (i = 0; i < r->nblk; i++) {
		c->winflight[stamp_slot(r->first + i)]++;
		stamp(c, r->first + i);
	}
	r->counted = true;
}

static void writes_end(struct cache *c, struct creq *r)
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

static bool fill_allowed(const struct cache *c, uint64_t bblock, uint64_t gen)
{
	uint64_t h = stamp_slot(bblock);

	return !c->winflight[h] && c->stamps[h] <= gen;
}

/* Under the lock: give back every block the request locked. */
static void undo_locks(struct cache *c, struct creq *r)
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
static bool sequential(struct cache *c, const struct filter_req *req)
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
static uint32_t block_alloc(struct cache *c, uint64_t bblock, bool *reused)
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

static void encode_slot(struct cache *c, void *buf, uint64_t bblock, uint64_t valid,
			uint64_t dirty)
{
	struct cache_slot s = { bblock, valid, dirty, c->seq++ };

	cache_slot_encode(&s, c->sb.gen, buf);
}

static void dirty_account(struct cache *c, uint64_t before, uint64_t after)
{
	int64_t d = (int64_t)__builtin_popcountll(after) - __builtin_popcountll(before);

	if (d > 0)
		atomic_fetch_add(&c->dirty_bytes, (uint64_t)d * CACHE_SUB_SIZE);
	else if (d < 0)
		atomic_fetch_sub(&c->dirty_bytes, (uint64_t)-d * CACHE_SUB_SIZE);
}

/* ---------------------------------------------------------- waiting -- */

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
static void retry_parked(struct filter *f, struct filter_queue *fq)
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
		v = handle_write(f, req);
		/* handle_write parked it again at cq->parked[keep] */
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
static void unlocked(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	int i;

	for (i = 0; i < WB_SLOTS; i++)
		if (cq->wb[i].busy && cq->wb[i].wait_slot && !cq->in_unlocked) {
			cq->in_unlocked = true;
			wb_slot(f, fq, i);
			cq->in_unlocked = false;
		}
	if (!atomic_load(&c->waiting))
		return;
	retry_parked(f, fq);
	if (!atomic_load(&c->waiting))
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CACHE_QUEUES; i++)
		if (c->fqs[i] && c->fqs[i] != fq)
			filter_queue_wake(c->fqs[i]);
	pthread_mutex_unlock(&c->lock);
}

static void cache_wake(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);

	if (cq->nparked)
		retry_parked(f, fq);
}

/* ------------------------------------------------------------ own I/O -- */

static void prep_cache_rw(struct cache *c, struct io_uring_sqe *sqe, bool write, void *buf,
			  uint32_t len, uint64_t off, bool dsync)
{
	if (write)
		io_uring_prep_write(sqe, c->file, buf, len, off);
	else
		io_uring_prep_read(sqe, c->file, buf, len, off);
	sqe->flags |= IOSQE_FIXED_FILE;
	if (dsync)
		sqe->rw_flags = RWF_DSYNC;
}

/* One write of a block's chain (cache/format.h order: slot0, data, slot). */
struct cio {
	void *buf;
	uint32_t len;
	uint64_t off;
	bool dsync;
	uint32_t cookie;
};

/*
 * Block @blk's writes in order: on a cache in memory, done here (a copy;
 * RWF_DSYNC costs nothing there); else n linked SQEs, so each starts
 * after the one before succeeded. false when the ring has no room.
 */
static bool run_chain(struct filter *f, struct filter_req *req, unsigned int blk,
		      const struct cio *v, unsigned int n)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqes[4];
	uint32_t cookies[4];
	unsigned int i;

	if (c->in_memory) {
		for (i = 0; i < n; i++) {
			struct iovec iov = { v[i].buf, v[i].len };

			if (pwritev2(c->fd, &iov, 1, v[i].off, v[i].dsync ? RWF_DSYNC : 0) !=
			    (ssize_t)v[i].len) {
				r->failed[blk] = true;
				break;
			}
		}
		return true;
	}
	for (i = 0; i < n; i++)
		cookies[i] = v[i].cookie;
	if (filter_get_sqes(f, req, sqes, cookies, n))
		return false;
	for (i = 0; i < n; i++) {
		prep_cache_rw(c, sqes[i], true, v[i].buf, v[i].len, v[i].off, v[i].dsync);
		if (i + 1 < n)
			sqes[i]->flags |= IOSQE_IO_LINK;
	}
	r->inflight += n;
	return true;
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
	uint64_t lo, hi, bstart, a, z;
	unsigned int i, s, e;
	struct iovec iov;

	for (i = 0; i < r->nblk; i++) {
		blk_range(c, req, i, &lo, &hi);
		bstart = (r->first + i) * c->bs;
		for (s = 0; s < CACHE_SUBS_MAX; s = e + 1) {
			if (!(r->vmask[i] >> s))
				break;
			s += __builtin_ctzll(r->vmask[i] >> s);
			e = s;
			while (e + 1 < CACHE_SUBS_MAX && (r->vmask[i] >> (e + 1) & 1))
				e++;
			a = bstart + (uint64_t)s * CACHE_SUB_SIZE;
			z = bstart + (uint64_t)(e + 1) * CACHE_SUB_SIZE;
			if (a < lo)
				a = lo;
			if (z > hi)
				z = hi;
			iov = (struct iovec){ (char *)req->buf + (a - req->offset), z - a };
			if (preadv2(c->fd, &iov, 1, cache_data_off(&c->sb, r->idx[i]) +
				    (a - bstart), c->in_memory ? 0 : RWF_NOWAIT) != (ssize_t)(z - a))
				return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------- reads -- */

/* Issue the next cache reads of the overlay; the number in flight. */
static int overlay_issue(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqe;
	uint64_t lo, hi, bstart, a, z;
	unsigned int s, e;

	while (r->cur_blk < r->nblk && r->inflight < OVERLAY_BATCH) {
		unsigned int i = r->cur_blk;
		uint64_t m = r->vmask[i] >> r->cur_sub;

		if (!m) {
			r->cur_blk++;
			r->cur_sub = 0;
			continue;
		}
		s = r->cur_sub + __builtin_ctzll(m);
		e = s;
		while (e + 1 < CACHE_SUBS_MAX && (r->vmask[i] >> (e + 1) & 1))
			e++;
		r->cur_sub = e + 1;
		if (r->cur_sub >= CACHE_SUBS_MAX) {
			r->cur_blk++;
			r->cur_sub = 0;
		}
		blk_range(c, req, i, &lo, &hi);
		bstart = (r->first + i) * c->bs;
		a = bstart + (uint64_t)s * CACHE_SUB_SIZE;
		z = bstart + (uint64_t)(e + 1) * CACHE_SUB_SIZE;
		if (a < lo)
			a = lo;
		if (z > hi)
			z = hi;
		sqe = filter_get_sqe(f, req, COOKIE(i, IO_CREAD));
		if (!sqe) {
			r->berr = -EBUSY;
			break;
		}
		r->inflight++;
		prep_cache_rw(c, sqe, false, (char *)req->buf + (a - req->offset), z - a,
			      cache_data_off(&c->sb, r->idx[i]) + (a - bstart), false);
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

static int cache_read(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	uint64_t lo, hi, touch, full, any = 0;
	bool all = true, seq;
	unsigned int i;

	memset(r, 0, offsetof(struct creq, slot0));
	r->nblk = req_nblocks(c, req);
	r->first = req->offset / c->bs;
	if (r->nblk > REQ_BLOCKS)
		return -EIO;
	pthread_mutex_lock(&c->lock);
	seq = sequential(c, req);
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
		atomic_fetch_add(&c->read_misses, 1);
		if (seq)
			atomic_fetch_add(&c->bypassed, 1);
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
		return FILTER_CONTINUE;
	}
	r->kind = K_READ_HIT;
	atomic_fetch_add(&c->read_hits, 1);
	if (overlay_inline(f, req)) {
		read_unpin(c, r);
		req->result = req->len;
		return FILTER_COMPLETE;
	}
	if (!overlay_issue(f, req)) {
		read_unpin(c, r);
		return -EIO;
	}
	return FILTER_PENDING;
}

/* A miss came back from the backing: write what it brought into the cache. */
static int fill_start(struct filter *f, struct filter_req *req)
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
		if (!full || !fill_allowed(c, bb, r->gen))
			continue;
		r->idx[i] = q2_lookup(c->q, bb);
		if (r->idx[i] != Q2_NONE) {
			b = &c->b[r->idx[i]];
			if (b->locked || !(full & ~b->valid))
				continue;
			b->locked = true;
		} else {
			r->idx[i] = block_alloc(c, bb, &r->reused[i]);
			if (r->idx[i] == Q2_NONE)
				continue;
			r->fresh[i] = true;
		}
		b = &c->b[r->idx[i]];
		r->locked[i] = true;
		r->setv[i] = full & ~b->valid;
		/* the slot forgets the evicted block before its data is overwritten */
		if (r->reused[i])
			encode_slot(c, r->slot0[i], bb, 0, 0);
		encode_slot(c, r->slot[i], bb, b->valid | r->setv[i], b->dirty);
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
				       COOKIE(i, IO_DATA) };
		v[n++] = (struct cio){ r->slot[i], CACHE_SLOT_SIZE, cache_slot_off(r->idx[i]), false,
				       COOKIE(i, IO_SLOT) };
		if (!run_chain(f, req, i, v, n)) {
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
	return settle_change(f, req, true);
}

/* ------------------------------------------------------------- writes -- */

/* The request's own write to the backing, beside its cache writes. */
static bool backing_write(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct io_uring_sqe *sqe;

	sqe = filter_get_sqe(f, req, COOKIE(0, IO_BACKING));
	if (!sqe)
		return false;
	io_uring_prep_write(sqe, FILTER_FILE_BACKING, req->buf, req->len,
			    req->offset + chain_data_offset(f->chain));
	sqe->flags |= IOSQE_FIXED_FILE;
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
			r->idx[i] = block_alloc(c, r->first + i, &r->reused[i]);
			if (r->idx[i] == Q2_NONE) {
				/* full of dirty or busy blocks: through, gracefully */
				undo_locks(c, r);
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
			encode_slot(c, r->slot0[i], r->first + i, 0, 0);
		encode_slot(c, r->slot[i], r->first + i, c->b[r->idx[i]].valid | full,
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
			encode_slot(c, r->slot[i], r->first + i, b->valid, b->dirty);
			continue;
		}
		r->setv[i] = full & ~b->valid;
		encode_slot(c, r->slot[i], r->first + i, b->valid | r->setv[i], b->dirty);
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
					       dsync, COOKIE(i, IO_DATA) };
		if (slot)
			v[n++] = (struct cio){ r->slot[i], CACHE_SLOT_SIZE,
					       cache_slot_off(r->idx[i]), wb || r->inval[i],
					       COOKIE(i, IO_SLOT) };
		if (!run_chain(f, req, i, v, n))
			r->failed[i] = true;
	}
	if (!wb && !backing_write(f, req))
		r->berr = -EBUSY;
	if (r->inflight)
		return FILTER_PENDING;
	if (c->in_memory && !r->berr)
		return settle_change(f, req, true);
	pthread_mutex_lock(&c->lock);
	undo_locks(c, r);
	writes_end(c, r);
	pthread_mutex_unlock(&c->lock);
	return -EBUSY;
}

/* A write (first try or a retry after a wait): CONTINUE, COMPLETE, PENDING or -errno. */
static int handle_write(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	uint64_t lo, hi, touch, full;
	bool seq, present = false, dirty = false, around;
	unsigned int i;

	memset(r, 0, offsetof(struct creq, slot0));
	r->nblk = req_nblocks(c, req);
	r->first = req->offset / c->bs;
	if (r->nblk > REQ_BLOCKS)
		return -EIO;
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
	writes_begin(c, r);
	seq = sequential(c, req);
	if (seq)
		atomic_fetch_add(&c->bypassed, 1);
	atomic_fetch_add(present ? &c->write_hits : &c->write_misses, 1);
	if (c->degraded) {
		/* the cache cannot be written: its copies go, dirty data fails loudly */
		if (dirty) {
			writes_end(c, r);
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
	if (c->mode == MODE_WRITEBACK && !seq && plan_writeback(c, req, r)) {
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

static int cache_write(struct filter *f, struct filter_req *req)
{
	return handle_write(f, req);
}

static int cache_discard(struct filter *f, struct filter_req *req)
{
	int err;

	/* DISCARD is refused; WRITE_ZEROES is a write of zeroes for the cache */
	err = filter_zeroes_to_write(req);
	if (err)
		return err;
	return handle_write(f, req);
}

static int cache_flush(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqe;

	memset(r, 0, offsetof(struct creq, slot0));
	r->kind = K_FLUSH;
	sqe = filter_get_sqe(f, req, COOKIE(0, IO_FSYNC));
	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, c->file, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	r->inflight = 1;
	return FILTER_PENDING;
}

static int cache_completion(struct filter *f, struct filter_req *req)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;

	if (r->counted) {
		/* a write that went down as it was (or fell back to the backing) */
		pthread_mutex_lock(&c->lock);
		writes_end(c, r);
		pthread_mutex_unlock(&c->lock);
		return FILTER_CONTINUE;
	}
	if (req->op != FILTER_OP_READ)
		return FILTER_CONTINUE;
	if (r->kind == K_READ_MISS) {
		if (req->result != (int)req->len || !r->admit)
			return FILTER_CONTINUE;
		return fill_start(f, req);
	}
	if (r->kind == K_READ_MIXED) {
		if (req->result < 0) {
			read_unpin(c, r);
			return FILTER_CONTINUE;
		}
		if (overlay_inline(f, req)) {
			read_unpin(c, r);
			return r->admit ? fill_start(f, req) : FILTER_CONTINUE;
		}
		if (!overlay_issue(f, req)) {
			read_unpin(c, r);
			return -EIO;
		}
		return FILTER_PENDING;
	}
	return FILTER_CONTINUE;
}

/* ---------------------------------------------------------- finishing -- */

static void finish_read(struct filter *f, struct filter_req *req)
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
			filter_resume(req, FILTER_CONTINUE);
			return;
		}
		req->result = -EIO;
		filter_resume(req, r->kind == K_READ_HIT ? FILTER_COMPLETE : FILTER_CONTINUE);
		return;
	}
	if (r->kind == K_READ_HIT) {
		req->result = req->len;
		filter_resume(req, FILTER_COMPLETE);
		return;
	}
	/* a partial hit: the buffer is whole now, its missing sub-blocks are admitted */
	if (r->admit && fill_start(f, req) == FILTER_PENDING)
		return;
	filter_resume(req, FILTER_CONTINUE);
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
static int settle_change(struct filter *f, struct filter_req *req, bool inline_)
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
		dirty_account(c, b->dirty, b->dirty | r->setd[i]);
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
		writes_end(c, r);
	pthread_mutex_unlock(&c->lock);
	if (failed)
		atomic_fetch_add(&c->errors, 1);
	if (inline_ && atomic_load(&c->waiting))
		filter_queue_wake(req->fq);
	return verdict;
}

static void finish_change(struct filter *f, struct filter_req *req)
{
	filter_resume(req, settle_change(f, req, false));
	unlocked(f, req->fq);
}

static void cache_io_done(struct filter *f, struct filter_req *req, uint32_t cookie, int res)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	unsigned int i = cookie >> 4, io = cookie & 0xf;

	r->inflight--;
	if (io == IO_BACKING) {
		if (res < 0)
			r->berr = res;
		else if (res != (int)req->len)
			r->berr = -EIO;
	} else if (io == IO_FSYNC) {
		if (res < 0)
			r->berr = res;
	} else if (res < 0 && i < REQ_BLOCKS) {
		r->failed[i] = true;
	}
	if (io == IO_CREAD && !r->berr && overlay_issue(f, req))
		return;
	if (r->inflight)
		return;
	switch (r->kind) {
	case K_READ_HIT:
	case K_READ_MIXED:
		finish_read(f, req);
		break;
	case K_FLUSH:
		if (r->berr) {
			pthread_mutex_lock(&c->lock);
			c->degraded = true;
			pthread_mutex_unlock(&c->lock);
			atomic_fetch_add(&c->errors, 1);
			/* dirty data may not be durable: say so */
			if (atomic_load(&c->dirty_bytes)) {
				req->result = -EIO;
				filter_resume(req, FILTER_COMPLETE);
				return;
			}
		}
		filter_resume(req, FILTER_CONTINUE);
		break;
	default:
		finish_change(f, req);
	}
}

/* --------------------------------------------------------- write-back -- */

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
	unsigned int a, e;
	uint64_t off, len;

	/* the data is in hand: writes to the block may go on */
	pthread_mutex_lock(&c->lock);
	c->b[w->idx].locked = false;
	pthread_mutex_unlock(&c->lock);
	w->holds = false;
	unlocked(f, fq);
	for (a = 0; a < CACHE_SUBS_MAX; a = e + 1) {
		if (!(w->mask >> a))
			break;
		a += __builtin_ctzll(w->mask >> a);
		e = a;
		while (e + 1 < CACHE_SUBS_MAX && (w->mask >> (e + 1) & 1))
			e++;
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

static void wb_start(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqe;
	struct wb *w;
	unsigned int s, first, last;
	uint32_t idx;
	uint64_t off, len;

	for (s = 0; s < WB_SLOTS; s++) {
		w = &cq->wb[s];
		if (w->busy && w->wait_slot)
			wb_slot(f, fq, s);
		if (w->busy || cq->draining)
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
		off = cache_data_off(&c->sb, idx) + first * CACHE_SUB_SIZE;
		len = (last - first + 1) * CACHE_SUB_SIZE;
		if (c->in_memory) {
			if (pread(c->fd, (char *)w->buf + first * CACHE_SUB_SIZE, len, off) !=
			    (ssize_t)len)
				w->err = true;
			w->inflight = 0;
			if (w->err)
				wb_end(f, fq, s);
			else
				wb_write(f, fq, s);
			continue;
		}
		sqe = filter_bg_sqe(f, fq, BG_WB(s, WB_READ));
		if (!sqe) {
			w->err = true;
			wb_end(f, fq, s);
			continue;
		}
		w->inflight = 1;
		prep_cache_rw(c, sqe, false, (char *)w->buf + first * CACHE_SUB_SIZE, len, off,
			      false);
	}
}

/* The backing has the data durably: the slot may say clean (lazily: no sync). */
static void wb_slot(struct filter *f, struct filter_queue *fq, unsigned int s)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	struct wb *w = &cq->wb[s];
	struct cblock *b = &c->b[w->idx];
	struct io_uring_sqe *sqe;

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
	encode_slot(c, w->slot, w->bblock, b->valid, b->dirty & ~(w->mask & ~b->redirty));
	pthread_mutex_unlock(&c->lock);
	if (c->in_memory) {
		if (pwrite(c->fd, w->slot, CACHE_SLOT_SIZE, cache_slot_off(w->idx)) !=
		    CACHE_SLOT_SIZE)
			w->err = true;
		wb_end(f, fq, s);
		return;
	}
	sqe = filter_bg_sqe(f, fq, BG_WB(s, WB_SLOT));
	if (!sqe) {
		w->err = true;
		wb_end(f, fq, s);
		return;
	}
	w->inflight = 1;
	prep_cache_rw(c, sqe, true, w->slot, CACHE_SLOT_SIZE, cache_slot_off(w->idx), false);
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
		dirty_account(c, b->dirty, b->dirty & ~clean);
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
	unlocked(f, fq);
	wb_start(f, fq);
}

static void wb_done(struct filter *f, struct filter_queue *fq, unsigned int s, int st, int res)
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

static void cache_bg_done(struct filter *f, struct filter_queue *fq, uint64_t cookie, int res)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;

	if (cookie == BG_TIMER) {
		cq->timer = false;
		if (res == -ECANCELED || cq->draining)
			return;
		wb_start(f, fq);
		if (!filter_bg_timer(f, fq, c->wb_interval_ns, BG_TIMER))
			cq->timer = true;
		return;
	}
	wb_done(f, fq, (cookie >> 4) & 0xf, cookie & 0xf, res);
}

/* ------------------------------------------------------------ life -- */

static int parse_size(const struct filter_config *cfg, const char *key, uint64_t *out)
{
	char buf[64];
	int err;

	err = filter_config_get(cfg, key, buf, sizeof(buf));
	if (err)
		return err == -ENOENT ? 0 : -EINVAL;
	return units_parse_abs(UNIT_SIZE, buf, out) ? -EINVAL : 0;
}

static int parse_args(struct cache *c, const struct filter_config *cfg, char *path, size_t len,
		      uint64_t *size)
{
	static const char *const modes[] = { "writethrough", "writeback", "writearound" };
	uint64_t bs = 64 << 10, cutoff = DEFAULT_CUTOFF;
	char buf[32];
	size_t i;
	int err;

	if (filter_config_get(cfg, "device", path, len) || path[0] != '/')
		return -EINVAL;
	c->mode = MODE_WRITETHROUGH;
	if (!filter_config_get(cfg, "mode", buf, sizeof(buf))) {
		for (i = 0; i < 3 && strcmp(buf, modes[i]); i++)
			;
		if (i == 3)
			return -EINVAL;
		c->mode = i;
	}
	*size = 0;
	err = parse_size(cfg, "size", size) ?: parse_size(cfg, "block_size", &bs) ?:
	      parse_size(cfg, "sequential_cutoff", &cutoff);
	if (err)
		return err;
	c->wb_interval_ns = WB_INTERVAL_NS;
	if (!filter_config_get(cfg, "writeback_interval", buf, sizeof(buf)) &&
	    (units_parse_abs(UNIT_DURATION, buf, &c->wb_interval_ns) || !c->wb_interval_ns))
		return -EINVAL;
	if (bs < BLOCK_MIN || bs > CACHE_BLOCK_MAX || (bs & (bs - 1)))
		return -EINVAL;
	c->bs = bs;
	c->cutoff = cutoff;
	return 0;
}

static int open_device(const char *path, uint64_t want, uint64_t *size)
{
	struct stat st;
	int fd, err;

	/* a file is made only when its size is known */
	fd = open(path, O_RDWR | O_CLOEXEC | (want ? O_CREAT : 0), 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out_close;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size)) {
			err = -errno;
			goto out_close;
		}
		if (want && want < *size)
			*size = want;
	} else if (S_ISREG(st.st_mode)) {
		*size = st.st_size;
		if (want && (uint64_t)st.st_size < want && ftruncate(fd, want)) {
			err = -errno;
			goto out_close;
		}
		if (want)
			*size = want;
	} else {
		err = -EINVAL;
		goto out_close;
	}
	return fd;
out_close:
	close(fd);
	return err;
}

/* tmpfs or ramfs: the page cache is the data, a write is a copy. */
static bool in_memory_fs(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf))
		return false;
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

/* The device's superblock, or a new format when it has none. */
static int load_sb(struct cache *c, const struct filter_config *cfg, uint64_t dev_size)
{
	uint64_t id = cache_hash_str(cfg->backing ? cfg->backing : "");
	int err;

	err = cache_sb_read(c->fd, &c->sb);
	if (!err) {
		if (c->sb.backing_id != id || c->sb.backing_size != cfg->backing_size)
			return -EEXIST;
		if (c->sb.block_size != c->bs || c->sb.data_off +
		    (uint64_t)c->sb.nblocks * c->sb.block_size > dev_size)
			return -EINVAL;
		return 0;
	}
	if (err != -ENODATA)
		return err;
	err = cache_sb_layout(&c->sb, dev_size, c->bs);
	if (err)
		return err;
	if (getrandom(&c->sb.gen, sizeof(c->sb.gen), 0) != sizeof(c->sb.gen))
		return -errno;
	c->sb.backing_size = cfg->backing_size;
	c->sb.backing_id = id;
	c->sb.disk_size = cfg->disk_size;
	return cache_sb_write(c->fd, &c->sb);
}

/* The slot table into memory: the cache comes back warm, its dirty blocks dirty. */
static int load_slots(struct cache *c)
{
	struct cache_slot *slots;
	uint32_t i, other;
	int err;

	slots = calloc(c->sb.nblocks, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	err = cache_slots_read(c->fd, &c->sb, slots);
	if (err)
		goto out;
	for (i = 0; i < c->sb.nblocks; i++) {
		struct cache_slot *s = &slots[i];

		if (s->bblock == CACHE_NO_BLOCK || !s->valid)
			continue;
		if (s->seq >= c->seq)
			c->seq = s->seq + 1;
		if ((s->bblock + 1) * c->bs > c->disk_size + c->bs)
			continue;
		other = q2_lookup(c->q, s->bblock);
		if (other != Q2_NONE) {
			/* two slots for one block: the newer one holds it */
			if (slots[other].seq > s->seq)
				continue;
			dirty_account(c, c->b[other].dirty, 0);
			c->b[other] = (struct cblock){};
			q2_release(c->q, other);
		}
		q2_remove(c->q, i);
		q2_insert(c->q, i, s->bblock, true);
		c->b[i].valid = s->valid;
		c->b[i].dirty = s->dirty;
		dirty_account(c, 0, s->dirty);
	}
out:
	free(slots);
	return err;
}

static void cache_teardown(struct filter *f);

static int cache_init(struct filter *f, const struct filter_config *cfg)
{
	char path[1024];
	uint64_t want, dev_size;
	struct cache *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	f->priv = c;
	err = parse_args(c, cfg, path, sizeof(path), &want);
	if (err)
		goto fail;
	c->disk_size = cfg->disk_size;
	c->fd = open_device(path, want, &dev_size);
	if (c->fd < 0) {
		err = c->fd;
		goto fail;
	}
	err = load_sb(c, cfg, dev_size);
	if (err)
		goto fail;
	c->in_memory = in_memory_fs(c->fd);
	err = -ENOMEM;
	c->b = calloc(c->sb.nblocks, sizeof(*c->b));
	if (!c->b)
		goto fail;
	err = q2_create(&c->q, c->sb.nblocks);
	if (err)
		goto fail;
	c->seq = 1;
	err = load_slots(c);
	if (err)
		goto fail;
	c->file = filter_add_file(f, c->fd);
	if (c->file < 0) {
		err = c->file;
		goto fail;
	}
	/* a discard would leave the cache's copy behind; zeroes are written */
	f->refused_ops |= 1u << FILTER_OP_DISCARD;
	return 0;
fail:
	cache_teardown(f);
	return err;
}

static int cache_queue_init(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	unsigned int s;
	int err;

	if (fq->id >= CACHE_QUEUES)
		return -E2BIG;
	/* a queue holds at most depth requests, and ublk's depth is 4096 at most */
	cq->maxparked = 4096;
	cq->parked = calloc(cq->maxparked, sizeof(*cq->parked));
	if (!cq->parked)
		return -ENOMEM;
	err = -ENOMEM;
	for (s = 0; s < WB_SLOTS; s++)
		if (posix_memalign(&cq->wb[s].buf, 4096, c->bs))
			goto out_free;
	err = filter_bg_timer(f, fq, c->wb_interval_ns, BG_TIMER);
	if (err)
		goto out_free;
	cq->timer = true;
	pthread_mutex_lock(&c->lock);
	c->fqs[fq->id] = fq;
	pthread_mutex_unlock(&c->lock);
	return 0;
out_free:
	for (s = 0; s < WB_SLOTS; s++) {
		free(cq->wb[s].buf);
		cq->wb[s].buf = NULL;
	}
	free(cq->parked);
	cq->parked = NULL;
	return err;
}

static void cache_queue_fini(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;
	unsigned int s;

	pthread_mutex_lock(&c->lock);
	if (fq->id < CACHE_QUEUES)
		c->fqs[fq->id] = NULL;
	pthread_mutex_unlock(&c->lock);
	for (s = 0; s < WB_SLOTS; s++) {
		free(cq->wb[s].buf);
		cq->wb[s].buf = NULL;
	}
	free(cq->parked);
	cq->parked = NULL;
}

static void cache_drain(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);

	cq->draining = true;
	if (cq->timer)
		filter_bg_cancel(f, fq, BG_TIMER);
}

static void cache_cancel(struct filter *f, struct filter_req *req)
{
	struct cache_queue *cq = filter_queue_priv(f, req->fq);
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	uint32_t i;

	if (!r->parked)
		return;
	for (i = 0; i < cq->nparked; i++) {
		if (cq->parked[i] != req)
			continue;
		memmove(&cq->parked[i], &cq->parked[i + 1],
			(cq->nparked - i - 1) * sizeof(*cq->parked));
		cq->nparked--;
		r->parked = false;
		atomic_fetch_sub(&c->waiting, 1);
		break;
	}
}

static int cache_stats(struct filter *f, struct filter_stat *st, int max)
{
	struct cache *c = f->priv;
	const struct filter_stat all[] = {
		{ "read_hits", atomic_load(&c->read_hits) },
		{ "read_misses", atomic_load(&c->read_misses) },
		{ "write_hits", atomic_load(&c->write_hits) },
		{ "write_misses", atomic_load(&c->write_misses) },
		{ "dirty_bytes", atomic_load(&c->dirty_bytes) },
		{ "written_back_bytes", atomic_load(&c->written_back) },
		{ "evictions", atomic_load(&c->evictions) },
		{ "bypassed", atomic_load(&c->bypassed) },
		{ "fills", atomic_load(&c->fills) },
		{ "errors", atomic_load(&c->errors) },
		{ "blocks", c->sb.nblocks },
		{ "block_size", c->bs },
	};
	int n;

	for (n = 0; n < max && n < (int)(sizeof(all) / sizeof(all[0])); n++)
		st[n] = all[n];
	return n;
}

static void cache_teardown(struct filter *f)
{
	struct cache *c = f->priv;

	if (!c)
		return;
	if (c->fd >= 0) {
		fdatasync(c->fd);
		close(c->fd);
	}
	q2_destroy(c->q);
	free(c->b);
	pthread_mutex_destroy(&c->lock);
	free(c);
	f->priv = NULL;
}

const struct filter_ops cache_filter_ops = {
	.name = "cache",
	.req_priv_size = sizeof(struct creq),
	.queue_priv_size = sizeof(struct cache_queue),
	.init = cache_init,
	.queue_init = cache_queue_init,
	.queue_fini = cache_queue_fini,
	.read = cache_read,
	.write = cache_write,
	.flush = cache_flush,
	.discard = cache_discard,
	.completion = cache_completion,
	.io_done = cache_io_done,
	.bg_done = cache_bg_done,
	.wake = cache_wake,
	.drain = cache_drain,
	.cancel = cache_cancel,
	.stats = cache_stats,
	.teardown = cache_teardown,
};
