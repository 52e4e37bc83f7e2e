// SPDX-License-Identifier: GPL-2.0
/*
 * 'sluice throttle --cgroup' publishes a cgroup's limits under the class id
 * the applied policy gives that cgroup on that disk (the id the ublk
 * server's throttle filter matches): throttle_policy_class_of() on a
 * generation compiled from YAML as 'policy apply' compiles it.
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

/* Class ids are numbered across policies: web 1..2, db 3..5. */
static const char two[] =
	"version: 1\n"
	"policies:\n"
	"  - name: web\n"
	"    classes:\n"
	"      - name: front\n"
	"        match: {cgroup: front.slice}\n"
	"      - name: rest\n"
	"        shares: 10\n"
	"  - name: db\n"
	"    classes:\n"
	"      - name: reads\n"
	"        match: {cgroup: /sys/fs/cgroup/db/, op: read}\n"
	"      - name: db\n"
	"        match: {cgroup: [/sys/fs/cgroup/db, batch]}\n"
	"      - name: other\n"
	"        shares: 10\n"
	"bindings:\n"
	"  - disk: /dev/loop0\n"
	"    policy: web\n"
	"  - disk: /dev/loop1\n"
	"    policy: db\n";

/* Compile @yaml as applied on disks 7:0, 7:1, ... (bindings in order). */
static void compile(const char *yaml, struct policy_image *img)
{
	struct policy_doc *doc = calloc(1, sizeof(*doc));
	struct policy_diags d = { 0 };
	struct policy_set set;
	size_t i;

	assert_non_null(doc);
	assert_int_equal(policy_parse_buf("t.yaml", yaml, strlen(yaml), doc, &d), 0);
	assert_int_equal(policy_check_docs(doc, 1, &no_resolve, &set, &d), 0);
	assert_int_equal(d.n, 0);
	for (i = 0; i < set.nr_bindings; i++) {
		set.bindings[i].resolved = true;
		set.bindings[i].major = 7;
		set.bindings[i].minor = (unsigned int)i;
	}
	assert_int_equal(policy_compile(&set, 3, img), 0);
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_class_of(void **state)
{
	struct policy_image img;
	unsigned int id = 99;

	compile(two, &img);
	/* a relative rule path under the root the throttle resolves it in */
	assert_int_equal(throttle_policy_class_of(&img, 7, 0, "/sys/fs/cgroup",
						  "/sys/fs/cgroup/front.slice", &id), 0);
	assert_int_equal(id, 1);
	/* the first rule naming the cgroup wins, as in the classifier; slashes
	 * at the end do not count */
	id = 99;
	assert_int_equal(throttle_policy_class_of(&img, 7, 1, "/sys/fs/cgroup",
						  "/sys/fs/cgroup/db//", &id), 0);
	assert_int_equal(id, 3);
	assert_int_equal(throttle_policy_class_of(&img, 7, 1, "/sys/fs/cgroup/unified",
						  "/sys/fs/cgroup/unified/batch", &id), 0);
	assert_int_equal(id, 4);
	/* another disk's policy does not name it */
	id = 99;
	assert_int_equal(throttle_policy_class_of(&img, 7, 0, "/sys/fs/cgroup",
						  "/sys/fs/cgroup/db", &id), -ENOENT);
	assert_int_equal(id, 99);
	/* relative under another root is another cgroup */
	assert_int_equal(throttle_policy_class_of(&img, 7, 0, "/sys/fs/cgroup/unified",
						  "/sys/fs/cgroup/front.slice", &id), -ENOENT);
	/* a cgroup of no rule, and a disk with no policy */
	assert_int_equal(throttle_policy_class_of(&img, 7, 0, "/sys/fs/cgroup",
						  "/sys/fs/cgroup/rest", &id), -ENOENT);
	assert_int_equal(throttle_policy_class_of(&img, 7, 2, "/sys/fs/cgroup",
						  "/sys/fs/cgroup/front.slice", &id), -ENOENT);
	policy_image_free(&img);
}

static void test_empty_image(void **state)
{
	struct policy_image img = { 0 };
	unsigned int id = 5;

	assert_int_equal(throttle_policy_class_of(&img, 7, 0, NULL, "/x", &id), -ENOENT);
	assert_int_equal(id, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_of),
		cmocka_unit_test(test_empty_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
