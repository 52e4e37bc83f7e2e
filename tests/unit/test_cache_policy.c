// SPDX-License-Identifier: GPL-2.0
/*
 * The cache's bypass_classes in a policy: checked against the policy's own
 * classes (one name or a list), kept as "a+b", written to the chain, given
 * its policy's name in the filter spec, and that name not taken for a
 * change of settings by 'policy status'.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "filters/from_policy.h"
#include "loader/policy.h"
#include "loader/policy_chain.h"
#include "loader/policy_compile.h"
#include "loader/service.h"
#include "policy_check.h"

#define CLASSES \
	"policies:\n" \
	"  - name: tiers\n" \
	"    classes:\n" \
	"      - name: backup\n" \
	"        match: {op: read, size: {min: 128KiB}}\n" \
	"      - name: scan\n" \
	"        match: {op: write}\n" \
	"      - name: rest\n"

static void test_bypass_good(void **state)
{
	static const char yaml[] = CLASSES
		"    services:\n"
		"      cache: {device: /c, bypass_classes: [backup, scan]}\n"
		"bindings:\n"
		"  - disk: {served: {backing: /b.img}}\n"
		"    policy: tiers\n";
	const struct pol_service *s;
	struct policy_chain_desc c;
	struct policy_image img;
	struct policy_diags d;
	struct policy_set set;
	const char *missing;
	char spec[512], why[128];

	(void)state;
	assert_int_equal(check(yaml, &set, &d), 0);
	s = &set.policies[0].svc[2];
	assert_string_equal(s->v[service_param_index(&cache_service_ops, "bypass_classes")].text,
			    "backup+scan");
	assert_int_equal(policy_compile(&set, 1, &img), 0);
	assert_int_equal(img.nr_chains, 1);
	assert_non_null(strstr(img.chains[0].text, " bypass_classes=backup+scan\n"));
	assert_int_equal(policy_chain_parse(img.chains[0].text, &c), 0);
	assert_int_equal(filter_spec_from_chain(&c, spec, sizeof(spec), &missing), 0);
	assert_non_null(strstr(spec, ",bypass_classes=backup+scan,policy=tiers"));
	/* the running cache's arguments, policy= included, match the policy */
	assert_false(service_args_differ(&cache_service_ops, s, strchr(spec, ':') + 1, why,
					 sizeof(why)));
	assert_true(service_args_differ(&cache_service_ops, s,
					"device=/c,bypass_classes=backup,policy=tiers", why,
					sizeof(why)));
	assert_string_equal(why, "runs bypass_classes=backup, policy says "
			    "bypass_classes=backup+scan");
	policy_chain_free(&c);
	policy_image_free(&img);
	policy_set_free(&set);
	policy_diags_free(&d);
}

/* One name is a list of one; no bypass_classes: no policy= in the spec. */
static void test_bypass_one(void **state)
{
	static const char yaml[] = CLASSES
		"    services:\n"
		"      cache: {device: /c, bypass_classes: scan}\n";
	static const char none[] =
		"filter=cache device=/c mode=writethrough\npolicy=tiers\n";
	struct policy_chain_desc c;
	struct policy_diags d;
	struct policy_set set;
	const char *missing;
	char spec[256];

	(void)state;
	assert_int_equal(check(yaml, &set, &d), 0);
	assert_string_equal(set.policies[0].svc[2].v[service_param_index(&cache_service_ops,
					"bypass_classes")].text, "scan");
	policy_set_free(&set);
	policy_diags_free(&d);
	assert_int_equal(policy_chain_parse(none, &c), 0);
	assert_int_equal(filter_spec_from_chain(&c, spec, sizeof(spec), &missing), 0);
	assert_string_equal(spec, "cache:device=/c,mode=writethrough");
	policy_chain_free(&c);
}

static void test_bypass_bad(void **state)
{
	static const char bad[] = CLASSES
		"    services:\n"
		"      cache: {device: /c, bypass_classes: [backup, gold, {a: 1}]}\n"
		"  - name: flat\n"
		"    services:\n"
		"      cache: {device: /c, bypass_classes: backup}\n"
		"  - name: empty\n"
		"    services:\n"
		"      cache: {device: /c, bypass_classes: []}\n";
	struct policy_diags d;
	struct policy_set set;

	(void)state;
	assert_int_equal(check(bad, &set, &d), -EINVAL);
	assert_diag(&d, 0, "10:52: 'bypass_classes' names class 'gold', which the policy does "
		    "not define; its classes are backup, scan or rest");
	assert_diag(&d, 1, "10:58: 'bypass_classes' must be a class name or a list of them");
	assert_diag(&d, 2, "13:43: 'bypass_classes' names class 'backup', but the policy has "
		    "no classes: define them under classes:");
	assert_diag(&d, 3, "16:43: 'bypass_classes' must be a class name or a list of them");
	assert_int_equal(d.n, 4);
	policy_set_free(&set);
	policy_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bypass_good),
		cmocka_unit_test(test_bypass_one),
		cmocka_unit_test(test_bypass_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
