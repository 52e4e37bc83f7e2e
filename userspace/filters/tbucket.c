// SPDX-License-Identifier: GPL-2.0
#include "filters/tbucket.h"

#define NSEC_PER_SEC	1000000000ull

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Earliest start a bucket allows: its debt, or at most a burst of credit. */
static uint64_t bucket_start(const struct tbucket *b, uint64_t now)
{
	return max_u64(b->tat, now > TBUCKET_BURST_NS ? now - TBUCKET_BURST_NS : 0);
}

static uint64_t cost_ns(uint64_t rate, uint64_t units)
{
	return (uint64_t)((unsigned __int128)units * NSEC_PER_SEC / rate);
}

void tbucket_set_rate(struct tbucket *b, uint64_t rate, uint64_t now)
{
	if (rate == b->rate)
		return;
	if (!rate || !b->rate)
		b->tat = 0;
	else if (b->tat > now)
		b->tat = now + (uint64_t)((unsigned __int128)(b->tat - now) * b->rate / rate);
	b->rate = rate;
}

uint64_t tbucket_reserve(struct tbucket *const *b, const uint64_t *units, int n, uint64_t now)
{
	uint64_t release = now, start;
	int i;

	for (i = 0; i < n; i++)
		if (b[i] && b[i]->rate)
			release = max_u64(release, bucket_start(b[i], now));
	for (i = 0; i < n; i++) {
		if (!b[i] || !b[i]->rate)
			continue;
		/* credit a later release leaves unused in this bucket stays, up to a burst */
		start = max_u64(bucket_start(b[i], now),
				release > TBUCKET_BURST_NS ? release - TBUCKET_BURST_NS : 0);
		b[i]->tat = start + cost_ns(b[i]->rate, units[i]);
	}
	return release;
}
