// SPDX-License-Identifier: GPL-2.0
/*
 * Pure logic under the ublk server: state files (round trip, malformed
 * input, listing), the one io_uring user_data layout, and size parsing.
 */
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

#include "lib/size.h"
#include "lib/udata.h"
#include "ublk/dev.h"
#include "lib/disk_state.h"

static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sluice-state-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static struct disk_state sample(uint32_t id)
{
	struct disk_state s = {
		.id = id, .size = 64ull << 30, .queues = 4, .depth = 128, .block_size = 4096,
		.read_only = true, .pid = 4242, .flags = 0x58,
	};

	snprintf(s.backing, sizeof(s.backing), "/var/lib/disk %u.img", id);
	snprintf(s.policy, sizeof(s.policy), "count");
	snprintf(s.filters, sizeof(s.filters), "count count:a=b");
	return s;
}

static void test_state_round_trip(void **state)
{
	struct disk_state a = sample(7), b;

	assert_int_equal(state_write(dir, &a), 0);
	assert_int_equal(state_read(dir, 7, &b), 0);
	assert_int_equal(b.id, 7);
	assert_string_equal(b.backing, a.backing);
	assert_int_equal(b.size, a.size);
	assert_int_equal(b.queues, 4);
	assert_int_equal(b.depth, 128);
	assert_int_equal(b.block_size, 4096);
	assert_true(b.read_only);
	assert_string_equal(b.policy, "count");
	assert_string_equal(b.filters, "count count:a=b");
	assert_int_equal(b.pid, 4242);
	assert_int_equal(b.flags, 0x58);
	/* Rewriting (recovery updates the pid) replaces the file. */
	a.pid = 99;
	assert_int_equal(state_write(dir, &a), 0);
	assert_int_equal(state_read(dir, 7, &b), 0);
	assert_int_equal(b.pid, 99);
	assert_int_equal(state_remove(dir, 7), 0);
	assert_int_equal(state_read(dir, 7, &b), -ENOENT);
	assert_int_equal(state_remove(dir, 7), 0);
}

static void test_state_list(void **state)
{
	struct disk_state s;
	uint32_t ids[8];
	char path[128];
	FILE *f;

	s = sample(12);
	assert_int_equal(state_write(dir, &s), 0);
	s = sample(3);
	assert_int_equal(state_write(dir, &s), 0);
	/* Not state files: ignored. */
	snprintf(path, sizeof(path), "%s/ublk5.state.tmp", dir);
	f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/ublkx.state", dir);
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(state_list(dir, ids, 8), 2);
	assert_int_equal(ids[0], 3);
	assert_int_equal(ids[1], 12);
	assert_int_equal(state_list(dir, ids, 1), 1);
	assert_int_equal(state_list("/nonexistent/sluice", ids, 8), 0);
}

static void test_state_malformed(void **state)
{
	struct disk_state s;

	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nqueues=1\ndepth=1\n"
				     "block_size=512\n", &s), 0);
	/* Missing size, a line without '=', a bad number, zero queues. */
	assert_int_equal(state_parse("id=1\nbacking=/x\nqueues=1\ndepth=1\nblock_size=512\n", &s),
			 -EINVAL);
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nbogus\n", &s), -EINVAL);
	assert_int_equal(state_parse("id=1x\nbacking=/x\nsize=512\nqueues=1\ndepth=1\n"
				     "block_size=512\n", &s), -EINVAL);
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=-5\nqueues=1\ndepth=1\n"
				     "block_size=512\n", &s), -EINVAL);
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nqueues=0\ndepth=1\n"
				     "block_size=512\n", &s), -EINVAL);
	/* Unknown keys from a newer server are skipped. */
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nqueues=1\ndepth=1\n"
				     "block_size=512\nfuture=yes\n", &s), 0);
}

