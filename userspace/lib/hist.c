// SPDX-License-Identifier: GPL-2.0
#include "lib/hist.h"

unsigned int hist_index(uint64_t v)
{
	return sluice_hist_index(v, v ? 63 - __builtin_clzll(v) : 0);
}

uint64_t hist_lower(unsigned int idx)
{
	unsigned int m, sub;

	if (idx < 2 * SLUICE_HIST_SUB)
		return idx;
	if (idx >= SLUICE_HIST_BUCKETS)
		idx = SLUICE_HIST_BUCKETS - 1;
	m = (idx >> SLUICE_HIST_SUB_BITS) + SLUICE_HIST_SUB_BITS - 1;
	sub = idx & (SLUICE_HIST_SUB - 1);
	return (uint64_t)(SLUICE_HIST_SUB + sub) << (m - SLUICE_HIST_SUB_BITS);
}

uint64_t hist_upper(unsigned int idx)
{
	if (idx >= SLUICE_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return hist_lower(idx + 1);
}

uint64_t hist_count(const unsigned long long *b)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < SLUICE_HIST_BUCKETS; i++)
		n += b[i];
	return n;
}

double hist_percentile(const unsigned long long *b, double p)
{
	uint64_t total = hist_count(b), seen = 0;
	double rank, lo, hi;
	unsigned int i;

	if (!total)
		return 0;
	if (p <= 0)
		p = 0;
	if (p > 1)
		p = 1;
	rank = p * (double)total;
	for (i = 0; i < SLUICE_HIST_BUCKETS; i++) {
		if (!b[i])
			continue;
		if ((double)(seen + b[i]) >= rank) {
			lo = (double)hist_lower(i);
			/* The open last bucket has no width to spread over. */
			hi = i == SLUICE_HIST_BUCKETS - 1 ? lo : (double)hist_upper(i);
			return lo + (hi - lo) * (rank - (double)seen) / (double)b[i];
		}
		seen += b[i];
	}
	return (double)hist_lower(SLUICE_HIST_BUCKETS - 1);
}

double hist_mean(const unsigned long long *b)
{
	double sum = 0, lo, hi;
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < SLUICE_HIST_BUCKETS; i++) {
		if (!b[i])
			continue;
		lo = (double)hist_lower(i);
		hi = i == SLUICE_HIST_BUCKETS - 1 ? lo : (double)hist_upper(i);
		sum += (lo + hi) / 2 * (double)b[i];
		n += b[i];
	}
	return n ? sum / (double)n : 0;
}

void hist_merge(unsigned long long *dst, const unsigned long long *src)
{
	unsigned int i;

	for (i = 0; i < SLUICE_HIST_BUCKETS; i++)
		dst[i] += src[i];
}

void hist_sub(unsigned long long *dst, const unsigned long long *src)
{
	unsigned int i;

	for (i = 0; i < SLUICE_HIST_BUCKETS; i++)
		dst[i] = dst[i] > src[i] ? dst[i] - src[i] : 0;
}
