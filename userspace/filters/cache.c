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
 * - Dirty blocks are written back by every queue in the background, in a
 *   pause of the requests or when three quarters of the cache is dirty.
 * - A cache I/O error sets the cache degraded: no more admissions, writes
 *   go to the backing, and a write or read that needs dirty data it cannot
 *   trust fails with -EIO rather than return stale data.
 *
 * One mutex guards the metadata; it is never held across I/O.
 *
 * The parts live in userspace/cache/ (cache/cache.h lists them); this file
 * holds the arguments, the life cycle and the ops table.
 *
 * Args: device=PATH (required), mode=writethrough|writeback|writearound,
 * size=SIZE (a file is grown to it), block_size=SIZE (32KiB..256KiB),
 * sequential_cutoff=SIZE (0: off), writeback_interval=DURATION (how often
 * each queue looks for dirty blocks when it has none in hand, and a fifth
 * of the pause write-back waits for; 20ms),
 * bypass_classes=A+B with policy=NAME (classes of that applied policy whose
 * requests the cache never admits: read hits still come from it, misses are
 * not filled, writes go around it).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cache/cache.h"
#include "filters/chain.h"
#include "filters/filter.h"
#include "filters/registry.h"
#include "lib/macro.h"
#include "lib/fileio.h"
#include "lib/units.h"

static void cache_wake(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);

	if (cq->nparked)
		cache_retry_parked(f, fq);
}

static int cache_discard(struct filter *f, struct filter_req *req)
{
	int err;

	/* DISCARD is refused; WRITE_ZEROES is a write of zeroes for the cache */
	err = filter_zeroes_to_write(req);
	if (err)
		return err;
	return cache_write_start(f, req);
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
		cache_writes_end(c, r);
		pthread_mutex_unlock(&c->lock);
		return FILTER_CONTINUE;
	}
	if (req->op != FILTER_OP_READ)
		return FILTER_CONTINUE;
	return cache_read_completion(f, req);
}

static void cache_io_done(struct filter *f, struct filter_req *req, uint32_t cookie, int res)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	unsigned int i = cookie >> 4, io = cookie & 0xf;

	r->inflight--;
	if (io == IO_STAGE) {
		cache_stage_done(f, req, res);
		return;
	}
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
	if (io == IO_DATA && i < REQ_BLOCKS && (r->tail & 1u << i))
		cache_chain_tail(f, req, i, res);
	if (io == IO_CREAD && !r->berr && cache_overlay_issue(f, req))
		return;
	if (r->inflight)
		return;
	switch (r->kind) {
	case K_READ_HIT:
	case K_READ_MIXED:
		cache_read_finish(f, req);
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
		cache_change_finish(f, req);
	}
}

static void cache_bg_done(struct filter *f, struct filter_queue *fq, uint64_t cookie, int res)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;

	if (cookie == BG_TIMER) {
		cq->timer = false;
		if (res == -ECANCELED || cq->draining)
			return;
		cache_store_save_degraded(c);
		cache_wb_tick(f, fq);
		cache_wb_start(f, fq);
		if (!filter_bg_timer(f, fq, c->wb_interval_ns, BG_TIMER))
			cq->timer = true;
		return;
	}
	cache_wb_done(f, fq, (cookie >> 4) & 0xf, cookie & 0xf, res);
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

/* bypass_classes=A+B with policy=NAME (the chain from a policy adds it). */
static int init_classes(struct cache *c, const struct filter_config *cfg)
{
	char names[512] = "", policy[SLUICE_CLASS_NAME_LEN] = "";
	int err;

	err = filter_config_get(cfg, "bypass_classes", names, sizeof(names));
	if (err && err != -ENOENT)
		return -EINVAL;
	err = filter_config_get(cfg, "policy", policy, sizeof(policy));
	if (err && err != -ENOENT)
		return -EINVAL;
	return cache_classes_init(c, policy, names);
}

static void cache_teardown(struct filter *f);

