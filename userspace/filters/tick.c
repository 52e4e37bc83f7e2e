// SPDX-License-Identifier: GPL-2.0
/*
 * tick.c - a test filter for the life cycle of the filter API. Requests
 * pass untouched. Each queue keeps a background timer; every tick reads
 * the first 4 KiB of the backing in the background. A thread started in
 * start() ("sluice-tick", so tests see it survive --daemon) wakes every
 * queue once per interval. stats: ticks, bg_io (background reads done),
 * wakes (wake callbacks run).
 *
 * Args: interval_ms=N (default 100).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <liburing.h>

#include "filters/chain.h"
#include "filters/filter.h"
#include "filters/registry.h"

#define TICK_QUEUES		64
#define TICK_READ_LEN		4096
#define DEFAULT_INTERVAL_MS	100

enum { TICK_TIMER = 1, TICK_READ = 2 };

struct tick_queue {
	void *buf;			/* aligned for an O_DIRECT backing */
	bool draining;
};

struct tick {
	uint64_t interval_ns;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	pthread_t thread;
	struct filter_queue *fqs[TICK_QUEUES];	/* under lock: the thread wakes these */
	atomic_uint_fast64_t ticks;
	atomic_uint_fast64_t bg_io;
	atomic_uint_fast64_t wakes;
};

static int tick_init(struct filter *f, const struct filter_config *cfg)
{
	struct tick *t;
	char buf[16], *end;
	unsigned long ms = DEFAULT_INTERVAL_MS;

	if (!filter_config_get(cfg, "interval_ms", buf, sizeof(buf))) {
		ms = strtoul(buf, &end, 10);
		if (*end || !ms || ms > 60000)
			return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->interval_ns = ms * 1000000ull;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	f->priv = t;
	return 0;
}

static int tick_queue_init(struct filter *f, struct filter_queue *fq)
{
	struct tick_queue *tq = filter_queue_priv(f, fq);
	struct tick *t = f->priv;
	int err;

	if (fq->id >= TICK_QUEUES)
		return -E2BIG;
	if (posix_memalign(&tq->buf, 4096, TICK_READ_LEN))
		return -ENOMEM;
	err = filter_bg_timer(f, fq, t->interval_ns, TICK_TIMER);
	if (err) {
		free(tq->buf);
		tq->buf = NULL;
		return err;
	}
	pthread_mutex_lock(&t->lock);
	t->fqs[fq->id] = fq;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void tick_queue_fini(struct filter *f, struct filter_queue *fq)
{
	struct tick_queue *tq = filter_queue_priv(f, fq);
	struct tick *t = f->priv;

	pthread_mutex_lock(&t->lock);
	t->fqs[fq->id] = NULL;
	pthread_mutex_unlock(&t->lock);
	free(tq->buf);
	tq->buf = NULL;
}

static void tick_bg_done(struct filter *f, struct filter_queue *fq, uint64_t cookie, int res)
{
	struct tick_queue *tq = filter_queue_priv(f, fq);
	struct tick *t = f->priv;
	struct io_uring_sqe *sqe;

	if (cookie == TICK_READ) {
		if (res >= 0)
			atomic_fetch_add(&t->bg_io, 1);
		return;
	}
	if (res == -ECANCELED || tq->draining)
		return;
	atomic_fetch_add(&t->ticks, 1);
	sqe = filter_bg_sqe(f, fq, TICK_READ);
	if (sqe) {
		io_uring_prep_read(sqe, FILTER_FILE_BACKING, tq->buf, TICK_READ_LEN,
				   chain_data_offset(f->chain));
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	filter_bg_timer(f, fq, t->interval_ns, TICK_TIMER);
}

static void tick_wake(struct filter *f, struct filter_queue *fq)
{
	struct tick *t = f->priv;

	atomic_fetch_add(&t->wakes, 1);
}

static void tick_drain(struct filter *f, struct filter_queue *fq)
{
	struct tick_queue *tq = filter_queue_priv(f, fq);

	tq->draining = true;
	filter_bg_cancel(f, fq, TICK_TIMER);
}

static void *tick_thread(void *arg)
{
	struct tick *t = arg;
	struct timespec ts;
	int i;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += t->interval_ns % 1000000000ull;
		ts.tv_sec += t->interval_ns / 1000000000ull + ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		for (i = 0; i < TICK_QUEUES && !t->stopping; i++)
			if (t->fqs[i])
				filter_queue_wake(t->fqs[i]);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static int tick_start(struct filter *f)
{
	struct tick *t = f->priv;
	int err;

	t->stopping = false;
	err = pthread_create(&t->thread, NULL, tick_thread, t);
	if (err)
		return -err;
	pthread_setname_np(t->thread, "sluice-tick");
	return 0;
}

static void tick_stop(struct filter *f)
{
	struct tick *t = f->priv;

	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
}

static int tick_stats(struct filter *f, struct filter_stat *st, int max)
{
	struct tick *t = f->priv;
	int n = 0;

	if (n < max)
		st[n++] = (struct filter_stat){ "ticks", atomic_load(&t->ticks) };
	if (n < max)
		st[n++] = (struct filter_stat){ "bg_io", atomic_load(&t->bg_io) };
	if (n < max)
		st[n++] = (struct filter_stat){ "wakes", atomic_load(&t->wakes) };
	return n;
}

static void tick_teardown(struct filter *f)
{
	struct tick *t = f->priv;

	if (!t)
		return;
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	f->priv = NULL;
}

const struct filter_ops tick_filter_ops = {
	.name = "tick",
	.queue_priv_size = sizeof(struct tick_queue),
	.init = tick_init,
	.queue_init = tick_queue_init,
	.queue_fini = tick_queue_fini,
	.start = tick_start,
	.stop = tick_stop,
	.bg_done = tick_bg_done,
	.wake = tick_wake,
	.drain = tick_drain,
	.stats = tick_stats,
	.teardown = tick_teardown,
};
