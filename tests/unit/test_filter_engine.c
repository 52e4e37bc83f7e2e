// SPDX-License-Identifier: GPL-2.0
/*
 * The filter API on a real io_uring: the queue's engine (ublk/engine.c)
 * over a temporary file as the backing, driven the way the ublk queue
 * drives it, with test filters for per-queue state, background I/O from a
 * timer, wake-ups from another thread, the drain at stop, n SQEs at once,
 * the filters' own files, the data offset, refused ops and WRITE_ZEROES
 * turned into a write; and the tick filter.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <liburing.h>

#include "filters/chain.h"
#include "filters/registry.h"
#include "lib/uring.h"
#include "ublk/engine.h"

#define DEPTH		4
#define BUF_SIZE	(64 * 1024)
#define MS		1000000ull

/* --- the harness: an engine over a temporary file ------------------------ */

struct harness {
	struct engine e;
	struct filter_chain *c;
	int fd;
	int results[DEPTH];
	int dones[DEPTH];
	char order[64];
};

static struct harness *H;

static void note(const char *s)
{
	strncat(H->order, s, sizeof(H->order) - strlen(H->order) - 1);
}

static void h_done(struct engine *e, struct engine_io *io)
{
	H->results[io->req.tag] = io->req.result;
	H->dones[io->req.tag]++;
	note("D");
}

static const struct engine_ops h_ops = { .done = h_done };

static int tmpfile_fd(void)
{
	char path[] = "/tmp/sluice-engine-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	return fd;
}

static void h_start(struct harness *h, const struct filter_ops *const *ops, const char **args,
		    int n)
{
	struct filter_config cfgs[CHAIN_MAX_FILTERS] = {};
	struct engine_cfg ec = {
		.dev_id = -1, .depth = DEPTH, .buf_size = BUF_SIZE, .cdev_fd = -1,
		.ops = &h_ops,
	};
	int i;

	memset(h, 0, sizeof(*h));
	H = h;
	h->fd = tmpfile_fd();
	for (i = 0; i < n; i++)
		cfgs[i] = (struct filter_config){ .name = ops[i]->name,
						  .args = args ? args[i] : "",
						  .disk_size = 1 << 20, .block_size = 512,
						  .queues = 1, .depth = DEPTH };
	assert_int_equal(chain_create(&h->c, ops, cfgs, n, &engine_sinks), 0);
	ec.backing_fd = h->fd;
	ec.chain = h->c;
	assert_int_equal(engine_init(&h->e, &ec), 0);
	assert_int_equal(engine_setup(&h->e), 0);
}

static void h_stop(struct harness *h)
{
	engine_teardown(&h->e);
	engine_destroy(&h->e);
	chain_destroy(h->c);
	close(h->fd);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Turn the engine until @tag is done (or everything, tag < 0); 5 s at most. */
static void h_run(struct harness *h, int tag)
{
	uint64_t end = now_ns() + 5000 * MS;

	while (tag >= 0 ? !h->dones[tag] : engine_busy(&h->e)) {
		assert_true(now_ns() < end);
		assert_int_equal(engine_wait(&h->e), 0);
	}
}

static struct filter_req *h_req(struct harness *h, unsigned int tag, enum filter_op op,
				uint64_t off, uint32_t len, int fill)
{
	struct engine_io *io = &h->e.ios[tag];

	io->req.op = op;
	io->req.flags = 0;
	io->req.offset = off;
	io->req.len = len;
	if (fill >= 0)
		memset(io->buf, fill, len);
	h->dones[tag] = 0;
	return &io->req;
}

static void h_submit(struct harness *h, unsigned int tag)
{
	engine_submit(&h->e, tag);
}

static void assert_file(int fd, uint64_t off, int byte, size_t len)
{
	uint8_t buf[8192];
	size_t i;

	assert_true(len <= sizeof(buf));
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	for (i = 0; i < len; i++)
		assert_int_equal(buf[i], byte);
}

/* --- per-queue state ------------------------------------------------------ */

struct pq {
	pthread_t thread;
	struct io_uring *ring;
	int seen;
};

static int pq_inits, pq_finis, pq_fini_nop;

static int pq_queue_init(struct filter *f, struct filter_queue *fq)
{
	struct pq *p = filter_queue_priv(f, fq);

	assert_non_null(p);
	assert_null(p->ring);
	p->thread = pthread_self();
	p->ring = fq->ring;
	pq_inits++;
	return 0;
}

static void pq_queue_fini(struct filter *f, struct filter_queue *fq)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(fq->ring);
	struct io_uring_cqe *cqe;

	/* The ring is still up: a NOP goes through it. */
	assert_non_null(sqe);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 0);
	assert_int_equal(io_uring_submit_and_wait(fq->ring, 1), 1);
	assert_int_equal(io_uring_peek_cqe(fq->ring, &cqe), 0);
	pq_fini_nop = cqe->res == 0;
	io_uring_cqe_seen(fq->ring, cqe);
	pq_finis++;
}

