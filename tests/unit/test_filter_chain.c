// SPDX-License-Identifier: GPL-2.0
/*
 * The filter chain on plain buffers: order down and up, in-place and bounce
 * transforms, short-circuits, errors, asynchronous filters (PENDING then
 * filter_resume, and real io_uring work through filter_get_sqe), per-request
 * scratch, init failure, and the count filter.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include <liburing.h>

#include "filters/chain.h"
#include "filters/registry.h"
#include "lib/udata.h"

#define DISK_SIZE	(64 * 1024)

/* The "backing": a byte array; bottom() does the I/O synchronously. */
static uint8_t disk[DISK_SIZE];
static char trace[256];
static int bottoms, dones, done_result;
static struct filter_req *last_bottom;
static bool bottom_async;

static void t(const char *fmt, ...)
{
	size_t n = strlen(trace);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
	va_end(ap);
}

static void sink_bottom(struct filter_req *req)
{
	bottoms++;
	last_bottom = req;
	t("B ");
	if (bottom_async)
		return;
	if (req->op == FILTER_OP_WRITE)
		memcpy(disk + req->offset, req->buf, req->len);
	else if (req->op == FILTER_OP_READ)
		memcpy(req->buf, disk + req->offset, req->len);
	chain_backing_done(req, req->len);
}

static void sink_done(struct filter_req *req)
{
	dones++;
	done_result = req->result;
	t("D ");
}

static const struct chain_sinks sinks = { sink_bottom, sink_done };

static void reset(void)
{
	trace[0] = '\0';
	bottoms = dones = done_result = 0;
	last_bottom = NULL;
	bottom_async = false;
	memset(disk, 0, sizeof(disk));
}

/* --- a recording filter: logs "dN" going down and "uN" coming up -------- */

static int rec_down(struct filter *f, struct filter_req *req)
{
	t("d%u ", f->index);
	return FILTER_CONTINUE;
}

static int rec_up(struct filter *f, struct filter_req *req)
{
	t("u%u ", f->index);
	return FILTER_CONTINUE;
}

static const struct filter_ops rec_ops = {
	.name = "rec", .read = rec_down, .write = rec_down, .flush = rec_down,
	.discard = rec_down, .completion = rec_up,
};

/* --- xor "cipher" in place: writes encrypt going down, reads decrypt up - */

static void xor_buf(void *buf, uint32_t len, uint8_t k)
{
	uint8_t *p = buf;
	uint32_t i;

	for (i = 0; i < len; i++)
		p[i] ^= k;
}

static int xor_write(struct filter *f, struct filter_req *req)
{
	xor_buf(req->buf, req->len, 0x5a);
	return FILTER_CONTINUE;
}

static int xor_up(struct filter *f, struct filter_req *req)
{
	if (req->op == FILTER_OP_READ && req->result > 0)
		xor_buf(req->buf, req->result, 0x5a);
	return FILTER_CONTINUE;
}

static const struct filter_ops xor_ops = { .name = "xor", .write = xor_write,
					   .completion = xor_up };

/* --- bounce: encrypts writes into its own buffer, leaving the caller's --- */

struct bounce_priv {
	void *saved;
	uint8_t bounce[4096];
};

static int bounce_write(struct filter *f, struct filter_req *req)
{
	struct bounce_priv *p = filter_req_priv(f, req);

	assert_non_null(p);
	assert_true(req->len <= sizeof(p->bounce));
	memcpy(p->bounce, req->buf, req->len);
	xor_buf(p->bounce, req->len, 0xff);
	p->saved = req->buf;
	req->buf = p->bounce;
	return FILTER_CONTINUE;
}

static int bounce_up(struct filter *f, struct filter_req *req)
{
	struct bounce_priv *p = filter_req_priv(f, req);

	if (req->op == FILTER_OP_WRITE) {
		req->buf = p->saved;
		p->saved = NULL;
	}
	return FILTER_CONTINUE;
}

static const struct filter_ops bounce_ops = {
	.name = "bounce", .req_priv_size = sizeof(struct bounce_priv),
	.write = bounce_write, .completion = bounce_up,
};

/* --- cache: satisfies reads of offset 0 itself -------------------------- */

