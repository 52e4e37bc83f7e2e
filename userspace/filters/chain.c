// SPDX-License-Identifier: GPL-2.0
/*
 * chain.c - runs requests down a filter chain, to the backing and back up.
 * The position of a request in the chain lives in the request itself, so a
 * filter that went asynchronous resumes it exactly where it stopped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

#include <liburing.h>

#include "filters/chain.h"
#include "lib/fileio.h"
#include "lib/udata.h"
#include "lib/uring.h"

int chain_create(struct filter_chain **out, const struct filter_ops *const *ops,
		 const struct filter_config *cfgs, int n, const struct chain_sinks *sinks)
{
	struct filter_chain *c;
	int err, i;

	if (n < 0 || n > CHAIN_MAX_FILTERS)
		return -E2BIG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->dev_id = -1;
	c->sinks = *sinks;
	c->drain_ms = CHAIN_DRAIN_MS;
	for (i = 0; i < n; i++) {
		struct filter *f = &c->filters[i];

		f->ops = ops[i];
		f->index = i;
		f->chain = c;
		if (f->ops->init) {
			err = f->ops->init(f, &cfgs[i]);
			if (err)
				goto out_teardown;
		}
		c->n = i + 1;
	}
	c->refused = chain_refused_ops(c);
	*out = c;
	return 0;

out_teardown:
	chain_destroy(c);
	return err;
}

void chain_destroy(struct filter_chain *c)
{
	int i;

	if (!c)
		return;
	chain_stop(c);
	for (i = c->n - 1; i >= 0; i--)
		if (c->filters[i].ops->teardown)
			c->filters[i].ops->teardown(&c->filters[i]);
	free(c);
}

int chain_req_init(struct filter_chain *c, struct filter_req *req, uint16_t queue,
		   uint16_t tag, struct io_uring *ring, void *owner)
{
	int i;

	memset(req, 0, sizeof(*req));
	req->chain = c;
	req->queue = queue;
	req->tag = tag;
	req->ring = ring;
	req->owner = owner;
	req->buf_index = -1;
	req->copy_fd = -1;
	if (!c->n)
		return 0;
	req->priv = calloc(c->n, sizeof(*req->priv));
	if (!req->priv)
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		size_t sz = c->filters[i].ops->req_priv_size;

		if (!sz)
			continue;
		req->priv[i] = calloc(1, sz);
		if (!req->priv[i]) {
			chain_req_fini(req);
			return -ENOMEM;
		}
	}
	return 0;
}

void chain_req_fini(struct filter_req *req)
{
	int i;

	if (!req->priv)
		return;
	for (i = 0; i < req->chain->n; i++)
		free(req->priv[i]);
	free(req->priv);
	req->priv = NULL;
}

static int call_down(struct filter *f, struct filter_req *req)
{
	const struct filter_ops *o = f->ops;

	switch (req->op) {
	case FILTER_OP_READ:
		return o->read ? o->read(f, req) : FILTER_CONTINUE;
	case FILTER_OP_WRITE:
		return o->write ? o->write(f, req) : FILTER_CONTINUE;
	case FILTER_OP_FLUSH:
		return o->flush ? o->flush(f, req) : FILTER_CONTINUE;
	case FILTER_OP_DISCARD:
	case FILTER_OP_WRITE_ZEROES:
		return o->discard ? o->discard(f, req) : FILTER_CONTINUE;
	}
	return -EOPNOTSUPP;
}

/*
 * Moves the request as far as it goes: down until a filter stops it or the
 * backing takes it, then up until a filter holds it or it is done.
 */
