// SPDX-License-Identifier: GPL-2.0
/*
 * batch.c - a queue's ublk commands where the driver has batched ones
 * (UBLK_F_BATCH_IO, Linux 7.0): one PREP_IO_CMDS arms every tag at setup;
 * one multishot FETCH_IO_CMDS stays armed and posts arrays of tags into the
 * buffers of a provided buffer ring; the results of the requests done in
 * one turn of the loop go back in one COMMIT_IO_CMDS, just before the
 * engine submits and waits. A tag comes back only after its commit has
 * run, so the elements waiting for a commit never exceed the depth.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/macro.h"
#include "lib/udata.h"
#include "lib/uring.h"
#include "ublk/batch.h"

#define BATCH_FETCH_BUFS	4	/* tag arrays posted before we read one; a power of 2 */
#define BATCH_COMMIT_BUFS	4	/* COMMIT_IO_CMDS in flight at most */
#define BATCH_BGID		0

/* UDATA_BATCH cookies: the command in bits 0-7, a commit's buffer above. */
#define BATCH_PREP		1
#define BATCH_FETCH		2
#define BATCH_COMMIT		3

struct ublk_batch {
	uint16_t flags;			/* UBLK_BATCH_F_* of PREP and COMMIT */
	uint8_t elem_bytes;		/* 8, or 16 with the buffer address */
	char *pend;			/* elements of the next COMMIT */
	unsigned int npend;
	char *commit;			/* BATCH_COMMIT_BUFS buffers of depth elements */
	unsigned int commit_n[BATCH_COMMIT_BUFS];	/* elements in flight, 0: free */
	struct io_uring_buf_ring *br;	/* BATCH_FETCH_BUFS entries, page aligned */
	size_t br_len;
	uint16_t *tags;			/* BATCH_FETCH_BUFS arrays of depth tags */
	bool aborted;			/* the driver ended the fetch: the disk stops */
};

static size_t batch_elems_len(const struct ublk_queue *q)
{
	return (size_t)q->cfg.depth * q->batch->elem_bytes;
}

/* The element of @tag for PREP (@result 0) or COMMIT at @p. */
static void batch_elem(const struct ublk_queue *q, char *p, unsigned int tag, int result)
{
	struct ublk_elem_header h = {
		.tag = tag,
		/* auto registration: the tag's next request goes to index tag */
		.buf_index = q->cfg.zero_copy == UBLK_F_AUTO_BUF_REG ? tag : 0,
		.result = result,
	};
	uint64_t addr = (uint64_t)(uintptr_t)q->eng.ios[tag].buf;

	memcpy(p, &h, sizeof(h));
	if (q->batch->flags & UBLK_BATCH_F_HAS_BUF_ADDR)
		memcpy(p + sizeof(h), &addr, sizeof(addr));
}

static void batch_sqe(struct ublk_queue *q, struct io_uring_sqe *sqe, uint32_t op,
		      unsigned int nr, uint32_t cookie)
{
	struct ublk_batch_io *cmd = (struct ublk_batch_io *)sqe->cmd;

	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ENGINE_FILE_CDEV;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	cmd->q_id = q->cfg.q_id;
	cmd->nr_elem = nr;
	cmd->elem_bytes = op == UBLK_U_IO_FETCH_IO_CMDS ? sizeof(uint16_t) : q->batch->elem_bytes;
	cmd->flags = op == UBLK_U_IO_FETCH_IO_CMDS ? 0 : q->batch->flags;
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_BATCH, 0, 0, cookie));
	q->cmds_inflight++;
}

static int batch_arm_fetch(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe;

	if (uring_get_sqes(&q->eng.ring, &sqe, 1))
		return -EBUSY;
	batch_sqe(q, sqe, UBLK_U_IO_FETCH_IO_CMDS, q->cfg.depth, BATCH_FETCH);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BATCH_BGID;
	sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
	return 0;
}