static void test_state_id_must_match_file(void **state)
{
	struct disk_state s = sample(4), r;
	char from[128], to[128];

	assert_int_equal(state_write(dir, &s), 0);
	snprintf(from, sizeof(from), "%s/ublk4.state", dir);
	snprintf(to, sizeof(to), "%s/ublk9.state", dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(state_read(dir, 9, &r), -EINVAL);
}

/* The policy side finds a served disk by its backing, through links too. */
static void test_state_find_backing(void **state)
{
	char img[128], other[128], link[128];
	struct disk_state s = sample(3), t = sample(5), got;
	unsigned int ma, mi;
	FILE *f;

	snprintf(img, sizeof(img), "%s/a.img", dir);
	snprintf(other, sizeof(other), "%s/b.img", dir);
	snprintf(link, sizeof(link), "%s/link.img", dir);
	assert_non_null(f = fopen(img, "w"));
	fclose(f);
	assert_non_null(f = fopen(other, "w"));
	fclose(f);
	assert_int_equal(symlink(img, link), 0);
	snprintf(s.backing, sizeof(s.backing), "%s", img);
	snprintf(t.backing, sizeof(t.backing), "%s", other);
	assert_int_equal(state_write(dir, &t), 0);
	/* served by nobody yet */
	assert_int_equal(state_find_backing(dir, img, &got), -ENOENT);
	assert_int_equal(state_write(dir, &s), 0);
	assert_int_equal(state_find_backing(dir, link, &got), 0);
	assert_int_equal(got.id, 3);
	assert_string_equal(got.filters, "count count:a=b");
	assert_int_equal(state_find_backing(dir, other, &got), 0);
	assert_int_equal(got.id, 5);
	/* a backing that does not exist matches nothing */
	assert_int_equal(state_find_backing(dir, "/nonexistent/x.img", &got), -ENOENT);
	/* no disk 4000000 in sysfs */
	assert_int_equal(state_devnum(4000000, &ma, &mi), -ENOENT);
}

static void test_udata_round_trip(void **state)
{
	struct udata d;
	uint64_t v;

	v = udata_encode(UDATA_CMD, 4095, 0, 0);
	d = udata_decode(v);
	assert_int_equal(d.kind, UDATA_CMD);
	assert_int_equal(d.tag, 4095);
	v = udata_encode(UDATA_FILTER, 65535, 255, 0xffffffffu);
	d = udata_decode(v);
	assert_int_equal(d.kind, UDATA_FILTER);
	assert_int_equal(d.tag, 65535);
	assert_int_equal(d.filter, 255);
	assert_int_equal(d.cookie, 0xffffffffu);
	/* Fields do not bleed into each other. */
	d = udata_decode(udata_encode(UDATA_BACKING, 1, 0, 0));
	assert_int_equal(d.filter, 0);
	assert_int_equal(d.cookie, 0);
	assert_int_equal(d.tag, 1);
	/* ublk tags and chain positions fit the fields. */
	assert_true(UBLK_MAX_QUEUE_DEPTH <= (1u << UDATA_TAG_BITS));
	assert_true(CHAIN_MAX_FILTERS <= (1u << UDATA_FILTER_BITS));
}

static void test_size_parse(void **state)
{
	uint64_t v;

	assert_int_equal(size_parse("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(size_parse("64M", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(size_parse("1.5G", &v), 0);
	assert_int_equal(v, 3ull << 29);
	assert_int_equal(size_parse("2t", &v), 0);
	assert_int_equal(v, 2ull << 40);
	assert_int_equal(size_parse("8KiB", &v), 0);
	assert_int_equal(v, 8192);
	assert_int_equal(size_parse("", &v), -EINVAL);
	assert_int_equal(size_parse("-1", &v), -EINVAL);
	assert_int_equal(size_parse("12Q", &v), -EINVAL);
	assert_int_equal(size_parse("12MX", &v), -EINVAL);
	assert_int_equal(size_parse("0.3K", &v), -EINVAL);
	assert_int_equal(size_parse("99999999P", &v), -ERANGE);
}

static void test_wanted_flags(void **state)
{
	uint64_t all = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE |
		       UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY;

	assert_int_equal(ublk_dev_wanted_flags(all), UBLK_F_USER_RECOVERY |
			 UBLK_F_USER_RECOVERY_REISSUE | UBLK_F_CMD_IOCTL_ENCODE);
	/* 6.1 offers no ioctl encoding. */
	assert_int_equal(ublk_dev_wanted_flags(UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE),
			 UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE);
	assert_int_equal(ublk_dev_wanted_flags(UBLK_F_USER_RECOVERY_REISSUE), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_round_trip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_state_list, make_dir, remove_dir),
		cmocka_unit_test(test_state_malformed),
		cmocka_unit_test_setup_teardown(test_state_id_must_match_file, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_state_find_backing, make_dir, remove_dir),
		cmocka_unit_test(test_udata_round_trip),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_wanted_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
