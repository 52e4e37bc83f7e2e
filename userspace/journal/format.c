// SPDX-License-Identifier: GPL-2.0
/*
 * format.c - encode and decode the journal's superblock and record headers.
 * Decoding parses untrusted bytes: every field is checked before use.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "journal/format.h"
#include "lib/crc32c.h"
#include "lib/le.h"

/* Superblock field offsets (bytes). */
#define SB_MAGIC	0
#define SB_VERSION	8
#define SB_BYTES	12
#define SB_GEN		16
#define SB_UUID		24
#define SB_DISK_SIZE	40
#define SB_BLOCK_SIZE	48
#define SB_JSIZE	56
#define SB_CREATED	64
#define SB_TAIL_OFF	72
#define SB_TAIL_SEQ	80
#define SB_TAIL_PREV	88
#define SB_BASE_SEQ	96
#define SB_BASE_TIME	104
#define SB_CKPT_SEQ	112
#define SB_CKPT_TIME	120
#define SB_BACKING	128
#define SB_CRC		(SB_BACKING + JOURNAL_PATH_MAX)
#define SB_USED		(SB_CRC + 4)

uint64_t journal_stream(const uint8_t uuid[JOURNAL_UUID_LEN])
{
	return get_le64(uuid);
}

void journal_sb_encode(const struct journal_sb *sb, uint8_t *out)
{
	memset(out, 0, JOURNAL_SB_SIZE);
	put_le64(out + SB_MAGIC, JOURNAL_MAGIC);
	put_le32(out + SB_VERSION, sb->version);
	put_le32(out + SB_BYTES, SB_USED);
	put_le64(out + SB_GEN, sb->gen);
	memcpy(out + SB_UUID, sb->uuid, JOURNAL_UUID_LEN);
	put_le64(out + SB_DISK_SIZE, sb->disk_size);
	put_le32(out + SB_BLOCK_SIZE, sb->block_size);
	put_le64(out + SB_JSIZE, sb->journal_size);
	put_le64(out + SB_CREATED, sb->created_ns);
	put_le64(out + SB_TAIL_OFF, sb->tail_off);
	put_le64(out + SB_TAIL_SEQ, sb->tail_seq);
	put_le32(out + SB_TAIL_PREV, sb->tail_prev_crc);
	put_le64(out + SB_BASE_SEQ, sb->base_seq);
	put_le64(out + SB_BASE_TIME, sb->base_time_ns);
	put_le64(out + SB_CKPT_SEQ, sb->ckpt_seq);
	put_le64(out + SB_CKPT_TIME, sb->ckpt_time_ns);
	memcpy(out + SB_BACKING, sb->backing, strnlen(sb->backing, JOURNAL_PATH_MAX - 1));
	put_le32(out + SB_CRC, crc32c(0, out, SB_CRC));
}

int journal_sb_decode(const uint8_t *in, size_t len, struct journal_sb *sb)
{
	memset(sb, 0, sizeof(*sb));
	if (len < SB_USED || get_le64(in + SB_MAGIC) != JOURNAL_MAGIC)
		return -ENODATA;
	sb->version = get_le32(in + SB_VERSION);
	if (sb->version != JOURNAL_VERSION)
		return -EPROTONOSUPPORT;
	if (get_le32(in + SB_BYTES) != SB_USED || get_le32(in + SB_CRC) != crc32c(0, in, SB_CRC))
		return -EBADMSG;
	sb->gen = get_le64(in + SB_GEN);
	memcpy(sb->uuid, in + SB_UUID, JOURNAL_UUID_LEN);
	sb->disk_size = get_le64(in + SB_DISK_SIZE);
	sb->block_size = get_le32(in + SB_BLOCK_SIZE);
	sb->journal_size = get_le64(in + SB_JSIZE);
	sb->created_ns = get_le64(in + SB_CREATED);
	sb->tail_off = get_le64(in + SB_TAIL_OFF);
	sb->tail_seq = get_le64(in + SB_TAIL_SEQ);
	sb->tail_prev_crc = get_le32(in + SB_TAIL_PREV);
	sb->base_seq = get_le64(in + SB_BASE_SEQ);
	sb->base_time_ns = get_le64(in + SB_BASE_TIME);
	sb->ckpt_seq = get_le64(in + SB_CKPT_SEQ);
	sb->ckpt_time_ns = get_le64(in + SB_CKPT_TIME);
	memcpy(sb->backing, in + SB_BACKING, JOURNAL_PATH_MAX);
	sb->backing[JOURNAL_PATH_MAX - 1] = '\0';
	/* fields the reader trusts for bounds: a ring, a tail inside it */
	if (sb->journal_size < JOURNAL_RING_START + JOURNAL_REC_HDR ||
	    sb->tail_off < JOURNAL_RING_START || sb->tail_off > sb->journal_size ||
	    sb->tail_off % 8 || !sb->tail_seq || sb->base_seq != sb->tail_seq - 1 ||
	    sb->ckpt_seq < sb->base_seq || (sb->block_size != 512 && sb->block_size != 4096) ||
	    !sb->disk_size || sb->disk_size % sb->block_size)
		return -EBADMSG;
	return 0;
}

