// SPDX-License-Identifier: GPL-2.0
/*
 * Disk names against this machine's real sysfs: every block device in
 * /sys/block resolves by name, by "MAJ:MIN" and by /dev path to the same
 * dev_t, and back to its name; bad names fail with the right error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sluice.h"
#include "lib/disks.h"

static void round_trip_every_disk(void **state)
{
	char name[64], spec[300];
	unsigned int dev, dev2, parent;
	struct dirent *de;
	DIR *d = opendir("/sys/block");
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		assert_int_equal(disk_resolve(de->d_name, false, &dev), 0);
		assert_int_equal(disk_name(dev, name, sizeof(name)), 0);
		assert_string_equal(name, de->d_name);
		assert_false(disk_is_partition(dev, &parent));
		snprintf(spec, sizeof(spec), "%u:%u", SLUICE_MAJOR(dev), SLUICE_MINOR(dev));
		assert_int_equal(disk_resolve(spec, false, &dev2), 0);
		assert_int_equal(dev2, dev);
		snprintf(spec, sizeof(spec), "/dev/%s", de->d_name);
		if (!access(spec, F_OK)) {
			assert_int_equal(disk_resolve(spec, false, &dev2), 0);
			assert_int_equal(dev2, dev);
		}
		n++;
	}
	closedir(d);
	assert_true(n > 0);
}

static void bad_names(void **state)
{
	unsigned int dev;

	assert_int_equal(disk_resolve("no-such-disk-xyz", false, &dev), -ENOENT);
	assert_int_equal(disk_resolve("/dev/null", false, &dev), -ENOTBLK);
	assert_int_equal(disk_resolve("4095:1048575", false, &dev), -ENOENT);
	assert_int_equal(disk_resolve("", false, &dev), -ENOENT);
	assert_int_equal(disk_resolve("../../etc", false, &dev), -ENOENT);
}

static void unknown_dev_is_named_by_number(void **state)
{
	char name[64];

	assert_true(disk_name(SLUICE_MKDEV(4095, 12345), name, sizeof(name)) < 0);
	assert_string_equal(name, "4095:12345");
	assert_true(disk_dm_name(SLUICE_MKDEV(4095, 12345), name, sizeof(name)) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_every_disk),
		cmocka_unit_test(bad_names),
		cmocka_unit_test(unknown_dev_is_named_by_number),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
