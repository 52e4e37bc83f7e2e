// SPDX-License-Identifier: GPL-2.0
/*
 * engine.c - a queue's ring and everything on it that is not ublk: requests
 * through the filter chain, backing I/O, filters' own and background I/O,
 * wake-ups from other threads, the drain at stop. Every CQE's user_data
 * says what it is (lib/udata.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#include "lib/macro.h"
#include "lib/uring.h"
#include "ublk/engine.h"
#include "ublk/uapi_compat.h"

static void engine_fail(struct engine *e, int err)
{
	if (!e->err)
		e->err = err;
}

/* ---------------------------------------------------------- backing I/O -- */

static void handle_backing_cqe(struct engine *e, unsigned int tag, int res);

/*
 * A buffered backing mostly hits the page cache, and io_uring hands file
 * systems without non-blocking buffered I/O to a worker thread, a context
 * switch per request: try the copy right here with RWF_NOWAIT first, and
 * let io_uring take only what would block. tmpfs and ramfs refuse
 * RWF_NOWAIT (EOPNOTSUPP, 6.12 and 6.18) but never wait for a disk either:
 * copy there without it. Returns false when io_uring must do it.
 */
static bool backing_try_inline(struct engine *e, struct engine_io *io, char *buf,
			       uint32_t left, uint64_t off)
{
	struct filter_req *req = &io->req;
	struct iovec iov = { buf, left };
	bool nowait = !e->cfg.backing_in_memory;
	int flags = nowait ? RWF_NOWAIT : 0;
	ssize_t n;

	if (!e->cfg.backing_buffered || (req->flags & FILTER_REQ_FUA))
		return false;
	if (req->op == FILTER_OP_READ)
		n = preadv2(e->cfg.backing_fd, &iov, 1, off, flags);
	else if (req->op == FILTER_OP_WRITE)
		n = pwritev2(e->cfg.backing_fd, &iov, 1, off, flags);
	else
		return false;
	if (n < 0 && (errno == EAGAIN || errno == EOPNOTSUPP || errno == EINVAL))
		return false;
	/*
	 * With RWF_NOWAIT a short read may only mean the rest is not cached,
	 * not the end of the file: let io_uring read it all again. A write
	 * that did nothing would have blocked.
	 */
	if (nowait && n >= 0 && (size_t)n < left && req->op == FILTER_OP_READ)
		return false;
	if (n == 0 && req->op == FILTER_OP_WRITE)
		return false;
	DTRACE_PROBE6(sluice, backing_submit, e->cfg.dev_id, e->cfg.q_id, req->tag, req->op, off,
		      left);
	handle_backing_cqe(e, req->tag, n < 0 ? -errno : (int)n);
	return true;
}

/*
 * Does the request's data move as its own pages? With auto registration
 * it is where buf_index says: a data mover may have staged it in its
 * own memory (cache/cache.h). Else every READ and WRITE does, but a
 * WRITE_ZEROES a filter turned into a WRITE, whose zeroes are in req->buf.
 */
static bool req_zc(const struct engine *e, const struct filter_req *req)
{
	if (e->cfg.zc == ENGINE_ZC_AUTO)
		return req->buf_index >= 0;
	return e->cfg.zc && (req->op == FILTER_OP_READ || req->op == FILTER_OP_WRITE) &&
	       !req->zeroes;
}

/*
 * Zero copy: the backing reads into or writes from the request's own
 * pages, the fixed buffer at index tag, from byte io->done of it (a kernel
 * buffer's fixed address is an offset into it). With ENGINE_ZC_REGISTER
 * the pages are registered before and unregistered after, hard-linked so
 * the unregistration runs whatever happened, as the kernel's kublk does;
 * the result is taken once both CQEs are in (a registration posts one only
 * when it fails). A read past the end of the file fills the rest from
 * /dev/zero: the pages are the application's and must not keep old data.
 */
