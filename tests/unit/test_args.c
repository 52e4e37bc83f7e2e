// SPDX-License-Identifier: GPL-2.0
/*
 * The argument layer (cmd/args.h): one grammar for durations, counts, sizes
 * and choices on every subcommand, and one error line naming the option,
 * the value and what is expected.
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

#include "cmd/args.h"
#include "lib/macro.h"

#define MS	1000000ULL
#define S	1000000000ULL

/* What the last call said on stderr. */
static char said[512];
static FILE *capture;
static int saved_stderr = -1;

static void start(void)
{
	capture = tmpfile();
	assert_non_null(capture);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(capture), STDERR_FILENO);
}

static const char *stop(void)
{
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(capture);
	n = fread(said, 1, sizeof(said) - 1, capture);
	said[n] = '\0';
	fclose(capture);
	return said;
}

static uint64_t duration(const char *arg)
{
	uint64_t ns = 0;

	assert_int_equal(parse_duration_argument("--interval", arg, 0, 0, &ns), 0);
	return ns;
}

static void test_duration_grammar(void **state)
{
	/* The policy units, and a bare number is seconds: top's and throttle's
	 * --interval mean the same now. */
	assert_int_equal(duration("500ms"), 500 * MS);
	assert_int_equal(duration("2s"), 2 * S);
	assert_int_equal(duration("1m"), 60 * S);
	assert_int_equal(duration("1.5s"), 1500 * MS);
	assert_int_equal(duration("250us"), 250000);
	assert_int_equal(duration("1"), S);
	assert_int_equal(duration("0.5"), 500 * MS);
	assert_int_equal(duration("0.05"), 50 * MS);
}

static void test_duration_errors(void **state)
{
	uint64_t ns = 7;

	start();
	assert_int_equal(parse_duration_argument("--interval", "5x", 0, 0, &ns), -EINVAL);
	assert_string_equal(stop(), "sluice: error: --interval '5x': expected a duration "
			    "(500ms, 2s, 1m; a bare number is seconds)\n");
	assert_int_equal(ns, 7);

	start();
	assert_int_equal(parse_duration_argument("--interval", "1ms", 10 * MS, 0, &ns), -ERANGE);
	assert_string_equal(stop(), "sluice: error: --interval '1ms': expected a duration "
			    "of at least 10ms (500ms, 2s, 1m; a bare number is seconds)\n");

	start();
	assert_int_equal(parse_duration_argument("--timeout", "2h", S, 3600 * S, &ns), -ERANGE);
	assert_string_equal(stop(), "sluice: error: --timeout '2h': expected a duration "
			    "from 1s to 1h (500ms, 2s, 1m; a bare number is seconds)\n");

	start();
	assert_int_equal(parse_duration_argument("--interval", "-1", 0, 0, &ns), -EINVAL);
	assert_int_equal(parse_duration_argument("--interval", "", 0, 0, &ns), -EINVAL);
	assert_int_equal(parse_duration_argument("--interval", "1.2.3", 0, 0, &ns), -EINVAL);
	assert_int_equal(parse_duration_argument("--interval", "99999999999h", 0, 0, &ns),
			 -ERANGE);
	stop();
	assert_int_equal(ns, 7);
}

static void test_counts(void **state)
{
	unsigned int u = 0;
	uint64_t v = 0;

	assert_int_equal(parse_count_argument("--count", "10", 1, UINT64_MAX, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_uint_argument("--queues", "4", 1, 16, &u), 0);
	assert_int_equal(u, 4);

	start();
	assert_int_equal(parse_count_argument("--count", "0", 1, UINT64_MAX, &v), -ERANGE);
	assert_string_equal(stop(), "sluice: error: --count '0': expected a whole number "
			    "of at least 1\n");
	start();
	assert_int_equal(parse_uint_argument("--queues", "17", 1, 16, &u), -ERANGE);
	assert_string_equal(stop(), "sluice: error: --queues '17': expected a whole number "
			    "from 1 to 16\n");
	/* atoi() took all of these: "3x" as 3, "-2" as -2, " 5" as 5. */
	start();
	assert_int_equal(parse_count_argument("--count", "3x", 1, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_count_argument("--count", "-2", 1, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_count_argument("--count", " 5", 1, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_count_argument("--count", "1.0", 1, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_count_argument("--count", "", 1, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_uint_argument("--queues", "4294967296", 1, UINT32_MAX, &u),
			 -ERANGE);
	stop();
	assert_int_equal(u, 4);
	assert_int_equal(v, 10);
}

static uint64_t size(const char *arg)
{
	uint64_t v = 0;

	assert_int_equal(parse_size_argument("--size", arg, &v), 0);
	return v;
}

static void test_sizes(void **state)
{
	uint64_t v = 3;

	/* serve's short form (tests and docs use it) and the policy units */
	assert_int_equal(size("1000"), 1000);
	assert_int_equal(size("6K"), 6 << 10);
	assert_int_equal(size("64M"), 64 << 20);
	assert_int_equal(size("1.5G"), 3ULL << 29);
	assert_int_equal(size("2t"), 2ULL << 40);
	assert_int_equal(size("1P"), 1ULL << 50);
	assert_int_equal(size("8KiB"), 8 << 10);
	assert_int_equal(size("8kib"), 8 << 10);
	assert_int_equal(size("1MB"), 1000000);
	assert_int_equal(size("4 KiB"), 4096);

	start();
	assert_int_equal(parse_size_argument("--size", "12Q", &v), -EINVAL);
	assert_string_equal(stop(), "sluice: error: --size '12Q': expected a size (4096, 64M, "
			    "1.5G, 8KiB, 1MB; K, M, G, T are powers of 1024)\n");
	start();
	assert_int_equal(parse_size_argument("--size", "0", &v), -ERANGE);
	assert_int_equal(parse_size_argument("--size", "0.3K", &v), -EINVAL);
	assert_int_equal(parse_size_argument("--size", "12MX", &v), -EINVAL);
	assert_int_equal(parse_size_argument("--size", "-1", &v), -EINVAL);
	assert_int_equal(parse_size_argument("--size", "M", &v), -EINVAL);
	assert_int_equal(parse_size_argument("--size", "99999999P", &v), -ERANGE);
	stop();
	assert_int_equal(v, 3);
}

static void test_enums(void **state)
{
	static const char *const kinds[] = { "total", "device" };
	static const char *const srcs[] = { "auto", "meter", "sysfs" };
	unsigned int i = 9;

	assert_int_equal(parse_enum_argument("--latency", "device", kinds, ARRAY_SIZE(kinds),
					     &i), 0);
	assert_int_equal(i, 1);
	start();
	assert_int_equal(parse_enum_argument("--latency", "queue", kinds, ARRAY_SIZE(kinds), &i),
			 -EINVAL);
	assert_string_equal(stop(), "sluice: error: --latency 'queue': expected total or "
			    "device\n");
	start();
	assert_int_equal(parse_enum_argument("--source", "Meter", srcs, ARRAY_SIZE(srcs), &i),
			 -EINVAL);
	assert_string_equal(stop(), "sluice: error: --source 'Meter': expected auto, meter or "
			    "sysfs\n");
	assert_int_equal(i, 1);
}

static void test_exit_status(void **state)
{
	assert_int_equal(args_exit_status(0), 0);
	assert_int_equal(args_exit_status(-EINVAL), 2);
	start();
	assert_int_equal(args_unexpected("top", "foo"), -EINVAL);
	assert_string_equal(stop(), "sluice: error: top takes no arguments ('foo'); see 'sluice "
			    "top --help'\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_grammar),
		cmocka_unit_test(test_duration_errors),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_exit_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
