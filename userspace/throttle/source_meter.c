// SPDX-License-Identifier: GPL-2.0
/*
 * source_meter.c - the throttle's latency from the BPF meter
 * (loader/meter.h): the average over the interval's timed completions and
 * the p99 from the delta of its histograms, for the whole disk, reads and
 * writes only (a flush's latency says nothing about the queue). Which
 * latency is d->lat_kind: total (start to complete, the block layer's queue
 * included: where a shallow device queue pushes the congestion) or device
 * (issue to complete). Counts per class stay with the kernel's io.stat.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader/meter.h"
#include "throttle/source.h"

static uint64_t bucket_top(unsigned int idx)
{
	unsigned int m, sub;

	if (idx < SLUICE_HIST_SUB)
		return idx + 1;
	m = (idx >> SLUICE_HIST_SUB_BITS) + SLUICE_HIST_SUB_BITS - 1;
	sub = idx & (SLUICE_HIST_SUB - 1);
	return (uint64_t)(SLUICE_HIST_SUB + sub + 1) << (m - SLUICE_HIST_SUB_BITS);
}

uint64_t throttle_hist_percentile(const uint64_t *buckets, double p)
{
	uint64_t total = 0, seen = 0, want;
	unsigned int i;

	for (i = 0; i < SLUICE_HIST_BUCKETS; i++)
		total += buckets[i];
	if (!total)
		return 0;
	want = (uint64_t)(p * total);
	if (want < 1)
		want = 1;
	for (i = 0; i < SLUICE_HIST_BUCKETS; i++) {
		seen += buckets[i];
		if (seen >= want)
			return bucket_top(i);
	}
	return bucket_top(SLUICE_HIST_BUCKETS - 1);
}

static bool rw_dir(unsigned int dir)
{
	return dir == SLUICE_DIR_READ || dir == SLUICE_DIR_WRITE;
}

/* Cumulative timed completions, latency sum and histogram of one disk. */
static int meter_sums(struct throttle_src_disk *d, uint64_t *timed, uint64_t *lat_ns,
		      uint64_t *hist)
{
	unsigned int dev = SLUICE_MKDEV(d->maj, d->min), kind = d->lat_kind;
	struct meter_snapshot snap;
	struct meter_hist *h = NULL;
	size_t i, n = 0;
	unsigned int b;
	int err, op;

	if (!d->ctx)
		return -EINVAL;
	err = meter_snapshot(d->ctx, &snap);
	if (err)
		return err;
	*timed = *lat_ns = 0;
	for (i = 0; i < snap.nr_streams; i++) {
		const struct meter_stream *s = &snap.streams[i];

		if (s->key.dev != dev)
			continue;
		for (op = SLUICE_OP_READ; op <= SLUICE_OP_WRITE; op++) {
			*timed += s->val.timed[op];
			*lat_ns += kind == SLUICE_LAT_DEVICE ? s->val.device_ns[op]
							     : s->val.lat_ns[op];
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
	return meter_sums(d, &d->prev_timed, &d->prev_lat_ns, d->prev_hist);
}

static int meter_sample(struct throttle_src_disk *d, double interval_s, struct throttle_sample *s)
{
	uint64_t timed, lat, hist[SLUICE_HIST_BUCKETS];
	unsigned int b;
	int err;

	err = throttle_sysfs_source_ops.sample(d, interval_s, s);
	if (err)
		return err;
	err = meter_sums(d, &timed, &lat, hist);
	if (err)
		return err;
	if (timed > d->prev_timed && lat >= d->prev_lat_ns) {
		s->lat_avg_ns = (lat - d->prev_lat_ns) / (timed - d->prev_timed);
		for (b = 0; b < SLUICE_HIST_BUCKETS; b++) {
			uint64_t now = hist[b];

			hist[b] = now >= d->prev_hist[b] ? now - d->prev_hist[b] : 0;
			d->prev_hist[b] = now;
		}
		s->lat_p99_ns = throttle_hist_percentile(hist, 0.99);
	} else {
		/* Nothing timed this interval: keep no latency rather than
		 * the kernel's, so the two are never mixed in one run. */
		s->lat_avg_ns = 0;
		s->lat_p99_ns = 0;
		memcpy(d->prev_hist, hist, sizeof(hist));
	}
	d->prev_timed = timed;
	d->prev_lat_ns = lat;
	return 0;
}

const struct throttle_source_ops throttle_meter_source_ops = {
	.name = "meter",
	.prime = meter_prime,
	.sample = meter_sample,
};