static int pq_write(struct filter *f, struct filter_req *req)
{
	struct pq *p = filter_queue_priv(f, req->fq);

	assert_true(pthread_equal(p->thread, pthread_self()));
	assert_ptr_equal(p->ring, req->ring);
	p->seen++;
	return FILTER_CONTINUE;
}

static const struct filter_ops pq_ops = {
	.name = "pq", .queue_priv_size = sizeof(struct pq), .queue_init = pq_queue_init,
	.queue_fini = pq_queue_fini, .write = pq_write,
};

static void test_queue_state_and_backing_io(void **state)
{
	const struct filter_ops *ops[] = { &pq_ops };
	struct harness h;
	struct pq *p;

	pq_inits = pq_finis = pq_fini_nop = 0;
	h_start(&h, ops, NULL, 1);
	assert_int_equal(pq_inits, 1);
	h_req(&h, 0, FILTER_OP_WRITE, 8192, 4096, 0xab);
	h_submit(&h, 0);
	h_run(&h, 0);
	assert_int_equal(h.results[0], 4096);
	assert_file(h.fd, 8192, 0xab, 4096);
	h_req(&h, 1, FILTER_OP_READ, 8192, 4096, 0);
	h_submit(&h, 1);
	h_run(&h, 1);
	assert_int_equal(h.results[1], 4096);
	assert_int_equal(((uint8_t *)h.e.ios[1].buf)[4095], 0xab);
	p = filter_queue_priv(&h.c->filters[0], &h.e.fq);
	assert_int_equal(p->seen, 1);
	engine_teardown(&h.e);
	assert_int_equal(pq_finis, 1);
	assert_true(pq_fini_nop);
	h_stop(&h);
}

/* --- background I/O from a timer, after the request that started it ------ */

/*
 * A write arms a timer and continues; when the timer fires, the filter
 * writes a copy of the data to its own file in the background, like a
 * journal's group commit or a cache's destage.
 */
struct lazy {
	int file;		/* fixed-file index of its own file */
	int fd;
	uint8_t copy[4096];
	int timer_res, write_res;
};

static struct lazy lazy;

static int lazy_init(struct filter *f, const struct filter_config *cfg)
{
	lazy.fd = tmpfile_fd();
	lazy.file = filter_add_file(f, lazy.fd);
	return lazy.file < 0 ? lazy.file : 0;
}

static void lazy_teardown(struct filter *f)
{
	close(lazy.fd);
}

static int lazy_write(struct filter *f, struct filter_req *req)
{
	memcpy(lazy.copy, req->buf, sizeof(lazy.copy));
	note("W");
	/*
	 * Long enough that the 4 KiB backing write is done first even on a
	 * loaded machine under ASan (20 ms was not: the order came out "WTD").
	 */
	return filter_bg_timer(f, req->fq, 1000 * MS, 1) ?: FILTER_CONTINUE;
}

static void lazy_bg_done(struct filter *f, struct filter_queue *fq, uint64_t cookie, int res)
{
	struct io_uring_sqe *sqe;

	if (cookie == 1) {
		note("T");
		lazy.timer_res = res;
		sqe = filter_bg_sqe(f, fq, 2);
		assert_non_null(sqe);
		io_uring_prep_write(sqe, lazy.file, lazy.copy, sizeof(lazy.copy), 4096);
		sqe->flags |= IOSQE_FIXED_FILE;
		return;
	}
	note("B");
	lazy.write_res = res;
}

static const struct filter_ops lazy_ops = {
	.name = "lazy", .init = lazy_init, .write = lazy_write, .bg_done = lazy_bg_done,
	.teardown = lazy_teardown,
};

