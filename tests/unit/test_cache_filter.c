// SPDX-License-Identifier: GPL-2.0
/*
 * The cache filter on a real io_uring: the queue's engine over a temporary
 * backing, the cache in a temporary file. A miss is admitted and hit next
 * time; write-through writes both; write-back writes only the cache until
 * the background write-back; a partial sub-block write that the cache
 * cannot take goes through; write-around invalidates; a restart finds the
 * cache warm and its dirty data dirty; a cache that fails its writes does
 * not serve stale data, and stays degraded across a restart; on hold (a
 * flush) write-back writes go through.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "cache/format.h"
#include "filters/chain.h"
#include "filters/registry.h"
#include "ublk/engine.h"
#include "tmpdir.h"

#define DEPTH		4
#define BUF_SIZE	(128 * 1024)
#define DISK		(4u << 20)
#define MS		1000000ull

struct harness {
	struct engine e;
	struct filter_chain *c;
	int fd;
	int results[DEPTH];
	int dones[DEPTH];
};

static struct harness *H;
static int backing_fd = -1;
static char cache_path[128], args[256];
/* where the cache file lives: the test's directory (I/O on the ring), or tmpfs (inline) */
static const char *cache_dir;

static void h_done(struct engine *e, struct engine_io *io)
{
	H->results[io->req.tag] = io->req.result;
	H->dones[io->req.tag]++;
}

static const struct engine_ops h_ops = { .done = h_done };

static int setup(void **state)
{
	char path[128];

	if (make_dir(state))
		return -1;
	snprintf(path, sizeof(path), "%s/backing", dir);
	backing_fd = open(path, O_RDWR | O_CREAT, 0600);
	if (backing_fd < 0 || ftruncate(backing_fd, DISK))
		return -1;
	snprintf(cache_path, sizeof(cache_path), "%s/cache.%d", cache_dir ? cache_dir : dir,
		 getpid());
	return 0;
}

static int setup_shm(void **state)
{
	cache_dir = "/dev/shm";
	return setup(state);
}

static int teardown(void **state)
{
	unlink(cache_path);
	close(backing_fd);
	return remove_dir(state);
}

