// SPDX-License-Identifier: GPL-2.0
/*
 * queue.c - the per-queue server loop: the ublk uring_cmds of each tag on
 * the queue's engine (ublk/engine.c), which serves the requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#include <unistd.h>

#include "lib/macro.h"
#include "lib/fileio.h"
#include "lib/udata.h"
#include "lib/uring.h"
#include "ublk/batch.h"
#include "ublk/queue.h"

static int queue_io_cmd(struct ublk_queue *q, unsigned int tag, bool commit, int result)
{
	struct engine_io *io = &q->eng.ios[tag];
	struct ublksrv_io_cmd *cmd;
	struct io_uring_sqe *sqe;

	if (uring_get_sqes(&q->eng.ring, &sqe, 1))
		return -EBUSY;
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ENGINE_FILE_CDEV;
	sqe->flags = IOSQE_FIXED_FILE;
	if (q->cfg.ioctl_encode)
		sqe->cmd_op = commit ? UBLK_U_IO_COMMIT_AND_FETCH_REQ : UBLK_U_IO_FETCH_REQ;
	else
		sqe->cmd_op = commit ? UBLK_IO_COMMIT_AND_FETCH_REQ : UBLK_IO_FETCH_REQ;
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = q->cfg.q_id;
	cmd->tag = tag;
	cmd->result = result;
	/* With user copy or zero copy the driver refuses a buffer address. */
	cmd->addr = q->cfg.user_copy || q->cfg.zero_copy ? 0 : (uint64_t)(uintptr_t)io->buf;
	/*
	 * UBLK_F_AUTO_BUF_REG: the SQE's own addr is struct ublk_auto_buf_reg,
	 * index in bits 0-15, no flags: the request's pages go to index tag.
	 */
	if (q->cfg.zero_copy == UBLK_F_AUTO_BUF_REG)
		sqe->addr = tag;
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_CMD, tag, 0, 0));
	q->cmds_inflight++;
	return 0;
}

/*
 * The engine's buf_cmd() (UBLK_F_SUPPORT_ZERO_COPY): register the pages of
 * @tag's request in the ring's buffer table at index @tag, or unregister them.
 */
static void queue_buf_cmd(struct engine *e, struct io_uring_sqe *sqe, unsigned int tag,
			  bool unregister)
{
	struct ublk_queue *q = container_of(e, struct ublk_queue, eng);
	struct ublksrv_io_cmd *cmd;

	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ENGINE_FILE_CDEV;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = unregister ? UBLK_U_IO_UNREGISTER_IO_BUF : UBLK_U_IO_REGISTER_IO_BUF;
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = q->cfg.q_id;
	cmd->tag = tag;
	cmd->addr = tag;
}

/* ----------------------------------------------------------- user copy -- */

/*
 * UBLK_F_USER_COPY: a request's data is the file range of /dev/ublkcN at
 * an offset naming its queue and tag. Reading it gets a WRITE's data,
 * writing it fills a READ. Done right here: it is a memcpy in the kernel
 * that never waits, and through io_uring it would only add a round trip.
 */
static int user_copy(struct ublk_queue *q, unsigned int tag, void *buf, size_t len,
		     bool to_request)
{
	return pio_exact(q->cfg.cdev_fd, to_request, buf, len,
			 ublk_user_copy_pos(q->cfg.q_id, tag));
}

static void queue_commit(struct ublk_queue *q, struct filter_req *req)
{
	int err;

	DTRACE_PROBE4(sluice, commit, q->cfg.dev_id, q->cfg.q_id, req->tag, req->result);
	if (q->batch) {
		ublk_batch_commit(q, req->tag, req->result);
		return;
	}
	err = queue_io_cmd(q, req->tag, true, req->result);
	if (err && !q->eng.err)
		q->eng.err = err;
}

/*
 * Copy mode mmap: one copy between the request and the backing's pages.
 * The kernel does the copy, so a page the mapping cannot provide (a hole
 * on a full tmpfs, past the end of the file) is a short copy, never a
 * SIGBUS here; then the request takes the buffer path, whose backing I/O
 * returns the real error or the zeroes past the end. FUA needs RWF_DSYNC,
 * which only the buffer path has.
 */
static bool mmap_try(struct ublk_queue *q, struct filter_req *req)
{
	char *map = q->cfg.backing_map;
	int err;

	if (req->op != FILTER_OP_READ && req->op != FILTER_OP_WRITE)
		return false;
	if ((req->flags & FILTER_REQ_FUA) || req->offset + req->len > q->cfg.backing_map_len)
		return false;
	DTRACE_PROBE6(sluice, backing_submit, q->cfg.dev_id, q->cfg.q_id, req->tag, req->op,
		      req->offset, req->len);
	err = user_copy(q, req->tag, map + req->offset, req->len, req->op == FILTER_OP_READ);
	DTRACE_PROBE5(sluice, backing_complete, q->cfg.dev_id, q->cfg.q_id, req->tag, req->op,
		      err ? err : (int)req->len);
	if (err)
		return false;
	req->result = req->len;
	queue_commit(q, req);
	return true;
}