static void chain_run(struct filter_req *req)
{
	struct filter_chain *c = req->chain;
	struct filter *f;
	int v;

	while (!req->going_up) {
		if (req->pos >= c->n) {
			c->sinks.bottom(req);
			return;
		}
		f = &c->filters[req->pos];
		DTRACE_PROBE5(sluice, filter_enter, c->dev_id, req->queue, req->tag, req->op,
			      req->pos);
		v = call_down(f, req);
		DTRACE_PROBE5(sluice, filter_exit, c->dev_id, req->queue, req->tag, req->pos, v);
		if (v == FILTER_PENDING) {
			req->pending = 1;
			return;
		}
		if (v == FILTER_CONTINUE) {
			req->pos++;
			continue;
		}
		if (v < 0)
			req->result = v;
		req->going_up = 1;
		req->pos--;
	}
	for (; req->pos >= 0; req->pos--) {
		f = &c->filters[req->pos];
		if (!f->ops->completion)
			continue;
		DTRACE_PROBE5(sluice, filter_enter, c->dev_id, req->queue, req->tag, req->op,
			      req->pos);
		v = f->ops->completion(f, req);
		DTRACE_PROBE5(sluice, filter_exit, c->dev_id, req->queue, req->tag, req->pos, v);
		if (v == FILTER_PENDING) {
			req->pending = 1;
			return;
		}
		if (v < 0)
			req->result = v;
	}
	if (req->zeroes) {
		req->op = FILTER_OP_WRITE_ZEROES;
		req->zeroes = 0;
		if (req->result > 0)
			req->result = 0;
	}
	c->sinks.done(req);
}

void chain_submit(struct filter_req *req)
{
	req->pos = 0;
	req->going_up = 0;
	req->pending = 0;
	req->cancelled = 0;
	req->zeroes = 0;
	req->result = 0;
	/* Refused before any filter sees it: a filter below may not pass it on safely. */
	if (req->chain->refused & (1u << req->op)) {
		req->result = -EOPNOTSUPP;
		req->chain->sinks.done(req);
		return;
	}
	chain_run(req);
}

void chain_backing_done(struct filter_req *req, int res)
{
	req->result = res;
	req->going_up = 1;
	req->pos = req->chain->n - 1;
	chain_run(req);
}

void filter_resume(struct filter_req *req, int verdict)
{
	req->pending = 0;
	if (req->going_up) {
		if (verdict < 0)
			req->result = verdict;
		req->pos--;
	} else if (verdict == FILTER_CONTINUE) {
		req->pos++;
	} else {
		if (verdict < 0)
			req->result = verdict;
		req->going_up = 1;
		req->pos--;
	}
	chain_run(req);
}

static void cancel_finish(struct filter_req *req)
{
	req->cancelled = 0;
	filter_resume(req, -ECANCELED);
}

void chain_req_cancel(struct filter_req *req)
{
	struct filter *f;

	if (!req->pending || req->cancelled)
		return;
	f = &req->chain->filters[req->pos];
	if (f->ops->cancel)
		f->ops->cancel(f, req);
	req->cancelled = 1;
	if (!req->fio)
		cancel_finish(req);
}

void chain_filter_cqe(struct filter_req *req, unsigned int index, uint32_t cookie, int res)
{
	struct filter *f;

	if (req->fio)
		req->fio--;
	if (req->cancelled) {
		/* Given up: the filter forgot it; fail it once its last I/O is back. */
		if (!req->fio)
			cancel_finish(req);
		return;
	}
	if (index >= (unsigned int)req->chain->n)
		return;
	f = &req->chain->filters[index];
	if (f->ops->io_done)
		f->ops->io_done(f, req, cookie, res);
}

int filter_get_sqes(struct filter *f, struct filter_req *req, struct io_uring_sqe **sqes,
		    const uint32_t *cookies, unsigned int n)
{
	unsigned int i;

	if (!req->ring || uring_get_sqes(req->ring, sqes, n))
		return -EBUSY;
	/* The filter preps the SQEs next; prep helpers leave user_data alone. */
	for (i = 0; i < n; i++)
		io_uring_sqe_set_data64(sqes[i], udata_encode(UDATA_FILTER, req->tag, f->index,
							      cookies[i]));
	req->fio += n;
	return 0;
}

struct io_uring_sqe *filter_get_sqe(struct filter *f, struct filter_req *req, uint32_t cookie)
{
	struct io_uring_sqe *sqe;

	return filter_get_sqes(f, req, &sqe, &cookie, 1) ? NULL : sqe;
}

int filter_cancel_sqe(struct filter *f, struct filter_req *req, uint32_t cookie)
{
	struct io_uring_sqe *sqe;

	if (!req->ring || uring_get_sqes(req->ring, &sqe, 1))
		return -EBUSY;
	io_uring_prep_cancel64(sqe, udata_encode(UDATA_FILTER, req->tag, f->index, cookie),
			       IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_CANCEL, 0, 0, 0));
	return 0;
}

