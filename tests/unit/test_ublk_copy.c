// SPDX-License-Identifier: GPL-2.0
/* Which copy mode a disk gets (ublk/copy.h), for every driver and backing. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ublk/copy.h"
#include "ublk/uapi_compat.h"

/* page_cache: 0 O_DIRECT on a disk, 1 buffered on a disk, 2 tmpfs; !chain_empty: crypt. */
static int resolve(enum ublk_copy want, uint64_t features, int page_cache, bool chain_empty,
		   enum ublk_copy *out)
{
	struct ublk_copy_env env = {
		.features = features,
		.page_cache = page_cache > 0,
		.in_memory = page_cache == 2,
		.chain_empty = chain_empty,
		.data_filter = chain_empty ? NULL : "crypt",
	};

	*out = (enum ublk_copy)-1;
	return ublk_copy_resolve(want, &env, out);
}

static void test_parse_names(void **state)
{
	static const char *const names[] = { "auto", "buffer", "user", "mmap", "zero" };
	enum ublk_copy c;
	unsigned int i;

	for (i = 0; i < 5; i++) {
		assert_int_equal(ublk_copy_parse(names[i], &c), 0);
		assert_string_equal(ublk_copy_name(c), names[i]);
	}
	assert_int_equal(ublk_copy_parse("MMAP", &c), -EINVAL);
	assert_int_equal(ublk_copy_parse("", &c), -EINVAL);
	assert_string_equal(ublk_copy_name((enum ublk_copy)42), "?");
}

