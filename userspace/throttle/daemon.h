/* SPDX-License-Identifier: GPL-2.0 */
/*
 * daemon.h - the throttle daemon ('sluice throttle'): every interval, read
 * each policed disk's latency and each class's I/O, run the control law
 * (throttle/control.h) and enforce the allowances through cgroup v2 io.max
 * (throttle/iomax.h) or a ublk server (lib/enforcer.h); publish the state
 * (throttle/state_write.h). In policy mode a new 'sluice policy apply' is
 * taken at the next interval.
 *
 * The daemon does not log: everything a person should hear about (a change
 * of allowances, a fallback, the reason of a failure) is handed to the
 * caller's report callback as a struct tdaemon_event, and the CLI
 * (cmd/throttle.c) says it. Functions return 0 or -errno after reporting
 * the failure's event.
 */
#ifndef SLUICE_THROTTLE_DAEMON_H
#define SLUICE_THROTTLE_DAEMON_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bpf/sluice.h"
#include "throttle/control.h"
#include "throttle/guardian.h"
#include "throttle/source.h"

#define TDAEMON_MAX_DISKS	8
#define TDAEMON_CGROUP_ROOT	"/sys/fs/cgroup"

struct meter;

struct tdaemon_class {
	char path[PATH_MAX];
	char name[64];
	unsigned int class_id;		/* the policy's, or the position + 1 */
	bool in_policy;			/* class_id is the policy's */
	bool server;			/* the ublk server holds it: no io.max */
	int book_idx;			/* -1 when not in the book */
};

struct tdaemon_disk {
	char name[32];
	char policy[SLUICE_CLASS_NAME_LEN];	/* policy mode: the policy governing it */
	unsigned int maj, min;
	bool server;			/* a sluice ublk server holds its classes */
	struct throttle_disk_cfg cfg;
	struct throttle_disk ctl;
	struct throttle_src_disk src;
	struct tdaemon_class cls[THROTTLE_MAX_CLASSES];
	struct throttle_sample last;
	uint64_t interval_ns;		/* policy mode: its policy's throttle_interval, 0 = none */
};

/* What the daemon tells its caller; the fields each kind sets are listed. */
enum tdaemon_event_kind {
	/* every interval, every disk: disk (its ctl.changed says if it moved) */
	TDAEMON_EV_SAMPLE,
	/* failures, each followed by a -errno return: */
	TDAEMON_EV_NO_CGROUP,		/* disk */
	TDAEMON_EV_NO_THRESHOLD,	/* disk */
	TDAEMON_EV_BAD_SETTINGS,	/* disk */
	TDAEMON_EV_IOMAX_OPEN,		/* path (cgroup dir), err */
	TDAEMON_EV_POLICY_CGROUP,	/* path, err: a policy's cgroup without io.max */
	TDAEMON_EV_IOMAX_WRITE,		/* path, err */
	TDAEMON_EV_COUNTERS,		/* disk, err */
	TDAEMON_EV_MKDIR,		/* path, err */
	TDAEMON_EV_GUARDIAN,		/* err */
	TDAEMON_EV_METER,		/* err: --source meter and the meter did not load */
	TDAEMON_EV_POLICY_READ,		/* err */
	TDAEMON_EV_POLICY_TOO_BIG,	/* err */
	TDAEMON_EV_POLICY_MAPS,		/* err */
	TDAEMON_EV_RECORD_RESTORE,	/* path (record), err */
	TDAEMON_EV_RESTORE,		/* err: dynamic limits left at exit */
	/* warnings: */
	TDAEMON_EV_METER_FALLBACK,	/* err: auto fell back to sysfs */
	TDAEMON_EV_DISK_GONE,		/* name (MAJ:MIN), policy */
	TDAEMON_EV_DISK_NO_CLASS,	/* disk, policy */
	TDAEMON_EV_SERVER_UNREADABLE,	/* disk, path (state dir), err */
	TDAEMON_EV_SERVER_OTHER_STATE,	/* disk, path (what the server reads), path2 (ours) */
	TDAEMON_EV_SERVER_NO_CLASS,	/* disk, path (cgroup), policy */
	TDAEMON_EV_GEN_UNUSABLE,	/* gen (the new one), was (the one in force) */
	TDAEMON_EV_GEN_RELEASE,		/* was, err */
	TDAEMON_EV_STATE_WRITE,		/* path, err */
	/* news: */
	TDAEMON_EV_SERVER_ENFORCES,	/* disk, n (the ublk device id) */
	TDAEMON_EV_RECORD_CLEANED,	/* n (cgroup/disk pairs) */
	TDAEMON_EV_GEN_SWITCHED,	/* gen, was, n (disks), kept (limits of the apply kept) */
	TDAEMON_EV_INTERVAL,		/* interval (in force), was, asked, policy (or NULL),
					 * cli (from --interval) */
	TDAEMON_EV_SIGNAL,		/* n (the signal) */
};

