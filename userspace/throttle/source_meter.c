// SPDX-License-Identifier: GPL-2.0
/*
 * source_meter.c - the throttle's latency from the BPF meter
 * (loader/meter.h): the average over the interval's timed completions and
 * the p99 from the delta of its histograms, for the whole disk, reads and
 * writes only (a flush's latency says nothing about the queue). Bucket
 * arithmetic is lib/hist.h's, shared with the meter's own commands. Which
 * latency is d->lat_kind: total (start to complete, the block layer's queue
 * included: where a shallow device queue pushes the congestion) or device
 * (issue to complete). Counts per class stay with the kernel's io.stat.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hist.h"
#include "loader/meter.h"
#include "throttle/source.h"

static bool rw_dir(unsigned int dir)
{
	return dir == SLUICE_DIR_READ || dir == SLUICE_DIR_WRITE;
}

/* Cumulative timed completions, latency sum and histogram of one disk, and
 * timed completions and latency sums of each policy class on it. */
static int meter_sums(struct throttle_src_disk *d, uint64_t *timed, uint64_t *lat_ns,
		      unsigned long long *hist, uint64_t *cls_timed, uint64_t *cls_lat)
{
	unsigned int dev = SLUICE_MKDEV(d->maj, d->min), kind = d->lat_kind;
	struct meter_snapshot snap;
	struct meter_hist *h = NULL;
	size_t i, n = 0;
	unsigned int b, c;
	int err, op;

	if (!d->ctx)
		return -EINVAL;
	err = meter_snapshot(d->ctx, &snap);
	if (err)
		return err;
	*timed = *lat_ns = 0;
	memset(cls_timed, 0, THROTTLE_MAX_CLASSES * sizeof(*cls_timed));
	memset(cls_lat, 0, THROTTLE_MAX_CLASSES * sizeof(*cls_lat));
	for (i = 0; i < snap.nr_streams; i++) {
		const struct meter_stream *s = &snap.streams[i];
		uint64_t t = 0, l = 0;

		if (s->key.dev != dev)
			continue;
		for (op = SLUICE_OP_READ; op <= SLUICE_OP_WRITE; op++) {
			t += s->val.timed[op];
			l += kind == SLUICE_LAT_DEVICE ? s->val.device_ns[op] : s->val.lat_ns[op];
		}
		*timed += t;
		*lat_ns += l;
		for (c = 0; c < d->nr_classes && s->key.class_id; c++) {
			if (d->class_id[c] != s->key.class_id)
				continue;
			cls_timed[c] += t;
			cls_lat[c] += l;
		}
	}
	meter_snapshot_free(&snap);
	err = meter_read_hists(d->ctx, &h, &n);
	if (err)
		return err;
	memset(hist, 0, SLUICE_HIST_BUCKETS * sizeof(*hist));
	for (i = 0; i < n; i++) {
		if (h[i].key.dev != dev || !rw_dir(h[i].key.dir))
			continue;
		for (b = 0; b < SLUICE_HIST_BUCKETS; b++)
			hist[b] += h[i].val.buckets[kind][b];
	}
	free(h);
	return 0;
}

static int meter_prime(struct throttle_src_disk *d)
{
	int err = throttle_sysfs_source_ops.prime(d);

	if (err)
		return err;
	return meter_sums(d, &d->prev_timed, &d->prev_lat_ns, d->prev_hist, d->prev_cls_timed,
			  d->prev_cls_lat_ns);
}

static int meter_sample(struct throttle_src_disk *d, double interval_s, struct throttle_sample *s)
{
	unsigned long long hist[SLUICE_HIST_BUCKETS], delta[SLUICE_HIST_BUCKETS];
	uint64_t timed, lat, cls_timed[THROTTLE_MAX_CLASSES], cls_lat[THROTTLE_MAX_CLASSES];
	unsigned int c;
	int err;

	err = throttle_sysfs_source_ops.sample(d, interval_s, s);
	if (err)
		return err;
	err = meter_sums(d, &timed, &lat, hist, cls_timed, cls_lat);
	if (err)
		return err;
	for (c = 0; c < d->nr_classes; c++) {
		s->cls[c].lat_avg_ns = 0;
		if (cls_timed[c] > d->prev_cls_timed[c] && cls_lat[c] >= d->prev_cls_lat_ns[c])
			s->cls[c].lat_avg_ns = (cls_lat[c] - d->prev_cls_lat_ns[c]) /
					       (cls_timed[c] - d->prev_cls_timed[c]);
		d->prev_cls_timed[c] = cls_timed[c];
		d->prev_cls_lat_ns[c] = cls_lat[c];
	}
	if (timed > d->prev_timed && lat >= d->prev_lat_ns) {
		s->lat_avg_ns = (lat - d->prev_lat_ns) / (timed - d->prev_timed);
		memcpy(delta, hist, sizeof(delta));
		hist_sub(delta, d->prev_hist);
		s->lat_p99_ns = (uint64_t)hist_percentile(delta, 0.99);
	} else {
		/* Nothing timed this interval: keep no latency rather than
		 * the kernel's, so the two are never mixed in one run. */
		s->lat_avg_ns = 0;
		s->lat_p99_ns = 0;
	}
	memcpy(d->prev_hist, hist, sizeof(hist));
	d->prev_timed = timed;
	d->prev_lat_ns = lat;
	return 0;
}

const struct throttle_source_ops throttle_meter_source_ops = {
	.name = "meter",
	.prime = meter_prime,
	.sample = meter_sample,
};