static void test_background_io_from_timer_after_the_request(void **state)
{
	const struct filter_ops *ops[] = { &lazy_ops };
	struct harness h;

	memset(&lazy, 0, sizeof(lazy));
	h_start(&h, ops, NULL, 1);
	assert_int_equal(lazy.file, FILTER_FILE_BACKING + 1);
	h_req(&h, 2, FILTER_OP_WRITE, 0, 4096, 0x5e);
	h_submit(&h, 2);
	h_run(&h, 2);
	/* The application's request is done; the background work is not. */
	assert_string_equal(h.order, "WD");
	assert_int_equal(h.e.bg_inflight, 1);
	assert_true(engine_busy(&h.e));
	h_run(&h, -1);
	assert_string_equal(h.order, "WDTB");
	assert_int_equal(lazy.timer_res, -ETIME);
	assert_int_equal(lazy.write_res, 4096);
	assert_int_equal(h.e.bg_inflight, 0);
	assert_file(lazy.fd, 4096, 0x5e, 4096);
	assert_file(h.fd, 0, 0x5e, 4096);
	h_stop(&h);
}

/* --- a held request resumed by a wake from another thread ---------------- */

struct park {
	struct filter_req *held;
	pthread_t wake_thread;
	int wakes, cancels, drains;
};

static struct park park;

static int park_write(struct filter *f, struct filter_req *req)
{
	park.held = req;
	note("P");
	return FILTER_PENDING;
}

static void park_wake(struct filter *f, struct filter_queue *fq)
{
	struct filter_req *req = park.held;

	park.wakes++;
	park.wake_thread = pthread_self();
	if (req) {
		note("R");
		park.held = NULL;
		filter_resume(req, FILTER_CONTINUE);
	}
}

static void park_cancel(struct filter *f, struct filter_req *req)
{
	assert_ptr_equal(req, park.held);
	park.held = NULL;
	park.cancels++;
}

static void park_drain(struct filter *f, struct filter_queue *fq)
{
	park.drains++;
}

static const struct filter_ops park_ops = {
	.name = "park", .write = park_write, .wake = park_wake, .cancel = park_cancel,
	.drain = park_drain,
};

static void *waker(void *arg)
{
	struct timespec ts = { 0, 30 * MS };

	nanosleep(&ts, NULL);
	filter_queue_wake(arg);
	return NULL;
}

static void test_wake_from_another_thread_resumes_a_held_request(void **state)
{
	const struct filter_ops *ops[] = { &park_ops };
	struct harness h;
	pthread_t t;

	memset(&park, 0, sizeof(park));
	h_start(&h, ops, NULL, 1);
	h_req(&h, 0, FILTER_OP_WRITE, 0, 4096, 0x77);
	h_submit(&h, 0);
	assert_true(h.e.ios[0].req.pending);
	assert_int_equal(pthread_create(&t, NULL, waker, &h.e.fq), 0);
	h_run(&h, 0);
	pthread_join(t, NULL);
	assert_string_equal(h.order, "PRD");
	assert_int_equal(h.results[0], 4096);
	assert_int_equal(park.wakes, 1);
	assert_true(pthread_equal(park.wake_thread, pthread_self()));
	assert_file(h.fd, 0, 0x77, 4096);
	h_stop(&h);
}

/* --- the drain at stop: held work given up within the limit -------------- */

/* Holds a write on its own 10 s timeout, which cancel() cancels. */
static int slow_io_done, slow_cancels;

static int slow_write(struct filter *f, struct filter_req *req)
{
	static struct __kernel_timespec ts = { 10, 0 };
	struct io_uring_sqe *sqe = filter_get_sqe(f, req, 7);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	return FILTER_PENDING;
}

static void slow_io_done_cb(struct filter *f, struct filter_req *req, uint32_t cookie, int res)
{
	slow_io_done++;
	filter_resume(req, FILTER_CONTINUE);
}

static void slow_cancel(struct filter *f, struct filter_req *req)
{
	slow_cancels++;
	assert_int_equal(filter_cancel_sqe(f, req, 7), 0);
}

static int bg_cancelled;

static void slow_bg_done(struct filter *f, struct filter_queue *fq, uint64_t cookie, int res)
{
	if (res == -ECANCELED)
		bg_cancelled++;
}

