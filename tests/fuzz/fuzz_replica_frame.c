// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_replica_frame - libFuzzer harness for the replication frame
 * decoder: the input is a stream of frames as a peer could send them.
 * Decoding must never read past the input, a frame it accepts must
 * re-encode to the same bytes, and a RECORD's data must match its crc.
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
		n = frame_encode(&f, out);
		if (n != used || memcmp(out, data, n))
			abort();
		data += used;
		size -= used;
	}
	return 0;
}