static int cache_read(struct filter *f, struct filter_req *req)
{
	if (req->offset)
		return FILTER_CONTINUE;
	memset(req->buf, 'C', req->len);
	req->result = req->len;
	t("hit ");
	return FILTER_COMPLETE;
}

static const struct filter_ops cache_ops = { .name = "cache", .read = cache_read,
					     .completion = rec_up };

/* --- failing and asynchronous filters ----------------------------------- */

static int fail_write(struct filter *f, struct filter_req *req)
{
	return -ENOSPC;
}

static const struct filter_ops fail_ops = { .name = "fail", .write = fail_write };

static struct filter_req *held;

static int hold_down(struct filter *f, struct filter_req *req)
{
	t("hold%u ", f->index);
	held = req;
	return FILTER_PENDING;
}

static int hold_up(struct filter *f, struct filter_req *req)
{
	if (req->op != FILTER_OP_WRITE)
		return FILTER_CONTINUE;
	t("ack%u ", f->index);
	held = req;
	return FILTER_PENDING;
}

static const struct filter_ops hold_ops = { .name = "hold", .write = hold_down,
					    .completion = hold_up };

/* --- helpers ------------------------------------------------------------ */

static struct filter_chain *make(const struct filter_ops *const *ops, int n)
{
	struct filter_config cfgs[CHAIN_MAX_FILTERS] = {};
	struct filter_chain *c = NULL;
	int i;

	for (i = 0; i < n; i++)
		cfgs[i] = (struct filter_config){ .name = ops[i]->name, .args = "",
						  .disk_size = DISK_SIZE, .block_size = 512,
						  .queues = 1, .depth = 4 };
	assert_int_equal(chain_create(&c, ops, cfgs, n, &sinks), 0);
	return c;
}

static void prep(struct filter_chain *c, struct filter_req *req, enum filter_op op,
		 uint64_t off, void *buf, uint32_t len)
{
	assert_int_equal(chain_req_init(c, req, 0, 3, NULL, NULL), 0);
	req->op = op;
	req->offset = off;
	req->buf = buf;
	req->len = len;
}

/* --- tests -------------------------------------------------------------- */

static void test_empty_chain_is_passthrough(void **state)
{
	struct filter_chain *c = make(NULL, 0);
	struct filter_req req;
	uint8_t buf[512], back[512];

	reset();
	memset(buf, 7, sizeof(buf));
	prep(c, &req, FILTER_OP_WRITE, 1024, buf, sizeof(buf));
	chain_submit(&req);
	assert_string_equal(trace, "B D ");
	assert_int_equal(done_result, 512);
	assert_memory_equal(disk + 1024, buf, 512);
	req.op = FILTER_OP_READ;
	req.buf = back;
	chain_submit(&req);
	assert_memory_equal(back, buf, 512);
	chain_req_fini(&req);
	chain_destroy(c);
}

static void test_order_down_then_up_in_reverse(void **state)
{
	const struct filter_ops *ops[] = { &rec_ops, &rec_ops, &rec_ops };
	struct filter_chain *c = make(ops, 3);
	struct filter_req req;
	uint8_t buf[512] = { 1 };

	/* a filter that does not say it is data_blind is taken to see the data */
	assert_string_equal(chain_data_filter(c), rec_ops.name);
	reset();
	prep(c, &req, FILTER_OP_WRITE, 0, buf, sizeof(buf));
	chain_submit(&req);
	assert_string_equal(trace, "d0 d1 d2 B u2 u1 u0 D ");
	reset();
	req.op = FILTER_OP_FLUSH;
	req.len = 0;
	chain_submit(&req);
	assert_string_equal(trace, "d0 d1 d2 B u2 u1 u0 D ");
	chain_req_fini(&req);
	chain_destroy(c);
}

static void test_in_place_transform_round_trips(void **state)
{
	const struct filter_ops *ops[] = { &xor_ops };
	struct filter_chain *c = make(ops, 1);
	struct filter_req req;
	uint8_t buf[1024], plain[1024], back[1024];
	int i;

	reset();
	for (i = 0; i < 1024; i++)
		plain[i] = buf[i] = i * 7;
	prep(c, &req, FILTER_OP_WRITE, 4096, buf, sizeof(buf));
	chain_submit(&req);
	for (i = 0; i < 1024; i++)
		assert_int_equal(disk[4096 + i], (uint8_t)(plain[i] ^ 0x5a));
	req.op = FILTER_OP_READ;
	req.buf = back;
	chain_submit(&req);
	assert_int_equal(done_result, 1024);
	assert_memory_equal(back, plain, sizeof(plain));
	chain_req_fini(&req);
	chain_destroy(c);
}