struct tdaemon_event {
	enum tdaemon_event_kind kind;
	const struct tdaemon_disk *disk;
	const char *name;
	const char *path, *path2;
	const char *policy;
	int err;
	uint64_t gen, was;
	uint64_t interval, asked;
	unsigned int n;
	bool kept, cli;
};

struct tdaemon;
typedef void tdaemon_report_fn(const struct tdaemon *o, const struct tdaemon_event *ev);

struct tdaemon {
	struct tdaemon_disk disks[TDAEMON_MAX_DISKS];
	unsigned int nr_disks;
	uint64_t interval_ns;		/* in force: see tdaemon_pick_interval() */
	uint64_t cli_interval_ns;	/* --interval, 0 = not given */
	bool once, p99;
	const char *state_path;
	const char *record_path;
	const char *source;		/* "auto", "meter" or "sysfs" */
	bool policy;			/* classes from the applied policy */
	uint64_t generation;		/* policy mode: the generation in force */
	uint64_t failed_generation;	/* policy mode: the last one that could not be used,
					 * UINT64_MAX for none */
	const char *cgroup_root;	/* relative cgroup paths resolve under it */
	unsigned int lat_kind;		/* SLUICE_LAT_TOTAL or SLUICE_LAT_DEVICE */
	const struct throttle_source_ops *src;
	struct meter *meter;
	tdaemon_report_fn *report;	/* Required */
	tguardian_report_fn *guardian_report;	/* Optional: called in the guardian */
	void *ctx;			/* the caller's, for report */
};

/* DISK as /dev/NAME, NAME or MAJ:MIN, to a whole disk's numbers and name:
 * -ENOTBLK, -ENODEV, -EISDIR (a partition: io.max takes whole disks). */
int tdaemon_resolve_disk(const char *arg, struct tdaemon_disk *d);

/* The cgroup v2 hierarchy, where io.max lives: /sys/fs/cgroup, or its
 * unified mount on a hybrid host. */
const char *tdaemon_default_cgroup_root(void);

/* @path under @root unless absolute, without trailing slashes. */
void tdaemon_class_dir(const char *root, const char *path, char *out, size_t len);

/*
 * The disks the applied policy hands to the throttle, into @disks (room for
 * TDAEMON_MAX_DISKS). -ENOENT (not reported) when no policy is in force.
 */
int tdaemon_policy_disks(const struct tdaemon *o, struct tdaemon_disk *disks,
			 unsigned int *nr, uint64_t *gen);

/* --cgroup mode: classes of the applied policy keep the policy's class ids. */
void tdaemon_cgroup_class_ids(struct tdaemon *o);

/* Set the one control interval in force (throttle/policy.h says which wins). */
void tdaemon_pick_interval(struct tdaemon *o);

/* Undo what a killed throttle's @record lists. 0 when there was none. */
int tdaemon_cleanup_record(const struct tdaemon *o, const char *record);

/*
 * Run until *@stop is set (by the caller's signal handler) or, with
 * o->once, for one interval; every dynamic limit is taken back on the way
 * out. 0, or -errno after the failure was reported.
 */
int tdaemon_run(struct tdaemon *o, volatile sig_atomic_t *stop);

#endif /* SLUICE_THROTTLE_DAEMON_H */