static const struct filter_ops slow_ops = {
	.name = "slow", .read = slow_write, .write = slow_write, .io_done = slow_io_done_cb, .cancel = slow_cancel,
	.bg_done = slow_bg_done,
};

static int up_results[DEPTH], ups;

static int up_completion(struct filter *f, struct filter_req *req)
{
	up_results[req->tag] = req->result;
	ups++;
	return FILTER_CONTINUE;
}

static const struct filter_ops up_ops = { .name = "up", .completion = up_completion };

static void test_drain_cancels_held_work_within_the_limit(void **state)
{
	const struct filter_ops *ops[] = { &up_ops, &park_ops, &slow_ops };
	struct harness h;
	uint64_t t0, took;

	memset(&park, 0, sizeof(park));
	slow_io_done = slow_cancels = bg_cancelled = ups = 0;
	h_start(&h, ops, NULL, 3);
	h.c->drain_ms = 200;
	/* tag 0 held by park (no I/O of its own), tag 1 by slow (a timeout) */
	h_req(&h, 0, FILTER_OP_WRITE, 0, 4096, 1);
	h_submit(&h, 0);
	assert_true(h.e.ios[0].req.pending);
	h_req(&h, 1, FILTER_OP_READ, 0, 4096, -1);
	h_submit(&h, 1);
	assert_int_equal(h.results[1], 0);
	/* a background timer far beyond the limit */
	assert_int_equal(filter_bg_timer(&h.c->filters[2], &h.e.fq, 60000 * MS, 9), 0);

	t0 = now_ns();
	engine_drain(&h.e);
	assert_int_equal(park.drains, 1);
	h_run(&h, -1);
	took = now_ns() - t0;
	/* gave up at the limit, not at the 60 s timer (the margin is for a loaded machine) */
	assert_true(took >= 200 * MS);
	assert_true(took < 30000 * MS);
	/* park: told, then failed up through the filter above */
	assert_int_equal(park.cancels, 1);
	assert_int_equal(h.results[0], -ECANCELED);
	assert_int_equal(up_results[0], -ECANCELED);
	/* the READ passed park and was held by slow on its own timeout */
	assert_int_equal(slow_cancels, 1);
	assert_int_equal(slow_io_done, 0);
	assert_int_equal(h.results[1], -ECANCELED);
	assert_int_equal(bg_cancelled, 1);
	assert_int_equal(h.e.bg_inflight, 0);
	assert_int_equal(ups, 2);
	/* nothing new in the background once given up */
	assert_null(filter_bg_sqe(&h.c->filters[2], &h.e.fq, 1));
	h_stop(&h);
}

static void test_drain_waits_for_work_that_finishes(void **state)
{
	const struct filter_ops *ops[] = { &lazy_ops };
	struct harness h;

	memset(&lazy, 0, sizeof(lazy));
	h_start(&h, ops, NULL, 1);
	h.c->drain_ms = 2000;
	h_req(&h, 0, FILTER_OP_WRITE, 0, 4096, 0x3c);
	h_submit(&h, 0);
	engine_drain(&h.e);
	h_run(&h, -1);
	/* finished well before the limit, nothing cancelled */
	assert_false(h.e.giving_up);
	assert_int_equal(lazy.write_res, 4096);
	assert_file(lazy.fd, 4096, 0x3c, 4096);
	h_stop(&h);
}

static void test_background_slots_and_cancel(void **state)
{
	const struct filter_ops *ops[] = { &slow_ops };
	struct filter *f;
	struct harness h;
	unsigned int i;

	bg_cancelled = 0;
	h_start(&h, ops, NULL, 1);
	f = &h.c->filters[0];
	for (i = 0; i < ENGINE_BG_SLOTS; i++)
		assert_int_equal(filter_bg_timer(f, &h.e.fq, 60000 * MS, i % 2), 0);
	/* the table is full: refused, nothing half-taken */
	assert_int_equal(filter_bg_timer(f, &h.e.fq, MS, 0), -EBUSY);
	assert_int_equal(h.e.bg_inflight, ENGINE_BG_SLOTS);
	/* cancel by cookie: only that half */
	assert_int_equal(filter_bg_cancel(f, &h.e.fq, 1), ENGINE_BG_SLOTS / 2);
	while (bg_cancelled < ENGINE_BG_SLOTS / 2)
		assert_int_equal(engine_wait(&h.e), 0);
	assert_int_equal(h.e.bg_inflight, ENGINE_BG_SLOTS / 2);
	assert_int_equal(filter_bg_timer(f, &h.e.fq, 60000 * MS, 0), 0);
	/* the rest goes at the drain limit */
	h.c->drain_ms = 50;
	engine_drain(&h.e);
	h_run(&h, -1);
	assert_int_equal(bg_cancelled, ENGINE_BG_SLOTS + 1);
	h_stop(&h);
}

