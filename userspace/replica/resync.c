// SPDX-License-Identifier: GPL-2.0
/*
 * resync.c - the failback set: collected from the journal, merged, kept in
 * a small text file until the resync is done.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/reader.h"
#include "lib/fileio.h"
#include "replica/resync.h"

#define RESYNC_MAX_RANGES	(1u << 20)

int resync_add(struct resync_set *s, uint64_t offset, uint64_t length)
{
	struct resync_range *p;
	uint32_t cap;

	if (!length)
		return 0;
	if (s->count == s->cap) {
		if (s->cap >= RESYNC_MAX_RANGES)
			return -E2BIG;
		cap = s->cap ? s->cap * 2 : 64;
		p = realloc(s->r, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->r = p;
		s->cap = cap;
	}
	s->r[s->count++] = (struct resync_range){ offset, length };
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct resync_range *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

void resync_merge(struct resync_set *s, uint32_t block_size)
{
	uint64_t end;
	uint32_t i, n = 0;

	for (i = 0; i < s->count; i++) {
		end = s->r[i].offset + s->r[i].length;
		s->r[i].offset -= s->r[i].offset % block_size;
		if (end % block_size)
			end += block_size - end % block_size;
		s->r[i].length = end - s->r[i].offset;
	}
	if (s->count)
		qsort(s->r, s->count, sizeof(*s->r), by_offset);
	for (i = 0; i < s->count; i++) {
		if (n && s->r[i].offset <= s->r[n - 1].offset + s->r[n - 1].length) {
			end = s->r[i].offset + s->r[i].length;
			if (end > s->r[n - 1].offset + s->r[n - 1].length)
				s->r[n - 1].length = end - s->r[n - 1].offset;
			continue;
		}
		s->r[n++] = s->r[i];
	}
	s->count = n;
}

uint64_t resync_bytes(const struct resync_set *s)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < s->count; i++)
		n += s->r[i].length;
	return n;
}

int resync_collect(int jfd, uint64_t split, uint64_t last, uint32_t block_size,
		   struct resync_set *s)
{
	struct journal_reader r;
	int err;

	err = journal_reader_init(&r, jfd);
	if (err)
		goto out;
	if (r.sb.tail_seq > split + 1) {
		err = -ERANGE;
		goto out;
	}
	while (r.next_seq <= last) {
		err = journal_reader_next(&r);
		if (err <= 0) {
			err = err ?: -EIO;
			goto out;
		}
		if (r.rec.seq <= split || r.rec.type == JOURNAL_REC_FLUSH)
			continue;
		err = resync_add(s, r.rec.offset, r.rec.range);
		if (err)
			goto out;
	}
	err = 0;
	resync_merge(s, block_size);
out:
	journal_reader_fini(&r);
	return err;
}

int resync_path(const char *journal, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.resync", journal);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

#define RANGE_LINE_MAX	48	/* two u64s, a space, a newline */

int resync_save(const char *path, const struct resync_set *s)
{
	size_t cap = 128 + (size_t)s->count * RANGE_LINE_MAX, n;
	char *text = malloc(cap);
	uint32_t i;
	int err;

	if (!text)
		return -ENOMEM;
	n = snprintf(text, cap, "split=%" PRIu64 " generation=%" PRIu64 " last=%" PRIu64
		     " ranges=%" PRIu32 "\n", s->split, s->generation, s->last, s->count);
	for (i = 0; i < s->count; i++)
		n += snprintf(text + n, cap - n, "%" PRIu64 " %" PRIu64 "\n", s->r[i].offset,
			      s->r[i].length);
	err = write_file_atomic(path, text, n, 0600, FILE_ATOMIC_SYNC);
	free(text);
	return err;
}

int resync_load(const char *path, struct resync_set *s)
{
	uint64_t off, len;
	uint32_t count, i;
	FILE *f;
	int err = 0;

	resync_free(s);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "split=%" SCNu64 " generation=%" SCNu64 " last=%" SCNu64 " ranges=%" SCNu32,
		   &s->split, &s->generation, &s->last, &count) != 4 || count > RESYNC_MAX_RANGES) {
		err = -EBADMSG;
		goto out;
	}
	for (i = 0; i < count && !err; i++) {
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &off, &len) != 2 || !len ||
		    off > UINT64_MAX - len)
			err = -EBADMSG;
		else
			err = resync_add(s, off, len);
	}
out:
	fclose(f);
	if (err)
		resync_free(s);
	return err;
}

int resync_done(const char *path)
{
	if (unlink(path))
		return errno == ENOENT ? 0 : -errno;
	return fsync_parent_dir(path);
}

void resync_free(struct resync_set *s)
{
	if (!s)
		return;
	free(s->r);
	memset(s, 0, sizeof(*s));
}
