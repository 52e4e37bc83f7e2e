// SPDX-License-Identifier: GPL-2.0
/*
 * frame.c - encode and decode replication frames. The decoder reads bytes
 * from the network: every length is checked against the type's bounds and
 * the buffer before anything is read behind it.
 */
#include <errno.h>
#include <string.h>

#include "journal/format.h"
#include "lib/crc32c.h"
#include "lib/le.h"
#include "replica/frame.h"

static uint32_t payload_len(const struct frame *f)
{
	switch (f->type) {
	case FRAME_HELLO:
		return FRAME_HELLO_LEN;
	case FRAME_RECORD:
		return FRAME_REC_HDR + f->rec.length;
	case FRAME_ACK:
		return FRAME_ACK_LEN;
	case FRAME_ERROR:
		return 4 + strnlen(f->error.msg, FRAME_MSG_MAX);
	case FRAME_DIVERGE:
		return FRAME_DIVERGE_HDR + f->div.count * FRAME_RANGE_LEN;
	case FRAME_BLOCK:
		return FRAME_BLOCK_HDR + f->blk.length;
	case FRAME_SYNC:
		return FRAME_SYNC_LEN;
	case FRAME_PING:
	case FRAME_CLOSE:
		return 0;
	}
	return 0;
}

void frame_range_get(const uint8_t *raw, uint32_t i, uint64_t *offset, uint64_t *length)
{
	*offset = get_le64(raw + (size_t)i * FRAME_RANGE_LEN);
	*length = get_le64(raw + (size_t)i * FRAME_RANGE_LEN + 8);
}

void frame_range_put(uint8_t *raw, uint32_t i, uint64_t offset, uint64_t length)
{
	put_le64(raw + (size_t)i * FRAME_RANGE_LEN, offset);
	put_le64(raw + (size_t)i * FRAME_RANGE_LEN + 8, length);
}

size_t frame_size(const struct frame *f)
{
	return FRAME_HDR + payload_len(f);
}

size_t frame_encode(const struct frame *f, uint8_t *out)
{
	uint32_t len = payload_len(f);
	uint8_t *p = out + FRAME_HDR;

	switch (f->type) {
	case FRAME_HELLO:
		memcpy(p, f->hello.disk, FRAME_UUID_LEN);
		put_le64(p + 16, f->hello.disk_size);
		put_le32(p + 24, f->hello.block_size);
		put_le32(p + 28, f->hello.role);
		put_le64(p + 32, f->hello.generation);
		put_le64(p + 40, f->hello.applied);
		put_le64(p + 48, f->hello.split);
		put_le32(p + 56, f->hello.lease_ms);
		put_le32(p + 60, 0);
		break;
	case FRAME_RECORD:
		put_le64(p, f->rec.seq);
		put_le64(p + 8, f->rec.time_ns);
		put_le64(p + 16, f->rec.offset);
		put_le16(p + 24, f->rec.type);
		put_le16(p + 26, f->rec.rflags);
		put_le32(p + 28, f->rec.range);
		put_le32(p + 32, f->rec.length);
		put_le32(p + 36, f->rec.data_crc);
		if (f->rec.length)
			memcpy(p + FRAME_REC_HDR, f->rec.data, f->rec.length);
		break;
	case FRAME_ACK:
		put_le64(p, f->ack);
		break;
	case FRAME_ERROR:
		put_le32(p, (uint32_t)f->error.err);
		memcpy(p + 4, f->error.msg, len - 4);
		break;
	case FRAME_DIVERGE:
		put_le32(p, f->div.count);
		put_le32(p + 4, 0);
		if (f->div.count)
			memcpy(p + FRAME_DIVERGE_HDR, f->div.raw, len - FRAME_DIVERGE_HDR);
		break;
	case FRAME_BLOCK:
		put_le64(p, f->blk.offset);
		put_le32(p + 8, f->blk.length);
		put_le32(p + 12, f->blk.data_crc);
		memcpy(p + FRAME_BLOCK_HDR, f->blk.data, f->blk.length);
		break;
	case FRAME_SYNC:
		put_le64(p, f->sync.seq);
		put_le64(p + 8, f->sync.blocks);
		break;
	}
	put_le32(out, FRAME_MAGIC);
	out[4] = FRAME_VERSION;
	out[5] = f->type;
	put_le16(out + 6, f->flags);
	put_le32(out + 8, len);
	put_le32(out + 12, crc32c(0, p, len));
	put_le32(out + 16, crc32c(0, out, 16));
	return FRAME_HDR + len;
}

