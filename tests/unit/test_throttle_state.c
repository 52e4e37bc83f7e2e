// SPDX-License-Identifier: GPL-2.0
/* The throttle state reader on good, stale, malformed and truncated files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/macro.h"
#include "throttle/state_read.h"

/* As cmd_throttle.c writes it, with one calm and one congested disk. */
static const char good_fmt[] =
	"{\"version\":1,\"time\":%lld,\"pid\":%d,\"running\":%s,\"interval_s\":1,"
	"\"source\":\"meter\",\"latency\":\"total\",\"disks\":["
	"{\"disk\":\"loop7\",\"dev\":\"7:7\",\"state\":\"calm\",\"latency_ns\":1200000,"
	"\"threshold_ns\":30000000,\"threshold_mode\":\"latency\",\"peak_iops\":900,"
	"\"peak_bps\":0,\"iops\":10,\"bps\":0,\"window_iops\":0,\"elasticity\":0.5,"
	"\"changed\":false,\"reason\":\"\",\"classes\":[]},"
	"{\"disk\":\"nullb0\",\"dev\":\"252:0\",\"state\":\"congested\","
	"\"latency_ns\":31200000,\"threshold_ns\":30000000,\"threshold_mode\":\"peak\","
	"\"peak_pct\":80,\"peak_iops\":11800,\"peak_bps\":48332800,\"iops\":10950,"
	"\"bps\":1,\"window_iops\":11000,\"elasticity\":3.1,\"changed\":true,"
	"\"reason\":\"latency above target: tightening\",\"classes\":["
	"{\"name\":\"a\",\"class_id\":1,\"cgroup\":\"/sys/fs/cgroup/a\",\"shares\":200,"
	"\"reserve_iops\":0,\"iops\":7290,\"dynamic\":true,\"allow_iops\":7330,"
	"\"riops\":7330,\"wiops\":10,\"rbps\":45000000,\"wbps\":61400},"
	"{\"name\":\"b\",\"class_id\":2,\"cgroup\":\"/sys/fs/cgroup/b\",\"shares\":100,"
	"\"reserve_iops\":0,\"iops\":5,\"dynamic\":false,\"allow_iops\":0,"
	"\"riops\":0,\"wiops\":0,\"rbps\":0,\"wbps\":0}]}]}\n";

static char *good(long long t, int pid, const char *running)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), good_fmt, t, pid, running);
	return buf;
}

static void test_parse_good(void **unused)
{
	const char *s = good(1764083000, 4242, "true");
	const struct tstate_disk *d;
	struct tstate st;

	assert_int_equal(tstate_parse(s, strlen(s), &st), 0);
	assert_int_equal(st.time, 1764083000);
	assert_int_equal(st.pid, 4242);
	assert_true(st.running);
	assert_true(st.interval_s == 1.0);
	assert_int_equal(st.nr_disks, 2);
	assert_string_equal(st.disks[0].name, "loop7");
	assert_false(st.disks[0].congested);
	assert_int_equal(st.disks[0].nr_cls, 0);
	d = tstate_find(&st, 252, 0);
	assert_non_null(d);
	assert_string_equal(d->name, "nullb0");
	assert_true(d->congested);
	assert_int_equal(d->latency_ns, 31200000);
	assert_int_equal(d->threshold_ns, 30000000);
	assert_string_equal(d->threshold_mode, "peak");
	assert_int_equal(d->peak_iops, 11800);
	assert_int_equal(d->nr_cls, 2);
	assert_string_equal(d->cls[0].name, "a");
	assert_int_equal(d->cls[0].class_id, 1);
	assert_string_equal(d->cls[0].cgroup, "/sys/fs/cgroup/a");
	assert_int_equal(d->cls[0].shares, 200);
	assert_true(d->cls[0].dynamic);
	assert_int_equal(d->cls[0].allow_iops, 7330);
	assert_int_equal(d->cls[0].riops, 7330);
	assert_int_equal(d->cls[0].wiops, 10);
	assert_int_equal(d->cls[0].rbps, 45000000);
	assert_int_equal(d->cls[0].wbps, 61400);
	assert_false(d->cls[1].dynamic);
	assert_null(tstate_find(&st, 8, 0));
	tstate_free(&st);
	tstate_free(&st);
	tstate_free(NULL);
}