static void zc_submit(struct engine *e, struct engine_io *io, uint64_t off, uint32_t left)
{
	bool reg = e->cfg.zc == ENGINE_ZC_REGISTER;
	struct filter_req *req = &io->req;
	void *at = (void *)(uintptr_t)io->done;
	struct io_uring_sqe *sqes[3], *rw;
	int fd = FILTER_FILE_BACKING;

	if (uring_get_sqes(&e->ring, sqes, reg ? 3 : 1)) {
		chain_backing_done(req, -EBUSY);
		return;
	}
	rw = sqes[reg ? 1 : 0];
	if (io->zero_fill) {
		fd = e->zero_fd;
		off = 0;
	}
	if (req->op == FILTER_OP_READ)
		io_uring_prep_read_fixed(rw, fd, at, left, off, req->tag);
	else
		io_uring_prep_write_fixed(rw, fd, at, left, off, req->tag);
	if (req->op == FILTER_OP_WRITE && (req->flags & FILTER_REQ_FUA))
		rw->rw_flags = RWF_DSYNC;
	if (!io->zero_fill)
		rw->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(rw, udata_encode(UDATA_BACKING, req->tag, 0, 0));
	io->zc_wait = 1;
	io->zc_reg_err = 0;
	if (reg) {
		e->cfg.ops->buf_cmd(e, sqes[0], req->tag, false);
		sqes[0]->flags |= IOSQE_CQE_SKIP_SUCCESS | IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data64(sqes[0], udata_encode(UDATA_BUF, req->tag, 0, ENGINE_ZC_REG));
		rw->flags |= IOSQE_IO_HARDLINK;
		e->cfg.ops->buf_cmd(e, sqes[2], req->tag, true);
		io_uring_sqe_set_data64(sqes[2],
					udata_encode(UDATA_BUF, req->tag, 0, ENGINE_ZC_UNREG));
		io->zc_wait = 2;
	}
	DTRACE_PROBE6(sluice, backing_submit, e->cfg.dev_id, e->cfg.q_id, req->tag, req->op, off,
		      left);
}

static void backing_submit(struct engine *e, struct engine_io *io)
{
	struct filter_req *req = &io->req;
	uint64_t off = e->data_offset + req->offset + io->done;
	uint64_t start = e->data_offset + req->offset;
	char *buf = (char *)req->buf + io->done;
	uint32_t left = req->len - io->done;
	struct io_uring_sqe *sqe;
	int mode;

	if (req_zc(e, req)) {
		zc_submit(e, io, off, left);
		return;
	}
	if (backing_try_inline(e, io, buf, left, off))
		return;
	if (uring_get_sqes(&e->ring, &sqe, 1)) {
		chain_backing_done(req, -EBUSY);
		return;
	}
	switch (req->op) {
	case FILTER_OP_READ:
		io_uring_prep_read(sqe, FILTER_FILE_BACKING, buf, left, off);
		break;
	case FILTER_OP_WRITE:
		io_uring_prep_write(sqe, FILTER_FILE_BACKING, buf, left, off);
		if (req->flags & FILTER_REQ_FUA)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case FILTER_OP_FLUSH:
		io_uring_prep_fsync(sqe, FILTER_FILE_BACKING, IORING_FSYNC_DATASYNC);
		break;
	case FILTER_OP_DISCARD:
		io_uring_prep_fallocate(sqe, FILTER_FILE_BACKING,
					FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, req->len);
		break;
	case FILTER_OP_WRITE_ZEROES:
		if (io->zero_stage < 2) {
			mode = io->zero_stage == 0 ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE;
			io_uring_prep_fallocate(sqe, FILTER_FILE_BACKING, mode | FALLOC_FL_KEEP_SIZE,
						start, req->len);
		} else {
			/* max_write_zeroes_sectors is the buffer size: zeroes fit. */
			if (!io->done)
				memset(req->buf, 0, req->len);
			io_uring_prep_write(sqe, FILTER_FILE_BACKING, buf, left, off);
		}
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_BACKING, req->tag, 0, 0));
	DTRACE_PROBE6(sluice, backing_submit, e->cfg.dev_id, e->cfg.q_id, req->tag, req->op, off,
		      left);
}

