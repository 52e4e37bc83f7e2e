// SPDX-License-Identifier: GPL-2.0
/*
 * The server's class throttle: token buckets on a deterministic clock, and
 * the limits it takes from the policy image and the throttle's state file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "filters/tbucket.h"
#include "filters/limiter.h"
#include "loader/policy_compile.h"
#include "throttle/state_read.h"

#define MS	1000000ull
#define SEC	1000000000ull

/* Release times of n requests of @units that all arrive at @now. */
static uint64_t last_of_burst(struct tbucket *b, uint64_t units, int n, uint64_t now)
{
	struct tbucket *bs[1] = { b };
	uint64_t u[1] = { units }, r = 0;
	int i;

	for (i = 0; i < n; i++)
		r = tbucket_reserve(bs, u, 1, now);
	return r;
}

static void test_unlimited_never_waits(void **unused)
{
	struct tbucket b = { 0 };

	assert_int_equal(last_of_burst(&b, 1, 100000, 5 * SEC), 5 * SEC);
}

/*
 * 100 IOPS: of requests queued at once, the first 6 go (50 ms of credit is
 * 5 requests, plus the one that empties it), then one per 10 ms.
 */
static void test_iops_spacing_and_burst(void **unused)
{
	struct tbucket b = { 0 };
	struct tbucket *bs[1] = { &b };
	uint64_t one[1] = { 1 }, now = 10 * SEC, r, prev;
	int i;

	tbucket_set_rate(&b, 100, now);
	for (i = 0; i < 6; i++)
		assert_int_equal(tbucket_reserve(bs, one, 1, now), now);
	prev = now;
	for (i = 0; i < 100; i++) {
		r = tbucket_reserve(bs, one, 1, now);
		assert_true(r > now);
		if (i)
			assert_int_equal(r - prev, 10 * MS);
		prev = r;
	}
	assert_int_equal(prev, now + 1000 * MS);
}

/* Saturating arrivals: releases in [0, T] never exceed rate x T + burst. */
static void test_rate_holds_over_any_window(void **unused)
{
	struct tbucket b = { 0 };
	struct tbucket *bs[1] = { &b };
	uint64_t one[1] = { 1 }, now = SEC, r, slots[32];
	unsigned int released = 0;
	int i, k;

	tbucket_set_rate(&b, 250, now);
	/* a closed loop with 32 in flight: each completion brings the next arrival */
	for (i = 0; i < 32; i++)
		slots[i] = tbucket_reserve(bs, one, 1, now);
	for (k = 0; k < 5000; k++) {
		int m = 0;

		for (i = 1; i < 32; i++)
			if (slots[i] < slots[m])
				m = i;
		r = slots[m];
		if (r <= now + 10 * SEC)
			released++;
		slots[m] = tbucket_reserve(bs, one, 1, r + MS);
	}
	/* 10 s at 250/s plus the 50 ms burst (12.5) and rounding */
	assert_true(released >= 2500 - 1);
	assert_true(released <= 2500 + 13 + 32);
}

/* A bytes bucket and an IOPS bucket together: the stricter decides. */
static void test_bytes_and_iops(void **unused)
{
	struct tbucket iops = { 0 }, bps = { 0 };
	struct tbucket *bs[2] = { &iops, &bps };
	uint64_t u[2] = { 1, 1 << 20 }, now = 100 * SEC, r = 0;
	int i;

	tbucket_set_rate(&iops, 1000, now);
	tbucket_set_rate(&bps, 10 << 20, now);	/* 10 MiB/s: 10 x 1 MiB per second */
	for (i = 0; i < 21; i++)
		r = tbucket_reserve(bs, u, 2, now);
	/* the first goes on the burst, the second 50 ms later, then one per 100 ms */
	assert_int_equal(r, now + 50 * MS + 19 * 100 * MS);
	/* small I/O is then held by the byte debt too, not just by IOPS */
	u[1] = 4096;
	assert_true(tbucket_reserve(bs, u, 2, now) >= r);
}

