// SPDX-License-Identifier: GPL-2.0
/*
 * Where policies meet the ublk server: an applied chain found by its
 * backing, the applied policy names, and a chain turned into the filter
 * spec a state file keeps (refused, whole, when a filter is not built).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/tmpdir.h"

#include "filters/from_policy.h"
#include "loader/policy_chain.h"


static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void spec_of(const char *text, int want_err, const char *want)
{
	struct policy_chain_desc c;
	const char *missing;
	char spec[256] = "junk";

	assert_int_equal(policy_chain_parse(text, &c), 0);
	assert_int_equal(filter_spec_from_chain(&c, spec, sizeof(spec), &missing), want_err);
	if (want_err == -EOPNOTSUPP)
		assert_string_equal(missing, want);
	else
		assert_string_equal(spec, want);
	policy_chain_free(&c);
}

static void test_spec_from_chain(void **state)
{
	/* no data services, or only "deliberately without": passthrough */
	spec_of("policy=p\nbacking=/x\n", 0, "");
	spec_of("policy=p\nbacking=/x\nnofilter=crypt\nnofilter=cache\n", 0, "");
	/* a filter this build has, with its parameters */
	spec_of("policy=p\nfilter=count\n", 0, "count");
	spec_of("policy=p\nfilter=count a=1 b=2\n", 0, "count:a=1,b=2");
	/* the chain's YAML names and spellings pass unchanged, nested keys included */
	spec_of("policy=p\nfilter=count retention=24h replica.target=[::1]:70\n", 0,
		"count:retention=24h,replica.target=[::1]:70");
	/* the data services are built; a filter this build lacks is named, nothing half-built */
	spec_of("policy=p\nfilter=crypt format=luks2 key_file=/k\n", 0,
		"crypt:format=luks2,key_file=/k");
	spec_of("policy=p\nfilter=count\nfilter=journal path=/j\n", 0, "count journal:path=/j");
	spec_of("policy=p\nfilter=cache device=/dev/x\nnofilter=crypt\n", 0, "cache:device=/dev/x");
	spec_of("policy=p\nfilter=count\nfilter=mirror path=/j\n", -EOPNOTSUPP, "mirror");
}

static void test_spec_too_long(void **state)
{
	struct policy_chain_desc c;
	const char *missing;
	char spec[8];

	assert_int_equal(policy_chain_parse("filter=count abc=defghij\n", &c), 0);
	assert_int_equal(filter_spec_from_chain(&c, spec, sizeof(spec), &missing),
			 -ENAMETOOLONG);
	assert_string_equal(spec, "");
	policy_chain_free(&c);
}

static void test_find_by_backing(void **state)
{
	char p[256], img[128], img2[128], link[128], names[128];
	struct policy_chain_desc c;

	/* nothing applied yet */
	snprintf(img, sizeof(img), "%s/a.img", dir);
	snprintf(img2, sizeof(img2), "%s/b.img", dir);
	snprintf(link, sizeof(link), "%s/link.img", dir);
	write_text(img, "");
	write_text(img2, "");
	assert_int_equal(symlink(img, link), 0);
	assert_int_equal(policy_chain_find(dir, img, &c), -ENOENT);
	assert_int_equal(policy_chain_names(dir, names, sizeof(names)), 0);
	assert_string_equal(names, "");

	snprintf(p, sizeof(p), "%s/policy", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/policy/gen.1", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/policy/gen.1/chains", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/policy/current", dir);
	assert_int_equal(symlink("gen.1", p), 0);

	snprintf(p, sizeof(p), "%s/policy/current/chains/b000.chain", dir);
	write_text(p, "policy=db\nselector=devnum:8:0\ndev=8:0\n");
	snprintf(p, sizeof(p), "%s/policy/current/chains/b001.chain", dir);
	{
		char text[256];

		/* written through the link: found by realpath */
		snprintf(text, sizeof(text), "policy=vault\nbacking=%s\nfilter=crypt k=v\n",
			 link);
		write_text(p, text);
	}
	snprintf(p, sizeof(p), "%s/policy/current/chains/b002.chain", dir);
	write_text(p, "policy=db\nselector=devnum:8:16\ndev=8:16\n");
	snprintf(p, sizeof(p), "%s/policy/current/chains/b003.chain", dir);
	write_text(p, "broken line\n");

	assert_int_equal(policy_chain_find(dir, img, &c), 0);
	assert_string_equal(c.policy, "vault");
	assert_int_equal(c.nr_filters, 1);
	assert_string_equal(c.filters[0].type, "crypt");
	policy_chain_free(&c);
	assert_int_equal(policy_chain_find(dir, img2, &c), -ENOENT);
	assert_int_equal(policy_chain_find(dir, "/nonexistent.img", &c), -ENOENT);

	assert_int_equal(policy_chain_names(dir, names, sizeof(names)), 0);
	/* each once, whatever the directory order */
	assert_true(!strcmp(names, "db, vault") || !strcmp(names, "vault, db"));
	assert_int_equal(policy_chain_names(dir, names, 6), -ENAMETOOLONG);

	/*
	 * A chain naming img2 with more filters than this sluice reads: the
	 * server must refuse the disk, not serve it without its filters.
	 */
	snprintf(p, sizeof(p), "%s/policy/current/chains/b004.chain", dir);
	{
		char text[512];

		snprintf(text, sizeof(text), "policy=big\nbacking=%s\nfilter=count\n"
			 "filter=count\nfilter=count\nfilter=count\nfilter=count\n", img2);
		write_text(p, text);
	}
	assert_int_equal(policy_chain_find(dir, img2, &c), -EBADMSG);
	/* the others are still found, and the unreadable one names no policy */
	assert_int_equal(policy_chain_find(dir, img, &c), 0);
	policy_chain_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_from_chain),
		cmocka_unit_test(test_spec_too_long),
		cmocka_unit_test_setup_teardown(test_find_by_backing, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
