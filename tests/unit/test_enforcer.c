// SPDX-License-Identifier: GPL-2.0
/*
 * Whether a served disk's chain holds its class limits: the throttle filter
 * and its arguments found in a state file's filter list.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/enforcer.h"

static void test_spec_throttle(void **state)
{
	struct served_throttle t;

	memset(&t, 'x', sizeof(t));
	assert_true(enforcer_spec_throttle("throttle:policy=tiers", &t));
	assert_string_equal(t.policy, "tiers");
	assert_string_equal(t.state, "");
	assert_true(enforcer_spec_throttle("throttle:interval_ms=500,state=/tmp/t.json,"
					   "policy=db crypt:x=1", &t));
	assert_string_equal(t.policy, "db");
	assert_string_equal(t.state, "/tmp/t.json");
	/* anywhere in the chain, with or without arguments */
	assert_true(enforcer_spec_throttle("count  throttle", &t));
	assert_string_equal(t.policy, "");
	assert_true(enforcer_spec_throttle("count throttle:policy=a", NULL));
	/* passthrough, and names that only look alike */
	assert_false(enforcer_spec_throttle("", &t));
	assert_false(enforcer_spec_throttle("count", &t));
	assert_false(enforcer_spec_throttle("throttled:policy=a throttl", &t));
	assert_false(enforcer_spec_throttle("count:throttle=1", &t));
	/* a key that ends like another is not it */
	assert_true(enforcer_spec_throttle("throttle:xpolicy=a,policy=b", &t));
	assert_string_equal(t.policy, "b");
}

/* /sys/dev/block has no such disk: the kernel holds its limits. */
static void test_not_a_ublk_disk(void **state)
{
	struct served_throttle t;

	assert_int_equal(enforcer_find("/nonexistent", 4095, 1048575, &t), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_throttle),
		cmocka_unit_test(test_not_a_ublk_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
