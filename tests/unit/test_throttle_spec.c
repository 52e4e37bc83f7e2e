// SPDX-License-Identifier: GPL-2.0
/* The throttle's settings: durations, numbers, thresholds, class specs. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "throttle/spec.h"

static void test_duration(void **state)
{
	uint64_t ns;

	assert_int_equal(throttle_parse_duration("30ms", &ns), 0);
	assert_int_equal(ns, 30000000);
	assert_int_equal(throttle_parse_duration("1.5s", &ns), 0);
	assert_int_equal(ns, 1500000000);
	assert_int_equal(throttle_parse_duration("250us", &ns), 0);
	assert_int_equal(ns, 250000);
	assert_int_equal(throttle_parse_duration("30", &ns), -EINVAL);
	assert_int_equal(throttle_parse_duration("ms", &ns), -EINVAL);
	assert_int_equal(throttle_parse_duration("-1ms", &ns), -EINVAL);
	assert_int_equal(throttle_parse_duration("2h", &ns), -ERANGE);
	assert_int_equal(throttle_parse_duration("0ms", &ns), -ERANGE);
	assert_int_equal(throttle_parse_duration("1m", &ns), 0);
	assert_int_equal(ns, 60000000000ULL);
}

static void test_number(void **state)
{
	uint64_t v;

	assert_int_equal(throttle_parse_number("10M", false, &v), 0);
	assert_int_equal(v, 10 << 20);
	assert_int_equal(throttle_parse_number("4k", true, &v), 0);
	assert_int_equal(v, 4000);
	assert_int_equal(throttle_parse_number("1500", true, &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(throttle_parse_number("10MB", false, &v), -EINVAL);
	assert_int_equal(throttle_parse_number("x", false, &v), -EINVAL);
}

static void test_threshold(void **state)
{
	struct throttle_disk_cfg cfg = { 0 };

	assert_int_equal(throttle_parse_threshold("30ms", &cfg), 0);
	assert_int_equal(cfg.mode, THROTTLE_MODE_LATENCY);
	assert_int_equal(cfg.threshold_ns, 30000000);
	assert_int_equal(throttle_parse_threshold("90%peak", &cfg), 0);
	assert_int_equal(cfg.mode, THROTTLE_MODE_PEAK);
	assert_int_equal(cfg.peak_pct, 90);
	assert_int_equal(throttle_parse_threshold("80%", &cfg), 0);
	assert_int_equal(cfg.peak_pct, 80);
	assert_int_equal(throttle_parse_threshold("0%peak", &cfg), -EINVAL);
	assert_int_equal(throttle_parse_threshold("101%", &cfg), -EINVAL);
	assert_int_equal(throttle_parse_threshold("90%max", &cfg), -EINVAL);
	assert_int_equal(throttle_parse_threshold("fast", &cfg), -EINVAL);
}

static void test_class(void **state)
{
	struct throttle_class_cfg cc;
	char path[64];

	assert_int_equal(throttle_parse_class("db", path, sizeof(path), &cc), 0);
	assert_string_equal(path, "db");
	assert_int_equal(cc.shares, 100);
	assert_int_equal(throttle_parse_class("/sys/fs/cgroup/a:shares=200,riops=1k,"
					      "wbps=8M,reserve=500", path, sizeof(path), &cc), 0);
	assert_string_equal(path, "/sys/fs/cgroup/a");
	assert_int_equal(cc.shares, 200);
	assert_int_equal(cc.iops[THROTTLE_READ], 1000);
	assert_int_equal(cc.bps[THROTTLE_WRITE], 8 << 20);
	assert_int_equal(cc.reserve_iops, 500);
	/* A colon in the path is kept when no settings follow it. */
	assert_int_equal(throttle_parse_class("odd:name", path, sizeof(path), &cc), 0);
	assert_string_equal(path, "odd:name");
	assert_int_equal(throttle_parse_class("a:shares=0", path, sizeof(path), &cc), -EINVAL);
	assert_int_equal(throttle_parse_class("a:weight=3", path, sizeof(path), &cc), -ENOENT);
	/* No '=' after the colon: a path, which the daemon then fails to find. */
	assert_int_equal(throttle_parse_class("a:shares", path, sizeof(path), &cc), 0);
	assert_string_equal(path, "a:shares");
	assert_int_equal(throttle_parse_class("a:shares=2,riops", path, sizeof(path), &cc),
			 -EINVAL);
	assert_int_equal(throttle_parse_class(":shares=1", path, sizeof(path), &cc), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_number),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
