// SPDX-License-Identifier: GPL-2.0
/*
 * Replication frames (replica/frame.h): round trips of every type, every
 * cut of a frame asks for more, every flipped bit is refused, and lengths
 * the type cannot have are refused before anything behind them is read.
 * Failback's frames the same: DIVERGE (ranges) and BLOCK (data).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "journal/format.h"
#include "lib/crc32c.h"
#include "lib/le.h"
#include "replica/frame.h"

static uint8_t data[4096];
static uint8_t buf[FRAME_HDR + FRAME_REC_HDR + sizeof(data)];

static struct frame record_frame(void)
{
	struct frame f = { .type = FRAME_RECORD, .flags = FRAME_F_ACK_REQ };
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	f.rec.seq = 42;
	f.rec.time_ns = 1234567890123ull;
	f.rec.offset = 1 << 20;
	f.rec.type = JOURNAL_REC_WRITE;
	f.rec.rflags = JOURNAL_REC_FUA;
	f.rec.range = f.rec.length = sizeof(data);
	f.rec.data_crc = crc32c(0, data, sizeof(data));
	f.rec.data = data;
	return f;
}

static uint8_t ranges[3 * FRAME_RANGE_LEN];

static struct frame diverge_frame(void)
{
	struct frame f = { .type = FRAME_DIVERGE, .flags = FRAME_F_LAST };

	frame_range_put(ranges, 0, 0, 512);
	frame_range_put(ranges, 1, 65536, 3 * 4096);
	frame_range_put(ranges, 2, 1ull << 33, 4096);
	f.div.count = 3;
	f.div.raw = ranges;
	return f;
}

static struct frame block_frame(void)
{
	struct frame f = { .type = FRAME_BLOCK, .flags = FRAME_F_LAST };
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5 + 1);
	f.blk.offset = 8192;
	f.blk.length = 1024;
	f.blk.data = data;
	f.blk.data_crc = crc32c(0, data, 1024);
	return f;
}

static void test_round_trips(void **state)
{
	struct frame f = record_frame(), g;
	uint64_t off, len;
	uint32_t plen;
	size_t n, used;

	n = frame_encode(&f, buf);
	assert_int_equal(n, frame_size(&f));
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(used, n);
	assert_int_equal(g.type, FRAME_RECORD);
	assert_int_equal(g.flags, FRAME_F_ACK_REQ);
	assert_int_equal(g.rec.seq, 42);
	assert_int_equal(g.rec.offset, 1 << 20);
	assert_int_equal(g.rec.rflags, JOURNAL_REC_FUA);
	assert_memory_equal(g.rec.data, data, sizeof(data));

	memset(&f, 0, sizeof(f));
	f.type = FRAME_HELLO;
	memset(f.hello.disk, 0xab, FRAME_UUID_LEN);
	f.hello.disk_size = 64 << 20;
	f.hello.block_size = 4096;
	f.hello.role = 1;
	f.hello.generation = 7;
	f.hello.applied = 99;
	f.hello.split = 90;
	n = frame_encode(&f, buf);
	assert_int_equal(n, FRAME_HDR + FRAME_HELLO_LEN);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_memory_equal(&g.hello, &f.hello, sizeof(f.hello));
	/* a split after the last record is no lineage */
	f.hello.split = 100;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	/* auto failover: the sender's hello carries the flag and its lease, both or neither */
	f.hello.split = 90;
	f.hello.role = 0;
	f.flags = FRAME_F_AUTO;
	f.hello.lease_ms = 5000;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.flags, FRAME_F_AUTO);
	assert_int_equal(g.hello.lease_ms, 5000);
	f.hello.lease_ms = 0;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	f.flags = 0;
	f.hello.lease_ms = 5000;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	f.flags = FRAME_F_AUTO;
	f.hello.role = 1;		/* a lease is the primary's */
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	f.hello.role = 0;
	n = frame_encode(&f, buf);
	buf[FRAME_HDR + 60] = 1;	/* reserved */
	put_le32(buf + 12, crc32c(0, buf + FRAME_HDR, FRAME_HELLO_LEN));
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);

	/* PING and CLOSE carry nothing */
	memset(&f, 0, sizeof(f));
	f.type = FRAME_PING;
	n = frame_encode(&f, buf);
	assert_int_equal(n, FRAME_HDR);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.type, FRAME_PING);
	f.type = FRAME_CLOSE;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.type, FRAME_CLOSE);
	put_le32(buf + 8, 4);		/* a CLOSE with a payload */
	put_le32(buf + 16, crc32c(0, buf, 16));
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);

	f = diverge_frame();
	n = frame_encode(&f, buf);
	assert_int_equal(n, frame_size(&f));
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.type, FRAME_DIVERGE);
	assert_int_equal(g.flags, FRAME_F_LAST);
	assert_int_equal(g.div.count, 3);
	frame_range_get(g.div.raw, 2, &off, &len);
	assert_int_equal(off, 1ull << 33);
	assert_int_equal(len, 4096);
	memset(&f, 0, sizeof(f));
	f.type = FRAME_DIVERGE;		/* an empty list: nothing diverged */
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.div.count, 0);

	f = block_frame();
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.type, FRAME_BLOCK);
	assert_int_equal(g.blk.offset, 8192);
	assert_int_equal(g.blk.length, 1024);
	assert_memory_equal(g.blk.data, data, 1024);

	memset(&f, 0, sizeof(f));
	f.type = FRAME_ACK;
	f.ack = 1ull << 40;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.ack, 1ull << 40);

	memset(&f, 0, sizeof(f));
	f.type = FRAME_ERROR;
	f.error.err = -EXDEV;
	strcpy(f.error.msg, "another disk");
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.error.err, -EXDEV);
	assert_string_equal(g.error.msg, "another disk");
}

