// SPDX-License-Identifier: GPL-2.0
/* Log-linear histograms: bucket index vs bounds, precision, percentiles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/hist.h"

/* Every value probed lands in a bucket whose bounds contain it. */
static void index_matches_bounds(void **state)
{
	unsigned int p, i;
	uint64_t v, probes[5];

	for (v = 0; v < 64; v++) {
		i = hist_index(v);
		assert_true(hist_lower(i) <= v && v < hist_upper(i));
	}
	for (p = 5; p < SLUICE_HIST_MAX_LOG2; p++) {
		probes[0] = 1ull << p;
		probes[1] = (1ull << p) - 1;
		probes[2] = (1ull << p) + 1;
		probes[3] = (1ull << p) + (1ull << (p - 1)) + 3;
		probes[4] = (2ull << p) - 1;
		for (i = 0; i < 5; i++) {
			unsigned int idx = hist_index(probes[i]);

			assert_true(idx < SLUICE_HIST_BUCKETS);
			assert_true(hist_lower(idx) <= probes[i]);
			assert_true(probes[i] < hist_upper(idx));
		}
	}
}

/* Buckets tile the line: each upper bound is the next lower bound. */
static void buckets_are_contiguous(void **state)
{
	unsigned int i;

	assert_int_equal(hist_lower(0), 0);
	for (i = 0; i + 1 < SLUICE_HIST_BUCKETS; i++) {
		assert_true(hist_lower(i) < hist_upper(i));
		assert_int_equal(hist_upper(i), hist_lower(i + 1));
		assert_int_equal(hist_index(hist_lower(i)), i);
		assert_int_equal(hist_index(hist_upper(i) - 1), i);
	}
}

/* Relative width of every bucket above the exact range is at most 1/16. */
static void relative_error_bounded(void **state)
{
	unsigned int i;

	for (i = SLUICE_HIST_SUB; i + 1 < SLUICE_HIST_BUCKETS; i++) {
		double lo = (double)hist_lower(i), w = (double)(hist_upper(i) - hist_lower(i));

		assert_true(w / lo <= 1.0 / 16 + 1e-12);
	}
}

static void huge_values_clamp(void **state)
{
	assert_int_equal(hist_index(UINT64_MAX), SLUICE_HIST_BUCKETS - 1);
	assert_int_equal(hist_index(1ull << SLUICE_HIST_MAX_LOG2), SLUICE_HIST_BUCKETS - 1);
	/* The last bucket is open: it starts below 2^36 and never ends. */
	assert_int_equal(hist_index(hist_lower(SLUICE_HIST_BUCKETS - 1) - 1), SLUICE_HIST_BUCKETS - 2);
	assert_true(hist_upper(SLUICE_HIST_BUCKETS - 1) == UINT64_MAX);
}

static unsigned long long b[SLUICE_HIST_BUCKETS];

/* Uniform 1..100000 ns: percentiles within 1/16 of the true value. */
static void percentiles_uniform(void **state)
{
	static const double ps[] = { 0.5, 0.9, 0.99, 0.999 };
	uint64_t v;
	unsigned int i;

	memset(b, 0, sizeof(b));
	for (v = 1; v <= 100000; v++)
		b[hist_index(v)]++;
	assert_int_equal(hist_count(b), 100000);
	for (i = 0; i < 4; i++) {
		double want = ps[i] * 100000, got = hist_percentile(b, ps[i]);

		assert_true(got >= want * (1 - 1.0 / 16) && got <= want * (1 + 1.0 / 16));
	}
	assert_true(hist_mean(b) > 50000 * 0.97 && hist_mean(b) < 50000 * 1.03);
}

/* A point mass: every percentile inside the value's bucket. */
static void percentiles_point_mass(void **state)
{
	unsigned int idx = hist_index(123456);
	double p;

	memset(b, 0, sizeof(b));
	b[idx] = 1000;
	p = hist_percentile(b, 0.5);
	assert_true(p >= hist_lower(idx) && p <= hist_upper(idx));
	assert_true(p >= 123456 * (1 - 1.0 / 16) && p <= 123456 * (1 + 1.0 / 16));
}

/* Bimodal: 99% at 10us, 1% at 5ms: p50 near 10us, p99.9 near 5ms. */
static void percentiles_bimodal(void **state)
{
	double p50, p999;

	memset(b, 0, sizeof(b));
	b[hist_index(10000)] = 9900;
	b[hist_index(5000000)] = 100;
	p50 = hist_percentile(b, 0.5);
	p999 = hist_percentile(b, 0.999);
	assert_true(p50 > 10000 * 0.94 && p50 < 10000 * 1.07);
	assert_true(p999 > 5000000 * 0.94 && p999 < 5000000 * 1.07);
	assert_true(hist_percentile(b, 0.0) <= p50);
}

static void merge_and_sub(void **state)
{
	static unsigned long long a[SLUICE_HIST_BUCKETS], c[SLUICE_HIST_BUCKETS];

	memset(a, 0, sizeof(a));
	memset(c, 0, sizeof(c));
	a[3] = 5;
	c[3] = 2;
	c[100] = 7;
	hist_merge(a, c);
	assert_int_equal(a[3], 7);
	assert_int_equal(a[100], 7);
	assert_int_equal(hist_count(a), 14);
	hist_sub(a, c);
	assert_int_equal(a[3], 5);
	assert_int_equal(a[100], 0);
	hist_sub(a, c);
	assert_int_equal(a[3], 3);
	memset(a, 0, sizeof(a));
	assert_true(hist_percentile(a, 0.99) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(index_matches_bounds),
		cmocka_unit_test(buckets_are_contiguous),
		cmocka_unit_test(relative_error_bounded),
		cmocka_unit_test(huge_values_clamp),
		cmocka_unit_test(percentiles_uniform),
		cmocka_unit_test(percentiles_point_mass),
		cmocka_unit_test(percentiles_bimodal),
		cmocka_unit_test(merge_and_sub),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