/* --- n SQEs at once: a linked write + fsync is never split --------------- */

static int sync_fd, sync_file, sync_results[2], sync_ready;

static int sync_init(struct filter *f, const struct filter_config *cfg)
{
	sync_fd = tmpfile_fd();
	sync_file = filter_add_file(f, sync_fd);
	return sync_file < 0 ? sync_file : 0;
}

static void sync_teardown(struct filter *f)
{
	close(sync_fd);
}

static int sync_write(struct filter *f, struct filter_req *req)
{
	const uint32_t cookies[2] = { 0, 1 };
	struct io_uring_sqe *sqes[2];
	int err;

	err = filter_get_sqes(f, req, sqes, cookies, 2);
	if (err)
		return err;
	/* Both are still in the SQ, after everything queued before was submitted. */
	sync_ready = io_uring_sq_ready(req->ring);
	io_uring_prep_write(sqes[0], sync_file, req->buf, req->len, 0);
	sqes[0]->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
	io_uring_prep_fsync(sqes[1], sync_file, IORING_FSYNC_DATASYNC);
	sqes[1]->flags |= IOSQE_FIXED_FILE;
	return FILTER_PENDING;
}

static void sync_io_done(struct filter *f, struct filter_req *req, uint32_t cookie, int res)
{
	sync_results[cookie] = res;
	if (cookie == 1)
		filter_resume(req, sync_results[0] < 0 ? sync_results[0] : FILTER_CONTINUE);
}

static const struct filter_ops sync_ops = {
	.name = "sync", .init = sync_init, .write = sync_write, .io_done = sync_io_done,
	.teardown = sync_teardown,
};

static void test_linked_sqes_are_never_split(void **state)
{
	const struct filter_ops *ops[] = { &sync_ops };
	struct io_uring_sqe *sqe;
	struct harness h;
	unsigned int i, left;

	h_start(&h, ops, NULL, 1);
	/* fill the SQ up to one free entry with NOPs nobody waits for */
	left = io_uring_sq_space_left(&h.e.ring);
	for (i = 0; i + 1 < left; i++) {
		sqe = io_uring_get_sqe(&h.e.ring);
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, udata_encode(UDATA_CANCEL, 0, 0, 0));
	}
	assert_int_equal(io_uring_sq_space_left(&h.e.ring), 1);
	h_req(&h, 3, FILTER_OP_WRITE, 0, 4096, 0x42);
	h_submit(&h, 3);
	assert_int_equal(sync_ready, 2);
	h_run(&h, 3);
	assert_int_equal(sync_results[0], 4096);
	assert_int_equal(sync_results[1], 0);
	assert_int_equal(h.results[3], 4096);
	assert_file(sync_fd, 0, 0x42, 4096);
	assert_file(h.fd, 0, 0x42, 4096);
	h_stop(&h);
}

static void test_get_sqes_n_or_none(void **state)
{
	struct io_uring_sqe *sqes[16];
	struct io_uring ring;
	unsigned int i;

	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	for (i = 0; i < 7; i++)
		io_uring_prep_nop(io_uring_get_sqe(&ring));
	assert_int_equal(uring_get_sqes(&ring, sqes, 2), 0);
	/* the 7 went first, the 2 are together and not submitted yet */
	assert_int_equal(io_uring_sq_ready(&ring), 2);
	assert_int_equal(uring_get_sqes(&ring, sqes, 9), -EBUSY);
	io_uring_queue_exit(&ring);
}

/* --- ops a filter refuses, and WRITE_ZEROES as a write of zeroes --------- */

static int seen_discards;

static int see_discard(struct filter *f, struct filter_req *req)
{
	seen_discards++;
	return FILTER_CONTINUE;
}

static int refuse_init(struct filter *f, const struct filter_config *cfg)
{
	f->refused_ops = 1u << FILTER_OP_DISCARD;
	return 0;
}

