// SPDX-License-Identifier: GPL-2.0
/*
 * Pure logic under the ublk server: state files (round trip, malformed
 * input, listing, room for long chains, files of older servers), the
 * choice of a new disk's chain, the one io_uring user_data layout, and
 * size parsing.
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
#include "lib/udata.h"
#include "ublk/dev.h"
#include "ublk/server.h"
#include "lib/disk_state.h"


static struct disk_state sample(uint32_t id)
{
	struct disk_state s = {
		.id = id, .size = 64ull << 30, .queues = 4, .depth = 128, .block_size = 4096,
		.read_only = true, .pid = 4242, .flags = 0x58,
	};

	snprintf(s.backing, sizeof(s.backing), "/var/lib/disk %u.img", id);
	snprintf(s.policy, sizeof(s.policy), "count");
	snprintf(s.filters, sizeof(s.filters), "count count:a=b");
	return s;
}

static void test_state_round_trip(void **state)
{
	struct disk_state a = sample(7), b;

	snprintf(a.copy, sizeof(a.copy), "zero");
	snprintf(a.copy_why, sizeof(a.copy_why), "auto buffer registration");
	assert_int_equal(state_write(dir, &a), 0);
	assert_int_equal(state_read(dir, 7, &b), 0);
	assert_int_equal(b.id, 7);
	assert_string_equal(b.backing, a.backing);
	assert_int_equal(b.size, a.size);
	assert_int_equal(b.queues, 4);
	assert_int_equal(b.depth, 128);
	assert_int_equal(b.block_size, 4096);
	assert_true(b.read_only);
	assert_string_equal(b.policy, "count");
	assert_string_equal(b.filters, "count count:a=b");
	assert_int_equal(b.pid, 4242);
	assert_int_equal(b.flags, 0x58);
	assert_string_equal(b.copy, "zero");
	assert_string_equal(b.copy_why, "auto buffer registration");
	/* Rewriting (recovery updates the pid) replaces the file. */
	a.pid = 99;
	assert_int_equal(state_write(dir, &a), 0);
	assert_int_equal(state_read(dir, 7, &b), 0);
	assert_int_equal(b.pid, 99);
	assert_int_equal(state_remove(dir, 7), 0);
	assert_int_equal(state_read(dir, 7, &b), -ENOENT);
	assert_int_equal(state_remove(dir, 7), 0);
}

static void test_state_list(void **state)
{
	struct disk_state s;
	uint32_t ids[8];
	char path[128];
	FILE *f;

	s = sample(12);
	assert_int_equal(state_write(dir, &s), 0);
	s = sample(3);
	assert_int_equal(state_write(dir, &s), 0);
	/* Not state files: ignored. */
	snprintf(path, sizeof(path), "%s/ublk5.state.tmp", dir);
	f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/ublkx.state", dir);
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(state_list(dir, ids, 8), 2);
	assert_int_equal(ids[0], 3);
	assert_int_equal(ids[1], 12);
	assert_int_equal(state_list(dir, ids, 1), 1);
	assert_int_equal(state_list("/nonexistent/sluice", ids, 8), 0);
}

static void test_state_malformed(void **state)
{
	struct disk_state s;

	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nqueues=1\ndepth=1\n"
				     "block_size=512\n", &s), 0);
	/* Missing size, a line without '=', a bad number, zero queues. */
	assert_int_equal(state_parse("id=1\nbacking=/x\nqueues=1\ndepth=1\nblock_size=512\n", &s),
			 -EINVAL);
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nbogus\n", &s), -EINVAL);
	assert_int_equal(state_parse("id=1x\nbacking=/x\nsize=512\nqueues=1\ndepth=1\n"
				     "block_size=512\n", &s), -EINVAL);
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=-5\nqueues=1\ndepth=1\n"
				     "block_size=512\n", &s), -EINVAL);
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nqueues=0\ndepth=1\n"
				     "block_size=512\n", &s), -EINVAL);
	/* Unknown keys from a newer server are skipped. */
	assert_int_equal(state_parse("id=1\nbacking=/x\nsize=512\nqueues=1\ndepth=1\n"
				     "block_size=512\nfuture=yes\n", &s), 0);
}

