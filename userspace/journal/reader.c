// SPDX-License-Identifier: GPL-2.0
/*
 * reader.c - the journal walk: one record at a time, the hash chain and
 * both crcs checked, the end classified (clean, torn, corrupt mid-log).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/reader.h"
#include "lib/crc32c.h"

enum { AT_OK, AT_OURS_BAD, AT_NOT_OURS };

int journal_reader_init(struct journal_reader *r, int fd)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	err = journal_sb_read(fd, &r->sb);
	if (err)
		return err;
	/* a shorter file is a cut journal: reads past its end come back short */
	r->ring_end = r->sb.journal_size;
	r->pos = r->sb.tail_off;
	r->records_end_off = r->pos;
	r->next_seq = r->sb.tail_seq;
	r->prev_crc = r->sb.tail_prev_crc;
	r->stream = journal_stream(r->sb.uuid);
	return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -ENODATA;
}

/*
 * Is the record at @off the one expected next? AT_OK (r->rec, r->data
 * filled), AT_OURS_BAD (this journal's next record, damaged: *why), or
 * AT_NOT_OURS; -errno for read errors other than a short file.
 */
static int record_at(struct journal_reader *r, uint64_t off, const char **why)
{
	uint8_t hdr[JOURNAL_REC_HDR];
	struct journal_rec rec;
	uint64_t ring = r->ring_end > JOURNAL_RING_START ? r->ring_end - JOURNAL_RING_START : 0;
	int err;

	if (off < JOURNAL_RING_START || off + JOURNAL_REC_HDR > r->ring_end) {
		*why = "the file ends inside the record's header";
		return AT_NOT_OURS;
	}
	err = read_full(r->fd, hdr, sizeof(hdr), off);
	if (err == -ENODATA) {
		*why = "the file ends inside the record's header";
		return AT_NOT_OURS;
	}
	if (err)
		return err;
	err = journal_rec_decode(hdr, ring, &rec);
	if (err == -ENODATA) {
		*why = "no record header";
		return AT_NOT_OURS;
	}
	if (err) {
		*why = "the record's header is corrupt (crc or fields)";
		return AT_OURS_BAD;
	}
	if (rec.stream != r->stream || rec.seq != r->next_seq) {
		*why = "a record of an earlier lap or another journal";
		return AT_NOT_OURS;
	}
	if (rec.prev_crc != r->prev_crc) {
		*why = "the record does not follow the one before (chain crc)";
		return AT_OURS_BAD;
	}
	if (off + journal_rec_span(rec.length) > r->ring_end) {
		*why = "the record runs past the end of the journal";
		return AT_OURS_BAD;
	}
	if (rec.length > r->data_cap) {
		uint8_t *p = realloc(r->data, rec.length);

		if (!p)
			return -ENOMEM;
		r->data = p;
		r->data_cap = rec.length;
	}
	err = read_full(r->fd, r->data, rec.length, off + JOURNAL_REC_HDR);
	if (err == -ENODATA) {
		*why = "the file ends inside the record's data";
		return AT_OURS_BAD;
	}
	if (err)
		return err;
	if (crc32c(0, r->data, rec.length) != rec.data_crc) {
		*why = "the record's data does not match its crc";
		return AT_OURS_BAD;
	}
	r->rec = rec;
	r->rec_off = off;
	return AT_OK;
}

/*
 * The walk stopped at a damaged record of ours at @off: are there good
 * records after it (corruption in the middle) or is it the tail (torn)?
 * Look where the next record would be by the damaged one's own length.
 */
static bool later_record_follows(struct journal_reader *r, uint64_t off)
{
	uint8_t hdr[JOURNAL_REC_HDR];
	uint64_t ring = r->ring_end - JOURNAL_RING_START, next, cand[2];
	struct journal_rec rec;
	uint32_t len;
	int i;

	if (read_full(r->fd, hdr, sizeof(hdr), off))
		return false;
	len = hdr[12] | hdr[13] << 8 | hdr[14] << 16 | (uint32_t)hdr[15] << 24;
	if (len > JOURNAL_REC_DATA_MAX)
		return false;
	next = off + journal_rec_span(len);
	cand[0] = next + JOURNAL_REC_HDR <= r->ring_end ? next : JOURNAL_RING_START;
	cand[1] = JOURNAL_RING_START;
	for (i = 0; i < 2; i++) {
		if (read_full(r->fd, hdr, sizeof(hdr), cand[i]))
			continue;
		if (!journal_rec_decode(hdr, ring, &rec) && rec.stream == r->stream &&
		    rec.seq == r->next_seq + 1)
			return true;
	}
	return false;
}

static void end_at(struct journal_reader *r, enum journal_end end, uint64_t off, const char *why)
{
	r->ended = true;
	r->end = end;
	r->end_off = off;
	r->end_seq = r->next_seq;
	r->why = why;
}

int journal_reader_next(struct journal_reader *r)
{
	const char *why = NULL, *why2 = NULL;
	uint64_t off = r->pos;
	int res, res2;

	if (r->ended)
		return 0;
	if (off + JOURNAL_REC_HDR > r->ring_end)
		off = JOURNAL_RING_START;
	res = record_at(r, off, &why);
	if (res < 0)
		return res;
	if (res != AT_OK && off != JOURNAL_RING_START) {
		/* a record that did not fit before the end starts the ring again */
		res2 = record_at(r, JOURNAL_RING_START, &why2);
		if (res2 < 0)
			return res2;
		if (res2 == AT_OK) {
			res = AT_OK;
			off = JOURNAL_RING_START;
		} else if (res2 == AT_OURS_BAD && res == AT_NOT_OURS) {
			res = res2;
			why = why2;
			off = JOURNAL_RING_START;
		}
	}
	if (res == AT_OK) {
		r->pos = off + journal_rec_span(r->rec.length);
		r->records_end_off = r->pos;
		r->next_seq++;
		r->prev_crc = r->rec.hdr_crc;
		return 1;
	}
	if (res == AT_NOT_OURS)
		end_at(r, JOURNAL_END_CLEAN, off, why);
	else if (later_record_follows(r, off))
		end_at(r, JOURNAL_END_CORRUPT, off, why);
	else
		end_at(r, JOURNAL_END_TORN, off, why);
	return 0;
}

void journal_reader_fini(struct journal_reader *r)
{
	if (!r)
		return;
	free(r->data);
	r->data = NULL;
	r->data_cap = 0;
}