void *filter_req_priv(struct filter *f, struct filter_req *req)
{
	return req->priv ? req->priv[f->index] : NULL;
}

void *filter_queue_priv(struct filter *f, struct filter_queue *fq)
{
	return fq && fq->priv ? fq->priv[f->index] : NULL;
}

int filter_add_file(struct filter *f, int fd)
{
	struct filter_chain *c = f->chain;

	if (c->nr_files >= CHAIN_MAX_FILES)
		return -E2BIG;
	c->files[c->nr_files] = fd;
	return FILTER_FILE_BACKING + 1 + c->nr_files++;
}

int filter_zeroes_to_write(struct filter_req *req)
{
	if (req->op != FILTER_OP_WRITE_ZEROES || (req->buf_size && req->len > req->buf_size))
		return -EINVAL;
	memset(req->buf, 0, req->len);
	req->op = FILTER_OP_WRITE;
	req->flags &= ~FILTER_REQ_NOUNMAP;
	req->zeroes = 1;
	/* a WRITE_ZEROES has no pages for the driver to register */
	req->buf_index = -1;
	req->copy_fd = -1;
	return 0;
}

int filter_copy_data(const struct filter_req *req, bool to_req, void *buf, uint32_t at,
		     uint32_t len)
{
	if (req->buf_index < 0) {
		if (to_req)
			memcpy((char *)req->buf + at, buf, len);
		else
			memcpy(buf, (char *)req->buf + at, len);
		return 0;
	}
	if (req->copy_fd < 0)
		return -EOPNOTSUPP;
	return pio_exact(req->copy_fd, to_req, buf, len, req->copy_pos + at);
}

void filter_prep_data(struct io_uring_sqe *sqe, const struct filter_req *req, bool write,
		      int file, uint32_t at, uint32_t len, uint64_t off)
{
	/* a kernel buffer's fixed address is an offset into it (6.15+) */
	if (req->buf_index >= 0 && write)
		io_uring_prep_write_fixed(sqe, file, (void *)(uintptr_t)at, len, off,
					  req->buf_index);
	else if (req->buf_index >= 0)
		io_uring_prep_read_fixed(sqe, file, (void *)(uintptr_t)at, len, off,
					 req->buf_index);
	else if (write)
		io_uring_prep_write(sqe, file, (char *)req->buf + at, len, off);
	else
		io_uring_prep_read(sqe, file, (char *)req->buf + at, len, off);
	sqe->flags |= IOSQE_FIXED_FILE;
}

/* ------------------------------------------------------- disk and queue -- */

int chain_start(struct filter_chain *c)
{
	struct filter *f;
	int err, i;

	for (i = c->started; i < c->n; i++) {
		f = &c->filters[i];
		if (f->ops->start) {
			err = f->ops->start(f);
			if (err) {
				chain_stop(c);
				return err;
			}
		}
		c->started = i + 1;
	}
	return 0;
}

void chain_stop(struct filter_chain *c)
{
	struct filter *f;

	if (!c)
		return;
	while (c->started > 0) {
		f = &c->filters[--c->started];
		if (f->ops->stop)
			f->ops->stop(f);
	}
}

uint64_t chain_data_offset(const struct filter_chain *c)
{
	uint64_t off = 0;
	int i;

	for (i = 0; i < c->n; i++)
		off += c->filters[i].data_offset;
	return off;
}

const char *chain_data_filter(const struct filter_chain *c)
{
	int i;

	for (i = 0; c && i < c->n; i++)
		if (!c->filters[i].ops->data_blind && !c->filters[i].ops->data_mover)
			return c->filters[i].ops->name;
	return NULL;
}

const char *chain_data_mover(const struct filter_chain *c)
{
	int i;

	for (i = 0; c && i < c->n; i++)
		if (c->filters[i].ops->data_mover)
			return c->filters[i].ops->name;
	return NULL;
}

int chain_geometry(const struct filter_chain *c, uint64_t backing_size, uint64_t *data_offset,
		   uint64_t *disk_size)
{
	uint64_t off = chain_data_offset(c), size;
	int i;

	if (off && off >= backing_size)
		return -ENOSPC;
	size = backing_size - off;
	for (i = 0; i < c->n; i++)
		if (c->filters[i].data_size && c->filters[i].data_size < size)
			size = c->filters[i].data_size;
	*data_offset = off;
	*disk_size = size;
	return 0;
}

