// SPDX-License-Identifier: GPL-2.0
/*
 * An applied policy generation as the throttle's settings: YAML parsed,
 * checked and compiled into the very entries 'sluice policy apply' pins,
 * then translated by throttle_policy_from_image().
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bpf/sluice.h"
#include "loader/policy.h"
#include "loader/policy_compile.h"
#include "throttle/policy.h"

static const struct policy_opts no_resolve = { .resolve = false };

static const char tiers[] =
	"version: 1\n"
	"policies:\n"
	"  - name: tiers\n"
	"    latency_target: 30ms\n"
	"    throttle: true\n"
	"    throttle_interval: 500ms\n"
	"    classes:\n"
	"      - name: gold\n"
	"        match: {cgroup: gold.slice}\n"
	"        shares: high\n"
	"        reserve: 2000 iops\n"
	"        latency_target: 5ms\n"
	"      - name: silver\n"
	"        match: {cgroup: [silver.slice, silver.slice]}\n"
	"      - name: bronze\n"
	"        match: {cgroup: [bronze.slice, /sys/fs/cgroup/batch.slice]}\n"
	"        shares: low\n"
	"        reserve: 5% peak\n"
	"        limits: {read_iops: 500 iops, write_iops: 20% peak,\n"
	"                 read_bps: 50MiB/s, write_bps: 10% peak}\n"
	"      - name: other\n"
	"        shares: 100\n"
	"  - name: metered\n"
	"    classes:\n"
	"      - name: a\n"
	"        match: {cgroup: a}\n"
	"  - name: peak\n"
	"    throttle: true\n"
	"    throttle_interval: 200ms\n"
	"    classes:\n"
	"      - name: b\n"
	"        match: {cgroup: b}\n"
	/* bound to no disk: polices nothing, so its interval counts for nothing */
	"  - name: unbound\n"
	"    throttle: true\n"
	"    throttle_interval: 50ms\n"
	"    classes:\n"
	"      - name: c\n"
	"        match: {cgroup: c}\n"
	"bindings:\n"
	"  - disk: /dev/loop0\n"
	"    policy: tiers\n"
	"  - disk: /dev/loop1\n"
	"    policy: metered\n"
	"  - disk: /dev/loop2\n"
	"    policy: peak\n";

