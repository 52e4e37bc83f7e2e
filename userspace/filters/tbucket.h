/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tbucket.h - token buckets kept as a theoretical arrival time (GCRA), for
 * the throttle filter. A bucket of rate r charges a request of u units
 * u/r seconds; a request goes when every bucket it is charged in has room,
 * and requests that must wait are given release times in arrival order, so
 * the rate holds exactly over any interval, plus a burst of
 * TBUCKET_BURST_NS worth of credit after idleness. Pure arithmetic on a
 * caller-supplied clock (ns), so tests drive it deterministically.
 */
#ifndef SLUICE_FILTER_TBUCKET_H
#define SLUICE_FILTER_TBUCKET_H

#include <stdint.h>

#define TBUCKET_BURST_NS	(50ull * 1000 * 1000)

struct tbucket {
	uint64_t rate;		/* units per second; 0 = unlimited */
	uint64_t tat;		/* when the bucket is next empty of debt, ns */
};

/*
 * Change the rate at @now. Debt still owed is carried over in units, so a
 * change neither forgives a backlog nor double-charges it; a bucket turned
 * unlimited forgets it.
 */
void tbucket_set_rate(struct tbucket *b, uint64_t rate, uint64_t now);

/*
 * Charge a request units[i] in bucket b[i] (n buckets, NULL or unlimited
 * ones skipped) and return when it may go: @now if every bucket has
 * credit, else the latest time any of them frees up.
 */
uint64_t tbucket_reserve(struct tbucket *const *b, const uint64_t *units, int n, uint64_t now);

#endif /* SLUICE_FILTER_TBUCKET_H */
