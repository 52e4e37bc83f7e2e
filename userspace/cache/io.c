// SPDX-License-Identifier: GPL-2.0
/*
 * io.c - the cache filter's own writes on the cache device: one request's
 * chain per block (cache/format.h order), on the ring or, for a cache in
 * memory, done inline (but for the writes of a zero copy request's pages).
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

static bool write_inline(const struct cache *c, const struct cio *v)
{
	struct iovec iov = { v->buf, v->len };

	return pwritev2(c->fd, &iov, 1, v->off, v->dsync ? RWF_DSYNC : 0) == (ssize_t)v->len;
}

/*
 * A cache in memory under zero copy, where the driver lets the server copy
 * the request's pages too: a write's data into the mapped cache file in
 * one copy by the kernel, no ring (tmpfs I/O through io_uring runs on its
 * worker threads: perf sched, 7.3). A page tmpfs cannot give is a short
 * copy, never a SIGBUS here: the mapping is only touched by the syscall.
 * false: use the ring.
 */
static bool copy_data_in(const struct cache *c, const struct filter_req *req, const struct cio *v)
{
	if (!c->map)
		return false;
	return !filter_copy_data(req, false, c->map + v->off, (char *)v->buf - (char *)req->buf,
				 v->len);
}

/*
 * Block @blk's writes in order: n linked SQEs, so each starts after the
 * one before succeeded; false when the ring has no room. A cache in memory
 * takes them here (a copy; RWF_DSYNC costs nothing there), the data of a
 * zero copy request too where copy_data_in() can; else up to that
 * write, which goes on the ring, and a slot after it is written here when
 * its completion comes (cache_chain_tail()): each link would be one more
 * trip through io_uring's workers.
 */
bool cache_run_chain(struct filter *f, struct filter_req *req, unsigned int blk,
		      const struct cio *v, unsigned int n)
{
	struct creq *r = filter_req_priv(f, req);
	struct cache *c = f->priv;
	struct io_uring_sqe *sqes[4];
	uint32_t cookies[4];
	unsigned int i, first = 0;

	if (c->in_memory) {
		for (; first < n; first++) {
			if (v[first].data && req->buf_index >= 0) {
				if (!copy_data_in(c, req, &v[first]))
					break;
				continue;
			}
			if (!write_inline(c, &v[first])) {
				r->failed[blk] = true;
				return true;
			}
		}
		if (first == n)
			return true;
		if (n - first == 2) {
			r->tail |= 1u << blk;
			r->tail_io[blk] = v[first + 1];
			r->tail_need[blk] = v[first].len;
			n--;
		}
	}
	for (i = first; i < n; i++)
		cookies[i - first] = v[i].cookie;
	if (filter_get_sqes(f, req, sqes, cookies, n - first)) {
		r->tail &= ~(1u << blk);
		return false;
	}
	for (i = first; i < n; i++) {
		if (v[i].data)
			cache_prep_data(c, sqes[i - first], req, true, v[i].buf, v[i].len, v[i].off,
					v[i].dsync);
		else
			cache_prep_rw(c, sqes[i - first], true, v[i].buf, v[i].len, v[i].off,
				      v[i].dsync);
		if (i + 1 < n)
			sqes[i - first]->flags |= IOSQE_IO_LINK;
	}
	r->inflight += n - first;
	return true;
}

/* The data write of block @blk is done (@res): its slot, as a link would go on. */
void cache_chain_tail(struct filter *f, struct filter_req *req, unsigned int blk, int res)
{
	struct creq *r = filter_req_priv(f, req);

	r->tail &= ~(1u << blk);
	if (res != (int)r->tail_need[blk] || !write_inline(f->priv, &r->tail_io[blk]))
		r->failed[blk] = true;
}
