/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cache.h - the cache filter's state, shared by its parts (docs/cache.md):
 *
 *   filters/cache.c     the filter: arguments, life cycle, the ops table
 *   cache/blocks.c      block state under the lock: stamps, locks, streams,
 *                       allocation, slot encoding, dirty accounting
 *   cache/classes.c     the request classes that bypass the cache
 *   cache/store.c       the device and its persistent metadata at start
 *   cache/io.c          the filter's own I/O on the cache device
 *   cache/read.c        the read path: hits, partial hits, fills
 *   cache/write.c       the write path, waiting writes, settling a change
 *   cache/writeback.c   the background write-back of dirty blocks
 *
 * Functions marked "under the lock" expect c->lock held; none is held
 * across I/O. Internal to the cache filter: nothing else includes this.
 */
#ifndef SLUICE_CACHE_CACHE_H
#define SLUICE_CACHE_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <liburing.h>

#include "cache/format.h"
#include "cache/policy2q.h"
#include "lib/clock.h"
#include "filters/filter.h"
#include "loader/ublk_class.h"

#define CACHE_QUEUES		64
#define REQ_BLOCKS		17	/* 512 KiB requests over 32 KiB blocks, unaligned */
#define BLOCK_MIN		(32u << 10)
#define OVERLAY_BATCH		16	/* cache reads of one request in flight */
#define WB_SLOTS		4	/* write-backs in flight per queue */
#define WB_INTERVAL_NS		(20 * 1000000ull)
/*
 * Write-back while requests arrive only above 3/4 of the cache dirty (as
 * dm-cache's smq keeps a quarter clean when busy); all of it once the disk
 * has been quiet for WB_QUIET_TICKS write-back intervals.
 */
#define WB_BUSY_DIRTY_NUM	3
#define WB_BUSY_DIRTY_DEN	4
#define WB_QUIET_TICKS		5
#define STREAMS			16
#define STAMPS			4096
#define DEFAULT_CUTOFF		(4u << 20)	/* bcache's sequential_cutoff */
/*
 * Zero copy: a read that is filled goes through a stage, its tag's slot of
 * a memfd shared by the queues: the kernel registers a READ request's pages
 * for writing into only (a WRITE_FIXED from them fails on 7.3), so the fill
 * could not write the cache from them. The backing reads into the stage,
 * the fill writes from it, and a READ_FIXED of the memfd puts the data into
 * the request's pages. A slot's pages exist once a read of that tag was
 * staged: at most what buffer mode's per-tag buffers take.
 */
#define STAGE_SIZE		(512u << 10)	/* the largest request (ublk/dev.h) */

enum cache_mode { MODE_WRITETHROUGH, MODE_WRITEBACK, MODE_WRITEAROUND };

/* what a request is doing, in its scratch */
enum { K_NONE, K_READ_MISS, K_READ_MIXED, K_READ_HIT, K_FILL, K_WRITE_WB, K_WRITE_WT,
       K_FLUSH };

/* the io of a request's own I/O, in its cookie's low bits; the block's index above */
enum { IO_SLOT0, IO_DATA, IO_SLOT, IO_BACKING, IO_CREAD, IO_FSYNC, IO_STAGE };
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
	/*
	 * CLOCK_MONOTONIC ns before which write-back takes no new dirty data
	 * (a flush runs); UINT64_MAX until released. A lease: a flush killed
	 * with -9 cannot leave the disk write-through for good.
	 */
	_Atomic uint64_t hold_until;
	bool in_memory;			/* tmpfs/ramfs: cache I/O is a copy, done inline */
	char *map;			/* in memory: the cache file, shared; or NULL */
	uint64_t map_len;
	uint32_t depth;			/* tags per queue */
	int stage_fd;			/* memfd of every queue's stage slots, or -1 */
	int stage_file;			/* its fixed-file index */
	char *stage;			/* its mapping */
	size_t stage_len;
	uint64_t gen;			/* write stamps: a fill of older data is dropped */
	uint64_t stamps[STAMPS];
	uint32_t winflight[STAMPS];	/* writes in flight per stamp slot */
	struct stream streams[STREAMS];
	uint64_t stream_clock;
	uint32_t wb_cursor;
	struct filter_queue *fqs[CACHE_QUEUES];
	atomic_uint waiting;		/* requests parked on any queue */
	atomic_uint_fast64_t requests;	/* reads and writes begun: the disk is busy */
	/* stats */
	atomic_uint_fast64_t read_hits, read_misses, write_hits, write_misses;
	atomic_uint_fast64_t dirty_bytes, written_back, bypassed, fills, errors;
	atomic_uint_fast64_t evictions, bypassed_class;
	/* bypass_classes: class ids (bits) the cache never admits */
	uint64_t bypass[SLUICE_MAX_CLASSES / 64];
	bool have_bypass;
	struct ublk_class_map classes;
};

/* One write of a block's chain (cache/format.h order: slot0, data, slot). */
struct cio {
	void *buf;
	uint32_t len;
	uint64_t off;
	bool dsync;
	uint32_t cookie;
	bool data;	/* buf lies in req->buf: the request's data, maybe a fixed buffer */
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
	/* a staged read, the request's own buffer, its verdict up */
	bool stage;
	int16_t own_index;
	void *own_buf;
	int up;
	uint32_t tail;			/* blocks whose last write waits for the data's */
	uint8_t slot0[REQ_BLOCKS][CACHE_SLOT_SIZE];
	uint8_t slot[REQ_BLOCKS][CACHE_SLOT_SIZE];
	struct cio tail_io[REQ_BLOCKS];	/* cache_run_chain(): that write */
	uint32_t tail_need[REQ_BLOCKS];	/* the data write's length */
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
	uint64_t seen;			/* c->requests at the last tick */
	unsigned int quiet;		/* ticks in a row without a request */
};