/* Returns true when the request needs another backing submission. */
static bool backing_result(struct engine_io *io, bool zc, int res, int *result)
{
	struct filter_req *req = &io->req;

	switch (req->op) {
	case FILTER_OP_READ:
		if (res < 0)
			break;
		/* Short reads only happen at the end of the file: zeroes follow. */
		io->done += res;
		if (io->done < req->len && zc) {
			if (io->zero_fill && !res) {
				res = -EIO;
				break;
			}
			io->zero_fill = true;
			return true;
		}
		if (io->done < req->len)
			memset((char *)req->buf + io->done, 0, req->len - io->done);
		res = req->len;
		break;
	case FILTER_OP_WRITE:
		if (res < 0)
			break;
		if (!res) {
			res = -EIO;
			break;
		}
		io->done += res;
		if (io->done < req->len)
			return true;
		res = req->len;
		break;
	case FILTER_OP_FLUSH:
		break;
	case FILTER_OP_DISCARD:
		/* Discard is a hint; a backing that cannot punch holes ignores it. */
		if (res == -EOPNOTSUPP)
			res = 0;
		break;
	case FILTER_OP_WRITE_ZEROES:
		if (io->zero_stage < 2 && (res == -EOPNOTSUPP || res == -EINVAL)) {
			io->zero_stage++;
			if (io->zero_stage == 1 && (req->flags & FILTER_REQ_NOUNMAP))
				io->zero_stage++;
			return true;
		}
		if (io->zero_stage == 2 && res >= 0) {
			if (!res) {
				res = -EIO;
				break;
			}
			io->done += res;
			if (io->done < req->len)
				return true;
		}
		if (res > 0)
			res = 0;
		break;
	}
	*result = res;
	return false;
}

static void handle_backing_cqe(struct engine *e, unsigned int tag, int res)
{
	struct engine_io *io = &e->ios[tag];
	int result;

	DTRACE_PROBE5(sluice, backing_complete, e->cfg.dev_id, e->cfg.q_id, tag, io->req.op, res);
	if (backing_result(io, req_zc(e, &io->req), res, &result)) {
		backing_submit(e, io);
		return;
	}
	chain_backing_done(&io->req, result);
}

/* A CQE of zero copy backing I/O: the read or write, or its (un)registration. */
static void handle_zc_cqe(struct engine *e, const struct udata *d, int res)
{
	struct engine_io *io = &e->ios[d->tag];

	if (d->kind == UDATA_BACKING) {
		io->zc_res = res;
	} else if (d->cookie == ENGINE_ZC_REG) {
		/* only a failure posts: the read or write fails after it */
		io->zc_reg_err = res;
		return;
	}
	if (!io->zc_wait || --io->zc_wait)
		return;
	handle_backing_cqe(e, d->tag, io->zc_reg_err ? io->zc_reg_err : io->zc_res);
}

/* ------------------------------------------------------ chain endpoints -- */

static void engine_bottom(struct filter_req *req)
{
	struct engine *e = req->owner;
	struct engine_io *io = container_of(req, struct engine_io, req);

	io->done = 0;
	io->zero_stage = 0;
	io->zero_fill = false;
	backing_submit(e, io);
}

void engine_req_done(struct filter_req *req)
{
	struct engine *e = req->owner;
	struct engine_io *io = container_of(req, struct engine_io, req);

	/* A filter that bounced a read must have copied back; make sure. */
	if (req->buf != io->buf) {
		if (req->op == FILTER_OP_READ && req->result > 0)
			memcpy(io->buf, req->buf, req->result);
		req->buf = io->buf;
	}
	io->active = false;
	e->reqs_active--;
	e->cfg.ops->done(e, io);
}

const struct chain_sinks engine_sinks = {
	.bottom = engine_bottom,
	.done = engine_req_done,
};

void engine_req_begin(struct engine *e, unsigned int tag)
{
	struct engine_io *io = &e->ios[tag];

	io->active = true;
	io->req.buf = io->buf;
	/* auto registration: the pages stay at index tag until the commit */
	io->req.buf_index = e->cfg.zc == ENGINE_ZC_AUTO &&
			    (io->req.op == FILTER_OP_READ || io->req.op == FILTER_OP_WRITE) ?
			    (int16_t)io->req.tag : -1;
	io->req.copy_fd = io->req.buf_index >= 0 && e->cfg.zc_user_copy ? e->cfg.cdev_fd : -1;
	io->req.copy_pos = ublk_user_copy_pos(e->cfg.q_id, io->req.tag);
	e->reqs_active++;
}

