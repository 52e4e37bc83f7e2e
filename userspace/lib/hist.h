/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hist.h - the log-linear latency histograms of sluice.h seen from user
 * space: bucket bounds, percentiles and merging. Bucket i holds values in
 * [hist_lower(i), hist_upper(i)); the last bucket is open-ended.
 */
#ifndef SLUICE_LIB_HIST_H
#define SLUICE_LIB_HIST_H

#include <stdint.h>

#include "sluice.h"

/* Bucket index of @v, exactly as bpf/meter.bpf.c computes it. */
unsigned int hist_index(uint64_t v);

/* Inclusive lower and exclusive upper bound of bucket @idx, in ns. */
uint64_t hist_lower(unsigned int idx);
uint64_t hist_upper(unsigned int idx);

/* Sum of all buckets. */
uint64_t hist_count(const unsigned long long *b);

/*
 * The @p-quantile (0 < p <= 1) in ns, interpolated linearly inside the
 * bucket that holds it; 0 for an empty histogram.
 */
double hist_percentile(const unsigned long long *b, double p);

/* Mean from bucket midpoints (the exact mean comes from the meter sums). */
double hist_mean(const unsigned long long *b);

/* dst += src, bucket by bucket; dst -= src for hist_sub (saturating). */
void hist_merge(unsigned long long *dst, const unsigned long long *src);
void hist_sub(unsigned long long *dst, const unsigned long long *src);

#endif /* SLUICE_LIB_HIST_H */