static void test_auto(void **state)
{
	enum ublk_copy c;

	/* The one-copy path where it never blocks. */
	assert_int_equal(resolve(UBLK_COPY_AUTO, UBLK_F_USER_COPY, 2, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_MMAP);
	/* No user copy (6.1), a filter chain, O_DIRECT, a buffered file on a disk. */
	assert_int_equal(resolve(UBLK_COPY_AUTO, 0, 2, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
	assert_int_equal(resolve(UBLK_COPY_AUTO, UBLK_F_USER_COPY, 2, false, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
	assert_int_equal(resolve(UBLK_COPY_AUTO, UBLK_F_USER_COPY, 0, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
	assert_int_equal(resolve(UBLK_COPY_AUTO, UBLK_F_USER_COPY, 1, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
}

static void test_explicit(void **state)
{
	enum ublk_copy c;

	assert_int_equal(resolve(UBLK_COPY_BUFFER, UBLK_F_USER_COPY, 2, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
	assert_int_equal(resolve(UBLK_COPY_USER, UBLK_F_USER_COPY, 0, false, &c), 0);
	assert_int_equal(c, UBLK_COPY_USER);
	assert_int_equal(resolve(UBLK_COPY_MMAP, UBLK_F_USER_COPY, 2, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_MMAP);
	/* A buffered file on a disk, when asked for. */
	assert_int_equal(resolve(UBLK_COPY_MMAP, UBLK_F_USER_COPY, 1, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_MMAP);
}

static void test_refused(void **state)
{
	enum ublk_copy c;

	assert_int_equal(resolve(UBLK_COPY_USER, 0, 2, true, &c), -EOPNOTSUPP);
	assert_int_equal(resolve(UBLK_COPY_MMAP, 0, 2, true, &c), -EOPNOTSUPP);
	/* Filters need the data in a buffer; O_DIRECT disks stay out of the page cache. */
	assert_int_equal(resolve(UBLK_COPY_MMAP, UBLK_F_USER_COPY, 2, false, &c), -EINVAL);
	assert_int_equal(resolve(UBLK_COPY_MMAP, UBLK_F_USER_COPY, 0, true, &c), -EINVAL);
	assert_int_equal(resolve((enum ublk_copy)9, UBLK_F_USER_COPY, 2, true, &c), -EINVAL);
}

/* 7.x: zero copy where the chain is empty; 6.15 without auto registration too. */
static void test_zero(void **state)
{
	const uint64_t zc = UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG;
	enum ublk_copy c;

	assert_int_equal(ublk_copy_zero_flag(zc), UBLK_F_AUTO_BUF_REG);
	assert_int_equal(ublk_copy_zero_flag(UBLK_F_SUPPORT_ZERO_COPY), UBLK_F_SUPPORT_ZERO_COPY);
	assert_int_equal(ublk_copy_zero_flag(UBLK_F_USER_COPY), 0);
	/* O_DIRECT and buffered disks: zero; tmpfs too (faster than mmap on 7.3). */
	assert_int_equal(resolve(UBLK_COPY_AUTO, zc, 0, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_ZERO);
	assert_int_equal(resolve(UBLK_COPY_AUTO, UBLK_F_SUPPORT_ZERO_COPY, 1, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_ZERO);
	assert_int_equal(resolve(UBLK_COPY_AUTO, zc, 2, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_ZERO);
	/* A filter sees the data: buffer, and zero is refused. */
	assert_int_equal(resolve(UBLK_COPY_AUTO, zc, 0, false, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
	assert_int_equal(resolve(UBLK_COPY_ZERO, zc, 0, false, &c), -EINVAL);
	assert_int_equal(resolve(UBLK_COPY_ZERO, zc, 2, true, &c), 0);
	assert_int_equal(c, UBLK_COPY_ZERO);
	/* 6.12: no zero copy. */
	assert_int_equal(resolve(UBLK_COPY_ZERO, UBLK_F_USER_COPY, 0, true, &c), -EOPNOTSUPP);
}

/* Filters that never touch the data (count, throttle): zero copy, never mmap. */
static void test_zero_data_blind(void **state)
{
	const uint64_t zc = UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG;
	struct ublk_copy_env env = { .features = zc, .page_cache = true, .in_memory = true };
	enum ublk_copy c;

	assert_int_equal(ublk_copy_resolve(UBLK_COPY_AUTO, &env, &c), 0);
	assert_int_equal(c, UBLK_COPY_ZERO);
	assert_int_equal(ublk_copy_resolve(UBLK_COPY_ZERO, &env, &c), 0);
	assert_int_equal(c, UBLK_COPY_ZERO);
	assert_int_equal(ublk_copy_resolve(UBLK_COPY_MMAP, &env, &c), -EINVAL);
	env.features = UBLK_F_USER_COPY;
	assert_int_equal(ublk_copy_resolve(UBLK_COPY_AUTO, &env, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
}

/*
 * A filter that moves the data with its own I/O (cache): zero copy only
 * where the driver keeps the pages registered for the request's life.
 */
static void test_zero_data_mover(void **state)
{
	const uint64_t zc = UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG;
	struct ublk_copy_env env = { .features = zc, .data_mover = "cache" };
	enum ublk_copy c;
	char why[64];

	assert_int_equal(ublk_copy_resolve(UBLK_COPY_AUTO, &env, &c), 0);
	assert_int_equal(c, UBLK_COPY_ZERO);
	/* 6.15: registered around each backing I/O only */
	env.features = UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY;
	assert_int_equal(ublk_copy_resolve(UBLK_COPY_AUTO, &env, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
	assert_int_equal(ublk_copy_resolve(UBLK_COPY_ZERO, &env, &c), -EINVAL);
	ublk_copy_why(UBLK_COPY_AUTO, UBLK_COPY_BUFFER, &env, 0, why, sizeof(why));
	assert_string_equal(why, "filter cache needs auto buffer registration");
	/* a filter that sees the data wins over a mover below it */
	env.features = zc;
	env.data_filter = "crypt";
	assert_int_equal(ublk_copy_resolve(UBLK_COPY_AUTO, &env, &c), 0);
	assert_int_equal(c, UBLK_COPY_BUFFER);
	ublk_copy_why(UBLK_COPY_AUTO, UBLK_COPY_BUFFER, &env, 0, why, sizeof(why));
	assert_string_equal(why, "filter crypt sees the data");
}

static void test_why(void **state)
{
	struct ublk_copy_env env = { .features = UBLK_F_USER_COPY, .chain_empty = true };
	char why[64];

	ublk_copy_why(UBLK_COPY_AUTO, UBLK_COPY_ZERO, &env, UBLK_F_AUTO_BUF_REG, why, sizeof(why));
	assert_string_equal(why, "auto buffer registration");
	ublk_copy_why(UBLK_COPY_ZERO, UBLK_COPY_ZERO, &env, UBLK_F_SUPPORT_ZERO_COPY, why,
		      sizeof(why));
	assert_string_equal(why, "buffer registered per request");
	ublk_copy_why(UBLK_COPY_AUTO, UBLK_COPY_BUFFER, &env, 0, why, sizeof(why));
	assert_string_equal(why, "driver lacks zero copy");
	ublk_copy_why(UBLK_COPY_BUFFER, UBLK_COPY_BUFFER, &env, 0, why, sizeof(why));
	assert_string_equal(why, "asked for");
	env.chain_empty = false;
	env.data_filter = "crypt";
	ublk_copy_why(UBLK_COPY_AUTO, UBLK_COPY_BUFFER, &env, 0, why, sizeof(why));
	assert_string_equal(why, "filter crypt sees the data");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_names),
		cmocka_unit_test(test_auto),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_zero_data_blind),
		cmocka_unit_test(test_zero_data_mover),
		cmocka_unit_test(test_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