static void test_cuts_and_bits(void **state)
{
	struct frame f = record_frame(), g;
	size_t n, used, i;
	int bit;

	n = frame_encode(&f, buf);
	for (i = 0; i < n; i++)
		assert_int_equal(frame_decode(buf, i, &g, &used), -EAGAIN);
	/* every bit of the header and a sample of the data's */
	for (i = 0; i < n; i += i < FRAME_HDR + FRAME_REC_HDR ? 1 : 97) {
		for (bit = 0; bit < 8; bit++) {
			int err;

			buf[i] ^= 1 << bit;
			err = frame_decode(buf, n, &g, &used);
			/* a flipped length may also ask for more than there is */
			assert_true(err == -EBADMSG || err == -EAGAIN || err == -EPROTONOSUPPORT);
			buf[i] ^= 1 << bit;
		}
	}
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
}

static void forge(uint8_t *b, uint8_t type, uint32_t len);
static void reseal(uint8_t *b, size_t n);

/* Every cut asks for more and every flipped bit is refused: @f whole. */
static void cut_and_flip(struct frame f)
{
	struct frame g;
	size_t n, used, i;
	int bit, err;

	n = frame_encode(&f, buf);
	for (i = 0; i < n; i++)
		assert_int_equal(frame_decode(buf, i, &g, &used), -EAGAIN);
	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			buf[i] ^= 1 << bit;
			err = frame_decode(buf, n, &g, &used);
			assert_true(err == -EBADMSG || err == -EAGAIN || err == -EPROTONOSUPPORT);
			buf[i] ^= 1 << bit;
		}
	}
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
}

static void test_failback_frames(void **state)
{
	struct frame f, g;
	uint32_t plen;
	size_t n, used;

	cut_and_flip(diverge_frame());
	cut_and_flip(block_frame());
	/* lengths a DIVERGE or BLOCK cannot have */
	f = diverge_frame();
	frame_encode(&f, buf);
	forge(buf, FRAME_DIVERGE, FRAME_DIVERGE_HDR + FRAME_RANGE_LEN + 1);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_DIVERGE, 4);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_DIVERGE, FRAME_DIVERGE_HDR + (FRAME_RANGES_MAX + 1) * FRAME_RANGE_LEN);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_BLOCK, FRAME_BLOCK_HDR);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_BLOCK, FRAME_BLOCK_HDR + FRAME_BLOCK_MAX + 1);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	/* fields, each with good crcs: a count that is not the payload's */
	f = diverge_frame();
	f.div.count = 2;
	n = frame_encode(&f, buf);
	buf[FRAME_HDR] = 3;
	reseal(buf, n);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	/* an empty range, a range past 2^64, the reserved word set */
	f = diverge_frame();
	frame_range_put(ranges, 1, 4096, 0);
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	f = diverge_frame();
	frame_range_put(ranges, 2, UINT64_MAX - 100, 4096);
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	f = diverge_frame();
	n = frame_encode(&f, buf);
	buf[FRAME_HDR + 5] = 1;
	reseal(buf, n);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	/* a block: its data's crc, its inner length, an offset past 2^64 */
	f = block_frame();
	f.blk.data_crc ^= 1;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	f = block_frame();
	n = frame_encode(&f, buf);
	buf[FRAME_HDR + 8] = 0xff;
	reseal(buf, n);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	f = block_frame();
	f.blk.offset = UINT64_MAX - 10;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
}