int journal_sb_read(int fd, struct journal_sb *sb)
{
	uint8_t buf[JOURNAL_SB_SIZE];
	struct journal_sb copy[2];
	int err[2], i;
	ssize_t n;

	for (i = 0; i < 2; i++) {
		n = pread(fd, buf, sizeof(buf), (off_t)i * JOURNAL_SB_SIZE);
		if (n < 0)
			return -errno;
		err[i] = journal_sb_decode(buf, n, &copy[i]);
	}
	if (!err[0] && (err[1] || copy[0].gen >= copy[1].gen)) {
		*sb = copy[0];
		return 0;
	}
	if (!err[1]) {
		*sb = copy[1];
		return 0;
	}
	/* the more telling error: a version or a corruption over no magic */
	*sb = copy[0];
	if (err[0] == -EPROTONOSUPPORT || err[1] == -EPROTONOSUPPORT) {
		if (err[1] == -EPROTONOSUPPORT)
			*sb = copy[1];
		return -EPROTONOSUPPORT;
	}
	return err[0] == -EBADMSG || err[1] == -EBADMSG ? -EBADMSG : -ENODATA;
}

int journal_sb_write(int fd, const struct journal_sb *sb)
{
	uint8_t buf[JOURNAL_SB_SIZE];
	ssize_t n;

	journal_sb_encode(sb, buf);
	n = pwrite(fd, buf, sizeof(buf), (off_t)(sb->gen & 1) * JOURNAL_SB_SIZE);
	if (n < 0)
		return -errno;
	if (n != sizeof(buf))
		return -EIO;
	return fdatasync(fd) ? -errno : 0;
}

void journal_rec_encode(struct journal_rec *rec, uint8_t out[JOURNAL_REC_HDR])
{
	put_le32(out + 0, JOURNAL_REC_MAGIC);
	put_le16(out + 4, rec->version);
	put_le16(out + 6, rec->type);
	put_le32(out + 8, rec->flags);
	put_le32(out + 12, rec->length);
	put_le64(out + 16, rec->seq);
	put_le64(out + 24, rec->time_ns);
	put_le64(out + 32, rec->offset);
	put_le32(out + 40, rec->range);
	put_le32(out + 44, rec->data_crc);
	put_le64(out + 48, rec->stream);
	put_le32(out + 56, rec->prev_crc);
	rec->hdr_crc = crc32c(0, out, 60);
	put_le32(out + 60, rec->hdr_crc);
}

int journal_rec_decode(const uint8_t in[JOURNAL_REC_HDR], uint64_t ring_bytes,
		       struct journal_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (get_le32(in) != JOURNAL_REC_MAGIC)
		return -ENODATA;
	rec->hdr_crc = get_le32(in + 60);
	if (rec->hdr_crc != crc32c(0, in, 60))
		return -EBADMSG;
	rec->version = get_le16(in + 4);
	rec->type = get_le16(in + 6);
	rec->flags = get_le32(in + 8);
	rec->length = get_le32(in + 12);
	rec->seq = get_le64(in + 16);
	rec->time_ns = get_le64(in + 24);
	rec->offset = get_le64(in + 32);
	rec->range = get_le32(in + 40);
	rec->data_crc = get_le32(in + 44);
	rec->stream = get_le64(in + 48);
	rec->prev_crc = get_le32(in + 56);
	if (rec->version != JOURNAL_VERSION || rec->length > JOURNAL_REC_DATA_MAX ||
	    journal_rec_span(rec->length) > ring_bytes)
		return -EBADMSG;
	switch (rec->type) {
	case JOURNAL_REC_WRITE:
		if (rec->range != rec->length || !rec->length)
			return -EBADMSG;
		break;
	case JOURNAL_REC_ZEROES:
	case JOURNAL_REC_FLUSH:
	case JOURNAL_REC_CHECKPOINT:
		if (rec->length)
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	return 0;
}

const char *journal_rec_type_name(uint16_t type)
{
	switch (type) {
	case JOURNAL_REC_WRITE:
		return "write";
	case JOURNAL_REC_ZEROES:
		return "zeroes";
	case JOURNAL_REC_FLUSH:
		return "flush";
	case JOURNAL_REC_CHECKPOINT:
		return "checkpoint";
	}
	return "?";
}
