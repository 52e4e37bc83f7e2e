// SPDX-License-Identifier: GPL-2.0
/*
 * sluice stop - stop a served disk: signal its server (SIGTERM: drain,
 * flush, delete), wait for it, and check the device is gone. When the
 * server is already dead (killed, crashed) the disk is deleted here.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "lib/log.h"
#include "lib/units.h"
#include "ublk/ctrl.h"
#include "ublk/dev.h"
#include "lib/disk_state.h"
#include "ublk/filter_stats.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice stop [--timeout SECONDS] DEV|ID\n"
		"\n"
		"Stop a disk served by 'sluice serve': its server drains in-flight I/O,\n"
		"flushes the backing and deletes the device. If the server is dead the\n"
		"device is deleted here. Exits 0 once /dev/ublkbN is gone.\n"
		"\n"
		"Options:\n"
		"  --timeout D   how long to wait for the server (default 30s; 500ms, 2m,\n"
		"                a bare number is seconds)\n"
		"  -h, --help    this text\n"
		"\n"
		"Examples:\n"
		"  sluice stop /dev/ublkb0\n"
		"  sluice stop 3\n"
		"  sluice disks --json | jq -r '.[].id' | xargs -n1 sluice stop\n");
}

static bool wait_gone(pid_t pid, uint64_t timeout_ns)
{
	struct timespec ts = { 0, 50 * 1000000L };
	uint64_t i;

	for (i = 0; i < timeout_ns / (50 * 1000000ull); i++) {
		if (!state_server_running(pid))
			return true;
		nanosleep(&ts, NULL);
	}
	return !state_server_running(pid);
}

struct stop_opts {
	uint64_t timeout_ns;
	uint32_t id;
};

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct stop_opts *o)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, err;

	o->timeout_ns = 30 * NSEC_PER_SEC;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			err = parse_duration_argument("--timeout", optarg, 50 * NSEC_PER_MSEC,
						      0, &o->timeout_ns);
			if (err)
				return err;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		log_err("stop takes one disk (/dev/ublkbN or its id); see 'sluice stop --help'");
		return -EINVAL;
	}
	if (parse_disk_argument(argv[optind], &o->id))
		return -EINVAL;
	return 1;
}

int cmd_stop(int argc, char **argv)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl *ctrl = NULL;
	const char *dir = state_dir();
	struct disk_state st;
	bool have_state, have_dev = false;
	struct stop_opts o;
	char timeout_s[24];
	int err, ret = 1;
	uint32_t id;
	pid_t pid;

	err = parse_argv(argc, argv, &o);
	if (err <= 0)
		return args_exit_status(err);
	id = o.id;

	have_state = !state_read(dir, id, &st);
	err = ublk_ctrl_open(&ctrl);
	if (!err)
		have_dev = !ublk_ctrl_get_dev_info(ctrl, id, &info);
	if (!have_state && !have_dev) {
		log_err("/dev/ublkb%u: no such disk; list disks with 'sluice disks'", id);
		goto out;
	}
	pid = have_state ? st.pid : info.ublksrv_pid;
	if (state_server_running(pid)) {
		if (kill(pid, SIGTERM)) {
			log_err("/dev/ublkb%u: cannot signal its server (pid %d): %s", id, (int)pid,
				strerror(errno));
			goto out;
		}
		if (!wait_gone(pid, o.timeout_ns)) {
			units_format(UNIT_DURATION, o.timeout_ns, timeout_s, sizeof(timeout_s));
			log_err("/dev/ublkb%u: its server (pid %d) did not stop within %s; "
				"is I/O stuck? 'kill -9 %d' then 'sluice stop %u' again",
				id, (int)pid, timeout_s, (int)pid, id);
			goto out;
		}
	}
	if (ctrl && !ublk_ctrl_get_dev_info(ctrl, id, &info)) {
		/* The server died without deleting its disk: do it here. */
		err = ublk_dev_remove_orphan(ctrl, id);
		if (err && err != -ENODEV) {
			log_err("/dev/ublkb%u: deleting the device failed: %s", id, strerror(-err));
			goto out;
		}
	}
	if (ctrl && ublk_ctrl_get_dev_info(ctrl, id, &info) != -ENODEV) {
		log_err("/dev/ublkb%u: still present after stopping; see dmesg", id);
		goto out;
	}
	state_remove(dir, id);
	/* a killed server's counters stay behind; its own stop removes them */
	filter_stats_remove(dir, id);
	ret = 0;
out:
	ublk_ctrl_close(ctrl);
	return ret;
}
