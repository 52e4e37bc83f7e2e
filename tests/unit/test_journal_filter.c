// SPDX-License-Identifier: GPL-2.0
/*
 * The journal filter on a real io_uring: the queue's engine over a
 * temporary backing file, a temporary journal. Records are written before
 * the backing, sync commit acknowledges only durable records (group commit:
 * fewer fsyncs than writes; a lone write committed on the queue's thread),
 * a FLUSH is a record and a barrier, a restart
 * replays what the backing lacks, and a journal smaller than what is
 * written folds into its base without losing a write.
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

#include "filters/chain.h"
#include "filters/registry.h"
#include "journal/restore.h"
#include "ublk/engine.h"
#include "tmpdir.h"

#define DEPTH		4
#define BUF_SIZE	(64 * 1024)
#define DISK		(1 << 20)
#define MS		1000000ull

struct harness {
	struct engine e;
	struct filter_chain *c;
	int fd;
	int results[DEPTH];
	int dones[DEPTH];
	char backing[128], journal[128], args[512];
};

static void h_done(struct engine *e, struct engine_io *io)
{
	struct harness *h = e->cfg.owner;

	h->results[io->req.tag] = io->req.result;
	h->dones[io->req.tag]++;
}

static const struct engine_ops h_ops = { .done = h_done };

static int h_start(struct harness *h, const char *extra, bool fresh)
{
	const struct filter_ops *ops[] = { &journal_filter_ops };
	struct filter_config cfg = {
		.name = "journal", .disk_size = DISK, .block_size = 512, .queues = 1,
		.depth = DEPTH, .backing_size = DISK,
	};
	struct engine_cfg ec = {
		.dev_id = -1, .depth = DEPTH, .buf_size = BUF_SIZE, .cdev_fd = -1,
		.ops = &h_ops, .owner = h,
	};
	int err;

	memset(h->results, 0, sizeof(h->results));
	memset(h->dones, 0, sizeof(h->dones));
	snprintf(h->backing, sizeof(h->backing), "%s/backing", dir);
	snprintf(h->journal, sizeof(h->journal), "%s/journal", dir);
	snprintf(h->args, sizeof(h->args), "path=%s%s", h->journal, extra);
	h->fd = open(h->backing, O_RDWR | O_CREAT | (fresh ? O_TRUNC : 0), 0600);
	assert_true(h->fd >= 0);
	if (fresh)
		assert_int_equal(ftruncate(h->fd, DISK), 0);
	cfg.args = h->args;
	cfg.backing = h->backing;
	err = chain_create(&h->c, ops, &cfg, 1, &engine_sinks);
	if (err) {
		close(h->fd);
		return err;
	}
	ec.backing_fd = h->fd;
	ec.chain = h->c;
	assert_int_equal(engine_init(&h->e, &ec), 0);
	assert_int_equal(engine_setup(&h->e), 0);
	assert_int_equal(chain_start(h->c), 0);
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
	uint64_t end = now_ns() + 10000 * MS;

	while (tag >= 0 ? !h->dones[tag] : engine_busy(&h->e)) {
		assert_true(now_ns() < end);
		assert_int_equal(engine_wait(&h->e), 0);
	}
}

static void h_stop(struct harness *h)
{
	chain_stop(h->c);
	engine_drain(&h->e);
	h_run(h, -1);
	engine_teardown(&h->e);
	engine_destroy(&h->e);
	chain_destroy(h->c);
	close(h->fd);
}

static void h_submit(struct harness *h, unsigned int tag, enum filter_op op, uint64_t off,
		     uint32_t len, int fill)
{
	struct engine_io *io = &h->e.ios[tag];

	io->req.op = op;
	io->req.flags = 0;
	io->req.offset = off;
	io->req.len = len;
	if (fill >= 0)
		memset(io->buf, fill, len);
	h->dones[tag] = 0;
	engine_submit(&h->e, tag);
}

static uint64_t stat_of(struct harness *h, const char *name)
{
	struct filter_stat st[16];
	int i, n = chain_filter_stats(h->c, 0, st, 16);

	for (i = 0; i < n; i++)
		if (!strcmp(st[i].name, name))
			return st[i].value;
	fail_msg("no stat %s", name);
	return 0;
}

static void assert_fd(int fd, uint64_t off, int byte, size_t len)
{
	uint8_t *buf = malloc(len);
	size_t i;

	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	for (i = 0; i < len; i++)
		if (buf[i] != byte)
			fail_msg("byte %zu after %llu is %#x, want %#x", i,
				 (unsigned long long)off, buf[i], byte);
	free(buf);
}

static struct journal_scan scan_journal(struct harness *h, struct journal_sb *sb)
{
	struct journal_scan s;
	int fd = open(h->journal, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(journal_scan(fd, sb, &s), 0);
	close(fd);
	return s;
}

/* sync commit: every write is a durable record before the backing has it */
static void sync_writes(const char *args)
{
	struct journal_scan s;
	struct journal_sb sb;
	struct harness h;
	int i, round;

	assert_ptr_equal(filter_ops_lookup("journal"), &journal_filter_ops);
	assert_int_equal(h_start(&h, args, true), 0);
	for (round = 0; round < 8; round++) {
		for (i = 0; i < DEPTH; i++)
			h_submit(&h, i, FILTER_OP_WRITE, (round * DEPTH + i) * 4096ull, 4096,
				 0x40 + round);
		h_run(&h, -1);
		for (i = 0; i < DEPTH; i++)
			assert_int_equal(h.results[i], 4096);
	}
	/* every acknowledged record is durable: durable_seq covers them */
	assert_int_equal(stat_of(&h, "records"), 32);
	assert_true(stat_of(&h, "durable_seq") >= 32);
	/* group commit: four writes in flight at once share fsyncs */
	assert_true(stat_of(&h, "fsyncs") < 32);
	assert_true(stat_of(&h, "fsyncs") >= 1);
	assert_fd(h.fd, 0, 0x40, 4 * 4096);
	assert_fd(h.fd, 7 * DEPTH * 4096ull, 0x47, 4 * 4096);
	s = scan_journal(&h, &sb);
	assert_int_equal(s.records, 32);
	assert_int_equal(s.writes, 32);
	assert_int_equal(s.end, JOURNAL_END_CLEAN);
	h_stop(&h);
	/* the stop checkpointed: nothing left to replay */
	s = scan_journal(&h, &sb);
	assert_int_equal(sb.ckpt_seq, 32);
}

