// SPDX-License-Identifier: GPL-2.0
/*
 * The journal's on-disk format (journal/format.h), its reader on good,
 * torn and corrupt input (every cut of the last records: the truncation
 * sweep), replay onto a backing and point-in-time restore.
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "journal/restore.h"
#include "lib/crc32c.h"
#include "tmpdir.h"

#define DISK	(256 * 1024)
#define JSIZE	(4u << 20)

/* A journal in dir/j over a backing dir/b of DISK bytes of 0x11. */
struct tj {
	char jpath[128], bpath[128];
	int jfd, bfd;
	struct journal_sb sb;
	uint64_t head, seq;
	uint32_t prev;
	uint64_t offs[64];		/* byte offset of record seq i */
};

static void tj_create(struct tj *t, uint64_t jsize)
{
	struct journal_geom g = { .disk_size = DISK, .block_size = 512 };
	static uint8_t fill[DISK];

	memset(t, 0, sizeof(*t));
	snprintf(t->jpath, sizeof(t->jpath), "%s/j", dir);
	snprintf(t->bpath, sizeof(t->bpath), "%s/b", dir);
	t->bfd = open(t->bpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(t->bfd >= 0);
	memset(fill, 0x11, sizeof(fill));
	assert_int_equal(pwrite(t->bfd, fill, DISK, 0), DISK);
	t->jfd = open(t->jpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(t->jfd >= 0);
	g.backing = t->bpath;
	assert_int_equal(journal_create(t->jfd, t->jpath, jsize, &g, t->bfd, &t->sb), 0);
	t->head = JOURNAL_RING_START;
	t->seq = 1;
}

static void tj_close(struct tj *t)
{
	close(t->jfd);
	close(t->bfd);
}

/* Append a record the way the filter does (place, chain, crcs). */
static void tj_append(struct tj *t, uint16_t type, uint64_t off, uint32_t len, int byte,
		      uint64_t time_ns)
{
	struct journal_rec rec = {
		.version = JOURNAL_VERSION, .type = type, .offset = off,
		.length = type == JOURNAL_REC_WRITE ? len : 0, .range = len,
		.seq = t->seq, .time_ns = t->sb.created_ns + time_ns, .stream = journal_stream(t->sb.uuid),
		.prev_crc = t->prev,
	};
	uint8_t hdr[JOURNAL_REC_HDR], *data = malloc(len + 1);
	uint64_t span = journal_rec_span(rec.length), pos;

	memset(data, byte, len);
	rec.data_crc = crc32c(0, data, rec.length);
	journal_rec_encode(&rec, hdr);
	pos = journal_place(t->head, span, t->sb.journal_size);
	assert_int_equal(pwrite(t->jfd, hdr, sizeof(hdr), pos), sizeof(hdr));
	if (rec.length)
		assert_int_equal(pwrite(t->jfd, data, rec.length, pos + JOURNAL_REC_HDR),
				 rec.length);
	if (t->seq < 64)
		t->offs[t->seq] = pos;
	t->prev = rec.hdr_crc;
	t->head = pos + span;
	t->seq++;
	free(data);
}

static int count_records(int fd, struct journal_scan *s)
{
	struct journal_sb sb;

	assert_int_equal(journal_scan(fd, &sb, s), 0);
	return (int)s->records;
}

/* --- format -------------------------------------------------------------- */

static void test_crc32c(void **state)
{
	/* the check value of CRC-32C (RFC 3720's), and continuation */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
	assert_int_equal(crc32c(0, "", 0), 0);
}

static void test_sb_round_trip(void **state)
{
	struct journal_sb a = {
		.gen = 7, .version = JOURNAL_VERSION, .disk_size = 1 << 20, .block_size = 4096,
		.journal_size = 64 << 20, .created_ns = 123, .tail_off = JOURNAL_RING_START + 8,
		.tail_seq = 10, .tail_prev_crc = 0xdeadbeef, .base_seq = 9, .base_time_ns = 456,
		.ckpt_seq = 12, .ckpt_time_ns = 789, .backing = "/var/lib/x.img",
	}, b;
	uint8_t buf[JOURNAL_SB_SIZE];

	memset(a.uuid, 0xab, sizeof(a.uuid));
	journal_sb_encode(&a, buf);
	assert_int_equal(journal_sb_decode(buf, sizeof(buf), &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	/* a flipped bit anywhere in the used bytes is caught */
	buf[100] ^= 1;
	assert_int_equal(journal_sb_decode(buf, sizeof(buf), &b), -EBADMSG);
	buf[100] ^= 1;
	/* another version is told apart from corruption */
	buf[8] = 2;
	assert_int_equal(journal_sb_decode(buf, sizeof(buf), &b), -EPROTONOSUPPORT);
	assert_int_equal(b.version, 2);
	memset(buf, 0, 8);
	assert_int_equal(journal_sb_decode(buf, sizeof(buf), &b), -ENODATA);
	/* impossible fields are refused even with a good crc */
	a.base_seq = 3;
	journal_sb_encode(&a, buf);
	assert_int_equal(journal_sb_decode(buf, sizeof(buf), &b), -EBADMSG);
}

static void test_rec_round_trip(void **state)
{
	struct journal_rec a = {
		.version = JOURNAL_VERSION, .type = JOURNAL_REC_WRITE, .flags = JOURNAL_REC_FUA,
		.length = 4096, .seq = 42, .time_ns = 99, .offset = 8192, .range = 4096,
		.data_crc = 5, .stream = 77, .prev_crc = 6,
	}, b;
	uint8_t hdr[JOURNAL_REC_HDR];

	journal_rec_encode(&a, hdr);
	assert_int_equal(journal_rec_decode(hdr, JSIZE, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	hdr[20] ^= 0x80;
	assert_int_equal(journal_rec_decode(hdr, JSIZE, &b), -EBADMSG);
	hdr[20] ^= 0x80;
	/* a length the ring cannot hold */
	assert_int_equal(journal_rec_decode(hdr, 1024, &b), -EBADMSG);
	/* a write whose range is not its length */
	a.range = 512;
	journal_rec_encode(&a, hdr);
	assert_int_equal(journal_rec_decode(hdr, JSIZE, &b), -EBADMSG);
	assert_int_equal(journal_rec_span(4096), 4160);
	assert_int_equal(journal_place(JSIZE - 100, 200, JSIZE), JOURNAL_RING_START);
}

/* --- the reader ---------------------------------------------------------- */

static void test_reader_walk(void **state)
{
	struct journal_scan s;
	struct tj t;

	tj_create(&t, JSIZE);
	assert_int_equal(count_records(t.jfd, &s), 0);
	assert_int_equal(s.end, JOURNAL_END_CLEAN);
	tj_append(&t, JOURNAL_REC_WRITE, 0, 4096, 0xa1, 1000);
	tj_append(&t, JOURNAL_REC_FLUSH, 0, 0, 0, 2000);
	tj_append(&t, JOURNAL_REC_ZEROES, 8192, 4096, 0, 3000);
	tj_append(&t, JOURNAL_REC_WRITE, 4096, 512, 0xa2, 4000);
	assert_int_equal(count_records(t.jfd, &s), 4);
	assert_int_equal(s.end, JOURNAL_END_CLEAN);
	assert_int_equal(s.writes, 2);
	assert_int_equal(s.flushes, 1);
	assert_int_equal(s.zeroes, 1);
	assert_int_equal(s.data_bytes, 4608);
	assert_int_equal(s.last_seq, 4);
	assert_int_equal(s.head_off, t.head);
	tj_close(&t);
}

/*
 * The truncation sweep: the journal cut at every byte of its last two
 * records reads as the records before the cut, a clean or torn end at the
 * exact offset of the first record cut, never more, never a corrupt one.
 */
static void assert_fd_bytes(int fd, uint64_t off, int byte, size_t len);

static void test_reader_truncation_sweep(void **state)
{
	uint8_t fill[12288];
	struct journal_sb sb;
	struct journal_scan s;
	uint64_t cut, grown, end, span4 = journal_rec_span(2048);
	uint8_t *pristine;
	struct tj t;
	int want;

	tj_create(&t, JSIZE);
	tj_append(&t, JOURNAL_REC_WRITE, 0, 4096, 0xb1, 1);
	tj_append(&t, JOURNAL_REC_WRITE, 4096, 1024, 0xb2, 2);
	tj_append(&t, JOURNAL_REC_FLUSH, 0, 0, 0, 3);
	tj_append(&t, JOURNAL_REC_WRITE, 8192, 2048, 0xb3, 4);
	end = t.head;
	memset(fill, 0x11, sizeof(fill));
	pristine = malloc(end);
	assert_int_equal(pread(t.jfd, pristine, end, 0), (ssize_t)end);
	for (cut = t.offs[3]; cut <= end; cut++) {
		assert_int_equal(pwrite(t.jfd, pristine, end, 0), (ssize_t)end);
		assert_int_equal(ftruncate(t.jfd, cut), 0);
		want = cut >= t.offs[4] + span4 ? 4 : cut >= t.offs[3] + JOURNAL_REC_HDR ? 3 : 2;
		assert_int_equal(count_records(t.jfd, &s), want);
		assert_int_not_equal(s.end, JOURNAL_END_CORRUPT);
		if (want < 4) {
			assert_int_equal(s.end_off, t.offs[want + 1]);
			assert_int_equal(s.end_seq, want + 1);
		}
		/*
		 * The file grown back with zeroes (a torn write's hole): the
		 * same, unless the bytes cut off were zeroes themselves (a
		 * header ends in hdr_crc, whose top byte is 0 once in 256 runs): then
		 * the record is whole again.
		 */
		for (grown = cut; grown < end && !pristine[grown]; grown++)
			;
		want = grown >= t.offs[4] + span4 ? 4 : grown >= t.offs[3] + JOURNAL_REC_HDR ? 3 : 2;
		assert_int_equal(ftruncate(t.jfd, JSIZE), 0);
		assert_int_equal(count_records(t.jfd, &s), want);
		assert_int_not_equal(s.end, JOURNAL_END_CORRUPT);
		/* and recovery puts exactly the complete records on the backing */
		assert_int_equal(pwrite(t.bfd, fill, 12288, 0), 12288);
		assert_int_equal(journal_replay(t.jfd, t.bfd, 0, &sb, &s), 0);
		assert_int_equal(s.replayed, want - (want >= 3));	/* a flush puts nothing */
		assert_fd_bytes(t.bfd, 0, 0xb1, 4096);
		assert_fd_bytes(t.bfd, 4096, 0xb2, 1024);
		assert_fd_bytes(t.bfd, 8192, want == 4 ? 0xb3 : 0x11, 2048);
	}
	free(pristine);
	tj_close(&t);
}

/* A torn record in the middle of the data: torn tail, exact offset. */
static void test_reader_torn_data(void **state)
{
	struct journal_scan s;
	uint8_t junk = 0x5a;
	struct tj t;

	tj_create(&t, JSIZE);
	tj_append(&t, JOURNAL_REC_WRITE, 0, 4096, 0xc1, 1);
	tj_append(&t, JOURNAL_REC_WRITE, 0, 4096, 0xc2, 2);
	assert_int_equal(pwrite(t.jfd, &junk, 1, t.offs[2] + JOURNAL_REC_HDR + 4000), 1);
	assert_int_equal(count_records(t.jfd, &s), 1);
	assert_int_equal(s.end, JOURNAL_END_TORN);
	assert_int_equal(s.end_off, t.offs[2]);
	assert_int_equal(s.end_seq, 2);
	tj_close(&t);
}

/* A corrupt record with good ones after it: corrupt, its offset, nothing replayed. */
static void test_reader_corrupt_middle(void **state)
{
	struct journal_scan s;
	struct journal_sb sb;
	uint8_t junk = 0x5a, buf[4096];
	struct tj t;

	tj_create(&t, JSIZE);
	tj_append(&t, JOURNAL_REC_WRITE, 0, 4096, 0xd1, 1);
	tj_append(&t, JOURNAL_REC_WRITE, 4096, 4096, 0xd2, 2);
	tj_append(&t, JOURNAL_REC_WRITE, 8192, 4096, 0xd3, 3);
	assert_int_equal(pwrite(t.jfd, &junk, 1, t.offs[2] + JOURNAL_REC_HDR + 10), 1);
	assert_int_equal(count_records(t.jfd, &s), 1);
	assert_int_equal(s.end, JOURNAL_END_CORRUPT);
	assert_int_equal(s.end_off, t.offs[2]);
	assert_int_equal(journal_replay(t.jfd, t.bfd, 0, &sb, &s), -EBADMSG);
	assert_int_equal(pread(t.bfd, buf, 4096, 0), 4096);
	assert_int_equal(buf[0], 0x11);
	tj_close(&t);
}

/* Records that wrap around the end of the ring, and a stale lap behind them. */
static void test_reader_wrap(void **state)
{
	uint32_t len = 256 * 1024;
	uint64_t jsize = JOURNAL_RING_START + 4 * journal_rec_span(len) + 104;
	struct journal_reader r;
	struct journal_sb sb;
	struct journal_scan s;
	struct tj t;
	int i;

	tj_create(&t, jsize);
	for (i = 0; i < 4; i++)
		tj_append(&t, JOURNAL_REC_WRITE, 0, len, 0xe0 + i, i);
	/* fold the first two as the filter would: the tail moves */
	assert_int_equal(journal_reader_init(&r, t.jfd), 0);
	assert_int_equal(journal_reader_next(&r), 1);
	assert_int_equal(journal_reader_next(&r), 1);
	sb = r.sb;
	sb.tail_off = r.pos;
	sb.tail_seq = 3;
	sb.tail_prev_crc = r.rec.hdr_crc;
	sb.base_seq = 2;
	sb.ckpt_seq = 2;
	journal_reader_fini(&r);
	sb.gen++;
	assert_int_equal(journal_sb_write(t.jfd, &sb), 0);
	/* seq 5 does not fit before the end: it starts the ring again */
	tj_append(&t, JOURNAL_REC_WRITE, 0, len, 0xf5, 5);
	assert_int_equal(t.offs[5], JOURNAL_RING_START);
	assert_int_equal(count_records(t.jfd, &s), 3);
	assert_int_equal(s.first_seq, 3);
	assert_int_equal(s.last_seq, 5);
	/* record 2 of the old lap lies after 5 now: stale, a clean end */
	assert_int_equal(s.end, JOURNAL_END_CLEAN);
	assert_int_equal(s.end_off, t.offs[5] + journal_rec_span(len));
	tj_close(&t);
}

/* --- replay and restore -------------------------------------------------- */

static void assert_fd_bytes(int fd, uint64_t off, int byte, size_t len)
{
	uint8_t *buf = malloc(len);
	size_t i;

	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	for (i = 0; i < len; i++)
		if (buf[i] != byte)
			fail_msg("byte %zu at %llu: %#x, want %#x", i, (unsigned long long)off,
				 buf[i], byte);
	free(buf);
}

static void test_replay(void **state)
{
	struct journal_scan s;
	struct journal_sb sb;
	struct tj t;

	tj_create(&t, JSIZE);
	tj_append(&t, JOURNAL_REC_WRITE, 0, 4096, 0x21, 1);
	tj_append(&t, JOURNAL_REC_ZEROES, 4096, 8192, 0, 2);
	assert_int_equal(journal_replay(t.jfd, t.bfd, 0, &sb, &s), 0);
	assert_int_equal(s.replayed, 2);
	assert_int_equal(sb.ckpt_seq, 2);
	assert_fd_bytes(t.bfd, 0, 0x21, 4096);
	assert_fd_bytes(t.bfd, 4096, 0, 8192);
	assert_fd_bytes(t.bfd, 12288, 0x11, 4096);
	/* the checkpoint says it is done: a second replay does nothing */
	assert_int_equal(journal_replay(t.jfd, t.bfd, 0, &sb, &s), 0);
	assert_int_equal(s.replayed, 0);
	tj_close(&t);
}

static int restore_to(struct tj *t, const struct journal_point *p, const char *name,
		      struct journal_restore_info *info, int *outfd)
{
	char base[160], out[160];
	int bfd, err;

	snprintf(base, sizeof(base), "%s.base", t->jpath);
	snprintf(out, sizeof(out), "%s/%s", dir, name);
	bfd = open(base, O_RDONLY);
	assert_true(bfd >= 0);
	*outfd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(*outfd >= 0);
	err = journal_restore(t->jfd, bfd, *outfd, p, info, NULL, NULL);
	close(bfd);
	return err;
}

static void test_restore_points(void **state)
{
	struct journal_restore_info info;
	struct journal_point p = {};
	struct tj t;
	int out;

	tj_create(&t, JSIZE);
	tj_append(&t, JOURNAL_REC_WRITE, 0, 8192, 0xa0, 100);	/* pattern A */
	tj_append(&t, JOURNAL_REC_FLUSH, 0, 0, 0, 200);
	tj_append(&t, JOURNAL_REC_WRITE, 4096, 4096, 0xb0, 300);	/* B over part */

	/* by seq: the flush point has A only */
	p.seq = 2;
	assert_int_equal(restore_to(&t, &p, "at2", &info, &out), 0);
	assert_int_equal(info.applied, 2);
	assert_fd_bytes(out, 0, 0xa0, 8192);
	assert_fd_bytes(out, 8192, 0x11, DISK - 8192);
	close(out);
	/* by time: 299 ns is before B */
	p = (struct journal_point){ .by_time = true, .time_ns = t.sb.created_ns + 299 };
	assert_int_equal(restore_to(&t, &p, "t299", &info, &out), 0);
	assert_int_equal(info.seq, 2);
	assert_fd_bytes(out, 4096, 0xa0, 4096);
	close(out);
	/* the end */
	p = (struct journal_point){ .seq = 3 };
	assert_int_equal(restore_to(&t, &p, "at3", &info, &out), 0);
	assert_fd_bytes(out, 0, 0xa0, 4096);
	assert_fd_bytes(out, 4096, 0xb0, 4096);
	close(out);
	/* seq 0: the base itself */
	p = (struct journal_point){ .seq = 0 };
	assert_int_equal(restore_to(&t, &p, "at0", &info, &out), 0);
	assert_fd_bytes(out, 0, 0x11, DISK);
	close(out);
	/* outside the window: refused before anything is written */
	p = (struct journal_point){ .seq = 4 };
	assert_int_equal(restore_to(&t, &p, "at4", &info, &out), -ERANGE);
	assert_int_equal(info.last_seq, 3);
	{
		struct stat st;

		assert_int_equal(fstat(out, &st), 0);
		assert_int_equal(st.st_size, 0);
	}
	close(out);
	tj_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_sb_round_trip),
		cmocka_unit_test(test_rec_round_trip),
		cmocka_unit_test_setup_teardown(test_reader_walk, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_reader_truncation_sweep, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_reader_torn_data, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_reader_corrupt_middle, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_reader_wrap, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_replay, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_restore_points, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