/* A backlog owed at one rate is carried over in units at the new rate. */
static void test_rate_change_keeps_debt(void **unused)
{
	struct tbucket b = { 0 };
	uint64_t now = SEC;

	tbucket_set_rate(&b, 100, now);
	last_of_burst(&b, 1, 105, now);		/* 1 s of debt at 100/s */
	assert_int_equal(b.tat, now + 1000 * MS);
	tbucket_set_rate(&b, 200, now);		/* the same 100 requests take 0.5 s */
	assert_int_equal(b.tat, now + 500 * MS);
	tbucket_set_rate(&b, 0, now);		/* unlimited: nothing owed */
	assert_int_equal(last_of_burst(&b, 1, 10, now), now);
	tbucket_set_rate(&b, 100, now);		/* limited again: starts with a burst */
	assert_int_equal(last_of_burst(&b, 1, 5, now), now);
}

static void test_clock_near_zero(void **unused)
{
	struct tbucket b = { 0 };

	tbucket_set_rate(&b, 10, 0);
	assert_int_equal(last_of_burst(&b, 1, 1, 0), 0);
	assert_int_equal(last_of_burst(&b, 1, 1, 0), 100 * MS);
}

static void test_merge(void **unused)
{
	assert_int_equal(class_limit_merge(0, 0), 0);
	assert_int_equal(class_limit_merge(0, 7), 7);
	assert_int_equal(class_limit_merge(9, 0), 9);
	assert_int_equal(class_limit_merge(9, 7), 7);
	assert_int_equal(class_limit_merge(3, 7), 3);
}

static const char state_fmt[] =
	"{\"version\":1,\"time\":%lld,\"pid\":%d,\"running\":%s,\"interval_s\":1,"
	"\"source\":\"meter\",\"latency\":\"total\",\"disks\":["
	"{\"disk\":\"ublkb0\",\"dev\":\"259:3\",\"state\":\"congested\","
	"\"latency_ns\":31200000,\"threshold_ns\":30000000,\"threshold_mode\":\"latency\","
	"\"peak_iops\":11800,\"peak_bps\":0,\"iops\":10950,"
	"\"bps\":1,\"window_iops\":11000,\"elasticity\":3.1,\"changed\":true,"
	"\"reason\":\"\",\"classes\":["
	"{\"name\":\"a\",\"class_id\":1,\"cgroup\":\"/sys/fs/cgroup/a\",\"shares\":200,"
	"\"reserve_iops\":0,\"iops\":7290,\"dynamic\":true,\"allow_iops\":7330,"
	"\"riops\":7330,\"wiops\":10,\"rbps\":45000000,\"wbps\":61400},"
	"{\"name\":\"b\",\"class_id\":2,\"cgroup\":\"/sys/fs/cgroup/b\",\"shares\":100,"
	"\"reserve_iops\":0,\"iops\":5,\"dynamic\":false,\"allow_iops\":0,"
	"\"riops\":99,\"wiops\":0,\"rbps\":0,\"wbps\":0}]}]}\n";

static int parse_state(long long t, int pid, const char *running, struct tstate *st)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), state_fmt, t, pid, running);
	return tstate_parse(buf, strlen(buf), st);
}

