// SPDX-License-Identifier: GPL-2.0
/*
 * restore.c - point-in-time restore from a journal and its base image.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "journal/restore.h"

int journal_resolve(int jfd, const struct journal_point *p, struct journal_restore_info *info)
{
	struct journal_reader r;
	struct journal_sb sb;
	int err;

	memset(info, 0, sizeof(*info));
	err = journal_scan(jfd, &sb, &info->scan);
	if (err)
		return err;
	info->base_seq = sb.base_seq;
	info->base_time_ns = sb.base_time_ns;
	info->last_seq = info->scan.records ? info->scan.last_seq : sb.base_seq;
	info->last_time_ns = info->scan.records ? info->scan.last_time_ns : sb.base_time_ns;
	if (!p->by_time) {
		if (p->seq < info->base_seq)
			return -ERANGE;
		if (p->seq > info->last_seq)
			return info->scan.end == JOURNAL_END_CORRUPT ? -EBADMSG : -ERANGE;
		info->seq = p->seq;
	} else {
		if (p->time_ns < info->base_time_ns)
			return -ERANGE;
		info->seq = info->base_seq;
		info->time_ns = info->base_time_ns;
		err = journal_reader_init(&r, jfd);
		while (!err && (err = journal_reader_next(&r)) > 0) {
			err = 0;
			if (r.rec.time_ns > p->time_ns)
				break;
			info->seq = r.rec.seq;
			info->time_ns = r.rec.time_ns;
		}
		journal_reader_fini(&r);
		if (err)
			return err;
		/* a time past a corrupt record could mean records we cannot read */
		if (info->seq == info->last_seq && info->scan.end == JOURNAL_END_CORRUPT)
			return -EBADMSG;
	}
	return 0;
}

int journal_restore(int jfd, int basefd, int outfd, const struct journal_point *p,
		    struct journal_restore_info *info, journal_progress_fn progress, void *arg)
{
	struct journal_reader r;
	uint64_t total;
	int err;

	err = journal_resolve(jfd, p, info);
	if (err)
		return err;
	err = journal_reader_init(&r, jfd);
	if (err)
		return err;
	err = journal_copy_image(basefd, 0, outfd, r.sb.disk_size);
	if (err)
		goto out;
	total = info->seq - info->base_seq;
	while (info->applied < total && (err = journal_reader_next(&r)) > 0) {
		err = journal_apply(outfd, 0, &r.rec, r.data);
		if (err)
			goto out;
		info->applied++;
		if (r.rec.seq == info->seq)
			info->time_ns = r.rec.time_ns;
		if (progress && !(info->applied % 4096))
			progress(arg, info->applied, total);
	}
	if (err < 0)
		goto out;
	if (info->applied < total) {
		err = -EIO;	/* the journal changed under us */
		goto out;
	}
	if (progress)
		progress(arg, total, total);
	err = fsync(outfd) ? -errno : 0;
out:
	journal_reader_fini(&r);
	return err;
}
