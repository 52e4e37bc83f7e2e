// SPDX-License-Identifier: GPL-2.0
/*
 * queue.c - the per-queue server loop. All work of a tag is on the queue's
 * ring; every CQE's user_data says what it is (lib/udata.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#include "lib/udata.h"
#include "ublk/queue.h"

/* Fixed-file slots registered on every queue ring. */
#define FILE_CDEV	0
#define FILE_BACKING	1

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static struct io_uring_sqe *queue_get_sqe(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		/* The SQ holds two entries per tag; full only with busy filters. */
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

static int queue_io_cmd(struct ublk_queue *q, unsigned int tag, bool commit, int result)
{
	struct ublk_io *io = &q->ios[tag];
	struct ublksrv_io_cmd *cmd;
	struct io_uring_sqe *sqe;

	sqe = queue_get_sqe(q);
	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = FILE_CDEV;
	sqe->flags = IOSQE_FIXED_FILE;
	if (q->cfg.ioctl_encode)
		sqe->cmd_op = commit ? UBLK_U_IO_COMMIT_AND_FETCH_REQ : UBLK_U_IO_FETCH_REQ;
	else
		sqe->cmd_op = commit ? UBLK_IO_COMMIT_AND_FETCH_REQ : UBLK_IO_FETCH_REQ;
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = q->cfg.q_id;
	cmd->tag = tag;
	cmd->result = result;
	/* With user copy the driver refuses a buffer address. */
	cmd->addr = q->cfg.user_copy ? 0 : (uint64_t)(uintptr_t)io->buf;
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_CMD, tag, 0, 0));
	q->cmds_inflight++;
	return 0;
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
	off_t pos = UBLKSRV_IO_BUF_OFFSET + ((off_t)q->cfg.q_id << UBLK_QID_OFF) +
		    ((off_t)tag << UBLK_TAG_OFF);
	ssize_t n;

	if (to_request)
		n = pwrite(q->cfg.cdev_fd, buf, len, pos);
	else
		n = pread(q->cfg.cdev_fd, buf, len, pos);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static void queue_commit(struct ublk_queue *q, struct ublk_io *io)
{
	struct filter_req *req = &io->req;
	int err;

	DTRACE_PROBE4(sluice, commit, q->cfg.dev_id, q->cfg.q_id, req->tag, req->result);
	io->active = false;
	q->reqs_active--;
	err = queue_io_cmd(q, req->tag, true, req->result);
	if (err && !q->err)
		q->err = err;
}

/*
 * Copy mode mmap: one copy between the request and the backing's pages.
 * The kernel does the copy, so a page the mapping cannot provide (a hole
 * on a full tmpfs, past the end of the file) is a short copy, never a
 * SIGBUS here; then the request takes the buffer path, whose backing I/O
 * returns the real error or the zeroes past the end. FUA needs RWF_DSYNC,
 * which only the buffer path has.
 */
static bool mmap_try(struct ublk_queue *q, struct ublk_io *io)
{
	struct filter_req *req = &io->req;
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
	queue_commit(q, io);
	return true;
}

/* ---------------------------------------------------------- backing I/O -- */

static void handle_backing_cqe(struct ublk_queue *q, unsigned int tag, int res);

/*
 * A buffered backing mostly hits the page cache, and io_uring hands file
 * systems without non-blocking buffered I/O to a worker thread, a context
 * switch per request: try the copy right here with RWF_NOWAIT first, and
 * let io_uring take only what would block. tmpfs and ramfs refuse
 * RWF_NOWAIT (EOPNOTSUPP, 6.12 and 6.18) but never wait for a disk either:
 * copy there without it. Returns false when io_uring must do it.
 */
static bool backing_try_inline(struct ublk_queue *q, struct ublk_io *io, char *buf,
			       uint32_t left, uint64_t off)
{
	struct filter_req *req = &io->req;
	struct iovec iov = { buf, left };
	bool nowait = !q->cfg.backing_in_memory;
	int flags = nowait ? RWF_NOWAIT : 0;
	ssize_t n;

	if (!q->cfg.backing_buffered || (req->flags & FILTER_REQ_FUA))
		return false;
	if (req->op == FILTER_OP_READ)
		n = preadv2(q->cfg.backing_fd, &iov, 1, off, flags);
	else if (req->op == FILTER_OP_WRITE)
		n = pwritev2(q->cfg.backing_fd, &iov, 1, off, flags);
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
	DTRACE_PROBE6(sluice, backing_submit, q->cfg.dev_id, q->cfg.q_id, req->tag, req->op, off,
		      left);
	handle_backing_cqe(q, req->tag, n < 0 ? -errno : (int)n);
	return true;
}