static int h_start(struct harness *h, const char *mode)
{
	const struct filter_ops *ops[] = { &cache_filter_ops };
	struct filter_config cfg = {
		.name = "cache", .args = args, .disk_size = DISK, .block_size = 512,
		.queues = 1, .depth = DEPTH, .backing = "/test/backing", .backing_size = DISK,
	};
	struct engine_cfg ec = {
		.dev_id = -1, .depth = DEPTH, .buf_size = BUF_SIZE, .cdev_fd = -1,
		.ops = &h_ops,
	};
	int err;

	memset(h, 0, sizeof(*h));
	H = h;
	h->fd = backing_fd;
	snprintf(args, sizeof(args), "device=%s,mode=%s,size=16MiB,block_size=64KiB", cache_path,
		 mode);
	err = chain_create(&h->c, ops, &cfg, 1, &engine_sinks);
	if (err)
		return err;
	ec.backing_fd = h->fd;
	ec.chain = h->c;
	assert_int_equal(engine_init(&h->e, &ec), 0);
	assert_int_equal(engine_setup(&h->e), 0);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void h_run(struct harness *h, int tag)
{
	uint64_t end = now_ns() + 5000 * MS;

	while (tag >= 0 ? !h->dones[tag] : engine_busy(&h->e)) {
		assert_true(now_ns() < end);
		assert_int_equal(engine_wait(&h->e), 0);
	}
}

/* The drain at stop (the write-back timer is cancelled), then everything goes. */
static void h_stop(struct harness *h)
{
	h->c->drain_ms = 2000;
	engine_drain(&h->e);
	h_run(h, -1);
	engine_teardown(&h->e);
	engine_destroy(&h->e);
	chain_destroy(h->c);
}

/* One request on tag 0, run to its end; its result. */
static int io(struct harness *h, enum filter_op op, uint64_t off, uint32_t len, int fill)
{
	struct engine_io *eio = &h->e.ios[0];

	eio->req.op = op;
	eio->req.flags = 0;
	eio->req.offset = off;
	eio->req.len = len;
	if (fill >= 0)
		memset(eio->buf, fill, len);
	else
		memset(eio->buf, 0xee, len);
	h->dones[0] = 0;
	engine_submit(&h->e, 0);
	h_run(h, 0);
	return h->results[0];
}

static void assert_buf(struct harness *h, uint32_t from, uint32_t len, int byte)
{
	uint8_t *p = (uint8_t *)h->e.ios[0].buf + from;
	uint32_t i;

	for (i = 0; i < len; i++)
		if (p[i] != byte)
			fail_msg("byte %u is 0x%02x, not 0x%02x", from + i, p[i], byte);
}

static void assert_backing(uint64_t off, uint32_t len, int byte)
{
	uint8_t *buf = malloc(len);
	uint32_t i;

	assert_int_equal(pread(backing_fd, buf, len, off), (ssize_t)len);
	for (i = 0; i < len; i++)
		if (buf[i] != byte)
			fail_msg("backing byte %lu is 0x%02x, not 0x%02x",
				 (unsigned long)(off + i), buf[i], byte);
	free(buf);
}

static void fill_backing(uint64_t off, uint32_t len, int byte)
{
	static uint8_t buf[65536];

	memset(buf, byte, len);
	assert_int_equal(pwrite(backing_fd, buf, len, off), (ssize_t)len);
}

static uint64_t stat_of(struct harness *h, const char *name)
{
	struct filter_stat st[32];
	int i, n = chain_filter_stats(h->c, 0, st, 32);

	for (i = 0; i < n; i++)
		if (!strcmp(st[i].name, name))
			return st[i].value;
	fail_msg("no stat %s", name);
	return 0;
}

static void fresh(const char *mode, struct harness *h)
{
	unlink(cache_path);
	assert_int_equal(ftruncate(backing_fd, 0), 0);
	assert_int_equal(ftruncate(backing_fd, DISK), 0);
	assert_int_equal(h_start(h, mode), 0);
}

static void test_miss_is_admitted_then_hits(void **state)
{
	struct harness h;

	fresh("writethrough", &h);
	fill_backing(65536, 65536, 0x5a);
	assert_int_equal(io(&h, FILTER_OP_READ, 65536, 65536, -1), 65536);
	assert_buf(&h, 0, 65536, 0x5a);
	assert_int_equal(stat_of(&h, "read_misses"), 1);
	assert_int_equal(stat_of(&h, "fills"), 1);
	/* the backing changes behind the cache's back: the hit proves the source */
	fill_backing(65536, 4096, 0x11);
	assert_int_equal(io(&h, FILTER_OP_READ, 65536, 8192, -1), 8192);
	assert_buf(&h, 0, 8192, 0x5a);
	assert_int_equal(stat_of(&h, "read_hits"), 1);
	h_stop(&h);
}

static void test_writethrough_writes_both(void **state)
{
	struct harness h;

	fresh("writethrough", &h);
	assert_int_equal(io(&h, FILTER_OP_READ, 0, 65536, -1), 65536);	/* admit */
	assert_int_equal(io(&h, FILTER_OP_WRITE, 4096, 8192, 0x77), 8192);
	assert_backing(4096, 8192, 0x77);
	assert_int_equal(io(&h, FILTER_OP_READ, 0, 16384, -1), 16384);
	assert_buf(&h, 0, 4096, 0);
	assert_buf(&h, 4096, 8192, 0x77);
	assert_buf(&h, 12288, 4096, 0);
	assert_int_equal(stat_of(&h, "read_hits"), 1);
	/* a 512-byte write inside a valid sub-block updates it in place */
	assert_int_equal(io(&h, FILTER_OP_WRITE, 4096 + 512, 512, 0x33), 512);
	assert_int_equal(io(&h, FILTER_OP_READ, 4096, 4096, -1), 4096);
	assert_buf(&h, 0, 512, 0x77);
	assert_buf(&h, 512, 512, 0x33);
	assert_buf(&h, 1024, 3072, 0x77);
	assert_int_equal(stat_of(&h, "read_hits"), 2);
	h_stop(&h);
}

static void test_writeback_then_background_write_back(void **state)
{
	struct harness h;
	uint64_t end;

	fresh("writeback", &h);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 131072, 8192, 0x42), 8192);
	/* acknowledged from the cache alone */
	assert_int_equal(stat_of(&h, "dirty_bytes"), 8192);
	assert_int_equal(io(&h, FILTER_OP_READ, 131072, 8192, -1), 8192);
	assert_buf(&h, 0, 8192, 0x42);
	assert_int_equal(stat_of(&h, "read_hits"), 1);
	/* a read over dirty and uncached sub-blocks: backing below, cache over it */
	fill_backing(131072 + 8192, 4096, 0x99);
	assert_int_equal(io(&h, FILTER_OP_READ, 131072, 12288, -1), 12288);
	assert_buf(&h, 0, 8192, 0x42);
	assert_buf(&h, 8192, 4096, 0x99);
	/* and its missing sub-block was admitted: the same read hits now */
	assert_int_equal(io(&h, FILTER_OP_READ, 131072, 12288, -1), 12288);
	assert_buf(&h, 0, 8192, 0x42);
	assert_buf(&h, 8192, 4096, 0x99);
	assert_int_equal(stat_of(&h, "read_hits"), 2);
	/* the background write-back empties it */
	end = now_ns() + 3000 * MS;
	while (stat_of(&h, "dirty_bytes")) {
		assert_true(now_ns() < end);
		assert_int_equal(engine_wait(&h.e), 0);
	}
	assert_backing(131072, 8192, 0x42);
	assert_int_equal(stat_of(&h, "written_back_bytes"), 8192);
	h_stop(&h);
}

