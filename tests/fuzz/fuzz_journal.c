// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_journal - libFuzzer harness for the journal reader: the input is
 * a superblock (decoded as is) and, behind a good superblock the harness
 * writes, the ring of records. The walk must end (clean, torn or corrupt)
 * within the ring without reading out of bounds, scan and restore's
 * resolve must agree, and every record handed out must be whole.
 *
 * Input: byte 0 picks the tail (byte 0 * 8 into the ring), byte 1 the
 * first seq (1 + byte 1); the rest is the ring (records of stream
 * FUZZ_STREAM, as tests/fuzz/corpus/journal/ has them).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "journal/restore.h"
#include "lib/crc32c.h"

static const uint8_t uuid[JOURNAL_UUID_LEN] = { 's', 'l', 'u', 'i', 'c', 'e', 'f', 'z' };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_restore_info info;
	struct journal_point p = { .seq = UINT64_MAX };
	struct journal_sb sb = {}, got;
	struct journal_scan s;
	struct journal_reader r;
	uint8_t buf[JOURNAL_SB_SIZE];
	uint64_t n = 0;
	int fd, err;

	journal_sb_decode(data, size, &got);
	if (size < 2 + JOURNAL_REC_HDR)
		return 0;
	sb.version = JOURNAL_VERSION;
	sb.gen = 1;
	memcpy(sb.uuid, uuid, sizeof(uuid));
	sb.disk_size = 1 << 20;
	sb.block_size = 512;
	sb.journal_size = JOURNAL_RING_START + ((size - 2) & ~7ul);
	sb.tail_off = JOURNAL_RING_START + (uint64_t)data[0] * 8;
	if (sb.tail_off > sb.journal_size)
		sb.tail_off = JOURNAL_RING_START;
	sb.tail_seq = 1 + data[1];
	sb.base_seq = sb.ckpt_seq = sb.tail_seq - 1;
	fd = memfd_create("fuzz-journal", 0);
	if (fd < 0)
		abort();
	journal_sb_encode(&sb, buf);
	if (pwrite(fd, buf, sizeof(buf), 0) != sizeof(buf) ||
	    pwrite(fd, data + 2, size - 2, JOURNAL_RING_START) != (ssize_t)(size - 2))
		abort();
	if (journal_reader_init(&r, fd))
		abort();
	while ((err = journal_reader_next(&r)) > 0) {
		if (r.rec_off < JOURNAL_RING_START ||
		    r.rec_off + journal_rec_span(r.rec.length) > sb.journal_size ||
		    r.rec.seq != sb.tail_seq + n ||
		    crc32c(0, r.data, r.rec.length) != r.rec.data_crc)
			abort();
		n++;
	}
	if (err || r.end_off < JOURNAL_RING_START || r.end_off > sb.journal_size)
		abort();
	journal_reader_fini(&r);
	if (journal_scan(fd, &got, &s) || s.records != n)
		abort();
	err = journal_resolve(fd, &p, &info);
	if (err != -ERANGE && err != -EBADMSG)
		abort();
	close(fd);
	return 0;
}