static void test_bounce_buffer_leaves_caller_data(void **state)
{
	const struct filter_ops *ops[] = { &bounce_ops };
	struct filter_chain *c = make(ops, 1);
	struct filter_req req;
	uint8_t buf[512];
	int i;

	reset();
	memset(buf, 0x11, sizeof(buf));
	prep(c, &req, FILTER_OP_WRITE, 0, buf, sizeof(buf));
	chain_submit(&req);
	assert_ptr_equal(req.buf, buf);
	for (i = 0; i < 512; i++) {
		assert_int_equal(buf[i], 0x11);
		assert_int_equal(disk[i], 0xee);
	}
	chain_req_fini(&req);
	chain_destroy(c);
}

static void test_cache_hit_short_circuits(void **state)
{
	const struct filter_ops *ops[] = { &rec_ops, &cache_ops, &rec_ops };
	struct filter_chain *c = make(ops, 3);
	struct filter_req req;
	uint8_t buf[512];

	reset();
	prep(c, &req, FILTER_OP_READ, 0, buf, sizeof(buf));
	chain_submit(&req);
	/* The hit turns up above the cache: neither the filter below nor the backing see it. */
	assert_string_equal(trace, "d0 hit u0 D ");
	assert_int_equal(bottoms, 0);
	assert_int_equal(done_result, 512);
	assert_int_equal(buf[100], 'C');
	reset();
	req.offset = 512;
	chain_submit(&req);
	assert_string_equal(trace, "d0 d2 B u2 u1 u0 D ");
	chain_req_fini(&req);
	chain_destroy(c);
}

static void test_error_turns_up(void **state)
{
	const struct filter_ops *ops[] = { &rec_ops, &fail_ops, &rec_ops };
	struct filter_chain *c = make(ops, 3);
	struct filter_req req;
	uint8_t buf[512];

	reset();
	prep(c, &req, FILTER_OP_WRITE, 0, buf, sizeof(buf));
	chain_submit(&req);
	assert_string_equal(trace, "d0 u0 D ");
	assert_int_equal(done_result, -ENOSPC);
	assert_int_equal(bottoms, 0);
	chain_req_fini(&req);
	chain_destroy(c);
}

static void test_async_filter_holds_and_resumes(void **state)
{
	const struct filter_ops *ops[] = { &rec_ops, &hold_ops, &rec_ops };
	struct filter_chain *c = make(ops, 3);
	struct filter_req req, other;
	uint8_t buf[512], obuf[512];

	reset();
	memset(buf, 0x42, sizeof(buf));
	prep(c, &req, FILTER_OP_WRITE, 0, buf, sizeof(buf));
	prep(c, &other, FILTER_OP_READ, 512, obuf, sizeof(obuf));
	chain_submit(&req);
	assert_string_equal(trace, "d0 hold1 ");
	assert_ptr_equal(held, &req);
	assert_int_equal(bottoms, 0);
	/* The queue is not blocked: another request passes meanwhile. */
	chain_submit(&other);
	assert_int_equal(dones, 1);
	reset();
	filter_resume(&req, FILTER_CONTINUE);
	/* The write reached the backing; the hold filter now delays the ack. */
	assert_string_equal(trace, "d2 B u2 ack1 ");
	assert_int_equal(dones, 0);
	assert_int_equal(disk[0], 0x42);
	filter_resume(&req, FILTER_CONTINUE);
	assert_string_equal(trace, "d2 B u2 ack1 u0 D ");
	assert_int_equal(done_result, 512);
	/* An asynchronous failure on the way up reaches the application. */
	reset();
	chain_submit(&req);
	filter_resume(&req, FILTER_CONTINUE);
	filter_resume(&req, -EIO);
	assert_int_equal(done_result, -EIO);
	chain_req_fini(&req);
	chain_req_fini(&other);
	chain_destroy(c);
}