static int xor_write(struct filter *f, struct filter_req *req)
{
	uint8_t *p = req->buf;
	uint32_t i;

	for (i = 0; i < req->len; i++)
		p[i] ^= 0x5a;
	return FILTER_CONTINUE;
}

/* The zeroes become a write here, and this filter's own write path runs on it. */
static int zw_discard(struct filter *f, struct filter_req *req)
{
	if (req->op == FILTER_OP_WRITE_ZEROES)
		return filter_zeroes_to_write(req) ?: xor_write(f, req);
	return FILTER_CONTINUE;
}

static const struct filter_ops see_ops = { .name = "see", .discard = see_discard };
static const struct filter_ops crypt_ops = {
	.name = "crypt", .init = refuse_init, .discard = zw_discard, .write = xor_write,
};

static void test_refused_ops_and_zeroes_as_a_write(void **state)
{
	const struct filter_ops *ops[] = { &see_ops, &crypt_ops, &see_ops };
	struct harness h;

	seen_discards = 0;
	h_start(&h, ops, NULL, 3);
	assert_int_equal(chain_refused_ops(h.c), 1u << FILTER_OP_DISCARD);
	h_req(&h, 0, FILTER_OP_DISCARD, 0, 4096, -1);
	h_submit(&h, 0);
	h_run(&h, 0);
	assert_int_equal(h.results[0], -EOPNOTSUPP);
	assert_int_equal(seen_discards, 0);

	/* WRITE_ZEROES: the filter below sees a WRITE of encrypted zeroes */
	h_req(&h, 1, FILTER_OP_WRITE_ZEROES, 8192, 4096, 0xff);
	h.e.ios[1].req.flags = FILTER_REQ_NOUNMAP;
	h_submit(&h, 1);
	h_run(&h, 1);
	assert_int_equal(h.results[1], 0);
	assert_int_equal(h.e.ios[1].req.op, FILTER_OP_WRITE_ZEROES);
	assert_int_equal(seen_discards, 1);	/* only the filter above it */
	assert_file(h.fd, 8192, 0x5a, 4096);
	/* too large for the buffer: refused, not overrun */
	h_req(&h, 2, FILTER_OP_WRITE_ZEROES, 0, BUF_SIZE + 4096, -1);
	h_submit(&h, 2);
	h_run(&h, 2);
	assert_int_equal(h.results[2], -EINVAL);
	h_stop(&h);
}

/* --- geometry: a header at the start of the backing ---------------------- */

static int hdr_init(struct filter *f, const struct filter_config *cfg)
{
	f->data_offset = 16384;
	if (!strcmp(cfg->args, "cap"))
		f->data_size = 65536;
	return 0;
}

static const struct filter_ops hdr_ops = { .name = "hdr", .init = hdr_init };

static void test_data_offset_and_geometry(void **state)
{
	const struct filter_ops *ops[] = { &hdr_ops, &hdr_ops };
	const char *args[] = { "", "cap" };
	uint64_t off, size;
	struct harness h;

	h_start(&h, ops, args, 2);
	assert_int_equal(chain_geometry(h.c, 1 << 20, &off, &size), 0);
	assert_int_equal(off, 32768);
	assert_int_equal(size, 65536);
	assert_int_equal(chain_geometry(h.c, 100000, &off, &size), 0);
	assert_int_equal(size, 65536);
	assert_int_equal(chain_geometry(h.c, 40000, &off, &size), 0);
	assert_int_equal(size, 40000 - 32768);
	assert_int_equal(chain_geometry(h.c, 32768, &off, &size), -ENOSPC);
	h_req(&h, 0, FILTER_OP_WRITE, 4096, 4096, 0x99);
	h_submit(&h, 0);
	h_run(&h, 0);
	assert_file(h.fd, 32768 + 4096, 0x99, 4096);
	assert_file(h.fd, 4096, 0, 4096);
	h_req(&h, 1, FILTER_OP_READ, 4096, 4096, 0);
	h_submit(&h, 1);
	h_run(&h, 1);
	assert_int_equal(((uint8_t *)h.e.ios[1].buf)[0], 0x99);
	h_stop(&h);
}

/* --- start and stop ------------------------------------------------------ */

static char life[64];