static void test_dynamic_from_state(void **unused)
{
	struct class_limits *dyn = calloc(SLUICE_MAX_CLASSES, sizeof(*dyn));
	long long now = time(NULL);
	struct tstate st;

	assert_non_null(dyn);
	assert_int_equal(parse_state(now, getpid(), "true", &st), 0);
	assert_true(class_limits_dynamic(&st, 259, 3, now, dyn));
	assert_int_equal(dyn[1].v[LIMIT_RIOPS], 7330);
	assert_int_equal(dyn[1].v[LIMIT_WIOPS], 10);
	assert_int_equal(dyn[1].v[LIMIT_RBPS], 45000000);
	assert_int_equal(dyn[1].v[LIMIT_WBPS], 61400);
	/* dynamic: false still holds what the throttle wants in force (a
	 * limit in percent of peak, or one given on its command line) */
	assert_int_equal(dyn[2].v[LIMIT_RIOPS], 99);
	assert_int_equal(dyn[2].v[LIMIT_WIOPS], 0);
	/* another disk's limits are not ours */
	assert_false(class_limits_dynamic(&st, 259, 4, now, dyn));
	assert_int_equal(dyn[1].v[LIMIT_RIOPS], 0);
	/* stale (older than 3 intervals): fail open */
	dyn[1].v[LIMIT_RIOPS] = 5;
	assert_false(class_limits_dynamic(&st, 259, 3, now + 10, dyn));
	assert_int_equal(dyn[1].v[LIMIT_RIOPS], 0);
	tstate_free(&st);

	/* a clean exit (running: false) drops them at once */
	assert_int_equal(parse_state(now, getpid(), "false", &st), 0);
	assert_false(class_limits_dynamic(&st, 259, 3, now, dyn));
	tstate_free(&st);
	/* and so does a dead throttle's pid */
	assert_int_equal(parse_state(now, 0x7ffffff0, "true", &st), 0);
	assert_false(class_limits_dynamic(&st, 259, 3, now, dyn));
	tstate_free(&st);
	assert_false(class_limits_dynamic(NULL, 259, 3, now, dyn));
	free(dyn);
}

/* One class of two cgroups, one cgroup io.max holds, one more class. */
static const char classes_fmt[] =
	"{\"version\":1,\"time\":%lld,\"pid\":%d,\"running\":true,\"interval_s\":1,"
	"\"disks\":[{\"disk\":\"ublkb0\",\"dev\":\"259:3\",\"state\":\"congested\","
	"\"enforced_by\":\"server\",\"latency_ns\":1,\"threshold_ns\":1,"
	"\"threshold_mode\":\"latency\",\"peak_iops\":1,\"classes\":["
	"%s,%s,%s,%s]}]}\n";
static const char cls_fmt[] =
	"{\"name\":\"%s\",\"class_id\":%u,\"enforced_by\":\"%s\",\"cgroup\":\"/c\","
	"\"shares\":1,\"dynamic\":true,\"allow_iops\":1,\"riops\":%u,\"wiops\":%u,"
	"\"rbps\":0,\"wbps\":0}";

static void test_dynamic_classes_add_up(void **unused)
{
	struct class_limits *dyn = calloc(SLUICE_MAX_CLASSES, sizeof(*dyn));
	char c[4][256], buf[2048];
	long long now = time(NULL);
	struct tstate st;

	assert_non_null(dyn);
	snprintf(c[0], sizeof(c[0]), cls_fmt, "a1", 1, "server", 300, 0);
	snprintf(c[1], sizeof(c[1]), cls_fmt, "a2", 1, "server", 200, 50);
	/* a cgroup of no policy class: its ordinal is some class's id */
	snprintf(c[2], sizeof(c[2]), cls_fmt, "x", 2, "kernel", 7, 7);
	snprintf(c[3], sizeof(c[3]), cls_fmt, "b", 3, "server", 0, 40);
	snprintf(buf, sizeof(buf), classes_fmt, now, getpid(), c[0], c[1], c[2], c[3]);
	assert_int_equal(tstate_parse(buf, strlen(buf), &st), 0);
	assert_true(st.disks[0].cls[0].server);
	assert_false(st.disks[0].cls[2].server);
	assert_true(class_limits_dynamic(&st, 259, 3, now, dyn));
	/* a class is the sum of its cgroups; unlimited when one of them is */
	assert_int_equal(dyn[1].v[LIMIT_RIOPS], 500);
	assert_int_equal(dyn[1].v[LIMIT_WIOPS], 0);
	/* io.max holds the cgroup the server cannot tell apart: not class 2's */
	assert_int_equal(dyn[2].v[LIMIT_RIOPS], 0);
	assert_int_equal(dyn[2].v[LIMIT_WIOPS], 0);
	assert_int_equal(dyn[3].v[LIMIT_RIOPS], 0);
	assert_int_equal(dyn[3].v[LIMIT_WIOPS], 40);
	tstate_free(&st);
	free(dyn);
}