/* Compile @yaml as applied on disks 7:0, 7:1, ... (bindings in order). */
static void compile(const char *yaml, uint64_t gen, struct policy_image *img)
{
	struct policy_doc *doc = calloc(1, sizeof(*doc));
	struct policy_diags d = { 0 };
	struct policy_set set;
	size_t i;

	assert_non_null(doc);
	assert_int_equal(policy_parse_buf("t.yaml", yaml, strlen(yaml), doc, &d), 0);
	assert_int_equal(policy_check_docs(doc, 1, &no_resolve, &set, &d), 0);
	assert_int_equal(d.n, 0);
	/* What resolving the selectors on a machine would have found. */
	for (i = 0; i < set.nr_bindings; i++) {
		set.bindings[i].resolved = true;
		set.bindings[i].major = 7;
		set.bindings[i].minor = (unsigned int)i;
	}
	assert_int_equal(policy_compile(&set, gen, img), 0);
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_tiers(void **state)
{
	struct throttle_policy *tp = calloc(1, sizeof(*tp));
	const struct throttle_policy_disk *pd;
	const struct throttle_class_cfg *c;
	struct policy_image img;

	assert_non_null(tp);
	compile(tiers, 42, &img);
	assert_int_equal(throttle_policy_from_image(&img, tp), 0);
	assert_int_equal(tp->generation, 42);
	/* loop1's policy does not ask for throttling */
	assert_int_equal(tp->nr_disks, 2);

	pd = &tp->disks[0];
	assert_int_equal(pd->maj, 7);
	assert_int_equal(pd->min, 0);
	assert_string_equal(pd->policy, "tiers");
	assert_int_equal(pd->cfg.mode, THROTTLE_MODE_LATENCY);
	assert_int_equal(pd->cfg.threshold_ns, 30000000);
	assert_int_equal(pd->interval_ns, 500000000);
	/* gold, silver (its duplicate cgroup once), bronze twice; other has no cgroup */
	assert_int_equal(pd->cfg.nr_classes, 4);
	assert_int_equal(pd->unpoliced, 1);

	assert_int_equal(pd->cls[0].class_id, 1);
	assert_string_equal(pd->cls[0].name, "gold");
	assert_string_equal(pd->cls[0].cgroup, "gold.slice");
	c = &pd->cfg.cls[0];
	assert_int_equal(c->shares, 2000);
	assert_int_equal(c->reserve_iops, 2000);
	assert_int_equal(c->latency_target_ns, 5000000);
	assert_int_equal(c->pct_mask, 0);

	assert_int_equal(pd->cls[1].class_id, 2);
	assert_string_equal(pd->cls[1].cgroup, "silver.slice");
	assert_int_equal(pd->cfg.cls[1].shares, 1000);
	assert_int_equal(pd->cfg.cls[1].latency_target_ns, 0);

	/* bronze: one throttle class per cgroup, weight and floor split, the
	 * static limits (as policy apply writes them) in each */
	assert_int_equal(pd->cls[2].class_id, 3);
	assert_int_equal(pd->cls[3].class_id, 3);
	assert_string_equal(pd->cls[2].cgroup, "bronze.slice");
	assert_string_equal(pd->cls[3].cgroup, "/sys/fs/cgroup/batch.slice");
	c = &pd->cfg.cls[3];
	assert_int_equal(c->shares, 250);
	assert_int_equal(c->reserve_iops, 2);	/* 5% of peak over two cgroups */
	assert_int_equal(c->iops[THROTTLE_READ], 500);
	assert_int_equal(c->iops[THROTTLE_WRITE], 20);
	assert_int_equal(c->bps[THROTTLE_READ], 50ull << 20);
	assert_int_equal(c->bps[THROTTLE_WRITE], 10);
	assert_int_equal(c->pct_mask, SLUICE_LIM_PCT_WIOPS | SLUICE_LIM_PCT_WBPS |
				      SLUICE_LIM_PCT_RESERVE);

	/* no latency_target: SIOC's default, 90% of peak */
	pd = &tp->disks[1];
	assert_int_equal(pd->min, 2);
	assert_int_equal(pd->cfg.mode, THROTTLE_MODE_PEAK);
	assert_int_equal(pd->cfg.peak_pct, THROTTLE_POLICY_PEAK_PCT);
	assert_int_equal(pd->cfg.nr_classes, 1);
	assert_int_equal(pd->cls[0].class_id, 6);	/* tiers 1-4, metered 5 */
	assert_int_equal(pd->interval_ns, 200000000);
	/* the smallest a policed disk's policy asks for; 'unbound' polices nothing */
	assert_int_equal(tp->interval_ns, 200000000);
	policy_image_free(&img);
	free(tp);
}

/* The translated settings are accepted by the control law as they are. */
static void test_cfg_is_valid(void **state)
{
	struct throttle_policy *tp = calloc(1, sizeof(*tp));
	struct throttle_disk *d = calloc(1, sizeof(*d));
	struct policy_image img;
	unsigned int i;

	assert_non_null(tp);
	assert_non_null(d);
	compile(tiers, 1, &img);
	assert_int_equal(throttle_policy_from_image(&img, tp), 0);
	for (i = 0; i < tp->nr_disks; i++)
		assert_int_equal(throttle_disk_init(d, &tp->disks[i].cfg), 0);
	/* static limits hold from the start; a percentage waits for a peak */
	assert_int_equal(throttle_disk_init(d, &tp->disks[0].cfg), 0);
	assert_int_equal(d->allow[2].iops[THROTTLE_READ], 500);
	assert_int_equal(d->allow[2].iops[THROTTLE_WRITE], 0);
	policy_image_free(&img);
	free(d);
	free(tp);
}

static void test_more_cgroups_than_classes(void **state)
{
	struct throttle_policy *tp = calloc(1, sizeof(*tp));
	char yaml[4096];
	struct policy_image img;
	size_t off;
	int i;

	assert_non_null(tp);
	off = (size_t)snprintf(yaml, sizeof(yaml), "version: 1\npolicies:\n  - name: many\n"
			       "    throttle: true\n    classes:\n      - name: x\n"
			       "        match:\n          cgroup: [");
	for (i = 0; i <= THROTTLE_MAX_CLASSES; i++)
		off += (size_t)snprintf(yaml + off, sizeof(yaml) - off, "%sc%d", i ? ", " : "", i);
	snprintf(yaml + off, sizeof(yaml) - off, "]\nbindings:\n  - disk: /dev/loop0\n"
		 "    policy: many\n");
	compile(yaml, 1, &img);
	assert_int_equal(throttle_policy_from_image(&img, tp), -E2BIG);
	policy_image_free(&img);
	free(tp);
}

static void test_no_interval_asked(void **state)
{
	struct throttle_policy *tp = calloc(1, sizeof(*tp));
	struct policy_image img;

	assert_non_null(tp);
	compile("policies:\n  - name: p\n    throttle: true\n    classes:\n"
		"      - name: a\n        match: {cgroup: a}\n"
		"bindings:\n  - disk: /dev/loop0\n    policy: p\n", 1, &img);
	assert_int_equal(throttle_policy_from_image(&img, tp), 0);
	assert_int_equal(tp->nr_disks, 1);
	assert_int_equal(tp->disks[0].interval_ns, 0);
	assert_int_equal(tp->interval_ns, 0);
	policy_image_free(&img);
	free(tp);
}

/* --interval wins; else the smallest a disk asks for; else the default. */
static void test_interval_pick(void **state)
{
	const uint64_t asked[] = { 0, 500000000, 200000000, 0, 1500000000 };
	const uint64_t none[] = { 0, 0 };

	assert_int_equal(throttle_interval_pick(0, asked, 5), 200000000);
	assert_int_equal(throttle_interval_pick(0, asked, 2), 500000000);
	assert_int_equal(throttle_interval_pick(100000000, asked, 5), 100000000);
	assert_int_equal(throttle_interval_pick(3000000000ULL, asked, 5), 3000000000ULL);
	assert_int_equal(throttle_interval_pick(0, none, 2), THROTTLE_DEF_INTERVAL_NS);
	assert_int_equal(throttle_interval_pick(0, NULL, 0), THROTTLE_DEF_INTERVAL_NS);
	assert_int_equal(throttle_interval_pick(20000000, NULL, 0), 20000000);
	assert_int_equal(THROTTLE_DEF_INTERVAL_NS, 1000000000);
}

static void test_no_meta(void **state)
{
	struct throttle_policy *tp = calloc(1, sizeof(*tp));
	struct policy_image img = { 0 };

	assert_non_null(tp);
	assert_int_equal(throttle_policy_from_image(&img, tp), -ENOENT);
	free(tp);
}

/* A disk entry naming a policy the generation does not hold. */
static void test_dangling_policy(void **state)
{
	struct throttle_policy *tp = calloc(1, sizeof(*tp));
	struct policy_image img = { 0 };
	union sluice_policy_val *v;
	int err = 0;

	assert_non_null(tp);
	assert_non_null(policy_image_add(&img, SLUICE_PK_META, 0, &err));
	v = policy_image_add(&img, SLUICE_PK_DISK, SLUICE_MKDEV(8, 0), &err);
	assert_non_null(v);
	v->disk.policy_id = 3;
	v->disk.flags = SLUICE_DISK_F_THROTTLE;
	assert_int_equal(throttle_policy_from_image(&img, tp), -EINVAL);
	policy_image_free(&img);
	free(tp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiers),
		cmocka_unit_test(test_cfg_is_valid),
		cmocka_unit_test(test_more_cgroups_than_classes),
		cmocka_unit_test(test_no_interval_asked),
		cmocka_unit_test(test_interval_pick),
		cmocka_unit_test(test_no_meta),
		cmocka_unit_test(test_dangling_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
