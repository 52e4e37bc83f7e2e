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
#define CHAIN_MAX_FILES		16	/* filters' own fixed files, all filters */
#define CHAIN_DRAIN_MS		5000	/* default drain limit at stop */

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
	int files[CHAIN_MAX_FILES];	/* filter_add_file(): fixed files 2.. */
	int nr_files;
	unsigned int drain_ms;		/* held work waited for at stop; the server may set it */
	int started;			/* filters whose start() succeeded */
	unsigned int refused;		/* chain_refused_ops(), settled after init */
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

/*
 * Call every filter's start(), top first, once the disk is live. Returns 0
 * or the first -errno; then the filters already started are stopped.
 */
int chain_start(struct filter_chain *c);
/* Call stop() of every started filter, last first. Idempotent; takes NULL. */
void chain_stop(struct filter_chain *c);
/*
 * The disk over a backing of @backing_size bytes: the filters' data offsets
 * summed (where disk offset 0 lies on the backing) and the size left, within
 * every filter's data_size. Returns 0 or -ENOSPC (nothing left).
 */
int chain_geometry(const struct filter_chain *c, uint64_t backing_size, uint64_t *data_offset,
		   uint64_t *disk_size);
/* The sum of the filters' data offsets: what every backing I/O adds. */
uint64_t chain_data_offset(const struct filter_chain *c);
/*
 * The first filter that sees the data (neither data_blind nor data_mover),
 * or NULL; @c may be NULL.
 */
const char *chain_data_filter(const struct filter_chain *c);
/* The first data_mover filter, or NULL; @c may be NULL. */
const char *chain_data_mover(const struct filter_chain *c);
/* 1u << FILTER_OP_* that some filter refuses: the disk must not advertise them. */
unsigned int chain_refused_ops(const struct filter_chain *c);

/*
 * Per-queue state: allocate the filters' queue scratch and call queue_init
 * of each, top first, on the queue's thread. On failure the ones done are
 * finished. chain_queue_fini calls queue_fini, last first, and frees; it
 * takes a never-initialized (zeroed) fq.
 */
int chain_queue_init(struct filter_chain *c, struct filter_queue *fq, uint16_t id,
		     struct io_uring *ring, void *owner);
void chain_queue_fini(struct filter_queue *fq);
/* Call every filter's wake(), before_wait() or drain() for this queue. */
void chain_queue_wake(struct filter_queue *fq);
void chain_queue_before_wait(struct filter_queue *fq);
void chain_queue_drain(struct filter_queue *fq);
/*
 * Give up a request a filter holds (the drain limit passed): tell the filter
 * (cancel), and fail the request with -ECANCELED, up from there, as soon as
 * none of its own I/O is in flight.
 */
void chain_req_cancel(struct filter_req *req);
/* A CQE of a filter's background I/O. */
void chain_bg_cqe(struct filter_queue *fq, unsigned int index, uint64_t cookie, int res);

/* Counters of filter @index, as its ops->stats gives them; 0 if none. */
int chain_filter_stats(struct filter_chain *c, int index, struct filter_stat *st, int max);
/* ops->control of the filter named @name: -ENOENT none, -EOPNOTSUPP it takes none. */
int chain_filter_control(struct filter_chain *c, const char *name, const char *cmd);

#endif /* SLUICE_FILTER_CHAIN_H */
