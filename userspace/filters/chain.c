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
#include "lib/udata.h"

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
	c->sinks.done(req);
}

void chain_submit(struct filter_req *req)
{
	req->pos = 0;
	req->going_up = 0;
	req->pending = 0;
	req->result = 0;
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

void chain_filter_cqe(struct filter_req *req, unsigned int index, uint32_t cookie, int res)
{
	struct filter *f;

	if (index >= (unsigned int)req->chain->n)
		return;
	f = &req->chain->filters[index];
	if (f->ops->io_done)
		f->ops->io_done(f, req, cookie, res);
}

struct io_uring_sqe *filter_get_sqe(struct filter *f, struct filter_req *req, uint32_t cookie)
{
	struct io_uring_sqe *sqe;

	if (!req->ring)
		return NULL;
	sqe = io_uring_get_sqe(req->ring);
	if (!sqe)
		return NULL;
	/* The filter preps the SQE next; prep helpers leave user_data alone. */
	io_uring_sqe_set_data64(sqe, udata_encode(UDATA_FILTER, req->tag, f->index, cookie));
	return sqe;
}

void *filter_req_priv(struct filter *f, struct filter_req *req)
{
	return req->priv ? req->priv[f->index] : NULL;
}

int chain_filter_stats(struct filter_chain *c, int index, struct filter_stat *st, int max)
{
	struct filter *f;

	if (index < 0 || index >= c->n)
		return 0;
	f = &c->filters[index];
	return f->ops->stats ? f->ops->stats(f, st, max) : 0;
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