void engine_submit(struct engine *e, unsigned int tag)
{
	engine_req_begin(e, tag);
	chain_submit(&e->ios[tag].req);
}

/* ------------------------------------------------------- background I/O -- */

static int bg_take(struct engine *e, struct filter *f, struct io_uring_sqe **sqes,
		   const uint64_t *cookies, unsigned int n, int *slots)
{
	unsigned int i, got = 0;

	if (e->giving_up || ENGINE_BG_SLOTS - e->bg_inflight < n)
		return -EBUSY;
	for (i = 0; i < ENGINE_BG_SLOTS && got < n; i++)
		if (e->bg[i].filter < 0)
			slots[got++] = i;
	if (got < n || uring_get_sqes(&e->ring, sqes, n))
		return -EBUSY;
	for (i = 0; i < n; i++) {
		e->bg[slots[i]].filter = f->index;
		e->bg[slots[i]].cookie = cookies[i];
		io_uring_sqe_set_data64(sqes[i], udata_encode(UDATA_BG, 0, f->index, slots[i]));
	}
	e->bg_inflight += n;
	return 0;
}

int filter_bg_sqes(struct filter *f, struct filter_queue *fq, struct io_uring_sqe **sqes,
		   const uint64_t *cookies, unsigned int n)
{
	int slots[ENGINE_BG_SLOTS];

	if (!fq || !fq->owner || n > ENGINE_BG_SLOTS)
		return -EBUSY;
	return bg_take(fq->owner, f, sqes, cookies, n, slots);
}

struct io_uring_sqe *filter_bg_sqe(struct filter *f, struct filter_queue *fq, uint64_t cookie)
{
	struct io_uring_sqe *sqe;

	return filter_bg_sqes(f, fq, &sqe, &cookie, 1) ? NULL : sqe;
}

int filter_bg_timer(struct filter *f, struct filter_queue *fq, uint64_t ns, uint64_t cookie)
{
	struct io_uring_sqe *sqe;
	struct engine_bg *b;
	int slot, err;

	if (!fq || !fq->owner)
		return -EBUSY;
	err = bg_take(fq->owner, f, &sqe, &cookie, 1, &slot);
	if (err)
		return err;
	b = &((struct engine *)fq->owner)->bg[slot];
	b->ts.tv_sec = ns / 1000000000ull;
	b->ts.tv_nsec = ns % 1000000000ull;
	io_uring_prep_timeout(sqe, &b->ts, 0, 0);
	return 0;
}

static int bg_cancel_slot(struct engine *e, unsigned int slot)
{
	struct io_uring_sqe *sqe;

	if (uring_get_sqes(&e->ring, &sqe, 1))
		return -EBUSY;
	io_uring_prep_cancel64(sqe, udata_encode(UDATA_BG, 0, e->bg[slot].filter, slot), 0);
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_CANCEL, 0, 0, 0));
	return 0;
}

int filter_bg_cancel(struct filter *f, struct filter_queue *fq, uint64_t cookie)
{
	struct engine *e = fq ? fq->owner : NULL;
	unsigned int i;
	int n = 0;

	if (!e)
		return -EBUSY;
	for (i = 0; i < ENGINE_BG_SLOTS; i++) {
		if (e->bg[i].filter != (int)f->index || e->bg[i].cookie != cookie)
			continue;
		if (bg_cancel_slot(e, i))
			return -EBUSY;
		n++;
	}
	return n;
}

static void handle_bg_cqe(struct engine *e, const struct udata *d, int res)
{
	struct engine_bg *b;
	uint64_t cookie;

	if (d->cookie >= ENGINE_BG_SLOTS)
		return;
	b = &e->bg[d->cookie];
	if (b->filter != d->filter)
		return;
	cookie = b->cookie;
	b->filter = -1;
	e->bg_inflight--;
	chain_bg_cqe(&e->fq, d->filter, cookie, res);
}

/* ------------------------------------------------------ wake and drain -- */

static int arm_wake(struct engine *e)
{
	struct io_uring_sqe *sqe;

	if (uring_get_sqes(&e->ring, &sqe, 1))
		return -EBUSY;
	io_uring_prep_poll_add(sqe, e->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_WAKE, 0, 0, 0));
	return 0;
}