/*
 * Writing back waits for a pause in the requests (below 3/4 of the cache
 * dirty): a read every tick holds it off, and a quiet disk gets it all.
 */
static void test_writeback_waits_for_a_pause(void **state)
{
	struct harness h;
	uint64_t end;
	int i;

	fresh("writeback,writeback_interval=5ms", &h);
	for (i = 0; i < 8; i++)
		assert_int_equal(io(&h, FILTER_OP_WRITE, 1048576 + i * 131072u, 131072, 0x50 + i),
				 131072);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 1048576);
	for (i = 0; i < 40; i++) {
		assert_int_equal(io(&h, FILTER_OP_READ, 0, 4096, -1), 4096);
		assert_int_equal(engine_wait(&h.e), 0);
	}
	assert_int_equal(stat_of(&h, "written_back_bytes"), 0);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 1048576);
	end = now_ns() + 3000 * MS;
	while (stat_of(&h, "dirty_bytes")) {
		assert_true(now_ns() < end);
		assert_int_equal(engine_wait(&h.e), 0);
	}
	for (i = 0; i < 8; i++)
		assert_backing(1048576 + i * 131072u, 131072, 0x50 + i);
	h_stop(&h);
}

static void test_writeback_partial_sub_block_goes_through(void **state)
{
	struct harness h;

	fresh("writeback", &h);
	/* 512 bytes of a sub-block the cache does not hold: no read-modify-write */
	assert_int_equal(io(&h, FILTER_OP_WRITE, 1024, 512, 0x21), 512);
	assert_backing(1024, 512, 0x21);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 0);
	/* a whole sub-block first, then 512 bytes inside it: stays in the cache */
	assert_int_equal(io(&h, FILTER_OP_WRITE, 8192, 4096, 0x31), 4096);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 8192 + 1024, 512, 0x32), 512);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 4096);
	assert_backing(8192, 4096, 0);
	assert_int_equal(io(&h, FILTER_OP_READ, 8192, 4096, -1), 4096);
	assert_buf(&h, 0, 1024, 0x31);
	assert_buf(&h, 1024, 512, 0x32);
	assert_buf(&h, 1536, 2560, 0x31);
	h_stop(&h);
}

