// SPDX-License-Identifier: GPL-2.0
/* Policy files in memory: parse, check (every error, exact positions), compile. */
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
#include "loader/policy_chain.h"
#include "loader/policy_compile.h"
#include "loader/service.h"
#include "policy_check.h"

static const char good[] =
	"version: 1\n"
	"policies:\n"
	"  - name: tiers\n"
	"    latency_target: 30ms\n"
	"    classes:\n"
	"      - name: gold\n"
	"        match:\n"
	"          cgroup: [gold, /sys/fs/cgroup/unified/gold2]\n"
	"          op: read\n"
	"        shares: high\n"
	"        limits: {read_iops: 5000 iops, write_bps: 200MiB/s}\n"
	"      - name: rest\n"
	"        match: {size: {min: 4KiB, max: 1MiB}}\n"
	"        reserve: 90% peak\n"
	"  - name: db\n"
	"    services:\n"
	"      encrypt: {format: plain, cipher: aes-xts-plain64, key_size: 512,\n"
	"                sector_size: 4096, key_file: /etc/sluice/db.key}\n"
	"      journal:\n"
	"        path: /var/lib/sluice/db.journal\n"
	"        size: 2GiB\n"
	"        retention: 24h\n"
	"        replica: {target: 'backup:7070', mode: async, failover: auto,\n"
	"                  psk_file: /etc/sluice/link.psk}\n"
	"      cache: false\n"
	"bindings:\n"
	"  - disk: /dev/loop0\n"
	"    policy: tiers\n"
	"  - disk: {served: {backing: /var/lib/db.img}}\n"
	"    policy: db\n";