static int life_start(struct filter *f)
{
	char s[8];

	snprintf(s, sizeof(s), "s%u ", f->index);
	strcat(life, s);
	return f->index == 2 ? -EIO : 0;
}

static void life_stop(struct filter *f)
{
	char s[8];

	snprintf(s, sizeof(s), "x%u ", f->index);
	strcat(life, s);
}

static const struct filter_ops life_ops = { .name = "life", .start = life_start,
					    .stop = life_stop };

static void test_start_stop_hooks(void **state)
{
	const struct filter_ops *ops[] = { &life_ops, &pq_ops, &life_ops, &life_ops };
	struct filter_config cfgs[4] = { { .args = "" }, { .args = "" }, { .args = "" },
					 { .args = "" } };
	struct filter_chain *c;

	life[0] = '\0';
	assert_int_equal(chain_create(&c, ops, cfgs, 2, &engine_sinks), 0);
	assert_int_equal(chain_start(c), 0);
	chain_stop(c);
	chain_stop(c);
	assert_string_equal(life, "s0 x0 ");
	chain_destroy(c);

	/* a failed start stops the ones started, last first */
	life[0] = '\0';
	assert_int_equal(chain_create(&c, ops, cfgs, 4, &engine_sinks), 0);
	assert_int_equal(chain_start(c), -EIO);
	assert_string_equal(life, "s0 s2 x0 ");
	chain_destroy(c);
	assert_string_equal(life, "s0 s2 x0 ");
}

/* --- the tick filter ----------------------------------------------------- */

static bool thread_named(const char *name)
{
	char path[300], comm[32];
	struct dirent *de;
	bool found = false;
	DIR *d = opendir("/proc/self/task");
	FILE *f;

	assert_non_null(d);
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			found = !strncmp(comm, name, strlen(name));
		fclose(f);
	}
	closedir(d);
	return found;
}

static void test_tick_filter(void **state)
{
	const struct filter_ops *ops[] = { &tick_filter_ops };
	const char *args[] = { "interval_ms=10" };
	struct filter_stat st[4];
	struct harness h;
	uint64_t end;

	assert_ptr_equal(filter_ops_lookup("tick"), &tick_filter_ops);
	h_start(&h, ops, args, 1);
	assert_int_equal(chain_start(h.c), 0);
	assert_true(thread_named("sluice-tick"));
	assert_int_equal(pwrite(h.fd, "abcd", 4, 0), 4);
	end = now_ns() + 3000 * MS;
	do {
		assert_true(now_ns() < end);
		assert_int_equal(engine_wait(&h.e), 0);
		assert_int_equal(chain_filter_stats(h.c, 0, st, 4), 3);
	} while (st[0].value < 3 || st[1].value < 2 || st[2].value < 2);
	assert_string_equal(st[0].name, "ticks");
	assert_string_equal(st[1].name, "bg_io");
	assert_string_equal(st[2].name, "wakes");
	/* requests pass */
	h_req(&h, 0, FILTER_OP_WRITE, 0, 4096, 0x11);
	h_submit(&h, 0);
	h_run(&h, 0);
	assert_int_equal(h.results[0], 4096);
	/* stop, then drain: the timer is cancelled, the queue leaves at once */
	chain_stop(h.c);
	assert_false(thread_named("sluice-tick"));
	h.c->drain_ms = 5000;
	end = now_ns();
	engine_drain(&h.e);
	h_run(&h, -1);
	/* well before the 5 s limit: nothing was left to wait for */
	assert_true(now_ns() - end < 4000 * MS);
	assert_false(h.e.giving_up);
	h_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_state_and_backing_io),
		cmocka_unit_test(test_background_io_from_timer_after_the_request),
		cmocka_unit_test(test_wake_from_another_thread_resumes_a_held_request),
		cmocka_unit_test(test_drain_cancels_held_work_within_the_limit),
		cmocka_unit_test(test_drain_waits_for_work_that_finishes),
		cmocka_unit_test(test_background_slots_and_cancel),
		cmocka_unit_test(test_linked_sqes_are_never_split),
		cmocka_unit_test(test_get_sqes_n_or_none),
		cmocka_unit_test(test_refused_ops_and_zeroes_as_a_write),
		cmocka_unit_test(test_data_offset_and_geometry),
		cmocka_unit_test(test_start_stop_hooks),
		cmocka_unit_test(test_tick_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