static void test_writearound_invalidates(void **state)
{
	struct harness h;

	fresh("writearound", &h);
	assert_int_equal(io(&h, FILTER_OP_READ, 0, 65536, -1), 65536);
	assert_int_equal(io(&h, FILTER_OP_READ, 0, 4096, -1), 4096);
	assert_int_equal(stat_of(&h, "read_hits"), 1);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 0, 4096, 0x66), 4096);
	assert_backing(0, 4096, 0x66);
	assert_int_equal(io(&h, FILTER_OP_READ, 0, 4096, -1), 4096);
	assert_buf(&h, 0, 4096, 0x66);
	assert_int_equal(stat_of(&h, "read_hits"), 1);
	assert_int_equal(stat_of(&h, "read_misses"), 2);
	h_stop(&h);
}

static void test_restart_is_warm_and_keeps_dirty(void **state)
{
	struct harness h;

	/* no write-back for a minute */
	fresh("writeback,writeback_interval=60s", &h);
	assert_int_equal(io(&h, FILTER_OP_READ, 262144, 65536, -1), 65536);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 524288, 4096, 0x4d), 4096);
	/* stopped before the write-back timer fires */
	h_stop(&h);
	assert_backing(524288, 4096, 0);
	assert_int_equal(h_start(&h, "writeback,writeback_interval=60s"), 0);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 4096);
	assert_int_equal(io(&h, FILTER_OP_READ, 262144, 65536, -1), 65536);
	assert_int_equal(stat_of(&h, "read_hits"), 1);
	assert_int_equal(io(&h, FILTER_OP_READ, 524288, 4096, -1), 4096);
	assert_buf(&h, 0, 4096, 0x4d);
	assert_int_equal(stat_of(&h, "read_hits"), 2);
	h_stop(&h);
}

/*
 * A cache that failed says so in its superblock; a restart keeps it
 * degraded (no admission) instead of trusting it with new data.
 */
static void test_degraded_persists(void **state)
{
	struct cache_sb sb;
	struct harness h;
	int fd;

	fresh("writethrough", &h);
	assert_int_equal(stat_of(&h, "degraded"), 0);
	h_stop(&h);
	fd = open(cache_path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(cache_sb_read(fd, &sb), 0);
	sb.flags |= CACHE_SB_DEGRADED;
	assert_int_equal(cache_sb_write(fd, &sb), 0);
	close(fd);
	assert_int_equal(h_start(&h, "writethrough"), 0);
	assert_int_equal(stat_of(&h, "degraded"), 1);
	assert_int_equal(io(&h, FILTER_OP_READ, 65536, 65536, -1), 65536);
	assert_int_equal(stat_of(&h, "fills"), 0);
	h_stop(&h);
}

static void test_sequential_stream_bypasses(void **state)
{
	struct harness h;
	uint64_t off;

	fresh("writethrough", &h);
	/* 4 MiB (the default cutoff) and then some, in 128 KiB reads */
	for (off = 0; off < DISK; off += BUF_SIZE)
		assert_int_equal(io(&h, FILTER_OP_READ, off, BUF_SIZE, -1), BUF_SIZE);
	assert_true(stat_of(&h, "bypassed") == 0);
	h_stop(&h);
	/* a cutoff of 256 KiB: the stream bypasses after two reads */
	unlink(cache_path);
	assert_int_equal(h_start(&h, "writethrough,sequential_cutoff=256KiB"), 0);
	for (off = 0; off < 1 << 20; off += BUF_SIZE)
		assert_int_equal(io(&h, FILTER_OP_READ, off, BUF_SIZE, -1), BUF_SIZE);
	assert_int_equal(stat_of(&h, "bypassed"), 6);
	assert_int_equal(stat_of(&h, "fills"), 2);
	h_stop(&h);
}

/*
 * On hold ('cache flush', 'cache detach': ops->control) write-back takes no
 * new dirty data, so the flush always ends; released, or the lease lapsed,
 * it does again.
 */
static void test_hold_writes_go_through(void **state)
{
	struct harness h;

	fresh("writeback", &h);
	assert_int_equal(chain_filter_control(h.c, "cache", "hold"), 0);
	assert_int_equal(stat_of(&h, "holding"), 1);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 65536, 8192, 0x21), 8192);
	assert_backing(65536, 8192, 0x21);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 0);
	assert_int_equal(chain_filter_control(h.c, "cache", "release"), 0);
	assert_int_equal(stat_of(&h, "holding"), 0);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 65536, 8192, 0x22), 8192);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 8192);
	assert_backing(65536, 8192, 0x21);
	assert_int_equal(chain_filter_control(h.c, "cache", "bogus"), -EINVAL);
	assert_int_equal(chain_filter_control(h.c, "crypt", "hold"), -ENOENT);
	h_stop(&h);
}