static void backing_submit(struct ublk_queue *q, struct ublk_io *io)
{
	struct filter_req *req = &io->req;
	uint64_t off = req->offset + io->done;
	char *buf = (char *)req->buf + io->done;
	uint32_t left = req->len - io->done;
	struct io_uring_sqe *sqe;
	int mode;

	if (backing_try_inline(q, io, buf, left, off))
		return;
	sqe = queue_get_sqe(q);
	if (!sqe) {
		chain_backing_done(req, -EBUSY);
		return;
	}
	switch (req->op) {
	case FILTER_OP_READ:
		io_uring_prep_read(sqe, FILE_BACKING, buf, left, off);
		break;
	case FILTER_OP_WRITE:
		io_uring_prep_write(sqe, FILE_BACKING, buf, left, off);
		if (req->flags & FILTER_REQ_FUA)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case FILTER_OP_FLUSH:
		io_uring_prep_fsync(sqe, FILE_BACKING, IORING_FSYNC_DATASYNC);
		break;
	case FILTER_OP_DISCARD:
		io_uring_prep_fallocate(sqe, FILE_BACKING, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					req->offset, req->len);
		break;
	case FILTER_OP_WRITE_ZEROES:
		if (io->zero_stage < 2) {
			mode = io->zero_stage == 0 ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE;
			io_uring_prep_fallocate(sqe, FILE_BACKING, mode | FALLOC_FL_KEEP_SIZE,
						req->offset, req->len);
		} else {
			/* max_write_zeroes_sectors is the buffer size: zeroes fit. */
			if (!io->done)
				memset(req->buf, 0, req->len);
			io_uring_prep_write(sqe, FILE_BACKING, buf, left, off);
		}
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_BACKING, req->tag, 0, 0));
	DTRACE_PROBE6(sluice, backing_submit, q->cfg.dev_id, q->cfg.q_id, req->tag, req->op, off,
		      left);
}

/* Returns true when the request needs another backing submission. */
static bool backing_result(struct ublk_io *io, int res, int *result)
{
	struct filter_req *req = &io->req;

	switch (req->op) {
	case FILTER_OP_READ:
		if (res < 0)
			break;
		/* Short reads only happen at the end of the file: zeroes follow. */
		io->done += res;
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

static void handle_backing_cqe(struct ublk_queue *q, unsigned int tag, int res)
{
	struct ublk_io *io = &q->ios[tag];
	int result;

	DTRACE_PROBE5(sluice, backing_complete, q->cfg.dev_id, q->cfg.q_id, tag, io->req.op, res);
	if (backing_result(io, res, &result)) {
		backing_submit(q, io);
		return;
	}
	chain_backing_done(&io->req, result);
}

/* ------------------------------------------------------ chain endpoints -- */

static void chain_bottom(struct filter_req *req)
{
	struct ublk_queue *q = req->owner;
	struct ublk_io *io = container_of(req, struct ublk_io, req);

	io->done = 0;
	io->zero_stage = 0;
	backing_submit(q, io);
}

static void chain_done(struct filter_req *req)
{
	struct ublk_queue *q = req->owner;
	struct ublk_io *io = container_of(req, struct ublk_io, req);
	int err;

	/* A filter that bounced a read must have copied back; make sure. */
	if (req->buf != io->buf) {
		if (req->op == FILTER_OP_READ && req->result > 0)
			memcpy(io->buf, req->buf, req->result);
		req->buf = io->buf;
	}
	if (q->cfg.user_copy && req->op == FILTER_OP_READ && req->result > 0) {
		err = user_copy(q, req->tag, io->buf, req->result, true);
		if (err)
			req->result = err;
	}
	queue_commit(q, io);
}

const struct chain_sinks ublk_queue_sinks = {
	.bottom = chain_bottom,
	.done = chain_done,
};

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

static void handle_request(struct ublk_queue *q, unsigned int tag)
{
	const struct ublksrv_io_desc *iod = &q->iods[tag];
	struct ublk_io *io = &q->ios[tag];
	struct filter_req *req = &io->req;
	uint32_t flags = iod->op_flags;
	enum filter_op op = FILTER_OP_READ;
	int err;

	io->active = true;
	q->reqs_active++;
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
	if (err)
		goto out_fail;
	if (q->cfg.backing_map && mmap_try(q, io))
		return;
	if (q->cfg.user_copy && req->op == FILTER_OP_WRITE) {
		err = user_copy(q, tag, io->buf, req->len, false);
		if (err)
			goto out_fail;
	}
	chain_submit(req);
	return;

out_fail:
	req->result = err;
	chain_done(req);
}

static void handle_cmd_cqe(struct ublk_queue *q, unsigned int tag, int res)
{
	q->cmds_inflight--;
	if (res == UBLK_IO_RES_OK) {
		handle_request(q, tag);
		return;
	}
	/* ABORT: the device is going away and this tag is done. */
	if (res != UBLK_IO_RES_ABORT && !q->err)
		q->err = res;
}

static void handle_cqe(struct ublk_queue *q, struct io_uring_cqe *cqe)
{
	struct udata d = udata_decode(cqe->user_data);

	if (d.kind != UDATA_WAKE && d.tag >= q->cfg.depth)
		return;
	switch (d.kind) {
	case UDATA_CMD:
		handle_cmd_cqe(q, d.tag, cqe->res);
		break;
	case UDATA_BACKING:
		handle_backing_cqe(q, d.tag, cqe->res);
		break;
	case UDATA_FILTER:
		chain_filter_cqe(&q->ios[d.tag].req, d.filter, d.cookie, cqe->res);
		break;
	case UDATA_WAKE:
		q->kicked = true;
		break;
	}
}

static int queue_loop(struct ublk_queue *q)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n;
	int ret;

	while ((q->cmds_inflight || q->reqs_active) && !q->kicked) {
		ret = io_uring_submit_and_wait(&q->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return ret;
		n = 0;
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			handle_cqe(q, cqe);
			n++;
		}
		io_uring_cq_advance(&q->ring, n);
	}
	return 0;
}

/* --------------------------------------------------------------- setup -- */

static int ring_init(struct ublk_queue *q)
{
	static const unsigned int tries[] = {
		/* 6.1+: task work only when we wait, on this thread */
		IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN,
		IORING_SETUP_SQE128,
	};
	int fds[2] = { q->cfg.cdev_fd, q->cfg.backing_fd };
	unsigned int i;
	int err = -EINVAL;

	for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		err = io_uring_queue_init(2 * q->cfg.depth, &q->ring, tries[i]);
		if (err != -EINVAL)
			break;
	}
	if (err)
		return err;
	q->ring_ok = true;
	return io_uring_register_files(&q->ring, fds, 2);
}

