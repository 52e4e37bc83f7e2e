// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_replica_frame - libFuzzer harness for the replication frame
 * decoder: the input is a stream of frames as a peer could send them.
 * Decoding must never read past the input, a frame it accepts must
 * re-encode to the same bytes, and a RECORD's or BLOCK's data must match
 * its crc; a DIVERGE's ranges lie inside the frame, each non-empty and
 * ending within 2^64; a SYNC that starts a copy names no count; a HELLO's
 * lease comes with FRAME_F_AUTO, from a sender, and is never zero.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crc32c.h"
#include "replica/frame.h"

static uint8_t out[FRAME_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f;
	size_t used, n;

	while (size) {
		if (frame_decode(data, size, &f, &used))
			return 0;
		if (used > size || used < FRAME_HDR)
			abort();
		if (f.type == FRAME_RECORD &&
		    (f.rec.data < data || f.rec.data + f.rec.length > data + used ||
		     crc32c(0, f.rec.data, f.rec.length) != f.rec.data_crc))
			abort();
		if (f.type == FRAME_BLOCK &&
		    (f.blk.data < data || f.blk.data + f.blk.length > data + used || !f.blk.length ||
		     crc32c(0, f.blk.data, f.blk.length) != f.blk.data_crc))
			abort();
		if (f.type == FRAME_DIVERGE) {
			uint64_t off, len;
			uint32_t i;

			if (f.div.count > FRAME_RANGES_MAX || f.div.raw < data ||
			    f.div.raw + (size_t)f.div.count * FRAME_RANGE_LEN > data + used)
				abort();
			for (i = 0; i < f.div.count; i++) {
				frame_range_get(f.div.raw, i, &off, &len);
				if (!len || off > UINT64_MAX - len)
					abort();
			}
		}
		if (f.type == FRAME_SYNC && !(f.flags & FRAME_F_LAST) && f.sync.blocks)
			abort();
		if (f.type == FRAME_HELLO && (!(f.flags & FRAME_F_AUTO) != !f.hello.lease_ms ||
					      (f.hello.lease_ms && f.hello.role)))
			abort();
		n = frame_encode(&f, out);
		if (n != used || memcmp(out, data, n))
			abort();
		data += used;
		size -= used;
	}
	return 0;
}
