// SPDX-License-Identifier: GPL-2.0
/*
 * Stage names come from the enum in bpf/sluice.h: every stage has one, each
 * its own, and the words 'sluice stages --json' has always printed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "loader/ublk_stages.h"

static void test_every_stage_named(void **state)
{
	unsigned int i, j;

	for (i = 0; i < SLUICE_UBLK_STAGES; i++) {
		assert_string_not_equal(ublk_stage_name(i), "?");
		for (j = 0; j < i; j++)
			assert_string_not_equal(ublk_stage_name(i), ublk_stage_name(j));
	}
	assert_string_equal(ublk_stage_name(SLUICE_UBLK_STAGES), "?");
}

static void test_names_users_know(void **state)
{
	assert_string_equal(ublk_stage_name(SLUICE_UBLK_TO_SERVER), "to_server");
	assert_string_equal(ublk_stage_name(SLUICE_UBLK_DOWN), "filters_down");
	assert_string_equal(ublk_stage_name(SLUICE_UBLK_BACKING), "backing");
	assert_string_equal(ublk_stage_name(SLUICE_UBLK_UP), "filters_up");
	assert_string_equal(ublk_stage_name(SLUICE_UBLK_TO_KERNEL), "to_kernel");
	assert_string_equal(ublk_stage_name(SLUICE_UBLK_TOTAL), "total");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_stage_named),
		cmocka_unit_test(test_names_users_know),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