static void test_async_backing(void **state)
{
	const struct filter_ops *ops[] = { &rec_ops };
	struct filter_chain *c = make(ops, 1);
	struct filter_req req;
	uint8_t buf[512];

	reset();
	bottom_async = true;
	prep(c, &req, FILTER_OP_WRITE, 0, buf, sizeof(buf));
	chain_submit(&req);
	assert_string_equal(trace, "d0 B ");
	assert_ptr_equal(last_bottom, &req);
	chain_backing_done(&req, -ENOSPC);
	assert_string_equal(trace, "d0 B u0 D ");
	assert_int_equal(done_result, -ENOSPC);
	chain_req_fini(&req);
	chain_destroy(c);
}

/* --- a filter doing its own io_uring work: NOPs on a real ring ---------- */

static int nop_results;

static int ring_write(struct filter *f, struct filter_req *req)
{
	struct io_uring_sqe *sqe = filter_get_sqe(f, req, 0xabcd);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_nop(sqe);
	/* prep leaves user_data alone: filter_get_sqe's tag stays. */
	return FILTER_PENDING;
}

static void ring_io_done(struct filter *f, struct filter_req *req, uint32_t cookie, int res)
{
	assert_int_equal(cookie, 0xabcd);
	nop_results++;
	filter_resume(req, res < 0 ? res : FILTER_CONTINUE);
}

static const struct filter_ops ring_ops = { .name = "ring", .write = ring_write,
					    .io_done = ring_io_done };