static void test_sync_writes_and_group_commit(void **state)
{
	sync_writes(",size=4MiB,commit=sync");
}

/* the same with records written by io_uring on the queue's ring */
static void test_sync_writes_uring(void **state)
{
	sync_writes(",size=4MiB,commit=sync,record_io=uring");
}

/* a FLUSH is a record and waits for durability in async mode too */
static void test_async_flush_barrier(void **state)
{
	struct journal_scan s;
	struct journal_sb sb;
	struct harness h;
	uint64_t fsyncs;

	assert_int_equal(h_start(&h, ",size=4MiB,commit=async", true), 0);
	h_submit(&h, 0, FILTER_OP_WRITE, 0, 8192, 0x51);
	h_submit(&h, 1, FILTER_OP_WRITE_ZEROES, 8192, 4096, -1);
	h_run(&h, -1);
	assert_int_equal(h.results[0], 8192);
	fsyncs = stat_of(&h, "fsyncs");
	h_submit(&h, 2, FILTER_OP_FLUSH, 0, 0, -1);
	h_run(&h, 2);
	assert_int_equal(h.results[2], 0);
	assert_true(stat_of(&h, "fsyncs") > fsyncs);
	assert_true(stat_of(&h, "durable_seq") >= 3);
	assert_int_equal(stat_of(&h, "flushes"), 1);
	s = scan_journal(&h, &sb);
	assert_int_equal(s.records, 3);
	assert_int_equal(s.zeroes, 1);
	assert_int_equal(s.flushes, 1);
	h_stop(&h);
}