static void test_every_truncation_is_einval(void **unused)
{
	const char *s = good(1764083000, 4242, "true");
	size_t full = strlen(s) - 1, n;	/* without the newline */
	struct tstate st;

	for (n = 0; n < full; n++) {
		char *cut = malloc(n + 1);

		memcpy(cut, s, n);
		cut[n] = '\0';
		assert_int_equal(tstate_parse(cut, n, &st), -EINVAL);
		assert_null(st.disks);
		free(cut);
	}
}

static void test_malformed(void **unused)
{
	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"{}",
		"not json at all",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":{}}",
		"{\"time\":\"1\",\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":[]}",
		"{\"time\":1,\"pid\":0,\"running\":true,\"interval_s\":1,\"disks\":[]}",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":0,\"disks\":[]}",
		"{\"time\":1,\"pid\":1,\"running\":1,\"interval_s\":1,\"disks\":[]}",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":[]} x",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":[7]}",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":[{"
		"\"disk\":\"a\",\"dev\":\"7\",\"state\":\"calm\",\"latency_ns\":1,"
		"\"threshold_ns\":1,\"threshold_mode\":\"latency\",\"peak_iops\":1,"
		"\"classes\":[]}]}",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":[{"
		"\"disk\":\"a\",\"dev\":\"7:1\",\"state\":\"hot\",\"latency_ns\":1,"
		"\"threshold_ns\":1,\"threshold_mode\":\"latency\",\"peak_iops\":1,"
		"\"classes\":[]}]}",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":[{"
		"\"disk\":\"a\",\"dev\":\"7:1\",\"state\":\"calm\",\"latency_ns\":-1,"
		"\"threshold_ns\":1,\"threshold_mode\":\"latency\",\"peak_iops\":1,"
		"\"classes\":[]}]}",
		"{\"time\":1,\"pid\":1,\"running\":true,\"interval_s\":1,\"disks\":[{"
		"\"disk\":\"a\",\"dev\":\"7:1\",\"state\":\"calm\",\"latency_ns\":1,"
		"\"threshold_ns\":1,\"threshold_mode\":\"latency\",\"peak_iops\":1,"
		"\"classes\":[{\"name\":\"x\"}]}]}",
	};
	struct tstate st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (tstate_parse(bad[i], strlen(bad[i]), &st) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_null(st.disks);
	}
}

static void test_fresh(void **unused)
{
	const char *s;
	struct tstate st;
	pid_t dead;

	s = good(1000, getpid(), "true");
	assert_int_equal(tstate_parse(s, strlen(s), &st), 0);
	assert_true(tstate_fresh(&st, 1000));
	assert_true(tstate_fresh(&st, 1004));
	assert_false(tstate_fresh(&st, 1005));	/* 3 intervals + rounding */
	tstate_free(&st);

	s = good(1000, getpid(), "false");
	assert_int_equal(tstate_parse(s, strlen(s), &st), 0);
	assert_false(tstate_fresh(&st, 1000));
	tstate_free(&st);

	/* a child that has exited and been reaped: its pid is free */
	dead = fork();
	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	s = good(1000, dead, "true");
	assert_int_equal(tstate_parse(s, strlen(s), &st), 0);
	assert_false(tstate_fresh(&st, 1000));
	tstate_free(&st);
}

static void test_load(void **unused)
{
	char path[] = "/tmp/test_throttle_state.XXXXXX";
	const char *s = good(time(NULL), getpid(), "true");
	struct tstate st;
	FILE *f;
	int fd;

	assert_int_equal(tstate_load("/nonexistent/throttle.json", &st), -ENOENT);
	assert_int_equal(tstate_load_fresh("/nonexistent/throttle.json", &st), -ENOENT);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(s, f);
	fclose(f);
	assert_int_equal(tstate_load_fresh(path, &st), 0);
	assert_int_equal(st.nr_disks, 2);
	tstate_free(&st);

	f = fopen(path, "w");
	fputs(good(time(NULL) - 3600, getpid(), "true"), f);
	fclose(f);
	assert_int_equal(tstate_load(path, &st), 0);
	tstate_free(&st);
	assert_int_equal(tstate_load_fresh(path, &st), -ESTALE);
	assert_null(st.disks);

	f = fopen(path, "w");
	fwrite(s, 1, strlen(s) / 2, f);
	fclose(f);
	assert_int_equal(tstate_load(path, &st), -EINVAL);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_every_truncation_is_einval),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