static void test_good_policy_compiles(void **state)
{
	struct policy_image img;
	struct policy_diags d;
	struct policy_set set;
	const struct policy_entry *e;
	size_t i, rules = 0, classes = 0, bindings = 0;

	assert_int_equal(check(good, &set, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(set.nr_policies, 2);
	assert_int_equal(set.nr_bindings, 2);
	assert_int_equal(set.policies[0].classes[0].shares, 2000);
	assert_int_equal(set.policies[0].classes[0].op_mask, SLUICE_OPMASK(SLUICE_OP_READ));
	assert_int_equal(set.policies[0].classes[0].limits.rbps, 0);
	assert_int_equal(set.policies[0].classes[0].limits.wbps, 200ULL << 20);
	assert_int_equal(set.policies[0].classes[1].limits.pct_mask, SLUICE_LIM_PCT_RESERVE);
	assert_int_equal(set.policies[1].svc[2].state, POL_SVC_OFF);
	assert_ptr_equal(services[2], &cache_service_ops);

	assert_int_equal(policy_compile(&set, 7, &img), 0);
	for (i = 0; i < img.nr_ents; i++) {
		e = &img.ents[i];
		if (e->key.kind == SLUICE_PK_RULE) {
			rules++;
			if (e->key.id < 2)
				assert_int_equal(e->val.rule.class_id, 1);
			if (e->key.id == 2) {
				assert_int_equal(e->val.rule.class_id, 2);
				assert_int_equal(e->val.rule.min_bytes, 4096);
				assert_int_equal(e->val.rule.max_bytes, 1 << 20);
			}
		}
		classes += e->key.kind == SLUICE_PK_CLASS;
		bindings += e->key.kind == SLUICE_PK_BINDING;
		if (e->key.kind == SLUICE_PK_META)
			assert_int_equal(e->val.meta.generation, 7);
		if (e->key.kind == SLUICE_PK_BINDING && e->key.id == 1)
			assert_string_equal(e->val.binding.selector, "served:/var/lib/db.img");
	}
	/* gold has two cgroups -> two rules; rest one; db's implicit default one */
	assert_int_equal(rules, 4);
	assert_int_equal(classes, 3);
	assert_int_equal(bindings, 2);
	assert_int_equal(img.nr_chains, 2);
	/* the YAML's names and spellings, defaults included */
	assert_non_null(strstr(img.chains[1].text,
			       "filter=crypt format=plain cipher=aes-xts-plain64 key_size=512 "
			       "sector_size=4KiB iv_offset=0 key_file=/etc/sluice/db.key\n"));
	assert_non_null(strstr(img.chains[1].text, "filter=journal path=/var/lib/sluice/db.journal "
			       "size=2GiB retention=24h commit=sync replica.target=backup:7070 "
			       "replica.mode=async replica.failover=auto replica.psk_file=/etc/sluice/link.psk\n"));
	assert_non_null(strstr(img.chains[1].text, "nofilter=cache\n"));
	assert_non_null(strstr(img.chains[1].text, "backing=/var/lib/db.img\n"));
	policy_image_free(&img);
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_chain_roundtrip(void **state)
{
	struct policy_chain_desc c;
	struct policy_image img;
	struct policy_diags d;
	struct policy_set set;

	assert_int_equal(check(good, &set, &d), 0);
	assert_int_equal(policy_compile(&set, 1, &img), 0);
	assert_int_equal(policy_chain_parse(img.chains[1].text, &c), 0);
	assert_string_equal(c.policy, "db");
	assert_string_equal(c.backing, "/var/lib/db.img");
	assert_int_equal(c.nr_filters, 2);
	assert_string_equal(c.filters[0].type, "crypt");
	assert_string_equal(chain_param(&c.filters[0], "sector_size"), "4KiB");
	assert_string_equal(c.filters[1].type, "journal");
	assert_string_equal(chain_param(&c.filters[1], "retention"), "24h");
	assert_string_equal(chain_param(&c.filters[1], "replica.failover"), "auto");
	assert_int_equal(c.nr_nofilters, 1);
	assert_string_equal(c.nofilters[0], "cache");
	policy_chain_free(&c);
	assert_int_equal(policy_chain_parse("filter\n", &c), -EINVAL);
	policy_image_free(&img);
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_all_errors_reported(void **state)
{
	static const char bad[] =
		"policies:\n"
		"  - name: a\n"
		"    latency_target: 30\n"
		"    clases: []\n"
		"    classes:\n"
		"      - name: x\n"
		"        shares: 0\n"
		"        limits: {read_bps: 10MiB}\n"
		"      - shares: lots\n"
		"  - name: a\n"
		"bindings:\n"
		"  - disk: {devnum: '7:0'}\n"
		"    policy: b\n"
		"  - disk: {devnum: '7:0'}\n"
		"    policy: a\n"
		"  - disk: sda\n"
		"    policy: a\n";
	struct policy_diags d;
	struct policy_set set;

	assert_int_equal(check(bad, &set, &d), -EINVAL);
	assert_diag(&d, 0, "3:21: 'latency_target': bad unit in '30'; use ns, us, ms, s, m or h");
	assert_diag(&d, 1, "4:5: unknown key 'clases' in policy; did you mean 'classes'?");
	assert_diag(&d, 2, "7:17: 'shares' 0 is out of range (1..10000)");
	assert_diag(&d, 3, "8:28: 'read_bps': bad unit in '10MiB'; use B/s, KB/s, MB/s, GB/s, "
		    "KiB/s, MiB/s, GiB/s (or 'N% peak')");
	assert_diag(&d, 4, "9:9: class is missing required key 'name'");
	assert_diag(&d, 5, "9:17: 'shares' must be a number 1..10000 or low, normal or high, "
		    "got 'lots'");
	assert_diag(&d, 6, "10:11: duplicate policy name 'a' (first defined at t.yaml:2:5)");
	assert_diag(&d, 7, "13:13: unknown policy 'b'; did you mean 'a'?");
	assert_diag(&d, 8, "14:11: disk '7:0' is already bound at t.yaml:12:11");
	assert_diag(&d, 9, "16:11: 'disk' must be a /dev path or a mapping with one of path, "
		    "by_id, devnum, serial, wwn, served; got 'sda'");
	assert_int_equal(d.n, 10);
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_services_need_served_disk(void **state)
{
	static const char bad[] =
		"policies:\n"
		"  - name: enc\n"
		"    services:\n"
		"      encrypt: {format: luks2, key_file: keys/x, cipher: aes-xts-plain64,\n"
		"                key_size: 128}\n"
		"      jornal: false\n"
		"bindings:\n"
		"  - disk: /dev/loop3\n"
		"    policy: enc\n";
	struct policy_diags d;
	struct policy_set set;

	assert_int_equal(check(bad, &set, &d), -EINVAL);
	assert_diag(&d, 0, "4:42: 'key_file' must be an absolute path, got 'keys/x'");
	assert_diag(&d, 1, "5:27: 'key_size' 128 does not fit aes-xts-plain64; use 256 or 512");
	assert_diag(&d, 2, "6:7: unknown key 'jornal' in services; did you mean 'journal'?");
	assert_diag(&d, 3, "8:11: policy 'enc' has data services but disk '/dev/loop3' is not "
		    "served by sluice; bind it as served: {backing: PATH}");
	assert_int_equal(d.n, 4);
	policy_set_free(&set);
	policy_diags_free(&d);
}

/* throttle_interval: whole milliseconds into the ABI, 0 when not set. */
static void test_throttle_interval(void **state)
{
	static const char ok[] =
		"policies:\n"
		"  - name: fast\n"
		"    throttle: true\n"
		"    throttle_interval: 200ms\n"
		"  - name: slow\n"
		"    throttle: yes\n"
		"    throttle_interval: 1m\n"
		"  - name: plain\n"
		"    throttle: true\n";
	static const char bad[] =
		"policies:\n"
		"  - name: a\n"
		"    throttle: true\n"
		"    throttle_interval: 9ms\n"
		"  - name: b\n"
		"    throttle: true\n"
		"    throttle_interval: 61s\n"
		"  - name: c\n"
		"    throttle: true\n"
		"    throttle_interval: 1500500us\n"
		"  - name: d\n"
		"    throttle: false\n"
		"    throttle_interval: 2s\n"
		"  - name: e\n"
		"    throttle_interval: 2s\n"
		"  - name: f\n"
		"    throttle: true\n"
		"    throttle_interval: 2\n"
		"  - name: g\n"
		"    throttle: maybe\n"
		"    throttle_interval: 2s\n";
	const struct policy_entry *e;
	struct policy_image img;
	struct policy_diags d;
	struct policy_set set;
	unsigned int ms[4] = { 0 };
	size_t i;

	assert_int_equal(check(ok, &set, &d), 0);
	assert_int_equal(set.policies[0].throttle_interval_ns, 200000000);
	assert_int_equal(set.policies[1].throttle_interval_ns, 60000000000ULL);
	assert_int_equal(set.policies[2].throttle_interval_ns, 0);
	assert_int_equal(policy_compile(&set, 1, &img), 0);
	for (i = 0; i < img.nr_ents; i++) {
		e = &img.ents[i];
		if (e->key.kind == SLUICE_PK_POLICY && e->key.id < 4)
			ms[e->key.id] = e->val.policy.throttle_interval_ms;
	}
	assert_int_equal(ms[1], 200);
	assert_int_equal(ms[2], 60000);
	assert_int_equal(ms[3], 0);
	policy_image_free(&img);
	policy_set_free(&set);
	policy_diags_free(&d);

	assert_int_equal(check(bad, &set, &d), -EINVAL);
	assert_diag(&d, 0, "4:24: 'throttle_interval' 9ms is out of range (10ms..1m)");
	assert_diag(&d, 1, "7:24: 'throttle_interval' 61s is out of range (10ms..1m)");
	assert_diag(&d, 2, "10:24: 'throttle_interval' 1500500us is not a whole number of "
		    "milliseconds");
	assert_diag(&d, 3, "13:24: 'throttle_interval' needs 'throttle: true' in this policy "
		    "(no throttle reads it otherwise)");
	assert_diag(&d, 4, "15:24: 'throttle_interval' needs 'throttle: true' in this policy "
		    "(no throttle reads it otherwise)");
	assert_diag(&d, 5, "18:24: 'throttle_interval': bad unit in '2'; use ns, us, ms, s, m "
		    "or h");
	/* a malformed 'throttle' is the one error, not a second about the interval */
	assert_diag(&d, 6, "20:15: 'throttle' must be true or false, got 'maybe'");
	assert_int_equal(d.n, 7);
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_syntax_error_position(void **state)
{
	struct policy_diags d;
	struct policy_set set;

	assert_int_equal(check("policies:\n  - name: a\n   bad: [\n", &set, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].line, 3);
	assert_non_null(strstr(d.v[0].msg, "YAML syntax error"));
	policy_diags_free(&d);
}

static void test_rejected_yaml_features(void **state)
{
	struct policy_diags d;
	struct policy_set set;
	char deep[256] = "";
	int i;

	assert_int_equal(check("a: &x 1\nb: *x\n", &set, &d), -EINVAL);
	assert_diag(&d, 0, "2:4: YAML aliases are not supported; repeat the value");
	policy_diags_free(&d);

	assert_int_equal(check("a: 1\n---\nb: 2\n", &set, &d), -EINVAL);
	assert_diag(&d, 0, "2:1: only one YAML document per policy file");
	policy_diags_free(&d);

	for (i = 0; i < 40; i++)
		strcat(deep, "[");
	assert_int_equal(check(deep, &set, &d), -EINVAL);
	assert_non_null(strstr(d.v[0].msg, "nesting deeper than 32 levels"));
	policy_diags_free(&d);

	assert_int_equal(check("policies: []\npolicies: []\n", &set, &d), -EINVAL);
	assert_diag(&d, 0, "2:1: duplicate key 'policies' (first at 1:1)");
	policy_set_free(&set);
	policy_diags_free(&d);

	assert_int_equal(check("", &set, &d), -EINVAL);
	assert_diag(&d, 0, "1:1: empty policy file; expected 'policies' and/or 'bindings'");
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_too_many_rules(void **state)
{
	struct policy_diags d;
	struct policy_set set;
	char *yaml, *p;
	size_t len = 64 * 64;
	int i;

	yaml = p = malloc(len + 128);
	assert_non_null(yaml);
	p += sprintf(p, "policies:\n  - name: big\n    classes:\n");
	for (i = 0; i < 65; i++)
		p += sprintf(p, "      - {name: c%d, match: {op: read}}\n", i);
	assert_int_equal(check(yaml, &set, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, "2:5: policy 'big' has 65 classification rules; at most 64 "
		    "(one per class and cgroup)");
	policy_set_free(&set);
	policy_diags_free(&d);
	free(yaml);
}

/* Ciphers OpenSSL cannot run leave the schema with a reason, not as typos. */
static void test_retired_ciphers(void **state)
{
	static const char bad[] =
		"policies:\n"
		"  - name: s\n"
		"    services:\n"
		"      encrypt: {format: plain, cipher: serpent-xts-plain64, key_file: /k}\n"
		"  - name: t\n"
		"    services:\n"
		"      encrypt: {format: plain, cipher: twofish-xts-plain64, key_file: /k}\n"
		"  - name: u\n"
		"    services:\n"
		"      encrypt: {cipher: aes-xts-plain65, key_file: /k}\n";
	static const char good[] =
		"policies:\n"
		"  - name: a\n"
		"    services: {encrypt: {format: plain, cipher: aes-xts-plain, key_file: /k}}\n"
		"  - name: b\n"
		"    services: {encrypt: {format: plain, cipher: 'aes-cbc-essiv:sha256',\n"
		"                         key_file: /k}}\n"
		"  - name: c\n"
		"    services: {encrypt: {key_file: /k}}\n";
	struct policy_diags d;
	struct policy_set set;

	assert_int_equal(check(bad, &set, &d), -EINVAL);
	assert_diag(&d, 0, "4:40: 'cipher' serpent-xts-plain64 is not supported: sluice "
		    "encrypts with OpenSSL, which has no Serpent; open such a volume with dm-crypt "
		    "(cryptsetup open); or use aes-xts-plain64, aes-cbc-essiv:sha256 or "
		    "aes-xts-plain");
	assert_diag(&d, 1, "7:40: 'cipher' twofish-xts-plain64 is not supported: sluice "
		    "encrypts with OpenSSL, which has no Twofish; open such a volume with dm-crypt "
		    "(cryptsetup open); or use aes-xts-plain64, aes-cbc-essiv:sha256 or "
		    "aes-xts-plain");
	assert_diag(&d, 2, "10:25: 'cipher' must be one of aes-xts-plain64, aes-cbc-essiv:sha256 "
		    "or aes-xts-plain, got 'aes-xts-plain65'; did you mean 'aes-xts-plain64'?");
	assert_int_equal(d.n, 3);
	policy_set_free(&set);
	policy_diags_free(&d);

	assert_int_equal(check(good, &set, &d), 0);
	/* the key size follows the cipher unless written */
	assert_string_equal(set.policies[0].svc[0].v[2].text, "512");
	assert_string_equal(set.policies[1].svc[0].v[2].text, "256");
	/* LUKS (the default format): cipher and key size are the header's */
	assert_null(set.policies[2].svc[0].v[1].text);
	assert_null(set.policies[2].svc[0].v[2].text);
	policy_set_free(&set);
	policy_diags_free(&d);
}

/*
 * A service's paths travel in the filter spec "name:k=v,k=v" (filters split
 * by blanks): a blank, ',', '=' or control character would cut them.
 */
static void test_spec_unsafe_paths(void **state)
{
	static const char bad[] =
		"policies:\n"
		"  - name: e\n"
		"    services:\n"
		"      encrypt: {key_file: '/keys/a,b', header: '/h=1'}\n"
		"      journal:\n"
		"        path: /var/lib/my journal\n"
		"        replica: {target: 'a,b:70'}\n"
		"      cache: {device: \"/dev/x\\ty\"}\n"
		"bindings:\n"
		"  - disk: {served: {backing: '/srv/a,b.img'}}\n"
		"    policy: e\n";
	static const char tail[] = "which the filter spec (name:key=value,key=value) cannot carry; "
				   "use a path without blanks, control characters, ',' or '=' (a "
				   "symlink will do)";
	struct policy_diags d;
	struct policy_set set;
	char want[400];

	assert_int_equal(check(bad, &set, &d), -EINVAL);
	snprintf(want, sizeof(want), "4:27: 'key_file' has a ',', %s", tail);
	assert_diag(&d, 0, want);
	snprintf(want, sizeof(want), "4:48: 'header' has an '=', %s", tail);
	assert_diag(&d, 1, want);
	snprintf(want, sizeof(want), "6:15: 'path' has a blank, %s", tail);
	assert_diag(&d, 2, want);
	assert_diag(&d, 3, "7:27: 'target' has a ',', which the filter spec (name:key=value,"
		    "key=value) cannot carry; write host:port without them");
	snprintf(want, sizeof(want), "8:23: 'device' has a control character, %s", tail);
	assert_diag(&d, 4, want);
	/* the backing is not in the spec: a ',' there is fine */
	assert_int_equal(d.n, 5);
	policy_set_free(&set);
	policy_diags_free(&d);
}

/*
 * Every service's table: names unique and within bounds, groups declared,
 * and its defaults valid by its own rules (a policy with only the required
 * keys checks and writes every default).
 */
static void test_service_tables(void **state)
{
	static const char *const minimal[NR_SERVICES] = {
		"{format: plain, key_file: /k}", "{path: /j, replica: {target: 'h:1', psk_file: /p}}",
		"{device: /dev/c}",
	};
	const struct service_ops *ops;
	const struct svc_param *p;
	struct policy_diags d;
	struct policy_set set;
	char yaml[256], *dot;
	size_t i, j, k;

	for (i = 0; i < NR_SERVICES; i++) {
		ops = services[i];
		assert_ptr_equal(service_by_filter(ops->filter), ops);
		assert_true(ops->nr_params <= SVC_MAX_PARAMS);
		/* the chain reader's bounds (loader/policy_chain.h) */
		assert_true(strlen(ops->filter) < sizeof(((struct chain_filter *)0)->type));
		assert_true(ops->nr_params <= POLICY_CHAIN_MAX_PARAMS);
		for (j = 0; j < ops->nr_params; j++) {
			p = &ops->params[j];
			assert_int_equal(service_param_index(ops, p->name), (int)j);
			assert_null(svc_spec_unsafe(p->name));
			dot = strchr(p->name, '.');
			if (dot) {
				char group[32];

				snprintf(group, sizeof(group), "%.*s", (int)(dot - p->name), p->name);
				k = (size_t)service_param_index(ops, group);
				assert_int_equal(ops->params[k].kind, SVC_GROUP);
			}
			if (p->kind == SVC_ENUM)
				assert_non_null(p->vals);
		}
		snprintf(yaml, sizeof(yaml), "policies:\n  - name: p\n    services: {%s: %s}\n",
			 ops->key, minimal[i]);
		assert_int_equal(check(yaml, &set, &d), 0);
		for (j = 0; j < ops->nr_params; j++)
			if (ops->params[j].dflt)
				assert_non_null(set.policies[0].svc[i].v[j].text);
		policy_set_free(&set);
		policy_diags_free(&d);
	}
	assert_null(service_by_filter("encrypt"));
	assert_null(service_by_filter("count"));
}

/* A power-of-two size: its few values listed, or the rule named. */
static void test_service_pow2(void **state)
{
	static const char bad[] =
		"policies:\n"
		"  - name: p\n"
		"    services:\n"
		"      encrypt: {format: plain, key_file: /k, sector_size: 3000}\n"
		"      cache: {device: /dev/c, block_size: 48KiB, mode: writeforward}\n";
	struct policy_diags d;
	struct policy_set set;

	assert_int_equal(check(bad, &set, &d), -EINVAL);
	assert_diag(&d, 0, "4:59: 'sector_size' must be 512, 1024, 2048 or 4096");
	assert_diag(&d, 1, "5:43: 'block_size' must be 32768, 65536, 131072 or 262144");
	assert_diag(&d, 2, "5:56: 'mode' must be one of writethrough, writeback or writearound, "
		    "got 'writeforward'");
	assert_int_equal(d.n, 3);
	policy_set_free(&set);
	policy_diags_free(&d);
}

/* A running filter's arguments against the policy's, by the table's names. */
static void test_service_args_differ(void **state)
{
	static const char yaml[] =
		"policies:\n"
		"  - name: p\n"
		"    services:\n"
		"      journal: {path: /j, retention: 12h,\n"
		"                replica: {target: 'h:1', psk_file: /p}}\n";
	const struct pol_service *j;
	struct policy_diags d;
	struct policy_set set;
	char why[128];

	assert_int_equal(check(yaml, &set, &d), 0);
	j = &set.policies[0].svc[1];
	assert_false(service_args_differ(&journal_service_ops, j, "path=/j,size=1GiB,"
					 "retention=12h,commit=sync,replica.target=h:1,"
					 "replica.mode=async,replica.failover=manual,replica.psk_file=/p", why,
					 sizeof(why)));
	assert_true(service_args_differ(&journal_service_ops, j, "path=/j,size=1GiB,"
					"retention=24h,commit=sync,replica.target=h:1,"
					"replica.mode=async,replica.failover=manual,replica.psk_file=/p", why,
					sizeof(why)));
	assert_string_equal(why, "runs retention=24h, policy says retention=12h");
	assert_true(service_args_differ(&journal_service_ops, j, "path=/j,size=1GiB,"
					"retention=12h,commit=sync", why, sizeof(why)));
	assert_string_equal(why, "runs without replica.target, policy says replica.target=h:1");
	assert_true(service_args_differ(&journal_service_ops, j, "path=/j,rpo=5s", why,
					sizeof(why)));
	assert_string_equal(why, "runs rpo=5s, which the policy does not set");
	assert_true(service_args_differ(&journal_service_ops, j, "", why, sizeof(why)));
	assert_string_equal(why, "runs without path, policy says path=/j");
	policy_set_free(&set);
	policy_diags_free(&d);
}

static void test_edit_distance(void **state)
{
	assert_int_equal(policy_edit_distance("shares", "shares"), 0);
	assert_int_equal(policy_edit_distance("shres", "shares"), 1);
	assert_int_equal(policy_edit_distance("latncy_targt", "latency_target"), 2);
	assert_int_equal(policy_edit_distance("", "abc"), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_policy_compiles),
		cmocka_unit_test(test_chain_roundtrip),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_services_need_served_disk),
		cmocka_unit_test(test_throttle_interval),
		cmocka_unit_test(test_syntax_error_position),
		cmocka_unit_test(test_rejected_yaml_features),
		cmocka_unit_test(test_too_many_rules),
		cmocka_unit_test(test_retired_ciphers),
		cmocka_unit_test(test_spec_unsafe_paths),
		cmocka_unit_test(test_service_tables),
		cmocka_unit_test(test_service_pow2),
		cmocka_unit_test(test_service_args_differ),
		cmocka_unit_test(test_edit_distance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