static void test_state_id_must_match_file(void **state)
{
	struct disk_state s = sample(4), r;
	char from[128], to[128];

	assert_int_equal(state_write(dir, &s), 0);
	snprintf(from, sizeof(from), "%s/ublk4.state", dir);
	snprintf(to, sizeof(to), "%s/ublk9.state", dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(state_read(dir, 9, &r), -EINVAL);
}

/* The policy side finds a served disk by its backing, through links too. */
static void test_state_find_backing(void **state)
{
	char img[128], other[128], link[128];
	struct disk_state s = sample(3), t = sample(5), got;
	unsigned int ma, mi;
	FILE *f;

	snprintf(img, sizeof(img), "%s/a.img", dir);
	snprintf(other, sizeof(other), "%s/b.img", dir);
	snprintf(link, sizeof(link), "%s/link.img", dir);
	assert_non_null(f = fopen(img, "w"));
	fclose(f);
	assert_non_null(f = fopen(other, "w"));
	fclose(f);
	assert_int_equal(symlink(img, link), 0);
	snprintf(s.backing, sizeof(s.backing), "%s", img);
	snprintf(t.backing, sizeof(t.backing), "%s", other);
	assert_int_equal(state_write(dir, &t), 0);
	/* served by nobody yet */
	assert_int_equal(state_find_backing(dir, img, &got), -ENOENT);
	assert_int_equal(state_write(dir, &s), 0);
	assert_int_equal(state_find_backing(dir, link, &got), 0);
	assert_int_equal(got.id, 3);
	assert_string_equal(got.filters, "count count:a=b");
	assert_int_equal(state_find_backing(dir, other, &got), 0);
	assert_int_equal(got.id, 5);
	/* a backing that does not exist matches nothing */
	assert_int_equal(state_find_backing(dir, "/nonexistent/x.img", &got), -ENOENT);
	/* no disk 4000000 in sysfs */
	assert_int_equal(state_devnum(4000000, &ma, &mi), -ENOENT);
}

/*
 * A chain with encryption, a journal with a replica and a cache, with long
 * paths, and a long backing path: the file holds both at their longest.
 */
static void test_state_long_chain(void **state)
{
	struct disk_state a = sample(2), b;
	size_t i;

	memset(a.backing, 'b', sizeof(a.backing) - 1);
	a.backing[0] = '/';
	a.backing[sizeof(a.backing) - 1] = '\0';
	memset(a.filters, 'f', sizeof(a.filters) - 1);
	for (i = 100; i < sizeof(a.filters) - 1; i += 100)
		a.filters[i] = ' ';
	a.filters[sizeof(a.filters) - 1] = '\0';
	assert_int_equal(state_write(dir, &a), 0);
	assert_int_equal(state_read(dir, 2, &b), 0);
	assert_string_equal(b.backing, a.backing);
	assert_string_equal(b.filters, a.filters);
	assert_int_equal(b.pid, a.pid);
	assert_int_equal(b.flags, a.flags);
}

static void test_state_filters_too_long(void **state)
{
	char *text = malloc(STATE_FILTERS_MAX + 256);
	struct disk_state s;
	int n;

	assert_non_null(text);
	n = snprintf(text, 256, "id=1\nbacking=/x\nsize=512\nqueues=1\ndepth=1\n"
		     "block_size=512\nfilters=");
	memset(text + n, 'f', STATE_FILTERS_MAX - 1);
	strcpy(text + n + STATE_FILTERS_MAX - 1, "\n");
	assert_int_equal(state_parse(text, &s), 0);
	assert_int_equal(strlen(s.filters), STATE_FILTERS_MAX - 1);
	/* one more byte does not fit: a malformed file, not a cut chain */
	text[n + STATE_FILTERS_MAX - 1] = 'f';
	strcpy(text + n + STATE_FILTERS_MAX, "\n");
	assert_int_equal(state_parse(text, &s), -EINVAL);
	free(text);
}

/* What an older server (256-byte filters, no newer keys) left behind still serves. */
static void test_state_old_file(void **state)
{
	static const char old[] =
		"id=3\nbacking=/var/lib/disk.img\nsize=16777216\nqueues=2\ndepth=64\n"
		"block_size=4096\nread_only=0\npolicy=count\nfilters=count\npid=77\n"
		"flags=0x58\n";
	struct disk_state s;

	assert_int_equal(state_parse(old, &s), 0);
	assert_int_equal(s.id, 3);
	assert_string_equal(s.backing, "/var/lib/disk.img");
	assert_int_equal(s.size, 16777216);
	assert_int_equal(s.queues, 2);
	assert_int_equal(s.depth, 64);
	assert_int_equal(s.block_size, 4096);
	assert_false(s.read_only);
	assert_string_equal(s.policy, "count");
	assert_string_equal(s.filters, "count");
	assert_int_equal(s.pid, 77);
	assert_int_equal(s.flags, 0x58);
	/* no copy path from an older server: disks says nothing of it */
	assert_string_equal(s.copy, "");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* An applied chain file binding @backing, under dir's policy/current. */
static void apply_chain(const char *backing, const char *filters)
{
	char p[256], text[4096];

	snprintf(p, sizeof(p), "%s/policy", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/policy/current", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/policy/current/chains", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/policy/current/chains/b000.chain", dir);
	snprintf(text, sizeof(text), "version=1\npolicy=long\nselector=served:%s\n"
		 "backing=%s\n%s", backing, backing, filters);
	write_text(p, text);
}

/*
 * A policy's long chain (four filters, sixteen parameters each, long
 * values) becomes the disk's spec, and the state file keeps it whole.
 */
static void test_choose_long_chain(void **state)
{
	char img[128], filters[3072], *p = filters, want[128];
	struct filter_spec_choice ch;
	struct disk_state a = sample(6), b;
	int f, k;

	snprintf(img, sizeof(img), "%s/disk.img", dir);
	write_text(img, "");
	for (f = 0; f < 4; f++) {
		p += sprintf(p, "filter=count");
		for (k = 0; k < 16; k++)
			p += sprintf(p, " k%d=/var/lib/sluice/journal/filter%d-param%d", k, f, k);
		p += sprintf(p, "\n");
	}
	apply_chain(img, filters);
	assert_int_equal(filter_spec_choose(dir, img, NULL, &ch), 0);
	assert_true(ch.is_bound);
	assert_true(ch.from_binding);
	assert_string_equal(ch.policy, "long");
	assert_true(strlen(ch.spec) > 2048);
	assert_non_null(strstr(ch.spec, "count:k0=/var/lib/sluice/journal/filter0-param0,k1="));
	assert_non_null(strstr(ch.spec, " count:k0=/var/lib/sluice/journal/filter3-param0,"));
	assert_non_null(strstr(ch.spec, "k15=/var/lib/sluice/journal/filter3-param15"));
	snprintf(a.filters, sizeof(a.filters), "%s", ch.spec);
	assert_int_equal(state_write(dir, &a), 0);
	assert_int_equal(state_read(dir, 6, &b), 0);
	assert_string_equal(b.filters, ch.spec);

	/* the same policy by name; a built-in over the binding; an unknown name */
	assert_int_equal(filter_spec_choose(dir, img, "long", &ch), 0);
	assert_true(ch.from_binding);
	assert_int_equal(filter_spec_choose(dir, img, "count", &ch), 0);
	assert_true(ch.is_bound);
	assert_false(ch.from_binding);
	assert_string_equal(ch.bound, "long");
	assert_string_equal(ch.spec, "count");
	assert_int_equal(filter_spec_choose(dir, img, "nosuch", &ch), -ENOENT);
	assert_string_equal(ch.bound, "long");

	/* a filter this build lacks is named */
	apply_chain(img, "filter=count\nfilter=mirror device=/dev/x\n");
	assert_int_equal(filter_spec_choose(dir, img, NULL, &ch), -EOPNOTSUPP);
	assert_string_equal(ch.missing, "mirror");
	assert_false(ch.find_failed);

	/* not bound: passthrough, or the built-in named */
	snprintf(want, sizeof(want), "%s/other.img", dir);
	write_text(want, "");
	assert_int_equal(filter_spec_choose(dir, want, NULL, &ch), 0);
	assert_false(ch.is_bound);
	assert_string_equal(ch.policy, "passthrough");
	assert_string_equal(ch.spec, "");
}

/* Open a server with @cfg; returns the error and leaves the stage in *stage. */
static int open_server(const struct ublk_server_cfg *cfg, enum ublk_server_stage *stage)
{
	struct ublk_server s;
	int err;

	ublk_server_init(&s, cfg);
	err = ublk_server_open(&s);
	*stage = s.stage;
	ublk_server_close(&s);
	return err;
}

/*
 * The server's steps before the device, each failure with its stage and
 * errno for the CLI's message; nothing reaches the driver before the
 * control device (which this host may not have).
 */
static void test_server_open_stages(void **state)
{
	struct ublk_server_cfg cfg = {
		.state_dir = dir, .queues = 1, .depth = 8, .block_size = 512,
		.dev_id = UBLK_DEV_ANY,
	};
	enum ublk_server_stage st;
	char img[128], empty[128];
	FILE *f;
	int err;

	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(empty, sizeof(empty), "%s/empty.img", dir);
	assert_non_null(f = fopen(img, "w"));
	assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	assert_non_null(f = fopen(empty, "w"));
	fclose(f);

	cfg.recover = true;
	cfg.recover_id = 9;
	assert_int_equal(open_server(&cfg, &st), -ENOENT);
	assert_int_equal(st, UBLK_SERVER_STATE);
	cfg.recover = false;

	cfg.backing = "/nonexistent/disk.img";
	assert_int_equal(open_server(&cfg, &st), -ENOENT);
	assert_int_equal(st, UBLK_SERVER_BACKING);

	cfg.backing = img;
	cfg.policy = "nosuch";
	assert_int_equal(open_server(&cfg, &st), -ENOENT);
	assert_int_equal(st, UBLK_SERVER_POLICY);
	cfg.policy = "count";

	cfg.backing = empty;
	assert_int_equal(open_server(&cfg, &st), -ENODATA);
	assert_int_equal(st, UBLK_SERVER_SIZE);
	cfg.backing = img;
	cfg.size = 1000;
	assert_int_equal(open_server(&cfg, &st), -EINVAL);
	assert_int_equal(st, UBLK_SERVER_SIZE);
	cfg.size = 2 << 20;
	cfg.read_only = true;
	assert_int_equal(open_server(&cfg, &st), -EROFS);
	assert_int_equal(st, UBLK_SERVER_SIZE);
	cfg.read_only = false;

	/* a file grows to --size; then only the driver is left to ask */
	err = open_server(&cfg, &st);
	if (err) {
		assert_int_equal(st, UBLK_SERVER_CTRL);
		assert_true(err == -ENOENT || err == -EACCES || err == -EPERM);
	}
}

static void test_udata_round_trip(void **state)
{
	struct udata d;
	uint64_t v;

	v = udata_encode(UDATA_CMD, 4095, 0, 0);
	d = udata_decode(v);
	assert_int_equal(d.kind, UDATA_CMD);
	assert_int_equal(d.tag, 4095);
	v = udata_encode(UDATA_FILTER, 65535, 255, 0xffffffffu);
	d = udata_decode(v);
	assert_int_equal(d.kind, UDATA_FILTER);
	assert_int_equal(d.tag, 65535);
	assert_int_equal(d.filter, 255);
	assert_int_equal(d.cookie, 0xffffffffu);
	/* Fields do not bleed into each other. */
	d = udata_decode(udata_encode(UDATA_BACKING, 1, 0, 0));
	assert_int_equal(d.filter, 0);
	assert_int_equal(d.cookie, 0);
	assert_int_equal(d.tag, 1);
	/* ublk tags and chain positions fit the fields. */
	assert_true(UBLK_MAX_QUEUE_DEPTH <= (1u << UDATA_TAG_BITS));
	assert_true(CHAIN_MAX_FILTERS <= (1u << UDATA_FILTER_BITS));
}

static void test_wanted_flags(void **state)
{
	uint64_t all = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE |
		       UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY;

	assert_int_equal(ublk_dev_wanted_flags(all), UBLK_F_USER_RECOVERY |
			 UBLK_F_USER_RECOVERY_REISSUE | UBLK_F_CMD_IOCTL_ENCODE);
	/* 6.1 offers no ioctl encoding. */
	assert_int_equal(ublk_dev_wanted_flags(UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE),
			 UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE);
	assert_int_equal(ublk_dev_wanted_flags(UBLK_F_USER_RECOVERY_REISSUE), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_round_trip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_state_list, make_dir, remove_dir),
		cmocka_unit_test(test_state_malformed),
		cmocka_unit_test_setup_teardown(test_state_id_must_match_file, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_state_find_backing, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_state_long_chain, make_dir, remove_dir),
		cmocka_unit_test(test_state_filters_too_long),
		cmocka_unit_test(test_state_old_file),
		cmocka_unit_test_setup_teardown(test_choose_long_chain, make_dir, remove_dir),
		cmocka_unit_test(test_udata_round_trip),
		cmocka_unit_test(test_wanted_flags),
		cmocka_unit_test_setup_teardown(test_server_open_stages, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