/* The engine's done(): the request's data to the application, then commit. */
static void queue_done(struct engine *e, struct engine_io *io)
{
	struct ublk_queue *q = container_of(e, struct ublk_queue, eng);
	struct filter_req *req = &io->req;
	int err;

	if (q->cfg.user_copy && req->op == FILTER_OP_READ && req->result > 0) {
		err = user_copy(q, req->tag, io->buf, req->result, true);
		if (err)
			req->result = err;
	}
	queue_commit(q, req);
}

/* ------------------------------------------------------------ requests -- */

static int op_from_iod(const struct ublksrv_io_desc *iod, enum filter_op *op)
{
	switch (ublksrv_get_op(iod)) {
	case UBLK_IO_OP_READ:
		*op = FILTER_OP_READ;
		return 0;
	case UBLK_IO_OP_WRITE:
		*op = FILTER_OP_WRITE;
		return 0;
	case UBLK_IO_OP_FLUSH:
		*op = FILTER_OP_FLUSH;
		return 0;
	case UBLK_IO_OP_DISCARD:
		*op = FILTER_OP_DISCARD;
		return 0;
	case UBLK_IO_OP_WRITE_ZEROES:
		*op = FILTER_OP_WRITE_ZEROES;
		return 0;
	}
	return -EOPNOTSUPP;
}

void ublk_queue_handle(struct ublk_queue *q, unsigned int tag)
{
	const struct ublksrv_io_desc *iod = &q->iods[tag];
	struct engine_io *io = &q->eng.ios[tag];
	struct filter_req *req = &io->req;
	uint32_t flags = iod->op_flags;
	enum filter_op op = FILTER_OP_READ;
	int err;

	err = op_from_iod(iod, &op);
	req->op = op;
	req->flags = 0;
	if (flags & UBLK_IO_F_FUA)
		req->flags |= FILTER_REQ_FUA;
	if (flags & UBLK_IO_F_NOUNMAP)
		req->flags |= FILTER_REQ_NOUNMAP;
	req->offset = iod->start_sector << 9;
	req->len = (uint64_t)iod->nr_sectors << 9;
	req->buf = io->buf;
	DTRACE_PROBE6(sluice, req_fetched, q->cfg.dev_id, q->cfg.q_id, tag, ublksrv_get_op(iod),
		      req->offset, req->len);
	if (!err && (req->op == FILTER_OP_READ || req->op == FILTER_OP_WRITE ||
		     req->op == FILTER_OP_WRITE_ZEROES) && req->len > q->cfg.buf_size)
		err = -EINVAL;
	if (!err && q->cfg.read_only && req->op != FILTER_OP_READ && req->op != FILTER_OP_FLUSH)
		err = -EROFS;
	if (!err && q->cfg.backing_map && mmap_try(q, req))
		return;
	engine_req_begin(&q->eng, tag);
	if (!err && q->cfg.user_copy && req->op == FILTER_OP_WRITE)
		err = user_copy(q, tag, io->buf, req->len, false);
	if (err) {
		req->result = err;
		engine_req_done(req);
		return;
	}
	chain_submit(req);
}

/* A tag's FETCH_REQ or COMMIT_AND_FETCH_REQ came back with a request, or ABORT. */
static void queue_cmd_cqe(struct engine *e, const struct udata *d, int res)
{
	struct ublk_queue *q = container_of(e, struct ublk_queue, eng);

	if (d->kind != UDATA_CMD)
		return;
	q->cmds_inflight--;
	if (res == UBLK_IO_RES_OK) {
		ublk_queue_handle(q, d->tag);
		return;
	}
	/* ABORT: the device is going away and this tag is done. */
	if (res != UBLK_IO_RES_ABORT && !e->err)
		e->err = res;
}

/* The engine's flush(): batched commits go out before the engine waits. */
static void queue_flush(struct engine *e)
{
	struct ublk_queue *q = container_of(e, struct ublk_queue, eng);

	if (q->batch)
		ublk_batch_flush(q);
}

/* The engine's cqe(): a uring_cmd came back with a request, or ABORT. */
static void queue_cqe(struct engine *e, const struct udata *d, int res, uint32_t flags)
{
	struct ublk_queue *q = container_of(e, struct ublk_queue, eng);

	if (d->kind == UDATA_BATCH)
		ublk_batch_cqe(q, d->cookie, res, flags);
	else
		queue_cmd_cqe(e, d, res);
}