static int queue_setup(struct ublk_queue *q)
{
	long page = sysconf(_SC_PAGESIZE);
	struct io_uring_sqe *sqe;
	off_t off;
	unsigned int tag;
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
	q->bufs_len = (size_t)q->cfg.depth * q->cfg.buf_size;
	q->bufs = mmap(NULL, q->bufs_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (q->bufs == MAP_FAILED) {
		q->bufs = NULL;
		return -errno;
	}
	q->ios = calloc(q->cfg.depth, sizeof(*q->ios));
	if (!q->ios)
		return -ENOMEM;
	err = ring_init(q);
	if (err)
		return err;
	sqe = queue_get_sqe(q);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, q->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_WAKE, 0, 0, 0));
	for (tag = 0; tag < q->cfg.depth; tag++) {
		struct ublk_io *io = &q->ios[tag];

		io->buf = (char *)q->bufs + (size_t)tag * q->cfg.buf_size;
		err = chain_req_init(q->cfg.chain, &io->req, q->cfg.q_id, tag, &q->ring, q);
		if (err)
			return err;
		err = queue_io_cmd(q, tag, false, 0);
		if (err)
			return err;
	}
	err = io_uring_submit(&q->ring);
	return err < 0 ? err : 0;
}

static void queue_free(struct ublk_queue *q)
{
	unsigned int tag;

	if (q->ring_ok)
		io_uring_queue_exit(&q->ring);
	q->ring_ok = false;
	if (q->ios) {
		for (tag = 0; tag < q->cfg.depth; tag++)
			if (q->ios[tag].req.chain)
				chain_req_fini(&q->ios[tag].req);
		free(q->ios);
		q->ios = NULL;
	}
	if (q->bufs)
		munmap(q->bufs, q->bufs_len);
	q->bufs = NULL;
	if (q->iods)
		munmap((void *)q->iods, q->iods_len);
	q->iods = NULL;
}

static void *queue_thread(void *arg)
{
	struct ublk_queue *q = arg;
	int err;

	err = queue_setup(q);
	pthread_mutex_lock(&q->lock);
	q->err = err;
	q->setup_done = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (!err) {
		err = queue_loop(q);
		if (err && !q->err)
			q->err = err;
	}
	/* Closing the ring drops its reference to /dev/ublkcN; DEL_DEV waits for it. */
	queue_free(q);
	atomic_store(&q->exited, true);
	return NULL;
}

int ublk_queue_start(struct ublk_queue *q, const struct ublk_queue_cfg *cfg)
{
	int err;

	memset(q, 0, sizeof(*q));
	q->cfg = *cfg;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->wake_fd < 0)
		return -errno;
	err = pthread_create(&q->thread, NULL, queue_thread, q);
	if (err) {
		close(q->wake_fd);
		q->wake_fd = -1;
		return -err;
	}
	q->thread_started = true;
	pthread_mutex_lock(&q->lock);
	while (!q->setup_done)
		pthread_cond_wait(&q->cond, &q->lock);
	err = q->err;
	pthread_mutex_unlock(&q->lock);
	if (err)
		ublk_queue_join(q);
	return err;
}

void ublk_queue_kick(struct ublk_queue *q)
{
	uint64_t one = 1;

	if (q->thread_started && write(q->wake_fd, &one, sizeof(one)) < 0)
		return;
}

int ublk_queue_join(struct ublk_queue *q)
{
	if (q->thread_started) {
		pthread_join(q->thread, NULL);
		q->thread_started = false;
	}
	if (q->wake_fd > 0)
		close(q->wake_fd);
	q->wake_fd = -1;
	return q->err;
}
