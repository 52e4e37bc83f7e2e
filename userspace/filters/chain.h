/* SPDX-License-Identifier: GPL-2.0 */
/*
 * chain.h - runs a disk's filter chain for the queue that owns the
 * requests. The queue fills a filter_req and calls chain_submit(); the chain
 * calls the owner's bottom() when the request reaches the backing and
 * done() when it has come back up through every filter. An empty chain is
 * passthrough: submit goes straight to bottom(), backing_done to done().
 */
#ifndef SLUICE_FILTER_CHAIN_H
#define SLUICE_FILTER_CHAIN_H

#include "filters/filter.h"

#define CHAIN_MAX_FILTERS	16

struct chain_sinks {
	/* Submit the request to the backing; report with chain_backing_done(). */
	void (*bottom)(struct filter_req *req);
	/* The request is finished; req->result is what the application gets. */
	void (*done)(struct filter_req *req);
};

struct filter_chain {
	struct filter filters[CHAIN_MAX_FILTERS];
	int n;
	int dev_id;			/* for the USDT probes; -1 in unit tests */
	struct chain_sinks sinks;
};

/*
 * Build a chain of n filters (ops[i] configured by cfgs[i]), calling each
 * init in order; on failure the filters already set up are torn down.
 * Returns 0 or -errno (-E2BIG for too many filters).
 */
int chain_create(struct filter_chain **out, const struct filter_ops *const *ops,
		 const struct filter_config *cfgs, int n, const struct chain_sinks *sinks);
/* Tear every filter down, last first. Takes NULL. */
void chain_destroy(struct filter_chain *c);

/* Bind a queue's request slot to the chain; allocates filter scratch. */
int chain_req_init(struct filter_chain *c, struct filter_req *req, uint16_t queue,
		   uint16_t tag, struct io_uring *ring, void *owner);
/* Free what chain_req_init allocated. Takes a never-initialized (zeroed) req. */
void chain_req_fini(struct filter_req *req);

/* Start a request down the chain: op, flags, offset, len, buf are set. */
void chain_submit(struct filter_req *req);
/* The backing finished the request with @res (bytes or -errno). */
void chain_backing_done(struct filter_req *req, int res);
/* A CQE of I/O that filter @index submitted for this request. */
void chain_filter_cqe(struct filter_req *req, unsigned int index, uint32_t cookie, int res);

/* Counters of filter @index, as its ops->stats gives them; 0 if none. */
int chain_filter_stats(struct filter_chain *c, int index, struct filter_stat *st, int max);

#endif /* SLUICE_FILTER_CHAIN_H */