/*
 * A write or a FLUSH that is all its queue is doing is committed by the
 * queue's thread at the end of the pass that wrote its record
 * (fsyncs_inline), not on the ring. The commit thread's once-a-second sync
 * may take one of them first, so most, not all, of eight in a row.
 */
static void test_lone_commit_inline(void **state)
{
	struct harness h;
	uint64_t fsyncs, inl;
	int i;

	assert_int_equal(h_start(&h, ",size=4MiB,commit=sync", true), 0);
	fsyncs = stat_of(&h, "fsyncs");
	inl = stat_of(&h, "fsyncs_inline");
	for (i = 0; i < 8; i++) {
		h_submit(&h, 0, FILTER_OP_WRITE, i * 4096ull, 4096, 0x61 + i);
		h_run(&h, 0);
		assert_int_equal(h.results[0], 4096);
		assert_true(stat_of(&h, "durable_seq") >= (uint64_t)i + 1);
	}
	assert_true(stat_of(&h, "fsyncs_inline") - inl >= 6);
	assert_true(stat_of(&h, "fsyncs") - fsyncs >= 8);
	assert_fd(h.fd, 7 * 4096, 0x68, 4096);
	h_stop(&h);

	assert_int_equal(h_start(&h, ",size=4MiB,commit=async", true), 0);
	inl = stat_of(&h, "fsyncs_inline");
	for (i = 0; i < 8; i++) {
		h_submit(&h, 0, FILTER_OP_WRITE, i * 4096ull, 4096, 0x71 + i);
		h_run(&h, 0);
		h_submit(&h, 1, FILTER_OP_FLUSH, 0, 0, -1);
		h_run(&h, 1);
		assert_int_equal(h.results[1], 0);
		assert_true(stat_of(&h, "durable_seq") >= 2 * (uint64_t)i + 2);
	}
	assert_true(stat_of(&h, "fsyncs_inline") - inl >= 6);
	h_stop(&h);
}

/* bad arguments, another disk's journal, another version: refused, unchanged */
static void test_refusals(void **state)
{
	struct journal_scan s;
	struct journal_sb sb;
	struct harness h;
	uint8_t buf[JOURNAL_SB_SIZE];
	int fd;

	assert_int_equal(h_start(&h, ",commit=maybe", true), -EINVAL);
	assert_int_equal(h_start(&h, ",retention=forever", true), -EINVAL);
	assert_int_equal(h_start(&h, ",size=4MiB", true), 0);
	h_submit(&h, 0, FILTER_OP_WRITE, 0, 4096, 0x71);
	h_run(&h, -1);
	h_stop(&h);
	/* the journal of a disk served from another backing */
	s = scan_journal(&h, &sb);
	snprintf(sb.backing, sizeof(sb.backing), "/somewhere/else.img");
	sb.gen++;
	fd = open(h.journal, O_RDWR);
	assert_int_equal(journal_sb_write(fd, &sb), 0);
	sb.gen++;
	assert_int_equal(journal_sb_write(fd, &sb), 0);
	assert_int_equal(h_start(&h, "", false), -EXDEV);
	/* a version this build does not read */
	journal_sb_encode(&sb, buf);
	buf[8] = 9;
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), JOURNAL_SB_SIZE), sizeof(buf));
	close(fd);
	assert_int_equal(h_start(&h, "", false), -EPROTONOSUPPORT);
	/* nothing was changed: the record is still there */
	fd = open(h.journal, O_RDONLY);
	assert_int_equal(pread(fd, buf, JOURNAL_REC_HDR, JOURNAL_RING_START), JOURNAL_REC_HDR);
	assert_int_equal(buf[0] | buf[1] << 8 | buf[2] << 16 | (uint32_t)buf[3] << 24,
			 JOURNAL_REC_MAGIC);
	close(fd);
	assert_int_equal(s.records, 1);
}