/*
 * "hold" is a lease: it lapses by itself (a 'cache flush' killed with -9
 * must not leave the disk write-through); "keep" ('cache detach') lasts
 * until "release". No write-back in between (an hour's interval), so the
 * dirty bytes count exactly what write-back absorbed.
 */
static void test_hold_lease_lapses(void **state)
{
	struct harness h;

	fresh("writeback,writeback_interval=1h", &h);
	assert_int_equal(chain_filter_control(h.c, "cache", "hold=100"), 0);
	assert_int_equal(stat_of(&h, "holding"), 1);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 131072, 8192, 0x23), 8192);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 0);
	usleep(150000);
	assert_int_equal(stat_of(&h, "holding"), 0);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 131072, 8192, 0x24), 8192);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 8192);
	assert_int_equal(chain_filter_control(h.c, "cache", "keep"), 0);
	usleep(150000);
	assert_int_equal(stat_of(&h, "holding"), 1);
	assert_int_equal(io(&h, FILTER_OP_WRITE, 262144, 8192, 0x25), 8192);
	assert_int_equal(stat_of(&h, "dirty_bytes"), 8192);
	assert_int_equal(chain_filter_control(h.c, "cache", "release"), 0);
	assert_int_equal(stat_of(&h, "holding"), 0);
	assert_int_equal(chain_filter_control(h.c, "cache", "hold=0"), -EINVAL);
	assert_int_equal(chain_filter_control(h.c, "cache", "hold=1x"), -EINVAL);
	assert_int_equal(chain_filter_control(h.c, "cache", "hold="), -EINVAL);
	h_stop(&h);
}

static void test_other_backing_is_refused(void **state)
{
	const struct filter_ops *ops[] = { &cache_filter_ops };
	struct filter_config cfg = {
		.name = "cache", .args = args, .disk_size = DISK, .block_size = 512,
		.queues = 1, .depth = DEPTH, .backing = "/another/backing", .backing_size = DISK,
	};
	struct filter_chain *c = NULL;
	struct harness h;

	fresh("writethrough", &h);
	h_stop(&h);
	assert_int_equal(chain_create(&c, ops, &cfg, 1, &engine_sinks), -EEXIST);
	snprintf(args, sizeof(args), "device=%s,mode=sometimes", cache_path);
	cfg.backing = "/test/backing";
	assert_int_equal(chain_create(&c, ops, &cfg, 1, &engine_sinks), -EINVAL);
	snprintf(args, sizeof(args), "device=%s,block_size=4KiB", cache_path);
	assert_int_equal(chain_create(&c, ops, &cfg, 1, &engine_sinks), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_miss_is_admitted_then_hits),
		cmocka_unit_test(test_writethrough_writes_both),
		cmocka_unit_test(test_writeback_then_background_write_back),
		cmocka_unit_test(test_writeback_waits_for_a_pause),
		cmocka_unit_test(test_writeback_partial_sub_block_goes_through),
		cmocka_unit_test(test_writearound_invalidates),
		cmocka_unit_test(test_restart_is_warm_and_keeps_dirty),
		cmocka_unit_test(test_degraded_persists),
		cmocka_unit_test(test_sequential_stream_bypasses),
		cmocka_unit_test(test_hold_writes_go_through),
		cmocka_unit_test(test_hold_lease_lapses),
		cmocka_unit_test(test_other_backing_is_refused),
	};

	int failed;

	/* the cache on a disk file: its I/O goes through the ring */
	failed = cmocka_run_group_tests(tests, setup, teardown);
	/* the cache on tmpfs: the filter copies inline */
	if (access("/dev/shm", W_OK) == 0)
		failed += cmocka_run_group_tests(tests, setup_shm, teardown);
	return failed;
}