/* ------------------------------------------------------------ geometry -- */

static inline uint64_t bits(unsigned int a, unsigned int b)
{
	unsigned int n = b - a + 1;

	return (n >= 64 ? ~0ull : ((1ull << n) - 1)) << a;
}

/* The part of the request in its i-th block: [lo, hi) in disk bytes. */
static inline void blk_range(const struct cache *c, const struct filter_req *req, unsigned int i,
		      uint64_t *lo, uint64_t *hi)
{
	uint64_t start = (req->offset / c->bs + i) * c->bs, end = start + c->bs;
	uint64_t rend = req->offset + req->len;

	*lo = req->offset > start ? req->offset : start;
	*hi = rend < end ? rend : end;
}

/* Sub-blocks of the block at @bstart that [lo, hi) touches, and those it covers whole. */
static inline void blk_masks(const struct cache *c, uint64_t bstart, uint64_t lo, uint64_t hi,
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

static inline unsigned int req_nblocks(const struct cache *c, const struct filter_req *req)
{
	return (req->offset + req->len - 1) / c->bs - req->offset / c->bs + 1;
}

/* The next run of set bits of @mask at or after bit @from: [*s, *e]. false: none. */
static inline bool mask_run(uint64_t mask, unsigned int from, unsigned int *s, unsigned int *e)
{
	if (from >= CACHE_SUBS_MAX || !(mask >> from))
		return false;
	*s = from + __builtin_ctzll(mask >> from);
	*e = *s;
	while (*e + 1 < CACHE_SUBS_MAX && (mask >> (*e + 1) & 1))
		(*e)++;
	return true;
}

/* -------------------------------------------------------------- blocks.c -- */

int cache_req_begin(struct cache *c, const struct filter_req *req, struct creq *r);
void cache_writes_begin(struct cache *c, struct creq *r);
void cache_writes_end(struct cache *c, struct creq *r);
bool cache_fill_allowed(const struct cache *c, uint64_t bblock, uint64_t gen);
void cache_undo_locks(struct cache *c, struct creq *r);
bool cache_sequential(struct cache *c, const struct filter_req *req);
uint32_t cache_block_alloc(struct cache *c, uint64_t bblock, bool *reused);
void cache_encode_slot(struct cache *c, void *buf, uint64_t bblock, uint64_t valid,
		       uint64_t dirty);
void cache_dirty_account(struct cache *c, uint64_t before, uint64_t after);

/* ------------------------------------------------------------- classes.c -- */

/* @names "a+b" (cut up here), classes of applied policy @policy; "" for none. */
int cache_classes_init(struct cache *c, const char *policy, char *names);
void cache_classes_fini(struct cache *c);
/* Is the request of a class the cache bypasses? */
bool cache_class_bypassed(struct filter *f, const struct filter_req *req);

/* --------------------------------------------------------------- store.c -- */

int cache_store_open(const char *path, uint64_t want, uint64_t *size);
int cache_store_load_sb(struct cache *c, const struct filter_config *cfg, uint64_t dev_size);
int cache_store_load_slots(struct cache *c);
void cache_store_save_degraded(struct cache *c);

/* ------------------------------------------------------------------ io.c -- */

void cache_prep_rw(struct cache *c, struct io_uring_sqe *sqe, bool write, void *buf,
		   uint32_t len, uint64_t off, bool dsync);
/* cache_prep_rw() of the request's data at buf (in req->buf) */
void cache_prep_data(struct cache *c, struct io_uring_sqe *sqe, const struct filter_req *req,
		     bool write, void *buf, uint32_t len, uint64_t off, bool dsync);
bool cache_run_chain(struct filter *f, struct filter_req *req, unsigned int blk,
		     const struct cio *v, unsigned int n);
void cache_chain_tail(struct filter *f, struct filter_req *req, unsigned int blk, int res);

/* ---------------------------------------------------------------- read.c -- */

int cache_read_start(struct filter *f, struct filter_req *req);
int cache_read_completion(struct filter *f, struct filter_req *req);
int cache_overlay_issue(struct filter *f, struct filter_req *req);
void cache_read_finish(struct filter *f, struct filter_req *req);
int cache_fill_start(struct filter *f, struct filter_req *req);
int cache_read_up(struct filter *f, struct filter_req *req, int verdict);
void cache_read_resume(struct filter *f, struct filter_req *req, int verdict);
void cache_stage_done(struct filter *f, struct filter_req *req, int res);
void cache_stage_drop(struct filter *f, struct filter_req *req);

/* --------------------------------------------------------------- write.c -- */

int cache_write_start(struct filter *f, struct filter_req *req);
void cache_retry_parked(struct filter *f, struct filter_queue *fq);
void cache_unlocked(struct filter *f, struct filter_queue *fq);
int cache_change_settle(struct filter *f, struct filter_req *req, bool inline_);
void cache_change_finish(struct filter *f, struct filter_req *req);

/* ----------------------------------------------------------- writeback.c -- */

void cache_wb_tick(struct filter *f, struct filter_queue *fq);
void cache_wb_start(struct filter *f, struct filter_queue *fq);
void cache_wb_done(struct filter *f, struct filter_queue *fq, unsigned int s, int st, int res);
void cache_wb_retry_slots(struct filter *f, struct filter_queue *fq);

/* Is write-back on hold now (cache_control's "hold", "keep")? */
static inline bool cache_held(struct cache *c)
{
	uint64_t until = atomic_load(&c->hold_until);

	return until && clock_ns(CLOCK_MONOTONIC) < until;
}

#endif /* SLUICE_CACHE_CACHE_H */
