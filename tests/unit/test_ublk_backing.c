// SPDX-License-Identifier: GPL-2.0
/*
 * The backing under a served disk: whether its data is in memory (which
 * makes auto pick the mmap copy mode) and its shared mapping, on real
 * files in /dev/shm (tmpfs) and in the build tree (a disk file system).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/magic.h>

#include "ublk/backing.h"

static char path[128];

static int make_file(const char *dir, size_t size)
{
	int fd;

	snprintf(path, sizeof(path), "%s/sluice-backing-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size)) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

static bool on_tmpfs(const char *dir)
{
	struct statfs sf;

	return !statfs(dir, &sf) && sf.f_type == TMPFS_MAGIC;
}

static void test_tmpfs_is_in_memory(void **state)
{
	struct backing b;

	if (!on_tmpfs("/dev/shm"))
		skip();
	assert_int_equal(make_file("/dev/shm", 1 << 20), 0);
	assert_int_equal(backing_open(&b, path, 4096, false), 0);
	assert_true(b.in_memory);
	assert_true(b.page_cache);
	assert_int_equal(b.size, 1 << 20);
	backing_close(&b);
	unlink(path);
}

static void test_disk_file_is_not_in_memory(void **state)
{
	struct backing b;

	if (on_tmpfs("."))
		skip();
	assert_int_equal(make_file(".", 1 << 20), 0);
	assert_int_equal(backing_open(&b, path, 4096, false), 0);
	assert_false(b.in_memory);
	/* Buffered only when O_DIRECT failed. */
	assert_int_equal(b.page_cache, !b.direct);
	backing_close(&b);
	unlink(path);
}

/*
 * The mapping may be longer than the file; the server only reaches it
 * through the kernel's copy, where a page past the end is a short copy
 * (EFAULT), not a SIGBUS. A write from the mapping into a pipe shows the
 * same.
 */
static void test_map_is_shared_and_faults_past_eof(void **state)
{
	char buf[4096], *map;
	struct backing b;
	int fds[2];

	if (!on_tmpfs("/dev/shm"))
		skip();
	assert_int_equal(make_file("/dev/shm", 4096), 0);
	assert_int_equal(backing_open(&b, path, 4096, false), 0);
	assert_int_equal(backing_map(&b, 4 * 4096), 0);
	assert_non_null(b.map);
	assert_int_equal(b.map_len, 4 * 4096);
	map = b.map;
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pwrite(b.fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_memory_equal(map, buf, sizeof(buf));

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], map, 4096), 4096);
	errno = 0;
	assert_int_equal(write(fds[1], map + 2 * 4096, 4096), -1);
	assert_int_equal(errno, EFAULT);
	close(fds[0]);
	close(fds[1]);
	backing_close(&b);
	assert_null(b.map);
	unlink(path);
}

static void test_read_only_map(void **state)
{
	struct backing b;

	if (!on_tmpfs("/dev/shm"))
		skip();
	assert_int_equal(make_file("/dev/shm", 8192), 0);
	assert_int_equal(backing_open(&b, path, 4096, true), 0);
	assert_int_equal(backing_map(&b, 8192), 0);
	/* A read-only backing maps read-only: the kernel cannot write through it. */
	assert_int_equal(pread(b.fd, b.map, 4096, 0), -1);
	assert_int_equal(errno, EFAULT);
	backing_close(&b);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tmpfs_is_in_memory),
		cmocka_unit_test(test_disk_file_is_not_in_memory),
		cmocka_unit_test(test_map_is_shared_and_faults_past_eof),
		cmocka_unit_test(test_read_only_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
