// SPDX-License-Identifier: GPL-2.0
/*
 * io.c - the cache filter's own writes on the cache device: one request's
 * chain per block (cache/format.h order), on the ring or, for a cache in
 * memory, done inline (unless the data is a zero copy request's pages).
 */
#include <sys/uio.h>

#include "cache/cache.h"
#include "filters/chain.h"

void cache_prep_rw(struct cache *c, struct io_uring_sqe *sqe, bool write, void *buf,
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

void cache_prep_data(struct cache *c, struct io_uring_sqe *sqe, const struct filter_req *req,
		     bool write, void *buf, uint32_t len, uint64_t off, bool dsync)
{
	filter_prep_data(sqe, req, write, c->file, (char *)buf - (char *)req->buf, len, off);
	if (dsync)
		sqe->rw_flags = RWF_DSYNC;
}

/* Zero copy: the request's pages are in the ring's table only, not here. */
static bool chain_inline(const struct cache *c, const struct filter_req *req,
			 const struct cio *v, unsigned int n)
{
	unsigned int i;

	if (!c->in_memory)
		return false;
	for (i = 0; i < n; i++)
		if (v[i].data && req->buf_index >= 0)
			return false;
	return true;
}

/*
 * Block @blk's writes in order: on a cache in memory, done here (a copy;
 * RWF_DSYNC costs nothing there); else n linked SQEs, so each starts
 * after the one before succeeded. false when the ring has no room.
 */
bool cache_run_chain(struct filter *f, struct filter_req *req, unsigned int blk,
		      const struct cio *v, unsigned int n)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqes[4];
	uint32_t cookies[4];
	unsigned int i;

	if (chain_inline(c, req, v, n)) {
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
		if (v[i].data)
			cache_prep_data(c, sqes[i], req, true, v[i].buf, v[i].len, v[i].off,
					v[i].dsync);
		else
			cache_prep_rw(c, sqes[i], true, v[i].buf, v[i].len, v[i].off, v[i].dsync);
		if (i + 1 < n)
			sqes[i]->flags |= IOSQE_IO_LINK;
	}
	r->inflight += n;
	return true;
}