/* The stage slots of zero copy reads (cache.h): untouched pages cost nothing. */
static int stage_init(struct filter *f, struct cache *c, unsigned int queues, unsigned int depth)
{
	void *m;

	c->depth = depth;
	c->stage_len = (size_t)queues * depth * STAGE_SIZE;
	if (!c->stage_len)
		return 0;	/* no queues known: zero copy reads are not admitted */
	c->stage_fd = memfd_create("sluice-cache-stage", MFD_CLOEXEC);
	if (c->stage_fd < 0)
		return -errno;
	if (ftruncate(c->stage_fd, c->stage_len))
		return -errno;
	m = mmap(NULL, c->stage_len, PROT_READ | PROT_WRITE, MAP_SHARED, c->stage_fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	c->stage = m;
	c->stage_file = filter_add_file(f, c->stage_fd);
	return c->stage_file < 0 ? c->stage_file : 0;
}

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
	c->stage_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	f->priv = c;
	err = parse_args(c, cfg, path, sizeof(path), &want);
	if (err)
		goto fail;
	err = init_classes(c, cfg);
	if (err)
		goto fail;
	c->disk_size = cfg->disk_size;
	c->fd = cache_store_open(path, want, &dev_size);
	if (c->fd < 0) {
		err = c->fd;
		goto fail;
	}
	err = cache_store_load_sb(c, cfg, dev_size);
	if (err)
		goto fail;
	c->in_memory = fd_in_memory(c->fd);
	if (c->in_memory) {
		/* for copy_data_in() (io.c); without it zero copy takes the ring */
		c->map = mmap(NULL, dev_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (c->map == MAP_FAILED)
			c->map = NULL;
		else
			c->map_len = dev_size;
	}
	err = -ENOMEM;
	c->b = calloc(c->sb.nblocks, sizeof(*c->b));
	if (!c->b)
		goto fail;
	err = q2_create(&c->q, c->sb.nblocks);
	if (err)
		goto fail;
	c->seq = 1;
	err = cache_store_load_slots(c);
	if (err)
		goto fail;
	c->file = filter_add_file(f, c->fd);
	if (c->file < 0) {
		err = c->file;
		goto fail;
	}
	err = stage_init(f, c, cfg->queues, cfg->depth);
	if (err)
		goto fail;
	/* a discard would leave the cache's copy behind; zeroes are written */
	f->refused_ops |= 1u << FILTER_OP_DISCARD;
	return 0;
fail:
	cache_teardown(f);
	return err;
}

/* Destructor of a queue's part: takes a half-built one. */
static void queue_free(struct cache_queue *cq)
{
	unsigned int s;

	for (s = 0; s < WB_SLOTS; s++) {
		free(cq->wb[s].buf);
		cq->wb[s].buf = NULL;
	}
	free(cq->parked);
	cq->parked = NULL;
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
	queue_free(cq);
	return err;
}

static void cache_queue_fini(struct filter *f, struct filter_queue *fq)
{
	struct cache_queue *cq = filter_queue_priv(f, fq);
	struct cache *c = f->priv;

	pthread_mutex_lock(&c->lock);
	if (fq->id < CACHE_QUEUES)
		c->fqs[fq->id] = NULL;
	pthread_mutex_unlock(&c->lock);
	queue_free(cq);
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

	cache_stage_drop(f, req);
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
		{ "bypassed_class", atomic_load(&c->bypassed_class) },
		{ "fills", atomic_load(&c->fills) },
		{ "errors", atomic_load(&c->errors) },
		{ "holding", cache_held(c) },
		{ "degraded", c->degraded },
		{ "blocks", c->sb.nblocks },
		{ "block_size", c->bs },
	};
	int n;

	for (n = 0; n < max && n < (int)(ARRAY_SIZE(all)); n++)
		st[n] = all[n];
	return n;
}

/*
 * "hold": write-back takes no new dirty data (writes go through), so that
 * 'sluice cache flush' always ends; a lease of 10 s ("hold=MS": of MS ms)
 * that the flush renews every second, so a flush killed with -9 leaves
 * the disk write-through for seconds, not until the next restart. "keep":
 * until "release" ('cache detach': the hand-over must not see new dirty
 * data however long it takes).
 */
#define HOLD_LEASE_MS	10000ull

static int cache_control(struct filter *f, const char *cmd)
{
	struct cache *c = f->priv;
	unsigned long long ms = HOLD_LEASE_MS;
	char *end;

	if (!strcmp(cmd, "keep")) {
		atomic_store(&c->hold_until, UINT64_MAX);
		return 0;
	}
	if (!strcmp(cmd, "release")) {
		atomic_store(&c->hold_until, 0);
		return 0;
	}
	if (!strncmp(cmd, "hold=", 5)) {
		errno = 0;
		ms = strtoull(cmd + 5, &end, 10);
		if (errno || end == cmd + 5 || *end || !ms || ms > 3600000)
			return -EINVAL;
	} else if (strcmp(cmd, "hold")) {
		return -EINVAL;
	}
	atomic_store(&c->hold_until, clock_ns(CLOCK_MONOTONIC) + ms * 1000000ull);
	return 0;
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
	if (c->stage)
		munmap(c->stage, c->stage_len);
	if (c->map)
		munmap(c->map, c->map_len);
	if (c->stage_fd >= 0)
		close(c->stage_fd);
	cache_classes_fini(c);
	q2_destroy(c->q);
	free(c->b);
	pthread_mutex_destroy(&c->lock);
	free(c);
	f->priv = NULL;
}

const struct filter_ops cache_filter_ops = {
	.name = "cache",
	/* every byte it moves goes through cache_prep_data() or filter_prep_data() */
	.data_mover = true,
	.req_priv_size = sizeof(struct creq),
	.queue_priv_size = sizeof(struct cache_queue),
	.init = cache_init,
	.queue_init = cache_queue_init,
	.queue_fini = cache_queue_fini,
	.read = cache_read_start,
	.write = cache_write_start,
	.flush = cache_flush,
	.discard = cache_discard,
	.completion = cache_completion,
	.io_done = cache_io_done,
	.bg_done = cache_bg_done,
	.wake = cache_wake,
	.drain = cache_drain,
	.cancel = cache_cancel,
	.stats = cache_stats,
	.control = cache_control,
	.teardown = cache_teardown,
};
