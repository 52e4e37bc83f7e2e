// SPDX-License-Identifier: GPL-2.0
/* Units in policy files: parsing, errors, overflow and exact formatting. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/units.h"

static uint64_t ok(enum unit_kind k, const char *s)
{
	struct unit_val v;

	assert_int_equal(units_parse(k, s, &v), 0);
	assert_false(v.pct);
	return v.v;
}

static int err(enum unit_kind k, const char *s)
{
	struct unit_val v;

	return units_parse(k, s, &v);
}

static void test_durations(void **state)
{
	assert_int_equal(ok(UNIT_DURATION, "30ms"), 30000000);
	assert_int_equal(ok(UNIT_DURATION, "500us"), 500000);
	assert_int_equal(ok(UNIT_DURATION, "1.5s"), 1500000000);
	assert_int_equal(ok(UNIT_DURATION, "2 h"), 7200ULL * 1000000000);
	assert_int_equal(ok(UNIT_DURATION, "7ns"), 7);
	assert_int_equal(err(UNIT_DURATION, "30"), -EDOM);
	assert_int_equal(err(UNIT_DURATION, "30xs"), -EDOM);
	assert_int_equal(err(UNIT_DURATION, "ms"), -EINVAL);
	assert_int_equal(err(UNIT_DURATION, "1.5ns"), -EINVAL);
	assert_int_equal(err(UNIT_DURATION, "1.2.3s"), -EINVAL);
	assert_int_equal(err(UNIT_DURATION, "-3ms"), -EINVAL);
	assert_int_equal(err(UNIT_DURATION, ""), -EINVAL);
	assert_int_equal(err(UNIT_DURATION, "99999999999999h"), -ERANGE);
}

static void test_sizes(void **state)
{
	assert_int_equal(ok(UNIT_SIZE, "4KiB"), 4096);
	assert_int_equal(ok(UNIT_SIZE, "1MB"), 1000000);
	assert_int_equal(ok(UNIT_SIZE, "1.5KiB"), 1536);
	assert_int_equal(ok(UNIT_SIZE, "512"), 512);
	assert_int_equal(ok(UNIT_SIZE, "16TiB"), 16ULL << 40);
	assert_int_equal(err(UNIT_SIZE, "4kib"), -EDOM);
	assert_int_equal(err(UNIT_SIZE, "0.3B"), -EINVAL);
	assert_int_equal(err(UNIT_SIZE, "18446744073709551616"), -ERANGE);
	assert_int_equal(ok(UNIT_SIZE, "18446744073709551615"), UINT64_MAX);
	assert_int_equal(err(UNIT_SIZE, "16777216TiB"), -ERANGE);
	assert_int_equal(err(UNIT_SIZE, "50%"), -EDOM);
}

static void test_rates(void **state)
{
	struct unit_val v;

	assert_int_equal(ok(UNIT_RATE, "200MiB/s"), 200ULL << 20);
	assert_int_equal(ok(UNIT_RATE, "1GB/s"), 1000000000);
	assert_int_equal(err(UNIT_RATE, "200MiB"), -EDOM);
	assert_int_equal(err(UNIT_RATE, "200"), -EDOM);
	assert_int_equal(err(UNIT_RATE, "200MiB/h"), -EDOM);
	assert_int_equal(ok(UNIT_IOPS, "5000 iops"), 5000);
	assert_int_equal(ok(UNIT_IOPS, "5000iops"), 5000);
	assert_int_equal(ok(UNIT_IOPS, "5000"), 5000);
	assert_int_equal(err(UNIT_IOPS, "5000 IOPS"), -EDOM);
	assert_int_equal(units_parse(UNIT_IOPS, "90% peak", &v), 0);
	assert_true(v.pct);
	assert_int_equal(v.v, 90);
	assert_int_equal(units_parse(UNIT_RATE, "100%", &v), 0);
	assert_true(v.pct);
	assert_int_equal(err(UNIT_RATE, "0% peak"), -ERANGE);
	assert_int_equal(err(UNIT_RATE, "101% peak"), -ERANGE);
	assert_int_equal(err(UNIT_RATE, "90% top"), -EDOM);
	assert_int_equal(err(UNIT_COUNT, "12 things"), -EDOM);
	assert_int_equal(ok(UNIT_COUNT, "12"), 12);
}

static void test_abs(void **state)
{
	uint64_t v;

	assert_int_equal(units_parse_abs(UNIT_IOPS, "90% peak", &v), -EDOM);
	assert_int_equal(units_parse_abs(UNIT_IOPS, "90", &v), 0);
	assert_int_equal(v, 90);
}

static void roundtrip(enum unit_kind k, uint64_t v, const char *want)
{
	char buf[64];

	units_format(k, v, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(ok(k, buf), v);
}

static void test_format(void **state)
{
	roundtrip(UNIT_DURATION, 30000000, "30ms");
	roundtrip(UNIT_DURATION, 1500000000, "1500ms");
	roundtrip(UNIT_DURATION, 7200ULL * 1000000000, "2h");
	roundtrip(UNIT_DURATION, 0, "0ns");
	roundtrip(UNIT_SIZE, 4096, "4KiB");
	roundtrip(UNIT_SIZE, 3000, "3KB");
	roundtrip(UNIT_SIZE, 4097, "4097B");
	roundtrip(UNIT_RATE, 200ULL << 20, "200MiB/s");
	roundtrip(UNIT_IOPS, 5000, "5000 iops");
	roundtrip(UNIT_SIZE, UINT64_MAX, "18446744073709551615B");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_abs),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