static const struct engine_ops queue_engine_ops = {
	.done = queue_done,
	.cqe = queue_cqe,
	.flush = queue_flush,
	.buf_cmd = queue_buf_cmd,
};

static int queue_loop(struct ublk_queue *q)
{
	struct engine *e = &q->eng;
	int err;

	while (!e->kicked) {
		if (!q->cmds_inflight && !e->reqs_active && !ublk_batch_pending(q)) {
			if (!e->bg_inflight)
				break;
			/* The driver is done with the disk: drain what filters started. */
			engine_drain(e);
		}
		err = engine_wait(e);
		if (err)
			return err;
	}
	return 0;
}

/* --------------------------------------------------------------- setup -- */

static int queue_setup(struct ublk_queue *q)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned int tag;
	off_t off;
	int err;

	q->iods_len = round_up(q->cfg.depth * sizeof(struct ublksrv_io_desc), page);
	off = UBLKSRV_CMD_BUF_OFFSET +
	      q->cfg.q_id * round_up(UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc), page);
	q->iods = mmap(NULL, q->iods_len, PROT_READ, MAP_SHARED | MAP_POPULATE, q->cfg.cdev_fd,
		       off);
	if (q->iods == MAP_FAILED) {
		q->iods = NULL;
		return -errno;
	}
	err = engine_setup(&q->eng);
	if (err)
		return err;
	if (q->cfg.batch)
		return ublk_batch_setup(q);
	for (tag = 0; tag < q->cfg.depth; tag++) {
		err = queue_io_cmd(q, tag, false, 0);
		if (err)
			return err;
	}
	err = io_uring_submit(&q->eng.ring);
	return err < 0 ? err : 0;
}

static void *queue_thread(void *arg)
{
	struct ublk_queue *q = arg;
	int err;

	err = queue_setup(q);
	pthread_mutex_lock(&q->lock);
	q->eng.err = err;
	q->setup_done = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (!err) {
		err = queue_loop(q);
		if (err && !q->eng.err)
			q->eng.err = err;
	}
	/* Closing the ring drops its reference to /dev/ublkcN; DEL_DEV waits for it. */
	engine_teardown(&q->eng);
	ublk_batch_free(q);
	if (q->iods)
		munmap((void *)q->iods, q->iods_len);
	q->iods = NULL;
	atomic_store(&q->exited, true);
	return NULL;
}

int ublk_queue_start(struct ublk_queue *q, const struct ublk_queue_cfg *cfg)
{
	struct engine_cfg ec = {
		.dev_id = cfg->dev_id,
		.q_id = cfg->q_id,
		.depth = cfg->depth,
		.buf_size = cfg->buf_size,
		.cdev_fd = cfg->cdev_fd,
		.backing_fd = cfg->backing_fd,
		.backing_buffered = cfg->backing_buffered,
		.backing_in_memory = cfg->backing_in_memory,
		.zc = !cfg->zero_copy ? ENGINE_ZC_NONE :
		      cfg->zero_copy == UBLK_F_AUTO_BUF_REG ? ENGINE_ZC_AUTO : ENGINE_ZC_REGISTER,
		.zc_user_copy = cfg->zc_user_copy,
		.chain = cfg->chain,
		.ops = &queue_engine_ops,
		.owner = q,
	};
	int err;

	memset(q, 0, sizeof(*q));
	q->cfg = *cfg;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	err = engine_init(&q->eng, &ec);
	if (err)
		return err;
	err = pthread_create(&q->thread, NULL, queue_thread, q);
	if (err) {
		engine_destroy(&q->eng);
		return -err;
	}
	q->thread_started = true;
	pthread_mutex_lock(&q->lock);
	while (!q->setup_done)
		pthread_cond_wait(&q->cond, &q->lock);
	err = q->eng.err;
	pthread_mutex_unlock(&q->lock);
	if (err)
		ublk_queue_join(q);
	return err;
}

void ublk_queue_kick(struct ublk_queue *q)
{
	if (q->thread_started)
		engine_ask(&q->eng, ENGINE_ASK_KICK);
}

void ublk_queue_drain(struct ublk_queue *q)
{
	if (q->thread_started)
		engine_ask(&q->eng, ENGINE_ASK_DRAIN);
}

int ublk_queue_join(struct ublk_queue *q)
{
	if (q->thread_started) {
		pthread_join(q->thread, NULL);
		q->thread_started = false;
	}
	engine_destroy(&q->eng);
	return q->eng.err;
}
