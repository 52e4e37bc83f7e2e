// SPDX-License-Identifier: GPL-2.0
/*
 * The throttle daemon below the CLI (throttle/daemon.h): it reports what
 * people should hear as events instead of logging, and its state writer
 * produces what the reader beside it (throttle/state_read.h) parses.
 */
#include <dirent.h>
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

#include "throttle/daemon.h"
#include "throttle/state_read.h"
#include "throttle/state_write.h"

#define MS	1000000ULL

static struct tdaemon_event seen[8];
static unsigned int nr_seen;

static void collect(const struct tdaemon *o, const struct tdaemon_event *ev)
{
	assert_true(nr_seen < 8);
	seen[nr_seen++] = *ev;
}

static struct tdaemon *new_daemon(void)
{
	struct tdaemon *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	o->report = collect;
	nr_seen = 0;
	return o;
}

static void test_interval_is_reported_not_logged(void **state)
{
	struct tdaemon *o = new_daemon();

	o->nr_disks = 2;
	snprintf(o->disks[0].policy, sizeof(o->disks[0].policy), "slow");
	o->disks[0].interval_ns = 500 * MS;
	snprintf(o->disks[1].policy, sizeof(o->disks[1].policy), "tp");
	o->disks[1].interval_ns = 200 * MS;
	tdaemon_pick_interval(o);
	assert_int_equal(o->interval_ns, 200 * MS);
	assert_int_equal(nr_seen, 1);
	assert_int_equal(seen[0].kind, TDAEMON_EV_INTERVAL);
	assert_int_equal(seen[0].interval, 200 * MS);
	assert_int_equal(seen[0].asked, 200 * MS);
	assert_int_equal(seen[0].was, 0);
	assert_string_equal(seen[0].policy, "tp");
	assert_false(seen[0].cli);

	/* --interval wins, and the event says what the policy asked */
	o->cli_interval_ns = 100 * MS;
	tdaemon_pick_interval(o);
	assert_int_equal(o->interval_ns, 100 * MS);
	assert_int_equal(seen[1].was, 200 * MS);
	assert_int_equal(seen[1].asked, 200 * MS);
	assert_true(seen[1].cli);
	free(o);
}

static void test_no_record_is_no_news(void **state)
{
	struct tdaemon *o = new_daemon();

	assert_int_equal(tdaemon_cleanup_record(o, "/nonexistent/throttle.iomax"), 0);
	assert_int_equal(nr_seen, 0);
	free(o);
}

static void test_resolve_disk_errors(void **state)
{
	struct tdaemon_disk d;

	assert_int_equal(tdaemon_resolve_disk("/nonexistent", &d), -ENOENT);
	assert_int_equal(tdaemon_resolve_disk("/dev/null", &d), -ENOTBLK);
	assert_int_equal(tdaemon_resolve_disk("no-such-disk-here", &d), -ENODEV);
}

static void test_state_round_trip(void **state)
{
	char dir[] = "/tmp/sluice-tstate-XXXXXX", path[64];
	struct tdaemon *o = new_daemon();
	struct tdaemon_disk *d = &o->disks[0];
	struct tstate st;
	struct dirent *de;
	unsigned int files = 0;
	DIR *dh;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/throttle.json", dir);
	o->state_path = path;
	o->interval_ns = 250 * MS;
	o->nr_disks = 1;
	snprintf(d->name, sizeof(d->name), "loop7");
	d->maj = 7;
	d->min = 7;
	d->cfg.nr_classes = 1;
	d->cfg.cls[0].shares = 200;
	d->ctl.threshold_ns = 30 * MS;
	d->ctl.state = THROTTLE_CONGESTED;
	snprintf(d->cls[0].name, sizeof(d->cls[0].name), "db");
	snprintf(d->cls[0].path, sizeof(d->cls[0].path), "/sys/fs/cgroup/db");
	d->cls[0].class_id = 3;

	assert_int_equal(tstate_write(o, true), 0);
	assert_int_equal(tstate_load(path, &st), 0);
	assert_true(st.running);
	assert_int_equal(st.pid, getpid());
	assert_true(st.interval_s > 0.249 && st.interval_s < 0.251);
	assert_int_equal(st.nr_disks, 1);
	assert_string_equal(st.disks[0].name, "loop7");
	assert_int_equal(st.disks[0].major, 7);
	assert_true(st.disks[0].congested);
	assert_int_equal(st.disks[0].threshold_ns, 30 * MS);
	assert_int_equal(st.disks[0].nr_cls, 1);
	assert_string_equal(st.disks[0].cls[0].name, "db");
	assert_int_equal(st.disks[0].cls[0].class_id, 3);
	assert_int_equal(st.disks[0].cls[0].shares, 200);
	tstate_free(&st);

	/* a clean exit says so, and no temporary file is left beside it */
	assert_int_equal(tstate_write(o, false), 0);
	assert_int_equal(tstate_load(path, &st), 0);
	assert_false(st.running);
	tstate_free(&st);
	dh = opendir(dir);
	assert_non_null(dh);
	while ((de = readdir(dh)))
		if (de->d_name[0] != '.')
			files++;
	closedir(dh);
	assert_int_equal(files, 1);
	unlink(path);
	rmdir(dir);
	assert_int_equal(nr_seen, 0);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_is_reported_not_logged),
		cmocka_unit_test(test_no_record_is_no_news),
		cmocka_unit_test(test_resolve_disk_errors),
		cmocka_unit_test(test_state_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