/* after a crash the backing lacks records past the checkpoint: init replays them */
static void test_restart_replays(void **state)
{
	struct journal_scan s;
	struct journal_sb sb;
	struct harness h;
	int fd, zero;
	uint8_t z[8192];

	assert_int_equal(h_start(&h, ",size=4MiB", true), 0);
	h_submit(&h, 0, FILTER_OP_WRITE, 0, 8192, 0x61);
	h_run(&h, -1);
	h_stop(&h);
	/* the crash: the checkpoint back at 0, the backing without the write */
	s = scan_journal(&h, &sb);
	assert_int_equal(s.records, 1);
	sb.ckpt_seq = 0;
	sb.gen++;
	fd = open(h.journal, O_RDWR);
	assert_int_equal(journal_sb_write(fd, &sb), 0);
	close(fd);
	memset(z, 0, sizeof(z));
	fd = open(h.backing, O_RDWR);
	assert_int_equal(pwrite(fd, z, sizeof(z), 0), sizeof(z));
	close(fd);
	zero = 0;
	assert_int_equal(h_start(&h, ",size=4MiB", false), zero);
	assert_int_equal(stat_of(&h, "replayed"), 1);
	assert_fd(h.fd, 0, 0x61, 8192);
	/* and the log goes on from there, in one chain */
	h_submit(&h, 0, FILTER_OP_WRITE, 8192, 4096, 0x62);
	h_run(&h, -1);
	h_stop(&h);
	s = scan_journal(&h, &sb);
	assert_int_equal(s.records, 2);
	assert_int_equal(s.last_seq, 2);
	assert_int_equal(s.end, JOURNAL_END_CLEAN);
}

/* The disk restored at the journal's last record equals the backing. */
static void assert_restore_is_backing(struct harness *h, uint64_t seq)
{
	struct journal_restore_info info;
	struct journal_point p = { .seq = seq };
	char base[160], out[160];
	uint8_t *a = malloc(DISK), *b = malloc(DISK);
	int jfd, bfd, ofd, fd;

	snprintf(base, sizeof(base), "%s.base", h->journal);
	snprintf(out, sizeof(out), "%s/out", dir);
	jfd = open(h->journal, O_RDONLY);
	bfd = open(base, O_RDONLY);
	ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fd = open(h->backing, O_RDONLY);
	assert_int_equal(journal_restore(jfd, bfd, ofd, &p, &info, NULL, NULL), 0);
	assert_int_equal(pread(fd, a, DISK, 0), DISK);
	assert_int_equal(pread(ofd, b, DISK, 0), DISK);
	assert_memory_equal(a, b, DISK);
	close(jfd);
	close(bfd);
	close(ofd);
	close(fd);
	free(a);
	free(b);
}

/*
 * Overlapping writes in flight at once reach the backing in the journal's
 * order: each waits for the earlier one it overlaps (overlap_waits), and the
 * backing equals the journal restored at its end, for both ways of writing
 * records and both commits.
 */
static void overlapping_writes(const char *args)
{
	struct journal_sb sb;
	struct journal_scan s;
	struct harness h;
	int i, round;

	assert_int_equal(h_start(&h, args, true), 0);
	for (round = 0; round < 8; round++) {
		/* each write overlaps the one before it by 6 KiB */
		for (i = 0; i < DEPTH; i++)
			h_submit(&h, i, FILTER_OP_WRITE, round * 4096ull + i * 2048ull, 8192,
				 0x10 * round + i);
		h_run(&h, -1);
		for (i = 0; i < DEPTH; i++)
			assert_int_equal(h.results[i], 8192);
	}
	assert_true(stat_of(&h, "overlap_waits") >= 8);
	h_stop(&h);
	s = scan_journal(&h, &sb);
	assert_int_equal(s.last_seq, 8 * DEPTH);
	assert_restore_is_backing(&h, s.last_seq);
}