static void test_filter_io_uring_work(void **state)
{
	const struct filter_ops *ops[] = { &rec_ops, &ring_ops };
	struct filter_chain *c = make(ops, 2);
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct filter_req req;
	struct udata d;
	uint8_t buf[512] = { 9 };

	reset();
	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	assert_int_equal(chain_req_init(c, &req, 0, 5, &ring, NULL), 0);
	req.op = FILTER_OP_WRITE;
	req.buf = buf;
	req.len = sizeof(buf);
	chain_submit(&req);
	assert_int_equal(bottoms, 0);
	assert_int_equal(io_uring_submit_and_wait(&ring, 1), 1);
	assert_int_equal(io_uring_peek_cqe(&ring, &cqe), 0);
	d = udata_decode(cqe->user_data);
	assert_int_equal(d.kind, UDATA_FILTER);
	assert_int_equal(d.tag, 5);
	assert_int_equal(d.filter, 1);
	chain_filter_cqe(&req, d.filter, d.cookie, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	assert_int_equal(nop_results, 1);
	assert_string_equal(trace, "d0 B u0 D ");
	assert_int_equal(done_result, 512);
	chain_req_fini(&req);
	io_uring_queue_exit(&ring);
	chain_destroy(c);
}

/*
 * A data mover's I/O (filter_prep_data): on req->buf, or with zero copy on
 * the request's pages, the fixed buffer at buf_index, addressed from 0 as
 * the kernel addresses a ublk request's buffer; a WRITE_ZEROES turned into
 * a WRITE has its zeroes in req->buf only.
 */
static void test_prep_data_buffer_or_fixed(void **state)
{
	static char buf[8192];
	struct filter_req req = { .buf = buf, .len = sizeof(buf), .buf_index = -1 };
	struct io_uring_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	filter_prep_data(&sqe, &req, false, 3, 512, 1024, 4096);
	assert_int_equal(sqe.opcode, IORING_OP_READ);
	assert_ptr_equal((void *)(uintptr_t)sqe.addr, buf + 512);
	assert_int_equal(sqe.len, 1024);
	assert_int_equal(sqe.off, 4096);
	assert_int_equal(sqe.fd, 3);
	assert_true(sqe.flags & IOSQE_FIXED_FILE);

	req.buf_index = 7;
	memset(&sqe, 0, sizeof(sqe));
	filter_prep_data(&sqe, &req, true, FILTER_FILE_BACKING, 512, 1024, 4096);
	assert_int_equal(sqe.opcode, IORING_OP_WRITE_FIXED);
	assert_int_equal(sqe.addr, 512);
	assert_int_equal(sqe.buf_index, 7);
	assert_int_equal(sqe.fd, FILTER_FILE_BACKING);
	memset(&sqe, 0, sizeof(sqe));
	filter_prep_data(&sqe, &req, false, 3, 0, 1024, 0);
	assert_int_equal(sqe.opcode, IORING_OP_READ_FIXED);

	req.op = FILTER_OP_WRITE_ZEROES;
	assert_int_equal(filter_zeroes_to_write(&req), 0);
	assert_int_equal(req.buf_index, -1);
	memset(&sqe, 0, sizeof(sqe));
	filter_prep_data(&sqe, &req, true, 3, 0, 1024, 0);
	assert_int_equal(sqe.opcode, IORING_OP_WRITE);
	assert_ptr_equal((void *)(uintptr_t)sqe.addr, buf);
}

/*
 * filter_copy_data(): a memcpy on req->buf; under zero copy a pread/pwrite
 * of copy_fd from copy_pos (a file stands in for /dev/ublkcN here), or
 * -EOPNOTSUPP when only the ring reaches the pages.
 */
static void test_copy_data_buffer_or_fd(void **state)
{
	static char buf[8192];
	struct filter_req req = { .buf = buf, .len = sizeof(buf), .buf_index = -1, .copy_fd = -1 };
	char in[1024], out[1024];
	int fd;

	memset(in, 0x5a, sizeof(in));
	assert_int_equal(filter_copy_data(&req, true, in, 512, sizeof(in)), 0);
	assert_memory_equal(buf + 512, in, sizeof(in));
	assert_int_equal(filter_copy_data(&req, false, out, 512, sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));

	req.buf_index = 3;
	assert_int_equal(filter_copy_data(&req, true, in, 0, sizeof(in)), -EOPNOTSUPP);
	fd = memfd_create("cdev", 0);
	assert_true(fd >= 0);
	req.copy_fd = fd;
	req.copy_pos = 65536;
	memset(in, 0xa5, sizeof(in));
	assert_int_equal(filter_copy_data(&req, true, in, 512, sizeof(in)), 0);
	memset(out, 0, sizeof(out));
	assert_int_equal(pread(fd, out, sizeof(out), 65536 + 512), (ssize_t)sizeof(out));
	assert_memory_equal(out, in, sizeof(in));
	memset(out, 0, sizeof(out));
	assert_int_equal(filter_copy_data(&req, false, out, 512, sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));
	/* past what the file holds: a short copy is an error, not a success */
	assert_int_equal(filter_copy_data(&req, false, out, 8192, sizeof(out)), -EIO);
	close(fd);
}

/* --- setup and teardown ------------------------------------------------- */

static int torn_down;

static int ok_init(struct filter *f, const struct filter_config *cfg)
{
	char v[16];

	if (!filter_config_get(cfg, "fail", v, sizeof(v)))
		return -EINVAL;
	return 0;
}

static void ok_teardown(struct filter *f)
{
	torn_down++;
}

static const struct filter_ops ok_ops = { .name = "ok", .init = ok_init,
					  .teardown = ok_teardown };

static void test_init_failure_tears_down_the_others(void **state)
{
	const struct filter_ops *ops[] = { &ok_ops, &ok_ops, &ok_ops };
	struct filter_config cfgs[3] = {
		{ .args = "" }, { .args = "x=1" }, { .args = "x=1,fail=yes" },
	};
	struct filter_chain *c = NULL;

	torn_down = 0;
	assert_int_equal(chain_create(&c, ops, cfgs, 3, &sinks), -EINVAL);
	assert_null(c);
	assert_int_equal(torn_down, 2);
	assert_int_equal(chain_create(&c, ops, cfgs, 2, &sinks), 0);
	chain_destroy(c);
	assert_int_equal(torn_down, 4);
	chain_destroy(NULL);
	assert_int_equal(chain_create(&c, ops, cfgs, CHAIN_MAX_FILTERS + 1, &sinks), -E2BIG);
}

static void test_config_get(void **state)
{
	struct filter_config cfg = { .args = "key=abc,iv=plain64,n=" };
	char v[8];

	assert_int_equal(filter_config_get(&cfg, "iv", v, sizeof(v)), 0);
	assert_string_equal(v, "plain64");
	assert_int_equal(filter_config_get(&cfg, "key", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(filter_config_get(&cfg, "n", v, sizeof(v)), 0);
	assert_string_equal(v, "");
	assert_int_equal(filter_config_get(&cfg, "ke", v, sizeof(v)), -ENOENT);
	assert_int_equal(filter_config_get(&cfg, "iv", v, 4), -ENAMETOOLONG);
}

static void test_req_priv_is_per_filter_and_zeroed(void **state)
{
	const struct filter_ops *ops[] = { &bounce_ops, &rec_ops, &bounce_ops };
	struct filter_chain *c = make(ops, 3);
	struct filter_req req;
	struct bounce_priv *a, *b;

	assert_int_equal(chain_req_init(c, &req, 1, 2, NULL, NULL), 0);
	a = filter_req_priv(&c->filters[0], &req);
	b = filter_req_priv(&c->filters[2], &req);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_null(filter_req_priv(&c->filters[1], &req));
	assert_null(a->saved);
	chain_req_fini(&req);
	chain_destroy(c);
}

static void test_registry_and_count_filter(void **state)
{
	const struct filter_ops *ops[CHAIN_MAX_FILTERS];
	const char *args[CHAIN_MAX_FILTERS], *spec;
	struct filter_stat st[8];
	struct filter_chain *c;
	struct filter_req req;
	char buf[64];
	uint8_t data[1024];
	int n, bad = -1;

	assert_int_equal(policy_builtin_spec("passthrough", &spec), 0);
	assert_string_equal(spec, "");
	assert_int_equal(policy_builtin_spec("nope", &spec), -ENOENT);
	snprintf(buf, sizeof(buf), "count count:a=1");
	assert_int_equal(filter_spec_parse(buf, ops, args, CHAIN_MAX_FILTERS, &bad), 2);
	assert_ptr_equal(ops[0], &count_filter_ops);
	assert_string_equal(args[1], "a=1");
	snprintf(buf, sizeof(buf), "count nosuch");
	assert_int_equal(filter_spec_parse(buf, ops, args, CHAIN_MAX_FILTERS, &bad), -ENOENT);
	assert_int_equal(bad, 1);
	snprintf(buf, sizeof(buf), "count count");
	assert_int_equal(filter_spec_parse(buf, ops, args, 1, &bad), -E2BIG);

	reset();
	ops[0] = &count_filter_ops;
	c = make(ops, 1);
	/* count never touches the data: such a disk may use zero copy */
	assert_null(chain_data_filter(c));
	assert_null(chain_data_filter(NULL));
	prep(c, &req, FILTER_OP_WRITE, 0, data, sizeof(data));
	chain_submit(&req);
	chain_submit(&req);
	req.op = FILTER_OP_READ;
	chain_submit(&req);
	n = chain_filter_stats(c, 0, st, 8);
	assert_int_equal(n, 8);
	assert_string_equal(st[0].name, "reads");
	assert_int_equal(st[0].value, 1);
	assert_int_equal(st[1].value, 2);
	assert_string_equal(st[6].name, "bytes_written");
	assert_int_equal(st[6].value, 2048);
	assert_int_equal(chain_filter_stats(c, 5, st, 8), 0);
	chain_req_fini(&req);
	chain_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_chain_is_passthrough),
		cmocka_unit_test(test_order_down_then_up_in_reverse),
		cmocka_unit_test(test_in_place_transform_round_trips),
		cmocka_unit_test(test_bounce_buffer_leaves_caller_data),
		cmocka_unit_test(test_cache_hit_short_circuits),
		cmocka_unit_test(test_error_turns_up),
		cmocka_unit_test(test_async_filter_holds_and_resumes),
		cmocka_unit_test(test_async_backing),
		cmocka_unit_test(test_filter_io_uring_work),
		cmocka_unit_test(test_prep_data_buffer_or_fixed),
		cmocka_unit_test(test_copy_data_buffer_or_fd),
		cmocka_unit_test(test_init_failure_tears_down_the_others),
		cmocka_unit_test(test_config_get),
		cmocka_unit_test(test_req_priv_is_per_filter_and_zeroed),
		cmocka_unit_test(test_registry_and_count_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