void ublk_batch_commit(struct ublk_queue *q, unsigned int tag, int result)
{
	struct ublk_batch *b = q->batch;

	if (b->npend >= q->cfg.depth) {
		/* a tag committed twice before a flush: not a request the driver gave */
		if (!q->eng.err)
			q->eng.err = -EINVAL;
		return;
	}
	batch_elem(q, b->pend + (size_t)b->npend * b->elem_bytes, tag, result);
	b->npend++;
}

void ublk_batch_flush(struct ublk_queue *q)
{
	struct ublk_batch *b = q->batch;
	struct io_uring_sqe *sqe;
	unsigned int slot;
	char *buf;

	if (!b->npend)
		return;
	for (slot = 0; slot < BATCH_COMMIT_BUFS && b->commit_n[slot]; slot++)
		;
	/* all in flight: their CQEs wake us, the next turn sends these */
	if (slot == BATCH_COMMIT_BUFS || uring_get_sqes(&q->eng.ring, &sqe, 1))
		return;
	buf = b->commit + slot * batch_elems_len(q);
	memcpy(buf, b->pend, (size_t)b->npend * b->elem_bytes);
	batch_sqe(q, sqe, UBLK_U_IO_COMMIT_IO_CMDS, b->npend, BATCH_COMMIT | slot << 8);
	sqe->addr = (uint64_t)(uintptr_t)buf;
	sqe->len = b->npend * b->elem_bytes;
	b->commit_n[slot] = b->npend;
	b->npend = 0;
}

bool ublk_batch_pending(const struct ublk_queue *q)
{
	return q->batch && q->batch->npend;
}

static void batch_fetch_cqe(struct ublk_queue *q, int res, uint32_t flags)
{
	struct ublk_batch *b = q->batch;
	unsigned int bid, i;
	uint16_t *tags;

	if (flags & IORING_CQE_F_BUFFER) {
		bid = (flags >> IORING_CQE_BUFFER_SHIFT) & (BATCH_FETCH_BUFS - 1);
		tags = b->tags + (size_t)bid * q->cfg.depth;
		for (i = 0; res > 0 && i < (unsigned int)res / sizeof(uint16_t); i++) {
			if (tags[i] < q->cfg.depth)
				ublk_queue_handle(q, tags[i]);
			else if (!q->eng.err)
				q->eng.err = -EPROTO;
		}
		/* read: the buffer goes back to the ring at once */
		io_uring_buf_ring_add(b->br, tags, q->cfg.depth * sizeof(uint16_t), bid,
				      io_uring_buf_ring_mask(BATCH_FETCH_BUFS), 0);
		io_uring_buf_ring_advance(b->br, 1);
	}
	if (flags & IORING_CQE_F_MORE)
		return;
	q->cmds_inflight--;
	if (res == UBLK_IO_RES_ABORT) {
		b->aborted = true;
		return;
	}
	/* -ENOBUFS: every buffer was full before we read one; others end it too */
	if (res < 0 && res != -ENOBUFS) {
		if (!q->eng.err)
			q->eng.err = res;
		return;
	}
	if (batch_arm_fetch(q) && !q->eng.err)
		q->eng.err = -EBUSY;
}

void ublk_batch_cqe(struct ublk_queue *q, uint32_t cookie, int res, uint32_t flags)
{
	struct ublk_batch *b = q->batch;
	unsigned int slot = cookie >> 8, n;

	if (!b)
		return;
	switch (cookie & 0xff) {
	case BATCH_FETCH:
		batch_fetch_cqe(q, res, flags);
		return;
	case BATCH_COMMIT:
		if (slot >= BATCH_COMMIT_BUFS)
			return;
		q->cmds_inflight--;
		n = b->commit_n[slot];
		b->commit_n[slot] = 0;
		/* the bytes of the elements committed; a dying disk may refuse them */
		if (res != (int)(n * b->elem_bytes) && !b->aborted && !q->eng.err)
			q->eng.err = res < 0 ? res : -EIO;
		return;
	}
}