static void test_overlapping_writes(void **state)
{
	char path[160];

	overlapping_writes(",size=4MiB,commit=async");
	snprintf(path, sizeof(path), "%s/journal", dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/journal.base", dir);
	assert_int_equal(unlink(path), 0);
	overlapping_writes(",size=4MiB,commit=sync,record_io=uring");
}

/*
 * A journal much smaller than what is written: the oldest records fold
 * into the base, every write succeeds, and the newest point restores to
 * exactly the backing.
 */
static void test_full_journal_folds(void **state)
{
	struct journal_restore_info info;
	struct journal_point p = {};
	struct journal_sb sb;
	struct journal_scan s;
	struct harness h;
	char base[160], out[160];
	uint8_t *a, *b;
	int i, round, jfd, bfd, ofd;

	/* a ring of 1 MiB + change; 64 KiB writes, 48 of them: three laps */
	assert_int_equal(h_start(&h, ",size=1056KiB", true), 0);
	for (round = 0; round < 12; round++) {
		for (i = 0; i < DEPTH; i++)
			h_submit(&h, i, FILTER_OP_WRITE, ((round * DEPTH + i) % 16) * 65536ull,
				 65536, round * DEPTH + i);
		h_run(&h, -1);
		for (i = 0; i < DEPTH; i++)
			assert_int_equal(h.results[i], 65536);
	}
	assert_true(stat_of(&h, "folds") >= 1);
	assert_true(stat_of(&h, "folded_records") >= 16);
	h_stop(&h);
	s = scan_journal(&h, &sb);
	assert_true(sb.base_seq >= 16);
	assert_int_equal(s.last_seq, 48);

	snprintf(base, sizeof(base), "%s.base", h.journal);
	snprintf(out, sizeof(out), "%s/out", dir);
	jfd = open(h.journal, O_RDONLY);
	bfd = open(base, O_RDONLY);
	ofd = open(out, O_RDWR | O_CREAT, 0600);
	p.seq = 48;
	assert_int_equal(journal_restore(jfd, bfd, ofd, &p, &info, NULL, NULL), 0);
	a = malloc(DISK);
	b = malloc(DISK);
	h.fd = open(h.backing, O_RDONLY);
	assert_int_equal(pread(h.fd, a, DISK, 0), DISK);
	assert_int_equal(pread(ofd, b, DISK, 0), DISK);
	assert_memory_equal(a, b, DISK);
	/* before the window: refused */
	p.seq = 1;
	assert_int_equal(journal_resolve(jfd, &p, &info), -ERANGE);
	free(a);
	free(b);
	close(h.fd);
	close(jfd);
	close(bfd);
	close(ofd);
}

/* retention by time: records older than it fold into the base, the window moves */
static void test_retention_by_time(void **state)
{
	struct journal_scan s;
	struct journal_sb sb;
	struct harness h;
	uint64_t end, since;
	int i;

	assert_int_equal(h_start(&h, ",size=4MiB,retention=50ms", true), 0);
	since = stat_of(&h, "restorable_since_s");
	for (i = 0; i < DEPTH; i++)
		h_submit(&h, i, FILTER_OP_WRITE, i * 4096ull, 4096, 0x80 + i);
	h_run(&h, -1);
	/* the thread checkpoints and folds about once a second */
	end = now_ns() + 5000 * MS;
	while (stat_of(&h, "folded_records") < DEPTH) {
		assert_true(now_ns() < end);
		usleep(20000);
	}
	assert_true(stat_of(&h, "restorable_since_s") >= since);
	h_stop(&h);
	s = scan_journal(&h, &sb);
	assert_int_equal(sb.base_seq, DEPTH);
	assert_int_equal(s.records, 0);
	/* the base has what was folded */
	{
		char base[160];
		int fd;

		snprintf(base, sizeof(base), "%s.base", h.journal);
		fd = open(base, O_RDONLY);
		assert_fd(fd, 0, 0x80, 4096);
		assert_fd(fd, 3 * 4096, 0x83, 4096);
		close(fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_writes_and_group_commit, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_sync_writes_uring, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_async_flush_barrier, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_lone_commit_inline, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_refusals, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_restart_replays, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_overlapping_writes, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_full_journal_folds, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_retention_by_time, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
