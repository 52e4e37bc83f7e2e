// SPDX-License-Identifier: GPL-2.0
/*
 * source_sysfs.c - the throttle's measurements from the kernel's own
 * counters: the disk's /sys/dev/block/M:m/stat (completed I/Os, sectors and
 * the milliseconds they spent from allocation to completion: iostat's
 * await, scheduler queueing included, throttling excluded) and each class's
 * cgroup io.stat (rios/wios/rbytes/wbytes for that disk). No p99 here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "throttle/source.h"

struct disk_stat {
	uint64_t ios, bytes, ticks_ms;
};

/* Fields 1-8 of Documentation/block/stat.rst: reads, merges, sectors,
 * ticks, then the same for writes. */
static int read_disk_stat(unsigned int maj, unsigned int min, struct disk_stat *st)
{
	unsigned long long v[8];
	char path[64];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat", maj, min);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -EIO;
	st->ios = v[0] + v[4];
	st->bytes = (v[2] + v[6]) * 512;
	st->ticks_ms = v[3] + v[7];
	return 0;
}

static int read_io_stat(const char *cgroup_dir, unsigned int maj, unsigned int min,
			struct throttle_class_sample *c)
{
	char path[4096], line[512];
	unsigned int ma, mi;
	int n, err = 0;
	FILE *f;

	memset(c, 0, sizeof(*c));
	n = snprintf(path, sizeof(path), "%s/io.stat", cgroup_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *tok, *save;
		int off = 0;

		if (sscanf(line, "%u:%u %n", &ma, &mi, &off) < 2 || ma != maj || mi != min)
			continue;
		for (tok = strtok_r(line + off, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			unsigned long long v;

			if (sscanf(tok, "rios=%llu", &v) == 1)
				c->ios[THROTTLE_READ] = v;
			else if (sscanf(tok, "wios=%llu", &v) == 1)
				c->ios[THROTTLE_WRITE] = v;
			else if (sscanf(tok, "rbytes=%llu", &v) == 1)
				c->bytes[THROTTLE_READ] = v;
			else if (sscanf(tok, "wbytes=%llu", &v) == 1)
				c->bytes[THROTTLE_WRITE] = v;
		}
		break;
	}
	if (ferror(f))
		err = -EIO;
	fclose(f);
	return err;
}

static uint64_t delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;	/* a reset counter counts from zero */
}

static int sysfs_prime(struct throttle_src_disk *d)
{
	struct disk_stat st;
	unsigned int i;
	int err;

	err = read_disk_stat(d->maj, d->min, &st);
	if (err)
		return err;
	d->prev_ios = st.ios;
	d->prev_bytes = st.bytes;
	d->prev_ticks_ms = st.ticks_ms;
	for (i = 0; i < d->nr_classes; i++) {
		err = read_io_stat(d->cgroup_dir[i], d->maj, d->min, &d->prev_cls[i]);
		if (err)
			return err;
	}
	return 0;
}

static int sysfs_sample(struct throttle_src_disk *d, double interval_s, struct throttle_sample *s)
{
	struct throttle_class_sample now;
	struct disk_stat st;
	uint64_t ticks;
	unsigned int i;
	int err, dir;

	memset(s, 0, sizeof(*s));
	s->interval_s = interval_s;
	err = read_disk_stat(d->maj, d->min, &st);
	if (err)
		return err;
	s->ios = delta(st.ios, d->prev_ios);
	s->bytes = delta(st.bytes, d->prev_bytes);
	ticks = delta(st.ticks_ms, d->prev_ticks_ms);
	s->lat_avg_ns = s->ios ? ticks * 1000000ull / s->ios : 0;
	d->prev_ios = st.ios;
	d->prev_bytes = st.bytes;
	d->prev_ticks_ms = st.ticks_ms;
	for (i = 0; i < d->nr_classes; i++) {
		err = read_io_stat(d->cgroup_dir[i], d->maj, d->min, &now);
		if (err)
			return err;
		for (dir = 0; dir < THROTTLE_NR_DIRS; dir++) {
			s->cls[i].ios[dir] = delta(now.ios[dir], d->prev_cls[i].ios[dir]);
			s->cls[i].bytes[dir] = delta(now.bytes[dir], d->prev_cls[i].bytes[dir]);
		}
		d->prev_cls[i] = now;
	}
	return 0;
}

const struct throttle_source_ops throttle_sysfs_source_ops = {
	.name = "sysfs",
	.prime = sysfs_prime,
	.sample = sysfs_sample,
};
