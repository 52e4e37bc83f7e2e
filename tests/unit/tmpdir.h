/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tmpdir.h - one scratch directory per test, for the unit tests that write
 * files: cmocka setup/teardown pair over the global 'dir'. Include it after
 * <cmocka.h>.
 */
#ifndef SLUICE_TESTS_TMPDIR_H
#define SLUICE_TESTS_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sluice-unit.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

#endif /* SLUICE_TESTS_TMPDIR_H */
