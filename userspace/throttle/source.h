/* SPDX-License-Identifier: GPL-2.0 */
/*
 * source.h - where the throttle's per-interval measurements come from.
 *
 * A source fills a struct throttle_sample (control.h) for one disk and the
 * cgroups bound to its classes: completed I/Os and bytes per class and
 * direction, and the latency of the interval's I/Os. Two implementations
 * are meant to sit behind these ops: the BPF meter (loader/meter.h, with
 * p99 from its histograms) and the kernel's own counters (source_sysfs.c:
 * /sys/dev/block/M:m/stat for the disk, each cgroup's io.stat for the
 * classes), which needs nothing loaded and is what runs until the meter's
 * snapshot API is wired in.
 */
#ifndef SLUICE_THROTTLE_SOURCE_H
#define SLUICE_THROTTLE_SOURCE_H

#include <stdint.h>

#include "sluice.h"
#include "throttle/control.h"

/* One policed disk as a source sees it. */
struct throttle_src_disk {
	unsigned int maj, min;
	unsigned int nr_classes;
	const char *cgroup_dir[THROTTLE_MAX_CLASSES];
	/* Counters at the previous call, owned by the source. */
	uint64_t prev_ios, prev_bytes, prev_ticks_ms;
	struct throttle_class_sample prev_cls[THROTTLE_MAX_CLASSES];
	/* The meter source: its struct meter (shared by all disks), which
	 * latency (enum sluice_lat: SLUICE_LAT_TOTAL or SLUICE_LAT_DEVICE)
	 * and its cumulative sums at the previous call. */
	void *ctx;
	unsigned int lat_kind;
	uint64_t prev_timed, prev_lat_ns;
	/* Policy class of each class (0: none), for its own latency; the
	 * meter tags streams with it when the policy meters per class. */
	unsigned int class_id[THROTTLE_MAX_CLASSES];
	uint64_t prev_cls_timed[THROTTLE_MAX_CLASSES], prev_cls_lat_ns[THROTTLE_MAX_CLASSES];
	unsigned long long prev_hist[SLUICE_HIST_BUCKETS];
};

struct throttle_source_ops {
	const char *name;
	/* Required: take the baseline so the first sample covers one interval. */
	int (*prime)(struct throttle_src_disk *d);
	/* Required: what completed since the last prime/sample. */
	int (*sample)(struct throttle_src_disk *d, double interval_s, struct throttle_sample *s);
};

extern const struct throttle_source_ops throttle_sysfs_source_ops;
/* Latency (average and p99) from the BPF meter, counts as sysfs: io.stat
 * charges throttled bios to their cgroup whoever dispatches them. */
extern const struct throttle_source_ops throttle_meter_source_ops;

#endif /* SLUICE_THROTTLE_SOURCE_H */
