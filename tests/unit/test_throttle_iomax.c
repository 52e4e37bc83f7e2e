// SPDX-License-Identifier: GPL-2.0
/*
 * io.max lines and the throttle's book of what it wrote, on a temporary
 * directory standing in for a cgroup (a plain file keeps only the last line
 * written, which is all these tests read back; the kernel's merging is
 * exercised by tests/vm/throttle.bats).
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
#include <sys/stat.h>
#include <cmocka.h>

#include "throttle/iomax.h"

static void test_parse(void **state)
{
	struct iomax_limits l;
	unsigned int maj, min;

	assert_int_equal(iomax_parse_line("8:16 rbps=2097152 wbps=max riops=max wiops=120\n",
					  &maj, &min, &l), 0);
	assert_int_equal(maj, 8);
	assert_int_equal(min, 16);
	assert_int_equal(l.rbps, 2097152);
	assert_int_equal(l.wbps, 0);
	assert_int_equal(l.riops, 0);
	assert_int_equal(l.wiops, 120);
	assert_int_equal(iomax_parse_line("259:0 riops=7", &maj, &min, &l), 0);
	assert_int_equal(l.riops, 7);
	assert_int_equal(iomax_parse_line("8:0 riops=", &maj, &min, &l), -EINVAL);
	assert_int_equal(iomax_parse_line("8:0 iops=5", &maj, &min, &l), -EINVAL);
	assert_int_equal(iomax_parse_line("8:0 riops=-1x", &maj, &min, &l), -EINVAL);
	assert_int_equal(iomax_parse_line("sda riops=1", &maj, &min, &l), -EINVAL);
}

static void test_format_round_trip(void **state)
{
	struct iomax_limits l = { .riops = 3000, .wbps = 1 << 20 }, back;
	unsigned int maj, min;
	char buf[128];

	assert_int_equal(iomax_format(buf, sizeof(buf), 252, 3, &l), 0);
	assert_string_equal(buf, "252:3 riops=3000 wiops=max rbps=max wbps=1048576");
	assert_int_equal(iomax_parse_line(buf, &maj, &min, &back), 0);
	assert_true(iomax_equal(&l, &back));
	assert_int_equal(iomax_format(buf, 10, 252, 3, &l), -ENAMETOOLONG);
}

static void test_merge_stricter_wins(void **state)
{
	struct iomax_limits a = { .riops = 100, .wiops = 0, .rbps = 5000 };
	struct iomax_limits b = { .riops = 50, .wiops = 70, .rbps = 0 }, out;

	iomax_merge(&a, &b, &out);
	assert_int_equal(out.riops, 50);
	assert_int_equal(out.wiops, 70);
	assert_int_equal(out.rbps, 5000);
	assert_int_equal(out.wbps, 0);
}

struct fixture {
	char dir[64];
	char iomax[96];
	char record[96];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/sluice-iomax.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->iomax, sizeof(fx->iomax), "%s/io.max", fx->dir);
	snprintf(fx->record, sizeof(fx->record), "%s/record", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->iomax);
	unlink(fx->record);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void get(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_read_picks_the_disk(void **state)
{
	struct fixture *fx = *state;
	struct iomax_limits l;

	put(fx->iomax, "8:0 rbps=max wbps=max riops=10 wiops=max\n"
		       "8:16 rbps=max wbps=max riops=20 wiops=max\n");
	assert_int_equal(iomax_read(fx->dir, 8, 16, &l), 0);
	assert_int_equal(l.riops, 20);
	assert_int_equal(iomax_read(fx->dir, 8, 32, &l), 0);
	assert_int_equal(l.riops, 0);
	assert_int_equal(iomax_read("/nonexistent/cg", 8, 0, &l), -ENOENT);
}

static ino_t inode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* Static (and pre-existing) limits survive every dynamic write and the exit. */
static void test_book_keeps_static(void **state)
{
	struct fixture *fx = *state;
	struct iomax_limits stat = { .wbps = 1 << 20 }, dyn = { .riops = 300 };
	struct iomax_book b;
	ino_t ino;
	char buf[256];
	bool changed;
	int idx;

	put(fx->iomax, "8:0 rbps=max wbps=max riops=500 wiops=max\n");
	assert_int_equal(iomax_book_init(&b, fx->record), 0);
	idx = iomax_book_add(&b, fx->dir, 8, 0, &stat);
	assert_int_equal(idx, 0);
	assert_int_equal(iomax_book_apply(&b, idx, &dyn, &changed), 0);
	assert_true(changed);
	get(fx->iomax, buf, sizeof(buf));
	assert_string_equal(buf, "8:0 riops=300 wiops=max rbps=max wbps=1048576");
	assert_int_equal(access(fx->record, F_OK), 0);

	/* The record holds the bases: a new dynamic value leaves it as it is
	 * (it is replaced by a rename when rewritten, so its inode says). */
	ino = inode_of(fx->record);
	dyn.riops = 400;
	assert_int_equal(iomax_book_apply(&b, idx, &dyn, &changed), 0);
	assert_true(changed);
	assert_int_equal(inode_of(fx->record), ino);

	dyn.riops = 800;	/* looser than what was there before: that wins */
	assert_int_equal(iomax_book_apply(&b, idx, &dyn, &changed), 0);
	get(fx->iomax, buf, sizeof(buf));
	assert_string_equal(buf, "8:0 riops=500 wiops=max rbps=max wbps=1048576");
	assert_int_equal(iomax_book_apply(&b, idx, &dyn, &changed), 0);
	assert_false(changed);

	assert_int_equal(iomax_book_restore(&b), 0);
	get(fx->iomax, buf, sizeof(buf));
	assert_string_equal(buf, "8:0 riops=500 wiops=max rbps=max wbps=1048576");
	assert_int_equal(access(fx->record, F_OK), -1);
	iomax_book_free(&b);
	iomax_book_free(NULL);
}

