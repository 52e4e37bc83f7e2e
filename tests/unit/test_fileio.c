// SPDX-License-Identifier: GPL-2.0
/* lib/fileio: the one atomic, optionally durable, file replacement. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/tmpdir.h"

#include "lib/fileio.h"


static void read_back(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Only the file itself stays: no temporary is left beside it. */
static int entries(const char *d)
{
	struct dirent *e;
	DIR *dp = opendir(d);
	int n = 0;

	assert_non_null(dp);
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

static void test_replaces_with_mode(void **state)
{
	char path[128], buf[64];
	struct stat st;

	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(write_file_atomic(path, "old\n", 4, 0644, 0), 0);
	assert_int_equal(write_file_atomic(path, "new\n", 4, 0600, FILE_ATOMIC_SYNC), 0);
	read_back(path, buf, sizeof(buf));
	assert_string_equal(buf, "new\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(entries(dir), 1);
}

static void test_mkdir(void **state)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), "%s/sub/f", dir);
	assert_int_equal(write_file_atomic(path, "x", 1, 0644, 0), -ENOENT);
	assert_int_equal(write_file_atomic(path, "x", 1, 0644, FILE_ATOMIC_MKDIR | FILE_ATOMIC_SYNC),
			 0);
	read_back(path, buf, sizeof(buf));
	assert_string_equal(buf, "x");
}

/* A failed replacement leaves the old file and no temporary. */
static void test_failure_keeps_old(void **state)
{
	char path[128], sub[128], buf[64];

	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	assert_int_equal(write_file_atomic(path, "keep", 4, 0644, 0), 0);
	/* rename() of a file over a directory fails */
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(write_file_atomic(sub, "y", 1, 0644, FILE_ATOMIC_SYNC), -EISDIR);
	read_back(path, buf, sizeof(buf));
	assert_string_equal(buf, "keep");
	assert_int_equal(entries(dir), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replaces_with_mode, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_mkdir, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_failure_keeps_old, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
