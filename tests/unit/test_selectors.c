// SPDX-License-Identifier: GPL-2.0
/*
 * Disk and cgroup selectors: every written form is understood, and the
 * resolvers give the documented error for what cannot match (these only
 * need /dev, /sys and /proc, present on any Linux machine).
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

#include "loader/policy.h"
#include "loader/policy_compile.h"
#include "loader/policy_resolve.h"

static void test_selector_forms(void **state)
{
	static const char yaml[] =
		"policies: [{name: p}]\n"
		"bindings:\n"
		"  - {disk: /dev/sda, policy: p}\n"
		"  - {disk: {path: /dev/vdb}, policy: p}\n"
		"  - {disk: {by_id: nvme-Samsung_980_S5GX}, policy: p}\n"
		"  - {disk: {devnum: '259:3'}, policy: p}\n"
		"  - {disk: {serial: S5GXNF0R123456}, policy: p}\n"
		"  - {disk: {wwn: naa.5000c500a1b2c3d4}, policy: p}\n"
		"  - {disk: {served: {backing: /srv/a.img}}, policy: p}\n";
	static const char *const want[] = {
		"path:/dev/sda", "path:/dev/vdb", "by_id:nvme-Samsung_980_S5GX", "devnum:259:3",
		"serial:S5GXNF0R123456", "wwn:naa.5000c500a1b2c3d4", "served:/srv/a.img",
	};
	struct policy_opts opts = { .resolve = false };
	struct policy_doc *doc = calloc(1, sizeof(*doc));
	struct policy_diags d = {};
	struct policy_set set;
	char buf[256];
	size_t i;

	assert_int_equal(policy_parse_buf("s.yaml", yaml, strlen(yaml), doc, &d), 0);
	assert_int_equal(policy_check_docs(doc, 1, &opts, &set, &d), 0);
	assert_int_equal(set.nr_bindings, 7);
	for (i = 0; i < set.nr_bindings; i++) {
		policy_selector_str(&set.bindings[i], buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
		assert_int_equal(set.bindings[i].policy, 0);
	}
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_resolve_errors(void **state)
{
	unsigned int ma = 0, mi = 0;
	struct pol_cgroup cg = {};
	bool running;

	assert_int_equal(resolve_disk_path("/dev/null", &ma, &mi), -ENOTBLK);
	assert_int_equal(resolve_disk_path("/dev/sluice-no-such-disk", &ma, &mi), -ENOENT);
	assert_int_equal(resolve_devnum("sda", &ma, &mi), -EINVAL);
	assert_int_equal(resolve_devnum("7:0x", &ma, &mi), -EINVAL);
	assert_int_equal(resolve_devnum("4095:1048575", &ma, &mi), -ENOENT);
	assert_int_equal(resolve_disk_attr("serial", "sluice-no-such-serial", &ma, &mi), -ENOENT);
	assert_int_equal(resolve_disk_attr("wwid", "naa.0000sluice", &ma, &mi), -ENOENT);
	assert_int_equal(resolve_served("/nonexistent", "/sluice-no-such-backing", &ma, &mi,
					&running), -ENOENT);
	/* an existing backing file no server serves yet is fine: not running */
	assert_int_equal(resolve_served("/nonexistent", "/dev/null", &ma, &mi, &running), 0);
	assert_false(running);
	/* a directory that is not in a cgroup hierarchy */
	assert_int_equal(resolve_cgroup("/proc", &cg), -ENOTDIR);
	assert_int_equal(resolve_cgroup("/sluice-no-such-cgroup", &cg), -ENOENT);
}

static void test_resolve_io_cgroup_root(void **state)
{
	enum pol_cg_ver ver = POL_CG_NONE;
	struct pol_cgroup cg = {};
	const char *root = resolve_io_cgroup_root(&ver);

	if (!root)
		skip();
	/* "." relative to the I/O hierarchy is its root: level 0 */
	assert_int_equal(resolve_cgroup(".", &cg), 0);
	assert_string_equal(cg.dir, root);
	assert_int_equal(cg.level, 0);
	assert_true(cg.id != 0);
	free(cg.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector_forms),
		cmocka_unit_test(test_resolve_errors),
		cmocka_unit_test(test_resolve_io_cgroup_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