unsigned int chain_refused_ops(const struct filter_chain *c)
{
	unsigned int mask = 0;
	int i;

	for (i = 0; i < c->n; i++)
		mask |= c->filters[i].refused_ops;
	return mask;
}

int chain_queue_init(struct filter_chain *c, struct filter_queue *fq, uint16_t id,
		     struct io_uring *ring, void *owner)
{
	struct filter *f;
	int err = -ENOMEM, i;

	memset(fq, 0, sizeof(*fq));
	fq->id = id;
	fq->ring = ring;
	fq->chain = c;
	fq->owner = owner;
	if (!c->n)
		return 0;
	fq->priv = calloc(c->n, sizeof(*fq->priv));
	if (!fq->priv)
		goto out_fini;
	for (i = 0; i < c->n; i++) {
		size_t sz = c->filters[i].ops->queue_priv_size;

		if (sz && !(fq->priv[i] = calloc(1, sz)))
			goto out_fini;
	}
	for (i = 0; i < c->n; i++) {
		f = &c->filters[i];
		if (f->ops->queue_init) {
			err = f->ops->queue_init(f, fq);
			if (err)
				goto out_fini;
		}
		fq->inited = i + 1;
	}
	return 0;

out_fini:
	chain_queue_fini(fq);
	return err;
}

void chain_queue_fini(struct filter_queue *fq)
{
	struct filter_chain *c = fq->chain;
	struct filter *f;
	int i;

	if (!c)
		return;
	while (fq->inited > 0) {
		f = &c->filters[--fq->inited];
		if (f->ops->queue_fini)
			f->ops->queue_fini(f, fq);
	}
	if (fq->priv) {
		for (i = 0; i < c->n; i++)
			free(fq->priv[i]);
		free(fq->priv);
	}
	fq->priv = NULL;
	fq->chain = NULL;
}

void chain_queue_wake(struct filter_queue *fq)
{
	struct filter_chain *c = fq->chain;
	int i;

	for (i = 0; i < c->n; i++)
		if (c->filters[i].ops->wake)
			c->filters[i].ops->wake(&c->filters[i], fq);
}

void chain_queue_before_wait(struct filter_queue *fq)
{
	struct filter_chain *c = fq->chain;
	int i;

	for (i = 0; c && i < c->n; i++)
		if (c->filters[i].ops->before_wait)
			c->filters[i].ops->before_wait(&c->filters[i], fq);
}

void chain_queue_drain(struct filter_queue *fq)
{
	struct filter_chain *c = fq->chain;
	int i;

	for (i = 0; i < c->n; i++)
		if (c->filters[i].ops->drain)
			c->filters[i].ops->drain(&c->filters[i], fq);
}

void chain_bg_cqe(struct filter_queue *fq, unsigned int index, uint64_t cookie, int res)
{
	struct filter *f;

	if (index >= (unsigned int)fq->chain->n)
		return;
	f = &fq->chain->filters[index];
	if (f->ops->bg_done)
		f->ops->bg_done(f, fq, cookie, res);
}

int chain_filter_stats(struct filter_chain *c, int index, struct filter_stat *st, int max)
{
	struct filter *f;

	if (index < 0 || index >= c->n)
		return 0;
	f = &c->filters[index];
	return f->ops->stats ? f->ops->stats(f, st, max) : 0;
}

int chain_filter_control(struct filter_chain *c, const char *name, const char *cmd)
{
	struct filter *f;
	int i;

	for (i = 0; i < c->n; i++) {
		f = &c->filters[i];
		if (strcmp(f->ops->name, name))
			continue;
		return f->ops->control ? f->ops->control(f, cmd) : -EOPNOTSUPP;
	}
	return -ENOENT;
}

int filter_config_get(const struct filter_config *cfg, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = cfg->args;

	while (p && *p) {
		const char *end = strchrnul(p, ',');

		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t vlen = end - (p + klen + 1);

			if (vlen + 1 > len)
				return -ENAMETOOLONG;
			memcpy(buf, p + klen + 1, vlen);
			buf[vlen] = '\0';
			return 0;
		}
		p = *end ? end + 1 : NULL;
	}
	return -ENOENT;
}