static void arm_drain_timer(struct engine *e, unsigned int ms)
{
	struct io_uring_sqe *sqe;

	e->drain_ts.tv_sec = ms / 1000;
	e->drain_ts.tv_nsec = (ms % 1000) * 1000000ll;
	if (uring_get_sqes(&e->ring, &sqe, 1)) {
		engine_fail(e, -EBUSY);
		return;
	}
	io_uring_prep_timeout(sqe, &e->drain_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_DRAIN, 0, 0, 0));
}

void engine_ask(struct engine *e, unsigned int what)
{
	uint64_t one = 1;

	atomic_fetch_or(&e->asks, what);
	if (e->wake_fd >= 0 && write(e->wake_fd, &one, sizeof(one)) < 0)
		return;
}

void filter_queue_wake(struct filter_queue *fq)
{
	if (fq && fq->owner)
		engine_ask(fq->owner, ENGINE_ASK_WAKE);
}

unsigned int filter_queue_active(const struct filter_queue *fq)
{
	const struct engine *e = fq ? fq->owner : NULL;

	return e ? e->reqs_active : 0;
}

void engine_drain(struct engine *e)
{
	if (e->draining)
		return;
	e->draining = true;
	chain_queue_drain(&e->fq);
	arm_drain_timer(e, e->cfg.chain->drain_ms);
}

/*
 * The drain limit passed: give up every request a filter still holds and
 * cancel the background I/O; again every ENGINE_RETRY_MS until the queue
 * leaves, so a request that arrives and is held later (the driver still
 * sends them until STOP_DEV ends) cannot hang the stop either.
 */
static void give_up(struct engine *e)
{
	unsigned int i;

	e->giving_up = true;
	for (i = 0; i < e->cfg.depth; i++)
		if (e->ios[i].active && e->ios[i].req.pending)
			chain_req_cancel(&e->ios[i].req);
	for (i = 0; i < ENGINE_BG_SLOTS; i++)
		if (e->bg[i].filter >= 0 && bg_cancel_slot(e, i))
			engine_fail(e, -EBUSY);
	arm_drain_timer(e, ENGINE_RETRY_MS);
}

