// SPDX-License-Identifier: GPL-2.0
/*
 * Replication frames (replica/frame.h): round trips of every type, every
 * cut of a frame asks for more, every flipped bit is refused, and lengths
 * the type cannot have are refused before anything behind them is read.
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

static void test_round_trips(void **state)
{
	struct frame f = record_frame(), g;
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
	n = frame_encode(&f, buf);
	assert_int_equal(frame_decode(buf, n, &g, &used), 0);
	assert_memory_equal(&g.hello, &f.hello, sizeof(f.hello));

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
	buf[4] = 2;
	forge(buf, FRAME_ACK, 8);
	assert_int_equal(frame_decode(buf, FRAME_HDR + 8, &g, &used), -EPROTONOSUPPORT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_cuts_and_bits),
		cmocka_unit_test(test_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