/* A full copy's SYNC: start and end round trips, every bit, bad lengths and fields. */
static void test_sync_frames(void **state)
{
	struct frame f = { .type = FRAME_SYNC }, g;
	uint32_t plen;
	size_t n, used;

	f.sync.seq = 1ull << 35;
	n = frame_encode(&f, buf);
	assert_int_equal(n, FRAME_HDR + FRAME_SYNC_LEN);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.type, FRAME_SYNC);
	assert_int_equal(g.flags, 0);
	assert_int_equal(g.sync.seq, 1ull << 35);
	assert_int_equal(g.sync.blocks, 0);
	cut_and_flip(f);
	f.flags = FRAME_F_LAST;
	f.sync.blocks = 123456;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_int_equal(g.flags, FRAME_F_LAST);
	assert_int_equal(g.sync.blocks, 123456);
	cut_and_flip(f);
	/* a start that names a count */
	f.flags = 0;
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), -EBADMSG);
	/* lengths a SYNC cannot have */
	forge(buf, FRAME_SYNC, FRAME_SYNC_LEN - 8);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_SYNC, FRAME_SYNC_LEN + 8);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_SYNC + 1, FRAME_SYNC_LEN);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
}

/* Rewrite the header's length and crcs: fields a peer could send. */
static void forge(uint8_t *b, uint8_t type, uint32_t len)
{
	b[5] = type;
	b[8] = len;
	b[9] = len >> 8;
	b[10] = len >> 16;
	b[11] = len >> 24;
	uint32_t c = crc32c(0, b + FRAME_HDR, len < 64 ? len : 0);

	memcpy(b + 12, &c, 4);
	c = crc32c(0, b, 16);
	memcpy(b + 16, &c, 4);
}

/* The payload changed in place: its crc and the header's again. */
static void reseal(uint8_t *b, size_t n)
{
	uint32_t c = crc32c(0, b + FRAME_HDR, n - FRAME_HDR);

	memcpy(b + 12, &c, 4);
	c = crc32c(0, b, 16);
	memcpy(b + 16, &c, 4);
}

static void test_lengths(void **state)
{
	struct frame f = { .type = FRAME_ACK, .ack = 1 }, g;
	uint32_t plen;
	size_t used;

	frame_encode(&f, buf);
	forge(buf, FRAME_ACK, 9);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_HELLO, 8);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_RECORD, FRAME_REC_HDR + FRAME_DATA_MAX + 1);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, FRAME_RECORD, UINT32_MAX);
	assert_int_equal(frame_decode(buf, sizeof(buf), &g, &used), -EBADMSG);
	forge(buf, FRAME_ERROR, 4 + FRAME_MSG_MAX + 1);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	forge(buf, 9, 8);
	assert_int_equal(frame_decode_header(buf, &plen), -EBADMSG);
	/* a record whose inner length disagrees with the frame's */
	f = record_frame();
	f.rec.length = f.rec.range = 16;
	f.rec.data_crc = crc32c(0, data, 16);
	frame_encode(&f, buf);
	buf[FRAME_HDR + 32] = 17;
	forge(buf, FRAME_RECORD, FRAME_REC_HDR + 16);
	assert_int_equal(frame_decode(buf, FRAME_HDR + FRAME_REC_HDR + 16, &g, &used), -EBADMSG);
	/* another version is told apart from damage */
	frame_encode(&(struct frame){ .type = FRAME_ACK, .ack = 1 }, buf);
	buf[4] = FRAME_VERSION + 1;
	forge(buf, FRAME_ACK, 8);
	assert_int_equal(frame_decode(buf, FRAME_HDR + 8, &g, &used), -EPROTONOSUPPORT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_cuts_and_bits),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_failback_frames),
		cmocka_unit_test(test_sync_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