static void handle_wake(struct engine *e)
{
	unsigned int what;
	uint64_t v;

	if (read(e->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		engine_fail(e, -errno);
	what = atomic_exchange(&e->asks, 0);
	if (what & ENGINE_ASK_KICK) {
		e->kicked = true;
		return;
	}
	if (arm_wake(e))
		engine_fail(e, -EBUSY);
	if (what & ENGINE_ASK_DRAIN)
		engine_drain(e);
	if (what & ENGINE_ASK_WAKE)
		chain_queue_wake(&e->fq);
}

/* ----------------------------------------------------------------- loop -- */

static void handle_cqe(struct engine *e, struct io_uring_cqe *cqe)
{
	struct udata d = udata_decode(cqe->user_data);

	if (udata_has_tag(d.kind) && d.tag >= e->cfg.depth)
		return;
	switch (d.kind) {
	case UDATA_BACKING:
		if (e->ios[d.tag].zc_wait)
			handle_zc_cqe(e, &d, cqe->res);
		else
			handle_backing_cqe(e, d.tag, cqe->res);
		break;
	case UDATA_BUF:
		handle_zc_cqe(e, &d, cqe->res);
		break;
	case UDATA_FILTER:
		chain_filter_cqe(&e->ios[d.tag].req, d.filter, d.cookie, cqe->res);
		break;
	case UDATA_BG:
		handle_bg_cqe(e, &d, cqe->res);
		break;
	case UDATA_WAKE:
		handle_wake(e);
		break;
	case UDATA_DRAIN:
		give_up(e);
		break;
	case UDATA_CANCEL:
		break;
	default:
		if (e->cfg.ops->cqe)
			e->cfg.ops->cqe(e, &d, cqe->res, cqe->flags);
	}
}

int engine_wait(struct engine *e)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	int ret;

	chain_queue_before_wait(&e->fq);
	if (e->cfg.ops->flush)
		e->cfg.ops->flush(e);
	ret = io_uring_submit_and_wait(&e->ring, 1);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	io_uring_for_each_cqe(&e->ring, head, cqe) {
		handle_cqe(e, cqe);
		n++;
	}
	io_uring_cq_advance(&e->ring, n);
	return 0;
}

bool engine_busy(const struct engine *e)
{
	return e->reqs_active || e->bg_inflight;
}

/* --------------------------------------------------------------- setup -- */

int engine_init(struct engine *e, const struct engine_cfg *cfg)
{
	unsigned int i;

	memset(e, 0, sizeof(*e));
	e->cfg = *cfg;
	for (i = 0; i < ENGINE_BG_SLOTS; i++)
		e->bg[i].filter = -1;
	e->zero_fd = -1;
	e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return e->wake_fd < 0 ? -errno : 0;
}

void engine_destroy(struct engine *e)
{
	if (e->wake_fd >= 0)
		close(e->wake_fd);
	e->wake_fd = -1;
}

static int ring_init(struct engine *e)
{
	static const unsigned int tries[] = {
		/* 6.1+: task work only when we wait, on this thread */
		IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN,
		IORING_SETUP_SQE128,
	};
	struct filter_chain *c = e->cfg.chain;
	int fds[2 + CHAIN_MAX_FILES];
	unsigned int i;
	int err = -EINVAL;

	/* -1 leaves a slot empty: the same indexes with or without ublk. */
	fds[ENGINE_FILE_CDEV] = e->cfg.cdev_fd;
	fds[FILTER_FILE_BACKING] = e->cfg.backing_fd;
	for (i = 0; i < (unsigned int)c->nr_files; i++)
		fds[2 + i] = c->files[i];
	for (i = 0; i < ARRAY_SIZE(tries); i++) {
		err = io_uring_queue_init(2 * e->cfg.depth, &e->ring, tries[i]);
		if (err != -EINVAL)
			break;
	}
	if (err)
		return err;
	e->ring_ok = true;
	err = io_uring_register_files(&e->ring, fds, 2 + c->nr_files);
	if (err || e->cfg.zc == ENGINE_ZC_NONE)
		return err;
	/* zero copy: an empty table the requests' pages are registered in (5.19+) */
	err = io_uring_register_buffers_sparse(&e->ring, e->cfg.depth);
	if (err)
		return err;
	e->zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	return e->zero_fd < 0 ? -errno : 0;
}

int engine_setup(struct engine *e)
{
	struct filter_chain *c = e->cfg.chain;
	unsigned int tag;
	int err;

	e->data_offset = chain_data_offset(c);
	e->bufs_len = (size_t)e->cfg.depth * e->cfg.buf_size;
	e->bufs = mmap(NULL, e->bufs_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (e->bufs == MAP_FAILED) {
		e->bufs = NULL;
		return -errno;
	}
	e->ios = calloc(e->cfg.depth, sizeof(*e->ios));
	if (!e->ios)
		return -ENOMEM;
	err = ring_init(e);
	if (err)
		return err;
	err = arm_wake(e);
	if (err)
		return err;
	for (tag = 0; tag < e->cfg.depth; tag++) {
		struct engine_io *io = &e->ios[tag];

		io->buf = (char *)e->bufs + (size_t)tag * e->cfg.buf_size;
		err = chain_req_init(c, &io->req, e->cfg.q_id, tag, &e->ring, e);
		if (err)
			return err;
		io->req.fq = &e->fq;
		io->req.buf_size = e->cfg.buf_size;
	}
	return chain_queue_init(c, &e->fq, e->cfg.q_id, &e->ring, e);
}

void engine_teardown(struct engine *e)
{
	unsigned int tag;

	chain_queue_fini(&e->fq);
	if (e->ring_ok)
		io_uring_queue_exit(&e->ring);
	e->ring_ok = false;
	if (e->zero_fd >= 0)
		close(e->zero_fd);
	e->zero_fd = -1;
	if (e->ios) {
		for (tag = 0; tag < e->cfg.depth; tag++)
			if (e->ios[tag].req.chain)
				chain_req_fini(&e->ios[tag].req);
		free(e->ios);
		e->ios = NULL;
	}
	if (e->bufs)
		munmap(e->bufs, e->bufs_len);
	e->bufs = NULL;
}