static void put(struct policy_image *img, unsigned int kind, unsigned long long id,
		const union sluice_policy_val *v)
{
	img->ents = realloc(img->ents, (img->nr_ents + 1) * sizeof(*img->ents));
	assert_non_null(img->ents);
	memset(&img->ents[img->nr_ents], 0, sizeof(img->ents[0]));
	img->ents[img->nr_ents].key.kind = kind;
	img->ents[img->nr_ents].key.id = id;
	img->ents[img->nr_ents].val = *v;
	img->nr_ents++;
}

/* Two policies; "db" owns classes 3 and 4, one with a % of peak limit. */
static void test_static_from_image(void **unused)
{
	struct class_limits *st = calloc(SLUICE_MAX_CLASSES, sizeof(*st));
	char (*names)[SLUICE_CLASS_NAME_LEN] = calloc(SLUICE_MAX_CLASSES, sizeof(*names));
	struct policy_image img = { 0 };
	union sluice_policy_val v;

	assert_non_null(st);
	assert_non_null(names);
	memset(&v, 0, sizeof(v));
	snprintf(v.policy.name, sizeof(v.policy.name), "web");
	v.policy.first_class = 1;
	v.policy.nr_classes = 2;
	put(&img, SLUICE_PK_POLICY, 1, &v);
	memset(&v, 0, sizeof(v));
	snprintf(v.policy.name, sizeof(v.policy.name), "db");
	v.policy.first_class = 3;
	v.policy.nr_classes = 2;
	put(&img, SLUICE_PK_POLICY, 2, &v);
	memset(&v, 0, sizeof(v));
	v.limits.riops = 111;
	put(&img, SLUICE_PK_CLASS, 1, &v);
	memset(&v, 0, sizeof(v));
	snprintf(v.limits.name, sizeof(v.limits.name), "lim");
	v.limits.riops = 200;
	v.limits.wbps = 1 << 20;
	put(&img, SLUICE_PK_CLASS, 3, &v);
	memset(&v, 0, sizeof(v));
	snprintf(v.limits.name, sizeof(v.limits.name), "peaky");
	v.limits.riops = 50;		/* 50% of peak: the throttle's to compute */
	v.limits.wiops = 300;
	v.limits.pct_mask = SLUICE_LIM_PCT_RIOPS;
	put(&img, SLUICE_PK_CLASS, 4, &v);

	assert_int_equal(class_limits_static(&img, "db", st, names), 0);
	assert_int_equal(st[3].v[LIMIT_RIOPS], 200);
	assert_int_equal(st[3].v[LIMIT_WBPS], 1 << 20);
	assert_int_equal(st[3].v[LIMIT_WIOPS], 0);
	assert_int_equal(st[4].v[LIMIT_RIOPS], 0);
	assert_int_equal(st[4].v[LIMIT_WIOPS], 300);
	/* another policy's class is not ours */
	assert_int_equal(st[1].v[LIMIT_RIOPS], 0);
	assert_string_equal(names[3], "lim");
	assert_string_equal(names[4], "peaky");
	assert_int_equal(class_limits_static(&img, "nope", st, NULL), -ENOENT);
	free(img.ents);
	free(st);
	free(names);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited_never_waits),
		cmocka_unit_test(test_iops_spacing_and_burst),
		cmocka_unit_test(test_rate_holds_over_any_window),
		cmocka_unit_test(test_bytes_and_iops),
		cmocka_unit_test(test_rate_change_keeps_debt),
		cmocka_unit_test(test_clock_near_zero),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_dynamic_from_state),
		cmocka_unit_test(test_dynamic_classes_add_up),
		cmocka_unit_test(test_static_from_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