int frame_decode_header(const uint8_t hdr[FRAME_HDR], uint32_t *plen)
{
	uint32_t len = get_le32(hdr + 8);

	if (get_le32(hdr) != FRAME_MAGIC || get_le32(hdr + 16) != crc32c(0, hdr, 16))
		return -EBADMSG;
	if (hdr[4] != FRAME_VERSION)
		return -EPROTONOSUPPORT;
	switch (hdr[5]) {
	case FRAME_HELLO:
		if (len != FRAME_HELLO_LEN)
			return -EBADMSG;
		break;
	case FRAME_RECORD:
		if (len < FRAME_REC_HDR || len - FRAME_REC_HDR > FRAME_DATA_MAX)
			return -EBADMSG;
		break;
	case FRAME_ACK:
		if (len != FRAME_ACK_LEN)
			return -EBADMSG;
		break;
	case FRAME_ERROR:
		if (len < 4 || len > 4 + FRAME_MSG_MAX)
			return -EBADMSG;
		break;
	case FRAME_DIVERGE:
		if (len < FRAME_DIVERGE_HDR ||
		    len > FRAME_DIVERGE_HDR + FRAME_RANGES_MAX * FRAME_RANGE_LEN ||
		    (len - FRAME_DIVERGE_HDR) % FRAME_RANGE_LEN)
			return -EBADMSG;
		break;
	case FRAME_BLOCK:
		if (len <= FRAME_BLOCK_HDR || len - FRAME_BLOCK_HDR > FRAME_BLOCK_MAX)
			return -EBADMSG;
		break;
	case FRAME_SYNC:
		if (len != FRAME_SYNC_LEN)
			return -EBADMSG;
		break;
	case FRAME_PING:
	case FRAME_CLOSE:
		if (len)
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	*plen = len;
	return 0;
}

static int decode_record(const uint8_t *p, uint32_t len, struct frame_record *r)
{
	r->seq = get_le64(p);
	r->time_ns = get_le64(p + 8);
	r->offset = get_le64(p + 16);
	r->type = get_le16(p + 24);
	r->rflags = get_le16(p + 26);
	r->range = get_le32(p + 28);
	r->length = get_le32(p + 32);
	r->data_crc = get_le32(p + 36);
	r->data = p + FRAME_REC_HDR;
	if (r->length != len - FRAME_REC_HDR || !r->seq)
		return -EBADMSG;
	if (r->offset > UINT64_MAX - r->range)
		return -EBADMSG;
	switch (r->type) {
	case JOURNAL_REC_WRITE:
		if (!r->length || r->range != r->length)
			return -EBADMSG;
		break;
	case JOURNAL_REC_ZEROES:
	case JOURNAL_REC_FLUSH:
		if (r->length)
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	return crc32c(0, r->data, r->length) == r->data_crc ? 0 : -EBADMSG;
}

/* Every range is non-empty and ends within 2^64; the count is the payload's. */
static int decode_diverge(const uint8_t *p, uint32_t len, struct frame_diverge *d)
{
	uint64_t off, n;
	uint32_t i;

	d->count = get_le32(p);
	d->raw = p + FRAME_DIVERGE_HDR;
	if (get_le32(p + 4) || d->count != (len - FRAME_DIVERGE_HDR) / FRAME_RANGE_LEN)
		return -EBADMSG;
	for (i = 0; i < d->count; i++) {
		frame_range_get(d->raw, i, &off, &n);
		if (!n || off > UINT64_MAX - n)
			return -EBADMSG;
	}
	return 0;
}

static int decode_block(const uint8_t *p, uint32_t len, struct frame_block *b)
{
	b->offset = get_le64(p);
	b->length = get_le32(p + 8);
	b->data_crc = get_le32(p + 12);
	b->data = p + FRAME_BLOCK_HDR;
	if (b->length != len - FRAME_BLOCK_HDR || b->offset > UINT64_MAX - b->length)
		return -EBADMSG;
	return crc32c(0, b->data, b->length) == b->data_crc ? 0 : -EBADMSG;
}

int frame_decode(const uint8_t *buf, size_t len, struct frame *f, size_t *used)
{
	const uint8_t *p = buf + FRAME_HDR;
	uint32_t plen;
	size_t n;
	int err;

	memset(f, 0, sizeof(*f));
	if (len < FRAME_HDR)
		return -EAGAIN;
	err = frame_decode_header(buf, &plen);
	if (err)
		return err;
	if (len - FRAME_HDR < plen)
		return -EAGAIN;
	if (get_le32(buf + 12) != crc32c(0, p, plen))
		return -EBADMSG;
	f->type = buf[5];
	f->flags = get_le16(buf + 6);
	switch (f->type) {
	case FRAME_HELLO:
		memcpy(f->hello.disk, p, FRAME_UUID_LEN);
		f->hello.disk_size = get_le64(p + 16);
		f->hello.block_size = get_le32(p + 24);
		f->hello.role = get_le32(p + 28);
		f->hello.generation = get_le64(p + 32);
		f->hello.applied = get_le64(p + 40);
		f->hello.split = get_le64(p + 48);
		f->hello.lease_ms = get_le32(p + 56);
		/* a lease is the sender's, with the flag, and never zero */
		if (get_le32(p + 60) || !(f->flags & FRAME_F_AUTO) != !f->hello.lease_ms ||
		    (f->hello.lease_ms && f->hello.role))
			return -EBADMSG;
		if (f->hello.role > 1 || f->hello.split > f->hello.applied ||
		    (f->hello.block_size != 512 && f->hello.block_size != 4096) ||
		    !f->hello.disk_size || f->hello.disk_size % f->hello.block_size)
			return -EBADMSG;
		break;
	case FRAME_RECORD:
		err = decode_record(p, plen, &f->rec);
		if (err)
			return err;
		break;
	case FRAME_ACK:
		f->ack = get_le64(p);
		break;
	case FRAME_ERROR:
		f->error.err = (int32_t)get_le32(p);
		n = plen - 4;
		if (f->error.err >= 0 || f->error.err < -4095 || memchr(p + 4, 0, n))
			return -EBADMSG;
		memcpy(f->error.msg, p + 4, n);
		f->error.msg[n] = '\0';
		break;
	case FRAME_DIVERGE:
		err = decode_diverge(p, plen, &f->div);
		if (err)
			return err;
		break;
	case FRAME_BLOCK:
		err = decode_block(p, plen, &f->blk);
		if (err)
			return err;
		break;
	case FRAME_SYNC:
		f->sync.seq = get_le64(p);
		f->sync.blocks = get_le64(p + 8);
		/* the start names no count; the end, the blocks that came */
		if (!(f->flags & FRAME_F_LAST) && f->sync.blocks)
			return -EBADMSG;
		break;
	case FRAME_PING:
	case FRAME_CLOSE:
		break;
	}
	*used = FRAME_HDR + plen;
	return 0;
}