void ublk_batch_free(struct ublk_queue *q)
{
	struct ublk_batch *b = q->batch;

	if (!b)
		return;
	/* the ring is gone (engine_teardown), and its buffer ring with it */
	if (b->br)
		munmap(b->br, b->br_len);
	free(b->pend);
	free(b->commit);
	free(b->tags);
	free(b);
	q->batch = NULL;
}

/*
 * PREP_IO_CMDS for every tag, waited for here (START_DEV needs every tag
 * armed), then the fetch. 0 or -errno.
 */
static int batch_prep(struct ublk_queue *q)
{
	struct ublk_batch *b = q->batch;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct udata d;
	unsigned int tag;
	int err;

	for (tag = 0; tag < q->cfg.depth; tag++)
		batch_elem(q, b->pend + (size_t)tag * b->elem_bytes, tag, 0);
	if (uring_get_sqes(&q->eng.ring, &sqe, 1))
		return -EBUSY;
	batch_sqe(q, sqe, UBLK_U_IO_PREP_IO_CMDS, q->cfg.depth, BATCH_PREP);
	sqe->addr = (uint64_t)(uintptr_t)b->pend;
	sqe->len = batch_elems_len(q);
	err = io_uring_submit_and_wait(&q->eng.ring, 1);
	if (err < 0)
		return err;
	/* nothing else is on the ring yet */
	err = io_uring_peek_cqe(&q->eng.ring, &cqe);
	if (err)
		return err;
	d = udata_decode(cqe->user_data);
	err = d.kind == UDATA_BATCH && d.cookie == BATCH_PREP ? cqe->res : -EPROTO;
	io_uring_cqe_seen(&q->eng.ring, cqe);
	q->cmds_inflight--;
	if (err)
		return err;
	err = batch_arm_fetch(q);
	if (err)
		return err;
	err = io_uring_submit(&q->eng.ring);
	return err < 0 ? err : 0;
}

int ublk_batch_setup(struct ublk_queue *q)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t tags_len = (size_t)q->cfg.depth * sizeof(uint16_t);
	struct io_uring_buf_reg reg = { 0 };
	struct ublk_batch *b;
	unsigned int i;
	int err;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	q->batch = b;
	/* copy mode names the tag's buffer; user copy and zero copy have none */
	if (!q->cfg.user_copy && !q->cfg.zero_copy)
		b->flags = UBLK_BATCH_F_HAS_BUF_ADDR;
	b->elem_bytes = sizeof(struct ublk_elem_header) +
			((b->flags & UBLK_BATCH_F_HAS_BUF_ADDR) ? sizeof(uint64_t) : 0);
	b->pend = calloc(q->cfg.depth, b->elem_bytes);
	b->commit = calloc(BATCH_COMMIT_BUFS, batch_elems_len(q));
	b->tags = calloc(BATCH_FETCH_BUFS, tags_len);
	if (!b->pend || !b->commit || !b->tags)
		return -ENOMEM;
	b->br_len = round_up(BATCH_FETCH_BUFS * sizeof(struct io_uring_buf), page);
	b->br = mmap(NULL, b->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		     0);
	if (b->br == MAP_FAILED) {
		b->br = NULL;
		return -errno;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = BATCH_FETCH_BUFS;
	reg.bgid = BATCH_BGID;
	err = io_uring_register_buf_ring(&q->eng.ring, &reg, 0);
	if (err)
		return err;
	io_uring_buf_ring_init(b->br);
	for (i = 0; i < BATCH_FETCH_BUFS; i++)
		io_uring_buf_ring_add(b->br, b->tags + (size_t)i * q->cfg.depth, tags_len, i,
				      io_uring_buf_ring_mask(BATCH_FETCH_BUFS), i);
	io_uring_buf_ring_advance(b->br, BATCH_FETCH_BUFS);
	return batch_prep(q);
}