/* kill -9: the record left behind is enough to take the dynamic limits back. */
static void test_cleanup_after_kill(void **state)
{
	struct fixture *fx = *state;
	struct iomax_limits none = { 0 }, dyn = { .riops = 123, .wiops = 45 };
	struct iomax_book b;
	unsigned int restored;
	char buf[256];
	int idx;

	put(fx->iomax, "");
	assert_int_equal(iomax_book_init(&b, fx->record), 0);
	idx = iomax_book_add(&b, fx->dir, 252, 1, &none);
	assert_int_equal(iomax_book_apply(&b, idx, &dyn, NULL), 0);
	iomax_book_free(&b);	/* dies without restoring */
	get(fx->iomax, buf, sizeof(buf));
	assert_string_equal(buf, "252:1 riops=123 wiops=45 rbps=max wbps=max");

	assert_int_equal(iomax_book_cleanup_record(fx->record, &restored), 0);
	assert_int_equal(restored, 1);
	get(fx->iomax, buf, sizeof(buf));
	assert_string_equal(buf, "252:1 riops=max wiops=max rbps=max wbps=max");
	assert_int_equal(iomax_book_cleanup_record(fx->record, &restored), -ENOENT);
}

/*
 * A new policy generation: the dynamic limit goes where io.max still holds
 * what the throttle wrote; where 'policy apply' rewrote it since, the apply's
 * limits stay.
 */
static void test_release_keeps_rewritten(void **state)
{
	struct fixture *fx = *state;
	struct iomax_limits stat = { .riops = 500 }, dyn = { .riops = 300, .wiops = 40 };
	struct iomax_book b;
	unsigned int kept;
	char buf[256];
	int idx;

	put(fx->iomax, "");
	assert_int_equal(iomax_book_init(&b, fx->record), 0);
	idx = iomax_book_add(&b, fx->dir, 8, 0, &stat);
	assert_int_equal(iomax_book_apply(&b, idx, &dyn, NULL), 0);
	assert_int_equal(iomax_book_release(&b, &kept), 0);
	assert_int_equal(kept, 0);
	get(fx->iomax, buf, sizeof(buf));
	assert_string_equal(buf, "8:0 riops=500 wiops=max rbps=max wbps=max");
	assert_int_equal(access(fx->record, F_OK), -1);

	assert_int_equal(iomax_book_apply(&b, idx, &dyn, NULL), 0);
	put(fx->iomax, "8:0 rbps=max wbps=max riops=700 wiops=max\n");
	assert_int_equal(iomax_book_release(&b, &kept), 0);
	assert_int_equal(kept, 1);
	get(fx->iomax, buf, sizeof(buf));
	assert_string_equal(buf, "8:0 rbps=max wbps=max riops=700 wiops=max\n");
	iomax_book_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_merge_stricter_wins),
		cmocka_unit_test_setup_teardown(test_read_picks_the_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_book_keeps_static, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_after_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_keeps_rewritten, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
