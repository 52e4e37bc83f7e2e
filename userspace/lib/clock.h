/* SPDX-License-Identifier: GPL-2.0 */
/*
 * clock.h - a clock read in nanoseconds: CLOCK_MONOTONIC for intervals,
 * leases and deadlines, CLOCK_REALTIME for times a user or a file sees.
 */
#ifndef SLUICE_LIB_CLOCK_H
#define SLUICE_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
